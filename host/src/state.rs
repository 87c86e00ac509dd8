//! What every request handler shares.

use std::sync::Arc;

use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::control::Control;
use crate::deliverylog::DeliveryLog;
use crate::egress::Egress;
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
    /// Send attempts in flight, detached from their callers' connections;
    /// shutdown waits for them before closing the log.
    pub attempts: TaskTracker,
}
