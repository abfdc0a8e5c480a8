//! `outpost find`, `outpost index ...` and `outpost search`: Mango queries,
//! indexes and full-text search on a database file. Documents print as
//! `export` prints them: one JSON line each, `_id` and `_rev` first.

use outpost_core::{IndexKind, Query};
use serde_json::json;

use super::open_existing;
use crate::args::{FindArgs, IndexCommand, SearchArgs};
use crate::error::CliError;
use crate::output::{document_json, Fields, Lines};

/// `outpost find`.
pub fn find(args: &FindArgs) -> Result<(), CliError> {
    let query = build_query(args)?;
    let (_db, coll) = open_existing(&args.db)?;
    let mut out = Lines::stdout();
    if args.explain {
        let plan = coll
            .explain(&query)
            .map_err(|e| CliError::core("explaining the query", e))?;
        let line = json!({
            "index": plan.index,
            "text_indexes": plan.text_indexes,
            "plan": plan.plan,
            "sql": plan.sql,
        });
        out.line(&line.to_string())?;
        return out.finish();
    }
    let docs = coll.find(&query).map_err(|e| CliError::core("running the query", e))?;
    for doc in &docs {
        out.line(&document_json(doc, Fields::IdAndRev)?)?;
    }
    out.finish()
}

/// The query of `outpost find`'s arguments.
fn build_query(args: &FindArgs) -> Result<Query, CliError> {
    let usage = |e: outpost_core::QueryError| CliError::Usage(e.to_string());
    let mut query = Query::new(&args.selector).map_err(usage)?;
    for sort in &args.sort {
        let (field, descending) = match sort.rsplit_once(':') {
            Some((field, "desc")) => (field, true),
            Some((field, "asc")) => (field, false),
            _ => (sort.as_str(), false),
        };
        query = query.sort(field, descending).map_err(usage)?;
    }
    query = query.limit(args.limit).map_err(usage)?.skip(args.skip);
    if !args.fields.is_empty() {
        let fields: Vec<&str> = args.fields.iter().map(String::as_str).collect();
        query = query.fields(&fields).map_err(usage)?;
    }
    Ok(query)
}

/// `outpost index create|create-text|list|delete`.
pub fn index(command: &IndexCommand) -> Result<(), CliError> {
    let mut out = Lines::stdout();
    match command {
        IndexCommand::Create(args) | IndexCommand::CreateText(args) => {
            let (_db, coll) = open_existing(&args.db)?;
            let fields: Vec<&str> = args.fields.iter().map(String::as_str).collect();
            let created = match command {
                IndexCommand::CreateText(_) => coll.create_text_index(&args.name, &fields),
                _ => coll.create_index(&args.name, &fields),
            };
            created.map_err(|e| CliError::core(format!("creating the index {:?}", args.name), e))?;
            out.line(&format!("created index {}", args.name))?;
        }
        IndexCommand::List(db) => {
            let (_db, coll) = open_existing(db)?;
            for index in coll.indexes().map_err(|e| CliError::core("listing the indexes", e))? {
                let kind = match index.kind {
                    IndexKind::Value => "value",
                    IndexKind::Text => "text",
                };
                out.line(&json!({"name": index.name, "kind": kind, "fields": index.fields}).to_string())?;
            }
        }
        IndexCommand::Delete(args) => {
            let (_db, coll) = open_existing(&args.db)?;
            let deleted = coll
                .delete_index(&args.name)
                .map_err(|e| CliError::core(format!("deleting the index {:?}", args.name), e))?;
            if !deleted {
                return Err(CliError::core(
                    "deleting an index",
                    outpost_core::QueryError::IndexNotFound(args.name.clone()).into(),
                ));
            }
            out.line(&format!("deleted index {}", args.name))?;
        }
    }
    out.finish()
}

/// `outpost search`.
pub fn search(args: &SearchArgs) -> Result<(), CliError> {
    let (_db, coll) = open_existing(&args.db)?;
    let hits = coll
        .search(&args.text, args.limit)
        .map_err(|e| CliError::core("searching", e))?;
    let mut out = Lines::stdout();
    for hit in &hits {
        out.line(&document_json(&hit.document, Fields::IdAndRev)?)?;
    }
    out.finish()
}
