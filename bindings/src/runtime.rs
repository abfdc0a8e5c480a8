//! The one multi-thread tokio runtime that replicators and async exports
//! run on, made on first use and kept for the life of the process.

use std::sync::LazyLock;
use std::time::Duration;

use tokio::runtime::{Builder, Runtime};

use crate::error::OutpostError;

/// Worker threads: replication is I/O and SQLite bound, two are plenty on a phone.
const WORKER_THREADS: usize = 2;
/// Blocking threads (SQLite work of replicators) at most.
const MAX_BLOCKING_THREADS: usize = 8;
/// An idle blocking thread exits after this long.
const BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(2);

static RUNTIME: LazyLock<Result<Runtime, String>> = LazyLock::new(|| {
    Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .thread_name("outpost-worker")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
});

/// The shared runtime.
///
/// # Errors
/// [`OutpostError::Internal`] if the runtime could not be made (the OS
/// refused threads).
pub(crate) fn runtime() -> Result<&'static Runtime, OutpostError> {
    RUNTIME
        .as_ref()
        .map_err(|e| OutpostError::Internal(format!("could not start the Outpost runtime: {e}")))
}

/// Runs `future` on the shared runtime and waits for it from any executor
/// (the foreign language's), so async exports never need the caller to be
/// inside tokio.
pub(crate) async fn spawn<T: Send + 'static>(
    future: impl std::future::Future<Output = Result<T, OutpostError>> + Send + 'static,
) -> Result<T, OutpostError> {
    runtime()?
        .spawn(future)
        .await
        .map_err(|e| OutpostError::Internal(format!("an Outpost task failed: {e}")))?
}
