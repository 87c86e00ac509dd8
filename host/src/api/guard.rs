//! The guard's admin routes: its rules and recent refusals, one number's
//! state (and a reset), and the safe list. Every route needs the admin token.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::messages::read_body;
use crate::deliverylog::time::{self, format_rfc3339};
use crate::e164;
use crate::guard::safelist::{Entry, EntryError, EntrySource};
use crate::guard::{kind_names, Guard};
use crate::state::AppState;

/// `GET /api/v1/guard`.
pub async fn overview(State(state): State<Arc<AppState>>) -> Json<Value> {
    let guard = &state.guard;
    let c = guard.config();
    let limits: serde_json::Map<String, Value> = c
        .limits()
        .into_iter()
        .map(|(name, l)| {
            let value = if l.is_on() {
                json!({ "limit": l.limit, "window_secs": l.window_secs })
            } else {
                Value::Null
            };
            (name.to_owned(), value)
        })
        .collect();
    let blocked: serde_json::Map<String, Value> = guard
        .blocked_last_hour(time::now_ms())
        .into_iter()
        .map(|(rule, n)| (rule.as_str().to_owned(), n.into()))
        .collect();
    Json(json!({
        "enabled": c.enabled,
        "mode": c.mode.as_str(),
        "limits": limits,
        "backoff": c.backoff,
        "prefix_hidden_digits": c.prefix_hidden_digits,
        "ipv6_prefix_len": c.ipv6_prefix_len,
        "allow_countries": c.allow_countries,
        "deny_countries": c.deny_countries,
        "block_number_types": kind_names(&c.block_number_types),
        "safe_list_entries": guard.safe_list().entries().len(),
        "tracked_keys": guard.tracked_keys(),
        "max_tracked_keys": c.max_tracked_keys,
        "persistent": guard.is_persistent(),
        "blocked_last_hour": blocked,
    }))
}

fn number(state: &AppState, raw: &str) -> Result<String, ApiError> {
    e164::normalize(raw, state.rules.default_region, state.rules.strictness).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_recipient",
            format!("number {e}"),
        )
    })
}

/// `GET /api/v1/guard/numbers/{number}`: this number's counter, backoff and
/// what the destination policy says of it; nothing of any other number.
pub async fn number_status(
    State(state): State<Arc<AppState>>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let number = number(&state, &raw)?;
    let status = state.guard.number_status(&number, time::now_ms());
    Ok(Json(json!(status)))
}

/// `DELETE /api/v1/guard/numbers/{number}`: forgets the number's counter and
/// backoff (e.g. after support verified the user).
pub async fn reset_number(
    State(state): State<Arc<AppState>>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let number = number(&state, &raw)?;
    let guard = state.guard.clone();
    let masked = crate::mask::mask_number(&number);
    blocking(move || guard.reset_number(&number)).await?;
    tracing::info!(number = %masked, "guard state of a number reset by an admin");
    Ok(Json(json!({ "reset": masked })))
}

/// The safe list as the API shows it.
fn safe_list_body(guard: &Guard) -> Value {
    let entries: Vec<Value> = guard
        .safe_list()
        .entries()
        .into_iter()
        .map(|e| {
            json!({
                "entry": e.entry,
                "note": e.note,
                "source": e.source,
                "added": (e.source == EntrySource::Api).then(|| format_rfc3339(e.added_ms)),
            })
        })
        .collect();
    json!({ "entries": entries, "persistent": guard.is_persistent() })
}

/// `GET /api/v1/guard/safe-list`.
pub async fn safe_list(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(safe_list_body(&state.guard))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEntry {
    entry: String,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewList {
    entries: Vec<NewEntry>,
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], shape: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("expected {shape}: {e}"),
        )
    })
}

fn api_entry(e: NewEntry) -> Entry {
    Entry {
        entry: e.entry.trim().to_owned(),
        note: e.note,
        added_ms: time::now_ms(),
        source: EntrySource::Api,
    }
}

fn entry_error(e: EntryError) -> ApiError {
    let status = match e {
        EntryError::Malformed(_) => StatusCode::UNPROCESSABLE_ENTITY,
        EntryError::Configured(_) => StatusCode::CONFLICT,
    };
    ApiError::new(status, "invalid_safe_list_entry", e.to_string())
}

async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
}

/// `PUT /api/v1/guard/safe-list` with `{"entries": [{"entry": "+1555", "note":
/// "QA"}]}`: replaces every entry added through the API.
pub async fn replace_safe_list(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = read_body(&state, body)?;
    let list: NewList = parse(&body, r#"{"entries": [{"entry": "+1555", "note": "..."}]}"#)?;
    let entries: Vec<Entry> = list.entries.into_iter().map(api_entry).collect();
    let guard = state.guard.clone();
    blocking(move || guard.replace_safe_list(&entries))
        .await?
        .map_err(entry_error)?;
    Ok(Json(safe_list_body(&state.guard)))
}

/// `DELETE /api/v1/guard/safe-list`: removes every entry added through the
/// API (configured entries stay).
pub async fn clear_safe_list(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let guard = state.guard.clone();
    blocking(move || guard.replace_safe_list(&[]))
        .await?
        .map_err(entry_error)?;
    Ok(Json(safe_list_body(&state.guard)))
}

/// `PUT /api/v1/guard/safe-list/{entry}` with an optional `{"note": "..."}`.
pub async fn add_entry(
    State(state): State<Arc<AppState>>,
    Path(entry): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = read_body(&state, body)?;
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct Note {
        #[serde(default)]
        note: String,
    }
    let note: Note = if body.iter().all(u8::is_ascii_whitespace) {
        Note::default()
    } else {
        parse(&body, r#"{"note": "..."}"#)?
    };
    let entry = api_entry(NewEntry {
        entry,
        note: note.note,
    });
    let guard = state.guard.clone();
    blocking(move || guard.allow(std::slice::from_ref(&entry)))
        .await?
        .map_err(entry_error)?;
    Ok(Json(safe_list_body(&state.guard)))
}

/// `DELETE /api/v1/guard/safe-list/{entry}`.
pub async fn remove_entry(
    State(state): State<Arc<AppState>>,
    Path(entry): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let guard = state.guard.clone();
    let removed = blocking(move || guard.disallow(entry.trim()))
        .await?
        .map_err(entry_error)?;
    if !removed {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such safe-list entry",
        ));
    }
    Ok(Json(safe_list_body(&state.guard)))
}
