//! The real plugin libraries, built by cargo on first use.
//!
//! `cargo test` builds test targets, not the `cdylib` files the host loads, so
//! the harness asks cargo for them once per crate and process; cargo's own lock
//! serializes concurrent test binaries, and a fresh crate costs a no-op build.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

static BUILT: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives inside the workspace")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Builds the package (e.g. `phonehook-plugin-twilio`, `fixture-misbehaving`)
/// and returns the path of its shared library.
pub fn library(package: &str) -> PathBuf {
    build(package);
    target_dir()
        .join("debug")
        .join(format!("lib{}.so", package.replace('-', "_")))
}

/// Builds the `phonehook` binary and returns its path.
pub fn host_binary() -> PathBuf {
    build("phonehook");
    target_dir().join("debug").join("phonehook")
}

/// Builds packages with the release profile (for benchmarks) and returns the
/// release directory.
pub fn release(packages: &[&str]) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--quiet"])
        .current_dir(workspace_root());
    for p in packages {
        cmd.args(["-p", p]);
    }
    let out = cmd.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "release build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target_dir().join("release")
}

fn build(package: &str) {
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    let built = built.get_or_insert_with(HashSet::new);
    if built.contains(package) {
        return;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["build", "--quiet", "-p", package])
        .current_dir(workspace_root())
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "building {package} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    built.insert(package.to_owned());
}
