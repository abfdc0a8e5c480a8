//! `outpost serve`: a [`Listener`] on a database until Ctrl-C or SIGTERM,
//! and beside it the replications of the database's configured servers
//! (`outpost servers add`).
//!
//! When it is ready it prints one JSON line on stdout (`url`, `urls`,
//! `port`, `fingerprint` unless `--no-tls`, `database`, `collections`,
//! `read_only`), so that a script or test can read where to connect; every
//! other line goes to stderr.

use std::sync::Arc;

use outpost_core::hub::{ReplicationManager, SystemUsers};
use outpost_core::net::{Listener, ListenerAuthenticator, ListenerConfig};
use outpost_core::Database;

use super::{identity, net, open_db};
use crate::args::ServeArgs;
use crate::error::CliError;
use crate::output::print_line;

/// `outpost serve`.
pub fn run(args: &ServeArgs) -> Result<(), CliError> {
    let db = open_db(&args.db)?;
    let authenticator = authenticator(args, &db)?;
    let collections = net::create_collections(&db, &args.collection)?;
    let (identity, stored_identity) = identity::from_args(args)?;
    let servers = configured_servers(args, &db)?;
    let mut config = ListenerConfig::new(authenticator);
    config.collections = collections.clone();
    config.port = args.port;
    config.interface = args.bind.clone();
    config.identity = identity;
    config.stored_identity = stored_identity;
    config.disable_tls = args.no_tls;
    config.read_only = args.read_only;
    config.delta_sync = args.delta_sync;

    net::runtime()?.block_on(async {
        let listener = Listener::start(db, config)
            .await
            .map_err(|e| CliError::core("starting the listener", e))?;
        if let Some(servers) = &servers {
            servers
                .start()
                .map_err(|e| CliError::core("starting the configured servers", e))?;
        }
        print_line(&ready_line(&listener, &collections, args.read_only))?;
        eprintln!(
            "serve: serving {} at {}; Ctrl-C stops",
            args.db.display(),
            listener.urls().join(" ")
        );
        net::shutdown_signal().await;
        eprintln!("serve: stopping");
        if let Some(servers) = &servers {
            servers.stop().await;
        }
        listener.stop().await;
        Ok(())
    })
}

/// The configured servers to run beside the listener, their passwords
/// opened with the key store of `--key-dir` (or its default). Without a
/// usable key store (no home directory, an empty passphrase) the hub runs
/// without them only when it has none.
fn configured_servers(args: &ServeArgs, db: &Database) -> Result<Option<ReplicationManager>, CliError> {
    let keys = identity::key_dir(args.key_dir.as_deref()).and_then(|dir| identity::key_store(&dir));
    match keys {
        Ok(keys) => ReplicationManager::open(db, Arc::new(keys))
            .map(Some)
            .map_err(|e| CliError::core("opening the configured servers", e)),
        Err(e) => {
            let none =
                ReplicationManager::servers(db).map_err(|e| CliError::core("reading the configured servers", e))?;
            if none.is_empty() {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// Who may connect: the system users stored in the database (`outpost
/// users add`) and the `--user`s, or anyone with `--anonymous` when there
/// are neither.
fn authenticator(args: &ServeArgs, db: &Database) -> Result<ListenerAuthenticator, CliError> {
    let stored = SystemUsers::open(db).map_err(|e| CliError::core("reading the system users", e))?;
    if !stored
        .is_empty()
        .map_err(|e| CliError::core("reading the system users", e))?
    {
        if args.anonymous {
            return Err(CliError::Usage(
                "the database has system users (outpost users list); drop --anonymous or remove them".to_owned(),
            ));
        }
        let also = net::user_table(&args.user)?;
        return Ok(ListenerAuthenticator::SystemUsers { stored, also });
    }
    if !args.user.is_empty() {
        return Ok(ListenerAuthenticator::Users(net::user_table(&args.user)?));
    }
    if args.anonymous {
        return Ok(ListenerAuthenticator::Anonymous);
    }
    Err(CliError::Usage(
        "serve needs a system user (outpost users add) or at least one --user NAME:PASSWORD; or \
         --anonymous to let anyone who can reach the port read and change the database"
            .to_owned(),
    ))
}

/// The JSON line printed when the listener is ready. The first URL is one
/// other machines can use when the listener is on every interface (core
/// lists non-loopback addresses first).
fn ready_line(listener: &Listener, collections: &[String], read_only: bool) -> String {
    let urls = listener.urls();
    let mut line = serde_json::json!({
        "url": urls.first(),
        "urls": urls,
        "port": listener.port(),
        "database": listener.database_name(),
        "collections": collections,
        "read_only": read_only,
    });
    if let Some(fingerprint) = listener.fingerprint() {
        line["fingerprint"] = fingerprint.into();
    }
    line.to_string()
}
