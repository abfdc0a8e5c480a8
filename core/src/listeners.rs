//! A list of callbacks with tokens that remove them on drop.

use std::sync::{Arc, Mutex, Weak};

/// A registered callback.
pub(crate) type Callback<E> = Arc<dyn Fn(&E) + Send + Sync>;

type Entry<E> = (u64, Callback<E>);

/// Callbacks taking `&E`, called in registration order.
pub(crate) struct Listeners<E: ?Sized> {
    entries: Arc<Mutex<(u64, Vec<Entry<E>>)>>,
}

impl<E: ?Sized + 'static> Default for Listeners<E> {
    fn default() -> Self {
        Listeners {
            entries: Arc::new(Mutex::new((0, Vec::new()))),
        }
    }
}

/// Keeps a listener registered; dropping it (or calling
/// [`ListenerToken::remove`]) removes the listener.
#[must_use = "the listener is removed when the token is dropped"]
pub struct ListenerToken {
    remove: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl ListenerToken {
    pub(crate) fn new(remove: impl FnOnce() + Send + Sync + 'static) -> Self {
        ListenerToken {
            remove: Some(Box::new(remove)),
        }
    }

    /// Removes the listener now.
    pub fn remove(self) {}
}

impl Drop for ListenerToken {
    fn drop(&mut self) {
        if let Some(remove) = self.remove.take() {
            remove();
        }
    }
}

impl std::fmt::Debug for ListenerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ListenerToken")
    }
}

impl<E: ?Sized + 'static> Listeners<E> {
    /// Registers `callback`.
    pub(crate) fn add(&self, callback: Callback<E>) -> ListenerToken {
        let mut guard = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        guard.0 += 1;
        let key = guard.0;
        guard.1.push((key, callback));
        let weak: Weak<Mutex<(u64, Vec<Entry<E>>)>> = Arc::downgrade(&self.entries);
        ListenerToken::new(move || {
            if let Some(entries) = weak.upgrade() {
                entries
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .1
                    .retain(|(k, _)| *k != key);
            }
        })
    }

    /// The current callbacks (called by the caller with no lock held, so a
    /// callback may add or remove listeners).
    pub(crate) fn snapshot(&self) -> Vec<Callback<E>> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .iter()
            .map(|(_, f)| f.clone())
            .collect()
    }

    /// Calls every callback with `event`.
    pub(crate) fn emit(&self, event: &E) {
        for f in self.snapshot() {
            f(event);
        }
    }
}
