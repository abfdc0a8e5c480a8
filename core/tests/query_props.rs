//! Differential property test: random documents (nested, fields missing,
//! types mixed) and random selectors; what `Collection::find` returns, in
//! its order, equals a plain in-memory evaluator of the same selector with
//! CouchDB's semantics and collation, with and without value indexes.

mod common;

use std::cmp::Ordering;

use outpost_core::{Collection, Query};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const KEYS: &[&str] = &["a", "b", "c"];
const PATHS: &[&str] = &["a", "b", "c", "a.b", "a.c", "b.a"];

// ---- the reference evaluator -------------------------------------------

/// A selector as the test builds it.
#[derive(Debug, Clone)]
enum Sel {
    And(Vec<Sel>),
    Or(Vec<Sel>),
    Nor(Vec<Sel>),
    Not(Box<Sel>),
    Field(&'static str, Op),
}

#[derive(Debug, Clone)]
enum Op {
    Eq(Value),
    Ne(Value),
    Cmp(&'static str, Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Exists(bool),
    Type(&'static str),
    Size(usize),
    All(Vec<Value>),
    ElemEq(Value),
    ElemField(&'static str, Value),
    Prefix(&'static str),
}

/// CouchDB's type order.
fn rank(v: &Value) -> u8 {
    match v {
        Value::Null => 1,
        Value::Bool(false) => 2,
        Value::Bool(true) => 3,
        Value::Number(_) => 4,
        Value::String(_) => 5,
        Value::Array(_) => 6,
        Value::Object(_) => 7,
    }
}

/// Collation: by type, then numbers by value, strings by code point,
/// arrays and objects by their canonical JSON text (as documented).
fn collate(a: &Value, b: &Value) -> Ordering {
    rank(a).cmp(&rank(b)).then_with(|| match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64().unwrap().partial_cmp(&y.as_f64().unwrap()).unwrap(),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => a.to_string().cmp(&b.to_string()),
        _ => Ordering::Equal,
    })
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn lookup<'v>(doc: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(doc, |v, k| v.as_object()?.get(k))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn eval(sel: &Sel, doc: &Value) -> bool {
    match sel {
        Sel::And(v) => v.iter().all(|s| eval(s, doc)),
        Sel::Or(v) => v.iter().any(|s| eval(s, doc)),
        Sel::Nor(v) => !v.iter().any(|s| eval(s, doc)),
        Sel::Not(s) => !eval(s, doc),
        Sel::Field(path, op) => match lookup(doc, path) {
            None => matches!(op, Op::Exists(false)),
            Some(v) => eval_op(op, v),
        },
    }
}

fn eval_op(op: &Op, v: &Value) -> bool {
    let elements = || v.as_array().map(|a| a.iter()).into_iter().flatten();
    match op {
        Op::Eq(x) => equal(v, x),
        Op::Ne(x) => !equal(v, x),
        Op::Cmp(c, x) => {
            let o = collate(v, x);
            match *c {
                "$gt" => o == Ordering::Greater,
                "$gte" => o != Ordering::Less,
                "$lt" => o == Ordering::Less,
                _ => o != Ordering::Greater,
            }
        }
        Op::In(xs) => xs.iter().any(|x| equal(v, x)),
        Op::Nin(xs) => !xs.iter().any(|x| equal(v, x)),
        Op::Exists(b) => *b,
        Op::Type(t) => type_name(v) == *t,
        Op::Size(n) => v.as_array().is_some_and(|a| a.len() == *n),
        Op::All(xs) => v.is_array() && !xs.is_empty() && xs.iter().all(|x| elements().any(|e| equal(e, x))),
        Op::ElemEq(x) => elements().any(|e| equal(e, x)),
        Op::ElemField(k, x) => elements().any(|e| e.get(k).is_some_and(|f| equal(f, x))),
        Op::Prefix(p) => v.as_str().is_some_and(|s| s.starts_with(p)),
    }
}

/// The Mango JSON of a selector.
fn render(sel: &Sel) -> Value {
    let list = |v: &[Sel]| Value::Array(v.iter().map(render).collect());
    match sel {
        Sel::And(v) => json!({ "$and": list(v) }),
        Sel::Or(v) => json!({ "$or": list(v) }),
        Sel::Nor(v) => json!({ "$nor": list(v) }),
        Sel::Not(s) => json!({ "$not": render(s) }),
        Sel::Field(path, op) => {
            let cond = match op {
                Op::Eq(x) if !x.is_object() => x.clone(),
                Op::Eq(x) => json!({ "$eq": x }),
                Op::Ne(x) => json!({ "$ne": x }),
                Op::Cmp(c, x) => json!({ *c: x }),
                Op::In(xs) => json!({ "$in": xs }),
                Op::Nin(xs) => json!({ "$nin": xs }),
                Op::Exists(b) => json!({ "$exists": b }),
                Op::Type(t) => json!({ "$type": t }),
                Op::Size(n) => json!({ "$size": n }),
                Op::All(xs) => json!({ "$all": xs }),
                Op::ElemEq(x) => json!({ "$elemMatch": { "$eq": x } }),
                Op::ElemField(k, x) => json!({ "$elemMatch": { *k: x } }),
                Op::Prefix(p) => json!({ "$regex": format!("^{p}") }),
            };
            let mut m = Map::new();
            m.insert((*path).to_owned(), cond);
            Value::Object(m)
        }
    }
}

// ---- strategies ---------------------------------------------------------

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..4).prop_map(|n| json!(n)),
        prop::sample::select(vec![-1.5, 0.5, 2.5]).prop_map(|f| json!(f)),
        prop::sample::select(vec!["", "A", "Am", "a", "b", "z", "é"]).prop_map(|s| json!(s)),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(KEYS), inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn doc() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(prop::sample::select(KEYS), value(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

fn op() -> impl Strategy<Value = Op> {
    let list = || prop::collection::vec(scalar(), 0..4);
    prop_oneof![
        value().prop_map(Op::Eq),
        scalar().prop_map(Op::Ne),
        (prop::sample::select(vec!["$gt", "$gte", "$lt", "$lte"]), scalar()).prop_map(|(c, x)| Op::Cmp(c, x)),
        list().prop_map(Op::In),
        list().prop_map(Op::Nin),
        any::<bool>().prop_map(Op::Exists),
        prop::sample::select(vec!["null", "boolean", "number", "string", "array", "object"]).prop_map(Op::Type),
        (0usize..3).prop_map(Op::Size),
        list().prop_map(Op::All),
        scalar().prop_map(Op::ElemEq),
        (prop::sample::select(KEYS), scalar()).prop_map(|(k, x)| Op::ElemField(k, x)),
        prop::sample::select(vec!["A", "a", "é"]).prop_map(Op::Prefix),
    ]
}

fn selector() -> impl Strategy<Value = Sel> {
    let leaf = || (prop::sample::select(PATHS), op()).prop_map(|(p, o)| Sel::Field(p, o));
    let tree = leaf().prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Sel::And),
            prop::collection::vec(inner.clone(), 0..3).prop_map(Sel::Or),
            prop::collection::vec(inner.clone(), 1..3).prop_map(Sel::Nor),
            inner.prop_map(|s| Sel::Not(Box::new(s))),
        ]
    });
    // A lower and an upper bound on one field (compiled as one range).
    let between = (
        prop::sample::select(PATHS),
        prop::sample::select(vec!["$gt", "$gte"]),
        scalar(),
        prop::sample::select(vec!["$lt", "$lte"]),
        scalar(),
    )
        .prop_map(|(p, lo, x, hi, y)| Sel::And(vec![Sel::Field(p, Op::Cmp(lo, x)), Sel::Field(p, Op::Cmp(hi, y))]));
    // Single conditions half the time: each operator is hit often.
    prop_oneof![2 => leaf(), 1 => between, 2 => tree]
}

// ---- the property -------------------------------------------------------

/// What the evaluator says `find` must return: matching documents by the
/// sort field (missing first when ascending), then by id.
fn expected(docs: &[Value], sel: &Sel, sort: Option<(&str, bool)>) -> Vec<String> {
    let mut hits: Vec<(String, &Value)> = docs
        .iter()
        .enumerate()
        .filter(|(_, d)| eval(sel, d))
        .map(|(i, d)| (format!("d{i:02}"), d))
        .collect();
    if let Some((path, desc)) = sort {
        hits.sort_by(|(ia, a), (ib, b)| {
            let by_key = match (lookup(a, path), lookup(b, path)) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => collate(x, y),
            };
            (if desc { by_key.reverse() } else { by_key }).then_with(|| ia.cmp(ib))
        });
    }
    hits.into_iter().map(|(id, _)| id).collect()
}

fn found(c: &Collection, sel: &Sel, sort: Option<(&str, bool)>) -> Vec<String> {
    let mut q = Query::new(&render(sel).to_string()).unwrap().limit(1000).unwrap();
    if let Some((path, desc)) = sort {
        q = q.sort(path, desc).unwrap();
    }
    c.find(&q).unwrap().into_iter().map(|d| d.id).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn find_equals_the_reference_evaluator(
        docs in prop::collection::vec(doc(), 0..32),
        selectors in prop::collection::vec((selector(), prop::option::of((prop::sample::select(PATHS), any::<bool>()))), 1..16),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = common::open(dir.path(), "props.db");
        let plain = db.create_collection("plain").unwrap();
        let indexed = db.create_collection("indexed").unwrap();
        indexed.create_index("a", &["a"]).unwrap();
        indexed.create_index("bc", &["b", "c"]).unwrap();
        indexed.create_index("ab", &["a.b"]).unwrap();
        db.batch(|batch| {
            for (i, d) in docs.iter().enumerate() {
                for c in [&plain, &indexed] {
                    batch.save(c, &format!("d{i:02}"), None, &d.to_string())?;
                }
            }
            Ok(())
        }).unwrap();
        for (sel, sort) in &selectors {
            let want = expected(&docs, sel, *sort);
            prop_assert_eq!(&found(&plain, sel, *sort), &want, "no index: {}", render(sel));
            prop_assert_eq!(&found(&indexed, sel, *sort), &want, "indexed: {}", render(sel));
        }
    }
}

#[test]
fn sort_follows_couchdb_collation() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::open(dir.path(), "collation.db");
    let c = db.default_collection().unwrap();
    c.create_index("v", &["v"]).unwrap();
    let values = [
        json!({"b": 1}),
        json!([1]),
        json!("b"),
        json!("B"),
        json!(10),
        json!(-2.5),
        json!(true),
        json!(false),
        Value::Null,
    ];
    for (i, v) in values.iter().enumerate() {
        c.save(&format!("{i}"), None, &json!({ "v": v }).to_string()).unwrap();
    }
    c.save("missing", None, "{}").unwrap();
    let q = Query::new("{}").unwrap().sort("v", false).unwrap();
    assert_eq!(c.explain(&q).unwrap().index.as_deref(), Some("v"));
    let order: Vec<String> = c.find(&q).unwrap().into_iter().map(|d| d.id).collect();
    // missing < null < false < true < numbers < strings < arrays < objects
    assert_eq!(order, ["missing", "8", "7", "6", "5", "4", "3", "2", "1", "0"]);
}
