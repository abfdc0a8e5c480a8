//! `LoginThrottle`: slows down password guessing from one address.
//!
//! After [`MAX_FAILED_LOGINS`] failures within [`FAILED_LOGIN_WINDOW`], the
//! address is locked out for [`LOGIN_LOCKOUT_BASE`], doubling with each
//! further failure up to [`LOGIN_LOCKOUT_MAX`]. While locked out, attempts
//! are refused with HTTP 429 and `Retry-After` before any password is
//! checked. A success clears the address's record.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::tuning::{FAILED_LOGIN_WINDOW, LOGIN_LOCKOUT_BASE, LOGIN_LOCKOUT_MAX, MAX_FAILED_LOGINS};

/// Addresses remembered at most; the oldest are forgotten first.
const MAX_TRACKED: usize = 4096;

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Failed-login bookkeeping per address.
#[derive(Default)]
pub(crate) struct LoginThrottle {
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

impl LoginThrottle {
    /// `Err(wait)` while `ip` is locked out.
    pub(crate) fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&ip).and_then(|f| f.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Records a failed login from `ip`.
    pub(crate) fn failed(&self, ip: IpAddr) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_TRACKED {
            map.retain(|_, f| now.duration_since(f.last) < FAILED_LOGIN_WINDOW);
        }
        let entry = map.entry(ip).or_insert(Failures {
            count: 0,
            last: now,
            locked_until: None,
        });
        if now.duration_since(entry.last) >= FAILED_LOGIN_WINDOW && entry.locked_until.is_none_or(|u| u <= now) {
            entry.count = 0;
        }
        entry.count += 1;
        entry.last = now;
        if entry.count >= MAX_FAILED_LOGINS {
            let doublings = (entry.count - MAX_FAILED_LOGINS).min(16);
            let lockout = LOGIN_LOCKOUT_BASE.saturating_mul(1 << doublings).min(LOGIN_LOCKOUT_MAX);
            entry.locked_until = Some(now + lockout);
            tracing::warn!(%ip, failures = entry.count, ?lockout, "repeated failed logins; address locked out");
        }
    }

    /// Records a successful login from `ip`.
    pub(crate) fn succeeded(&self, ip: IpAddr) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_out_after_the_limit_and_clears_on_success() {
        let throttle = LoginThrottle::default();
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        let other: IpAddr = "10.0.0.8".parse().unwrap();
        for _ in 1..MAX_FAILED_LOGINS {
            throttle.failed(ip);
            assert!(throttle.check(ip).is_ok());
        }
        throttle.failed(ip);
        let wait = throttle.check(ip).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= LOGIN_LOCKOUT_BASE);
        throttle.failed(ip);
        assert!(throttle.check(ip).unwrap_err() > LOGIN_LOCKOUT_BASE, "lockout doubles");
        assert!(throttle.check(other).is_ok(), "other addresses are unaffected");
        throttle.succeeded(ip);
        assert!(throttle.check(ip).is_ok());
    }
}
