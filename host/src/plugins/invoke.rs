//! Calls into a plugin, turning what it returns into host-owned values at once:
//! `RString`/`RVec` carry a vtable into the library that allocated them, so
//! nothing of theirs may outlive the call.

use phonehook_plugin_api::{
    Call, Config, ErrorKind, HttpReply, Method, PluginError, PluginModRef, Step,
};

/// A request a plugin asked for.
#[derive(Clone, Debug)]
pub struct OwnedRequest {
    /// Method.
    pub method: Method,
    /// Absolute URL.
    pub url: String,
    /// Headers (may hold secrets: never log them).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// Returned to the plugin with the reply.
    pub state: String,
}

/// A failure a plugin reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedError {
    /// Which side failed.
    pub kind: ErrorKind,
    /// The vendor's code, or empty.
    pub code: String,
    /// What went wrong.
    pub message: String,
    /// Worth retrying later.
    pub retryable: bool,
    /// Vendor's Retry-After, or 0.
    pub retry_after_secs: u32,
}

/// What a plugin wants next.
#[derive(Clone, Debug)]
pub enum OwnedStep {
    /// Perform this request.
    Send(OwnedRequest),
    /// Accepted by the vendor.
    Delivered {
        /// Vendor message id.
        message_id: String,
        /// Vendor status word.
        status: String,
    },
    /// Failed.
    Failed(OwnedError),
}

impl From<PluginError> for OwnedError {
    fn from(e: PluginError) -> Self {
        OwnedError {
            kind: e.kind,
            code: e.code.into_string(),
            message: e.message.into_string(),
            retryable: e.retryable,
            retry_after_secs: e.retry_after_secs,
        }
    }
}

impl From<Step> for OwnedStep {
    fn from(step: Step) -> Self {
        match step {
            Step::Send(req) => OwnedStep::Send(OwnedRequest {
                method: req.method,
                url: req.url.into_string(),
                headers: req
                    .headers
                    .into_iter()
                    .map(|p| (p.name.into_string(), p.value.into_string()))
                    .collect(),
                body: req.body.into_vec(),
                state: req.state.into_string(),
            }),
            Step::Delivered(d) => OwnedStep::Delivered {
                message_id: d.message_id.into_string(),
                status: d.status.into_string(),
            },
            Step::Failed(e) => OwnedStep::Failed(e.into()),
        }
    }
}

/// `describe`, as an owned manifest or the plugin's error.
pub fn describe(module: PluginModRef) -> Result<phonehook_plugin_api::Manifest, PluginError> {
    (module.describe())().into_result()
}

/// `check`: one line per configuration problem.
pub fn check(module: PluginModRef, config: &Config<'_>) -> Vec<String> {
    (module.check())(config)
        .into_iter()
        .map(|s| s.into_string())
        .collect()
}

/// `prepare`.
pub fn prepare(module: PluginModRef, call: &Call<'_>) -> OwnedStep {
    (module.prepare())(call).into()
}

/// `interpret`.
pub fn interpret(module: PluginModRef, call: &Call<'_>, reply: &HttpReply<'_>) -> OwnedStep {
    (module.interpret())(call, reply).into()
}
