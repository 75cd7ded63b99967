//! The SQLite schema and its migrations (a `PRAGMA user_version` counter: migration i brings the
//! schema from version i to i + 1, all inside one transaction).

use rusqlite::Connection;

use crate::error::{LedgerError, Result};

const MIGRATIONS: &[&str] = &[
    // Version 1.
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE datasets (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
-- One row per snapshot. Every column is also in the snapshot's event body, so an edit here is
-- caught by comparing with the (hash-protected) event log.
CREATE TABLE snapshots (
    id                INTEGER PRIMARY KEY,
    dataset_id        INTEGER NOT NULL REFERENCES datasets(id),
    parent_id         INTEGER REFERENCES snapshots(id),
    kind              TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    identity          TEXT NOT NULL,
    message           TEXT,
    transformation    TEXT,
    file_name         TEXT,
    file_size         INTEGER,
    file_sha256       TEXT,
    file_blake3       TEXT,
    row_count         INTEGER NOT NULL,
    rows_root         TEXT NOT NULL,
    provenance_digest TEXT NOT NULL,
    manifest_digest   TEXT NOT NULL,
    event_seq         INTEGER NOT NULL
);
CREATE INDEX snapshots_by_dataset ON snapshots(dataset_id, id);
CREATE INDEX snapshots_by_file ON snapshots(file_sha256);
CREATE TABLE sources (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
-- The rows of each snapshot in order, with per-row provenance: the source and the snapshot
-- that first recorded the row (whose event names identity, time, parent and transformation).
CREATE TABLE rows (
    snapshot_id     INTEGER NOT NULL,
    idx             INTEGER NOT NULL,
    row_id          TEXT NOT NULL,
    digest          BLOB NOT NULL,
    source_id       INTEGER NOT NULL,
    origin_snapshot INTEGER NOT NULL,
    PRIMARY KEY (snapshot_id, idx)
) WITHOUT ROWID;
-- Compressed row chunks in .bezoar/objects, named by the SHA-256 of their uncompressed bytes.
CREATE TABLE objects (
    digest      TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    stored_size INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE snapshot_chunks (
    snapshot_id INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    object      TEXT NOT NULL,
    row_count   INTEGER NOT NULL,
    PRIMARY KEY (snapshot_id, seq)
) WITHOUT ROWID;
-- The append-only event log. `body` holds the canonical event bytes (the Merkle leaf data);
-- `root` is the RFC 6962 root of the log after this event (a tree-head chain).
CREATE TABLE events (
    seq       INTEGER PRIMARY KEY,
    kind      TEXT NOT NULL,
    time      INTEGER NOT NULL,
    body      BLOB NOT NULL,
    leaf_hash BLOB NOT NULL,
    root      BLOB NOT NULL
);
-- Signed checkpoints (C2SP signed notes), one per write transaction.
CREATE TABLE checkpoints (
    tree_size INTEGER PRIMARY KEY,
    note      TEXT NOT NULL
);
"#,
    // Version 2: identities, credentials, grants, approvals, gate decisions (issue #5). Every
    // change to these tables is also an event in the log, appended in the same transaction.
    r#"
CREATE TABLE identities (
    id               INTEGER PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    created_by       TEXT,
    expires_at       INTEGER,
    revoked_at       INTEGER,
    -- The token's public lookup id (part of the token text) and its salted hash; the token
    -- itself is never stored.
    token_id         TEXT UNIQUE,
    token_salt       BLOB,
    token_hash       BLOB,
    token_created_at INTEGER,
    last_used_at     INTEGER
);
-- Public keys for signed approvals; key ids follow securesystemslib (see FORMATS.md).
CREATE TABLE identity_keys (
    keyid       TEXT PRIMARY KEY,
    identity_id INTEGER NOT NULL REFERENCES identities(id),
    algorithm   TEXT NOT NULL,
    public_pem  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE TABLE grants (
    id           INTEGER PRIMARY KEY,
    identity_id  INTEGER NOT NULL REFERENCES identities(id),
    dataset      TEXT NOT NULL,
    role         TEXT NOT NULL,
    source       TEXT,
    created_at   INTEGER NOT NULL,
    created_by   TEXT,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX grants_by_identity ON grants(identity_id);
-- One DSSE envelope per snapshot, carrying every approver's signature.
CREATE TABLE approval_envelopes (
    snapshot_id INTEGER PRIMARY KEY REFERENCES snapshots(id),
    envelope    TEXT NOT NULL
);
CREATE TABLE gate_results (
    id          INTEGER PRIMARY KEY,
    snapshot_id INTEGER NOT NULL,
    passed      INTEGER NOT NULL,
    time        INTEGER NOT NULL,
    event_seq   INTEGER NOT NULL
);
"#,
];

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Bring the database up to [`SCHEMA_VERSION`].
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(LedgerError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
