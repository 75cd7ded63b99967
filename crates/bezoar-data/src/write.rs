//! Writing rows back out as Parquet (JSONL and CSV writers are a few lines where they are
//! needed; Parquet needs the Arrow machinery this crate already links).

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// Rows per record batch (and so per row group page run): bounded memory for large tables.
const BATCH_ROWS: usize = 64 * 1024;

/// Write a table of non-null UTF-8 string columns as one Parquet file (zstd-compressed).
/// `columns` are (name, value of row i) with `rows` rows each; values are read batch by batch.
pub fn write_parquet_strings<W: std::io::Write + Send>(
    w: W,
    rows: usize,
    columns: &[(&str, &dyn Fn(usize) -> String)],
) -> Result<(), parquet::errors::ParquetError> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, _)| Field::new(*name, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    ));
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut writer = ArrowWriter::try_new(w, schema.clone(), Some(props))?;
    let mut start = 0;
    while start < rows || (rows == 0 && start == 0) {
        let end = (start + BATCH_ROWS).min(rows);
        let arrays: Vec<ArrayRef> = columns
            .iter()
            .map(|(_, value)| {
                Arc::new(StringArray::from_iter_values((start..end).map(value))) as ArrayRef
            })
            .collect();
        writer.write(&RecordBatch::try_new(schema.clone(), arrays)?)?;
        if rows == 0 {
            break;
        }
        start = end;
    }
    writer.close()?;
    Ok(())
}
