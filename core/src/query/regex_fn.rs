//! `$regex`: SQLite has no REGEXP, so we register `outpost_regex(pattern,
//! text)` on each connection, backed by regex-automata (linear time in the
//! text, whatever the pattern: no backtracking) with a bounded compiled
//! size. Patterns use Rust regex syntax; look-around and back-references
//! (which Erlang's PCRE in CouchDB has) are refused when the query is
//! parsed.

use regex_automata::meta::{Config, Regex};
use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;

use super::error::QueryError;
use crate::tuning::MAX_REGEX_COMPILED_BYTES;

/// The SQL name of the function.
pub(crate) const FUNCTION: &str = "outpost_regex";

/// Compiles a `$regex` pattern within the size bound.
///
/// # Errors
/// [`QueryError::BadRegex`] if it does not compile or is too large.
pub(crate) fn compile(pattern: &str) -> Result<Regex, QueryError> {
    Regex::builder()
        .configure(
            Config::new()
                .nfa_size_limit(Some(MAX_REGEX_COMPILED_BYTES))
                .dfa_size_limit(Some(MAX_REGEX_COMPILED_BYTES)),
        )
        .build(pattern)
        .map_err(|e| QueryError::BadRegex(e.to_string()))
}

/// Registers [`FUNCTION`] on `conn`. The compiled pattern is kept per
/// statement (SQLite auxiliary data), so a scan compiles it once.
pub(crate) fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        FUNCTION,
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let regex = ctx.get_or_create_aux(0, |pattern| -> Result<Regex, QueryError> {
                let pattern = pattern.as_str().map_err(|e| QueryError::BadRegex(e.to_string()))?;
                compile(pattern)
            })?;
            Ok(match ctx.get_raw(1).as_str() {
                Ok(text) => regex.is_match(text),
                Err(_) => false,
            })
        },
    )
}
