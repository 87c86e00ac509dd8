use abi_stable::library::RootModule;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RResult, RString, RVec};
use abi_stable::StableAbi;

use crate::call::{Call, Config};
use crate::error::PluginError;
use crate::http::HttpReply;
use crate::manifest::Manifest;
use crate::step::Step;

/// The plugin ABI version, `major.minor.patch`.
///
/// The host loads a plugin only when the major versions are equal and the
/// plugin's minor version is not newer than the host's: entry points added in
/// a minor version are optional fields of [`PluginMod`].
pub const ABI_VERSION: &str = "1.0.0";

/// The symbol every plugin library exports (the `abi_stable` root module
/// loader). A library without it is not a phonehook plugin.
pub const ROOT_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

/// The plugin's entry points: the root module of every plugin library.
///
/// Plugins never build this by hand; [`crate::export_plugin!`] does, wrapping
/// each entry point so that a panic inside the plugin comes back as an error.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    /// Returns the plugin's manifest.
    pub describe: extern "C" fn() -> RResult<Manifest, PluginError>,
    /// Checks a configuration; returns one line per problem, empty when usable.
    pub check: extern "C" fn(&Config<'_>) -> RVec<RString>,
    /// Builds the first request for a message.
    pub prepare: extern "C" fn(&Call<'_>) -> Step,
    /// Reads a vendor reply: delivered, failed, or one more request.
    #[sabi(last_prefix_field)]
    pub interpret: extern "C" fn(&Call<'_>, &HttpReply<'_>) -> Step,
}

impl RootModule for PluginModRef {
    abi_stable::declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "phonehook_plugin";
    const NAME: &'static str = "phonehook plugin";
    const VERSION_STRINGS: VersionStrings = VersionStrings::new(ABI_VERSION);
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_symbol_matches_abi_stable() {
        // The export macro hard-codes the symbol so that plugins need no direct
        // abi_stable dependency; this catches an abi_stable upgrade renaming it.
        assert_eq!(
            super::ROOT_SYMBOL,
            abi_stable::library::ROOT_MODULE_LOADER_NAME
        );
    }
}
