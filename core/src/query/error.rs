//! Why a query, an index operation or a text search was refused.

/// A query or index request that cannot be run as asked. Nothing is written
/// when one of these is returned, and no partial result is given.
///
/// # Examples
/// ```
/// use outpost_core::{Query, QueryError};
/// let refused = Query::new(r#"{"age": {"$mod": [2, 0]}}"#).unwrap_err();
/// assert_eq!(refused, QueryError::UnsupportedOperator("$mod".into()));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// An operator we do not support (or do not know): refused rather than
    /// answered wrongly.
    #[error("the operator {0} is not supported")]
    UnsupportedOperator(String),
    /// The query or selector is not shaped as Mango expects.
    #[error("bad query: {0}")]
    BadQuery(String),
    /// An operator was given an operand it cannot use.
    #[error("bad operand for {op}: {why}")]
    BadOperand {
        /// The operator.
        op: String,
        /// What is wrong with the operand.
        why: String,
    },
    /// A field path that cannot name a field.
    #[error("bad field path {path:?}: {why}")]
    BadField {
        /// The path as given (cut to 64 characters).
        path: String,
        /// What is wrong with it.
        why: String,
    },
    /// A bound of [`crate::tuning`] was passed.
    #[error("{what} is {size}, over the limit of {limit}")]
    TooLarge {
        /// What was too large (selector depth, `$in` list, ...).
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A `$regex` that does not compile (or is too large once compiled).
    #[error("bad regular expression: {0}")]
    BadRegex(String),
    /// `$text` or a search on a collection with no full-text index.
    #[error("the collection has no full-text index; create one first (create_text_index)")]
    NoTextIndex,
    /// No index of that name in the collection.
    #[error("there is no index named {0:?}")]
    IndexNotFound(String),
    /// An index of that name already exists with other fields or kind.
    #[error("an index named {0:?} already exists with other fields; delete it first")]
    IndexExists(String),
    /// An index name outside `A-Z a-z 0-9 _ -` or too long.
    #[error("{0:?} is not a valid index name (1-64 characters of A-Z a-z 0-9 _ -)")]
    BadIndexName(String),
}

/// A path cut for an error message.
pub(crate) fn shown(path: &str) -> String {
    path.chars().take(64).collect()
}
