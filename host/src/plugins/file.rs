//! Reading a plugin file: a size cap, the ELF magic, and the SHA-256 that
//! identifies a build (an unchanged hash is no reload).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Larger files are refused outright: no plugin is this big, and reading it
/// whole would be an easy way to exhaust memory.
const MAX_PLUGIN_BYTES: u64 = 256 * 1024 * 1024;

/// Why a plugin file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be read.
    #[error("cannot read the file: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Over the size cap.
    #[error("the file is {size} bytes; plugins over {MAX_PLUGIN_BYTES} bytes are refused")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// Not a complete ELF shared object for this machine.
    #[error("{reason}")]
    NotElf {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: super::elf::ElfError,
    },
}

/// A plugin file's bytes and identity.
pub struct PluginFile {
    /// Where it was read from (the watched path, never loaded directly).
    pub path: PathBuf,
    /// Its content.
    pub bytes: Vec<u8>,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
}

impl PluginFile {
    /// Reads and fingerprints a plugin file.
    pub fn read(path: &Path) -> Result<PluginFile, FileError> {
        let read_err = |source| FileError::Read {
            path: path.to_path_buf(),
            source,
        };
        let size = std::fs::metadata(path).map_err(read_err)?.len();
        if size > MAX_PLUGIN_BYTES {
            return Err(FileError::TooLarge {
                path: path.to_path_buf(),
                size,
            });
        }
        let bytes = std::fs::read(path).map_err(read_err)?;
        super::elf::check(&bytes).map_err(|reason| FileError::NotElf {
            path: path.to_path_buf(),
            reason,
        })?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Ok(PluginFile {
            path: path.to_path_buf(),
            bytes,
            sha256,
        })
    }

    /// Whether a directory entry looks like a plugin library.
    pub fn is_candidate(path: &Path) -> bool {
        path.extension().is_some_and(|e| e == "so")
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.'))
    }
}
