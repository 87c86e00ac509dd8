//! Surviving a vendor outage: which failures move a message on to the next
//! plugin of the fallback chain, one circuit breaker per plugin, and the
//! `[failover]` settings. The chain itself is walked by `api::chain`; the
//! chain's names are kept by `control` (swapped live as the active plugin
//! is).

pub mod breaker;

use serde::{Deserialize, Serialize};

use crate::delivery::DeliveryError;
use crate::egress::EgressError;
use phonehook_plugin_api::ErrorKind;

/// `[failover]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct FailoverConfig {
    /// One deadline for a whole message: every attempt and fallback
    /// together. Well inside an identity platform's own budget (Auth0
    /// Actions allow 20 s in all).
    pub deadline_ms: u64,
    /// Fall over after a vendor timeout. A timeout is ambiguous — the vendor
    /// may have sent the text — so this can send a second text; for a
    /// sign-in code a second text is better than none.
    pub failover_on_timeout: bool,
    /// Retryable failures in a row that open a plugin's circuit.
    pub breaker_failures: u32,
    /// How long an open circuit skips its plugin before one probe message
    /// is let through.
    pub breaker_cool_down_ms: u64,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        FailoverConfig {
            deadline_ms: 15_000,
            failover_on_timeout: true,
            breaker_failures: 5,
            breaker_cool_down_ms: 30_000,
        }
    }
}

/// A `[failover]` setting that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("failover.{0} must be positive")]
pub struct FailoverConfigError(pub &'static str);

impl FailoverConfig {
    /// Refuses zero durations and a breaker that opens on nothing.
    pub fn validate(&self) -> Result<(), FailoverConfigError> {
        if self.deadline_ms == 0 {
            return Err(FailoverConfigError("deadline_ms"));
        }
        if self.breaker_failures == 0 {
            return Err(FailoverConfigError("breaker_failures"));
        }
        if self.breaker_cool_down_ms == 0 {
            return Err(FailoverConfigError("breaker_cool_down_ms"));
        }
        Ok(())
    }
}

/// What a failed attempt means for the rest of the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// The plugin could not deliver (vendor down or throttling, a timeout,
    /// a broken plugin): try the next one. Counts against its circuit.
    FallOver,
    /// A final answer (an invalid number, bad credentials, an unacceptable
    /// message): it would fail the same way everywhere, or it is the
    /// operator's to fix. The vendor answered, so its circuit counts it as
    /// up.
    Stop,
}

/// The one table of what falls over (README "Fallback providers").
pub fn next_after(error: &DeliveryError, failover_on_timeout: bool) -> Next {
    match error {
        DeliveryError::Egress(EgressError::Timeout(_)) | DeliveryError::DeadlineExceeded { .. } => {
            if failover_on_timeout {
                Next::FallOver
            } else {
                Next::Stop
            }
        }
        DeliveryError::Egress(EgressError::Unreachable(_) | EgressError::TooLarge(_)) => {
            Next::FallOver
        }
        // The plugin asked for a host it did not declare or a URL that does
        // not parse: a broken plugin.
        DeliveryError::Egress(EgressError::InvalidUrl(_) | EgressError::HostNotAllowed(_)) => {
            Next::FallOver
        }
        DeliveryError::Misconfigured { .. }
        | DeliveryError::Unsupported { .. }
        | DeliveryError::Contract(_) => Next::FallOver,
        DeliveryError::Plugin { error, .. } => match error.kind {
            ErrorKind::Panic
            | ErrorKind::Internal
            | ErrorKind::Protocol
            | ErrorKind::Unsupported => Next::FallOver,
            ErrorKind::Vendor if error.retryable => Next::FallOver,
            ErrorKind::Vendor | ErrorKind::Config | ErrorKind::InvalidMessage => Next::Stop,
        },
        DeliveryError::NoActivePlugin => Next::Stop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::OwnedError;

    fn plugin(kind: ErrorKind, retryable: bool) -> DeliveryError {
        DeliveryError::Plugin {
            error: OwnedError {
                kind,
                code: String::new(),
                message: String::new(),
                retryable,
                retry_after_secs: 0,
            },
            vendor_status: None,
        }
    }

    #[test]
    fn what_falls_over_is_one_table() {
        let cases = [
            (plugin(ErrorKind::Vendor, true), Next::FallOver),
            (plugin(ErrorKind::Vendor, false), Next::Stop),
            (plugin(ErrorKind::Config, false), Next::Stop),
            (plugin(ErrorKind::InvalidMessage, false), Next::Stop),
            (plugin(ErrorKind::Protocol, false), Next::FallOver),
            (plugin(ErrorKind::Panic, false), Next::FallOver),
            (
                DeliveryError::Egress(EgressError::Unreachable("x".into())),
                Next::FallOver,
            ),
            (
                DeliveryError::Egress(EgressError::Timeout(10)),
                Next::FallOver,
            ),
        ];
        for (error, next) in cases {
            assert_eq!(next_after(&error, true), next, "{error:?}");
        }
        assert_eq!(
            next_after(&DeliveryError::Egress(EgressError::Timeout(10)), false),
            Next::Stop
        );
    }
}
