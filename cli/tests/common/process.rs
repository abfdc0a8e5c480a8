//! Long-running `outpost` processes (`serve`, `sync --continuous`): their
//! output read line by line as it comes, waits with deadlines, and a guard
//! that kills the process when the test ends, even when it fails.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Which stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

/// A running `outpost`, killed on drop.
pub struct Proc {
    name: String,
    child: Child,
    lines: Receiver<(Stream, String)>,
    /// Every line read so far, for failure messages and final checks.
    pub seen: Vec<(Stream, String)>,
}

fn forward(stream: impl Read + Send + 'static, which: Stream, to: std::sync::mpsc::Sender<(Stream, String)>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if to.send((which, line)).is_err() {
                break;
            }
        }
    });
}

impl Proc {
    /// Starts `outpost` with `args`; `name` labels it in failure messages.
    pub fn spawn(name: &str, args: &[&str]) -> Proc {
        Proc::start(name, super::spawn(args, Stdio::null()))
    }

    /// Starts `outpost` with `args` on a pseudo-terminal (util-linux
    /// `script`), so that it draws as for a person at a terminal; both
    /// streams then arrive as `Stream::Out`. `signal("TERM")` ends it.
    pub fn spawn_on_terminal(name: &str, args: &[&str]) -> Proc {
        let quote = |a: &str| format!("'{}'", a.replace('\'', r"'\''"));
        let command: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_outpost"))
            .chain(args.iter().copied())
            .map(quote)
            .collect();
        let child = Command::new("script")
            .args(["-qfec", &command.join(" "), "/dev/null"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run script (util-linux)");
        Proc::start(name, child)
    }

    fn start(name: &str, mut child: Child) -> Proc {
        let (tx, lines) = channel();
        forward(child.stdout.take().expect("piped stdout"), Stream::Out, tx.clone());
        forward(child.stderr.take().expect("piped stderr"), Stream::Err, tx);
        Proc {
            name: name.to_owned(),
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (up to `timeout`) for a line on `stream` for which `check` holds,
    /// and returns it. Panics with everything seen so far on a timeout or if
    /// the process ends first.
    pub fn wait_line(&mut self, stream: Stream, timeout: Duration, mut check: impl FnMut(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((which, line)) => {
                    self.seen.push((which, line.clone()));
                    if which == stream && check(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{}: no such line within {timeout:?}; seen: {:#?}", self.name, self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("{}: ended before such a line; seen: {:#?}", self.name, self.seen)
                }
            }
        }
    }

    /// Sends `signal` (`KILL`, `INT`, `TERM`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {}", self.name);
    }

    /// Waits (up to `timeout`) for the process to exit: for the end of both
    /// its output streams, which it closes when it exits. Returns its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => return self.child.wait().expect("wait for outpost"),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{} did not exit within {timeout:?}; seen: {:#?}", self.name, self.seen)
                }
            }
        }
    }

    /// The lines seen so far on `stream`.
    pub fn lines(&self, stream: Stream) -> Vec<&str> {
        self.seen
            .iter()
            .filter(|(s, _)| *s == stream)
            .map(|(_, l)| l.as_str())
            .collect()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `outpost` with `args` to its end, failing the test if that takes
/// longer than `timeout`.
pub fn run(args: &[&str], timeout: Duration) -> super::Run {
    let mut proc = Proc::spawn(args.first().copied().unwrap_or("outpost"), args);
    let status = proc.wait_exit(timeout);
    let text = |stream| proc.lines(stream).iter().map(|l| format!("{l}\n")).collect::<String>();
    let (stdout, stderr) = (text(Stream::Out), text(Stream::Err));
    super::Run {
        output: Output {
            status,
            stdout: stdout.clone().into_bytes(),
            stderr: stderr.clone().into_bytes(),
        },
        stdout,
        stderr,
    }
}

/// Where a running `outpost serve` can be reached.
pub struct Served {
    pub proc: Proc,
    pub url: String,
    pub fingerprint: Option<String>,
    pub port: u16,
}

/// Starts `outpost serve --db DB --bind 127.0.0.1 ARGS...` and reads its
/// ready line.
pub fn serve(db: &Path, args: &[&str]) -> Served {
    let db = db.to_str().expect("UTF-8 path");
    let mut all = vec!["serve", "--db", db, "--bind", "127.0.0.1"];
    all.extend_from_slice(args);
    if !args.contains(&"--port") {
        all.extend_from_slice(&["--port", "0"]);
    }
    let mut proc = Proc::spawn("serve", &all);
    let line = proc.wait_line(Stream::Out, Duration::from_secs(30), |l| l.starts_with('{'));
    let ready = super::json(&line);
    Served {
        url: ready["url"].as_str().expect("url").to_owned(),
        fingerprint: ready["fingerprint"].as_str().map(str::to_owned),
        port: u16::try_from(ready["port"].as_u64().expect("port")).expect("a port"),
        proc,
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}
