//! The index catalogue: value indexes and full-text indexes of a
//! collection, created, listed and deleted.
//!
//! Both are plain SQLite schema objects in the database file, so they
//! survive reopening and are never replicated (replication moves
//! documents, not schema).
//!
//! - A value index is an expression index on the `docs` table over the
//!   (collation rank, value) pair of each field (see [`super::sql`]),
//!   then the id, partial on the collection and on live rows. SQLite keeps it up to date
//!   in the transaction of every write, whatever writes: local saves,
//!   replication inserts, conflicts (the row holds the winner), deletions,
//!   purges.
//! - A full-text index is an FTS5 table (`unicode61 remove_diacritics 2`)
//!   whose rowid is the document row's sequence, kept up to date by
//!   triggers on `docs`, so it too changes in the same transaction as the
//!   document and cannot drift, even after a crash.
//!
//! The catalogue table (`outpost_query_indexes`) is created with the first
//! index, so a database without indexes has no extra schema.

use rusqlite::{params, Connection, OptionalExtension};

use super::error::QueryError;
use super::path::FieldPath;
use super::sql::doc_value;
use crate::error::Result;
use crate::store::Collection;
use crate::tuning::{MAX_INDEXES_PER_COLLECTION, MAX_INDEX_FIELDS, MAX_INDEX_NAME_CHARS};

/// What kind of index (see [`IndexInfo`] for an example).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    /// A value index (equality, ranges, sorts).
    Value,
    /// A full-text index (`$text` and [`Collection::search`]).
    Text,
}

impl IndexKind {
    fn as_str(self) -> &'static str {
        match self {
            IndexKind::Value => "value",
            IndexKind::Text => "text",
        }
    }
}

/// An index of a collection, as listed by [`Collection::indexes`].
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use outpost_core::{Database, DatabaseConfig, IndexKind};
/// let db = Database::open(dir.path().join("camp.db"), DatabaseConfig::default()).unwrap();
/// let children = db.default_collection().unwrap();
/// children.create_index("by_camp", &["camp", "status"]).unwrap();
/// let listed = children.indexes().unwrap();
/// assert_eq!(listed[0].name, "by_camp");
/// assert_eq!(listed[0].kind, IndexKind::Value);
/// assert_eq!(listed[0].fields, ["camp", "status"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexInfo {
    /// The index's name (unique in its collection).
    pub name: String,
    /// Value or full-text.
    pub kind: IndexKind,
    /// The indexed field paths, dotted.
    pub fields: Vec<String>,
}

const CATALOG: &str = "outpost_query_indexes";

/// SQL name of a value index.
pub(crate) fn value_index_object(collection: i64, name: &str) -> String {
    format!("outpost_idx_{collection}_{name}")
}

/// SQL name of a full-text index's FTS5 table.
pub(crate) fn text_table(collection: i64, name: &str) -> String {
    format!("outpost_fts_{collection}_{name}")
}

fn check_name(name: &str) -> Result<(), QueryError> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_INDEX_NAME_CHARS
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(QueryError::BadIndexName(name.chars().take(80).collect()))
    }
}

fn parse_fields(fields: &[&str]) -> Result<Vec<FieldPath>, QueryError> {
    if fields.is_empty() || fields.len() > MAX_INDEX_FIELDS {
        return Err(QueryError::TooLarge {
            what: "number of indexed fields (at least 1)",
            size: fields.len(),
            limit: MAX_INDEX_FIELDS,
        });
    }
    fields.iter().map(|f| FieldPath::parse(f)).collect()
}

/// The indexes of the collection with id `collection`, by name.
pub(crate) fn list(conn: &Connection, collection: i64) -> Result<Vec<IndexInfo>> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?
        .query_row([CATALOG], |_| Ok(()))
        .optional()?
        .is_some();
    if !exists {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT name, kind, fields FROM {CATALOG} WHERE collection = ?1 ORDER BY name"
    ))?;
    let rows = stmt.query_map([collection], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (name, kind, fields) = row?;
        let corrupt = |why: &str| crate::Error::Corrupt(format!("index {name:?}: {why}"));
        let kind = match kind.as_str() {
            "value" => IndexKind::Value,
            "text" => IndexKind::Text,
            _ => return Err(corrupt("unknown kind")),
        };
        let fields: Vec<String> = serde_json::from_str(&fields).map_err(|_| corrupt("bad field list"))?;
        out.push(IndexInfo { name, kind, fields });
    }
    Ok(out)
}

/// Creates an index in one transaction (catalogue row, SQL objects, and
/// for a text index the rows of the documents already stored). Creating
/// the same index again is a no-op.
pub(crate) fn create(c: &Collection, name: &str, fields: &[&str], kind: IndexKind) -> Result<()> {
    check_name(name)?;
    let paths = parse_fields(fields)?;
    let dotted: Vec<String> = paths.iter().map(FieldPath::dotted).collect();
    let fields_json = serde_json::to_string(&dotted).map_err(|e| crate::Error::Corrupt(e.to_string()))?;
    c.database().write(|tx| {
        check_collection_exists(tx, c)?;
        tx.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {CATALOG} (
                 collection INTEGER NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL, fields TEXT NOT NULL,
                 PRIMARY KEY (collection, name)) STRICT, WITHOUT ROWID"
        ))?;
        let existing = list(tx, c.id)?;
        if let Some(same) = existing.iter().find(|i| i.name == name) {
            if same.kind == kind && same.fields == dotted {
                return Ok(());
            }
            return Err(QueryError::IndexExists(name.to_owned()).into());
        }
        if existing.len() >= MAX_INDEXES_PER_COLLECTION {
            return Err(QueryError::TooLarge {
                what: "number of indexes in the collection",
                size: existing.len() + 1,
                limit: MAX_INDEXES_PER_COLLECTION,
            }
            .into());
        }
        tx.execute(
            &format!("INSERT INTO {CATALOG} (collection, name, kind, fields) VALUES (?1, ?2, ?3, ?4)"),
            params![c.id, name, kind.as_str(), fields_json],
        )?;
        match kind {
            IndexKind::Value => tx.execute_batch(&value_index_sql(c.id, name, &paths))?,
            IndexKind::Text => tx.execute_batch(&text_index_sql(c.id, name, &paths))?,
        }
        Ok(())
    })
}

fn value_index_sql(collection: i64, name: &str, paths: &[FieldPath]) -> String {
    // The id last: results come in (fields, id) order, so an equality or a
    // sort on the indexed fields reads its first rows without sorting.
    let columns: Vec<String> = paths
        .iter()
        .flat_map(|p| {
            let v = doc_value(p);
            [v.rank(), v.value_sql]
        })
        .chain(std::iter::once("id".to_owned()))
        .collect();
    format!(
        "CREATE INDEX \"{}\" ON docs ({}) WHERE collection = {collection} AND deleted = 0",
        value_index_object(collection, name),
        columns.join(", ")
    )
}

/// The FTS5 table, its triggers, and its first rows. The triggers read the
/// row being written, so they index what the row holds: the winner.
fn text_index_sql(collection: i64, name: &str, paths: &[FieldPath]) -> String {
    let table = text_table(collection, name);
    let columns: Vec<String> = (0..paths.len()).map(|i| format!("f{i}")).collect();
    let values_of = |row: &str| -> String {
        paths
            .iter()
            .map(|p| format!("json_extract({row}body, {})", p.sql_literal()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let cols = columns.join(", ");
    let (new_values, stored_values) = (values_of("new."), values_of(""));
    format!(
        "CREATE VIRTUAL TABLE \"{table}\" USING fts5({cols}, tokenize = 'unicode61 remove_diacritics 2');
         INSERT INTO \"{table}\" (rowid, {cols})
             SELECT seq, {stored_values} FROM docs WHERE collection = {collection} AND deleted = 0;
         CREATE TRIGGER \"{table}_ai\" AFTER INSERT ON docs
             WHEN new.collection = {collection} AND new.deleted = 0 BEGIN
             INSERT INTO \"{table}\" (rowid, {cols}) VALUES (new.seq, {new_values});
         END;
         CREATE TRIGGER \"{table}_ad\" AFTER DELETE ON docs WHEN old.collection = {collection} BEGIN
             DELETE FROM \"{table}\" WHERE rowid = old.seq;
         END;
         CREATE TRIGGER \"{table}_au\" AFTER UPDATE ON docs
             WHEN old.collection = {collection} OR new.collection = {collection} BEGIN
             DELETE FROM \"{table}\" WHERE rowid = old.seq;
             INSERT INTO \"{table}\" (rowid, {cols})
                 SELECT new.seq, {new_values} WHERE new.collection = {collection} AND new.deleted = 0;
         END;"
    )
}

/// Fails with [`crate::Error::CollectionNotFound`] if the collection was
/// deleted (its handle is stale).
pub(crate) fn check_collection_exists(conn: &Connection, c: &Collection) -> Result<()> {
    let found = conn
        .prepare_cached("SELECT 1 FROM collections WHERE id = ?1 AND name = ?2")?
        .query_row(params![c.id, c.name], |_| Ok(()))
        .optional()?;
    found.ok_or_else(|| crate::Error::CollectionNotFound(c.name.clone()))
}

/// Deletes an index. Returns whether there was one of that name.
pub(crate) fn delete(c: &Collection, name: &str) -> Result<bool> {
    check_name(name)?;
    c.database().write(|tx| {
        let Some(index) = list(tx, c.id)?.into_iter().find(|i| i.name == name) else {
            return Ok(false);
        };
        drop_objects(tx, c.id, &index)?;
        Ok(true)
    })
}

fn drop_objects(tx: &Connection, collection: i64, index: &IndexInfo) -> Result<()> {
    match index.kind {
        IndexKind::Value => {
            tx.execute_batch(&format!(
                "DROP INDEX IF EXISTS \"{}\"",
                value_index_object(collection, &index.name)
            ))?;
        }
        IndexKind::Text => {
            let table = text_table(collection, &index.name);
            tx.execute_batch(&format!(
                "DROP TRIGGER IF EXISTS \"{table}_ai\"; DROP TRIGGER IF EXISTS \"{table}_ad\";
                 DROP TRIGGER IF EXISTS \"{table}_au\"; DROP TABLE IF EXISTS \"{table}\";"
            ))?;
        }
    }
    tx.execute(
        &format!("DELETE FROM {CATALOG} WHERE collection = ?1 AND name = ?2"),
        params![collection, index.name],
    )?;
    Ok(())
}

/// Drops every index of a collection (called when it is deleted, in the
/// same transaction).
pub(crate) fn drop_all(tx: &Connection, collection: i64) -> Result<()> {
    for index in list(tx, collection)? {
        drop_objects(tx, collection, &index)?;
    }
    Ok(())
}
