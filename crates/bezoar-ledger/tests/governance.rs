//! Library-level tests of the governance rules: role checks inside `add`, revocation of an
//! already-authenticated handle, and the gate's t-of-n count with a tampered signature.

use std::path::Path;

use bezoar_data::{ColumnSpec, ReadOptions};
use bezoar_ledger::approval::ApprovalKey;
use bezoar_ledger::grants::Role;
use bezoar_ledger::identity::{IdentityKind, NewIdentity, PublicKey};
use bezoar_ledger::policy::Policy;
use bezoar_ledger::snapshot::{AddOptions, AddOutcome};
use bezoar_ledger::{Ledger, LedgerError};

fn opts(source: &str, replace: bool) -> AddOptions {
    AddOptions {
        dataset: "d".into(),
        source: source.into(),
        message: None,
        replace,
        read: ReadOptions {
            format: None,
            columns: ColumnSpec {
                id: Some("id".into()),
                ..ColumnSpec::default()
            },
            skip_invalid: false,
        },
        llm: None,
    }
}

fn rows(spec: &[(&str, &str, &str)]) -> String {
    spec.iter()
        .map(|(id, text, label)| {
            format!("{{\"id\":\"{id}\",\"text\":\"{text}\",\"label\":\"{label}\"}}\n")
        })
        .collect()
}

/// Create an identity as the admin handle; returns its token.
fn identity(admin: &mut Ledger, name: &str, key: Option<PublicKey>) -> String {
    admin
        .add_identity(&NewIdentity {
            name: name.into(),
            kind: IdentityKind::Human,
            expires_at: Some(4_102_444_800), // 2100-01-01
            token: true,
            key,
        })
        .unwrap()
        .1
        .unwrap()
}

fn as_identity(root: &Path, token: &str) -> Ledger {
    let mut l = Ledger::open(root).unwrap();
    l.authenticate(token).unwrap();
    l
}

#[test]
fn a_labeler_may_change_labels_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut admin = Ledger::init(root).unwrap();
    assert!(admin.take_issued_token().unwrap().starts_with("bzr_"));
    std::fs::write(
        root.join("a.jsonl"),
        rows(&[("1", "good", "pos"), ("2", "bad", "neg")]),
    )
    .unwrap();
    admin.add(&root.join("a.jsonl"), &opts("v", false)).unwrap();
    let tok = identity(&mut admin, "lab", None);
    admin.grant("lab", "d", Role::Labeler, None).unwrap();
    let mut lab = as_identity(root, &tok);
    let add = |l: &mut Ledger, text: String, replace: bool| {
        std::fs::write(root.join("b.jsonl"), text).unwrap();
        l.add(&root.join("b.jsonl"), &opts("lab", replace))
    };
    // Same id, same text, new label: a label change.
    let out = add(&mut lab, rows(&[("1", "good", "neg")]), false).unwrap();
    let AddOutcome::Created(s) = out else {
        panic!("no snapshot")
    };
    assert_eq!(s.changes.relabelled, 1);
    assert_eq!(s.snapshot.identity, "lab");
    // A new id, an edited text, a replace that drops rows: refused, naming the right.
    for (text, replace, needle) in [
        (rows(&[("3", "new", "pos")]), false, "add rows"),
        (rows(&[("2", "bad!", "neg")]), false, "add rows"),
        // Row 2 is missing from a --replace file: a removal.
        (rows(&[("1", "good", "neg")]), true, "remove rows"),
    ] {
        match add(&mut lab, text, replace) {
            Err(LedgerError::Denied {
                identity, action, ..
            }) => {
                assert_eq!(identity, "lab");
                assert!(action.contains(needle), "{action}");
            }
            other => panic!("expected a denial, got {other:?}"),
        }
    }
}

#[test]
fn a_handle_authenticated_before_revocation_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut admin = Ledger::init(root).unwrap();
    let tok = identity(&mut admin, "v", None);
    admin.grant("v", "d", Role::Contributor, Some("v")).unwrap();
    let mut v = as_identity(root, &tok);
    std::fs::write(root.join("a.jsonl"), rows(&[("1", "x", "pos")])).unwrap();
    v.add(&root.join("a.jsonl"), &opts("v", false)).unwrap();
    admin.revoke_identity("v", Some("test")).unwrap();
    std::fs::write(root.join("a.jsonl"), rows(&[("2", "y", "pos")])).unwrap();
    let e = v.add(&root.join("a.jsonl"), &opts("v", false)).unwrap_err();
    assert!(matches!(e, LedgerError::BadToken(_)), "{e}");
    // And a fresh authentication is refused.
    let e = Ledger::open(root).unwrap().authenticate(&tok).unwrap_err();
    assert!(e.to_string().contains("revoked"), "{e}");
}

#[test]
fn the_gate_counts_distinct_valid_approvals() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut admin = Ledger::init(root).unwrap();
    let mut keys = Vec::new();
    let mut tokens = Vec::new();
    for (i, name) in ["alice", "bob"].iter().enumerate() {
        let (private, public) = if i == 0 {
            bezoar_ledger::keys::generate_p256()
        } else {
            bezoar_ledger::keys::generate_ed25519()
        };
        let p = root.join(format!("{name}.pem"));
        std::fs::write(&p, private).unwrap();
        keys.push(ApprovalKey::load(&p).unwrap());
        tokens.push(identity(
            &mut admin,
            name,
            Some(PublicKey::from_pem(&public).unwrap()),
        ));
        admin.grant(name, "d", Role::Approver, None).unwrap();
    }
    std::fs::write(root.join("a.jsonl"), rows(&[("1", "x", "pos")])).unwrap();
    admin.add(&root.join("a.jsonl"), &opts("v", false)).unwrap();
    let head = admin.resolve("d").unwrap();
    admin
        .record_scan(
            "d",
            &head.rows_root,
            1,
            serde_json::json!({"flagged": 0, "max_severity": null, "passed": true}),
        )
        .unwrap();
    std::fs::write(
        root.join("bezoar.toml"),
        "[datasets.d]\nrequired_approvals = 2\n",
    )
    .unwrap();
    let policy = Policy::load(&root.join("bezoar.toml")).unwrap();
    let snap = admin.resolve("d").unwrap();
    // The admin recorded the snapshot: it cannot approve it.
    let e = admin.approve(&snap, &keys[0]).unwrap_err();
    assert!(
        matches!(
            e,
            LedgerError::Denied { .. } | LedgerError::SelfApproval { .. }
        ),
        "{e}"
    );
    let mut alice = as_identity(root, &tokens[0]);
    // An approval whose envelope file cannot be written is not recorded (issue #12 row 5):
    // the retry is not told "already approved".
    let approvals_dir = root.join(".bezoar/approvals");
    let _ = std::fs::remove_dir_all(&approvals_dir);
    std::fs::write(&approvals_dir, "a file where the folder goes").unwrap();
    let before = alice.events().unwrap().len();
    assert!(alice.approve(&snap, &keys[0]).is_err());
    assert_eq!(
        alice.events().unwrap().len(),
        before,
        "a failed approve left an event"
    );
    std::fs::remove_file(&approvals_dir).unwrap();
    alice.approve(&snap, &keys[0]).unwrap();
    assert!(!admin.gate(&snap, &policy, None).unwrap().passed);
    let mut bob = as_identity(root, &tokens[1]);
    let ap = bob.approve(&snap, &keys[1]).unwrap();
    assert_eq!(ap.signatures, 2);
    let v = admin.gate(&snap, &policy, None).unwrap();
    assert!(v.passed, "{:?}", v.failures());
    assert_eq!(v.approvals, 2);
    // bob signing again with alice's key is refused (not his key).
    assert!(bob.approve(&snap, &keys[0]).is_err());
    // Tamper with bob's signature in the database: it stops counting and is named.
    let c = rusqlite::Connection::open(root.join(".bezoar/ledger.db")).unwrap();
    let text: String = c
        .query_row("SELECT envelope FROM approval_envelopes", [], |r| r.get(0))
        .unwrap();
    let mut env: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sig = env["signatures"][1]["sig"].as_str().unwrap().to_string();
    let mut bytes: Vec<char> = sig.chars().collect();
    bytes[10] = if bytes[10] == 'Q' { 'R' } else { 'Q' };
    env["signatures"][1]["sig"] = serde_json::Value::String(bytes.into_iter().collect());
    c.execute(
        "UPDATE approval_envelopes SET envelope = ?1",
        [env.to_string()],
    )
    .unwrap();
    let v = admin.gate(&snap, &policy, None).unwrap();
    assert!(!v.passed);
    assert_eq!(v.approvals, 1);
    assert!(
        v.failures()
            .iter()
            .any(|f| f.contains("'bob'") && f.contains("does not verify")),
        "{:?}",
        v.failures()
    );
}

#[test]
fn the_gate_ignores_scans_not_bound_to_the_snapshots_rows() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut admin = Ledger::init(root).unwrap();
    std::fs::write(
        root.join("a.jsonl"),
        rows(&[("1", "x", "pos"), ("2", "y", "neg")]),
    )
    .unwrap();
    admin.add(&root.join("a.jsonl"), &opts("v", false)).unwrap();
    let snap = admin.resolve("d").unwrap();
    std::fs::write(
        root.join("bezoar.toml"),
        "[datasets.d]\nrequired_approvals = 0\n",
    )
    .unwrap();
    let policy = Policy::load(&root.join("bezoar.toml")).unwrap();
    // A scan event as earlier versions wrote it: bound to the snapshot by a file digest only.
    admin
        .record_event(
            "scan",
            serde_json::json!({"snapshots": [snap.id], "rows": 2, "flagged": 0, "passed": true}),
        )
        .unwrap();
    let v = admin.gate(&snap, &policy, None).unwrap();
    assert!(!v.passed);
    let why = v.failures().join("\n");
    assert!(why.contains("recorded by an earlier version"), "{why}");
    // A current scan of other rows does not count either; one of these rows does.
    admin
        .record_scan(
            "other.jsonl",
            &"0".repeat(64),
            2,
            serde_json::json!({"flagged": 0}),
        )
        .unwrap();
    assert!(!admin.gate(&snap, &policy, None).unwrap().passed);
    let ds = admin.snapshot_dataset(&snap).unwrap();
    let root_of_rows = bezoar_ledger::snapshot::rows_root_of_dataset(&ds);
    assert_eq!(root_of_rows, snap.rows_root);
    let (_, covered) = admin
        .record_scan("d@1", &root_of_rows, 2, serde_json::json!({"flagged": 0}))
        .unwrap();
    assert_eq!(covered.len(), 1);
    let v = admin.gate(&snap, &policy, None).unwrap();
    assert!(v.passed, "{:?}", v.failures());
}
