//! CSV/TSV rows kept as raw byte records.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use super::Cells;
use crate::error::RedteamError;
use crate::truth::csv_error;

pub(crate) struct Rows {
    delimiter: u8,
    header: csv::ByteRecord,
    records: Vec<csv::ByteRecord>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.records.len()
    }
}

pub(crate) fn read(path: &Path, delimiter: u8) -> Result<Rows, RedteamError> {
    let file = File::open(path).map_err(|e| RedteamError::io(path, e))?;
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(false)
        .from_reader(BufReader::with_capacity(1 << 16, file));
    let header = rdr.byte_headers().map_err(|e| csv_error(path, e))?.clone();
    let mut records = Vec::new();
    let mut rec = csv::ByteRecord::new();
    while rdr
        .read_byte_record(&mut rec)
        .map_err(|e| csv_error(path, e))?
    {
        records.push(rec.clone());
    }
    Ok(Rows {
        delimiter,
        header,
        records,
    })
}

pub(crate) fn write(path: &Path, rows: &Rows, cells: &Cells<'_>) -> Result<(), RedteamError> {
    let cols = &cells.ds.columns;
    let index = |name: &str| rows.header.iter().position(|h| h == name.as_bytes());
    let text = index(&cols.text);
    let label = index(&cols.label);
    let id = cells.id_column().and_then(index);
    let file = File::create(path).map_err(|e| RedteamError::io(path, e))?;
    let mut w = csv::WriterBuilder::new()
        .delimiter(rows.delimiter)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(std::io::BufWriter::new(file));
    let err = |e: csv::Error| match e.into_kind() {
        csv::ErrorKind::Io(source) => RedteamError::io(path, source),
        other => RedteamError::invalid(path, format!("cannot write CSV: {other:?}")),
    };
    w.write_byte_record(&rows.header).map_err(err)?;
    let mut out = csv::ByteRecord::new();
    for r in cells.rows {
        out.clear();
        for (k, field) in rows.records[r.source].iter().enumerate() {
            if Some(k) == text && r.text.is_some() {
                out.push_field(cells.text(r).as_bytes());
            } else if Some(k) == label && r.label.is_some() {
                out.push_field(cells.label(r).as_bytes());
            } else if Some(k) == id && r.added {
                out.push_field(r.id.as_bytes());
            } else {
                out.push_field(field);
            }
        }
        w.write_byte_record(&out).map_err(err)?;
    }
    w.flush().map_err(|e| RedteamError::io(path, e))
}
