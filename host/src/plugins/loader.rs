//! Opening a staged plugin copy and checking, before any plugin code runs
//! beyond the dynamic loader's, that it speaks this host's ABI.
//!
//! abi_stable's own `init_root_module` would do these checks too, but it records
//! `'static` pointers into every checked library in a process-wide map, after
//! which the library must never be unloaded. So the host runs the same layout
//! check against a throwaway [`CheckingGlobals`] and then takes the module with
//! `unchecked_layout`, which keeps `dlclose` safe.
//!
//! Loading a library is `unsafe` by nature (it runs the library's
//! initialisers and trusts its symbols); this module is where that happens.
#![allow(unsafe_code)]

use std::path::Path;

use abi_stable::abi_stability::abi_checking::{
    check_layout_compatibility_with_globals, CheckingGlobals,
};
use abi_stable::library::{AbiHeaderRef, RootModule};
use abi_stable::StableAbi;
use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
use phonehook_plugin_api::{PluginModRef, ABI_VERSION, ROOT_SYMBOL};

/// Why a library is not a usable plugin. Each message is one line; the full
/// abi_stable layout report goes to the debug log.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// Not readable, too large or not ELF.
    #[error("{0}")]
    File(String),
    /// The dynamic loader refused the file (truncated, wrong architecture...).
    #[error("the dynamic loader refused it: {0}")]
    Open(String),
    /// A shared library, but not a plugin.
    #[error("not a phonehook plugin: it does not export the plugin entry symbol")]
    NoEntrySymbol,
    /// Built with an abi_stable release this host cannot read.
    #[error("built with an incompatible abi_stable version ({0})")]
    AbiStable(String),
    /// An abi_stable library of some other interface.
    #[error("not a phonehook plugin: it exports the abi_stable module `{0}`")]
    OtherInterface(String),
    /// Built for another plugin ABI version.
    #[error("built for plugin ABI {plugin}, but this host speaks {host} (same major version needed, minor not newer)")]
    AbiVersion {
        /// The plugin's ABI version.
        plugin: String,
        /// The host's.
        host: String,
    },
    /// The root module's layout differs from this host's.
    #[error("built against an incompatible plugin API: {0}")]
    Layout(String),
    /// The module constructor failed.
    #[error("the plugin failed to initialise: {0}")]
    Init(String),
    /// `describe` failed or panicked.
    #[error("the plugin failed to describe itself: {0}")]
    Describe(String),
    /// The manifest is unusable.
    #[error("invalid manifest: {0}")]
    Manifest(String),
}

impl LoadError {
    /// A stable code for APIs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            LoadError::File(_) => "unreadable",
            LoadError::Open(_) => "not_loadable",
            LoadError::NoEntrySymbol | LoadError::OtherInterface(_) => "not_a_plugin",
            LoadError::AbiStable(_) | LoadError::AbiVersion { .. } | LoadError::Layout(_) => {
                "abi_mismatch"
            }
            LoadError::Init(_) | LoadError::Describe(_) => "plugin_failed",
            LoadError::Manifest(_) => "invalid_manifest",
        }
    }
}

/// An opened, checked plugin library. Dropping it unloads the library, so
/// nothing it returned may outlive it (callers convert to host-owned data).
pub struct OpenLibrary {
    /// Field order matters: the module reference points into the library.
    pub module: PluginModRef,
    pub library: Library,
}

/// Opens a staged copy and checks it; runs no plugin code but its constructor.
pub fn open(staged: &Path) -> Result<OpenLibrary, LoadError> {
    // RTLD_NOW: an unresolved symbol fails here, not on the first message.
    // SAFETY: loading runs the library's initialisers; that is what loading a
    // plugin means, and the file is a private copy the watcher cannot change.
    let library = unsafe { Library::open(Some(staged), RTLD_NOW | RTLD_LOCAL) }
        .map_err(|e| LoadError::Open(dl_message(&e.to_string(), staged)))?;

    let symbol = format!("{ROOT_SYMBOL}\0");
    // SAFETY: the symbol, when present, is abi_stable's `LibHeader` static,
    // whose first field is the `AbiHeaderRef` read here.
    let header: AbiHeaderRef = unsafe {
        match library.get::<AbiHeaderRef>(symbol.as_bytes()) {
            Ok(sym) => *sym,
            Err(_) => return Err(LoadError::NoEntrySymbol),
        }
    };
    let header = header
        .upgrade()
        .map_err(|e| LoadError::AbiStable(first_line(&e.to_string())))?;

    let consts = header.root_mod_consts();
    let base_name = consts.base_name().as_str();
    if base_name != PluginModRef::BASE_NAME {
        return Err(LoadError::OtherInterface(base_name.to_owned()));
    }
    check_version(&header.version_strings().to_string())?;

    let layout = header
        .layout()
        .ok_or_else(|| LoadError::Layout("the library carries no layout information".into()))?;
    let globals = CheckingGlobals::new();
    if let Err(errors) =
        check_layout_compatibility_with_globals(PluginModRef::LAYOUT, layout, &globals)
    {
        // The report holds references into the library: render it now.
        let full = errors.to_string();
        tracing::debug!(file = %staged.display(), report = %full, "plugin layout mismatch");
        return Err(LoadError::Layout(layout_summary(&full)));
    }
    drop(globals);

    // SAFETY: the layout was checked just above.
    let module = unsafe { header.unchecked_layout::<PluginModRef>() }
        .map_err(|e| LoadError::Init(first_line(&e.to_string())))?;
    Ok(OpenLibrary { module, library })
}

fn check_version(plugin: &str) -> Result<(), LoadError> {
    let parse = |v: &str| -> Option<(u32, u32)> {
        let mut parts = v.trim().split('.');
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    };
    let mismatch = || LoadError::AbiVersion {
        plugin: plugin.to_owned(),
        host: ABI_VERSION.to_owned(),
    };
    let (p_major, p_minor) = parse(plugin).ok_or_else(mismatch)?;
    let (h_major, h_minor) = parse(ABI_VERSION).ok_or_else(mismatch)?;
    if p_major != h_major || p_minor > h_minor {
        return Err(mismatch());
    }
    Ok(())
}

/// dlerror texts repeat the staged path; users know the file by its watched
/// name, which the caller adds, so drop the private path.
fn dl_message(err: &str, staged: &Path) -> String {
    let staged = staged.display().to_string();
    let cleaned = err
        .replace(&format!("{staged}: "), "")
        .replace(&staged, "(plugin)");
    first_line(&cleaned)
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_owned()
}

/// One line out of abi_stable's long report: the first "Expected/Found" pair
/// it names, which is usually the changed type.
fn layout_summary(report: &str) -> String {
    let mut expected = None;
    let mut found = None;
    for line in report.lines().map(str::trim) {
        if expected.is_none() {
            if let Some(rest) = line.strip_prefix("Expected:") {
                expected = Some(rest.trim().to_owned());
                continue;
            }
        }
        if expected.is_some() && found.is_none() {
            if let Some(rest) = line.strip_prefix("Found:") {
                found = Some(rest.trim().to_owned());
                break;
            }
        }
    }
    match (expected, found) {
        (Some(e), Some(f)) if !e.is_empty() || !f.is_empty() => {
            format!("the root module's layout differs (expected `{e}`, found `{f}`); rebuild it against this host's phonehook-plugin-api")
        }
        _ => "the root module's layout differs; rebuild it against this host's phonehook-plugin-api (full report at debug level)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_rules() {
        assert!(check_version(ABI_VERSION).is_ok());
        assert!(check_version("1.0.7").is_ok());
        assert!(matches!(
            check_version("2.0.0"),
            Err(LoadError::AbiVersion { .. })
        ));
        assert!(matches!(
            check_version("1.9.0"),
            Err(LoadError::AbiVersion { .. })
        ));
        assert!(matches!(
            check_version("garbage"),
            Err(LoadError::AbiVersion { .. })
        ));
    }
}
