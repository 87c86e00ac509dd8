//! The admin API: list plugins, swap the active one, and the runner that sends
//! one message through any loaded plugin. Every route needs the admin token.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};

use phonehook_plugin_api::Message;

use super::attempt::{self, Attempt, Route};
use super::error::ApiError;
use super::messages::read_body;
use super::screen::{self, peer_ip, Peer};
use crate::control::{FallbackError, Source, Swap};
use crate::deliverylog::time::format_rfc3339;
use crate::fleet::FleetError;
use crate::inbound;
use crate::plugins::{retained_count, ActivateError};
use crate::state::AppState;

/// `GET /api/v1/plugins`.
pub async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    let plugins = state.registry.status();
    let (active, choice) = state.control.current();
    let circuits: serde_json::Map<String, Value> = plugins
        .iter()
        .filter_map(|p| p.info.as_ref().map(|i| i.name.clone()))
        .map(|name| {
            let circuit = state.breakers.state(&name).as_str();
            (name, circuit.into())
        })
        .collect();
    let fallback_choice = state.control.fallback_choice();
    Json(json!({
        "active": active.map(|a| a.generation.info.name.clone()),
        "active_source": choice.map(|c| c.source),
        "active_since": choice.map(|c| format_rfc3339(c.since_ms)),
        "fallback": *state.control.fallback(),
        "fallback_source": fallback_choice.map(|c| c.source),
        "config_generation": state.control.generation(),
        "instance": state.fleet.as_ref().map(|f| f.identity().id.clone()),
        "circuits": circuits,
        "plugins": plugins,
        "retained_libraries": retained_count(),
    }))
}

/// `GET /api/v1/fallback`: the chain, who set it and since when, and each
/// member's circuit.
pub async fn fallback(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(fallback_body(&state))
}

fn fallback_body(state: &AppState) -> Value {
    let chain = state.control.fallback();
    let choice = state.control.fallback_choice();
    let circuits: Vec<Value> = chain
        .iter()
        .map(|name| json!({ "plugin": name, "circuit": state.breakers.state(name).as_str() }))
        .collect();
    json!({
        "fallback": *chain,
        "source": choice.map(|c| c.source),
        "since": choice.map(|c| format_rfc3339(c.since_ms)),
        "circuits": circuits,
    })
}

/// `PUT /api/v1/fallback` with `{"fallback": ["vonage", "infobip"]}`: swaps
/// the chain live, with the checks an activation has.
pub async fn set_fallback(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = read_body(&state, body)?;
    let names: Vec<String> = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| serde_json::from_value(v.get("fallback")?.clone()).ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                "expected {\"fallback\": [\"<plugin>\", ...]}",
            )
        })?;
    if let Some(fleet) = &state.fleet {
        fleet.swap_fallback(names).await.map_err(fleet_error)?;
        return Ok(Json(fallback_body(&state)));
    }
    let control = state.control.clone();
    let result = tokio::task::spawn_blocking(move || control.swap_fallback(names))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    match result {
        Ok(_) => Ok(Json(fallback_body(&state))),
        Err(FallbackError::Refused { name, error }) => {
            Err(activate_error(error).detail("plugin", name))
        }
        Err(e @ FallbackError::Duplicate(_)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_fallback",
            e.to_string(),
        )),
    }
}

/// `GET /api/v1/active-plugin`: the plugin, and which source chose it when
/// (see [`crate::control`]).
pub async fn active(State(state): State<Arc<AppState>>) -> Json<Value> {
    let (active, choice) = state.control.current();
    Json(json!({
        "name": active.as_ref().map(|a| a.generation.info.name.clone()),
        "generation": active.as_ref().map(|a| a.generation.id),
        "version": active.as_ref().map(|a| a.generation.info.version.clone()),
        "source": choice.map(|c| c.source),
        "since": choice.map(|c| format_rfc3339(c.since_ms)),
        "config_generation": state.control.generation(),
    }))
}

/// `PUT /api/v1/active-plugin` with `{"name": "..."}`.
pub async fn activate(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = read_body(&state, body)?;
    let request = serde_json::from_slice::<ActivateRequest>(&body)
        .ok()
        .filter(|r| !r.name.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                "expected {\"name\": \"<plugin>\"} (and, with a shared store, optionally \"force\": true)",
            )
        })?;
    let swapped = match (&state.fleet, request.force) {
        (Some(fleet), force) => fleet
            .swap(&request.name, force)
            .await
            .map_err(fleet_error)?,
        (None, _) => swap(&state, request.name).await?,
    };
    Ok(Json(json!({
        "active": swapped.activation.name,
        "generation": swapped.activation.generation,
        "config_generation": state.control.generation(),
        "previous": swapped.previous,
        "source": Source::Api,
        "since": format_rfc3339(swapped.since_ms),
    })))
}

/// `PUT /api/v1/active-plugin`'s body.
#[derive(Debug, serde::Deserialize)]
struct ActivateRequest {
    name: String,
    /// With a shared store: activate even when live instances lack it.
    #[serde(default)]
    force: bool,
}

/// The answer to a fleet change that was not made.
fn fleet_error(e: FleetError) -> ApiError {
    let message = e.to_string();
    match e {
        FleetError::Activate(e) => activate_error(e),
        FleetError::Lacking { plugin, instances } => {
            ApiError::new(StatusCode::CONFLICT, "plugin_missing_on_instances", message)
                .detail("plugin", plugin)
                .detail("instances", instances)
        }
        FleetError::NotApplied { .. } => {
            ApiError::new(StatusCode::CONFLICT, "not_applied", message)
        }
        FleetError::Duplicate(_) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_fallback",
            message,
        ),
        FleetError::Store(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            message,
        ),
    }
}

/// Makes `name` the active plugin (source `api`): through the fleet with a
/// shared store, else [`crate::control::Control::swap`]. The one swap the
/// JSON API and the console share.
pub(crate) async fn swap(state: &AppState, name: String) -> Result<Swap, ApiError> {
    if let Some(fleet) = &state.fleet {
        return fleet.swap(&name, false).await.map_err(fleet_error);
    }
    let control = state.control.clone();
    // Blocking: the swap is stored in the delivery log's database.
    tokio::task::spawn_blocking(move || control.swap(&name))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(activate_error)
}

fn activate_error(e: ActivateError) -> ApiError {
    let message = e.to_string();
    match e {
        ActivateError::Unknown { .. } => {
            ApiError::new(StatusCode::NOT_FOUND, "unknown_plugin", message)
        }
        ActivateError::Failed { .. } => {
            ApiError::new(StatusCode::CONFLICT, "plugin_failed", message)
        }
        ActivateError::Misconfigured { problems, .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "plugin_config", message)
                .detail("problems", problems)
        }
    }
}

/// The runner's query: `?guard=skip` sends without the abuse guard (an
/// admin's explicit choice, e.g. to test a number the guard refuses).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestQuery {
    /// `skip`, or nothing.
    guard: Option<String>,
}

/// `POST /api/v1/plugins/{name}/test` with a hook payload: one message through
/// that plugin, active or not (logged with route `runner`). The guard screens
/// it as any message unless the query says `guard=skip`.
pub async fn test(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    peer: Peer,
    query: Result<Query<TestQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(&state, body)?;
    let skip_guard = match query.map(|Query(q)| q.guard) {
        Ok(None) => false,
        Ok(Some(g)) if g == "skip" => true,
        Ok(Some(other)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!(
                    "guard=`{}`: the only value is `skip`",
                    crate::mask::excerpt(&other)
                ),
            ))
        }
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                e.body_text(),
            ))
        }
    };
    let message = inbound::parse_hook(&body)?.validate(&state.rules)?;
    let screening = if skip_guard {
        tracing::info!(plugin = %name, "runner message sent without the guard (guard=skip)");
        Screening::Skip
    } else {
        Screening::Guard(peer_ip(&peer))
    };
    let tested = run_test(&state, &name, &message, screening).await?;
    let generation = tested.generation;
    Ok(tested.attempt.respond(|d| {
        Json(json!({
            "plugin": name,
            "generation": generation,
            "outcome": "delivered",
            "MessageID": d.message_id,
            "vendor_status": d.vendor_status,
            "vendor_latency_ms": d.vendor_latency.as_secs_f64() * 1000.0,
        }))
    }))
}

/// One runner attempt: which generation of the plugin it went through, and
/// what became of it.
pub(crate) struct Tested {
    /// The plugin's generation that handled the message.
    pub generation: u64,
    /// The attempt (its event id and its outcome).
    pub attempt: Attempt,
}

/// Whether the runner's message goes through the abuse guard.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Screening {
    /// As any message, from a caller at this address (if known).
    Guard(Option<std::net::IpAddr>),
    /// Not at all: the admin asked (`?guard=skip`).
    Skip,
}

/// The runner: `message` through plugin `name`, active or not, logged with
/// route `runner`. An unknown plugin is an error before any attempt (and so
/// has no event); the guard screens it as `screening` says. Shared by the
/// JSON API and the console's test form.
pub(crate) async fn run_test(
    state: &Arc<AppState>,
    name: &str,
    message: &Message,
    screening: Screening,
) -> Result<Tested, ApiError> {
    let Some(bound) = state.registry.bind(name) else {
        let known: Vec<String> = state
            .registry
            .status()
            .into_iter()
            .filter_map(|s| s.info.map(|i| i.name))
            .collect();
        return Err(activate_error(ActivateError::Unknown {
            name: name.to_owned(),
            known: known.join(", "),
        }));
    };
    let generation = bound.generation.id;
    let refused = match screening {
        Screening::Guard(peer) => screen::screen(state, message, peer, Route::Runner).await,
        Screening::Skip => None,
    };
    let mut attempt = match refused {
        Some(refused) => refused,
        // The runner tries exactly the plugin named: no fallback.
        None => {
            let within = attempt::Within::new(&state.config.failover);
            attempt::run(state, message, Arc::new(bound), Route::Runner, &within).await
        }
    };
    attempt.result = attempt
        .result
        .map_err(|e| e.detail("generation", generation));
    Ok(Tested {
        generation,
        attempt,
    })
}
