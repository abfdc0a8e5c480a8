//! What the network commands share: the tokio runtime, waiting for Ctrl-C
//! or SIGTERM, `NAME:PASSWORD` credentials, the `--collection` list, and a
//! TLS listener on loopback with a pinned remote configuration (for `demo`
//! and `bench`).

use outpost_core::net::{
    ClientAuth, Listener, ListenerAuthenticator, ListenerConfig, RemoteConfig, ServerTrust, UserTable,
};
use outpost_core::{Database, Error as CoreError, DEFAULT_COLLECTION};

use crate::args::UserArg;
use crate::error::CliError;

/// A multi-threaded tokio runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::io("starting the async runtime", e))
}

/// Resolves on the first Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// A user name and password given as `NAME:PASSWORD` (split at the first
/// colon; the password may contain colons).
///
/// The error never repeats the argument, which holds a password.
pub fn credentials(arg: &str) -> Result<(String, String), CliError> {
    match arg.split_once(':') {
        Some((name, password)) if !name.is_empty() && !password.is_empty() => {
            Ok((name.to_owned(), password.to_owned()))
        }
        _ => Err(CliError::Usage(
            "--user takes NAME:PASSWORD, both non-empty (the name cannot contain ':')".to_owned(),
        )),
    }
}

/// Creates the collections named by `--collection` where missing, and
/// returns their names: the default collection if none is named.
pub fn create_collections(db: &Database, names: &[String]) -> Result<Vec<String>, CliError> {
    let names = if names.is_empty() {
        vec![DEFAULT_COLLECTION.to_owned()]
    } else {
        names.to_vec()
    };
    for name in &names {
        db.create_collection(name)
            .map_err(|e| CliError::core(format!("creating collection {name:?}"), e))?;
    }
    Ok(names)
}

/// A user table of `NAME:PASSWORD` arguments.
pub fn user_table(args: &[UserArg]) -> Result<UserTable, CliError> {
    args.iter().try_fold(UserTable::new(), |table, arg| {
        let (name, password) = credentials(&arg.0)?;
        table
            .with_user(&name, &password)
            .map_err(|e| CliError::core(format!("adding the user {name:?}"), e))
    })
}

/// A TLS listener on 127.0.0.1 (any free port) serving the default
/// collection to one user, and how a replicator reaches it: that user's
/// password and the listener's pinned fingerprint.
pub struct Loopback {
    /// The running listener.
    pub listener: Listener,
    /// Its URL, credentials and pinned fingerprint.
    pub remote: RemoteConfig,
}

impl Loopback {
    /// Starts a listener serving `db` to `user` with `password`.
    pub async fn start(db: &Database, user: &str, password: &str) -> Result<Loopback, CliError> {
        Loopback::start_with(db, user, password, false).await
    }

    /// [`Loopback::start`], allowing delta sync or not.
    pub async fn start_with(db: &Database, user: &str, password: &str, delta_sync: bool) -> Result<Loopback, CliError> {
        let users = UserTable::new()
            .with_user(user, password)
            .map_err(|e| CliError::core("adding a user", e))?;
        let mut config = ListenerConfig::new(ListenerAuthenticator::Users(users));
        config.interface = Some("127.0.0.1".to_owned());
        config.delta_sync = delta_sync;
        let listener = Listener::start(db.clone(), config)
            .await
            .map_err(|e| CliError::core("starting a listener on 127.0.0.1", e))?;
        let missing = |what: &str| CliError::core("starting a listener", CoreError::Network(format!("no {what}")));
        let fingerprint = listener.fingerprint().ok_or_else(|| missing("TLS fingerprint"))?;
        let url = listener.urls().into_iter().next().ok_or_else(|| missing("URL"))?;
        let remote = RemoteConfig::new(url)
            .with_auth(ClientAuth::basic(user, password))
            .with_trust(ServerTrust::PinnedFingerprint(fingerprint));
        Ok(Loopback { listener, remote })
    }

    /// The listener's `sha256:` fingerprint.
    pub fn fingerprint(&self) -> String {
        self.listener.fingerprint().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_arguments_do_not_show_their_password_in_debug_output() {
        let arg: UserArg = "amina:s3cret".parse().unwrap();
        assert_eq!(format!("{arg:?}"), "UserArg(amina:<hidden>)");
    }

    #[test]
    fn credentials_split_at_the_first_colon_and_errors_hide_the_password() {
        assert_eq!(
            credentials("amina:pa:ss").unwrap(),
            ("amina".to_owned(), "pa:ss".to_owned())
        );
        for bad in ["amina", ":secret", "amina:", ""] {
            let e = credentials(bad).unwrap_err().to_string();
            assert!(bad.is_empty() || !e.contains(bad), "{e}");
        }
    }
}
