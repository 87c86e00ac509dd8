//! Live control: which plugin is active, who chose it, and since when.
//!
//! Two sources choose the active plugin:
//!
//! - the **configuration**: `active_plugin` in the file, overridden by
//!   `PHONEHOOK_ACTIVE_PLUGIN`, overridden by `serve --active`. It applies at
//!   start and whenever *its value* changes on a reload of the file. Editing
//!   any other key never touches the active plugin.
//! - the **API** (`PUT /api/v1/active-plugin`, `phonehook activate`). A swap
//!   holds until the next API swap or the next change of the configured value.
//!
//! **Architecture Invariant:** every activation goes through [`Control`], one
//! at a time, so the active plugin, its source and the stored swap agree.
//!
//! An API swap is stored in the delivery log's database together with the
//! configured value in force at that moment ([`crate::deliverylog::control`]).
//! At start a stored swap is restored when the configured value is still the
//! one recorded with it; when it differs, the configuration changed while the
//! server was down and wins. With `log.enabled = false` swaps last until
//! the process ends.
//!
//! With the shared PostgreSQL store (`store = "postgres://…"`) the
//! **database** holds the active plugin and the fallback chain for every
//! instance ([`crate::store::control`]); the configured values only seed an
//! empty database. Changes go through the API (`crate::fleet`), which writes
//! a new generation; every instance applies it ([`Control::apply_shared`]).
//! Editing `active_plugin` or `fallback` in one instance's file then
//! changes nothing and says so: one instance's file must not steer the
//! fleet, nor be silently overruled.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;

use arc_swap::ArcSwap;

use crate::deliverylog::control::{self as store, StoredSwap};
use crate::deliverylog::{time, DeliveryLog};
use crate::plugins::{ActivateError, Activation, Active, Registry};
use crate::store::control::ControlRow;

/// Who chose the active plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The configured value (file, environment, `--active`).
    Configuration,
    /// `PUT /api/v1/active-plugin` or `phonehook activate`.
    Api,
}

/// Who chose the active plugin, and when (Unix milliseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice {
    /// The source.
    pub source: Source,
    /// When it was chosen.
    pub since_ms: i64,
}

/// What an API swap did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    /// The activation.
    pub activation: Activation,
    /// The plugin active before, if any.
    pub previous: Option<String>,
    /// When it happened (Unix milliseconds).
    pub since_ms: i64,
}

struct State {
    /// The configured active plugin now in force.
    configured: Option<String>,
    /// The configured fallback chain now in force.
    configured_fallback: Vec<String>,
    /// Who chose the fallback chain that serves, and when.
    fallback_choice: Option<Choice>,
    /// Who chose the plugin that is active (none while nothing is active).
    choice: Option<Choice>,
}

/// The configured active plugin is not among the loaded ones.
#[derive(Debug, thiserror::Error)]
#[error("no loaded plugin is named `{name}` (loaded: {known})")]
pub struct UnknownConfigured {
    /// The name configured.
    pub name: String,
    /// The loaded plugins' names.
    pub known: String,
}

/// Where API choices are kept.
enum Keeper {
    /// In the delivery log's SQLite database (when it is enabled), for this
    /// instance alone.
    Log(DeliveryLog),
    /// In the shared database: the generation of the control row this
    /// instance has applied.
    Shared(AtomicI64),
}

/// The one place that activates plugins.
pub struct Control {
    registry: Arc<Registry>,
    keeper: Keeper,
    state: Mutex<State>,
    /// The fallback chain the send path reads, lock-free, per message.
    fallback: ArcSwap<Vec<String>>,
}

/// A fallback chain that cannot serve: one of its plugins is refused.
#[derive(Debug, thiserror::Error)]
pub enum FallbackError {
    /// A plugin is unknown, failed to load or lacks configuration.
    #[error("fallback `{name}`: {error}")]
    Refused {
        /// The plugin.
        name: String,
        /// Why.
        error: ActivateError,
    },
    /// A plugin is named twice.
    #[error("fallback `{0}` is named twice")]
    Duplicate(String),
}

impl Control {
    /// Activates the plugin that should serve at start: a stored API swap
    /// still valid for `configured`, else `configured` itself (leniently: a
    /// plugin missing configuration is activated and answers 503 naming what
    /// is missing). Blocking: call it off the async runtime.
    ///
    /// Refuses ([`UnknownConfigured`]) a configured name no loaded plugin
    /// has — a typo or the wrong plugin directory, to fix before serving. A
    /// plugin whose file failed to load is reported and retried by the
    /// watcher, so the server comes up.
    pub fn start(
        registry: Arc<Registry>,
        log: DeliveryLog,
        configured: Option<String>,
    ) -> Result<Control, UnknownConfigured> {
        let control = Control {
            registry,
            keeper: Keeper::Log(log),
            state: Mutex::new(State {
                configured,
                configured_fallback: Vec::new(),
                fallback_choice: None,
                choice: None,
            }),
            fallback: ArcSwap::from_pointee(Vec::new()),
        };
        let mut state = control.lock();
        if !control.restore(&mut state) {
            control.activate_configured(&mut state)?;
        }
        drop(state);
        Ok(control)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is two small values written together; a panic elsewhere
        // cannot leave them half-updated.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Restores a stored API swap when it is still valid; whether it did.
    fn restore(&self, state: &mut State) -> bool {
        let Some(log) = self.swap_log() else {
            return false;
        };
        if !log.is_enabled() {
            tracing::info!(
                "API swaps of the active plugin are not persisted (log.enabled = false): one lasts until the server stops"
            );
            return false;
        }
        let stored = match log.with_connection(|c| store::load(c)) {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(error = %e,
                    "cannot read the stored API swap; the configured active plugin applies");
                return false;
            }
        };
        let Some(swap) = stored else {
            return false;
        };
        if swap.configured != state.configured {
            tracing::info!(plugin = %swap.plugin,
                recorded = swap.configured.as_deref().unwrap_or("none"),
                configured = state.configured.as_deref().unwrap_or("none"),
                "the configured active plugin changed while the server was down; it replaces the API swap");
            self.forget_swap();
            return false;
        }
        match self.registry.activate(&swap.plugin) {
            Ok(a) => {
                tracing::info!(plugin = %a.name, generation = a.generation,
                    since = %time::format_rfc3339(swap.time_ms),
                    "restored the active plugin set through the API");
                state.choice = Some(Choice {
                    source: Source::Api,
                    since_ms: swap.time_ms,
                });
                true
            }
            Err(e) => {
                tracing::warn!(plugin = %swap.plugin, error = %e,
                    "the active plugin set through the API cannot be activated; the configured one applies");
                self.forget_swap();
                false
            }
        }
    }

    fn activate_configured(&self, state: &mut State) -> Result<(), UnknownConfigured> {
        let Some(name) = state.configured.clone() else {
            return Ok(());
        };
        match self.registry.activate_misconfigured(&name) {
            Ok((a, problems)) => {
                if !problems.is_empty() {
                    tracing::warn!(plugin = %a.name, problems = ?problems,
                        "active plugin is missing configuration; messages get 503 until it is fixed");
                }
                state.choice = Some(Choice {
                    source: Source::Configuration,
                    since_ms: time::now_ms(),
                });
            }
            Err(ActivateError::Unknown { name, known }) => {
                return Err(UnknownConfigured { name, known })
            }
            Err(e) => tracing::error!(error = %e, "no plugin is active; messages get 503"),
        }
        Ok(())
    }

    /// An API swap: activates `name` (refused when it is unknown, failed to
    /// load or lacks configuration) and stores the swap. Blocking.
    pub fn swap(&self, name: &str) -> Result<Swap, ActivateError> {
        let mut state = self.lock();
        let previous = self.registry.active_name();
        let activation = self.registry.activate(name)?;
        let since_ms = time::now_ms();
        state.choice = Some(Choice {
            source: Source::Api,
            since_ms,
        });
        if let Some(log) = self.swap_log().filter(|l| l.is_enabled()) {
            let swap = StoredSwap {
                plugin: activation.name.clone(),
                configured: state.configured.clone(),
                time_ms: since_ms,
            };
            if let Err(e) = log.with_connection(|c| store::store(c, &swap)) {
                tracing::warn!(plugin = %swap.plugin, error = %e,
                    "the swap holds, but could not be stored: a restart returns to the configured plugin");
            }
        }
        tracing::info!(plugin = %activation.name, previous = previous.as_deref().unwrap_or("none"),
            "active plugin changed through the API");
        Ok(Swap {
            activation,
            previous,
            since_ms,
        })
    }

    /// The configuration file was reloaded and its configured active plugin
    /// is `configured`: when that value changed, it is activated (strictly,
    /// as an API swap would be) and replaces any API swap. Blocking.
    pub fn configuration_reloaded(&self, configured: Option<String>) {
        let mut state = self.lock();
        if state.configured == configured {
            return;
        }
        state.configured = configured.clone();
        if self.is_shared() {
            tracing::warn!(configured = configured.as_deref().unwrap_or("none"),
                "active_plugin changed in the configuration file, but with a shared store the database chooses for every instance; nothing changes: use `phonehook activate NAME` or PUT /api/v1/active-plugin");
            return;
        }
        if self.swap_log().is_some_and(DeliveryLog::is_enabled) {
            self.forget_swap();
        }
        let Some(name) = configured else {
            return;
        };
        match self.registry.activate(&name) {
            Ok(a) => {
                state.choice = Some(Choice {
                    source: Source::Configuration,
                    since_ms: time::now_ms(),
                });
                tracing::info!(plugin = %a.name, generation = a.generation,
                    "active plugin changed by the configuration file");
            }
            Err(e) => {
                tracing::warn!(error = %e,
                    "configuration names an active plugin that cannot be activated; keeping the current one");
            }
        }
    }

    fn forget_swap(&self) {
        let Some(log) = self.swap_log() else {
            return;
        };
        if let Err(e) = log.with_connection(|c| store::clear(c)) {
            tracing::warn!(error = %e, "cannot clear the stored API swap");
        }
    }

    /// The delivery log that keeps API swaps (none with the shared store).
    fn swap_log(&self) -> Option<&DeliveryLog> {
        match &self.keeper {
            Keeper::Log(log) => Some(log),
            Keeper::Shared(_) => None,
        }
    }

    /// Whether the shared store chooses (see the module docs).
    pub fn is_shared(&self) -> bool {
        matches!(self.keeper, Keeper::Shared(_))
    }

    /// The shared store's control generation this instance serves (none
    /// with SQLite, where there is no fleet to converge).
    pub fn generation(&self) -> Option<i64> {
        match &self.keeper {
            Keeper::Shared(g) => Some(g.load(Ordering::Acquire)),
            Keeper::Log(_) => None,
        }
    }

    /// Starts under the shared store's control `row`: its active plugin
    /// (leniently, as a configured one: a plugin missing configuration is
    /// active and answers 503 naming what is missing; one this instance
    /// lacks leaves nothing active and says so) and its fallback chain.
    /// Blocking only in that it activates.
    /// `configured` and `configured_fallback` are the file's values, kept
    /// only to tell an operator when an edit of them changes nothing.
    pub fn start_shared(
        registry: Arc<Registry>,
        row: &ControlRow,
        configured: Option<String>,
        configured_fallback: Vec<String>,
    ) -> Control {
        let control = Control {
            registry,
            keeper: Keeper::Shared(AtomicI64::new(0)),
            state: Mutex::new(State {
                configured,
                configured_fallback,
                fallback_choice: None,
                choice: None,
            }),
            fallback: ArcSwap::from_pointee(Vec::new()),
        };
        control.apply_shared(row);
        control
    }

    /// Applies the shared store's control `row` when it is newer than the
    /// generation this instance serves; whether it was. A plugin this
    /// instance cannot activate (its file is missing here, say) leaves the
    /// current one serving and is logged: `GET /api/v1/instances` shows the
    /// skew. Does nothing with SQLite.
    pub fn apply_shared(&self, row: &ControlRow) -> bool {
        let Keeper::Shared(generation) = &self.keeper else {
            return false;
        };
        let mut state = self.lock();
        let applied = generation.load(Ordering::Acquire);
        // The generation applied again when its plugin could not be
        // activated then (its file arrived since, say): the follower's
        // periodic re-read retries it.
        let missed = row.generation == applied
            && row.active.is_some()
            && self.registry.active_name() != row.active;
        if row.generation < applied || (row.generation == applied && !missed) {
            return false;
        }
        let active_choice = Choice {
            source: row.active_source,
            since_ms: row.active_since_ms,
        };
        match &row.active {
            Some(name) if self.registry.active_name().as_deref() != Some(name.as_str()) => {
                match self.registry.activate_misconfigured(name) {
                    Ok((a, problems)) => {
                        if !problems.is_empty() {
                            tracing::warn!(plugin = %a.name, problems = ?problems,
                                "active plugin is missing configuration on this instance; messages get 503 until it is fixed");
                        }
                        tracing::info!(plugin = %a.name, generation = row.generation,
                            changed_by = %row.changed_by, "active plugin changed by the shared store");
                        state.choice = Some(active_choice);
                    }
                    Err(e) => {
                        tracing::error!(plugin = %name, generation = row.generation, error = %e,
                        "the shared store's active plugin cannot be activated on this instance; the current one keeps serving")
                    }
                }
            }
            Some(_) => state.choice = Some(active_choice),
            None => {}
        }
        if **self.fallback.load() != row.fallback || state.fallback_choice.is_none() {
            if let Err(e) = self.check_chain(&row.fallback) {
                tracing::warn!(error = %e, "the shared store's fallback chain names a plugin this instance cannot serve; it is applied all the same and that plugin is skipped per message");
            }
            self.fallback.store(Arc::new(row.fallback.clone()));
            state.fallback_choice = Some(Choice {
                source: row.fallback_source,
                since_ms: row.fallback_since_ms,
            });
        }
        generation.store(row.generation, Ordering::Release);
        crate::metrics::config_generation(row.generation);
        true
    }

    /// The active plugin with who chose it and when, read together.
    pub fn current(&self) -> (Option<Arc<Active>>, Option<Choice>) {
        let state = self.lock();
        (self.registry.active(), state.choice)
    }

    /// The fallback chain, in order (the send path reads it per message).
    pub fn fallback(&self) -> Arc<Vec<String>> {
        self.fallback.load_full()
    }

    /// Who chose the fallback chain, and when (none while it is empty and
    /// nobody set it).
    pub fn fallback_choice(&self) -> Option<Choice> {
        self.lock().fallback_choice
    }

    fn check_chain(&self, names: &[String]) -> Result<(), FallbackError> {
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(FallbackError::Duplicate(name.clone()));
            }
            self.registry
                .check_activatable(name)
                .map_err(|error| FallbackError::Refused {
                    name: name.clone(),
                    error,
                })?;
        }
        Ok(())
    }

    /// The configuration's fallback chain (at start, and on every reload):
    /// applied when it differs from the configured chain in force, replacing
    /// one set through the API. A chain with a plugin that cannot serve is
    /// not applied, and says why. Blocking only in that it takes the lock.
    pub fn configure_fallback(&self, configured: Vec<String>) {
        let mut state = self.lock();
        if state.configured_fallback == configured && state.fallback_choice.is_some() {
            return;
        }
        if self.is_shared() {
            if state.configured_fallback != configured {
                tracing::warn!(fallback = ?configured,
                    "fallback changed in the configuration file, but with a shared store the database chooses for every instance; nothing changes: use PUT /api/v1/fallback");
            }
            state.configured_fallback = configured;
            return;
        }
        state.configured_fallback = configured.clone();
        if let Err(e) = self.check_chain(&configured) {
            tracing::warn!(error = %e, "the configured fallback chain is not applied; the current one stays");
            return;
        }
        if !configured.is_empty() || !self.fallback.load().is_empty() {
            tracing::info!(fallback = ?configured, "fallback chain set by the configuration");
        }
        state.fallback_choice = Some(Choice {
            source: Source::Configuration,
            since_ms: time::now_ms(),
        });
        self.fallback.store(Arc::new(configured));
    }

    /// An API change of the fallback chain, with the checks an activation
    /// has (each plugin known, loaded and configured). It holds until the
    /// next API change or the next change of the configured chain.
    pub fn swap_fallback(&self, names: Vec<String>) -> Result<Choice, FallbackError> {
        let mut state = self.lock();
        self.check_chain(&names)?;
        let choice = Choice {
            source: Source::Api,
            since_ms: time::now_ms(),
        };
        tracing::info!(fallback = ?names, "fallback chain changed through the API");
        state.fallback_choice = Some(choice);
        self.fallback.store(Arc::new(names));
        Ok(choice)
    }

    /// The registry this controls.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }
}
