//! The network target of a replicator: a listener's URL with the
//! credentials to present ([`ClientAuthentication`]) and the certificates
//! to trust.

use std::sync::Arc;
use std::time::Duration;

use outpost_core::net::{self as core, ClientAuth};

use crate::error::{OutpostError, Result};
use crate::tls::{ServerTrust, TlsIdentity};

/// The credentials a replicator presents to a listener. Opaque, so the
/// password never shows in `toString`/`Debug`.
// Debug: the core type's, which shows no secret.
#[derive(Debug, uniffi::Object)]
pub struct ClientAuthentication {
    inner: ClientAuth,
}

#[uniffi::export]
impl ClientAuthentication {
    /// HTTP basic credentials (sent only inside TLS, unless the URL is `ws://`
    /// or `http://`).
    #[uniffi::constructor]
    pub fn basic(username: String, password: String) -> Arc<Self> {
        Arc::new(ClientAuthentication {
            inner: ClientAuth::basic(username, password),
        })
    }

    /// A TLS client certificate (needs a `wss://` URL), e.g. from
    /// `TlsIdentity.fromPem`.
    #[uniffi::constructor]
    pub fn certificate(identity: Arc<TlsIdentity>) -> Arc<Self> {
        Arc::new(ClientAuthentication {
            inner: ClientAuth::Certificate(identity.inner.clone()),
        })
    }
}

/// Where and how to reach a peer (an Outpost listener or a CouchDB-protocol
/// server, by the URL's scheme); every field but the URL has a default.
#[derive(Clone, Debug, uniffi::Record)]
pub struct RemoteTargetConfig {
    /// The peer's URL: a listener's `wss://host:port/db` (`ws://` without
    /// TLS), or a CouchDB-protocol server's database `https://host/db`
    /// (`http://` without TLS; CouchDB, PouchDB Server, Cloudant).
    pub url: String,
    /// Credentials to present, if the listener asks for any.
    #[uniffi(default = None)]
    pub authentication: Option<Arc<ClientAuthentication>>,
    /// Which listener certificates to trust; public CAs if unset.
    #[uniffi(default = None)]
    pub server_trust: Option<ServerTrust>,
    /// Interval of heartbeats in milliseconds; a link silent for three
    /// intervals is taken as lost.
    #[uniffi(default = 30000)]
    pub heartbeat_ms: u64,
}

impl TryFrom<RemoteTargetConfig> for core::RemoteConfig {
    type Error = OutpostError;

    fn try_from(c: RemoteTargetConfig) -> Result<Self> {
        let mut config = core::RemoteConfig::new(c.url).with_heartbeat(Duration::from_millis(c.heartbeat_ms));
        if let Some(trust) = c.server_trust {
            config = config.with_trust(trust.try_into()?);
        }
        if let Some(auth) = c.authentication {
            config = config.with_auth(auth.inner.clone());
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_password() {
        let config = RemoteTargetConfig {
            url: "wss://127.0.0.1:1/db".into(),
            authentication: Some(ClientAuthentication::basic("amina".into(), "secret-pw".into())),
            server_trust: Some(ServerTrust::SelfSignedOnly),
            heartbeat_ms: 30_000,
        };
        let shown = format!("{config:?}");
        assert!(shown.contains("amina") && !shown.contains("secret-pw"), "{shown}");
        let core: core::RemoteConfig = config.try_into().unwrap();
        assert!(!format!("{core:?}").contains("secret-pw"));
    }
}
