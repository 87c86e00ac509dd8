//! Watching the plugin directory and the configuration file.
//!
//! The directory is watched, not the files: files arrive by `cp` over the old
//! one, by a temporary file renamed into place, by `install`, or by cargo's
//! remove-then-hard-link, and each produces a different burst of events. So the
//! watcher ignores what the events say and, once a path has been quiet for the
//! debounce window, looks at the file itself: gone means removed; present means
//! wait until its modification time is `settle_ms` old, then load it through
//! the same [`Registry::load_path`] as start-up (an unchanged stamp or hash is
//! no reload, a half-written file fails the ELF check and is retried when the
//! writer's next events arrive).
//!
//! **Architecture Invariant:** only events that can mean new content count:
//! create, modify (data, metadata, rename) and remove. inotify also reports
//! opening, reading and closing a file; the host's own reads of the files it
//! watches would otherwise wake it again, for ever. And a changed
//! configuration file is applied only when its bytes differ from the last
//! ones read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use notify_debouncer_full::notify::{self, EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, new_debouncer_opt, DebounceEventResult, NoCache};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{Config, WatchConfig};
use crate::control::Control;
use crate::plugins::{canonical_file, file_label, LoadOutcome, PluginFile, Registry};

/// Why watching could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {path}: {source}")]
pub struct WatchError {
    path: PathBuf,
    source: notify::Error,
}

/// A running watcher; dropping it stops watching.
pub struct Watcher {
    _debouncer: std::sync::Mutex<Box<dyn std::any::Any + Send>>,
    task: JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What changed, as the loop below sees it.
struct Targets {
    plugin_dir: PathBuf,
    config_file: Option<PathBuf>,
}

impl Targets {
    fn dirs(&self) -> BTreeSet<PathBuf> {
        let mut dirs = BTreeSet::from([self.plugin_dir.clone()]);
        if let Some(dir) = self.config_file.as_deref().and_then(Path::parent) {
            dirs.insert(dir.to_path_buf());
        }
        dirs
    }
}

/// Whether an event can mean that a file's content or presence changed.
/// Access events (open, read, close) cannot: the host's own reads cause them.
fn may_change_content(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
    )
}

/// Starts watching the plugin directory (and the configuration file, when the
/// configuration came from one).
pub fn start(control: Arc<Control>, config: &Config) -> Result<Watcher, WatchError> {
    let cfg = config.watch.clone();
    let plugin_dir =
        std::fs::canonicalize(&config.plugin_dir).unwrap_or_else(|_| config.plugin_dir.clone());
    // Resolved here, so that a bare file name (`--config phonehook.toml`) has a
    // directory to watch and matches the absolute paths events carry.
    let config_file = config.source.as_deref().map(canonical_file);
    let targets = Targets {
        plugin_dir,
        config_file: config_file.clone(),
    };
    let config_watch = ConfigWatch {
        last: config_file.as_deref().and_then(|f| std::fs::read(f).ok()),
        running: Config {
            source: config_file.clone(),
            ..config.clone()
        },
    };
    let (tx, rx) = mpsc::unbounded_channel::<Vec<PathBuf>>();
    let handler = move |result: DebounceEventResult| match result {
        Ok(events) => {
            let paths: Vec<PathBuf> = events
                .into_iter()
                .filter(|e| may_change_content(&e.event.kind))
                .flat_map(|e| e.event.paths)
                .collect();
            if !paths.is_empty() {
                let _ = tx.send(paths);
            }
        }
        Err(errors) => {
            for e in errors {
                tracing::warn!(error = %e, "file watch error");
            }
        }
    };
    let debounce = Duration::from_millis(cfg.debounce_ms.max(10));
    let debouncer = watch_dirs(&targets.dirs(), debounce, &cfg, handler)?;
    let task = tokio::spawn(run(
        rx,
        control,
        targets,
        config_watch,
        Duration::from_millis(cfg.settle_ms),
    ));
    Ok(Watcher {
        _debouncer: std::sync::Mutex::new(debouncer),
        task,
    })
}

fn watch_dirs(
    dirs: &BTreeSet<PathBuf>,
    debounce: Duration,
    cfg: &WatchConfig,
    handler: impl notify_debouncer_full::DebounceEventHandler,
) -> Result<Box<dyn std::any::Any + Send>, WatchError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WatchError { path, source }
    };
    let first = dirs.iter().next().cloned().unwrap_or_default();
    if cfg.poll_interval_ms > 0 {
        let notify_cfg = notify::Config::default()
            .with_poll_interval(Duration::from_millis(cfg.poll_interval_ms))
            .with_compare_contents(false);
        let mut d = new_debouncer_opt::<_, notify::PollWatcher, NoCache>(
            debounce, None, handler, NoCache, notify_cfg,
        )
        .map_err(err(&first))?;
        for dir in dirs {
            d.watch(dir, RecursiveMode::NonRecursive)
                .map_err(err(dir))?;
        }
        Ok(Box::new(d))
    } else {
        let mut d = new_debouncer(debounce, None, handler).map_err(err(&first))?;
        for dir in dirs {
            d.watch(dir, RecursiveMode::NonRecursive)
                .map_err(err(dir))?;
        }
        Ok(Box::new(d))
    }
}

async fn run(
    mut rx: mpsc::UnboundedReceiver<Vec<PathBuf>>,
    control: Arc<Control>,
    targets: Targets,
    config_watch: ConfigWatch,
    settle: Duration,
) {
    let config_watch = Arc::new(std::sync::Mutex::new(config_watch));
    while let Some(first) = rx.recv().await {
        let mut paths: BTreeSet<PathBuf> = first.into_iter().collect();
        while let Ok(more) = rx.try_recv() {
            paths.extend(more);
        }
        let config_changed = targets
            .config_file
            .as_ref()
            .is_some_and(|c| paths.contains(c));
        let plugin_paths: Vec<PathBuf> = paths
            .into_iter()
            .filter(|p| {
                p.parent() == Some(targets.plugin_dir.as_path()) && PluginFile::is_candidate(p)
            })
            .collect();
        for path in plugin_paths {
            let registry = control.registry().clone();
            let _ = tokio::task::spawn_blocking(move || settle_and_load(&registry, &path, settle))
                .await;
        }
        if let (true, Some(file)) = (config_changed, targets.config_file.clone()) {
            let (control, config_watch) = (control.clone(), config_watch.clone());
            let _ = tokio::task::spawn_blocking(move || {
                let mut watch = config_watch.lock().unwrap_or_else(|p| p.into_inner());
                watch.apply_if_changed(&control, &file);
            })
            .await;
        }
    }
}

/// Waits until the file has not been modified for `settle`, then loads it.
fn settle_and_load(registry: &Registry, path: &Path, settle: Duration) {
    // A writer that stalls longer than this is treated as finished; the ELF
    // check then refuses the file if it really is incomplete.
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let Ok(meta) = std::fs::metadata(path) else {
            registry.file_removed(path);
            return;
        };
        let age = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or(settle);
        if age >= settle || std::time::Instant::now() >= give_up {
            break;
        }
        std::thread::sleep(settle - age);
    }
    match registry.load_path(path) {
        // The registry logs what it loaded.
        Ok(LoadOutcome::Loaded { name, .. }) => crate::metrics::plugin_reload(&name, true),
        Ok(LoadOutcome::Unchanged | LoadOutcome::StillRefused) => {}
        Err(e) => {
            crate::metrics::plugin_reload(&file_label(path), false);
            tracing::warn!(file = %path.display(), code = e.code(), error = %e,
                "plugin file refused; the loaded version keeps serving");
        }
    }
}

/// The configuration file's last content, and the configuration running now.
struct ConfigWatch {
    /// The bytes last read (none when the file could not be read).
    last: Option<Vec<u8>>,
    /// Its command-line overrides apply to every reload.
    running: Config,
}

impl ConfigWatch {
    /// Applies the file when its bytes changed: plugin settings and secrets,
    /// and the configured active plugin (see [`Control::configuration_reloaded`]).
    fn apply_if_changed(&mut self, control: &Control, file: &Path) {
        let bytes = std::fs::read(file).ok();
        if bytes == self.last {
            tracing::debug!(file = %file.display(), "configuration file unchanged; nothing to apply");
            return;
        }
        self.last = bytes;
        let config = match self.running.reload() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "configuration change ignored");
                return;
            }
        };
        control.registry().set_configs(config.plugins.clone());
        crate::server::warn_unknown_plugin_tables(control.registry(), &config.plugins);
        control.configuration_reloaded(config.active_plugin.clone());
        control.configure_fallback(config.fallback.clone());
        crate::metrics::config_reloaded();
        tracing::info!(file = %file.display(), "configuration reloaded");
        self.running = config;
    }
}
