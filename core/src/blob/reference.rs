//! The in-body blob object and where a body names blobs.
//!
//! A blob is named anywhere in a body by an object of exactly these
//! fields, as Couchbase Lite writes it:
//! `{"@type":"blob","digest":"sha256-...","length":N,"content_type":"..."}`
//! (`content_type` optional). A top-level field holding one is the blob
//! CouchDB would call `_attachments[<field>]`; a nested one maps to
//! `_attachments["blob_<JSON pointer>"]`, as Couchbase Lite does.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::BlobDigest;
use crate::error::InvalidInput;
use crate::tuning::{MAX_BLOBS_PER_DOC, MAX_BLOB_BYTES, MAX_BLOB_CONTENT_TYPE_BYTES};

/// What marks a blob object in canonical JSON (no whitespace, so a body
/// without this text names no blob and need not be parsed again).
const MARKER: &str = r#""@type":"blob""#;

/// A reference to a blob: what a body holds, never the bytes.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use outpost_core::{Database, DatabaseConfig};
/// let db = Database::open(dir.path().join("camp.db"), DatabaseConfig::default()).unwrap();
/// let children = db.default_collection().unwrap();
/// let photo = children.save_blob(&b"...jpeg bytes..."[..], Some("image/jpeg")).unwrap();
/// let body = serde_json::json!({"name": "Amina", "photo": photo.to_json()});
/// children.save("child-1", None, &body.to_string()).unwrap();
/// let blobs = children.blobs("child-1").unwrap();
/// assert_eq!(blobs[0].name, "photo");
/// assert_eq!(blobs[0].blob, photo);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlobRef {
    /// SHA-256 of the bytes.
    pub digest: BlobDigest,
    /// Length in bytes.
    pub length: u64,
    /// MIME type, if given (`image/jpeg`).
    pub content_type: Option<String>,
}

/// A blob with where the body names it: a top-level field's name, or a
/// JSON pointer (`/photos/0`) for a nested one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedBlob {
    /// The top-level field, or the JSON pointer of a nested blob.
    pub name: String,
    /// The reference.
    pub blob: BlobRef,
}

impl BlobRef {
    /// The blob object to put in a body.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("@type".into(), "blob".into());
        map.insert("digest".into(), self.digest.to_string().into());
        map.insert("length".into(), self.length.into());
        if let Some(ct) = &self.content_type {
            map.insert("content_type".into(), ct.clone().into());
        }
        Value::Object(map)
    }

    /// Reads a blob object; `Ok(None)` if `map` is not one (no
    /// `"@type":"blob"`).
    ///
    /// # Errors
    /// [`InvalidInput::BadBlob`] for a blob object with a bad digest,
    /// length or content type, or any other field.
    pub fn from_object(map: &Map<String, Value>) -> Result<Option<BlobRef>, InvalidInput> {
        match map.get("@type") {
            Some(Value::String(t)) if t == "blob" => {}
            _ => return Ok(None),
        }
        let bad = |why: &str| InvalidInput::BadBlob(why.to_owned());
        if let Some(other) = map
            .keys()
            .find(|k| !matches!(k.as_str(), "@type" | "digest" | "length" | "content_type"))
        {
            return Err(InvalidInput::BadBlob(format!(
                "a blob object has the field {:?}; only @type, digest, length and content_type are allowed \
                 (save the bytes with save_blob first)",
                other.chars().take(100).collect::<String>()
            )));
        }
        let digest: BlobDigest = match map.get("digest") {
            Some(Value::String(d)) => d.parse()?,
            _ => return Err(bad("a blob object needs a digest string")),
        };
        let length = map
            .get("length")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("a blob object needs a length (a whole number of bytes)"))?;
        if length > MAX_BLOB_BYTES {
            return Err(InvalidInput::BadBlob(format!(
                "a blob of {length} bytes is past the limit of {MAX_BLOB_BYTES}"
            )));
        }
        let content_type = match map.get("content_type") {
            None => None,
            Some(Value::String(ct)) if ct.len() <= MAX_BLOB_CONTENT_TYPE_BYTES && !ct.chars().any(char::is_control) => {
                Some(ct.clone())
            }
            Some(_) => {
                return Err(bad(
                    "a blob's content_type must be a short string without control characters",
                ))
            }
        };
        Ok(Some(BlobRef {
            digest,
            length,
            content_type,
        }))
    }
}

/// Every blob a body names, in document order (top-level fields by name).
///
/// # Errors
/// [`InvalidInput::BadBlob`] for a bad blob object or more than
/// [`MAX_BLOBS_PER_DOC`] of them.
pub fn blobs_in_body(body: &Map<String, Value>) -> Result<Vec<NamedBlob>, InvalidInput> {
    let mut found = Vec::new();
    for (key, value) in body {
        walk(
            value,
            &mut |pointer, blob| {
                let name = if pointer.is_empty() {
                    key.clone()
                } else {
                    format!("/{}{pointer}", escape_pointer(key))
                };
                found.push(NamedBlob { name, blob });
            },
            &mut String::new(),
        )?;
        if found.len() > MAX_BLOBS_PER_DOC {
            return Err(InvalidInput::BadBlob(format!(
                "a document may name at most {MAX_BLOBS_PER_DOC} blobs"
            )));
        }
    }
    Ok(found)
}

fn walk(value: &Value, found: &mut dyn FnMut(&str, BlobRef), pointer: &mut String) -> Result<(), InvalidInput> {
    match value {
        Value::Object(map) => {
            if let Some(blob) = BlobRef::from_object(map)? {
                found(pointer, blob);
                return Ok(());
            }
            for (k, v) in map {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape_pointer(k));
                walk(v, found, pointer)?;
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push_str(&format!("/{i}"));
                walk(v, found, pointer)?;
                pointer.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The distinct blobs a canonical body names, sorted by digest.
///
/// # Errors
/// As [`blobs_in_body`]; [`InvalidInput::InvalidJson`] if it does not parse.
pub(crate) fn blobs_of_canonical(canonical_body: &str) -> Result<Vec<BlobRef>, InvalidInput> {
    if !canonical_body.contains(MARKER) {
        return Ok(Vec::new());
    }
    let map: Map<String, Value> =
        serde_json::from_str(canonical_body).map_err(|e| InvalidInput::InvalidJson(e.to_string()))?;
    let mut blobs: Vec<BlobRef> = blobs_in_body(&map)?.into_iter().map(|n| n.blob).collect();
    blobs.sort_by_key(|b| b.digest);
    blobs.dedup_by(|a, b| a.digest == b.digest);
    Ok(blobs)
}

/// The digests a revision id covers: the distinct blob digests of the body
/// as text, in ascending byte order of that text. A body that does not
/// parse or names bad blobs covers none (such a body is never stored).
pub(crate) fn rev_digests(canonical_body: &str) -> Vec<String> {
    if !canonical_body.contains(MARKER) {
        return Vec::new();
    }
    let set: BTreeSet<String> = blobs_of_canonical(canonical_body)
        .unwrap_or_default()
        .into_iter()
        .map(|b| b.digest.to_string())
        .collect();
    set.into_iter().collect()
}

/// Digests named by a canonical body, without validating (for compaction,
/// which must keep whatever a stored body names).
pub(crate) fn digests_named(canonical_body: &str, out: &mut dyn FnMut(BlobDigest)) {
    if !canonical_body.contains(MARKER) {
        return;
    }
    let Ok(value) = serde_json::from_str::<Value>(canonical_body) else {
        return;
    };
    collect_loose(&value, out);
}

fn collect_loose(value: &Value, out: &mut dyn FnMut(BlobDigest)) {
    match value {
        Value::Object(map) => {
            if map.get("@type").and_then(Value::as_str) == Some("blob") {
                if let Some(d) = map.get("digest").and_then(Value::as_str).and_then(|d| d.parse().ok()) {
                    out(d);
                }
            }
            map.values().for_each(|v| collect_loose(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_loose(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_top_level_and_nested_blobs_and_refuses_bad_ones() {
        let d = BlobDigest::of_bytes(b"a");
        let blob = BlobRef {
            digest: d,
            length: 1,
            content_type: Some("image/png".into()),
        };
        let body = serde_json::json!({"photo": blob.to_json(), "more": {"a/b": [1, blob.to_json()]}});
        let Value::Object(map) = body else { unreachable!() };
        let names: Vec<String> = blobs_in_body(&map).unwrap().into_iter().map(|n| n.name).collect();
        assert_eq!(names, ["/more/a~1b/1", "photo"]);
        let canonical = serde_json::to_string(&map).unwrap();
        assert_eq!(blobs_of_canonical(&canonical).unwrap().len(), 1);
        assert_eq!(rev_digests(&canonical), [d.to_string()]);
        for bad in [
            serde_json::json!({"@type":"blob","digest":"sha1-x","length":1}),
            serde_json::json!({"@type":"blob","digest":d.to_string()}),
            serde_json::json!({"@type":"blob","digest":d.to_string(),"length":-1}),
            serde_json::json!({"@type":"blob","digest":d.to_string(),"length":1,"data":"aGk="}),
            serde_json::json!({"@type":"blob","digest":d.to_string(),"length":MAX_BLOB_BYTES + 1}),
        ] {
            let Value::Object(m) = bad else { unreachable!() };
            assert!(
                matches!(BlobRef::from_object(&m), Err(InvalidInput::BadBlob(_))),
                "{m:?}"
            );
        }
    }
}
