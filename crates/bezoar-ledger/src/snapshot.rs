//! Snapshots: recording a dataset file (`add`), resolving snapshot names, loading a snapshot's
//! rows back from the object store, and deriving snapshots (`quarantine`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use bezoar_data::{Dataset, ReadOptions};
use rayon::prelude::*;
use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::{io_err, LedgerError, Result};
use crate::grants::Action;
use crate::merkle::{self, Hash};
use crate::names::{check_name, row_id_problem, NameKind};
use crate::objects::ObjectStore;
use crate::rows::{chunk_boundaries, decode_rows, RowContent};
use crate::store::{blob32, Ledger, LogAppender};
use crate::util::{hex, now_unix};

/// A snapshot as recorded in the ledger.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotInfo {
    pub id: i64,
    pub dataset: String,
    /// 1-based position among the dataset's snapshots (`NAME@N`).
    pub number: i64,
    pub parent: Option<i64>,
    pub kind: String,
    pub created_at: i64,
    pub identity: String,
    pub message: Option<String>,
    pub transformation: Option<Value>,
    pub file: Option<FileDigests>,
    pub row_count: u64,
    pub rows_root: String,
    pub provenance_digest: String,
    pub manifest_digest: String,
    pub event_seq: u64,
}

impl SnapshotInfo {
    /// `NAME@N`
    pub fn label(&self) -> String {
        format!("{}@{}", self.dataset, self.number)
    }

    /// A safe file-name stem for files named after this snapshot (see [`crate::names::file_stem`]).
    pub fn file_stem(&self) -> String {
        crate::names::file_stem(&self.dataset, self.number, self.id)
    }
}

/// Digests of a dataset file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDigests {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub blake3: String,
}

/// One row of the `rows` table.
#[derive(Debug, Clone)]
pub(crate) struct RowRecord {
    pub idx: i64,
    pub id: String,
    pub digest: Hash,
    pub source: String,
    pub origin: i64,
}

/// A row of a snapshot with its provenance.
#[derive(Debug, Clone)]
pub struct StoredRow {
    pub content: RowContent,
    pub digest: Hash,
    pub source: String,
    /// The snapshot that first recorded this exact row content.
    pub origin: i64,
}

/// How to record a file.
#[derive(Debug, Clone)]
pub struct AddOptions {
    pub dataset: String,
    /// The source recorded for every row (unless `read.columns.source` names a per-row column).
    pub source: String,
    pub message: Option<String>,
    /// The snapshot is exactly the file's rows instead of the parent's rows plus the file's.
    pub replace: bool,
    pub read: ReadOptions,
    /// Read the file as LLM data (prompts, chats, preference pairs) instead of text
    /// classification: every field of each row is kept (see [`crate::rows`]).
    pub llm: Option<bezoar_data::llm::LlmOptions>,
}

/// Row counts of a new snapshot relative to its parent.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Changes {
    pub added: u64,
    /// Rows whose id existed and whose content changed...
    pub updated: u64,
    /// ...of which this many got a different label (label changes are what label-flipping
    /// attacks look like, so they are counted on their own).
    pub relabelled: u64,
    pub unchanged: u64,
    pub removed: u64,
}

/// What `add` did.
#[derive(Debug, Clone, Serialize)]
pub struct AddSummary {
    pub snapshot: SnapshotInfo,
    pub changes: Changes,
    pub objects_written: u64,
    pub objects_reused: u64,
    pub bytes_written: u64,
    pub skipped_rows: u64,
    /// How the file's rows were read: `text-classification rows`, or an LLM shape and its
    /// fields (`preference rows (fields: prompt, chosen, rejected)`).
    pub rows_read_as: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AddOutcome {
    Created(AddSummary),
    /// Nothing new: the same file was recorded before, or the rows are identical to the head.
    Unchanged {
        existing: SnapshotInfo,
        reason: String,
    },
}

/// SHA-256 and BLAKE3 of a file, computed in parallel (BLAKE3 itself multi-threaded over a
/// memory map).
pub fn hash_file(path: &Path) -> Result<FileDigests> {
    let size = std::fs::metadata(path).map_err(io_err(path))?.len();
    let (sha, b3) = rayon::join(
        || -> Result<String> {
            let mut f = std::fs::File::open(path).map_err(io_err(path))?;
            let mut h = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = f.read(&mut buf).map_err(io_err(path))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            Ok(hex(&h.finalize()))
        },
        || -> Result<String> {
            let mut h = blake3::Hasher::new();
            h.update_mmap_rayon(path).map_err(io_err(path))?;
            Ok(h.finalize().to_hex().to_string())
        },
    );
    Ok(FileDigests {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        size,
        sha256: sha?,
        blake3: b3?,
    })
}

const SNAPSHOT_COLUMNS: &str = "s.id, d.name, s.parent_id, s.kind, s.created_at, s.identity, \
    s.message, s.transformation, s.file_name, s.file_size, s.file_sha256, s.file_blake3, \
    s.row_count, s.rows_root, s.provenance_digest, s.manifest_digest, s.event_seq, \
    (SELECT COUNT(*) FROM snapshots s2 WHERE s2.dataset_id = s.dataset_id AND s2.id <= s.id)";

fn snapshot_from_row(r: &rusqlite::Row) -> rusqlite::Result<SnapshotInfo> {
    let transformation: Option<String> = r.get(7)?;
    let file_name: Option<String> = r.get(8)?;
    let file = match file_name {
        Some(name) => Some(FileDigests {
            name,
            size: r.get::<_, Option<i64>>(9)?.unwrap_or(0) as u64,
            sha256: r.get::<_, Option<String>>(10)?.unwrap_or_default(),
            blake3: r.get::<_, Option<String>>(11)?.unwrap_or_default(),
        }),
        None => None,
    };
    Ok(SnapshotInfo {
        id: r.get(0)?,
        dataset: r.get(1)?,
        parent: r.get(2)?,
        kind: r.get(3)?,
        created_at: r.get(4)?,
        identity: r.get(5)?,
        message: r.get(6)?,
        transformation: transformation.and_then(|t| serde_json::from_str(&t).ok()),
        file,
        row_count: r.get::<_, i64>(12)? as u64,
        rows_root: r.get(13)?,
        provenance_digest: r.get(14)?,
        manifest_digest: r.get(15)?,
        event_seq: r.get::<_, i64>(16)? as u64,
        number: r.get(17)?,
    })
}

impl Ledger {
    /// Dataset names, sorted.
    pub fn datasets(&self) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT name FROM datasets ORDER BY name")?;
        let names = st.query_map([], |r| r.get(0))?;
        Ok(names.collect::<std::result::Result<_, _>>()?)
    }

    /// All snapshots, oldest first.
    pub fn snapshots(&self) -> Result<Vec<SnapshotInfo>> {
        let sql = format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM snapshots s JOIN datasets d ON d.id = s.dataset_id ORDER BY s.id"
        );
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map([], snapshot_from_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    pub fn snapshot_by_id(&self, id: i64) -> Result<Option<SnapshotInfo>> {
        let sql = format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM snapshots s JOIN datasets d ON d.id = s.dataset_id WHERE s.id = ?1"
        );
        Ok(self
            .conn
            .query_row(&sql, params![id], snapshot_from_row)
            .optional()?)
    }

    /// The latest snapshot of a dataset.
    pub fn head(&self, dataset: &str) -> Result<Option<SnapshotInfo>> {
        let sql = format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM snapshots s JOIN datasets d ON d.id = s.dataset_id \
             WHERE d.name = ?1 ORDER BY s.id DESC LIMIT 1"
        );
        Ok(self
            .conn
            .query_row(&sql, params![dataset], snapshot_from_row)
            .optional()?)
    }

    /// Resolve a snapshot reference: a dataset name (its latest snapshot), `NAME@N` (its N-th
    /// snapshot, 1-based) or a numeric snapshot id.
    pub fn resolve(&self, spec: &str) -> Result<SnapshotInfo> {
        let unknown = || -> Result<SnapshotInfo> {
            Err(LedgerError::UnknownSnapshot {
                wanted: spec.to_string(),
                datasets: self.datasets()?,
            })
        };
        if let Some(s) = self.head(spec)? {
            return Ok(s);
        }
        if let Some((name, n)) = spec.rsplit_once('@') {
            let Ok(n) = n.parse::<i64>() else {
                return unknown();
            };
            let found = self
                .snapshots()?
                .into_iter()
                .find(|s| s.dataset == name && s.number == n);
            return match found {
                Some(s) => Ok(s),
                None => unknown(),
            };
        }
        if let Ok(id) = spec.parse::<i64>() {
            if let Some(s) = self.snapshot_by_id(id)? {
                return Ok(s);
            }
        }
        unknown()
    }

    /// The object list of a snapshot: (object name, rows in it).
    pub fn chunks_of(&self, snapshot: i64) -> Result<Vec<(String, u64)>> {
        let mut st = self.conn.prepare(
            "SELECT object, row_count FROM snapshot_chunks WHERE snapshot_id = ?1 ORDER BY seq",
        )?;
        let rows = st.query_map(params![snapshot], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Uncompressed size of an object, as recorded.
    pub(crate) fn object_size(&self, name: &str) -> Result<Option<u64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT size FROM objects WHERE digest = ?1",
                params![name],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|n| n as u64))
    }

    /// The per-row records of a snapshot from the database, in order.
    pub(crate) fn row_records(&self, snapshot: i64) -> Result<Vec<RowRecord>> {
        let mut st = self.conn.prepare(
            "SELECT r.idx, r.row_id, r.digest, COALESCE(src.name, ''), r.origin_snapshot FROM rows r \
             LEFT JOIN sources src ON src.id = r.source_id WHERE r.snapshot_id = ?1 ORDER BY r.idx",
        )?;
        let rows = st.query_map(params![snapshot], |r| {
            Ok(RowRecord {
                idx: r.get(0)?,
                id: r
                    .get_ref(1)?
                    .as_bytes()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
                digest: blob32(
                    r.get_ref(2)?
                        .as_bytes()
                        .map(<[u8]>::to_vec)
                        .unwrap_or_default(),
                ),
                source: r
                    .get_ref(3)?
                    .as_bytes()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
                origin: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The distinct sources of a snapshot's rows (`""` for rows without one), sorted.
    pub(crate) fn snapshot_sources(&self, snapshot: i64) -> Result<Vec<String>> {
        let mut st = self.conn.prepare(
            "SELECT DISTINCT COALESCE(src.name, '') FROM rows r \
             LEFT JOIN sources src ON src.id = r.source_id WHERE r.snapshot_id = ?1",
        )?;
        let names = st.query_map(params![snapshot], |r| {
            Ok(r.get_ref(0)?
                .as_bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default())
        })?;
        let mut sources: Vec<String> = names.collect::<std::result::Result<_, _>>()?;
        // Sorted and deduplicated here, as decoded, so the order is Rust's whatever SQLite's.
        sources.sort();
        sources.dedup();
        Ok(sources)
    }

    /// Load a snapshot's rows from the object store, checking every object against its name and
    /// every row against its recorded digest (any mismatch is an error: run `verify`).
    pub fn load_rows(&self, snap: &SnapshotInfo) -> Result<Vec<StoredRow>> {
        let records = self.row_records(snap.id)?;
        let chunks = self.chunks_of(snap.id)?;
        let sizes = chunks
            .iter()
            .map(|(name, _)| {
                self.object_size(name)?.ok_or_else(|| {
                    LedgerError::Corrupt(format!("object {name} is not in the objects table"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let objects = &self.objects;
        let decoded: Vec<Vec<RowContent>> = chunks
            .par_iter()
            .zip(sizes.par_iter())
            .map(|((name, _), size)| {
                let bytes = objects.get_checked(name, *size as usize)?;
                let rows = decode_rows(&bytes)
                    .map_err(|e| LedgerError::Corrupt(format!("object {name}: {}", e.0)))?;
                Ok(rows.into_iter().map(|(r, _)| r).collect())
            })
            .collect::<Result<_>>()?;
        let contents: Vec<RowContent> = decoded.into_iter().flatten().collect();
        if contents.len() != records.len() || records.len() as u64 != snap.row_count {
            return Err(LedgerError::Corrupt(format!(
                "snapshot {} should have {} rows; the database lists {} and the objects hold {}",
                snap.label(),
                snap.row_count,
                records.len(),
                contents.len()
            )));
        }
        let digests: Vec<Hash> = contents.par_iter().map(|c| c.digest()).collect();
        contents
            .into_iter()
            .zip(digests)
            .zip(records)
            .enumerate()
            .map(|(i, ((content, digest), rec))| {
                let RowRecord {
                    idx,
                    id,
                    digest: recorded,
                    source,
                    origin,
                } = rec;
                if digest != recorded || content.id != id || idx != i as i64 {
                    return Err(LedgerError::Corrupt(format!(
                        "snapshot {}: row '{id}' does not match its recorded digest",
                        snap.label()
                    )));
                }
                Ok(StoredRow {
                    content,
                    digest,
                    source,
                    origin,
                })
            })
            .collect()
    }

    /// Record a dataset file as a new snapshot of `opts.dataset`, as the authenticated
    /// identity.
    pub fn add(&mut self, path: &Path, opts: &AddOptions) -> Result<AddOutcome> {
        self.add_inner(path, opts, None)
    }

    /// A signed upload: authenticate with a registered private key instead of a token (see
    /// [`Ledger::authenticate_key`]), and record in the snapshot event a signature by that key
    /// over the upload (dataset, source, file SHA-256), which anyone can check later against
    /// the key in the log.
    pub fn add_signed(
        &mut self,
        path: &Path,
        opts: &AddOptions,
        key: &crate::approval::ApprovalKey,
    ) -> Result<AddOutcome> {
        self.authenticate_key(key)?;
        self.add_inner(path, opts, Some(key))
    }

    fn add_inner(
        &mut self,
        path: &Path,
        opts: &AddOptions,
        key: Option<&crate::approval::ApprovalKey>,
    ) -> Result<AddOutcome> {
        check_name(NameKind::Dataset, &opts.dataset)?;
        if opts.read.columns.source.is_none() {
            check_name(NameKind::Source, &opts.source)?;
        }
        let file = hash_file(path)?;
        let parent = self.head(&opts.dataset)?;
        if let Some(head) = &parent {
            if !opts.replace {
                if let Some(prev) = self.snapshots()?.into_iter().find(|s| {
                    s.dataset == opts.dataset
                        && s.file.as_ref().is_some_and(|f| f.sha256 == file.sha256)
                }) {
                    return Ok(AddOutcome::Unchanged {
                        reason: format!(
                            "this file (sha256 {}) was already recorded as {}; nothing to add \
                             (to make it the whole dataset again, add it with --replace)",
                            &file.sha256[..16],
                            prev.label()
                        ),
                        existing: head.clone(),
                    });
                }
            }
        }
        let (file_rows, has_ids, skipped) = match &opts.llm {
            None => {
                let ds = bezoar_data::read_dataset(path, &opts.read)?;
                let rows = rows_of_dataset(path, &ds, &opts.source)?;
                (rows, ds.columns.id.is_some(), ds.skipped.count)
            }
            Some(llm_opts) => {
                if opts.read.columns.source.is_some() {
                    return Err(LedgerError::Invalid(
                        "a per-row source column is read from text-classification rows only; record LLM data under one --source".into(),
                    ));
                }
                let mut llm_opts = llm_opts.clone();
                llm_opts.keep_records = true;
                let llm = bezoar_data::llm::read_llm(path, &llm_opts)?;
                let rows = rows_of_llm(&llm, &opts.source);
                (rows, llm.fields.id.is_some(), llm.skipped.count)
            }
        };
        check_row_names(path, &file_rows, opts.read.columns.source.is_some())?;
        let read_as = row_kind(&file_rows).map(str::to_string);
        let parent_rows = match &parent {
            Some(p) => self.load_rows(p)?,
            None => Vec::new(),
        };
        check_same_kind(path, &opts.dataset, &parent_rows, &file_rows)?;
        if !has_ids && !opts.replace && !parent_rows.is_empty() {
            return Err(LedgerError::Invalid(format!(
                "{}: the rows have no id column, so their ids are row numbers that collide with the \
                 {} rows already in '{}'; pass --id COL for stable row ids, or --replace to record \
                 the file as the whole dataset",
                path.display(),
                parent_rows.len(),
                opts.dataset
            )));
        }
        self.authorize_add(&opts.dataset, &parent_rows, &file_rows, opts.replace)?;
        let (rows, changes) = merge(parent_rows, file_rows, opts.replace);
        if let Some(head) = &parent {
            let (root, prov) = roots(&rows);
            if hex(&root) == head.rows_root && hex(&prov) == head.provenance_digest {
                return Ok(AddOutcome::Unchanged {
                    reason: format!(
                        "the rows are identical to {} (same Merkle root); no new snapshot",
                        head.label()
                    ),
                    existing: head.clone(),
                });
            }
        }
        let expected_head = Some(parent.as_ref().map(|p| p.id));
        let file_sha = file.sha256.clone();
        let kind = if opts.replace { "replace" } else { "add" };
        let mut extra = json!({ "source": opts.source, "changes": changes });
        if let Some(k) = key {
            extra["upload_signature"] =
                crate::approval::sign_upload(k, &opts.dataset, &opts.source, &file_sha);
        }
        let new = NewSnapshot {
            dataset: &opts.dataset,
            parent: parent.as_ref(),
            kind,
            message: opts.message.clone(),
            transformation: None,
            file: Some(file),
            rows,
            extra,
            expected_head,
        };
        let (snapshot, written) = self.commit_snapshot(new)?;
        Ok(AddOutcome::Created(AddSummary {
            rows_read_as: kind_name(read_as.as_deref().unwrap_or("")),
            snapshot,
            changes,
            objects_written: written.objects_written,
            objects_reused: written.objects_reused,
            bytes_written: written.bytes_written,
            skipped_rows: skipped,
        }))
    }

    /// Derive a snapshot of `base` without the rows from `sources` or with the ids in `ids`.
    pub fn quarantine(
        &mut self,
        base: &SnapshotInfo,
        sources: &[String],
        ids: Option<(&Path, &HashSet<String>)>,
        message: Option<String>,
    ) -> Result<(SnapshotInfo, u64)> {
        self.authorize(&Action::RemoveRows {
            dataset: &base.dataset,
        })?;
        let rows = self.load_rows(base)?;
        let before = rows.len();
        let source_set: HashSet<&str> = sources.iter().map(String::as_str).collect();
        let present: BTreeSet<&str> = rows.iter().map(|r| r.source.as_str()).collect();
        for s in sources {
            if !present.contains(s.as_str()) {
                return Err(LedgerError::Invalid(format!(
                    "{} has no rows from source '{s}'; its sources are: {}",
                    base.label(),
                    present.iter().copied().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        let mut removed_ids: Vec<String> = Vec::new();
        let kept: Vec<StoredRow> = rows
            .into_iter()
            .filter(|r| {
                let drop = source_set.contains(r.source.as_str())
                    || ids.is_some_and(|(_, set)| set.contains(&r.content.id));
                if drop {
                    removed_ids.push(r.content.id.clone());
                }
                !drop
            })
            .collect();
        let removed = (before - kept.len()) as u64;
        if removed == 0 {
            return Err(LedgerError::Invalid(format!(
                "none of the listed rows are in {}; nothing to quarantine",
                base.label()
            )));
        }
        removed_ids.sort();
        let mut h = Sha256::new();
        for id in &removed_ids {
            h.update((id.len() as u32).to_be_bytes());
            h.update(id.as_bytes());
        }
        let rows_file = match ids {
            Some((p, _)) => {
                let d = hash_file(p)?;
                json!({ "name": d.name, "sha256": d.sha256 })
            }
            None => Value::Null,
        };
        let transformation = json!({
            "operation": "quarantine",
            "base": base.id,
            "sources": sources,
            "rows_file": rows_file,
            "removed": removed,
            "removed_ids_sha256": hex(&h.finalize()),
        });
        let changes = Changes {
            removed,
            unchanged: kept.len() as u64,
            ..Changes::default()
        };
        let new = NewSnapshot {
            dataset: &base.dataset,
            parent: Some(base),
            kind: "quarantine",
            message,
            transformation: Some(transformation),
            file: None,
            rows: kept,
            extra: json!({ "changes": changes }),
            expected_head: None,
        };
        let (snap, _) = self.commit_snapshot(new)?;
        Ok((snap, removed))
    }

    /// Write the objects, then record snapshot, rows, chunks and its event in one transaction.
    fn commit_snapshot(&mut self, mut new: NewSnapshot) -> Result<(SnapshotInfo, Written)> {
        let signer = self.signer()?;
        let digests: Vec<Hash> = new.rows.iter().map(|r| r.digest).collect();
        // Objects first: each is durable before the transaction that references it commits.
        let ends = chunk_boundaries(&digests);
        let mut ranges = Vec::with_capacity(ends.len());
        let mut start = 0;
        for &e in &ends {
            ranges.push(start..e);
            start = e;
        }
        let objects = &self.objects;
        let stored: Vec<(String, u64, u64, bool)> = ranges
            .par_iter()
            .map(|r| {
                let mut buf = Vec::new();
                for row in &new.rows[r.clone()] {
                    row.content.encode_into(&mut buf);
                }
                let (name, stored_size, fresh) = objects.put(&buf)?;
                Ok((name, buf.len() as u64, stored_size, fresh))
            })
            .collect::<Result<_>>()?;
        crate::util::sync_dir(&self.dir.join(crate::store::OBJECTS_DIR));
        let mut manifest = Sha256::new();
        for ((name, _, _, _), r) in stored.iter().zip(&ranges) {
            manifest.update(crate::util::hex_decode(name).unwrap_or_default());
            manifest.update((r.len() as u64).to_be_bytes());
        }
        let manifest = hex(&manifest.finalize());

        let now = now_unix();
        let identity = self.require_actor()?.name;
        // IMMEDIATE: take the write lock now, so the id chosen below stays ours.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if let Some(expected) = new.expected_head {
            let current: Option<i64> = tx.query_row(
                "SELECT MAX(s.id) FROM snapshots s JOIN datasets d ON d.id = s.dataset_id WHERE d.name = ?1",
                params![new.dataset],
                |r| r.get(0),
            )?;
            if current != expected {
                return Err(LedgerError::Invalid(format!(
                    "dataset '{}' changed while this add was running (another writer recorded a snapshot); run the add again",
                    new.dataset
                )));
            }
        }
        let dataset_id = dataset_id(&tx, new.dataset)?;
        let snap_id: i64 =
            tx.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM snapshots", [], |r| {
                r.get(0)
            })?;
        // Rows first recorded by this snapshot (origin 0 in memory) now get its id.
        for r in new.rows.iter_mut().filter(|r| r.origin == 0) {
            r.origin = snap_id;
        }
        let (root, prov) = roots(&new.rows);
        let mut log = LogAppender::load(&tx)?;
        let event_seq = log.next_seq();
        let info = SnapshotInfo {
            id: snap_id,
            dataset: new.dataset.to_string(),
            number: 0,
            parent: new.parent.map(|p| p.id),
            kind: new.kind.to_string(),
            created_at: now,
            identity,
            message: new.message,
            transformation: new.transformation,
            file: new.file,
            row_count: new.rows.len() as u64,
            rows_root: hex(&root),
            provenance_digest: hex(&prov),
            manifest_digest: manifest,
            event_seq,
        };
        tx.execute(
            "INSERT INTO snapshots(id, dataset_id, parent_id, kind, created_at, identity, message, \
             transformation, file_name, file_size, file_sha256, file_blake3, row_count, rows_root, \
             provenance_digest, manifest_digest, event_seq) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            params![
                info.id,
                dataset_id,
                info.parent,
                info.kind,
                info.created_at,
                info.identity,
                info.message,
                info.transformation.as_ref().map(|t| t.to_string()),
                info.file.as_ref().map(|f| f.name.clone()),
                info.file.as_ref().map(|f| f.size as i64),
                info.file.as_ref().map(|f| f.sha256.clone()),
                info.file.as_ref().map(|f| f.blake3.clone()),
                info.row_count as i64,
                info.rows_root,
                info.provenance_digest,
                info.manifest_digest,
                info.event_seq as i64,
            ],
        )?;
        {
            let mut source_ids: HashMap<&str, i64> = HashMap::new();
            let mut get_src = tx.prepare("SELECT id FROM sources WHERE name = ?1")?;
            let mut put_src = tx.prepare("INSERT INTO sources(name) VALUES (?1)")?;
            let mut put_row = tx.prepare(
                "INSERT INTO rows(snapshot_id, idx, row_id, digest, source_id, origin_snapshot) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (idx, row) in new.rows.iter().enumerate() {
                let src = match source_ids.get(row.source.as_str()) {
                    Some(&id) => id,
                    None => {
                        let id = match get_src
                            .query_row(params![row.source], |r| r.get::<_, i64>(0))
                            .optional()?
                        {
                            Some(id) => id,
                            None => {
                                put_src.execute(params![row.source])?;
                                tx.last_insert_rowid()
                            }
                        };
                        source_ids.insert(&row.source, id);
                        id
                    }
                };
                put_row.execute(params![
                    snap_id,
                    idx as i64,
                    row.content.id,
                    &row.digest[..],
                    src,
                    row.origin
                ])?;
            }
            let mut put_chunk = tx.prepare(
                "INSERT INTO snapshot_chunks(snapshot_id, seq, object, row_count) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut put_obj = tx.prepare(
                "INSERT OR IGNORE INTO objects(digest, size, stored_size) VALUES (?1, ?2, ?3)",
            )?;
            for (seq, ((name, size, stored_size, _), r)) in stored.iter().zip(&ranges).enumerate() {
                put_chunk.execute(params![snap_id, seq as i64, name, r.len() as i64])?;
                put_obj.execute(params![name, *size as i64, *stored_size as i64])?;
            }
        }
        let mut body = snapshot_event_fields(&info);
        if let (Value::Object(b), Value::Object(extra)) = (&mut body, new.extra) {
            b.extend(extra);
        }
        log.append(&tx, "snapshot", now, body)?;
        log.checkpoint(&tx, &signer)?;
        if std::env::var_os("BEZOAR_TEST_CRASH_BEFORE_COMMIT").is_some() {
            // Test hook for the crash test: die with everything written but not committed.
            std::process::abort();
        }
        tx.commit()?;
        let written = Written {
            objects_written: stored.iter().filter(|s| s.3).count() as u64,
            objects_reused: stored.iter().filter(|s| !s.3).count() as u64,
            bytes_written: stored.iter().filter(|s| s.3).map(|s| s.2).sum(),
        };
        let info = self.snapshot_by_id(snap_id)?.unwrap_or(info);
        Ok((info, written))
    }
}

impl Ledger {
    /// The rights an `add` needs, row by row, checked against the identity's grants:
    /// - a new id, or an existing id whose text changes: contributor for the row's source;
    /// - an existing id whose text is unchanged and whose label changes: labeler (or
    ///   contributor) for the row's source — "changing labels" means exactly this;
    /// - an identical row: nothing (re-sending unchanged rows is harmless);
    /// - with `--replace`, parent rows missing from the file are removals: dataset admin.
    ///
    /// The row's source is the one it is written under (`--source`, or its `--source-column`
    /// value), so a contributor can only write under the sources it was granted.
    fn authorize_add(
        &self,
        dataset: &str,
        parent: &[StoredRow],
        file: &[StoredRow],
        replace: bool,
    ) -> Result<()> {
        self.require_actor()?;
        let index: HashMap<&str, &StoredRow> =
            parent.iter().map(|r| (r.content.id.as_str(), r)).collect();
        let classes: HashSet<&str> = parent.iter().map(|r| r.content.label.as_str()).collect();
        // Least privilege: new rows need the right to write as their source; changed rows also
        // need rights over the source they currently come from, so a vendor cannot rewrite (and
        // take over) another source's rows; a relabel must stay within the existing classes
        // unless the writer may rewrite those rows outright.
        let mut adds: BTreeSet<&str> = BTreeSet::new();
        let mut updates: BTreeSet<&str> = BTreeSet::new();
        let mut relabels: BTreeSet<&str> = BTreeSet::new();
        let mut new_classes: BTreeSet<(&str, &str)> = BTreeSet::new();
        for row in file {
            match index.get(row.content.id.as_str()) {
                Some(old) if old.digest == row.digest => {}
                Some(old) if row.content.is_relabel_of(&old.content) => {
                    relabels.insert(&old.source);
                    if row.content.record.is_none() && !classes.contains(row.content.label.as_str())
                    {
                        new_classes.insert((&old.source, &row.content.label));
                    }
                }
                Some(old) => {
                    adds.insert(&row.source);
                    updates.insert(&old.source);
                }
                None => {
                    adds.insert(&row.source);
                }
            }
        }
        for source in adds {
            self.authorize(&Action::AddRows { dataset, source })?;
        }
        for current_source in updates {
            self.authorize(&Action::UpdateRows {
                dataset,
                current_source,
            })?;
        }
        for source in relabels {
            self.authorize(&Action::Relabel { dataset, source })?;
        }
        for (current_source, label) in new_classes {
            self.authorize(&Action::UpdateRows {
                dataset,
                current_source,
            })
            .map_err(|e| {
                LedgerError::Invalid(format!(
                    "relabelling rows to '{}', a class '{dataset}' does not have, needs the right to rewrite those rows (labelers relabel only to existing classes): {e}",
                    bezoar_data::display::escape_invisible(label)
                ))
            })?;
        }
        if replace {
            let in_file: HashSet<&str> = file.iter().map(|r| r.content.id.as_str()).collect();
            if parent
                .iter()
                .any(|r| !in_file.contains(r.content.id.as_str()))
            {
                self.authorize(&Action::RemoveRows { dataset })?;
            }
        }
        Ok(())
    }
}

struct NewSnapshot<'a> {
    dataset: &'a str,
    parent: Option<&'a SnapshotInfo>,
    kind: &'a str,
    message: Option<String>,
    transformation: Option<Value>,
    file: Option<FileDigests>,
    rows: Vec<StoredRow>,
    /// Extra event fields (not mirrored in the snapshots table).
    extra: Value,
    /// For `add`: the dataset head the rows were merged onto. If another writer recorded a
    /// snapshot in the meantime, committing would silently drop its rows, so we refuse.
    expected_head: Option<Option<i64>>,
}

struct Written {
    objects_written: u64,
    objects_reused: u64,
    bytes_written: u64,
}

/// The event fields that mirror a snapshots-table row; `verify` compares the two.
pub(crate) fn snapshot_event_fields(s: &SnapshotInfo) -> Value {
    json!({
        "dataset": s.dataset,
        "snapshot": s.id,
        "parent": s.parent,
        "kind": s.kind,
        "identity": s.identity,
        "message": s.message,
        "transformation": s.transformation,
        "file": s.file,
        "rows": s.row_count,
        "rows_root": s.rows_root,
        "provenance": s.provenance_digest,
        "manifest": s.manifest_digest,
    })
}

fn dataset_id(tx: &Transaction, name: &str) -> Result<i64> {
    if let Some(id) = tx
        .query_row(
            "SELECT id FROM datasets WHERE name = ?1",
            params![name],
            |r| r.get(0),
        )
        .optional()?
    {
        return Ok(id);
    }
    tx.execute("INSERT INTO datasets(name) VALUES (?1)", params![name])?;
    Ok(tx.last_insert_rowid())
}

/// The rows Merkle root and the provenance digest of a row list.
///
/// Provenance digest = SHA-256 over, per row in order, `u32 BE length ‖ source ‖ i64 BE origin`
/// (origin 0 meaning "this snapshot").
pub(crate) fn roots(rows: &[StoredRow]) -> (Hash, Hash) {
    let digests: Vec<Hash> = rows.iter().map(|r| r.digest).collect();
    (
        merkle::root(&digests),
        provenance_digest(rows.iter().map(|r| (r.source.as_str(), r.origin))),
    )
}

pub(crate) fn provenance_digest<'a>(rows: impl Iterator<Item = (&'a str, i64)>) -> Hash {
    let mut h = Sha256::new();
    for (source, origin) in rows {
        h.update((source.len() as u32).to_be_bytes());
        h.update(source.as_bytes());
        h.update(origin.to_be_bytes());
    }
    h.finalize().into()
}

/// The rows of a file as ledger rows (origin 0: new), with duplicate ids rejected.
pub fn rows_of_dataset(path: &Path, ds: &Dataset, default_source: &str) -> Result<Vec<StoredRow>> {
    let n = ds.len();
    let mut seen: HashSet<&str> = HashSet::with_capacity(n);
    if let bezoar_data::RowIds::Column(arena) = &ds.ids {
        for id in arena.iter() {
            if !seen.insert(id) {
                return Err(LedgerError::DuplicateId {
                    file: PathBuf::from(path),
                    id: id.to_string(),
                });
            }
        }
    }
    let rows: Vec<StoredRow> = (0..n)
        .into_par_iter()
        .map(|i| {
            let content = RowContent::classification(
                ds.ids.get(i).into_owned(),
                ds.texts.get(i).to_string(),
                ds.labels.name_of(i).to_string(),
            );
            let digest = content.digest();
            let source = match &ds.sources {
                Some(s) => s.name_of(i).to_string(),
                None => default_source.to_string(),
            };
            StoredRow {
                content,
                digest,
                source,
                origin: 0,
            }
        })
        .collect();
    Ok(rows)
}

/// The rows of an LLM data file read with `keep_records` as ledger rows (origin 0: new). Ids
/// are the id column's values or row numbers; the reader has already refused duplicate ids.
pub fn rows_of_llm(llm: &bezoar_data::llm::LlmDataset, source: &str) -> Vec<StoredRow> {
    let layout = bezoar_data::llm::layout_json(llm.shape, &llm.fields);
    let Some(records) = &llm.records else {
        return Vec::new();
    };
    (0..llm.rows())
        .into_par_iter()
        .map(|i| {
            let content = RowContent::llm(
                llm.ids.get(i).into_owned(),
                llm.shape.name(),
                layout.clone(),
                records.get(i).to_string(),
            );
            StoredRow {
                digest: content.digest(),
                content,
                source: source.to_string(),
                origin: 0,
            }
        })
        .collect()
}

/// The RFC 6962 root over the rows of an LLM data file read with `keep_records`, exactly as a
/// snapshot of the same rows records it in `rows_root`.
pub fn rows_root_of_llm(llm: &bezoar_data::llm::LlmDataset) -> String {
    let Some(records) = &llm.records else {
        return hex(&merkle::root(&[]));
    };
    let layout = bezoar_data::llm::layout_json(llm.shape, &llm.fields);
    let digests: Vec<Hash> = (0..llm.rows())
        .into_par_iter()
        .map_init(Vec::new, |buf, i| {
            buf.clear();
            crate::rows::encode_llm_fields(&llm.ids.get(i), &layout, records.get(i), buf);
            merkle::leaf_hash(buf)
        })
        .collect();
    hex(&merkle::root(&digests))
}

/// What a dataset's rows are: text classification, or LLM rows read under one layout. A
/// dataset holds one kind, so every snapshot can be checked out, scanned and diffed as a whole.
fn row_kind(rows: &[StoredRow]) -> Option<&str> {
    rows.first().map(|r| {
        r.content
            .record
            .as_ref()
            .map_or("", |rec| rec.layout.as_str())
    })
}

fn kind_name(layout: &str) -> String {
    match bezoar_data::llm::parse_layout(layout) {
        None => "text-classification rows".into(),
        Some((shape, fields)) => format!(
            "{} rows (fields: {})",
            shape.name(),
            fields.names().join(", ")
        ),
    }
}

fn check_same_kind(
    path: &Path,
    dataset: &str,
    parent: &[StoredRow],
    file: &[StoredRow],
) -> Result<()> {
    let (Some(old), Some(new)) = (row_kind(parent), row_kind(file)) else {
        return Ok(());
    };
    if old == new {
        return Ok(());
    }
    Err(LedgerError::Invalid(format!(
        "{}: these are {}, but '{dataset}' holds {}; a dataset holds one kind of rows read one way \
         (record these under another dataset name, or read them with the same shape and column flags)",
        path.display(),
        kind_name(new),
        kind_name(old)
    )))
}

/// Row ids within their limits, and per-row sources (read from the file's source column) that
/// follow the name grammar: a source name from a data file is as hostile as one from a flag.
fn check_row_names(path: &Path, rows: &[StoredRow], per_row_sources: bool) -> Result<()> {
    let mut checked: HashSet<&str> = HashSet::new();
    for (i, r) in rows.iter().enumerate() {
        let at = || format!("{}: row {}", path.display(), i + 1);
        if let Some(p) = row_id_problem(&r.content.id) {
            return Err(LedgerError::Invalid(format!("{}: {p}", at())));
        }
        if per_row_sources && checked.insert(r.source.as_str()) {
            check_name(NameKind::Source, &r.source).map_err(|e| {
                LedgerError::Invalid(format!(
                    "{} (id '{}'): {e}",
                    at(),
                    bezoar_data::display::escape_invisible(&r.content.id)
                ))
            })?;
        }
    }
    Ok(())
}

/// A label-only change (same text, or a preference pair swapped) keeps the row's source: the
/// label changed, not where the row came from, so the source's own contributor still owns it
/// and a labeler cannot take rows over by relabelling them.
fn keep_source_on_relabel(parent: &StoredRow, row: &mut StoredRow) {
    if row.content.is_relabel_of(&parent.content) {
        row.source.clone_from(&parent.source);
    }
}

/// Combine parent and file rows. Append mode: the parent's rows in order, a file row with an
/// existing id replacing that row in place (unless identical, which keeps the old provenance),
/// then the new ids in file order. Replace mode: exactly the file's rows, in file order, rows
/// identical to a parent row keeping their original provenance.
fn merge(parent: Vec<StoredRow>, file: Vec<StoredRow>, replace: bool) -> (Vec<StoredRow>, Changes) {
    let mut changes = Changes::default();
    let parent_index: HashMap<&str, usize> = parent
        .iter()
        .enumerate()
        .map(|(i, r)| (r.content.id.as_str(), i))
        .collect();
    if replace {
        let mut out = Vec::with_capacity(file.len());
        let mut matched = 0u64;
        for row in file {
            match parent_index.get(row.content.id.as_str()) {
                Some(&i) => {
                    matched += 1;
                    if parent[i].digest == row.digest {
                        changes.unchanged += 1;
                        out.push(parent[i].clone());
                    } else {
                        changes.updated += 1;
                        if row.content.label_changed_from(&parent[i].content) {
                            changes.relabelled += 1;
                        }
                        let mut row = row;
                        keep_source_on_relabel(&parent[i], &mut row);
                        out.push(row);
                    }
                }
                None => {
                    changes.added += 1;
                    out.push(row);
                }
            }
        }
        changes.removed = parent.len() as u64 - matched;
        return (out, changes);
    }
    let mut updates: HashMap<usize, StoredRow> = HashMap::new();
    let mut appended = Vec::new();
    for mut row in file {
        match parent_index.get(row.content.id.as_str()) {
            Some(&i) if parent[i].digest == row.digest => changes.unchanged += 1,
            Some(&i) => {
                changes.updated += 1;
                if row.content.label_changed_from(&parent[i].content) {
                    changes.relabelled += 1;
                }
                keep_source_on_relabel(&parent[i], &mut row);
                updates.insert(i, row);
            }
            None => {
                changes.added += 1;
                appended.push(row);
            }
        }
    }
    drop(parent_index);
    let mut out: Vec<StoredRow> = parent
        .into_iter()
        .enumerate()
        .map(|(i, r)| updates.remove(&i).unwrap_or(r))
        .collect();
    out.extend(appended);
    (out, changes)
}

/// Where one row came from, in one snapshot that contains it.
#[derive(Debug, Clone, Serialize)]
pub struct RowProvenance {
    pub snapshot: SnapshotInfo,
    pub row_digest: String,
    pub source: String,
    /// The snapshot that first recorded this exact content: its identity, time, file and
    /// transformation are the row's provenance.
    pub origin: SnapshotInfo,
}

impl Ledger {
    /// Every snapshot (of `dataset`, or of all datasets) that contains row `id`, oldest first,
    /// with the row's digest, source and origin.
    pub fn row_history(&self, id: &str, dataset: Option<&str>) -> Result<Vec<RowProvenance>> {
        let mut st = self.conn.prepare(
            "SELECT r.snapshot_id, r.digest, COALESCE(src.name, ''), r.origin_snapshot FROM rows r \
             LEFT JOIN sources src ON src.id = r.source_id WHERE r.row_id = ?1 ORDER BY r.snapshot_id",
        )?;
        let hits = st
            .query_map(params![id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    blob32(r.get::<_, Vec<u8>>(1)?),
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut out = Vec::new();
        for (snap, digest, source, origin) in hits {
            let (Some(snapshot), Some(origin)) =
                (self.snapshot_by_id(snap)?, self.snapshot_by_id(origin)?)
            else {
                continue;
            };
            if dataset.is_some_and(|d| d != snapshot.dataset) {
                continue;
            }
            out.push(RowProvenance {
                snapshot,
                row_digest: hex(&digest),
                source,
                origin,
            });
        }
        Ok(out)
    }
}

/// Version of the `scan` event body. Version 2 binds a scan to the rows it read (their Merkle
/// root); scans recorded before (bound only to a file's digest) never count for the gate.
pub const SCAN_EVENT_FORMAT: u64 = 2;

/// The RFC 6962 root over the canonical row digests of `ds` (id, text, label; sources are
/// provenance, not content), exactly as a snapshot of the same rows records it in `rows_root`.
pub fn rows_root_of_dataset(ds: &Dataset) -> String {
    let digests: Vec<Hash> = (0..ds.len())
        .into_par_iter()
        .map_init(Vec::new, |buf, i| {
            buf.clear();
            crate::rows::encode_fields(&ds.ids.get(i), ds.texts.get(i), ds.labels.name_of(i), buf);
            merkle::leaf_hash(buf)
        })
        .collect();
    hex(&merkle::root(&digests))
}

/// A snapshot's rows, as the scan reads them.
pub enum SnapshotRows {
    Classification(Dataset),
    Llm(bezoar_data::llm::LlmDataset),
}

/// Text-classification rows as a [`Dataset`], each with its source.
fn dataset_of_rows(origin: &Path, rows: &[StoredRow]) -> Result<Dataset> {
    bezoar_data::dataset_from_rows(
        origin,
        rows.iter().map(|r| bezoar_data::MemoryRow {
            id: &r.content.id,
            text: &r.content.text,
            label: &r.content.label,
            source: if r.source.is_empty() {
                "(none)"
            } else {
                &r.source
            },
        }),
    )
    .map_err(LedgerError::from)
}

impl Ledger {
    /// A snapshot's rows as a [`Dataset`] to scan, with each row's source; rows are checked
    /// against their recorded digests on the way (see [`Ledger::load_rows`]).
    pub fn snapshot_dataset(&self, snap: &SnapshotInfo) -> Result<Dataset> {
        let rows = self.load_rows(snap)?;
        let origin = PathBuf::from(snap.label());
        if let Some(layout) = row_kind(&rows).filter(|k| !k.is_empty()) {
            return Err(LedgerError::Invalid(format!(
                "{} holds {}, not text-classification rows",
                snap.label(),
                kind_name(layout)
            )));
        }
        dataset_of_rows(&origin, &rows)
    }

    /// A snapshot's rows to scan, of whichever kind it holds: text classification (as
    /// [`Ledger::snapshot_dataset`]) or LLM data read back as recorded (same shape and fields,
    /// each row's recorded id). Rows are checked against their digests on the way.
    pub fn snapshot_rows(&self, snap: &SnapshotInfo) -> Result<SnapshotRows> {
        let rows = self.load_rows(snap)?;
        let origin = PathBuf::from(snap.label());
        let Some(layout) = row_kind(&rows).filter(|k| !k.is_empty()) else {
            return Ok(SnapshotRows::Classification(dataset_of_rows(
                &origin, &rows,
            )?));
        };
        let records = rows.iter().filter_map(|r| {
            r.content
                .record
                .as_ref()
                .map(|rec| (r.content.id.as_str(), rec.json.as_str()))
        });
        Ok(SnapshotRows::Llm(bezoar_data::llm::read_llm_records(
            &origin, layout, records,
        )?))
    }

    /// Record the outcome of a scan in the log, bound to the rows it read: `rows_root` is their
    /// Merkle root ([`rows_root_of_dataset`], or the snapshot's own root when the scan read a
    /// snapshot), and the scan counts for exactly the snapshots with that root — a scan of a
    /// file that is only part of a snapshot covers none. `input` names what was read (a path or
    /// `NAME@N`); `summary` holds the scan's own fields (counts, severities, findings, tool).
    pub fn record_scan(
        &mut self,
        input: &str,
        rows_root: &str,
        rows: u64,
        summary: Value,
    ) -> Result<(u64, Vec<SnapshotInfo>)> {
        let snaps: Vec<SnapshotInfo> = self
            .snapshots()?
            .into_iter()
            .filter(|s| s.rows_root == rows_root)
            .collect();
        let mut datasets: Vec<&str> = snaps.iter().map(|s| s.dataset.as_str()).collect();
        datasets.sort_unstable();
        datasets.dedup();
        let mut body = json!({
            "scan_format": SCAN_EVENT_FORMAT,
            "input": input,
            "rows": rows,
            "rows_root": rows_root,
            "snapshots": snaps.iter().map(|s| s.id).collect::<Vec<_>>(),
            "datasets": datasets,
        });
        if let (Value::Object(b), Value::Object(extra)) = (&mut body, summary) {
            for (k, v) in extra {
                b.entry(k).or_insert(v);
            }
        }
        let seq = self.record_event("scan", body)?;
        Ok((seq, snaps))
    }
}

/// Object-store access for other modules.
impl Ledger {
    pub(crate) fn objects(&self) -> &ObjectStore {
        &self.objects
    }
}

/// Write rows to `out` in the format its extension names: JSONL (`.jsonl`, `.ndjson`,
/// `.json`: `{"id","text","label","source"}` per line), CSV (`.csv`, header
/// `id,text,label,source`) or Parquet (`.parquet`, `.pq`: four string columns). The values are
/// written exactly (a checkout is data to re-add, so CSV cells are not formula-escaped). Written
/// to a temp file and renamed, so a failed checkout never leaves a half-written file at `out`.
/// LLM rows are written as JSONL only: each line is the row's canonical JSON, every field as
/// recorded.
pub fn write_rows(rows: &[StoredRow], out: &Path) -> Result<()> {
    let format = bezoar_data::InputFormat::from_path(out).ok_or_else(|| {
        LedgerError::Invalid(format!(
            "{}: cannot tell the format from the extension; use .jsonl, .csv or .parquet",
            out.display()
        ))
    })?;
    let mut buf: Vec<u8> = Vec::new();
    if let Some(layout) = row_kind(rows).filter(|k| !k.is_empty()) {
        // LLM rows are nested JSON (messages, content parts, tool calls): JSONL keeps them
        // exactly, field for field, as they were recorded.
        if format != bezoar_data::InputFormat::Jsonl {
            return Err(LedgerError::Invalid(format!(
                "{}: these are {}, which are written as JSONL only (every field kept as recorded); use a .jsonl name",
                out.display(),
                kind_name(layout)
            )));
        }
        for r in rows {
            if let Some(rec) = &r.content.record {
                buf.extend_from_slice(rec.json.as_bytes());
                buf.push(b'\n');
            }
        }
        return write_out(&buf, out);
    }
    match format {
        bezoar_data::InputFormat::Csv | bezoar_data::InputFormat::Tsv => {
            let delimiter = if format == bezoar_data::InputFormat::Csv {
                b','
            } else {
                b'\t'
            };
            let mut w = csv::WriterBuilder::new()
                .delimiter(delimiter)
                .from_writer(&mut buf);
            let to_err = |e: csv::Error| LedgerError::Invalid(format!("{}: {e}", out.display()));
            w.write_record(["id", "text", "label", "source"])
                .map_err(to_err)?;
            for r in rows {
                w.write_record([&r.content.id, &r.content.text, &r.content.label, &r.source])
                    .map_err(to_err)?;
            }
            w.flush().map_err(io_err(out))?;
        }
        bezoar_data::InputFormat::Parquet => {
            let id = |i: usize| rows[i].content.id.clone();
            let text = |i: usize| rows[i].content.text.clone();
            let label = |i: usize| rows[i].content.label.clone();
            let source = |i: usize| rows[i].source.clone();
            bezoar_data::write_parquet_strings(
                &mut buf,
                rows.len(),
                &[
                    ("id", &id),
                    ("text", &text),
                    ("label", &label),
                    ("source", &source),
                ],
            )
            .map_err(|e| LedgerError::Invalid(format!("{}: {e}", out.display())))?;
        }
        bezoar_data::InputFormat::Jsonl => {
            #[derive(Serialize)]
            struct Line<'a> {
                id: &'a str,
                text: &'a str,
                label: &'a str,
                source: &'a str,
            }
            for r in rows {
                serde_json::to_writer(
                    &mut buf,
                    &Line {
                        id: &r.content.id,
                        text: &r.content.text,
                        label: &r.content.label,
                        source: &r.source,
                    },
                )
                .expect("JSON encoding");
                buf.push(b'\n');
            }
        }
    }
    write_out(&buf, out)
}

/// Write a checkout's bytes durably (temp file, fsync, rename).
fn write_out(buf: &[u8], out: &Path) -> Result<()> {
    use std::io::Write as _;
    let out_abs = if out.is_absolute() {
        out.to_path_buf()
    } else {
        std::env::current_dir().map_err(io_err(out))?.join(out)
    };
    crate::util::write_durable(&out_abs, buf, None).map_err(io_err(out))?;
    let _ = std::io::stdout().flush();
    Ok(())
}

/// Row ids to quarantine, from a file: either one id per line, or a CSV with a header that has
/// an `id` column — such as the scores CSV of `bezoar scan`, where only rows with
/// `flagged=true` are taken when a `flagged` column exists.
pub fn read_row_ids(path: &Path) -> Result<HashSet<String>> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let first = text.lines().next().unwrap_or("");
    let header: Vec<&str> = first.split(',').map(str::trim).collect();
    let mut ids = HashSet::new();
    if first.contains(',') && header.contains(&"id") {
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let hdr = r
            .headers()
            .map_err(|e| LedgerError::Invalid(format!("{}: {e}", path.display())))?
            .clone();
        let id_col = hdr.iter().position(|h| h == "id").unwrap_or(0);
        let flagged = hdr.iter().position(|h| h == "flagged");
        for rec in r.records() {
            let rec = rec.map_err(|e| LedgerError::Invalid(format!("{}: {e}", path.display())))?;
            if let Some(f) = flagged {
                if rec.get(f).map(str::trim) != Some("true") {
                    continue;
                }
            }
            if let Some(id) = rec.get(id_col) {
                ids.insert(bezoar_data::display::restore_csv_cell(id).to_string());
            }
        }
    } else {
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if line == "id" && ids.is_empty() {
                continue; // a one-column file with a header
            }
            ids.insert(line.to_string());
        }
    }
    if ids.is_empty() {
        return Err(LedgerError::Invalid(format!(
            "{}: no row ids found (expected one id per line, or a CSV with an id column)",
            path.display()
        )));
    }
    Ok(ids)
}
