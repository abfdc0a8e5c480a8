//! `ReplicationManager`: runs every configured server's replication
//! continuously beside a hub's listener, restarted on open, picking up
//! servers added, changed or removed (by this process or another) within
//! [`SERVER_CONFIG_RECHECK_INTERVAL`], and keeping each one's status in the
//! database.
//!
//! Each server has a supervisor task: it runs a continuous [`Replicator`]
//! (which retries transient errors itself, with backoff), writes its status
//! as it changes, and when the replicator stops on an error (a wrong
//! password, a refused certificate) waits a backoff that doubles from
//! [`SERVER_ERROR_RETRY_FIRST`] to [`SERVER_ERROR_RETRY_MAX`] before trying
//! again, so a wrong password is never retried in a tight loop.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use super::seal::CredentialSeal;
use super::servers::{ServerConfig, ServerTable, StoredServer};
use super::status::{ServerState, ServerStatus, StatusTable};
use crate::error::{InvalidInput, Result};
use crate::listeners::{ListenerToken, Listeners};
use crate::net::{ClientAuth, KeyStore, RemoteConfig};
use crate::replication::{
    ActivityLevel, CollectionConfig, Direction, DocumentEvent, Replicator, ReplicatorConfig, ReplicatorStatus,
};
use crate::store::Database;
use crate::tuning::{
    SERVER_CONFIG_RECHECK_INTERVAL, SERVER_ERROR_RETRY_FIRST, SERVER_ERROR_RETRY_MAX, SERVER_STATUS_HEARTBEAT,
    SERVER_STATUS_WRITE_INTERVAL,
};

/// The configured servers of a hub's database, and (once started) their
/// running replications.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::sync::Arc;
/// use outpost_core::hub::{ReplicationManager, ServerConfig};
/// use outpost_core::net::{FileKeyStore, ServerTrust};
/// use outpost_core::{Database, DatabaseConfig};
/// let db = Database::open(dir.path().join("hub.db"), DatabaseConfig::default()).unwrap();
/// let keys = Arc::new(FileKeyStore::new(dir.path().join("keys")));
/// let manager = ReplicationManager::open(&db, keys).unwrap();
/// let camp1 = ServerConfig::new("camp-1", "wss://10.0.0.5:4984/camp", "camp-2")
///     .with_trust(ServerTrust::SelfSignedOnly);
/// manager.add(&camp1, "correct horse").unwrap();
/// assert_eq!(ReplicationManager::servers(&db).unwrap(), vec![camp1]);
/// // manager.start() runs them on the current tokio runtime.
/// ```
pub struct ReplicationManager {
    ctx: Arc<Context>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// What the supervisors share.
struct Context {
    db: Database,
    servers: ServerTable,
    statuses: StatusTable,
    key_store: Arc<dyn KeyStore>,
    /// Made on first use, so a hub without servers never touches the key store.
    seal: Mutex<Option<Arc<CredentialSeal>>>,
    /// Bumped at every status written: the status stream.
    generation: watch::Sender<u64>,
    /// Called with every status written.
    listeners: Listeners<ServerStatus>,
}

impl Context {
    /// The credential seal, its key loaded (or created) on first use.
    fn seal(&self) -> Result<Arc<CredentialSeal>> {
        let mut seal = self.seal.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(seal) = seal.as_ref() {
            return Ok(seal.clone());
        }
        let made = Arc::new(CredentialSeal::open(self.key_store.clone())?);
        *seal = Some(made.clone());
        Ok(made)
    }
}

/// A running supervisor.
struct Supervised {
    version: String,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl ReplicationManager {
    /// The configured servers of `db`, their passwords sealed with a key
    /// kept in `key_store` (created there when first needed).
    ///
    /// # Errors
    /// [`crate::Error::Storage`] for the database.
    pub fn open(db: &Database, key_store: Arc<dyn KeyStore>) -> Result<ReplicationManager> {
        let ctx = Context {
            db: db.clone(),
            servers: ServerTable::open(db)?,
            statuses: StatusTable::open(db)?,
            key_store,
            seal: Mutex::new(None),
            generation: watch::channel(0).0,
            listeners: Listeners::default(),
        };
        Ok(ReplicationManager {
            ctx: Arc::new(ctx),
            stop: watch::channel(false).0,
            task: Mutex::new(None),
        })
    }

    /// Adds a server, or replaces the one with the same name (a running
    /// hub restarts its replication with the new settings); `password` is
    /// sealed before it is written.
    ///
    /// # Errors
    /// [`InvalidInput::BadConfig`] for a bad configuration,
    /// [`crate::KeyStoreError`] when the key store cannot be read or written.
    pub fn add(&self, config: &ServerConfig, password: &str) -> Result<()> {
        if password.is_empty() {
            return Err(InvalidInput::BadConfig("a server's password cannot be empty".into()).into());
        }
        let sealed = self.ctx.seal()?.seal(&config.name, password)?;
        self.ctx.servers.save(config, &sealed)
    }

    /// Removes the server `name` of `db` (a running hub stops replicating
    /// with it); `false` if there was none.
    ///
    /// # Errors
    /// [`crate::Error::Storage`] for the database.
    pub fn remove(db: &Database, name: &str) -> Result<bool> {
        let removed = ServerTable::open(db)?.remove(name)?;
        StatusTable::open(db)?.remove(name)?;
        Ok(removed)
    }

    /// The servers configured in `db`, by name (no secrets).
    ///
    /// # Errors
    /// [`crate::Error::Storage`] or [`crate::Error::Corrupt`].
    pub fn servers(db: &Database) -> Result<Vec<ServerConfig>> {
        Ok(ServerTable::open(db)?.all()?.into_iter().map(|s| s.config).collect())
    }

    /// The status of each server configured in `db`, as the running hub
    /// last wrote it (`stopped` for a server no hub has run yet, and for
    /// one whose hub stopped confirming it: see [`ServerStatus::seen_at`]).
    ///
    /// # Errors
    /// [`crate::Error::Storage`] or [`crate::Error::Corrupt`].
    pub fn statuses(db: &Database) -> Result<Vec<ServerStatus>> {
        let mut written = StatusTable::open(db)?.all()?;
        Ok(Self::servers(db)?
            .into_iter()
            .map(|server| {
                let status = written.remove(&server.name).map(|s| s.seen_at(now()));
                status.unwrap_or_else(|| ServerStatus::stopped(&server.name, 0))
            })
            .collect())
    }

    /// A receiver that changes each time a status is written; read them
    /// with [`ReplicationManager::statuses`].
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.ctx.generation.subscribe()
    }

    /// Calls `listener` with each status this manager writes (on a task of
    /// the runtime it was started on; keep the callback short), until the
    /// token is dropped.
    pub fn add_status_listener(&self, listener: impl Fn(&ServerStatus) + Send + Sync + 'static) -> ListenerToken {
        self.ctx.listeners.add(Arc::new(listener))
    }

    /// Starts running every configured server on the current tokio runtime
    /// (and any added later), until [`ReplicationManager::stop`].
    ///
    /// # Errors
    /// [`InvalidInput::BadConfig`] outside a tokio runtime.
    pub fn start(&self) -> Result<()> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| InvalidInput::BadConfig("ReplicationManager::start needs a tokio runtime".into()))?;
        let mut task = self.task.lock().unwrap_or_else(|e| e.into_inner());
        if task.is_none() {
            self.stop.send_replace(false);
            *task = Some(handle.spawn(reconcile_loop(self.ctx.clone(), self.stop.subscribe())));
        }
        Ok(())
    }

    /// Stops every replication (their status becomes `stopped`).
    pub async fn stop(&self) {
        self.stop.send_replace(true);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// Runs database work `f` on a blocking thread (SQLite waits for the
/// database's lock, which a replication batch may hold).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(crate::Error::Corrupt(format!("a hub task failed: {e}"))))
}

/// Resolves once `stop` says so (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Starts, restarts and stops supervisors to match the stored servers.
async fn reconcile_loop(ctx: Arc<Context>, mut stop: watch::Receiver<bool>) {
    let mut running: HashMap<String, Supervised> = HashMap::new();
    let mut tick = tokio::time::interval(SERVER_CONFIG_RECHECK_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stopped(&mut stop) => break,
        }
        let servers = ctx.servers.clone();
        let stored = match blocking(move || servers.all()).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the configured servers");
                continue;
            }
        };
        let wanted: HashMap<&str, &StoredServer> = stored.iter().map(|s| (s.config.name.as_str(), s)).collect();
        let outdated: Vec<String> = running
            .iter()
            .filter(|(name, s)| wanted.get(name.as_str()).is_none_or(|w| w.version != s.version))
            .map(|(name, _)| name.clone())
            .collect();
        for name in outdated {
            if let Some(s) = running.remove(&name) {
                s.stop.send_replace(true);
                let _ = s.task.await;
            }
        }
        for server in &stored {
            if !running.contains_key(&server.config.name) {
                let (stop_one, stop_rx) = watch::channel(false);
                let task = tokio::spawn(supervise(
                    ctx.clone(),
                    server.config.clone(),
                    server.sealed_password.clone(),
                    stop_rx,
                ));
                running.insert(
                    server.config.name.clone(),
                    Supervised {
                        version: server.version.clone(),
                        stop: stop_one,
                        task,
                    },
                );
            }
        }
    }
    for (_, s) in running.drain() {
        s.stop.send_replace(true);
        let _ = s.task.await;
    }
}

/// Documents replicated by one server's replications.
#[derive(Default)]
struct DocCounters {
    read: AtomicU64,
    written: AtomicU64,
    failed: AtomicU64,
}

impl DocCounters {
    fn count(&self, events: &[DocumentEvent]) {
        for event in events {
            let counter = match (&event.error, event.direction == Direction::Push) {
                (Some(_), _) => &self.failed,
                (None, true) => &self.written,
                (None, false) => &self.read,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Writes one server's status, noting when its state changes.
struct Reporter {
    ctx: Arc<Context>,
    counters: Arc<DocCounters>,
    status: ServerStatus,
    last_write: Option<tokio::time::Instant>,
}

impl Reporter {
    async fn new(ctx: Arc<Context>, name: &str, counters: Arc<DocCounters>) -> Reporter {
        let statuses = ctx.statuses.clone();
        let previous = blocking(move || statuses.all())
            .await
            .ok()
            .and_then(|mut all| all.remove(name));
        let status = ServerStatus {
            last_success: previous.and_then(|p| p.last_success),
            ..ServerStatus::stopped(name, now())
        };
        Reporter {
            ctx,
            counters,
            status,
            last_write: None,
        }
    }

    /// Sets the state (and its time when it changed) and writes the status;
    /// progress alone is written at most every [`SERVER_STATUS_WRITE_INTERVAL`].
    async fn report(&mut self, state: ServerState, error: Option<String>, next_retry: Option<u64>, pending: u64) {
        let changed = state != self.status.state || error != self.status.error;
        if state != self.status.state {
            self.status.state_time = now();
        }
        if state == ServerState::Idle {
            self.status.last_success = Some(now());
        }
        self.status.state = state;
        self.status.error = error;
        self.status.next_retry = next_retry;
        self.status.pending = pending;
        self.status.docs_read = self.counters.read.load(Ordering::Relaxed);
        self.status.docs_written = self.counters.written.load(Ordering::Relaxed);
        self.status.docs_failed = self.counters.failed.load(Ordering::Relaxed);
        let recent = self
            .last_write
            .is_some_and(|t| t.elapsed() < SERVER_STATUS_WRITE_INTERVAL);
        if recent && !changed {
            return;
        }
        if self.write().await {
            self.ctx.generation.send_modify(|g| *g += 1);
            self.ctx.listeners.emit(&self.status);
        }
    }

    /// Writes the status as it is with a new heartbeat; whether it was.
    async fn write(&mut self) -> bool {
        self.last_write = Some(tokio::time::Instant::now());
        self.status.heartbeat = now();
        let (statuses, status) = (self.ctx.statuses.clone(), self.status.clone());
        match blocking(move || statuses.put(&status)).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(server = %self.status.name, error = %e, "cannot write the server status");
                false
            }
        }
    }

    /// Confirms the status (the heartbeat) unless it was written lately.
    async fn beat(&mut self) {
        let recent = self.last_write.is_some_and(|t| t.elapsed() < SERVER_STATUS_HEARTBEAT);
        if !recent {
            self.write().await;
        }
    }

    async fn replicator(&mut self, status: &ReplicatorStatus) {
        let state = match status.activity {
            ActivityLevel::Connecting | ActivityLevel::Busy => ServerState::Running,
            ActivityLevel::Idle => ServerState::Idle,
            ActivityLevel::Offline => ServerState::Offline,
            ActivityLevel::Stopped => return, // the supervisor reports why
        };
        let error = (state == ServerState::Offline)
            .then(|| status.error.as_ref().map(ToString::to_string))
            .flatten();
        let next_retry = (state == ServerState::Offline)
            .then(|| status.next_attempt.and_then(|t| t.duration_since(UNIX_EPOCH).ok()))
            .flatten()
            .map(|d| d.as_secs());
        let pending = status.progress.total.saturating_sub(status.progress.completed);
        self.report(state, error, next_retry, pending).await;
    }
}

/// The replicator of one configured server.
fn replicator(db: &Database, config: &ServerConfig, password: &str) -> Result<Replicator> {
    for name in &config.collections {
        db.create_collection(name)?;
    }
    let remote = RemoteConfig::new(config.url.as_str())
        .with_auth(ClientAuth::basic(config.username.as_str(), password))
        .with_trust(config.trust.clone());
    let replication = ReplicatorConfig {
        direction: config.direction,
        continuous: true,
        collections: config.collections.iter().map(CollectionConfig::new).collect(),
        all_served_collections: config.collections.is_empty(),
        max_attempts: None,
        ..Default::default()
    };
    Replicator::remote(db.clone(), remote, replication)
}

/// The wait before retrying a server stopped on an error for the
/// `failures`-th time in a row.
fn error_backoff(failures: u32) -> Duration {
    SERVER_ERROR_RETRY_FIRST
        .saturating_mul(2u32.saturating_pow(failures.min(16)))
        .min(SERVER_ERROR_RETRY_MAX)
}

/// Runs one configured server until told to stop.
async fn supervise(ctx: Arc<Context>, config: ServerConfig, sealed: Vec<u8>, mut stop: watch::Receiver<bool>) {
    let counters = Arc::new(DocCounters::default());
    let mut reporter = Reporter::new(ctx.clone(), &config.name, counters.clone()).await;
    let mut failures = 0u32;
    let mut heartbeat = tokio::time::interval(SERVER_STATUS_HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let started: Result<Replicator> = ctx
            .seal()
            .and_then(|seal| seal.open_sealed(&config.name, &sealed))
            .and_then(|password: Zeroizing<String>| replicator(&ctx.db, &config, &password));
        let outcome = match started {
            Err(e) => Some(Err(e)),
            Ok(replicator) => {
                let counting = counters.clone();
                let _documents = replicator.add_document_listener(move |events| counting.count(events));
                let mut status = replicator.subscribe_status();
                let run = replicator.run();
                tokio::pin!(run);
                loop {
                    tokio::select! {
                        outcome = &mut run => break Some(outcome),
                        changed = status.changed() => {
                            if changed.is_err() {
                                continue;
                            }
                            let now_status = status.borrow_and_update().clone();
                            if now_status.activity == ActivityLevel::Idle {
                                failures = 0;
                            }
                            reporter.replicator(&now_status).await;
                        }
                        () = stopped(&mut stop) => {
                            replicator.stop();
                            let _ = run.await;
                            break None;
                        }
                        _ = heartbeat.tick() => reporter.beat().await,
                    }
                }
            }
        };
        let error = match outcome {
            None | Some(Ok(())) => break,
            Some(Err(e)) => e,
        };
        let wait = error_backoff(failures);
        failures = failures.saturating_add(1);
        tracing::warn!(server = %config.name, error = %error, retry_in_s = wait.as_secs(), "configured server stopped on an error");
        reporter
            .report(
                ServerState::Error,
                Some(error.to_string()),
                Some(now() + wait.as_secs()),
                0,
            )
            .await;
        let retry = tokio::time::sleep(wait);
        tokio::pin!(retry);
        loop {
            tokio::select! {
                () = &mut retry => break,
                () = stopped(&mut stop) => {
                    reporter.report(ServerState::Stopped, None, None, 0).await;
                    return;
                }
                _ = heartbeat.tick() => reporter.beat().await,
            }
        }
    }
    reporter.report(ServerState::Stopped, None, None, 0).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_its_hub_stopped_confirming_reads_as_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("hub.db"), crate::DatabaseConfig::default()).unwrap();
        let servers = ServerTable::open(&db).unwrap();
        let statuses = StatusTable::open(&db).unwrap();
        for name in ["killed", "alive"] {
            servers
                .save(&ServerConfig::new(name, "wss://h:1/db", "u"), b"sealed")
                .unwrap();
        }
        let running = |name: &str, heartbeat: u64| ServerStatus {
            state: ServerState::Running,
            heartbeat,
            ..ServerStatus::stopped(name, heartbeat)
        };
        // The hub running "killed" was SIGKILLed a minute ago: nobody marked it stopped.
        let killed_at = now() - 60;
        statuses.put(&running("killed", killed_at)).unwrap();
        statuses.put(&running("alive", now())).unwrap();
        let shown = ReplicationManager::statuses(&db).unwrap();
        assert_eq!(shown[0].name, "alive");
        assert_eq!(shown[0].state, ServerState::Running);
        assert_eq!(shown[1].name, "killed");
        assert_eq!(shown[1].state, ServerState::Stopped);
        assert_eq!(shown[1].state_time, killed_at);
        assert!(shown[1]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("stopped without"));
    }

    #[test]
    fn error_retries_double_from_the_first_wait_up_to_the_ceiling() {
        assert_eq!(error_backoff(0), SERVER_ERROR_RETRY_FIRST);
        assert_eq!(error_backoff(1), SERVER_ERROR_RETRY_FIRST * 2);
        assert_eq!(error_backoff(50), SERVER_ERROR_RETRY_MAX);
        assert_eq!(error_backoff(u32::MAX), SERVER_ERROR_RETRY_MAX);
    }
}
