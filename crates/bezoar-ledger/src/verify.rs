//! `verify`: re-derive everything the ledger claims and report each disagreement by name.
//!
//! The chain of trust, from the signed checkpoint down:
//! 1. the latest checkpoint is signed by the log key named in the first event;
//! 2. the RFC 6962 root recomputed from every event's stored bytes equals each checkpoint's
//!    root at its size, and each event's stored tree root (a deleted, inserted or rewritten event
//!    changes every root after it);
//! 3. every snapshot row in the database equals the fields its event recorded;
//! 4. the per-row digests in the database hash to the snapshot's Merkle root, the per-row
//!    sources and origins to its provenance digest, and the chunk list to its manifest digest;
//! 5. every object hashes to its name and its rows hash to the recorded row digests.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use bezoar_data::ReadOptions;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::checkpoint::Checkpoint;
use crate::error::Result;
use crate::keys::LogVerifier;
use crate::merkle::{leaf_hash, CompactTree, Hash};
use crate::objects::ObjectRead;
use crate::rows::decode_rows;
use crate::snapshot::{hash_file, rows_of_dataset, snapshot_event_fields, SnapshotInfo};
use crate::store::Ledger;
use crate::util::{hex, hex_decode, rfc3339};

/// At most this many row-level problems are listed per snapshot; the rest are counted.
const MAX_ROW_PROBLEMS: usize = 50;

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// True when no problem was found (and, with a file, the file matches the snapshot).
    pub ok: bool,
    pub events: u64,
    pub checkpoints: u64,
    pub snapshots_checked: u64,
    pub rows_checked: u64,
    pub objects_checked: u64,
    /// Each problem in one line, naming the event, snapshot, row or object concerned.
    pub problems: Vec<String>,
    pub file: Option<FileCheck>,
}

/// A dataset file compared with a snapshot, row by row (by id).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileCheck {
    pub file: String,
    pub snapshot: String,
    /// Whether the file is byte-for-byte the file the snapshot recorded (None: the snapshot
    /// recorded no single file, e.g. it was derived or accumulated).
    pub same_file_digest: Option<bool>,
    pub rows_in_file: u64,
    pub rows_in_snapshot: u64,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<RowChange>,
}

impl FileCheck {
    pub fn matches(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RowChange {
    pub id: String,
    /// `label`, `text` or `text+label`; for LLM rows `label` (a preference pair swapped) or
    /// `fields` (any other change).
    pub field: String,
    pub snapshot_label: String,
    pub file_label: String,
}

impl Ledger {
    /// Check the log, the snapshot records and the stored rows (of `target`, or of every
    /// snapshot); with `file`, compare that file with `target`. `external` is a checkpoint kept
    /// outside the ledger that the log must still contain.
    pub fn verify(
        &self,
        target: Option<&SnapshotInfo>,
        file: Option<(&Path, &ReadOptions)>,
        external: Option<&str>,
    ) -> Result<VerifyReport> {
        let mut rep = VerifyReport::default();
        self.check_log(&mut rep, external)?;
        let snaps = self.check_snapshot_records(&mut rep)?;
        self.check_identity_records(&mut rep.problems)?;
        let mut cache = ObjectCache::default();
        for s in &snaps {
            if target.is_none_or(|t| t.id == s.id) {
                self.check_rows(s, &mut rep, &mut cache)?;
            }
        }
        rep.objects_checked = cache.objects.len() as u64;
        if let (Some(t), Some((path, opts))) = (target, file) {
            rep.file = Some(self.check_file(t, path, opts, &mut rep)?);
        }
        rep.ok = rep.problems.is_empty() && rep.file.as_ref().is_none_or(FileCheck::matches);
        Ok(rep)
    }

    /// Steps 1–2.
    fn check_log(&self, rep: &mut VerifyReport, external: Option<&str>) -> Result<()> {
        let events = self.events()?;
        rep.events = events.len() as u64;
        let mut tree = CompactTree::new();
        let mut roots = Vec::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            if e.seq != i as u64 {
                rep.problems.push(format!(
                    "event log: event {i} is missing (the next stored event is {}): events were deleted",
                    e.seq
                ));
                // Keep going with the events as stored: every later root will disagree too,
                // but report only the first gap.
                break;
            }
        }
        for e in &events {
            let leaf = leaf_hash(&e.body);
            if leaf != e.leaf_hash {
                rep.problems.push(format!(
                    "event {} ({}): its stored bytes no longer match its leaf hash: the event was rewritten",
                    e.seq, e.kind
                ));
            }
            tree.push(leaf);
            let root = tree.root();
            if root != e.root && leaf == e.leaf_hash {
                rep.problems.push(format!(
                    "event {} ({}): the tree root stored with it differs from the recomputed root: an earlier event was changed, removed or inserted",
                    e.seq, e.kind
                ));
            }
            roots.push(root);
            let body = e.json();
            if body.get("seq").and_then(Value::as_u64) != Some(e.seq)
                || body.get("type").and_then(Value::as_str) != Some(e.kind.as_str())
            {
                rep.problems.push(format!(
                    "event {} ({}): its body names a different position or type",
                    e.seq, e.kind
                ));
            }
        }
        // The log key must be the one the first event committed to.
        match events.first().map(|e| e.json()) {
            Some(init) if init.get("type").and_then(Value::as_str) == Some("init") => {
                let named = init.get("log_key").and_then(Value::as_str).unwrap_or("");
                if named != self.verifier.to_text().trim_end() {
                    rep.problems.push(
                        "log key: .bezoar/log.pub is not the key the log's first event names: the key was replaced"
                            .to_string(),
                    );
                }
            }
            _ => rep
                .problems
                .push("event 0: the log does not start with its init event".to_string()),
        }
        let root_at = |size: u64| -> Option<Hash> {
            if size == 0 {
                Some(crate::merkle::empty_root())
            } else {
                roots.get(size as usize - 1).copied()
            }
        };
        let cps = self.checkpoints()?;
        rep.checkpoints = cps.len() as u64;
        for (size, note) in &cps {
            self.check_checkpoint(rep, note, Some(*size), &root_at, "stored checkpoint");
        }
        match cps.last() {
            None => rep
                .problems
                .push("checkpoints: none stored: the checkpoint table was emptied".to_string()),
            Some((size, _)) if *size != events.len() as u64 => rep.problems.push(format!(
                "checkpoints: the latest signed checkpoint covers {size} events but the log holds {}: {}",
                events.len(),
                if *size > events.len() as u64 {
                    "events were deleted"
                } else {
                    "events were appended without bezoar"
                }
            )),
            _ => {}
        }
        if let Some(note) = external {
            self.check_checkpoint(rep, note, None, &root_at, "given checkpoint");
        }
        Ok(())
    }

    /// Check one signed checkpoint: its signature, and that the log has its root at its size.
    /// `stored_size` is the size it is filed under in the checkpoints table (None: a checkpoint
    /// the user kept).
    fn check_checkpoint(
        &self,
        rep: &mut VerifyReport,
        note: &str,
        stored_size: Option<u64>,
        root_at: &dyn Fn(u64) -> Option<Hash>,
        what: &str,
    ) {
        match Checkpoint::open(note, &self.verifier) {
            Err(e) => rep.problems.push(match stored_size {
                Some(n) => format!("{what} for {n} events: {e}"),
                None => format!("{what}: {e}"),
            }),
            Ok(cp) => {
                if let Some(n) = stored_size.filter(|n| *n != cp.size) {
                    rep.problems.push(format!(
                        "{what} filed under {n} events: its note is for {} events",
                        cp.size
                    ));
                }
                match root_at(cp.size) {
                    None => rep.problems.push(format!(
                        "{what} for {} events: the log now holds only {} events: events were deleted",
                        cp.size, rep.events
                    )),
                    Some(r) if r != cp.root => rep.problems.push(format!(
                        "{what} for {} events: the log's root at that size is {} but the checkpoint signed {}: the log was rewritten",
                        cp.size,
                        hex(&r),
                        hex(&cp.root)
                    )),
                    _ => {}
                }
            }
        }
    }

    /// Step 3: each snapshot row against its event.
    fn check_snapshot_records(&self, rep: &mut VerifyReport) -> Result<Vec<SnapshotInfo>> {
        let snaps = self.snapshots()?;
        let mut events: BTreeMap<i64, (u64, Value)> = BTreeMap::new();
        for e in self.events()? {
            if e.kind == "snapshot" {
                let body = e.json();
                if let Some(id) = body.get("snapshot").and_then(Value::as_i64) {
                    events.insert(id, (e.seq, body));
                }
            }
        }
        for s in &snaps {
            let Some((seq, body)) = events.remove(&s.id) else {
                rep.problems.push(format!(
                    "snapshot {} ({}): no event in the log records it: it was inserted behind bezoar's back or its event was deleted",
                    s.id,
                    s.label()
                ));
                continue;
            };
            let mut bad: Vec<String> = Vec::new();
            if let Value::Object(want) = snapshot_event_fields(s) {
                for (k, v) in want {
                    if body.get(&k).unwrap_or(&Value::Null) != &v {
                        bad.push(k);
                    }
                }
            }
            if body.get("time").and_then(Value::as_str) != Some(rfc3339(s.created_at).as_str()) {
                bad.push("time".into());
            }
            if s.event_seq != seq {
                bad.push("event_seq".into());
            }
            if !bad.is_empty() {
                rep.problems.push(format!(
                    "snapshot {} ({}): the database disagrees with its event {seq} on: {}",
                    s.id,
                    s.label(),
                    bad.join(", ")
                ));
            }
        }
        for (id, (seq, body)) in events {
            rep.problems.push(format!(
                "snapshot {id} ({}): recorded by event {seq} but missing from the database",
                body.get("dataset").and_then(Value::as_str).unwrap_or("?")
            ));
        }
        Ok(snaps)
    }

    /// Steps 4–5 for one snapshot.
    fn check_rows(
        &self,
        s: &SnapshotInfo,
        rep: &mut VerifyReport,
        cache: &mut ObjectCache,
    ) -> Result<()> {
        rep.snapshots_checked += 1;
        let label = format!("snapshot {} ({})", s.id, s.label());
        let records = self.row_records(s.id)?;
        rep.rows_checked += records.len() as u64;
        if records.len() as u64 != s.row_count {
            rep.problems.push(format!(
                "{label}: the database lists {} rows but the snapshot recorded {}: rows were deleted or inserted",
                records.len(),
                s.row_count
            ));
        }
        let digests: Vec<Hash> = records.iter().map(|r| r.digest).collect();
        let root_ok = hex(&crate::merkle::root(&digests)) == s.rows_root;
        if !root_ok {
            rep.problems.push(format!(
                "{label}: the row digests in the database no longer hash to the snapshot's Merkle root"
            ));
        }
        let prov = crate::snapshot::provenance_digest(
            records.iter().map(|r| (r.source.as_str(), r.origin)),
        );
        if hex(&prov) != s.provenance_digest {
            rep.problems.push(format!(
                "{label}: the per-row provenance (source or origin) in the database was changed"
            ));
        }
        let chunks = self.chunks_of(s.id)?;
        let mut manifest = Sha256::new();
        for (name, n) in &chunks {
            manifest.update(hex_decode(name).unwrap_or_default());
            manifest.update(n.to_be_bytes());
        }
        if hex(&manifest.finalize()) != s.manifest_digest {
            rep.problems.push(format!(
                "{label}: its chunk list in the database no longer matches its manifest digest"
            ));
        }
        // Position → record; a deleted row leaves a hole, an inserted one a duplicate or an
        // index past the end.
        let mut by_idx: Vec<Option<&crate::snapshot::RowRecord>> = vec![None; s.row_count as usize];
        let mut row_problems: Vec<String> = Vec::new();
        for r in &records {
            match by_idx.get_mut(r.idx as usize) {
                Some(slot) if slot.is_none() && r.idx >= 0 => *slot = Some(r),
                _ => row_problems.push(format!(
                    "{label}: row '{}' (index {}) in the database is not part of the snapshot: it was inserted",
                    r.id, r.idx
                )),
            }
        }
        let mut idx = 0usize;
        for (name, n) in &chunks {
            let size = self.object_size(name)?;
            let entry = cache.get(self, name, size);
            let first_id = by_idx
                .get(idx)
                .copied()
                .flatten()
                .map(|r| r.id.as_str())
                .unwrap_or("?");
            match entry {
                ObjState::Missing => rep.problems.push(format!(
                    "{label}: object {name} (rows from '{first_id}', {n} rows) is missing from .bezoar/objects"
                )),
                ObjState::Unreadable(why) => rep.problems.push(format!(
                    "{label}: object {name} (rows from '{first_id}', {n} rows) was changed: {why}"
                )),
                ObjState::Changed(_, why) => rep.problems.push(format!(
                    "{label}: object {name} (rows from '{first_id}', {n} rows) was changed: {why}"
                )),
                ObjState::Ok(_) => {}
            }
            if let ObjState::Ok(rows) | ObjState::Changed(rows, _) = entry {
                if rows.len() as u64 != *n {
                    rep.problems.push(format!(
                        "{label}: object {name} holds {} rows, the chunk list says {n}",
                        rows.len()
                    ));
                }
                for (id, digest) in rows {
                    let Some(slot) = by_idx.get(idx) else { break };
                    let Some(rec) = slot else {
                        row_problems.push(format!(
                            "{label}: row '{id}' (index {idx}) was deleted from the database"
                        ));
                        idx += 1;
                        continue;
                    };
                    if &rec.id != id {
                        row_problems.push(format!(
                            "{label}: row {idx} has id '{}' in the database but '{id}' in the stored content",
                            rec.id
                        ));
                    } else if &rec.digest != digest {
                        let why = if matches!(entry, ObjState::Changed(..)) {
                            "its stored content was changed"
                        } else if !root_ok {
                            "its digest in the database was rewritten"
                        } else {
                            "its stored content does not match its digest"
                        };
                        row_problems.push(format!("{label}: row '{id}' (index {idx}): {why}"));
                    }
                    idx += 1;
                }
            } else {
                idx += *n as usize;
            }
        }
        let extra = row_problems.len().saturating_sub(MAX_ROW_PROBLEMS);
        rep.problems
            .extend(row_problems.into_iter().take(MAX_ROW_PROBLEMS));
        if extra > 0 {
            rep.problems
                .push(format!("{label}: ... and {extra} more changed rows"));
        }
        Ok(())
    }

    fn check_file(
        &self,
        s: &SnapshotInfo,
        path: &Path,
        opts: &ReadOptions,
        rep: &mut VerifyReport,
    ) -> Result<FileCheck> {
        let digests = hash_file(path)?;
        let mut check = FileCheck {
            file: path.display().to_string(),
            snapshot: s.label(),
            same_file_digest: s.file.as_ref().map(|f| f.sha256 == digests.sha256),
            rows_in_snapshot: s.row_count,
            ..FileCheck::default()
        };
        let stored = match self.load_rows(s) {
            Ok(r) => r,
            Err(e) => {
                rep.problems.push(format!(
                    "cannot compare {} with {}: {e}",
                    path.display(),
                    s.label()
                ));
                return Ok(check);
            }
        };
        // LLM rows are read the way the snapshot recorded them (its shape and fields).
        let llm_layout = stored
            .first()
            .and_then(|r| r.content.record.as_ref())
            .map(|r| r.layout.clone());
        let file_rows = match llm_layout
            .as_deref()
            .and_then(bezoar_data::llm::layout_options)
        {
            Some(mut llm_opts) => {
                llm_opts.format = opts.format;
                llm_opts.skip_invalid = opts.skip_invalid;
                crate::snapshot::rows_of_llm(&bezoar_data::llm::read_llm(path, &llm_opts)?, "")
            }
            None => rows_of_dataset(path, &bezoar_data::read_dataset(path, opts)?, "")?,
        };
        check.rows_in_file = file_rows.len() as u64;
        let by_id: HashMap<&str, usize> = stored
            .iter()
            .enumerate()
            .map(|(i, r)| (r.content.id.as_str(), i))
            .collect();
        let mut seen = vec![false; stored.len()];
        for r in &file_rows {
            match by_id.get(r.content.id.as_str()) {
                None => check.added.push(r.content.id.clone()),
                Some(&i) => {
                    seen[i] = true;
                    let old = &stored[i].content;
                    if stored[i].digest != r.digest {
                        let field = if r.content.record.is_some() {
                            if r.content.is_relabel_of(old) {
                                "label"
                            } else {
                                "fields"
                            }
                        } else {
                            match (old.text != r.content.text, old.label != r.content.label) {
                                (true, true) => "text+label",
                                (false, true) => "label",
                                _ => "text",
                            }
                        };
                        let (snapshot_label, file_label) = r.content.label_change(old);
                        check.changed.push(RowChange {
                            id: r.content.id.clone(),
                            field: field.into(),
                            snapshot_label,
                            file_label,
                        });
                    }
                }
            }
        }
        for (i, r) in stored.iter().enumerate() {
            if !seen[i] {
                check.removed.push(r.content.id.clone());
            }
        }
        Ok(check)
    }
}

/// What verify learned about one object (cached: snapshots share objects).
#[derive(Debug, Clone)]
enum ObjState {
    /// Hashes to its name; (row id, digest) of each row.
    Ok(Vec<(String, Hash)>),
    Missing,
    /// Does not decompress or decode.
    Unreadable(String),
    /// Decodes, but does not hash to its name.
    Changed(Vec<(String, Hash)>, String),
}

#[derive(Default)]
struct ObjectCache {
    objects: HashMap<String, ObjState>,
}

impl ObjectCache {
    fn get(&mut self, ledger: &Ledger, name: &str, size: Option<u64>) -> &ObjState {
        self.objects
            .entry(name.to_string())
            .or_insert_with(|| inspect(ledger, name, size))
    }
}

fn inspect(ledger: &Ledger, name: &str, size: Option<u64>) -> ObjState {
    let Some(size) = size else {
        return ObjState::Unreadable("it is not in the objects table".into());
    };
    let rows_of = |bytes: &[u8]| -> Result<Vec<(String, Hash)>, String> {
        let rows = decode_rows(bytes).map_err(|e| e.0)?;
        Ok(rows
            .into_iter()
            .map(|(r, range)| (r.id, leaf_hash(&bytes[range])))
            .collect())
    };
    match ledger.objects().get(name, size as usize) {
        ObjectRead::Ok(bytes) => match rows_of(&bytes) {
            Ok(rows) => ObjState::Ok(rows),
            Err(e) => ObjState::Unreadable(e),
        },
        ObjectRead::Missing => ObjState::Missing,
        ObjectRead::Corrupt(why) => {
            // Decode what is there anyway, so the changed rows can be named.
            let path = ledger.objects().path_of(name);
            let decoded = std::fs::read(path)
                .ok()
                .and_then(|b| zstd::bulk::decompress(&b, (size as usize).max(1) * 2).ok())
                .and_then(|b| rows_of(&b).ok());
            match decoded {
                Some(rows) => ObjState::Changed(rows, why),
                None => ObjState::Unreadable(why),
            }
        }
    }
}

/// Check a checkpoint note against a verifier key alone (no ledger).
pub fn open_checkpoint(note: &str, verifier: &LogVerifier) -> Result<Checkpoint, String> {
    Checkpoint::open(note, verifier)
}

/// Why `note` is not a signed checkpoint note at all (as opposed to one whose signature or
/// root is wrong, which is tampering): no blank line before signatures, no signature line, or
/// a body that is not `origin / size / base64 root`. `None` when it has the shape.
pub fn checkpoint_shape_problem(note: &str) -> Option<String> {
    use base64::Engine as _;
    let Some(split) = note.rfind("\n\n") else {
        return Some("no blank line between the checkpoint and its signatures".into());
    };
    let (body, sigs) = (&note[..split], &note[split + 2..]);
    if !sigs.lines().any(|l| l.starts_with("\u{2014} ")) {
        return Some("no signature line (starting with '\u{2014} ')".into());
    }
    let mut lines = body.split('\n');
    if lines.next().is_none_or(str::is_empty) {
        return Some("the first line (the log's origin) is empty".into());
    }
    if lines.next().and_then(|s| s.parse::<u64>().ok()).is_none() {
        return Some("the second line is not a tree size".into());
    }
    let root = lines
        .next()
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok());
    if root.is_none_or(|r| r.len() != 32) {
        return Some("the third line is not a base64 SHA-256 root".into());
    }
    None
}
