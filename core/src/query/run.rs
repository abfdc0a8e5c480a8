//! Running queries: [`Collection::find`], counting, `explain`, full-text
//! search, and the index operations, all in one read (or write)
//! transaction each.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection};
use serde_json::{Map, Value};

use super::catalog::{self, IndexInfo, IndexKind};
use super::error::QueryError;
use super::planner;
use super::request::Query;
use super::selector::uses_text;
use super::sql::{self, Compiled};
use super::text;
use crate::error::{Error, Result};
use crate::revision::RevId;
use crate::store::{Collection, Document};
use crate::tuning::{MAX_QUERY_LIMIT, MAX_QUERY_RESULT_BYTES};

/// What [`Collection::explain`] tells about a query.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use outpost_core::{Database, DatabaseConfig, Query};
/// let db = Database::open(dir.path().join("camp.db"), DatabaseConfig::default()).unwrap();
/// let children = db.default_collection().unwrap();
/// children.create_index("by_camp", &["camp"]).unwrap();
/// let plan = children.explain(&Query::new(r#"{"camp": "north"}"#).unwrap()).unwrap();
/// assert_eq!(plan.index.as_deref(), Some("by_camp"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explain {
    /// The value index SQLite's planner picked, if any (`None`: a scan of
    /// the collection).
    pub index: Option<String>,
    /// The full-text indexes a `$text` condition reads.
    pub text_indexes: Vec<String>,
    /// The SQL run.
    pub sql: String,
    /// SQLite's query plan, one line per step.
    pub plan: Vec<String>,
}

/// One result of [`Collection::search`].
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use outpost_core::{Database, DatabaseConfig};
/// let db = Database::open(dir.path().join("camp.db"), DatabaseConfig::default()).unwrap();
/// let children = db.default_collection().unwrap();
/// children.save("c1", None, r#"{"name":"Amína Diallo"}"#).unwrap();
/// children.create_text_index("names", &["name"]).unwrap();
/// let hits = children.search("amina", 10).unwrap();
/// assert_eq!(hits[0].document.id, "c1");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The document (its winning revision).
    pub document: Document,
    /// BM25 relevance: lower is a better match.
    pub score: f64,
}

/// The SQL and parameters of a query (with or without the row limits).
struct Plan {
    compiled: Compiled,
    /// The same SQL without `INDEXED BY`, for when SQLite finds no way to
    /// use the chosen index (a selector it folds to a constant).
    unindexed_sql: Option<String>,
    text_indexes: Vec<String>,
}

impl Plan {
    /// Prepares the statement (cached), with the chosen index if SQLite
    /// can use it, else without.
    fn prepare<'c>(&self, conn: &'c Connection) -> Result<rusqlite::CachedStatement<'c>> {
        match (conn.prepare_cached(&self.compiled.sql), &self.unindexed_sql) {
            (Err(rusqlite::Error::SqliteFailure(_, Some(why))), Some(unindexed))
                if why.contains("no query solution") =>
            {
                Ok(conn.prepare_cached(unindexed)?)
            }
            (result, _) => Ok(result?),
        }
    }
}

impl Collection {
    /// The live documents matching `query`, in its order.
    ///
    /// # Errors
    /// [`QueryError::NoTextIndex`] for `$text` without a text index;
    /// storage errors.
    pub fn find(&self, query: &Query) -> Result<Vec<Document>> {
        self.database().read(|conn| find_in(conn, self, query))
    }

    /// How many live documents match `query`'s selector (its limit and
    /// skip are ignored).
    pub fn count_matching(&self, query: &Query) -> Result<u64> {
        self.database().read(|conn| {
            let plan = plan(conn, self, query, "count(*)", false)?;
            let n: i64 = plan
                .prepare(conn)?
                .query_row(params_from_iter(plan.compiled.params.iter()), |r| r.get(0))?;
            Ok(n as u64)
        })
    }

    /// How many of the documents whose ids are in `ids_json` (a JSON
    /// array) match `query`'s selector.
    pub(crate) fn count_matching_ids(&self, query: &Query, ids_json: &str) -> Result<u64> {
        self.database().read(|conn| {
            let mut plan = plan(conn, self, query, "count(*)", false)?;
            plan.compiled.params.push(SqlValue::Text(ids_json.to_owned()));
            let only_ids = format!(
                " AND id IN (SELECT value FROM json_each(?{}))",
                plan.compiled.params.len()
            );
            plan.compiled.sql.push_str(&only_ids);
            if let Some(unindexed) = &mut plan.unindexed_sql {
                unindexed.push_str(&only_ids);
            }
            let n: i64 = plan
                .prepare(conn)?
                .query_row(params_from_iter(plan.compiled.params.iter()), |r| r.get(0))?;
            Ok(n as u64)
        })
    }

    /// Which index `query` would use, and SQLite's plan for it.
    pub fn explain(&self, query: &Query) -> Result<Explain> {
        self.database().read(|conn| {
            let plan = plan(conn, self, query, "id, rev, body, seq", true)?;
            let explained = Plan {
                compiled: Compiled {
                    sql: format!("EXPLAIN QUERY PLAN {}", plan.compiled.sql),
                    params: plan.compiled.params.clone(),
                },
                unindexed_sql: plan.unindexed_sql.as_ref().map(|s| format!("EXPLAIN QUERY PLAN {s}")),
                text_indexes: Vec::new(),
            };
            let mut stmt = explained.prepare(conn)?;
            let lines = stmt
                .query_map(params_from_iter(plan.compiled.params.iter()), |r| r.get::<_, String>(3))?
                .collect::<Result<Vec<_>, _>>()?;
            let prefix = catalog::value_index_object(self.id, "");
            let index = lines.iter().find_map(|line| {
                let start = line.find(&prefix)? + prefix.len();
                let name: String = line[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                    .collect();
                Some(name)
            });
            Ok(Explain {
                index,
                text_indexes: plan.text_indexes,
                sql: plan.compiled.sql,
                plan: lines,
            })
        })
    }

    /// Full-text search over every text index of the collection: live
    /// documents matching every word (a word ending in `*` is a prefix),
    /// best match first (BM25), at most `limit`.
    ///
    /// # Errors
    /// [`QueryError::NoTextIndex`] without a text index;
    /// [`QueryError::TooLarge`] past the bounds of [`crate::tuning`].
    pub fn search(&self, text: &str, limit: usize) -> Result<Vec<SearchHit>> {
        check_limit(limit)?;
        let expression = text::match_expression(text)?;
        self.database().read(|conn| {
            let indexes = catalog::list(conn, self.id)?;
            let text_indexes = text::text_indexes(&indexes)?;
            let mut params = Vec::new();
            let matches = text::matches_sql(self.id, &text_indexes, &mut params, &expression, Some(limit));
            params.push(SqlValue::Integer(limit as i64));
            let sql = format!(
                "SELECT d.id, d.rev, d.body, d.seq, m.score FROM ({matches}) AS m CROSS JOIN docs AS d ON d.seq = m.rowid
                 WHERE d.collection = {} AND d.deleted = 0 ORDER BY m.score, d.id LIMIT ?{}",
                self.id,
                params.len()
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut rows = stmt.query(params_from_iter(params.iter()))?;
            let (mut hits, mut bytes) = (Vec::new(), 0);
            while let Some(row) = rows.next()? {
                let score: f64 = row.get(4)?;
                let document = document_of_row(row, None)?;
                bytes = check_result_bytes(bytes, &document)?;
                hits.push(SearchHit { document, score });
            }
            Ok(hits)
        })
    }

    /// Creates a value index on these field paths (dotted), used by
    /// [`Collection::find`] when it applies. Creating the same index again
    /// does nothing.
    ///
    /// # Errors
    /// [`QueryError::BadIndexName`], [`QueryError::BadField`],
    /// [`QueryError::IndexExists`] (same name, other fields),
    /// [`QueryError::TooLarge`] past the bounds of [`crate::tuning`].
    pub fn create_index(&self, name: &str, fields: &[&str]) -> Result<()> {
        catalog::create(self, name, fields, IndexKind::Value)
    }

    /// Creates a full-text index on these field paths (FTS5, case and
    /// diacritics ignored), for `$text` and [`Collection::search`].
    ///
    /// # Errors
    /// As [`Collection::create_index`].
    pub fn create_text_index(&self, name: &str, fields: &[&str]) -> Result<()> {
        catalog::create(self, name, fields, IndexKind::Text)
    }

    /// The collection's indexes, by name.
    pub fn indexes(&self) -> Result<Vec<IndexInfo>> {
        self.database().read(|conn| catalog::list(conn, self.id))
    }

    /// Deletes an index; returns whether there was one of that name.
    pub fn delete_index(&self, name: &str) -> Result<bool> {
        catalog::delete(self, name)
    }
}

fn check_limit(limit: usize) -> Result<(), QueryError> {
    if limit > MAX_QUERY_LIMIT {
        return Err(QueryError::TooLarge {
            what: "limit",
            size: limit,
            limit: MAX_QUERY_LIMIT,
        });
    }
    Ok(())
}

/// The bytes of results held so far with `doc` added, or
/// [`QueryError::TooLarge`] past [`MAX_QUERY_RESULT_BYTES`].
fn check_result_bytes(held: usize, doc: &Document) -> Result<usize, QueryError> {
    let bytes = held + doc.body.len() + doc.id.len();
    if bytes > MAX_QUERY_RESULT_BYTES {
        return Err(QueryError::TooLarge {
            what: "query results (bytes; lower the limit or use fields)",
            size: bytes,
            limit: MAX_QUERY_RESULT_BYTES,
        });
    }
    Ok(bytes)
}

/// Runs `query` on `conn` (inside a read transaction).
pub(crate) fn find_in(conn: &Connection, c: &Collection, query: &Query) -> Result<Vec<Document>> {
    let plan = plan(conn, c, query, "id, rev, body, seq", true)?;
    let mut stmt = plan.prepare(conn)?;
    let mut rows = stmt.query(params_from_iter(plan.compiled.params.iter()))?;
    let (mut docs, mut bytes) = (Vec::new(), 0);
    while let Some(row) = rows.next()? {
        let doc = document_of_row(row, query.fields.as_deref())?;
        bytes = check_result_bytes(bytes, &doc)?;
        docs.push(doc);
    }
    Ok(docs)
}

/// The SQL of `query` selecting `columns`, with ORDER BY / LIMIT / OFFSET
/// when `rows` is set.
fn plan(conn: &Connection, c: &Collection, query: &Query, columns: &str, rows: bool) -> Result<Plan> {
    catalog::check_collection_exists(conn, c)?;
    let indexes = catalog::list(conn, c.id)?;
    let text_indexes: Vec<IndexInfo> = if uses_text(&query.selector) {
        indexes.iter().filter(|i| i.kind == IndexKind::Text).cloned().collect()
    } else {
        Vec::new()
    };
    let indexed_by = match planner::choose(query, &indexes) {
        Some(index) => format!(" INDEXED BY \"{}\"", catalog::value_index_object(c.id, &index.name)),
        None => String::new(),
    };
    let text_match = |params: &mut Vec<SqlValue>, words: &str| -> Result<String, QueryError> {
        let expression = text::match_expression(words)?;
        let indexes: Vec<&IndexInfo> = text::text_indexes(&text_indexes)?;
        Ok(format!(
            "seq IN (SELECT rowid FROM ({}))",
            text::matches_sql(c.id, &indexes, params, &expression, None)
        ))
    };
    let mut compiled = sql::compile(&query.selector, &text_match)?;
    let mut sql = format!(
        "SELECT {columns} FROM docs{{}} WHERE collection = {} AND deleted = 0 AND ({})",
        c.id, compiled.sql
    );
    if rows {
        let mut order: Vec<String> = query
            .sort
            .iter()
            .map(|(p, desc)| sql::order_by(p, *desc, planner::rank_is_fixed(query, p)))
            .collect();
        order.push("id ASC".into());
        compiled.params.push(SqlValue::Integer(query.limit as i64));
        compiled
            .params
            .push(SqlValue::Integer(i64::try_from(query.skip).unwrap_or(i64::MAX)));
        let n = compiled.params.len();
        sql.push_str(&format!(" ORDER BY {} LIMIT ?{} OFFSET ?{n}", order.join(", "), n - 1));
    }
    compiled.sql = sql.replacen("{}", &indexed_by, 1);
    Ok(Plan {
        unindexed_sql: (!indexed_by.is_empty()).then(|| sql.replacen("{}", "", 1)),
        compiled,
        text_indexes: text_indexes.into_iter().map(|i| i.name).collect(),
    })
}

/// A result row (id, rev, body, seq) as a [`Document`], its body cut to
/// `fields` when given.
fn document_of_row(row: &rusqlite::Row<'_>, fields: Option<&[super::path::FieldPath]>) -> Result<Document> {
    let id: String = row.get(0)?;
    let rev: RevId = row
        .get::<_, String>(1)?
        .parse()
        .map_err(|e| Error::Corrupt(format!("document {id:?}: {e}")))?;
    let mut body: String = row.get(2)?;
    if let Some(fields) = fields {
        let full: Value = serde_json::from_str(&body).map_err(|e| Error::Corrupt(format!("document {id:?}: {e}")))?;
        body = project(&full, fields).to_string();
    }
    Ok(Document {
        id,
        rev,
        body,
        deleted: false,
        conflicts: Vec::new(),
        sequence: row.get::<_, i64>(3)? as u64,
    })
}

/// The fields of `body` named by `fields`, nested as they were.
fn project(body: &Value, fields: &[super::path::FieldPath]) -> Value {
    let mut out = Map::new();
    for path in fields {
        if let Some(value) = path.lookup(body) {
            insert_at(&mut out, path.keys(), value.clone());
        }
    }
    Value::Object(out)
}

fn insert_at(target: &mut Map<String, Value>, keys: &[String], value: Value) {
    match keys {
        [] => {}
        [last] => {
            target.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let slot = target.entry(first.clone()).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(next) = slot {
                insert_at(next, rest, value);
            }
        }
    }
}
