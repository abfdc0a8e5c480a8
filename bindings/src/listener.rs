//! `ListenerHandle`: what registering a listener returns; cancelling or
//! dropping it removes the listener.

use std::sync::Mutex;

use outpost_core::ListenerToken;

/// Keeps a listener registered. Call `cancel()` (or let the handle be
/// released: Kotlin `close()`, Swift `deinit`) to remove the listener.
#[derive(uniffi::Object)]
pub struct ListenerHandle {
    tokens: Mutex<Vec<ListenerToken>>,
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
