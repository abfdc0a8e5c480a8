//! The listener's front door against strangers (issue 10, items 3, 4 and
//! 10): password checks bounded however many guesses arrive at once, the
//! lockout not outrun by concurrency nor dodged by changing address, idle
//! and TLS-stalled sockets unable to lock a field worker out, and failed
//! logins logged without the user field raw.
//!
//! Real listeners on 127.0.0.1; raw tokio clients, bound to other loopback
//! addresses (127.0.0.2 and up) to act as many machines, for what a
//! replicator never sends.

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use base64::Engine;
use common::net::{listener_config, net_replicator, users};
use common::open;
use outpost_core::net::{Listener, ListenerAuthenticator};
use outpost_core::replication::Direction;
use outpost_core::tuning::{
    MAX_CONCURRENT_PASSWORD_CHECKS, MAX_FAILED_LOGINS, MAX_FAILED_LOGINS_PER_USER, MAX_HANDSHAKING,
    MAX_HANDSHAKING_PER_ADDRESS, MAX_QUEUED_PASSWORD_CHECKS,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const RIGHT_USER: &str = "worker";
const RIGHT_PASSWORD: &str = "correct horse battery";

/// A password callback that counts the checks it runs (at once, at most
/// at once, in all, per user name) and, while closed, holds every check
/// until opened, like a slow hash.
#[derive(Default)]
struct CountingChecks {
    running: AtomicUsize,
    peak: AtomicUsize,
    total: AtomicUsize,
    per_user: Mutex<HashMap<String, usize>>,
    open: Mutex<bool>,
    opened: Condvar,
}

impl CountingChecks {
    fn new(open: bool) -> Arc<Self> {
        let checks = Arc::new(CountingChecks::default());
        *checks.open.lock().unwrap() = open;
        checks
    }

    fn authenticator(self: &Arc<Self>) -> ListenerAuthenticator {
        let checks = self.clone();
        ListenerAuthenticator::password(move |user: &str, password: &str| checks.check(user, password))
    }

    fn check(&self, user: &str, password: &str) -> bool {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        self.total.fetch_add(1, Ordering::SeqCst);
        *self.per_user.lock().unwrap().entry(user.to_owned()).or_default() += 1;
        let open = self.open.lock().unwrap();
        let (_open, _) = self
            .opened
            .wait_timeout_while(open, Duration::from_secs(30), |open| !*open)
            .unwrap();
        self.running.fetch_sub(1, Ordering::SeqCst);
        user == RIGHT_USER && password == RIGHT_PASSWORD
    }

    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }

    fn checks_of(&self, user: &str) -> usize {
        self.per_user.lock().unwrap().get(user).copied().unwrap_or(0)
    }
}

/// A plain (`ws://`) listener on 127.0.0.1: TLS changes nothing in front
/// of the password check, and costs time in debug builds.
async fn plain_listener(db: &outpost_core::Database, auth: ListenerAuthenticator) -> Listener {
    let mut cfg = listener_config(auth);
    cfg.disable_tls = true;
    Listener::start(db.clone(), cfg).await.unwrap()
}

/// A plain listener on a fresh database whose password checks are
/// counted (and held while `open` is false).
async fn counting_hub(open_checks: bool) -> (tempfile::TempDir, Arc<CountingChecks>, Arc<Listener>) {
    let dir = tempfile::tempdir().unwrap();
    let hub = open(dir.path(), "hub.db");
    let checks = CountingChecks::new(open_checks);
    let listener = Arc::new(plain_listener(&hub, checks.authenticator()).await);
    (dir, checks, listener)
}

/// Loopback source address number `n` (127.0.0.n).
fn source(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, n)
}

/// A TCP connection to the listener from `from`.
async fn connect_from(listener: &Listener, from: Ipv4Addr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket
        .connect(SocketAddr::from((Ipv4Addr::LOCALHOST, listener.port())))
        .await
        .unwrap()
}

/// The status code and `Retry-After` of the answer to a WebSocket upgrade
/// request with basic credentials, sent from `from`; status 0 when the
/// listener closed the connection without a word (past a handshake cap).
async fn upgrade(listener: &Listener, from: Ipv4Addr, user: &str, password: &str) -> Answer {
    let mut tcp = connect_from(listener, from).await;
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let request = format!(
        "GET /{} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Basic {credentials}\r\n\r\n",
        listener.database_name()
    );
    if tcp.write_all(request.as_bytes()).await.is_err() {
        return (0, None);
    }
    let mut head = Vec::new();
    let mut chunk = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(30), tcp.read(&mut chunk))
            .await
            .expect("an answer in time")
            .unwrap_or(0);
        if n == 0 {
            assert!(head.is_empty(), "cut mid-answer: {:?}", String::from_utf8_lossy(&head));
            return (0, None);
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head[9..12].parse().unwrap();
    let retry_after = head
        .lines()
        .find_map(|l| l.strip_prefix("Retry-After: "))
        .map(str::to_owned);
    (status, retry_after)
}

type Answer = (u16, Option<String>);

/// The next answer a raw client got (up to 30 s).
async fn next_answer(answers: &mut tokio::sync::mpsc::UnboundedReceiver<Answer>) -> Answer {
    tokio::time::timeout(Duration::from_secs(30), answers.recv())
        .await
        .expect("an answer in time")
        .expect("a client is still waiting")
}

/// Sends `count` upgrade requests at once, the `i`th from, as and with
/// `guess(i)`; their answers arrive in the returned channel as they come.
fn spawn_guesses(
    listener: &Arc<Listener>,
    count: usize,
    guess: impl Fn(usize) -> (Ipv4Addr, String, String),
) -> tokio::sync::mpsc::UnboundedReceiver<Answer> {
    let (tx, answers) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..count {
        let (listener, tx, (from, user, password)) = (listener.clone(), tx.clone(), guess(i));
        tokio::spawn(async move {
            let _ = tx.send(upgrade(&listener, from, &user, &password).await);
        });
    }
    answers
}

/// Waits (up to 20 s) for `condition`, checking every few milliseconds.
async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

/// Whether the server has closed `tcp` (EOF or reset) within 10 s.
async fn closed_by_server(tcp: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_checks_run_within_the_budget_and_the_queue_is_bounded() {
    let (_dir, checks, listener) = counting_hub(false).await;
    // Wrong guesses from 8 addresses x 5 (each address's allowance), each
    // at its own user name: more than the checks allowed to run and wait.
    let guesses = 8 * MAX_FAILED_LOGINS as usize;
    assert!(guesses > MAX_CONCURRENT_PASSWORD_CHECKS + MAX_QUEUED_PASSWORD_CHECKS);
    let mut answers = spawn_guesses(&listener, guesses, |i| {
        let from = source(2 + (i / MAX_FAILED_LOGINS as usize) as u8);
        (from, format!("guess-{i}"), "wrong".to_owned())
    });
    // While the checks are held, the ones past the queue are turned away
    // at once, told when to retry.
    let turned_away = guesses - MAX_CONCURRENT_PASSWORD_CHECKS - MAX_QUEUED_PASSWORD_CHECKS;
    for _ in 0..turned_away {
        let (status, retry_after) = next_answer(&mut answers).await;
        assert_eq!(status, 503);
        assert_eq!(retry_after.as_deref(), Some("1"));
    }
    wait_until("the budget is in use", || {
        checks.running.load(Ordering::SeqCst) == MAX_CONCURRENT_PASSWORD_CHECKS
    })
    .await;
    checks.release();
    for _ in turned_away..guesses {
        assert_eq!(next_answer(&mut answers).await.0, 401);
    }
    assert_eq!(
        checks.peak.load(Ordering::SeqCst),
        MAX_CONCURRENT_PASSWORD_CHECKS,
        "never more checks at once than the budget"
    );
    assert_eq!(
        checks.total.load(Ordering::SeqCst),
        MAX_CONCURRENT_PASSWORD_CHECKS + MAX_QUEUED_PASSWORD_CHECKS
    );
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_from_one_address_get_no_more_checks_than_the_lockout_allows() {
    let (_dir, checks, listener) = counting_hub(false).await;
    let guesses = 60;
    let mut answers = spawn_guesses(&listener, guesses, |i| {
        (source(1), RIGHT_USER.to_owned(), format!("guess-{i}"))
    });
    // The first MAX_FAILED_LOGINS are being checked (held); every other
    // guess is refused before any check: with 429, or closed at once past
    // the address's handshake cap.
    let refused = guesses - MAX_FAILED_LOGINS as usize;
    let mut told_to_retry = 0;
    for _ in 0..refused {
        let (status, retry_after) = next_answer(&mut answers).await;
        assert!(status == 429 || status == 0, "{status}");
        if status == 429 {
            assert!(retry_after.is_some());
            told_to_retry += 1;
        }
    }
    assert!(told_to_retry > 0);
    checks.release();
    for _ in refused..guesses {
        assert_eq!(next_answer(&mut answers).await.0, 401);
    }
    assert_eq!(checks.total.load(Ordering::SeqCst), MAX_FAILED_LOGINS as usize);
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_name_guessed_from_many_addresses_is_locked_out_but_not_for_its_worker() {
    let (_dir, checks, listener) = counting_hub(true).await;
    // The field worker's phone logs in from 127.0.0.1.
    assert_eq!(upgrade(&listener, source(1), RIGHT_USER, RIGHT_PASSWORD).await.0, 101);
    // Ten machines guess once each, under every per-address limit: all
    // checked, and the user name is then locked.
    let limit = MAX_FAILED_LOGINS_PER_USER as usize;
    for n in 2..2 + limit as u8 {
        assert_eq!(upgrade(&listener, source(n), RIGHT_USER, "guess").await.0, 401);
    }
    assert_eq!(checks.checks_of(RIGHT_USER), 1 + limit);
    // Twenty more machines guess at once: all refused before any check
    // (at most one checked, had the first lockout already ended).
    let burst = 20;
    let mut guesses = Vec::new();
    for n in 0..burst {
        let from = source(2 + (limit + n) as u8);
        guesses.push(upgrade(&listener, from, RIGHT_USER, "guess"));
    }
    let statuses = futures_util::future::join_all(guesses).await;
    let refused = statuses.iter().filter(|(s, _)| *s == 429).count();
    assert!(refused >= burst - 1, "{statuses:?}");
    assert!(
        checks.checks_of(RIGHT_USER) <= 2 + limit,
        "no more checks past the user's limit"
    );
    // The worker's own address still gets in.
    assert_eq!(upgrade(&listener, source(1), RIGHT_USER, RIGHT_PASSWORD).await.0, 101);
    // Other user names are not affected.
    assert_eq!(upgrade(&listener, source(41), "someone-else", "x").await.0, 401);
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_tls_stalled_strangers_cannot_lock_out_a_field_worker() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (open(dir.path(), "hub.db"), open(dir.path(), "phone.db"));
    phone
        .default_collection()
        .unwrap()
        .save("child-1", None, r#"{"name":"Amina"}"#)
        .unwrap();
    let mut cfg = listener_config(users());
    cfg.max_connections = 2;
    let listener = Listener::start(hub.clone(), cfg).await.unwrap();
    let mut accepted = 0;
    let mut peak = 0;

    // One stranger's idle sockets: its cap stays, the rest are closed at once.
    let extra = 3;
    let mut held = Vec::new();
    for _ in 0..MAX_HANDSHAKING_PER_ADDRESS {
        held.push(connect_from(&listener, source(2)).await);
    }
    let mut extras = Vec::new();
    for _ in 0..extra {
        extras.push(connect_from(&listener, source(2)).await);
    }
    accepted += MAX_HANDSHAKING_PER_ADDRESS + extra;
    wait_until("every socket is accepted", || {
        listener.connection_status().total_accepted == accepted as u64
    })
    .await;
    assert_eq!(listener.connection_status().handshaking, MAX_HANDSHAKING_PER_ADDRESS);
    for tcp in &mut extras {
        assert!(closed_by_server(tcp).await, "a socket past its address's cap is closed");
    }

    // Many strangers stalled mid-TLS (a ClientHello record header, then
    // nothing), more than the listener's whole handshake budget.
    let stalled_hello = [0x16, 0x03, 0x01, 0x02, 0x00];
    let mut stalled = Vec::new();
    let addresses = MAX_HANDSHAKING / MAX_HANDSHAKING_PER_ADDRESS + 2;
    for n in 0..addresses {
        for _ in 0..MAX_HANDSHAKING_PER_ADDRESS {
            let mut tcp = connect_from(&listener, source(3 + n as u8)).await;
            tcp.write_all(&stalled_hello).await.unwrap();
            stalled.push(tcp);
            accepted += 1;
            peak = peak.max(listener.connection_status().handshaking);
        }
    }
    wait_until("every socket is accepted", || {
        listener.connection_status().total_accepted == accepted as u64
    })
    .await;
    let status = listener.connection_status();
    peak = peak.max(status.handshaking);
    assert_eq!(status.handshaking, MAX_HANDSHAKING, "the budget is full, never more");
    // Full: newcomers evicted the oldest handshakes of the busiest addresses.
    assert!(closed_by_server(&mut held[0]).await, "the oldest handshake was evicted");

    // The field worker still syncs: strangers hold no session slot, and
    // its address has fewer handshakes than theirs.
    net_replicator(&phone, &listener, Direction::PushAndPull, false)
        .run()
        .await
        .expect("the field worker syncs");
    assert!(hub.default_collection().unwrap().get("child-1").unwrap().is_some());
    peak = peak.max(listener.connection_status().handshaking);
    assert!(peak <= MAX_HANDSHAKING, "handshaking peaked at {peak}");
    listener.stop().await;
}

// ---- What failed logins leave in the log ----

/// A tracing subscriber that writes each event's fields to a string.
#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<String>>);

struct FieldWriter<'a>(&'a mut String);

impl tracing::field::Visit for FieldWriter<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        // The raw text, as a plain-text log writer would print it.
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

impl tracing::Subscriber for CapturedLog {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = format!("{}", event.metadata().level());
        event.record(&mut FieldWriter(&mut line));
        let mut log = self.0.lock().unwrap();
        log.push_str(&line);
        log.push('\n');
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Every event of the listener is written through `Display` (`%`), so
/// `record_debug` receives the displayed text; a raw newline or escape
/// there would reach the log file as is. The subscriber is the process's
/// global one (a thread's own would miss events on the runtime's other
/// threads), so it also sees the other tests of this file: all must pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_log_neither_the_user_field_raw_nor_forged_lines() {
    let log = CapturedLog::default();
    tracing::subscriber::set_global_default(log.clone()).expect("the only subscriber of this test binary");
    let dir = tempfile::tempdir().unwrap();
    let hub = open(dir.path(), "hub.db");
    let forged_name = "amina\nINFO outpost login accepted user=admin\x1b[2J";
    let accepting = ListenerAuthenticator::password(move |user: &str, _: &str| user == forged_name);
    let listener = plain_listener(&hub, accepting).await;
    // A password typed into the user field, and a forged log line.
    let password_as_user = "Sunflower-1987!";
    for user in [
        password_as_user,
        forged_name,
        password_as_user,
        password_as_user,
        password_as_user,
    ] {
        let (status, _) = upgrade(&listener, source(1), user, "").await;
        if user == forged_name {
            assert_eq!(status, 101);
        } else {
            assert_eq!(status, 401);
        }
    }
    for _ in 0..MAX_FAILED_LOGINS {
        upgrade(&listener, source(1), password_as_user, "").await;
    }
    listener.stop().await;
    let log = log.0.lock().unwrap().clone();
    assert!(log.contains("refused a login"), "{log}");
    assert!(log.contains("locked out"), "{log}");
    assert!(
        log.contains(r#"amina\nINFO outpost login accepted user=admin\u{1b}[2J"#),
        "escaped: {log}"
    );
    assert!(!log.contains("Sunflower"), "no user field of a failed login: {log}");
    assert!(!log.contains('\x1b'), "{log}");
    for line in log.lines() {
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
                .iter()
                .any(|l| line.starts_with(l)),
            "a forged line: {line:?}"
        );
    }
}
