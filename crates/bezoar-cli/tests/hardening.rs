//! Issue #12, row by row: each test here failed before its fix. Names that escape the ledger,
//! forged log lines, events committed by failing commands, concurrent `init`, pipes and FIFOs,
//! repeated ids, spreadsheet formulas in CSV output, and bad input that must exit 2.

mod common;

use common::{code, out};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bezoar(dir: &Path, token: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bezoar"));
    cmd.args(args).current_dir(dir).env_remove("BEZOAR_TOKEN");
    if let Some(t) = token {
        cmd.env("BEZOAR_TOKEN", t);
    }
    cmd.output().expect("run bezoar")
}

#[track_caller]
fn expect(dir: &Path, token: Option<&str>, want: i32, args: &[&str]) -> String {
    let o = bezoar(dir, token, args);
    assert_eq!(code(&o), want, "bezoar {args:?}:\n{}", out(&o));
    out(&o)
}

fn rows(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{{\"id\":\"r{i}\",\"text\":\"review {i} of a product\",\"label\":\"{}\"}}\n",
                if i % 2 == 0 { "pos" } else { "neg" }
            )
        })
        .collect()
}

/// A ledger (in `work/`, so its parent is ours to inspect) with `reviews@1`; the admin token.
fn ledger() -> (tempfile::TempDir, PathBuf, String) {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("work");
    std::fs::create_dir(&d).unwrap();
    let o = expect(&d, None, 0, &["init"]);
    let token = o
        .lines()
        .rfind(|l| l.starts_with("bzr_"))
        .unwrap()
        .trim()
        .to_string();
    std::fs::write(d.join("t.jsonl"), rows(20)).unwrap();
    expect(
        &d,
        Some(&token),
        0,
        &[
            "add",
            "t.jsonl",
            "--dataset",
            "reviews",
            "--source",
            "acme",
            "--id",
            "id",
        ],
    );
    (t, d, token)
}

#[test]
fn names_that_could_escape_the_ledger_are_refused_everywhere() {
    let (t, d, tok) = ledger();
    let long = "x".repeat(300);
    for bad in [
        "../../etc/x",
        "a/b",
        "*",
        ".",
        "..",
        "-rf",
        "a b",
        long.as_str(),
    ] {
        let o = expect(
            &d,
            Some(&tok),
            2,
            &[
                "add",
                "t.jsonl",
                &format!("--dataset={bad}"),
                "--source",
                "acme",
                "--id",
                "id",
            ],
        );
        assert!(o.contains("invalid dataset name"), "{bad}: {o}");
        let o = expect(
            &d,
            Some(&tok),
            2,
            &[
                "add",
                "t.jsonl",
                "--dataset",
                "other",
                &format!("--source={bad}"),
                "--id",
                "id",
            ],
        );
        assert!(o.contains("invalid source name"), "{bad}: {o}");
    }
    // Nothing was created outside the ledger's directory.
    assert!(!t.path().join("etc").exists());
    // A source read from the file's column is checked like a flag, naming the row.
    std::fs::write(
        d.join("src.jsonl"),
        "{\"id\":\"s1\",\"text\":\"a\",\"label\":\"pos\",\"vendor\":\"ok-vendor\"}\n\
         {\"id\":\"s2\",\"text\":\"b\",\"label\":\"pos\",\"vendor\":\"../evil\"}\n",
    )
    .unwrap();
    let o = expect(
        &d,
        Some(&tok),
        2,
        &[
            "add",
            "src.jsonl",
            "--dataset",
            "reviews",
            "--source",
            "acme",
            "--source-column",
            "vendor",
            "--id",
            "id",
        ],
    );
    assert!(
        o.contains("row 2") && o.contains("invalid source name '../evil'"),
        "{o}"
    );
    // Grants, identities.
    let o = expect(
        &d,
        Some(&tok),
        2,
        &["identity", "add", "a/b", "--kind", "service"],
    );
    assert!(o.contains("invalid identity name"), "{o}");
    expect(
        &d,
        Some(&tok),
        0,
        &["identity", "add", "bot", "--kind", "service"],
    );
    let o = expect(
        &d,
        Some(&tok),
        2,
        &["grant", "bot", "--dataset", "../x", "--role", "reader"],
    );
    assert!(o.contains("invalid dataset name"), "{o}");
    // Over-long row ids.
    std::fs::write(
        d.join("longid.jsonl"),
        format!(
            "{{\"id\":\"{}\",\"text\":\"a\",\"label\":\"pos\"}}\n",
            "i".repeat(400)
        ),
    )
    .unwrap();
    let o = expect(
        &d,
        Some(&tok),
        2,
        &[
            "add",
            "longid.jsonl",
            "--dataset",
            "reviews",
            "--source",
            "acme",
            "--id",
            "id",
        ],
    );
    assert!(o.contains("row id of 400 bytes"), "{o}");
}

#[test]
fn messages_and_names_cannot_forge_log_lines_or_drive_the_terminal() {
    let (_t, d, tok) = ledger();
    std::fs::write(d.join("more.jsonl"), rows(25)).unwrap();
    let forged = "weekly\ngate PASSED for reviews (snapshot 1) by alice\u{1b}[31m\u{202e}";
    expect(
        &d,
        Some(&tok),
        0,
        &[
            "add",
            "more.jsonl",
            "--dataset",
            "reviews",
            "--source",
            "acme",
            "--id",
            "id",
            "-m",
            forged,
        ],
    );
    let log = expect(&d, None, 0, &["log"]);
    assert!(
        !log.lines().any(|l| l.starts_with("gate PASSED")),
        "a message forged a line:\n{log}"
    );
    assert!(
        !log.contains('\u{1b}') && !log.contains('\u{202e}'),
        "{log}"
    );
    assert!(
        log.contains("weekly\\ngate PASSED") && log.contains("<U+001B>[31m<U+202E>"),
        "{log}"
    );
    // Errors quoting hostile input are escaped too.
    let o = expect(
        &d,
        None,
        2,
        &["diff", "no\u{1b}]0;pwned\u{7}such", "reviews"],
    );
    assert!(!o.contains('\u{1b}') && !o.contains('\u{7}'), "{o:?}");
}

#[test]
fn a_gate_whose_statement_cannot_be_written_records_nothing() {
    let (_t, d, tok) = ledger();
    let events = |d: &Path| {
        let v: serde_json::Value =
            serde_json::from_str(&expect(d, None, 0, &["log", "--json"])).unwrap();
        v["tree_size"].as_u64().unwrap()
    };
    let before = events(&d);
    std::fs::write(d.join("blocker"), "a file, not a folder").unwrap();
    let o = expect(
        &d,
        Some(&tok),
        2,
        &["gate", "reviews", "--out", "blocker/vsa.json"],
    );
    assert!(o.contains("blocker"), "{o}");
    assert_eq!(events(&d), before, "the failed gate left an event");
    // The default location works and records exactly one event.
    expect(&d, Some(&tok), 1, &["gate", "reviews"]);
    assert_eq!(events(&d), before + 1);
    assert!(d.join(".bezoar/gate/reviews@1.vsa.json").exists());
}

#[test]
fn concurrent_inits_leave_one_intact_ledger() {
    for _ in 0..3 {
        let t = tempfile::tempdir().unwrap();
        let spawn = || {
            Command::new(env!("CARGO_BIN_EXE_bezoar"))
                .arg("init")
                .current_dir(t.path())
                .env_remove("BEZOAR_TOKEN")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
        let codes: Vec<i32> = outs.iter().map(code).collect();
        assert_eq!(
            codes.iter().filter(|&&c| c == 0).count(),
            1,
            "{codes:?}: {}\n{}",
            out(&outs[0]),
            out(&outs[1])
        );
        let loser = outs.iter().find(|o| code(o) != 0).unwrap();
        assert_eq!(code(loser), 2);
        assert!(out(loser).contains("already"), "{}", out(loser));
        let v = expect(t.path(), None, 0, &["verify"]);
        assert!(v.contains("OK:"), "{v}");
        // No staging folder is left behind.
        let names: Vec<String> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [".bezoar"], "{names:?}");
    }
}

/// Run bezoar in `dir` with `input` on its standard input.
fn with_stdin(dir: &Path, args: &[&str], input: &str) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_bezoar"))
        .args(args)
        .current_dir(dir)
        .env_remove("BEZOAR_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn standard_input_and_fifos_are_read() {
    let t = tempfile::tempdir().unwrap();
    let data = rows(40);
    let o = with_stdin(
        t.path(),
        &["scan", "-", "--id", "id", "--fail-on", "never"],
        &data,
    );
    assert_eq!(code(&o), 0, "{}", out(&o));
    assert!(out(&o).contains("40 rows"), "{}", out(&o));
    // CSV on stdin must be named; the error says how.
    let o = with_stdin(t.path(), &["scan", "-"], "text,label\na,b\n");
    assert_eq!(code(&o), 2, "{}", out(&o));
    assert!(out(&o).contains("--input-format csv"), "{}", out(&o));

    #[cfg(unix)]
    {
        let fifo = t.path().join("rows.jsonl");
        let made = Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let writer = {
                let fifo = fifo.clone();
                let data = data.clone();
                std::thread::spawn(move || std::fs::write(fifo, data).unwrap())
            };
            let o = bezoar(
                t.path(),
                None,
                &["scan", "rows.jsonl", "--id", "id", "--fail-on", "never"],
            );
            writer.join().unwrap();
            assert_eq!(code(&o), 0, "{}", out(&o));
            assert!(out(&o).contains("40 rows"), "{}", out(&o));
        }
    }
}

#[test]
fn scan_refuses_repeated_ids_naming_both_lines() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("d.jsonl"),
        "{\"id\":\"a\",\"text\":\"x\",\"label\":\"1\"}\n\
         {\"id\":\"b\",\"text\":\"y\",\"label\":\"0\"}\n\
         {\"id\":\"a\",\"text\":\"z\",\"label\":\"0\"}\n",
    )
    .unwrap();
    let o = expect(t.path(), None, 2, &["scan", "d.jsonl", "--id", "id"]);
    assert!(
        o.contains("d.jsonl:3") && o.contains("repeats the id of line 1"),
        "{o}"
    );
}

#[test]
fn csv_labels_written_as_integral_decimals_are_one_class() {
    let t = tempfile::tempdir().unwrap();
    let mut csv = String::from("text,label\n");
    for i in 0..30 {
        let label = ["1", "1.0", "0", "0.0"][i % 4];
        csv.push_str(&format!("row number {i} text,{label}\n"));
    }
    std::fs::write(t.path().join("d.csv"), csv).unwrap();
    let o = expect(
        t.path(),
        None,
        0,
        &["scan", "d.csv", "--fail-on", "never", "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_str(&o[..o.rfind('}').unwrap() + 1]).unwrap();
    assert_eq!(v["classes"].as_array().map(Vec::len), Some(2), "{v}");
}

#[test]
fn scores_csv_ids_never_start_a_spreadsheet_formula() {
    let t = tempfile::tempdir().unwrap();
    let mut d = String::new();
    for i in 0..30 {
        let id = if i == 0 {
            "=cmd|' /C calc'!A0".to_string()
        } else {
            format!("@r{i}")
        };
        d.push_str(&format!(
            "{{\"id\":{},\"text\":\"text {i}\",\"label\":\"{}\"}}\n",
            serde_json::Value::String(id),
            i % 2
        ));
    }
    std::fs::write(t.path().join("d.jsonl"), d).unwrap();
    expect(
        t.path(),
        None,
        0,
        &[
            "scan",
            "d.jsonl",
            "--id",
            "id",
            "--scores",
            "s.csv",
            "--fail-on",
            "never",
        ],
    );
    let csv = std::fs::read_to_string(t.path().join("s.csv")).unwrap();
    for line in csv.lines().skip(1) {
        let first = line.trim_start_matches('"');
        assert!(!first.starts_with(['=', '@', '+', '-']), "{line}");
    }
    assert!(csv.contains("'=cmd|"), "{csv}");
}

#[test]
fn a_checkpoint_file_that_is_not_a_checkpoint_is_bad_input() {
    let (_t, d, _tok) = ledger();
    std::fs::write(d.join("cp.txt"), "garbage").unwrap();
    let o = expect(&d, None, 2, &["verify", "--checkpoint", "cp.txt"]);
    assert!(o.contains("not a signed checkpoint note"), "{o}");
    // A real checkpoint from another log is tampering evidence, not bad input: exit 1.
    let note = expect(&d, None, 0, &["log", "--checkpoint"]);
    let (_t2, d2, _) = ledger();
    std::fs::write(d2.join("cp.txt"), note).unwrap();
    expect(&d2, None, 1, &["verify", "--checkpoint", "cp.txt"]);
}

#[test]
fn per_detector_counts_reconcile_with_the_flagged_total() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/reviews.jsonl");
    let t = tempfile::tempdir().unwrap();
    let o = bezoar(
        t.path(),
        None,
        &[
            "scan",
            example.to_str().unwrap(),
            "--id",
            "id",
            "--source",
            "vendor",
            "--format",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = &v["summary"];
    let n = |x: &serde_json::Value| x.as_u64().unwrap();
    let (one, several, combined) = (
        n(&s["flagged_by"]["one_detector"]),
        n(&s["flagged_by"]["several_detectors"]),
        n(&s["flagged_by"]["combined_evidence"]),
    );
    assert_eq!(one + several + combined, n(&s["flagged"]), "{s}");
    let per_detector: u64 = v["detectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| n(&d["rows_flagged"]))
        .sum();
    let detectors = v["detectors"].as_array().unwrap().len() as u64;
    assert!(
        per_detector >= one + 2 * several && per_detector <= one + detectors * several,
        "{per_detector} vs {s}"
    );
    // The terminal table says what its column counts.
    let o = bezoar(
        t.path(),
        None,
        &[
            "scan",
            example.to_str().unwrap(),
            "--id",
            "id",
            "--no-color",
        ],
    );
    assert!(
        out(&o).contains("only by evidence combined across detectors"),
        "{}",
        out(&o)
    );
}
