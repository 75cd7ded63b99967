//! JSON Lines: one JSON object per line, streamed line by line.
//!
//! Each line is parsed with a custom serde visitor that only captures the keys we need (into
//! buffers reused across rows) and skips everything else, so no `serde_json::Value` tree is
//! built per row.

use std::fmt;
use std::io::{BufRead, BufReader, Read};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::builder::{check_finite, integral_float, utf8_message, Builder, RowError, RowRef};
use crate::error::DataError;
use crate::options::ReadOptions;
use crate::Progress;

/// Report progress at most every this many bytes.
const PROGRESS_STEP: u64 = 1 << 20;
/// After a line this long, give the buffer's memory back.
const SHRINK_ABOVE: usize = 64 << 20;

pub(crate) fn read(
    file: impl Read,
    total: Option<u64>,
    opts: &ReadOptions,
    builder: &mut Builder,
    progress: &mut Progress<'_>,
) -> Result<(), DataError> {
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut line_no: u64 = 0;
    let mut bytes_done: u64 = 0;
    let mut last_report: u64 = 0;
    // Captured values for the needed columns; `None` until the columns are resolved.
    let mut cells: Option<Cells> = None;

    loop {
        buf.clear();
        if buf.capacity() > SHRINK_ABOVE {
            buf.shrink_to(1 << 16);
        }
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| DataError::Io {
                file: builder.file().to_path_buf(),
                source,
            })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        bytes_done += n as u64;
        if bytes_done - last_report >= PROGRESS_STEP {
            last_report = bytes_done;
            progress(bytes_done, total);
        }

        let mut bytes: &[u8] = &buf;
        if line_no == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line = match std::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                builder.fail(line_no, RowError::line(utf8_message(&e)))?;
                continue;
            }
        };

        if cells.is_none() {
            // The first object decides which columns exist.
            let keys = match parse_keys(line) {
                Ok(Some(keys)) => keys,
                Ok(None) => {
                    builder.fail(line_no, RowError::line(not_object_message(line)))?;
                    continue;
                }
                Err(e) => {
                    builder.fail(line_no, RowError::line(format!("invalid JSON: {e}")))?;
                    continue;
                }
            };
            let cols = builder.resolve(&opts.columns, &keys)?;
            cells = Some(Cells::new(cols));
        }
        let Some(cells) = cells.as_mut() else {
            continue;
        };

        match cells.parse(line) {
            Ok(true) => {}
            Ok(false) => {
                builder.fail(line_no, RowError::line(not_object_message(line)))?;
                continue;
            }
            Err(e) => {
                builder.fail(line_no, RowError::line(format!("invalid JSON: {e}")))?;
                continue;
            }
        }
        match cells.row() {
            Ok(row) => builder.add_row(line_no, row)?,
            Err(e) => builder.fail(line_no, e)?,
        }
    }
    progress(bytes_done, total);
    Ok(())
}

fn not_object_message(line: &str) -> String {
    let kind = match line.trim_start().as_bytes().first() {
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    };
    format!("expected a JSON object, found {kind}")
}

/// The keys of a JSON object line in order; `Ok(None)` when the line is valid JSON but not an
/// object.
fn parse_keys(line: &str) -> Result<Option<Vec<String>>, serde_json::Error> {
    struct KeysVisitor;
    impl<'de> Visitor<'de> for KeysVisitor {
        type Value = Option<Vec<String>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut keys: Vec<String> = Vec::new();
            while let Some(k) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
            Ok(Some(keys))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    let mut de = serde_json::Deserializer::from_str(line);
    let keys = de.deserialize_any(KeysVisitor)?;
    de.end()?;
    Ok(keys)
}

/// The JSON type of a captured value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Missing,
    Null,
    Bool,
    Int,
    /// An integral float (written into `Cell::text` as an integer).
    IntegralFloat,
    Float(f64),
    Str,
    Array,
    Object,
}

impl Kind {
    fn describe(self) -> String {
        match self {
            Kind::Missing => "missing value".into(),
            Kind::Null => "null".into(),
            Kind::Bool => "boolean".into(),
            Kind::Int | Kind::IntegralFloat => "number".into(),
            Kind::Float(v) => format!("number {v}"),
            Kind::Str => "string".into(),
            Kind::Array => "array".into(),
            Kind::Object => "object".into(),
        }
    }
}

/// One captured column value; buffers are reused from row to row.
#[derive(Debug)]
struct Cell {
    name: String,
    kind: Kind,
    /// The value as text for strings, integers, integral floats and booleans.
    text: String,
    /// Array elements (when every element so far was a finite number).
    nums: Vec<f32>,
    /// First problem found inside an array.
    array_error: Option<String>,
}

impl Cell {
    fn new(name: &str) -> Self {
        Cell {
            name: name.to_string(),
            kind: Kind::Missing,
            text: String::new(),
            nums: Vec::new(),
            array_error: None,
        }
    }

    fn reset(&mut self) {
        self.kind = Kind::Missing;
        self.text.clear();
        self.nums.clear();
        self.array_error = None;
    }

    fn missing_or_null(&self) -> Option<RowError> {
        match self.kind {
            Kind::Missing => Some(RowError::field(&self.name, "missing value")),
            Kind::Null => Some(RowError::field(&self.name, "null value")),
            _ => None,
        }
    }

    fn as_text(&self) -> Result<&str, RowError> {
        if let Some(e) = self.missing_or_null() {
            return Err(e);
        }
        match self.kind {
            Kind::Str => Ok(&self.text),
            k => Err(RowError::field(
                &self.name,
                format!("expected a string, found {}", k.describe()),
            )),
        }
    }

    /// Labels and sources: strings, integers, integral floats and booleans.
    fn as_category(&self) -> Result<&str, RowError> {
        if let Some(e) = self.missing_or_null() {
            return Err(e);
        }
        match self.kind {
            Kind::Str | Kind::Int | Kind::IntegralFloat | Kind::Bool => Ok(&self.text),
            k => Err(RowError::field(
                &self.name,
                format!("expected a string or integer, found {}", k.describe()),
            )),
        }
    }

    /// Ids: strings and integers (including integral floats).
    fn as_id(&self) -> Result<&str, RowError> {
        if let Some(e) = self.missing_or_null() {
            return Err(e);
        }
        match self.kind {
            Kind::Str | Kind::Int | Kind::IntegralFloat => Ok(&self.text),
            k => Err(RowError::field(
                &self.name,
                format!("expected a string or integer, found {}", k.describe()),
            )),
        }
    }

    fn as_embedding(&self) -> Result<&[f32], RowError> {
        if let Some(e) = self.missing_or_null() {
            return Err(e);
        }
        match self.kind {
            Kind::Array => match &self.array_error {
                Some(msg) => Err(RowError::field(&self.name, msg.clone())),
                None => Ok(&self.nums),
            },
            k => Err(RowError::field(
                &self.name,
                format!("expected an array of numbers, found {}", k.describe()),
            )),
        }
    }
}

/// The cells for the resolved columns, plus which cell each role reads.
struct Cells {
    cells: Vec<Cell>,
    text: usize,
    label: usize,
    id: Option<usize>,
    source: Option<usize>,
    embedding: Option<usize>,
}

impl Cells {
    fn new(cols: &crate::ResolvedColumns) -> Self {
        let mut cells: Vec<Cell> = Vec::new();
        let mut slot = |name: &str| -> usize {
            match cells.iter().position(|c| c.name == name) {
                Some(i) => i,
                None => {
                    cells.push(Cell::new(name));
                    cells.len() - 1
                }
            }
        };
        let text = slot(&cols.text);
        let label = slot(&cols.label);
        let id = cols.id.as_deref().map(&mut slot);
        let source = cols.source.as_deref().map(&mut slot);
        let embedding = cols.embedding.as_deref().map(&mut slot);
        Cells {
            cells,
            text,
            label,
            id,
            source,
            embedding,
        }
    }

    /// Parse one line into the cells. `Ok(false)`: valid JSON but not an object.
    fn parse(&mut self, line: &str) -> Result<bool, serde_json::Error> {
        for c in &mut self.cells {
            c.reset();
        }
        let mut de = serde_json::Deserializer::from_str(line);
        let is_object = de.deserialize_any(RowVisitor {
            cells: &mut self.cells,
        })?;
        de.end()?;
        Ok(is_object)
    }

    fn cell(&self, i: usize) -> Result<&Cell, RowError> {
        self.cells
            .get(i)
            .ok_or_else(|| RowError::line("internal error: bad cell index"))
    }

    fn row(&self) -> Result<RowRef<'_>, RowError> {
        let text = self.cell(self.text)?.as_text()?;
        let label = self.cell(self.label)?.as_category()?;
        let id = match self.id {
            Some(i) => Some(self.cell(i)?.as_id()?),
            None => None,
        };
        let source = match self.source {
            Some(i) => Some(self.cell(i)?.as_category()?),
            None => None,
        };
        let embedding = match self.embedding {
            Some(i) => Some(self.cell(i)?.as_embedding()?),
            None => None,
        };
        Ok(RowRef {
            text,
            label,
            id,
            source,
            embedding,
        })
    }
}

/// Visits one line; returns whether it was an object.
struct RowVisitor<'c> {
    cells: &'c mut [Cell],
}

macro_rules! not_an_object {
    () => {
        fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_str<E>(self, _: &str) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_unit<E>(self) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(false)
        }
    };
}

impl<'de> Visitor<'de> for RowVisitor<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    not_an_object!();
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while let Some(idx) = map.next_key_seed(KeySeed { cells: self.cells })? {
            match idx.and_then(|i| self.cells.get_mut(i)) {
                Some(cell) => {
                    cell.reset();
                    map.next_value_seed(CellSeed { cell })?;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(true)
    }
}

/// Matches an object key against the wanted column names.
struct KeySeed<'c> {
    cells: &'c [Cell],
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.cells.iter().position(|c| c.name == key))
    }
}

/// Captures any JSON value into a [`Cell`] without failing on its type.
struct CellSeed<'c> {
    cell: &'c mut Cell,
}

impl<'de> DeserializeSeed<'de> for CellSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CellSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.cell.kind = Kind::Bool;
        self.cell.text.push_str(if v { "true" } else { "false" });
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        use std::fmt::Write as _;
        self.cell.kind = Kind::Int;
        let _ = write!(self.cell.text, "{v}");
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        use std::fmt::Write as _;
        self.cell.kind = Kind::Int;
        let _ = write!(self.cell.text, "{v}");
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.cell.kind = match integral_float(v, &mut self.cell.text) {
            Some(()) => Kind::IntegralFloat,
            None => Kind::Float(v),
        };
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.cell.kind = Kind::Str;
        self.cell.text.push_str(v);
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.cell.kind = Kind::Null;
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        self.cell.kind = Kind::Null;
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.cell.kind = Kind::Array;
        let mut k = 0usize;
        while let Some(()) = seq.next_element_seed(ElementSeed {
            cell: &mut *self.cell,
            position: k,
        })? {
            k += 1;
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.cell.kind = Kind::Object;
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

/// One element of an array value: a number is appended to `cell.nums`; anything else records
/// the first problem in `cell.array_error`.
struct ElementSeed<'c> {
    cell: &'c mut Cell,
    position: usize,
}

impl ElementSeed<'_> {
    fn number(self, v: f64) {
        if self.cell.array_error.is_some() {
            return;
        }
        match check_finite(self.position, v) {
            Ok(x) => self.cell.nums.push(x),
            Err(msg) => self.cell.array_error = Some(msg),
        }
    }

    fn wrong(self, found: &str) {
        if self.cell.array_error.is_none() {
            self.cell.array_error = Some(format!(
                "expected a number at position {}, found {found}",
                self.position
            ));
        }
    }
}

impl<'de> DeserializeSeed<'de> for ElementSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ElementSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.wrong("boolean");
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.number(v as f64);
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.number(v as f64);
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.number(v);
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        self.wrong("string");
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.wrong("null");
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        self.wrong("null");
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.wrong("array");
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.wrong("object");
        Ok(())
    }
}
