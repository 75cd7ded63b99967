//! The scan's class limit, end to end: a label column with more distinct labels than
//! `bezoar_scan::MAX_CLASSES` is refused at once with exit 2 and a message saying what to check;
//! a file at the limit is scanned.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use bezoar_scan::MAX_CLASSES;

fn bezoar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bezoar"))
        .args(args)
        .output()
        .expect("run bezoar")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A JSONL file of `rows` short texts, row `i` labelled `c{i % labels}`.
fn labelled(dir: &Path, rows: usize, labels: usize) -> String {
    let words = [
        "alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta",
    ];
    let mut s = String::with_capacity(rows * 64);
    for i in 0..rows {
        let text: Vec<&str> = (0..6)
            .map(|k| words[(i * 7 + k * 3) % words.len()])
            .collect();
        s.push_str(&format!(
            "{{\"text\":\"{} w{}\",\"label\":\"c{}\"}}\n",
            text.join(" "),
            i,
            i % labels
        ));
    }
    let p = dir.join(format!("rows{rows}-labels{labels}.jsonl"));
    std::fs::write(&p, s).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn fifty_thousand_distinct_labels_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = labelled(dir.path(), 50_000, 50_000);
    let t = Instant::now();
    let o = bezoar(&["scan", &data, "--quiet"]);
    let took = t.elapsed();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("50000 distinct labels"), "{err}");
    assert!(
        err.contains(&format!("the {MAX_CLASSES} a scan supports")),
        "{err}"
    );
    assert!(err.contains("--label"), "{err}");
    assert!(o.stdout.is_empty(), "no report on a refused scan");
    // Refused before any model is built: reading 50,000 rows is all the work.
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[test]
fn the_limit_is_inclusive() {
    let dir = tempfile::tempdir().unwrap();
    // At the limit the scan runs (the cheap detectors here; the label models at the limit are
    // tested in bezoar-scan); one label more is refused.
    let at = labelled(dir.path(), 2 * MAX_CLASSES, MAX_CLASSES);
    let o = bezoar(&[
        "scan",
        &at,
        "--quiet",
        "--detectors",
        "duplicates,unusual-chars",
    ]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
    let past = labelled(dir.path(), 2 * MAX_CLASSES, MAX_CLASSES + 1);
    let o = bezoar(&[
        "scan",
        &past,
        "--quiet",
        "--detectors",
        "duplicates,unusual-chars",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("{} distinct labels", MAX_CLASSES + 1)),
        "{}",
        stderr(&o)
    );
}
