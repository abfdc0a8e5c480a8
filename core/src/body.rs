//! Validation and canonical form of document bodies.
//!
//! A body is a JSON object whose top-level keys do not start with `_`
//! (reserved for Outpost and CouchDB metadata). Bodies are stored in
//! canonical form: keys sorted by their UTF-8 bytes, no insignificant
//! whitespace, numbers as serde_json prints them. The revision id hashes the
//! canonical form, so the same edit made on two peers gets the same revision.

use serde_json::{Map, Value};

use crate::error::InvalidInput;
use crate::tuning::MAX_BODY_BYTES;

/// Canonical JSON of the tombstone written by [`crate::Collection::delete`].
pub(crate) const EMPTY_BODY: &str = "{}";

/// Checks `json` and returns its canonical form.
///
/// # Errors
/// [`InvalidInput::BodyTooLarge`], [`InvalidInput::InvalidJson`],
/// [`InvalidInput::BodyNotObject`] or [`InvalidInput::ReservedField`].
pub(crate) fn canonicalize(json: &str) -> Result<String, InvalidInput> {
    check_size(json.len())?;
    let value: Value = serde_json::from_str(json).map_err(|e| InvalidInput::InvalidJson(e.to_string()))?;
    let Value::Object(map) = value else {
        return Err(InvalidInput::BodyNotObject);
    };
    canonical_object(&map)
}

/// Canonical JSON of an object that is already parsed.
pub(crate) fn canonical_object(map: &Map<String, Value>) -> Result<String, InvalidInput> {
    if let Some(key) = map.keys().find(|k| k.starts_with('_')) {
        return Err(InvalidInput::ReservedField(key.clone()));
    }
    // Blob objects anywhere in the body must be well formed.
    crate::blob::reference::blobs_in_body(map)?;
    // serde_json's Map is a BTreeMap (no `preserve_order`), so keys come out sorted.
    let canonical = serde_json::to_string(map).map_err(|e| InvalidInput::InvalidJson(e.to_string()))?;
    check_size(canonical.len())?;
    Ok(canonical)
}

fn check_size(size: usize) -> Result<(), InvalidInput> {
    if size > MAX_BODY_BYTES {
        return Err(InvalidInput::BodyTooLarge {
            size,
            limit: MAX_BODY_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_keys_and_strips_whitespace() {
        let a = canonicalize(r#"{ "b": 1, "a": {"y": [1, 2], "x": null} }"#).unwrap();
        assert_eq!(a, r#"{"a":{"x":null,"y":[1,2]},"b":1}"#);
    }

    #[test]
    fn refuses_non_objects_and_reserved_fields() {
        assert_eq!(canonicalize("[1]"), Err(InvalidInput::BodyNotObject));
        assert_eq!(
            canonicalize(r#"{"_id":"x"}"#),
            Err(InvalidInput::ReservedField("_id".into()))
        );
        assert!(matches!(canonicalize("{"), Err(InvalidInput::InvalidJson(_))));
        let nested = "[".repeat(200) + &"]".repeat(200);
        assert!(matches!(
            canonicalize(&format!(r#"{{"a":{nested}}}"#)),
            Err(InvalidInput::InvalidJson(_))
        ));
    }
}
