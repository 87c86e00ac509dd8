//! API errors: `{"error": {"code": "...", "message": "...", ...}}` with a
//! fitting status. Codes are stable; messages are for people.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::delivery::DeliveryError;
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

    /// A delivery failure through plugin `plugin`: the status, code and
    /// retryability are the error's own ([`DeliveryError::code`] and its
    /// neighbours); this adds the fields each kind of failure carries.
    pub fn delivery(err: DeliveryError, plugin: &str) -> Self {
        let api = ApiError::new(err.status(), err.code(), err.to_string());
        let api = match &err {
            DeliveryError::NoActivePlugin
            | DeliveryError::Unsupported { .. }
            | DeliveryError::Contract(_) => api,
            DeliveryError::Misconfigured { problems, .. } => {
                api.detail("problems", problems.clone())
            }
            DeliveryError::Egress(_) | DeliveryError::DeadlineExceeded(_) => {
                api.detail("retryable", err.retryable())
            }
            DeliveryError::Plugin { error, .. } => {
                let mut api = api.detail("retryable", err.retryable());
                if let Some(code) = err.vendor_code() {
                    api = api.detail("vendor_code", code);
                }
                if let Some(status) = err.vendor_status() {
                    api = api.detail("vendor_status", status);
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
