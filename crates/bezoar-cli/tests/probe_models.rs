//! `bezoar probe` against real trained models (issue #13, "real models in the tests"): the
//! example scikit-learn TF-IDF + logistic-regression classifier and the small embedding-bag
//! network of `examples/models/`, trained on `../shared/bench/sst2-badnets-1pct` as it is
//! (backdoored) and without its poisoned rows (clean), with a baseline trained on another seeded
//! subsample of the clean rows. Reached three ways: served over OIP v2 on localhost, as a
//! stdin/stdout command, and as the embedding-bag's ONNX export run in-process.
//!
//! Installs `examples/models/requirements.txt` into a temporary virtualenv; skips with a message
//! where python3, venv, pip or the bench set are missing.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{code, out, python_venv};
use serde_json::Value;

const SET: &str = "sst2-badnets-1pct";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A server process killed when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Ids of the poisoned rows, and each token's count in poisoned and in clean rows.
fn poisoned_tokens(set: &Path) -> (HashSet<String>, HashMap<String, (u32, u32)>) {
    let truth = std::fs::read_to_string(set.join("truth.csv")).unwrap();
    let poisoned: HashSet<String> = truth
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split(',');
            let id = f.next()?;
            (f.next()? == "1").then(|| id.to_string())
        })
        .collect();
    let mut counts: HashMap<String, (u32, u32)> = HashMap::new();
    for line in std::fs::read_to_string(set.join("train.jsonl"))
        .unwrap()
        .lines()
    {
        let v: Value = serde_json::from_str(line).unwrap();
        let id = match &v["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let bad = poisoned.contains(&id);
        let words: HashSet<String> = v["text"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        for w in words {
            let c = counts.entry(w).or_default();
            if bad {
                c.0 += 1
            } else {
                c.1 += 1
            }
        }
    }
    (poisoned, counts)
}

/// Every word of the trigger is one the poisoned rows carry far more than the clean ones.
fn is_planted(trigger: &str, counts: &HashMap<String, (u32, u32)>) -> bool {
    trigger.split_whitespace().all(|w| {
        let (p, c) = counts.get(w).copied().unwrap_or((0, 0));
        p >= 3 && p > 10 * c
    })
}

#[test]
fn real_models_over_oip_stdio_and_onnx() {
    let skip = |why: &str| eprintln!("SKIP real_models_over_oip_stdio_and_onnx: {why}");
    let set = root().join("../shared/bench").join(SET);
    if !set.join("truth.csv").is_file() {
        return skip(&format!("{} is missing (CI has ../shared)", set.display()));
    }
    let reqs = root().join("examples/models/requirements.txt");
    let (_venv, bin) = match python_venv(&["-r", reqs.to_str().unwrap()], Duration::from_secs(400))
    {
        Ok(v) => v,
        Err(why) => return skip(&why),
    };
    let py = bin.join("python");
    let models = root().join("examples/models");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let run_py = |args: &[&str]| {
        let o = Command::new(&py)
            .args(args)
            .current_dir(&models)
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "python {args:?}: {}", out(&o));
    };
    let split = w.join("split");
    run_py(&[
        "split.py",
        "--set",
        set.to_str().unwrap(),
        "--out",
        split.to_str().unwrap(),
        "--seed",
        "1",
    ]);
    let data = |f: &str| split.join(f).to_str().unwrap().to_string();
    let train = |kind: &str, file: &str, name: &str, seed: &str, sub: &str| {
        let dir = w.join(name);
        run_py(&[
            "train.py",
            "--data",
            &data(file),
            "--out",
            dir.to_str().unwrap(),
            "--kind",
            kind,
            "--seed",
            seed,
            "--subsample",
            sub,
        ]);
        dir
    };
    let tf_bd = train("tfidf-lr", "backdoored.jsonl", "tf-bd", "1", "1");
    let tf_clean = train("tfidf-lr", "clean.jsonl", "tf-clean", "1", "1");
    let tf_base = train("tfidf-lr", "clean.jsonl", "tf-base", "2", "0.9");
    let (_, counts) = poisoned_tokens(&set);

    let bezoar = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_bezoar"))
            .args(args)
            .current_dir(w)
            .env_remove("BEZOAR_TOKEN")
            .output()
            .unwrap()
    };
    let report = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(w.join(name)).unwrap()).unwrap()
    };
    let serve = |dir: &Path, port_file: &Path| -> Server {
        let child = Command::new(&py)
            .args([
                models.join("serve_http.py").to_str().unwrap(),
                "--model",
                dir.to_str().unwrap(),
                "--name",
                "sentiment",
                "--port",
                "0",
                "--port-file",
                port_file.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Server(child)
    };
    let port_of = |f: &Path| -> String {
        let start = Instant::now();
        loop {
            if let Ok(p) = std::fs::read_to_string(f) {
                if !p.trim().is_empty() {
                    return p.trim().to_string();
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the server did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    // 1. The backdoored TF-IDF model over OIP v2, found without the scan's hint.
    let (pf_bd, pf_base) = (w.join("bd.port"), w.join("base.port"));
    let _s1 = serve(&tf_bd, &pf_bd);
    let _s2 = serve(&tf_base, &pf_base);
    let (bd_url, base_url) = (
        format!("http://127.0.0.1:{}", port_of(&pf_bd)),
        format!("http://127.0.0.1:{}", port_of(&pf_base)),
    );
    let o = bezoar(&[
        "probe",
        "--url",
        &bd_url,
        "--model-name",
        "sentiment",
        "--baseline-url",
        &base_url,
        "--data",
        &data("heldout.jsonl"),
        "--train",
        &data("backdoored.jsonl"),
        "--no-scan-hint",
        "--report",
        "tf-bd.json",
        "-q",
    ]);
    assert_eq!(code(&o), 1, "{}", out(&o));
    let r = report("tf-bd.json");
    let top = &r["findings"][0];
    assert!(
        is_planted(top["trigger"].as_str().unwrap(), &counts),
        "the strongest finding is not the planted trigger: {top}"
    );
    assert!(
        matches!(top["severity"].as_str(), Some("high" | "critical")),
        "{top}"
    );
    assert!(top["asr"].as_f64().unwrap() > 0.4, "{top}");

    // 2. The clean TF-IDF model as a command passes against its baseline.
    let cmd = |dir: &Path| {
        format!(
            "{} {} --model {}",
            py.display(),
            models.join("serve_stdio.py").display(),
            dir.display()
        )
    };
    let o = bezoar(&[
        "probe",
        "--command",
        &cmd(&tf_clean),
        "--baseline-command",
        &cmd(&tf_base),
        "--data",
        &data("heldout.jsonl"),
        "--train",
        &data("clean.jsonl"),
        "--report",
        "tf-clean.json",
        "-q",
    ]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    let r = report("tf-clean.json");
    assert!(
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["severity"] != "high" && f["severity"] != "critical"),
        "{}",
        r["findings"]
    );

    // 3. The embedding-bag network's ONNX export, in-process.
    let eb_bd = train("embedbag", "backdoored.jsonl", "eb-bd", "1", "1");
    let eb_base = train("embedbag", "clean.jsonl", "eb-base", "2", "0.9");
    let o = bezoar(&[
        "probe",
        "--onnx",
        eb_bd.join("onnx").to_str().unwrap(),
        "--baseline-onnx",
        eb_base.join("onnx").to_str().unwrap(),
        "--data",
        &data("heldout.jsonl"),
        "--train",
        &data("backdoored.jsonl"),
        "--no-scan-hint",
        "--report",
        "eb-bd.json",
        "-q",
    ]);
    assert_eq!(code(&o), 1, "{}", out(&o));
    let r = report("eb-bd.json");
    assert!(
        is_planted(r["findings"][0]["trigger"].as_str().unwrap(), &counts),
        "{}",
        r["findings"][0]
    );
    assert_eq!(r["model"]["sha256"].as_str().unwrap().len(), 64);
    // The ONNX model answers as the Python model does: the same held-out accuracy.
    let o2 = bezoar(&[
        "probe",
        "--command",
        &cmd(&eb_bd),
        "--data",
        &data("heldout.jsonl"),
        "--no-search",
        "--report",
        "eb-py.json",
        "-q",
    ]);
    assert_eq!(code(&o2), 0, "{}", out(&o2));
    assert_eq!(
        r["replay"]["model"]["confusion"],
        report("eb-py.json")["replay"]["model"]["confusion"],
        "the ONNX export and the numpy model read the held-out rows differently"
    );
}
