//! phonehook: delivers one-time codes by SMS and voice through one active,
//! hot-swappable provider plugin.
//!
//! The binary is thin ([`cli`]); the server is [`server::Server`]. A message
//! flows `api::messages` → [`inbound`] (validate, E.164) → [`plugins::Registry`]
//! (the active plugin) → [`delivery`] (prepare / [`egress`] / interpret) → the
//! caller. See ARCHITECTURE.md for the map.
#![deny(missing_docs)]
// Test-only code (e.g. `deliverylog::tests`, which changes file attributes
// through libc) may use unsafe; the library itself allows it only in
// `plugins::{loader, generation, sys}`.
#![cfg_attr(test, allow(unsafe_code))]

pub mod accept;
pub mod api;
pub mod cli;
pub mod config;
pub mod console;
pub mod control;
pub mod delivery;
pub mod deliverylog;
pub mod e164;
pub mod egress;
pub mod failover;
pub mod fleet;
pub mod guard;
pub mod idempotency;
pub mod inbound;
pub mod inbox;
pub mod mask;
pub mod metrics;
pub mod plugins;
pub mod redact;
pub mod server;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod watcher;
