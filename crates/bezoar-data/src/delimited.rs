//! CSV and TSV via the `csv` crate: header row required, fixed field count, byte records
//! validated as UTF-8 field by field (only the fields we use).

use std::io::{BufReader, Read};

use crate::builder::{parse_embedding_text, utf8_message, Builder, RowError, RowRef};
use crate::error::DataError;
use crate::options::ReadOptions;
use crate::Progress;

/// Report progress at most every this many bytes.
const PROGRESS_STEP: u64 = 1 << 20;

/// Field indices of the resolved columns in the header.
struct Indices {
    text: usize,
    label: usize,
    id: Option<usize>,
    source: Option<usize>,
    embedding: Option<usize>,
}

pub(crate) fn read(
    file: impl Read,
    delimiter: u8,
    total: Option<u64>,
    opts: &ReadOptions,
    builder: &mut Builder,
    progress: &mut Progress<'_>,
) -> Result<(), DataError> {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(false)
        .from_reader(BufReader::with_capacity(1 << 16, file));

    let header = match rdr.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(csv_error(builder, e, 1)),
    };
    if header.is_empty() || (header.len() == 1 && header.get(0).is_some_and(<[u8]>::is_empty)) {
        return Err(DataError::Empty {
            file: builder.file().to_path_buf(),
        });
    }
    let mut names: Vec<String> = Vec::with_capacity(header.len());
    for field in header.iter() {
        match std::str::from_utf8(field) {
            Ok(s) => names.push(s.to_string()),
            Err(e) => {
                return Err(DataError::Malformed {
                    file: builder.file().to_path_buf(),
                    line: 1,
                    message: format!("header: {}", utf8_message(&e)),
                })
            }
        }
    }
    let cols = builder.resolve(&opts.columns, &names)?;
    let index_of = |name: &str| names.iter().position(|n| n == name).unwrap_or(0);
    let idx = Indices {
        text: index_of(&cols.text),
        label: index_of(&cols.label),
        id: cols.id.as_deref().map(index_of),
        source: cols.source.as_deref().map(index_of),
        embedding: cols.embedding.as_deref().map(index_of),
    };

    let mut record = csv::ByteRecord::new();
    let mut emb: Vec<f32> = Vec::new();
    let mut last_report: u64 = 0;
    loop {
        match rdr.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(rdr.position().line(), |p| p.line());
                if is_fatal(&e) {
                    return Err(csv_error(builder, e, line));
                }
                let message = csv_message(&e);
                builder.fail(line, RowError::line(message))?;
                continue;
            }
        }
        let line = record
            .position()
            .map_or(rdr.position().line(), |p| p.line());
        let byte = rdr.position().byte();
        if byte.saturating_sub(last_report) >= PROGRESS_STEP {
            last_report = byte;
            progress(byte, total);
        }
        match row(&record, &names, &idx, &mut emb) {
            Ok(r) => builder.add_row(line, r)?,
            Err(e) => builder.fail(line, e)?,
        }
    }
    progress(rdr.position().byte(), total);
    Ok(())
}

/// Extract the needed fields of one record.
fn row<'a>(
    record: &'a csv::ByteRecord,
    names: &[String],
    idx: &Indices,
    emb: &'a mut Vec<f32>,
) -> Result<RowRef<'a>, RowError> {
    let field = |i: usize| -> Result<&'a str, RowError> {
        let name = names.get(i).map_or("?", String::as_str);
        let bytes = record
            .get(i)
            .ok_or_else(|| RowError::field(name, "missing value"))?;
        std::str::from_utf8(bytes).map_err(|e| RowError::field(name, utf8_message(&e)))
    };
    let text = field(idx.text)?;
    let label = field(idx.label)?;
    let id = idx.id.map(field).transpose()?;
    let source = idx.source.map(field).transpose()?;
    let embedding = match idx.embedding {
        Some(i) => {
            let cell = field(i)?;
            emb.clear();
            parse_embedding_text(cell, emb)
                .map_err(|m| RowError::field(names.get(i).map_or("?", String::as_str), m))?;
            Some(&emb[..])
        }
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

/// I/O errors end the read; everything else is a problem with one record.
fn is_fatal(e: &csv::Error) -> bool {
    matches!(e.kind(), csv::ErrorKind::Io(_))
}

fn csv_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} fields (as in the header), found {len}"),
        csv::ErrorKind::Utf8 { err, .. } => format!("invalid UTF-8: {err}"),
        _ => format!("{e}"),
    }
}

fn csv_error(builder: &Builder, e: csv::Error, line: u64) -> DataError {
    let file = builder.file().to_path_buf();
    let message = csv_message(&e);
    match e.into_kind() {
        csv::ErrorKind::Io(source) => DataError::Io { file, source },
        _ => DataError::Malformed {
            file,
            line,
            message,
        },
    }
}
