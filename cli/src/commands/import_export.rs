//! `import` and `export`: documents as JSON lines, one object per line.
//!
//! Export writes the winning revision of every live document, sorted by
//! `_id`, as `{"_id":..,"_rev":..,<body fields, keys sorted>}`, reading the
//! collection a page at a time: memory stays flat however large it is, and
//! two databases holding the same documents export the same bytes. A
//! damaged document is skipped and named in a warning on stderr; the
//! export of every other document still succeeds.
//!
//! Import reads lines with an `_id` field (a `_rev` field, as export writes
//! it, is ignored: imported documents get new revisions on top of what the
//! database holds) and saves them in transactions of [`IMPORT_BATCH`].

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};

use indicatif::{ProgressBar, ProgressStyle};
use outpost_core::tuning::MAX_BODY_BYTES;
use outpost_core::{Collection, Database, RevId};
use serde_json::Value;

use super::docs::{each_item, live_revision, PAGE};
use super::{open_existing, open_or_create};
use crate::args::{DbArgs, ImportArgs};
use crate::error::CliError;
use crate::output::{document_json, Fields, Lines};

/// Documents saved per transaction by `import`.
pub const IMPORT_BATCH: usize = 1_000;

/// Longest line `import` reads: a body at core's limit, with room for the
/// `_id` and `_rev` fields and for escapes that canonical JSON drops.
pub const MAX_LINE_BYTES: usize = 2 * MAX_BODY_BYTES;

/// `outpost export`.
pub fn export(args: &DbArgs) -> Result<(), CliError> {
    let (_db, coll) = open_existing(args)?;
    let mut out = Lines::stdout();
    each_item(
        |after| coll.live_docs(after, PAGE),
        |doc| out.line(&document_json(doc, Fields::IdAndRev)?),
    )?;
    out.finish()
}

/// One parsed input line.
struct Line {
    number: u64,
    id: String,
    body: String,
}

/// `outpost import`.
pub fn import(args: &ImportArgs) -> Result<(), CliError> {
    let input: Box<dyn BufRead> = if args.file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = File::open(&args.file).map_err(|e| CliError::io(format!("opening {}", args.file.display()), e))?;
        Box::new(BufReader::new(file))
    };
    let (db, coll) = open_or_create(&args.db)?;
    let progress = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {pos} documents imported ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let mut imported = 0u64;
    let mut chunk = Vec::with_capacity(IMPORT_BATCH);
    let (mut input, mut buf, mut number) = (input, Vec::new(), 0u64);
    loop {
        number += 1;
        let fail = |reason: String| CliError::Import {
            line: number,
            reason,
            imported,
        };
        if !next_line(&mut *input, &mut buf).map_err(fail)? {
            break;
        }
        let text = std::str::from_utf8(&buf).map_err(|_| fail("it is not UTF-8".to_owned()))?;
        if text.trim().is_empty() {
            continue;
        }
        let (id, body) = parse_line(text).map_err(fail)?;
        chunk.push(Line { number, id, body });
        if chunk.len() == IMPORT_BATCH {
            imported += save_chunk(&db, &coll, &chunk, imported)?;
            progress.set_position(imported);
            chunk.clear();
        }
    }
    imported += save_chunk(&db, &coll, &chunk, imported)?;
    progress.finish_and_clear();
    tracing::info!(imported, collection = coll.name(), "import finished");
    Ok(())
}

/// Reads the next line into `buf`, without its line break; `Ok(false)` at
/// the end of the input. A line longer than [`MAX_LINE_BYTES`] is an error
/// before it is read whole, so a file without line breaks cannot fill the
/// memory.
fn next_line(input: &mut dyn BufRead, buf: &mut Vec<u8>) -> Result<bool, String> {
    buf.clear();
    let limit = MAX_LINE_BYTES as u64 + 1;
    let n = Read::take(input, limit)
        .read_until(b'\n', buf)
        .map_err(|e| format!("cannot read it ({e})"))?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    } else if n as u64 == limit {
        return Err(format!("it is longer than {MAX_LINE_BYTES} bytes"));
    }
    Ok(true)
}

/// Splits a line into its `_id` and its body without `_id` and `_rev`.
fn parse_line(text: &str) -> Result<(String, String), String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON ({e})"))?;
    let Value::Object(mut map) = value else {
        return Err("not a JSON object".to_owned());
    };
    let id = match map.remove("_id") {
        Some(Value::String(id)) => id,
        Some(_) => return Err("\"_id\" is not a string".to_owned()),
        None => return Err("no \"_id\" field".to_owned()),
    };
    map.remove("_rev");
    let body = Value::Object(map).to_string();
    Ok((id, body))
}

/// Saves one chunk in one transaction, each document over its current
/// revision (or as new). Returns how many were saved.
fn save_chunk(db: &Database, coll: &Collection, chunk: &[Line], imported: u64) -> Result<u64, CliError> {
    if chunk.is_empty() {
        return Ok(0);
    }
    // The current revisions are read before the transaction: a batch may
    // not call other methods of the database.
    let mut current: HashMap<&str, Option<RevId>> = HashMap::with_capacity(chunk.len());
    for line in chunk {
        if !current.contains_key(line.id.as_str()) {
            current.insert(&line.id, live_revision(coll, &line.id)?);
        }
    }
    let mut failed_at = None;
    db.batch(|b| {
        for line in chunk {
            let base = current.get(line.id.as_str()).cloned().flatten();
            match b.save(coll, &line.id, base.as_ref(), &line.body) {
                // A later line with the same id saves over this one.
                Ok(rev) => {
                    current.insert(&line.id, Some(rev));
                }
                Err(e) => {
                    failed_at = Some(line.number);
                    return Err(e);
                }
            }
        }
        Ok(())
    })
    .map_err(|e| match failed_at {
        Some(line) => CliError::Import {
            line,
            reason: crate::error::describe(&e),
            imported,
        },
        None => CliError::core("saving a batch of documents", e),
    })?;
    Ok(chunk.len() as u64)
}
