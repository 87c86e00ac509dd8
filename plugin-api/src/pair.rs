//! A name and a value: plain data the configuration and HTTP headers share,
//! at the bottom of the crate so both can use it.

use abi_stable::std_types::RString;
use abi_stable::StableAbi;

/// A name and a value: a setting, a secret or an HTTP header.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    /// The name.
    pub name: RString,
    /// The value.
    pub value: RString,
}

impl Pair {
    /// A pair from two strings.
    pub fn new(name: impl Into<RString>, value: impl Into<RString>) -> Self {
        Pair {
            name: name.into(),
            value: value.into(),
        }
    }
}
