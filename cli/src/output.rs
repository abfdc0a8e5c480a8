//! How documents are printed: one JSON object per document, Outpost's
//! fields (`_id`, `_rev`, ...) first, then the body's fields in canonical
//! order (keys sorted by UTF-8 bytes, no whitespace), so that the same data
//! always prints as the same bytes.

use std::io::{BufWriter, StdoutLock, Write};

use outpost_core::{Document, Error as CoreError, RevId};

use crate::error::CliError;

/// Which of Outpost's fields go before the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fields {
    /// `_id` and `_rev` only (export: the winning revision's data).
    IdAndRev,
    /// Also `_deleted` and `_conflicts` when they apply (get).
    All,
}

/// A document as one line of JSON.
///
/// # Errors
/// A [`CliError::Core`] if the stored body is not a JSON object (it always
/// is unless the file was damaged).
pub fn document_json(doc: &Document, fields: Fields) -> Result<String, CliError> {
    let inner = doc
        .body
        .strip_prefix('{')
        .and_then(|b| b.strip_suffix('}'))
        .ok_or_else(|| {
            let why = format!("document {:?}: the stored body is not a JSON object", doc.id);
            CliError::core("reading the database", CoreError::Corrupt(why))
        })?;
    let mut out = String::with_capacity(doc.body.len() + doc.id.len() + 64);
    out.push_str("{\"_id\":");
    out.push_str(&json_string(&doc.id));
    out.push_str(",\"_rev\":");
    out.push_str(&json_string(&doc.rev.to_string()));
    if fields == Fields::All {
        if doc.deleted {
            out.push_str(",\"_deleted\":true");
        }
        if !doc.conflicts.is_empty() {
            out.push_str(",\"_conflicts\":");
            out.push_str(&rev_list(&doc.conflicts));
        }
    }
    if !inner.is_empty() {
        out.push(',');
        out.push_str(inner);
    }
    out.push('}');
    Ok(out)
}

/// Revisions as a JSON array of strings.
pub fn rev_list(revs: &[RevId]) -> String {
    let revs: Vec<String> = revs.iter().map(|r| json_string(&r.to_string())).collect();
    format!("[{}]", revs.join(","))
}

/// A string as a JSON string literal.
pub fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// Buffered lines to stdout. A closed pipe (`outpost export | head`) ends
/// the output quietly: see [`is_broken_pipe`].
pub struct Lines {
    out: BufWriter<StdoutLock<'static>>,
}

impl Lines {
    /// Lines to this process's stdout.
    pub fn stdout() -> Lines {
        Lines {
            out: BufWriter::new(std::io::stdout().lock()),
        }
    }

    /// Writes one line.
    pub fn line(&mut self, text: &str) -> Result<(), CliError> {
        writeln!(self.out, "{text}").map_err(|e| CliError::io("writing to stdout", e))
    }

    /// Writes out what is buffered, so a reader sees the lines so far.
    pub fn flush(&mut self) -> Result<(), CliError> {
        self.out.flush().map_err(|e| CliError::io("writing to stdout", e))
    }

    /// Writes out what is buffered, at the end.
    pub fn finish(mut self) -> Result<(), CliError> {
        self.flush()
    }
}

/// Prints one line on stdout; unlike `println!`, a closed stdout is an
/// error to report, not a panic.
pub fn print_line(text: &str) -> Result<(), CliError> {
    let mut out = Lines::stdout();
    out.line(text)?;
    out.finish()
}

/// Whether `e` is a write to a pipe whose reader went away, which is not a
/// failure of the command.
pub fn is_broken_pipe(e: &CliError) -> bool {
    matches!(e, CliError::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
}
