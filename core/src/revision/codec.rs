//! The stored form of a `RevTree`: a compact, versioned binary encoding.
//!
//! ```text
//! tree  := VERSION(u8 = 1) count(varint) node*
//! node  := generation(varint) hash(str8) flags(u8) [parent_hash(str8)] [body(str32)]
//! flags := 1 deleted | 2 has parent | 4 body inline | 8 body is the row's winner body
//!        | 16 foreign id (stored unverified; trees written before it have none)
//! ```
//! The winner's body lives in its own column, so reading a document never
//! decodes the tree. Decoding checks everything: a file can be damaged.

use super::{RevId, RevNode, RevTree};

const VERSION: u8 = 1;
const DELETED: u8 = 1;
const HAS_PARENT: u8 = 2;
const BODY_INLINE: u8 = 4;
const BODY_IS_WINNER: u8 = 8;
const FOREIGN: u8 = 16;
/// Every flag this build knows: a tree with another is refused, not misread.
const KNOWN_FLAGS: u8 = DELETED | HAS_PARENT | BODY_INLINE | BODY_IS_WINNER | FOREIGN;

/// Encodes `tree`, leaving out the body of `winner` (stored beside it).
pub(crate) fn encode_tree(tree: &RevTree, winner: &RevId) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + tree.nodes().len() * 48);
    out.push(VERSION);
    put_varint(&mut out, tree.nodes().len() as u64);
    for node in tree.nodes() {
        put_varint(&mut out, node.rev.generation());
        put_str8(&mut out, node.rev.hash());
        let is_winner = &node.rev == winner && node.body.is_some();
        let mut flags = 0;
        if node.deleted {
            flags |= DELETED;
        }
        if node.parent.is_some() {
            flags |= HAS_PARENT;
        }
        if node.foreign {
            flags |= FOREIGN;
        }
        if is_winner {
            flags |= BODY_IS_WINNER;
        } else if node.body.is_some() {
            flags |= BODY_INLINE;
        }
        out.push(flags);
        if let Some(parent) = &node.parent {
            put_str8(&mut out, parent.hash());
        }
        if let (Some(body), false) = (&node.body, is_winner) {
            put_varint(&mut out, body.len() as u64);
            out.extend_from_slice(body.as_bytes());
        }
    }
    out
}

/// Decodes a tree written by [`encode_tree`], putting `winner_body` back.
pub(crate) fn decode_tree(bytes: &[u8], winner_body: &str) -> Result<RevTree, String> {
    let mut r = Reader { bytes, pos: 0 };
    let version = r.u8()?;
    if version != VERSION {
        return Err(format!("unknown revision tree version {version}"));
    }
    let count = r.varint()?;
    if count == 0 || count > bytes.len() as u64 {
        return Err(format!("bad revision count {count}"));
    }
    let mut nodes: Vec<RevNode> = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let generation = r.varint()?;
        let rev = RevId::new(generation, r.str8()?).map_err(|e| e.to_string())?;
        let flags = r.u8()?;
        if flags & !KNOWN_FLAGS != 0 {
            return Err(format!("unknown revision flags {flags:#x}"));
        }
        let parent = if flags & HAS_PARENT != 0 {
            let hash = r.str8()?;
            Some(RevId::new(generation.saturating_sub(1), hash).map_err(|e| e.to_string())?)
        } else {
            None
        };
        let body = if flags & BODY_INLINE != 0 {
            let len = r.varint()?;
            Some(r.str(len)?.to_owned())
        } else if flags & BODY_IS_WINNER != 0 {
            Some(winner_body.to_owned())
        } else {
            None
        };
        if nodes.last().is_some_and(|prev| prev.rev >= rev) {
            return Err("revisions out of order".into());
        }
        nodes.push(RevNode {
            rev,
            parent,
            deleted: flags & DELETED != 0,
            body,
            foreign: flags & FOREIGN != 0,
        });
    }
    if r.pos != bytes.len() {
        return Err("trailing bytes after the revision tree".into());
    }
    let tree = RevTree::from_sorted_nodes(nodes);
    if tree.leaves().iter().any(|leaf| leaf.body.is_none()) {
        return Err("a leaf revision has no body".into());
    }
    Ok(tree)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str8(out: &mut Vec<u8>, s: &str) {
    // Revision hashes are at most MAX_REV_HASH_CHARS (64) ASCII characters.
    out.push(s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or("truncated revision tree")?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn str(&mut self, len: u64) -> Result<&'a str, String> {
        let len = usize::try_from(len).map_err(|_| "length overflow")?;
        std::str::from_utf8(self.take(len)?).map_err(|_| "invalid UTF-8 in revision tree".into())
    }

    fn str8(&mut self) -> Result<&'a str, String> {
        let len = self.u8()?;
        self.str(u64::from(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_unknown_flags() {
        let mut tree = RevTree::default();
        let a = tree.add_child(None, false, r#"{"a":1}"#.into()).unwrap();
        let mut bytes = encode_tree(&tree, &a);
        // VERSION, count, generation, hash length + hash, then the flags.
        let flags_at = 3 + 1 + a.hash().len();
        bytes[flags_at] |= 0x80;
        assert!(decode_tree(&bytes, r#"{"a":1}"#)
            .unwrap_err()
            .contains("unknown revision flags"));
    }

    #[test]
    fn round_trips_and_rejects_every_truncation() {
        let mut tree = RevTree::default();
        let a = tree.add_child(None, false, r#"{"a":1}"#.into()).unwrap();
        let b = tree.add_child(Some(&a), false, r#"{"b":1}"#.into()).unwrap();
        let c = RevId::compute(Some(&a), true, "{}", &[]).unwrap();
        tree.insert(&[c.clone(), a], true, "{}".into()).unwrap();
        assert!(tree.mark_foreign(&c));
        let bytes = encode_tree(&tree, &b);
        let decoded = decode_tree(&bytes, r#"{"b":1}"#).unwrap();
        assert_eq!(decoded, tree);
        assert!(decoded.get(&c).unwrap().foreign && !decoded.get(&b).unwrap().foreign);
        for cut in 0..bytes.len() {
            assert!(decode_tree(&bytes[..cut], "{}").is_err(), "cut at {cut} accepted");
        }
        let mut bad = bytes.clone();
        bad[0] = 9;
        assert!(decode_tree(&bad, "{}").is_err());
    }
}
