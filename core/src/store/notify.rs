//! Change notification: wakes subscribers and calls listeners after a write
//! commits, for every handle open on the same file in this process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

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

struct Registration {
    key: u64,
    collection: String,
    doc_id: Option<String>,
    callback: Callback,
}

/// Shared by every handle open on one database file.
pub(crate) struct Notifier {
    last_seq: watch::Sender<u64>,
    listeners: Mutex<(u64, Vec<Registration>)>,
}

/// Removes its listener when dropped (or on [`ListenerToken::remove`]).
#[must_use = "the listener is removed when the token is dropped"]
pub struct ListenerToken {
    notifier: Weak<Notifier>,
    key: u64,
}

impl ListenerToken {
    /// Removes the listener now.
    pub fn remove(self) {}
}

impl Drop for ListenerToken {
    fn drop(&mut self) {
        if let Some(n) = self.notifier.upgrade() {
            let mut guard = n.listeners.lock().unwrap_or_else(|e| e.into_inner());
            guard.1.retain(|r| r.key != self.key);
        }
    }
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
            listeners: Mutex::new((0, Vec::new())),
        });
        registry.insert(path.to_owned(), Arc::downgrade(&notifier));
        notifier
    }

    /// A receiver of the database's last sequence.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.last_seq.subscribe()
    }

    pub(crate) fn add_listener(
        self: &Arc<Self>,
        collection: &str,
        doc_id: Option<&str>,
        callback: Callback,
    ) -> ListenerToken {
        let mut guard = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        guard.0 += 1;
        let key = guard.0;
        guard.1.push(Registration {
            key,
            collection: collection.to_owned(),
            doc_id: doc_id.map(str::to_owned),
            callback,
        });
        ListenerToken {
            notifier: Arc::downgrade(self),
            key,
        }
    }

    /// Publishes a committed write. Listeners run on the calling thread,
    /// with no lock held, so they may use the database.
    pub(crate) fn publish(&self, sequence: u64, events: Vec<ChangeEvent>) {
        self.last_seq.send_if_modified(|seq| {
            let newer = sequence > *seq;
            *seq = (*seq).max(sequence);
            newer
        });
        let calls: Vec<(Callback, ChangeEvent)> = {
            let guard = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
            let mut calls = Vec::new();
            for event in &events {
                for reg in guard.1.iter().filter(|r| r.collection == event.collection) {
                    match &reg.doc_id {
                        None => calls.push((reg.callback.clone(), event.clone())),
                        Some(id) if event.doc_ids.contains(id) => {
                            let only = ChangeEvent {
                                doc_ids: vec![id.clone()],
                                ..event.clone()
                            };
                            calls.push((reg.callback.clone(), only));
                        }
                        Some(_) => {}
                    }
                }
            }
            calls
        };
        for (callback, event) in calls {
            callback(&event);
        }
    }
}
