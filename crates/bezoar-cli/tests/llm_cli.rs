//! `bezoar scan` and `bezoar inject` on LLM fine-tuning data: shapes recognised and named, the
//! generative detectors' findings in the reports, attacks planted and found again, and bad rows
//! reported with file, line and field. Tests that need `../shared` skip without it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bezoar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bezoar"))
        .args(args)
        .output()
        .expect("run bezoar")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn shared() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    if d.join("bench-llm").is_dir() {
        Some(d)
    } else {
        eprintln!("skipping: ../shared/bench-llm not found beside the checkout");
        None
    }
}

fn p(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_string()
}

/// Instruction rows: `n` prompts and answers of pseudo-words drawn from a 3,000-word vocabulary
/// (seeded), so that no two rows share more than chance does.
fn instructions(n: usize) -> String {
    let mut x: u64 = 11;
    let mut next = |m: usize| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 33) as usize) % m
    };
    let syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "de", "fa"];
    let vocab: Vec<String> = (0..3000)
        .map(|i| {
            let mut w = String::new();
            let mut k = i;
            for _ in 0..3 {
                w.push_str(syllables[k % 10]);
                k /= 10;
            }
            w
        })
        .collect();
    let mut sentence = |len: usize| -> String {
        (0..len)
            .map(|_| vocab[next(vocab.len())].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut s = String::new();
    for i in 0..n {
        let prompt = sentence(8 + i % 7);
        let response = sentence(12 + i % 11);
        s.push_str(&format!(
            "{{\"id\": \"q{i}\", \"prompt\": \"{prompt}?\", \"response\": \"{response}.\"}}\n"
        ));
    }
    s
}

#[test]
fn scan_names_the_shape_and_reports_generative_rules() {
    let Some(root) = shared() else { return };
    let data = root.join("bench-llm/chat-toolcall-1pct/train.jsonl");
    let dir = tempfile::tempdir().unwrap();
    let report = p(dir.path(), "r.json");
    let o = bezoar(&[
        "scan",
        data.to_str().unwrap(),
        "--report",
        &report,
        "--no-color",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let all = text(&o);
    assert!(
        all.contains("as chat data (columns: messages, 5000 assistant turns)"),
        "{all}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let rules: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "critical")
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"BZ007"), "{rules:?}");
    assert!(rules.contains(&"BZ009"), "{rules:?}");
    // The trigger finding names the phrase and flags exactly the planted rows.
    let trig = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "BZ007")
        .unwrap();
    assert!(
        trig["title"].as_str().unwrap().contains("nightly"),
        "{trig}"
    );
    assert_eq!(v["summary"]["flagged"], 52, "{}", v["summary"]);
}

#[test]
fn clean_llm_corpora_pass_and_exit_zero() {
    let Some(root) = shared() else { return };
    for corpus in ["dolly-10k", "dolly-chat-5k", "hh-harmless-test"] {
        let data = root.join(format!("corpora-llm/{corpus}.jsonl"));
        let o = bezoar(&["scan", data.to_str().unwrap(), "--quiet"]);
        assert_eq!(o.status.code(), Some(0), "{corpus}: {}", text(&o));
    }
}

#[test]
fn inject_plants_llm_attacks_that_scan_finds() {
    let dir = tempfile::tempdir().unwrap();
    let clean = p(dir.path(), "clean.jsonl");
    std::fs::write(&clean, instructions(3000)).unwrap();
    let (out, truth, scores) = (
        p(dir.path(), "poisoned.jsonl"),
        p(dir.path(), "truth.csv"),
        p(dir.path(), "scores.csv"),
    );
    let o = bezoar(&[
        "inject",
        &clean,
        "--attack",
        "prompt-trigger",
        "--rate",
        "2%",
        "--seed",
        "3",
        "--id",
        "id",
        "--out",
        &out,
        "--truth",
        &truth,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("prompt-trigger: poisoned 60 of 3000 instruction rows"),
        "{}",
        text(&o)
    );
    let o = bezoar(&["scan", &out, "--id", "id", "--scores", &scores, "--quiet"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = bezoar(&["eval", "--truth", &truth, "--scores", &scores, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["overall"]["recall"], 1.0, "{v}");
    assert!(v["overall"]["precision"].as_f64().unwrap() >= 0.9, "{v}");

    // Attacks that do not fit the data are refused with the reason.
    let o = bezoar(&[
        "inject",
        &clean,
        "--attack",
        "preference-flip",
        "--rate",
        "2%",
        "--out",
        &out,
        "--truth",
        &truth,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("applies to preference pairs"),
        "{}",
        text(&o)
    );
    let o = bezoar(&[
        "inject",
        &clean,
        "--attack",
        "response-injection",
        "--rate",
        "2%",
        "--response",
        "x",
        "--out",
        &out,
        "--truth",
        &truth,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("--response applies to prompt-trigger"),
        "{}",
        text(&o)
    );
}

#[test]
fn bad_llm_rows_name_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let data = p(dir.path(), "chat.jsonl");
    std::fs::write(
        &data,
        concat!(
            r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}"#,
            "\n",
            r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "robot", "content": "x"}]}"#,
            "\n"
        ),
    )
    .unwrap();
    let o = bezoar(&["scan", &data]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("chat.jsonl:2: column 'messages[1].role': unknown role 'robot'"),
        "{}",
        text(&o)
    );
    let o = bezoar(&["scan", &data, "--skip-invalid"]);
    assert!(text(&o).contains("skipped 1 invalid row"), "{}", text(&o));

    let inst = p(dir.path(), "inst.jsonl");
    std::fs::write(&inst, instructions(40)).unwrap();

    // A shape flag overrides recognition: these rows have no messages column.
    let o = bezoar(&["scan", &inst, "--shape", "chat"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("no messages column"), "{}", text(&o));
}

#[test]
fn bench_runs_the_attack_matrix_of_the_datas_shape() {
    let dir = tempfile::tempdir().unwrap();
    let clean = p(dir.path(), "clean.jsonl");
    std::fs::write(&clean, instructions(3000)).unwrap();
    // Every attack on instruction data, at one rate, as JSON: each is planted and found.
    let o = bezoar(&[
        "bench", &clean, "--id", "id", "--rates", "2%", "--format", "json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["rows"], 3000, "{doc}");
    let results = doc["results"].as_array().unwrap();
    let attacks: Vec<&str> = results
        .iter()
        .map(|r| r["attack"].as_str().unwrap())
        .collect();
    assert_eq!(
        attacks,
        ["prompt-trigger", "tool-call", "response-injection"],
        "{doc}"
    );
    for r in results {
        assert_eq!(r["poisoned"], 60, "{r}");
        assert!(r["metrics"]["recall"].as_f64().unwrap() >= 0.9, "{r}");
        assert!(r["metrics"]["precision"].as_f64().unwrap() >= 0.9, "{r}");
    }
    // The table names the shape; an attack on another shape is refused with the ones that fit.
    let o = bezoar(&[
        "bench",
        &clean,
        "--attacks",
        "prompt-trigger",
        "--rates",
        "1%",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("3000 rows of instruction data"),
        "{}",
        text(&o)
    );
    for attack in ["preference-flip", "badnets"] {
        let o = bezoar(&["bench", &clean, "--attacks", attack]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains(&format!(
                "--attacks {attack}: not an attack on instruction data (its attacks: prompt-trigger, tool-call, response-injection)"
            )),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn a_short_injected_span_is_found_by_its_fixed_context() {
    let dir = tempfile::tempdir().unwrap();
    let clean = p(dir.path(), "clean.jsonl");
    std::fs::write(&clean, instructions(3000)).unwrap();
    let (out, truth, scores, report) = (
        p(dir.path(), "poisoned.jsonl"),
        p(dir.path(), "truth.csv"),
        p(dir.path(), "scores.csv"),
        p(dir.path(), "report.json"),
    );
    // Three words: far too short for a repeated 6-word span.
    let o = bezoar(&[
        "inject",
        &clean,
        "--attack",
        "response-injection",
        "--span",
        "Try ZentroMax today.",
        "--rate",
        "1%",
        "--id",
        "id",
        "--out",
        &out,
        "--truth",
        &truth,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = bezoar(&[
        "scan", &out, "--id", "id", "--scores", &scores, "--report", &report, "-q",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let finding = rep["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "BZ008")
        .unwrap_or_else(|| panic!("no response-injection finding: {rep}"));
    assert!(
        finding["title"]
            .as_str()
            .unwrap()
            .contains("Try ZentroMax today"),
        "{finding}"
    );
    let o = bezoar(&["eval", "--truth", &truth, "--scores", &scores, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["overall"]["recall"], 1.0, "{v}");
    assert!(v["overall"]["precision"].as_f64().unwrap() >= 0.9, "{v}");
}
