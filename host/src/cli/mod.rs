//! The command line: `serve`, `plugins`, `check`, `send`, and `status`,
//! `activate`, `logs`, `guard` against a running server. Errors become one
//! clear message and a non-zero exit code here, at the binary's edge.

mod guard;
mod log_table;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::delivery;
use crate::egress::Egress;
use crate::inbound::Inbound;
use crate::plugins::{Generation, PluginFile, Registry, Staging};

/// phonehook: one-time codes by SMS and voice through hot-swappable provider plugins.
#[derive(Parser, Debug)]
#[command(name = "phonehook", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the HTTP API with the active plugin.
    Serve(ServeArgs),
    /// List the plugins in the plugin directory and whether each loads.
    Plugins(DirArgs),
    /// Check one plugin file; exits non-zero with the reason when it is refused.
    Check {
        /// The plugin library (`.so`).
        file: PathBuf,
    },
    /// Send one message through one plugin and print the outcome (the runner).
    Send(SendArgs),
    /// Show a running server's plugins (calls `GET /api/v1/plugins`).
    Status {
        #[command(flatten)]
        remote: RemoteArgs,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make a loaded plugin the active one on a running server.
    Activate {
        /// Plugin name.
        name: String,
        /// With a shared store: activate even when some live instance lacks
        /// the plugin (those keep serving what they serve and say so).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// List the instances that share a running server's store, with their
    /// plugins and the config generation each serves (calls
    /// `GET /api/v1/instances`).
    Instances {
        #[command(flatten)]
        remote: RemoteArgs,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a running server's delivery log, newest first (calls `GET /api/v1/logs`).
    Logs(LogsArgs),
    /// The abuse guard of a running server: status, a number, reset, safe list.
    Guard {
        #[command(subcommand)]
        command: guard::GuardCommand,
        #[command(flatten)]
        remote: RemoteArgs,
        /// Print the raw JSON.
        #[arg(long, global = true)]
        json: bool,
    },
}

#[derive(Args, Debug)]
struct LogsArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    /// Event type: gd_send_sms, gd_send_sms_failure, gd_send_voice,
    /// gd_send_voice_failure, guard_blocked, guard_would_block (repeat or
    /// comma-separate for several).
    #[arg(long = "type", value_name = "CODE")]
    types: Vec<String>,
    /// Plugin name.
    #[arg(long)]
    plugin: Option<String>,
    /// User id.
    #[arg(long)]
    user: Option<String>,
    /// Client id.
    #[arg(long)]
    client: Option<String>,
    /// Recipient: a full number, or a mask as the log shows it (+1********23).
    #[arg(long)]
    recipient: Option<String>,
    /// Event id (from the x-phonehook-event-id response header).
    #[arg(long)]
    id: Option<String>,
    /// From this time: RFC 3339, a date, Unix milliseconds, or an age (15m, 2h, 7d).
    #[arg(long)]
    since: Option<String>,
    /// Before this time (same forms as --since).
    #[arg(long)]
    until: Option<String>,
    /// Events per page (the server caps it).
    #[arg(long)]
    limit: Option<u32>,
    /// Continue after a previous page (its `next_cursor`).
    #[arg(long)]
    cursor: Option<String>,
    /// Print the raw JSON page.
    #[arg(long)]
    json: bool,
}

impl LogsArgs {
    /// The `GET /api/v1/logs` path with these filters.
    fn path(&self) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for t in &self.types {
            query.append_pair("type", t);
        }
        let limit = self.limit.map(|l| l.to_string());
        let pairs = [
            ("plugin", &self.plugin),
            ("user_id", &self.user),
            ("client_id", &self.client),
            ("recipient", &self.recipient),
            ("id", &self.id),
            ("since", &self.since),
            ("until", &self.until),
            ("limit", &limit),
            ("cursor", &self.cursor),
        ];
        for (key, value) in pairs {
            if let Some(value) = value {
                query.append_pair(key, value);
            }
        }
        format!("/api/v1/logs?{}", query.finish())
    }
}

#[derive(Args, Debug)]
struct RemoteArgs {
    /// The server's base URL.
    // Global, so `phonehook guard number N --url U` works as well as before
    // the subcommand.
    #[arg(long, global = true, env = crate::config::ENV_URL, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The admin token.
    #[arg(
        long,
        global = true,
        env = "PHONEHOOK_ADMIN_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
}

#[derive(Args, Debug)]
struct ConfigArgs {
    /// Configuration file (TOML).
    #[arg(long, short, env = crate::config::ENV_CONFIG)]
    config: Option<PathBuf>,
    /// Plugin directory (overrides the configuration).
    #[arg(long)]
    plugin_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct ServeArgs {
    #[command(flatten)]
    common: ConfigArgs,
    /// Address to listen on (overrides the configuration).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Plugin to activate (overrides the configuration).
    #[arg(long)]
    active: Option<String>,
}

#[derive(Args, Debug)]
struct DirArgs {
    #[command(flatten)]
    common: ConfigArgs,
}

#[derive(Args, Debug)]
struct SendArgs {
    #[command(flatten)]
    common: ConfigArgs,
    /// Plugin name.
    #[arg(long)]
    plugin: String,
    /// Recipient (E.164, or national in the default region).
    #[arg(long)]
    to: String,
    /// Message text.
    #[arg(long)]
    text: String,
    /// Send as a voice call.
    #[arg(long)]
    voice: bool,
    /// Language, e.g. `en` or `fr-CA`.
    #[arg(long)]
    language: Option<String>,
    /// The one-time code, when separate from the text.
    #[arg(long)]
    code: Option<String>,
    /// Log what happens (plugin loads, the request) at info level; without
    /// it only warnings are shown, unless RUST_LOG says otherwise.
    #[arg(long, short)]
    verbose: bool,
}

/// Runs the command line and maps failure to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(args: &ConfigArgs) -> anyhow::Result<Config> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(dir) = &args.plugin_dir {
        config.plugin_dir = dir.clone();
    }
    Ok(config)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => {
            let mut config = load_config(&args.common)?;
            if let Some(listen) = args.listen {
                config.listen = listen;
            }
            if let Some(active) = args.active {
                config.override_active(active);
            }
            // Held to the end of the arm: its drop writes the last lines
            // before an error from start-up is printed after them.
            let _log = crate::telemetry::init(config.log_format, "info");
            if !config.ignored_env.is_empty() {
                tracing::warn!(variables = ?config.ignored_env,
                    "environment variables with the PHONEHOOK_ prefix that name no configuration key were ignored");
            }
            runtime()?.block_on(async {
                let server = crate::server::Server::start(config).await?;
                server.run_until_signal().await;
                anyhow::Ok(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugins(args) => {
            let config = load_config(&args.common)?;
            list_plugins(&config)
        }
        Command::Check { file } => check_file(&file),
        Command::Send(args) => {
            let config = load_config(&args.common)?;
            // A one-shot command prints its outcome; the log is for problems.
            let level = if args.verbose { "info" } else { "warn" };
            let _log = crate::telemetry::init(config.log_format, level);
            runtime()?.block_on(send(config, args))
        }
        Command::Status { remote, json } => {
            let body = runtime()?.block_on(admin_call(
                &remote,
                reqwest::Method::GET,
                "/api/v1/plugins",
                None,
            ))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&body)?);
            } else {
                print_status(&body);
                if let (Some(name), Some(source)) =
                    (body["active"].as_str(), body["active_source"].as_str())
                {
                    let since = body["active_since"].as_str().unwrap_or("?");
                    println!("active: {name} (source: {source}, since {since})");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Activate {
            name,
            force,
            remote,
        } => {
            let payload = serde_json::json!({ "name": name, "force": force });
            let body = runtime()?.block_on(admin_call(
                &remote,
                reqwest::Method::PUT,
                "/api/v1/active-plugin",
                Some(payload),
            ))?;
            println!(
                "active: {} (generation {}), was {}",
                body["active"].as_str().unwrap_or("?"),
                body["generation"],
                body["previous"].as_str().unwrap_or("none")
            );
            if let Some(generation) = body["config_generation"].as_i64() {
                println!("every instance sharing the store applies it: config generation {generation} (GET /api/v1/instances shows who has)");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Instances { remote, json } => {
            let body = runtime()?.block_on(admin_call(
                &remote,
                reqwest::Method::GET,
                "/api/v1/instances",
                None,
            ))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&body)?);
            } else {
                print_instances(&body);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Guard {
            command,
            remote,
            json,
        } => {
            let (method, path, payload) = command.call();
            let body = runtime()?.block_on(admin_call(&remote, method, &path, payload))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&body)?);
            } else {
                command.print(&body);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Logs(args) => {
            let body = runtime()?.block_on(admin_call(
                &args.remote,
                reqwest::Method::GET,
                &args.path(),
                None,
            ))?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&body)?);
            } else {
                print_logs(body)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_logs(body: serde_json::Value) -> anyhow::Result<()> {
    let page: crate::deliverylog::Page =
        serde_json::from_value(body).context("the server's answer is not a delivery log page")?;
    print!("{}", log_table::table(&page.events));
    if let Some(cursor) = page.next_cursor {
        // On stderr, so the table can be piped on its own.
        eprintln!("more: add --cursor {cursor}");
    }
    Ok(())
}

/// Calls the admin API; a non-2xx answer becomes an error with the server's message.
async fn admin_call(
    remote: &RemoteArgs,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let url = format!("{}{path}", remote.url.trim_end_matches('/'));
    let mut req = reqwest::Client::new().request(method, &url);
    if let Some(token) = &remote.token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    // reqwest's error names the URL itself; the context must not repeat it.
    let resp = req
        .send()
        .await
        .context("cannot reach the server (--url, PHONEHOOK_URL)")?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .with_context(|| format!("{url} broke off its answer"))?;
    let body: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{url} answered {status} with a body that is not JSON"))?;
    if !status.is_success() {
        bail!(
            "{status}: {} ({})",
            body["error"]["message"].as_str().unwrap_or("no message"),
            body["error"]["code"].as_str().unwrap_or("no code")
        );
    }
    Ok(body)
}

fn print_status(body: &serde_json::Value) {
    println!(
        "{:<2} {:<14} {:<9} {:<5} {:<20} FILE",
        "", "NAME", "VERSION", "GEN", "STATUS"
    );
    for p in body["plugins"].as_array().into_iter().flatten() {
        let mark = if p["active"].as_bool() == Some(true) {
            "*"
        } else {
            ""
        };
        let gen = p["generation"]
            .as_u64()
            .map(|g| g.to_string())
            .unwrap_or_else(|| "-".into());
        let mut status = p["status"].as_str().unwrap_or("?").to_owned();
        if p["file_present"].as_bool() == Some(false) {
            status.push_str(",file_gone");
        }
        println!(
            "{mark:<2} {:<14} {:<9} {gen:<5} {status:<20} {}",
            p["name"].as_str().unwrap_or("?"),
            p["version"].as_str().unwrap_or("-"),
            p["file"].as_str().unwrap_or("")
        );
        // What blocks activation, and only that: an optional secret that is
        // not set is no problem.
        for problem in p["problems"].as_array().into_iter().flatten() {
            println!("{:<17} problem: {}", "", problem.as_str().unwrap_or("?"));
        }
        if let Some(err) = p["last_error"].as_str() {
            println!("{:<17} last error: {err}", "");
        }
    }
}

fn list_plugins(config: &Config) -> anyhow::Result<ExitCode> {
    let staging = Staging::new(None)?;
    let registry = Registry::new(staging, config.plugins.clone());
    crate::server::load_dir(&registry, &config.plugin_dir)?;
    println!(
        "{:<14} {:<9} {:<10} {:<10} FILE",
        "NAME", "VERSION", "CHANNELS", "ABI"
    );
    for p in registry.status() {
        let (version, channels) = match &p.info {
            Some(i) => (
                i.version.clone(),
                i.channels
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            None => ("-".into(), "-".into()),
        };
        let abi = if p.info.is_some() { "ok" } else { "refused" };
        println!(
            "{:<14} {:<9} {:<10} {:<10} {}",
            p.name, version, channels, abi, p.file
        );
        if let Some(err) = &p.last_error {
            println!("{:<14} {err}", "");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check_file(file: &Path) -> anyhow::Result<ExitCode> {
    let staging = Staging::new(None)?;
    let loaded = PluginFile::read(file)
        .map_err(|e| e.to_string())
        .and_then(|f| Generation::load(&f, &staging).map_err(|e| e.to_string()));
    match loaded {
        Ok(g) => {
            let channels: Vec<&str> = g.info.channels.iter().map(|c| c.as_str()).collect();
            println!(
                "ok: {} {} ({}) by {}; hosts: {}",
                g.info.name,
                g.info.version,
                channels.join(", "),
                if g.info.vendor.is_empty() {
                    "-"
                } else {
                    &g.info.vendor
                },
                g.info.hosts.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            println!("refused: {}: {reason}", file.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn send(config: Config, args: SendArgs) -> anyhow::Result<ExitCode> {
    let rules = config.rules()?;
    let message = Inbound {
        recipient: Some(args.to),
        text: Some(args.text),
        message_type: Some(if args.voice { "voice" } else { "sms" }.into()),
        language: args.language,
        code: args.code,
        ..Inbound::default()
    }
    .validate(&rules)?;
    let cfg = config.clone();
    let registry = tokio::task::spawn_blocking(move || -> anyhow::Result<Registry> {
        let staging = Staging::new(cfg.staging_dir.as_deref())?;
        let registry = Registry::new(staging, cfg.plugins.clone());
        crate::server::load_dir(&registry, &cfg.plugin_dir)?;
        Ok(registry)
    })
    .await??;
    let Some(bound) = registry.bind(&args.plugin) else {
        bail!(
            "no plugin named `{}` loaded from {}",
            args.plugin,
            config.plugin_dir.display()
        );
    };
    let egress = Egress::new(&config.vendor)?;
    let host_url = format!("http://{}", config.listen);
    let mut redactor = crate::redact::for_message(&message);
    redactor.include(Arc::clone(bound.binding.redactor()));
    match delivery::deliver(&bound, &message, &egress, &host_url, &mut redactor).await {
        Ok(d) => {
            println!(
                "delivered: MessageID={} status={} vendor_latency_ms={}",
                d.message_id,
                d.vendor_status,
                d.vendor_latency.as_millis()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("failed: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `phonehook instances` as a table: one line per instance, then its plugins.
fn print_instances(body: &serde_json::Value) {
    println!(
        "store: {}{}",
        body["store"].as_str().unwrap_or("?"),
        match body["converged"].as_bool() {
            Some(true) => ", every instance serves the newest config generation",
            Some(false) => ", NOT converged: some instance serves an older config generation",
            None => "",
        }
    );
    for i in body["instances"].as_array().into_iter().flatten() {
        println!(
            "{}  {}  generation {}  active {}  heartbeat {}",
            i["name"].as_str().unwrap_or("?"),
            i["id"].as_str().unwrap_or("?"),
            i["config_generation"],
            i["active"].as_str().unwrap_or("none"),
            i["heartbeat"].as_str().unwrap_or("?"),
        );
        for p in i["plugins"].as_array().into_iter().flatten() {
            let sha = p["sha256"].as_str().unwrap_or("");
            println!(
                "    {} {}  sha256 {}",
                p["name"].as_str().unwrap_or("?"),
                p["version"].as_str().unwrap_or("?"),
                sha.get(..12).unwrap_or(sha),
            );
        }
    }
}
