//! The real plugin libraries, built by cargo on first use.
//!
//! `cargo test` builds test targets, not the `cdylib` files the host loads, so
//! the harness asks cargo for them once per crate and process; cargo's own lock
//! serializes concurrent test binaries, and a fresh crate costs a no-op build.
//!
//! The test fixtures (`fixture-*`, plugins broken on purpose) are cargo
//! *examples*, so their libraries land in `target/<profile>/examples/` and
//! never in `target/debug`, the directory the README's quick start serves.

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

/// The target directory (`CARGO_TARGET_DIR`, else `target/` in the workspace).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// A test fixture's example target: named like its package, with `_`.
fn fixture_example(package: &str) -> Option<String> {
    package
        .starts_with("fixture-")
        .then(|| package.replace('-', "_"))
}

/// Where `profile`'s build of the package's shared library is.
fn library_in(profile: &str, package: &str) -> PathBuf {
    let dir = target_dir().join(profile);
    let file = format!("lib{}.so", package.replace('-', "_"));
    match fixture_example(package) {
        Some(_) => dir.join("examples").join(file),
        None => dir.join(file),
    }
}

/// Builds the package (e.g. `phonehook-plugin-twilio`, `fixture-misbehaving`)
/// and returns the path of its shared library.
pub fn library(package: &str) -> PathBuf {
    build(package);
    library_in("debug", package)
}

/// The release build of a package's shared library (after [`release`]).
pub fn release_library(package: &str) -> PathBuf {
    library_in("release", package)
}

/// The `phonehook` command: this package's `phonehook-under-test` binary,
/// built from the host's `main.rs`. Cargo builds a package's binaries before
/// its integration tests, into the directory above theirs (`deps/`).
pub fn host_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("phonehook-under-test"))
        .expect("the test binary is in target/<profile>/deps");
    assert!(
        bin.is_file(),
        "{} is missing: run the tests through `cargo test`, which builds it",
        bin.display()
    );
    bin
}

/// Builds packages with the release profile (for benchmarks) and returns the
/// release directory.
pub fn release(packages: &[&str]) -> PathBuf {
    // Naming an example selects only that target, so fixtures get a build
    // of their own.
    let (fixtures, others): (Vec<&str>, Vec<&str>) =
        packages.iter().partition(|p| fixture_example(p).is_some());
    for group in [others, fixtures] {
        if group.is_empty() {
            continue;
        }
        let mut args = vec!["build".to_owned(), "--release".to_owned()];
        for p in group {
            args.extend(cargo_target(p));
        }
        cargo(&args);
    }
    target_dir().join("release")
}

/// `-p package`, plus `--example name` for a fixture.
fn cargo_target(package: &str) -> Vec<String> {
    let mut args = vec!["-p".to_owned(), package.to_owned()];
    if let Some(example) = fixture_example(package) {
        args.extend(["--example".to_owned(), example]);
    }
    args
}

fn cargo(args: &[String]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(args)
        .arg("--quiet")
        .current_dir(workspace_root())
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn build(package: &str) {
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    let built = built.get_or_insert_with(HashSet::new);
    if built.contains(package) {
        return;
    }
    let mut args = vec!["build".to_owned()];
    args.extend(cargo_target(package));
    cargo(&args);
    built.insert(package.to_owned());
}
