//! Change notification: wakes subscribers and calls listeners after a write
//! commits, for every handle open on the same file in this process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::listeners::{ListenerToken, Listeners};

use tokio::sync::watch;

/// What a committed write changed in one collection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeEvent {
    /// Collection name.
    pub collection: String,
    /// Ids of the changed documents, in write order.
    pub doc_ids: Vec<String>,
    /// Database sequence after the write.
    pub sequence: u64,
}

type Callback = Arc<dyn Fn(&ChangeEvent) + Send + Sync>;

/// Shared by every handle open on one database file.
pub(crate) struct Notifier {
    last_seq: watch::Sender<u64>,
    /// Each entry filters by collection (and document) itself.
    listeners: Listeners<ChangeEvent>,
}

impl Notifier {
    /// The notifier of the file at `path` (canonical), shared process-wide.
    pub(crate) fn for_path(path: &Path, last_seq: u64) -> Arc<Notifier> {
        static REGISTRY: OnceLock<Mutex<HashMap<PathBuf, Weak<Notifier>>>> = OnceLock::new();
        let mut registry = REGISTRY
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        registry.retain(|_, weak| weak.strong_count() > 0);
        if let Some(existing) = registry.get(path).and_then(Weak::upgrade) {
            return existing;
        }
        let notifier = Arc::new(Notifier {
            last_seq: watch::channel(last_seq).0,
            listeners: Listeners::default(),
        });
        registry.insert(path.to_owned(), Arc::downgrade(&notifier));
        notifier
    }

    /// A receiver of the database's last sequence.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.last_seq.subscribe()
    }

    pub(crate) fn add_listener(&self, collection: &str, doc_id: Option<&str>, callback: Callback) -> ListenerToken {
        let (collection, doc_id) = (collection.to_owned(), doc_id.map(str::to_owned));
        self.listeners.add(Arc::new(move |event: &ChangeEvent| {
            if event.collection != collection {
                return;
            }
            match &doc_id {
                None => callback(event),
                Some(id) if event.doc_ids.contains(id) => callback(&ChangeEvent {
                    doc_ids: vec![id.clone()],
                    ..event.clone()
                }),
                Some(_) => {}
            }
        }))
    }

    /// Publishes a committed write. Listeners run on the calling thread,
    /// with no lock held, so they may use the database.
    pub(crate) fn publish(&self, sequence: u64, events: Vec<ChangeEvent>) {
        self.last_seq.send_if_modified(|seq| {
            let newer = sequence > *seq;
            *seq = (*seq).max(sequence);
            newer
        });
        for event in &events {
            self.listeners.emit(event);
        }
    }
}
