//! Parquet round trips and errors.

mod common;

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, LargeListBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int32Array, LargeStringArray,
    RecordBatch, StringArray, UInt8Array,
};
use arrow_schema::{DataType, Field, Schema};
use bezoar_data::{read_dataset, read_dataset_with_progress, DataError, RowIds};
use common::{
    file_name, opts, opts_with, sample_rows, skipping, write, write_batches, write_parquet, PqRow,
};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn all_columns() -> bezoar_data::ReadOptions {
    opts_with(|c| {
        c.id = Some("id".into());
        c.source = Some("source".into());
        c.embedding = Some("embedding".into());
    })
}

#[test]
fn round_trip_fixed_size_list() {
    let dir = tmp();
    let path = dir.path().join("d.parquet");
    write_parquet(&path, &sample_rows(), 4, true);
    let ds = read_dataset(&path, &all_columns()).expect("read");
    assert_eq!(ds.len(), 3);
    let ids: Vec<String> = (0..3).map(|i| ds.ids.get(i).into_owned()).collect();
    assert_eq!(ids, ["100", "101", "102"]);
    assert_eq!(
        ds.texts.iter().collect::<Vec<_>>(),
        ["hello world", "", "ünïcödé ✓"]
    );
    assert_eq!(ds.labels.names, ["1", "2", "10"]);
    assert_eq!(ds.labels.codes, [1, 2, 0]);
    let src = ds.sources.as_ref().expect("sources");
    assert_eq!(src.names, ["books", "web"]);
    assert_eq!(src.codes, [1, 0, 1]);
    let emb = ds.embeddings.as_ref().expect("emb");
    assert_eq!(emb.dim, 4);
    assert_eq!(emb.row(0), [0.1, 0.2, 0.3, 0.4]);
    assert_eq!(emb.row(2), [-1.0, 0.0, 0.5, 9.5]);
    assert_eq!(ds.columns.embedding.as_deref(), Some("embedding"));

    // Without the optional columns.
    let ds = read_dataset(&path, &opts()).expect("read");
    assert!(matches!(ds.ids, RowIds::RowNumbers(3)));
    assert!(ds.sources.is_none() && ds.embeddings.is_none());
    // Extension `.pq` works too.
    let pq = dir.path().join("d.pq");
    std::fs::copy(&path, &pq).expect("copy");
    assert_eq!(read_dataset(&pq, &opts()).expect("read").len(), 3);
}

#[test]
fn round_trip_list() {
    let dir = tmp();
    let path = dir.path().join("l.parquet");
    write_parquet(&path, &sample_rows(), 4, false);
    let ds = read_dataset(&path, &all_columns()).expect("read");
    let emb = ds.embeddings.as_ref().expect("emb");
    assert_eq!(emb.dim, 4);
    assert_eq!(emb.row(1), [1.0, 2.0, 3.0, 4.0]);
    assert_eq!(ds.labels.names, ["1", "2", "10"]);
}

fn row(id: i64, label: Option<i64>, embedding: Option<Vec<f32>>) -> PqRow {
    PqRow {
        id,
        text: "t",
        label,
        source: "s",
        embedding,
    }
}

#[test]
fn row_errors_name_row_and_column() {
    let dir = tmp();
    let cases: Vec<(Vec<PqRow>, bool, u64, &str, &str)> = vec![
        (
            vec![
                row(1, Some(1), Some(vec![1.0, 2.0])),
                row(2, None, Some(vec![1.0, 2.0])),
            ],
            false,
            2,
            "label",
            "null value",
        ),
        (
            vec![
                row(1, Some(1), Some(vec![1.0, 2.0])),
                row(2, Some(0), Some(vec![1.0, f32::NAN])),
            ],
            true,
            2,
            "embedding",
            "non-finite value at position 1",
        ),
        (
            vec![row(1, Some(1), Some(vec![f32::INFINITY, 2.0]))],
            false,
            1,
            "embedding",
            "non-finite value at position 0",
        ),
        (
            vec![
                row(1, Some(1), Some(vec![1.0, 2.0])),
                row(2, Some(0), Some(vec![1.0, 2.0, 3.0])),
            ],
            false,
            2,
            "embedding",
            "dimension 3, expected 2",
        ),
        (
            vec![row(1, Some(1), Some(vec![1.0, 2.0])), row(2, Some(0), None)],
            false,
            2,
            "embedding",
            "null value",
        ),
        (
            vec![row(1, Some(1), Some(vec![1.0, 2.0])), row(2, Some(0), None)],
            true,
            2,
            "embedding",
            "null value",
        ),
    ];
    for (i, (rows, fixed, line, column, message)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("e{i}.parquet"));
        write_parquet(&path, &rows, 2, fixed);
        let err = read_dataset(&path, &all_columns()).expect_err(message);
        match &err {
            DataError::InvalidRow {
                line: l,
                column: c,
                message: m,
                ..
            } => {
                assert_eq!(*l, line, "case {i}");
                assert_eq!(c, column, "case {i}");
                assert!(
                    m.contains(message),
                    "case {i}: {m:?} should contain {message:?}"
                );
            }
            other => panic!("case {i}: wrong error {other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("{}:{line}:", file_name(&path))),
            "{msg}"
        );
        assert!(msg.contains(&format!("'{column}'")), "{msg}");
    }
}

#[test]
fn skip_invalid_and_rows_across_batches() {
    let dir = tmp();
    let path = dir.path().join("big.parquet");
    let rows: Vec<PqRow> = (0..20_000)
        .map(|i| {
            let label = if i == 15_000 || i == 19_999 {
                None
            } else {
                Some(i % 3)
            };
            row(i, label, Some(vec![i as f32, 1.0]))
        })
        .collect();
    write_parquet(&path, &rows, 2, true);
    let err = read_dataset(&path, &all_columns()).expect_err("null label");
    assert!(
        matches!(err, DataError::InvalidRow { line: 15_001, .. }),
        "{err:?}"
    );

    let mut o = all_columns();
    o.skip_invalid = true;
    let mut last = None;
    let ds = read_dataset_with_progress(&path, &o, &mut |d, t| last = Some((d, t))).expect("read");
    assert_eq!(last, Some((20_000, Some(20_000))));
    assert_eq!(ds.len(), 19_998);
    assert_eq!(ds.skipped.count, 2);
    let lines: Vec<u64> = ds.skipped.examples.iter().map(|e| e.line).collect();
    assert_eq!(lines, [15_001, 20_000]);
    assert_eq!(ds.skipped.examples[0].reason, "column 'label': null value");
    assert_eq!(ds.ids.get(15_000), "15001");
    assert_eq!(
        ds.embeddings.as_ref().expect("emb").row(15_000),
        [15_001.0, 1.0]
    );
    assert_eq!(ds.labels.names, ["0", "1", "2"]);
}

#[test]
fn other_column_types() {
    // LargeUtf8 text, dictionary-encoded string labels, bool source, uint8 id,
    // LargeList<Float64> embedding.
    let dir = tmp();
    let path = dir.path().join("types.parquet");
    let text: ArrayRef = Arc::new(LargeStringArray::from(vec!["a", "b", "c"]));
    let label: ArrayRef = Arc::new(
        vec!["pos", "neg", "pos"]
            .into_iter()
            .collect::<DictionaryArray<Int32Type>>(),
    );
    let source: ArrayRef = Arc::new(BooleanArray::from(vec![true, false, true]));
    let id: ArrayRef = Arc::new(UInt8Array::from(vec![7, 8, 9]));
    let mut b = LargeListBuilder::new(Float64Builder::new());
    for v in [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]] {
        b.values().append_slice(&v);
        b.append(true);
    }
    let emb: ArrayRef = Arc::new(b.finish());
    let schema = Arc::new(Schema::new(vec![
        Field::new("content", text.data_type().clone(), false),
        Field::new("class", label.data_type().clone(), false),
        Field::new("source", DataType::Boolean, false),
        Field::new("id", DataType::UInt8, false),
        Field::new("embedding", emb.data_type().clone(), true),
    ]));
    let batch =
        RecordBatch::try_new(schema.clone(), vec![text, label, source, id, emb]).expect("batch");
    write_batches(&path, schema, &[batch]);
    let ds = read_dataset(&path, &all_columns()).expect("read");
    assert_eq!(ds.columns.text, "content");
    assert_eq!(ds.columns.label, "class");
    assert_eq!(ds.texts.iter().collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(ds.labels.names, ["neg", "pos"]);
    assert_eq!(ds.labels.codes, [1, 0, 1]);
    assert_eq!(ds.sources.as_ref().expect("src").names, ["false", "true"]);
    assert_eq!(ds.ids.get(2), "9");
    assert_eq!(
        ds.embeddings.as_ref().expect("emb").values,
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    );
}

#[test]
fn float_labels_and_bad_types() {
    let dir = tmp();
    let path = dir.path().join("f.parquet");
    let text: ArrayRef = Arc::new(StringArray::from(vec!["a", "b"]));
    let label: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 0.5]));
    let num: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 2.0]));
    let int: ArrayRef = Arc::new(Int32Array::from(vec![1, 2]));
    let schema = Arc::new(Schema::new(vec![
        Field::new("text", DataType::Utf8, false),
        Field::new("label", DataType::Float64, false),
        Field::new("num", DataType::Float64, false),
        Field::new("int", DataType::Int32, false),
    ]));
    let batch = RecordBatch::try_new(schema.clone(), vec![text, label, num, int]).expect("batch");
    write_batches(&path, schema, &[batch]);
    // 1.0 is fine, 0.5 is not.
    let err = read_dataset(&path, &opts()).expect_err("float label");
    assert!(
        matches!(err, DataError::InvalidRow { line: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("'label'"));
    let ds = read_dataset(&path, &skipping()).expect("read");
    assert_eq!(ds.labels.names, ["1"]);
    // Integer text is converted to a string.
    let ds = read_dataset(
        &path,
        &opts_with(|c| {
            c.text = Some("int".into());
            c.label = Some("num".into());
        }),
    )
    .expect("read");
    assert_eq!(ds.texts.iter().collect::<Vec<_>>(), ["1", "2"]);
    assert_eq!(ds.labels.names, ["1", "2"]);
    // Float text is not allowed; neither is a non-list embedding.
    let err =
        read_dataset(&path, &opts_with(|c| c.text = Some("num".into()))).expect_err("float text");
    assert!(matches!(err, DataError::InvalidFile { .. }), "{err:?}");
    assert!(err.to_string().contains("'num'") && err.to_string().contains("f.parquet"));
    let err = read_dataset(&path, &opts_with(|c| c.embedding = Some("num".into())))
        .expect_err("bad embedding");
    assert!(matches!(err, DataError::InvalidFile { .. }), "{err:?}");
    assert!(err.to_string().contains("embedding"));
}

#[test]
fn missing_column_lists_schema() {
    let dir = tmp();
    let path = dir.path().join("m.parquet");
    write_parquet(&path, &sample_rows(), 4, true);
    let err =
        read_dataset(&path, &opts_with(|c| c.text = Some("body".into()))).expect_err("missing");
    match &err {
        DataError::MissingColumn {
            role, available, ..
        } => {
            assert_eq!(*role, "text");
            assert_eq!(available, &["id", "text", "label", "source", "embedding"]);
        }
        other => panic!("wrong error {other:?}"),
    }
    assert!(err
        .to_string()
        .contains("id, text, label, source, embedding"));
}

#[test]
fn not_a_parquet_file() {
    let dir = tmp();
    let path = write(&dir, "junk.parquet", "text,label\na,1\n");
    let err = read_dataset(&path, &opts()).expect_err("junk");
    assert!(matches!(err, DataError::InvalidFile { .. }), "{err:?}");
    assert!(err.to_string().contains("junk.parquet"));
}
