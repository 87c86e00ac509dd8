//! The `events` row, both ways: which columns an [`Event`] is stored in,
//! how one is inserted, and how one is read back, for both stores. The table
//! itself is created by migrations (append-only): SQLite's in `schema`,
//! PostgreSQL's in `store/migrations/0002_log.sql` and later files; a new
//! column is a new migration in each and a change here, nowhere else.

use rusqlite::CachedStatement;
use tokio_postgres::types::Type;

use super::event::{Event, EventType, Failure, FailureSource};
use super::sql::Val;
use super::LogError;

/// The inserted columns, in the order [`values`] gives them: one list for
/// SQLite's `INSERT` and PostgreSQL's `COPY`.
macro_rules! inserted_columns {
    () => {
        "id, time_ms, type, route, plugin, plugin_version, generation, \
        action, language, recipient_mask, recipient_hash, client_id, user_id, ip, vendor_message_id, vendor_status, \
        latency_ms, vendor_latency_ms, text_chars, segments, error_code, error_message, error_retryable, error_source, \
        vendor_code, vendor_http_status, guard_rule, message_id"
    };
}

/// How many columns an event fills.
pub const WIDTH: usize = 28;

/// Inserts one event (SQLite); bind it with [`insert`].
pub const INSERT: &str = concat!(
    "INSERT INTO events (",
    inserted_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, \
    ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)"
);

/// Streams a batch of events into PostgreSQL (see `postgres::write` for why
/// `COPY` rather than `INSERT`); each row is [`values`] typed as [`PG_TYPES`].
pub const PG_COPY: &str = concat!(
    "COPY events (",
    inserted_columns!(),
    ") FROM STDIN (FORMAT binary)"
);

/// The PostgreSQL type of each inserted column, in [`values`]' order. Binary
/// `COPY` sends values in exactly these types, so they must be the table's
/// (`0002_log.sql`): `text`, `bigint`, `double precision`, `boolean`.
pub const PG_TYPES: [Type; WIDTH] = [
    Type::TEXT,   // id
    Type::INT8,   // time_ms
    Type::TEXT,   // type
    Type::TEXT,   // route
    Type::TEXT,   // plugin
    Type::TEXT,   // plugin_version
    Type::INT8,   // generation
    Type::TEXT,   // action
    Type::TEXT,   // language
    Type::TEXT,   // recipient_mask
    Type::TEXT,   // recipient_hash
    Type::TEXT,   // client_id
    Type::TEXT,   // user_id
    Type::TEXT,   // ip
    Type::TEXT,   // vendor_message_id
    Type::TEXT,   // vendor_status
    Type::FLOAT8, // latency_ms
    Type::FLOAT8, // vendor_latency_ms
    Type::INT8,   // text_chars
    Type::INT8,   // segments
    Type::TEXT,   // error_code
    Type::TEXT,   // error_message
    Type::BOOL,   // error_retryable
    Type::TEXT,   // error_source
    Type::TEXT,   // vendor_code
    Type::INT8,   // vendor_http_status
    Type::TEXT,   // guard_rule
    Type::TEXT,   // message_id
];

/// Every stored column, for `SELECT {COLUMNS} FROM events`: what [`read`]
/// reads. `seq` (the insertion number) comes first; the others are
/// [`INSERT`]'s, in its order.
pub const COLUMNS: &str = concat!("seq, ", inserted_columns!());

/// The stored form of a failure's source.
fn source_name(source: FailureSource) -> &'static str {
    match source {
        FailureSource::Vendor => "vendor",
        FailureSource::Host => "host",
        FailureSource::Guard => "guard",
    }
}

/// The event's column values, in [`INSERT`]'s order: the one place that
/// maps an [`Event`] to columns, for both stores.
pub fn values(e: &Event) -> [Val<'_>; WIDTH] {
    let failure = e.details.as_ref();
    [
        Val::text(&e.id),
        Val::Int(Some(e.time_ms)),
        Val::text(e.kind.code()),
        Val::text(&e.route),
        Val::text(&e.plugin),
        Val::text(&e.plugin_version),
        Val::Int(Some(i64::try_from(e.generation).unwrap_or(i64::MAX))),
        Val::text(&e.action),
        Val::text(&e.language),
        Val::text(&e.recipient),
        Val::text(&e.recipient_hash),
        Val::text(&e.client_id),
        Val::text(&e.user_id),
        Val::text(&e.ip),
        Val::opt_text(e.vendor_message_id.as_deref()),
        Val::opt_text(e.vendor_status.as_deref()),
        Val::Real(Some(e.latency_ms)),
        Val::Real(e.vendor_latency_ms),
        Val::Int(Some(i64::from(e.text_chars))),
        Val::Int(e.segments.map(i64::from)),
        Val::opt_text(failure.map(|f| f.code.as_str())),
        Val::opt_text(failure.map(|f| f.message.as_str())),
        Val::Bool(failure.map(|f| f.retryable)),
        Val::opt_text(failure.map(|f| source_name(f.source))),
        Val::opt_text(failure.and_then(|f| f.vendor_code.as_deref())),
        Val::Int(failure.and_then(|f| f.vendor_status).map(i64::from)),
        Val::opt_text(failure.and_then(|f| f.rule.as_deref())),
        Val::opt_text(e.message_id.as_deref()),
    ]
}

/// Binds `e` to the prepared [`INSERT`] and runs it (SQLite).
pub fn insert(stmt: &mut CachedStatement<'_>, e: &Event) -> Result<(), rusqlite::Error> {
    stmt.execute(rusqlite::params_from_iter(values(e)))?;
    Ok(())
}

/// A selected row, by column name, as either driver reads it: what [`read`]
/// needs, so the mapping from columns back to an [`Event`] is written once.
pub trait Columns {
    /// The driver's error (or the log's).
    type Error;
    /// A `NOT NULL` text column.
    fn text(&self, column: &str) -> Result<String, Self::Error>;
    /// A nullable text column.
    fn opt_text(&self, column: &str) -> Result<Option<String>, Self::Error>;
    /// A `NOT NULL` integer column.
    fn int(&self, column: &str) -> Result<i64, Self::Error>;
    /// A nullable integer column.
    fn opt_int(&self, column: &str) -> Result<Option<i64>, Self::Error>;
    /// A `NOT NULL` real column.
    fn real(&self, column: &str) -> Result<f64, Self::Error>;
    /// A nullable real column.
    fn opt_real(&self, column: &str) -> Result<Option<f64>, Self::Error>;
    /// A nullable boolean column.
    fn opt_bool(&self, column: &str) -> Result<Option<bool>, Self::Error>;
    /// A `type` this build does not know.
    fn unknown_type(&self, code: &str) -> Self::Error;
}

impl Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;
    fn text(&self, column: &str) -> Result<String, rusqlite::Error> {
        self.get(column)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>, rusqlite::Error> {
        self.get(column)
    }
    fn int(&self, column: &str) -> Result<i64, rusqlite::Error> {
        self.get(column)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>, rusqlite::Error> {
        self.get(column)
    }
    fn real(&self, column: &str) -> Result<f64, rusqlite::Error> {
        self.get(column)
    }
    fn opt_real(&self, column: &str) -> Result<Option<f64>, rusqlite::Error> {
        self.get(column)
    }
    fn opt_bool(&self, column: &str) -> Result<Option<bool>, rusqlite::Error> {
        self.get(column)
    }
    fn unknown_type(&self, code: &str) -> rusqlite::Error {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            rusqlite::types::Type::Text,
            format!("unknown type {code}").into(),
        )
    }
}

impl Columns for tokio_postgres::Row {
    type Error = LogError;
    fn text(&self, column: &str) -> Result<String, LogError> {
        self.try_get(column).map_err(LogError::postgres)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>, LogError> {
        self.try_get(column).map_err(LogError::postgres)
    }
    fn int(&self, column: &str) -> Result<i64, LogError> {
        self.try_get(column).map_err(LogError::postgres)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>, LogError> {
        self.try_get(column).map_err(LogError::postgres)
    }
    fn real(&self, column: &str) -> Result<f64, LogError> {
        self.try_get(column).map_err(LogError::postgres)
    }
    fn opt_real(&self, column: &str) -> Result<Option<f64>, LogError> {
        self.try_get(column).map_err(LogError::postgres)
    }
    fn opt_bool(&self, column: &str) -> Result<Option<bool>, LogError> {
        self.try_get(column).map_err(LogError::postgres)
    }
    fn unknown_type(&self, code: &str) -> LogError {
        LogError::BadRow(format!("unknown event type {code}"))
    }
}

/// The row's `seq` and its event, from a row selected with [`COLUMNS`].
pub fn read<R: Columns + ?Sized>(row: &R) -> Result<(i64, Event), R::Error> {
    let seq = row.int("seq")?;
    let type_code = row.text("type")?;
    let kind = EventType::parse(&type_code).ok_or_else(|| row.unknown_type(&type_code))?;
    let event = Event {
        id: row.text("id")?,
        time_ms: row.int("time_ms")?,
        kind,
        route: row.text("route")?,
        plugin: row.text("plugin")?,
        plugin_version: row.text("plugin_version")?,
        generation: u64::try_from(row.int("generation")?).unwrap_or(0),
        action: row.text("action")?,
        language: row.text("language")?,
        recipient: row.text("recipient_mask")?,
        recipient_hash: row.text("recipient_hash")?,
        client_id: row.text("client_id")?,
        user_id: row.text("user_id")?,
        ip: row.text("ip")?,
        vendor_message_id: row.opt_text("vendor_message_id")?,
        vendor_status: row.opt_text("vendor_status")?,
        latency_ms: row.real("latency_ms")?,
        vendor_latency_ms: row.opt_real("vendor_latency_ms")?,
        text_chars: u32::try_from(row.int("text_chars")?).unwrap_or(0),
        segments: row.opt_int("segments")?.and_then(|s| u32::try_from(s).ok()),
        details: read_failure(row)?,
        message_id: row.opt_text("message_id")?,
    };
    Ok((seq, event))
}

fn read_failure<R: Columns + ?Sized>(row: &R) -> Result<Option<Failure>, R::Error> {
    let Some(code) = row.opt_text("error_code")? else {
        return Ok(None);
    };
    let source = row.opt_text("error_source")?;
    let vendor_status = row.opt_int("vendor_http_status")?;
    Ok(Some(Failure {
        code,
        message: row.opt_text("error_message")?.unwrap_or_default(),
        retryable: row.opt_bool("error_retryable")?.unwrap_or(false),
        source: match source.as_deref() {
            Some(name) if name == source_name(FailureSource::Vendor) => FailureSource::Vendor,
            Some(name) if name == source_name(FailureSource::Guard) => FailureSource::Guard,
            _ => FailureSource::Host,
        },
        vendor_code: row.opt_text("vendor_code")?,
        vendor_status: vendor_status.and_then(|s| u16::try_from(s).ok()),
        rule: row.opt_text("guard_rule")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statements share one column list; this checks the `SELECT` and
    /// the `INSERT` still agree with each other and with [`values`].
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
        assert_eq!(inserted.len(), WIDTH, "{inserted:?}");
        assert_eq!(selected.first().map(String::as_str), Some("seq"));
        assert_eq!(selected[1..], inserted[..]);
    }
}
