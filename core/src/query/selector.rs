//! Mango selectors parsed into a typed tree.
//!
//! Parsing normalises as CouchDB does: several operators on one field are
//! an `$and`; `{"a": {"b": 1}}` is the field `a.b`; a field-level `$and`,
//! `$or`, `$nor` or `$not` becomes a selector-level one over that field.
//! An operator we do not support is refused by name, never ignored.

use serde_json::Value;

use super::error::QueryError;
use super::path::FieldPath;
use crate::tuning::{MAX_IN_VALUES, MAX_REGEX_BYTES, MAX_SELECTOR_DEPTH, MAX_SELECTOR_NODES};

/// A selector: which documents match.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Selector {
    /// All of these (`$and`; an empty one matches everything).
    And(Vec<Selector>),
    /// Any of these (`$or`; an empty one matches nothing).
    Or(Vec<Selector>),
    /// None of these (`$nor`).
    Nor(Vec<Selector>),
    /// Not this (`$not`): also matches documents missing the field.
    Not(Box<Selector>),
    /// A condition on the value at a path. A missing field matches only
    /// `$exists: false`.
    Field(FieldPath, Cond),
    /// Full-text search over the collection's text indexes (`$text`).
    Text(String),
}

/// A comparison operator of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Cmp {
    /// `$gt` or `$gte`.
    pub(crate) fn is_lower_bound(self) -> bool {
        matches!(self, Cmp::Gt | Cmp::Gte)
    }

    pub(crate) fn sql(self) -> &'static str {
        match self {
            Cmp::Gt => ">",
            Cmp::Gte => ">=",
            Cmp::Lt => "<",
            Cmp::Lte => "<=",
        }
    }
}

/// A condition on one value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    Eq(Value),
    Ne(Value),
    Range(Cmp, Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Exists(bool),
    /// The `json_type` names that match.
    Type(&'static [&'static str]),
    Regex(String),
    Size(u64),
    All(Vec<Value>),
    /// Some element of the array matches (paths relative to the element).
    ElemMatch(Box<Selector>),
}

/// Operators CouchDB has that we refuse by name.
const UNSUPPORTED: &[&str] = &["$mod", "$allMatch", "$keyMapMatch", "$beginsWith", "$where"];

/// Parses a selector (a JSON object).
///
/// # Errors
/// [`QueryError`] naming what is wrong; bounds from [`crate::tuning`].
pub(crate) fn parse(value: &Value) -> Result<Selector, QueryError> {
    let mut parser = Parser { nodes: 0 };
    parser.selector(value, &FieldPath(Vec::new()), 0, false)
}

struct Parser {
    nodes: usize,
}

fn bad(why: impl Into<String>) -> QueryError {
    QueryError::BadQuery(why.into())
}

fn operand(op: &str, why: impl Into<String>) -> QueryError {
    QueryError::BadOperand {
        op: op.to_owned(),
        why: why.into(),
    }
}

impl Parser {
    /// Counts one node and checks the depth.
    fn enter(&mut self, depth: usize) -> Result<(), QueryError> {
        self.nodes += 1;
        if depth > MAX_SELECTOR_DEPTH {
            return Err(QueryError::TooLarge {
                what: "selector depth",
                size: depth,
                limit: MAX_SELECTOR_DEPTH,
            });
        }
        if self.nodes > MAX_SELECTOR_NODES {
            return Err(QueryError::TooLarge {
                what: "selector size (operators and fields)",
                size: self.nodes,
                limit: MAX_SELECTOR_NODES,
            });
        }
        Ok(())
    }

    /// A selector object whose field paths start at `base`.
    fn selector(
        &mut self,
        value: &Value,
        base: &FieldPath,
        depth: usize,
        in_elem: bool,
    ) -> Result<Selector, QueryError> {
        self.enter(depth)?;
        let Value::Object(map) = value else {
            return Err(bad(format!("a selector must be a JSON object, not {}", kind(value))));
        };
        let mut parts = Vec::with_capacity(map.len());
        for (key, arg) in map {
            parts.push(match key.as_str() {
                "$and" | "$or" | "$nor" => {
                    let list = self.list(key, arg)?;
                    let subs = list
                        .iter()
                        .map(|s| self.selector(s, base, depth + 1, in_elem))
                        .collect::<Result<Vec<_>, _>>()?;
                    combine(key, subs)
                }
                "$not" => Selector::Not(Box::new(self.selector(arg, base, depth + 1, in_elem)?)),
                "$text" => {
                    if in_elem {
                        return Err(bad("$text cannot be used inside $elemMatch"));
                    }
                    let Value::String(text) = arg else {
                        return Err(operand("$text", "must be a string"));
                    };
                    Selector::Text(text.clone())
                }
                op if op.starts_with('$') && base.0.is_empty() && !in_elem => {
                    return Err(unknown_or_misplaced(op));
                }
                // Inside $elemMatch an operator applies to the element itself.
                op if op.starts_with('$') => self.operator(base, op, arg, depth + 1)?,
                field => {
                    let path = base.join(&FieldPath::parse(field)?);
                    self.condition(&path, arg, depth + 1)?
                }
            });
        }
        Ok(flatten_and(parts))
    }

    /// The condition on the field at `path` (an operator object or a value).
    fn condition(&mut self, path: &FieldPath, value: &Value, depth: usize) -> Result<Selector, QueryError> {
        self.enter(depth)?;
        let Value::Object(map) = value else {
            return Ok(Selector::Field(path.clone(), Cond::Eq(value.clone())));
        };
        let operators = map.keys().filter(|k| k.starts_with('$')).count();
        if operators == 0 {
            if map.is_empty() {
                return Ok(Selector::Field(path.clone(), Cond::Eq(value.clone())));
            }
            // {"a": {"b": 1}} is the field a.b.
            let mut parts = Vec::with_capacity(map.len());
            for (key, arg) in map {
                let sub = path.join(&FieldPath::parse(key)?);
                parts.push(self.condition(&sub, arg, depth + 1)?);
            }
            return Ok(flatten_and(parts));
        }
        if operators != map.len() {
            return Err(bad(format!(
                "the condition on {:?} mixes operators and field names",
                path.dotted()
            )));
        }
        let mut parts = Vec::with_capacity(map.len());
        for (op, arg) in map {
            parts.push(self.operator(path, op, arg, depth + 1)?);
        }
        Ok(flatten_and(parts))
    }

    fn operator(&mut self, path: &FieldPath, op: &str, arg: &Value, depth: usize) -> Result<Selector, QueryError> {
        self.enter(depth)?;
        let field = |cond| Ok(Selector::Field(path.clone(), cond));
        match op {
            "$eq" => field(Cond::Eq(arg.clone())),
            "$ne" => field(Cond::Ne(arg.clone())),
            "$gt" => field(Cond::Range(Cmp::Gt, range_operand(op, arg)?)),
            "$gte" => field(Cond::Range(Cmp::Gte, range_operand(op, arg)?)),
            "$lt" => field(Cond::Range(Cmp::Lt, range_operand(op, arg)?)),
            "$lte" => field(Cond::Range(Cmp::Lte, range_operand(op, arg)?)),
            "$in" => field(Cond::In(self.values(op, arg)?)),
            "$nin" => field(Cond::Nin(self.values(op, arg)?)),
            "$all" => field(Cond::All(self.values(op, arg)?)),
            "$exists" => match arg {
                Value::Bool(b) => field(Cond::Exists(*b)),
                _ => Err(operand(op, "must be true or false")),
            },
            "$type" => {
                let name = arg.as_str().ok_or_else(|| operand(op, "must be a type name"))?;
                let types = super::collation::sqlite_types_of(name)
                    .ok_or_else(|| operand(op, "must be one of null, boolean, number, string, array, object"))?;
                field(Cond::Type(types))
            }
            "$size" => match arg.as_u64() {
                Some(n) => field(Cond::Size(n)),
                None => Err(operand(op, "must be a non-negative integer")),
            },
            "$regex" => {
                let pattern = arg.as_str().ok_or_else(|| operand(op, "must be a string"))?;
                if pattern.len() > MAX_REGEX_BYTES {
                    return Err(QueryError::TooLarge {
                        what: "$regex pattern (bytes)",
                        size: pattern.len(),
                        limit: MAX_REGEX_BYTES,
                    });
                }
                super::regex_fn::compile(pattern)?;
                field(Cond::Regex(pattern.to_owned()))
            }
            "$elemMatch" => {
                let inner = self.selector(arg, &FieldPath(Vec::new()), depth + 1, true)?;
                field(Cond::ElemMatch(Box::new(inner)))
            }
            "$and" | "$or" | "$nor" => {
                let list = self.list(op, arg)?;
                let subs = list
                    .iter()
                    .map(|c| self.condition(path, c, depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(combine(op, subs))
            }
            "$not" => Ok(Selector::Not(Box::new(self.condition(path, arg, depth + 1)?))),
            other => Err(unknown_or_misplaced(other)),
        }
    }

    fn list<'v>(&self, op: &str, arg: &'v Value) -> Result<&'v Vec<Value>, QueryError> {
        arg.as_array().ok_or_else(|| operand(op, "must be an array"))
    }

    /// The list operand of `$in`, `$nin` or `$all`, bounded.
    fn values(&mut self, op: &str, arg: &Value) -> Result<Vec<Value>, QueryError> {
        let list = self.list(op, arg)?;
        if list.len() > MAX_IN_VALUES {
            return Err(QueryError::TooLarge {
                what: "list operand ($in, $nin, $all)",
                size: list.len(),
                limit: MAX_IN_VALUES,
            });
        }
        self.nodes += list.len() / 8;
        Ok(list.clone())
    }
}

/// A range operand: a scalar (arrays and objects have no order we can
/// compute inside SQLite the way CouchDB does).
fn range_operand(op: &str, arg: &Value) -> Result<Value, QueryError> {
    match arg {
        Value::Array(_) | Value::Object(_) => Err(operand(op, "cannot compare with an array or object")),
        scalar => Ok(scalar.clone()),
    }
}

fn unknown_or_misplaced(op: &str) -> QueryError {
    const FIELD_OPERATORS: &[&str] = &[
        "$eq",
        "$ne",
        "$gt",
        "$gte",
        "$lt",
        "$lte",
        "$in",
        "$nin",
        "$exists",
        "$type",
        "$regex",
        "$all",
        "$elemMatch",
        "$size",
    ];
    if FIELD_OPERATORS.contains(&op) {
        bad(format!("{op} must be applied to a field"))
    } else if UNSUPPORTED.contains(&op) {
        QueryError::UnsupportedOperator(op.to_owned())
    } else {
        QueryError::UnsupportedOperator(op.chars().take(64).collect())
    }
}

fn combine(op: &str, subs: Vec<Selector>) -> Selector {
    match op {
        "$and" => flatten_and(subs),
        "$or" => Selector::Or(subs),
        _ => Selector::Nor(subs),
    }
}

fn flatten_and(mut parts: Vec<Selector>) -> Selector {
    if parts.len() == 1 {
        return parts.remove(0);
    }
    Selector::And(parts)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Whether the selector uses `$text`.
pub(crate) fn uses_text(selector: &Selector) -> bool {
    match selector {
        Selector::Text(_) => true,
        Selector::And(v) | Selector::Or(v) | Selector::Nor(v) => v.iter().any(uses_text),
        Selector::Not(s) => uses_text(s),
        Selector::Field(..) => false,
    }
}

/// Parses selector JSON (for tests).
#[cfg(test)]
fn parse_str(json: &str) -> Result<Selector, QueryError> {
    parse(&serde_json::from_str(json).unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_nested_fields_and_multiple_operators() {
        let s = parse_str(r#"{"a": {"b": 1}, "age": {"$gt": 1, "$lt": 5}}"#).unwrap();
        let Selector::And(parts) = s else { panic!() };
        assert_eq!(parts.len(), 2);
        assert!(matches!(&parts[0], Selector::Field(p, Cond::Eq(_)) if p.0 == ["a", "b"]));
        assert!(matches!(&parts[1], Selector::And(v) if v.len() == 2));
    }

    #[test]
    fn refuses_unknown_operators_by_name() {
        assert_eq!(
            parse_str(r#"{"a": {"$mod": [2, 0]}}"#),
            Err(QueryError::UnsupportedOperator("$mod".into()))
        );
        assert_eq!(
            parse_str(r#"{"a": {"$bogus": 1}}"#),
            Err(QueryError::UnsupportedOperator("$bogus".into()))
        );
        assert!(matches!(parse_str(r#"{"$gt": 1}"#), Err(QueryError::BadQuery(_))));
    }
}
