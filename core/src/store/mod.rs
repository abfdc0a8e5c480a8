//! The local document store: one SQLite file holding collections of JSON
//! documents with revision trees, a changes feed and local documents.

mod collection;
mod database;
mod document;
mod names;
mod notify;
mod schema;
mod writer;

pub use collection::Collection;
pub use database::{Database, DatabaseConfig, Durability};
pub use document::{Change, ChangesBatch, ConflictedDoc, Document, Page};
pub use notify::ChangeEvent;
pub(crate) use writer::load_doc_or_skip;
pub use writer::Batch;

/// Name of the collection every database has.
pub const DEFAULT_COLLECTION: &str = "_default";
