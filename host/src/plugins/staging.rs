//! The private directory of loaded copies.
//!
//! The host never maps a watched file: the loader maps it `MAP_PRIVATE`, so a
//! `cp` over it would change code under the running host and truncating it
//! would raise SIGBUS; and glibc's `dlopen` of a path (or inode) already loaded
//! returns the old image. Every load therefore gets a fresh copy at a fresh path.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::sys;

/// The staging directory.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    remove_on_drop: bool,
    counter: AtomicU64,
}

impl Staging {
    /// Uses `configured`, or creates a fresh private directory under the system
    /// temporary directory (removed again when the host stops).
    pub fn new(configured: Option<&Path>) -> std::io::Result<Staging> {
        let (dir, remove_on_drop) = match configured {
            Some(dir) => (dir.to_path_buf(), false),
            None => {
                let base = std::env::temp_dir().join(format!("phonehook-{}", sys::current_uid()));
                let unique = format!("{}-{:08x}", std::process::id(), rand::random::<u32>());
                (base.join(unique), true)
            }
        };
        DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
        Ok(Staging {
            dir,
            remove_on_drop,
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
        if self.remove_on_drop {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
