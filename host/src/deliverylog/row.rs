//! The `events` row, both ways: which columns an [`Event`] is stored in,
//! how one is inserted, and how one is read back. The table itself is
//! created by `schema`'s migrations (append-only); a new column is a new
//! migration there and a change here, nowhere else.

use rusqlite::{params, CachedStatement, Row};

use super::event::{Event, EventType, Failure, FailureSource};

/// Inserts one event; bind it with [`insert`].
pub const INSERT: &str = "INSERT INTO events (id, time_ms, type, route, plugin, plugin_version, generation, \
    action, language, recipient_mask, recipient_hash, client_id, user_id, ip, vendor_message_id, vendor_status, \
    latency_ms, vendor_latency_ms, text_chars, segments, error_code, error_message, error_retryable, error_source, \
    vendor_code, vendor_http_status, guard_rule, message_id) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, \
    ?23, ?24, ?25, ?26, ?27, ?28)";

/// Every stored column, for `SELECT {COLUMNS} FROM events`: what [`read`]
/// reads. `seq` (the insertion number) comes first; the others are
/// [`INSERT`]'s, in its order.
pub const COLUMNS: &str = "seq, id, time_ms, type, route, plugin, plugin_version, generation, action, language, \
    recipient_mask, recipient_hash, client_id, user_id, ip, vendor_message_id, vendor_status, latency_ms, \
    vendor_latency_ms, text_chars, segments, error_code, error_message, error_retryable, error_source, \
    vendor_code, vendor_http_status, guard_rule, message_id";

/// The stored form of a failure's source.
fn source_name(source: FailureSource) -> &'static str {
    match source {
        FailureSource::Vendor => "vendor",
        FailureSource::Host => "host",
        FailureSource::Guard => "guard",
    }
}

/// Binds `e` to the prepared [`INSERT`] and runs it.
pub fn insert(stmt: &mut CachedStatement<'_>, e: &Event) -> Result<(), rusqlite::Error> {
    let failure = e.details.as_ref();
    stmt.execute(params![
        e.id,
        e.time_ms,
        e.kind.code(),
        e.route,
        e.plugin,
        e.plugin_version,
        i64::try_from(e.generation).unwrap_or(i64::MAX),
        e.action,
        e.language,
        e.recipient,
        e.recipient_hash,
        e.client_id,
        e.user_id,
        e.ip,
        e.vendor_message_id,
        e.vendor_status,
        e.latency_ms,
        e.vendor_latency_ms,
        e.text_chars,
        e.segments,
        failure.map(|f| f.code.as_str()),
        failure.map(|f| f.message.as_str()),
        failure.map(|f| f.retryable),
        failure.map(|f| source_name(f.source)),
        failure.and_then(|f| f.vendor_code.as_deref()),
        failure.and_then(|f| f.vendor_status),
        failure.and_then(|f| f.rule.as_deref()),
        e.message_id,
    ])?;
    Ok(())
}

/// The row's `seq` and its event, from a row selected with [`COLUMNS`].
pub fn read(row: &Row<'_>) -> Result<(i64, Event), rusqlite::Error> {
    let seq: i64 = row.get("seq")?;
    let type_code: String = row.get("type")?;
    let kind = EventType::parse(&type_code).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            rusqlite::types::Type::Text,
            format!("unknown type {type_code}").into(),
        )
    })?;
    let generation: i64 = row.get("generation")?;
    let text_chars: i64 = row.get("text_chars")?;
    let segments: Option<i64> = row.get("segments")?;
    let event = Event {
        id: row.get("id")?,
        time_ms: row.get("time_ms")?,
        kind,
        route: row.get("route")?,
        plugin: row.get("plugin")?,
        plugin_version: row.get("plugin_version")?,
        generation: u64::try_from(generation).unwrap_or(0),
        action: row.get("action")?,
        language: row.get("language")?,
        recipient: row.get("recipient_mask")?,
        recipient_hash: row.get("recipient_hash")?,
        client_id: row.get("client_id")?,
        user_id: row.get("user_id")?,
        ip: row.get("ip")?,
        vendor_message_id: row.get("vendor_message_id")?,
        vendor_status: row.get("vendor_status")?,
        latency_ms: row.get("latency_ms")?,
        vendor_latency_ms: row.get("vendor_latency_ms")?,
        text_chars: u32::try_from(text_chars).unwrap_or(0),
        segments: segments.and_then(|s| u32::try_from(s).ok()),
        details: read_failure(row)?,
        message_id: row.get("message_id")?,
    };
    Ok((seq, event))
}

fn read_failure(row: &Row<'_>) -> Result<Option<Failure>, rusqlite::Error> {
    let Some(code) = row.get::<_, Option<String>>("error_code")? else {
        return Ok(None);
    };
    let source: Option<String> = row.get("error_source")?;
    let vendor_status: Option<i64> = row.get("vendor_http_status")?;
    Ok(Some(Failure {
        code,
        message: row
            .get::<_, Option<String>>("error_message")?
            .unwrap_or_default(),
        retryable: row
            .get::<_, Option<bool>>("error_retryable")?
            .unwrap_or(false),
        source: match source.as_deref() {
            Some(name) if name == source_name(FailureSource::Vendor) => FailureSource::Vendor,
            Some(name) if name == source_name(FailureSource::Guard) => FailureSource::Guard,
            _ => FailureSource::Host,
        },
        vendor_code: row.get("vendor_code")?,
        vendor_status: vendor_status.and_then(|s| u16::try_from(s).ok()),
        rule: row.get("guard_rule")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two lists are written out (SQLite wants plain statements); this
    /// keeps them one list.
    #[test]
    fn insert_and_select_name_the_same_columns_in_order() {
        let words = |s: &str| -> Vec<String> {
            s.split(',')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect()
        };
        let inserted = INSERT
            .split_once('(')
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(columns, _)| words(columns))
            .unwrap_or_default();
        let selected = words(COLUMNS);
        assert_eq!(inserted.len(), 28, "{inserted:?}");
        assert_eq!(selected.first().map(String::as_str), Some("seq"));
        assert_eq!(selected[1..], inserted[..]);
    }
}
