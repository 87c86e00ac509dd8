//! The control state in the shared database: one row holding the active
//! plugin, the fallback chain, who chose each and when, and a **generation**
//! that grows by one with every change. A change and its notification are
//! one transaction (PostgreSQL delivers `NOTIFY` on commit), so no instance
//! hears of a change it cannot read.

use tokio_postgres::{GenericClient, Row};

use super::postgres::{Topic, CHANNEL};
use super::StoreError;
use crate::control::Source;

/// The control row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlRow {
    /// Grows by one with every change; instances apply newer rows only.
    pub generation: i64,
    /// The active plugin (none: nothing is active).
    pub active: Option<String>,
    /// Who chose it.
    pub active_source: Source,
    /// When, in Unix milliseconds.
    pub active_since_ms: i64,
    /// The fallback chain, in order.
    pub fallback: Vec<String>,
    /// Who chose it.
    pub fallback_source: Source,
    /// When, in Unix milliseconds.
    pub fallback_since_ms: i64,
    /// The instance that made the change.
    pub changed_by: String,
}

/// One change an admin (or the first instance) makes.
#[derive(Clone, Debug)]
pub enum Change {
    /// Make this plugin active.
    Active(String),
    /// Replace the fallback chain.
    Fallback(Vec<String>),
}

const COLUMNS: &str = "generation, active_plugin, active_source, active_since_ms, fallback, \
     fallback_source, fallback_since_ms, changed_by";

fn source_of(text: &str) -> Source {
    if text == "api" {
        Source::Api
    } else {
        Source::Configuration
    }
}

fn source_text(source: Source) -> &'static str {
    match source {
        Source::Api => "api",
        Source::Configuration => "configuration",
    }
}

fn from_row(row: &Row) -> Result<ControlRow, StoreError> {
    let fallback: serde_json::Value = row.try_get(4)?;
    Ok(ControlRow {
        generation: row.try_get(0)?,
        active: row.try_get(1)?,
        active_source: source_of(row.try_get(2)?),
        active_since_ms: row.try_get(3)?,
        // Only this module writes the column, always as an array of names.
        fallback: serde_json::from_value(fallback).unwrap_or_default(),
        fallback_source: source_of(row.try_get(5)?),
        fallback_since_ms: row.try_get(6)?,
        changed_by: row.try_get(7)?,
    })
}

/// The row, when some instance has written it.
pub async fn load(client: &impl GenericClient) -> Result<Option<ControlRow>, StoreError> {
    let row = client
        .query_opt(&format!("SELECT {COLUMNS} FROM control WHERE id = 1"), &[])
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The row, writing `seed` (generation 1) first when there is none: the
/// first instance of a fleet brings its configured choice; every later one
/// adopts what is there.
pub async fn load_or_seed(
    client: &impl GenericClient,
    seed: &ControlRow,
) -> Result<ControlRow, StoreError> {
    let fallback = serde_json::to_value(&seed.fallback).unwrap_or_default();
    client
        .execute(
            "INSERT INTO control (id, generation, active_plugin, active_source, active_since_ms,
                 fallback, fallback_source, fallback_since_ms, changed_by)
             VALUES (1, 1, $1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO NOTHING",
            &[
                &seed.active,
                &source_text(seed.active_source),
                &seed.active_since_ms,
                &fallback,
                &source_text(seed.fallback_source),
                &seed.fallback_since_ms,
                &seed.changed_by,
            ],
        )
        .await?;
    match load(client).await? {
        Some(row) => Ok(row),
        // Just inserted or already there; absent only if deleted by hand
        // in between.
        None => Ok(ControlRow {
            generation: 1,
            ..seed.clone()
        }),
    }
}

/// Applies `change` as a new generation, chosen through the API by
/// `instance` at `now_ms`, and notifies every instance, in one transaction.
pub async fn change(
    client: &mut deadpool_postgres::Object,
    change: &Change,
    instance: &str,
    now_ms: i64,
) -> Result<ControlRow, StoreError> {
    let tx = client.transaction().await?;
    let row = match change {
        Change::Active(name) => {
            tx.query_one(
                &format!(
                    "UPDATE control SET generation = generation + 1, active_plugin = $1,
                         active_source = 'api', active_since_ms = $2, changed_by = $3
                     WHERE id = 1 RETURNING {COLUMNS}"
                ),
                &[name, &now_ms, &instance],
            )
            .await?
        }
        Change::Fallback(names) => {
            let names = serde_json::to_value(names).unwrap_or_default();
            tx.query_one(
                &format!(
                    "UPDATE control SET generation = generation + 1, fallback = $1,
                         fallback_source = 'api', fallback_since_ms = $2, changed_by = $3
                     WHERE id = 1 RETURNING {COLUMNS}"
                ),
                &[&names, &now_ms, &instance],
            )
            .await?
        }
    };
    tx.execute(
        "SELECT pg_notify($1, $2)",
        &[&CHANNEL, &Topic::Control.as_str()],
    )
    .await?;
    tx.commit().await?;
    from_row(&row)
}
