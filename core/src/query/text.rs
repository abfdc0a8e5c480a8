//! Full-text search: the words a user typed turned into an FTS5 query, and
//! the SQL that ranks documents by BM25 over every text index of a
//! collection.
//!
//! A query is words separated by spaces; every word must match (AND). A
//! word ending in `*` matches as a prefix (`ami*`). Words are quoted for
//! FTS5, so its own syntax (`OR`, `NEAR`, `:`, `^`, quotes) is never
//! interpreted: what a user types cannot fail or widen a search. Case and
//! diacritics do not matter (`unicode61 remove_diacritics 2`).

use rusqlite::types::Value as SqlValue;

use super::catalog::{text_table, IndexInfo, IndexKind};
use super::error::QueryError;
use crate::tuning::{MAX_TEXT_QUERY_BYTES, MAX_TEXT_QUERY_TERMS};

/// The FTS5 MATCH expression for what a user typed.
///
/// # Errors
/// [`QueryError::TooLarge`] past [`MAX_TEXT_QUERY_BYTES`] or
/// [`MAX_TEXT_QUERY_TERMS`]; [`QueryError::BadOperand`] for a query with
/// no word.
pub(crate) fn match_expression(text: &str) -> Result<String, QueryError> {
    if text.len() > MAX_TEXT_QUERY_BYTES {
        return Err(QueryError::TooLarge {
            what: "text query (bytes)",
            size: text.len(),
            limit: MAX_TEXT_QUERY_BYTES,
        });
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() > MAX_TEXT_QUERY_TERMS {
        return Err(QueryError::TooLarge {
            what: "text query (words)",
            size: words.len(),
            limit: MAX_TEXT_QUERY_TERMS,
        });
    }
    let terms: Vec<String> = words
        .iter()
        .filter_map(|w| {
            let (word, prefix) = match w.strip_suffix('*') {
                Some(stem) => (stem.trim_end_matches('*'), true),
                None => (*w, false),
            };
            // Only letters and digits make tokens; a word of none (a lone
            // "-") would make FTS5 match nothing or fail.
            let word: String = word
                .chars()
                .map(|c| if c.is_alphanumeric() { c } else { ' ' })
                .collect();
            let word = word.split_whitespace().collect::<Vec<_>>().join(" ");
            (!word.is_empty()).then(|| format!("\"{}\"{}", word, if prefix { "*" } else { "" }))
        })
        .collect();
    if terms.is_empty() {
        return Err(QueryError::BadOperand {
            op: "$text".into(),
            why: "the search has no word".into(),
        });
    }
    Ok(terms.join(" AND "))
}

/// The text indexes among `indexes`, or [`QueryError::NoTextIndex`].
pub(crate) fn text_indexes(indexes: &[IndexInfo]) -> Result<Vec<&IndexInfo>, QueryError> {
    let text: Vec<&IndexInfo> = indexes.iter().filter(|i| i.kind == IndexKind::Text).collect();
    if text.is_empty() {
        return Err(QueryError::NoTextIndex);
    }
    Ok(text)
}

/// SQL selecting `rowid, score` of the rows matching `expression` in any
/// of the text indexes (best BM25 score of any index; lower is better).
/// With `best`, only the best that many of each index: FTS5 then ranks
/// with a bounded sorter instead of sorting every match, and the best
/// `best` overall are among them.
pub(crate) fn matches_sql(
    collection: i64,
    indexes: &[&IndexInfo],
    params: &mut Vec<SqlValue>,
    expression: &str,
    best: Option<usize>,
) -> String {
    params.push(SqlValue::Text(expression.to_owned()));
    let p = params.len();
    let limit = match best {
        Some(n) => {
            params.push(SqlValue::Integer(i64::try_from(n).unwrap_or(i64::MAX)));
            format!(" ORDER BY rank LIMIT ?{}", params.len())
        }
        None => String::new(),
    };
    let parts: Vec<String> = indexes
        .iter()
        .map(|i| {
            let t = text_table(collection, &i.name);
            format!("SELECT * FROM (SELECT rowid, rank AS score FROM \"{t}\" WHERE \"{t}\" MATCH ?{p}{limit})")
        })
        .collect();
    if parts.len() == 1 {
        return parts.concat();
    }
    format!(
        "SELECT rowid, min(score) AS score FROM ({}) GROUP BY rowid",
        parts.join(" UNION ALL ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_words_and_keeps_prefixes() {
        assert_eq!(match_expression("Amina").unwrap(), "\"Amina\"");
        assert_eq!(match_expression("ami* OR x").unwrap(), "\"ami\"* AND \"OR\" AND \"x\"");
        assert_eq!(match_expression("a\"b NEAR(c)").unwrap(), "\"a b\" AND \"NEAR c\"");
        assert!(match_expression(" - ").is_err());
    }
}
