//! What every request handler shares.

use std::sync::Arc;

use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::console::Sessions;
use crate::control::Control;
use crate::deliverylog::DeliveryLog;
use crate::egress::Egress;
use crate::failover::breaker::Breakers;
use crate::guard::Guard;
use crate::idempotency::Idempotency;
use crate::inbound::Rules;
use crate::inbox::Inbox;
use crate::plugins::Registry;

/// Shared server state.
pub struct AppState {
    /// The configuration the server started with.
    pub config: Config,
    /// Loaded plugins and the active one.
    pub registry: Arc<Registry>,
    /// Who chooses the active plugin (every activation goes through it).
    pub control: Arc<Control>,
    /// The vendor HTTP client.
    pub egress: Egress,
    /// The sandbox inbox.
    pub inbox: Inbox,
    /// Inbound validation rules.
    pub rules: Rules,
    /// This server's own base URL, for the sandbox plugin.
    pub host_url: String,
    /// The delivery log (one event per send attempt).
    pub log: DeliveryLog,
    /// The abuse guard, between validation and the plugin.
    pub guard: Arc<Guard>,
    /// Every plugin's circuit breaker.
    pub breakers: Breakers,
    /// Recent answers, for retried calls.
    pub idempotency: Idempotency,
    /// The admin console's logged-in sessions (in memory only).
    pub console: Sessions,
    /// The shared PostgreSQL store (none with `store = "sqlite"`).
    pub store: Option<crate::store::Postgres>,
    /// This instance's part in the fleet sharing that store (none with
    /// SQLite).
    pub fleet: Option<crate::fleet::Fleet>,
    /// Send attempts in flight, detached from their callers' connections;
    /// shutdown waits for them before closing the log.
    pub attempts: TaskTracker,
}

impl AppState {
    /// The state [`crate::api::router`] serves from, around parts that are
    /// already running: `control` has decided the active plugin (its registry
    /// is the state's), `log` is open, `host_url` is this server's own base
    /// URL (the sandbox plugin delivers there). [`crate::server::Server::start`]
    /// builds it after binding; tests build one without a socket and drive
    /// the router in-process.
    pub fn new(
        config: Config,
        control: Arc<Control>,
        egress: Egress,
        rules: Rules,
        log: DeliveryLog,
        host_url: String,
        fleet: Option<crate::fleet::Fleet>,
    ) -> AppState {
        let store = fleet.as_ref().map(|f| f.store().clone());
        // With a shared store the guard and idempotency keep their state
        // there, keyed by the recipient-hash key: the log's, which the
        // server builds from the key every instance shares
        // (`Postgres::recipient_key`), so two instances name a number alike.
        let shared = store.clone().map(|pg| crate::store::Shared {
            pg,
            key: log.hasher().clone(),
        });
        // Without it the guard reads its stored safe list and backoffs here:
        // two small reads at start, before the server takes traffic.
        let guard = Arc::new(Guard::start(&config.guard, &log, shared.clone()));
        let idempotency = Idempotency::new(
            &config.idempotency,
            shared,
            std::time::Duration::from_millis(config.failover.deadline_ms),
        );
        let breakers = Breakers::new(
            config.failover.breaker_failures,
            std::time::Duration::from_millis(config.failover.breaker_cool_down_ms),
        );
        AppState {
            inbox: Inbox::new(config.sandbox.capacity),
            console: Sessions::new(&config.console),
            registry: control.registry().clone(),
            config,
            control,
            egress,
            rules,
            host_url,
            guard,
            breakers,
            idempotency,
            log,
            store,
            fleet,
            attempts: TaskTracker::new(),
        }
    }
}
