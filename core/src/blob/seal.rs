//! Sealed blob files: what a blob file holds when its database is
//! encrypted.
//!
//! Layout: an 8-byte magic, a 16-byte random salt, then records. Each
//! record seals up to [`BLOB_SEAL_RECORD_BYTES`] of plaintext with
//! ChaCha20-Poly1305: a 4-byte header (length, and a flag on the final
//! record), the ciphertext and a 16-byte tag. The file's key is
//! HKDF-SHA256 of the database's blob key with the file's salt, so no two
//! files share a key; a record's nonce is its index, and its header is
//! authenticated, so records cannot be reordered, dropped, cut short or
//! extended without the tag failing. Every record but the last is full,
//! so a file's length gives its plaintext length (and the bytes a partial
//! file holds) without reading it.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::hkdf::{Salt, HKDF_SHA256};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::tuning::BLOB_SEAL_RECORD_BYTES;

/// What a sealed blob file starts with (format and version).
const MAGIC: &[u8; 8] = b"OPBLOB1\0";
const SALT_LEN: usize = 16;
/// Bytes before the first record.
pub(crate) const HEADER_LEN: u64 = (MAGIC.len() + SALT_LEN) as u64;
const RECORD_HEAD: usize = 4;
const TAG_LEN: usize = 16;
/// Bytes a record adds to its plaintext.
const OVERHEAD: u64 = (RECORD_HEAD + TAG_LEN) as u64;
/// The record-header bit marking the final record.
const FINAL: u32 = 1 << 31;
const RECORD: u64 = BLOB_SEAL_RECORD_BYTES as u64;
/// HKDF info: what the derived key is for.
const FILE_KEY_INFO: &[u8] = b"outpost blob file key v1";

fn damaged(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("sealed blob file damaged: {why}"))
}

/// The key every blob file of one encrypted database is sealed under
/// (through a per-file derived key). Never printed.
pub(crate) struct BlobSealer {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for BlobSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlobSealer(<redacted>)")
    }
}

/// The cipher of one file.
pub(crate) struct FileCipher {
    key: LessSafeKey,
}

impl BlobSealer {
    /// A sealer from the database's 32-byte blob key.
    pub(crate) fn new(key: &[u8; 32]) -> BlobSealer {
        BlobSealer {
            key: Zeroizing::new(*key),
        }
    }

    fn file_cipher(&self, salt: &[u8]) -> io::Result<FileCipher> {
        let prk = Salt::new(HKDF_SHA256, salt).extract(self.key.as_ref());
        let okm = prk
            .expand(&[FILE_KEY_INFO], &CHACHA20_POLY1305)
            .map_err(|_| io::Error::other("key derivation failed"))?;
        Ok(FileCipher {
            key: LessSafeKey::new(UnboundKey::from(okm)),
        })
    }

    /// Writes a new header (fresh random salt) at the start of `file`.
    pub(crate) fn start(&self, mut file: &File) -> io::Result<FileCipher> {
        let mut salt = [0u8; SALT_LEN];
        SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| io::Error::other("no system randomness"))?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(MAGIC)?;
        file.write_all(&salt)?;
        self.file_cipher(&salt)
    }

    /// Reads the header of `file`.
    pub(crate) fn resume(&self, mut file: &File) -> io::Result<FileCipher> {
        let mut header = [0u8; HEADER_LEN as usize];
        file.seek(SeekFrom::Start(0))?;
        file.read_exact(&mut header).map_err(|_| damaged("no header"))?;
        if &header[..MAGIC.len()] != MAGIC {
            return Err(damaged("not a sealed blob file"));
        }
        self.file_cipher(&header[MAGIC.len()..])
    }
}

fn nonce(index: u64) -> Nonce {
    let mut bytes = [0u8; NONCE_LEN];
    bytes[NONCE_LEN - 8..].copy_from_slice(&index.to_be_bytes());
    Nonce::assume_unique_for_key(bytes)
}

impl FileCipher {
    /// Seals `plain` as record `index` and writes it at the file's
    /// position.
    pub(crate) fn write_record(&self, mut out: impl Write, index: u64, plain: &[u8], last: bool) -> io::Result<()> {
        let len = u32::try_from(plain.len()).ok().filter(|&l| u64::from(l) <= RECORD);
        let len = len.ok_or_else(|| io::Error::other("record too long"))?;
        let head = (len | if last { FINAL } else { 0 }).to_le_bytes();
        let mut record = Vec::with_capacity(RECORD_HEAD + plain.len() + TAG_LEN);
        record.extend_from_slice(&head);
        record.extend_from_slice(plain);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce(index), Aad::from(head), &mut record[RECORD_HEAD..])
            .map_err(|_| io::Error::other("sealing failed"))?;
        record.extend_from_slice(tag.as_ref());
        out.write_all(&record)
    }

    /// Reads and opens record `index` of `file` (whose sealed length is
    /// `file_len`); returns its plaintext and whether it is final. The
    /// final flag must be set exactly on the file's last record.
    pub(crate) fn read_record(&self, mut file: &File, file_len: u64, index: u64) -> io::Result<(Vec<u8>, bool)> {
        let start = HEADER_LEN + index * (RECORD + OVERHEAD);
        let mut head = [0u8; RECORD_HEAD];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut head)
            .map_err(|_| damaged("a record is cut short"))?;
        let word = u32::from_le_bytes(head);
        let (len, last) = (u64::from(word & !FINAL), word & FINAL != 0);
        let end = start + OVERHEAD + len;
        if len > RECORD || end > file_len || (end < file_len && len != RECORD) {
            return Err(damaged("a record's length does not fit the file"));
        }
        let mut record = vec![0u8; len as usize + TAG_LEN];
        file.read_exact(&mut record)
            .map_err(|_| damaged("a record is cut short"))?;
        let plain_len = self
            .key
            .open_in_place(nonce(index), Aad::from(head), &mut record)
            .map_err(|_| damaged("a record failed authentication"))?
            .len();
        record.truncate(plain_len);
        Ok((record, last))
    }
}

/// The sealed length of `plain` bytes (0 stays 0: nothing written yet).
pub(crate) fn sealed_len(plain: u64, complete: bool) -> u64 {
    let records = plain.div_ceil(RECORD).max(u64::from(complete));
    if records == 0 {
        return 0;
    }
    HEADER_LEN + plain + records * OVERHEAD
}

/// The plaintext bytes a sealed file of `sealed` bytes holds, or `None`
/// for a length no whole file has (a torn write).
pub(crate) fn plain_len(sealed: u64) -> Option<u64> {
    if sealed == 0 {
        return Some(0);
    }
    let body = sealed.checked_sub(HEADER_LEN)?;
    let (full, rest) = (body / (RECORD + OVERHEAD), body % (RECORD + OVERHEAD));
    match rest {
        0 if full > 0 => Some(full * RECORD),
        r if r >= OVERHEAD => Some(full * RECORD + r - OVERHEAD),
        _ => None,
    }
}

/// Appends `bytes` to the sealed partial file `file`, which holds `held`
/// plaintext bytes; `complete` marks the blob's last bytes, sealed as the
/// final record. A short last record is opened and sealed again with the
/// new bytes, so every record but the last stays full.
pub(crate) fn append(sealer: &BlobSealer, file: &File, held: u64, bytes: &[u8], complete: bool) -> io::Result<()> {
    let file_len = file.metadata()?.len();
    let cipher = if file_len == 0 {
        sealer.start(file)?
    } else {
        sealer.resume(file)?
    };
    let (full, tail) = (held / RECORD, held % RECORD);
    let reopen = if tail > 0 {
        Some(full)
    } else if complete && held > 0 {
        Some(full - 1)
    } else {
        None
    };
    let (mut index, mut data) = (full, Vec::new());
    if let Some(i) = reopen {
        let (plain, last) = cipher.read_record(file, file_len, i)?;
        if last {
            return Err(damaged("a partial file ends with a final record"));
        }
        (index, data) = (i, plain);
    }
    let start = HEADER_LEN + index * (RECORD + OVERHEAD);
    file.set_len(start)?;
    let mut out = io::BufWriter::new(file);
    out.seek(SeekFrom::Start(start))?;
    data.extend_from_slice(bytes);
    let mut chunks = data.chunks(RECORD as usize).peekable();
    if chunks.peek().is_none() && complete {
        cipher.write_record(&mut out, index, &[], true)?;
    }
    while let Some(chunk) = chunks.next() {
        cipher.write_record(&mut out, index, chunk, complete && chunks.peek().is_none())?;
        index += 1;
    }
    out.flush()
}

/// Streams plaintext into a new sealed file, a full record at a time.
pub(crate) struct SealWriter<'a> {
    file: &'a File,
    cipher: FileCipher,
    pending: Vec<u8>,
    index: u64,
}

impl<'a> SealWriter<'a> {
    /// Starts a sealed file in the empty `file`.
    pub(crate) fn new(sealer: &BlobSealer, file: &'a File) -> io::Result<SealWriter<'a>> {
        let cipher = sealer.start(file)?;
        Ok(SealWriter {
            file,
            cipher,
            pending: Vec::with_capacity(BLOB_SEAL_RECORD_BYTES * 2),
            index: 0,
        })
    }

    /// Adds plaintext; full records are sealed and written once more
    /// bytes follow them (the last one is sealed by [`SealWriter::finish`]).
    pub(crate) fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let room = 2 * BLOB_SEAL_RECORD_BYTES - self.pending.len();
            let take = room.min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            while self.pending.len() > BLOB_SEAL_RECORD_BYTES {
                self.cipher
                    .write_record(self.file, self.index, &self.pending[..BLOB_SEAL_RECORD_BYTES], false)?;
                self.pending.drain(..BLOB_SEAL_RECORD_BYTES);
                self.index += 1;
            }
        }
        Ok(())
    }

    /// Seals the last record, marked final.
    pub(crate) fn finish(self) -> io::Result<()> {
        self.cipher.write_record(self.file, self.index, &self.pending, true)
    }
}

/// Reads a sealed file's plaintext, a record at a time, with seeking.
pub(crate) struct SealedReader {
    file: File,
    cipher: FileCipher,
    file_len: u64,
    length: u64,
    pos: u64,
    record: Option<(u64, Vec<u8>)>,
}

impl SealedReader {
    /// Opens the sealed, complete file `file`.
    pub(crate) fn new(sealer: &BlobSealer, file: File) -> io::Result<SealedReader> {
        let file_len = file.metadata()?.len();
        let length = plain_len(file_len)
            .filter(|_| file_len > 0)
            .ok_or_else(|| damaged("its length is not that of a whole file"))?;
        let cipher = sealer.resume(&file)?;
        Ok(SealedReader {
            file,
            cipher,
            file_len,
            length,
            pos: 0,
            record: None,
        })
    }

    /// The plaintext length.
    pub(crate) fn length(&self) -> u64 {
        self.length
    }

    fn last_index(&self) -> u64 {
        self.length.div_ceil(RECORD).max(1) - 1
    }
}

impl Read for SealedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.length || buf.is_empty() {
            // The final record is checked even for an empty blob.
            if self.length == 0 && self.record.is_none() {
                let (_, last) = self.cipher.read_record(&self.file, self.file_len, 0)?;
                if !last {
                    return Err(damaged("the final record is missing"));
                }
                self.record = Some((0, Vec::new()));
            }
            return Ok(0);
        }
        let index = self.pos / RECORD;
        if self.record.as_ref().is_none_or(|(i, _)| *i != index) {
            let (plain, last) = self.cipher.read_record(&self.file, self.file_len, index)?;
            if last != (index == self.last_index()) {
                return Err(damaged("the final record is missing or misplaced"));
            }
            self.record = Some((index, plain));
        }
        let Some((_, plain)) = &self.record else {
            return Ok(0);
        };
        let at = (self.pos - index * RECORD) as usize;
        let n = buf.len().min(plain.len().saturating_sub(at));
        buf[..n].copy_from_slice(&plain[at..at + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SealedReader {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.length.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

/// The SHA-256 state of the first `held` plaintext bytes of the sealed
/// partial file `file` (to resume receiving it).
pub(crate) fn hash_plain(sealer: &BlobSealer, file: &File, held: u64) -> io::Result<sha2::Sha256> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    if held == 0 {
        return Ok(hasher);
    }
    let cipher = sealer.resume(file)?;
    let file_len = file.metadata()?.len();
    for index in 0..held.div_ceil(RECORD) {
        let (plain, _) = cipher.read_record(file, file_len, index)?;
        hasher.update(&plain);
    }
    Ok(hasher)
}

#[cfg(test)]
mod tests {
    use crate::blob::{BlobDigest, BlobRef};
    use crate::{Database, DatabaseConfig, EncryptionKey};
    use std::io::Read;

    #[test]
    fn lengths_round_trip_for_every_record_boundary() {
        for plain in [0u64, 1, 65_535, 65_536, 65_537, 131_072, 1_000_000] {
            let sealed = super::sealed_len(plain, true);
            assert_eq!(super::plain_len(sealed), Some(plain), "{plain}");
        }
        assert_eq!(super::plain_len(super::HEADER_LEN + 7), None, "torn mid-record");
    }

    #[test]
    fn a_sealed_blob_received_in_chunks_one_after_another_keeps_its_open_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = DatabaseConfig {
            encryption_key: Some(EncryptionKey::generate().unwrap()),
            ..DatabaseConfig::default()
        };
        let db = Database::open(dir.path().join("a.db"), config).unwrap();
        let bytes: Vec<u8> = (0..150_000u32).map(|i| (i % 253) as u8).collect();
        let blob = BlobRef {
            digest: BlobDigest::of_bytes(&bytes),
            length: bytes.len() as u64,
            content_type: None,
        };
        let store = db.blob_store();
        // The second chunk appends through the file the first one created
        // (its running hash kept), reading the sealed header back.
        assert_eq!(store.append_chunk(&blob, 0, &bytes[..100_000]).unwrap(), 100_000);
        assert_eq!(store.receiving.kept(), 1);
        assert_eq!(store.append_chunk(&blob, 100_000, &bytes[100_000..]).unwrap(), 150_000);
    }

    #[test]
    fn a_blob_received_in_odd_chunks_across_record_boundaries_is_sealed_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let config = DatabaseConfig {
            encryption_key: Some(EncryptionKey::generate().unwrap()),
            ..DatabaseConfig::default()
        };
        let db = Database::open(dir.path().join("a.db"), config).unwrap();
        let bytes: Vec<u8> = b"PATTERN-photo-9d2e".iter().copied().cycle().take(200_000).collect();
        let blob = BlobRef {
            digest: BlobDigest::of_bytes(&bytes),
            length: bytes.len() as u64,
            content_type: None,
        };
        let store = db.blob_store();
        let mut offset = 0usize;
        for (step, len) in [1_000usize, 70_000, 5, 65_531, 20_000].into_iter().enumerate() {
            assert_eq!(
                store
                    .append_chunk(&blob, offset as u64, &bytes[offset..offset + len])
                    .unwrap(),
                (offset + len) as u64
            );
            offset += len;
            assert_eq!(store.receive_offset(&blob).unwrap(), offset as u64);
            let partial = std::fs::read(store.partial_path(&blob.digest)).unwrap();
            assert!(!partial.windows(18).any(|w| w == b"PATTERN-photo-9d2e"), "step {step}");
            // As after a restart: the running hash is rebuilt from the sealed file.
            store.receiving.forget(&blob.digest);
        }
        assert_eq!(
            store.append_chunk(&blob, offset as u64, &bytes[offset..]).unwrap(),
            blob.length
        );
        let body = serde_json::json!({ "photo": blob.to_json() }).to_string();
        db.default_collection().unwrap().save("child", None, &body).unwrap();
        let mut back = Vec::new();
        store.open(&blob.digest).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, bytes);
        assert!(store.contains(&blob).unwrap());
    }
}
