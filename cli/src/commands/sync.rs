//! `outpost sync`: replicates a local database with a peer started by
//! `outpost serve` (`wss://`), or with a CouchDB-protocol server's database
//! (`https://`: CouchDB, PouchDB Server), one-shot or continuous.
//!
//! Status goes to stdout as lines, or to stderr as a bar on a terminal
//! (see `progress`); when a one-shot sync completes (or a continuous one
//! is stopped), one summary line goes to stdout: documents pushed and
//! pulled, the time taken, and the bytes sent and received on the wire
//! (TLS and framing included). A permanent failure (login refused, certificate rejected,
//! read-only peer, ...) or a peer still unreachable after a few attempts is
//! one line on stderr and exit code 1.
//!
//! A `--user` password is never sent over `ws://` or `http://` (no TLS)
//! unless `--allow-plaintext` is given, and then with a warning on stderr.

use std::path::Path;
use std::time::{Duration, Instant};

use outpost_core::net::{ClientAuth, RemoteConfig, ServerTrust};
use outpost_core::replication::{CollectionConfig, Direction, Replicator, ReplicatorConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use super::progress::Progress;
use super::{net, open_db};
use crate::args::SyncArgs;
use crate::error::CliError;
use crate::output::print_line;

/// Attempts of a one-shot sync before an unreachable peer is an error
/// (without `--retry`): about 3 seconds of backoff in all.
const ONE_SHOT_ATTEMPTS: u32 = 3;

/// Longest wait between two attempts to reach the peer.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);

/// `outpost sync`.
pub fn run(args: &SyncArgs) -> Result<(), CliError> {
    let remote = remote_config(args)?;
    let db = open_db(&args.db)?;
    let collections = net::create_collections(&db, &args.collection)?;
    let config = ReplicatorConfig {
        direction: match (args.push, args.pull) {
            (true, false) => Direction::Push,
            (false, true) => Direction::Pull,
            _ => Direction::PushAndPull,
        },
        continuous: args.continuous,
        collections: collections.into_iter().map(CollectionConfig::new).collect(),
        all_served_collections: false,
        max_attempts: (!args.continuous && !args.retry).then_some(ONE_SHOT_ATTEMPTS),
        max_attempt_wait: MAX_RETRY_WAIT,
        delta_sync: args.delta_sync,
    };
    let context = format!("syncing with {}", args.url);
    let replicator = Replicator::remote(db, remote, config).map_err(|e| CliError::core(&context, e))?;

    net::runtime()?.block_on(async {
        let progress = Progress::start(&replicator, "sync", true);
        let started = Instant::now();
        let run = replicator.run();
        tokio::pin!(run);
        let outcome = tokio::select! {
            outcome = &mut run => outcome,
            () = net::shutdown_signal() => {
                replicator.stop();
                run.await
            }
        };
        let wire = replicator.status().wire;
        let summary = format!(
            "sync: {} in {:.2} s, {} bytes sent, {} received",
            progress.counts().describe(),
            started.elapsed().as_secs_f64(),
            wire.sent,
            wire.received
        );
        progress.finish(&replicator, outcome.is_err());
        outcome.map_err(|e| CliError::core(&context, e))?;
        print_line(&summary)
    })
}

/// The peer's URL, credentials and trust, from the arguments.
fn remote_config(args: &SyncArgs) -> Result<RemoteConfig, CliError> {
    let trust = if let Some(pin) = &args.pin {
        ServerTrust::PinnedFingerprint(pin.clone())
    } else if args.self_signed_only {
        ServerTrust::SelfSignedOnly
    } else if args.insecure {
        ServerTrust::InsecureAcceptAny
    } else if let Some(file) = &args.ca {
        ServerTrust::CaCertificates(ca_certificates(file)?)
    } else {
        ServerTrust::SystemRoots
    };
    let mut remote = RemoteConfig::new(args.url.clone())
        .with_trust(trust)
        .with_create_target(args.create_target);
    if let Some(user) = &args.user {
        let (name, password) = net::credentials(&user.0)?;
        check_plaintext_password(&args.url, args.allow_plaintext)?;
        remote = remote.with_auth(ClientAuth::basic(name, password));
    }
    Ok(remote)
}

/// A password for a `ws://` or `http://` URL would cross the network
/// readable by anyone on it: refused, unless `--allow-plaintext` says to send it anyway, and
/// then warned about on stderr.
pub(crate) fn check_plaintext_password(url: &str, allowed: bool) -> Result<(), CliError> {
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    let plaintext = scheme.eq_ignore_ascii_case("ws") || scheme.eq_ignore_ascii_case("http");
    if !plaintext {
        return Ok(());
    }
    if !allowed {
        return Err(CliError::Usage(
            "refusing to send the --user password over ws:// or http:// without TLS, where anyone on the \
             network can read it and every record; use the peer's wss:// or https:// URL, or add \
             --allow-plaintext to send it anyway"
                .to_owned(),
        ));
    }
    eprintln!(
        "outpost: WARNING: --allow-plaintext: the password and every record cross the network unencrypted \
         (no TLS); anyone on this network can read them and log in as this user"
    );
    Ok(())
}

/// The certificates (DER) of a PEM file.
pub(crate) fn ca_certificates(file: &Path) -> Result<Vec<Vec<u8>>, CliError> {
    let text = std::fs::read(file).map_err(|e| CliError::io(format!("reading {}", file.display()), e))?;
    let certificates = CertificateDer::pem_slice_iter(&text)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CliError::Usage(format!("--ca {}: not PEM certificates ({e})", file.display())))?;
    if certificates.is_empty() {
        return Err(CliError::Usage(format!(
            "--ca {}: no certificate in the file",
            file.display()
        )));
    }
    Ok(certificates)
}
