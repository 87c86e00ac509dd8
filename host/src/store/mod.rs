//! Where state that outlives a message is kept: the embedded SQLite file
//! (`store = "sqlite"`, the default — one process, no server) or a
//! PostgreSQL database that several instances share (`store =
//! "postgres://…"`, `PHONEHOOK_STORE`).
//!
//! - [`StoreKind`]: the configured choice, parsed once; the URL's password
//!   is never printed ([`PgUrl`]'s `Display` hides it).
//! - [`postgres`]: the pool, the schema ([`migrations`]) and the health of
//!   the connection ([`health`]).
//!
//! What each part keeps in PostgreSQL lives with the part: the delivery log
//! (`deliverylog::postgres`), the control state and its notifications
//! ([`control`], [`listen`]), the instances' heartbeats ([`instances`]), the
//! guard's shared counters and safe list, the idempotency keys.

pub mod control;
pub mod health;
pub mod instances;
pub mod listen;
pub mod migrations;
pub mod postgres;

use std::fmt;

pub use health::Health;
pub use postgres::{Postgres, StoreError, Topic};

/// What a part needs to keep its state in the shared database: the
/// database, and the key every instance derives its keyed hashes from (the
/// recipient-hash key, [`Postgres::recipient_key`]), so that two instances
/// name the same number, address or call by the same key.
#[derive(Clone, Debug)]
pub struct Shared {
    /// The database.
    pub pg: Postgres,
    /// The shared recipient-hash key.
    pub key: crate::deliverylog::RecipientHasher,
}

/// `store` in the configuration: which store keeps the log and the state.
#[derive(Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum StoreKind {
    /// The embedded SQLite file at `log.path`.
    Sqlite,
    /// A PostgreSQL database shared by every instance.
    Postgres(PgUrl),
}

/// A `postgres://` URL. Holds the password, so it prints without it.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl(String);

impl PgUrl {
    /// The URL as configured, password included: only for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match url::Url::parse(&self.0) {
            Ok(mut u) => {
                if u.password().is_some() {
                    // Only fails for URLs that cannot have a password.
                    let _ = u.set_password(Some("***"));
                }
                write!(f, "{u}")
            }
            Err(_) => f.write_str("postgres://(unparsable URL)"),
        }
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({self})")
    }
}

impl fmt::Debug for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreKind::Sqlite => f.write_str("Sqlite"),
            StoreKind::Postgres(url) => write!(f, "Postgres({url})"),
        }
    }
}

/// `store` names neither store.
#[derive(Debug, thiserror::Error)]
#[error("store = {shown:?} is neither \"sqlite\" nor a postgres:// URL ({problem})")]
pub struct BadStore {
    shown: String,
    problem: String,
}

impl TryFrom<String> for StoreKind {
    type Error = BadStore;
    fn try_from(value: String) -> Result<StoreKind, BadStore> {
        StoreKind::parse(&value)
    }
}

/// The configured value itself, password included: only the configuration's
/// defaults are ever serialized (to merge the file over them); anything
/// shown to a person goes through [`StoreKind::describe`].
impl From<StoreKind> for String {
    fn from(kind: StoreKind) -> String {
        match kind {
            StoreKind::Sqlite => "sqlite".to_owned(),
            StoreKind::Postgres(url) => url.0,
        }
    }
}

impl StoreKind {
    /// Parses the configured value: `sqlite` (or empty), or a
    /// `postgres://` / `postgresql://` URL that tokio-postgres accepts.
    pub fn parse(value: &str) -> Result<StoreKind, BadStore> {
        let value = value.trim();
        if value.is_empty() || value.eq_ignore_ascii_case("sqlite") {
            return Ok(StoreKind::Sqlite);
        }
        let url = PgUrl(value.to_owned());
        let bad = |problem: &str| BadStore {
            shown: url.to_string(),
            problem: problem.to_owned(),
        };
        if !(value.starts_with("postgres://") || value.starts_with("postgresql://")) {
            return Err(bad(
                "expected sqlite or postgres://user:password@host:port/database",
            ));
        }
        value
            .parse::<tokio_postgres::Config>()
            .map_err(|e| bad(&e.to_string()))?;
        Ok(StoreKind::Postgres(url))
    }

    /// `sqlite` or the URL without its password, for logs and the API.
    pub fn describe(&self) -> String {
        match self {
            StoreKind::Sqlite => "sqlite".to_owned(),
            StoreKind::Postgres(url) => url.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_stores_and_never_shows_the_password() {
        assert_eq!(StoreKind::parse("sqlite").ok(), Some(StoreKind::Sqlite));
        assert_eq!(StoreKind::parse("").ok(), Some(StoreKind::Sqlite));
        let pg = StoreKind::parse("postgres://ph:s3cret-pw@127.0.0.1:5432/phonehook");
        let Ok(pg) = pg else {
            panic!("a postgres URL parses: {pg:?}");
        };
        assert!(matches!(pg, StoreKind::Postgres(_)));
        assert!(!pg.describe().contains("s3cret-pw"), "{}", pg.describe());
        assert!(!format!("{pg:?}").contains("s3cret-pw"));
        let err = StoreKind::parse("mysql://u:topsecret@h/db")
            .map(|_| ())
            .unwrap_err();
        assert!(!err.to_string().contains("topsecret"), "{err}");
        assert!(err.to_string().contains("postgres://"), "{err}");
    }
}
