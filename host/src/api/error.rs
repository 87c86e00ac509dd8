//! API errors: `{"error": {"code": "...", "message": "...", ...}}` with a
//! fitting status. Codes are stable; messages are for people.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use phonehook_plugin_api::ErrorKind;
use serde_json::{json, Map, Value};

use crate::delivery::DeliveryError;
use crate::egress::EgressError;
use crate::inbound::InputError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Human message.
    pub message: String,
    /// Extra fields of the error object.
    pub details: Map<String, Value>,
    /// `Retry-After` to send, in seconds.
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// An error without details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Map::new(),
            retry_after: None,
        }
    }

    /// 413: the request body is over `limits.max_body_bytes`.
    pub fn body_too_large(max: usize) -> Self {
        let message = format!("the request body is over the size limit of {max} bytes");
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message)
    }

    /// 408: the request body did not arrive within `limits.body_timeout_ms`.
    pub fn body_timeout(timeout_ms: u64) -> Self {
        let message = format!("the request body did not arrive within {timeout_ms} ms");
        ApiError::new(StatusCode::REQUEST_TIMEOUT, "body_timeout", message)
    }

    /// Adds a detail field.
    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// A delivery failure through plugin `plugin`.
    pub fn delivery(err: DeliveryError, plugin: &str) -> Self {
        use StatusCode as S;
        let message = err.to_string();
        let api = match err {
            DeliveryError::NoActivePlugin => {
                ApiError::new(S::SERVICE_UNAVAILABLE, "no_active_plugin", message)
            }
            DeliveryError::Misconfigured { problems, .. } => {
                ApiError::new(S::SERVICE_UNAVAILABLE, "plugin_config", message)
                    .detail("problems", problems)
            }
            DeliveryError::Unsupported { .. } => {
                ApiError::new(S::UNPROCESSABLE_ENTITY, "unsupported", message)
            }
            DeliveryError::Contract(_) => {
                ApiError::new(S::INTERNAL_SERVER_ERROR, "plugin_contract", message)
            }
            DeliveryError::Egress(e) => {
                let status = match e {
                    EgressError::Timeout(_) => S::GATEWAY_TIMEOUT,
                    EgressError::Unreachable(_) | EgressError::TooLarge(_) => S::BAD_GATEWAY,
                    EgressError::InvalidUrl(_) | EgressError::HostNotAllowed(_) => {
                        S::INTERNAL_SERVER_ERROR
                    }
                };
                let retryable = matches!(e, EgressError::Timeout(_) | EgressError::Unreachable(_));
                ApiError::new(status, e.code(), message).detail("retryable", retryable)
            }
            DeliveryError::Plugin {
                error,
                vendor_status,
            } => {
                let (status, code) = match error.kind {
                    ErrorKind::Vendor => (S::BAD_GATEWAY, "vendor_error"),
                    ErrorKind::Protocol => (S::BAD_GATEWAY, "vendor_protocol"),
                    ErrorKind::Config => (S::SERVICE_UNAVAILABLE, "plugin_config"),
                    ErrorKind::Unsupported => (S::UNPROCESSABLE_ENTITY, "unsupported"),
                    ErrorKind::InvalidMessage => (S::UNPROCESSABLE_ENTITY, "invalid_message"),
                    ErrorKind::Panic => (S::INTERNAL_SERVER_ERROR, "plugin_panic"),
                    ErrorKind::Internal => (S::INTERNAL_SERVER_ERROR, "plugin_internal"),
                };
                let mut api =
                    ApiError::new(status, code, error.message).detail("retryable", error.retryable);
                if !error.code.is_empty() {
                    api = api.detail("vendor_code", error.code);
                }
                if let Some(vs) = vendor_status {
                    api = api.detail("vendor_status", vs);
                }
                if error.retry_after_secs > 0 {
                    api.retry_after = Some(error.retry_after_secs);
                    api = api.detail("retry_after_secs", error.retry_after_secs);
                }
                api
            }
        };
        api.detail("plugin", plugin)
    }
}

impl From<InputError> for ApiError {
    fn from(e: InputError) -> Self {
        let status = match e {
            InputError::InvalidJson(_) | InputError::NotAnObject => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = Map::new();
        error.insert("code".into(), self.code.into());
        error.insert("message".into(), self.message.into());
        error.extend(self.details);
        let mut resp = (self.status, Json(json!({ "error": error }))).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Unknown route.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Known route, wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method",
    )
}
