//! The logging hook: core's `tracing` events, at or above a level, handed to
//! a [`LogSink`] written in Kotlin or Swift (which forwards them to Logcat,
//! `os_log`, or the app's own logger).
//!
//! One process-wide `tracing` subscriber is installed on the first
//! [`set_log_sink`]; later calls swap the sink and the level. Messages are
//! built from the event's fields, and any `user:password@` in them is
//! masked, so a URL with credentials never reaches a log.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Once, RwLock};

use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::error::Result;

/// How much Outpost logs, from least to most.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    /// Nothing.
    None,
    /// Failures that stop something (a replicator, a listener).
    Error,
    /// Failures that are retried or refused (a peer's bad login, a lost link).
    Warning,
    /// Lifecycle (listener started, replication retried).
    Info,
    /// Per-connection detail.
    Debug,
    /// Everything.
    Verbose,
}

/// Receives Outpost's log messages, on the thread that logged (often a
/// replication thread): return quickly. An error thrown here is ignored.
#[uniffi::export(with_foreign)]
pub trait LogSink: Send + Sync {
    /// One message. `domain` names the part of Outpost that logged it
    /// (`replication::replicator`, `net::listener`, ...).
    fn log(&self, level: LogLevel, domain: String, message: String) -> Result<()>;
}

static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::None as u8);
static SINK: RwLock<Option<Arc<dyn LogSink>>> = RwLock::new(None);
static INSTALL: Once = Once::new();

/// Sends Outpost's messages at `level` and above to `sink`; `None` (or
/// [`LogLevel::None`]) stops logging. Replaces the previous sink and level.
#[uniffi::export]
pub fn set_log_sink(sink: Option<Arc<dyn LogSink>>, level: LogLevel) {
    INSTALL.call_once(|| {
        // Another global subscriber (a Rust host app's) wins; the sink then stays silent.
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Bridge));
    });
    let level = if sink.is_some() { level } else { LogLevel::None };
    *SINK.write().unwrap_or_else(|e| e.into_inner()) = sink;
    LEVEL.store(level as u8, Ordering::Release);
}

fn level_of(level: &Level) -> LogLevel {
    match *level {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warning,
        Level::INFO => LogLevel::Info,
        Level::DEBUG => LogLevel::Debug,
        Level::TRACE => LogLevel::Verbose,
    }
}

fn wanted(metadata: &Metadata<'_>) -> bool {
    level_of(metadata.level()) as u8 <= LEVEL.load(Ordering::Acquire)
}

/// The `tracing` layer that formats events and calls the sink.
struct Bridge;

impl<S: Subscriber> Layer<S> for Bridge {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // The level changes at run time: ask `enabled` at every event.
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        wanted(metadata)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let metadata = event.metadata();
        if !wanted(metadata) {
            return;
        }
        let Some(sink) = SINK.read().unwrap_or_else(|e| e.into_inner()).clone() else {
            return;
        };
        let mut message = Message::default();
        event.record(&mut message);
        let domain = metadata.target();
        let domain = domain.strip_prefix("outpost_core::").unwrap_or(domain);
        let _ = sink.log(
            level_of(metadata.level()),
            domain.to_owned(),
            mask_credentials(&message.0),
        );
    }
}

/// `message key=value ...`, from an event's fields.
#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = &mut self.0;
        if field.name() == "message" {
            let rest = std::mem::take(text);
            let _ = write!(text, "{value:?}");
            text.push_str(&rest);
        } else {
            let _ = write!(text, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }
}

/// Masks the password of every `scheme://user:password@host` in `text`
/// (and a userinfo without a password, which may be a token).
fn mask_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("://") {
        let (before, after) = rest.split_at(start + 3);
        out.push_str(before);
        // Not ended by white space: a password may hold one (masking too much is safe).
        let authority_end = after.find(['/', '?', '#', '"']).unwrap_or(after.len());
        let authority = &after[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                // `user:password` keeps the user; a lone userinfo may be a token.
                match authority[..at].split_once(':') {
                    Some((user, _)) => {
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    None => out.push_str("***"),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[authority_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_masked_and_the_rest_kept() {
        assert_eq!(
            mask_credentials("failed: wss://worker:correct horse@10.0.0.2:4984/hub and ws://h/db"),
            "failed: wss://worker:***@10.0.0.2:4984/hub and ws://h/db"
        );
        assert_eq!(mask_credentials("url=\"https://a:b@c\" x"), "url=\"https://a:***@c\" x");
        assert_eq!(mask_credentials("wss://s3cret-token@hub/db"), "wss://***@hub/db");
        assert_eq!(mask_credentials("no url: a:b@c"), "no url: a:b@c");
    }

    #[test]
    fn levels_order_from_quiet_to_verbose() {
        assert!(LogLevel::None < LogLevel::Error && LogLevel::Debug < LogLevel::Verbose);
        assert_eq!(level_of(&Level::WARN), LogLevel::Warning);
    }
}
