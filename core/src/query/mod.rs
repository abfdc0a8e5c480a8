//! Queries over a collection: Mango selectors compiled to SQL over the
//! winning revisions, value and full-text indexes, `explain`, and live
//! queries.
//!
//! - [`Query`]: a parsed Mango request (selector, sort, limit, skip,
//!   fields), run by [`Collection::find`].
//! - Indexes: [`Collection::create_index`], [`Collection::create_text_index`],
//!   [`Collection::indexes`], [`Collection::delete_index`]; local to this
//!   database, never replicated, kept up to date in every write transaction.
//! - [`Collection::search`]: full-text search, best match first.
//! - [`Collection::live_query`]: results delivered again whenever a change
//!   can affect them.

mod catalog;
mod collation;
mod error;
mod live;
mod path;
mod planner;
mod regex_fn;
mod request;
mod run;
mod selector;
mod sql;
mod text;

pub use catalog::{IndexInfo, IndexKind};
pub use error::QueryError;
pub use live::LiveQuery;
pub use path::FieldPath;
pub use request::Query;
pub use run::{Explain, SearchHit};

pub(crate) use catalog::drop_all as drop_indexes_of;
pub(crate) use regex_fn::register as register_functions;
