//! `PasswordChecks`: the listener-wide budget of password checks.
//!
//! A check (Argon2id) costs ~19 MiB and tens of milliseconds of a core, so
//! at most [`MAX_CONCURRENT_PASSWORD_CHECKS`] run at once, whoever asks, and
//! at most [`MAX_QUEUED_PASSWORD_CHECKS`] more wait for a turn; past that a
//! login is refused before it is checked (the listener answers 503 with
//! `Retry-After`). The slots travel with the check onto its blocking
//! thread, so a connection cut mid-check cannot free a slot while its hash
//! still runs.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::Zeroizing;

use super::{Granted, ListenerAuthenticator};
use crate::tuning::{MAX_CONCURRENT_PASSWORD_CHECKS, MAX_QUEUED_PASSWORD_CHECKS};

/// Slots for running and waiting password checks.
pub(crate) struct PasswordChecks {
    /// Checks running or waiting.
    admitted: Arc<Semaphore>,
    /// Checks running.
    running: Arc<Semaphore>,
}

impl Default for PasswordChecks {
    fn default() -> Self {
        PasswordChecks {
            admitted: Arc::new(Semaphore::new(
                MAX_CONCURRENT_PASSWORD_CHECKS + MAX_QUEUED_PASSWORD_CHECKS,
            )),
            running: Arc::new(Semaphore::new(MAX_CONCURRENT_PASSWORD_CHECKS)),
        }
    }
}

/// A place in the queue of password checks.
pub(crate) struct AdmittedCheck {
    admitted: OwnedSemaphorePermit,
    running: Arc<Semaphore>,
}

impl PasswordChecks {
    /// A place in the queue, or `None` when it is full.
    pub(crate) fn admit(&self) -> Option<AdmittedCheck> {
        let admitted = self.admitted.clone().try_acquire_owned().ok()?;
        Some(AdmittedCheck {
            admitted,
            running: self.running.clone(),
        })
    }
}

impl AdmittedCheck {
    /// Waits for a turn, then checks the credentials on a blocking thread:
    /// what they grant, `None` if refused. A check that panics counts as
    /// refused.
    ///
    /// # Cancel safety
    /// Dropping the future stops waiting; a check already running finishes
    /// on its thread and only then frees its slot.
    pub(crate) async fn check(
        self,
        authenticator: ListenerAuthenticator,
        user: String,
        password: Zeroizing<String>,
    ) -> Option<Granted> {
        let Ok(running) = self.running.clone().acquire_owned().await else {
            return None;
        };
        let slots = (self.admitted, running);
        tokio::task::spawn_blocking(move || {
            let _slots = slots;
            authenticator.check_password(&user, &password)
        })
        .await
        .unwrap_or(None)
    }
}
