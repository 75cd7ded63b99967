//! Reading JSONL/CSV/TSV: values, defaults, every error case, skip-invalid.

mod common;

use bezoar_data::{
    read_dataset, read_dataset_with_progress, DataError, InputFormat, ReadOptions, RowIds,
};
use common::{file_name, opts, opts_with, skipping, write};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn labels_of(ds: &bezoar_data::Dataset) -> Vec<String> {
    (0..ds.len())
        .map(|i| ds.labels.name_of(i).to_string())
        .collect()
}

fn texts_of(ds: &bezoar_data::Dataset) -> Vec<String> {
    ds.texts.iter().map(str::to_string).collect()
}

/// Assert the error message names the file, the line and (if given) the column.
fn assert_names(err: &DataError, path: &std::path::Path, line: u64, column: Option<&str>) {
    let msg = err.to_string();
    let expect = format!("{}:{line}:", file_name(path));
    assert!(msg.contains(&expect), "{msg:?} should contain {expect:?}");
    if let Some(c) = column {
        assert!(
            msg.contains(&format!("'{c}'")),
            "{msg:?} should name column {c}"
        );
    }
}

// ---------------------------------------------------------------- JSONL

#[test]
fn jsonl_reads_all_columns() {
    let dir = tmp();
    let path = write(
        &dir,
        "d.jsonl",
        concat!(
            "{\"id\": \"a1\", \"text\": \"hello\", \"label\": \"pos\", \"src\": \"web\", \"emb\": [0.5, 1, -2.25]}\n",
            "\n",
            "   \n",
            "{\"text\": \"wor\\\"ld\\n\", \"id\": 7, \"label\": \"neg\", \"src\": \"books\", \"emb\": [0, 0, 1e-3], \"extra\": {\"x\": [1, {}]}}\r\n",
            "{\"id\": \"a3\", \"text\": \"\", \"label\": \" pos \", \"src\": 3, \"emb\": [1.5, 2.5, 3.5]}",
        ),
    );
    let o = opts_with(|c| {
        c.id = Some("id".into());
        c.source = Some("src".into());
        c.embedding = Some("emb".into());
    });
    let ds = read_dataset(&path, &o).expect("read");
    assert_eq!(ds.len(), 3);
    assert_eq!(texts_of(&ds), ["hello", "wor\"ld\n", ""]);
    assert_eq!(ds.labels.names, ["neg", "pos"]);
    assert_eq!(ds.labels.codes, [1, 0, 1]);
    assert_eq!(labels_of(&ds), ["pos", "neg", "pos"]);
    assert!(matches!(ds.ids, RowIds::Column(_)));
    let ids: Vec<String> = (0..3).map(|i| ds.ids.get(i).into_owned()).collect();
    assert_eq!(ids, ["a1", "7", "a3"]);
    let src = ds.sources.as_ref().expect("sources");
    assert_eq!(src.names, ["3", "books", "web"]);
    assert_eq!(src.codes, [2, 1, 0]);
    let emb = ds.embeddings.as_ref().expect("embeddings");
    assert_eq!(emb.dim, 3);
    assert_eq!(emb.row(0), [0.5, 1.0, -2.25]);
    assert_eq!(emb.row(1), [0.0, 0.0, 0.001]);
    assert_eq!(emb.row(2), [1.5, 2.5, 3.5]);
    assert_eq!(ds.columns.text, "text");
    assert_eq!(ds.columns.label, "label");
    assert_eq!(ds.columns.id.as_deref(), Some("id"));
    assert_eq!(ds.columns.source.as_deref(), Some("src"));
    assert_eq!(ds.columns.embedding.as_deref(), Some("emb"));
    assert_eq!(ds.skipped.count, 0);
}

#[test]
fn jsonl_numeric_labels_are_ordered_numerically() {
    let dir = tmp();
    let path = write(
        &dir,
        "d.jsonl",
        "{\"text\":\"a\",\"label\":2}\n{\"text\":\"b\",\"label\":\"10\"}\n{\"text\":\"c\",\"label\":1.0}\n{\"text\":\"d\",\"label\":-3}\n{\"text\":\"e\",\"label\":2}\n",
    );
    let ds = read_dataset(&path, &opts()).expect("read");
    assert_eq!(ds.labels.names, ["-3", "1", "2", "10"]);
    assert_eq!(ds.labels.codes, [2, 3, 1, 0, 2]);
    assert_eq!(ds.labels.counts(), [1, 1, 2, 1]);
    assert_eq!(ds.num_classes(), 4);
    assert!(matches!(ds.ids, RowIds::RowNumbers(5)));
    assert_eq!(ds.ids.get(4), "4");
}

#[test]
fn jsonl_many_string_classes_and_bool_labels() {
    let dir = tmp();
    let mut s = String::new();
    for i in 0..200 {
        s.push_str(&format!(
            "{{\"text\": \"row {i}\", \"label\": \"class_{:03}\"}}\n",
            (i * 7) % 50
        ));
    }
    let path = write(&dir, "many.jsonl", &s);
    let ds = read_dataset(&path, &opts()).expect("read");
    assert_eq!(ds.num_classes(), 50);
    let mut sorted = ds.labels.names.clone();
    sorted.sort();
    assert_eq!(ds.labels.names, sorted);
    for i in 0..200 {
        assert_eq!(ds.labels.name_of(i), format!("class_{:03}", (i * 7) % 50));
    }

    let path = write(
        &dir,
        "bool.jsonl",
        "{\"text\":\"a\",\"label\":true}\n{\"text\":\"b\",\"label\":false}\n{\"text\":\"c\",\"label\":true}\n",
    );
    let ds = read_dataset(&path, &opts()).expect("read");
    assert_eq!(ds.labels.names, ["false", "true"]);
    assert_eq!(ds.labels.codes, [1, 0, 1]);
}

#[test]
fn jsonl_bom_long_line_and_unicode() {
    let dir = tmp();
    let long = "x".repeat(3 << 20);
    let content = format!(
        "\u{feff}{{\"text\":\"héllo ✓ \\u00e9\",\"label\":0}}\n{{\"text\":\"{long}\",\"label\":1}}\n"
    );
    let path = write(&dir, "d.ndjson", content);
    let ds = read_dataset(&path, &opts()).expect("read");
    assert_eq!(ds.texts.get(0), "héllo ✓ é");
    assert_eq!(ds.texts.get(1).len(), 3 << 20);
}

#[test]
fn jsonl_repeated_ids_are_refused_naming_both_lines() {
    let dir = tmp();
    let path = write(
        &dir,
        "d.jsonl",
        "{\"id\":1,\"text\":\"a\",\"label\":0}\n{\"id\":2,\"text\":\"b\",\"label\":1}\n{\"id\":1,\"text\":\"c\",\"label\":1}\n",
    );
    let err = read_dataset(&path, &opts_with(|c| c.id = Some("id".into()))).expect_err("dup");
    assert_names(&err, &path, 3, Some("id"));
    assert!(
        err.to_string().contains("repeats the id of line 1"),
        "{err}"
    );
    // With skip_invalid the repeat is a counted skip and the first row stays.
    let mut o = opts_with(|c| c.id = Some("id".into()));
    o.skip_invalid = true;
    let ds = read_dataset(&path, &o).expect("read");
    assert_eq!((ds.len(), ds.skipped.count), (2, 1));
    assert_eq!(ds.texts.get(0), "a");
}

// ---------------------------------------------------------------- CSV / TSV

#[test]
fn csv_reads_all_columns() {
    let dir = tmp();
    let path = write(
        &dir,
        "d.csv",
        "id,text,label,source,emb\n\
         r1,\"hello, world\",pos,web,\"[0.1, 0.2]\"\n\
         r2,\"multi\nline \"\"quoted\"\"\", neg ,books,0.5 -1\n\
         \n\
         r3,plain,pos,web,\"3,4\"\n",
    );
    let o = opts_with(|c| {
        c.id = Some("id".into());
        c.source = Some("source".into());
        c.embedding = Some("emb".into());
    });
    let ds = read_dataset(&path, &o).expect("read");
    assert_eq!(
        texts_of(&ds),
        ["hello, world", "multi\nline \"quoted\"", "plain"]
    );
    assert_eq!(labels_of(&ds), ["pos", "neg", "pos"]);
    assert_eq!(ds.labels.names, ["neg", "pos"]);
    let ids: Vec<String> = (0..3).map(|i| ds.ids.get(i).into_owned()).collect();
    assert_eq!(ids, ["r1", "r2", "r3"]);
    let src = ds.sources.as_ref().expect("sources");
    assert_eq!(src.names, ["books", "web"]);
    assert_eq!(src.codes, [1, 0, 1]);
    let emb = ds.embeddings.as_ref().expect("embeddings");
    assert_eq!(emb.dim, 2);
    assert_eq!(emb.values, [0.1, 0.2, 0.5, -1.0, 3.0, 4.0]);
}

#[test]
fn csv_numeric_label_order_and_crlf_bom() {
    let dir = tmp();
    let path = write(
        &dir,
        "d.CSV",
        "\u{feff}text,label\r\na,2\r\nb,10\r\nc,1\r\n",
    );
    let ds = read_dataset(&path, &opts()).expect("read");
    assert_eq!(ds.labels.names, ["1", "2", "10"]);
    assert_eq!(ds.labels.codes, [1, 2, 0]);
    assert_eq!(texts_of(&ds), ["a", "b", "c"]);
}

#[test]
fn tsv_reads() {
    let dir = tmp();
    let path = write(
        &dir,
        "d.tsv",
        "sentence\tlabel\tid\nit's, fine\t1\tx\nbad\t0\ty\n",
    );
    let ds = read_dataset(&path, &opts_with(|c| c.id = Some("id".into()))).expect("read");
    assert_eq!(texts_of(&ds), ["it's, fine", "bad"]);
    assert_eq!(ds.labels.names, ["0", "1"]);
    assert_eq!(ds.columns.text, "sentence");
    assert_eq!(ds.ids.get(1), "y");
}

#[test]
fn explicit_format_overrides_extension() {
    let dir = tmp();
    let path = write(&dir, "data.txt", "text\tlabel\na\t1\n");
    let err = read_dataset(&path, &opts()).expect_err("unknown ext");
    assert!(matches!(err, DataError::UnknownFormat { .. }), "{err:?}");
    assert!(err.to_string().contains("data.txt"));
    let o = ReadOptions {
        format: Some(InputFormat::Tsv),
        ..opts()
    };
    let ds = read_dataset(&path, &o).expect("read");
    assert_eq!(ds.len(), 1);
    // A JSONL file read as JSONL even though it ends in .csv.
    let path = write(&dir, "lies.csv", "{\"text\":\"a\",\"label\":1}\n");
    let o = ReadOptions {
        format: Some(InputFormat::Jsonl),
        ..opts()
    };
    assert_eq!(read_dataset(&path, &o).expect("read").len(), 1);
}

// ---------------------------------------------------------------- defaults

#[test]
fn default_columns() {
    let dir = tmp();
    let cases = [
        ("sentence", "labels"),
        ("content", "class"),
        ("text", "label"),
    ];
    for (t, l) in cases {
        let path = write(
            &dir,
            &format!("{t}_{l}.jsonl"),
            format!("{{\"{t}\":\"x\",\"{l}\":1,\"other\":2}}\n"),
        );
        let ds = read_dataset(&path, &opts()).expect("read");
        assert_eq!(ds.columns.text, t);
        assert_eq!(ds.columns.label, l);
        let path = write(
            &dir,
            &format!("{t}_{l}.csv"),
            format!("other,{l},{t}\n2,1,x\n"),
        );
        let ds = read_dataset(&path, &opts()).expect("read");
        assert_eq!(
            (ds.columns.text.as_str(), ds.columns.label.as_str()),
            (t, l)
        );
        assert_eq!(ds.texts.get(0), "x");
        assert_eq!(ds.labels.name_of(0), "1");
    }
    // First existing default wins.
    let path = write(&dir, "both.csv", "content,text,class,label\na,b,c,d\n");
    let ds = read_dataset(&path, &opts()).expect("read");
    assert_eq!(ds.columns.text, "text");
    assert_eq!(ds.columns.label, "label");
    assert_eq!(ds.texts.get(0), "b");
    // Named columns override defaults.
    let ds = read_dataset(
        &path,
        &opts_with(|c| {
            c.text = Some("content".into());
            c.label = Some("class".into());
        }),
    )
    .expect("read");
    assert_eq!(ds.texts.get(0), "a");
    assert_eq!(ds.labels.name_of(0), "c");
}

// ---------------------------------------------------------------- errors

#[test]
fn missing_default_column_lists_available() {
    let dir = tmp();
    let path = write(&dir, "d.jsonl", "{\"body\":\"x\",\"label\":1}\n");
    let err = read_dataset(&path, &opts()).expect_err("missing");
    match &err {
        DataError::MissingColumn {
            role,
            wanted,
            available,
            ..
        } => {
            assert_eq!(*role, "text");
            assert_eq!(wanted, "text (tried text, sentence, content)");
            assert_eq!(available, &["body", "label"]);
        }
        other => panic!("wrong error {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("d.jsonl") && msg.contains("body, label"),
        "{msg}"
    );

    let path = write(&dir, "d.csv", "text,y\na,1\n");
    let err = read_dataset(&path, &opts()).expect_err("missing");
    assert!(
        matches!(&err, DataError::MissingColumn { role: "label", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("tried label, labels, class"));
    assert!(err.to_string().contains("text, y"));
}

#[test]
fn missing_named_column() {
    let dir = tmp();
    let path = write(&dir, "d.tsv", "text\tlabel\na\t1\n");
    for (role, set) in [
        ("text", 0),
        ("label", 1),
        ("id", 2),
        ("source", 3),
        ("embedding", 4),
    ] {
        let o = opts_with(|c| {
            let v = Some("nope".to_string());
            match set {
                0 => c.text = v,
                1 => c.label = v,
                2 => c.id = v,
                3 => c.source = v,
                _ => c.embedding = v,
            }
        });
        let err = read_dataset(&path, &o).expect_err("missing");
        match &err {
            DataError::MissingColumn {
                role: r, wanted, ..
            } => {
                assert_eq!(*r, role);
                assert_eq!(wanted, "nope");
            }
            other => panic!("wrong error {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("d.tsv") && msg.contains("'nope'") && msg.contains("text, label"));
    }
}

#[test]
fn wrong_value_types_in_jsonl() {
    let dir = tmp();
    let cases: &[(&str, &str, &str)] = &[
        (
            "{\"text\": 5, \"label\": 1}",
            "text",
            "expected a string, found number",
        ),
        ("{\"text\": null, \"label\": 1}", "text", "null value"),
        ("{\"label\": 1}", "text", "missing value"),
        (
            "{\"text\": [\"a\"], \"label\": 1}",
            "text",
            "expected a string, found array",
        ),
        ("{\"text\": \"a\", \"label\": null}", "label", "null value"),
        ("{\"text\": \"a\"}", "label", "missing value"),
        (
            "{\"text\": \"a\", \"label\": 1.5}",
            "label",
            "found number 1.5",
        ),
        ("{\"text\": \"a\", \"label\": [1]}", "label", "found array"),
        (
            "{\"text\": \"a\", \"label\": {\"a\": 1}}",
            "label",
            "found object",
        ),
        (
            "{\"text\": \"a\", \"label\": \"  \"}",
            "label",
            "empty label",
        ),
    ];
    for (i, (row, column, message)) in cases.iter().enumerate() {
        let path = write(
            &dir,
            &format!("t{i}.jsonl"),
            format!("{{\"text\":\"ok\",\"label\":0}}\n\n{row}\n"),
        );
        let err = read_dataset(&path, &opts()).expect_err(row);
        match &err {
            DataError::InvalidRow {
                line,
                column: c,
                message: m,
                ..
            } => {
                assert_eq!(*line, 3, "{row}");
                assert_eq!(c, column, "{row}");
                assert!(m.contains(message), "{m:?} should contain {message:?}");
            }
            other => panic!("{row}: wrong error {other:?}"),
        }
        assert_names(&err, &path, 3, Some(column));
    }
}

#[test]
fn wrong_id_source_embedding_types_in_jsonl() {
    let dir = tmp();
    let o = opts_with(|c| {
        c.id = Some("id".into());
        c.source = Some("src".into());
        c.embedding = Some("e".into());
    });
    let good = "{\"id\":1,\"text\":\"a\",\"label\":0,\"src\":\"s\",\"e\":[1,2]}";
    let cases: &[(&str, &str, &str)] = &[
        (
            "{\"id\":true,\"text\":\"a\",\"label\":0,\"src\":\"s\",\"e\":[1,2]}",
            "id",
            "found boolean",
        ),
        (
            "{\"id\":2,\"text\":\"a\",\"label\":0,\"src\":null,\"e\":[1,2]}",
            "src",
            "null value",
        ),
        (
            "{\"id\":2,\"text\":\"a\",\"label\":0,\"src\":\"s\",\"e\":\"1 2\"}",
            "e",
            "expected an array of numbers, found string",
        ),
        (
            "{\"id\":2,\"text\":\"a\",\"label\":0,\"src\":\"s\",\"e\":[1,\"x\"]}",
            "e",
            "expected a number at position 1, found string",
        ),
        (
            "{\"id\":2,\"text\":\"a\",\"label\":0,\"src\":\"s\",\"e\":[1,2,3]}",
            "e",
            "dimension 3, expected 2",
        ),
        (
            "{\"id\":2,\"text\":\"a\",\"label\":0,\"src\":\"s\",\"e\":[1e300,2]}",
            "e",
            "non-finite value at position 0",
        ),
        (
            "{\"id\":2,\"text\":\"a\",\"label\":0,\"src\":\"s\",\"e\":[]}",
            "e",
            "empty embedding",
        ),
    ];
    for (i, (row, column, message)) in cases.iter().enumerate() {
        let path = write(&dir, &format!("t{i}.jsonl"), format!("{good}\n{row}\n"));
        let err = read_dataset(&path, &o).expect_err(row);
        assert!(
            matches!(&err, DataError::InvalidRow { line: 2, .. }),
            "{row}: {err:?}"
        );
        assert_names(&err, &path, 2, Some(column));
        assert!(
            err.to_string().contains(message),
            "{err} should contain {message:?}"
        );
    }
}

#[test]
fn malformed_jsonl_lines() {
    let dir = tmp();
    let cases: &[(&[u8], &str)] = &[
        (b"{\"text\": \"a\", \"label\": 1", "invalid JSON"),
        (b"{\"text\": \"a\", \"label\": 1} x", "invalid JSON"),
        (b"[1, 2]", "expected a JSON object, found array"),
        (b"\"just a string\"", "expected a JSON object, found string"),
        (b"42", "expected a JSON object, found number"),
        (
            b"{\"text\": \"a\xff\", \"label\": 1}",
            "invalid UTF-8 at byte 11",
        ),
    ];
    for (i, (row, message)) in cases.iter().enumerate() {
        let mut content =
            b"{\"text\":\"ok\",\"label\":0}\n{\"text\":\"ok\",\"label\":0}\n".to_vec();
        content.extend_from_slice(row);
        content.extend_from_slice(b"\n{\"text\":\"ok\",\"label\":0}\n");
        let path = write(&dir, &format!("m{i}.jsonl"), content);
        let err = read_dataset(&path, &opts()).expect_err(message);
        match &err {
            DataError::Malformed {
                line, message: m, ..
            } => {
                assert_eq!(*line, 3);
                assert!(m.contains(message), "{m:?} should contain {message:?}");
            }
            other => panic!("wrong error {other:?}"),
        }
        assert_names(&err, &path, 3, None);
    }
    // A bad first line is reported too (before columns are known).
    let path = write(
        &dir,
        "first.jsonl",
        "not json\n{\"text\":\"ok\",\"label\":0}\n",
    );
    let err = read_dataset(&path, &opts()).expect_err("bad first line");
    assert!(
        matches!(err, DataError::Malformed { line: 1, .. }),
        "{err:?}"
    );
    // ...and skipped with skip_invalid, the next object then decides the columns.
    let ds = read_dataset(&path, &skipping()).expect("read");
    assert_eq!(ds.len(), 1);
    assert_eq!(ds.skipped.count, 1);
}

#[test]
fn deeply_nested_json_is_an_error_not_a_crash() {
    let dir = tmp();
    let deep = "[".repeat(200_000);
    for (i, row) in [
        format!("{{\"text\":\"a\",\"label\":1,\"junk\":{deep}}}"),
        format!("{{\"text\":\"a\",\"label\":{deep}}}"),
        deep.clone(),
    ]
    .iter()
    .enumerate()
    {
        let path = write(
            &dir,
            &format!("deep{i}.jsonl"),
            format!("{{\"text\":\"a\",\"label\":1}}\n{row}\n"),
        );
        let err = read_dataset(&path, &opts()).expect_err("deep");
        assert!(
            matches!(err, DataError::Malformed { line: 2, .. }),
            "{err:?}"
        );
    }
}

#[test]
fn csv_invalid_utf8_names_line_and_column() {
    let dir = tmp();
    let path = write(&dir, "u.csv", b"text,label\nok,1\nb\xffd,0\n".as_slice());
    let err = read_dataset(&path, &opts()).expect_err("utf8");
    match &err {
        DataError::InvalidRow {
            line,
            column,
            message,
            ..
        } => {
            assert_eq!(*line, 3);
            assert_eq!(column, "text");
            assert!(message.contains("invalid UTF-8"), "{message}");
        }
        other => panic!("wrong error {other:?}"),
    }
    assert_names(&err, &path, 3, Some("text"));
    // Invalid UTF-8 in a column we don't use is fine.
    let path = write(&dir, "v.csv", b"text,label,junk\nok,1,\xff\n".as_slice());
    assert_eq!(read_dataset(&path, &opts()).expect("read").len(), 1);
    // Invalid UTF-8 in the header is a line-1 error.
    let path = write(&dir, "h.csv", b"te\xffxt,label\nok,1\n".as_slice());
    let err = read_dataset(&path, &opts()).expect_err("header");
    assert!(
        matches!(err, DataError::Malformed { line: 1, .. }),
        "{err:?}"
    );
    assert_names(&err, &path, 1, None);
}

#[test]
fn csv_wrong_field_count() {
    let dir = tmp();
    let path = write(
        &dir,
        "f.csv",
        "text,label\na,1\n\"multi\nline\",0\nb,1,extra\n",
    );
    let err = read_dataset(&path, &opts()).expect_err("fields");
    match &err {
        DataError::Malformed { line, message, .. } => {
            assert_eq!(*line, 5);
            assert!(message.contains("expected 2 fields"), "{message}");
            assert!(message.contains("found 3"), "{message}");
        }
        other => panic!("wrong error {other:?}"),
    }
    assert_names(&err, &path, 5, None);
    let path = write(&dir, "f.tsv", "text\tlabel\na\n");
    let err = read_dataset(&path, &opts()).expect_err("fields");
    assert!(
        matches!(err, DataError::Malformed { line: 2, .. }),
        "{err:?}"
    );
}

#[test]
fn csv_embedding_errors() {
    let dir = tmp();
    let o = opts_with(|c| c.embedding = Some("emb".into()));
    let cases = [
        ("\"[1,2,3]\"", "dimension 3, expected 2"),
        ("\"1 nan\"", "non-finite value at position 1"),
        ("inf", "non-finite value at position 0"),
        ("\"[1, 1e39]\"", "non-finite value at position 1"),
        ("\"[1, x]\"", "invalid number 'x' at position 1"),
        ("\"[1, 2\"", "does not end with ']'"),
        ("\"\"", "empty embedding"),
        ("[]", "empty embedding"),
    ];
    for (i, (cell, message)) in cases.iter().enumerate() {
        let path = write(
            &dir,
            &format!("e{i}.csv"),
            format!("text,label,emb\na,1,\"0.5, 0.25\"\nb,0,{cell}\n"),
        );
        let err = read_dataset(&path, &o).expect_err(cell);
        assert!(
            matches!(err, DataError::InvalidRow { line: 3, .. }),
            "{err:?}"
        );
        assert_names(&err, &path, 3, Some("emb"));
        assert!(
            err.to_string().contains(message),
            "{err} should contain {message:?}"
        );
    }
    // NaN in the first row.
    let path = write(&dir, "nan.csv", "text,label,emb\na,1,NaN\n");
    let err = read_dataset(&path, &o).expect_err("nan");
    assert!(
        err.to_string().contains("non-finite value at position 0"),
        "{err}"
    );
    assert_names(&err, &path, 2, Some("emb"));
}

#[test]
fn csv_empty_label() {
    let dir = tmp();
    let path = write(&dir, "l.csv", "text,label\na,1\nb,  \n");
    let err = read_dataset(&path, &opts()).expect_err("empty label");
    assert!(
        matches!(err, DataError::InvalidRow { line: 3, .. }),
        "{err:?}"
    );
    assert_names(&err, &path, 3, Some("label"));
    assert!(err.to_string().contains("empty label"));
}

#[test]
fn empty_inputs() {
    let dir = tmp();
    for name in ["e.jsonl", "e.csv", "e.tsv", "e.parquet"] {
        let path = write(&dir, name, "");
        let err = read_dataset(&path, &opts()).expect_err(name);
        assert!(matches!(err, DataError::Empty { .. }), "{name}: {err:?}");
        assert!(err.to_string().contains(name));
    }
    let path = write(&dir, "header.csv", "text,label\n");
    let err = read_dataset(&path, &opts()).expect_err("header only");
    assert!(matches!(err, DataError::Empty { .. }), "{err:?}");
    let path = write(&dir, "header.tsv", "text\tlabel");
    let err = read_dataset(&path, &opts()).expect_err("header only");
    assert!(matches!(err, DataError::Empty { .. }), "{err:?}");
    let path = write(&dir, "blank.jsonl", "\n\n  \n");
    let err = read_dataset(&path, &opts()).expect_err("blank");
    assert!(matches!(err, DataError::Empty { .. }), "{err:?}");
    let path = write(&dir, "newline.csv", "\n\n");
    let err = read_dataset(&path, &opts()).expect_err("blank csv");
    assert!(matches!(err, DataError::Empty { .. }), "{err:?}");
}

#[test]
fn io_error_for_missing_file() {
    let dir = tmp();
    let path = dir.path().join("nope.jsonl");
    let err = read_dataset(&path, &opts()).expect_err("missing");
    assert!(matches!(err, DataError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("nope.jsonl"));
}

// ---------------------------------------------------------------- skip-invalid

#[test]
fn skip_invalid_counts_and_keeps_examples() {
    let dir = tmp();
    let mut s = String::from("{\"text\":\"first\",\"label\":1}\n");
    for i in 0..30 {
        if i % 3 == 0 {
            s.push_str("{\"text\":\"bad\",\"label\":null}\n");
        } else if i % 3 == 1 {
            s.push_str("{broken\n");
        } else {
            s.push_str("{\"text\":7,\"label\":1}\n");
        }
        s.push_str(&format!("{{\"text\":\"good {i}\",\"label\":0}}\n"));
    }
    let path = write(&dir, "s.jsonl", &s);
    let ds = read_dataset(&path, &skipping()).expect("read");
    assert_eq!(ds.len(), 31);
    assert_eq!(ds.skipped.count, 30);
    assert_eq!(ds.skipped.examples.len(), 20);
    assert_eq!(ds.skipped.examples[0].line, 2);
    assert_eq!(ds.skipped.examples[0].reason, "column 'label': null value");
    assert_eq!(ds.skipped.examples[1].line, 4);
    assert!(ds.skipped.examples[1].reason.starts_with("invalid JSON"));
    assert_eq!(ds.skipped.examples[2].line, 6);
    assert_eq!(
        ds.skipped.examples[2].reason,
        "column 'text': expected a string, found number"
    );
    // Row numbers count the rows kept.
    assert!(matches!(ds.ids, RowIds::RowNumbers(31)));
    assert_eq!(ds.texts.get(1), "good 0");
    assert_eq!(ds.labels.names, ["0", "1"]);

    // Without skip_invalid the first error is returned.
    let err = read_dataset(&path, &opts()).expect_err("strict");
    assert!(
        matches!(err, DataError::InvalidRow { line: 2, .. }),
        "{err:?}"
    );

    // Missing columns are never skipped.
    let err = read_dataset(&path, &{
        let mut o = skipping();
        o.columns.id = Some("id".into());
        o
    })
    .expect_err("missing column");
    assert!(matches!(err, DataError::MissingColumn { .. }), "{err:?}");
}

#[test]
fn skip_invalid_csv_and_all_bad() {
    let dir = tmp();
    let o = {
        let mut o = skipping();
        o.columns.embedding = Some("e".into());
        o
    };
    let path = write(
        &dir,
        "s.csv",
        b"text,label,e\na,1,1 2\nb,1\nc,,1 2\nd\xff,1,1 2\ne,0,1 2 3\nf,0,3 4\n".as_slice(),
    );
    let ds = read_dataset(&path, &o).expect("read");
    assert_eq!(texts_of(&ds), ["a", "f"]);
    assert_eq!(ds.skipped.count, 4);
    let lines: Vec<u64> = ds.skipped.examples.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3, 4, 5, 6]);
    assert!(ds.skipped.examples[0].reason.contains("expected 3 fields"));
    assert_eq!(ds.skipped.examples[1].reason, "column 'label': empty label");
    assert!(ds.skipped.examples[2]
        .reason
        .contains("column 'text': invalid UTF-8"));
    assert!(ds.skipped.examples[3]
        .reason
        .contains("dimension 3, expected 2"));
    assert_eq!(
        ds.embeddings.as_ref().expect("emb").values,
        [1.0, 2.0, 3.0, 4.0]
    );

    let path = write(&dir, "bad.csv", "text,label\na,\nb, \n");
    let err = read_dataset(&path, &skipping()).expect_err("all bad");
    assert!(matches!(err, DataError::Empty { .. }), "{err:?}");
}

// ---------------------------------------------------------------- progress

#[test]
fn progress_reports_bytes() {
    let dir = tmp();
    let mut s = String::new();
    for i in 0..50_000 {
        s.push_str(&format!(
            "{{\"text\":\"row number {i}\",\"label\":{}}}\n",
            i % 3
        ));
    }
    let path = write(&dir, "p.jsonl", &s);
    let mut calls = Vec::new();
    let ds =
        read_dataset_with_progress(&path, &opts(), &mut |done, total| calls.push((done, total)))
            .expect("read");
    assert_eq!(ds.len(), 50_000);
    let size = s.len() as u64;
    assert!(calls.len() >= 2, "{calls:?}");
    assert_eq!(calls.last(), Some(&(size, Some(size))));
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));

    let path = write(&dir, "p.csv", "text,label\na,1\n");
    let mut last = None;
    read_dataset_with_progress(&path, &opts(), &mut |d, t| last = Some((d, t))).expect("read");
    assert_eq!(last, Some((15, Some(15))));
}
