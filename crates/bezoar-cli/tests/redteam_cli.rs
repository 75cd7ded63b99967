//! End-to-end tests of `bezoar inject`, `bezoar eval` and `bezoar bench`: round trips, formats,
//! determinism, and exit code 2 with a clear message on bad input.

use std::path::Path;
use std::process::{Command, Output};

fn bezoar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bezoar"))
        .args(args)
        .output()
        .expect("run bezoar")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_string()
}

/// 200 rows of two-class "reviews" with an extra `vendor` column; ids `r0`…`r199`.
fn reviews(dir: &Path, ext: &str) -> String {
    let pos = ["great", "lovely", "superb", "fine", "happy", "solid"];
    let neg = ["awful", "broken", "poor", "sad", "flimsy", "dull"];
    let shared = ["the", "item", "was", "and", "it", "felt", "really", "box"];
    let mut x: u64 = 7;
    let mut next = |m: usize| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 33) as usize) % m
    };
    let mut s = match ext {
        "csv" => "id,text,label,vendor\n".to_string(),
        _ => String::new(),
    };
    for i in 0..200 {
        let label = next(3).min(1); // about one row in three is negative (0)
        let own = if label == 1 { &pos } else { &neg };
        let words: Vec<&str> = (0..9)
            .map(|_| {
                if next(3) == 0 {
                    own[next(own.len())]
                } else {
                    shared[next(shared.len())]
                }
            })
            .collect();
        let text = words.join(" ");
        let vendor = ["acme", "globex"][i % 2];
        match ext {
            "csv" => s.push_str(&format!("r{i},{text},{label},{vendor}\n")),
            _ => s.push_str(&format!(
                "{{\"id\": \"r{i}\", \"text\": \"{text}\", \"label\": {label}, \"vendor\": \"{vendor}\"}}\n"
            )),
        }
    }
    let p = path(dir, &format!("reviews.{ext}"));
    std::fs::write(&p, s).unwrap();
    p
}

fn inject(data: &str, out: &str, truth: &str, extra: &[&str]) -> Output {
    let mut args = vec!["inject", data, "--id", "id", "--out", out, "--truth", truth];
    args.extend_from_slice(extra);
    bezoar(&args)
}

#[test]
fn help_teaches_attacks_examples_and_exit_codes() {
    let o = bezoar(&["--help"]);
    for cmd in ["inject", "eval", "bench"] {
        assert!(stdout(&o).contains(cmd), "--help lacks {cmd}");
    }
    let o = bezoar(&["inject", "--help"]);
    assert!(o.status.success());
    let out = stdout(&o);
    for needle in [
        "badnets",
        "addsent",
        "invisible",
        "label-flip",
        "duplicate-flood",
        "junk",
        "--clean-label",
        "--trigger",
        "Examples",
        "Exit codes",
        "round(rate",
        "injected-1",
    ] {
        assert!(out.contains(needle), "inject --help lacks {needle}");
    }
    let out = stdout(&bezoar(&["eval", "--help"]));
    for needle in ["Mann-Whitney", "--json", "--allow-missing", "Exit codes"] {
        assert!(out.contains(needle), "eval --help lacks {needle}");
    }
    let out = stdout(&bezoar(&["bench", "--help"]));
    for needle in ["--attacks", "--rates", "--drop-poisoned", "Exit codes"] {
        assert!(out.contains(needle), "bench --help lacks {needle}");
    }
}

#[test]
fn inject_then_eval_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let data = reviews(dir.path(), "jsonl");
    let out = path(dir.path(), "p.jsonl");
    let truth = path(dir.path(), "t.csv");
    let o = inject(
        &data,
        &out,
        &truth,
        &["--attack", "badnets", "--rate", "5%", "--target", "1"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("poisoned 10 of 200 rows"),
        "{}",
        stdout(&o)
    );

    let written = std::fs::read_to_string(&out).unwrap();
    assert_eq!(written.lines().count(), 200);
    assert!(written.lines().all(|l| l.contains("\"vendor\":")));
    let truth_text = std::fs::read_to_string(&truth).unwrap();
    let lines: Vec<&str> = truth_text.lines().collect();
    assert_eq!(lines[0], "id,poisoned,kind,attack");
    assert_eq!(lines.len(), 201);
    let poisoned: Vec<&str> = lines[1..]
        .iter()
        .filter(|l| l.split(',').nth(1) == Some("1"))
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(poisoned.len(), 10);
    assert!(lines[1..]
        .iter()
        .filter(|l| l.contains(",1,"))
        .all(|l| l.ends_with(",1,dirty-label,badnets")));

    // A perfect detector: 0.9 for poisoned rows, 0.1 else, flagged exactly those.
    let mut scores = String::from("id,score,flagged,reasons\n");
    for l in &lines[1..] {
        let id = l.split(',').next().unwrap();
        let p = poisoned.contains(&id);
        scores.push_str(&format!("{id},{},{p},\n", if p { 0.9 } else { 0.1 }));
    }
    let scores_path = path(dir.path(), "s.csv");
    std::fs::write(&scores_path, scores).unwrap();
    let o = bezoar(&[
        "eval",
        "--truth",
        &truth,
        "--scores",
        &scores_path,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["schema"], "bezoar.eval/1");
    assert_eq!(v["rows"], 200);
    assert_eq!(v["poisoned"], 10);
    for key in [
        "auroc",
        "average_precision",
        "recall_at_k",
        "precision",
        "recall",
        "f1",
    ] {
        assert_eq!(v["overall"][key], 1.0, "{key}");
    }
    assert_eq!(v["by_kind"][0]["group"], "dirty-label");
    assert_eq!(v["by_attack"][0]["group"], "badnets");

    let o = bezoar(&["eval", "--truth", &truth, "--scores", &scores_path]);
    let text = stdout(&o);
    assert!(text.contains("200 rows, 10 poisoned"), "{text}");
    assert!(text.contains("attack badnets"), "{text}");
}

#[test]
fn inject_scan_eval_pipeline_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = reviews(dir.path(), "jsonl");
    let out = path(dir.path(), "p.jsonl");
    let truth = path(dir.path(), "t.csv");
    let o = inject(
        &data,
        &out,
        &truth,
        &["--attack", "duplicate-flood", "--rate", "5%"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let scores = path(dir.path(), "s.csv");
    let o = bezoar(&["scan", &out, "--id", "id", "--scores", &scores, "-q"]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
    let o = bezoar(&["eval", "--truth", &truth, "--scores", &scores, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["rows"], 210);
    assert_eq!(v["poisoned"], 10);
    // The scan's scores joined every row (the added rows' fresh ids included); how well the
    // scan does on this toy data is the bench's business, not this test's.
    let auroc = v["overall"]["auroc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&auroc), "{v}");
    let o = &v["overall"];
    assert_eq!(
        o["flagged"].as_u64().unwrap(),
        o["true_positives"].as_u64().unwrap() + o["false_positives"].as_u64().unwrap()
    );
    assert_eq!(v["missing_scores"], 0);
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let data = reviews(dir.path(), "csv");
    let run = |tag: &str, seed: &str| {
        let out = path(dir.path(), &format!("{tag}.csv"));
        let truth = path(dir.path(), &format!("{tag}-truth.csv"));
        let o = inject(
            &data,
            &out,
            &truth,
            &["--attack", "junk", "--rate", "3%", "--seed", seed],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        (std::fs::read(out).unwrap(), std::fs::read(truth).unwrap())
    };
    let a = run("a", "5");
    let b = run("b", "5");
    let c = run("c", "6");
    assert_eq!(a, b);
    assert_ne!(a.0, c.0);
    // CSV keeps the extra column, appends 6 rows with fresh ids.
    let text = String::from_utf8(a.0).unwrap();
    assert_eq!(text.lines().next(), Some("id,text,label,vendor"));
    assert_eq!(text.lines().count(), 1 + 206);
    assert!(text.lines().last().unwrap().starts_with("injected-6,"));
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = reviews(dir.path(), "jsonl");
    let out = path(dir.path(), "p.jsonl");
    let truth = path(dir.path(), "t.csv");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "inject",
                "nope.jsonl",
                "--attack",
                "junk",
                "--rate",
                "1%",
                "--out",
                &out,
                "--truth",
                &truth,
            ],
            "nope.jsonl",
        ),
        (
            vec![
                "inject", &data, "--attack", "junk", "--rate", "150%", "--out", &out, "--truth",
                &truth,
            ],
            "invalid rate '150%'",
        ),
        (
            vec![
                "inject", &data, "--attack", "badnets", "--rate", "1%", "--target", "7", "--out",
                &out, "--truth", &truth,
            ],
            "unknown label '7'; the dataset's labels are: 0, 1",
        ),
        (
            vec![
                "inject", &data, "--attack", "badnets", "--rate", "90%", "--out", &out, "--truth",
                &truth,
            ],
            "lower --rate",
        ),
        (
            vec![
                "inject",
                &data,
                "--attack",
                "junk",
                "--rate",
                "1%",
                "--trigger",
                "cf",
                "--out",
                &out,
                "--truth",
                &truth,
            ],
            "--trigger applies to badnets",
        ),
        (
            vec![
                "inject", &data, "--attack", "junk", "--rate", "1%", "--out", &data, "--truth",
                &truth,
            ],
            "refusing to overwrite the input",
        ),
        (
            vec!["eval", "--truth", "missing.csv", "--scores", &truth],
            "missing.csv",
        ),
    ];
    for (args, needle) in cases {
        let o = bezoar(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
    assert!(!Path::new(&out).exists(), "no output after a failed inject");

    // Ids that do not match between truth and scores.
    let o = inject(
        &data,
        &out,
        &truth,
        &["--attack", "label-flip", "--rate", "1%"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let scores = path(dir.path(), "s.csv");
    std::fs::write(&scores, "id,score\nr0,0.5\nzz,0.1\n").unwrap();
    let o = bezoar(&["eval", "--truth", &truth, "--scores", &scores]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("199 truth id(s) have no score"), "{err}");
    assert!(err.contains("'zz'"), "{err}");
    let o = bezoar(&[
        "eval",
        "--truth",
        &truth,
        "--scores",
        &scores,
        "--allow-missing",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    std::fs::write(&scores, "id,score\nr0,high\n").unwrap();
    let o = bezoar(&["eval", "--truth", &truth, "--scores", &scores]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("s.csv:2: column 'score'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bench_runs_the_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let data = reviews(dir.path(), "jsonl");
    let o = bezoar(&[
        "bench",
        &data,
        "--id",
        "id",
        "--attacks",
        "badnets,label-flip",
        "--rates",
        "5%",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("{\n  \"schema\": \"bezoar.bench/1\",\n  \"input\""),
        "keys in documented order: {}",
        stdout(&o)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["schema"], "bezoar.bench/1");
    let rows = v["results"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["attack"], "badnets");
    assert_eq!(rows[0]["poisoned"], 10);
    assert!(rows[0]["metrics"]["auroc"].as_f64().is_some());
    assert_eq!(rows[1]["attack"], "label-flip");

    // A cell that cannot run says why and the rest of the matrix still runs.
    let o = bezoar(&[
        "bench",
        &data,
        "--id",
        "id",
        "--attacks",
        "badnets",
        "--rates",
        "90%,1%",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let cells = v["results"].as_array().unwrap();
    assert!(cells[0]["error"].as_str().unwrap().contains("lower --rate"));
    assert_eq!(cells[1]["poisoned"], 2);

    let o = bezoar(&[
        "bench",
        &data,
        "--id",
        "id",
        "--attacks",
        "junk",
        "--rates",
        "1%",
        "--format",
        "markdown",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("| attack | rate | rows | poisoned | AUROC |"),
        "{out}"
    );
    assert!(out.contains("| junk | 1% | 202 | 2 |"), "{out}");
}
