//! Queries on a [`Collection`]: Mango requests as JSON text in, documents
//! out; value and full-text indexes; full-text search; live queries as a
//! callback subscription, like change listeners.
//!
//! A query is a whole Mango request (`{"selector": {...}, "sort": [...],
//! "limit": N, "skip": N, "fields": [...]}`); the Kotlin and Swift layers
//! build it from their query builders.
//!
//! # Examples
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! use outpost_ffi::{Database, DatabaseConfig};
//! let db = Database::open(dir.path().join("camp.db").display().to_string(), DatabaseConfig::default()).unwrap();
//! let children = db.default_collection().unwrap();
//! children.save("c1".into(), None, r#"{"name":"Amina","age":7}"#.into()).unwrap();
//! children.create_index("by_age".into(), vec!["age".into()]).unwrap();
//! let found = children.find(r#"{"selector":{"age":{"$lt":10}}}"#.into()).unwrap();
//! assert_eq!(found[0].id, "c1");
//! ```

use std::sync::Arc;

use outpost_core::Query;

use crate::collection::{Collection, Document};
use crate::error::{OutpostError, Result};
use crate::listener::ListenerHandle;

/// Whether an index is a value index or a full-text one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum IndexKind {
    /// Equality, ranges and sorts on the fields.
    Value,
    /// Full-text search on the fields (case and diacritics ignored).
    Text,
}

/// An index of a collection.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct IndexInfo {
    /// Its name, unique in the collection.
    pub name: String,
    /// Value or full-text.
    pub kind: IndexKind,
    /// The indexed field paths (dotted).
    pub fields: Vec<String>,
}

/// A full-text search result.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct SearchHit {
    /// The document (its winning revision).
    pub document: Document,
    /// Relevance (BM25): lower is a better match.
    pub score: f64,
}

/// What explaining a query tells.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct QueryPlan {
    /// The value index the query reads, if any.
    pub index: Option<String>,
    /// The full-text indexes a `$text` condition reads.
    pub text_indexes: Vec<String>,
    /// SQLite's plan, one line per step.
    pub plan: Vec<String>,
}

/// Told the results of a live query: first the current ones, then each
/// time they change. Called on a worker thread: return quickly.
#[uniffi::export(with_foreign)]
pub trait LiveQueryListener: Send + Sync {
    /// The query's results now. An error thrown here is ignored.
    fn on_results(&self, documents: Vec<Document>) -> Result<()>;
}

fn parse(query_json: &str) -> Result<Query> {
    Query::from_request(query_json).map_err(|e| OutpostError::from(outpost_core::Error::from(e)))
}

fn index_kind(kind: outpost_core::IndexKind) -> IndexKind {
    match kind {
        outpost_core::IndexKind::Value => IndexKind::Value,
        outpost_core::IndexKind::Text => IndexKind::Text,
    }
}

#[uniffi::export]
impl Collection {
    /// The live documents matching a Mango request (JSON text:
    /// `{"selector": {...}, "sort": [...], "limit": N, "skip": N, "fields":
    /// [...]}`; limit 25 when not given).
    ///
    /// # Errors
    /// `InvalidInput` naming what is wrong, e.g. an unsupported operator.
    pub fn find(&self, query_json: String) -> Result<Vec<Document>> {
        let query = parse(&query_json)?;
        Ok(self.inner.find(&query)?.into_iter().map(Into::into).collect())
    }

    /// How many live documents match the request's selector (its limit and
    /// skip are ignored).
    pub fn count_matching(&self, query_json: String) -> Result<u64> {
        Ok(self.inner.count_matching(&parse(&query_json)?)?)
    }

    /// Which index the request would use, and SQLite's plan.
    pub fn explain(&self, query_json: String) -> Result<QueryPlan> {
        let plan = self.inner.explain(&parse(&query_json)?)?;
        Ok(QueryPlan {
            index: plan.index,
            text_indexes: plan.text_indexes,
            plan: plan.plan,
        })
    }

    /// Creates a value index on these fields (dotted paths); doing it again
    /// is a no-op. Indexes are local: never replicated.
    pub fn create_index(&self, name: String, fields: Vec<String>) -> Result<()> {
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        Ok(self.inner.create_index(&name, &fields)?)
    }

    /// Creates a full-text index on these fields (case and diacritics
    /// ignored), for `search` and `$text`.
    pub fn create_text_index(&self, name: String, fields: Vec<String>) -> Result<()> {
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        Ok(self.inner.create_text_index(&name, &fields)?)
    }

    /// The collection's indexes, by name.
    pub fn indexes(&self) -> Result<Vec<IndexInfo>> {
        Ok(self
            .inner
            .indexes()?
            .into_iter()
            .map(|i| IndexInfo {
                name: i.name,
                kind: index_kind(i.kind),
                fields: i.fields,
            })
            .collect())
    }

    /// Deletes an index; whether there was one of that name.
    pub fn delete_index(&self, name: String) -> Result<bool> {
        Ok(self.inner.delete_index(&name)?)
    }

    /// Full-text search: live documents matching every word (`word*` for a
    /// prefix), best first, at most `limit`.
    pub fn search(&self, text: String, limit: u32) -> Result<Vec<SearchHit>> {
        Ok(self
            .inner
            .search(&text, limit as usize)?
            .into_iter()
            .map(|h| SearchHit {
                document: h.document.into(),
                score: h.score,
            })
            .collect())
    }

    /// Runs the request now and after every change (local or replicated)
    /// that can affect its results, telling `listener` each new result set,
    /// until the returned handle is cancelled.
    pub fn live_query(&self, query_json: String, listener: Arc<dyn LiveQueryListener>) -> Result<Arc<ListenerHandle>> {
        let query = parse(&query_json)?;
        let live = self.inner.live_query(query, move |docs| {
            let _ = listener.on_results(docs.iter().cloned().map(Into::into).collect());
        })?;
        Ok(ListenerHandle::new(vec![live.into()]))
    }
}
