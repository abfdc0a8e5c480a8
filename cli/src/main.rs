//! `outpost`: the command-line face of Outpost.
//!
//! It reads and writes documents of a database file, imports and exports
//! JSON lines, lists conflicts, serves a database to peers and syncs with
//! them over WebSocket + TLS, shows a demo and measures throughput. This file only
//! parses the arguments, sets up logging and turns the outcome into an exit
//! code: every failure is one line `outpost: <message>` on stderr.

#![forbid(unsafe_code)]

mod args;
mod commands;
mod error;
mod output;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;
use crate::error::CliError;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return args::report_parse_error(&e),
    };
    init_logging(cli.verbose);
    commands::set_key_source(cli.key.clone());
    match commands::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

/// Prints `outpost: <message>` on one line and picks the exit code.
fn report(e: &CliError) -> ExitCode {
    eprintln!("outpost: {}", error::one_line(&e.to_string()));
    e.exit_code()
}

/// Log lines go to stderr: warnings by default, more with `-v`/`-vv`;
/// `RUST_LOG` overrides both. By default the replicator's own warning when
/// it stops on an error is left out: the command reports that error itself,
/// as its one line.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn,outpost_core::replication::replicator=error",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
