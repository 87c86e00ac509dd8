//! The set of loaded plugins and the one active plugin.
//!
//! **Invariant:** at most one plugin is active, and swapping it is a single
//! atomic store. A message loads the active entry once (`load_full`) and keeps
//! that `Arc` to the end, so it finishes on the version it started on; the old
//! version unloads when its last message drops it.
//!
//! Loading at start-up and reloading on change are the same operation:
//! [`Registry::load_path`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use serde::Serialize;

use crate::config::PluginConfig;

use super::binding::{Binding, SecretState};
use super::file::PluginFile;
use super::generation::Generation;
use super::info::PluginInfo;
use super::loader::LoadError;
use super::permissions::check_trusted;
use super::staging::Staging;
use super::stamp::{canonical_file, FileStamp};
use super::sys;

/// The active plugin with its configuration.
#[derive(Debug)]
pub struct Active {
    /// The loaded version serving messages.
    pub generation: Arc<Generation>,
    /// Its configuration.
    pub binding: Binding,
}

/// Why a plugin could not be activated.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ActivateError {
    /// No loaded plugin has that name.
    #[error("no plugin named `{name}` is loaded (loaded: {known})")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names that are loaded.
        known: String,
    },
    /// A file that claims the name failed to load.
    #[error("plugin `{name}` failed to load: {error}")]
    Failed {
        /// The plugin.
        name: String,
        /// Its load error.
        error: String,
    },
    /// Its configuration is incomplete.
    #[error("plugin `{name}` is not configured: {}", problems.join("; "))]
    Misconfigured {
        /// The plugin.
        name: String,
        /// What is missing.
        problems: Vec<String>,
    },
}

/// What an activation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    /// The plugin now active.
    pub name: String,
    /// Its generation.
    pub generation: u64,
}

/// What loading a file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadOutcome {
    /// A new version is installed.
    Loaded {
        /// Plugin name.
        name: String,
        /// New generation id.
        generation: u64,
        /// The generation it replaced, when the plugin was already loaded.
        replaced: Option<u64>,
    },
    /// The content has not changed since it was loaded.
    Unchanged,
    /// The content has not changed since it was refused: not loaded again,
    /// and not reported again (its error stays in the status).
    StillRefused,
}

/// A plugin's state, as the admin API and the CLI show it.
#[derive(Debug, Clone, Serialize)]
pub struct PluginStatus {
    /// Manifest name (or the file name when it never loaded).
    pub name: String,
    /// Manifest, when loaded.
    #[serde(flatten)]
    pub info: Option<PluginInfo>,
    /// The watched file.
    pub file: String,
    /// Whether that file still exists.
    pub file_present: bool,
    /// SHA-256 of the loaded content.
    pub sha256: Option<String>,
    /// Generation id of the loaded version.
    pub generation: Option<u64>,
    /// How many versions of this plugin were loaded since start-up.
    pub loads: u64,
    /// When it was loaded (RFC 3339).
    pub loaded_at: Option<String>,
    /// `loaded`, `failed`, or `loaded_with_errors` (serving an older version
    /// after a newer file failed).
    pub status: &'static str,
    /// The last load error for this file, if any.
    pub last_error: Option<String>,
    /// Whether it is the active plugin.
    pub active: bool,
    /// Declared secrets, set or not (never values).
    pub secrets: Vec<SecretState>,
    /// Configuration problems.
    pub problems: Vec<String>,
}

struct Slot {
    current: Arc<Generation>,
    file_present: bool,
    last_error: Option<String>,
    loads: u64,
}

/// The last look at one file: what its metadata was, and what came of it.
struct Seen {
    stamp: FileStamp,
    /// SHA-256 of the content read at that look (none when it could not be read).
    sha256: Option<String>,
    refused: bool,
}

#[derive(Default)]
struct State {
    slots: BTreeMap<String, Slot>,
    /// Files that never produced a plugin, by canonical path.
    failed: BTreeMap<PathBuf, String>,
    /// The last look at each file, by canonical path: a file is read again
    /// only when its stamp changes, and loaded again only when its content does.
    seen: BTreeMap<PathBuf, Seen>,
    configs: BTreeMap<String, PluginConfig>,
    active_name: Option<String>,
}

impl State {
    /// `generation` bound to plugin `name`'s configuration (an empty one if none).
    fn binding(&self, name: &str, generation: &Generation) -> Binding {
        Binding::new(
            generation,
            &self.configs.get(name).cloned().unwrap_or_default(),
        )
    }

    /// Loaded plugin `name`'s current generation with its binding, or why
    /// there is none to activate.
    fn bound(&self, name: &str) -> Result<(Arc<Generation>, Binding), ActivateError> {
        let Some(slot) = self.slots.get(name) else {
            if let Some(error) = self
                .failed
                .iter()
                .find(|(p, _)| {
                    p.file_stem()
                        .and_then(|s| s.to_str())
                        .is_some_and(|s| s.contains(name))
                })
                .map(|(_, e)| e.clone())
            {
                return Err(ActivateError::Failed {
                    name: name.to_owned(),
                    error,
                });
            }
            let known: Vec<&str> = self.slots.keys().map(String::as_str).collect();
            return Err(ActivateError::Unknown {
                name: name.to_owned(),
                known: if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                },
            });
        };
        let generation = slot.current.clone();
        let binding = self.binding(name, &generation);
        Ok((generation, binding))
    }
}

/// The registry.
pub struct Registry {
    staging: Staging,
    state: Mutex<State>,
    active: ArcSwapOption<Active>,
}

impl Registry {
    /// An empty registry staging copies in `staging`.
    pub fn new(staging: Staging, configs: BTreeMap<String, PluginConfig>) -> Registry {
        Registry {
            staging,
            state: Mutex::new(State {
                configs,
                ..State::default()
            }),
            active: ArcSwapOption::empty(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-updated in a
        // way that matters more than stopping service would.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The active plugin, for one message: keep the `Arc` until it is done.
    pub fn active(&self) -> Option<Arc<Active>> {
        self.active.load_full()
    }

    /// Loads (or reloads) the plugin in `path`. Blocking: call it off the
    /// async runtime. A failure leaves whatever was serving in place.
    ///
    /// Files are known by [`canonical_file`]. A file whose [`FileStamp`] is
    /// the one seen last is not read at all; a file whose content was refused
    /// before is not loaded again ([`LoadOutcome::StillRefused`]): the caller
    /// reports an `Err` once per content.
    pub fn load_path(&self, path: &Path) -> Result<LoadOutcome, LoadError> {
        let path = canonical_file(path);
        let stamp = FileStamp::of(&path).ok();
        if let Some(stamp) = stamp {
            let state = self.lock();
            if let Some(seen) = state.seen.get(&path).filter(|s| s.stamp == stamp) {
                return Ok(if seen.refused {
                    LoadOutcome::StillRefused
                } else {
                    LoadOutcome::Unchanged
                });
            }
        }
        let mut sha256 = None;
        let result = self.try_load(&path, &mut sha256);
        sys::release_freed_memory();
        let mut state = self.lock();
        if let Some(stamp) = stamp {
            let refused = matches!(result, Err(_) | Ok(LoadOutcome::StillRefused));
            state.seen.insert(
                path.clone(),
                Seen {
                    stamp,
                    sha256,
                    refused,
                },
            );
        }
        match result {
            Err(err) => {
                let owner = state.slots.values_mut().find(|s| s.current.source == path);
                match owner {
                    Some(slot) => slot.last_error = Some(err.to_string()),
                    None => {
                        state.failed.insert(path, err.to_string());
                    }
                }
                Err(err)
            }
            ok => ok,
        }
    }

    /// `path` is canonical. Sets `sha256` once the content is read.
    fn try_load(&self, path: &Path, sha256: &mut Option<String>) -> Result<LoadOutcome, LoadError> {
        if let Some(dir) = path.parent() {
            check_trusted(dir).map_err(|e| LoadError::File(e.to_string()))?;
        }
        check_trusted(path).map_err(|e| LoadError::File(e.to_string()))?;
        let file = PluginFile::read(path).map_err(|e| LoadError::File(e.to_string()))?;
        *sha256 = Some(file.sha256.clone());
        {
            let state = self.lock();
            let same = state
                .slots
                .values()
                .any(|s| s.current.source == path && s.current.sha256 == file.sha256);
            if same {
                return Ok(LoadOutcome::Unchanged);
            }
            let refused = state
                .seen
                .get(path)
                .is_some_and(|s| s.refused && s.sha256.as_deref() == Some(file.sha256.as_str()));
            if refused {
                // Same bytes, same refusal: no need to open the library again.
                return Ok(LoadOutcome::StillRefused);
            }
        }
        let generation = Arc::new(Generation::load(&file, &self.staging)?);
        drop(file);
        let name = generation.info.name.clone();
        let id = generation.id;

        let mut state = self.lock();
        let replaced = match state.slots.get(&name) {
            Some(slot) if slot.current.source != path && slot.file_present => {
                return Err(LoadError::Manifest(format!(
                    "plugin `{name}` is already provided by {}",
                    slot.current.source.display()
                )));
            }
            Some(slot) => Some(slot.current.id),
            None => None,
        };
        state.failed.remove(path);
        let loads = state.slots.get(&name).map_or(0, |s| s.loads) + 1;
        generation.mark_installed();
        crate::metrics::plugin_registered(&name, &file_label(path), &generation.info.channels);
        state.slots.insert(
            name.clone(),
            Slot {
                current: generation.clone(),
                file_present: true,
                last_error: None,
                loads,
            },
        );
        if state.active_name.as_deref() == Some(name.as_str()) {
            let binding = state.binding(&name, &generation);
            self.active.store(Some(Arc::new(Active {
                generation,
                binding,
            })));
        }
        match replaced {
            Some(previous) => tracing::info!(plugin = %name, generation = id, previous,
                file = %path.display(), "plugin reloaded"),
            None => tracing::info!(plugin = %name, generation = id, file = %path.display(),
                "plugin loaded"),
        }
        Ok(LoadOutcome::Loaded {
            name,
            generation: id,
            replaced,
        })
    }

    /// The file is gone: the loaded copy keeps serving until another plugin is
    /// activated; the status shows the file missing.
    pub fn file_removed(&self, path: &Path) {
        let path = canonical_file(path);
        let path = path.as_path();
        let mut state = self.lock();
        state.failed.remove(path);
        state.seen.remove(path);
        for slot in state
            .slots
            .values_mut()
            .filter(|s| s.current.source == path)
        {
            slot.file_present = false;
            tracing::warn!(plugin = %slot.current.info.name, file = %path.display(),
                "plugin file removed; the loaded copy stays until another plugin is activated");
        }
    }

    /// Makes `name` the active plugin; refuses one with configuration
    /// problems (API swaps, restored swaps, configuration reloads: a running
    /// host keeps its working plugin rather than switch to one that answers
    /// 503).
    pub fn activate(&self, name: &str) -> Result<Activation, ActivateError> {
        let mut state = self.lock();
        let (generation, binding) = state.bound(name)?;
        if !binding.problems.is_empty() {
            return Err(ActivateError::Misconfigured {
                name: name.to_owned(),
                problems: binding.problems,
            });
        }
        Ok(self.install(&mut state, name, generation, binding))
    }

    /// Makes `name` the active plugin even with configuration problems, and
    /// says which (empty when it has none): at start-up, so the host comes up
    /// and answers 503 naming what is missing.
    pub fn activate_misconfigured(
        &self,
        name: &str,
    ) -> Result<(Activation, Vec<String>), ActivateError> {
        let mut state = self.lock();
        let (generation, binding) = state.bound(name)?;
        let problems = binding.problems.clone();
        Ok((
            self.install(&mut state, name, generation, binding),
            problems,
        ))
    }

    fn install(
        &self,
        state: &mut State,
        name: &str,
        generation: Arc<Generation>,
        binding: Binding,
    ) -> Activation {
        let activation = Activation {
            name: name.to_owned(),
            generation: generation.id,
        };
        state.active_name = Some(name.to_owned());
        self.active.store(Some(Arc::new(Active {
            generation,
            binding,
        })));
        // Plugins whose files are gone and that no longer serve can go now.
        // Look at the file itself too: one being replaced (removed, then
        // linked or written anew) is back before the watcher says so.
        state
            .slots
            .retain(|n, s| s.file_present || n.as_str() == name || s.current.source.exists());
        tracing::info!(plugin = %name, generation = activation.generation, "plugin activated");
        activation
    }

    /// Whether `name` could be activated now (known, loaded, configured),
    /// without activating it: the checks a fallback chain's members pass.
    pub fn check_activatable(&self, name: &str) -> Result<(), ActivateError> {
        let (_, binding) = self.lock().bound(name)?;
        if binding.problems.is_empty() {
            Ok(())
        } else {
            Err(ActivateError::Misconfigured {
                name: name.to_owned(),
                problems: binding.problems,
            })
        }
    }

    /// A loaded plugin with its configuration, active or not (the runner).
    pub fn bind(&self, name: &str) -> Option<Active> {
        let (generation, binding) = self.lock().bound(name).ok()?;
        Some(Active {
            generation,
            binding,
        })
    }

    /// Replaces the plugin configurations (a changed configuration file) and
    /// rebinds the active plugin to its new configuration.
    pub fn set_configs(&self, configs: BTreeMap<String, PluginConfig>) {
        let mut state = self.lock();
        state.configs = configs;
        if let Some(name) = state.active_name.clone() {
            if let Some(slot) = state.slots.get(&name) {
                let generation = slot.current.clone();
                let binding = state.binding(&name, &generation);
                self.active.store(Some(Arc::new(Active {
                    generation,
                    binding,
                })));
            }
        }
    }

    /// The name of the active plugin, if any.
    pub fn active_name(&self) -> Option<String> {
        self.lock().active_name.clone()
    }

    /// Every plugin and every failed file.
    pub fn status(&self) -> Vec<PluginStatus> {
        let state = self.lock();
        let active = self.active.load_full();
        let mut out: Vec<PluginStatus> = state
            .slots
            .iter()
            .map(|(name, slot)| {
                let g = &slot.current;
                let binding = state.binding(name, g);
                let is_active = active
                    .as_ref()
                    .is_some_and(|a| Arc::ptr_eq(&a.generation, g));
                PluginStatus {
                    name: name.clone(),
                    info: Some(g.info.clone()),
                    file: g.source.display().to_string(),
                    file_present: slot.file_present,
                    sha256: Some(g.sha256.clone()),
                    generation: Some(g.id),
                    loads: slot.loads,
                    loaded_at: Some(rfc3339(g.loaded_at)),
                    status: if slot.last_error.is_some() {
                        "loaded_with_errors"
                    } else {
                        "loaded"
                    },
                    last_error: slot.last_error.clone(),
                    active: is_active,
                    secrets: binding.secret_states,
                    problems: binding.problems,
                }
            })
            .collect();
        out.extend(state.failed.iter().map(|(path, error)| {
            PluginStatus {
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                info: None,
                file: path.display().to_string(),
                file_present: path.exists(),
                sha256: None,
                generation: None,
                loads: 0,
                loaded_at: None,
                status: "failed",
                last_error: Some(error.clone()),
                active: false,
                secrets: Vec::new(),
                problems: Vec::new(),
            }
        }));
        out
    }
}

/// How a file is named in metrics: by file name, since a refused file may
/// have no readable manifest.
pub fn file_label(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// RFC 3339 in UTC, seconds precision (the plugin API's one calendar).
pub fn rfc3339(t: SystemTime) -> String {
    let ms = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    phonehook_plugin_api::date::UtcTime::from_unix_ms(ms).rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        let at = |s: u64| rfc3339(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(1_704_067_200), "2024-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
    }
}
