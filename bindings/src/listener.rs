//! `ListenerHandle`: what registering a listener returns; cancelling it
//! removes the listener. Releasing it does not: a listener lives until it is
//! cancelled or its database closes, never until a garbage collection.

use std::sync::Mutex;

use outpost_core::ListenerToken;

/// Removes a listener with `cancel()`. Releasing the handle (Kotlin `close()`
/// or a garbage collection, Swift `deinit`) leaves the listener registered
/// until its database (or replicator) goes away, as Couchbase Lite's
/// listener tokens do: keep the handle to remove the listener.
#[derive(uniffi::Object)]
pub struct ListenerHandle {
    tokens: Mutex<Vec<ListenerToken>>,
}

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        // A token removes its listener when dropped: not dropping it keeps the
        // listener registered. The token holds only a weak reference to the
        // listener list, so this keeps no database alive.
        for token in self.tokens.get_mut().unwrap_or_else(|e| e.into_inner()).drain(..) {
            std::mem::forget(token);
        }
    }
}

impl ListenerHandle {
    pub(crate) fn new(tokens: Vec<ListenerToken>) -> std::sync::Arc<Self> {
        std::sync::Arc::new(ListenerHandle {
            tokens: Mutex::new(tokens),
        })
    }
}

#[uniffi::export]
impl ListenerHandle {
    /// Removes the listener now. Cancelling twice is fine.
    pub fn cancel(&self) {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Whether the listener is still registered.
    pub fn is_active(&self) -> bool {
        !self.tokens.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }
}
