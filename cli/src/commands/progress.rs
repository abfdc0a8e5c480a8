//! What a running replication shows: a progress bar on stderr when stderr
//! is a terminal, otherwise plain lines on stdout (one per change of
//! activity, and one per tenth of the known changes while busy), so that
//! stderr keeps only failures; and the count of documents pushed and
//! pulled, for the summary line.
//!
//! The last line, `stopped`, is printed by [`Progress::finish`] from the
//! outcome of the run, which is what the exit code follows too.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use outpost_core::replication::{ActivityLevel, Direction, DocumentEvent, Replicator, ReplicatorStatus};
use outpost_core::ListenerToken;

use crate::error::{describe, one_line};

/// Documents replicated so far, by direction.
#[derive(Debug, Default)]
pub struct Counts {
    pushed: AtomicU64,
    pulled: AtomicU64,
    failed: AtomicU64,
}

impl Counts {
    fn add(&self, events: &[DocumentEvent]) {
        for event in events {
            let counter = match (&event.error, event.direction) {
                (Some(_), _) => &self.failed,
                (None, Direction::Pull) => &self.pulled,
                (None, _) => &self.pushed,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Documents pushed.
    pub fn pushed(&self) -> u64 {
        self.pushed.load(Ordering::Relaxed)
    }

    /// Documents pulled.
    pub fn pulled(&self) -> u64 {
        self.pulled.load(Ordering::Relaxed)
    }

    /// Documents the other side (or this one) refused.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// `N pushed, M pulled` (and refused ones, if any).
    pub fn describe(&self) -> String {
        let pushed = self.pushed();
        let noun = if pushed == 1 { "document" } else { "documents" };
        let mut text = format!("{pushed} {noun} pushed, {} pulled", self.pulled());
        if self.failed() > 0 {
            text.push_str(&format!(", {} refused (run with -v for why)", self.failed()));
        }
        text
    }
}

/// How the status is shown.
enum Display {
    Bar(ProgressBar),
    Lines { last: Option<ActivityLevel>, printed: u64 },
}

/// Shows one replicator's status until dropped.
pub struct Progress {
    label: String,
    counts: Arc<Counts>,
    display: Arc<Mutex<Display>>,
    _status: ListenerToken,
    _documents: ListenerToken,
}

impl Progress {
    /// Starts showing `replicator`'s status, each line prefixed by `label`;
    /// a bar if `bar` is allowed and stderr is a terminal.
    pub fn start(replicator: &Replicator, label: &str, bar: bool) -> Progress {
        let display = if bar && std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(0).with_style(
                ProgressStyle::with_template("{prefix}: {msg:12} [{bar:30}] {pos}/{len} changes, {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(label.to_owned());
            bar.enable_steady_tick(Duration::from_millis(200));
            Display::Bar(bar)
        } else {
            Display::Lines { last: None, printed: 0 }
        };
        let display = Arc::new(Mutex::new(display));
        let counts = Arc::new(Counts::default());
        let shown = display.clone();
        let shown_label = label.to_owned();
        let counted = counts.clone();
        let status = replicator.add_status_listener(move |s| {
            let mut display = shown.lock().unwrap_or_else(|e| e.into_inner());
            show(&mut display, &shown_label, s, &counted);
        });
        let counted = counts.clone();
        let documents = replicator.add_document_listener(move |events| counted.add(events));
        Progress {
            label: label.to_owned(),
            counts,
            display,
            _status: status,
            _documents: documents,
        }
    }

    /// The documents counted so far.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Shows that `replicator` stopped: as lines, `LABEL: stopped DONE/TOTAL
    /// changes`, with ` (failed)` only if the run `failed`.
    pub fn finish(self, replicator: &Replicator, failed: bool) {
        let display = self.display.lock().unwrap_or_else(|e| e.into_inner());
        if let Display::Lines { .. } = &*display {
            let label = &self.label;
            let progress = replicator.status().progress;
            let outcome = if failed { " (failed)" } else { "" };
            print_status_line(&format!(
                "{label}: stopped {}/{} changes{outcome}",
                progress.completed, progress.total
            ));
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Display::Bar(bar) = &*self.display.lock().unwrap_or_else(|e| e.into_inner()) {
            bar.finish_and_clear();
        }
    }
}

fn activity_name(activity: ActivityLevel) -> &'static str {
    match activity {
        ActivityLevel::Stopped => "stopped",
        ActivityLevel::Offline => "offline",
        ActivityLevel::Connecting => "connecting",
        ActivityLevel::Idle => "idle",
        ActivityLevel::Busy => "busy",
    }
}

/// One status change, shown.
fn show(display: &mut Display, label: &str, status: &ReplicatorStatus, counts: &Counts) {
    let progress = status.progress;
    let detail = match (status.activity, &status.error) {
        (ActivityLevel::Offline, Some(e)) => format!(" ({}); retrying", one_line(&describe(e))),
        (ActivityLevel::Idle, _) => format!(": caught up, {} so far", counts.describe()),
        _ => String::new(),
    };
    match display {
        Display::Bar(bar) => {
            bar.set_length(progress.total);
            bar.set_position(progress.completed);
            bar.set_message(activity_name(status.activity));
            if status.activity == ActivityLevel::Offline {
                bar.println(format!("{label}: offline{detail}"));
            }
        }
        // Stopped is shown by `Progress::finish`, which knows the outcome.
        Display::Lines { .. } if status.activity == ActivityLevel::Stopped => {}
        Display::Lines { last, printed, .. } => {
            let changed = *last != Some(status.activity);
            let step = (progress.total / 10).max(100);
            let moved = status.activity == ActivityLevel::Busy && progress.completed >= *printed + step;
            if changed || moved {
                let line = format!(
                    "{label}: {} {}/{} changes{detail}",
                    activity_name(status.activity),
                    progress.completed,
                    progress.total
                );
                print_status_line(&line);
                *last = Some(status.activity);
                *printed = progress.completed;
            }
        }
    }
}

/// Prints one status line on stdout. A closed stdout only loses the
/// progress lines.
fn print_status_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}
