//! The JSON delta format of delta sync: how a body is written as the
//! changes from another body the receiver holds, and rebuilt from them.
//!
//! A delta `D` applied to a value `O` (docs/PROTOCOL.md, "Delta sync"):
//! - `D` an object: `O` must be an object; each member `k: d` of `D`
//!   removes `k` when `d` is `[]`, applies `d` to `O[k]` when `d` is an
//!   object (`O[k]` must be an object), and sets `O[k]` to `d[0]` when `d`
//!   is a one-element array or to `d` itself when `d` is a string, number,
//!   boolean or null. Members of `O` not named stay as they are.
//! - `D` a one-element array `[v]`: the result is `v` (a whole replacement).
//! - Any other array is malformed.
//!
//! This is Couchbase's JSON delta without its string and array diffs:
//! arrays are replaced whole. Every bound is in `crate::tuning`.

use serde_json::{Map, Value};

use crate::body::canonical_object;
use crate::error::InvalidInput;
use crate::tuning::{MAX_BODY_BYTES, MAX_DELTA_DEPTH};

/// The delta that turns the canonical body `base` into the canonical body
/// `body`, when it is shorter than `body`; `None` when the full body is
/// as small or either is not a JSON object.
pub(crate) fn encode(base: &str, body: &str) -> Option<String> {
    let (Ok(Value::Object(old)), Ok(Value::Object(new))) =
        (serde_json::from_str::<Value>(base), serde_json::from_str::<Value>(body))
    else {
        return None;
    };
    let delta = serde_json::to_string(&diff_objects(&old, &new, 1)).ok()?;
    (delta.len() < body.len()).then_some(delta)
}

/// Rebuilds a body from the canonical body `base` and a `delta` from a
/// peer, and returns its canonical form (which the caller checks against
/// the revision id).
///
/// # Errors
/// [`InvalidInput::BadDelta`] for a delta that is not JSON, is past
/// [`MAX_BODY_BYTES`], nests deeper than [`MAX_DELTA_DEPTH`], does not fit
/// `base`, or builds something that is not a valid body (not an object,
/// past [`MAX_BODY_BYTES`], a reserved field).
pub(crate) fn rebuild(base: &str, delta: &str) -> Result<String, InvalidInput> {
    let bad = |why: String| InvalidInput::BadDelta(why);
    if delta.len() > MAX_BODY_BYTES {
        return Err(bad(format!(
            "a delta of {} bytes is past the limit of {MAX_BODY_BYTES}",
            delta.len()
        )));
    }
    let base: Value = serde_json::from_str(base).map_err(|e| bad(format!("the base body is not JSON: {e}")))?;
    let delta: Value = serde_json::from_str(delta).map_err(|e| bad(format!("the delta is not JSON: {e}")))?;
    match apply(base, delta, 0)? {
        Value::Object(map) => canonical_object(&map).map_err(|e| bad(format!("the rebuilt body is refused: {e}"))),
        _ => Err(bad("the rebuilt body is not an object".into())),
    }
}

/// The delta between two objects at nesting `depth`: removed members as
/// `[]`, changed ones as the smaller of their own delta and their new
/// value (always the new value where a nested delta would pass
/// [`MAX_DELTA_DEPTH`]).
fn diff_objects(old: &Map<String, Value>, new: &Map<String, Value>, depth: usize) -> Map<String, Value> {
    let mut delta = Map::new();
    for key in old.keys().filter(|k| !new.contains_key(*k)) {
        delta.insert(key.clone(), Value::Array(Vec::new()));
    }
    for (key, value) in new {
        match (old.get(key), value) {
            (Some(before), _) if before == value => {}
            (Some(Value::Object(before)), Value::Object(after)) if depth + 1 < MAX_DELTA_DEPTH => {
                let nested = Value::Object(diff_objects(before, after, depth + 1));
                let whole = replacement(value);
                delta.insert(key.clone(), smaller(nested, whole));
            }
            _ => {
                delta.insert(key.clone(), replacement(value));
            }
        }
    }
    delta
}

/// `value` as a delta that replaces whatever was there: itself when it is
/// a string, number, boolean or null, else wrapped in a one-element array.
fn replacement(value: &Value) -> Value {
    match value {
        Value::Object(_) | Value::Array(_) => Value::Array(vec![value.clone()]),
        scalar => scalar.clone(),
    }
}

fn smaller(a: Value, b: Value) -> Value {
    let len = |v: &Value| serde_json::to_string(v).map_or(usize::MAX, |s| s.len());
    if len(&a) < len(&b) {
        a
    } else {
        b
    }
}

/// Applies `delta` to `old` (see the module's doc).
fn apply(old: Value, delta: Value, depth: usize) -> Result<Value, InvalidInput> {
    if depth >= MAX_DELTA_DEPTH {
        return Err(InvalidInput::BadDelta(format!(
            "the delta nests deeper than {MAX_DELTA_DEPTH} levels"
        )));
    }
    match delta {
        Value::Object(changes) => {
            let Value::Object(mut map) = old else {
                return Err(InvalidInput::BadDelta(
                    "an object delta for a value that is not an object".into(),
                ));
            };
            for (key, change) in changes {
                match change {
                    Value::Array(items) if items.is_empty() => {
                        if map.remove(&key).is_none() {
                            return Err(InvalidInput::BadDelta(
                                "the delta removes a member that is not there".into(),
                            ));
                        }
                    }
                    Value::Object(_) => {
                        let before = map.remove(&key).ok_or_else(|| {
                            InvalidInput::BadDelta("the delta changes a member that is not there".into())
                        })?;
                        map.insert(key, apply(before, change, depth + 1)?);
                    }
                    change => {
                        let after = apply(Value::Null, change, depth + 1)?;
                        map.insert(key, after);
                    }
                }
            }
            Ok(Value::Object(map))
        }
        Value::Array(mut items) => {
            if items.len() != 1 {
                return Err(InvalidInput::BadDelta(format!(
                    "an array delta of {} elements (only [value] is a delta)",
                    items.len()
                )));
            }
            Ok(items.pop().unwrap_or(Value::Null))
        }
        scalar => Ok(scalar),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(json: &str) -> String {
        crate::body::canonicalize(json).unwrap()
    }

    #[test]
    fn one_changed_field_is_a_small_delta_that_rebuilds_the_body() {
        let base = canonical(&format!(
            r#"{{"name":"Amina","notes":"{}","family":{{"mother":"Ayen","siblings":2}},"tags":["a"],"gone":1}}"#,
            "x".repeat(500)
        ));
        let body = canonical(&format!(
            r#"{{"name":"Amina","notes":"{}","family":{{"mother":"Ayen","siblings":3}},"tags":[],"new":{{"a":[1]}}}}"#,
            "x".repeat(500)
        ));
        let delta = encode(&base, &body).unwrap();
        assert_eq!(
            delta,
            r#"{"family":{"siblings":3},"gone":[],"new":[{"a":[1]}],"tags":[[]]}"#
        );
        assert_eq!(rebuild(&base, &delta).unwrap(), body);
    }

    #[test]
    fn no_delta_when_it_would_not_be_smaller() {
        assert_eq!(encode(r#"{"a":1}"#, r#"{"b":2}"#), None);
    }

    #[test]
    fn malformed_and_hostile_deltas_are_typed_errors() {
        let base = r#"{"a":{"b":1},"c":2}"#;
        for delta in [
            "not json",
            r#"[1,2]"#,
            r#"{"zz":[]}"#,
            r#"{"zz":{"y":1}}"#,
            r#"{"c":{"y":1}}"#,
            r#"[3]"#,
            r#"{"_id":"x"}"#,
        ] {
            assert!(
                matches!(rebuild(base, delta), Err(InvalidInput::BadDelta(_))),
                "{delta} was not refused"
            );
        }
        let deep = "{\"a\":".repeat(MAX_DELTA_DEPTH + 1) + "1" + &"}".repeat(MAX_DELTA_DEPTH + 1);
        let mut nested_base = "1".to_owned();
        for _ in 0..=MAX_DELTA_DEPTH {
            nested_base = format!("{{\"a\":{nested_base}}}");
        }
        assert!(matches!(rebuild(&nested_base, &deep), Err(InvalidInput::BadDelta(_))));
        let huge = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        assert!(matches!(rebuild(base, &huge), Err(InvalidInput::BadDelta(_))));
        // Each under the limit, together past it.
        let half = format!(r#"{{"b":"{}"}}"#, "y".repeat(MAX_BODY_BYTES / 2 + 10));
        let big_base = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_BODY_BYTES / 2 + 10));
        assert!(matches!(rebuild(&big_base, &half), Err(InvalidInput::BadDelta(_))));
    }
}
