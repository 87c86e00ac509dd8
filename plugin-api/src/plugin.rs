use crate::call::{Call, Config};
use crate::error::PluginError;
use crate::http::{HttpReply, HttpRequest};
use crate::manifest::Manifest;
use crate::step::Step;

/// A provider plugin, in safe Rust.
///
/// Implementations must not do I/O, spawn threads, sleep, read the clock or draw
/// random numbers: [`Call`] carries the time and randomness. A panic is caught
/// by the exported wrapper and reported as [`crate::ErrorKind::Panic`], but it is
/// still a bug.
///
/// The host creates the plugin value with `Default` for each call, so it should
/// be a cheap, usually empty, struct.
pub trait Plugin: Default {
    /// Describes the plugin: name, version, channels, secrets, settings, hosts.
    fn manifest(&self) -> Manifest;

    /// Checks a configuration before the plugin is activated or tested, so a
    /// missing or malformed value is reported by name up front rather than as a
    /// vendor error later. Required fields of the manifest are checked by the
    /// host; this is for everything else. Returns one line per problem.
    fn check(&self, config: &Config<'_>) -> Vec<String> {
        let _ = config;
        Vec::new()
    }

    /// Builds the first request for a message.
    fn prepare(&self, call: &Call<'_>) -> Result<HttpRequest, PluginError>;

    /// Reads the reply to a request this plugin asked for (`reply.state` tells
    /// which) and says what happens next.
    fn interpret(&self, call: &Call<'_>, reply: &HttpReply<'_>) -> Result<Step, PluginError>;
}
