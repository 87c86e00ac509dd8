//! `GET/POST /console/plugins/{name}/test`: the runner as a form — number,
//! text, channel, language, code — through `api::admin::run_test`, the
//! function behind `POST /api/v1/plugins/{name}/test`. The outcome shows the
//! vendor's status and message id or the error, and the event id, linked to
//! its delivery log entry. What was typed is not shown again: the page never
//! holds a full number or a code.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use maud::{html, Markup};

use super::{api_error, csrf_field, form_field, layout, segment, Frame, Page, Section};
use crate::api::{admin, ApiError};
use crate::console::Session;
use crate::inbound::Inbound;
use crate::mask::mask_number;
use crate::state::AppState;

/// `GET /console/plugins/{name}/test`: the empty form.
pub async fn form(Extension(session): Extension<Session>, Path(name): Path<String>) -> Page {
    page(&session, &name, StatusCode::OK, None)
}

/// `POST /console/plugins/{name}/test`: one message through plugin `name`.
pub async fn send(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
    body: Bytes,
) -> Page {
    let field = |key: &str| form_field(&body, key).filter(|v| !v.trim().is_empty());
    let inbound = Inbound {
        recipient: field("number"),
        text: field("text"),
        message_type: field("channel"),
        language: field("language"),
        code: field("code"),
        ..Inbound::default()
    };
    let (status, outcome) = match inbound.validate(&state.rules) {
        Err(error) => {
            let error = ApiError::from(error);
            (error.status, html! { (api_error(&error)) })
        }
        Ok(message) => {
            match admin::run_test(&state, &name, &message, admin::Screening::Guard(None)).await {
                Err(error) => (error.status, html! { (api_error(&error)) }),
                Ok(tested) => {
                    let recipient = mask_number(&message.recipient);
                    let event_link = event_link(&tested.attempt.event_id);
                    match tested.attempt.result {
                        Ok(delivered) => (
                            StatusCode::OK,
                            html! {
                                div.outcome.delivered #test-outcome {
                                    p { strong { "Delivered" } " to " (recipient) " through " (name) " (generation " (tested.generation) ")." }
                                    dl {
                                        dt { "Vendor status" } dd #vendor-status { (delivered.vendor_status) }
                                        dt { "Vendor message id" } dd #vendor-id { code { (delivered.message_id) } }
                                        dt { "Vendor latency" } dd { (format!("{:.1} ms", delivered.vendor_latency.as_secs_f64() * 1000.0)) }
                                        dt { "Event id" } dd #event-id { (event_link) }
                                    }
                                }
                            },
                        ),
                        Err(error) => (
                            error.status,
                            html! {
                                div #test-outcome {
                                    p { strong { "Not delivered" } " to " (recipient) " through " (name) "." }
                                    (api_error(&error))
                                    dl { dt { "Event id" } dd #event-id { (event_link) } }
                                }
                            },
                        ),
                    }
                }
            }
        }
    };
    page(&session, &name, status, Some(outcome))
}

fn event_link(id: &str) -> Markup {
    html! { a href=(format!("/console/logs/{}", segment(id))) { code { (id) } } }
}

fn page(session: &Session, name: &str, status: StatusCode, outcome: Option<Markup>) -> Page {
    let body = html! {
        h1 { "Test message through " (name) }
        p { "Sends one real message through this plugin, active or not (logged with route " code { "runner" } ")." }
        @if let Some(outcome) = outcome {
            section #outcome { h2 { "Outcome" } (outcome) }
        }
        form.runner method="post" action=(format!("/console/plugins/{}/test", segment(name))) {
            (csrf_field(session))
            label for="number" { "Number" }
            input #number name="number" type="tel" required placeholder="+14155550100" autocomplete="off";
            label for="text" { "Text" }
            input #text name="text" type="text" required placeholder="Your code is 123456" autocomplete="off";
            label for="channel" { "Channel" }
            select #channel name="channel" {
                option value="sms" selected { "SMS" }
                option value="voice" { "Voice" }
            }
            label for="language" { "Language" }
            input #language name="language" type="text" value="en" autocomplete="off";
            label for="code" { "Code (optional)" }
            input #code name="code" type="text" placeholder="123456" autocomplete="off";
            button type="submit" #send-test { "Send test message" }
        }
        p { a href="/console/plugins" { "Back to the plugins" } }
    };
    Page::with_status(
        status,
        layout(
            "Test message",
            Some(session),
            Section::Plugins,
            Frame::default(),
            body,
        ),
    )
}
