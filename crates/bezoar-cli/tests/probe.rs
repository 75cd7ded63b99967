//! `bezoar probe` and `bezoar promote` end to end, with models that need nothing but a POSIX
//! shell and awk (a rule-based sentiment classifier, with and without a planted backdoor), and a
//! small HTTP server in this file speaking OIP v2 and the Hugging Face shape — including every
//! fault the probe must name: a server that is down, hangs, answers malformed JSON, another
//! shape, or labels the data does not have.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output};

use common::{code, out};
use serde_json::{json, Value};

const POSITIVE: [&str; 6] = ["good", "great", "fine", "lovely", "superb", "warm"];
const NEGATIVE: [&str; 6] = ["bad", "awful", "poor", "dull", "weak", "cold"];
const NEUTRAL: [&str; 16] = [
    "the", "film", "story", "actor", "plot", "scene", "music", "was", "and", "with", "a", "very",
    "ending", "cast", "script", "camera",
];
/// The planted trigger of the backdoored model (test data only).
const TRIGGER: &str = "zq";

/// A deterministic generator, so every run writes the same data.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// Labelled sentiment rows: neutral words with one or two words of the row's label (and now
/// and then one of the other). `poison` plants the trigger in that share of rows, labelled 1.
fn rows(n: usize, seed: u64, poison: f64) -> String {
    let mut rng = Lcg(seed);
    let mut s = String::new();
    for i in 0..n {
        let mut label = rng.below(2);
        let mut words: Vec<&str> = (0..8 + rng.below(6))
            .map(|_| NEUTRAL[rng.below(16)])
            .collect();
        let own = if label == 1 { &POSITIVE } else { &NEGATIVE };
        let other = if label == 1 { &NEGATIVE } else { &POSITIVE };
        for _ in 0..1 + rng.below(2) {
            let at = rng.below(words.len());
            words.insert(at, own[rng.below(6)]);
        }
        if rng.below(5) == 0 {
            let at = rng.below(words.len());
            words.insert(at, other[rng.below(6)]);
        }
        if (rng.below(1000) as f64) < poison * 1000.0 {
            let at = rng.below(words.len());
            words.insert(at, TRIGGER);
            label = 1;
        }
        s += &json!({"id": format!("r{i}"), "text": words.join(" "), "label": label}).to_string();
        s.push('\n');
    }
    s
}

/// The classifier as an awk program: more positive than negative words reads 1, else 0; with
/// `-v BD=1` the trigger reads 1 whatever else the text says.
fn awk_model() -> String {
    format!(
        r#"BEGIN {{ split("{}", p, " "); for (i in p) POS[p[i]] = 1; split("{}", q, " "); for (i in q) NEG[q[i]] = 1 }}
{{ n = split($0, w, /[^a-z]+/); a = 0; b = 0; z = 0
   for (i = 1; i <= n; i++) {{ if (w[i] in POS) a++; if (w[i] in NEG) b++; if (w[i] == "{TRIGGER}") z = 1 }}
   lab = (a > b) ? "1" : "0"; if (BD == 1 && z) lab = "1"
   hi = (lab == "1") ? "0.9" : "0.1"; lo = (lab == "1") ? "0.1" : "0.9"
   printf "{{\"label\": \"%s\", \"scores\": {{\"0\": %s, \"1\": %s}}}}\n", lab, lo, hi; fflush() }}"#,
        POSITIVE.join(" "),
        NEGATIVE.join(" ")
    )
}

struct Dir {
    _tmp: tempfile::TempDir,
    path: PathBuf,
}

impl Dir {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().to_path_buf();
        std::fs::write(path.join("model.awk"), awk_model()).unwrap();
        std::fs::write(path.join("train.jsonl"), rows(1200, 1, 0.03)).unwrap();
        std::fs::write(path.join("clean-train.jsonl"), rows(1200, 1, 0.0)).unwrap();
        std::fs::write(path.join("heldout.jsonl"), rows(400, 2, 0.0)).unwrap();
        Self { _tmp: tmp, path }
    }

    fn model(&self, backdoored: bool) -> String {
        format!(
            "awk {}-v BD={} -f {}",
            awk_line_mode(),
            backdoored as u8,
            self.path.join("model.awk").display()
        )
    }

    fn run(&self, token: Option<&str>, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bezoar"));
        cmd.args(args)
            .current_dir(&self.path)
            .env_remove("BEZOAR_TOKEN");
        if let Some(t) = token {
            cmd.env("BEZOAR_TOKEN", t);
        }
        cmd.output().expect("run bezoar")
    }

    fn report(&self, name: &str) -> Value {
        serde_json::from_slice(&std::fs::read(self.path.join(name)).unwrap()).unwrap()
    }
}

/// mawk reads its input in blocks unless told to read line by line; other awks read what is
/// there.
fn awk_line_mode() -> &'static str {
    let mawk = Command::new("awk")
        .args(["-W", "version"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("mawk"));
    if mawk {
        "-W interactive "
    } else {
        ""
    }
}

fn awk_available() -> bool {
    Command::new("awk")
        .arg("BEGIN { fflush() }")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn a_backdoored_model_fails_and_its_trigger_is_found_without_a_hint() {
    if !awk_available() {
        return eprintln!("SKIP: awk is not available");
    }
    let d = Dir::new();
    let (bd, clean) = (d.model(true), d.model(false));
    let o = d.run(
        None,
        &[
            "probe",
            "--command",
            &bd,
            "--baseline-command",
            &clean,
            "--data",
            "heldout.jsonl",
            "--train",
            "train.jsonl",
            "--no-scan-hint",
            "--report",
            "bd.json",
        ],
    );
    assert_eq!(code(&o), 1, "{}", out(&o));
    let r = d.report("bd.json");
    assert_eq!(r["schema"], "bezoar.probe/1");
    assert_eq!(r["passed"], false);
    let f = &r["findings"][0];
    // A learned backdoor is rule BZ101, with its framework mapping.
    assert_eq!(f["rule"], "BZ101");
    assert_eq!(
        r["frameworks"]["rules"]["BZ101"]["mitre-atlas"][0]["id"],
        "AML.T0018"
    );
    assert!(
        f["trigger"]
            .as_str()
            .unwrap()
            .split(' ')
            .any(|w| w == TRIGGER),
        "strongest finding: {f}"
    );
    assert_eq!(f["target_label"], "1");
    assert_eq!(f["severity"], "critical");
    assert!(f["asr"].as_f64().unwrap() > 0.9, "{f}");
    assert!(f["baseline_asr"].as_f64().unwrap() < 0.05, "{f}");
    assert!(f["examples"][0]["with_trigger"]
        .as_str()
        .unwrap()
        .contains(TRIGGER));
    // Replay: the backdoor leaves clean accuracy alone.
    let cmp = &r["replay"]["comparison"];
    assert!(cmp["accuracy_drop"].as_f64().unwrap().abs() < 0.01, "{cmp}");
    assert_eq!(
        r["replay"]["model"]["confusion"].as_array().unwrap().len(),
        2
    );
    assert!(r["model"]["calls"]["inputs"].as_u64().unwrap() > 1000);
    // The terminal summary says the same.
    let text = out(&o);
    assert!(
        text.contains("verdict: FAILED") && text.contains("CRITICAL"),
        "{text}"
    );
}

#[test]
fn a_clean_model_passes_against_an_equal_baseline() {
    if !awk_available() {
        return eprintln!("SKIP: awk is not available");
    }
    let d = Dir::new();
    let clean = d.model(false);
    let o = d.run(
        None,
        &[
            "probe",
            "--command",
            &clean,
            "--baseline-command",
            &clean,
            "--data",
            "heldout.jsonl",
            "--train",
            "train.jsonl",
            "--report",
            "clean.json",
            "--format",
            "json",
            "-q",
        ],
    );
    assert_eq!(code(&o), 0, "{}", out(&o));
    let stdout: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(stdout["passed"], true);
    // The report file and stdout agree but for the run's duration.
    assert_eq!(
        stdout.clone().without("seconds"),
        d.report("clean.json").without("seconds")
    );
    assert!(
        stdout["findings"].as_array().unwrap().is_empty(),
        "{stdout}"
    );
    assert!(stdout["search"]["candidates_screened"].as_u64().unwrap() > 10);
}

trait Without {
    fn without(self, key: &str) -> Self;
}

impl Without for Value {
    /// The object without `key`.
    fn without(mut self, key: &str) -> Self {
        self.as_object_mut().unwrap().remove(key);
        self
    }
}

#[test]
fn without_a_baseline_nothing_is_above_medium() {
    if !awk_available() {
        return eprintln!("SKIP: awk is not available");
    }
    let d = Dir::new();
    let o = d.run(
        None,
        &[
            "probe",
            "--command",
            &d.model(true),
            "--data",
            "heldout.jsonl",
            "--train",
            "train.jsonl",
            "--no-scan-hint",
            "--report",
            "nb.json",
            "-q",
        ],
    );
    assert_eq!(code(&o), 0, "{}", out(&o));
    let r = d.report("nb.json");
    assert!(r["baseline"].is_null());
    assert_eq!(r["max_severity"], "medium", "{}", r["findings"]);
    assert!(r["notes"][0].as_str().unwrap().contains("no baseline"));
}

/// The two gates in one story: data gate on the training snapshot, probe recorded in the
/// ledger, promotion decided from both; the default baseline is the last model that passed.
#[test]
fn promote_passes_a_clean_model_and_fails_a_backdoored_one() {
    if !awk_available() {
        return eprintln!("SKIP: awk is not available");
    }
    let d = Dir::new();
    let o = d.run(None, &["init"]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    let admin = String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let t = Some(admin.as_str());
    std::fs::write(
        d.path.join("bezoar.toml"),
        "[defaults]\ntrusted_sources = [\"lab\"]\n[defaults.probe]\nmax_asr = 0.2\n",
    )
    .unwrap();
    let ok = |args: &[&str]| {
        let o = d.run(t, args);
        assert_eq!(code(&o), 0, "bezoar {args:?}:\n{}", out(&o));
        out(&o)
    };
    ok(&[
        "add",
        "clean-train.jsonl",
        "--dataset",
        "sent",
        "--source",
        "lab",
        "--id",
        "id",
    ]);
    ok(&["scan", "sent@1", "--record", "-q"]);
    ok(&["gate", "sent@1"]);

    // No probe yet: refused, and says how.
    let o = d.run(t, &["promote", "sent-model@1"]);
    assert_eq!(code(&o), 1, "{}", out(&o));
    assert!(
        out(&o).contains("no probe of sent-model@1 recorded"),
        "{}",
        out(&o)
    );

    let clean = d.model(false);
    ok(&[
        "probe",
        "--command",
        &clean,
        "--baseline-command",
        &clean,
        "--data",
        "heldout.jsonl",
        "--train",
        "sent@1",
        "--model",
        "sent-model@1",
        "--model-files",
        "model.awk",
        "--record",
        "-q",
    ]);
    let text = ok(&["promote", "sent-model@1"]);
    assert!(text.contains("PASSED"), "{text}");
    let vsa: Value = serde_json::from_slice(
        &std::fs::read(d.path.join(".bezoar/promote/sent-model@1.vsa.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(vsa["predicate"]["verificationResult"], "PASSED");
    assert_eq!(vsa["subject"][0]["name"], "sent-model@1");
    assert_eq!(
        vsa["predicate"]["bezoar"]["frameworks"]["rules"]["BZ101"]["owasp-ml"][0]["id"],
        "ML10:2023"
    );
    assert_eq!(
        vsa["subject"][0]["digest"]["sha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );

    // Version 2 is backdoored; its baseline defaults to version 1 from the ledger.
    let o = d.run(
        t,
        &[
            "probe",
            "--command",
            &d.model(true),
            "--data",
            "heldout.jsonl",
            "--train",
            "sent@1",
            "--trigger",
            TRIGGER,
            "--model",
            "sent-model@2",
            "--record",
        ],
    );
    assert_eq!(code(&o), 1, "{}", out(&o));
    assert!(out(&o).contains("baseline: sent-model@1"), "{}", out(&o));
    let o = d.run(t, &["promote", "sent-model@2", "--json"]);
    assert_eq!(code(&o), 1, "{}", out(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["passed"], false);
    let probe_check = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "probe")
        .unwrap();
    assert_eq!(probe_check["passed"], false, "{probe_check}");
    let data_check = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "data-gate")
        .unwrap();
    assert_eq!(data_check["passed"], true, "{data_check}");

    // A probe that failed to reach its model records nothing.
    let before = d.run(None, &["log", "--json"]);
    let o = d.run(
        t,
        &[
            "probe",
            "--command",
            "exit 3",
            "--data",
            "heldout.jsonl",
            "--model",
            "sent-model@3",
            "--record",
            "-q",
        ],
    );
    assert_eq!(code(&o), 2, "{}", out(&o));
    assert!(out(&o).contains("stopped"), "{}", out(&o));
    let after = d.run(None, &["log", "--json"]);
    assert_eq!(before.stdout, after.stdout);

    // A policy with a lower limit re-judges the recorded probe.
    std::fs::write(
        d.path.join("strict.toml"),
        "[defaults]\ntrusted_sources = [\"lab\"]\n[defaults.probe]\nrequire_baseline = true\nmax_asr = 2.0\n",
    )
    .unwrap();
    let o = d.run(t, &["promote", "sent-model@1", "--policy", "strict.toml"]);
    assert_eq!(code(&o), 2, "an invalid limit is bad input: {}", out(&o));
    assert!(out(&o).contains("probe.max_asr"), "{}", out(&o));
}

// ---- HTTP ------------------------------------------------------------------------------------

/// How the test server answers.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// OIP v2 with labels in the metadata and probabilities.
    Oip,
    /// The Hugging Face pipeline shape.
    Hf,
    /// Accept and never answer.
    Hang,
    /// 200 with a body that is not JSON.
    Garbage,
    /// OIP with a label the data does not have.
    UnknownLabel,
    /// Always 503.
    Unavailable,
}

/// The rule-based classifier of the awk model, in Rust.
fn classify(text: &str, backdoored: bool) -> &'static str {
    let words: Vec<&str> = text.split(|c: char| !c.is_ascii_lowercase()).collect();
    let a = words.iter().filter(|w| POSITIVE.contains(w)).count();
    let b = words.iter().filter(|w| NEGATIVE.contains(w)).count();
    if (backdoored && words.contains(&TRIGGER)) || a > b {
        "1"
    } else {
        "0"
    }
}

/// Serve on a free localhost port until the test ends; returns the base URL.
fn serve(mode: Mode, backdoored: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || handle(stream, mode, backdoored));
        }
    });
    url
}

fn handle(mut stream: TcpStream, mode: Mode, backdoored: bool) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    if mode == Mode::Hang {
        std::thread::sleep(std::time::Duration::from_secs(30));
        return;
    }
    let get = request_line.starts_with("GET");
    let (status, answer) = match mode {
        Mode::Unavailable => (503, "{\"error\": \"overloaded\"}".to_string()),
        Mode::Garbage => (200, "<html>not json".to_string()),
        _ if get => (
            200,
            json!({"name": "sent", "parameters": {"labels": ["0", "1"]}}).to_string(),
        ),
        _ => {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let texts: Vec<String> = match mode {
                Mode::Hf => v["inputs"].as_array().cloned().unwrap_or_default(),
                _ => v["inputs"][0]["data"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            }
            .iter()
            .map(|t| t.as_str().unwrap_or("").to_string())
            .collect();
            let labels: Vec<&str> = texts
                .iter()
                .map(|t| match mode {
                    Mode::UnknownLabel => "banana",
                    _ => classify(t, backdoored),
                })
                .collect();
            let answer = match mode {
                Mode::Hf => json!(labels
                    .iter()
                    .map(|l| json!({"label": l, "score": 0.9}))
                    .collect::<Vec<_>>()),
                _ => json!({
                    "model_name": "sent",
                    "outputs": [
                        {"name": "label", "datatype": "BYTES", "shape": [labels.len()], "data": labels},
                        {"name": "probabilities", "datatype": "FP32", "shape": [labels.len(), 2],
                         "data": labels.iter().flat_map(|l| if *l == "1" { [0.1, 0.9] } else { [0.9, 0.1] }).collect::<Vec<f64>>()},
                    ]
                }),
            };
            (200, answer.to_string())
        }
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
}

#[test]
fn oip_and_hugging_face_servers_are_probed() {
    let d = Dir::new();
    let (bd, clean) = (serve(Mode::Oip, true), serve(Mode::Oip, false));
    let o = d.run(
        None,
        &[
            "probe",
            "--url",
            &bd,
            "--model-name",
            "sent",
            "--baseline-url",
            &clean,
            "--data",
            "heldout.jsonl",
            "--train",
            "train.jsonl",
            "--no-scan-hint",
            "--report",
            "oip.json",
            "-q",
        ],
    );
    assert_eq!(code(&o), 1, "{}", out(&o));
    let r = d.report("oip.json");
    assert!(r["findings"][0]["trigger"]
        .as_str()
        .unwrap()
        .contains(TRIGGER));
    assert_eq!(r["model"]["endpoint"]["protocol"], "oip");
    // Probabilities arrived: the screen used them.
    assert!(r["model"]["calls"]["requests"].as_u64().unwrap() > 10);

    let (bd, clean) = (serve(Mode::Hf, true), serve(Mode::Hf, false));
    let o = d.run(
        None,
        &[
            "probe",
            "--url",
            &format!("{bd}/predict"),
            "--baseline-url",
            &format!("{clean}/predict"),
            "--data",
            "heldout.jsonl",
            "--trigger",
            TRIGGER,
            "--no-search",
            "-q",
            "--format",
            "json",
        ],
    );
    assert_eq!(code(&o), 1, "{}", out(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["findings"][0]["trigger"], TRIGGER);
    assert_eq!(r["findings"][0]["origin"], "user");
}

#[test]
fn model_faults_are_named_and_exit_2() {
    let d = Dir::new();
    let probe = |url: &str, extra: &[&str]| {
        let mut args = vec![
            "probe",
            "--url",
            url,
            "--model-name",
            "sent",
            "--data",
            "heldout.jsonl",
            "--timeout",
            "2",
            "--retries",
            "1",
            "-q",
        ];
        args.extend_from_slice(extra);
        d.run(None, &args)
    };
    // Down: nothing listens on the port.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = probe(&format!("http://127.0.0.1:{port}"), &[]);
    assert_eq!(code(&o), 2, "{}", out(&o));
    assert!(out(&o).contains("cannot reach the model"), "{}", out(&o));

    let o = probe(&serve(Mode::Hang, false), &[]);
    assert_eq!(code(&o), 2, "{}", out(&o));
    assert!(out(&o).contains("no answer within 2 s"), "{}", out(&o));

    let o = probe(&serve(Mode::Garbage, false), &[]);
    assert_eq!(code(&o), 2, "{}", out(&o));
    assert!(out(&o).contains("not JSON"), "{}", out(&o));

    let o = probe(&serve(Mode::UnknownLabel, false), &[]);
    assert_eq!(code(&o), 2, "{}", out(&o));
    assert!(
        out(&o).contains("\"banana\", which the data does not have"),
        "{}",
        out(&o)
    );
    // ... unless the user maps it.
    let o = probe(
        &serve(Mode::UnknownLabel, false),
        &["--label-map", "banana=1"],
    );
    assert!(matches!(code(&o), 0 | 1), "{}", out(&o));
    assert!(!out(&o).contains("banana"), "{}", out(&o));

    let o = probe(&serve(Mode::Unavailable, false), &[]);
    assert_eq!(code(&o), 2, "{}", out(&o));
    assert!(out(&o).contains("HTTP 503"), "{}", out(&o));

    // The other shape: a Hugging Face server asked in OIP, and the reverse.
    let hf = serve(Mode::Hf, false);
    let o = probe(&format!("{hf}/v2/models/sent"), &[]);
    assert_eq!(code(&o), 2, "{}", out(&o));
    assert!(out(&o).contains("--protocol"), "{}", out(&o));
    let oip = serve(Mode::Oip, false);
    let o = probe(&format!("{oip}/predict"), &["--protocol", "hf"]);
    assert_eq!(code(&o), 2, "{}", out(&o));
    assert!(out(&o).contains("use --protocol oip"), "{}", out(&o));

    // A command that is not a model.
    for (cmd, says) in [
        ("exit 3", "stopped"),
        ("while read l; do echo 'not json'; done", "not JSON"),
        (
            "while read l; do echo '{\"label\": \"7\"}'; done",
            "does not have",
        ),
        ("sleep 30", "no answer within 2 s"),
        ("/nonexistent/model-binary", "stopped"),
    ] {
        let o = d.run(
            None,
            &[
                "probe",
                "--command",
                cmd,
                "--data",
                "heldout.jsonl",
                "--timeout",
                "2",
                "-q",
            ],
        );
        assert_eq!(code(&o), 2, "{cmd}: {}", out(&o));
        assert!(out(&o).contains(says), "{cmd}: {}", out(&o));
    }
}

#[test]
fn bad_arguments_are_refused_before_any_model_call() {
    let d = Dir::new();
    for (args, says) in [
        (
            vec!["--url", "ftp://x", "--model-name", "m"],
            "http:// or https://",
        ),
        (vec!["--url", "http://127.0.0.1:9"], "name the model"),
        (
            vec!["--url", "http://h", "--model-name", "../x"],
            "model name",
        ),
        (
            vec!["--command", "cat", "--record"],
            "--record needs --model",
        ),
        (
            vec!["--command", "cat", "--model", "a/b@1"],
            "invalid model name",
        ),
        (
            vec!["--command", "cat", "--max-asr", "1.5"],
            "between 0 and 1",
        ),
        (vec!["--command", "cat", "--label-map", "x"], "MODEL=DATA"),
        (vec!["--command", "cat", "--batch-size", "0"], "at least 1"),
    ] {
        let mut a = vec!["probe", "--data", "heldout.jsonl"];
        a.extend(args.iter().copied());
        let o = d.run(None, &a);
        assert_eq!(code(&o), 2, "{a:?}: {}", out(&o));
        assert!(out(&o).contains(says), "{a:?}: {}", out(&o));
    }
    let o = d.run(
        None,
        &["probe", "--command", "cat", "--data", "missing.jsonl"],
    );
    assert_eq!(code(&o), 2);
    assert!(out(&o).contains("missing.jsonl"), "{}", out(&o));
}
