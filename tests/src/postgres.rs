//! A real PostgreSQL server for the tests of the shared store: a throwaway
//! cluster in a temporary directory on a free loopback port, tuned for
//! speed over durability (no fsync), stopped and removed when dropped.
//!
//! The server binaries (`initdb`, `pg_ctl`, `postgres`) are found on `PATH`
//! or under Debian's `/usr/lib/postgresql/*/bin`. When they are missing the
//! test fails saying how to install them: a store test that skips silently
//! would pass without testing anything.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root (a
//! container, CI) the cluster belongs to the `postgres` user and every
//! server command runs through `runuser -u postgres --`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// The server binaries every cluster needs.
const SERVER_BINARIES: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

const INSTALL_HINT: &str = "PostgreSQL's server binaries (initdb, pg_ctl, postgres) are not on PATH \
     nor under /usr/lib/postgresql/*/bin: install PostgreSQL's server (`apt-get install postgresql`)";

/// The directory holding the server binaries.
fn find_bin_dir() -> Option<PathBuf> {
    let has_all = |dir: &Path| SERVER_BINARIES.iter().all(|b| dir.join(b).is_file());
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    // Debian's versioned directories, newest first.
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    debian.sort_by_key(|p| {
        std::cmp::Reverse(
            p.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0),
        )
    });
    on_path.into_iter().chain(debian).find(|d| has_all(d))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A free loopback port (bound and released; the server binds it next).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port for PostgreSQL: {e}"))
}

/// A running PostgreSQL cluster of its own. Dropping it stops the server
/// (immediately) and removes its files.
pub struct PgCluster {
    bin: PathBuf,
    /// `Some` while the directory is kept; taken on drop to remove it.
    dir: Option<TempDir>,
    port: u16,
    as_postgres: bool,
}

impl PgCluster {
    /// Creates and starts a cluster. Panics, saying why, when PostgreSQL
    /// is not installed or will not start.
    pub fn start() -> PgCluster {
        let bin = find_bin_dir().unwrap_or_else(|| panic!("{INSTALL_HINT}"));
        let dir = tempfile::Builder::new()
            .prefix("phonehook-pg-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a directory for PostgreSQL: {e}"));
        let as_postgres = is_root();
        if as_postgres {
            chown_to_postgres(dir.path());
        }
        let cluster = PgCluster {
            bin,
            dir: Some(dir),
            port: free_port(),
            as_postgres,
        };
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                // A container may have no locales at all; C always exists.
                "--locale=C",
            ],
        );
        cluster.start_again();
        cluster
    }

    /// The `postgres` database's URL.
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// Port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    fn url_of(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates an empty database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "a database name of letters, digits and _ (got {name:?})"
        );
        let psql = self.bin.join("psql");
        let psql = if psql.is_file() {
            psql
        } else {
            PathBuf::from("psql")
        };
        let out = Command::new(&psql)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url())
            .args(["-c", &format!("CREATE DATABASE {name}")])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", psql.display()));
        check("psql CREATE DATABASE", &out, None);
        self.url_of(name)
    }

    /// Stops the server (fast shutdown), keeping its data: connections fail
    /// until [`PgCluster::start_again`].
    pub fn stop(&self) {
        self.pg_ctl_stop("fast");
    }

    /// Starts the server again on the same port and data.
    pub fn start_again(&self) {
        let data = self.data_dir();
        let socket_dir = self.socket_dir();
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=200",
            self.port,
            socket_dir.display()
        );
        let log = self.server_log();
        self.run(
            "pg_ctl",
            &[
                "-D",
                path_str(&data),
                "-l",
                path_str(&log),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    fn pg_ctl_stop(&self, mode: &str) -> Output {
        let data = self.data_dir();
        self.command("pg_ctl", &["-D", path_str(&data), "-m", mode, "-w", "stop"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run pg_ctl stop: {e}"))
    }

    fn dir(&self) -> &Path {
        match &self.dir {
            Some(dir) => dir.path(),
            None => Path::new("/nonexistent"),
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir().join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir().to_path_buf()
    }

    fn server_log(&self) -> PathBuf {
        self.dir().join("server.log")
    }

    /// A server command, as the `postgres` user when we are root.
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        cmd.args(args);
        // Our own choices, not whatever the caller's environment says.
        cmd.env_remove("PGDATA")
            .env_remove("PGPORT")
            .env_remove("PGHOST");
        cmd
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program, args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        check(program, &out, Some(&self.server_log()));
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // Whatever state it is in: stopped already is fine.
        let _ = self.pg_ctl_stop("immediate");
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", path.display()))
}

/// Panics with the command's output (and the server's log) when it failed.
fn check(what: &str, out: &Output, server_log: Option<&Path>) {
    if out.status.success() {
        return;
    }
    let log = server_log
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    panic!(
        "{what} failed ({}):\n{}{}\n--- server log ---\n{log}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}

/// Gives the cluster's directory to the `postgres` user (the server refuses
/// to run as root and must own its data directory).
fn chown_to_postgres(dir: &Path) {
    let exists = Command::new("id")
        .args(["-u", "postgres"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !exists {
        panic!(
            "the tests run as root and PostgreSQL refuses to: they run it as the `postgres` user, \
             which does not exist here (create it, e.g. `useradd --system postgres`, or run the \
             tests as another user)"
        );
    }
    let out = Command::new("chown")
        .args(["-R", "postgres:"])
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run chown: {e}"));
    check("chown postgres", &out, None);
}
