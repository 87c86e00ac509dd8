//! The ways a new plugin build lands in a watched directory, as real tools do
//! it; each produces a different burst of file events.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// How a file arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// `cp new dst`: the old inode is truncated and rewritten in place.
    CopyOver,
    /// Write `dst.tmp`, then `mv dst.tmp dst` (atomic rename).
    RenameIntoPlace,
    /// `install -m 0755 new dst`: unlink, create, write.
    Install,
    /// cargo's way: remove `dst`, then hard-link the new build at `dst`.
    RemoveThenHardLink,
}

impl Arrival {
    /// All four, in a fixed order.
    pub const ALL: [Arrival; 4] = [
        Arrival::CopyOver,
        Arrival::RenameIntoPlace,
        Arrival::Install,
        Arrival::RemoveThenHardLink,
    ];

    /// Puts `src` at `dst`. `scratch` is a directory on the same file system
    /// as `dst` (for the hard link's source) and outside the watched one.
    pub fn deliver(self, src: &Path, dst: &Path, scratch: &Path) {
        let run = |cmd: &mut Command| {
            let out = cmd.output().expect("tool runs");
            assert!(
                out.status.success(),
                "{cmd:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        match self {
            Arrival::CopyOver => run(Command::new("cp").arg(src).arg(dst)),
            Arrival::RenameIntoPlace => {
                let tmp = dst.with_extension("so.tmp");
                std::fs::copy(src, &tmp).expect("write tmp");
                run(Command::new("mv").arg(&tmp).arg(dst));
            }
            Arrival::Install => run(Command::new("install")
                .args(["-m", "0755"])
                .arg(src)
                .arg(dst)),
            Arrival::RemoveThenHardLink => {
                let staged = scratch.join(format!("hardlink-{}.so", rand_suffix()));
                std::fs::copy(src, &staged).expect("stage for link");
                let _ = std::fs::remove_file(dst);
                std::fs::hard_link(&staged, dst).expect("hard link");
                std::fs::remove_file(&staged).expect("drop the extra link");
            }
        }
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// Writes `src` over `dst` slowly, in chunks, as a slow copy or upload would.
pub fn write_slowly(src: &Path, dst: &Path, chunks: usize, pause: Duration) {
    let bytes = std::fs::read(src).expect("read");
    let mut file = std::fs::File::create(dst).expect("create");
    let size = bytes.len().div_ceil(chunks.max(1));
    for chunk in bytes.chunks(size) {
        file.write_all(chunk).expect("write");
        file.flush().expect("flush");
        std::thread::sleep(pause);
    }
}

/// Lower-case hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("read");
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
