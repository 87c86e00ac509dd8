//! Replays every input kept under `fuzz/regressions/{hook_payload,e164}/`
//! through the checks the host's fuzz targets run (`fuzz/src/host_checks.rs`,
//! included here so both run the same code), so an input that once broke the
//! host stays checked by `cargo test` without libFuzzer. Each plugin's own
//! tests replay its `reply_<plugin>` inputs the same way.

#[path = "../../fuzz/src/host_checks.rs"]
mod host_checks;

use phonehook_plugin_api::testing::fuzz::replay_files;

/// The directory of inputs kept for `target`.
fn kept(target: &str) -> String {
    format!(
        "{}/../fuzz/regressions/{target}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn kept_hook_payloads_still_pass() {
    replay_files(kept("hook_payload"), |_, data| {
        host_checks::hook_payload(data)
    });
}

#[test]
fn kept_numbers_still_pass() {
    replay_files(kept("e164"), |_, data| host_checks::e164(data));
}
