//! What a plugin answers each call with: one more request, a delivery, or a
//! failure. Above `http` (a step can be a request) and `error`.

use abi_stable::std_types::RString;
use abi_stable::StableAbi;

use crate::error::PluginError;
use crate::http::HttpRequest;

/// What a plugin wants next.
#[repr(u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum Step {
    /// Perform this request and call `interpret` with its reply.
    Send(HttpRequest),
    /// The vendor accepted the message.
    Delivered(Delivery),
    /// The message could not be delivered.
    Failed(PluginError),
}

/// A message the vendor accepted.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Delivery {
    /// The vendor's id for the message (`SM…` for Twilio). Never empty.
    pub message_id: RString,
    /// The vendor's status word at acceptance (`queued`, `PENDING`...), or empty.
    pub status: RString,
}

impl Delivery {
    /// A delivery with a message id and a vendor status.
    pub fn new(message_id: impl Into<String>, status: impl Into<String>) -> Self {
        Delivery {
            message_id: RString::from(message_id.into()),
            status: RString::from(status.into()),
        }
    }
}

/// How many requests one message may take: a token flow plus a send is two,
/// so eight leaves room for any real vendor and still stops a plugin that
/// loops. The host and the test harness both count with [`RequestBudget`], so
/// a plugin that passes its tests is never cut short in production.
pub const MAX_REQUESTS_PER_MESSAGE: u32 = 8;

/// Counts the requests of one message against [`MAX_REQUESTS_PER_MESSAGE`].
#[derive(Debug, Default)]
pub struct RequestBudget {
    used: u32,
}

impl RequestBudget {
    /// A budget with no request spent.
    pub fn new() -> Self {
        RequestBudget::default()
    }

    /// Spends one request: its step number (0 for `prepare`'s request, the
    /// value `interpret` sees as `HttpReply::step`), or the contract breach
    /// when the plugin has asked for more than the limit.
    pub fn spend(&mut self) -> Result<u32, TooManyRequests> {
        if self.used >= MAX_REQUESTS_PER_MESSAGE {
            return Err(TooManyRequests);
        }
        self.used += 1;
        Ok(self.used - 1)
    }
}

/// A plugin asked for more than [`MAX_REQUESTS_PER_MESSAGE`] requests for one
/// message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyRequests;

impl std::fmt::Display for TooManyRequests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "asked for more than {MAX_REQUESTS_PER_MESSAGE} requests for one message"
        )
    }
}

impl std::error::Error for TooManyRequests {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_numbers_its_requests_and_stops_after_the_limit() {
        let mut budget = RequestBudget::new();
        let steps: Vec<u32> = std::iter::from_fn(|| budget.spend().ok()).collect();
        assert_eq!(steps, (0..MAX_REQUESTS_PER_MESSAGE).collect::<Vec<_>>());
        assert_eq!(budget.spend(), Err(TooManyRequests));
        assert!(TooManyRequests.to_string().contains("more than 8 requests"));
    }
}
