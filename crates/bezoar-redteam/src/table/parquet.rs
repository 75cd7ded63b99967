//! Parquet tables held as one Arrow record batch with every column.

use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float32Builder, Float64Builder, Int16Builder, Int32Builder, Int64Builder,
    Int8Builder, LargeStringBuilder, StringBuilder, StringViewBuilder, UInt16Builder,
    UInt32Builder, UInt64Builder, UInt8Builder,
};
use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::Cells;
use crate::error::RedteamError;

pub(crate) struct Rows {
    batch: RecordBatch,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }
}

/// The parquet crate may panic on corrupt input; the file was already read once by
/// `bezoar_data` (which guards the same way), but a panic here is still turned into an error.
fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T, RedteamError>) -> Result<T, RedteamError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => Err(RedteamError::invalid(
            path,
            "corrupt Parquet file (the Parquet library failed)",
        )),
    }
}

pub(crate) fn read(path: &Path) -> Result<Rows, RedteamError> {
    guarded(path, || {
        let file = File::open(path).map_err(|e| RedteamError::io(path, e))?;
        let bad = |e: &dyn std::fmt::Display| {
            RedteamError::invalid(path, format!("cannot read Parquet data: {e}"))
        };
        let pq = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad(&e))?;
        let schema = pq.schema().clone();
        let reader = pq.with_batch_size(8192).build().map_err(|e| bad(&e))?;
        let mut batches = Vec::new();
        for b in reader {
            batches.push(b.map_err(|e| bad(&e))?);
        }
        let batch = arrow_select::concat::concat_batches(&schema, &batches).map_err(|e| bad(&e))?;
        Ok(Rows { batch })
    })
}

pub(crate) fn write(path: &Path, rows: &Rows, cells: &Cells<'_>) -> Result<(), RedteamError> {
    let fail = |e: &dyn std::fmt::Display| {
        RedteamError::invalid(path, format!("cannot write Parquet: {e}"))
    };
    if rows.len() > u32::MAX as usize {
        return Err(fail(&"more than 2^32 rows"));
    }
    let indices = UInt32Array::from_iter_values(cells.rows.iter().map(|r| r.source as u32));
    let taken =
        arrow_select::take::take_record_batch(&rows.batch, &indices).map_err(|e| fail(&e))?;

    let schema = taken.schema();
    let cols = &cells.ds.columns;
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns: Vec<ArrayRef> = taken.columns().to_vec();
    let mut rebuild = |name: &str, value: &dyn Fn(usize) -> String| -> Result<(), RedteamError> {
        let Some(k) = fields.iter().position(|f| f.name() == name) else {
            return Ok(());
        };
        let plain = match fields[k].data_type() {
            DataType::Dictionary(_, v) => v.as_ref().clone(),
            t => t.clone(),
        };
        let values: Vec<String> = (0..cells.rows.len()).map(value).collect();
        let array = build(&plain, &values).map_err(|m| {
            RedteamError::invalid(path, format!("cannot write column '{name}': {m}"))
        })?;
        fields[k] = fields[k].clone().with_data_type(plain);
        columns[k] = array;
        Ok(())
    };
    rebuild(&cols.text, &|i| cells.text(&cells.rows[i]).to_string())?;
    rebuild(&cols.label, &|i| cells.label(&cells.rows[i]).to_string())?;
    if let Some(id) = cells.id_column() {
        rebuild(id, &|i| cells.rows[i].id.clone())?;
    }
    let schema: SchemaRef = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| fail(&e))?;

    let file = File::create(path).map_err(|e| RedteamError::io(path, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut w = ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| fail(&e))?;
    w.write(&batch).map_err(|e| fail(&e))?;
    w.close().map_err(|e| fail(&e))?;
    Ok(())
}

/// An Arrow array of type `t` from the values as `bezoar_data` reads them (integers in decimal,
/// booleans as `true`/`false`). Types a scan cannot read are not expected here.
fn build(t: &DataType, values: &[String]) -> Result<ArrayRef, String> {
    macro_rules! parsed {
        ($builder:ty, $ty:ty) => {{
            let mut b = <$builder>::with_capacity(values.len());
            for v in values {
                let x: $ty = v
                    .parse()
                    .map_err(|_| format!("'{v}' is not a valid {t} value"))?;
                b.append_value(x);
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    Ok(match t {
        DataType::Utf8 => {
            let mut b = StringBuilder::new();
            for v in values {
                b.append_value(v);
            }
            Arc::new(b.finish())
        }
        DataType::LargeUtf8 => {
            let mut b = LargeStringBuilder::new();
            for v in values {
                b.append_value(v);
            }
            Arc::new(b.finish())
        }
        DataType::Utf8View => {
            let mut b = StringViewBuilder::new();
            for v in values {
                b.append_value(v);
            }
            Arc::new(b.finish())
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(values.len());
            for v in values {
                match v.as_str() {
                    "true" => b.append_value(true),
                    "false" => b.append_value(false),
                    _ => return Err(format!("'{v}' is not a boolean")),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Int8 => parsed!(Int8Builder, i8),
        DataType::Int16 => parsed!(Int16Builder, i16),
        DataType::Int32 => parsed!(Int32Builder, i32),
        DataType::Int64 => parsed!(Int64Builder, i64),
        DataType::UInt8 => parsed!(UInt8Builder, u8),
        DataType::UInt16 => parsed!(UInt16Builder, u16),
        DataType::UInt32 => parsed!(UInt32Builder, u32),
        DataType::UInt64 => parsed!(UInt64Builder, u64),
        DataType::Float32 => parsed!(Float32Builder, f32),
        DataType::Float64 => parsed!(Float64Builder, f64),
        other => return Err(format!("unsupported column type {other}")),
    })
}
