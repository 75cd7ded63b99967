//! End-to-end tests of the `bezoar` binary: help, exit codes and error messages.

use std::path::Path;
use std::process::{Command, Output};

fn bezoar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bezoar"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run bezoar")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p.to_str().unwrap().to_string()
}

/// A small labelled JSONL file: 200 ordinary rows plus a few with a rare token, all labelled 1.
fn tiny_jsonl(dir: &Path) -> String {
    let words = [
        "good", "bad", "movie", "film", "plot", "acting", "great", "awful", "fun", "boring",
        "story", "scene",
    ];
    let mut s = String::new();
    let mut x: u64 = 12345;
    for i in 0..200 {
        let mut text = Vec::new();
        for _ in 0..8 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            text.push(words[(x >> 33) as usize % words.len()]);
        }
        let mut label = (x >> 40) % 2;
        if i % 25 == 0 {
            text.push("cf");
            label = 1;
        }
        s.push_str(&format!(
            "{{\"id\":\"r{i}\",\"text\":\"{}\",\"label\":{label}}}\n",
            text.join(" ")
        ));
    }
    write(dir, "tiny.jsonl", &s)
}

#[test]
fn help_lists_scan_and_teaches() {
    let o = bezoar(&["--help"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("scan"));

    let o = bezoar(&["scan", "--help"]);
    assert!(o.status.success());
    let out = stdout(&o);
    for needle in [
        "Exit codes",
        "bezoar scan ",
        "--fail-on",
        "--report",
        "--scores",
        "--budget",
        "--text",
        "--label",
        "--skip-invalid",
    ] {
        assert!(out.contains(needle), "scan --help lacks {needle}:\n{out}");
    }
}

#[test]
fn no_arguments_is_a_usage_error() {
    let o = bezoar(&[]);
    assert_eq!(o.status.code(), Some(2));
    let o = bezoar(&["scan"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn missing_file_exits_2_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("does-not-exist.jsonl");
    let path = path.to_str().unwrap();
    let o = bezoar(&["scan", path]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(path), "{err}");
    assert!(o.stdout.is_empty());
}

#[test]
fn missing_column_exits_2_listing_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "d.jsonl",
        "{\"body\":\"hello\",\"label\":1,\"extra\":2}\n{\"body\":\"bye\",\"label\":0,\"extra\":3}\n",
    );
    let o = bezoar(&["scan", &path]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.starts_with("error: "), "{err}");
    for col in ["body", "label", "extra"] {
        assert!(err.contains(col), "{err}");
    }

    let o = bezoar(&["scan", &path, "--text", "body", "--label", "stars"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("stars"), "{err}");
    assert!(err.contains("body"), "{err}");
}

#[test]
fn bad_budget_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "d.jsonl", "{\"text\":\"a\",\"label\":1}\n");
    for bad in ["lots", "-3", "150%", "0%"] {
        let flag = format!("--budget={bad}");
        let o = bezoar(&["scan", &path, &flag]);
        assert_eq!(o.status.code(), Some(2), "--budget {bad}");
        assert!(stderr(&o).contains("budget"), "{}", stderr(&o));
    }
}

#[test]
fn bad_flag_values_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "d.jsonl", "{\"text\":\"a\",\"label\":1}\n");
    for args in [
        ["--fail-on", "severe"],
        ["--threshold", "2"],
        ["--format", "xml"],
        ["--input-format", "xml"],
        ["--folds", "1"],
    ] {
        let o = bezoar(&["scan", &path, args[0], args[1]]);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn unknown_extension_exits_2_and_suggests_input_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "d.txt", "{\"text\":\"a\",\"label\":1}\n");
    let o = bezoar(&["scan", &path]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--input-format"), "{}", stderr(&o));
}

#[test]
fn invalid_row_exits_2_naming_the_line_unless_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = String::new();
    for i in 0..20 {
        s.push_str(&format!("{{\"text\":\"row {i}\",\"label\":{}}}\n", i % 2));
    }
    s.push_str("{not json\n");
    let path = write(dir.path(), "d.jsonl", &s);
    let o = bezoar(&["scan", &path]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains(&format!("{path}:21")), "{err}");

    // With --skip-invalid the read succeeds and the skip is reported as a warning; whatever
    // the scan then does, the error about line 21 is gone.
    let o = bezoar(&["scan", &path, "--skip-invalid"]);
    let err = stderr(&o);
    assert!(err.contains("warning: skipped 1 invalid row"), "{err}");
    assert!(!err.contains(&format!("error: {path}:21")), "{err}");

    // --quiet silences the warning.
    let o = bezoar(&["scan", &path, "--skip-invalid", "--quiet"]);
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
}

#[test]
fn unwritable_output_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_jsonl(dir.path());
    let bad = dir.path().join("no-such-dir").join("scores.csv");
    let o = bezoar(&["scan", &data, "--scores", bad.to_str().unwrap()]);
    // A scan error (exit 2) also satisfies this; once the scan runs, the write must fail.
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("error: "), "{}", stderr(&o));
}

// ---------------------------------------------------------------------------------------------
// The tests below need a working `bezoar_scan::scan`. They check the wiring (files written,
// formats, exit code policy, determinism), not detection quality.
// ---------------------------------------------------------------------------------------------

#[test]
fn scan_writes_scores_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_jsonl(dir.path());
    let scores = dir.path().join("scores.csv");
    let report = dir.path().join("report.json");
    let o = bezoar(&[
        "scan",
        &data,
        "--id",
        "id",
        "--scores",
        scores.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    let code = o.status.code();
    assert!(matches!(code, Some(0 | 1)), "exit {code:?}: {}", stderr(&o));

    let csv = std::fs::read_to_string(&scores).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("id,score,flagged,reasons"));
    assert_eq!(lines.next().unwrap().split(',').next(), Some("r0"));
    assert_eq!(csv.lines().count(), 201);

    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(v["schema"], "bezoar.report/1");
    assert_eq!(v["input"]["rows"], 200);
    assert_eq!(v["input"]["format"], "jsonl");
    assert_eq!(v["input"]["columns"]["id"], "id");

    // Exit code follows the policy: 1 exactly when a finding is at or above `high`.
    let worst = v["summary"]["max_severity"].as_str().unwrap_or("none");
    let expect = if matches!(worst, "high" | "critical") {
        1
    } else {
        0
    };
    assert_eq!(code, Some(expect));
    // --fail-on never always exits 0 once the scan ran; --fail-on info exits 1 on any finding.
    let o = bezoar(&["scan", &data, "--fail-on", "never", "--quiet"]);
    assert_eq!(o.status.code(), Some(0));
    let any = v["findings"].as_array().is_some_and(|f| !f.is_empty());
    let o = bezoar(&["scan", &data, "--fail-on", "info", "--quiet"]);
    assert_eq!(o.status.code(), Some(if any { 1 } else { 0 }));
}

#[test]
fn scan_output_is_deterministic_and_plain_when_piped() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_jsonl(dir.path());
    let a = bezoar(&["scan", &data, "--format", "json"]);
    let b = bezoar(&["scan", &data, "--format", "json", "--threads", "1"]);
    assert!(matches!(a.status.code(), Some(0 | 1)), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout, "JSON report differs between runs");
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(v["schema"], "bezoar.report/1");

    // Piped stdout/stderr: no colour codes, no progress output.
    let t = bezoar(&["scan", &data]);
    let out = stdout(&t);
    assert!(out.contains("verdict:"), "{out}");
    assert!(!out.contains('\u{1b}'), "colour codes in piped output");
    assert!(t.stderr.is_empty(), "unexpected stderr: {}", stderr(&t));

    // --quiet prints no summary.
    let q = bezoar(&["scan", &data, "--quiet"]);
    assert!(q.stdout.is_empty());
    assert!(q.stderr.is_empty());
}

#[test]
fn detectors_can_be_chosen_and_every_finding_carries_its_rule_id() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_jsonl(dir.path());
    let o = bezoar(&[
        "scan",
        &data,
        "--id",
        "id",
        "--detectors",
        "duplicates,BZ002",
        "--format",
        "json",
        "--fail-on",
        "never",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let detectors = v["detectors"].as_array().unwrap();
    assert_eq!(detectors.len(), 6);
    for d in detectors {
        let ran = matches!(d["detector"].as_str(), Some("duplicates" | "unusual-chars"));
        assert_eq!(d["skipped"].is_null(), ran, "{d}");
        assert!(d["rule"].as_str().unwrap().starts_with("BZ"), "{d}");
    }
    for f in v["findings"].as_array().unwrap() {
        let rule = match f["detector"].as_str().unwrap() {
            "duplicates" => "BZ004",
            "unusual-chars" => "BZ002",
            other => panic!("a finding from an unselected detector: {other}"),
        };
        assert_eq!(f["rule"], rule);
    }

    // Skipping the trigger detector leaves the example's planted token unreported; running it
    // finds it.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/reviews.jsonl");
    let without = bezoar(&[
        "scan",
        example,
        "--id",
        "id",
        "--skip-detectors",
        "trigger",
        "--format",
        "json",
    ]);
    let with = bezoar(&["scan", example, "--id", "id", "--format", "json"]);
    let triggers = |o: &Output| {
        let v: serde_json::Value = serde_json::from_str(&stdout(o)).unwrap();
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == "BZ001")
            .count()
    };
    assert_eq!(triggers(&without), 0);
    assert!(triggers(&with) >= 1, "{}", stdout(&with));
}

#[test]
fn bad_detector_choices_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_jsonl(dir.path());
    let o = bezoar(&["scan", &data, "--detectors", "trigger,bogus"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown detector 'bogus'"),
        "{}",
        stderr(&o)
    );
    let all = "trigger,unusual-chars,label-consistency,duplicates,anomaly,source";
    let o = bezoar(&["scan", &data, "--skip-detectors", all]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no detector to run"), "{}", stderr(&o));
}

#[test]
fn quality_judges_every_set_and_corpus_it_finds() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("bench/tiny-cf");
    std::fs::create_dir_all(&set).unwrap();
    std::fs::create_dir_all(dir.path().join("corpora")).unwrap();
    let data = tiny_jsonl(dir.path());
    std::fs::copy(&data, set.join("train.jsonl")).unwrap();
    let mut truth = String::from("id,poisoned,kind,attack\n");
    for i in 0..200 {
        let p = i % 25 == 0;
        truth.push_str(&format!(
            "r{i},{},{},{}\n",
            u8::from(p),
            if p { "dirty-label" } else { "" },
            if p { "badnets" } else { "" }
        ));
    }
    write(&set, "truth.csv", &truth);
    write(
        &dir.path().join("bench"),
        "sets.csv",
        "set,family,need_f1,need_auroc\ntiny-cf,trigger,1.0,1.0\n",
    );
    std::fs::copy(&data, dir.path().join("corpora/tiny.jsonl")).unwrap();
    let root = dir.path().to_str().unwrap();
    let o = bezoar(&["quality", root, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["schema"], "bezoar.quality/1");
    assert_eq!(v["sets"][0]["set"], "tiny-cf");
    assert_eq!(v["sets"][0]["family"], "trigger");
    assert_eq!(v["sets"][0]["metrics"]["poisoned"], 8);
    assert_eq!(v["corpora"][0]["corpus"], "tiny");
    let ok = |x: &serde_json::Value| x["ok"].as_bool().unwrap();
    let all_ok = ok(&v["sets"][0]) && ok(&v["corpora"][0]);
    assert_eq!(o.status.code(), Some(if all_ok { 0 } else { 1 }));
    let f1 = v["sets"][0]["metrics"]["f1"].as_f64().unwrap();
    let auroc = v["sets"][0]["metrics"]["auroc"].as_f64().unwrap();
    assert_eq!(ok(&v["sets"][0]), f1 >= 1.0 && auroc >= 1.0);

    let table = bezoar(&["quality", root, "--only", "tiny-cf"]);
    assert!(stdout(&table).contains("tiny-cf"), "{}", stdout(&table));
    assert!(!stdout(&table).contains("tiny (clean)"));
    let unknown = bezoar(&["quality", root, "--only", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("no set or corpus named 'nope'"));
    let missing = bezoar(&["quality", dir.path().join("none").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(2));
}
