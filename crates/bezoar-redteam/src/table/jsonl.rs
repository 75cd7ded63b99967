//! JSONL rows kept as `(key, raw JSON value)` pairs in file order.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::Cells;
use crate::error::RedteamError;

type Row = Vec<(String, Box<RawValue>)>;

pub(crate) struct Rows {
    rows: Vec<Row>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.rows.len()
    }
}

/// One JSON object with its keys in file order and its values unparsed.
struct RawObject(Row);

impl<'de> Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawObject, A::Error> {
                let mut row = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    row.push(entry);
                }
                Ok(RawObject(row))
            }
        }
        d.deserialize_map(V)
    }
}

/// Lines that are blank are skipped and a BOM on the first line is dropped, exactly as
/// `bezoar_data` does, so row `i` here is dataset row `i`.
pub(crate) fn read(path: &Path) -> Result<Rows, RedteamError> {
    let file = File::open(path).map_err(|e| RedteamError::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut buf = Vec::new();
    let mut rows = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| RedteamError::io(path, e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let mut bytes: &[u8] = &buf;
        if line_no == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let malformed = |message: String| RedteamError::Malformed {
            file: path.to_path_buf(),
            line: line_no,
            message,
        };
        let line =
            std::str::from_utf8(bytes).map_err(|e| malformed(format!("invalid UTF-8: {e}")))?;
        let obj: RawObject =
            serde_json::from_str(line).map_err(|e| malformed(format!("invalid JSON: {e}")))?;
        rows.push(obj.0);
    }
    Ok(Rows { rows })
}

pub(crate) fn write(path: &Path, rows: &Rows, cells: &Cells<'_>) -> Result<(), RedteamError> {
    let io = |e| RedteamError::io(path, e);
    let cols = &cells.ds.columns;
    // The raw JSON of each label as the file spells it (a number stays a number).
    let mut label_json: Vec<Option<String>> = vec![None; cells.ds.num_classes()];
    for (i, &code) in cells.ds.labels.codes.iter().enumerate() {
        let slot = &mut label_json[code as usize];
        if slot.is_none() {
            *slot = last_value(&rows.rows[i], &cols.label).map(|v| v.get().to_string());
        }
    }
    let file = File::create(path).map_err(io)?;
    let mut w = BufWriter::new(file);
    let mut line = String::new();
    for r in cells.rows {
        line.clear();
        let src = &rows.rows[r.source];
        line.push('{');
        for (k, (key, value)) in src.iter().enumerate() {
            if k > 0 {
                line.push(',');
            }
            line.push_str(&json_string(key));
            line.push(':');
            if *key == cols.text && r.text.is_some() {
                line.push_str(&json_string(cells.text(r)));
            } else if *key == cols.label && r.label.is_some() {
                let class = r.label.unwrap_or(0) as usize;
                match label_json.get(class).and_then(Option::as_deref) {
                    Some(raw) => line.push_str(raw),
                    None => line.push_str(&json_string(cells.label(r))),
                }
            } else if Some(key.as_str()) == cells.id_column() && r.added {
                // Keep the column's JSON type: a string stays a string; an integer id column
                // (fresh ids are integers only then) stays numeric.
                let numeric =
                    !value.get().trim_start().starts_with('"') && r.id.parse::<i128>().is_ok();
                if numeric {
                    line.push_str(&r.id);
                } else {
                    line.push_str(&json_string(&r.id));
                }
            } else {
                line.push_str(value.get());
            }
        }
        line.push_str("}\n");
        w.write_all(line.as_bytes()).map_err(io)?;
    }
    w.flush().map_err(io)
}

/// The value of `key` in a row (the last one when the key repeats, as `bezoar_data` reads it).
fn last_value<'r>(row: &'r Row, key: &str) -> Option<&'r RawValue> {
    row.iter().rev().find(|(k, _)| k == key).map(|(_, v)| &**v)
}

fn json_string(s: &str) -> String {
    // Serialising a &str cannot fail.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}
