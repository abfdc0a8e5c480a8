//! Field paths: Mango's dotted names (`"family.mother.name"`, with `\.`
//! for a dot inside a key) parsed into keys, and written as SQLite JSON
//! paths.
//!
//! Every segment names an object key: a path never indexes into an array
//! by position (use `$elemMatch`). `_id` and `_rev` at the top level name
//! the document's id and winning revision.

use super::error::{shown, QueryError};
use crate::tuning::{MAX_FIELD_PATH_BYTES, MAX_FIELD_PATH_SEGMENTS};

/// A parsed field path: the object keys to follow, outermost first. Empty
/// inside `$elemMatch` means the array element itself.
///
/// # Examples
/// ```
/// use outpost_core::FieldPath;
/// let path = FieldPath::parse(r"family.mother\.name").unwrap();
/// assert_eq!(path.keys(), ["family", "mother.name"]);
/// assert_eq!(path.dotted(), r"family.mother\.name");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath(pub(crate) Vec<String>);

impl FieldPath {
    /// Parses a dotted Mango path.
    ///
    /// # Errors
    /// [`QueryError::BadField`] for an empty segment, a `"` (SQLite's JSON
    /// paths cannot quote it), a control character, or a path past
    /// [`MAX_FIELD_PATH_BYTES`] / [`MAX_FIELD_PATH_SEGMENTS`].
    pub fn parse(dotted: &str) -> Result<FieldPath, QueryError> {
        let bad = |why: &str| QueryError::BadField {
            path: shown(dotted),
            why: why.to_owned(),
        };
        if dotted.len() > MAX_FIELD_PATH_BYTES {
            return Err(bad(&format!("longer than {MAX_FIELD_PATH_BYTES} bytes")));
        }
        let (mut segments, mut current) = (Vec::new(), String::new());
        let mut chars = dotted.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => current.push(chars.next().ok_or_else(|| bad("ends with a lone backslash"))?),
                '.' => segments.push(std::mem::take(&mut current)),
                c => current.push(c),
            }
        }
        segments.push(current);
        if segments
            .iter()
            .flat_map(|s| s.chars())
            .any(|c| c == '"' || c.is_control())
        {
            return Err(bad("a field name may not contain '\"' or control characters"));
        }
        if segments.iter().any(String::is_empty) {
            return Err(bad("empty field name"));
        }
        if segments.len() > MAX_FIELD_PATH_SEGMENTS {
            return Err(bad(&format!("more than {MAX_FIELD_PATH_SEGMENTS} levels")));
        }
        Ok(FieldPath(segments))
    }

    /// A path of keys already split (each key taken as it is).
    pub(crate) fn join(&self, more: &FieldPath) -> FieldPath {
        FieldPath(self.0.iter().chain(&more.0).cloned().collect())
    }

    /// The keys, outermost first.
    pub fn keys(&self) -> &[String] {
        &self.0
    }

    /// Whether this is the document's `_id` or `_rev` (a column, not a body
    /// field): `Some("id")` or `Some("rev")`.
    pub(crate) fn column(&self) -> Option<&'static str> {
        match self.0.as_slice() {
            [one] if one == "_id" => Some("id"),
            [one] if one == "_rev" => Some("rev"),
            _ => None,
        }
    }

    /// The path as a quoted SQL string literal of a SQLite JSON path
    /// (`'$."a"."b"'`). Keys never hold `"` or control characters (see
    /// [`FieldPath::parse`]); a `'` is doubled for SQL.
    pub(crate) fn sql_literal(&self) -> String {
        let mut out = String::from("'$");
        for key in &self.0 {
            out.push_str(".\"");
            out.push_str(&key.replace('\'', "''"));
            out.push('"');
        }
        out.push('\'');
        out
    }

    /// The dotted form (a `.` inside a key escaped as `\.`).
    pub fn dotted(&self) -> String {
        self.0
            .iter()
            .map(|k| k.replace('\\', "\\\\").replace('.', "\\."))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// The value at this path in `body`, if every key is there.
    pub(crate) fn lookup<'v>(&self, body: &'v serde_json::Value) -> Option<&'v serde_json::Value> {
        self.0.iter().try_fold(body, |v, key| v.as_object()?.get(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_unescaped_dots() {
        assert_eq!(FieldPath::parse("a.b").unwrap().0, ["a", "b"]);
        assert_eq!(FieldPath::parse(r"a\.b.c").unwrap().0, ["a.b", "c"]);
        assert_eq!(FieldPath::parse("it's").unwrap().sql_literal(), r#"'$."it''s"'"#);
        assert!(FieldPath::parse("a..b").is_err());
        assert!(FieldPath::parse("").is_err());
        assert!(FieldPath::parse("a\"b").is_err());
    }
}
