//! `LoginThrottle`: slows down password guessing, per address and per user
//! name.
//!
//! Addresses are grouped ([`address_group`]): an IPv4 address alone, an
//! IPv6 address by its /64, since one device on IPv6 has a whole /64.
//!
//! A login attempt is reserved ([`LoginThrottle::begin`]) before its
//! password is checked and counts as a failure until it succeeds, so
//! concurrent guesses cannot get more checks than the limit. After
//! [`MAX_FAILED_LOGINS`] failures from one address group (or
//! [`MAX_FAILED_LOGINS_PER_USER`] for one user name, from anywhere) within
//! [`FAILED_LOGIN_WINDOW`], it is locked out for [`LOGIN_LOCKOUT_BASE`],
//! doubling with each further failure up to [`LOGIN_LOCKOUT_MAX`]; after a
//! lockout ends, one attempt at a time is allowed. While locked out,
//! attempts are refused (HTTP 429 and `Retry-After`) before any password is
//! checked. A success clears the address's and the user's failures, and
//! remembers the address as known for that user: a user name's lockout
//! does not apply to its [`KNOWN_ADDRESSES_PER_USER`] known addresses, so a
//! stranger guessing a worker's password does not lock the worker out.
//!
//! Bookkeeping is bounded: at most [`MAX_LOGIN_RECORDS`] records of each
//! kind, user names kept only as a keyed 16-byte digest.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::net::log_safe::{user_digest, user_tag};
use crate::tuning::{
    FAILED_LOGIN_WINDOW, KNOWN_ADDRESSES_PER_USER, LOGIN_LOCKOUT_BASE, LOGIN_LOCKOUT_MAX, MAX_FAILED_LOGINS,
    MAX_FAILED_LOGINS_PER_USER, MAX_LOGIN_RECORDS,
};

/// The group an address is throttled and counted by: an IPv4 address (or
/// an IPv4-mapped IPv6 one) alone, any other IPv6 address by its /64.
pub(crate) fn address_group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

/// One address group's or user name's recent logins.
#[derive(Default)]
struct Record {
    /// Failed logins in the current window.
    failures: u32,
    /// Attempts reserved and being checked now.
    in_flight: u32,
    last: Option<Instant>,
    locked_until: Option<Instant>,
    /// For a user name: address groups that logged in as it, newest last.
    known: Vec<IpAddr>,
}

impl Record {
    /// `Err(wait)` unless one more attempt may be checked now.
    fn admits(&mut self, limit: u32, now: Instant) -> Result<(), Duration> {
        if let Some(until) = self.locked_until.filter(|u| *u > now) {
            return Err(until - now);
        }
        let window_over = self.last.is_none_or(|l| now.duration_since(l) >= FAILED_LOGIN_WINDOW);
        if window_over && self.in_flight == 0 {
            self.failures = 0;
            self.locked_until = None;
        }
        // After a lockout has ended, one attempt at a time.
        let allowance = limit.saturating_sub(self.failures).max(1);
        if self.in_flight >= allowance {
            return Err(LOGIN_LOCKOUT_BASE);
        }
        Ok(())
    }

    /// Whether nothing about this record is worth keeping at `now`.
    fn expired(&self, now: Instant) -> bool {
        self.in_flight == 0
            && self.locked_until.is_none_or(|u| u <= now)
            && self.last.is_none_or(|l| now.duration_since(l) >= FAILED_LOGIN_WINDOW)
            && self.known.is_empty()
    }

    /// Settles one reserved attempt; returns the lockout it started.
    fn settle(&mut self, failed: bool, limit: u32, now: Instant) -> Option<Duration> {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.last = Some(now);
        if !failed {
            self.failures = 0;
            self.locked_until = None;
            return None;
        }
        self.failures = self.failures.saturating_add(1);
        if self.failures < limit {
            return None;
        }
        let doublings = (self.failures - limit).min(16);
        let lockout = LOGIN_LOCKOUT_BASE.saturating_mul(1 << doublings).min(LOGIN_LOCKOUT_MAX);
        self.locked_until = Some(now + lockout);
        Some(lockout)
    }
}

/// Records by key, at most [`MAX_LOGIN_RECORDS`].
struct Records<K> {
    map: HashMap<K, Record>,
}

impl<K: Hash + Eq + Copy> Records<K> {
    fn new() -> Self {
        Records { map: HashMap::new() }
    }

    /// The record of `key`, made room for if the table is full: expired
    /// records go first, then the least recently used idle one.
    fn entry(&mut self, key: K, now: Instant) -> &mut Record {
        if !self.map.contains_key(&key) && self.map.len() >= MAX_LOGIN_RECORDS {
            self.map.retain(|_, r| !r.expired(now));
            if self.map.len() >= MAX_LOGIN_RECORDS {
                let oldest = self
                    .map
                    .iter()
                    .filter(|(_, r)| r.in_flight == 0)
                    .min_by_key(|(_, r)| r.last)
                    .map(|(k, _)| *k);
                if let Some(oldest) = oldest {
                    self.map.remove(&oldest);
                }
            }
        }
        self.map.entry(key).or_default()
    }
}

struct Tables {
    addresses: Records<IpAddr>,
    users: Records<[u8; 16]>,
}

/// Failed-login bookkeeping per address group and per user name.
pub(crate) struct LoginThrottle {
    tables: Mutex<Tables>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            tables: Mutex::new(Tables {
                addresses: Records::new(),
                users: Records::new(),
            }),
        }
    }
}

/// A login attempt reserved by [`LoginThrottle::begin`]: it counts as a
/// failure unless [`LoginAttempt::succeeded`] or [`LoginAttempt::withdrawn`]
/// is called (dropping it, e.g. when the connection is cut mid-check,
/// records a failure).
pub(crate) struct LoginAttempt<'a> {
    throttle: &'a LoginThrottle,
    group: IpAddr,
    user: [u8; 16],
    settled: bool,
}

/// What happened to a reserved attempt.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    Failed,
    /// Never checked (the listener was too busy): not counted at all.
    Withdrawn,
}

impl LoginThrottle {
    /// Reserves an attempt to log in as `username` from `ip`, or
    /// `Err(wait)` while the address group (or the user name, for an
    /// address that has not logged in as it) is locked out or already has
    /// as many attempts being checked as it has left.
    pub(crate) fn begin(&self, ip: IpAddr, username: &str) -> Result<LoginAttempt<'_>, Duration> {
        let now = Instant::now();
        let group = address_group(ip);
        let user = user_digest(username);
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        tables.addresses.entry(group, now).admits(MAX_FAILED_LOGINS, now)?;
        let user_record = tables.users.entry(user, now);
        if !user_record.known.contains(&group) {
            user_record.admits(MAX_FAILED_LOGINS_PER_USER, now)?;
        }
        user_record.in_flight += 1;
        tables.addresses.entry(group, now).in_flight += 1;
        Ok(LoginAttempt {
            throttle: self,
            group,
            user,
            settled: false,
        })
    }

    fn settle(&self, attempt: &LoginAttempt<'_>, outcome: Outcome) {
        let now = Instant::now();
        let mut guard = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        let tables = &mut *guard;
        if outcome == Outcome::Withdrawn {
            for record in [
                tables.addresses.map.get_mut(&attempt.group),
                tables.users.map.get_mut(&attempt.user),
            ]
            .into_iter()
            .flatten()
            {
                record.in_flight = record.in_flight.saturating_sub(1);
            }
            return;
        }
        let failed = outcome == Outcome::Failed;
        if let Some(record) = tables.addresses.map.get_mut(&attempt.group) {
            if let Some(lockout) = record.settle(failed, MAX_FAILED_LOGINS, now) {
                let failures = record.failures;
                tracing::warn!(address = %attempt.group, failures, ?lockout, "repeated failed logins; address locked out");
            }
        }
        if let Some(record) = tables.users.map.get_mut(&attempt.user) {
            if let Some(lockout) = record.settle(failed, MAX_FAILED_LOGINS_PER_USER, now) {
                let failures = record.failures;
                tracing::warn!(user_tag = %user_tag(&attempt.user), failures, ?lockout, "repeated failed logins; user name locked out for unknown addresses");
            }
            if !failed {
                record.known.retain(|g| *g != attempt.group);
                if record.known.len() >= KNOWN_ADDRESSES_PER_USER {
                    record.known.remove(0);
                }
                record.known.push(attempt.group);
            }
        }
    }
}

impl LoginAttempt<'_> {
    /// The password was right: clears the failures of the address and the
    /// user name, and remembers the address as known for the user.
    pub(crate) fn succeeded(mut self) {
        self.settled = true;
        self.throttle.settle(&self, Outcome::Succeeded);
    }

    /// The password was wrong (the same as dropping the attempt).
    pub(crate) fn failed(self) {}

    /// The password was never checked (the listener was too busy): the
    /// attempt counts neither way.
    pub(crate) fn withdrawn(mut self) {
        self.settled = true;
        self.throttle.settle(&self, Outcome::Withdrawn);
    }
}

impl Drop for LoginAttempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.throttle.settle(self, Outcome::Failed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// Ends `addr`'s lockout now, as if its time had passed.
    fn end_lockout(throttle: &LoginThrottle, addr: IpAddr) {
        let mut tables = throttle.tables.lock().unwrap();
        tables.addresses.map.get_mut(&addr).unwrap().locked_until = None;
    }

    #[test]
    fn locks_out_after_the_limit_and_clears_on_success() {
        let throttle = LoginThrottle::default();
        let (addr, other) = (ip("10.0.0.7"), ip("10.0.0.8"));
        for _ in 0..MAX_FAILED_LOGINS {
            throttle.begin(addr, "amina").unwrap().failed();
        }
        let wait = throttle.begin(addr, "amina").err().unwrap();
        assert!(wait > Duration::ZERO && wait <= LOGIN_LOCKOUT_BASE);
        assert!(throttle.begin(other, "amina").is_ok(), "other addresses are unaffected");
        // Force the lockout to end, then fail once more: it doubles.
        end_lockout(&throttle, addr);
        throttle.begin(addr, "amina").unwrap().failed();
        assert!(
            throttle.begin(addr, "amina").err().unwrap() > LOGIN_LOCKOUT_BASE,
            "lockout doubles"
        );
        end_lockout(&throttle, addr);
        throttle.begin(addr, "amina").unwrap().succeeded();
        for _ in 0..MAX_FAILED_LOGINS - 1 {
            throttle.begin(addr, "amina").unwrap().failed();
        }
        assert!(throttle.begin(addr, "amina").is_ok(), "a success cleared the count");
    }

    #[test]
    fn attempts_being_checked_count_against_the_limit() {
        let throttle = LoginThrottle::default();
        let addr = ip("10.0.0.7");
        let held: Vec<_> = (0..MAX_FAILED_LOGINS)
            .map(|i| throttle.begin(addr, &format!("user{i}")).unwrap())
            .collect();
        assert!(
            throttle.begin(addr, "another").is_err(),
            "no more checks while five are running"
        );
        drop(held);
        assert!(
            throttle.begin(addr, "another").is_err(),
            "the five dropped attempts were failures"
        );
        // A withdrawn attempt (never checked) does not count.
        let other = ip("10.0.0.9");
        for _ in 0..MAX_FAILED_LOGINS * 3 {
            throttle.begin(other, "amina").unwrap().withdrawn();
        }
        assert!(throttle.begin(other, "amina").is_ok());
    }

    #[test]
    fn a_user_name_is_locked_across_addresses_except_its_known_ones() {
        let throttle = LoginThrottle::default();
        throttle.begin(ip("10.0.1.1"), "amina").unwrap().succeeded();
        for i in 0..MAX_FAILED_LOGINS_PER_USER {
            throttle.begin(ip(&format!("10.0.2.{i}")), "amina").unwrap().failed();
        }
        assert!(
            throttle.begin(ip("10.0.3.1"), "amina").is_err(),
            "guessing from many addresses is stopped"
        );
        assert!(
            throttle.begin(ip("10.0.3.1"), "bilal").is_ok(),
            "other names are unaffected"
        );
        throttle.begin(ip("10.0.1.1"), "amina").unwrap().succeeded();
    }

    #[test]
    fn ipv6_addresses_are_grouped_by_their_slash_64() {
        assert_eq!(address_group(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            address_group(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            address_group(ip("2001:db8:1:2::7"))
        );
        assert_ne!(
            address_group(ip("2001:db8:1:3::1")),
            address_group(ip("2001:db8:1:2::1"))
        );
        assert_eq!(address_group(ip("::ffff:192.168.1.20")), ip("192.168.1.20"));
        assert_eq!(address_group(ip("192.168.1.20")), ip("192.168.1.20"));
        let throttle = LoginThrottle::default();
        for i in 0..MAX_FAILED_LOGINS {
            throttle
                .begin(ip(&format!("2001:db8::{i:x}")), "amina")
                .unwrap()
                .failed();
        }
        assert!(
            throttle.begin(ip("2001:db8::ffff"), "amina").is_err(),
            "one /64 is one address"
        );
        assert!(throttle.begin(ip("2001:db8:0:1::1"), "amina").is_ok());
    }

    #[test]
    fn bookkeeping_is_bounded_whatever_names_and_addresses_are_sent() {
        let throttle = LoginThrottle::default();
        for i in 0..(MAX_LOGIN_RECORDS as u32 + 500) {
            let addr = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            throttle.begin(addr, &format!("guess-{i}")).unwrap().failed();
        }
        let tables = throttle.tables.lock().unwrap();
        assert!(tables.addresses.map.len() <= MAX_LOGIN_RECORDS);
        assert!(tables.users.map.len() <= MAX_LOGIN_RECORDS);
    }
}
