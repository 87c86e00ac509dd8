//! Live instances: each writes a heartbeat row (its plugins with versions
//! and SHA-256, the control generation it serves) so an admin sees version
//! skew and convergence across the fleet, and an activation can be refused
//! when some live instance lacks the plugin.

use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;

use super::StoreError;

/// How often an instance writes its heartbeat, in milliseconds.
pub const HEARTBEAT_MS: i64 = 1_000;

/// An instance whose heartbeat is older than this is not live.
pub const LIVE_WITHIN_MS: i64 = 10_000;

/// Rows older than this are deleted (an instance that went away for good).
pub const FORGET_AFTER_MS: i64 = 24 * 3600 * 1000;

/// One plugin as an instance has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstancePlugin {
    /// Manifest name.
    pub name: String,
    /// Manifest version.
    pub version: String,
    /// SHA-256 of the loaded file.
    pub sha256: String,
}

/// One instance, as its last heartbeat said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Unique per process (host name, port, a random suffix).
    pub id: String,
    /// A name for people: `instance_name`, else the host name.
    pub name: String,
    /// When it started, in Unix milliseconds.
    pub started_ms: i64,
    /// Its last heartbeat, in Unix milliseconds.
    pub heartbeat_ms: i64,
    /// The control generation it serves.
    pub generation: i64,
    /// The plugin it serves now (none: nothing active there).
    pub active: Option<String>,
    /// Its loaded plugins.
    pub plugins: Vec<InstancePlugin>,
}

/// Writes `me`'s heartbeat (inserting the row the first time) and forgets
/// instances gone for a day.
pub async fn beat(client: &impl GenericClient, me: &Instance) -> Result<(), StoreError> {
    let plugins = serde_json::json!({ "active": me.active, "plugins": me.plugins });
    client
        .execute(
            "INSERT INTO instances (id, name, started_ms, heartbeat_ms, generation, plugins)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET heartbeat_ms = $4, generation = $5, plugins = $6",
            &[
                &me.id,
                &me.name,
                &me.started_ms,
                &me.heartbeat_ms,
                &me.generation,
                &plugins,
            ],
        )
        .await?;
    client
        .execute(
            "DELETE FROM instances WHERE heartbeat_ms < $1",
            &[&(me.heartbeat_ms - FORGET_AFTER_MS)],
        )
        .await?;
    Ok(())
}

/// Removes `id`'s row (a clean shutdown: it is gone, not late).
pub async fn leave(client: &impl GenericClient, id: &str) -> Result<(), StoreError> {
    client
        .execute("DELETE FROM instances WHERE id = $1", &[&id])
        .await?;
    Ok(())
}

/// Instances whose heartbeat is at most [`LIVE_WITHIN_MS`] old at `now_ms`,
/// by name then id.
pub async fn live(client: &impl GenericClient, now_ms: i64) -> Result<Vec<Instance>, StoreError> {
    let rows = client
        .query(
            "SELECT id, name, started_ms, heartbeat_ms, generation, plugins FROM instances
             WHERE heartbeat_ms >= $1 ORDER BY name, id",
            &[&(now_ms - LIVE_WITHIN_MS)],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let detail: serde_json::Value = row.try_get(5)?;
            Ok(Instance {
                id: row.try_get(0)?,
                name: row.try_get(1)?,
                started_ms: row.try_get(2)?,
                heartbeat_ms: row.try_get(3)?,
                generation: row.try_get(4)?,
                // Only `beat` writes the column, in this shape.
                active: detail
                    .get("active")
                    .and_then(|a| a.as_str())
                    .map(str::to_owned),
                plugins: detail
                    .get("plugins")
                    .cloned()
                    .and_then(|p| serde_json::from_value(p).ok())
                    .unwrap_or_default(),
            })
        })
        .collect()
}
