//! `Replicator`: the root that runs every role for each collection and
//! direction, retries transient failures with backoff, and reports status
//! and document events.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::changes_feed::ChangesFeed;
use super::checkpoint::Checkpointer;
use super::config::{CollectionConfig, Direction, ReplicatorConfig};
use super::conflict::{resolve_documents, resolving_makes_room, ConflictResolver, DefaultConflictResolver};
use super::endpoint::{Endpoint, Revision};
use super::fetcher::Fetcher;
use super::inserter::prepare;
use super::local::LocalEndpoint;
use super::rev_finder::find_missing;
use super::sequence::Sequence;
use super::status::{ActivityLevel, DocumentEvent, ReplicatorStatus};
use crate::error::{BlobError, Error, InvalidInput, ReplicationError, Result};
use crate::listeners::{ListenerToken, Listeners};
use crate::store::{Database, DEFAULT_COLLECTION};
use crate::tuning::MAX_SERVED_COLLECTIONS_REPLICATED;

/// Replicates a local database with another endpoint: push, pull or both,
/// one-shot or continuous, resuming from checkpoints.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::sync::Arc;
/// use outpost_core::{Database, DatabaseConfig};
/// use outpost_core::replication::{LocalEndpoint, Replicator, ReplicatorConfig};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let phone = Database::open(dir.path().join("phone.db"), DatabaseConfig::default()).unwrap();
/// let hub = Database::open(dir.path().join("hub.db"), DatabaseConfig::default()).unwrap();
/// phone.default_collection().unwrap().save("child-1", None, r#"{"name":"Amina"}"#).unwrap();
///
/// let replicator = Replicator::new(phone, Arc::new(LocalEndpoint::new(hub.clone())), ReplicatorConfig::default()).unwrap();
/// replicator.run().await.unwrap();
/// assert!(hub.default_collection().unwrap().get("child-1").unwrap().is_some());
/// # });
/// ```
#[derive(Clone)]
pub struct Replicator {
    shared: Arc<Shared>,
}

struct Shared {
    local_db: Database,
    local: Arc<dyn Endpoint>,
    remote: Arc<dyn Endpoint>,
    config: ReplicatorConfig,
    status: watch::Sender<ReplicatorStatus>,
    passes: Mutex<PassCounts>,
    stop: watch::Sender<bool>,
    running: Mutex<bool>,
    status_listeners: Listeners<ReplicatorStatus>,
    document_listeners: Listeners<[DocumentEvent]>,
}

impl Replicator {
    /// A replicator between `local` and `remote`.
    ///
    /// # Errors
    /// [`InvalidInput::BadConfig`] if the configuration is inconsistent.
    pub fn new(local: Database, remote: Arc<dyn Endpoint>, config: ReplicatorConfig) -> Result<Replicator> {
        config.validate()?;
        Ok(Replicator {
            shared: Arc::new(Shared {
                // Revisions pulled are checked as far as the remote's ids allow.
                local: Arc::new(LocalEndpoint::new(local.clone()).receiving(remote.revision_trust())),
                local_db: local,
                remote,
                config,
                status: watch::channel(ReplicatorStatus::default()).0,
                passes: Mutex::new(PassCounts::default()),
                stop: watch::channel(false).0,
                running: Mutex::new(false),
                status_listeners: Listeners::default(),
                document_listeners: Listeners::default(),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ReplicatorConfig {
        &self.shared.config
    }

    /// Starts replicating in the background on the current tokio runtime.
    /// Does nothing if it is already running.
    ///
    /// # Errors
    /// [`InvalidInput::BadConfig`] when called outside a tokio runtime.
    pub fn start(&self) -> Result<()> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| InvalidInput::BadConfig("Replicator::start needs a tokio runtime".into()))?;
        let this = self.clone();
        handle.spawn(async move {
            // The outcome is in the status; nothing else to do with it.
            let _ = this.run().await;
        });
        Ok(())
    }

    /// Asks the replicator to stop; it finishes the step it is in and goes
    /// to [`ActivityLevel::Stopped`]. Progress is kept in checkpoints.
    pub fn stop(&self) {
        self.shared.stop.send_replace(true);
    }

    /// Runs to completion (one-shot) or until stopped (continuous), retrying
    /// transient errors with exponential backoff. Returns the error that
    /// stopped it, if any. Returns at once if it is already running.
    ///
    /// # Cancel safety
    /// Dropping the future stops the replication at an await point; what was
    /// stored stays stored and the checkpoint may lag behind it, which only
    /// means some revisions are compared again next time.
    pub async fn run(&self) -> Result<()> {
        {
            let mut running = self.shared.running.lock().unwrap_or_else(|e| e.into_inner());
            if *running {
                return Ok(());
            }
            *running = true;
        }
        self.shared.stop.send_replace(false);
        let outcome = self.shared.clone().run_with_retries().await;
        self.shared.remote.close().await;
        // The bytes of the last exchanges (and of the close, as far as it
        // is written by now).
        self.shared.update(|_| {});
        *self.shared.running.lock().unwrap_or_else(|e| e.into_inner()) = false;
        outcome
    }

    /// The current status.
    pub fn status(&self) -> ReplicatorStatus {
        self.shared.status.borrow().clone()
    }

    /// A receiver of status changes.
    pub fn subscribe_status(&self) -> watch::Receiver<ReplicatorStatus> {
        self.shared.status.subscribe()
    }

    /// Calls `listener` on every status change (on a replication task).
    pub fn add_status_listener(&self, listener: impl Fn(&ReplicatorStatus) + Send + Sync + 'static) -> ListenerToken {
        self.shared.status_listeners.add(Arc::new(listener))
    }

    /// Calls `listener` with each group of documents replicated or refused.
    pub fn add_document_listener(&self, listener: impl Fn(&[DocumentEvent]) + Send + Sync + 'static) -> ListenerToken {
        self.shared.document_listeners.add(Arc::new(listener))
    }

    /// Ids of local documents of `collection` changed since the last push
    /// checkpoint that the push would send (after doc-id and push filters).
    ///
    /// # Errors
    /// [`InvalidInput::BadConfig`] if this replicator does not push that
    /// collection.
    pub async fn pending_document_ids(&self, collection: &str) -> Result<HashSet<String>> {
        let config = self.pushed_collection(collection)?;
        let checkpointer = Checkpointer::new(
            self.shared.local.clone(),
            self.shared.remote.clone(),
            config,
            Direction::Push,
        )
        .await?;
        let mut feed = ChangesFeed::new(
            self.shared.local.clone(),
            collection,
            config.doc_ids.clone(),
            checkpointer.local_sequence().await?,
        );
        let max_history = self.shared.local_db.config().revs_limit as usize;
        let mut pending = HashSet::new();
        loop {
            let batch = feed.next_batch().await?;
            if batch.changes.is_empty() {
                return Ok(pending);
            }
            match &config.push_filter {
                None => pending.extend(batch.changes.into_iter().map(|c| c.id)),
                Some(filter) => {
                    let missing = batch
                        .changes
                        .into_iter()
                        .map(|c| super::MissingRevs::new(c.id, vec![c.rev]))
                        .collect();
                    let mut fetcher = Fetcher::new(self.shared.local.clone(), collection, missing, max_history);
                    while let Some(revs) = fetcher.next_batch().await? {
                        pending.extend(revs.into_iter().filter(|r| filter(r)).map(|r| r.id));
                    }
                }
            }
            feed.advance(batch.last_sequence);
        }
    }

    /// Whether the local document `id` of `collection` is waiting to be pushed.
    pub async fn is_document_pending(&self, collection: &str, id: &str) -> Result<bool> {
        Ok(self.pending_document_ids(collection).await?.contains(id))
    }

    fn pushed_collection(&self, name: &str) -> Result<&CollectionConfig> {
        if !self.shared.config.direction.pushes() {
            return Err(InvalidInput::BadConfig("this replicator does not push".into()).into());
        }
        self.shared
            .config
            .collections
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                InvalidInput::BadConfig(format!("collection {name:?} is not replicated by this replicator")).into()
            })
    }
}

impl Shared {
    async fn run_with_retries(self: Arc<Self>) -> Result<()> {
        let attempts = self.config.attempts();
        let mut failures = 0u32;
        self.update(|s| {
            *s = ReplicatorStatus {
                activity: ActivityLevel::Connecting,
                ..Default::default()
            };
        });
        loop {
            let outcome = self.clone().attempt().await;
            let stopped = *self.stop.borrow();
            match outcome {
                Ok(()) => {
                    // A run that completed leaves no error behind, even if
                    // earlier attempts failed.
                    self.update(|s| {
                        s.activity = ActivityLevel::Stopped;
                        s.error = None;
                    });
                    return Ok(());
                }
                Err(_) if stopped => {
                    self.update(|s| s.activity = ActivityLevel::Stopped);
                    return Ok(());
                }
                Err(e) if e.is_transient() && failures + 1 < attempts => {
                    failures += 1;
                    tracing::info!(error = %crate::net::log_safe::log_safe(&e.to_string()), attempt = failures, "replication failed; retrying");
                    let wait = backoff(failures, self.config.max_attempt_wait);
                    self.update(|s| {
                        s.activity = ActivityLevel::Offline;
                        s.error = Some(e.clone());
                        s.next_attempt = std::time::SystemTime::now().checked_add(wait);
                    });
                    let mut stop = self.stop.subscribe();
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.wait_for(|s| *s) => {}
                    }
                    self.update(|s| {
                        s.activity = ActivityLevel::Connecting;
                        s.next_attempt = None;
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %crate::net::log_safe::log_safe(&e.to_string()), "replication stopped");
                    self.update(|s| {
                        s.activity = ActivityLevel::Stopped;
                        s.error = Some(e.clone());
                    });
                    return Err(e);
                }
            }
        }
    }

    /// One attempt: every collection and direction at once.
    async fn attempt(self: Arc<Self>) -> Result<()> {
        // Reach the peer once before the passes start side by side: each
        // pass asks for its id, and a refused login must cost the peer one
        // password check, not one per pass racing to connect.
        self.remote.begin_attempt().await;
        self.remote.uuid().await?;
        let collections = self.collections().await?;
        let mut planned = Vec::new();
        for collection in &collections {
            if self.config.direction.pushes() {
                planned.push((collection.clone(), Direction::Push));
            }
            if self.config.direction.pulls() {
                planned.push((collection.clone(), Direction::Pull));
            }
        }
        *self.passes.lock().unwrap_or_else(|e| e.into_inner()) = PassCounts {
            total: planned.len(),
            ..Default::default()
        };
        let mut passes = JoinSet::new();
        for (collection, direction) in planned {
            passes.spawn(self.clone().pass(collection, direction));
        }
        while let Some(joined) = passes.join_next().await {
            let outcome = joined.unwrap_or_else(|e| Err(Error::Corrupt(format!("a replication task failed: {e}"))));
            if let Err(e) = outcome {
                passes.abort_all();
                return Err(e);
            }
        }
        Ok(())
    }

    /// The collections of this attempt: the configured ones, or every one
    /// the peer serves now (made locally when missing).
    async fn collections(&self) -> Result<Vec<CollectionConfig>> {
        if !self.config.all_served_collections {
            return Ok(self.config.collections.clone());
        }
        let served = self
            .remote
            .served_collections()
            .await?
            .unwrap_or_else(|| vec![DEFAULT_COLLECTION.to_owned()]);
        if served.len() > MAX_SERVED_COLLECTIONS_REPLICATED {
            return Err(ReplicationError::PeerMisbehaved(format!(
                "the peer serves {} collections, more than the {MAX_SERVED_COLLECTIONS_REPLICATED} replicated at most",
                served.len()
            ))
            .into());
        }
        let db = self.local_db.clone();
        let names = served.clone();
        tokio::task::spawn_blocking(move || names.iter().try_for_each(|name| db.create_collection(name).map(drop)))
            .await
            .map_err(|e| Error::Corrupt(format!("a replication task failed: {e}")))?
            .map_err(|e| match e {
                Error::InvalidInput(why) => {
                    ReplicationError::PeerMisbehaved(format!("a served collection: {why}")).into()
                }
                other => other,
            })?;
        let mut collections = Vec::with_capacity(served.len());
        for name in served {
            if collections.iter().any(|c: &CollectionConfig| c.name == name) {
                continue;
            }
            let configured = self.config.collections.iter().find(|c| c.name == name);
            collections.push(configured.cloned().unwrap_or_else(|| CollectionConfig::new(name)));
        }
        Ok(collections)
    }

    /// Replicates one collection in one direction, as a pipeline of two
    /// stages joined by a one-slot channel: [`Shared::read_source`] reads
    /// changes, finds what the target lacks and fetches it while
    /// [`Shared::write_target`] brings the blobs of the previous batch,
    /// inserts it and checkpoints. A target that allows it
    /// ([`Endpoint::overlaps_batches`]) has a batch's blobs brought while
    /// the batch before is stored, so the store's wait (its fsyncs) does
    /// not stop the transfer. At most four fetched batches are in memory
    /// at once (one being fetched, one in the channel, one being prepared,
    /// one being stored), each cut at [`crate::tuning::FETCH_BATCH_BYTES`].
    async fn pass(self: Arc<Self>, collection: CollectionConfig, direction: Direction) -> Result<()> {
        let mut checkpointer =
            Checkpointer::new(self.local.clone(), self.remote.clone(), &collection, direction).await?;
        let since = checkpointer.load().await?;
        let (tx, rx) = mpsc::channel(1);
        // A stop seen by the reading stage ends it (closing the channel)
        // but not the writing stage, which finishes what it holds: the
        // batch it is storing and that batch's checkpoint, so a stopped
        // replication resumes with only the remainder.
        let mut stopped = None;
        let read = async {
            match self.read_source(&collection, direction, since, tx).await {
                Err(e @ Error::Replication(ReplicationError::Stopped)) => {
                    stopped = Some(e);
                    Ok(())
                }
                other => other,
            }
        };
        let write = self.write_target(&collection, direction, &mut checkpointer, rx);
        tokio::try_join!(read, write)?;
        stopped.map_or(Ok(()), Err)
    }

    /// The reading stage of a pass.
    async fn read_source(
        &self,
        collection: &CollectionConfig,
        direction: Direction,
        since: Sequence,
        stages: mpsc::Sender<Stage>,
    ) -> Result<()> {
        let (source, target) = self.ends(direction);
        let name = collection.name.as_str();
        let mut feed = ChangesFeed::new(source.clone(), name, collection.doc_ids.clone(), since);
        let pending = feed.pending().await?;
        self.update(|s| s.progress.total += pending);
        let max_history = self.local_db.config().revs_limit as usize;
        let mut caught_up_once = false;
        // A closed channel means the writing stage failed; its error is the one reported.
        let send = |stage| async { stages.send(stage).await.is_ok() };
        loop {
            self.check_stop()?;
            let batch = feed.next_batch().await?;
            if batch.changes.is_empty() {
                feed.advance(batch.last_sequence);
                if !send(Stage::CaughtUp {
                    sequence: feed.since().clone(),
                })
                .await
                    || !self.config.continuous
                {
                    return Ok(());
                }
                caught_up_once = true;
                let mut stop = self.stop.subscribe();
                tokio::select! {
                    waited = feed.wait() => waited?,
                    _ = stop.wait_for(|s| *s) => return Err(ReplicationError::Stopped.into()),
                }
                continue;
            }
            let count = batch.changes.len() as u64;
            if !send(Stage::Found {
                count,
                new: caught_up_once,
            })
            .await
            {
                return Ok(());
            }
            let missing = find_missing(&*target, name, &batch.changes).await?;
            // Branched documents whose revisions are all here already (say,
            // pushed here by a third peer) are resolved too, so a conflict
            // cannot hide on a replica that never pulls anything new for it.
            let mut branched: HashSet<String> = batch
                .changes
                .into_iter()
                .filter(|c| direction == Direction::Pull && c.leaves.len() > 1)
                .map(|c| c.id)
                .collect();
            for m in &missing {
                branched.remove(&m.id);
            }
            let mut fetcher = if self.config.delta_sync {
                Fetcher::with_deltas(source.clone(), name, missing, max_history)
            } else {
                Fetcher::new(source.clone(), name, missing, max_history)
            };
            while let Some(revisions) = fetcher.next_batch().await? {
                self.check_stop()?;
                if !send(Stage::Revisions(revisions)).await {
                    return Ok(());
                }
            }
            feed.advance(batch.last_sequence);
            let done = Stage::Done {
                sequence: feed.since().clone(),
                count,
                branched: branched.into_iter().collect(),
            };
            if !send(done).await {
                return Ok(());
            }
        }
    }

    /// The writing stage of a pass.
    async fn write_target(
        &self,
        collection: &CollectionConfig,
        direction: Direction,
        checkpointer: &mut Checkpointer,
        mut stages: mpsc::Receiver<Stage>,
    ) -> Result<()> {
        let (source, target) = self.ends(direction);
        let name = collection.name.as_str();
        let filter = match direction {
            Direction::Push => collection.push_filter.clone(),
            _ => collection.pull_filter.clone(),
        };
        let resolver: Arc<dyn ConflictResolver> = collection
            .conflict_resolver
            .clone()
            .unwrap_or_else(|| Arc::new(DefaultConflictResolver));
        let mut busy = BusyGuard::new(self);
        // Set once a document is refused for a reason that clears without
        // an edit of it (see `holds_checkpoint`): the checkpoint then stays
        // where it was for the rest of the pass, so the next pass offers
        // that document again.
        let mut held = false;
        let overlap = target.overlaps_batches();
        let max_history = self.local_db.config().revs_limit as usize;
        // The batch being stored while the next one is prepared (its
        // blobs brought): at most one, finished before any other stage.
        let mut storing: Option<Stored<'_>> = None;
        while let Some(stage) = stages.recv().await {
            if !matches!(stage, Stage::Revisions(_)) {
                self.finish_storing(name, storing.take(), &mut held).await?;
            }
            match stage {
                Stage::Found { count, new } => {
                    busy.set(true);
                    if new {
                        self.update(|s| s.progress.total += count);
                    }
                }
                Stage::Revisions(revisions) => {
                    self.check_stop()?;
                    let prepare = prepare(
                        &*source,
                        &*target,
                        name,
                        direction,
                        revisions,
                        filter.as_ref(),
                        max_history,
                    );
                    let prepared = match storing.take() {
                        Some(stored) => {
                            let (prepared, events) = tokio::join!(prepare, stored);
                            self.note_stored(name, &events?, &mut held);
                            prepared?
                        }
                        None => prepare.await?,
                    };
                    let (source, target, resolver) = (&*source, &*target, &resolver);
                    let store: Stored<'_> = Box::pin(async move {
                        let mut events = prepared.store(source, target, name, direction, max_history).await?;
                        if direction == Direction::Pull {
                            // A document that refused a revision for its
                            // bounds is resolved too: closing its branches
                            // makes room, and the next pass brings the
                            // revision.
                            let stored = events
                                .iter()
                                .filter(|e| e.error.as_ref().is_none_or(resolving_makes_room))
                                .map(|e| e.id.clone())
                                .collect();
                            events.extend(self.resolve_conflicts(name, stored, resolver).await?);
                        }
                        Ok(events)
                    });
                    if overlap {
                        storing = Some(store);
                    } else {
                        self.finish_storing(name, Some(store), &mut held).await?;
                    }
                }
                Stage::Done {
                    sequence,
                    count,
                    branched,
                } => {
                    let events = self.resolve_conflicts(name, branched, &resolver).await?;
                    self.emit(&events);
                    if !held {
                        checkpointer.save(sequence).await?;
                    }
                    self.update(|s| {
                        s.progress.completed += count;
                        s.progress.total = s.progress.total.max(s.progress.completed);
                    });
                }
                Stage::CaughtUp { sequence } => {
                    if !held {
                        checkpointer.save(sequence).await?;
                    }
                    busy.set(false);
                }
            }
        }
        self.finish_storing(name, storing, &mut held).await
    }

    /// Waits for the batch being stored, if any, and notes its events.
    async fn finish_storing(&self, collection: &str, storing: Option<Stored<'_>>, held: &mut bool) -> Result<()> {
        if let Some(stored) = storing {
            self.note_stored(collection, &stored.await?, held);
        }
        Ok(())
    }

    /// Reports the events of a stored batch, and holds the pass's
    /// checkpoint (`held`) if one of them must be offered again.
    fn note_stored(&self, collection: &str, events: &[DocumentEvent], held: &mut bool) {
        if events.iter().any(|e| e.error.as_ref().is_some_and(holds_checkpoint)) && !*held {
            *held = true;
            tracing::info!(
                collection,
                "a document waits for a blob the peer cannot move yet, or for room among its conflicts; the checkpoint stays before it"
            );
        }
        self.emit(events);
    }

    /// `(source, target)` of a direction.
    fn ends(&self, direction: Direction) -> (Arc<dyn Endpoint>, Arc<dyn Endpoint>) {
        match direction {
            Direction::Push => (self.local.clone(), self.remote.clone()),
            _ => (self.remote.clone(), self.local.clone()),
        }
    }

    fn emit(&self, events: &[DocumentEvent]) {
        if !events.is_empty() {
            self.document_listeners.emit(events);
        }
    }

    /// Resolves the conflicts among documents `ids` of `collection`.
    async fn resolve_conflicts(
        &self,
        collection: &str,
        ids: Vec<String>,
        resolver: &Arc<dyn ConflictResolver>,
    ) -> Result<Vec<DocumentEvent>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let collection = self.local_db.collection(collection)?;
        let resolver = resolver.clone();
        tokio::task::spawn_blocking(move || resolve_documents(&collection, &ids, &resolver))
            .await
            .map_err(|e| Error::Corrupt(format!("conflict resolution failed: {e}")))?
    }

    fn check_stop(&self) -> Result<()> {
        if *self.stop.borrow() {
            return Err(ReplicationError::Stopped.into());
        }
        Ok(())
    }

    fn update(&self, f: impl FnOnce(&mut ReplicatorStatus)) {
        let mut snapshot = None;
        self.status.send_if_modified(|s| {
            let before = (
                s.activity,
                s.progress,
                s.wire,
                s.error.as_ref().map(ToString::to_string),
            );
            f(s);
            s.wire = self.remote.wire_bytes();
            let changed = before
                != (
                    s.activity,
                    s.progress,
                    s.wire,
                    s.error.as_ref().map(ToString::to_string),
                );
            if changed {
                snapshot = Some(s.clone());
            }
            changed
        });
        if let Some(status) = snapshot {
            self.status_listeners.emit(&status);
        }
    }

    /// Moves one pass between busy, idle and neither, and derives the
    /// activity: busy if any pass is, idle once every pass is caught up.
    fn set_pass_state(&self, from: PassState, to: PassState) {
        let mut counts = self.passes.lock().unwrap_or_else(|e| e.into_inner());
        counts.adjust(from, -1);
        counts.adjust(to, 1);
        let activity = if counts.busy > 0 {
            Some(ActivityLevel::Busy)
        } else if counts.idle == counts.total {
            Some(ActivityLevel::Idle)
        } else {
            None
        };
        drop(counts);
        if let Some(activity) = activity {
            self.update(|s| {
                if s.activity != ActivityLevel::Stopped {
                    // Working again (or caught up) after a failed attempt:
                    // the error is over.
                    s.activity = activity;
                    s.error = None;
                }
            });
        }
    }
}

/// What the reading stage of a pass hands to the writing stage.
/// A batch being stored (and its conflicts resolved): its events.
type Stored<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<DocumentEvent>>> + Send + 'a>>;

enum Stage {
    /// A batch of `count` changes is being read; `new` if it arrived after
    /// the pass first caught up (so it adds to the progress total).
    Found { count: u64, new: bool },
    /// Revisions to store in the target.
    Revisions(Vec<Revision>),
    /// The batch is fully fetched: resolve `branched`, then checkpoint.
    Done {
        sequence: Sequence,
        count: u64,
        branched: Vec<String>,
    },
    /// Caught up at `sequence`.
    CaughtUp { sequence: Sequence },
}

/// How many passes of the current attempt are busy or caught up.
#[derive(Default)]
struct PassCounts {
    total: usize,
    busy: usize,
    idle: usize,
}

impl PassCounts {
    fn adjust(&mut self, state: PassState, delta: isize) {
        let slot = match state {
            PassState::Starting => return,
            PassState::Busy => &mut self.busy,
            PassState::Idle => &mut self.idle,
        };
        *slot = slot.saturating_add_signed(delta);
    }
}

/// Where one pass is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PassState {
    Starting,
    Busy,
    Idle,
}

/// Tracks one pass's state and takes it out of the counts when dropped.
struct BusyGuard<'a> {
    shared: &'a Shared,
    state: PassState,
}

impl<'a> BusyGuard<'a> {
    fn new(shared: &'a Shared) -> Self {
        BusyGuard {
            shared,
            state: PassState::Starting,
        }
    }

    fn set(&mut self, busy: bool) {
        let to = if busy { PassState::Busy } else { PassState::Idle };
        if self.state != to {
            self.shared.set_pass_state(self.state, to);
            self.state = to;
        }
    }
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        let mut counts = self.shared.passes.lock().unwrap_or_else(|e| e.into_inner());
        counts.adjust(self.state, -1);
    }
}

/// Exponential backoff with jitter: about 1 s, 2 s, 4 s, ... up to `max`.
fn backoff(failures: u32, max: Duration) -> Duration {
    let base = Duration::from_secs(1u64 << failures.saturating_sub(1).min(16)).min(max);
    let jitter = (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0; // 0..1
    base.mul_f64(0.75 + jitter * 0.5).min(max)
}

/// Whether a document's error must keep the checkpoint from passing it:
/// the peer cannot move blobs yet ([`BlobError::NotSupported`]), the
/// source did not give a blob its revision names ([`BlobError::Missing`]:
/// not readable there now, say after a reconnect), or the target's copy of
/// the document is at its live-leaf or byte bound
/// ([`resolving_makes_room`]: which revisions a bound refuses depends on
/// the order they arrive in, and resolving the document's conflicts, here
/// after a pull or on the peer, makes room). Each clears without an edit of
/// the document (the peer upgrades, the source serves the blob again, the
/// conflict is resolved), and a photo or a revision must not be left
/// behind for good: replicas that skipped different revisions would keep
/// different winners. A document's own fault (bytes that do not match the
/// digest, a bad body) does not hold the checkpoint: sending it again
/// would fail the same way.
fn holds_checkpoint(e: &Error) -> bool {
    matches!(e, Error::Blob(BlobError::NotSupported | BlobError::Missing { .. })) || resolving_makes_room(e)
}
