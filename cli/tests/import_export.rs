//! `import` and `export` through the real binary.

mod common;

use std::sync::Arc;

use common::{json, ok, outpost_with_stdin, path};
use outpost_core::replication::{Direction, LocalEndpoint, Replicator, ReplicatorConfig};
use outpost_core::{Database, DatabaseConfig};

/// More than two pages of export and two import batches.
const DOCS: usize = 2_500;

/// JSON lines of `DOCS` documents in the given order, keys deliberately
/// unsorted and spaced.
fn lines(order: impl Iterator<Item = usize>) -> String {
    order
        .map(|i| {
            format!(
                "{{ \"zone\": \"z{}\", \"_id\": \"child-{i:05}\", \"age\": {} , \"name\": \"n\\u00e9{i}\" }}\n",
                i % 7,
                i % 18
            )
        })
        .collect()
}

fn import(db: &str, input: &str) {
    let run = outpost_with_stdin(&["import", "--db", db, "-"], input.as_bytes());
    assert!(run.output.status.success(), "{run:?}");
    assert_eq!(run.stderr, "");
}

#[test]
fn import_then_export_sorted_canonical_and_reimportable() {
    let dir = tempfile::tempdir().unwrap();
    let db = path(dir.path(), "a.db");
    let db = db.to_str().unwrap();
    let file = path(dir.path(), "in.jsonl");
    std::fs::write(&file, lines((0..DOCS).rev())).unwrap();
    ok(&["import", "--db", db, file.to_str().unwrap()]);

    let exported = ok(&["export", "--db", db]);
    let rows: Vec<&str> = exported.lines().collect();
    assert_eq!(rows.len(), DOCS);
    for (i, row) in rows.iter().enumerate() {
        assert!(
            row.starts_with(&format!("{{\"_id\":\"child-{i:05}\",\"_rev\":\"1-")),
            "{row}"
        );
        let tail = &row[row.find(",\"age\"").expect("body after _rev")..];
        assert_eq!(
            tail,
            format!(",\"age\":{},\"name\":\"né{i}\",\"zone\":\"z{}\"}}", i % 18, i % 7)
        );
    }

    // A reader that stops early (`outpost export | head -1`) is not a failure.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(["export", "--db", db])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut first).unwrap();
    assert_eq!(first.trim_end(), rows[0]);
    let closed = child.wait_with_output().unwrap();
    assert!(closed.status.success(), "{closed:?}");
    assert_eq!(String::from_utf8_lossy(&closed.stderr), "");

    // Deleted documents are not exported.
    ok(&["delete", "--db", db, "child-00003"]);
    let after_delete = ok(&["export", "--db", db]);
    assert_eq!(after_delete.lines().count(), DOCS - 1);
    assert!(!after_delete.contains("child-00003"));

    // Export's output imports again (its _rev is ignored) into another database.
    let copy = path(dir.path(), "copy.db");
    let copy = copy.to_str().unwrap();
    import(copy, &after_delete);
    assert_eq!(ok(&["export", "--db", copy]), after_delete);

    // Importing over existing documents updates them.
    import(copy, "{\"_id\":\"child-00001\",\"age\":99}\n");
    let updated = json(&ok(&["get", "--db", copy, "child-00001"]));
    assert_eq!(updated["age"], 99);
    assert!(updated["_rev"].as_str().unwrap().starts_with("2-"));
}

#[test]
fn export_is_byte_identical_for_the_same_data_written_in_different_orders() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (path(dir.path(), "a.db"), path(dir.path(), "b.db"));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    import(a, &lines(0..DOCS));
    // Reverse order, the second half first, in two runs.
    import(b, &lines((DOCS / 2..DOCS).rev()));
    import(b, &lines((0..DOCS / 2).rev()));

    // A third database that got the data through replication.
    let c_path = path(dir.path(), "c.db");
    {
        let source = Database::open(a, DatabaseConfig::default()).unwrap();
        let target = Database::open(&c_path, DatabaseConfig::default()).unwrap();
        let config = ReplicatorConfig {
            direction: Direction::Push,
            ..Default::default()
        };
        let push = Replicator::new(source.clone(), Arc::new(LocalEndpoint::new(target.clone())), config).unwrap();
        tokio::runtime::Runtime::new().unwrap().block_on(push.run()).unwrap();
    }

    let from_a = ok(&["export", "--db", a]);
    assert_eq!(from_a.lines().count(), DOCS);
    assert_eq!(from_a, ok(&["export", "--db", b]));
    assert_eq!(from_a, ok(&["export", "--db", c_path.to_str().unwrap()]));
}

/// A row damaged in the file (a generation that no longer parses, as an
/// overflowing edit used to write) is skipped and named on stderr; every
/// other document is exported and the command succeeds.
#[test]
fn export_skips_and_reports_a_damaged_row() {
    let dir = tempfile::tempdir().unwrap();
    let db = path(dir.path(), "a.db");
    let db = db.to_str().unwrap();
    import(
        db,
        "{\"_id\":\"a\",\"n\":1}\n{\"_id\":\"b\",\"n\":2}\n{\"_id\":\"c\",\"n\":3}\n",
    );
    let raw = rusqlite::Connection::open(db).unwrap();
    let damaged = raw
        .execute("UPDATE docs SET rev = '10000000000000000000-ab' WHERE id = 'b'", [])
        .unwrap();
    assert_eq!(damaged, 1);
    drop(raw);

    let run = common::outpost(&["export", "--db", db]);
    assert!(run.output.status.success(), "{run:?}");
    let ids: Vec<String> = run
        .stdout
        .lines()
        .map(|l| json(l)["_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["a", "c"]);
    assert!(
        run.stderr.contains("skipped 1 damaged document(s): \"b\""),
        "{}",
        run.stderr
    );
}
