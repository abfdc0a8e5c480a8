//! The replication checkpoint as a CouchDB `_local` document, in the shape
//! CouchDB's and PouchDB's replicators write theirs:
//! `{"_id":"_local/<id>","_rev":"0-N","session_id":..,"source_last_seq":..,
//! "last_seq":..,"history":[{"session_id":..,"last_seq":..,"recorded_seq":..}],
//! "replicator":"outpost","version":1}`.
//! The engine's own checkpoint body (`replication/checkpoint.rs`:
//! `{"version":1,"session":..,"sequence":..}`) is translated both ways, so
//! the engine stays free of CouchDB's shapes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{InvalidInput, Result};
use crate::replication::Sequence;

/// The engine's checkpoint body (the fields this module needs).
#[derive(Serialize, Deserialize)]
struct EngineCheckpoint {
    version: u32,
    session: String,
    sequence: Sequence,
}

/// The `_local` document for the engine's checkpoint `body`, replacing
/// the server's revision `rev` (none for a new one).
///
/// # Errors
/// [`InvalidInput::InvalidJson`] if `body` is not the engine's checkpoint.
pub(crate) fn to_local_doc(id: &str, rev: Option<&str>, body: &str) -> Result<Value> {
    let engine: EngineCheckpoint =
        serde_json::from_str(body).map_err(|e| InvalidInput::InvalidJson(format!("checkpoint: {e}")))?;
    let seq = engine.sequence.to_json();
    let mut doc = Map::new();
    doc.insert("_id".into(), Value::from(format!("_local/{id}")));
    if let Some(rev) = rev {
        doc.insert("_rev".into(), Value::from(rev));
    }
    doc.insert("session_id".into(), Value::from(engine.session.clone()));
    doc.insert("source_last_seq".into(), seq.clone());
    doc.insert("last_seq".into(), seq.clone());
    doc.insert(
        "history".into(),
        serde_json::json!([{"session_id": engine.session, "last_seq": seq, "recorded_seq": seq}]),
    );
    doc.insert("replicator".into(), Value::from("outpost"));
    doc.insert("version".into(), Value::from(engine.version));
    Ok(Value::Object(doc))
}

/// The engine's checkpoint body held by a `_local` document, and the
/// document's `_rev`. A document of another shape (another replicator's)
/// holds none.
pub(crate) fn from_local_doc(doc: &Map<String, Value>) -> (Option<String>, Option<String>) {
    let rev = doc.get("_rev").and_then(Value::as_str).map(str::to_owned);
    let session = doc.get("session_id").and_then(Value::as_str);
    let seq = doc.get("source_last_seq").or_else(|| doc.get("last_seq"));
    let version = doc.get("version").and_then(Value::as_u64).unwrap_or(1) as u32;
    let body = match (session, seq.map(Sequence::from_peer_json)) {
        (Some(session), Some(Ok(sequence))) => serde_json::to_string(&EngineCheckpoint {
            version,
            session: session.to_owned(),
            sequence,
        })
        .ok(),
        _ => None,
    };
    (body, rev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_opaque_and_numeric_sequences() {
        for seq in [r#"12"#, r#""3-g1AAAA""#] {
            let body = format!(r#"{{"version":1,"session":"s","sequence":{seq}}}"#);
            let doc = to_local_doc("checkpoint-1", Some("0-3"), &body).unwrap();
            assert_eq!(doc["_rev"], "0-3");
            assert_eq!(doc["history"][0]["session_id"], "s");
            let (back, rev) = from_local_doc(doc.as_object().unwrap());
            assert_eq!(back.as_deref(), Some(body.as_str()));
            assert_eq!(rev.as_deref(), Some("0-3"));
        }
        let long = serde_json::json!({"session_id": "s", "last_seq": "x".repeat(100_000)});
        assert_eq!(from_local_doc(long.as_object().unwrap()).0, None);
    }
}
