//! Queries, indexes, full-text search and live queries on real SQLite
//! files: results, typed refusals, index upkeep across every kind of write
//! (saves, deletions, purges, replication inserts, conflicts, reopening).

mod common;

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::Duration;

use common::{open, replicate};
use outpost_core::replication::{Direction, RevisionTrust};
use outpost_core::{Collection, Database, Error, IndexKind, Query, QueryError, RevId};

/// Longest wait for a live query's delivery.
const WAIT: Duration = Duration::from_secs(20);

fn ids(docs: &[outpost_core::Document]) -> Vec<String> {
    docs.iter().map(|d| d.id.clone()).collect()
}

fn find(c: &Collection, selector: &str) -> Vec<String> {
    ids(&c.find(&Query::new(selector).unwrap().limit(10_000).unwrap()).unwrap())
}

fn query_error(result: Result<impl std::fmt::Debug, Error>) -> QueryError {
    match result {
        Err(Error::Query(e)) => e,
        other => panic!("expected a query error, got {other:?}"),
    }
}

fn children(db: &Database) -> Collection {
    let c = db.default_collection().unwrap();
    let rows = [
        (
            "c1",
            r#"{"name":"Amina","age":7,"camp":"north","tags":["new","sick"],"family":{"size":4}}"#,
        ),
        (
            "c2",
            r#"{"name":"Yusuf","age":12,"camp":"north","tags":["new"],"family":{"size":2}}"#,
        ),
        (
            "c3",
            r#"{"name":"Leila","age":5,"camp":"south","tags":[],"family":{"size":4}}"#,
        ),
        ("c4", r#"{"name":"amína","age":"unknown","camp":"south"}"#),
        (
            "c5",
            r#"{"name":null,"age":9.5,"camp":"east","tags":[{"k":"x"},{"k":"y"}]}"#,
        ),
        ("c6", r#"{"age":true,"camp":"east"}"#),
    ];
    for (id, body) in rows {
        c.save(id, None, body).unwrap();
    }
    c
}

#[test]
fn selectors_match_as_mango_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), "q.db");
    let c = children(&db);
    assert_eq!(find(&c, r#"{"camp":"north"}"#), ["c1", "c2"]);
    assert_eq!(find(&c, r#"{"camp":{"$ne":"north"}}"#), ["c3", "c4", "c5", "c6"]);
    // Collation: true < numbers < strings, so $gt 6 takes "unknown" and not true.
    assert_eq!(find(&c, r#"{"age":{"$gt":6}}"#), ["c1", "c2", "c4", "c5"]);
    assert_eq!(find(&c, r#"{"age":{"$lt":6}}"#), ["c3", "c6"]);
    assert_eq!(find(&c, r#"{"age":{"$gte":5,"$lte":9.5}}"#), ["c1", "c3", "c5"]);
    assert_eq!(find(&c, r#"{"name":null}"#), ["c5"]);
    assert_eq!(find(&c, r#"{"name":{"$exists":false}}"#), ["c6"]);
    assert_eq!(find(&c, r#"{"family.size":4}"#), ["c1", "c3"]);
    assert_eq!(find(&c, r#"{"family":{"size":{"$lt":3}}}"#), ["c2"]);
    assert_eq!(find(&c, r#"{"tags":{"$all":["new","sick"]}}"#), ["c1"]);
    assert_eq!(find(&c, r#"{"tags":{"$size":0}}"#), ["c3"]);
    assert_eq!(find(&c, r#"{"tags":{"$elemMatch":{"$eq":"sick"}}}"#), ["c1"]);
    assert_eq!(find(&c, r#"{"tags":{"$elemMatch":{"k":"y"}}}"#), ["c5"]);
    assert_eq!(find(&c, r#"{"tags":["new"]}"#), ["c2"]);
    assert_eq!(find(&c, r#"{"age":{"$type":"string"}}"#), ["c4"]);
    assert_eq!(find(&c, r#"{"age":{"$in":[7,12,true]}}"#), ["c1", "c2", "c6"]);
    // $nin and $ne never match a missing field; $not does.
    assert_eq!(find(&c, r#"{"name":{"$nin":["Amina","Yusuf"]}}"#), ["c3", "c4", "c5"]);
    assert_eq!(find(&c, r#"{"$not":{"name":"Amina"}}"#), ["c2", "c3", "c4", "c5", "c6"]);
    assert_eq!(
        find(&c, r#"{"name":{"$not":{"$eq":"Amina"}}}"#),
        ["c2", "c3", "c4", "c5", "c6"]
    );
    assert_eq!(find(&c, r#"{"$or":[{"camp":"east"},{"age":5}]}"#), ["c3", "c5", "c6"]);
    assert_eq!(find(&c, r#"{"$nor":[{"camp":"east"},{"camp":"north"}]}"#), ["c3", "c4"]);
    assert_eq!(find(&c, r#"{"name":{"$regex":"^[Aa]m"}}"#), ["c1", "c4"]);
    assert_eq!(find(&c, r#"{"_id":{"$gt":"c4"}}"#), ["c5", "c6"]);
    assert_eq!(find(&c, "{}").len(), 6);

    // Sort by collation (missing first), ties by id; skip, limit, fields.
    let q = Query::from_request(
        r#"{"selector":{},"sort":[{"age":"desc"}],"skip":1,"limit":3,"fields":["name","family.size"]}"#,
    )
    .unwrap();
    let found = c.find(&q).unwrap();
    assert_eq!(ids(&found), ["c2", "c5", "c1"]);
    assert_eq!(found[2].body, r#"{"family":{"size":4},"name":"Amina"}"#);
    let sorted = c.find(&Query::new("{}").unwrap().sort("age", false).unwrap()).unwrap();
    assert_eq!(ids(&sorted), ["c6", "c3", "c1", "c5", "c2", "c4"]);
    // Deleted documents are never results; count ignores the limit.
    let rev = c.get("c1").unwrap().unwrap().rev;
    c.delete("c1", &rev).unwrap();
    assert_eq!(find(&c, r#"{"camp":"north"}"#), ["c2"]);
    let all = Query::new("{}").unwrap().limit(1).unwrap();
    assert_eq!(c.count_matching(&all).unwrap(), 5);
}

#[test]
fn bad_queries_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), "q.db");
    let c = children(&db);
    let parse = |s: &str| Query::new(s).unwrap_err();
    assert_eq!(
        parse(r#"{"a":{"$mod":[2,1]}}"#),
        QueryError::UnsupportedOperator("$mod".into())
    );
    assert_eq!(
        parse(r#"{"a":{"$near":1}}"#),
        QueryError::UnsupportedOperator("$near".into())
    );
    assert_eq!(
        parse(r#"{"$where":"1"}"#),
        QueryError::UnsupportedOperator("$where".into())
    );
    assert!(matches!(parse("[1]"), QueryError::BadQuery(_)));
    assert!(matches!(parse("{"), QueryError::BadQuery(_)));
    assert!(matches!(parse(r#"{"$and":{"a":1}}"#), QueryError::BadOperand { .. }));
    assert!(matches!(parse(r#"{"a":{"$gt":[1]}}"#), QueryError::BadOperand { .. }));
    assert!(matches!(
        parse(r#"{"a":{"$type":"date"}}"#),
        QueryError::BadOperand { .. }
    ));
    assert!(matches!(parse(r#"{"a":{"$gt":1,"b":2}}"#), QueryError::BadQuery(_)));
    assert!(matches!(parse(r#"{"a..b":1}"#), QueryError::BadField { .. }));
    // Look-around needs backtracking: refused, never run.
    assert!(matches!(parse(r#"{"a":{"$regex":"(?=x)"}}"#), QueryError::BadRegex(_)));
    let huge_regex = format!(r#"{{"a":{{"$regex":"{}"}}}}"#, "a".repeat(2000));
    assert!(matches!(parse(&huge_regex), QueryError::TooLarge { .. }));
    assert!(matches!(
        parse(r#"{"a":{"$regex":"\\w{1000}\\w{1000}"}}"#),
        QueryError::BadRegex(_)
    ));
    let huge_in = format!(r#"{{"a":{{"$in":[{}]}}}}"#, vec!["1"; 5000].join(","));
    assert_eq!(
        parse(&huge_in),
        QueryError::TooLarge {
            what: "list operand ($in, $nin, $all)",
            size: 5000,
            limit: outpost_core::tuning::MAX_IN_VALUES,
        }
    );
    let deep = format!("{}{{}}{}", r#"{"$not":"#.repeat(100), "}".repeat(100));
    assert!(matches!(
        parse(&deep),
        QueryError::TooLarge {
            what: "selector depth",
            ..
        }
    ));
    let wide = format!(
        "{{{}}}",
        (0..3000).map(|i| format!(r#""f{i}":1"#)).collect::<Vec<_>>().join(",")
    );
    assert!(matches!(parse(&wide), QueryError::TooLarge { .. }));
    assert!(matches!(
        Query::new("{}").unwrap().limit(1_000_000),
        Err(QueryError::TooLarge { what: "limit", .. })
    ));
    assert!(matches!(
        Query::from_request(r#"{"selector":{},"use_index":"x"}"#),
        Err(QueryError::BadQuery(_))
    ));
    // $text and search need a text index.
    let text = Query::new(r#"{"$text":"amina"}"#).unwrap();
    assert_eq!(query_error(c.find(&text)), QueryError::NoTextIndex);
    assert_eq!(query_error(c.search("amina", 10)), QueryError::NoTextIndex);
    assert!(matches!(
        query_error(c.create_index("bad name", &["a"])),
        QueryError::BadIndexName(_)
    ));
    assert!(matches!(
        query_error(c.create_index("x", &[])),
        QueryError::TooLarge { .. }
    ));
    c.create_index("x", &["a"]).unwrap();
    assert_eq!(
        query_error(c.create_index("x", &["b"])),
        QueryError::IndexExists("x".into())
    );
    // Nothing was harmed.
    assert_eq!(c.count().unwrap(), 6);
}

/// The same query on two collections holding the same documents, one
/// indexed: same results, and the indexed one uses its index.
fn same_with_index(indexed: &Collection, plain: &Collection, request: &str, index: &str) {
    let q = Query::from_request(request).unwrap();
    assert_eq!(
        ids(&indexed.find(&q).unwrap()),
        ids(&plain.find(&q).unwrap()),
        "{request}"
    );
    let explained = indexed.explain(&q).unwrap();
    assert_eq!(explained.index.as_deref(), Some(index), "{request}: {explained:#?}");
    assert_eq!(plain.explain(&q).unwrap().index, None);
}

#[test]
fn value_indexes_are_used_and_follow_saves_deletes_purges_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), "q.db");
    let indexed = db.create_collection("indexed").unwrap();
    let plain = db.create_collection("plain").unwrap();
    indexed.create_index("by_age", &["age"]).unwrap();
    indexed.create_index("by_camp_status", &["camp", "status"]).unwrap();
    let write_both = |id: &str, body: &str| {
        for c in [&indexed, &plain] {
            let rev = c.get(id).unwrap().filter(|d| !d.deleted).map(|d| d.rev);
            c.save(id, rev.as_ref(), body).unwrap();
        }
    };
    for i in 0..200 {
        let age = if i % 17 == 0 {
            "\"unknown\"".to_owned()
        } else {
            (i % 15).to_string()
        };
        let status = ["registered", "reunited", "missing"][i % 3];
        write_both(
            &format!("c{i:03}"),
            &format!(r#"{{"age":{age},"camp":"camp-{}","status":"{status}"}}"#, i % 4),
        );
    }
    let queries = [
        (r#"{"selector":{"age":7}}"#, "by_age"),
        (
            r#"{"selector":{"age":{"$gte":3,"$lt":6}},"sort":["age"],"limit":20}"#,
            "by_age",
        ),
        (r#"{"selector":{"camp":"camp-2","status":"missing"}}"#, "by_camp_status"),
    ];
    let check = |indexed: &Collection, plain: &Collection| {
        for (q, index) in queries {
            same_with_index(indexed, plain, q, index);
        }
    };
    check(&indexed, &plain);
    // Updates, deletions and purges move documents in and out of the index.
    for i in (0..200).step_by(3) {
        write_both(&format!("c{i:03}"), r#"{"age":7,"camp":"camp-2","status":"missing"}"#);
    }
    for i in (1..200).step_by(5) {
        for c in [&indexed, &plain] {
            let rev = c.get(&format!("c{i:03}")).unwrap().unwrap().rev;
            c.delete(&format!("c{i:03}"), &rev).unwrap();
        }
    }
    for i in (2..200).step_by(7) {
        for c in [&indexed, &plain] {
            c.purge(&format!("c{i:03}")).unwrap();
        }
    }
    check(&indexed, &plain);
    let before = ids(&indexed
        .find(&Query::new(r#"{"age":7}"#).unwrap().limit(500).unwrap())
        .unwrap());
    assert!(before.len() > 40, "{}", before.len());
    // Reopened, the indexes are still there and still used.
    db.close().unwrap();
    let db = open(dir.path(), "q.db");
    let (indexed, plain) = (db.collection("indexed").unwrap(), db.collection("plain").unwrap());
    let listed = indexed.indexes().unwrap();
    assert_eq!(
        listed.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        ["by_age", "by_camp_status"]
    );
    check(&indexed, &plain);
    let after = ids(&indexed
        .find(&Query::new(r#"{"age":7}"#).unwrap().limit(500).unwrap())
        .unwrap());
    assert_eq!(before, after);
    // Deleting an index: the query still answers, from a scan.
    assert!(indexed.delete_index("by_age").unwrap());
    assert!(!indexed.delete_index("by_age").unwrap());
    let q = Query::new(r#"{"age":7}"#).unwrap().limit(500).unwrap();
    assert_eq!(indexed.explain(&q).unwrap().index, None);
    assert_eq!(ids(&indexed.find(&q).unwrap()), after);
}

#[tokio::test]
async fn replicated_inserts_and_conflicts_are_indexed_by_their_winner() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (open(dir.path(), "a.db"), open(dir.path(), "b.db"));
    let (ca, cb) = (a.default_collection().unwrap(), b.default_collection().unwrap());
    ca.create_index("by_camp", &["camp"]).unwrap();
    ca.create_text_index("names", &["name"]).unwrap();
    for i in 0..30 {
        cb.save(
            &format!("c{i:02}"),
            None,
            &format!(r#"{{"name":"Child {i}","camp":"b"}}"#),
        )
        .unwrap();
    }
    replicate(&a, &b, Direction::Pull).await;
    assert_eq!(find(&ca, r#"{"camp":"b"}"#).len(), 30);
    assert_eq!(ca.search("child", 100).unwrap().len(), 30);
    // The same document edited on both sides: a conflict. Whichever
    // revision wins is what the indexes hold, on both replicas alike.
    let rev_a = ca.get("c00").unwrap().unwrap().rev;
    let rev_b = cb.get("c00").unwrap().unwrap().rev;
    ca.save("c00", Some(&rev_a), r#"{"name":"Amina","camp":"a-side"}"#)
        .unwrap();
    cb.save("c00", Some(&rev_b), r#"{"name":"Yusuf","camp":"b-side"}"#)
        .unwrap();
    replicate(&a, &b, Direction::Pull).await;
    let winner = ca.get("c00").unwrap().unwrap();
    let (won, lost) = if winner.body.contains("a-side") {
        (("a-side", "amina"), ("b-side", "yusuf"))
    } else {
        (("b-side", "yusuf"), ("a-side", "amina"))
    };
    assert_eq!(find(&ca, &format!(r#"{{"camp":"{}"}}"#, won.0)), ["c00"]);
    assert!(find(&ca, &format!(r#"{{"camp":"{}"}}"#, lost.0)).is_empty());
    assert_eq!(
        ids(&ca
            .search(won.1, 10)
            .unwrap()
            .into_iter()
            .map(|h| h.document)
            .collect::<Vec<_>>()),
        ["c00"]
    );
    assert!(ca.search(lost.1, 10).unwrap().is_empty());
    // A replicated deletion leaves both indexes.
    let rev = cb.get("c05").unwrap().unwrap().rev;
    cb.delete("c05", &rev).unwrap();
    replicate(&a, &b, Direction::Pull).await;
    assert!(!find(&ca, r#"{"camp":"b"}"#).contains(&"c05".to_owned()));
    assert_eq!(ca.search("child", 100).unwrap().len(), 28);
    // An unresolved conflict (as a peer's revisions leave it): the
    // winner by CouchDB's rule is indexed, the losing branch is not.
    let base: RevId = "1-aaaa".parse().unwrap();
    let (low, high): (RevId, RevId) = ("2-bbbb".parse().unwrap(), "2-cccc".parse().unwrap());
    a.batch(|batch| {
        batch.insert_revision(
            &ca,
            "k",
            std::slice::from_ref(&base),
            false,
            r#"{"camp":"k0"}"#,
            RevisionTrust::Unverified,
        )?;
        batch.insert_revision(
            &ca,
            "k",
            &[low, base.clone()],
            false,
            r#"{"camp":"k-low","name":"Low"}"#,
            RevisionTrust::Unverified,
        )?;
        batch.insert_revision(
            &ca,
            "k",
            &[high, base],
            false,
            r#"{"camp":"k-high","name":"High"}"#,
            RevisionTrust::Unverified,
        )
    })
    .unwrap();
    assert_eq!(ca.get("k").unwrap().unwrap().conflicts.len(), 1);
    assert_eq!(find(&ca, r#"{"camp":"k-high"}"#), ["k"]);
    assert!(find(&ca, r#"{"camp":{"$in":["k0","k-low"]}}"#).is_empty());
    assert_eq!(ca.search("high", 5).unwrap().len(), 1);
    assert!(ca.search("low", 5).unwrap().is_empty());
    // Indexes are local: the peer got none.
    replicate(&a, &b, Direction::Push).await;
    assert!(cb.indexes().unwrap().is_empty());
}

#[test]
fn full_text_ignores_case_and_diacritics_matches_prefixes_and_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), "q.db");
    let c = db.default_collection().unwrap();
    c.save("c1", None, r#"{"name":"Amina Diallo","notes":"found near the river"}"#)
        .unwrap();
    c.save("c2", None, r#"{"name":"AMÍNA","notes":""}"#).unwrap();
    c.save("c3", None, r#"{"name":"Yusuf","notes":"travelling with a cousin called amina, her older sister, and two other children from the same village"}"#).unwrap();
    c.save("c4", None, r#"{"name":"Aminata","notes":"alone"}"#).unwrap();
    c.create_text_index("people", &["name", "notes"]).unwrap();
    c.save("c5", None, r#"{"name":"amína","notes":"saved after the index"}"#)
        .unwrap();
    let hits = |text: &str| -> BTreeSet<String> {
        c.search(text, 100)
            .unwrap()
            .into_iter()
            .map(|h| h.document.id)
            .collect()
    };
    let expected: BTreeSet<String> = ["c1", "c2", "c3", "c5"].map(String::from).into();
    for spelling in ["Amina", "amína", "AMINA"] {
        assert_eq!(hits(spelling), expected, "{spelling}");
    }
    assert!(hits("amina").len() == 4 && !hits("amina").contains("c4"));
    assert_eq!(hits("amin*").len(), 5);
    assert_eq!(hits("amina diallo"), BTreeSet::from(["c1".to_owned()]));
    // The long note that mentions the name once ranks last.
    let ranked = c.search("amina", 10).unwrap();
    assert_eq!(ranked.last().unwrap().document.id, "c3");
    assert!(ranked.windows(2).all(|w| w[0].score <= w[1].score));
    // $text in a selector, combined with other conditions.
    let q = Query::new(r#"{"$text":"amina","name":{"$regex":"^A"}}"#).unwrap();
    assert_eq!(ids(&c.find(&q).unwrap()), ["c1", "c2"]);
    assert_eq!(c.explain(&q).unwrap().text_indexes, ["people"]);
    // FTS5 syntax typed by a user is only words.
    assert!(c.search("\"NEAR(amina", 10).is_ok());
    let rev = c.get("c2").unwrap().unwrap().rev;
    c.delete("c2", &rev).unwrap();
    c.purge("c5").unwrap();
    assert_eq!(hits("amina"), BTreeSet::from(["c1".to_owned(), "c3".to_owned()]));
    let listed = c.indexes().unwrap();
    assert_eq!(listed[0].kind, IndexKind::Text);
    assert_eq!(listed[0].fields, ["name", "notes"]);
}

#[tokio::test]
async fn live_queries_follow_local_and_replicated_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (open(dir.path(), "a.db"), open(dir.path(), "b.db"));
    let (ca, cb) = (a.default_collection().unwrap(), b.default_collection().unwrap());
    let (tx, rx) = mpsc::channel();
    let q = Query::new(r#"{"camp":"north"}"#).unwrap().sort("name", false).unwrap();
    let live = ca
        .live_query(q, move |docs| {
            let _ = tx.send(ids(docs));
        })
        .unwrap();
    let next = || rx.recv_timeout(WAIT).expect("a delivery");
    assert!(next().is_empty());
    ca.save("x1", None, r#"{"name":"B","camp":"north"}"#).unwrap();
    assert_eq!(next(), ["x1"]);
    // A change that cannot affect the results is not delivered: the next
    // delivery is the one after it.
    ca.save("x2", None, r#"{"name":"A","camp":"south"}"#).unwrap();
    cb.save("x3", None, r#"{"name":"A","camp":"north"}"#).unwrap();
    replicate(&a, &b, Direction::Pull).await;
    assert_eq!(next(), ["x3", "x1"]);
    let rev = ca.get("x1").unwrap().unwrap().rev;
    ca.save("x1", Some(&rev), r#"{"name":"B","camp":"south"}"#).unwrap();
    assert_eq!(next(), ["x3"]);
    live.stop();
    ca.save("x4", None, r#"{"name":"C","camp":"north"}"#).unwrap();
    // The worker ends when its listener is removed: the channel closes.
    assert!(matches!(
        rx.recv_timeout(WAIT),
        Err(mpsc::RecvTimeoutError::Disconnected)
    ));
}

#[test]
fn deleting_a_collection_drops_its_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), "q.db");
    let c = db.create_collection("tmp").unwrap();
    c.save("a", None, r#"{"name":"Amina"}"#).unwrap();
    c.create_index("v", &["name"]).unwrap();
    c.create_text_index("t", &["name"]).unwrap();
    db.delete_collection("tmp").unwrap();
    let c = db.create_collection("tmp").unwrap();
    assert!(c.indexes().unwrap().is_empty());
    c.save("a", None, r#"{"name":"Amina"}"#).unwrap();
    assert_eq!(query_error(c.search("amina", 5)), QueryError::NoTextIndex);
}

#[test]
fn results_are_bounded_in_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), "q.db");
    let c = db.default_collection().unwrap();
    let big = "x".repeat(7_500_000);
    db.batch(|b| {
        for i in 0..9 {
            b.save(&c, &format!("big{i}"), None, &format!(r#"{{"n":{i},"blob":"{big}"}}"#))?;
        }
        Ok(())
    })
    .unwrap();
    let all = Query::new("{}").unwrap();
    assert!(
        matches!(query_error(c.find(&all)), QueryError::TooLarge { limit, .. } if limit == outpost_core::tuning::MAX_QUERY_RESULT_BYTES)
    );
    // A smaller limit brings it back within bounds.
    assert_eq!(c.find(&all.limit(2).unwrap()).unwrap().len(), 2);
}
