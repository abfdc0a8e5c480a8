//! Which endpoint a request path names.

use super::collection_of;
use crate::net::couch::wire::CouchError;

/// The collection a `/{db}` or `/{db}.{collection}` path segment names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DbPath {
    /// The collection's name.
    pub(crate) collection: String,
}

/// An endpoint of the face.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/`
    Root,
    /// `/_session`
    Session,
    /// `/{db}`
    Db(DbPath),
    /// `/{db}/_ensure_full_commit`
    EnsureFullCommit(DbPath),
    /// `/{db}/_local/{id}`
    Local(DbPath, String),
    /// `/{db}/_changes`
    Changes(DbPath),
    /// `/{db}/_revs_diff`
    RevsDiff(DbPath),
    /// `/{db}/_bulk_docs`
    BulkDocs(DbPath),
    /// `/{db}/_bulk_get`
    BulkGet(DbPath),
    /// `/{db}/_all_docs`
    AllDocs(DbPath),
    /// `/{db}/{id}`
    Doc(DbPath, String),
    /// `/{db}/{id}/{attachment name, may hold /}`
    Attachment(DbPath, String, String),
}

impl Route {
    /// The endpoint's name for logs (never a peer's text).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Route::Root => "/",
            Route::Session => "_session",
            Route::Db(_) => "db",
            Route::EnsureFullCommit(_) => "_ensure_full_commit",
            Route::Local(..) => "_local",
            Route::Changes(_) => "_changes",
            Route::RevsDiff(_) => "_revs_diff",
            Route::BulkDocs(_) => "_bulk_docs",
            Route::BulkGet(_) => "_bulk_get",
            Route::AllDocs(_) => "_all_docs",
            Route::Doc(..) => "doc",
            Route::Attachment(..) => "attachment",
        }
    }
}

/// Parses a request path (still percent-encoded).
///
/// # Errors
/// 404 `not_found` for a database this listener does not have or an
/// endpoint it does not serve (views, design documents, `_find`, ...); 400
/// for a path that is not UTF-8 once decoded.
pub(crate) fn parse(path: &str, database: &str) -> Result<Route, CouchError> {
    let raw: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let segments = raw
        .iter()
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|d| d.into_owned())
                .map_err(|_| CouchError::bad_request("the path is not UTF-8 once decoded"))
        })
        .collect::<Result<Vec<String>, CouchError>>()?;
    let mut segments: Vec<String> = segments;
    // A trailing slash names the same resource (`/db/`).
    if segments.len() > 1 && segments.last().is_some_and(String::is_empty) {
        segments.pop();
    }
    let not_found = || CouchError::not_found("Database does not exist.");
    match segments.first().map(String::as_str) {
        None | Some("") => return Ok(Route::Root),
        Some("_session") if segments.len() == 1 => return Ok(Route::Session),
        _ => {}
    }
    let db = DbPath {
        collection: collection_of(&segments[0], database).ok_or_else(not_found)?,
    };
    let rest = &segments[1..];
    let unsupported = |what: &str| CouchError::not_found(format!("{what} is not served by this face."));
    Ok(match rest {
        [] => Route::Db(db),
        [one] => match one.as_str() {
            "_ensure_full_commit" => Route::EnsureFullCommit(db),
            "_changes" => Route::Changes(db),
            "_revs_diff" => Route::RevsDiff(db),
            "_bulk_docs" => Route::BulkDocs(db),
            "_bulk_get" => Route::BulkGet(db),
            "_all_docs" => Route::AllDocs(db),
            special if special.starts_with('_') => return Err(unsupported(special)),
            id => Route::Doc(db, id.to_owned()),
        },
        [first, id] if first == "_local" => Route::Local(db, id.clone()),
        [first, ..] if first.starts_with('_') => return Err(unsupported(first)),
        [id, name @ ..] => Route::Attachment(db, id.clone(), name.join("/")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_collections_and_endpoints() {
        let default = DbPath {
            collection: "_default".into(),
        };
        assert_eq!(parse("/", "camp").unwrap(), Route::Root);
        assert_eq!(parse("/camp/", "camp").unwrap(), Route::Db(default.clone()));
        assert_eq!(
            parse("/camp.kids/_changes", "camp").unwrap(),
            Route::Changes(DbPath {
                collection: "kids".into()
            })
        );
        assert_eq!(
            parse("/camp/_local/abc", "camp").unwrap(),
            Route::Local(default.clone(), "abc".into())
        );
        assert_eq!(
            parse("/camp/a%2Fb/photo/x.jpg", "camp").unwrap(),
            Route::Attachment(default, "a/b".into(), "photo/x.jpg".into())
        );
        assert_eq!(parse("/other", "camp").unwrap_err().status, 404);
        assert_eq!(parse("/camp/_design/x", "camp").unwrap_err().status, 404);
        assert_eq!(parse("/camp/_find", "camp").unwrap_err().status, 404);
        assert_eq!(parse("/camp/%ff", "camp").unwrap_err().status, 400);
    }
}
