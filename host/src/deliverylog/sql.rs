//! What the two stores' SQL has in common: one value type both drivers bind
//! ([`Val`]), and the one difference in how statements name parameters
//! ([`numbered`]). The statements themselves are written once, in SQLite's
//! `?` style, by the module that knows them (`row`, `query`, `rate`,
//! `retention`); the PostgreSQL side renumbers them instead of keeping a
//! second copy that could drift.

use std::borrow::Cow;
use std::error::Error;

use bytes::BytesMut;
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use tokio_postgres::types::{IsNull, ToSql, Type};

/// A value bound to a statement, for either store. The variants are the
/// column types the log uses: text, integer, real, boolean, each nullable.
/// On PostgreSQL they must meet `text`, `bigint`, `double precision` and
/// `boolean` columns (`0002_log.sql`): each variant checks its own type.
#[derive(Clone, Debug, PartialEq)]
pub enum Val<'a> {
    /// `TEXT` / `text`.
    Text(Option<Cow<'a, str>>),
    /// `INTEGER` / `bigint`.
    Int(Option<i64>),
    /// `REAL` / `double precision`.
    Real(Option<f64>),
    /// `INTEGER` (0 or 1) / `boolean`.
    Bool(Option<bool>),
}

impl<'a> Val<'a> {
    /// A borrowed text.
    pub fn text(value: &'a str) -> Val<'a> {
        Val::Text(Some(Cow::Borrowed(value)))
    }

    /// An owned text.
    pub fn owned(value: String) -> Val<'static> {
        Val::Text(Some(Cow::Owned(value)))
    }

    /// A text that may be absent.
    pub fn opt_text(value: Option<&'a str>) -> Val<'a> {
        Val::Text(value.map(Cow::Borrowed))
    }
}

impl rusqlite::ToSql for Val<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Val::Text(Some(text)) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Val::Int(Some(n)) => ToSqlOutput::Owned(Value::Integer(*n)),
            Val::Real(Some(x)) => ToSqlOutput::Owned(Value::Real(*x)),
            Val::Bool(Some(b)) => ToSqlOutput::Owned(Value::Integer(i64::from(*b))),
            Val::Text(None) | Val::Int(None) | Val::Real(None) | Val::Bool(None) => {
                ToSqlOutput::Owned(Value::Null)
            }
        })
    }
}

type BoxError = Box<dyn Error + Sync + Send>;

/// Delegates to the inner value's own (checked) conversion, so an `Int`
/// bound to a `text` column is an error rather than eight stray bytes.
impl ToSql for Val<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        self.to_sql_checked(ty, out)
    }

    fn accepts(ty: &Type) -> bool {
        <&str as ToSql>::accepts(ty)
            || <i64 as ToSql>::accepts(ty)
            || <f64 as ToSql>::accepts(ty)
            || <bool as ToSql>::accepts(ty)
    }

    fn to_sql_checked(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Val::Text(v) => v.as_deref().to_sql_checked(ty, out),
            Val::Int(v) => v.to_sql_checked(ty, out),
            Val::Real(v) => v.to_sql_checked(ty, out),
            Val::Bool(v) => v.to_sql_checked(ty, out),
        }
    }
}

/// Rewrites SQLite's parameter marks for PostgreSQL: `?` becomes `$1`,
/// `$2`, … in order of appearance, and `?N` becomes `$N`. The statements
/// passed here hold no string literals, so every `?` is a parameter.
pub fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut next = 0u32;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '?' {
            out.push(c);
            continue;
        }
        out.push('$');
        if chars.peek().is_some_and(char::is_ascii_digit) {
            while let Some(d) = chars.next_if(char::is_ascii_digit) {
                out.push(d);
            }
        } else {
            next += 1;
            out.push_str(&next.to_string());
        }
    }
    out
}

/// The values as PostgreSQL's driver takes them.
pub fn pg_params<'v>(values: &'v [Val<'_>]) -> Vec<&'v (dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_plain_marks_in_order_and_keeps_numbered_ones() {
        assert_eq!(
            numbered("a = ? AND (b < ? OR c IN (?, ?)) LIMIT ?"),
            "a = $1 AND (b < $2 OR c IN ($3, $4)) LIMIT $5"
        );
        assert_eq!(
            numbered("(t / ?1) * ?1 WHERE t >= ?2 AND t < ?12"),
            "(t / $1) * $1 WHERE t >= $2 AND t < $12"
        );
        assert_eq!(numbered("SELECT 1"), "SELECT 1");
    }
}
