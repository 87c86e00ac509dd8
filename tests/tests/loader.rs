//! Broken plugin files are refused with a one-line reason, by `phonehook check`
//! and by the loader inside a running host, and the active plugin keeps
//! serving. A plugin that panics is contained.

use std::path::{Path, PathBuf};
use std::process::Command;

use phonehook_e2e::{plugins, Host};
use serde_json::{json, Value};

fn hook() -> Value {
    json!({"recipient": "+14155550100", "text": "Your code is 123456"})
}

/// Broken files, each with a fragment of the reason it must be refused for.
fn broken_files(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let text = dir.join("notes.so");
    std::fs::write(&text, "this is not a library\n").expect("write");
    let sandbox = std::fs::read(plugins::library("phonehook-plugin-sandbox")).expect("sandbox");
    let truncated = dir.join("truncated.so");
    std::fs::write(&truncated, &sandbox[..sandbox.len() / 3]).expect("write");
    let nosymbol = dir.join("libfixture_nosymbol.so");
    std::fs::copy(plugins::library("fixture-nosymbol"), &nosymbol).expect("copy");
    let drift = dir.join("libfixture_abi_drift.so");
    std::fs::copy(plugins::library("fixture-abi-drift"), &drift).expect("copy");
    vec![
        (text, "not a shared library"),
        (truncated, "truncated"),
        (nosymbol, "does not export the plugin entry symbol"),
        (drift, "incompatible plugin API"),
    ]
}

#[test]
fn check_refuses_broken_files_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = plugins::host_binary();
    for (file, reason) in broken_files(dir.path()) {
        let out = Command::new(&bin)
            .arg("check")
            .arg(&file)
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !out.status.success(),
            "{} should be refused: {stdout}",
            file.display()
        );
        assert!(stdout.contains(reason), "{}: {stdout}", file.display());
        assert_eq!(stdout.trim().lines().count(), 1, "one line: {stdout}");
    }
    let good = plugins::library("phonehook-plugin-sandbox");
    let out = Command::new(&bin)
        .arg("check")
        .arg(&good)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.starts_with("ok: sandbox"), "{stdout}");
}

#[tokio::test]
async fn broken_files_in_the_plugin_dir_do_not_stop_the_active_plugin() {
    let builder = Host::builder();
    let plugin_dir = builder.plugin_dir();
    std::fs::create_dir_all(&plugin_dir).expect("dir");
    let broken = broken_files(&plugin_dir);
    let host = builder.start().await;
    let (status, body) = host.send(hook()).await;
    assert_eq!(status, 200, "{body}");

    let statuses = host.server().state().registry.status();
    for (file, reason) in &broken {
        let entry = statuses
            .iter()
            .find(|s| Path::new(&s.file) == file)
            .unwrap_or_else(|| panic!("{} is listed", file.display()));
        assert_eq!(entry.status, "failed");
        let error = entry.last_error.clone().unwrap_or_default();
        assert!(error.contains(reason), "{}: {error}", file.display());
        assert!(!error.contains('\n'), "one line: {error}");
    }
}

#[tokio::test]
async fn a_panic_in_prepare_or_interpret_is_contained() {
    for (mode, entry) in [
        ("panic_prepare", "prepare"),
        ("panic_interpret", "interpret"),
    ] {
        let host = Host::builder()
            .plugin("fixture-misbehaving")
            .active("misbehaving")
            .setting("misbehaving", "mode", mode)
            .start()
            .await;
        for _ in 0..3 {
            let (status, body) = host.send(hook()).await;
            assert_eq!(status, 500, "{body}");
            assert_eq!(body["error"]["code"], "plugin_panic");
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains(&format!("panicked in {entry}")),
                "{message}"
            );
        }
        let (status, health) = host.admin("GET", "/healthz", None).await;
        assert_eq!(
            (status, health["active_plugin"].as_str()),
            (200, Some("misbehaving"))
        );
    }
}

#[tokio::test]
async fn contract_breaches_are_refused() {
    let cases = [
        ("empty_id", 500, "plugin_contract"),
        ("undeclared_host", 500, "plugin_egress_denied"),
    ];
    for (mode, status_want, code) in cases {
        let host = Host::builder()
            .plugin("fixture-misbehaving")
            .active("misbehaving")
            .setting("misbehaving", "mode", mode)
            .start()
            .await;
        let (status, body) = host.send(hook()).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (status_want, Some(code)),
            "{mode}: {body}"
        );
    }
}

#[tokio::test]
async fn two_plugins_of_the_same_interface_keep_their_own_names() {
    let host = Host::builder().plugin("fixture-misbehaving").start().await;
    let mut names: Vec<String> = host
        .server()
        .state()
        .registry
        .status()
        .into_iter()
        .filter_map(|s| s.info.map(|i| i.name))
        .collect();
    names.sort();
    assert_eq!(names, ["misbehaving", "sandbox"]);
}

#[tokio::test]
async fn the_watched_directory_is_never_mapped() {
    let host = Host::builder().plugin("fixture-misbehaving").start().await;
    let (status, _) = host.send(hook()).await;
    assert_eq!(status, 200);
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    let dir = host.plugin_dir().to_string_lossy().into_owned();
    assert!(!maps.contains(&dir), "a watched file is mapped:\n{maps}");
    // The staged copy is what is mapped.
    let active = host.server().state().registry.active().expect("active");
    assert!(maps.contains(&*active.generation.staged_path().to_string_lossy()));
}

#[test]
fn plugins_command_lists_names_versions_and_abi_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    for pkg in [
        "phonehook-plugin-sandbox",
        "fixture-misbehaving",
        "fixture-abi-drift",
    ] {
        let lib = plugins::library(pkg);
        std::fs::copy(&lib, dir.path().join(lib.file_name().expect("name"))).expect("copy");
    }
    let out = Command::new(plugins::host_binary())
        .args(["plugins", "--plugin-dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("sandbox") && l.contains("sms,voice") && l.contains(" ok ")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("misbehaving")),
        "{stdout}"
    );
    assert!(
        stdout.contains("refused") && stdout.contains("incompatible plugin API"),
        "{stdout}"
    );
}
