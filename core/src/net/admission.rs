//! `Admission`: which connections a listener takes in, and how many it
//! keeps, so that strangers cannot lock out the field workers.
//!
//! Two budgets, counted apart:
//! - **Handshakes** (connections not yet authenticated: TLS handshake,
//!   HTTP upgrade, password check): at most [`MAX_HANDSHAKING_PER_ADDRESS`]
//!   per address group (an IPv4 address, an IPv6 /64) and
//!   [`MAX_HANDSHAKING`] in all. A connection past its address's cap is
//!   closed at once. When the listener is full, a newcomer from an address
//!   group with fewer handshakes than the busiest group evicts that group's
//!   oldest handshake (which is closed); otherwise the newcomer is closed.
//!   So a stranger holding many handshakes from a few addresses cannot keep
//!   a phone from another address out.
//! - **Sessions** (authenticated connections): at most the listener's
//!   `max_connections`; strangers never hold one.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::auth::address_group;
use crate::tuning::{MAX_HANDSHAKING, MAX_HANDSHAKING_PER_ADDRESS};

/// Handshakes by connection id (ids grow, so the first is the oldest).
#[derive(Default)]
struct Handshakes {
    per_group: HashMap<IpAddr, usize>,
    /// Group of each handshake, and the sender whose drop evicts it.
    by_id: BTreeMap<u64, (IpAddr, oneshot::Sender<()>)>,
}

impl Handshakes {
    fn remove(&mut self, id: u64) {
        let Some((group, _evict)) = self.by_id.remove(&id) else {
            return;
        };
        if let Some(n) = self.per_group.get_mut(&group) {
            *n -= 1;
            if *n == 0 {
                self.per_group.remove(&group);
            }
        }
    }

    /// The oldest handshake of the busiest address group, if that group
    /// has more handshakes than `fewer_than`.
    fn eviction_victim(&self, fewer_than: usize) -> Option<u64> {
        let busiest = self.per_group.values().copied().max()?;
        if busiest <= fewer_than {
            return None;
        }
        self.by_id
            .iter()
            .find(|(_, (group, _))| self.per_group.get(group) == Some(&busiest))
            .map(|(id, _)| *id)
    }
}

/// A listener's handshake and session budgets.
pub(crate) struct Admission {
    handshakes: Mutex<Handshakes>,
    sessions: AtomicUsize,
    max_sessions: usize,
}

/// A connection counted as handshaking until dropped.
pub(crate) struct HandshakeTicket {
    admission: Arc<Admission>,
    id: u64,
    evicted: oneshot::Receiver<()>,
}

/// An authenticated session counted against `max_connections` until
/// dropped.
pub(crate) struct SessionSlot {
    admission: Arc<Admission>,
}

impl Admission {
    /// Budgets for a listener allowing `max_sessions` sessions.
    pub(crate) fn new(max_sessions: usize) -> Arc<Admission> {
        Arc::new(Admission {
            handshakes: Mutex::default(),
            sessions: AtomicUsize::new(0),
            max_sessions,
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Handshakes> {
        self.handshakes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes connection `id` from `ip` in as handshaking, evicting another
    /// handshake if the listener is full and that is fair; `None` when it
    /// must be closed at once.
    pub(crate) fn admit(self: &Arc<Self>, id: u64, ip: IpAddr) -> Option<HandshakeTicket> {
        let group = address_group(ip);
        let mut table = self.table();
        let mine = table.per_group.get(&group).copied().unwrap_or(0);
        if mine >= MAX_HANDSHAKING_PER_ADDRESS {
            return None;
        }
        if table.by_id.len() >= MAX_HANDSHAKING {
            let victim = table.eviction_victim(mine)?;
            table.remove(victim);
            tracing::debug!(address = %group, "evicted the oldest handshake of the busiest address");
        }
        let (evict, evicted) = oneshot::channel();
        *table.per_group.entry(group).or_default() += 1;
        table.by_id.insert(id, (group, evict));
        Some(HandshakeTicket {
            admission: self.clone(),
            id,
            evicted,
        })
    }

    /// Connections handshaking now.
    pub(crate) fn handshaking(&self) -> usize {
        self.table().by_id.len()
    }

    /// Whether every session slot is taken.
    pub(crate) fn sessions_full(&self) -> bool {
        self.sessions.load(Ordering::SeqCst) >= self.max_sessions
    }

    /// A session slot, or `None` when all `max_connections` are taken.
    pub(crate) fn open_session(self: &Arc<Self>) -> Option<SessionSlot> {
        self.sessions
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max_sessions).then_some(n + 1)
            })
            .ok()?;
        Some(SessionSlot {
            admission: self.clone(),
        })
    }
}

impl HandshakeTicket {
    /// Resolves when this handshake is evicted to make room for another.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub(crate) async fn evicted(&mut self) {
        let _ = (&mut self.evicted).await;
    }
}

impl Drop for HandshakeTicket {
    fn drop(&mut self) {
        self.admission.table().remove(self.id);
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.admission.sessions.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn one_address_gets_its_cap_and_a_full_listener_evicts_the_busiest() {
        let admission = Admission::new(2);
        let mut id = 0;
        let mut next = || {
            id += 1;
            id
        };
        let mut tickets = Vec::new();
        for _ in 0..MAX_HANDSHAKING_PER_ADDRESS {
            tickets.push(admission.admit(next(), ip("10.0.0.1")).unwrap());
        }
        assert!(
            admission.admit(next(), ip("10.0.0.1")).is_none(),
            "past the address's cap"
        );
        // Fill the listener from other addresses.
        let mut n = 0;
        while admission.handshaking() < MAX_HANDSHAKING {
            let from = ip(&format!("10.0.1.{}", n / MAX_HANDSHAKING_PER_ADDRESS));
            tickets.push(admission.admit(next(), from).unwrap());
            n += 1;
        }
        // A newcomer from a fresh address evicts the first address's oldest.
        let newcomer = admission.admit(next(), ip("10.0.9.9")).unwrap();
        assert_eq!(admission.handshaking(), MAX_HANDSHAKING);
        let mut first = tickets.remove(0);
        let evicted = futures_util::FutureExt::now_or_never(first.evicted());
        assert!(
            evicted.is_some(),
            "the oldest handshake of the busiest address was evicted"
        );
        drop(first);
        assert_eq!(
            admission.handshaking(),
            MAX_HANDSHAKING,
            "the evicted one was already uncounted"
        );
        drop(newcomer);
        drop(tickets);
        assert_eq!(admission.handshaking(), 0);
    }

    #[test]
    fn sessions_are_capped_and_released() {
        let admission = Admission::new(2);
        let a = admission.open_session().unwrap();
        let _b = admission.open_session().unwrap();
        assert!(admission.sessions_full());
        assert!(admission.open_session().is_none());
        drop(a);
        assert!(admission.open_session().is_some());
    }
}
