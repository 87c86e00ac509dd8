//! Why a message was not delivered, as a plugin reports it. At the bottom of
//! the crate with the encodings: it uses no other type of the crate, so every
//! layer above (`http`, `call`, `step`) can return it.

use abi_stable::std_types::RString;
use abi_stable::StableAbi;

/// Which side a failure is on; the host maps it to an HTTP status.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The vendor refused or failed the message (its code and text attached).
    Vendor = 0,
    /// The plugin is missing a secret or setting, or one is malformed.
    Config = 1,
    /// The message cannot go through this plugin (e.g. voice on an SMS-only vendor).
    Unsupported = 2,
    /// The message itself is unacceptable (e.g. too long for the vendor).
    InvalidMessage = 3,
    /// The vendor's reply could not be understood.
    Protocol = 4,
    /// The plugin panicked; the panic was caught inside the plugin.
    Panic = 5,
    /// Anything else inside the plugin.
    Internal = 6,
}

impl ErrorKind {
    /// A stable snake_case name, used in API errors and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Vendor => "vendor_error",
            ErrorKind::Config => "plugin_config",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::InvalidMessage => "invalid_message",
            ErrorKind::Protocol => "vendor_protocol",
            ErrorKind::Panic => "plugin_panic",
            ErrorKind::Internal => "plugin_internal",
        }
    }
}

/// Why a message was not delivered.
///
/// `message` must never contain a secret; it is shown to callers and logged.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct PluginError {
    /// Which side failed.
    pub kind: ErrorKind,
    /// The vendor's own error code (`21211`, `E400`), or empty.
    pub code: RString,
    /// What went wrong, in words.
    pub message: RString,
    /// Whether sending the same message again later may succeed.
    pub retryable: bool,
    /// Seconds the vendor asked to wait before retrying (`Retry-After`), or 0.
    pub retry_after_secs: u32,
}

impl PluginError {
    /// An error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PluginError {
            kind,
            code: RString::new(),
            message: RString::from(message.into()),
            retryable: false,
            retry_after_secs: 0,
        }
    }

    /// The vendor refused: its code and its text.
    pub fn vendor(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Vendor, message).with_code(code)
    }

    /// A missing or malformed secret or setting.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// A reply that could not be understood.
    pub fn protocol(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Protocol, message)
    }

    /// A message the vendor would refuse as it is (too long, no code to
    /// send...), refused before anything is sent.
    pub fn invalid_message(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidMessage, message)
    }

    /// A message this plugin cannot deliver.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }

    /// Sets the vendor code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = RString::from(code.into());
        self
    }

    /// Marks the error retryable (or not).
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// Records the vendor's `Retry-After`, which also makes the error retryable.
    pub fn retry_after(mut self, secs: Option<u32>) -> Self {
        if let Some(secs) = secs {
            self.retry_after_secs = secs;
            self.retryable = true;
        }
        self
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.code.is_empty() {
            write!(f, "{}: {}", self.kind.as_str(), self.message)
        } else {
            write!(f, "{} {}: {}", self.kind.as_str(), self.code, self.message)
        }
    }
}

impl std::error::Error for PluginError {}
