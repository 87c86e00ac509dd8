//! Whether this instance reaches its shared store. Every part that talks to
//! the database reports failures here; the heartbeat reports successes. A
//! change is logged once (not once per failing call) and shown by
//! `/healthz` (`degraded`) and `phonehook_store_degraded`.

use std::sync::atomic::{AtomicBool, Ordering};

/// The shared store's reachability, as this instance last saw it.
#[derive(Debug, Default)]
pub struct Health {
    degraded: AtomicBool,
}

impl Health {
    /// A healthy store.
    pub fn new() -> Health {
        crate::metrics::store_degraded(false);
        Health::default()
    }

    /// Whether the database was unreachable the last time anyone tried.
    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// A call to the database failed: the instance serves from what it last
    /// knew until the database answers again.
    pub fn failed(&self, what: &str, error: &dyn std::fmt::Display) {
        if !self.degraded.swap(true, Ordering::Relaxed) {
            crate::metrics::store_degraded(true);
            tracing::error!(during = what, error = %error,
                "the shared store is unreachable: serving with the last known configuration; limits and idempotency are per instance and log events are dropped and counted until it returns");
        }
    }

    /// A call to the database succeeded.
    pub fn ok(&self) {
        if self.degraded.swap(false, Ordering::Relaxed) {
            crate::metrics::store_degraded(false);
            tracing::info!("the shared store is reachable again");
        }
    }
}
