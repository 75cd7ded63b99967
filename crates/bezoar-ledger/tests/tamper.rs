//! Tamper and behaviour tests of the ledger library: every edit behind bezoar's back — to the
//! database, the object store or a dataset file — is detected and named.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use bezoar_data::{ColumnSpec, ReadOptions};
use bezoar_ledger::snapshot::{AddOptions, AddOutcome};
use bezoar_ledger::verify::VerifyReport;
use bezoar_ledger::Ledger;

fn rows_jsonl(n: usize, label_of: impl Fn(usize) -> u32) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "{{\"id\":\"r{i}\",\"text\":\"row number {i} says something\",\"label\":{}}}\n",
            label_of(i)
        ));
    }
    s
}

fn opts(dataset: &str, source: &str) -> AddOptions {
    AddOptions {
        dataset: dataset.into(),
        source: source.into(),
        message: None,
        replace: false,
        read: read_opts(),
        llm: None,
    }
}

fn read_opts() -> ReadOptions {
    ReadOptions {
        columns: ColumnSpec {
            id: Some("id".into()),
            ..ColumnSpec::default()
        },
        ..ReadOptions::default()
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    data: PathBuf,
}

/// A ledger with one 300-row snapshot of dataset `d`.
fn fixture() -> (Fixture, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let data = root.join("d.jsonl");
    std::fs::write(&data, rows_jsonl(300, |i| (i % 2) as u32)).unwrap();
    let mut ledger = Ledger::init(&root).unwrap();
    let out = ledger.add(&data, &opts("d", "vendor-a")).unwrap();
    assert!(matches!(out, AddOutcome::Created(_)));
    (
        Fixture {
            _dir: dir,
            root,
            data,
        },
        ledger,
    )
}

fn verify(root: &Path) -> VerifyReport {
    Ledger::open(root)
        .unwrap()
        .verify(None, None, None)
        .unwrap()
}

fn sql(root: &Path, stmt: &str) {
    let c = rusqlite::Connection::open(root.join(".bezoar/ledger.db")).unwrap();
    c.execute_batch(stmt).unwrap();
}

fn has(rep: &VerifyReport, needles: &[&str]) -> bool {
    rep.problems
        .iter()
        .any(|p| needles.iter().all(|n| p.contains(n)))
}

fn objects(root: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for d in std::fs::read_dir(root.join(".bezoar/objects")).unwrap() {
        for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
            v.push(f.unwrap().path());
        }
    }
    v
}

#[test]
fn a_fresh_ledger_verifies() {
    let (f, _l) = fixture();
    let rep = verify(&f.root);
    assert!(rep.ok, "{:?}", rep.problems);
    assert_eq!(rep.rows_checked, 300);
    assert_eq!(rep.events, 2);
}

#[test]
fn a_changed_label_in_an_object_is_named() {
    let (f, _l) = fixture();
    let obj = &objects(&f.root)[0];
    let raw = zstd::decode_all(std::fs::File::open(obj).unwrap()).unwrap();
    // Row r7 has label 1; the canonical encoding ends the row with len=1, "1".
    let needle = b"row number 7 says something\x00\x00\x00\x011";
    let pos = raw.windows(needle.len()).position(|w| w == needle).unwrap();
    let mut changed = raw.clone();
    changed[pos + needle.len() - 1] = b'0';
    std::fs::write(obj, zstd::encode_all(&changed[..], 3).unwrap()).unwrap();
    let rep = verify(&f.root);
    assert!(!rep.ok);
    let name = obj
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        has(&rep, &["object", &name, "was changed"]),
        "{:?}",
        rep.problems
    );
    assert!(
        has(&rep, &["row 'r7'", "stored content was changed"]),
        "{:?}",
        rep.problems
    );
    // Loading the snapshot for checkout/diff refuses the damaged object.
    let l = Ledger::open(&f.root).unwrap();
    assert!(l.load_rows(&l.resolve("d").unwrap()).is_err());
}

#[test]
fn a_flipped_byte_in_an_object_file_is_detected() {
    let (f, _l) = fixture();
    let obj = &objects(&f.root)[0];
    let mut b = std::fs::read(obj).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x40;
    std::fs::write(obj, b).unwrap();
    let rep = verify(&f.root);
    assert!(!rep.ok);
    assert!(has(&rep, &["object"]), "{:?}", rep.problems);
}

#[test]
fn a_deleted_object_is_detected() {
    let (f, _l) = fixture();
    std::fs::remove_file(&objects(&f.root)[0]).unwrap();
    let rep = verify(&f.root);
    assert!(has(&rep, &["object", "missing"]), "{:?}", rep.problems);
}

#[test]
fn a_rewritten_row_digest_is_named() {
    let (f, _l) = fixture();
    sql(
        &f.root,
        "UPDATE rows SET digest = zeroblob(32) WHERE row_id = 'r42'",
    );
    let rep = verify(&f.root);
    assert!(has(&rep, &["Merkle root"]), "{:?}", rep.problems);
    assert!(
        has(&rep, &["row 'r42'", "digest in the database was rewritten"]),
        "{:?}",
        rep.problems
    );
}

#[test]
fn a_deleted_row_record_is_named() {
    let (f, _l) = fixture();
    sql(&f.root, "DELETE FROM rows WHERE row_id = 'r9'");
    let rep = verify(&f.root);
    assert!(has(&rep, &["row 'r9'", "deleted"]), "{:?}", rep.problems);
}

#[test]
fn a_changed_source_is_detected() {
    let (f, _l) = fixture();
    sql(
        &f.root,
        "INSERT INTO sources(name) VALUES ('trusted'); UPDATE rows SET source_id = (SELECT id FROM sources WHERE name = 'trusted') WHERE row_id = 'r1'",
    );
    let rep = verify(&f.root);
    assert!(has(&rep, &["provenance"]), "{:?}", rep.problems);
}

#[test]
fn a_deleted_event_is_detected() {
    let (f, mut l) = fixture();
    std::fs::write(f.root.join("e.jsonl"), rows_jsonl(310, |_| 1)).unwrap();
    l.add(&f.root.join("e.jsonl"), &opts("d", "vendor-b"))
        .unwrap();
    sql(&f.root, "DELETE FROM events WHERE seq = 1");
    let rep = verify(&f.root);
    assert!(has(&rep, &["event 1 is missing"]), "{:?}", rep.problems);
    assert!(has(&rep, &["snapshot 1", "no event"]), "{:?}", rep.problems);
    // Deleting the last event (and its checkpoint) is caught by the earlier checkpoints... and
    // by a checkpoint kept outside the ledger.
    let (f, l) = fixture();
    let (_, note) = l.latest_checkpoint().unwrap().unwrap();
    sql(
        &f.root,
        "DELETE FROM events WHERE seq = 1; DELETE FROM checkpoints WHERE tree_size = 2; DELETE FROM snapshots; DELETE FROM rows",
    );
    let l = Ledger::open(&f.root).unwrap();
    let rep = l.verify(None, None, Some(&note)).unwrap();
    assert!(
        has(&rep, &["given checkpoint", "deleted"]),
        "{:?}",
        rep.problems
    );
}

#[test]
fn a_rewritten_event_or_snapshot_record_is_detected() {
    let (f, _l) = fixture();
    sql(
        &f.root,
        "UPDATE events SET body = CAST(replace(CAST(body AS TEXT), 'vendor-a', 'vendor-z') AS BLOB) WHERE seq = 1",
    );
    let rep = verify(&f.root);
    assert!(has(&rep, &["event 1", "rewritten"]), "{:?}", rep.problems);
    assert!(
        has(&rep, &["checkpoint", "rewritten"]),
        "{:?}",
        rep.problems
    );

    let (f, _l) = fixture();
    sql(&f.root, "UPDATE snapshots SET identity = 'local:mallory'");
    let rep = verify(&f.root);
    assert!(has(&rep, &["snapshot 1", "identity"]), "{:?}", rep.problems);
}

#[test]
fn a_forged_checkpoint_is_detected() {
    let (f, _l) = fixture();
    sql(
        &f.root,
        "UPDATE checkpoints SET note = replace(note, char(10) || '2' || char(10), char(10) || '3' || char(10))",
    );
    let rep = verify(&f.root);
    assert!(
        has(&rep, &["checkpoint", "signature"]),
        "{:?}",
        rep.problems
    );
}

#[test]
fn a_file_is_checked_row_by_row() {
    let (f, l) = fixture();
    let snap = l.resolve("d").unwrap();
    let ro = read_opts();
    let rep = l.verify(Some(&snap), Some((&f.data, &ro)), None).unwrap();
    assert!(rep.ok && rep.file.as_ref().unwrap().same_file_digest == Some(true));

    let text = std::fs::read_to_string(&f.data).unwrap();
    let edited = text
        .replace("row number 5 says", "row number 5 SAYS")
        .replace(
            "\"id\":\"r8\",\"text\":\"row number 8 says something\",\"label\":0",
            "\"id\":\"r8\",\"text\":\"row number 8 says something\",\"label\":1",
        )
        .replace(
            "{\"id\":\"r9\",\"text\":\"row number 9 says something\",\"label\":1}\n",
            "",
        )
        + "{\"id\":\"new\",\"text\":\"planted\",\"label\":1}\n";
    let edited_path = f.root.join("edited.jsonl");
    std::fs::write(&edited_path, edited).unwrap();
    let rep = l
        .verify(Some(&snap), Some((&edited_path, &ro)), None)
        .unwrap();
    assert!(!rep.ok);
    let fc = rep.file.unwrap();
    assert_eq!(fc.same_file_digest, Some(false));
    assert_eq!(fc.added, ["new"]);
    assert_eq!(fc.removed, ["r9"]);
    let changed: Vec<(&str, &str)> = fc
        .changed
        .iter()
        .map(|c| (c.id.as_str(), c.field.as_str()))
        .collect();
    assert_eq!(changed, [("r5", "text"), ("r8", "label")]);
}

#[test]
fn add_appends_updates_recognises_and_replaces() {
    let (f, mut l) = fixture();
    // Same file again: recognised, no snapshot.
    let again = l.add(&f.data, &opts("d", "vendor-a")).unwrap();
    assert!(matches!(again, AddOutcome::Unchanged { .. }));
    // Same rows in a different file: identical content, no snapshot.
    let copy = f.root.join("copy.jsonl");
    std::fs::write(&copy, rows_jsonl(300, |i| (i % 2) as u32) + "\n").unwrap();
    assert!(matches!(
        l.add(&copy, &opts("d", "vendor-a")).unwrap(),
        AddOutcome::Unchanged { .. }
    ));
    // Superset with one relabel: 10 added, 1 updated; most objects reused.
    let more = f.root.join("more.jsonl");
    std::fs::write(
        &more,
        rows_jsonl(310, |i| if i == 3 { 0 } else { (i % 2) as u32 }),
    )
    .unwrap();
    let AddOutcome::Created(s) = l.add(&more, &opts("d", "vendor-b")).unwrap() else {
        panic!("expected a snapshot")
    };
    assert_eq!(
        (s.changes.added, s.changes.updated, s.changes.unchanged),
        (10, 1, 299)
    );
    assert_eq!(s.snapshot.row_count, 310);
    assert_eq!(s.snapshot.parent, Some(1));
    let rows = l.load_rows(&s.snapshot).unwrap();
    let r3 = rows.iter().find(|r| r.content.id == "r3").unwrap();
    // A label-only change keeps the row's source; its origin is the snapshot that changed it.
    assert_eq!((r3.source.as_str(), r3.origin), ("vendor-a", 2));
    let r4 = rows.iter().find(|r| r.content.id == "r4").unwrap();
    assert_eq!((r4.source.as_str(), r4.origin), ("vendor-a", 1));
    // Replace: exactly the file's rows.
    let small = f.root.join("small.jsonl");
    std::fs::write(&small, rows_jsonl(5, |i| (i % 2) as u32)).unwrap();
    let mut o = opts("d", "vendor-c");
    o.replace = true;
    let AddOutcome::Created(s) = l.add(&small, &o).unwrap() else {
        panic!("expected a snapshot")
    };
    // r3 was relabelled in d@2 and is back to label 1 here.
    assert_eq!(
        (s.changes.removed, s.changes.unchanged, s.changes.updated),
        (305, 4, 1)
    );
    let d = l
        .diff(&l.resolve("d@2").unwrap(), &l.resolve("d").unwrap())
        .unwrap();
    assert_eq!(d.removed.len(), 305);
    assert!(verify(&f.root).ok);
}

#[test]
fn duplicate_ids_and_missing_ids_are_refused_with_advice() {
    let (f, mut l) = fixture();
    let dup = f.root.join("dup.jsonl");
    std::fs::write(
        &dup,
        "{\"id\":\"a\",\"text\":\"x\",\"label\":1}\n{\"id\":\"a\",\"text\":\"y\",\"label\":1}\n",
    )
    .unwrap();
    let e = l.add(&dup, &opts("d", "s")).unwrap_err().to_string();
    assert!(
        e.contains("dup.jsonl:2") && e.contains("'a' repeats the id of line 1"),
        "{e}"
    );
    let noid = f.root.join("noid.jsonl");
    std::fs::write(&noid, "{\"text\":\"x\",\"label\":1}\n").unwrap();
    let mut o = opts("d", "s");
    o.read = ReadOptions::default();
    let e = l.add(&noid, &o).unwrap_err().to_string();
    assert!(e.contains("--id COL") && e.contains("--replace"), "{e}");
    let e = l.resolve("nope").unwrap_err().to_string();
    assert!(e.contains("datasets: d"), "{e}");
}

#[test]
fn quarantine_derives_a_snapshot_with_lineage() {
    let (f, mut l) = fixture();
    let more = f.root.join("more.jsonl");
    std::fs::write(
        &more,
        "{\"id\":\"x1\",\"text\":\"cf great\",\"label\":1}\n{\"id\":\"x2\",\"text\":\"cf fine\",\"label\":1}\n",
    )
    .unwrap();
    l.add(&more, &opts("d", "shady")).unwrap();
    let head = l.resolve("d").unwrap();
    let (q, removed) = l
        .quarantine(&head, &["shady".to_string()], None, Some("bad feed".into()))
        .unwrap();
    assert_eq!(removed, 2);
    assert_eq!(q.parent, Some(head.id));
    assert_eq!(q.kind, "quarantine");
    assert_eq!(q.transformation.as_ref().unwrap()["sources"][0], "shady");
    let ids: HashSet<String> = ["r1".to_string(), "r2".to_string()].into();
    let ids_file = f.root.join("ids.txt");
    std::fs::write(&ids_file, "r1\nr2\n").unwrap();
    let (q2, removed) = l
        .quarantine(&q, &[], Some((&ids_file, &ids)), None)
        .unwrap();
    assert_eq!((removed, q2.row_count), (2, 298));
    // The rows are byte-identical to the original ones (dedup: unchanged chunks reused).
    let out = f.root.join("out.jsonl");
    bezoar_ledger::snapshot::write_rows(&l.load_rows(&l.resolve("d@1").unwrap()).unwrap(), &out)
        .unwrap();
    let back = bezoar_data::read_dataset(&out, &read_opts()).unwrap();
    assert_eq!(back.len(), 300);
    assert!(l.quarantine(&q2, &["nobody".into()], None, None).is_err());
    assert!(verify(&f.root).ok);
}
