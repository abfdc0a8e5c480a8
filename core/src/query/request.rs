//! [`Query`]: a Mango request (selector, sort, limit, skip, fields) parsed
//! and bounded, ready to run.

use serde_json::Value;

use super::error::QueryError;
use super::path::FieldPath;
use super::selector::{self, Selector};
use crate::tuning::{DEFAULT_QUERY_LIMIT, MAX_QUERY_BYTES, MAX_QUERY_LIMIT, MAX_SORT_FIELDS};

/// A query: which documents ([`Query::new`] takes a Mango selector), in
/// which order, how many, and which of their fields.
///
/// Results always come in a stable order: by the sort fields (CouchDB
/// collation; a document missing a sort field sorts first when ascending),
/// then by id. The default limit is 25, as in CouchDB.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use outpost_core::{Database, DatabaseConfig, Query};
/// let db = Database::open(dir.path().join("camp.db"), DatabaseConfig::default()).unwrap();
/// let children = db.default_collection().unwrap();
/// children.save("c1", None, r#"{"name":"Amina","age":7,"camp":"north"}"#).unwrap();
/// children.save("c2", None, r#"{"name":"Yusuf","age":12,"camp":"north"}"#).unwrap();
/// children.save("c3", None, r#"{"name":"Leila","age":5,"camp":"south"}"#).unwrap();
/// let query = Query::new(r#"{"camp": "north", "age": {"$lt": 10}}"#)
///     .unwrap()
///     .sort("age", true)
///     .unwrap()
///     .limit(10)
///     .unwrap();
/// let found = children.find(&query).unwrap();
/// assert_eq!(found.len(), 1);
/// assert_eq!(found[0].id, "c1");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub(crate) selector: Selector,
    pub(crate) sort: Vec<(FieldPath, bool)>,
    pub(crate) limit: usize,
    pub(crate) skip: usize,
    pub(crate) fields: Option<Vec<FieldPath>>,
}

impl Query {
    /// A query with this selector (a JSON object), no sort, limit 25.
    ///
    /// # Errors
    /// [`QueryError`] for a selector that does not parse, uses an operator
    /// we do not support, or passes a bound of [`crate::tuning`].
    pub fn new(selector_json: &str) -> Result<Query, QueryError> {
        let value = parse_json(selector_json)?;
        Query::from_selector(&value)
    }

    fn from_selector(value: &Value) -> Result<Query, QueryError> {
        Ok(Query {
            selector: selector::parse(value)?,
            sort: Vec::new(),
            limit: DEFAULT_QUERY_LIMIT,
            skip: 0,
            fields: None,
        })
    }

    /// A whole Mango request: `{"selector": {...}, "sort": ["a", {"b":
    /// "desc"}], "limit": 10, "skip": 0, "fields": ["a", "b"]}`; other
    /// keys (`use_index`, `bookmark`, ...) are refused.
    ///
    /// # Errors
    /// As [`Query::new`], and [`QueryError::BadQuery`] for a bad key.
    pub fn from_request(json: &str) -> Result<Query, QueryError> {
        let Value::Object(request) = parse_json(json)? else {
            return Err(QueryError::BadQuery("a query must be a JSON object".into()));
        };
        let selector = request
            .get("selector")
            .ok_or_else(|| QueryError::BadQuery("a query needs a \"selector\"".into()))?;
        let mut query = Query::from_selector(selector)?;
        for (key, value) in &request {
            query = match key.as_str() {
                "selector" => query,
                "limit" => query.limit(as_count(key, value)?)?,
                "skip" => query.skip(as_count(key, value)?),
                "sort" => {
                    let list = value
                        .as_array()
                        .ok_or_else(|| QueryError::BadQuery("\"sort\" must be an array".into()))?;
                    list.iter().try_fold(query, |q, item| {
                        let (field, descending) = sort_item(item)?;
                        q.sort(&field, descending)
                    })?
                }
                "fields" => {
                    let list = value
                        .as_array()
                        .ok_or_else(|| QueryError::BadQuery("\"fields\" must be an array".into()))?;
                    let names = list
                        .iter()
                        .map(|f| {
                            f.as_str()
                                .ok_or_else(|| QueryError::BadQuery("a field must be a string".into()))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    query.fields(&names)?
                }
                other => {
                    return Err(QueryError::BadQuery(format!(
                        "unsupported query key {:?}",
                        shown(other)
                    )))
                }
            };
        }
        Ok(query)
    }

    /// Adds a sort field (after those already given).
    ///
    /// # Errors
    /// [`QueryError::BadField`], or [`QueryError::TooLarge`] past
    /// [`MAX_SORT_FIELDS`].
    pub fn sort(mut self, field: &str, descending: bool) -> Result<Query, QueryError> {
        if self.sort.len() >= MAX_SORT_FIELDS {
            return Err(QueryError::TooLarge {
                what: "number of sort fields",
                size: self.sort.len() + 1,
                limit: MAX_SORT_FIELDS,
            });
        }
        self.sort.push((FieldPath::parse(field)?, descending));
        Ok(self)
    }

    /// At most `limit` results.
    ///
    /// # Errors
    /// [`QueryError::TooLarge`] past [`MAX_QUERY_LIMIT`] (page with
    /// [`Query::skip`] instead).
    pub fn limit(mut self, limit: usize) -> Result<Query, QueryError> {
        if limit > MAX_QUERY_LIMIT {
            return Err(QueryError::TooLarge {
                what: "limit",
                size: limit,
                limit: MAX_QUERY_LIMIT,
            });
        }
        self.limit = limit;
        Ok(self)
    }

    /// Skips the first `skip` results.
    pub fn skip(mut self, skip: usize) -> Query {
        self.skip = skip;
        self
    }

    /// Returns only these fields of each body (the id and revision always
    /// come with the document).
    ///
    /// # Errors
    /// [`QueryError::BadField`] for a bad path.
    pub fn fields(mut self, fields: &[&str]) -> Result<Query, QueryError> {
        let paths = fields
            .iter()
            .map(|f| FieldPath::parse(f))
            .collect::<Result<Vec<_>, _>>()?;
        self.fields = Some(paths);
        Ok(self)
    }
}

fn parse_json(json: &str) -> Result<Value, QueryError> {
    if json.len() > MAX_QUERY_BYTES {
        return Err(QueryError::TooLarge {
            what: "query (bytes)",
            size: json.len(),
            limit: MAX_QUERY_BYTES,
        });
    }
    serde_json::from_str(json).map_err(|e| QueryError::BadQuery(format!("not JSON: {e}")))
}

fn as_count(key: &str, value: &Value) -> Result<usize, QueryError> {
    value
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| QueryError::BadQuery(format!("{key:?} must be a non-negative integer")))
}

/// A sort item: `"field"` or `{"field": "asc"|"desc"}`.
fn sort_item(item: &Value) -> Result<(String, bool), QueryError> {
    let bad = || QueryError::BadQuery("a sort item is \"field\" or {\"field\": \"asc\" or \"desc\"}".into());
    match item {
        Value::String(field) => Ok((field.clone(), false)),
        Value::Object(map) if map.len() == 1 => {
            let (field, dir) = map.iter().next().ok_or_else(bad)?;
            match dir.as_str() {
                Some("asc") => Ok((field.clone(), false)),
                Some("desc") => Ok((field.clone(), true)),
                _ => Err(bad()),
            }
        }
        _ => Err(bad()),
    }
}

fn shown(s: &str) -> String {
    super::error::shown(s)
}
