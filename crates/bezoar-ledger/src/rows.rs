//! Canonical row encoding, row digests and content-defined chunking.
//!
//! A row's canonical bytes are three length-prefixed UTF-8 fields, in this order:
//!
//! ```text
//! u32 big-endian byte length ‖ id ‖ u32 BE length ‖ text ‖ u32 BE length ‖ label
//! ```
//!
//! Rows of LLM data (prompts, chats, preference pairs) keep every field the file gave them.
//! Their canonical bytes start with a marker no text-classification row can begin with (a row
//! id is at most a few hundred bytes, never 2^32 − 1), then three length-prefixed fields:
//!
//! ```text
//! u32 BE 0xFFFFFFFF ‖ u32 BE length ‖ id ‖ u32 BE length ‖ layout ‖ u32 BE length ‖ record
//! ```
//!
//! where `record` is the row's canonical JSON object and `layout` the canonical JSON of how it
//! was read (its shape and the field of each part), both as `bezoar_data::llm` writes them. So a
//! text-classification row's digest is what it always was, and an LLM row's covers all of its
//! fields and its reading.
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
///
/// A text-classification row is its id, text and label. An LLM row is its id and `record`;
/// its `label` is its shape's name and its `text` is empty (neither is part of its bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowContent {
    pub id: String,
    pub text: String,
    pub label: String,
    pub record: Option<LlmRecord>,
}

/// An LLM row's fields: canonical JSON of the row and of its layout (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmRecord {
    pub layout: String,
    pub json: String,
}

/// First four bytes of an LLM row's canonical bytes.
const LLM_ROW_MARKER: u32 = u32::MAX;

impl RowContent {
    /// A text-classification row.
    pub fn classification(id: String, text: String, label: String) -> Self {
        RowContent {
            id,
            text,
            label,
            record: None,
        }
    }

    /// An LLM row of the given shape (its label), layout and canonical JSON.
    pub fn llm(id: String, shape: &str, layout: String, json: String) -> Self {
        RowContent {
            id,
            text: String::new(),
            label: shape.to_string(),
            record: Some(LlmRecord { layout, json }),
        }
    }

    /// Append the canonical bytes of this row to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match &self.record {
            None => encode_fields(&self.id, &self.text, &self.label, out),
            Some(r) => encode_llm_fields(&self.id, &r.layout, &r.json, out),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let extra = match &self.record {
            None => self.text.len() + self.label.len(),
            Some(r) => 4 + r.layout.len() + r.json.len(),
        };
        let mut v = Vec::with_capacity(12 + self.id.len() + extra);
        self.encode_into(&mut v);
        v
    }

    /// Whether this row differs from `old` (same id) only in its label: a text-classification
    /// row with the same text, or a preference pair whose chosen and rejected responses are
    /// exchanged and nothing else changed. Changing labels is what a labeler may do, and what
    /// label-flipping attacks look like.
    pub fn is_relabel_of(&self, old: &RowContent) -> bool {
        match (&self.record, &old.record) {
            (None, None) => self.text == old.text && self.label != old.label,
            (Some(new), Some(old)) => {
                new.layout == old.layout
                    && new.json != old.json
                    && bezoar_data::llm::swapped_pair(&old.layout, &old.json).as_deref()
                        == Some(new.json.as_str())
            }
            _ => false,
        }
    }

    /// Whether the label differs from `old`'s, whatever else changed: a text-classification
    /// row's class, or a preference pair's order (a swap, see [`RowContent::is_relabel_of`]).
    /// This is what `diff` and the add summary count as relabelled.
    pub fn label_changed_from(&self, old: &RowContent) -> bool {
        match self.record {
            None => old.record.is_none() && self.label != old.label,
            Some(_) => self.is_relabel_of(old),
        }
    }

    /// The row's label as a change shows it: the class, or for a preference pair which of its
    /// two responses is preferred, relative to `old` (see [`RowContent::is_relabel_of`]).
    pub fn label_change(&self, old: &RowContent) -> (String, String) {
        match self.record {
            None => (old.label.clone(), self.label.clone()),
            Some(_) => ("as recorded".into(), "chosen and rejected swapped".into()),
        }
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

/// Canonical bytes of an LLM row (id, layout, record) appended to `out`.
pub fn encode_llm_fields(id: &str, layout: &str, json: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&LLM_ROW_MARKER.to_be_bytes());
    encode_fields(id, layout, json, out);
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
        let llm = buf.len() >= 4 && buf[..4] == LLM_ROW_MARKER.to_be_bytes();
        if llm {
            buf = &buf[4..];
        }
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
        let [id, a, b] = fields;
        let row = if llm {
            let shape = bezoar_data::llm::parse_layout(&a)
                .map(|(s, _)| s.name().to_string())
                .ok_or_else(|| {
                    DecodeError(format!("the row at byte {start} has no valid layout"))
                })?;
            RowContent::llm(id, &shape, a, b)
        } else {
            RowContent::classification(id, a, b)
        };
        out.push((row, start..total - buf.len()));
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
        RowContent::classification(id.into(), text.into(), label.into())
    }

    const PAIR_LAYOUT: &str =
        r#"{"chosen":"chosen","prompt":"prompt","rejected":"rejected","shape":"preference"}"#;

    fn pair(id: &str, chosen: &str, rejected: &str) -> RowContent {
        let json = format!(r#"{{"chosen":"{chosen}","prompt":"p","rejected":"{rejected}"}}"#);
        RowContent::llm(id.into(), "preference", PAIR_LAYOUT.into(), json)
    }

    #[test]
    fn llm_rows_are_marked_and_round_trip_beside_classification_rows() {
        let p = pair("7", "yes", "no");
        let bytes = p.encode();
        assert_eq!(&bytes[..4], &[0xff; 4]);
        assert_eq!(&bytes[4..9], b"\0\0\0\x017");
        let mut buf = row("a", "t", "1").encode();
        p.encode_into(&mut buf);
        let back = decode_rows(&buf).unwrap();
        assert_eq!(back[0].0, row("a", "t", "1"));
        assert_eq!(back[1].0, p);
        assert_eq!(back[1].0.label, "preference");
        // The digest covers every field: any change moves it.
        assert_ne!(p.digest(), pair("7", "yes", "No").digest());
        // A classification row with the same strings never has the same bytes.
        assert_ne!(
            row("7", PAIR_LAYOUT, &p.record.as_ref().unwrap().json).encode(),
            bytes
        );
        // A marked row with a bad layout is corrupt, not silently read.
        let mut bad = Vec::new();
        encode_llm_fields("1", "{}", "{}", &mut bad);
        assert!(decode_rows(&bad).is_err());
    }

    #[test]
    fn swapping_a_pair_is_a_relabel_and_other_edits_are_not() {
        let old = pair("1", "yes", "no");
        assert!(pair("1", "no", "yes").is_relabel_of(&old));
        assert!(!pair("1", "no", "maybe").is_relabel_of(&old));
        assert!(!old.is_relabel_of(&old));
        assert!(row("1", "t", "b").is_relabel_of(&row("1", "t", "a")));
        assert!(!row("1", "u", "b").is_relabel_of(&row("1", "t", "a")));
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
