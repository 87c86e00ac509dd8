//! The guard's admin routes: its rules and recent refusals, one number's
//! state (and a reset), and the safe list. Every route needs the admin token.
//!
//! What a route reads or changes is a `pub(crate)` function here
//! ([`summary`], [`normalize`], [`status_of`], [`reset`], [`add`],
//! [`remove`]) that the console's Guard page calls too, so the page and the
//! JSON cannot disagree.

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
use crate::guard::{kind_names, EditError, Guard, GuardConfig, Limit, NumberStatus, Rule};
use crate::state::AppState;

/// The guard as `GET /api/v1/guard` reports it, and the console's Guard page
/// shows it: one reading, so the two cannot disagree.
pub(crate) struct Summary<'a> {
    /// The settings it runs with.
    pub config: &'a GuardConfig,
    /// Every counting rule by name, `None` when it is off.
    pub limits: Vec<(&'static str, Option<Limit>)>,
    /// Refusals (or would-be refusals) per rule over the last hour.
    pub blocked_last_hour: Vec<(Rule, u64)>,
    /// Entries on the safe list, configured and added.
    pub safe_list_entries: usize,
    /// Keys counted now.
    pub tracked_keys: usize,
    /// Whether the safe list and backoffs outlive a restart.
    pub persistent: bool,
}

/// Reads [`Summary`] now.
pub(crate) fn summary(guard: &Guard) -> Summary<'_> {
    let config = guard.config();
    Summary {
        config,
        limits: config
            .limits()
            .into_iter()
            .map(|(name, l)| (name, l.is_on().then_some(l)))
            .collect(),
        blocked_last_hour: guard.blocked_last_hour(time::now_ms()),
        safe_list_entries: guard.safe_list().entries().len(),
        tracked_keys: guard.tracked_keys(),
        persistent: guard.is_persistent(),
    }
}

/// `GET /api/v1/guard`.
pub async fn overview(State(state): State<Arc<AppState>>) -> Json<Value> {
    let s = summary(&state.guard);
    let c = s.config;
    let limits: serde_json::Map<String, Value> = s
        .limits
        .into_iter()
        .map(|(name, l)| (name.to_owned(), json!(l)))
        .collect();
    let blocked: serde_json::Map<String, Value> = s
        .blocked_last_hour
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
        "safe_list_entries": s.safe_list_entries,
        "tracked_keys": s.tracked_keys,
        "max_tracked_keys": c.max_tracked_keys,
        "persistent": s.persistent,
        "blocked_last_hour": blocked,
    }))
}

/// `raw` as E.164, normalised as the send routes normalise a recipient, so
/// an admin finds the number under the key its messages were counted by.
pub(crate) fn normalize(state: &AppState, raw: &str) -> Result<String, ApiError> {
    e164::normalize(raw, state.rules.default_region, state.rules.strictness).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_recipient",
            format!("number {e}"),
        )
    })
}

/// One number's state, from what an admin typed.
pub(crate) async fn status_of(state: &AppState, raw: &str) -> Result<NumberStatus, ApiError> {
    let number = normalize(state, raw)?;
    Ok(state.guard.number_status(&number, time::now_ms()).await)
}

/// `GET /api/v1/guard/numbers/{number}`: this number's counter, backoff and
/// what the destination policy says of it; nothing of any other number.
pub async fn number_status(
    State(state): State<Arc<AppState>>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(status_of(&state, &raw).await?)))
}

/// Forgets one number's counter and backoff (and its stored or shared
/// state); the number, masked.
pub(crate) async fn reset(state: &AppState, raw: &str) -> Result<String, ApiError> {
    let number = normalize(state, raw)?;
    let masked = crate::mask::mask_number(&number);
    state
        .guard
        .reset_number(&number)
        .await
        .map_err(edit_error)?;
    tracing::info!(number = %masked, "guard state of a number reset by an admin");
    Ok(masked)
}

/// `DELETE /api/v1/guard/numbers/{number}`: forgets the number's counter and
/// backoff (e.g. after support verified the user).
pub async fn reset_number(
    State(state): State<Arc<AppState>>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let masked = reset(&state, &raw).await?;
    Ok(Json(json!({ "reset": masked })))
}

/// When an entry was added, as the API shows it: only entries added through
/// the API have a time (configured ones were there from the start).
pub(crate) fn added(e: &Entry) -> Option<String> {
    (e.source == EntrySource::Api).then(|| format_rfc3339(e.added_ms))
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
                "added": added(&e),
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

fn edit_error(e: EditError) -> ApiError {
    match e {
        EditError::Entry(e) => {
            let status = match e {
                EntryError::Malformed(_) => StatusCode::UNPROCESSABLE_ENTITY,
                EntryError::Configured(_) => StatusCode::CONFLICT,
            };
            ApiError::new(status, "invalid_safe_list_entry", e.to_string())
        }
        // Nothing changed: the admin may try again once the store answers.
        EditError::Store(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        ),
        EditError::Interrupted(_) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        }
    }
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
    state
        .guard
        .replace_safe_list(entries)
        .await
        .map_err(edit_error)?;
    Ok(Json(safe_list_body(&state.guard)))
}

/// `DELETE /api/v1/guard/safe-list`: removes every entry added through the
/// API (configured entries stay).
pub async fn clear_safe_list(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    state
        .guard
        .replace_safe_list(Vec::new())
        .await
        .map_err(edit_error)?;
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
    add(&state, entry, note.note).await?;
    Ok(Json(safe_list_body(&state.guard)))
}

/// Adds one safe-list entry (or re-notes it), stored off the async threads
/// (or in the shared store).
pub(crate) async fn add(state: &AppState, entry: String, note: String) -> Result<(), ApiError> {
    let entry = api_entry(NewEntry { entry, note });
    state.guard.allow(vec![entry]).await.map_err(edit_error)
}

/// `DELETE /api/v1/guard/safe-list/{entry}`.
pub async fn remove_entry(
    State(state): State<Arc<AppState>>,
    Path(entry): Path<String>,
) -> Result<Json<Value>, ApiError> {
    remove(&state, entry).await?;
    Ok(Json(safe_list_body(&state.guard)))
}

/// Removes one API safe-list entry, stored off the async threads (or in
/// the shared store); 404 when there is none, 409 for a configured one.
pub(crate) async fn remove(state: &AppState, entry: String) -> Result<(), ApiError> {
    let removed = state
        .guard
        .disallow(entry.trim().to_owned())
        .await
        .map_err(edit_error)?;
    if removed {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such safe-list entry",
        ))
    }
}
