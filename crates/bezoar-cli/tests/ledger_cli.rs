//! End-to-end tests of the ledger commands: workflow, exit codes, tamper detection, crash
//! safety, checkpoints and proofs, signing (and interop with the OpenSSF model-signing tool when
//! python3 and pip can install it).

mod common;

use common::{code, out, python_venv};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Name of the file where these tests keep the admin token `bezoar init` printed, so every
/// later command in that directory authenticates as the admin (as a CI job would with a
/// BEZOAR_TOKEN secret).
const TOKEN_FILE: &str = "admin.token";

fn bezoar_in(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bezoar"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("BEZOAR_TEST_CRASH_BEFORE_COMMIT")
        .env_remove("BEZOAR_TOKEN");
    if let Ok(t) = std::fs::read_to_string(dir.join(TOKEN_FILE)) {
        cmd.env("BEZOAR_TOKEN", t.trim());
    }
    cmd.output().expect("run bezoar")
}

fn admin_token(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(TOKEN_FILE))
        .unwrap()
        .trim()
        .to_string()
}

/// `bezoar init`; the admin token is the last line of stdout.
#[track_caller]
fn init(dir: &Path) -> String {
    let o = bezoar_in(dir, &["init"]);
    assert_eq!(code(&o), 0, "init failed:\n{}", out(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let token = stdout.lines().last().unwrap().trim().to_string();
    assert!(
        token.starts_with("bzr_"),
        "last line is not a token: {stdout}"
    );
    std::fs::write(dir.join(TOKEN_FILE), &token).unwrap();
    token
}

#[track_caller]
fn ok(dir: &Path, args: &[&str]) -> String {
    let o = bezoar_in(dir, args);
    assert_eq!(code(&o), 0, "bezoar {args:?} failed:\n{}", out(&o));
    out(&o)
}

fn rows(n: usize, start: usize, source: &str) -> String {
    let mut s = String::new();
    for i in start..start + n {
        s.push_str(&format!(
            "{{\"id\":\"r{i}\",\"text\":\"review {i} of a product\",\"label\":{},\"vendor\":\"{source}\"}}\n",
            i % 2
        ));
    }
    s
}

/// A temp dir with an initialised ledger and `reviews.jsonl` (200 rows) recorded as `reviews`.
fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    std::fs::write(d.join("reviews.jsonl"), rows(200, 0, "acme")).unwrap();
    init(&d);
    ok(
        &d,
        &[
            "add",
            "reviews.jsonl",
            "--dataset",
            "reviews",
            "--source",
            "acme",
            "--id",
            "id",
        ],
    );
    (dir, d)
}

#[test]
fn every_ledger_command_has_teaching_help() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in [
        "init",
        "add",
        "log",
        "verify",
        "diff",
        "checkout",
        "quarantine",
        "keygen",
        "sign",
        "verify-signature",
    ] {
        let o = bezoar_in(dir.path(), &[cmd, "--help"]);
        let text = out(&o);
        assert_eq!(code(&o), 0, "{cmd}: {text}");
        assert!(text.contains("Example"), "{cmd} --help has no example");
        assert!(
            text.contains("Exit codes"),
            "{cmd} --help has no exit codes"
        );
    }
    let top = ok(dir.path(), &["--help"]);
    for cmd in ["init", "add", "verify", "verify-signature"] {
        assert!(top.contains(cmd), "{cmd} not in --help");
    }
}

#[test]
fn commands_before_init_say_to_run_init() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("d.jsonl"), rows(3, 0, "a")).unwrap();
    for args in [
        vec!["add", "d.jsonl", "--dataset", "d", "--source", "s"],
        vec!["log"],
        vec!["verify"],
    ] {
        let o = bezoar_in(dir.path(), &args);
        assert_eq!(code(&o), 2);
        assert!(out(&o).contains("run `bezoar init`"), "{}", out(&o));
    }
    init(dir.path());
    let o = bezoar_in(dir.path(), &["init"]);
    assert_eq!(code(&o), 2);
    assert!(out(&o).contains("already holds a bezoar ledger"));
}

#[test]
fn workflow_add_log_diff_checkout_quarantine_verify() {
    let (_t, d) = setup();
    // The same file again is recognised.
    let again = ok(
        &d,
        &[
            "add",
            "reviews.jsonl",
            "--dataset",
            "reviews",
            "--source",
            "acme",
            "--id",
            "id",
        ],
    );
    assert!(again.contains("already recorded as reviews@1"), "{again}");
    // A second feed with per-row sources, one relabel and new rows.
    let mut batch = rows(20, 200, "globex");
    batch.push_str(
        "{\"id\":\"r3\",\"text\":\"review 3 of a product\",\"label\":0,\"vendor\":\"globex\"}\n",
    );
    std::fs::write(d.join("batch.jsonl"), batch).unwrap();
    let added = ok(
        &d,
        &[
            "add",
            "batch.jsonl",
            "--dataset",
            "reviews",
            "--source",
            "feed",
            "--id",
            "id",
            "--source-column",
            "vendor",
            "-m",
            "weekly drop",
        ],
    );
    assert!(
        added.contains("reviews@2") && added.contains("20 added, 1 updated (1 relabelled)"),
        "{added}"
    );
    let log = ok(&d, &["log"]);
    assert!(
        log.contains("snapshot 1 of reviews") && log.contains("snapshot 2 of reviews"),
        "{log}"
    );
    assert!(
        log.contains("weekly drop") && log.contains("1 relabelled"),
        "{log}"
    );
    let json: serde_json::Value = serde_json::from_str(&ok(&d, &["log", "--json"])).unwrap();
    assert_eq!(json["tree_size"], 3);
    assert_eq!(json["events"][2]["event"]["type"], "snapshot");

    let prov = ok(&d, &["log", "--row", "r3"]);
    assert!(
        prov.contains("reviews@1 (snapshot 1): row 'r3'") && prov.contains("from source acme"),
        "{prov}"
    );
    assert!(
        prov.contains("reviews@2 (snapshot 2): row 'r3'")
            // A label-only change keeps the row's source (the label changed, not its origin).
            && prov.contains("from source acme, first recorded in reviews@2"),
        "{prov}"
    );
    let diff = ok(&d, &["diff", "reviews@1", "reviews"]);
    assert!(diff.contains("20 added, 0 removed, 1 relabelled"), "{diff}");
    assert!(diff.contains("~ r3 [acme] label 1 -> 0"), "{diff}");
    assert!(diff.contains("globex: 0.0% ->"), "{diff}");
    let dj: serde_json::Value =
        serde_json::from_str(&ok(&d, &["diff", "reviews@1", "reviews", "--json"])).unwrap();
    assert_eq!(dj["relabelled"][0]["id"], "r3");

    // Quarantine a source, then flagged rows from a scores CSV.
    let q = ok(
        &d,
        &["quarantine", "--source", "globex", "-m", "compromised"],
    );
    assert!(
        // globex's 20 new rows; r3, only relabelled in globex's file, stays acme's.
        q.contains("reviews@3") && q.contains("without 20 rows"),
        "{q}"
    );
    std::fs::write(
        d.join("scores.csv"),
        "id,score,flagged,reasons\nr0,0.9,true,trigger\nr1,0.1,false,\nr2,0.8,true,trigger\n",
    )
    .unwrap();
    let q = ok(&d, &["quarantine", "--rows", "scores.csv"]);
    assert!(q.contains("without 2 rows (198 rows left)"), "{q}");
    let log = ok(&d, &["log", "--dataset", "reviews"]);
    assert!(log.contains("quarantine"), "{log}");

    // Checkout restores a known-good version that verifies against its snapshot.
    ok(&d, &["checkout", "reviews@1", "--out", "good.jsonl"]);
    let v = ok(&d, &["verify", "reviews@1", "good.jsonl", "--id", "id"]);
    assert!(v.contains("matches reviews@1"), "{v}");
    let o = bezoar_in(&d, &["checkout", "reviews@1", "--out", "good.jsonl"]);
    assert_eq!(code(&o), 2, "overwrote without --force");
    ok(&d, &["checkout", "reviews", "--out", "head.csv"]);
    let csv = std::fs::read_to_string(d.join("head.csv")).unwrap();
    assert!(csv.starts_with("id,text,label,source\n"));
    assert_eq!(csv.lines().count(), 199);
    // Parquet is written as Parquet (it used to get JSONL), and verifies against the snapshot.
    ok(&d, &["checkout", "reviews", "--out", "head.parquet"]);
    let bytes = std::fs::read(d.join("head.parquet")).unwrap();
    assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));
    let v = ok(&d, &["verify", "reviews", "head.parquet", "--id", "id"]);
    assert!(v.contains("matches reviews@"), "{v}");
    let o = bezoar_in(&d, &["checkout", "reviews", "--out", "head.txt"]);
    assert_eq!(code(&o), 2);
    assert!(out(&o).contains("cannot tell the format"), "{}", out(&o));

    let v = ok(&d, &["verify"]);
    assert!(v.contains("OK:"), "{v}");

    let o = bezoar_in(&d, &["diff", "nope", "reviews"]);
    assert_eq!(code(&o), 2);
    assert!(out(&o).contains("unknown snapshot 'nope'") && out(&o).contains("datasets: reviews"));
}

#[test]
fn scan_results_are_recorded_in_the_log() {
    let (_t, d) = setup();
    let o = bezoar_in(
        &d,
        &[
            "scan",
            "reviews.jsonl",
            "--id",
            "id",
            "--record",
            "--fail-on",
            "never",
        ],
    );
    assert_eq!(code(&o), 0, "{}", out(&o));
    assert!(out(&o).contains("covering reviews@1"), "{}", out(&o));
    let log = ok(&d, &["log"]);
    assert!(
        log.contains("scan of reviews.jsonl (200 rows, rows root ") && log.contains("passed"),
        "{log}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&d, &["log", "--json", "--dataset", "reviews"])).unwrap();
    let last = &json["events"].as_array().unwrap().last().unwrap()["event"];
    assert_eq!(last["type"], "scan");
    assert_eq!(last["snapshots"][0], 1);
    ok(&d, &["verify"]);
}

#[test]
fn tampering_with_a_file_is_detected_and_named() {
    let (_t, d) = setup();
    let orig = std::fs::read_to_string(d.join("reviews.jsonl")).unwrap();
    // One row's text.
    std::fs::write(
        d.join("a.jsonl"),
        orig.replace("review 17 of", "review 17 0f"),
    )
    .unwrap();
    let o = bezoar_in(&d, &["verify", "reviews", "a.jsonl", "--id", "id"]);
    assert_eq!(code(&o), 1);
    assert!(out(&o).contains("row 'r17': text differs"), "{}", out(&o));
    // One label.
    std::fs::write(
        d.join("b.jsonl"),
        orig.replace(
            "\"review 42 of a product\",\"label\":0",
            "\"review 42 of a product\",\"label\":1",
        ),
    )
    .unwrap();
    let o = bezoar_in(&d, &["verify", "reviews", "b.jsonl", "--id", "id"]);
    assert_eq!(code(&o), 1);
    assert!(
        out(&o).contains("row 'r42': label changed from '0'"),
        "{}",
        out(&o)
    );
    // One byte (an added row is named too); a lone FILE argument means the only dataset.
    let mut bytes = orig.clone().into_bytes();
    let pos = orig.find("review 99").unwrap() + 7;
    bytes[pos] = b'8';
    std::fs::write(d.join("c.jsonl"), &bytes).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(d.join("c.jsonl"))
        .and_then(|mut f| {
            std::io::Write::write_all(&mut f, b"{\"id\":\"evil\",\"text\":\"cf\",\"label\":1}\n")
        })
        .unwrap();
    let o = bezoar_in(&d, &["verify", "c.jsonl", "--id", "id"]);
    assert_eq!(code(&o), 1, "{}", out(&o));
    assert!(out(&o).contains("row 'r99'"), "{}", out(&o));
    assert!(out(&o).contains("row 'evil' is in c.jsonl"), "{}", out(&o));
}

#[test]
fn tampering_with_the_database_or_objects_is_detected_and_named() {
    let (_t, d) = setup();
    let db = || rusqlite::Connection::open(d.join(".bezoar/ledger.db")).unwrap();
    db().execute(
        "UPDATE rows SET digest = zeroblob(32) WHERE row_id = 'r5'",
        [],
    )
    .unwrap();
    let o = bezoar_in(&d, &["verify"]);
    assert_eq!(code(&o), 1);
    assert!(out(&o).contains("row 'r5'"), "{}", out(&o));

    let (_t, d) = setup();
    let db = rusqlite::Connection::open(d.join(".bezoar/ledger.db")).unwrap();
    db.execute("DELETE FROM events WHERE seq = 1", []).unwrap();
    drop(db);
    let o = bezoar_in(&d, &["verify"]);
    assert_eq!(code(&o), 1);
    assert!(out(&o).contains("events were deleted"), "{}", out(&o));

    let (_t, d) = setup();
    let objdir = d.join(".bezoar/objects");
    let sub = std::fs::read_dir(&objdir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let obj = std::fs::read_dir(&sub)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut b = std::fs::read(&obj).unwrap();
    let n = b.len();
    b[n / 2] ^= 1;
    std::fs::write(&obj, b).unwrap();
    let o = bezoar_in(&d, &["verify", "--json"]);
    assert_eq!(code(&o), 1);
    let rep: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let name = format!(
        "{}{}",
        sub.file_name().unwrap().to_string_lossy(),
        obj.file_name().unwrap().to_string_lossy()
    );
    assert!(
        rep["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().contains(&name)),
        "{rep}"
    );
    // Commands that read rows refuse a damaged store.
    let o = bezoar_in(&d, &["checkout", "reviews", "--out", "x.jsonl"]);
    assert_eq!(code(&o), 2);
    assert!(out(&o).contains("damaged"), "{}", out(&o));
}

#[test]
fn a_crash_before_commit_leaves_the_previous_state_intact() {
    let (_t, d) = setup();
    std::fs::write(d.join("more.jsonl"), rows(50, 200, "x")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_bezoar"))
        .args([
            "add",
            "more.jsonl",
            "--dataset",
            "reviews",
            "--source",
            "x",
            "--id",
            "id",
        ])
        .current_dir(&d)
        .env("BEZOAR_TOKEN", admin_token(&d))
        .env("BEZOAR_TEST_CRASH_BEFORE_COMMIT", "1")
        .output()
        .unwrap();
    assert!(!o.status.success(), "the crash hook did not fire");
    let v = ok(&d, &["verify"]);
    assert!(v.contains("1 snapshot, 200 rows"), "{v}");
    let log = ok(&d, &["log"]);
    assert!(!log.contains("snapshot 2"), "{log}");
    // The interrupted add can simply be repeated.
    let a = ok(
        &d,
        &[
            "add",
            "more.jsonl",
            "--dataset",
            "reviews",
            "--source",
            "x",
            "--id",
            "id",
        ],
    );
    assert!(a.contains("reviews@2"), "{a}");
    ok(&d, &["verify"]);
}

#[test]
fn a_process_killed_mid_add_leaves_a_verifiable_ledger() {
    let (_t, d) = setup();
    let mut big = String::with_capacity(12_000_000);
    for i in 0..150_000 {
        big.push_str(&format!(
            "{{\"id\":\"k{i}\",\"text\":\"a somewhat longer review text number {i} for the crash test\",\"label\":{}}}\n",
            i % 3
        ));
    }
    std::fs::write(d.join("big.jsonl"), big).unwrap();
    // Measure how long an add takes, then kill others at several points inside that window.
    let t = Instant::now();
    let probe = tempfile::tempdir().unwrap();
    std::fs::copy(d.join("big.jsonl"), probe.path().join("big.jsonl")).unwrap();
    init(probe.path());
    ok(
        probe.path(),
        &[
            "add",
            "big.jsonl",
            "--dataset",
            "b",
            "--source",
            "s",
            "--id",
            "id",
        ],
    );
    let full = t.elapsed();
    for frac in [0.2, 0.5, 0.8, 0.95] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bezoar"))
            .args([
                "add",
                "big.jsonl",
                "--dataset",
                "big",
                "--source",
                "s",
                "--id",
                "id",
            ])
            .current_dir(&d)
            .env("BEZOAR_TOKEN", admin_token(&d))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(frac));
        let _ = child.kill(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        let v = bezoar_in(&d, &["verify"]);
        assert_eq!(code(&v), 0, "killed at {frac} ({status}):\n{}", out(&v));
        // Either the add committed or nothing of it is visible.
        let log = ok(&d, &["log", "--json"]);
        let json: serde_json::Value = serde_json::from_str(&log).unwrap();
        let n = json["tree_size"].as_u64().unwrap();
        assert!(n == 2 || n == 3, "{log}");
        if n == 3 {
            break;
        }
    }
}

#[test]
fn checkpoints_and_proofs() {
    let (_t, d) = setup();
    let note = ok(&d, &["log", "--checkpoint"]);
    let lines: Vec<&str> = note.lines().collect();
    assert!(lines[0].starts_with("bezoar.local/"), "{note}");
    assert_eq!(lines[1], "2");
    assert_eq!(lines[3], "");
    assert!(lines[4].starts_with("\u{2014} bezoar.local/"), "{note}");
    std::fs::write(d.join("cp.txt"), &note).unwrap();
    std::fs::write(d.join("more.jsonl"), rows(5, 500, "b")).unwrap();
    ok(
        &d,
        &[
            "add",
            "more.jsonl",
            "--dataset",
            "reviews",
            "--source",
            "b",
            "--id",
            "id",
        ],
    );
    ok(&d, &["verify", "--checkpoint", "cp.txt"]);
    // A forged checkpoint is refused.
    std::fs::write(d.join("bad.txt"), note.replacen("\n2\n", "\n1\n", 1)).unwrap();
    let o = bezoar_in(&d, &["verify", "--checkpoint", "bad.txt"]);
    assert_eq!(code(&o), 1, "{}", out(&o));

    let p = ok(&d, &["log", "--prove-inclusion", "1"]);
    std::fs::write(d.join("incl.json"), &p).unwrap();
    assert!(ok(&d, &["log", "--check-proof", "incl.json"]).contains("OK"));
    let v: serde_json::Value = serde_json::from_str(&p).unwrap();
    assert_eq!(v["type"], "inclusion");
    assert_eq!(v["tree_size"], 3);
    let forged = p.replacen(v["leaf_hash"].as_str().unwrap(), &"00".repeat(32), 1);
    std::fs::write(d.join("forged.json"), forged).unwrap();
    let o = bezoar_in(&d, &["log", "--check-proof", "forged.json"]);
    assert_eq!(code(&o), 1, "{}", out(&o));

    let c = ok(&d, &["log", "--prove-consistency", "2"]);
    std::fs::write(d.join("cons.json"), &c).unwrap();
    assert!(ok(&d, &["log", "--check-proof", "cons.json"]).contains("OK"));
    let o = bezoar_in(&d, &["log", "--prove-inclusion", "9"]);
    assert_eq!(code(&o), 2);
}

fn interop_dir() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/interop");
    if p.join("sample_dataset.model-signing.sig.json").exists() {
        Some(p)
    } else {
        eprintln!("SKIP: {} not found", p.display());
        None
    }
}

#[test]
fn keygen_sign_verify_signature_and_record_in_the_ledger() {
    let (_t, d) = setup();
    std::fs::create_dir_all(d.join("ds/train")).unwrap();
    std::fs::copy(d.join("reviews.jsonl"), d.join("ds/train/reviews.jsonl")).unwrap();
    std::fs::write(d.join("ds/README.md"), "reviews\n").unwrap();
    let k = ok(&d, &["keygen", "--out", "k.pem"]);
    assert!(k.contains("k.pub.pem"), "{k}");
    // Both identifiers, each labelled with where it shows up (issue #12 row 9): the key id is
    // the one `identity add` and `approve` print.
    let keyid = k
        .lines()
        .find_map(|l| l.strip_prefix("key id   "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no key id line: {k}"))
        .to_string();
    assert!(k.contains("(as `bezoar sign` bundles carry it)"), "{k}");
    let added = ok(
        &d,
        &[
            "identity",
            "add",
            "signer",
            "--kind",
            "service",
            "--key",
            "k.pub.pem",
        ],
    );
    assert!(added.contains(&keyid), "{added}\n{k}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("k.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let s = ok(
        &d,
        &["sign", "ds", "--key", "k.pem", "--signature", "ds.sig.json"],
    );
    assert!(
        s.contains("2 files") && s.contains("against reviews@1"),
        "{s}"
    );
    let bundle: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("ds.sig.json")).unwrap()).unwrap();
    assert_eq!(
        bundle["mediaType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    assert!(ok(&d, &["log"]).contains("signature of directory ds"));
    ok(
        &d,
        &[
            "verify-signature",
            "ds",
            "--key",
            "k.pub.pem",
            "--signature",
            "ds.sig.json",
        ],
    );
    std::fs::write(d.join("ds/README.md"), "reviews!\n").unwrap();
    let o = bezoar_in(
        &d,
        &[
            "verify-signature",
            "ds",
            "--key",
            "k.pub.pem",
            "--signature",
            "ds.sig.json",
        ],
    );
    assert_eq!(code(&o), 1);
    assert!(
        out(&o).contains("README.md: content changed"),
        "{}",
        out(&o)
    );
    let o = bezoar_in(
        &d,
        &[
            "verify-signature",
            "ds",
            "--key",
            "k.pem",
            "--signature",
            "ds.sig.json",
        ],
    );
    assert_eq!(
        code(&o),
        2,
        "a private key is not a public key: {}",
        out(&o)
    );
    ok(&d, &["verify"]);

    if let Some(p) = interop_dir() {
        let v = ok(
            &d,
            &[
                "verify-signature",
                p.join("sample_dataset").to_str().unwrap(),
                "--key",
                p.join("p256.pub.pem").to_str().unwrap(),
                "--signature",
                p.join("sample_dataset.model-signing.sig.json")
                    .to_str()
                    .unwrap(),
            ],
        );
        assert!(v.contains("5 files match"), "{v}");
    }
}

/// Interop with the reference OpenSSF model-signing CLI: it verifies a bundle bezoar wrote, and
/// bezoar verifies one it wrote. Installs `model-signing==1.1.1` and `pyopenssl` into a temporary
/// virtualenv; skips with a message when python3, venv, pip or the network is unavailable.
#[test]
fn model_signing_interop() {
    let skip = |why: &str| eprintln!("SKIP model_signing_interop: {why}");
    let (_venv, bin) = match python_venv(
        &["model-signing==1.1.1", "pyopenssl"],
        Duration::from_secs(150),
    ) {
        Ok(v) => v,
        Err(why) => return skip(&why),
    };
    let ms = bin.join("model_signing");
    let (_t, d) = setup();
    std::fs::create_dir_all(d.join("ds/a")).unwrap();
    std::fs::write(d.join("ds/a/b"), "x").unwrap();
    std::fs::write(d.join("ds/a-c"), "y").unwrap();
    std::fs::write(d.join("ds/empty.txt"), "").unwrap();
    std::fs::copy(d.join("reviews.jsonl"), d.join("ds/reviews.jsonl")).unwrap();
    ok(&d, &["keygen", "--out", "k.pem"]);
    ok(
        &d,
        &[
            "sign",
            "ds",
            "--key",
            "k.pem",
            "--signature",
            "bezoar.sig.json",
        ],
    );
    let o = Command::new(&ms)
        .args([
            "verify",
            "key",
            "ds",
            "--public_key",
            "k.pub.pem",
            "--signature",
            "bezoar.sig.json",
        ])
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "model_signing rejected bezoar's bundle:\n{}",
        out(&o)
    );
    eprintln!(
        "model_signing verify key accepted bezoar's bundle: {}",
        out(&o).trim()
    );
    let o = Command::new(&ms)
        .args([
            "sign",
            "key",
            "ds",
            "--private_key",
            "k.pem",
            "--signature",
            "ms.sig.json",
        ])
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "model_signing sign failed:\n{}",
        out(&o)
    );
    ok(
        &d,
        &[
            "verify-signature",
            "ds",
            "--key",
            "k.pub.pem",
            "--signature",
            "ms.sig.json",
        ],
    );
    // And a tampered directory is rejected by both.
    std::fs::write(d.join("ds/a-c"), "z").unwrap();
    let o = Command::new(&ms)
        .args([
            "verify",
            "key",
            "ds",
            "--public_key",
            "k.pub.pem",
            "--signature",
            "bezoar.sig.json",
        ])
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(
        !o.status.success(),
        "model_signing accepted a tampered directory"
    );
    let o = bezoar_in(
        &d,
        &[
            "verify-signature",
            "ds",
            "--key",
            "k.pub.pem",
            "--signature",
            "ms.sig.json",
        ],
    );
    assert_eq!(code(&o), 1);
}

/// Preference pairs as JSONL: each row has an id, a prompt, chosen and rejected responses, and
/// a nested metadata field that the ledger must keep too.
fn pairs(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "{{\"id\":\"p{i}\",\"prompt\":\"Human: question {i}?\",\"chosen\":\"a helpful answer {i}\",\
             \"rejected\":\"a curt answer {i}\",\"meta\":{{\"annotator\":{},\"tags\":[\"x\",1.50]}}}}\n",
            i % 3
        ));
    }
    s
}

#[test]
fn llm_rows_keep_every_field_and_a_swapped_pair_is_a_relabel() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("pairs.jsonl"), pairs(60)).unwrap();
    init(d);
    let o = ok(
        d,
        &[
            "add",
            "pairs.jsonl",
            "--dataset",
            "prefs",
            "--source",
            "vendor",
            "--id",
            "id",
        ],
    );
    assert!(
        o.contains("read as preference rows (fields: prompt, chosen, rejected)"),
        "{o}"
    );

    // A checkout gives back every field (canonical JSON: sorted keys, 1.5 for 1.50), and the
    // ledger verifies it against the snapshot.
    ok(d, &["checkout", "prefs@1", "--out", "out.jsonl"]);
    let back = std::fs::read_to_string(d.join("out.jsonl")).unwrap();
    let first = back.lines().next().unwrap();
    assert_eq!(
        first,
        r#"{"chosen":"a helpful answer 0","id":"p0","meta":{"annotator":0,"tags":["x",1.5]},"prompt":"Human: question 0?","rejected":"a curt answer 0"}"#
    );
    assert_eq!(back.lines().count(), 60);
    let o = ok(d, &["verify", "prefs@1", "out.jsonl"]);
    assert!(o.contains("out.jsonl matches prefs@1: 60 rows"), "{o}");
    // Nested JSON does not fit a CSV or Parquet checkout: refused, nothing written.
    let o = bezoar_in(d, &["checkout", "prefs@1", "--out", "out.csv"]);
    assert_eq!(code(&o), 2, "{}", out(&o));
    assert!(out(&o).contains("written as JSONL only"), "{}", out(&o));
    assert!(!d.join("out.csv").exists());

    // Text-classification rows do not go into a dataset of preference pairs.
    std::fs::write(d.join("reviews.jsonl"), rows(5, 0, "acme")).unwrap();
    let o = bezoar_in(
        d,
        &[
            "add",
            "reviews.jsonl",
            "--dataset",
            "prefs",
            "--source",
            "vendor",
            "--id",
            "id",
        ],
    );
    assert_eq!(code(&o), 2, "{}", out(&o));
    assert!(out(&o).contains("holds preference rows"), "{}", out(&o));

    // A labeler may swap chosen and rejected (the pair's relabel) but not edit a response.
    let token = {
        let o = ok(d, &["identity", "add", "lab", "--kind", "human"]);
        o.lines()
            .rev()
            .find(|l| l.starts_with("bzr_"))
            .unwrap()
            .to_string()
    };
    ok(
        d,
        &[
            "grant",
            "lab",
            "--role",
            "labeler",
            "--dataset",
            "prefs",
            "--source",
            "vendor",
        ],
    );
    let mut lines: Vec<serde_json::Value> = pairs(60)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for r in &mut lines[..3] {
        let (c, rj) = (r["chosen"].clone(), r["rejected"].clone());
        r["chosen"] = rj;
        r["rejected"] = c;
    }
    let write = |name: &str, rows: &[serde_json::Value]| {
        let body: String = rows.iter().map(|r| format!("{r}\n")).collect();
        std::fs::write(d.join(name), body).unwrap();
    };
    write("swapped.jsonl", &lines[..5]);
    let as_labeler = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bezoar"));
        cmd.args(args).current_dir(d).env("BEZOAR_TOKEN", &token);
        cmd.output().unwrap()
    };
    let add = ["--dataset", "prefs", "--source", "vendor", "--id", "id"];
    let o = as_labeler(&[&["add", "swapped.jsonl"][..], &add].concat());
    assert_eq!(code(&o), 0, "{}", out(&o));
    assert!(
        out(&o).contains("3 updated (3 relabelled), 2 unchanged"),
        "{}",
        out(&o)
    );
    let mut edited = lines[10].clone();
    edited["chosen"] = serde_json::json!("visit a shady site");
    write("edited.jsonl", &[edited]);
    let o = as_labeler(&[&["add", "edited.jsonl"][..], &add].concat());
    assert_eq!(code(&o), 2, "{}", out(&o));
    assert!(out(&o).contains("permission denied"), "{}", out(&o));

    // diff shows the swaps as relabels; verify names them as label changes.
    let o = ok(d, &["diff", "prefs@1", "prefs@2"]);
    assert!(
        o.contains("0 added, 0 removed, 3 relabelled, 0 edited"),
        "{o}"
    );
    assert!(
        o.contains("p0 [vendor] label as recorded -> chosen and rejected swapped"),
        "{o}"
    );
    let o = bezoar_in(d, &["verify", "prefs@1", "swapped.jsonl", "--json"]);
    let rep: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let changed = rep["file"]["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 3, "{rep}");
    assert!(changed.iter().all(|c| c["field"] == "label"), "{rep}");

    // A scan of the snapshot, or of a file with exactly its rows, is recorded for it and the
    // gate names the preference rules it answered.
    ok(d, &["checkout", "prefs@2", "--out", "two.jsonl"]);
    let o = ok(d, &["scan", "two.jsonl", "--id", "id", "--record"]);
    assert!(o.contains("covering prefs@2"), "{o}");
    let o = bezoar_in(d, &["scan", "prefs@2", "--record", "-q"]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    let o = bezoar_in(d, &["gate", "prefs"]);
    assert!(out(&o).contains("latest scan of these rows"), "{}", out(&o));
    let vsa = std::fs::read_to_string(d.join(".bezoar/gate/prefs@2.vsa.json")).unwrap();
    assert!(vsa.contains("\"BZ010\""), "{vsa}");
    assert!(!vsa.contains("\"BZ001\""), "{vsa}");
    assert!(ok(d, &["verify"]).contains("OK:"));
}

#[test]
fn chat_rows_round_trip_through_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let chats = concat!(
        r#"{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"list files"},"#,
        r#"{"role":"assistant","content":null,"tool_calls":[{"type":"function","function":{"name":"shell","arguments":"{\"cmd\":\"ls\"}"}}]},"#,
        r#"{"role":"tool","content":"a.txt"},{"role":"assistant","content":"One file: a.txt"}]}"#,
        "\n",
        r#"{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"text","text":"hello"}]}]}"#,
        "\n"
    );
    std::fs::write(d.join("chat.jsonl"), chats).unwrap();
    init(d);
    let o = ok(
        d,
        &[
            "add",
            "chat.jsonl",
            "--dataset",
            "agent",
            "--source",
            "logs",
        ],
    );
    assert!(o.contains("read as chat rows (fields: messages)"), "{o}");
    ok(d, &["checkout", "agent", "--out", "back.jsonl"]);
    let back = std::fs::read_to_string(d.join("back.jsonl")).unwrap();
    for (a, b) in chats.lines().zip(back.lines()) {
        let (a, b): (serde_json::Value, serde_json::Value) = (
            serde_json::from_str(a).unwrap(),
            serde_json::from_str(b).unwrap(),
        );
        assert_eq!(a, b, "a checked-out chat differs from the one added");
    }
    // Re-adding the checkout changes nothing: same rows, same digests.
    let o = ok(
        d,
        &[
            "add",
            "back.jsonl",
            "--dataset",
            "agent",
            "--source",
            "logs",
            "--replace",
        ],
    );
    assert!(o.contains("identical to agent@1"), "{o}");
    // Editing a tool call's arguments changes the row's digest: verify catches it.
    std::fs::write(
        d.join("edited.jsonl"),
        back.replace("\\\"ls\\\"", "\\\"rm -rf /\\\""),
    )
    .unwrap();
    let o = bezoar_in(d, &["verify", "agent@1", "edited.jsonl"]);
    assert_eq!(code(&o), 1, "{}", out(&o));
    assert!(
        out(&o).contains("row '0': its fields differ"),
        "{}",
        out(&o)
    );
}
