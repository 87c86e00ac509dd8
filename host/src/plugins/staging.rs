//! The private directory of loaded copies.
//!
//! The host never maps a watched file: the loader maps it `MAP_PRIVATE`, so a
//! `cp` over it would change code under the running host and truncating it
//! would raise SIGBUS; and glibc's `dlopen` of a path (or inode) already loaded
//! returns the old image. Every load therefore gets a fresh copy at a fresh path.
//!
//! Each process stages into a directory of its own inside the base (the
//! configured `staging_dir`, or `phonehook-UID` under the system temporary
//! directory), next to a lock file it holds for as long as it runs. A host
//! that stops cleanly removes both; one that was killed (SIGKILL, the OOM
//! killer, a power cut) leaves them, its lock released by the kernel, and the
//! next host to start in the same base removes them. Without this, copies of
//! every plugin pile up in `/tmp` after each crash, and a restart that reuses
//! a configured directory collides with the files the dead process left.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::sys;

/// The suffix of the lock file held next to each process's directory.
const LOCK: &str = ".lock";

/// A lock file being created: locked under this name first, then renamed, so
/// no other host ever sees an unlocked lock file of a live process.
const LOCK_NEW: &str = ".lock.new";

/// The staging directory (or its lock) could not be created.
#[derive(Debug, thiserror::Error)]
#[error("cannot create the staging directory {}: {source}", dir.display())]
pub struct StagingError {
    dir: PathBuf,
    source: std::io::Error,
}

/// The staging directory of this process.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    lock_path: PathBuf,
    /// Held (flock) for the life of the value: other hosts read a lock they
    /// can take as "its owner is gone".
    _lock: File,
    counter: AtomicU64,
}

impl Staging {
    /// Creates this process's directory inside `configured`, or inside a
    /// private directory under the system temporary directory, after
    /// removing the ones hosts that did not stop cleanly left there.
    pub fn new(configured: Option<&Path>) -> Result<Staging, StagingError> {
        let base = match configured {
            Some(dir) => dir.to_path_buf(),
            None => std::env::temp_dir().join(format!("phonehook-{}", sys::current_uid())),
        };
        Staging::create(&base).map_err(|source| StagingError { dir: base, source })
    }

    fn create(base: &Path) -> std::io::Result<Staging> {
        DirBuilder::new().recursive(true).mode(0o700).create(base)?;
        let swept = sweep(base);
        if swept > 0 {
            tracing::info!(dir = %base.display(), swept,
                "removed staged plugin copies left by hosts that did not stop cleanly");
        }
        let unique = format!("{}-{:08x}", std::process::id(), rand::random::<u32>());
        let lock_path = base.join(format!("{unique}{LOCK}"));
        let lock = take_lock(&base.join(format!("{unique}{LOCK_NEW}")), &lock_path)?;
        let dir = base.join(&unique);
        if let Err(e) = DirBuilder::new().mode(0o700).create(&dir) {
            let _ = std::fs::remove_file(&lock_path);
            return Err(e);
        }
        Ok(Staging {
            dir,
            lock_path,
            _lock: lock,
            counter: AtomicU64::new(0),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `bytes` to a new private file named after `stem`.
    pub fn stage(&self, stem: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let safe: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = self.dir.join(format!("{safe}-{n}.so"));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o700)
            .open(&path)?;
        file.write_all(bytes)?;
        Ok(path)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // The directory goes first: a lock file without its directory is
        // what a sweep ignores, a directory without its lock it never sees.
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

/// Creates `tmp`, locks it, and renames it to `path`.
fn take_lock(tmp: &Path, path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)?;
    match sys::try_lock(&file) {
        Ok(true) => {}
        Ok(false) => {
            let _ = std::fs::remove_file(tmp);
            return Err(std::io::Error::other("a fresh lock file is already locked"));
        }
        // A filesystem without flock (some network mounts): serve anyway.
        // Other hosts cannot take this lock either, so they leave this
        // directory alone; only the sweep after a crash is lost.
        Err(e) => tracing::warn!(dir = %tmp.parent().unwrap_or(tmp).display(), error = %e,
            "cannot lock the staging directory; copies left by a crash of this host will not be removed"),
    }
    if let Err(e) = std::fs::rename(tmp, path) {
        let _ = std::fs::remove_file(tmp);
        return Err(e);
    }
    Ok(file)
}

/// Removes the directories in `base` whose lock no process holds (and the
/// half-made lock files of hosts killed while starting); how many.
///
/// Best effort: a host that cannot clean up after another one still starts.
fn sweep(base: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(base) else {
        return 0;
    };
    let mut swept = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let stem = match name.strip_suffix(LOCK) {
            Some(stem) => stem,
            None if name.ends_with(LOCK_NEW) => {
                if unlocked(&entry.path()).is_some() {
                    let _ = std::fs::remove_file(entry.path());
                }
                continue;
            }
            None => continue,
        };
        // Held while removing, so two hosts starting together do not both
        // think they own the leftovers (the second finds the lock taken, or
        // the file gone).
        let Some(_held) = unlocked(&entry.path()) else {
            continue;
        };
        let dir = base.join(stem);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => swept += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e,
                    "cannot remove a stale staging directory");
                continue;
            }
        }
        let _ = std::fs::remove_file(entry.path());
    }
    swept
}

/// The lock at `path`, when no process holds it.
fn unlocked(path: &Path) -> Option<File> {
    let file = File::open(path).ok()?;
    sys::try_lock(&file).ok()?.then_some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn two_hosts_in_one_base_stage_the_same_name_apart() {
        let base = tempfile::tempdir().expect("dir");
        let a = Staging::new(Some(base.path())).expect("a");
        let b = Staging::new(Some(base.path())).expect("b");
        let first = a.stage("libsandbox", b"a").expect("a stages");
        let second = b.stage("libsandbox", b"b").expect("b stages");
        assert_ne!(first, second);
        assert_eq!(std::fs::read(&first).expect("read"), b"a");
        // Neither sweeps the other's directory while both run.
        let c = Staging::new(Some(base.path())).expect("c");
        assert!(first.exists() && second.exists());
        drop((a, b, c));
        assert!(
            entries(base.path()).is_empty(),
            "{:?}",
            entries(base.path())
        );
    }

    #[test]
    fn a_base_that_cannot_be_a_directory_is_named_in_the_error() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"").expect("file");
        let error = Staging::new(Some(&file)).expect_err("a file is no directory");
        let text = error.to_string();
        assert!(
            text.contains(&*file.to_string_lossy()) && text.contains("exists"),
            "{text}"
        );
    }

    #[test]
    fn a_start_removes_what_a_killed_host_left_and_nothing_else() {
        let base = tempfile::tempdir().expect("dir");
        // What a host killed after staging leaves: its directory, a copy in
        // it, and a lock file nobody holds any more.
        std::fs::create_dir(base.path().join("4242-0000beef")).expect("dir");
        std::fs::write(base.path().join("4242-0000beef/libsandbox-0.so"), b"x").expect("copy");
        std::fs::write(base.path().join("4242-0000beef.lock"), b"").expect("lock");
        // And one killed between creating its lock file and renaming it.
        std::fs::write(base.path().join("4343-0000cafe.lock.new"), b"").expect("lock");
        // Someone else's file in a configured directory stays.
        std::fs::write(base.path().join("notes.txt"), b"mine").expect("other");
        // A live host's lock, held through another open file.
        let live = Staging::new(Some(base.path())).expect("live");
        let live_copy = live.stage("libsandbox", b"live").expect("stages");

        let fresh = Staging::new(Some(base.path())).expect("fresh");
        let left = entries(base.path());
        assert!(
            !left
                .iter()
                .any(|n| n.starts_with("4242-") || n.starts_with("4343-")),
            "{left:?}"
        );
        assert!(left.contains(&"notes.txt".to_owned()), "{left:?}");
        assert!(live_copy.exists(), "the live host's copy is kept");
        assert!(fresh.dir().is_dir());
        drop((live, fresh));
        assert_eq!(entries(base.path()), ["notes.txt"]);
    }
}
