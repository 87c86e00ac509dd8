//! What identifies a plugin file without reading it: its canonical path and a
//! stamp of its metadata.
//!
//! Reading a plugin file costs megabytes; the watcher may be told about a file
//! many times without its content changing (an `chmod`, a `touch`, a copy of the
//! same build). So the registry reads a file only when its stamp differs from
//! the one it saw last, and hashes what it reads (an unchanged hash is no
//! reload).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The metadata that changes whenever the content can have changed: a new
/// inode (rename, remove-then-link), a new size, a new modification time; the
/// change time and mode catch `chmod` and `chown`, which can make a refused
/// file acceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    mode: u32,
}

impl FileStamp {
    /// The stamp of the file at `path` now.
    pub fn of(path: &Path) -> std::io::Result<FileStamp> {
        let m = std::fs::metadata(path)?;
        let ns = |secs: i64, nsecs: i64| i128::from(secs) * 1_000_000_000 + i128::from(nsecs);
        Ok(FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
            mode: m.mode(),
        })
    }
}

/// `path` with its directory canonicalized (symbolic links and `.`/`..`
/// resolved, made absolute), so that `plugins/x.so`, `./plugins/x.so` and
/// `/srv/plugins/x.so` name one file. The file name itself is kept: a plugin
/// file that is a symbolic link is known by the name in the plugin directory.
/// Falls back to `path` as given when the directory cannot be resolved.
pub fn canonical_file(path: &Path) -> PathBuf {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return path.to_path_buf();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::canonicalize(dir)
        .map(|d| d.join(name))
        .unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_has_one_canonical_name() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let sub = dir.path().join("plugins");
        std::fs::create_dir(&sub)?;
        let want = std::fs::canonicalize(&sub)?.join("libx.so");
        for spelled in [
            sub.join("libx.so"),
            sub.join(".").join("libx.so"),
            sub.join("..").join("plugins").join("libx.so"),
        ] {
            assert_eq!(canonical_file(&spelled), want, "{}", spelled.display());
        }
        Ok(())
    }

    #[test]
    fn a_rewrite_changes_the_stamp_and_a_read_does_not() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("libx.so");
        std::fs::write(&file, b"one")?;
        let first = FileStamp::of(&file)?;
        let _ = std::fs::read(&file)?;
        assert_eq!(FileStamp::of(&file)?, first);
        std::fs::write(&file, b"three")?;
        assert_ne!(FileStamp::of(&file)?, first);
        Ok(())
    }
}
