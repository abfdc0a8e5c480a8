//! Blobs (photos, files) from the command line: `attach`, `attachment`,
//! `attachments`, and `compact`. Bytes are streamed both ways, never held
//! in memory whole.

use std::fs::File;
use std::io::Write;
use std::time::Duration;

use outpost_core::{BlobRef, NamedBlob};
use serde_json::{Map, Value};

use super::docs::{live_revision, parse_rev};
use super::{open_existing, open_or_create};
use crate::args::{AttachArgs, AttachmentArgs, AttachmentsArgs, CompactArgs, DbArgs};
use crate::error::CliError;
use crate::output::{json_string, print_line, Lines};

/// `outpost attach`: stores FILE as a blob and saves the document with the
/// top-level field NAME naming it (added or replaced); prints the new
/// revision. A missing document is created with just that field.
pub fn attach(args: &AttachArgs) -> Result<(), CliError> {
    let file = File::open(&args.file).map_err(|e| CliError::io(format!("opening {}", args.file.display()), e))?;
    let (_db, coll) = open_or_create(&args.db)?;
    let base = match &args.rev {
        Some(rev) => Some(parse_rev(rev)?),
        None => live_revision(&coll, &args.id)?,
    };
    let mut body: Map<String, Value> = match &base {
        None => Map::new(),
        Some(rev) => match coll
            .get_revision(&args.id, rev)
            .map_err(|e| CliError::core(format!("reading {:?}", args.id), e))?
        {
            Some(doc) => serde_json::from_str(&doc.body).map_err(|e| {
                CliError::core(
                    format!("reading {:?}", args.id),
                    outpost_core::Error::Corrupt(e.to_string()),
                )
            })?,
            // Not a current revision: the save below refuses it as a conflict.
            None => Map::new(),
        },
    };
    let blob = coll
        .save_blob(file, args.content_type.as_deref())
        .map_err(|e| CliError::core(format!("storing {}", args.file.display()), e))?;
    body.insert(args.name.clone(), blob.to_json());
    let body = Value::Object(body).to_string();
    let rev = coll
        .save(&args.id, base.as_ref(), &body)
        .map_err(|e| CliError::core(format!("saving {:?}", args.id), e))?;
    print_line(&rev.to_string())
}

/// The blob NAME of the winning revision of ID: a top-level field, or a
/// JSON pointer (`/photos/0`) for a nested one.
fn find(args: &AttachmentArgs, blobs: Vec<NamedBlob>) -> Result<BlobRef, CliError> {
    blobs
        .into_iter()
        .find(|b| b.name == args.name)
        .map(|b| b.blob)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "document {:?} has no blob {:?} (run `outpost attachments` to list them)",
                args.id, args.name
            ))
        })
}

/// `outpost attachment`: the blob's bytes to stdout, streamed.
pub fn attachment(args: &AttachmentArgs) -> Result<(), CliError> {
    let (_db, coll) = open_existing(&args.db)?;
    let blobs = coll
        .blobs(&args.id)
        .map_err(|e| CliError::core(format!("reading {:?}", args.id), e))?;
    let blob = find(args, blobs)?;
    let mut reader = coll
        .blob(&blob.digest)
        .map_err(|e| CliError::core(format!("opening blob {}", blob.digest), e))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match std::io::copy(&mut reader, &mut out).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        // A reader that stops early (`| head -c 10`) is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::io("writing the blob to stdout", e)),
    }
}

/// `outpost attachments`: one JSON line per blob of the winning revision:
/// `{"content_type":..,"digest":..,"length":..,"name":..}`.
pub fn attachments(args: &AttachmentsArgs) -> Result<(), CliError> {
    let (_db, coll) = open_existing(&args.db)?;
    let blobs = coll
        .blobs(&args.id)
        .map_err(|e| CliError::core(format!("reading {:?}", args.id), e))?;
    let mut out = Lines::stdout();
    for b in blobs {
        let content_type = b.blob.content_type.as_deref().map_or("null".to_owned(), json_string);
        out.line(&format!(
            "{{\"content_type\":{content_type},\"digest\":{},\"length\":{},\"name\":{}}}",
            json_string(&b.blob.digest.to_string()),
            b.blob.length,
            json_string(&b.name)
        ))?;
    }
    out.finish()
}

/// `outpost compact`: removes blobs no stored revision names and leftover
/// temporary files; prints one line per blob removed, then a summary.
pub fn compact(args: &CompactArgs) -> Result<(), CliError> {
    let db_args = DbArgs {
        db: args.db.clone(),
        collection: outpost_core::DEFAULT_COLLECTION.to_owned(),
    };
    let (db, _) = open_existing(&db_args)?;
    let report = db
        .compact_with_grace(Duration::from_secs(args.grace_secs))
        .map_err(|e| CliError::core("compacting", e))?;
    let mut out = Lines::stdout();
    for (digest, bytes) in &report.blobs_removed {
        out.line(&format!("removed blob {digest} ({bytes} bytes)"))?;
    }
    out.line(&format!(
        "removed {} blobs ({} bytes), {} temporary files, {} partial transfers",
        report.blobs_removed.len(),
        report.blob_bytes_removed(),
        report.temp_files_removed,
        report.partial_files_removed
    ))?;
    out.finish()
}
