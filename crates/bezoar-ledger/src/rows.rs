//! Canonical row encoding, row digests and content-defined chunking.
//!
//! A row's canonical bytes are three length-prefixed UTF-8 fields, in this order:
//!
//! ```text
//! u32 big-endian byte length ‖ id ‖ u32 BE length ‖ text ‖ u32 BE length ‖ label
//! ```
//!
//! Length prefixes make the encoding unambiguous (no escaping, no separator that could appear in
//! the data) and it is as fast to write as to hash. The row digest is the RFC 6962 *leaf hash*
//! of the canonical bytes, SHA-256(0x00 ‖ bytes), so the snapshot's Merkle root is directly the
//! RFC 6962 root over its row digests and a row's inclusion in a snapshot can be proven.
//!
//! The source is provenance, not content: it is recorded per row in the ledger but is not part
//! of the canonical bytes, so the same row contributed by two sources is the same content.

use crate::merkle::{leaf_hash, Hash};

/// One row's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowContent {
    pub id: String,
    pub text: String,
    pub label: String,
}

impl RowContent {
    /// Append the canonical bytes of this row to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        encode_fields(&self.id, &self.text, &self.label, out);
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(12 + self.id.len() + self.text.len() + self.label.len());
        self.encode_into(&mut v);
        v
    }

    /// The row digest: RFC 6962 leaf hash of the canonical bytes.
    pub fn digest(&self) -> Hash {
        leaf_hash(&self.encode())
    }
}

/// Canonical bytes of (id, text, label) appended to `out`.
pub fn encode_fields(id: &str, text: &str, label: &str, out: &mut Vec<u8>) {
    for f in [id, text, label] {
        out.extend_from_slice(&(f.len() as u32).to_be_bytes());
        out.extend_from_slice(f.as_bytes());
    }
}

/// Why canonical bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

/// Decode a concatenation of canonical rows (a chunk), returning each row and its byte range.
pub fn decode_rows(
    mut buf: &[u8],
) -> Result<Vec<(RowContent, std::ops::Range<usize>)>, DecodeError> {
    let total = buf.len();
    let mut out = Vec::new();
    while !buf.is_empty() {
        let start = total - buf.len();
        let mut fields: [String; 3] = Default::default();
        for (k, f) in fields.iter_mut().enumerate() {
            if buf.len() < 4 {
                return Err(DecodeError(format!(
                    "truncated length prefix at byte {}",
                    total - buf.len()
                )));
            }
            let n = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
            buf = &buf[4..];
            if buf.len() < n {
                return Err(DecodeError(format!(
                    "field {k} of the row at byte {start} runs past the end"
                )));
            }
            *f = std::str::from_utf8(&buf[..n])
                .map_err(|_| DecodeError(format!("invalid UTF-8 in the row at byte {start}")))?
                .to_string();
            buf = &buf[n..];
        }
        let [id, text, label] = fields;
        out.push((RowContent { id, text, label }, start..total - buf.len()));
    }
    Ok(out)
}

/// Target average rows per chunk is 2^CHUNK_BITS; chunks are cut after a row whose digest's
/// first bytes are zero in the low CHUNK_BITS bits, with bounds on either side.
const CHUNK_BITS: u32 = 12;
const MIN_CHUNK_ROWS: usize = 256;
const MAX_CHUNK_ROWS: usize = 16_384;

/// Split rows into chunks by their digests (content-defined chunking): boundaries depend only on
/// the rows around them, so two snapshots that share a long run of rows (a parent and its child
/// with rows appended or a few removed) share most chunks, and the object store keeps one copy.
/// Returns the exclusive end index of each chunk.
pub fn chunk_boundaries(digests: &[Hash]) -> Vec<usize> {
    let mask = (1u32 << CHUNK_BITS) - 1;
    let mut ends = Vec::new();
    let mut start = 0;
    for (i, d) in digests.iter().enumerate() {
        let len = i + 1 - start;
        let v = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
        if (len >= MIN_CHUNK_ROWS && v & mask == 0) || len >= MAX_CHUNK_ROWS {
            ends.push(i + 1);
            start = i + 1;
        }
    }
    if start < digests.len() {
        ends.push(digests.len());
    }
    ends
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, text: &str, label: &str) -> RowContent {
        RowContent {
            id: id.into(),
            text: text.into(),
            label: label.into(),
        }
    }

    #[test]
    fn encoding_is_length_prefixed_and_round_trips() {
        let r = row("a", "hé", "1");
        assert_eq!(
            r.encode(),
            b"\0\0\0\x01a\0\0\0\x03h\xc3\xa9\0\0\0\x011".to_vec()
        );
        // Shifting a byte between fields changes the encoding (no ambiguity).
        assert_ne!(row("ab", "c", "1").encode(), row("a", "bc", "1").encode());
        let mut buf = r.encode();
        row("", "", "0").encode_into(&mut buf);
        let back = decode_rows(&buf).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].0, r);
        assert_eq!(back[1].0, row("", "", "0"));
        assert_eq!(back[1].1.end, buf.len());
        assert!(decode_rows(&buf[..buf.len() - 1]).is_err());
    }

    #[test]
    fn chunking_is_content_defined() {
        let rows: Vec<Hash> = (0..50_000u32)
            .map(|i| row(&i.to_string(), "t", "0").digest())
            .collect();
        let a = chunk_boundaries(&rows);
        assert_eq!(*a.last().unwrap(), rows.len());
        // Dropping the first 10 rows moves at most the first boundary or two: the rest match.
        let b = chunk_boundaries(&rows[10..]);
        let common = a.iter().filter(|e| b.contains(&(*e - 10))).count();
        assert!(
            common + 2 >= a.len(),
            "{common} of {} boundaries kept",
            a.len()
        );
        assert!(a.len() > 3 && a.len() < 200, "{} chunks", a.len());
    }
}
