//! What a log line may say about a peer: peer-controlled text escaped and
//! cut short ([`log_safe`]), and user names replaced by a short keyed hash
//! ([`user_tag`]), since people type passwords into the
//! user field.
//!
//! A peer chooses the bytes of its user name, request path and error text;
//! written raw, a newline forges a log line and an escape sequence rewrites
//! the operator's terminal.

use std::fmt;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::tuning::MAX_LOGGED_PEER_CHARS;

/// Peer-controlled text, displayed escaped and at most
/// [`MAX_LOGGED_PEER_CHARS`] characters long.
pub(crate) struct LogSafe<'a>(&'a str);

/// `text` for a log line: control and invisible formatting characters,
/// quotes and backslashes escaped (`\n`, `\"`, `\u{1b}`), anything past
/// [`MAX_LOGGED_PEER_CHARS`] characters cut and its size noted.
pub(crate) fn log_safe(text: &str) -> LogSafe<'_> {
    LogSafe(text)
}

impl fmt::Display for LogSafe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.char_indices();
        for (_, c) in chars.by_ref().take(MAX_LOGGED_PEER_CHARS) {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if hides_text(c) => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        if let Some((cut, _)) = chars.next() {
            write!(f, "...(+{} bytes)", self.0.len() - cut)?;
        }
        Ok(())
    }
}

/// Whether `c` must be shown escaped rather than written to a log or a
/// terminal: control characters (C0, DEL, C1) and the invisible ones that
/// reorder or hide text (bidirectional overrides, zero-width characters,
/// BOM).
///
/// ```
/// use outpost_core::net::hides_text;
/// assert!(hides_text('\u{1b}') && hides_text('\u{202e}'));
/// assert!(!hides_text('é'));
/// ```
pub fn hides_text(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}'
        )
}

/// A keyed digest of a user name: the same name gives the same digest
/// within one run of the process, but the key is a random secret made at
/// start, so a digest cannot be reversed by trying names or passwords. The
/// login throttle keys its per-user records by it.
pub(crate) fn user_digest(username: &str) -> [u8; 16] {
    static KEY: OnceLock<[u8; 16]> = OnceLock::new();
    let key = KEY.get_or_init(|| *uuid::Uuid::new_v4().as_bytes());
    let digest = Sha256::new()
        .chain_update(key)
        .chain_update(username.as_bytes())
        .finalize();
    let mut short = [0u8; 16];
    short.copy_from_slice(&digest[..16]);
    short
}

/// How a log line names the user of a login: 8 hex digits of
/// [`user_digest`], never the name itself (it may be a password typed in
/// the wrong field). An operator sees repeated guesses at the same name.
pub(crate) fn user_tag(digest: &[u8; 16]) -> String {
    hex::encode(&digest[..4])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_quotes_and_escape_sequences_are_escaped() {
        let forged = "amina\n2026-01-01T00:00:00Z  INFO outpost: login ok user=\"admin\"\x1b[2J\r\t\\\u{7f}\u{202e}";
        let shown = log_safe(forged).to_string();
        assert_eq!(
            shown,
            "amina\\n2026-01-01T00:00:00Z  INFO outpost: login ok user=\\\"admin\\\"\\u{1b}[2J\\r\\t\\\\\\u{7f}\\u{202e}"
        );
        assert!(!shown.chars().any(char::is_control));
        assert_eq!(
            log_safe("Amina Özil").to_string(),
            "Amina Özil",
            "ordinary names untouched"
        );
    }

    #[test]
    fn long_text_is_cut_with_its_size_noted() {
        let long = "é".repeat(MAX_LOGGED_PEER_CHARS + 10);
        let shown = log_safe(&long).to_string();
        assert!(shown.starts_with(&"é".repeat(MAX_LOGGED_PEER_CHARS)));
        assert!(shown.ends_with("...(+20 bytes)"), "{shown}");
        assert_eq!(
            log_safe(&"a".repeat(MAX_LOGGED_PEER_CHARS)).to_string().len(),
            MAX_LOGGED_PEER_CHARS
        );
    }

    #[test]
    fn user_tags_are_short_stable_and_hide_the_name() {
        let tag = user_tag(&user_digest("correct horse battery"));
        assert_eq!(tag.len(), 8);
        assert!(tag.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(tag, user_tag(&user_digest("correct horse battery")));
        assert_ne!(
            user_digest("correct horse battery"),
            user_digest("correct horse batterz")
        );
        assert!(!tag.contains("horse"));
    }
}
