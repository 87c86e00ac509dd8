//! The contract between the phonehook host and its provider plugins.
//!
//! A plugin is a `cdylib` that depends on this crate alone. It is *sans-IO*: it
//! turns a [`Message`] plus its configuration into an [`HttpRequest`], and the
//! vendor's [`HttpReply`] into a [`Step`] — a delivery, an error, or one more
//! request (for flows such as "fetch a token, then send"). The host does the
//! network, the clock, the randomness, timeouts, logging and redaction. That keeps
//! a plugin free of threads, sockets and runtimes, so the host can unload it, and
//! testable without a network (see [`testing`]).
//!
//! A plugin author implements the safe [`Plugin`] trait and calls
//! [`export_plugin!`]; no `unsafe` and no `extern` code is needed. Every entry
//! point catches panics inside the plugin and reports them as errors.
//!
//! What several vendors need lives here once, so a plugin reads like its
//! vendor's API page: [`encoding`] (base64, hex, form and percent encoding,
//! Basic auth, GSM-7, XML paths), [`crypto`] (SHA-256, HMAC-SHA256), [`date`]
//! (the clock as signed dates), [`lang`] (language tags for voice tables) and
//! [`speech`] (codes read out digit by digit); [`HttpReply::unexpected`] maps
//! a reply in no known error format.
//!
//! # Layers
//! Modules import only modules below them, so the ABI contract does not
//! depend on helpers that keep changing (`tests/layers.rs` checks it):
//! encodings, text rules and errors (`encoding`, `lang`, `date`, `speech`,
//! `redact`, `error`, `pair`) at the bottom; the data they describe
//! (`message`, `crypto`); `http`, `call` and `manifest`; `step`; the contract
//! (`plugin`, `module`); `export`; `testing` on top.
//!
//! # Stability
//! Everything that crosses the library boundary is `#[repr(C)]` and checked by
//! `abi_stable` when the host loads a plugin. The root module ([`PluginMod`]) is a
//! prefix type: a later minor ABI version may append entry points, and a host
//! reads them through `Option` accessors, so plugins built for an older minor
//! version keep loading. Changing any existing type is a new major
//! [`ABI_VERSION`], and the host refuses plugins of another major version.
#![deny(missing_docs)]

mod call;
pub mod crypto;
pub mod date;
pub mod encoding;
mod error;
mod export;
mod http;
pub mod lang;
mod manifest;
mod message;
mod module;
mod pair;
mod plugin;
pub mod redact;
pub mod speech;
mod step;
pub mod testing;

/// The former name of [`encoding`], kept so plugins that use its encodings
/// compile unchanged (its `unexpected_reply` is now [`HttpReply::unexpected`]).
pub use encoding as wire;

pub use call::{Call, Config};
pub use error::{ErrorKind, PluginError};
pub use http::{HttpReply, HttpRequest, Method};
pub use manifest::{Field, Manifest};
pub use message::{Channel, Message};
pub use module::{PluginMod, PluginModRef, ABI_VERSION, ROOT_SYMBOL};
pub use pair::Pair;
pub use plugin::Plugin;
pub use step::{Delivery, RequestBudget, Step, TooManyRequests, MAX_REQUESTS_PER_MESSAGE};

/// Re-exported so plugins use the same JSON library as the helpers here.
pub use serde_json;

/// FFI-safe string and vector types, for code that builds ABI values by hand.
pub mod ffi {
    pub use abi_stable::std_types::{RResult, RSlice, RStr, RString, RVec};
}

#[doc(hidden)]
pub mod __private {
    pub use crate::export::{check, describe, interpret, prepare};
    pub use abi_stable::library::{
        __call_root_module_loader, CheckTypeLayout, LibHeader, RootModuleResult,
    };
    pub use abi_stable::prefix_type::WithMetadata;
    pub use abi_stable::std_types::{RResult, RString, RVec};
}
