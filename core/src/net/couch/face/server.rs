//! `GET /` (the welcome), `GET /{db}` (database info), `PUT /{db}`
//! (creating a collection) and `POST /{db}/_ensure_full_commit`.

use serde_json::json;

use super::http::{json_response, Reply};
use super::routes::DbPath;
use super::Ctx;
use crate::net::couch::wire::{encode_seq, CouchError};
use crate::tuning::MAX_FACE_CACHED_COUNTS;

/// The CouchDB version whose replication protocol the face speaks.
const COUCHDB_VERSION: &str = "3.3.3";

/// `GET /`.
pub(crate) fn welcome() -> Reply {
    json_response(
        200,
        &json!({
            "couchdb": "Welcome",
            "version": COUCHDB_VERSION,
            "vendor": {"name": "Outpost", "version": env!("CARGO_PKG_VERSION")},
            "features": [],
        }),
    )
}

/// `GET /{db}`: with `update_seq` and `instance_start_time`, without
/// which CouchDB's replicator takes the database for missing.
pub(crate) async fn db_info(ctx: &Ctx<'_>, path: &DbPath) -> Reply {
    let collection = ctx.collection(path).await?;
    let counts = ctx.connection.state.doc_counts.clone();
    let (count, seq) = super::blocking(move || {
        let seq = collection
            .database()
            .last_sequence()
            .map_err(|e| CouchError::from_core(&e))?;
        // Counting scans the collection: PouchDB asks for this once per
        // batch it pulls, so the count is kept until the next write.
        let key = collection.name().to_owned();
        let known = counts.lock().unwrap_or_else(|e| e.into_inner()).get(&key).copied();
        let count = match known {
            Some((at, count)) if at == seq => count,
            _ => {
                let count = collection.count().map_err(|e| CouchError::from_core(&e))?;
                let mut counts = counts.lock().unwrap_or_else(|e| e.into_inner());
                if counts.len() >= MAX_FACE_CACHED_COUNTS {
                    counts.clear();
                }
                counts.insert(key, (seq, count));
                count
            }
        };
        Ok((count, seq))
    })
    .await?;
    json_response(
        200,
        &json!({
            "db_name": db_name(ctx, path),
            "update_seq": encode_seq(seq),
            "instance_start_time": "0",
            "doc_count": count,
            "doc_del_count": 0,
            "purge_seq": 0,
            "compact_running": false,
            "sizes": {"active": 0, "external": 0, "file": 0},
            "props": {},
        }),
    )
}

fn db_name(ctx: &Ctx<'_>, path: &DbPath) -> String {
    if path.collection == crate::store::DEFAULT_COLLECTION {
        ctx.state.name.clone()
    } else {
        format!("{}.{}", ctx.state.name, path.collection)
    }
}

/// `PUT /{db}`: 412 when it exists (PouchDB accepts that), 201 after
/// creating a named collection when the listener is not read-only.
pub(crate) async fn create_db(ctx: &Ctx<'_>, path: &DbPath) -> Reply {
    ctx.principal()?;
    if ctx.state.is_served(&path.collection) {
        return Err(CouchError::file_exists());
    }
    ctx.require_write()?;
    let name = path.collection.clone();
    let db = ctx.state.db.clone();
    super::blocking(move || {
        // A collection the listener was not told to serve stays unserved.
        if db_has(&db, &name) {
            return Err(CouchError::forbidden("This collection exists but is not served here."));
        }
        db.create_collection(&name)
            .map(|_| ())
            .map_err(|e| CouchError::from_core(&e))
    })
    .await?;
    ctx.state.serve_collection(&path.collection);
    tracing::info!(collection = %crate::net::log_safe::log_safe(&path.collection), "collection created through the CouchDB face");
    json_response(201, &json!({"ok": true}))
}

/// `POST /{db}/_ensure_full_commit`: every write is already durable when
/// it is answered, so this only says so, as CouchDB's replicator needs.
pub(crate) async fn ensure_full_commit(ctx: &Ctx<'_>, path: &DbPath) -> Reply {
    ctx.collection(path).await?;
    json_response(201, &json!({"ok": true, "instance_start_time": "0"}))
}

fn db_has(db: &crate::store::Database, name: &str) -> bool {
    db.collection(name).is_ok()
}
