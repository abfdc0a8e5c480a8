//! Helpers of the end-to-end tests: run the real `outpost` binary and check
//! what it printed and how it exited.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// What one run of `outpost` did.
#[derive(Debug)]
pub struct Run {
    pub output: Output,
    pub stdout: String,
    pub stderr: String,
}

/// Starts `outpost` with `args`, its stdout and stderr piped, `stdin` as
/// its standard input, and no `RUST_LOG` from the test's environment.
pub fn spawn<S: AsRef<OsStr>>(args: &[S], stdin: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start outpost")
}

/// Runs `outpost` with `args` and `stdin` as its standard input.
pub fn outpost_with_stdin<S: AsRef<OsStr>>(args: &[S], stdin: &[u8]) -> Run {
    let mut child = spawn(args, Stdio::piped());
    // Written from another thread so that a large input cannot deadlock
    // against a full stdout pipe. A write error means outpost stopped
    // reading early; its exit status and stderr tell why.
    let mut pipe = child.stdin.take().expect("piped stdin");
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let output = child.wait_with_output().expect("wait for outpost");
    writer.join().expect("stdin writer");
    Run {
        stdout: String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8"),
        output,
    }
}

/// Runs `outpost` with `args` and empty stdin.
pub fn outpost<S: AsRef<OsStr>>(args: &[S]) -> Run {
    outpost_with_stdin(args, b"")
}

/// Runs `outpost`, asserts that it succeeded with nothing on stderr, and
/// returns its stdout.
pub fn ok<S: AsRef<OsStr>>(args: &[S]) -> String {
    succeeded(outpost(args))
}

/// Asserts that `run` succeeded with nothing on stderr, and returns its stdout.
pub fn succeeded(run: Run) -> String {
    assert!(run.output.status.success(), "outpost failed: {run:?}");
    assert_eq!(run.stderr, "", "nothing on stderr");
    run.stdout
}

/// Runs `outpost`, asserts that it failed with exactly one line
/// `outpost: ...` on stderr and no panic, and returns that line.
pub fn fails<S: AsRef<OsStr>>(args: &[S]) -> String {
    let run = outpost(args);
    one_line_failure(&run)
}

/// Asserts that `run` failed with one line `outpost: ...` on stderr and no panic.
pub fn one_line_failure(run: &Run) -> String {
    assert!(!run.output.status.success(), "outpost should have failed: {run:?}");
    assert!(!run.stderr.contains("panicked"), "a panic: {}", run.stderr);
    assert!(!run.stderr.contains("RUST_BACKTRACE"), "a panic: {}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line on stderr: {:?}", run.stderr);
    assert!(lines[0].starts_with("outpost: "), "{:?}", lines[0]);
    lines[0].to_owned()
}

/// `dir/name` as an argument.
pub fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// Parses one JSON line.
pub fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
}
pub mod process;
