//! Selectors compiled to SQL over the `docs` table (one row per document:
//! its winning revision's body, `deleted` set for a deletion).
//!
//! A field is read with `json_type` (its type, hence its collation rank)
//! and `json_extract` (its value). Conditions are written on the pair
//! (rank, value), exactly as value indexes store it, so SQLite's planner
//! can use an index for equality, `$in`, ranges and sorts. Operands are
//! bound parameters; paths are inlined as literals (an expression index
//! only matches a query whose expression is the same text).

use rusqlite::types::Value as SqlValue;
use serde_json::Value;

use super::collation::{rank_of, rank_sql};
use super::error::QueryError;
use super::path::FieldPath;
use super::selector::{Cmp, Cond, Selector};

/// Where field values are read from.
#[derive(Clone)]
enum Scope {
    /// The document row: its body, and the id and rev columns.
    Doc,
    /// An element of an array being walked by `json_each` as `alias`.
    Element(String),
}

/// A value's SQL: its `json_type`, and its `json_extract`.
pub(crate) struct ValueSql {
    pub(crate) type_sql: String,
    pub(crate) value_sql: String,
}

impl ValueSql {
    pub(crate) fn rank(&self) -> String {
        rank_sql(&self.type_sql)
    }
}

/// The SQL of the value at `path` of a document's body (`body` column).
/// Value indexes and queries both use this, so their expressions match.
pub(crate) fn doc_value(path: &FieldPath) -> ValueSql {
    match path.column() {
        Some(column) => ValueSql {
            type_sql: "'text'".to_owned(),
            value_sql: column.to_owned(),
        },
        None => {
            let p = path.sql_literal();
            ValueSql {
                type_sql: format!("json_type(body, {p})"),
                value_sql: format!("json_extract(body, {p})"),
            }
        }
    }
}

fn value_in(scope: &Scope, path: &FieldPath) -> ValueSql {
    match scope {
        Scope::Doc => doc_value(path),
        Scope::Element(e) if path.0.is_empty() => ValueSql {
            type_sql: format!("{e}.type"),
            value_sql: format!("{e}.value"),
        },
        Scope::Element(e) => {
            let p = path.sql_literal();
            // A scalar element is not JSON text: only objects have fields.
            ValueSql {
                type_sql: format!("CASE WHEN {e}.type = 'object' THEN json_type({e}.value, {p}) END"),
                value_sql: format!("CASE WHEN {e}.type = 'object' THEN json_extract({e}.value, {p}) END"),
            }
        }
    }
}

/// SQL of a selector with its parameters, in order.
pub(crate) struct Compiled {
    pub(crate) sql: String,
    pub(crate) params: Vec<SqlValue>,
}

/// Makes the SQL of `$text` (binding its own parameters).
pub(crate) type TextMatch<'t> = &'t dyn Fn(&mut Vec<SqlValue>, &str) -> Result<String, QueryError>;

/// Compiles `selector`, parameters numbered from `?1`.
///
/// # Errors
/// What `text_match` returns for a `$text` it cannot serve.
pub(crate) fn compile(selector: &Selector, text_match: TextMatch<'_>) -> Result<Compiled, QueryError> {
    let mut c = Compiler {
        params: Vec::new(),
        aliases: 0,
        text_match,
    };
    let sql = c.selector(selector, &Scope::Doc)?;
    Ok(Compiled { sql, params: c.params })
}

struct Compiler<'t> {
    params: Vec<SqlValue>,
    aliases: usize,
    text_match: TextMatch<'t>,
}

impl Compiler<'_> {
    fn bind(&mut self, v: SqlValue) -> String {
        self.params.push(v);
        format!("?{}", self.params.len())
    }

    fn selector(&mut self, s: &Selector, scope: &Scope) -> Result<String, QueryError> {
        Ok(match s {
            Selector::And(parts) if parts.is_empty() => "1".into(),
            Selector::Or(parts) if parts.is_empty() => "0".into(),
            Selector::Nor(parts) if parts.is_empty() => "1".into(),
            Selector::And(parts) => self.and(parts, scope)?,
            Selector::Or(parts) => self.join(parts, scope, " OR ")?,
            // NOT of a condition on a missing field is true: the NULL that
            // SQL gives for it is read as false first.
            Selector::Nor(parts) => format!("NOT coalesce({}, 0)", self.join(parts, scope, " OR ")?),
            Selector::Not(inner) => format!("NOT coalesce(({}), 0)", self.selector(inner, scope)?),
            Selector::Field(path, cond) => {
                let v = value_in(scope, path);
                self.cond(&v, cond)?
            }
            Selector::Text(text) => (self.text_match)(&mut self.params, text)?,
        })
    }

    /// An AND. A lower and an upper bound of the same rank on one field
    /// (`{"age": {"$gte": 5, "$lte": 9}}`) become one range inside that
    /// rank, which SQLite can seek in an index from both ends.
    fn and(&mut self, parts: &[Selector], scope: &Scope) -> Result<String, QueryError> {
        let mut used = vec![false; parts.len()];
        let mut sqls = Vec::with_capacity(parts.len());
        for i in 0..parts.len() {
            let Some((path, low_cmp, low)) = bound(&parts[i], true) else {
                continue;
            };
            let pair = (0..parts.len()).find(|&j| {
                !used[j]
                    && bound(&parts[j], false).is_some_and(|(p, _, high)| p == path && rank_of(high) == rank_of(low))
            });
            let Some(j) = pair.filter(|_| !used[i]) else { continue };
            let Some((_, high_cmp, high)) = bound(&parts[j], false) else {
                continue;
            };
            let v = value_in(scope, path);
            let (lo, hi) = (self.bind(scalar(low)), self.bind(scalar(high)));
            sqls.push(format!(
                "({} = {} AND {x} {} {lo} AND {x} {} {hi})",
                v.rank(),
                rank_of(low),
                low_cmp.sql(),
                high_cmp.sql(),
                x = v.value_sql
            ));
            used[i] = true;
            used[j] = true;
        }
        for (part, used) in parts.iter().zip(&used) {
            if !used {
                sqls.push(format!("({})", self.selector(part, scope)?));
            }
        }
        Ok(format!("({})", sqls.join(" AND ")))
    }

    fn join(&mut self, parts: &[Selector], scope: &Scope, op: &str) -> Result<String, QueryError> {
        let sqls = parts
            .iter()
            .map(|p| Ok(format!("({})", self.selector(p, scope)?)))
            .collect::<Result<Vec<String>, QueryError>>()?;
        Ok(format!("({})", sqls.join(op)))
    }

    fn eq(&mut self, v: &ValueSql, operand: &Value) -> String {
        let rank = rank_of(operand);
        match operand {
            Value::Null | Value::Bool(_) => format!("{} = {rank}", v.rank()),
            _ => {
                let p = self.bind(scalar(operand));
                format!("({} = {rank} AND {} = {p})", v.rank(), v.value_sql)
            }
        }
    }

    fn cond(&mut self, v: &ValueSql, cond: &Cond) -> Result<String, QueryError> {
        let exists = format!("{} IS NOT NULL", v.type_sql);
        Ok(match cond {
            Cond::Eq(x) => self.eq(v, x),
            Cond::Ne(x) => format!("({exists} AND NOT {})", self.eq(v, x)),
            Cond::In(xs) if xs.is_empty() => "0".into(),
            Cond::In(xs) => {
                let eqs: Vec<String> = xs.iter().map(|x| self.eq(v, x)).collect();
                format!("({})", eqs.join(" OR "))
            }
            Cond::Nin(xs) if xs.is_empty() => exists,
            Cond::Nin(xs) => {
                let eqs: Vec<String> = xs.iter().map(|x| self.eq(v, x)).collect();
                format!("({exists} AND NOT ({}))", eqs.join(" OR "))
            }
            Cond::Range(cmp, x) => {
                let rank = rank_of(x);
                match x {
                    // One value per rank: the rank alone decides.
                    Value::Null | Value::Bool(_) => format!("{} {} {rank}", v.rank(), cmp.sql()),
                    // Written so that SQLite can seek an index on (rank,
                    // value): the value's own rank, or a rank beyond it.
                    _ => {
                        let p = self.bind(scalar(x));
                        let beyond = if cmp.is_lower_bound() { ">" } else { "<" };
                        format!(
                            "(({rank_sql} = {rank} AND {} {} {p}) OR {rank_sql} {beyond} {rank})",
                            v.value_sql,
                            cmp.sql(),
                            rank_sql = v.rank()
                        )
                    }
                }
            }
            Cond::Exists(true) => exists,
            Cond::Exists(false) => format!("{} IS NULL", v.type_sql),
            Cond::Type(types) => {
                let names: Vec<String> = types.iter().map(|t| format!("'{t}'")).collect();
                format!("{} IN ({})", v.type_sql, names.join(", "))
            }
            Cond::Regex(pattern) => {
                let p = self.bind(SqlValue::Text(pattern.clone()));
                format!(
                    "({} = 'text' AND {}({p}, {}))",
                    v.type_sql,
                    super::regex_fn::FUNCTION,
                    v.value_sql
                )
            }
            Cond::Size(n) => {
                let p = self.bind(SqlValue::Integer(i64::try_from(*n).unwrap_or(i64::MAX)));
                array_only(v, &format!("json_array_length({}) = {p}", v.value_sql))
            }
            Cond::All(xs) if xs.is_empty() => "0".into(),
            Cond::All(xs) => {
                let mut parts = Vec::with_capacity(xs.len());
                for x in xs {
                    let alias = self.alias();
                    let element = value_in(&Scope::Element(alias.clone()), &FieldPath(Vec::new()));
                    let eq = self.eq(&element, x);
                    parts.push(format!(
                        "EXISTS (SELECT 1 FROM json_each({}) AS {alias} WHERE {eq})",
                        v.value_sql
                    ));
                }
                array_only(v, &parts.join(" AND "))
            }
            Cond::ElemMatch(inner) => {
                let alias = self.alias();
                let matched = self.selector(inner, &Scope::Element(alias.clone()))?;
                array_only(
                    v,
                    &format!(
                        "EXISTS (SELECT 1 FROM json_each({}) AS {alias} WHERE {matched})",
                        v.value_sql
                    ),
                )
            }
        })
    }

    fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("je{}", self.aliases)
    }
}

/// A range bound on a number or string (`lower`: `$gt`/`$gte`, else
/// `$lt`/`$lte`): its path, operator and operand.
fn bound(s: &Selector, lower: bool) -> Option<(&FieldPath, Cmp, &Value)> {
    match s {
        Selector::Field(path, Cond::Range(cmp, x))
            if cmp.is_lower_bound() == lower && matches!(x, Value::Number(_) | Value::String(_)) =>
        {
            Some((path, *cmp, x))
        }
        _ => None,
    }
}

/// `condition` on an array value, false for anything else. A CASE, not an
/// AND: SQLite may evaluate both sides of an AND, and a JSON function given
/// a string that is not JSON fails the whole query.
fn array_only(v: &ValueSql, condition: &str) -> String {
    format!("CASE WHEN {} = 'array' THEN {condition} ELSE 0 END", v.type_sql)
}

/// A JSON operand as the SQL value `json_extract` gives for it: numbers as
/// integers or reals, strings as text, arrays and objects as their
/// canonical JSON text (keys sorted, as bodies are stored).
fn scalar(v: &Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Array(_) | Value::Object(_) => SqlValue::Text(v.to_string()),
    }
}

/// `ORDER BY` terms for one sort field; `rank_fixed` when every result
/// has the same type there (see [`super::planner::rank_is_fixed`]).
pub(crate) fn order_by(path: &FieldPath, descending: bool, rank_fixed: bool) -> String {
    let v = doc_value(path);
    let dir = if descending { "DESC" } else { "ASC" };
    if path.column().is_some() || rank_fixed {
        return format!("{} {dir}", v.value_sql);
    }
    format!("{} {dir}, {} {dir}", v.rank(), v.value_sql)
}
