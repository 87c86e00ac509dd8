//! What the plugin ABI costs per message: the twilio plugin's prepare +
//! interpret called through the loaded `.so` (the host's real path: extern
//! calls, then copying every result into host-owned memory) versus the same
//! code linked statically and called directly. Both are release builds.
//!
//! Run: `cargo bench -p phonehook-e2e --bench abi_cost`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use phonehook::plugins::{Generation, OwnedStep, PluginFile, Staging};
use phonehook_plugin_api::__private as glue;
use phonehook_plugin_api::{Call, Config, HttpReply, Message, Pair, Step};
use phonehook_plugin_twilio::Twilio;

const ROUNDS: usize = 7;
const CALLS: usize = 200_000;

fn settings() -> (Vec<Pair>, Vec<Pair>) {
    (
        vec![Pair::new("base_url", "http://127.0.0.1:9")],
        vec![
            Pair::new("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
            Pair::new("TWILIO_AUTH_TOKEN", "token"),
            Pair::new("TWILIO_PHONE_NUMBER", "+15005550006"),
        ],
    )
}

fn per_call(mut f: impl FnMut()) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..CALLS {
            f();
        }
        best = best.min(t.elapsed() / CALLS as u32);
    }
    best
}

/// Builds the twilio `.so` in release mode. Deliberately not through the
/// harness library: that links the sns plugin's rlib, and two plugin rlibs in
/// one binary would both define the exported root-module symbol.
fn release_twilio() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "phonehook-plugin-twilio",
        ])
        .current_dir(&root)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "release build of the twilio plugin");
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("release")
}

fn main() {
    let release = release_twilio();
    let staging = Staging::new(None).expect("staging");
    let file = PluginFile::read(&release.join("libphonehook_plugin_twilio.so")).expect("read");
    let generation = Generation::load(&file, &staging).expect("loads");

    let (set, sec) = settings();
    let message = Message::new("+14155552671", "Your code is 123456");
    let call = Call {
        message: &message,
        config: Config::new(&set, &sec),
        now_unix_ms: 1_704_067_200_000,
        random: [7; 32],
        host_url: "http://127.0.0.1:8080".into(),
    };
    let body =
        br#"{"sid":"SM00000000000000000000000000000001","status":"queued","num_segments":"1"}"#;
    let headers = [Pair::new("content-type", "application/json")];
    let reply = HttpReply::new(201, &headers, body);

    // Both paths must agree before timing them.
    let OwnedStep::Send(_) = generation.prepare(&call) else {
        panic!("so: prepare")
    };
    let Step::Send(_) = glue::prepare::<Twilio>(&call) else {
        panic!("static: prepare")
    };
    let OwnedStep::Delivered { .. } = generation.interpret(&call, &reply) else {
        panic!("so: interpret")
    };
    let Step::Delivered(_) = glue::interpret::<Twilio>(&call, &reply) else {
        panic!("static: interpret")
    };

    let through_so = per_call(|| {
        black_box(generation.prepare(black_box(&call)));
        black_box(generation.interpret(black_box(&call), black_box(&reply)));
    });
    let statically = per_call(|| {
        black_box(glue::prepare::<Twilio>(black_box(&call)));
        black_box(glue::interpret::<Twilio>(
            black_box(&call),
            black_box(&reply),
        ));
    });
    let added = through_so.as_nanos() as f64 - statically.as_nanos() as f64;
    println!("twilio prepare + interpret, best of {ROUNDS} rounds of {CALLS} calls");
    println!(
        "  through the loaded .so: {:>8} ns per message",
        through_so.as_nanos()
    );
    println!(
        "  linked statically:      {:>8} ns per message",
        statically.as_nanos()
    );
    println!(
        "  ABI adds:               {added:>8.0} ns per message (ratio {:.3})",
        through_so.as_nanos() as f64 / statically.as_nanos() as f64
    );
}
