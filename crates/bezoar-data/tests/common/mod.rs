//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{FixedSizeListBuilder, Float32Builder, ListBuilder};
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use bezoar_data::{ColumnSpec, ReadOptions};
use parquet::arrow::ArrowWriter;

/// Write `content` to `dir/name` and return the path.
pub fn write(dir: &tempfile::TempDir, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("write test file");
    path
}

pub fn opts() -> ReadOptions {
    ReadOptions::default()
}

pub fn opts_with(f: impl FnOnce(&mut ColumnSpec)) -> ReadOptions {
    let mut o = ReadOptions::default();
    f(&mut o.columns);
    o
}

pub fn skipping() -> ReadOptions {
    ReadOptions {
        skip_invalid: true,
        ..ReadOptions::default()
    }
}

/// The file name of a path, for checking that messages name the file.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

/// One row of a test Parquet file.
#[derive(Clone, Debug)]
pub struct PqRow {
    pub id: i64,
    pub text: &'static str,
    pub label: Option<i64>,
    pub source: &'static str,
    pub embedding: Option<Vec<f32>>,
}

/// Write rows to a Parquet file with columns id int64, text utf8, label int64, source utf8 and
/// embedding (FixedSizeList<Float32, dim> when `fixed`, else List<Float32>).
pub fn write_parquet(path: &Path, rows: &[PqRow], dim: i32, fixed: bool) {
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.id)));
    let texts: ArrayRef = Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.text)));
    let labels: ArrayRef = Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.label)));
    let sources: ArrayRef = Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.source)));
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    let (emb, emb_type): (ArrayRef, DataType) = if fixed {
        let mut b = FixedSizeListBuilder::new(Float32Builder::new(), dim).with_field(item.clone());
        for r in rows {
            match &r.embedding {
                Some(v) => {
                    for k in 0..dim as usize {
                        b.values().append_value(v.get(k).copied().unwrap_or(0.0));
                    }
                    b.append(true);
                }
                None => {
                    for _ in 0..dim {
                        b.values().append_null();
                    }
                    b.append(false);
                }
            }
        }
        (Arc::new(b.finish()), DataType::FixedSizeList(item, dim))
    } else {
        let mut b = ListBuilder::new(Float32Builder::new()).with_field(item.clone());
        for r in rows {
            match &r.embedding {
                Some(v) => {
                    for &x in v {
                        b.values().append_value(x);
                    }
                    b.append(true);
                }
                None => b.append(false),
            }
        }
        (Arc::new(b.finish()), DataType::List(item))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("text", DataType::Utf8, false),
        Field::new("label", DataType::Int64, true),
        Field::new("source", DataType::Utf8, false),
        Field::new("embedding", emb_type, true),
    ]));
    let batch = RecordBatch::try_new(schema.clone(), vec![ids, texts, labels, sources, emb])
        .expect("record batch");
    write_batches(path, schema, &[batch]);
}

pub fn write_batches(path: &Path, schema: Arc<Schema>, batches: &[RecordBatch]) {
    let file = std::fs::File::create(path).expect("create parquet");
    let mut w = ArrowWriter::try_new(file, schema, None).expect("arrow writer");
    for b in batches {
        w.write(b).expect("write batch");
    }
    w.close().expect("close parquet");
}

/// Simple rows for Parquet tests: labels 2, 10, 1 cycling; 4-d embeddings.
pub fn sample_rows() -> Vec<PqRow> {
    vec![
        PqRow {
            id: 100,
            text: "hello world",
            label: Some(2),
            source: "web",
            embedding: Some(vec![0.1, 0.2, 0.3, 0.4]),
        },
        PqRow {
            id: 101,
            text: "",
            label: Some(10),
            source: "books",
            embedding: Some(vec![1.0, 2.0, 3.0, 4.0]),
        },
        PqRow {
            id: 102,
            text: "ünïcödé ✓",
            label: Some(1),
            source: "web",
            embedding: Some(vec![-1.0, 0.0, 0.5, 9.5]),
        },
    ]
}
