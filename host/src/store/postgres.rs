//! The connection pool to the shared database, and what every part needs
//! from it: a client within a bounded time, the schema, the shared
//! recipient-hash key.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use super::health::Health;
use super::migrations::{self, MigrateError};
use super::PgUrl;

/// How long a connection may take to open. A database that is down answers
/// at once (connection refused); one that is unreachable must not hold a
/// message for longer than this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a caller waits for a free connection from the pool.
pub const POOL_WAIT: Duration = Duration::from_millis(500);

/// Connections in the pool: the log writer, the heartbeat and the send
/// path's guard and idempotency calls share them.
pub const POOL_SIZE: usize = 16;

/// Why the shared store cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The pool could not be built (a URL tokio-postgres refuses).
    #[error("PostgreSQL store {url}: {problem}")]
    Setup {
        /// The URL, without its password.
        url: String,
        /// Why.
        problem: String,
    },
    /// No connection within the time allowed.
    #[error("PostgreSQL store unreachable: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// A statement failed.
    #[error("PostgreSQL store: {0}")]
    Statement(#[from] tokio_postgres::Error),
    /// The schema could not be brought up to date.
    #[error("PostgreSQL store schema: {0}")]
    Migrate(#[from] MigrateError),
    /// A call took longer than allowed.
    #[error("PostgreSQL store: no answer within {0:?}")]
    Timeout(Duration),
}

/// What changed in the shared state, as announced on the `phonehook`
/// notification channel ([`Postgres::notify`]) and handed to this
/// instance's subscribers ([`Postgres::subscribe`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    /// The control row (active plugin, fallback chain) has a new generation.
    Control,
    /// The guard's safe list changed.
    SafeList,
    /// The listener (re)connected: notifications may have been missed while
    /// it was away, so every subscriber re-reads its state.
    Reconnected,
}

impl Topic {
    /// The payload sent with `pg_notify`.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Control => "control",
            Topic::SafeList => "safe_list",
            Topic::Reconnected => "reconnected",
        }
    }

    /// The topic a payload names (none for one this build does not know).
    pub fn parse(payload: &str) -> Option<Topic> {
        [Topic::Control, Topic::SafeList]
            .into_iter()
            .find(|t| t.as_str() == payload)
    }
}

/// The notification channel's name.
pub const CHANNEL: &str = "phonehook";

/// The shared database: a pool, its URL (listeners need connections of
/// their own), its health and this instance's subscribers. Cheap to clone.
#[derive(Clone)]
pub struct Postgres {
    pool: Pool,
    url: PgUrl,
    health: Arc<Health>,
    topics: tokio::sync::broadcast::Sender<Topic>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Postgres {
    /// Connects, and brings the schema up to date (under an advisory lock,
    /// so instances starting together agree). Fails when the database cannot
    /// be reached at start: an instance with no state to fall back on must
    /// not pretend to be part of the fleet.
    pub async fn connect(url: &PgUrl) -> Result<Postgres, StoreError> {
        let setup = |problem: String| StoreError::Setup {
            url: url.to_string(),
            problem,
        };
        let mut config: tokio_postgres::Config = url
            .expose()
            .parse()
            .map_err(|e: tokio_postgres::Error| setup(e.to_string()))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        if config.get_application_name().is_none() {
            config.application_name("phonehook");
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| setup(e.to_string()))?;
        let pg = Postgres {
            pool,
            url: url.clone(),
            health: Arc::new(Health::new()),
            topics: tokio::sync::broadcast::channel(64).0,
        };
        let mut client = pg.client().await?;
        let applied = migrations::run(&mut client).await?;
        if !applied.is_empty() {
            tracing::info!(store = %url, versions = ?applied, "PostgreSQL schema migrated");
        }
        Ok(pg)
    }

    /// A pooled connection, within [`POOL_WAIT`] (plus [`CONNECT_TIMEOUT`]
    /// when a new one must be opened).
    pub async fn client(&self) -> Result<Object, StoreError> {
        Ok(self.pool.get().await?)
    }

    /// The URL (prints without its password).
    pub fn url(&self) -> &PgUrl {
        &self.url
    }

    /// Whether the database answers, as this instance last saw it.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// Runs `f` on a pooled connection within `limit`, reporting a failure
    /// to [`Health`] as `what`. For the send path's calls, which must fall
    /// back quickly when the database is slow or gone.
    pub async fn within<T, F>(
        &self,
        what: &str,
        limit: Duration,
        f: impl FnOnce(Object) -> F,
    ) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        let call = async {
            let client = self.client().await?;
            f(client).await
        };
        let result = match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Timeout(limit)),
        };
        if let Err(e) = &result {
            self.health.failed(what, e);
        }
        result
    }

    /// Tells every instance (this one included) that `topic` changed.
    /// Part of the caller's change only in spirit: a notification that is
    /// lost is made good by the re-read every listener does on reconnect.
    pub async fn notify(&self, topic: Topic) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &topic.as_str()])
            .await?;
        Ok(())
    }

    /// Changes announced by any instance, as this instance's listener
    /// receives them. A subscriber that falls behind sees `Lagged` and
    /// should re-read everything, as on [`Topic::Reconnected`].
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Topic> {
        self.topics.subscribe()
    }

    /// Hands `topic` to this instance's subscribers (the listener's side).
    pub(crate) fn announce(&self, topic: Topic) {
        // No subscriber is not an error: nothing needs telling.
        let _ = self.topics.send(topic);
    }

    /// [`Postgres::announce`] for tests outside the crate, which have no
    /// listener to feed the subscribers.
    #[doc(hidden)]
    pub fn announce_for_tests(&self, topic: Topic) {
        self.announce(topic);
    }

    /// The key every instance hashes recipients with: `configured` when
    /// set, else the one the first instance stored (a random one, stored
    /// now when none is).
    pub async fn recipient_key(&self, configured: Option<&[u8]>) -> Result<Vec<u8>, StoreError> {
        if let Some(key) = configured {
            return Ok(key.to_vec());
        }
        let client = self.client().await?;
        let candidate = rand::random::<[u8; 32]>().to_vec();
        client
            .execute(
                "INSERT INTO meta (key, value) VALUES ('recipient_hash_key', $1)
                 ON CONFLICT (key) DO NOTHING",
                &[&candidate],
            )
            .await?;
        let row = client
            .query_one(
                "SELECT value FROM meta WHERE key = 'recipient_hash_key'",
                &[],
            )
            .await?;
        Ok(row.get(0))
    }
}
