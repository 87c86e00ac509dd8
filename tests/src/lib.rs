//! Shared harness for the end-to-end tests: builds the real plugin libraries,
//! starts a real host on a loopback port, and runs loopback mock vendors.
//!
//! - [`plugins::library`] — the path of a freshly built plugin `.so`.
//! - [`Host`] / [`HostBuilder`] — a real phonehook server on `127.0.0.1:0`.
//! - [`contract`] — the table of vendor plugins every one of them is checked
//!   against: the same egress faults, the same answers.
//! - [`served::Served`] — `phonehook serve` as a child process of the real
//!   binary, for its stderr, exit status and files.
//! - [`MockVendor`] — a loopback HTTP server around an axum `Router` that
//!   records every request it receives.
//! - [`inprocess`] — the host's router without a socket, driven with
//!   `oneshot`, for what the HTTP surface decides by itself.
//! - [`postgres::PgCluster`] — a throwaway PostgreSQL server of a test's
//!   own, for the shared store (`store = "postgres://…"`).

pub mod arrival;
pub mod contract;
pub mod fds;
pub mod host;
pub mod inprocess;
pub mod load;
pub mod mock;
pub mod mocks;
pub mod plugins;
pub mod postgres;
pub mod served;

pub use host::{Host, HostBuilder};
pub use mock::{MockVendor, Recorded};
