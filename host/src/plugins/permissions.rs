//! A plugin is code that runs inside the host: refuse to load one that another
//! user could have written, and say why.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::sys;

/// Why a path is not trusted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PermissionError {
    /// Group or others may write it.
    #[error("{path} is writable by other users (mode {mode:04o}); a plugin is code that runs inside phonehook, so run `chmod go-w {path}`")]
    WorldWritable {
        /// The path.
        path: String,
        /// Its mode bits.
        mode: u32,
    },
    /// Owned by someone else than this user or root.
    #[error("{path} is owned by uid {owner}, not by this user (uid {me}) or root; a plugin is code that runs inside phonehook")]
    ForeignOwner {
        /// The path.
        path: String,
        /// Its owner.
        owner: u32,
        /// This process's user.
        me: u32,
    },
    /// Could not be inspected.
    #[error("cannot inspect {path}: {error}")]
    Unreadable {
        /// The path.
        path: String,
        /// Why.
        error: String,
    },
}

/// Checks that only this user (or root) can write `path`.
pub fn check_trusted(path: &Path) -> Result<(), PermissionError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| PermissionError::Unreadable {
        path: shown.clone(),
        error: e.to_string(),
    })?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(PermissionError::WorldWritable { path: shown, mode });
    }
    let me = sys::current_uid();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(PermissionError::ForeignOwner {
            path: shown,
            owner: meta.uid(),
            me,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn group_or_world_writable_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let set = |mode| {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode))
                .expect("chmod")
        };
        set(0o700);
        assert_eq!(check_trusted(dir.path()), Ok(()));
        set(0o777);
        let err = check_trusted(dir.path()).expect_err("refused");
        assert!(
            err.to_string()
                .contains("writable by other users (mode 0777)"),
            "{err}"
        );
        set(0o720);
        assert!(check_trusted(dir.path()).is_err());
        set(0o700);
    }
}
