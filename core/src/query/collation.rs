//! CouchDB's collation of JSON values, as SQLite sees them.
//!
//! Values of different types order by type: null < false < true < numbers
//! < strings < arrays < objects. Inside a type, numbers order by value and
//! strings by Unicode code point (SQLite's BINARY collation on UTF-8, as
//! PouchDB compares them; CouchDB itself uses ICU). Arrays and objects are
//! ordered among themselves by their canonical JSON text, and range
//! operators refuse them as operands.
//!
//! In SQL a value is a pair (type rank, value): the rank comes from
//! `json_type`, the value from `json_extract`. Value indexes store that
//! same pair, so an index serves equality, ranges and sorts alike.

use serde_json::Value;

/// Rank of a missing field: SQL NULL (below every rank, matching nothing).
/// The rank of JSON `null`.
pub(crate) const RANK_NULL: u8 = 1;
/// The rank of `false`.
pub(crate) const RANK_FALSE: u8 = 2;
/// The rank of `true`.
pub(crate) const RANK_TRUE: u8 = 3;
/// The rank of a number.
pub(crate) const RANK_NUMBER: u8 = 4;
/// The rank of a string.
pub(crate) const RANK_STRING: u8 = 5;
/// The rank of an array.
pub(crate) const RANK_ARRAY: u8 = 6;
/// The rank of an object.
pub(crate) const RANK_OBJECT: u8 = 7;

/// The collation rank of a JSON value.
pub(crate) fn rank_of(value: &Value) -> u8 {
    match value {
        Value::Null => RANK_NULL,
        Value::Bool(false) => RANK_FALSE,
        Value::Bool(true) => RANK_TRUE,
        Value::Number(_) => RANK_NUMBER,
        Value::String(_) => RANK_STRING,
        Value::Array(_) => RANK_ARRAY,
        Value::Object(_) => RANK_OBJECT,
    }
}

/// SQL mapping a `json_type` result (`type_sql`) to its rank; NULL for a
/// missing field. Written the same way everywhere, so SQLite sees the
/// query's expression and an index's as one.
pub(crate) fn rank_sql(type_sql: &str) -> String {
    format!(
        "CASE {type_sql} WHEN 'null' THEN {RANK_NULL} WHEN 'false' THEN {RANK_FALSE} WHEN 'true' THEN {RANK_TRUE} \
         WHEN 'integer' THEN {RANK_NUMBER} WHEN 'real' THEN {RANK_NUMBER} WHEN 'text' THEN {RANK_STRING} \
         WHEN 'array' THEN {RANK_ARRAY} WHEN 'object' THEN {RANK_OBJECT} END"
    )
}

/// The `json_type` names of a Mango `$type` name, or `None` for a name
/// Mango does not have.
pub(crate) fn sqlite_types_of(mango_type: &str) -> Option<&'static [&'static str]> {
    Some(match mango_type {
        "null" => &["null"],
        "boolean" => &["true", "false"],
        "number" => &["integer", "real"],
        "string" => &["text"],
        "array" => &["array"],
        "object" => &["object"],
        _ => return None,
    })
}
