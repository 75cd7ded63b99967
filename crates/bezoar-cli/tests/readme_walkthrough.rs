//! The README's ledger walkthrough runs as written (issue #12 row 10): every ```sh block marked
//! `<!-- walkthrough -->` is run in order with `sh -eu` from the repository root, with the
//! freshly built `bezoar` on PATH instead of `cargo install`, and `/tmp/bezoar-demo` moved into
//! a temporary directory. Any command that exits other than as the README says fails the test.

mod common;

use common::{code, out};
use std::path::Path;
use std::process::Command;

const MARKER: &str = "<!-- walkthrough -->";
const DEMO_DIR: &str = "/tmp/bezoar-demo";

/// The marked blocks of `readme`, in order, as one script.
fn walkthrough(readme: &str) -> String {
    let mut script = String::new();
    let mut rest = readme;
    while let Some(at) = rest.find(MARKER) {
        rest = &rest[at + MARKER.len()..];
        let start = rest
            .find("```sh\n")
            .expect("a ```sh block after the marker")
            + 6;
        let end = rest[start..].find("```").expect("the block ends") + start;
        script.push_str(&rest[start..end]);
        rest = &rest[end..];
    }
    script
}

#[test]
fn readme_ledger_walkthrough_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let script = walkthrough(&readme);
    assert!(
        script.contains("bezoar init") && script.contains("bezoar gate"),
        "no walkthrough found in README.md"
    );
    let demo = tempfile::tempdir().unwrap();
    let demo_dir = demo.path().join("bezoar-demo");
    let script: String = script
        .lines()
        .filter(|l| !l.starts_with("cargo install"))
        .map(|l| l.replace(DEMO_DIR, demo_dir.to_str().unwrap()) + "\n")
        .collect();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_bezoar")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = Command::new("sh")
        .args(["-eu", "-c", &script])
        .current_dir(&root)
        .env("PATH", path)
        .env_remove("BEZOAR_TOKEN")
        .output()
        .expect("run sh");
    assert_eq!(code(&o), 0, "the README walkthrough failed:\n{}", out(&o));
    let text = out(&o);
    // What the walkthrough is there to show actually happened.
    assert!(text.contains("OK: "), "{text}");
    assert!(text.contains("covering reviews@"), "{text}");
    assert!(text.contains("the retraining gate"), "{text}");
    assert!(demo_dir.join("gate.json").exists());
    assert!(demo_dir.join("reviews.cdx.json").exists());
}
