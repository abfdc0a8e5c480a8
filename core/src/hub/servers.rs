//! `ServerConfig` and the `hub_servers` table: the servers a hub replicates
//! with (CouchDB's `_replicator` documents, for camps), each with its
//! password sealed by [`super::seal::CredentialSeal`]. Local, never
//! replicated.

use rusqlite::params;
use serde_json::{json, Value};

use crate::error::{Error, InvalidInput, Result};
use crate::net::ServerTrust;
use crate::replication::Direction;
use crate::store::Database;

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS hub_servers (
    name TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    sealed_password BLOB NOT NULL,
    version TEXT NOT NULL
) STRICT, WITHOUT ROWID";

/// A server a hub replicates with continuously.
///
/// # Examples
/// ```
/// use outpost_core::hub::ServerConfig;
/// use outpost_core::net::ServerTrust;
/// let camp1 = ServerConfig::new("camp-1", "wss://10.0.0.5:4984/camp", "camp-2")
///     .with_trust(ServerTrust::PinnedFingerprint("sha256:ab".into()));
/// assert!(camp1.collections.is_empty()); // every collection camp 1 serves
/// ```
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The administrator's name for it (unique in the hub).
    pub name: String,
    /// `wss://HOST:PORT/DB` (another hub) or `https://HOST/DB` (a CouchDB).
    pub url: String,
    /// The user name presented (its password is kept sealed apart).
    pub username: String,
    /// How its certificate is checked.
    pub trust: ServerTrust,
    /// Push, pull or both.
    pub direction: Direction,
    /// Collections replicated (created locally if missing); empty: every
    /// collection the server serves, asked at each connection (another
    /// hub lists them in its hello; a CouchDB gives the database the URL
    /// names, as the default collection).
    pub collections: Vec<String>,
}

impl ServerConfig {
    /// Both directions, every collection the server serves, system roots.
    pub fn new(name: impl Into<String>, url: impl Into<String>, username: impl Into<String>) -> Self {
        ServerConfig {
            name: name.into(),
            url: url.into(),
            username: username.into(),
            trust: ServerTrust::SystemRoots,
            direction: Direction::PushAndPull,
            collections: Vec::new(),
        }
    }

    /// With `trust`.
    pub fn with_trust(mut self, trust: ServerTrust) -> Self {
        self.trust = trust;
        self
    }

    fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(InvalidInput::BadConfig(why).into());
        if self.name.is_empty() || self.name.len() > 128 || self.name.chars().any(char::is_control) {
            return bad("a server name must be 1 to 128 bytes without control characters".into());
        }
        if !["wss://", "ws://", "https://", "http://"]
            .iter()
            .any(|s| self.url.starts_with(s))
        {
            return bad(format!(
                "{:?} is not a wss://, ws://, https:// or http:// URL",
                self.url
            ));
        }
        if self.username.is_empty() || self.username.contains(':') {
            return bad("a server's user name must be non-empty, without ':'".into());
        }
        Ok(())
    }

    fn to_json(&self) -> Value {
        let trust = match &self.trust {
            ServerTrust::SystemRoots => json!("system"),
            ServerTrust::SelfSignedOnly => json!("self_signed_only"),
            ServerTrust::InsecureAcceptAny => json!("insecure"),
            ServerTrust::PinnedFingerprint(f) => json!({ "pin": f }),
            ServerTrust::PinnedCertificate(der) => json!({ "pinned_certificate": hex::encode(der) }),
            ServerTrust::CaCertificates(ders) => json!({ "ca": ders.iter().map(hex::encode).collect::<Vec<_>>() }),
        };
        json!({
            "url": self.url,
            "user": self.username,
            "trust": trust,
            "direction": direction_name(self.direction),
            "collections": self.collections,
        })
    }

    fn from_json(name: &str, value: &Value) -> Option<ServerConfig> {
        let text = |key: &str| value.get(key)?.as_str().map(str::to_owned);
        let hex_der = |v: &Value| v.as_str().and_then(|h| hex::decode(h).ok());
        let trust = match value.get("trust")? {
            Value::String(s) if s == "system" => ServerTrust::SystemRoots,
            Value::String(s) if s == "self_signed_only" => ServerTrust::SelfSignedOnly,
            Value::String(s) if s == "insecure" => ServerTrust::InsecureAcceptAny,
            Value::Object(o) if o.contains_key("pin") => ServerTrust::PinnedFingerprint(o["pin"].as_str()?.to_owned()),
            Value::Object(o) if o.contains_key("pinned_certificate") => {
                ServerTrust::PinnedCertificate(hex_der(&o["pinned_certificate"])?)
            }
            Value::Object(o) if o.contains_key("ca") => {
                ServerTrust::CaCertificates(o["ca"].as_array()?.iter().map(hex_der).collect::<Option<_>>()?)
            }
            _ => return None,
        };
        let direction = match text("direction")?.as_str() {
            "push" => Direction::Push,
            "pull" => Direction::Pull,
            "both" => Direction::PushAndPull,
            _ => return None,
        };
        let collections = value
            .get("collections")?
            .as_array()?
            .iter()
            .map(|c| c.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()?;
        Some(ServerConfig {
            name: name.to_owned(),
            url: text("url")?,
            username: text("user")?,
            trust,
            direction,
            collections,
        })
    }

    /// The configuration as JSON, without any secret (for listings).
    pub fn to_json_line(&self) -> String {
        let mut value = self.to_json();
        value["name"] = json!(self.name);
        value.to_string()
    }
}

impl PartialEq for ServerConfig {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.to_json() == other.to_json()
    }
}

/// `push`, `pull` or `both`.
pub(crate) fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Push => "push",
        Direction::Pull => "pull",
        Direction::PushAndPull => "both",
    }
}

/// One stored server: its configuration, sealed password and version (new
/// at each save, so a running hub sees that it changed).
pub(crate) struct StoredServer {
    pub config: ServerConfig,
    pub sealed_password: Vec<u8>,
    pub version: String,
}

/// The `hub_servers` table of a database.
#[derive(Clone)]
pub(crate) struct ServerTable {
    db: Database,
}

impl ServerTable {
    pub(crate) fn open(db: &Database) -> Result<ServerTable> {
        db.write(|conn| Ok(conn.execute_batch(CREATE_TABLE)?))?;
        Ok(ServerTable { db: db.clone() })
    }

    /// Saves (adds or replaces) a server.
    pub(crate) fn save(&self, config: &ServerConfig, sealed_password: &[u8]) -> Result<()> {
        config.validate()?;
        let version = uuid::Uuid::new_v4().to_string();
        self.db.write(|conn| {
            conn.execute(
                "INSERT OR REPLACE INTO hub_servers (name, config, sealed_password, version) VALUES (?1, ?2, ?3, ?4)",
                params![config.name, config.to_json().to_string(), sealed_password, version],
            )?;
            Ok(())
        })
    }

    /// Removes a server; `false` if there was none.
    pub(crate) fn remove(&self, name: &str) -> Result<bool> {
        let removed = self
            .db
            .write(|conn| Ok(conn.execute("DELETE FROM hub_servers WHERE name = ?1", [name])?))?;
        Ok(removed > 0)
    }

    /// Every server, by name.
    pub(crate) fn all(&self) -> Result<Vec<StoredServer>> {
        let rows = self.db.read(|conn| {
            let mut stmt =
                conn.prepare("SELECT name, config, sealed_password, version FROM hub_servers ORDER BY name")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
        })?;
        rows.into_iter()
            .map(|(name, config, sealed_password, version)| {
                let config = serde_json::from_str::<Value>(&config)
                    .ok()
                    .and_then(|v| ServerConfig::from_json(&name, &v))
                    .ok_or_else(|| Error::Corrupt(format!("the configuration of server {name:?} is unreadable")))?;
                Ok(StoredServer {
                    config,
                    sealed_password,
                    version,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_trust_and_direction_round_trips_through_json() {
        let trusts = [
            ServerTrust::SystemRoots,
            ServerTrust::SelfSignedOnly,
            ServerTrust::InsecureAcceptAny,
            ServerTrust::PinnedFingerprint("sha256:00".into()),
            ServerTrust::PinnedCertificate(vec![1, 2]),
            ServerTrust::CaCertificates(vec![vec![3], vec![4, 5]]),
        ];
        for (i, trust) in trusts.into_iter().enumerate() {
            let mut config = ServerConfig::new("s", "wss://h:1/db", "u").with_trust(trust);
            config.direction = [Direction::Push, Direction::Pull, Direction::PushAndPull][i % 3];
            config.collections = vec!["a".into(), "b".into()];
            assert_eq!(ServerConfig::from_json("s", &config.to_json()), Some(config));
        }
        assert_eq!(ServerConfig::from_json("s", &json!({"url": 1})), None);
    }
}
