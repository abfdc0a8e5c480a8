//! Mistakes give one line `outpost: ...` on stderr, a non-zero exit and
//! never a panic, and change nothing.

mod common;

use common::{fails, ok, one_line_failure, outpost_with_stdin, path};

#[test]
fn bad_json_is_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = path(dir.path(), "a.db");
    let db = db.to_str().unwrap();
    let line = fails(&["put", "--db", db, "x", "{not json"]);
    assert!(line.contains("not valid JSON"), "{line}");
    assert!(fails(&["put", "--db", db, "x", "[1,2]"]).contains("JSON object"));
    assert!(fails(&["put", "--db", db, "x", r#"{"_secret":1}"#]).contains("reserved"));
    assert!(fails(&["get", "--db", db, "x"]).contains("no document \"x\""));
    assert!(fails(&["put", "--db", db, "--rev", "banana", "x", "{}"]).contains("banana"));
}

#[test]
fn a_bad_import_line_is_named_and_its_batch_is_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let db = path(dir.path(), "a.db");
    let db = db.to_str().unwrap();
    let input = "{\"_id\":\"a\",\"v\":1}\n\n{\"_id\":\"b\",\"v\":2}\n{\"_id\":\"c\",\"v\":\n";
    let run = outpost_with_stdin(&["import", "--db", db, "-"], input.as_bytes());
    let line = one_line_failure(&run);
    assert!(line.contains("line 4"), "{line}");
    assert!(line.contains("not valid JSON"), "{line}");
    assert_eq!(ok(&["export", "--db", db]), "", "the failed batch left nothing");

    let run = outpost_with_stdin(&["import", "--db", db, "-"], b"{\"v\":1}\n");
    assert!(one_line_failure(&run).contains("line 1: no \"_id\""));
    // Refused by the store, not the parser: still named by line.
    let run = outpost_with_stdin(&["import", "--db", db, "-"], b"{\"_id\":\"ok\"}\n{\"_id\":\"_bad\"}\n");
    assert!(one_line_failure(&run).contains("line 2"));
    let run = outpost_with_stdin(&["import", "--db", db, "-"], b"{\"_id\":\"a\"}\n{\"_id\":\"\xff\"}\n");
    assert!(one_line_failure(&run).contains("line 2: it is not UTF-8"));
    // A file without line breaks is refused before it is read whole.
    let endless = vec![b' '; 2 * outpost_core::tuning::MAX_BODY_BYTES + 10];
    let run = outpost_with_stdin(&["import", "--db", db, "-"], &endless);
    assert!(one_line_failure(&run).contains("line 1: it is longer than"));
    assert_eq!(ok(&["export", "--db", db]), "");
}

#[test]
fn a_missing_database_is_reported_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = path(dir.path(), "missing.db");
    let missing = missing.to_str().unwrap();
    for args in [
        vec!["get", "--db", missing, "x"],
        vec!["export", "--db", missing],
        vec!["conflicts", "--db", missing],
        vec!["delete", "--db", missing, "x"],
    ] {
        let line = fails(&args);
        assert!(line.contains("no database at"), "{line}");
        assert!(line.contains(missing), "{line}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no file was created");

    let not_a_db = path(dir.path(), "notes.txt");
    std::fs::write(&not_a_db, "shopping list\n".repeat(100)).unwrap();
    let line = fails(&["get", "--db", not_a_db.to_str().unwrap(), "x"]);
    assert!(line.contains("not a database"), "{line}");
    assert_eq!(
        std::fs::read_to_string(&not_a_db).unwrap(),
        "shopping list\n".repeat(100)
    );
}

#[test]
fn bad_arguments_are_one_line_with_exit_code_2() {
    for args in [
        vec!["frobnicate"],
        vec!["get", "--db"],
        vec!["put", "--db", "x.db", "only-an-id"],
        vec!["bench", "--docs", "0"],
        vec!["bench", "--docs", "lots"],
        vec!["bench", "--scenario", "warp-drive"],
        vec!["bench", "--doc-size", "10"],
    ] {
        let run = common::outpost(&args);
        let line = one_line_failure(&run);
        assert_eq!(run.output.status.code(), Some(2), "{args:?}: {line}");
    }
    assert!(fails(&["frobnicate"]).contains("frobnicate"));
}
