//! End-to-end tests of identities, tokens, grants, policy, approvals, the gate, the audit and the
//! ML-BOM — including every refusal — and interop with securesystemslib (DSSE threshold check)
//! and cyclonedx-python-lib (CycloneDX 1.6 JSON validation) when python3 and pip can install
//! them.

use std::collections::HashMap;
mod common;

use common::{code, out, python_venv};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

fn bezoar(dir: &Path, token: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bezoar"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("BEZOAR_TOKEN")
        .env_remove("BEZOAR_APPROVAL_KEY");
    if let Some(t) = token {
        cmd.env("BEZOAR_TOKEN", t);
    }
    cmd.output().expect("run bezoar")
}

fn last_line(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .to_string()
}

/// A ledger with identities and one snapshot, as a team would set it up.
struct Env {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    tokens: HashMap<&'static str, String>,
}

impl Env {
    fn token(&self, who: &str) -> &str {
        &self.tokens[who]
    }

    /// Run as `who` and expect exit 0.
    #[track_caller]
    fn ok(&self, who: &str, args: &[&str]) -> String {
        let o = bezoar(&self.dir, Some(self.token(who)), args);
        assert_eq!(code(&o), 0, "{who}: bezoar {args:?} failed:\n{}", out(&o));
        out(&o)
    }

    /// Run as `who` and expect exit `want`; returns the output.
    #[track_caller]
    fn expect(&self, who: &str, want: i32, args: &[&str]) -> String {
        let o = bezoar(&self.dir, Some(self.token(who)), args);
        assert_eq!(code(&o), want, "{who}: bezoar {args:?}:\n{}", out(&o));
        out(&o)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).unwrap();
    }

    fn sql(&self, stmt: &str) {
        let c = rusqlite::Connection::open(self.dir.join(".bezoar/ledger.db")).unwrap();
        c.execute_batch(stmt).unwrap();
    }

    fn log_json(&self) -> Value {
        let o = bezoar(&self.dir, None, &["log", "--json"]);
        serde_json::from_slice(&o.stdout).unwrap()
    }

    fn events_of(&self, kind: &str) -> Vec<Value> {
        self.log_json()["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].clone())
            .filter(|e| e["type"] == kind)
            .collect()
    }
}

fn example_rows() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/reviews.jsonl");
    std::fs::read_to_string(p).unwrap()
}

/// admin (from init); approvers alice (P-256 key), bob (Ed25519 key), carol (P-256 key); vendor
/// (service, contributor for source vendor-a) who recorded `reviews@1` and scanned it.
fn setup() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let o = bezoar(&dir, None, &["init"]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    let admin = last_line(&o);
    assert!(admin.starts_with("bzr_"), "init's last line: {admin}");
    let mut env = Env {
        _tmp: tmp,
        dir,
        tokens: HashMap::new(),
    };
    env.tokens.insert("admin", admin);
    for (who, alg) in [("alice", "p256"), ("bob", "ed25519"), ("carol", "p256")] {
        env.ok(
            "admin",
            &["keygen", "--out", &format!("{who}.pem"), "--algorithm", alg],
        );
        let o = bezoar(
            &env.dir,
            Some(env.token("admin")),
            &[
                "identity",
                "add",
                who,
                "--kind",
                "human",
                "--expires",
                "2099-01-01",
                "--key",
                &format!("{who}.pub.pem"),
            ],
        );
        assert_eq!(code(&o), 0, "{}", out(&o));
        env.tokens.insert(
            match who {
                "alice" => "alice",
                "bob" => "bob",
                _ => "carol",
            },
            last_line(&o),
        );
        env.ok(
            "admin",
            &["grant", who, "--dataset", "reviews", "--role", "approver"],
        );
    }
    let o = bezoar(
        &env.dir,
        Some(env.token("admin")),
        &[
            "identity",
            "add",
            "vendor",
            "--kind",
            "service",
            "--expires",
            "2099-01-01",
        ],
    );
    assert_eq!(code(&o), 0, "{}", out(&o));
    env.tokens.insert("vendor", last_line(&o));
    env.ok(
        "admin",
        &[
            "grant",
            "vendor",
            "--dataset",
            "reviews",
            "--role",
            "contributor",
            "--source",
            "vendor-a",
        ],
    );
    env.write("reviews.jsonl", &example_rows());
    env.ok(
        "vendor",
        &[
            "add",
            "reviews.jsonl",
            "--dataset",
            "reviews",
            "--source",
            "vendor-a",
            "--id",
            "id",
        ],
    );
    // The example has planted poison: the scan exits 1, and records its result.
    env.expect(
        "vendor",
        1,
        &["scan", "reviews.jsonl", "--id", "id", "--record", "--quiet"],
    );
    env
}

const ADD_REVIEWS: [&str; 7] = [
    "add",
    "more.jsonl",
    "--dataset",
    "reviews",
    "--source",
    "vendor-a",
    "--id",
];

fn more_rows(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| {
            format!("{{\"id\":\"m{i}\",\"text\":\"another review {i}\",\"label\":\"positive\"}}\n")
        })
        .collect()
}

#[test]
fn every_new_command_has_teaching_help() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in [
        vec!["identity", "--help"],
        vec!["identity", "add", "--help"],
        vec!["identity", "rotate", "--help"],
        vec!["identity", "revoke", "--help"],
        vec!["identity", "list", "--help"],
        vec!["identity", "audit", "--help"],
        vec!["grant", "--help"],
        vec!["policy", "check", "--help"],
        vec!["approve", "--help"],
        vec!["gate", "--help"],
        vec!["bom", "--help"],
    ] {
        let o = bezoar(dir.path(), None, &cmd);
        let text = out(&o);
        assert_eq!(code(&o), 0, "{cmd:?}: {text}");
        assert!(text.contains("Example"), "{cmd:?} --help has no example");
        assert!(
            text.contains("Exit codes"),
            "{cmd:?} --help has no exit codes"
        );
    }
}

#[test]
fn writes_need_a_valid_token_and_are_attributed() {
    let env = setup();
    env.write("more.jsonl", &more_rows(0, 3));
    let mut args = ADD_REVIEWS.to_vec();
    args.push("id");
    // No token: refused, and the error says how to set one.
    let o = bezoar(&env.dir, None, &args);
    assert_eq!(code(&o), 2);
    assert!(out(&o).contains("BEZOAR_TOKEN"), "{}", out(&o));
    // A malformed token and a well-formed but unknown one.
    let o = bezoar(&env.dir, Some("hunter2"), &args);
    assert_eq!(code(&o), 2);
    assert!(out(&o).contains("malformed"), "{}", out(&o));
    let mut forged = env.token("vendor").to_string();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let o = bezoar(&env.dir, Some(&forged), &args);
    assert_eq!(code(&o), 2);
    assert!(out(&o).contains("unknown token"), "{}", out(&o));
    assert!(
        !out(&o).contains(&forged),
        "the error must not echo the token"
    );
    // --token works like the environment variable.
    let mut with_flag = args.clone();
    with_flag.extend(["--token", env.token("vendor")]);
    let o = bezoar(&env.dir, None, &with_flag);
    assert_eq!(code(&o), 0, "{}", out(&o));
    // The snapshot event names the writing identity.
    let snaps = env.events_of("snapshot");
    assert_eq!(snaps.last().unwrap()["identity"], "vendor");
    // Recorded scans are attributed too; identity changes are events.
    assert_eq!(env.events_of("scan")[0]["identity"], "vendor");
    let ids = env.events_of("identity");
    assert!(ids
        .iter()
        .any(|e| e["action"] == "add" && e["name"] == "vendor" && e["by"] == "admin"));
    assert!(env
        .events_of("grant")
        .iter()
        .any(|e| e["identity"] == "vendor" && e["source"] == "vendor-a"));
    // The token is stored only as a salted hash: not in the database, not as a plain SHA-256.
    let db = std::fs::read(env.dir.join(".bezoar/ledger.db")).unwrap();
    let wal = std::fs::read(env.dir.join(".bezoar/ledger.db-wal")).unwrap_or_default();
    // The secret is the token's last 43 characters (base64url of 32 bytes, which may itself
    // contain '_', so splitting on '_' could leave a short, chance-matching tail).
    let token = env.token("vendor");
    let secret = &token[token.len() - 43..];
    for bytes in [&db, &wal] {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
    let c = rusqlite::Connection::open(env.dir.join(".bezoar/ledger.db")).unwrap();
    let (salt, hash): (Vec<u8>, Vec<u8>) = c
        .query_row(
            "SELECT token_salt, token_hash FROM identities WHERE name = 'vendor'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(salt.len(), 16);
    assert_eq!(hash.len(), 32);
    // A plain `bezoar scan` needs neither a ledger nor a token.
    let plain = tempfile::tempdir().unwrap();
    std::fs::write(plain.path().join("r.jsonl"), example_rows()).unwrap();
    let o = bezoar(plain.path(), None, &["scan", "r.jsonl", "--id", "id"]);
    assert_eq!(code(&o), 1, "{}", out(&o));
}

#[test]
fn revoked_rotated_and_expired_identities_cannot_write() {
    let env = setup();
    env.write("more.jsonl", &more_rows(0, 3));
    let mut args = ADD_REVIEWS.to_vec();
    args.push("id");
    // Rotation: the old token stops working, the new one (last line) works.
    let o = bezoar(
        &env.dir,
        Some(env.token("admin")),
        &["identity", "rotate", "vendor"],
    );
    assert_eq!(code(&o), 0, "{}", out(&o));
    let new_token = last_line(&o);
    assert!(new_token.starts_with("bzr_") && new_token != env.token("vendor"));
    let o = bezoar(&env.dir, Some(env.token("vendor")), &args);
    assert_eq!(code(&o), 2);
    assert!(out(&o).contains("unknown token"), "{}", out(&o));
    let o = bezoar(&env.dir, Some(&new_token), &args);
    assert_eq!(code(&o), 0, "{}", out(&o));
    // Revocation: the identity cannot write any more.
    env.ok("admin", &["identity", "revoke", "vendor", "-m", "leaked"]);
    env.write("more.jsonl", &more_rows(10, 3));
    let o = bezoar(&env.dir, Some(&new_token), &args);
    assert_eq!(code(&o), 2);
    assert!(out(&o).contains("'vendor' was revoked"), "{}", out(&o));
    let list = env.ok("admin", &["identity", "list"]);
    assert!(list.contains("vendor (service, revoked)"), "{list}");
    // Expiry: a past date is refused at issue time; an identity past its expiry cannot write.
    let o = env.expect(
        "admin",
        2,
        &[
            "identity",
            "add",
            "old",
            "--kind",
            "agent",
            "--expires",
            "2001-01-01",
        ],
    );
    assert!(o.contains("in the past"), "{o}");
    let o = bezoar(
        &env.dir,
        Some(env.token("admin")),
        &[
            "identity",
            "add",
            "bot",
            "--kind",
            "agent",
            "--expires",
            "2099-01-01",
        ],
    );
    let bot = last_line(&o);
    env.ok(
        "admin",
        &[
            "grant",
            "bot",
            "--dataset",
            "reviews",
            "--role",
            "contributor",
            "--source",
            "vendor-a",
        ],
    );
    env.sql("UPDATE identities SET expires_at = 1000 WHERE name = 'bot'");
    let o = bezoar(&env.dir, Some(&bot), &args);
    assert_eq!(code(&o), 2);
    assert!(out(&o).contains("'bot' expired"), "{}", out(&o));
    // Only a global admin manages identities; the last admin cannot revoke itself.
    let o = env.expect("alice", 2, &["identity", "add", "eve", "--kind", "human"]);
    assert!(
        o.contains("identity 'alice' may not manage identities") && o.contains("--role admin"),
        "{o}"
    );
    let o = env.expect("admin", 2, &["identity", "revoke", "admin"]);
    assert!(o.contains("last active admin"), "{o}");
}

#[test]
fn contributors_write_only_their_sources_and_labelers_only_relabel() {
    let env = setup();
    // Another source: denied, naming identity, right and the grant that would allow it.
    env.write("more.jsonl", &more_rows(0, 3));
    let o = env.expect(
        "vendor",
        2,
        &[
            "add",
            "more.jsonl",
            "--dataset",
            "reviews",
            "--source",
            "vendor-b",
            "--id",
            "id",
        ],
    );
    assert!(
        o.contains(
            "identity 'vendor' may not add rows from source 'vendor-b' to dataset 'reviews'"
        ) && o
            .contains("bezoar grant vendor --dataset reviews --role contributor --source vendor-b"),
        "{o}"
    );
    // Per-row sources from a column are checked row by row.
    env.write(
        "mixed.jsonl",
        "{\"id\":\"x1\",\"text\":\"t one\",\"label\":\"positive\",\"vendor\":\"vendor-a\"}\n\
         {\"id\":\"x2\",\"text\":\"t two\",\"label\":\"positive\",\"vendor\":\"vendor-z\"}\n",
    );
    let o = env.expect(
        "vendor",
        2,
        &[
            "add",
            "mixed.jsonl",
            "--dataset",
            "reviews",
            "--source",
            "vendor-a",
            "--source-column",
            "vendor",
            "--id",
            "id",
        ],
    );
    assert!(o.contains("source 'vendor-z'"), "{o}");
    // Another dataset: denied.
    let o = env.expect(
        "vendor",
        2,
        &[
            "add",
            "more.jsonl",
            "--dataset",
            "other",
            "--source",
            "vendor-a",
            "--id",
            "id",
        ],
    );
    assert!(o.contains("permission denied"), "{o}");
    // Its own source: allowed.
    env.ok(
        "vendor",
        &[
            "add",
            "more.jsonl",
            "--dataset",
            "reviews",
            "--source",
            "vendor-a",
            "--id",
            "id",
        ],
    );

    // A labeler: may change labels of existing rows, nothing else.
    let o = bezoar(
        &env.dir,
        Some(env.token("admin")),
        &[
            "identity",
            "add",
            "labels",
            "--kind",
            "service",
            "--expires",
            "2099-01-01",
        ],
    );
    let lab = last_line(&o);
    env.ok(
        "admin",
        &[
            "grant",
            "labels",
            "--dataset",
            "reviews",
            "--role",
            "labeler",
            "--source",
            "label-team",
        ],
    );
    let relabel = "{\"id\":\"m0\",\"text\":\"another review 0\",\"label\":\"negative\"}\n\
                   {\"id\":\"m1\",\"text\":\"another review 1\",\"label\":\"negative\"}\n";
    env.write("relabel.jsonl", relabel);
    let lab_add = |file: &str| {
        bezoar(
            &env.dir,
            Some(&lab),
            &[
                "add",
                file,
                "--dataset",
                "reviews",
                "--source",
                "label-team",
                "--id",
                "id",
            ],
        )
    };
    // Scoped to label-team, it may not relabel rows that came from vendor-a.
    let o = lab_add("relabel.jsonl");
    assert_eq!(code(&o), 2, "{}", out(&o));
    assert!(
        out(&o).contains("may not change labels of rows of source 'vendor-a'"),
        "{}",
        out(&o)
    );
    env.ok(
        "admin",
        &[
            "grant",
            "labels",
            "--dataset",
            "reviews",
            "--role",
            "labeler",
            "--source",
            "vendor-a",
        ],
    );
    let o = lab_add("relabel.jsonl");
    assert_eq!(code(&o), 0, "{}", out(&o));
    assert!(out(&o).contains("2 updated (2 relabelled)"), "{}", out(&o));
    // The relabelled rows keep their source: the label changed, not where the row came from.
    let o = env.ok("admin", &["log", "--row", "m0"]);
    assert!(
        o.lines().last().unwrap().contains("from source vendor-a"),
        "{o}"
    );
    // Only to classes the dataset already has.
    env.write(
        "newclass.jsonl",
        "{\"id\":\"m0\",\"text\":\"another review 0\",\"label\":\"sarcastic\"}\n",
    );
    let o = lab_add("newclass.jsonl");
    assert_eq!(code(&o), 2, "{}", out(&o));
    assert!(
        out(&o).contains("labelers relabel only to existing classes"),
        "{}",
        out(&o)
    );
    // A new row is not a label change.
    env.write(
        "newrow.jsonl",
        "{\"id\":\"m0\",\"text\":\"another review 0\",\"label\":\"positive\"}\n\
         {\"id\":\"brand-new\",\"text\":\"fresh\",\"label\":\"positive\"}\n",
    );
    let o = lab_add("newrow.jsonl");
    assert_eq!(code(&o), 2);
    assert!(
        out(&o).contains("identity 'labels' may not add rows from source 'label-team'"),
        "{}",
        out(&o)
    );
    // Nor is an edited text.
    env.write(
        "edit.jsonl",
        "{\"id\":\"m1\",\"text\":\"another review 1 cf\",\"label\":\"negative\"}\n",
    );
    let o = lab_add("edit.jsonl");
    assert_eq!(code(&o), 2, "{}", out(&o));
    // Removing rows is for dataset admins only.
    let o = env.expect(
        "vendor",
        2,
        &["quarantine", "--dataset", "reviews", "--source", "vendor-a"],
    );
    assert!(o.contains("no admin grant"), "{o}");
    env.ok(
        "admin",
        &["quarantine", "--dataset", "reviews", "--source", "vendor-a"],
    );
}

fn policy(env: &Env, text: &str) {
    env.write("bezoar.toml", text);
}

const TWO_OF_THREE: &str = "[datasets.reviews]\nrequired_approvals = 2\n\
    approvers = [\"alice\", \"bob\", \"carol\"]\n\
    [datasets.reviews.scan]\nfail_on = \"never\"\n";

fn gate_json(env: &Env) -> (i32, Value) {
    let o = bezoar(
        &env.dir,
        Some(env.token("admin")),
        &["gate", "reviews", "--json", "--out", "vsa.json"],
    );
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (code(&o), v)
}

#[test]
fn approvals_are_t_of_n_signed_and_never_self() {
    let env = setup();
    policy(&env, TWO_OF_THREE);
    // The author cannot approve its own change, even with the approver role and a key.
    env.ok("admin", &["keygen", "--out", "vendor.pem"]);
    env.ok(
        "admin",
        &["identity", "rotate", "vendor", "--key", "vendor.pub.pem"],
    );
    env.ok(
        "admin",
        &[
            "grant",
            "vendor",
            "--dataset",
            "reviews",
            "--role",
            "approver",
        ],
    );
    let o = env.expect("vendor", 2, &["approve", "reviews", "--key", "vendor.pem"]);
    assert!(o.contains("self-approval refused"), "{o}");
    // Someone else's key is refused; no key at all says how to get one.
    let o = env.expect("alice", 2, &["approve", "reviews", "--key", "bob.pem"]);
    assert!(o.contains("registered to 'bob'"), "{o}");
    let o = env.expect("alice", 2, &["approve", "reviews"]);
    assert!(o.contains("--key"), "{o}");
    // One approval of two: the gate fails, says why, and writes a FAILED summary.
    env.ok("alice", &["approve", "reviews", "--key", "alice.pem"]);
    let o = env.expect("alice", 2, &["approve", "reviews", "--key", "alice.pem"]);
    assert!(o.contains("already approved"), "{o}");
    let (c, v) = gate_json(&env);
    assert_eq!(c, 1, "{v}");
    assert_eq!(v["approvals"], 1);
    assert_eq!(v["required_approvals"], 2);
    let reasons = v["checks"].to_string();
    assert!(reasons.contains("too few approvals"), "{reasons}");
    let vsa: Value =
        serde_json::from_str(&std::fs::read_to_string(env.dir.join("vsa.json")).unwrap()).unwrap();
    assert_eq!(vsa["predicate"]["verificationResult"], "FAILED");
    // Two of three (P-256 and Ed25519): passes.
    env.ok(
        "bob",
        &[
            "approve", "reviews", "--key", "bob.pem", "--out", "env.json",
        ],
    );
    let (c, v) = gate_json(&env);
    assert_eq!(c, 0, "{v}");
    let vsa: Value =
        serde_json::from_str(&std::fs::read_to_string(env.dir.join("vsa.json")).unwrap()).unwrap();
    assert_eq!(vsa["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        vsa["predicateType"],
        "https://slsa.dev/verification_summary/v1"
    );
    assert_eq!(vsa["predicate"]["verificationResult"], "PASSED");
    assert_eq!(vsa["predicate"]["verifiedLevels"][0], "BEZOAR_GATE_PASSED");
    assert_eq!(vsa["subject"][0]["name"], "reviews@1");
    assert!(vsa["predicate"]["policy"]["digest"]["sha256"].is_string());
    // The framework extension: the recorded scan's rules and their findings.
    let fw = &vsa["predicate"]["bezoar"]["frameworks"];
    assert_eq!(
        fw["rules"]["BZ001"]["mitre-atlas"][0]["id"], "AML.T0020",
        "{fw}"
    );
    assert_eq!(fw["rules"].as_object().unwrap().len(), 6, "{fw}");
    assert!(
        fw["findings_by_rule"]["BZ001"].as_u64().unwrap() >= 1,
        "{fw}"
    );
    assert_eq!(fw["catalog"].as_array().unwrap().len(), 7);
    // Every decision is in the log.
    let gates = env.events_of("gate");
    assert_eq!(gates.len(), 2);
    assert_eq!(gates[0]["verdict"], "FAILED");
    assert_eq!(gates[1]["verdict"], "PASSED");
    assert_eq!(env.events_of("approval").len(), 2);
    // The envelope has the fixture's shape: two signatures with securesystemslib key ids.
    let envelope: Value =
        serde_json::from_str(&std::fs::read_to_string(env.dir.join("env.json")).unwrap()).unwrap();
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
    assert_eq!(envelope["signatures"].as_array().unwrap().len(), 2);
    for s in envelope["signatures"].as_array().unwrap() {
        assert_eq!(s["keyid"].as_str().unwrap().len(), 64);
    }

    // A tampered signature no longer counts.
    let c = rusqlite::Connection::open(env.dir.join(".bezoar/ledger.db")).unwrap();
    let text: String = c
        .query_row("SELECT envelope FROM approval_envelopes", [], |r| r.get(0))
        .unwrap();
    let mut e: Value = serde_json::from_str(&text).unwrap();
    let sig = e["signatures"][1]["sig"].as_str().unwrap().to_string();
    // Change the first base64 character: still base64, no longer the signature.
    let flipped = match sig.strip_prefix('A') {
        Some(rest) => format!("B{rest}"),
        None => format!("A{}", &sig[1..]),
    };
    e["signatures"][1]["sig"] = Value::String(flipped);
    c.execute(
        "UPDATE approval_envelopes SET envelope = ?1",
        [serde_json::to_string(&e).unwrap()],
    )
    .unwrap();
    let (code_, v) = gate_json(&env);
    assert_eq!(code_, 1, "{v}");
    assert!(v["checks"].to_string().contains("does not verify"), "{v}");
    c.execute("UPDATE approval_envelopes SET envelope = ?1", [text])
        .unwrap();
    assert_eq!(gate_json(&env).0, 0);

    // A revoked approver's signature stops counting.
    env.ok("admin", &["identity", "revoke", "bob"]);
    let (c, v) = gate_json(&env);
    assert_eq!(c, 1);
    assert_eq!(v["approvals"], 1, "{v}");
    let text = v["checks"].to_string();
    assert!(text.contains("'bob'") && text.contains("revoked"), "{text}");

    // Bad input exits 2: an unknown snapshot, an invalid policy.
    let o = env.expect("admin", 2, &["gate", "nosuch"]);
    assert!(o.contains("unknown snapshot"), "{o}");
    policy(&env, "[datasets.reviews]\nrequired_approvals = -1\n");
    env.expect("admin", 2, &["gate", "reviews"]);
}

#[test]
fn approving_an_ancestor_chain_excludes_every_unapproved_author() {
    let env = setup();
    policy(&env, TWO_OF_THREE);
    // alice becomes a contributor too and adds rows on top of vendor's snapshot: she may not
    // approve reviews@2 (her change), nor may vendor (whose reviews@1 was never gated).
    env.ok(
        "admin",
        &[
            "grant",
            "alice",
            "--dataset",
            "reviews",
            "--role",
            "contributor",
            "--source",
            "alice-notes",
        ],
    );
    env.write("more.jsonl", &more_rows(0, 2));
    env.ok(
        "alice",
        &[
            "add",
            "more.jsonl",
            "--dataset",
            "reviews",
            "--source",
            "alice-notes",
            "--id",
            "id",
        ],
    );
    let o = env.expect("alice", 2, &["approve", "reviews", "--key", "alice.pem"]);
    assert!(o.contains("self-approval refused"), "{o}");
    // Approving an older snapshot by name@N works for her.
    env.ok("alice", &["approve", "reviews@1", "--key", "alice.pem"]);
}

/// The scan check of `gate reviews --json`, as text.
fn scan_check(env: &Env) -> (i32, String) {
    let (c, v) = gate_json(env);
    let scan = v["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["check"] == "scan"))
        .cloned()
        .unwrap_or(Value::Null);
    (c, scan.to_string())
}

#[test]
fn the_gate_counts_only_a_scan_of_the_snapshots_own_rows() {
    // Issue #12 row 1: a poisoned file is added, then a 2-row clean file; scanning only the
    // clean file must not pass the 2,432-row snapshot.
    let env = setup();
    policy(
        &env,
        "[datasets.reviews]\nrequired_approvals = 0\n[datasets.reviews.scan]\nfail_on = \"high\"\n",
    );
    env.write("more.jsonl", &more_rows(0, 2));
    let mut args = ADD_REVIEWS.to_vec();
    args.push("id");
    env.ok("vendor", &args);
    let o = env.ok(
        "vendor",
        &[
            "scan",
            "more.jsonl",
            "--id",
            "id",
            "--record",
            "--fail-on",
            "never",
        ],
    );
    assert!(o.contains("it covers no snapshot"), "{o}");
    let (c, text) = scan_check(&env);
    assert_eq!(c, 1, "{text}");
    assert!(
        text.contains("no scan of the rows of reviews@2 recorded"),
        "{text}"
    );
    assert!(text.contains("bezoar scan reviews@2 --record"), "{text}");

    // Scanning a snapshot reads its rows from the ledger; the scan now covers it and its
    // critical trigger fails the gate.
    let o = env.expect("vendor", 1, &["scan", "reviews@2", "--record"]);
    assert!(
        o.contains("covering reviews@2") && o.contains("CRITICAL"),
        "{o}"
    );
    let (c, text) = scan_check(&env);
    assert_eq!(c, 1, "{text}");
    assert!(
        text.contains("scan over threshold: a critical finding"),
        "{text}"
    );
    // The recorded event carries the findings (rule, subject, rows), for the model probe.
    let log: Value = serde_json::from_str(&env.ok("admin", &["log", "--json"])).unwrap();
    let last = &log["events"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|e| e["event"]["type"] == "scan")
        .unwrap()["event"];
    assert_eq!(last["rows"], 2432);
    assert_eq!(last["input"], "reviews@2");
    let first = &last["finding_list"][0];
    assert_eq!(first["rule"], "BZ001", "{last}");
    assert!(first["rows"].as_u64().unwrap() > 0 && first["row_ids"].as_array().is_some());

    // A scan that leaves a detector out by choice does not pass the gate either.
    env.ok(
        "vendor",
        &[
            "scan",
            "reviews@2",
            "--record",
            "--skip-detectors",
            "trigger,duplicates",
            "--fail-on",
            "never",
        ],
    );
    let (c, text) = scan_check(&env);
    assert_eq!(c, 1, "{text}");
    assert!(text.contains("left out detector(s) BZ001, BZ004"), "{text}");

    // A file with exactly the snapshot's rows covers it too.
    env.ok("admin", &["checkout", "reviews@2", "--out", "all.jsonl"]);
    let o = env.expect(
        "vendor",
        1,
        &["scan", "all.jsonl", "--id", "id", "--record"],
    );
    assert!(o.contains("covering reviews@2"), "{o}");
}

#[test]
fn the_gate_fails_a_scan_over_threshold_or_a_missing_scan() {
    let env = setup();
    policy(
        &env,
        "[datasets.reviews]\nrequired_approvals = 1\n[datasets.reviews.scan]\nfail_on = \"high\"\nmax_flagged_rate = 0.01\n",
    );
    env.ok("alice", &["approve", "reviews", "--key", "alice.pem"]);
    let (c, v) = gate_json(&env);
    assert_eq!(c, 1, "{v}");
    let scan = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "scan")
        .unwrap()
        .clone();
    assert_eq!(scan["passed"], false);
    let text = scan.to_string();
    assert!(
        text.contains("scan over threshold: a critical finding"),
        "{text}"
    );
    assert!(
        text.contains("rows flagged, at most 1.00% allowed"),
        "{text}"
    );
    // The approvals check itself passed: only the scan failed.
    assert!(v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["check"] == "approvals" && c["passed"] == true));
    // A new snapshot whose file was never scanned fails for that reason.
    env.write("more.jsonl", &more_rows(0, 2));
    env.ok(
        "vendor",
        &[
            "add",
            "more.jsonl",
            "--dataset",
            "reviews",
            "--source",
            "vendor-a",
            "--id",
            "id",
        ],
    );
    let (c, v) = gate_json(&env);
    assert_eq!(c, 1);
    assert!(
        v["checks"]
            .to_string()
            .contains("no scan of the rows of reviews@2 recorded"),
        "{v}"
    );
    // Text output lists every reason with the verdict.
    let o = env.expect("admin", 1, &["gate", "reviews@1"]);
    assert!(
        o.contains("FAIL scan") && o.contains("FAILED: reviews@1"),
        "{o}"
    );
}

#[test]
fn policy_check_validates_with_clear_errors() {
    let env = setup();
    let o = env.expect("admin", 2, &["policy", "check"]);
    assert!(o.contains("bezoar.toml not found"), "{o}");
    policy(&env, TWO_OF_THREE);
    let o = env.ok("admin", &["policy", "check"]);
    assert!(o.contains("valid"), "{o}");
    // A typo names the key and the line.
    policy(&env, "[datasets.reviews]\nrequired_aprovals = 2\n");
    let o = env.expect("admin", 2, &["policy", "check"]);
    assert!(
        o.contains("required_aprovals") && o.contains("line 2"),
        "{o}"
    );
    // An unsatisfiable threshold, a bad severity.
    policy(
        &env,
        "[datasets.reviews]\nrequired_approvals = 3\napprovers = [\"alice\", \"bob\"]\n[datasets.reviews.scan]\nfail_on = \"severe\"\n",
    );
    let o = env.expect("admin", 2, &["policy", "check"]);
    assert!(o.contains("only 2 approvers"), "{o}");
    assert!(o.contains("fail_on = \"severe\""), "{o}");
    // Valid, but the ledger does not satisfy it: warnings, exit 1.
    policy(
        &env,
        "[datasets.reviews]\nrequired_approvals = 1\napprovers = [\"alice\", \"dave\"]\n",
    );
    let o = env.expect("admin", 1, &["policy", "check"]);
    assert!(o.contains("'dave' is not an identity"), "{o}");
}

#[test]
fn audit_reports_least_privilege_problems() {
    let env = setup();
    // A service account with admin, and a contributor grant for any source without expiry.
    let o = bezoar(
        &env.dir,
        Some(env.token("admin")),
        &["identity", "add", "ci", "--kind", "service"],
    );
    assert_eq!(code(&o), 0, "{}", out(&o));
    env.ok(
        "admin",
        &["grant", "ci", "--dataset", "reviews", "--role", "admin"],
    );
    env.ok(
        "admin",
        &[
            "grant",
            "ci",
            "--dataset",
            "reviews",
            "--role",
            "contributor",
        ],
    );
    let audit = |args: &[&str]| -> (i32, Vec<(String, String)>) {
        let mut a = vec!["identity", "audit", "--json"];
        a.extend_from_slice(args);
        let o = bezoar(&env.dir, None, &a);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let f = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["kind"].as_str().unwrap().to_string(),
                    f["identity"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        (code(&o), f)
    };
    let has =
        |f: &[(String, String)], k: &str, who: &str| f.iter().any(|(a, b)| a == k && b == who);
    let (c, f) = audit(&[]);
    assert_eq!(c, 1);
    assert!(has(&f, "admin-non-human", "ci"), "{f:?}");
    assert!(has(&f, "wildcard-grant", "ci"), "{f:?}");
    assert!(has(&f, "wildcard-grant", "admin"), "{f:?}"); // admin on '*'
    assert!(has(&f, "no-expiry", "ci"), "{f:?}");
    assert!(!has(&f, "no-expiry", "vendor"), "{f:?}"); // vendor expires
    assert!(!has(&f, "no-expiry", "alice"), "{f:?}"); // approvers do not write
    assert!(!has(&f, "unused-grant", "vendor"), "{f:?}"); // granted moments ago
    assert!(!has(&f, "stale-credential", "alice"), "{f:?}");
    // With a zero-day window every grant not used this second is unused, every key is stale.
    let (_, f) = audit(&["--unused-days", "0", "--max-key-age-days", "0"]);
    assert!(has(&f, "unused-grant", "carol"), "{f:?}"); // never approved anything
    assert!(has(&f, "stale-credential", "alice"), "{f:?}");
    // A granted right that was used a while ago is reported with its last use.
    env.sql("UPDATE grants SET last_used_at = 1000, created_at = 1000 WHERE identity_id = (SELECT id FROM identities WHERE name = 'vendor')");
    let (_, f) = audit(&[]);
    assert!(has(&f, "unused-grant", "vendor"), "{f:?}");
    // Revoked identities are not reported (they can do nothing).
    env.ok("admin", &["identity", "revoke", "ci"]);
    let (_, f) = audit(&[]);
    assert!(!f.iter().any(|(_, who)| who == "ci"), "{f:?}");
    // Text output: one line per finding and a summary.
    let o = bezoar(&env.dir, None, &["identity", "audit"]);
    assert!(out(&o).contains("identities"), "{}", out(&o));
}

fn interop_dir() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/interop");
    p.join("dataset-mlbom-1.6.cdx.json").exists().then_some(p)
}

/// The keys (and their nesting) of a JSON value, to compare shapes.
fn paths(v: &Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{prefix}/{k}");
                out.insert(p.clone());
                paths(x, &p, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                paths(x, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_bom_has_the_fixture_shape() {
    let env = setup();
    policy(
        &env,
        "[datasets.reviews]\nrequired_approvals = 1\nclassification = \"internal\"\nsensitive_data = [\"none-known\"]\nowners = [\"Data Platform Team\"]\n",
    );
    env.ok("alice", &["approve", "reviews", "--key", "alice.pem"]);
    let o = bezoar(&env.dir, None, &["bom", "reviews"]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    let bom: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(bom["specVersion"], "1.6");
    let c = &bom["components"][0];
    assert_eq!(c["type"], "data");
    assert_eq!(c["name"], "reviews");
    let sha = std::process::Command::new("sha256sum")
        .arg(env.dir.join("reviews.jsonl"))
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout)[..64].to_string());
    if let Some(sha) = sha {
        assert_eq!(c["hashes"][0]["alg"], "SHA-256");
        assert_eq!(c["hashes"][0]["content"], sha.as_str());
    }
    let d = &c["data"][0];
    assert_eq!(d["type"], "dataset");
    assert_eq!(d["classification"], "internal");
    assert_eq!(
        d["governance"]["owners"][0]["organization"]["name"],
        "Data Platform Team"
    );
    assert_eq!(d["governance"]["stewards"][0]["contact"]["name"], "alice");
    let r = &c["externalReferences"][0];
    assert_eq!(r["type"], "attestation");
    assert!(
        r["url"].as_str().unwrap().ends_with("reviews@1.dsse.json")
            || r["url"]
                .as_str()
                .unwrap()
                .ends_with("reviews%401.dsse.json")
    );
    assert!(c["properties"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "bezoar:source" && p["value"] == "vendor-a"));
    // The recorded scan and the framework identifiers its rules answer.
    let props: Vec<(String, String)> = c["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let has = |n: &str, v: &str| props.iter().any(|(pn, pv)| pn == n && pv == v);
    assert!(has("bezoar:scan:maxSeverity", "critical"), "{props:?}");
    assert!(
        has("bezoar:framework:mitre-atlas", "AML.T0020"),
        "{props:?}"
    );
    assert!(has("bezoar:framework:owasp-llm", "LLM04:2025"), "{props:?}");
    assert!(has("bezoar:framework:eu-ai-act", "Art. 15(5)"), "{props:?}");
    assert!(
        props.iter().any(|(n, _)| n == "bezoar:scan:findings:BZ001"),
        "{props:?}"
    );
    // Every component/data field we emit also appears in the reference fixture's shape.
    if let Some(p) = interop_dir() {
        let fixture: Value = serde_json::from_str(
            &std::fs::read_to_string(p.join("dataset-mlbom-1.6.cdx.json")).unwrap(),
        )
        .unwrap();
        let (mut want, mut have) = Default::default();
        paths(&fixture["components"][0], "", &mut want);
        paths(&bom["components"][0], "", &mut have);
        let missing: Vec<&String> = want
            .iter()
            .filter(|p| {
                !have.contains(*p)
                    && !p.contains("/url")
                    && !p.contains("/pedigree")
                    && !p.ends_with("/email")
            })
            .collect();
        assert!(
            missing.is_empty(),
            "fixture fields missing from bezoar's BOM: {missing:?}"
        );
    }
    // Same snapshot, same BOM (deterministic serial number).
    let again = bezoar(&env.dir, None, &["bom", "reviews"]);
    assert_eq!(again.stdout, o.stdout);
    // A later snapshot names its parent as pedigree.
    env.write("more.jsonl", &more_rows(0, 2));
    env.ok(
        "vendor",
        &[
            "add",
            "more.jsonl",
            "--dataset",
            "reviews",
            "--source",
            "vendor-a",
            "--id",
            "id",
            "-m",
            "batch 2",
        ],
    );
    let o = bezoar(&env.dir, None, &["bom", "reviews"]);
    let bom: Value = serde_json::from_slice(&o.stdout).unwrap();
    let ped = &bom["components"][0]["pedigree"];
    assert_eq!(ped["ancestors"][0]["bom-ref"], "dataset:reviews@1");
    assert_eq!(ped["notes"], "batch 2");
    assert_eq!(bom["components"][0]["version"], "2");
}

const INTEROP_PY: &str = r#"
import json, sys
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
from securesystemslib.exceptions import VerificationError
from cryptography.hazmat.primitives.serialization import load_pem_public_key

def key(path):
    return SSlibKey.from_crypto(load_pem_public_key(open(path, "rb").read()))

def check(env_path, pubs, t_ok, t_fail):
    env = Envelope.from_dict(json.load(open(env_path)))
    keys = [key(p) for p in pubs]
    ok = env.verify(keys, t_ok)
    print(env_path, "threshold", t_ok, "verified by", sorted(ok))
    try:
        env.verify(keys, t_fail)
        sys.exit(f"{env_path}: threshold {t_fail} should fail")
    except VerificationError as e:
        print(env_path, "threshold", t_fail, "fails as it should:", e)

fx = sys.argv[1]
check(fx + "/approval-2of3.dsse.json", [fx + f"/approver{i}.pub.pem" for i in range(3)], 2, 3)
check("env.json", ["alice.pub.pem", "bob.pub.pem", "carol.pub.pem"], 2, 3)

from cyclonedx.validation.json import JsonStrictValidator
from cyclonedx.schema import SchemaVersion
v = JsonStrictValidator(SchemaVersion.V1_6)
for f in [fx + "/dataset-mlbom-1.6.cdx.json", "bom.json"]:
    err = v.validate_str(open(f).read())
    if err is not None:
        sys.exit(f"{f}: {err}")
    print(f, "validates against CycloneDX 1.6")
print("INTEROP OK")
"#;

/// The approval envelope bezoar wrote (two of three approvers, P-256 and Ed25519) passes
/// securesystemslib's DSSE threshold check at 2 and fails at 3, exactly like the reference
/// fixture; the BOM validates with cyclonedx-python-lib's strict JSON validator for 1.6.
/// Installs both into a temporary virtualenv; skips with a message when python3, venv, pip or
/// the network is unavailable.
#[test]
fn securesystemslib_and_cyclonedx_interop() {
    let skip = |why: &str| eprintln!("SKIP securesystemslib_and_cyclonedx_interop: {why}");
    let Some(fx) = interop_dir() else {
        return skip("../shared/interop is not present");
    };
    let (_venv, bin) = match python_venv(
        &[
            "securesystemslib[crypto]==1.6.0",
            "cyclonedx-python-lib[validation]==11.12.0",
        ],
        Duration::from_secs(240),
    ) {
        Ok(v) => v,
        Err(why) => return skip(&why),
    };
    let env = setup();
    policy(&env, TWO_OF_THREE);
    env.ok("alice", &["approve", "reviews", "--key", "alice.pem"]);
    env.ok(
        "bob",
        &[
            "approve", "reviews", "--key", "bob.pem", "--out", "env.json",
        ],
    );
    let o = bezoar(&env.dir, None, &["bom", "reviews", "--out", "bom.json"]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    std::fs::write(env.dir.join("interop.py"), INTEROP_PY).unwrap();
    let o = Command::new(bin.join("python"))
        .args(["interop.py", fx.to_str().unwrap()])
        .current_dir(&env.dir)
        .output()
        .unwrap();
    eprintln!("{}", out(&o));
    assert!(
        o.status.success() && out(&o).contains("INTEROP OK"),
        "interop failed:\n{}",
        out(&o)
    );
}

#[test]
fn grants_and_identities_changed_behind_bezoars_back_are_detected() {
    let env = setup();
    env.ok("admin", &["verify"]);
    // Privilege escalation by editing the database: vendor becomes a global admin.
    env.sql(
        "INSERT INTO grants(identity_id, dataset, role, source, created_at) \
         SELECT id, '*', 'admin', NULL, 0 FROM identities WHERE name = 'vendor'",
    );
    let o = env.expect("admin", 1, &["verify"]);
    assert!(
        o.contains("TAMPERED: grant")
            && o.contains("vendor admin on every dataset")
            && o.contains("inserted behind"),
        "{o}"
    );
    env.sql("DELETE FROM grants WHERE role = 'admin' AND identity_id = (SELECT id FROM identities WHERE name = 'vendor')");
    env.ok("admin", &["verify"]);
    // Un-revoking an identity, or swapping in a token hash, is caught too.
    env.ok("admin", &["identity", "revoke", "carol"]);
    env.sql("UPDATE identities SET revoked_at = NULL WHERE name = 'carol'");
    let o = env.expect("admin", 1, &["verify"]);
    assert!(
        o.contains("identity 'carol'") && o.contains("revocation"),
        "{o}"
    );
    env.sql("UPDATE identities SET revoked_at = 1 WHERE name = 'carol'; UPDATE identities SET token_id = 'aaaaaaaaaaaa' WHERE name = 'bob'");
    let o = env.expect("admin", 1, &["verify"]);
    assert!(o.contains("identity 'bob'") && o.contains("token"), "{o}");
}

#[test]
fn a_ledger_without_identities_gets_its_first_admin_from_init() {
    // What a ledger created before identities existed looks like after the schema migration.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    assert_eq!(code(&bezoar(d, None, &["init"])), 0);
    let c = rusqlite::Connection::open(d.join(".bezoar/ledger.db")).unwrap();
    c.execute_batch("DELETE FROM grants; DELETE FROM identities;")
        .unwrap();
    let o = bezoar(d, None, &["init"]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    let token = last_line(&o);
    assert!(token.starts_with("bzr_"), "{}", out(&o));
    let o = bezoar(
        d,
        Some(&token),
        &["identity", "add", "x", "--kind", "human"],
    );
    assert_eq!(code(&o), 0, "{}", out(&o));
    // Once an identity exists, init refuses.
    let o = bezoar(d, None, &["init"]);
    assert_eq!(code(&o), 2);
    assert!(
        out(&o).contains("already holds a bezoar ledger"),
        "{}",
        out(&o)
    );
}

#[test]
fn key_only_identities_upload_and_approve_with_their_key() {
    let env = setup();
    env.ok(
        "admin",
        &["keygen", "--out", "up.pem", "--algorithm", "ed25519"],
    );
    env.ok("admin", &["keygen", "--out", "dave.pem"]);
    for (who, key) in [("uploader", "up.pub.pem"), ("dave", "dave.pub.pem")] {
        let o = env.ok(
            "admin",
            &[
                "identity",
                "add",
                who,
                "--kind",
                "service",
                "--no-token",
                "--key",
                key,
                "--expires",
                "2099-01-01",
            ],
        );
        assert!(
            !o.contains("bzr_"),
            "a key-only identity gets no token: {o}"
        );
    }
    env.ok(
        "admin",
        &[
            "grant",
            "uploader",
            "--dataset",
            "reviews",
            "--role",
            "contributor",
            "--source",
            "feed",
        ],
    );
    env.ok(
        "admin",
        &[
            "grant",
            "dave",
            "--dataset",
            "reviews",
            "--role",
            "approver",
        ],
    );
    env.write("more.jsonl", &more_rows(0, 2));
    let args = [
        "add",
        "more.jsonl",
        "--dataset",
        "reviews",
        "--source",
        "feed",
        "--id",
        "id",
        "--key",
        "up.pem",
    ];
    let o = bezoar(&env.dir, None, &args);
    assert_eq!(code(&o), 0, "{}", out(&o));
    let ev = env.events_of("snapshot").last().unwrap().clone();
    assert_eq!(ev["identity"], "uploader");
    let sig = &ev["upload_signature"];
    assert_eq!(sig["payloadType"], "application/vnd.bezoar.upload.v1+json");
    assert!(sig["payload"]
        .as_str()
        .unwrap()
        .contains(ev["file"]["sha256"].as_str().unwrap()));
    assert_eq!(sig["keyid"].as_str().unwrap().len(), 64);
    // An unregistered key cannot write.
    env.ok("admin", &["keygen", "--out", "stray.pem"]);
    env.write("more.jsonl", &more_rows(5, 2));
    let o = bezoar(
        &env.dir,
        None,
        &[
            "add",
            "more.jsonl",
            "--dataset",
            "reviews",
            "--source",
            "feed",
            "--id",
            "id",
            "--key",
            "stray.pem",
        ],
    );
    assert_eq!(code(&o), 2);
    assert!(out(&o).contains("not registered"), "{}", out(&o));
    // A key-only approver approves with its key alone.
    let o = bezoar(
        &env.dir,
        None,
        &["approve", "reviews@1", "--key", "dave.pem"],
    );
    assert_eq!(code(&o), 0, "{}", out(&o));
    assert!(out(&o).contains("'dave' approved reviews@1"), "{}", out(&o));
}
