//! SARIF and HTML reports end to end: SARIF from real bench sets validated against the OASIS
//! schema in `../shared/interop`, its locations checked against the data and the truth file,
//! fingerprints stable across re-scans; `-o` format selection; and the HTML report rendered in
//! headless Chromium (screenshot non-blank, no console message, hostile rows shown as text).
//!
//! The bench tests skip with a message when `../shared` is missing. The browser test skips when
//! no Chromium is installed, unless `BEZOAR_REQUIRE_BROWSER=1` (set by `.ci/run`, which installs
//! Debian's `chromium` when it is missing), so CI always really renders.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{code, out};
use serde_json::Value;

fn bezoar_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bezoar"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run bezoar")
}

fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    p.join("bench").is_dir().then_some(p)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A compiled SARIF 2.1.0 schema, from `../shared/interop` (draft-04; format assertions on).
fn sarif_validator(shared: &Path) -> (boon::Schemas, boon::SchemaIndex) {
    let path = shared.join("interop/sarif-schema-2.1.0.json");
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    let idx = compiler
        .compile(path.to_str().unwrap(), &mut schemas)
        .expect("the SARIF schema compiles");
    (schemas, idx)
}

fn validate(v: &(boon::Schemas, boon::SchemaIndex), doc: &Value, what: &str) {
    if let Err(e) = v.0.validate(doc, v.1) {
        panic!("{what} is not valid SARIF 2.1.0: {e:#}");
    }
}

fn truth(set: &Path) -> HashMap<String, bool> {
    std::fs::read_to_string(set.join("truth.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut it = l.split(',');
            Some((it.next()?.to_string(), it.next()? == "1"))
        })
        .collect()
}

#[test]
fn sarif_of_bench_sets_validates_and_points_at_the_poisoned_lines() {
    let Some(shared) = shared() else {
        eprintln!("SKIP sarif bench test: ../shared is missing (CI has it beside the checkout)");
        return;
    };
    let validator = sarif_validator(&shared);
    let tmp = tempfile::tempdir().unwrap();
    // Two-class and four-class data; trigger, label-flip and mixed attacks.
    for name in ["sst2-badnets-1pct", "ag-badnets-1pct", "hsol-addsent-mix10"] {
        let set = shared.join("bench").join(name);
        let sarif_path = tmp.path().join(format!("{name}.sarif"));
        // Run in the set's folder so the file is named relative to it.
        let o = bezoar_in(
            &set,
            &[
                "scan",
                "train.jsonl",
                "--id",
                "id",
                "--quiet",
                "--fail-on",
                "never",
                "--sarif",
                sarif_path.to_str().unwrap(),
            ],
        );
        assert_eq!(code(&o), 0, "{name}: {}", out(&o));
        let doc: Value = serde_json::from_slice(&std::fs::read(&sarif_path).unwrap()).unwrap();
        validate(&validator, &doc, name);

        let lines: Vec<String> = std::fs::read_to_string(set.join("train.jsonl"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        let truth = truth(&set);
        let run = &doc["runs"][0];
        assert_eq!(run["artifacts"][0]["location"]["uri"], "train.jsonl");
        let results = run["results"].as_array().unwrap();
        assert!(!results.is_empty(), "{name}: no results");
        let (mut located, mut poisoned) = (0, 0);
        for r in results {
            let listed = r["locations"].as_array().unwrap();
            assert!(listed.len() <= 20);
            assert!(r["properties"]["rows"].as_u64().unwrap() >= listed.len() as u64);
            for loc in listed {
                let phys = &loc["physicalLocation"];
                assert_eq!(phys["artifactLocation"]["uri"], "train.jsonl");
                assert_eq!(phys["artifactLocation"]["uriBaseId"], "SRCROOT");
                let line = phys["region"]["startLine"].as_u64().unwrap() as usize;
                // The line the location names holds the row it names.
                let row: Value = serde_json::from_str(&lines[line - 1]).unwrap();
                let id = row["id"].to_string();
                assert_eq!(
                    loc["properties"]["row_id"].as_str().unwrap(),
                    id,
                    "{name}:{line}"
                );
                // Trigger findings at error level (high, critical) are the flagged ones; a
                // medium "possible trigger" is a class-defining word whose rows are only ranked.
                if r["ruleId"] == "BZ001" && r["level"] == "error" {
                    located += 1;
                    poisoned += usize::from(truth[&id]);
                }
            }
        }
        // The flagged trigger findings' rows are the poisoned ones, by the truth file.
        assert!(located > 0, "{name}: no trigger finding");
        assert!(
            poisoned * 10 >= located * 9,
            "{name}: {poisoned} of {located} trigger locations are poisoned"
        );
    }
}

#[test]
fn a_rescan_gives_the_same_sarif_and_fingerprints() {
    let Some(shared) = shared() else {
        eprintln!("SKIP sarif fingerprint test: ../shared is missing");
        return;
    };
    let set = shared.join("bench/sst2-badnets-1pct");
    let tmp = tempfile::tempdir().unwrap();
    let scan = |name: &str| {
        let p = tmp.path().join(name);
        let o = bezoar_in(
            &set,
            &[
                "scan",
                "train.jsonl",
                "--id",
                "id",
                "--quiet",
                "-o",
                p.to_str().unwrap(),
            ],
        );
        assert_eq!(code(&o), 1, "{}", out(&o));
        std::fs::read(p).unwrap()
    };
    let a = scan("a.sarif");
    let b = scan("b.sarif");
    assert_eq!(a, b, "the SARIF of a re-scan differs");
    let doc: Value = serde_json::from_slice(&a).unwrap();
    let fps: Vec<&str> = doc["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["partialFingerprints"]["bezoarFinding/v1"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(!fps.is_empty());
    let mut unique = fps.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), fps.len(), "fingerprints repeat: {fps:?}");
}

/// The example dataset plus one hostile row and one row with bidi characters.
fn hostile_data(dir: &Path) -> PathBuf {
    let example = std::fs::read_to_string(repo_root().join("examples/reviews.jsonl")).unwrap();
    let mut s: String = example.lines().map(|l| format!("{l}\n")).collect();
    let hostile = [
        // Both rows carry U+202E, so the invisible-character finding shows both as examples.
        "{\"id\": \"x<script>alert(1)</script>\", \"text\": \"<script>alert('row')</script> \u{202E}<img src=x onerror=alert(2)> great\", \"label\": \"positive\", \"vendor\": \"<b>v</b>\"}",
        "{\"id\": \"bidi\", \"text\": \"great \u{202E}txt.exe\u{202C} film\", \"label\": \"positive\", \"vendor\": \"v\"}",
    ];
    for h in hostile {
        s.push_str(h);
        s.push('\n');
    }
    let p = dir.join("data.jsonl");
    std::fs::write(&p, s).unwrap();
    p
}

#[test]
fn output_format_comes_from_the_extension_unless_format_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = hostile_data(tmp.path());
    let d = data.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "scan",
            d,
            "--id",
            "id",
            "--source",
            "vendor",
            "--fail-on",
            "never",
        ];
        args.extend_from_slice(extra);
        bezoar_in(tmp.path(), &args)
    };
    let o = run(&["-o", "r.sarif"]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    assert!(o.stdout.is_empty(), "-o still printed to stdout");
    let v: Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("r.sarif")).unwrap()).unwrap();
    assert_eq!(v["version"], "2.1.0");
    // The data file is under the working directory: a relative URI.
    assert_eq!(
        v["runs"][0]["artifacts"][0]["location"]["uri"],
        "data.jsonl"
    );

    let o = run(&[
        "-o",
        "r.html",
        "--sarif",
        "also.sarif",
        "--report",
        "r.json",
    ]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    let html = std::fs::read_to_string(tmp.path().join("r.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(tmp.path().join("also.sarif").exists());
    let r: Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(r["schema"], "bezoar.report/1");
    assert_eq!(
        r["frameworks"]["rules"]["BZ001"]["owasp-llm"][0]["id"],
        "LLM04:2025"
    );

    // An explicit --format wins over the extension.
    let o = run(&["-o", "r2.json", "--format", "sarif"]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    let v: Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("r2.json")).unwrap()).unwrap();
    assert_eq!(v["version"], "2.1.0");

    // --format html on stdout.
    let o = run(&["--format", "html", "--quiet"]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("<!DOCTYPE html>"));

    // An extension that says nothing is a usage error, before any scanning.
    let o = run(&["-o", "report.out"]);
    assert_eq!(code(&o), 2, "{}", out(&o));
    assert!(out(&o).contains("--format"), "{}", out(&o));
    assert!(!tmp.path().join("report.out").exists());
}

/// Chromium's binary: `$BEZOAR_CHROMIUM`, else the first of the usual names on PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BEZOAR_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
    .find(|p| p.is_file())
}

/// Run headless Chromium on a local file with `mode` (`--screenshot=…` or `--dump-dom`);
/// returns stdout and the console messages it logged. Output goes to files, not pipes: a
/// dumped DOM is larger than a pipe's buffer, and Chromium would block writing it.
fn render(browser: &Path, page: &Path, profile: &Path, mode: &str) -> (String, Vec<String>) {
    let url = format!("file://{}", page.display());
    let (out_path, err_path) = (profile.with_extension("out"), profile.with_extension("err"));
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,2400",
            &format!("--user-data-dir={}", profile.display()),
            mode,
            &url,
        ])
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("start chromium");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish {mode} within two minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(status.success(), "chromium failed: {stderr}");
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (std::fs::read_to_string(&out_path).unwrap(), console)
}

/// Share of pixels that differ from the top-left pixel, and whether any is strongly coloured.
fn ink(png_path: &Path) -> (f64, bool) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bpp = info.color_type.samples();
    assert!(bpp >= 3, "unexpected PNG colour type {:?}", info.color_type);
    let px: Vec<&[u8]> = buf[..info.buffer_size()].chunks(bpp).collect();
    let bg = px[0];
    let differ = px.iter().filter(|p| p[..3] != bg[..3]).count();
    let coloured = px.iter().any(|p| {
        let (r, g, b) = (p[0] as i32, p[1] as i32, p[2] as i32);
        (r - g).abs() > 80 || (r - b).abs() > 80 || (g - b).abs() > 80
    });
    (differ as f64 / px.len() as f64, coloured)
}

#[test]
fn the_html_report_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        if std::env::var_os("BEZOAR_REQUIRE_BROWSER").is_some_and(|v| v == "1") {
            panic!(
                "BEZOAR_REQUIRE_BROWSER=1 but no chromium was found (install Debian's chromium)"
            );
        }
        eprintln!("SKIP html browser test: no chromium on PATH (.ci/run installs it)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = hostile_data(tmp.path());
    let html = tmp.path().join("report.html");
    let o = bezoar_in(
        tmp.path(),
        &[
            "scan",
            data.to_str().unwrap(),
            "--id",
            "id",
            "--source",
            "vendor",
            "--html",
            html.to_str().unwrap(),
        ],
    );
    assert_eq!(
        code(&o),
        1,
        "the example's poison fails the scan: {}",
        out(&o)
    );

    // The console capture itself works: a page that logs is seen.
    let control = tmp.path().join("control.html");
    std::fs::write(
        &control,
        "<!DOCTYPE html><html><body><p>x</p><script>console.error('bezoar-console-probe')</script></body></html>",
    )
    .unwrap();
    let (_, console) = render(&browser, &control, &tmp.path().join("p0"), "--dump-dom");
    assert!(
        console.iter().any(|l| l.contains("bezoar-console-probe")),
        "console messages are not captured: {console:?}"
    );

    let shot = tmp.path().join("shot.png");
    let (_, console) = render(
        &browser,
        &html,
        &tmp.path().join("p1"),
        &format!("--screenshot={}", shot.display()),
    );
    assert!(
        console.is_empty(),
        "the report logged to the console: {console:?}"
    );
    let (share, coloured) = ink(&shot);
    assert!(
        share > 0.02,
        "the screenshot is blank ({:.4} of pixels inked)",
        share
    );
    assert!(
        coloured,
        "the screenshot has no colour (no verdict banner?)"
    );

    // In the rendered DOM the hostile row is text: no element came from the data.
    let (dom, console) = render(&browser, &html, &tmp.path().join("p2"), "--dump-dom");
    assert!(console.is_empty(), "{console:?}");
    assert!(!dom.contains("<script"), "a script element reached the DOM");
    assert!(!dom.contains("<img"), "an img element reached the DOM");
    assert!(
        dom.contains("&lt;script&gt;alert('row')&lt;/script&gt;"),
        "hostile text missing"
    );
    assert!(
        dom.contains("&lt;U+202E&gt;txt.exe"),
        "bidi override not made visible"
    );
    assert!(dom.contains("FAILED"));
}

#[test]
fn sarif_of_a_ledger_snapshot_names_rows_by_snapshot_and_id() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("reviews.jsonl");
    std::fs::copy(repo_root().join("examples/reviews.jsonl"), &data).unwrap();
    let o = bezoar_in(tmp.path(), &["init"]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    let token = String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let o = Command::new(env!("CARGO_BIN_EXE_bezoar"))
        .current_dir(tmp.path())
        .env("BEZOAR_TOKEN", &token)
        .args([
            "add",
            data.to_str().unwrap(),
            "--dataset",
            "reviews",
            "--source",
            "vendor-feed",
            "--id",
            "id",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", out(&o));
    let o = bezoar_in(
        tmp.path(),
        &[
            "scan",
            "reviews@1",
            "--quiet",
            "--fail-on",
            "never",
            "--sarif",
            "s.sarif",
        ],
    );
    assert_eq!(code(&o), 0, "{}", out(&o));
    let v: Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("s.sarif")).unwrap()).unwrap();
    let run = &v["runs"][0];
    assert_eq!(run["properties"]["snapshot"], "reviews@1");
    assert!(run.get("artifacts").is_none());
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        for loc in r["locations"].as_array().unwrap() {
            assert!(loc.get("physicalLocation").is_none(), "{loc}");
            let fqn = loc["logicalLocations"][0]["fullyQualifiedName"]
                .as_str()
                .unwrap();
            let id = loc["properties"]["row_id"].as_str().unwrap();
            assert_eq!(fqn, format!("reviews@1/{id}"));
        }
    }
    if let Some(shared) = shared() {
        validate(&sarif_validator(&shared), &v, "the snapshot's SARIF");
    }
}
