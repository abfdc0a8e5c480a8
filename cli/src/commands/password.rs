//! Reading a password for a stored user or server: one line from stdin
//! (`--password-stdin`), or typed twice on the terminal without echo. Never
//! from the command line, which other local users can read.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use outpost_core::tuning::MAX_SYSTEM_USER_PASSWORD_BYTES;

use crate::error::CliError;

/// The first line of `input` (without its line ending), at most
/// [`MAX_SYSTEM_USER_PASSWORD_BYTES`] long and not empty.
fn one_line(input: impl Read, source: &str) -> Result<String, CliError> {
    let limit = u64::try_from(MAX_SYSTEM_USER_PASSWORD_BYTES + 2).unwrap_or(u64::MAX);
    let mut line = Vec::new();
    BufReader::new(input.take(limit))
        .read_until(b'\n', &mut line)
        .map_err(|e| CliError::io(format!("reading the password from {source}"), e))?;
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    let too_long = line.len() > MAX_SYSTEM_USER_PASSWORD_BYTES;
    match String::from_utf8(line) {
        Ok(password) if !password.is_empty() && !too_long => Ok(password),
        _ => Err(CliError::Usage(format!(
            "the password from {source} must be one line of 1 to {MAX_SYSTEM_USER_PASSWORD_BYTES} bytes of UTF-8"
        ))),
    }
}

/// Turns the terminal's echo on or off (through `stty`, on the terminal).
fn set_echo(tty: &File, on: bool) -> Result<(), CliError> {
    let stdin = tty.try_clone().map_err(|e| CliError::io("opening the terminal", e))?;
    let status = Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(Stdio::from(stdin))
        .status()
        .map_err(|e| CliError::io("running stty to hide the password", e))?;
    if status.success() {
        Ok(())
    } else {
        Err(CliError::Usage(
            "cannot hide the typed password on this terminal; use --password-stdin".to_owned(),
        ))
    }
}

/// Asks for the password on the terminal with `prompt`, without echo.
fn prompt_once(tty: &mut File, prompt: &str) -> Result<String, CliError> {
    let write_error = |e| CliError::io("writing to the terminal", e);
    tty.write_all(prompt.as_bytes()).map_err(write_error)?;
    tty.flush().map_err(write_error)?;
    set_echo(tty, false)?;
    let typed = one_line(&*tty, "the terminal");
    let restored = set_echo(tty, true);
    tty.write_all(b"\n").map_err(write_error)?;
    let typed = typed?;
    restored?;
    Ok(typed)
}

/// A new password: one line of stdin with `from_stdin`, else typed twice
/// on the terminal (both must match).
pub fn read_new(from_stdin: bool, whose: &str) -> Result<String, CliError> {
    if from_stdin {
        return one_line(std::io::stdin().lock(), "stdin");
    }
    let mut tty = File::options()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| CliError::Usage("no terminal to type the password on; use --password-stdin".to_owned()))?;
    let first = prompt_once(&mut tty, &format!("Password for {whose}: "))?;
    let again = prompt_once(&mut tty, "Again: ")?;
    if first != again {
        return Err(CliError::Usage(
            "the two passwords differ; nothing was changed".to_owned(),
        ));
    }
    Ok(first)
}
