//! LLM data from Parquet: each row's cells become a JSON object (strings, numbers, lists and
//! structs, as Hugging Face writes `messages`), which the shared row reader then checks.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Map, Value};

use super::Reader;
use crate::DataError;

/// The top-level column names of a Parquet file (`None` when it is not readable: the reader
/// proper reports why).
pub(super) fn column_names(path: &Path) -> Result<Option<Vec<String>>, DataError> {
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    let names = catch_unwind(AssertUnwindSafe(|| {
        ParquetRecordBatchReaderBuilder::try_new(file)
            .ok()
            .map(|b| {
                b.schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect::<Vec<_>>()
            })
    }));
    Ok(names.ok().flatten())
}

pub(super) fn read(
    file: std::fs::File,
    reader: &mut Reader,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<(), DataError> {
    let path = reader.file.clone();
    let invalid = |message: String| DataError::InvalidFile {
        file: path.clone(),
        message,
    };
    // The parquet decoders may panic on corrupt input; a file is an error, never a panic.
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<(), DataError> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| invalid(format!("not a readable Parquet file: {e}")))?;
        let total = u64::try_from(builder.metadata().file_metadata().num_rows()).ok();
        let batches = builder
            .with_batch_size(4096)
            .build()
            .map_err(|e| invalid(format!("cannot read the Parquet file: {e}")))?;
        let mut line = 0u64;
        for batch in batches {
            let batch =
                batch.map_err(|e| invalid(format!("cannot decode rows after row {line}: {e}")))?;
            for row in 0..batch.num_rows() {
                line += 1;
                let obj = row_object(&batch, row);
                reader.add(line, &obj)?;
            }
            progress(line, total);
        }
        Ok(())
    }));
    match result {
        Ok(r) => r,
        Err(_) => Err(invalid(
            "corrupt Parquet file (the Parquet decoder failed)".into(),
        )),
    }
}

fn row_object(batch: &RecordBatch, row: usize) -> Map<String, Value> {
    let schema = batch.schema();
    schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, col)| (f.name().clone(), cell(col, row)))
        .collect()
}

/// One cell as JSON. Types with no JSON counterpart (binary, dates) become `null`, which the
/// row reader reports as the wrong type where a field needs text.
fn cell(col: &ArrayRef, row: usize) -> Value {
    if col.is_null(row) {
        return Value::Null;
    }
    match col.data_type() {
        DataType::Utf8 => Value::String(col.as_string::<i32>().value(row).to_string()),
        DataType::LargeUtf8 => Value::String(col.as_string::<i64>().value(row).to_string()),
        DataType::Utf8View => Value::String(col.as_string_view().value(row).to_string()),
        DataType::Boolean => Value::Bool(col.as_boolean().value(row)),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            Value::from(int_value(col, row))
        }
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            Value::from(uint_value(col, row))
        }
        DataType::List(_) => list(col.as_list::<i32>().value(row)),
        DataType::LargeList(_) => list(col.as_list::<i64>().value(row)),
        DataType::Struct(fields) => {
            let s = col.as_struct();
            Value::Object(
                fields
                    .iter()
                    .zip(s.columns())
                    .map(|(f, c)| (f.name().clone(), cell(c, row)))
                    .collect(),
            )
        }
        _ => Value::Null,
    }
}

fn list(values: ArrayRef) -> Value {
    Value::Array((0..values.len()).map(|i| cell(&values, i)).collect())
}

fn int_value(col: &ArrayRef, row: usize) -> i64 {
    use arrow_array::types::*;
    match col.data_type() {
        DataType::Int8 => col.as_primitive::<Int8Type>().value(row).into(),
        DataType::Int16 => col.as_primitive::<Int16Type>().value(row).into(),
        DataType::Int32 => col.as_primitive::<Int32Type>().value(row).into(),
        _ => col.as_primitive::<Int64Type>().value(row),
    }
}

fn uint_value(col: &ArrayRef, row: usize) -> u64 {
    use arrow_array::types::*;
    match col.data_type() {
        DataType::UInt8 => col.as_primitive::<UInt8Type>().value(row).into(),
        DataType::UInt16 => col.as_primitive::<UInt16Type>().value(row).into(),
        DataType::UInt32 => col.as_primitive::<UInt32Type>().value(row).into(),
        _ => col.as_primitive::<UInt64Type>().value(row),
    }
}
