//! `multipart/related` (a document and its attachments in one body, as
//! CouchDB 3 pushes with `PUT /{db}/{id}?new_edits=false`) and
//! `multipart/mixed` (the revisions of an `open_revs` reply): a bounded
//! parser over a body already read within its limit, and a writer.
//!
//! Every length is checked: a part's `Content-Length` header must be its
//! real length, the number of parts is capped, and a body that does not
//! end with the closing delimiter is refused.

use super::wire::CouchError;

/// One part of a multipart body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part<'a> {
    /// Its headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Its bytes.
    pub body: &'a [u8],
}

impl Part<'_> {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `filename` of its `Content-Disposition`, if any.
    pub fn filename(&self) -> Option<String> {
        let disposition = self.header("content-disposition")?;
        disposition.split(';').find_map(|p| {
            let value = p.trim().strip_prefix("filename=")?;
            Some(value.trim_matches('"').to_owned())
        })
    }
}

/// The boundary of a `multipart/...; boundary=...` content type.
///
/// # Errors
/// 400 if it is not multipart or has no usable boundary (1-70 characters,
/// as RFC 2046 allows).
pub fn boundary_of(content_type: &str) -> Result<String, CouchError> {
    let mut parts = content_type.split(';');
    let kind = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    if !kind.starts_with("multipart/") {
        return Err(CouchError::bad_request("not a multipart body"));
    }
    let boundary = parts
        .find_map(|p| {
            p.trim()
                .strip_prefix("boundary=")
                .map(|b| b.trim_matches('"').to_owned())
        })
        .ok_or_else(|| CouchError::bad_request("the multipart content type has no boundary"))?;
    if boundary.is_empty() || boundary.len() > 70 || boundary.bytes().any(|b| b.is_ascii_control()) {
        return Err(CouchError::bad_request("the multipart boundary is not usable"));
    }
    Ok(boundary)
}

/// Splits a multipart body into at most `max_parts` parts.
///
/// # Errors
/// 400 for a body without the opening or closing delimiter, a part
/// without a header block, a header that is not `name: value` text, a
/// `Content-Length` that is not the part's length, or more than
/// `max_parts` parts.
pub fn parse<'a>(body: &'a [u8], boundary: &str, max_parts: usize) -> Result<Vec<Part<'a>>, CouchError> {
    let bad = |why: &str| CouchError::bad_request(format!("bad multipart body: {why}"));
    let opening = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    let start = find(body, opening.as_bytes()).ok_or_else(|| bad("no opening boundary"))?;
    // Where the current delimiter line starts (its "--" for the first).
    let mut rest = &body[start + opening.len()..];
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = skip_line_end(rest).ok_or_else(|| bad("a boundary line does not end"))?;
        if parts.len() == max_parts {
            return Err(bad(&format!("more than {max_parts} parts")));
        }
        let head_end = if rest.starts_with(b"\r\n") {
            2
        } else {
            find(rest, b"\r\n\r\n")
                .map(|i| i + 4)
                .ok_or_else(|| bad("a part has no header block"))?
        };
        let headers = parse_headers(&rest[..head_end]).ok_or_else(|| bad("a part header is malformed"))?;
        let content = &rest[head_end..];
        let end = find(content, delimiter.as_bytes()).ok_or_else(|| bad("a part is not closed by a boundary"))?;
        let part = Part {
            headers,
            body: &content[..end],
        };
        if let Some(declared) = part.header("content-length") {
            if declared.trim().parse::<usize>().ok() != Some(end) {
                return Err(bad("a part's Content-Length is not its length"));
            }
        }
        parts.push(part);
        rest = &content[end + delimiter.len()..];
    }
}

fn skip_line_end(rest: &[u8]) -> Option<&[u8]> {
    // Transport padding (spaces, tabs) may precede the line end.
    let trimmed = rest
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .map_or(rest, |i| &rest[i..]);
    trimmed.strip_prefix(b"\r\n")
}

fn parse_headers(block: &[u8]) -> Option<Vec<(String, String)>> {
    let text = std::str::from_utf8(block).ok()?;
    text.split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (name, value) = line.split_once(':')?;
            let name = name.trim();
            if name.is_empty() || name.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                return None;
            }
            Some((name.to_ascii_lowercase(), value.trim().to_owned()))
        })
        .collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Writes multipart bodies.
///
/// # Examples
/// ```
/// use outpost_core::net::couch::multipart::{parse, MultipartWriter};
/// let mut w = MultipartWriter::new("b0undary");
/// w.part(&[("Content-Type", "application/json")], br#"{"_id":"a"}"#);
/// let body = w.finish();
/// let parts = parse(&body, "b0undary", 10).unwrap();
/// assert_eq!(parts[0].body, br#"{"_id":"a"}"#);
/// ```
pub struct MultipartWriter {
    boundary: String,
    out: Vec<u8>,
}

impl MultipartWriter {
    /// A writer with this boundary (it must not occur in any part).
    pub fn new(boundary: &str) -> MultipartWriter {
        MultipartWriter {
            boundary: boundary.to_owned(),
            out: Vec::new(),
        }
    }

    /// A fresh random boundary.
    pub fn random_boundary() -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }

    /// Appends a part.
    pub fn part(&mut self, headers: &[(&str, &str)], body: &[u8]) {
        self.out
            .extend_from_slice(format!("--{}\r\n", self.boundary).as_bytes());
        for (name, value) in headers {
            self.out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        self.out
            .extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        self.out.extend_from_slice(body);
        self.out.extend_from_slice(b"\r\n");
    }

    /// The body, closed.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(format!("--{}--", self.boundary).as_bytes());
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_writes_and_couchdb_style_bodies() {
        let mut w = MultipartWriter::new("abc");
        w.part(&[("Content-Type", "application/json")], b"{}");
        w.part(
            &[("Content-Disposition", "attachment; filename=\"photo.jpg\"")],
            b"\r\n--ab\r\n",
        );
        let body = w.finish();
        let parts = parse(&body, "abc", 10).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].body, b"\r\n--ab\r\n");
        assert_eq!(parts[1].filename().as_deref(), Some("photo.jpg"));
        // CouchDB's own framing: a preamble-free body, parts without Content-Length.
        let couch = b"--x\r\nContent-Type: application/json\r\n\r\n{\"a\":1}\r\n--x\r\n\r\nby\r\n\r\ntes\r\n--x--";
        let parts = parse(couch, "x", 10).unwrap();
        assert_eq!(
            (parts[0].body, parts[1].body),
            (&b"{\"a\":1}"[..], &b"by\r\n\r\ntes"[..])
        );
        assert_eq!(boundary_of("multipart/related; boundary=\"x\"").unwrap(), "x");
        assert!(boundary_of("application/json").is_err());
    }

    #[test]
    fn refuses_lying_lengths_unclosed_bodies_and_too_many_parts() {
        let lying = b"--x\r\nContent-Length: 99\r\n\r\nshort\r\n--x--";
        assert_eq!(parse(lying, "x", 10).unwrap_err().status, 400);
        let unclosed = b"--x\r\nContent-Type: a/b\r\n\r\nnever closed";
        assert!(parse(unclosed, "x", 10).is_err());
        let mut w = MultipartWriter::new("x");
        for _ in 0..3 {
            w.part(&[], b"p");
        }
        assert!(parse(&w.finish(), "x", 2).is_err());
        assert!(parse(b"", "x", 2).is_err());
        assert!(parse(b"--x\r\nbad header\r\n\r\nb\r\n--x--", "x", 2).is_err());
    }
}
