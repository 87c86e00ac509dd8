//! `GET /console/logs`: the delivery log with the API's filters and cursor
//! pages, and `GET /console/logs/{id}`: one event, every field the log
//! holds, as `GET /api/v1/logs?id=...` returns it. Both read through
//! `api::logs::page`, the JSON API's own function, with the same query
//! string, so the console cannot disagree with the API.
//!
//! The events are shown as stored: the recipient masked, free texts
//! redacted. The filter form shows back what the admin typed into it.

use std::sync::Arc;

use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use maud::{html, Markup};
use serde_json::Value;

use super::{api_error, json_text, layout, segment, time, Frame, Page, Section};
use crate::api::logs;
use crate::console::Session;
use crate::deliverylog::time::format_rfc3339;
use crate::deliverylog::{Event, EventType};
use crate::state::AppState;

/// The filters the form offers: the API's, by the API's parameter names.
const TEXT_FILTERS: [(&str, &str, &str); 6] = [
    ("plugin", "Plugin", "twilio"),
    ("user_id", "User id", "auth0|..."),
    ("client_id", "Client id", ""),
    ("recipient", "Recipient", "+1********23"),
    ("since", "Since", "2h or 2025-01-31T08:00:00Z"),
    ("until", "Until", ""),
];

/// `GET /console/logs?type=..&plugin=..&user_id=..&client_id=..&recipient=..&since=..&until=..&cursor=..`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
    RawQuery(raw): RawQuery,
) -> Page {
    let raw = raw.unwrap_or_default();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect();
    let value = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let (status, results) = match logs::page(&state, &raw).await {
        Ok(page) => {
            let next = page.next_cursor.as_deref().map(|cursor| {
                let mut query = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in pairs.iter().filter(|(k, _)| k != "cursor") {
                    query.append_pair(k, v);
                }
                query.append_pair("cursor", cursor);
                format!("/console/logs?{}", query.finish())
            });
            (StatusCode::OK, table(&page.events, next.as_deref()))
        }
        Err(error) => (error.status, api_error(&error)),
    };
    let body = html! {
        h1 { "Delivery log" }
        form.filters method="get" action="/console/logs" {
            label for="f-type" { "Type" }
            select #f-type name="type" {
                option value="" { "any" }
                @for kind in EventType::ALL {
                    option value=(kind.code()) selected[value("type") == kind.code()] { (kind.code()) }
                }
            }
            @for (key, label, hint) in TEXT_FILTERS {
                label for=(format!("f-{key}")) { (label) }
                input id=(format!("f-{key}")) name=(key) type="text" value=(value(key)) placeholder=(hint) autocomplete="off";
            }
            button type="submit" #apply-filters { "Filter" }
            " "
            a href="/console/logs" { "Clear" }
        }
        (results)
    };
    Page::with_status(
        status,
        layout(
            "Delivery log",
            Some(&session),
            Section::Log,
            Frame::default(),
            body,
        ),
    )
}

fn table(events: &[Event], next: Option<&str>) -> Markup {
    html! {
        @if events.is_empty() {
            p #no-events { "No events match." }
        } @else {
            table.events {
                thead { tr {
                    th { "Time" } th { "Type" } th { "Plugin" } th { "Recipient" }
                    th { "User" } th { "Client" } th { "Outcome" } th { "Event" }
                } }
                tbody {
                    @for e in events {
                        tr.(if e.kind.is_failure() { "failed" } else { "delivered" }) {
                            td { (time(&format_rfc3339(e.time_ms))) }
                            td { (e.kind.code()) }
                            td { (e.plugin) }
                            td { (e.recipient) }
                            td.user { (e.user_id) }
                            td { (e.client_id) }
                            td {
                                @match (&e.details, &e.vendor_status) {
                                    (Some(failure), _) => { (failure.code) }
                                    (None, Some(status)) => { (status) }
                                    (None, None) => { "" }
                                }
                            }
                            td { a.event href=(format!("/console/logs/{}", segment(&e.id))) { code { (e.id) } } }
                        }
                    }
                }
            }
        }
        @if let Some(next) = next {
            p { a #next-page href=(next) { "Older events →" } }
        }
    }
}

/// `GET /console/logs/{id}`.
pub async fn event(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Page {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("id", &id)
        .append_pair("limit", "1")
        .finish();
    let (status, body) = match logs::page(&state, &query).await {
        Ok(page) => match page.events.first() {
            Some(event) => (StatusCode::OK, detail(event)),
            None => (
                StatusCode::NOT_FOUND,
                html! { p.error { "No event has the id " code { (id) } "." } },
            ),
        },
        Err(error) => (error.status, api_error(&error)),
    };
    let body = html! {
        h1 { "Event " code { (id) } }
        (body)
        p { a href="/console/logs" { "Back to the delivery log" } }
    };
    Page::with_status(
        status,
        layout(
            "Event",
            Some(&session),
            Section::Log,
            Frame::default(),
            body,
        ),
    )
}

/// The order fields are listed in: what a support ticket asks first. A
/// field not named here (one added to the log later) follows, by name.
const FIELD_ORDER: [&str; 22] = [
    "id",
    "time",
    "type",
    "route",
    "plugin",
    "plugin_version",
    "generation",
    "recipient",
    "user_id",
    "client_id",
    "ip",
    "action",
    "language",
    "vendor_status",
    "vendor_message_id",
    "details",
    "code",
    "message",
    "retryable",
    "source",
    "vendor_code",
    "latency_ms",
];

/// Every field of the event as the JSON API serializes it (so a field added
/// to the log appears here without a change).
fn detail(event: &Event) -> Markup {
    let fields = serde_json::to_value(event).unwrap_or(Value::Null);
    html! { section { (fields_list(&fields)) } }
}

fn fields_list(value: &Value) -> Markup {
    let Value::Object(map) = value else {
        return html! {};
    };
    let mut fields: Vec<(&String, &Value)> = map.iter().collect();
    fields.sort_by_key(|(key, _)| {
        let rank = FIELD_ORDER.iter().position(|k| k == key);
        (rank.unwrap_or(FIELD_ORDER.len()), key.as_str())
    });
    html! {
        dl.event #event-fields {
            @for (key, value) in fields {
                dt { (key) }
                dd data-field=(key) {
                    @if value.is_object() { (fields_list(value)) } @else { (field_text(value)) }
                }
            }
        }
    }
}

/// A field's value; fractional numbers (latencies) to three decimals.
fn field_text(value: &Value) -> String {
    match value.as_f64() {
        Some(n) if !value.is_i64() && !value.is_u64() => format!("{n:.3}"),
        _ => json_text(value),
    }
}
