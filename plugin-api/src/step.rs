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
