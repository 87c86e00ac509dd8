//! The admin API, each group's token over a socket, and the CLI helpers that
//! call it (who is refused: `router.rs`, in-process).

use std::process::Command;

use phonehook_e2e::{plugins, Host};
use serde_json::{json, Value};

const SEND: &str = "send-token-0123456789abcdef";
const ADMIN: &str = "admin-token-0123456789abcdef";

fn hook() -> Value {
    json!({"recipient": "+14155552671", "text": "Your code is 123456"})
}

/// Over a socket, with the sandbox plugin serving, each group's own token
/// gets a success. Who is refused (no token, a wrong or blank one, another
/// group's) is the in-process matrix in `router.rs`.
#[tokio::test]
async fn every_protected_route_serves_its_own_token() {
    let host = Host::builder()
        .config("send_token", SEND)
        .config("admin_token", ADMIN)
        .start()
        .await;
    let routes: [(&str, &str, Option<Value>, &str); 8] = [
        ("GET", "/api/v1/plugins", None, ADMIN),
        ("GET", "/api/v1/active-plugin", None, ADMIN),
        (
            "PUT",
            "/api/v1/active-plugin",
            Some(json!({"name": "sandbox"})),
            ADMIN,
        ),
        ("POST", "/api/v1/plugins/sandbox/test", Some(hook()), ADMIN),
        ("GET", "/sandbox/messages", None, ADMIN),
        ("DELETE", "/sandbox/messages", None, ADMIN),
        ("POST", "/api/v1/messages", Some(hook()), SEND),
        (
            "POST",
            "/api/v1/actions/send-phone-message",
            Some(json!({"message_options": {"recipient": "+14155552671", "text": "x"}})),
            SEND,
        ),
    ];
    for (method, path, body, token) in routes {
        let (status, resp) = host.request_with(method, path, body, Some(token)).await;
        assert!(
            matches!(status, 200 | 204),
            "{method} {path} with the right token: {status} {resp}"
        );
    }
}

#[tokio::test]
async fn plugins_lists_everything_an_admin_needs_and_no_secret() {
    let host = Host::builder()
        .plugin("phonehook-plugin-twilio")
        .secret("twilio", "TWILIO_AUTH_TOKEN", "super-secret-auth-token")
        .start()
        .await;
    let (status, body) = host.admin("GET", "/api/v1/plugins", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["active"], "sandbox");
    assert!(
        !body.to_string().contains("super-secret-auth-token"),
        "a secret leaked: {body}"
    );
    let twilio = body["plugins"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "twilio"))
        .cloned()
        .expect("twilio");
    for field in [
        "name",
        "version",
        "vendor",
        "channels",
        "file",
        "sha256",
        "generation",
        "loaded_at",
        "status",
        "last_error",
        "active",
        "secrets",
        "file_present",
    ] {
        assert!(twilio.get(field).is_some(), "{field} missing: {twilio}");
    }
    assert_eq!(twilio["active"], false);
    let secrets = twilio["secrets"].as_array().expect("secrets");
    let token = secrets
        .iter()
        .find(|s| s["name"] == "TWILIO_AUTH_TOKEN")
        .expect("declared");
    assert_eq!(token["set"], true);
    assert!(token.get("value").is_none());
    let sid = secrets
        .iter()
        .find(|s| s["name"] == "TWILIO_ACCOUNT_SID")
        .expect("declared");
    assert_eq!(sid["set"], false);
}

#[tokio::test]
async fn activation_is_refused_clearly_and_succeeds_when_usable() {
    let host = Host::builder()
        .plugin("phonehook-plugin-twilio")
        .plugin("fixture-misbehaving")
        .start()
        .await;
    let put = |name: &str| json!({"name": name});

    let (status, body) = host
        .admin("PUT", "/api/v1/active-plugin", Some(put("nope")))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_plugin")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("sandbox"),
        "names what is loaded: {body}"
    );

    let (status, body) = host
        .admin("PUT", "/api/v1/active-plugin", Some(put("twilio")))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("plugin_config")),
        "{body}"
    );
    let problems = body["error"]["problems"].to_string();
    assert!(problems.contains("TWILIO_ACCOUNT_SID"), "{problems}");

    let (status, body) = host
        .admin("PUT", "/api/v1/active-plugin", Some(json!({"nom": "x"})))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_json")),
        "{body}"
    );

    // The refused activations changed nothing.
    let (status, body) = host.send(hook()).await;
    assert!(
        status == 200
            && body["MessageID"]
                .as_str()
                .is_some_and(|id| id.starts_with("sbx_")),
        "{body}"
    );

    let (status, body) = host
        .admin("PUT", "/api/v1/active-plugin", Some(put("misbehaving")))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["active"].as_str(), body["previous"].as_str()),
        (Some("misbehaving"), Some("sandbox"))
    );
    let (_, active) = host.admin("GET", "/api/v1/active-plugin", None).await;
    assert_eq!(active["name"], "misbehaving");
}

#[tokio::test]
async fn the_runner_sends_through_a_plugin_that_is_not_active() {
    let host = Host::builder()
        .plugin("fixture-echo-v1")
        .active("sandbox")
        .start()
        .await;
    let (status, body) = host
        .admin("POST", "/api/v1/plugins/echo/test", Some(hook()))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "delivered");
    assert!(
        body["MessageID"]
            .as_str()
            .is_some_and(|id| id.starts_with("v1:")),
        "{body}"
    );
    assert_eq!(
        host.server().state().registry.active_name().as_deref(),
        Some("sandbox")
    );

    let failing = json!({"recipient": "+15005550001", "text": "x"});
    let (status, body) = host
        .admin("POST", "/api/v1/plugins/sandbox/test", Some(failing))
        .await;
    assert_eq!(
        (status, body["error"]["vendor_code"].as_str()),
        (502, Some("invalid_number")),
        "{body}"
    );

    let (status, body) = host
        .admin("POST", "/api/v1/plugins/nope/test", Some(hook()))
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = host
        .admin(
            "POST",
            "/api/v1/plugins/echo/test",
            Some(json!({"text": "x"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("missing_recipient")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_shows_status_and_activates() {
    let host = Host::builder()
        .plugin("fixture-echo-v1")
        .config("admin_token", ADMIN)
        .config("send_token", SEND)
        .start()
        .await;
    let bin = plugins::host_binary();
    let url = host.url().to_owned();
    // The CLI calls this process's server: run it off the async runtime.
    let run = |args: &[&str], token: &str| {
        let mut cmd = Command::new(&bin);
        cmd.args(args).args(["--url", &url, "--token", token]);
        std::thread::scope(|s| {
            s.spawn(|| cmd.output().expect("runs"))
                .join()
                .expect("joins")
        })
    };
    let out = run(&["status"], ADMIN);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with('*') && l.contains("sandbox")),
        "{stdout}"
    );
    assert!(stdout.lines().any(|l| l.contains("echo")), "{stdout}");

    let out = run(&["activate", "echo"], ADMIN);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("active: echo"));
    assert_eq!(
        host.server().state().registry.active_name().as_deref(),
        Some("echo")
    );

    let out = run(&["activate", "nope"], ADMIN);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown_plugin"));
    let out = run(&["status"], "wrong");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
}

#[tokio::test]
async fn an_exposed_or_untrusted_setup_refuses_to_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let mut config = phonehook::config::Config {
        plugin_dir: dir.path().to_path_buf(),
        listen: "0.0.0.0:0".parse().expect("addr"),
        ..Default::default()
    };
    let err = phonehook::server::Server::start(config.clone())
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string()
            .contains("without both send_token and admin_token"),
        "{err}"
    );

    config.listen = "127.0.0.1:0".parse().expect("addr");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let err = phonehook::server::Server::start(config.clone())
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("writable by other users"), "{err}");

    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    // A plugin directory with no plugin at all is refused too.
    std::fs::copy(
        plugins::library("phonehook-plugin-sandbox"),
        dir.path().join("libphonehook_plugin_sandbox.so"),
    )
    .expect("copy");
    config.send_token = Some(SEND.into());
    config.admin_token = Some(ADMIN.into());
    config.listen = "0.0.0.0:0".parse().expect("addr");
    let server = phonehook::server::Server::start(config)
        .await
        .expect("with both tokens it may listen widely");
    server.shutdown().await;
}

#[tokio::test]
async fn a_world_writable_plugin_file_is_refused_with_the_reason() {
    use std::os::unix::fs::PermissionsExt;
    let builder = Host::builder();
    std::fs::create_dir_all(builder.plugin_dir()).expect("dir");
    let file = builder.plugin_dir().join("libecho.so");
    std::fs::copy(plugins::library("fixture-echo-v1"), &file).expect("copy");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let host = builder.start().await;
    let body = host.plugins().await;
    let entry = body["plugins"]
        .as_array()
        .and_then(|ps| {
            ps.iter().find(|p| {
                p["file"]
                    .as_str()
                    .is_some_and(|f| f.ends_with("libecho.so"))
            })
        })
        .cloned()
        .expect("listed");
    assert_eq!(entry["status"], "failed");
    assert!(
        entry["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("writable by other users"),
        "{entry}"
    );
}
