//! The command line: `serve`, `plugins`, `check`, `send`. Errors become one
//! clear message and a non-zero exit code here, at the binary's edge.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
}

#[derive(Args, Debug)]
struct ConfigArgs {
    /// Configuration file (TOML).
    #[arg(long, short, env = "PHONEHOOK_CONFIG")]
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
                config.active_plugin = Some(active);
            }
            crate::telemetry::init(config.log_format);
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
            crate::telemetry::init(config.log_format);
            runtime()?.block_on(send(config, args))
        }
    }
}

fn list_plugins(config: &Config) -> anyhow::Result<ExitCode> {
    let staging = Staging::new(None).context("cannot create a staging directory")?;
    let registry = Registry::new(staging, config.plugins.clone());
    crate::server::load_dir(&registry, &config.plugin_dir)?;
    println!("{:<14} {:<9} {:<10} {:<10} FILE", "NAME", "VERSION", "CHANNELS", "ABI");
    for p in registry.status() {
        let (version, channels) = match &p.info {
            Some(i) => (
                i.version.clone(),
                i.channels.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(","),
            ),
            None => ("-".into(), "-".into()),
        };
        let abi = if p.info.is_some() { "ok" } else { "refused" };
        println!("{:<14} {:<9} {:<10} {:<10} {}", p.name, version, channels, abi, p.file);
        if let Some(err) = &p.last_error {
            println!("{:<14} {err}", "");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check_file(file: &Path) -> anyhow::Result<ExitCode> {
    let staging = Staging::new(None).context("cannot create a staging directory")?;
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
                if g.info.vendor.is_empty() { "-" } else { &g.info.vendor },
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
        bail!("no plugin named `{}` loaded from {}", args.plugin, config.plugin_dir.display());
    };
    let egress = Egress::new(&config.vendor)?;
    let host_url = format!("http://{}", config.listen);
    match delivery::deliver(&bound, &message, &egress, &host_url).await {
        Ok(d) => {
            println!("delivered: MessageID={} status={} vendor_latency_ms={}", d.message_id, d.vendor_status, d.vendor_latency.as_millis());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("failed: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
