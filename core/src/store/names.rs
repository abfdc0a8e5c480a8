//! Checks of document ids and collection names.

use crate::error::InvalidInput;
use crate::store::DEFAULT_COLLECTION;
use crate::tuning::{MAX_COLLECTION_NAME_CHARS, MAX_DOC_ID_BYTES};

/// A document id is 1 to [`MAX_DOC_ID_BYTES`] bytes of UTF-8, does not start
/// with `_` (reserved, as in CouchDB) and has no control characters.
pub(crate) fn check_doc_id(id: &str) -> Result<(), InvalidInput> {
    if id.is_empty() {
        return Err(InvalidInput::EmptyId);
    }
    if id.len() > MAX_DOC_ID_BYTES {
        return Err(InvalidInput::IdTooLong {
            size: id.len(),
            limit: MAX_DOC_ID_BYTES,
        });
    }
    if id.starts_with('_') || id.chars().any(char::is_control) {
        return Err(InvalidInput::BadId(id.chars().take(100).collect()));
    }
    Ok(())
}

/// Collection names follow Couchbase Lite: 1 to 251 characters of
/// `A-Za-z0-9_-%`, not starting with `_` or `%`; `_default` is built in.
pub(crate) fn check_collection_name(name: &str) -> Result<(), InvalidInput> {
    let ok = name == DEFAULT_COLLECTION
        || (!name.is_empty()
            && name.len() <= MAX_COLLECTION_NAME_CHARS
            && !name.starts_with(['_', '%'])
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-%".contains(&b)));
    if ok {
        Ok(())
    } else {
        Err(InvalidInput::BadCollectionName(name.chars().take(100).collect()))
    }
}
