//! The planner: picks the value index a query should read, if any.
//!
//! SQLite's own planner has no statistics here and prefers the
//! `(collection, id)` key (it gives the id order for free), so we choose:
//! among the value indexes, the one whose leading fields are best
//! constrained by the selector's top-level conditions (an equality counts
//! two, then one range, as a B-tree can use them), or failing that the one
//! whose first field is the first sort field. The query then names it
//! with `INDEXED BY`; without one SQLite scans the collection's key.

use serde_json::Value;

use super::catalog::{IndexInfo, IndexKind};
use super::collation::rank_of;
use super::path::FieldPath;
use super::request::Query;
use super::selector::{Cond, Selector};

/// How well one field of an index is constrained.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    /// Rank and value fixed: the next field can be used too.
    Equal,
    /// A range (or the rank alone): the last field an index can use.
    Range,
}

/// The name of the value index to read for `query`, if one helps.
pub(crate) fn choose<'i>(query: &Query, indexes: &'i [IndexInfo]) -> Option<&'i IndexInfo> {
    let conjuncts: Vec<&Selector> = match &query.selector {
        Selector::And(parts) => parts.iter().collect(),
        other => vec![other],
    };
    let usage = |dotted: &str| -> Option<Use> {
        let path = FieldPath::parse(dotted).ok()?;
        conjuncts
            .iter()
            .filter_map(|s| use_of(s, &path))
            .max_by_key(|u| *u == Use::Equal)
    };
    let mut best: Option<(u32, &IndexInfo)> = None;
    for index in indexes.iter().filter(|i| i.kind == IndexKind::Value) {
        let mut score = 0;
        for field in &index.fields {
            match usage(field) {
                Some(Use::Equal) => score += 2,
                Some(Use::Range) => {
                    score += 1;
                    break;
                }
                None => break,
            }
        }
        let sorted_by_it = query
            .sort
            .first()
            .is_some_and(|(p, _)| Some(p.dotted()) == index.fields.first().cloned());
        if score == 0 && !sorted_by_it {
            continue;
        }
        let score = score * 2 + u32::from(sorted_by_it);
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, index));
        }
    }
    best.map(|(_, index)| index)
}

/// Whether every result has the same type at `path` (an equality on a
/// number or string, or a lower and an upper bound of one type, among the
/// top-level conditions): its rank then need not be sorted on, which lets
/// SQLite read a range of an index in order instead of sorting it.
pub(crate) fn rank_is_fixed(query: &Query, path: &FieldPath) -> bool {
    let conjuncts: Vec<&Selector> = match &query.selector {
        Selector::And(parts) => parts.iter().collect(),
        other => vec![other],
    };
    let (mut lows, mut highs) = (Vec::new(), Vec::new());
    for s in conjuncts {
        match s {
            Selector::Field(p, Cond::Eq(Value::Number(_) | Value::String(_))) if p == path => return true,
            Selector::Field(p, Cond::Range(cmp, x @ (Value::Number(_) | Value::String(_)))) if p == path => {
                if cmp.is_lower_bound() {
                    lows.push(rank_of(x));
                } else {
                    highs.push(rank_of(x));
                }
            }
            _ => {}
        }
    }
    lows.iter().any(|r| highs.contains(r))
}

/// How a top-level condition constrains the field at `path`.
fn use_of(selector: &Selector, path: &FieldPath) -> Option<Use> {
    let Selector::Field(p, cond) = selector else {
        return None;
    };
    if p != path || p.column().is_some() {
        return None;
    }
    match cond {
        Cond::Eq(Value::Null | Value::Bool(_)) => Some(Use::Range),
        Cond::Eq(_) => Some(Use::Equal),
        Cond::Range(..) => Some(Use::Range),
        _ => None,
    }
}
