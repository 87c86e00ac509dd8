//! Reading the log: filters, newest first, cursor pagination.
//!
//! Pages are ordered by `(time_ms, seq)` descending, where `seq` is the row's
//! insertion number; that pair is unique, so a cursor (the pair of the last
//! row shown, hex-encoded) resumes exactly after it even while new events
//! arrive. Cursors are opaque to callers: they are only valid for the same
//! filters and may change format between versions.

use rusqlite::{params_from_iter, Connection};
use serde::{Deserialize, Serialize};

use super::event::{Event, EventType, RecipientHasher};
use super::sql::Val;
use super::{row, time};
use crate::e164;

/// Events per page when no limit is given.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page; larger limits are lowered to it.
pub const MAX_LIMIT: u32 = 500;

/// The query parameters `GET /api/v1/logs` understands.
pub const PARAMS: &[&str] = &[
    "type",
    "plugin",
    "user_id",
    "client_id",
    "recipient",
    "id",
    "since",
    "until",
    "limit",
    "cursor",
];

/// Why a query was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A parameter this API does not know.
    #[error("unknown parameter `{0}` (known: {known})", known = PARAMS.join(", "))]
    UnknownParam(String),
    /// A known parameter with a value that cannot be used.
    #[error("`{name}`: {reason}")]
    Invalid {
        /// The parameter.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

impl QueryError {
    fn invalid(name: &'static str, reason: impl Into<String>) -> QueryError {
        QueryError::Invalid {
            name,
            reason: reason.into(),
        }
    }
}

/// How to find a recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecipientFilter {
    /// The mask exactly as the log shows it (`+1********23`): matches every
    /// number with that country code and those last digits.
    Mask(String),
    /// A full number in E.164: matched through its keyed hash, never stored.
    Number(String),
}

/// Which events to return. Every field narrows; none set means all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Any of these types.
    pub types: Vec<EventType>,
    /// This plugin name.
    pub plugin: Option<String>,
    /// This user id.
    pub user_id: Option<String>,
    /// This client id.
    pub client_id: Option<String>,
    /// This event id.
    pub id: Option<String>,
    /// Every attempt of this message (the first attempt's event id).
    pub message_id: Option<String>,
    /// This recipient.
    pub recipient: Option<RecipientFilter>,
    /// At or after this time (Unix ms).
    pub since_ms: Option<i64>,
    /// Before this time (Unix ms).
    pub until_ms: Option<i64>,
}

/// A position in the newest-first order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    time_ms: i64,
    seq: i64,
}

impl Cursor {
    /// The opaque text form.
    pub fn encode(&self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.time_ms.to_be_bytes());
        bytes[8..].copy_from_slice(&self.seq.to_be_bytes());
        format!("c1{}", hex::encode(bytes))
    }

    /// Reads [`Cursor::encode`]'s form back.
    pub fn parse(text: &str) -> Result<Cursor, QueryError> {
        let bad = || QueryError::invalid("cursor", "not a cursor this server returned");
        let bytes = text
            .strip_prefix("c1")
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(bad)?;
        let (time, seq) = (
            bytes.get(..8).ok_or_else(bad)?,
            bytes.get(8..).ok_or_else(bad)?,
        );
        Ok(Cursor {
            time_ms: i64::from_be_bytes(time.try_into().map_err(|_| bad())?),
            seq: i64::from_be_bytes(seq.try_into().map_err(|_| bad())?),
        })
    }
}

/// A page request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// Which events.
    pub filter: Filter,
    /// At most this many (1..=[`MAX_LIMIT`]).
    pub limit: u32,
    /// Continue after this position.
    pub cursor: Option<Cursor>,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            filter: Filter::default(),
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

/// One page of events, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page {
    /// The events.
    pub events: Vec<Event>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl Query {
    /// Reads URL query pairs (`type` may repeat or hold a comma-separated
    /// list; empty values are ignored). National numbers in `recipient` are
    /// read in `region`; relative times (`since=2h`) count back from `now_ms`.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
        region: phonenumber::country::Id,
        now_ms: i64,
    ) -> Result<Query, QueryError> {
        let mut query = Query::default();
        for (key, value) in pairs {
            let (key, value) = (key.as_ref(), value.as_ref().trim());
            if value.is_empty() {
                continue;
            }
            query.set(key, value, region, now_ms)?;
        }
        Ok(query)
    }

    fn set(
        &mut self,
        key: &str,
        value: &str,
        region: phonenumber::country::Id,
        now: i64,
    ) -> Result<(), QueryError> {
        let f = &mut self.filter;
        match key {
            "type" => f.types.extend(parse_types(value)?),
            "plugin" => f.plugin = Some(value.to_owned()),
            "user_id" => f.user_id = Some(value.to_owned()),
            "client_id" => f.client_id = Some(value.to_owned()),
            "id" => f.id = Some(value.to_owned()),
            "message_id" => f.message_id = Some(value.to_owned()),
            "recipient" => f.recipient = Some(parse_recipient(value, region)?),
            "since" => {
                f.since_ms = Some(
                    time::parse_time(value, now).map_err(|e| QueryError::invalid("since", e))?,
                )
            }
            "until" => {
                f.until_ms = Some(
                    time::parse_time(value, now).map_err(|e| QueryError::invalid("until", e))?,
                )
            }
            "limit" => self.limit = parse_limit(value)?,
            "cursor" => self.cursor = Some(Cursor::parse(value)?),
            other => return Err(QueryError::UnknownParam(other.to_owned())),
        }
        Ok(())
    }
}

fn parse_types(value: &str) -> Result<Vec<EventType>, QueryError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|code| !code.is_empty())
        .map(|code| {
            EventType::parse(code).ok_or_else(|| {
                let known: Vec<&str> = EventType::ALL.iter().map(|t| t.code()).collect();
                QueryError::invalid(
                    "type",
                    format!("`{code}` is not one of {}", known.join(", ")),
                )
            })
        })
        .collect()
}

fn parse_recipient(
    value: &str,
    region: phonenumber::country::Id,
) -> Result<RecipientFilter, QueryError> {
    if value.contains('*') {
        return Ok(RecipientFilter::Mask(value.to_owned()));
    }
    e164::normalize(value, region, e164::Strictness::Possible)
        .map(RecipientFilter::Number)
        .map_err(|e| {
            QueryError::invalid(
                "recipient",
                format!("neither a mask like +1********23 nor a phone number: {e}"),
            )
        })
}

/// Zero is refused (it can only be a mistake); too large is lowered to
/// [`MAX_LIMIT`] so scripts asking for "everything" still get pages.
fn parse_limit(value: &str) -> Result<u32, QueryError> {
    match value.parse::<u64>() {
        Ok(0) => Err(QueryError::invalid("limit", "must be at least 1")),
        Ok(n) => Ok(u32::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT)),
        Err(_) => Err(QueryError::invalid(
            "limit",
            format!("`{value}` is not a number"),
        )),
    }
}

/// The statement for one page of `query` and its parameters, in SQLite's
/// `?` style (the PostgreSQL store renumbers them: `sql::numbered`). Both
/// stores run this one statement, so a filter means the same in each.
pub fn select(query: &Query, hasher: &RecipientHasher) -> (String, Vec<Val<'static>>) {
    let (where_sql, mut args) = where_clause(query, hasher);
    // One row more than asked says whether another page exists.
    args.push(Val::Int(Some(i64::from(page_limit(query)) + 1)));
    let sql = format!(
        "SELECT {} FROM events {where_sql} ORDER BY time_ms DESC, seq DESC LIMIT ?",
        row::COLUMNS
    );
    (sql, args)
}

fn page_limit(query: &Query) -> u32 {
    query.limit.clamp(1, MAX_LIMIT)
}

/// The page [`select`]'s rows make (each as its `seq` and event).
pub fn page(query: &Query, rows: Vec<(i64, Event)>) -> Page {
    let limit = page_limit(query) as usize;
    let mut rows: Vec<(Cursor, Event)> = rows
        .into_iter()
        .map(|(seq, event)| {
            let cursor = Cursor {
                time_ms: event.time_ms,
                seq,
            };
            (cursor, event)
        })
        .collect();
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = rows
        .last()
        .filter(|_| more)
        .map(|(cursor, _)| cursor.encode());
    Page {
        events: rows.into_iter().map(|(_, event)| event).collect(),
        next_cursor,
    }
}

/// Runs `query` on SQLite: one page plus the cursor for the next.
pub fn run(
    conn: &Connection,
    query: &Query,
    hasher: &RecipientHasher,
) -> Result<Page, rusqlite::Error> {
    let (sql, args) = select(query, hasher);
    let mut stmt = conn.prepare(&sql)?;
    let rows: Vec<(i64, Event)> = stmt
        .query_map(params_from_iter(args), |r| row::read(r))?
        .collect::<Result<_, _>>()?;
    Ok(page(query, rows))
}

/// The `WHERE` clause: the one place that knows what each filter means.
fn where_clause(query: &Query, hasher: &RecipientHasher) -> (String, Vec<Val<'static>>) {
    let f = &query.filter;
    let mut conditions: Vec<String> = Vec::new();
    let mut args: Vec<Val<'static>> = Vec::new();
    let mut equals = |column: &str, value: &Option<String>| {
        if let Some(value) = value {
            conditions.push(format!("{column} = ?"));
            args.push(Val::owned(value.clone()));
        }
    };
    equals("plugin", &f.plugin);
    equals("user_id", &f.user_id);
    equals("client_id", &f.client_id);
    equals("id", &f.id);
    equals("message_id", &f.message_id);
    match &f.recipient {
        Some(RecipientFilter::Mask(mask)) => equals("recipient_mask", &Some(mask.clone())),
        Some(RecipientFilter::Number(e164)) => equals("recipient_hash", &Some(hasher.hash(e164))),
        None => {}
    }
    if !f.types.is_empty() {
        let marks = vec!["?"; f.types.len()].join(", ");
        conditions.push(format!("type IN ({marks})"));
        args.extend(f.types.iter().map(|t| Val::text(t.code())));
    }
    if let Some(since) = f.since_ms {
        conditions.push("time_ms >= ?".to_owned());
        args.push(Val::Int(Some(since)));
    }
    if let Some(until) = f.until_ms {
        conditions.push("time_ms < ?".to_owned());
        args.push(Val::Int(Some(until)));
    }
    if let Some(c) = query.cursor {
        conditions.push("(time_ms < ? OR (time_ms = ? AND seq < ?))".to_owned());
        args.extend([
            Val::Int(Some(c.time_ms)),
            Val::Int(Some(c.time_ms)),
            Val::Int(Some(c.seq)),
        ]);
    }
    if conditions.is_empty() {
        (String::new(), args)
    } else {
        (format!("WHERE {}", conditions.join(" AND ")), args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region() -> phonenumber::country::Id {
        e164::region("US").unwrap_or(phonenumber::country::Id::US)
    }

    fn parse(query: &str) -> Result<Query, QueryError> {
        let pairs = url::form_urlencoded::parse(query.as_bytes());
        Query::from_pairs(pairs, region(), 1_700_000_000_000)
    }

    #[test]
    fn reads_every_parameter() -> Result<(), QueryError> {
        let q = parse(
            "type=gd_send_sms,gd_send_voice&type=gd_send_sms_failure&plugin=twilio&user_id=u1&client_id=c1\
             &id=ev_1&recipient=%2B1********23&since=2023-11-14T00:00:00Z&until=1h&limit=7&plugin=",
        )?;
        let f = &q.filter;
        assert_eq!(
            f.types,
            [
                EventType::SendSms,
                EventType::SendVoice,
                EventType::SendSmsFailure
            ]
        );
        assert_eq!(
            (
                f.plugin.as_deref(),
                f.user_id.as_deref(),
                f.client_id.as_deref(),
                f.id.as_deref()
            ),
            (Some("twilio"), Some("u1"), Some("c1"), Some("ev_1"))
        );
        assert_eq!(
            f.recipient,
            Some(RecipientFilter::Mask("+1********23".into()))
        );
        assert_eq!(
            (f.since_ms, f.until_ms),
            (Some(1_699_920_000_000), Some(1_699_996_400_000))
        );
        assert_eq!(q.limit, 7);
        Ok(())
    }

    #[test]
    fn full_numbers_are_normalized_for_hashing() -> Result<(), QueryError> {
        for written in ["+14155550123", "(415) 555-0123", "415-555-0123"] {
            let q = parse(&format!("recipient={}", written.replace('+', "%2B")))?;
            assert_eq!(
                q.filter.recipient,
                Some(RecipientFilter::Number("+14155550123".into())),
                "{written}"
            );
        }
        Ok(())
    }

    #[test]
    fn limit_defaults_and_is_capped() -> Result<(), QueryError> {
        assert_eq!(parse("")?.limit, DEFAULT_LIMIT);
        assert_eq!(parse("limit=100000")?.limit, MAX_LIMIT);
        assert_eq!(parse("limit=99999999999999")?.limit, MAX_LIMIT);
        Ok(())
    }

    #[test]
    fn refuses_what_it_cannot_use() {
        for bad in [
            "type=gd_send_email",
            "limit=0",
            "limit=ten",
            "since=yesterday",
            "cursor=abc",
            "cursor=c1abcd",
            "recipient=not-a-number",
            "colour=blue",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse("colour=blue"),
            Err(QueryError::UnknownParam("colour".into()))
        );
    }

    #[test]
    fn cursors_round_trip() -> Result<(), QueryError> {
        let c = Cursor {
            time_ms: 1_700_000_000_123,
            seq: 42,
        };
        assert_eq!(Cursor::parse(&c.encode())?, c);
        Ok(())
    }
}
