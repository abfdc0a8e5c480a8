//! Byte budgets: the memory a connection, and all the connections of a
//! listener together, may hold for requests being served and frames
//! waiting to be written.
//!
//! Bytes are reserved before the memory they stand for exists (before a
//! request is served, with the most its reply can take; before a request of
//! this side is queued) and released once the frame is written to the
//! socket. A reservation that does not fit waits, so a peer that stops
//! reading stops being served instead of growing memory. A reservation
//! larger than a whole budget takes the whole budget, so it still goes
//! through, alone.
//!
//! Budgets are always taken in the same order (the connection's, then the
//! listener's) and a reservation never waits for more while holding some,
//! so waiting cannot deadlock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Semaphore;

/// A number of bytes that can be held, with the current and highest use.
#[derive(Debug)]
pub(crate) struct ByteBudget {
    capacity: usize,
    free: Semaphore,
    held: AtomicUsize,
    peak: AtomicUsize,
    /// For a listener's budget: the most any one of its connections held.
    peak_of_one: AtomicUsize,
}

impl ByteBudget {
    /// A budget of `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> Self {
        ByteBudget {
            capacity,
            free: Semaphore::new(capacity.min(Semaphore::MAX_PERMITS)),
            held: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            peak_of_one: AtomicUsize::new(0),
        }
    }

    /// Bytes held now.
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// The most bytes held at once.
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// The most bytes one member budget (a connection) held at once.
    pub(crate) fn peak_of_one(&self) -> usize {
        self.peak_of_one.load(Ordering::SeqCst)
    }

    /// Wakes every waiter with a refusal; for a budget whose connection
    /// has closed.
    pub(crate) fn close(&self) {
        self.free.close();
    }

    /// The part of `bytes` this budget counts: never more than all of it.
    fn share(&self, bytes: usize) -> u32 {
        let capped = bytes.min(self.capacity).min(Semaphore::MAX_PERMITS);
        u32::try_from(capped).unwrap_or(u32::MAX)
    }

    async fn take(&self, bytes: u32) -> Option<()> {
        self.free.acquire_many(bytes).await.ok()?.forget();
        let held = self.held.fetch_add(bytes as usize, Ordering::SeqCst) + bytes as usize;
        self.peak.fetch_max(held, Ordering::SeqCst);
        Some(())
    }

    fn give_back(&self, bytes: u32) {
        self.held.fetch_sub(bytes as usize, Ordering::SeqCst);
        self.free.add_permits(bytes as usize);
    }
}

impl Default for ByteBudget {
    /// A listener's budget, [`crate::tuning::LISTENER_BUFFER_BYTES`].
    fn default() -> Self {
        ByteBudget::new(crate::tuning::LISTENER_BUFFER_BYTES)
    }
}

/// The budgets one connection draws on: its own and, on a listener, the
/// listener's.
#[derive(Clone, Debug)]
pub(crate) struct Budgets {
    connection: Arc<ByteBudget>,
    listener: Option<Arc<ByteBudget>>,
}

impl Budgets {
    /// A new connection budget of `capacity` bytes, within `listener`'s.
    pub(crate) fn new(capacity: usize, listener: Option<Arc<ByteBudget>>) -> Self {
        Budgets {
            connection: Arc::new(ByteBudget::new(capacity)),
            listener,
        }
    }

    /// The connection's own budget.
    pub(crate) fn connection(&self) -> &ByteBudget {
        &self.connection
    }

    /// Holds `bytes` (capped at each budget's capacity), waiting until they
    /// are free. `None` once the connection's budget is closed.
    pub(crate) async fn reserve(&self, bytes: usize) -> Option<Reservation> {
        let mut reservation = Reservation {
            budgets: self.clone(),
            on_connection: 0,
            on_listener: 0,
        };
        let on_connection = self.connection.share(bytes);
        self.connection.take(on_connection).await?;
        reservation.on_connection = on_connection;
        if let Some(listener) = &self.listener {
            let on_listener = listener.share(bytes);
            // Waiting here is cancelled with the connection: its reader
            // and request handlers end when it closes. On failure,
            // dropping `reservation` gives back what it holds.
            listener.take(on_listener).await?;
            reservation.on_listener = on_listener;
            listener.peak_of_one.fetch_max(self.connection.held(), Ordering::SeqCst);
        }
        Some(reservation)
    }
}

/// Bytes held until dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    budgets: Budgets,
    on_connection: u32,
    on_listener: u32,
}

impl Reservation {
    /// Changes the reservation to `bytes`: gives back the surplus at once,
    /// or, when more is needed, gives everything back and reserves `bytes`
    /// afresh (never waiting while holding). `None` once the connection's
    /// budget is closed.
    pub(crate) async fn resize(mut self, bytes: usize) -> Option<Reservation> {
        let budgets = self.budgets.clone();
        let want_connection = budgets.connection.share(bytes);
        let want_listener = budgets.listener.as_ref().map_or(0, |l| l.share(bytes));
        if want_connection <= self.on_connection && want_listener <= self.on_listener {
            budgets.connection.give_back(self.on_connection - want_connection);
            self.on_connection = want_connection;
            if let Some(listener) = &budgets.listener {
                listener.give_back(self.on_listener - want_listener);
                self.on_listener = want_listener;
            }
            return Some(self);
        }
        drop(self);
        budgets.reserve(bytes).await
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budgets.connection.give_back(self.on_connection);
        if let Some(listener) = &self.budgets.listener {
            listener.give_back(self.on_listener);
        }
    }
}
