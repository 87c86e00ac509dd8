//! Replays every input kept under `fuzz/regressions/{hook_payload,e164}/`
//! through the checks the host's fuzz targets run (`fuzz/src/host_checks.rs`,
//! included here so both run the same code), so an input that once broke the
//! host stays checked by `cargo test` without libFuzzer. Each plugin's own
//! tests replay its `reply_<plugin>` inputs the same way.

#[path = "../../fuzz/src/host_checks.rs"]
mod host_checks;

use std::path::PathBuf;

/// Runs `check` on every input kept for `target`; names each that fails.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no inputs kept for {target}");
    let failed: Vec<String> = inputs
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).unwrap_or_default();
            std::panic::catch_unwind(|| check(&data)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{target}: kept inputs that fail again: {failed:?}"
    );
}

#[test]
fn kept_hook_payloads_still_pass() {
    replay("hook_payload", host_checks::hook_payload);
}

#[test]
fn kept_numbers_still_pass() {
    replay("e164", host_checks::e164);
}
