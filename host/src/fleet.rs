//! Several instances, one truth: how an instance takes part in a fleet that
//! shares a PostgreSQL store.
//!
//! - At start the control row is read, or seeded from this instance's
//!   configuration when the database has none ([`Fleet::control_row`]).
//! - Three tasks run for the instance's life: the listener
//!   ([`crate::store::listen`]), the **follower**, which applies every newer
//!   control generation it hears of (and re-reads on every reconnect, so a
//!   missed notification cannot leave the instance stale), and the
//!   **heartbeat**, which writes this instance's row (plugins with versions
//!   and SHA-256, the generation it serves) every second and is what clears
//!   a degraded [`crate::store::Health`].
//! - Admin changes ([`Fleet::swap`], [`Fleet::swap_fallback`]) are written
//!   as a new generation with its notification in one transaction, then
//!   applied here at once; the others apply them when notified (well under a
//!   second on a working network).
//!
//! **Architecture Invariant:** with a shared store, only the control row
//! changes the active plugin or the fallback chain; [`Control`] applies it.
//! An instance that loses the database keeps serving its last known state.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::control::{Choice, Control, Source, Swap};
use crate::deliverylog::time;
use crate::plugins::{ActivateError, Activation};
use crate::store::control::{self as control_row, Change, ControlRow};
use crate::store::instances::{self, Instance, InstancePlugin};
use crate::store::{listen, Postgres, StoreError, Topic};

/// How often the follower re-reads the control row without being told to.
const REREAD_EVERY: Duration = Duration::from_secs(10);

/// How long an admin change or a control read may wait for the database.
const CHANGE_WITHIN: Duration = Duration::from_secs(2);

/// Why an admin change was not made.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// This instance cannot serve the plugin (unknown, failed, misconfigured).
    #[error(transparent)]
    Activate(#[from] ActivateError),
    /// Live instances lack the plugin; `force` overrides.
    #[error("live instances lack plugin `{plugin}`: {}; deploy it there first, or force the change", instances.join(", "))]
    Lacking {
        /// The plugin.
        plugin: String,
        /// The instances' names (and ids).
        instances: Vec<String>,
    },
    /// The change was stored, but this instance serves something else now.
    #[error("the change to `{plugin}` was stored as generation {generation}, but this instance does not serve it now (a newer change came first, or the plugin failed to activate here: see the server log)")]
    NotApplied {
        /// The plugin.
        plugin: String,
        /// The generation written.
        generation: i64,
    },
    /// A fallback chain names a plugin twice.
    #[error("fallback `{0}` is named twice")]
    Duplicate(String),
    /// The database could not be written: the change would reach only this
    /// instance, so it is not made.
    #[error("the shared store is unreachable, so the change could not reach the other instances and was not made: {0}")]
    Store(#[from] StoreError),
}

/// Who this instance is.
#[derive(Clone, Debug)]
pub struct Identity {
    /// Unique per process.
    pub id: String,
    /// For people.
    pub name: String,
    /// When it started (Unix milliseconds).
    pub started_ms: i64,
}

impl Identity {
    /// `name` (or the host name) and a unique id (`name:port:random`).
    pub fn new(name: Option<&str>, port: u16) -> Identity {
        let name = name
            .map(str::to_owned)
            .or_else(host_name)
            .unwrap_or_else(|| "phonehook".to_owned());
        let suffix: u32 = rand::random();
        Identity {
            id: format!("{name}:{port}:{suffix:08x}"),
            name,
            started_ms: time::now_ms(),
        }
    }
}

impl Identity {
    /// The same instance once its port is known (bound to port 0).
    pub fn on_port(self, port: u16) -> Identity {
        let suffix = self.id.rsplit(':').next().unwrap_or("0").to_owned();
        Identity {
            id: format!("{}:{port}:{suffix}", self.name),
            ..self
        }
    }
}

fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// This instance's part in the fleet. Its tasks stop when it is dropped.
pub struct Fleet {
    pg: Postgres,
    me: Identity,
    control: Arc<Control>,
    beat_now: Arc<Notify>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("id", &self.me.id)
            .finish_non_exhaustive()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Fleet {
    /// The control row to start with: the database's, or — for the first
    /// instance of a fleet — one seeded from the configured active plugin
    /// and fallback chain.
    pub async fn control_row(
        pg: &Postgres,
        me: &Identity,
        configured: Option<String>,
        fallback: Vec<String>,
    ) -> Result<ControlRow, StoreError> {
        let now = time::now_ms();
        let seed = ControlRow {
            generation: 1,
            active: configured,
            active_source: Source::Configuration,
            active_since_ms: now,
            fallback,
            fallback_source: Source::Configuration,
            fallback_since_ms: now,
            changed_by: me.id.clone(),
        };
        let client = pg.client().await?;
        let row = control_row::load_or_seed(&**client, &seed).await?;
        if row.changed_by == me.id && row.generation == 1 {
            tracing::info!(plugin = row.active.as_deref().unwrap_or("none"),
                "the shared store had no control state: seeded it from this instance's configuration");
        }
        Ok(row)
    }

    /// Joins: writes the first heartbeat (so the instance is listed from
    /// its first request on), then starts the listener, the follower and
    /// the heartbeat.
    pub async fn start(pg: Postgres, me: Identity, control: Arc<Control>) -> Fleet {
        beat(&pg, &me, &control).await;
        let beat_now = Arc::new(Notify::new());
        let tasks = vec![
            tokio::spawn(listen::run(pg.clone())),
            tokio::spawn(follow(pg.clone(), control.clone(), beat_now.clone())),
            tokio::spawn(heartbeat(
                pg.clone(),
                me.clone(),
                control.clone(),
                beat_now.clone(),
            )),
        ];
        tracing::info!(instance = %me.id, store = %pg.url(), "joined the fleet on the shared store");
        Fleet {
            pg,
            me,
            control,
            beat_now,
            tasks,
        }
    }

    /// This instance.
    pub fn identity(&self) -> &Identity {
        &self.me
    }

    /// The shared store.
    pub fn store(&self) -> &Postgres {
        &self.pg
    }

    /// Makes `name` active on every instance. Refused when this instance
    /// cannot serve it, when a live instance lacks it (unless `force`), or
    /// when the database cannot be written.
    pub async fn swap(&self, name: &str, force: bool) -> Result<Swap, FleetError> {
        let registry = self.control.registry();
        registry.check_activatable(name)?;
        if !force {
            self.refuse_if_lacking(name).await?;
        }
        let previous = registry.active_name();
        let row = self.change(Change::Active(name.to_owned())).await?;
        let active = self.control.current().0;
        let activation = match active {
            Some(a) if a.generation.info.name == name => Activation {
                name: name.to_owned(),
                generation: a.generation.id,
            },
            // Checked above: a reload between the check and now failed it,
            // or another admin's newer change came first.
            _ => {
                return Err(FleetError::NotApplied {
                    plugin: name.to_owned(),
                    generation: row.generation,
                })
            }
        };
        tracing::info!(plugin = %name, generation = row.generation,
            previous = previous.as_deref().unwrap_or("none"),
            "active plugin changed through the API for every instance");
        Ok(Swap {
            activation,
            previous,
            since_ms: row.active_since_ms,
        })
    }

    /// Replaces the fallback chain on every instance, with the checks an
    /// activation has (on this instance).
    pub async fn swap_fallback(&self, names: Vec<String>) -> Result<Choice, FleetError> {
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(FleetError::Duplicate(name.clone()));
            }
            self.control.registry().check_activatable(name)?;
        }
        let row = self.change(Change::Fallback(names)).await?;
        tracing::info!(fallback = ?row.fallback, generation = row.generation,
            "fallback chain changed through the API for every instance");
        Ok(Choice {
            source: Source::Api,
            since_ms: row.fallback_since_ms,
        })
    }

    async fn change(&self, change: Change) -> Result<ControlRow, FleetError> {
        let id = self.me.id.clone();
        let row =
            self.pg
                .within(
                    "changing the control state",
                    CHANGE_WITHIN,
                    |mut c| async move {
                        control_row::change(&mut c, &change, &id, time::now_ms()).await
                    },
                )
                .await?;
        self.control.apply_shared(&row);
        self.beat_now.notify_one();
        Ok(row)
    }

    async fn refuse_if_lacking(&self, name: &str) -> Result<(), FleetError> {
        let lacking: Vec<String> = self
            .instances()
            .await?
            .into_iter()
            .filter(|i| i.id != self.me.id && !i.plugins.iter().any(|p| p.name == name))
            .map(|i| format!("{} ({})", i.name, i.id))
            .collect();
        if lacking.is_empty() {
            Ok(())
        } else {
            Err(FleetError::Lacking {
                plugin: name.to_owned(),
                instances: lacking,
            })
        }
    }

    /// The live instances, as their heartbeats say.
    pub async fn instances(&self) -> Result<Vec<Instance>, StoreError> {
        self.pg
            .within("listing instances", CHANGE_WITHIN, |c| async move {
                instances::live(&**c, time::now_ms()).await
            })
            .await
    }

    /// Leaves the fleet on a clean shutdown: the instance's row goes at
    /// once instead of ageing out.
    pub async fn leave(&self) {
        let id = self.me.id.clone();
        let left = self
            .pg
            .within("leaving the fleet", CHANGE_WITHIN, |c| async move {
                instances::leave(&**c, &id).await
            })
            .await;
        if left.is_ok() {
            tracing::info!(instance = %self.me.id, "left the fleet");
        }
    }
}

/// This instance's heartbeat row as of now.
pub fn describe(me: &Identity, control: &Control) -> Instance {
    let plugins = control
        .registry()
        .status()
        .into_iter()
        .filter_map(|p| {
            let info = p.info?;
            Some(InstancePlugin {
                name: info.name,
                version: info.version,
                sha256: p.sha256.unwrap_or_default(),
            })
        })
        .collect();
    Instance {
        id: me.id.clone(),
        name: me.name.clone(),
        started_ms: me.started_ms,
        heartbeat_ms: time::now_ms(),
        generation: control.generation().unwrap_or(0),
        active: control.registry().active_name(),
        plugins,
    }
}

/// Applies every newer control generation: on each `Control` notification,
/// and on every reconnect or missed notification (`Lagged`), by re-reading.
async fn follow(pg: Postgres, control: Arc<Control>, beat_now: Arc<Notify>) {
    let mut topics = pg.subscribe();
    loop {
        // Notifications carry changes; the periodic re-read is only a
        // safety net (a plugin file that arrived after its activation).
        match tokio::time::timeout(REREAD_EVERY, topics.recv()).await {
            Ok(Ok(Topic::Control | Topic::Reconnected) | Err(RecvError::Lagged(_))) | Err(_) => {}
            Ok(Ok(Topic::SafeList)) => continue,
            Ok(Err(RecvError::Closed)) => return,
        }
        let row = pg
            .within("reading the control state", CHANGE_WITHIN, |c| async move {
                control_row::load(&**c).await
            })
            .await;
        if let Ok(Some(row)) = row {
            let control = control.clone();
            // Activation takes the registry's locks; keep it off the workers.
            let applied = tokio::task::spawn_blocking(move || control.apply_shared(&row)).await;
            if matches!(applied, Ok(true)) {
                // Tell the fleet at once, not at the next tick: an admin
                // watching `GET /api/v1/instances` sees convergence as it is.
                beat_now.notify_one();
            }
        }
    }
}

/// Writes this instance's row every [`instances::HEARTBEAT_MS`]; a write
/// that succeeds clears a degraded health.
async fn heartbeat(pg: Postgres, me: Identity, control: Arc<Control>, beat_now: Arc<Notify>) {
    let every = Duration::from_millis(instances::HEARTBEAT_MS as u64);
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = beat_now.notified() => {}
        }
        beat(&pg, &me, &control).await;
    }
}

/// One heartbeat; a write that succeeds clears a degraded health.
async fn beat(pg: &Postgres, me: &Identity, control: &Control) {
    let row = describe(me, control);
    let written = pg
        .within("writing the heartbeat", CHANGE_WITHIN, |c| async move {
            instances::beat(&**c, &row).await
        })
        .await;
    if written.is_ok() {
        pg.health().ok();
    }
}
