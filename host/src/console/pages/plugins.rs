//! `GET /console/plugins`: every plugin as `GET /api/v1/plugins` reports it
//! (`Registry::status`), and activation in two steps — a confirmation page
//! naming the plugin and the one serving now, then the swap itself through
//! the API's own `api::admin::swap`.

use std::sync::Arc;

use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use maud::{html, Markup};

use super::{api_error, csrf_field, layout, segment, time, Frame, Page, Section};
use crate::api::admin;
use crate::console::Session;
use crate::deliverylog::time::format_rfc3339;
use crate::plugins::PluginStatus;
use crate::state::AppState;

/// `GET /console/plugins`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
) -> Page {
    let plugins = state.registry.status();
    let body = html! {
        h1 { "Plugins" }
        p { (plugins.len()) " plugin files. Secrets are shown as set or unset, never their values." }
        @for plugin in &plugins {
            (card(plugin))
        }
    };
    Page::ok(layout(
        "Plugins",
        Some(&session),
        Section::Plugins,
        Frame::default(),
        body,
    ))
}

fn card(p: &PluginStatus) -> Markup {
    let info = p.info.as_ref();
    html! {
        article.plugin id=(format!("plugin-{}", p.name)) {
            h2 {
                (p.name)
                @if let Some(info) = info { " " span.version { (info.version) } }
                @if p.active { " " span.badge.active { "active" } }
                " " span.badge.(p.status) { (p.status) }
            }
            @if let Some(info) = info {
                p { (info.description) }
            }
            dl {
                @if let Some(info) = info {
                    dt { "Vendor" } dd { (info.vendor) }
                    dt { "Channels" }
                    dd { (info.channels.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")) }
                }
                dt { "File" }
                dd { code { (p.file) } @if !p.file_present { " (removed)" } }
                @if let Some(sha) = &p.sha256 { dt { "SHA-256" } dd { code.hash { (sha) } } }
                @if let Some(generation) = p.generation { dt { "Generation" } dd { (generation) " (" (p.loads) " loads)" } }
                @if let Some(at) = &p.loaded_at { dt { "Loaded at" } dd { (time(at)) } }
                @if let Some(error) = &p.last_error { dt { "Last error" } dd.error { (error) } }
                @if !p.secrets.is_empty() {
                    dt { "Secrets" }
                    dd {
                        ul.secrets {
                            @for s in &p.secrets {
                                li {
                                    code { (s.name) } ": "
                                    @if s.set { span.set { "set" } } @else { span.unset { "unset" } }
                                    @if s.required { " (required)" }
                                }
                            }
                        }
                    }
                }
                @if !p.problems.is_empty() {
                    dt { "Configuration problems" }
                    dd { ul.problems { @for problem in &p.problems { li { (problem) } } } }
                }
            }
            @if info.is_some() {
                p.actions {
                    @if !p.active {
                        a.button href=(format!("/console/plugins/{}/activate", segment(&p.name))) { "Activate…" }
                        " "
                    }
                    a.button href=(format!("/console/plugins/{}/test", segment(&p.name))) { "Test message…" }
                }
            }
        }
    }
}

/// `GET /console/plugins/{name}/activate`: the confirmation step.
pub async fn confirm(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
) -> Page {
    let (active, _) = state.control.current();
    let serving = active.map(|a| a.generation.info.name.clone());
    let known = state
        .registry
        .status()
        .into_iter()
        .find(|p| p.name == name && p.info.is_some());
    let body = html! {
        h1 { "Activate " (name) "?" }
        @match &known {
            None => p.error { "No loaded plugin is named " code { (name) } "." },
            Some(plugin) => {
                p {
                    @match &serving {
                        Some(current) => { "Now " strong { (current) } " serves every message. " }
                        None => { "No plugin serves now. " }
                    }
                    "After this, " strong { (name) } " serves the next message; messages already on their way finish on the plugin they started on."
                }
                @if !plugin.problems.is_empty() {
                    p.error { "It has configuration problems, so the host will refuse it:" }
                    ul.problems { @for problem in &plugin.problems { li { (problem) } } }
                }
                form method="post" action=(format!("/console/plugins/{}/activate", segment(&name))) {
                    (csrf_field(&session))
                    button type="submit" #confirm-activate { "Activate " (name) }
                    " "
                    a href="/console/plugins" { "Cancel" }
                }
            }
        }
    };
    let status = if known.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    activation_page(&session, status, body)
}

/// `POST /console/plugins/{name}/activate`: the swap, as
/// `PUT /api/v1/active-plugin` does it.
pub async fn activate(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
) -> Page {
    let (status, body) = match admin::swap(&state, name.clone()).await {
        Ok(swap) => (
            StatusCode::OK,
            html! {
                h1 { "Activated " (swap.activation.name) }
                div.outcome.delivered #activation {
                    p {
                        strong { (swap.activation.name) } " now serves (generation " (swap.activation.generation) ", since " (time(&format_rfc3339(swap.since_ms))) ")."
                        @if let Some(previous) = &swap.previous { " Before, " (previous) " served." }
                    }
                }
                p { a href="/console/plugins" { "Back to the plugins" } " · " a href="/console" { "Overview" } }
            },
        ),
        Err(error) => (
            error.status,
            html! {
                h1 { "Not activated: " (name) }
                (api_error(&error))
                p { a href="/console/plugins" { "Back to the plugins" } }
            },
        ),
    };
    activation_page(&session, status, body)
}

fn activation_page(session: &Session, status: StatusCode, body: Markup) -> Page {
    let frame = Frame::default();
    Page::with_status(
        status,
        layout("Activate", Some(session), Section::Plugins, frame, body),
    )
}
