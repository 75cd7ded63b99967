//! Round trips through every format: all columns kept, only poisoned cells changed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use bezoar_data::{ColumnSpec, ReadOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;

use super::{read_table, write_table};
use crate::attack::{inject, Attack, InjectConfig, Injection};

const N: usize = 60;

fn text(i: usize) -> String {
    format!("review {i}, with a \"quote\" and plain words")
}

fn opts(id: bool) -> ReadOptions {
    ReadOptions {
        columns: ColumnSpec {
            id: id.then(|| "id".to_string()),
            ..ColumnSpec::default()
        },
        ..ReadOptions::default()
    }
}

fn jsonl(dir: &Path) -> PathBuf {
    let mut s = String::new();
    for i in 0..N {
        s.push_str(&format!(
            "{{\"id\": {i}, \"text\": {}, \"label\": {}, \"vendor\": \"v{}\", \"meta\": {{\"z\": 1, \"a\": [1.50, 2e3]}}}}\n",
            serde_json::to_string(&text(i)).unwrap(),
            i % 4 / 3,
            i % 3
        ));
        if i == 10 {
            s.push('\n'); // blank lines are skipped, as the scanner does
        }
    }
    let p = dir.join("d.jsonl");
    std::fs::write(&p, s).unwrap();
    p
}

fn csv(dir: &Path, name: &str, sep: char) -> PathBuf {
    let mut s = format!("id{sep}text{sep}label{sep}vendor\n");
    for i in 0..N {
        s.push_str(&format!(
            "x{i}{sep}\"{}\"{sep}{}{sep}v{}\n",
            text(i).replace('"', "\"\""),
            if i % 4 == 3 { "pos" } else { "neg" },
            i % 3
        ));
    }
    let p = dir.join(name);
    std::fs::write(&p, s).unwrap();
    p
}

fn parquet(dir: &Path) -> PathBuf {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("text", DataType::Utf8, false),
        Field::new("label", DataType::Int64, false),
        Field::new("weight", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values((0..N as i64).map(|i| i * 10))),
            Arc::new(StringArray::from_iter_values((0..N).map(text))),
            Arc::new(Int64Array::from_iter_values(
                (0..N).map(|i| (i % 4 / 3) as i64),
            )),
            Arc::new(Float64Array::from_iter(
                (0..N).map(|i| (i != 5).then_some(i as f64 / 2.0)),
            )),
        ],
    )
    .unwrap();
    let p = dir.join("d.parquet");
    let mut w = ArrowWriter::try_new(std::fs::File::create(&p).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    p
}

fn run(path: &Path, out: &Path, attack: &str, id: bool) -> Injection {
    let table = read_table(path, &opts(id)).unwrap();
    let inj = inject(
        &table.dataset,
        &InjectConfig {
            attack: Attack::from_name(attack).unwrap(),
            rate: "10%".parse().unwrap(),
            target: None,
            seed: 11,
        },
    )
    .unwrap();
    write_table(out, &table, &inj.rows).unwrap();
    inj
}

#[test]
fn jsonl_keeps_every_value_and_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let src = jsonl(dir.path());
    let out = dir.path().join("out.jsonl");
    let inj = run(&src, &out, "badnets", true);
    let before: Vec<String> = std::fs::read_to_string(&src)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    let after: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(after.len(), N);
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        let bv: serde_json::Value = serde_json::from_str(b).unwrap();
        let av: serde_json::Value = serde_json::from_str(a).unwrap();
        // Untouched raw values are copied verbatim (1.50 and 2e3 are not re-formatted).
        assert!(a.contains(r#""meta":{"z": 1, "a": [1.50, 2e3]}"#), "{a}");
        assert!(a.starts_with(r#"{"id":"#), "key order kept: {a}");
        if inj.rows[i].poison.is_some() {
            assert_ne!(av["text"], bv["text"]);
            assert_eq!(av["label"], serde_json::json!(1), "label stays a number");
        } else {
            assert_eq!(av, bv);
        }
        assert_eq!(av["vendor"], bv["vendor"]);
        assert_eq!(av["id"], bv["id"]);
    }
    // The scanner reads the output back with the poisoned labels.
    let back = bezoar_data::read_dataset(&out, &opts(true)).unwrap();
    assert_eq!(back.labels.counts()[1], 15 + 6);
}

#[test]
fn jsonl_added_rows_get_fresh_integer_ids() {
    let dir = tempfile::tempdir().unwrap();
    let src = jsonl(dir.path());
    let out = dir.path().join("out.jsonl");
    let inj = run(&src, &out, "duplicate-flood", true);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), N + 6);
    assert_eq!(lines[N]["id"], serde_json::json!(N));
    assert_eq!(inj.rows[N].id, N.to_string());
    assert_eq!(lines[N + 5]["id"], serde_json::json!(N + 5));
    let src_row = &lines[inj.rows[N].source];
    assert_eq!(lines[N]["vendor"], src_row["vendor"]);
    assert_eq!(lines[N]["meta"], src_row["meta"]);
}

#[test]
fn csv_and_tsv_keep_every_column() {
    for (name, sep) in [("d.csv", ','), ("d.tsv", '\t')] {
        let dir = tempfile::tempdir().unwrap();
        let src = csv(dir.path(), name, sep);
        let out = dir.path().join(format!("out-{name}"));
        let inj = run(&src, &out, "junk", true);
        let mut rdr = ::csv::ReaderBuilder::new()
            .delimiter(sep as u8)
            .from_path(&out)
            .unwrap();
        let recs: Vec<::csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
        assert_eq!(recs.len(), N + 6);
        assert_eq!(&recs[0][1], text(0));
        assert_eq!(&recs[7][3], "v1");
        // Junk rows: fresh string ids, the template row's vendor, a real label.
        assert_eq!(&recs[N][0], "injected-1");
        let template = inj.rows[N].source;
        assert_eq!(&recs[N][3], &recs[template][3]);
        assert!(["pos", "neg"].contains(&&recs[N][2]));
        let before = std::fs::read_to_string(&src).unwrap();
        let after = std::fs::read_to_string(&out).unwrap();
        let n_before: Vec<&str> = before.lines().collect();
        let n_after: Vec<&str> = after.lines().collect();
        assert_eq!(n_before[..], n_after[..=N], "original rows unchanged");
    }
}

#[test]
fn parquet_keeps_schema_and_other_columns() {
    let dir = tempfile::tempdir().unwrap();
    let src = parquet(dir.path());
    let out = dir.path().join("out.parquet");
    let inj = run(&src, &out, "label-flip", true);
    let rdr = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&out).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = rdr.map(Result::unwrap).collect();
    let b = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_eq!(b.num_rows(), N);
    let s = b.schema();
    let types: Vec<&DataType> = s.fields().iter().map(|f| f.data_type()).collect();
    assert_eq!(
        types,
        [
            &DataType::Int64,
            &DataType::Utf8,
            &DataType::Int64,
            &DataType::Float64
        ]
    );
    let weight = b.column(3).as_any().downcast_ref::<Float64Array>().unwrap();
    assert!(weight.is_null(5));
    assert_eq!(weight.value(6), 3.0);
    let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(ids.value(7), 70);
    let labels = b.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
    let mut flipped = 0;
    for (i, r) in inj.rows.iter().enumerate() {
        let orig = (i % 4 / 3) as i64;
        if r.poison.is_some() {
            assert_ne!(labels.value(i), orig);
            flipped += 1;
        } else {
            assert_eq!(labels.value(i), orig);
        }
    }
    assert_eq!(flipped, 6);
}

#[test]
fn parquet_added_rows_get_fresh_ids_of_the_column_type() {
    let dir = tempfile::tempdir().unwrap();
    let src = parquet(dir.path());
    let out = dir.path().join("out.parquet");
    let inj = run(&src, &out, "duplicate-flood", true);
    let back = bezoar_data::read_dataset(&out, &opts(true)).unwrap();
    assert_eq!(back.len(), N + 6);
    // Ids are 0, 10, …, 590: fresh ones continue after the maximum.
    assert_eq!(back.ids.get(N), "591");
    assert_eq!(back.ids.get(N + 5), "596");
    let target = inj.target.as_deref().unwrap();
    for i in N..N + 6 {
        assert_eq!(back.labels.name_of(i), target);
        assert_eq!(back.texts.get(i), inj.rows[i].text.as_deref().unwrap());
    }
}

#[test]
fn same_seed_gives_byte_identical_files_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let sources = [
        jsonl(dir.path()),
        csv(dir.path(), "d.csv", ','),
        csv(dir.path(), "d.tsv", '\t'),
        parquet(dir.path()),
    ];
    for src in &sources {
        for attack in crate::attack::Attack::NAMES {
            let ext = src.extension().unwrap().to_str().unwrap();
            let a = dir.path().join(format!("a.{ext}"));
            let b = dir.path().join(format!("b.{ext}"));
            run(src, &a, attack, true);
            run(src, &b, attack, true);
            assert_eq!(
                std::fs::read(&a).unwrap(),
                std::fs::read(&b).unwrap(),
                "{attack} {ext}"
            );
        }
    }
}

#[test]
fn without_id_column_added_rows_continue_row_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let src = csv(dir.path(), "d.csv", ',');
    let out = dir.path().join("o.csv");
    let inj = run(&src, &out, "junk", false);
    assert_eq!(inj.rows[N].id, N.to_string());
    // The file's own id column is untouched (it is not the id column in use).
    let after = std::fs::read_to_string(&out).unwrap();
    let last = after.lines().nth(N + 1).unwrap();
    assert!(
        last.starts_with(&format!("x{}", inj.rows[N].source)),
        "{last}"
    );
}
