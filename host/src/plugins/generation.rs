//! One loaded version of one plugin. Messages hold an `Arc<Generation>` for as
//! long as they run, so a swapped-out version drains naturally: when the last
//! message on it finishes, the generation drops and its library is unloaded.

use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::SystemTime;

use phonehook_plugin_api::{Call, Config, HttpReply, PluginModRef};

use super::file::PluginFile;
use super::info::PluginInfo;
use super::invoke::{self, OwnedStep};
use super::loader::{self, LoadError, OpenLibrary};
use super::staging::Staging;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static RETAINED: AtomicU64 = AtomicU64::new(0);

/// How many plugin copies stayed mapped after their generation was released
/// (the platform declined to unload them).
pub fn retained_count() -> u64 {
    RETAINED.load(Ordering::Relaxed)
}

/// One loaded plugin version.
pub struct Generation {
    /// Process-unique, increasing: a later load has a larger id.
    pub id: u64,
    /// The manifest.
    pub info: PluginInfo,
    /// The watched file it came from.
    pub source: PathBuf,
    /// SHA-256 of the file's content.
    pub sha256: String,
    /// When it was loaded.
    pub loaded_at: SystemTime,
    staged: PathBuf,
    /// Open for as long as the generation lives. `ManuallyDrop` only so that
    /// `Drop` can close it first, before it checks whether the copy is still
    /// mapped (see there).
    lib: ManuallyDrop<OpenLibrary>,
    /// Whether the registry ever took it in. A copy refused after opening (a
    /// second file claiming a loaded plugin's name) was never a plugin the
    /// host served, so its release is not reported as an unload.
    installed: AtomicBool,
}

impl std::fmt::Debug for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generation")
            .field("id", &self.id)
            .field("name", &self.info.name)
            .field("version", &self.info.version)
            .finish()
    }
}

impl Generation {
    /// Stages a copy of `file`, opens and checks it, and reads its manifest.
    pub fn load(file: &PluginFile, staging: &Staging) -> Result<Generation, LoadError> {
        let stem = file
            .path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("plugin");
        let staged = staging
            .stage(stem, &file.bytes)
            .map_err(|e| LoadError::File(format!("cannot stage a private copy: {e}")))?;
        let result = loader::open(&staged).and_then(|lib| {
            let manifest =
                invoke::describe(lib.module).map_err(|e| LoadError::Describe(e.to_string()))?;
            let info = PluginInfo::from_manifest(&manifest).map_err(LoadError::Manifest)?;
            drop(manifest);
            Ok((lib, info))
        });
        match result {
            Ok((lib, info)) => Ok(Generation {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                info,
                source: file.path.clone(),
                sha256: file.sha256.clone(),
                loaded_at: SystemTime::now(),
                staged,
                lib: ManuallyDrop::new(lib),
                installed: AtomicBool::new(false),
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&staged);
                Err(e)
            }
        }
    }

    fn module(&self) -> PluginModRef {
        self.lib.module
    }

    /// The plugin's configuration problems.
    pub fn check(&self, config: &Config<'_>) -> Vec<String> {
        invoke::check(self.module(), config)
    }

    /// The first request for a message.
    pub fn prepare(&self, call: &Call<'_>) -> OwnedStep {
        invoke::prepare(self.module(), call)
    }

    /// The plugin's reading of a reply.
    pub fn interpret(&self, call: &Call<'_>, reply: &HttpReply<'_>) -> OwnedStep {
        invoke::interpret(self.module(), call, reply)
    }

    /// Records that the registry installed this generation (see `installed`).
    pub fn mark_installed(&self) {
        self.installed.store(true, Ordering::Relaxed);
    }

    /// The private copy this generation runs from.
    pub fn staged_path(&self) -> &Path {
        &self.staged
    }
}

/// Whether `path` is still mapped into this process.
pub fn is_mapped(path: &Path) -> bool {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return false;
    };
    let needle = path.to_string_lossy();
    maps.lines().any(|l| l.ends_with(needle.as_ref()))
}

impl Drop for Generation {
    // `ManuallyDrop::take` (see the comment inside) is the one unsafe call.
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // Order matters: the library is closed first, by hand, so that the
        // maps check below sees whether `dlclose` really unloaded it (left to
        // the field's own drop, it would close only after this function, and
        // every copy would look retained); and only then is the staged file
        // removed.
        // SAFETY: taken exactly once, here; nothing reads `self.lib` after
        // it, and `ManuallyDrop` gives the field no drop glue of its own.
        let lib = unsafe { ManuallyDrop::take(&mut self.lib) };
        if let Err(e) = lib.library.close() {
            tracing::warn!(plugin = %self.info.name, error = %e, "dlclose failed");
        }
        if is_mapped(&self.staged) {
            RETAINED.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(plugin = %self.info.name, generation = self.id,
                "plugin released but the platform kept it mapped (retained)");
        } else if self.installed.load(Ordering::Relaxed) {
            tracing::info!(plugin = %self.info.name, generation = self.id, "plugin unloaded");
        } else {
            tracing::debug!(plugin = %self.info.name, generation = self.id,
                "refused copy released");
        }
        let _ = std::fs::remove_file(&self.staged);
    }
}
