//! `GET /console`: the active plugin and where it came from, attempts per
//! minute over the last hour from the delivery log, and the abuse guard's
//! refusals per rule over the last hour ([`guard`], from
//! `api::guard::summary` as `GET /api/v1/guard`). Reloads itself every
//! [`REFRESH_SECS`] seconds (a `<meta>` refresh: the CSP allows no inline
//! script).
//!
//! Places for what later issues add, each its own section below the chart
//! once it exists (nothing is shown for them until then):
//! - the fallback chain (which plugin serves when the active one fails);
//! - circuit breaker states per plugin;
//! - instances sharing the store: shown with a shared store ([`instances`]).
//!
//! Each gets a function here beside [`active_plugin`] and [`traffic`], fed
//! by the same function its JSON API route uses.

use std::sync::Arc;

use axum::extract::{Extension, State};
use maud::{html, Markup};

use super::{layout, time, Frame, Page, Section};
use crate::api::guard::summary;
use crate::api::logs::flush_briefly;
use crate::console::{chart, Session};
use crate::control::Source;
use crate::deliverylog::time::{format_rfc3339, now_ms};
use crate::deliverylog::LogError;
use crate::state::AppState;

/// How often the overview reloads itself.
pub const REFRESH_SECS: u32 = 30;
/// The chart's span.
pub const CHART_MINUTES: u32 = 60;

/// `GET /console`.
pub async fn show(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
) -> Page {
    let body = html! {
        h1 { "Overview" }
        (active_plugin(&state))
        (traffic(&state).await)
        // Later sections go here, each from the function its JSON route
        // uses, once that exists: the fallback chain, circuit states.
        (guard(&state))
        (instances(&state).await)
    };
    Page::ok(layout(
        "Overview",
        Some(&session),
        Section::Overview,
        Frame {
            refresh_secs: Some(REFRESH_SECS),
        },
        body,
    ))
}

/// The active plugin as `GET /api/v1/active-plugin` reports it.
fn active_plugin(state: &AppState) -> Markup {
    let (active, choice) = state.control.current();
    html! {
        section #active {
            h2 { "Active plugin" }
            @match active {
                Some(active) => {
                    p.big { strong #active-name { (active.generation.info.name) } " " (active.generation.info.version) }
                    dl.row {
                        dt { "Vendor" } dd { (active.generation.info.vendor) }
                        dt { "Generation" } dd { (active.generation.id) }
                        @if let Some(choice) = choice {
                            dt { "Chosen by" }
                            dd #active-source { (match choice.source {
                                Source::Configuration => "configuration",
                                Source::Api => "api",
                            }) }
                            dt { "Since" } dd { (time(&format_rfc3339(choice.since_ms))) }
                        }
                    }
                }
                None => {
                    p.error { "No plugin is active: messages are answered 503 no_active_plugin." }
                }
            }
            p { a href="/console/plugins" { "All plugins, activate another, send a test message" } }
        }
    }
}

/// Attempts per minute from the delivery log.
async fn traffic(state: &AppState) -> Markup {
    flush_briefly(state).await;
    let counts = state.log.per_minute(now_ms(), CHART_MINUTES).await;
    html! {
        section #traffic {
            h2 { "Messages per minute, last hour" }
            @match counts {
                Ok(minutes) => (chart::per_minute(&minutes)),
                Err(LogError::Disabled) => p { "The delivery log is off (log.enabled = false), so there is nothing to count." },
                Err(error) => p.error { "The delivery log could not be read: " (error) },
            }
        }
    }
}

/// The guard's refusals per rule over the last hour, as
/// `GET /api/v1/guard` reports them.
fn guard(state: &AppState) -> Markup {
    let summary = summary(&state.guard);
    html! {
        section #guard {
            h2 { "Abuse guard, last hour" }
            @if summary.config.enabled {
                (super::guard::refusals(&summary))
            } @else {
                p.error { "The abuse guard is off (guard.enabled = false): every valid number is sent to the vendor." }
            }
            p { a href="/console/guard" { "Rules, one number, the safe list" } }
        }
    }
}

/// With a shared store: the live instances as `GET /api/v1/instances`
/// lists them (`Fleet::instances`), and whether they serve one generation.
async fn instances(state: &AppState) -> Markup {
    let Some(fleet) = &state.fleet else {
        return html! {};
    };
    let degraded = fleet.store().health().is_degraded();
    let listed = fleet.instances().await;
    html! {
        section #instances {
            h2 { "Instances sharing the store" }
            @if degraded {
                p.error { "This instance cannot reach the shared store: it serves its last known configuration." }
            }
            @match listed {
                Ok(live) => {
                    @let newest = live.iter().map(|i| i.generation).max().unwrap_or(0);
                    table {
                        thead { tr { th { "Name" } th { "Id" } th { "Active plugin" } th { "Config generation" } th { "Plugins" } } }
                        tbody {
                            @for i in &live {
                                tr {
                                    td { (i.name) }
                                    td { code { (i.id) } }
                                    td { (i.active.as_deref().unwrap_or("none")) }
                                    td {
                                        (i.generation)
                                        @if i.generation != newest { " " span.error { "(behind)" } }
                                    }
                                    td { (i.plugins.iter().map(|p| format!("{} {}", p.name, p.version)).collect::<Vec<_>>().join(", ")) }
                                }
                            }
                        }
                    }
                }
                Err(error) => p.error { "The instances could not be listed: " (error) },
            }
        }
    }
}
