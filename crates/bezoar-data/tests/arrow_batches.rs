//! Datasets from Arrow record batches in memory (the Python package's input path).

mod common;

use std::sync::Arc;

use arrow_array::{
    ArrayRef, Int64Array, LargeStringArray, RecordBatch, StringArray, StringViewArray,
};
use arrow_schema::{ArrowError, DataType, Field, Schema};
use bezoar_data::{dataset_from_batches, DataError};
use common::opts;
use std::path::Path;

const TEXTS: [&str; 5] = ["good film", "bad plot", "ünïcode ✓", "fine", "great fun"];

fn batches(text: ArrayRef, split: usize) -> (Schema, Vec<Result<RecordBatch, ArrowError>>) {
    let n = text.len();
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("text", text.data_type().clone(), true),
        Field::new("label", DataType::Utf8, false),
    ]);
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(10..10 + n as i64));
    let labels: ArrayRef = Arc::new(StringArray::from_iter_values((0..n).map(|i| {
        if i % 2 == 0 {
            "pos"
        } else {
            "neg"
        }
    })));
    let whole = RecordBatch::try_new(Arc::new(schema.clone()), vec![ids, text, labels]).unwrap();
    // Two batches, so row numbers must carry across batch boundaries.
    let out = vec![Ok(whole.slice(0, split)), Ok(whole.slice(split, n - split))];
    (schema, out)
}

fn read(text: ArrayRef) -> Result<bezoar_data::Dataset, DataError> {
    let (schema, b) = batches(text, 2);
    let mut o = opts();
    o.columns.id = Some("id".into());
    dataset_from_batches(Path::new("<arrow data>"), &schema, b, &o)
}

#[test]
fn string_large_string_and_string_view_read_the_same() {
    let plain = read(Arc::new(StringArray::from_iter_values(TEXTS))).unwrap();
    let large = read(Arc::new(LargeStringArray::from_iter_values(TEXTS))).unwrap();
    let view = read(Arc::new(StringViewArray::from_iter_values(TEXTS))).unwrap();
    for ds in [&plain, &large, &view] {
        assert_eq!(ds.len(), TEXTS.len());
        let texts: Vec<&str> = ds.texts.iter().collect();
        assert_eq!(texts, TEXTS);
        assert_eq!(ds.ids.get(4), "14");
        assert_eq!(ds.labels.names, ["neg", "pos"]);
        // Rows are numbered 1.. across batches: the "line" reports name.
        assert_eq!(ds.lines, [1, 2, 3, 4, 5]);
    }
}

#[test]
fn a_null_text_names_its_row_and_column() {
    let text = StringArray::from(vec![Some("a"), Some("b"), None, Some("d"), Some("e")]);
    let e = read(Arc::new(text)).unwrap_err().to_string();
    assert!(e.contains("<arrow data>:3"), "{e}");
    assert!(e.contains("column 'text'"), "{e}");
}

#[test]
fn a_missing_column_and_an_empty_table_are_errors() {
    let (schema, b) = batches(Arc::new(StringArray::from_iter_values(TEXTS)), 2);
    let mut o = opts();
    o.columns.text = Some("body".into());
    let e = dataset_from_batches(Path::new("<arrow data>"), &schema, b, &o)
        .unwrap_err()
        .to_string();
    assert!(e.contains("'body'"), "{e}");
    let e =
        dataset_from_batches(Path::new("<arrow data>"), &schema, Vec::new(), &opts()).unwrap_err();
    assert!(matches!(e, DataError::Empty { .. }), "{e}");
}
