//! Revision ids and revision trees: the history of each document.

mod codec;
mod rev_id;
mod tree;
mod trust;

pub(crate) use codec::{decode_tree, encode_tree};
pub use rev_id::RevId;
pub(crate) use tree::{winner_order, RESOLVED_TOMBSTONE_BODY};
pub use tree::{RevNode, RevTree};
pub(crate) use trust::check_revision;
pub use trust::RevisionTrust;
