//! Single documents: `put`, `get`, `delete`, and `conflicts` (every
//! document whose revision tree has more than one live leaf).

use std::io::Read;

use outpost_core::tuning::MAX_BODY_BYTES;
use outpost_core::{Collection, Page, RevId};

use super::{open_existing, open_or_create};
use crate::args::{DbArgs, DeleteArgs, GetArgs, PutArgs};
use crate::error::CliError;
use crate::output::{document_json, json_string, print_line, rev_list, Fields, Lines};

/// `outpost put`: saves over `--rev`, or over the current revision, or
/// creates the document; prints the new revision.
pub fn put(args: &PutArgs) -> Result<(), CliError> {
    let body = if args.json == "-" {
        let mut body = String::new();
        // One byte over core's limit is enough for core to refuse it.
        std::io::stdin()
            .take(MAX_BODY_BYTES as u64 + 1)
            .read_to_string(&mut body)
            .map_err(|e| CliError::io("reading the body from stdin", e))?;
        body
    } else {
        args.json.clone()
    };
    let (_db, coll) = open_or_create(&args.db)?;
    let base = match &args.rev {
        Some(rev) => Some(parse_rev(rev)?),
        None => live_revision(&coll, &args.id)?,
    };
    let rev = coll
        .save(&args.id, base.as_ref(), &body)
        .map_err(|e| CliError::core(format!("saving {:?}", args.id), e))?;
    print_line(&rev.to_string())
}

/// `outpost get`: the winning revision as JSON, deleted ones too.
pub fn get(args: &GetArgs) -> Result<(), CliError> {
    let (_db, coll) = open_existing(&args.db)?;
    let doc = coll
        .get(&args.id)
        .map_err(|e| CliError::core(format!("reading {:?}", args.id), e))?
        .ok_or_else(|| no_document(&args.id, &args.db))?;
    print_line(&document_json(&doc, Fields::All)?)
}

/// `outpost delete`: writes a tombstone over `--rev` or the current
/// revision; prints the tombstone's revision.
pub fn delete(args: &DeleteArgs) -> Result<(), CliError> {
    let (_db, coll) = open_existing(&args.db)?;
    let base = match &args.rev {
        Some(rev) => parse_rev(rev)?,
        None => match coll
            .get(&args.id)
            .map_err(|e| CliError::core(format!("reading {:?}", args.id), e))?
        {
            None => return Err(no_document(&args.id, &args.db)),
            Some(doc) if doc.deleted => return Err(CliError::AlreadyDeleted(args.id.clone())),
            Some(doc) => doc.rev,
        },
    };
    let rev = coll
        .delete(&args.id, &base)
        .map_err(|e| CliError::core(format!("deleting {:?}", args.id), e))?;
    print_line(&rev.to_string())
}

/// `outpost conflicts`: one line per conflicted document, in id order:
/// `{"_id":..,"_rev":<winner>,"_conflicts":[<losing live leaves>]}`.
/// Bodies are never loaded, so memory stays within one document's tree.
pub fn conflicts(args: &DbArgs) -> Result<(), CliError> {
    let (_db, coll) = open_existing(args)?;
    let mut out = Lines::stdout();
    each_item(
        |after| coll.conflicted_docs(after, PAGE),
        |doc| {
            out.line(&format!(
                "{{\"_id\":{},\"_rev\":{},\"_conflicts\":{}}}",
                json_string(&doc.id),
                json_string(&doc.rev.to_string()),
                rev_list(&doc.conflicts)
            ))
        },
    )?;
    out.finish()
}

/// Documents read per page by `conflicts` and `export`.
pub(crate) const PAGE: usize = 1_000;

/// Calls `f` on every item of the pages `read` gives (each read from the
/// last id of the one before), then warns on stderr about the damaged
/// documents that were skipped: one damaged row never stops the walk.
pub(crate) fn each_item<T>(
    mut read: impl FnMut(Option<&str>) -> outpost_core::Result<Page<T>>,
    mut f: impl FnMut(&T) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let (mut after, mut damaged) = (None::<String>, Vec::new());
    loop {
        let page = read(after.as_deref()).map_err(|e| CliError::core("reading documents", e))?;
        page.items.iter().try_for_each(&mut f)?;
        damaged.extend(page.damaged);
        match page.last_id {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    if !damaged.is_empty() {
        let ids: Vec<String> = damaged.iter().map(|id| json_string(id)).collect();
        eprintln!(
            "outpost: warning: skipped {} damaged document(s): {}",
            damaged.len(),
            ids.join(", ")
        );
    }
    Ok(())
}

/// The current revision to save over: the winner if it is live, `None` if
/// the document is new or deleted (a save then creates it again).
pub(crate) fn live_revision(coll: &Collection, id: &str) -> Result<Option<RevId>, CliError> {
    let doc = coll.get(id).map_err(|e| CliError::core(format!("reading {id:?}"), e))?;
    Ok(doc.filter(|d| !d.deleted).map(|d| d.rev))
}

pub(crate) fn parse_rev(text: &str) -> Result<RevId, CliError> {
    text.parse()
        .map_err(|e: outpost_core::InvalidInput| CliError::Usage(format!("--rev: {e}")))
}

fn no_document(id: &str, db: &DbArgs) -> CliError {
    CliError::NoDocument {
        id: id.to_owned(),
        collection: db.collection.clone(),
    }
}
