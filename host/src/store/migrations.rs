//! The PostgreSQL schema, as numbered migrations applied at start. Several
//! instances may start at once against an empty database: each takes the
//! same session-level advisory lock first, so one applies the migrations
//! and the others find them applied.

use deadpool_postgres::Object;

/// One step of the schema.
#[derive(Debug)]
pub struct Migration {
    /// Its number; applied in order, each once.
    pub version: i32,
    /// What it adds.
    pub name: &'static str,
    /// The statements.
    pub sql: &'static str,
}

/// Every migration, oldest first. Append; never edit one that has shipped.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "control state, instances, meta",
        sql: include_str!("migrations/0001_control.sql"),
    },
    Migration {
        version: 2,
        name: "delivery log events",
        sql: include_str!("migrations/0002_log.sql"),
    },
    Migration {
        version: 3,
        name: "guard counters and safe list",
        sql: include_str!("migrations/0003_guard.sql"),
    },
    Migration {
        version: 4,
        name: "idempotency keys",
        sql: include_str!("migrations/0004_idempotency.sql"),
    },
];

/// The newest version this build knows.
pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// The advisory lock's key: "phonehoo" as a big-endian integer, so it is
/// unlikely to meet another application's lock in a shared database.
const LOCK_KEY: i64 = 0x7068_6f6e_6568_6f6f;

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// A statement failed.
    #[error("migration {version} ({name}): {source}")]
    Step {
        /// The migration.
        version: i32,
        /// What it adds.
        name: &'static str,
        /// PostgreSQL's reason.
        source: tokio_postgres::Error,
    },
    /// Taking the lock or reading the version failed.
    #[error("reading the schema version: {0}")]
    Version(#[from] tokio_postgres::Error),
    /// A newer phonehook migrated the database.
    #[error(
        "the database has schema version {found}; this phonehook knows up to {known}: upgrade it"
    )]
    TooNew {
        /// The database's version.
        found: i32,
        /// This build's newest.
        known: i32,
    },
}

/// Applies every migration the database lacks; returns the versions applied.
pub async fn run(client: &mut Object) -> Result<Vec<i32>, MigrateError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await?;
    let result = apply(client).await;
    // Released on every path; a lost connection releases it anyway.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await;
    result
}

async fn apply(client: &mut Object) -> Result<Vec<i32>, MigrateError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await?;
    let found: i32 = client
        .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
        .await?
        .get(0);
    if found > latest() {
        return Err(MigrateError::TooNew {
            found,
            known: latest(),
        });
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        let step = |source| MigrateError::Step {
            version: m.version,
            name: m.name,
            source,
        };
        let tx = client.transaction().await.map_err(step)?;
        tx.batch_execute(m.sql).await.map_err(step)?;
        tx.execute(
            "INSERT INTO schema_version (version, name) VALUES ($1, $2)",
            &[&m.version, &m.name],
        )
        .await
        .map_err(step)?;
        tx.commit().await.map_err(step)?;
        applied.push(m.version);
    }
    Ok(applied)
}
