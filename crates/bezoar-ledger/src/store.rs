//! Opening and creating the ledger, and appending to its event log.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::{json, Value};

use crate::checkpoint::Checkpoint;
use crate::error::{io_err, LedgerError, Result};
use crate::keys::{LogSigner, LogVerifier};
use crate::merkle::{leaf_hash, CompactTree, Hash};
use crate::objects::ObjectStore;
use crate::schema;
use crate::util::{hex, now_unix, random_bytes};

/// The ledger directory inside the working directory.
pub const LEDGER_DIR: &str = ".bezoar";
pub const DB_FILE: &str = "ledger.db";
pub const LOG_KEY_FILE: &str = "log.key";
pub const LOG_PUB_FILE: &str = "log.pub";
pub const OBJECTS_DIR: &str = "objects";

/// An open ledger.
pub struct Ledger {
    pub(crate) dir: PathBuf,
    pub(crate) conn: Connection,
    pub(crate) objects: ObjectStore,
    pub(crate) verifier: LogVerifier,
    /// The identity writes are attributed to (after `authenticate`, or the admin after `init`).
    pub(crate) actor: Option<crate::auth::Actor>,
    /// A token issued by this handle, to be shown once (see `take_issued_token`).
    pub(crate) issued_token: Option<String>,
}

/// One entry of the event log.
#[derive(Debug, Clone)]
pub struct Event {
    pub seq: u64,
    pub kind: String,
    pub time: i64,
    /// The canonical bytes, as hashed into the log.
    pub body: Vec<u8>,
    pub leaf_hash: Hash,
    /// The stored tree root after this event.
    pub root: Hash,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    // WAL: readers never block the writer and a crash mid-transaction leaves the last committed
    // state; synchronous=FULL makes a commit durable once `add` reports success.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

impl Ledger {
    /// Create `.bezoar/` in `workdir` with a first admin identity named `admin` (see
    /// [`Ledger::init_with_admin`]).
    pub fn init(workdir: &Path) -> Result<Ledger> {
        Self::init_with_admin(workdir, "admin")
    }

    /// Create `.bezoar/` in `workdir`: the database, the object store and the Ed25519 log key
    /// (0600), and record the log's first event (naming the key) with a signed checkpoint. The
    /// first identity, `admin_name` (human, admin on every dataset), is created in the same
    /// transaction; the returned handle acts as it and holds its token once
    /// ([`Ledger::take_issued_token`]).
    pub fn init_with_admin(workdir: &Path, admin_name: &str) -> Result<Ledger> {
        crate::names::check_name(crate::names::NameKind::Identity, admin_name)?;
        let final_dir = workdir.join(LEDGER_DIR);
        if final_dir.join(DB_FILE).exists() {
            return Err(LedgerError::AlreadyInitialized { dir: final_dir });
        }
        // Built in a private staging folder and renamed into place in one step, so two
        // concurrent `init`s cannot interleave: exactly one rename wins, the other finds a
        // finished ledger and says so (instead of overwriting its log key).
        let dir = workdir.join(format!(".bezoar.init-{}", hex(&random_bytes::<8>())));
        let staged = Self::create_in(&dir, admin_name);
        let (actor, token) = match staged {
            Ok(v) => v,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        if let Err(e) = std::fs::rename(&dir, &final_dir) {
            let _ = std::fs::remove_dir_all(&dir);
            if final_dir.join(DB_FILE).exists() {
                return Err(LedgerError::AlreadyInitialized { dir: final_dir });
            }
            return Err(LedgerError::Invalid(format!(
                "cannot create the ledger at {}: {e} (a folder of that name that is not a ledger is in the way; move it aside)",
                final_dir.display()
            )));
        }
        let mut ledger = Ledger::open(workdir)?;
        ledger.actor = Some(actor);
        ledger.issued_token = Some(token);
        Ok(ledger)
    }

    /// Create a complete ledger in `dir` (a fresh folder), closed again on return: the acting
    /// admin and its token.
    fn create_in(dir: &Path, admin_name: &str) -> Result<(crate::auth::Actor, String)> {
        std::fs::create_dir(dir).map_err(io_err(dir))?;
        let dir = dir.to_path_buf();
        std::fs::create_dir_all(dir.join(OBJECTS_DIR)).map_err(io_err(&dir))?;
        let origin = format!("bezoar.local/{}", hex(&random_bytes::<8>()));
        let signer = LogSigner::generate(&origin);
        signer.save(&dir.join(LOG_KEY_FILE))?;
        let vkey = signer.verifier();
        let pub_path = dir.join(LOG_PUB_FILE);
        crate::util::write_durable(&pub_path, vkey.to_text().as_bytes(), Some(0o644))
            .map_err(io_err(&pub_path))?;
        let mut conn = open_connection(&dir.join(DB_FILE))?;
        schema::migrate(&mut conn)?;
        let mut ledger = Ledger {
            objects: ObjectStore::new(dir.join(OBJECTS_DIR)),
            dir,
            conn,
            verifier: vkey.clone(),
            actor: None,
            issued_token: None,
        };
        let token = crate::auth::issue_token();
        let now = now_unix();
        let tx = ledger.conn.transaction()?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('origin', ?1)",
            params![origin],
        )?;
        let mut log = LogAppender::load(&tx)?;
        tx.execute(
            "INSERT INTO identities(name, kind, created_at, created_by, token_id, token_salt, token_hash, token_created_at) \
             VALUES (?1, 'human', ?2, NULL, ?3, ?4, ?5, ?2)",
            params![admin_name, now, token.token_id, token.salt.to_vec(), token.hash.to_vec()],
        )?;
        let admin_id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO grants(identity_id, dataset, role, source, created_at, created_by) VALUES (?1, '*', 'admin', NULL, ?2, NULL)",
            params![admin_id, now],
        )?;
        let grant_id = tx.last_insert_rowid();
        log.append(
            &tx,
            "init",
            now,
            json!({
                "origin": origin,
                "log_key": vkey.to_text().trim_end(),
                "tool": concat!("bezoar ", env!("CARGO_PKG_VERSION")),
                // The first identity is part of the init event, so the log starts with one
                // event as before and the admin's existence is covered from the first leaf.
                "admin": {"name": admin_name, "kind": "human", "token_id": token.token_id,
                          "grant": {"id": grant_id, "dataset": "*", "role": "admin", "source": null}},
            }),
        )?;
        log.checkpoint(&tx, &signer)?;
        tx.commit()?;
        // Closing the only connection checkpoints the WAL into the database file, so the
        // folder can be renamed.
        ledger.conn.close().map_err(|(_, e)| LedgerError::from(e))?;
        let actor = crate::auth::Actor {
            id: admin_id,
            name: admin_name.to_string(),
            kind: crate::identity::IdentityKind::Human,
        };
        Ok((actor, token.text))
    }

    /// Open the ledger in `workdir`.
    pub fn open(workdir: &Path) -> Result<Ledger> {
        let dir = workdir.join(LEDGER_DIR);
        let db = dir.join(DB_FILE);
        if !db.exists() {
            if dir.join(LOG_PUB_FILE).exists() {
                // The ledger was created here and its database has since disappeared.
                return Err(LedgerError::Invalid(format!(
                    "the ledger database {} is missing (deleted behind bezoar's back?): nothing can be verified",
                    db.display()
                )));
            }
            return Err(LedgerError::NotInitialized {
                dir: workdir.to_path_buf(),
            });
        }
        let mut conn = open_connection(&db)?;
        schema::migrate(&mut conn)?;
        let verifier = LogVerifier::load(&dir.join(LOG_PUB_FILE))?;
        Ok(Ledger {
            objects: ObjectStore::new(dir.join(OBJECTS_DIR)),
            dir,
            conn,
            verifier,
            actor: None,
            issued_token: None,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn origin(&self) -> &str {
        &self.verifier.name
    }

    pub fn verifier(&self) -> &LogVerifier {
        &self.verifier
    }

    pub(crate) fn signer(&self) -> Result<LogSigner> {
        LogSigner::load(&self.dir.join(LOG_KEY_FILE))
    }

    /// Every event, in order.
    pub fn events(&self) -> Result<Vec<Event>> {
        let mut st = self
            .conn
            .prepare("SELECT seq, kind, time, body, leaf_hash, root FROM events ORDER BY seq")?;
        let rows = st.query_map([], |r| {
            Ok(Event {
                seq: r.get::<_, i64>(0)? as u64,
                kind: r.get(1)?,
                time: r.get(2)?,
                // Text or blob: a body rewritten by hand as text must still be read (and
                // then fail its hash check), not abort verification.
                body: r
                    .get_ref(3)?
                    .as_bytes()
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default(),
                leaf_hash: blob32(
                    r.get_ref(4)?
                        .as_bytes()
                        .map(<[u8]>::to_vec)
                        .unwrap_or_default(),
                ),
                root: blob32(
                    r.get_ref(5)?
                        .as_bytes()
                        .map(<[u8]>::to_vec)
                        .unwrap_or_default(),
                ),
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The latest signed checkpoint note, as stored.
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, String)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT tree_size, note FROM checkpoints ORDER BY tree_size DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?)),
            )
            .optional()?)
    }

    /// All stored checkpoints (size, note), oldest first.
    pub fn checkpoints(&self) -> Result<Vec<(u64, String)>> {
        let mut st = self
            .conn
            .prepare("SELECT tree_size, note FROM checkpoints ORDER BY tree_size")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Leaf hashes of all events, as stored (for proofs).
    pub fn leaf_hashes(&self) -> Result<Vec<Hash>> {
        Ok(self.events()?.into_iter().map(|e| e.leaf_hash).collect())
    }

    /// Append one evidence event (a scan result, a signature) in its own transaction,
    /// attributed to the authenticated identity (`identity` field).
    pub fn record_event(&mut self, kind: &str, mut body: Value) -> Result<u64> {
        let actor = self.authorize(&crate::grants::Action::RecordEvidence)?;
        if let Value::Object(m) = &mut body {
            m.insert("identity".into(), json!(actor.name));
        }
        self.in_write_tx(|tx, log| log.append(tx, kind, now_unix(), body))
    }

    /// Run `f` in one IMMEDIATE write transaction with the log appender, then sign a
    /// checkpoint and commit: table changes and their events land together or not at all.
    pub(crate) fn in_write_tx<T>(
        &mut self,
        f: impl FnOnce(&Transaction, &mut LogAppender) -> Result<T>,
    ) -> Result<T> {
        let signer = self.signer()?;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut log = LogAppender::load(&tx)?;
        let out = f(&tx, &mut log)?;
        log.checkpoint(&tx, &signer)?;
        tx.commit()?;
        Ok(out)
    }
}

pub(crate) fn blob32(v: Vec<u8>) -> Hash {
    let mut h = [0u8; 32];
    let n = v.len().min(32);
    h[..n].copy_from_slice(&v[..n]);
    h
}

/// Appends events inside a write transaction and signs the resulting tree head.
pub(crate) struct LogAppender {
    tree: CompactTree,
}

impl LogAppender {
    pub fn load(tx: &Transaction) -> Result<Self> {
        let mut tree = CompactTree::new();
        let mut st = tx.prepare("SELECT leaf_hash FROM events ORDER BY seq")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            tree.push(blob32(r.get(0)?));
        }
        Ok(Self { tree })
    }

    pub fn next_seq(&self) -> u64 {
        self.tree.size()
    }

    /// Append an event whose body is `fields` plus `type`, `seq` and `time`. The body is stored
    /// as compact JSON bytes; those exact bytes are the Merkle leaf data.
    pub fn append(
        &mut self,
        tx: &Transaction,
        kind: &str,
        time: i64,
        fields: Value,
    ) -> Result<u64> {
        let seq = self.tree.size();
        let mut body = serde_json::Map::new();
        body.insert("type".into(), json!(kind));
        body.insert("seq".into(), json!(seq));
        body.insert("time".into(), json!(crate::util::rfc3339(time)));
        if let Value::Object(m) = fields {
            body.extend(m);
        }
        let bytes = serde_json::to_vec(&Value::Object(body)).expect("JSON encoding");
        let leaf = leaf_hash(&bytes);
        self.tree.push(leaf);
        tx.execute(
            "INSERT INTO events(seq, kind, time, body, leaf_hash, root) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![seq as i64, kind, time, bytes, leaf.to_vec(), self.tree.root().to_vec()],
        )?;
        Ok(seq)
    }

    /// Sign and store a checkpoint for the current tree head.
    pub fn checkpoint(&self, tx: &Transaction, signer: &LogSigner) -> Result<String> {
        let cp = Checkpoint {
            origin: signer.name.clone(),
            size: self.tree.size(),
            root: self.tree.root(),
        };
        let note = cp.sign(signer);
        tx.execute(
            "INSERT OR REPLACE INTO checkpoints(tree_size, note) VALUES (?1, ?2)",
            params![cp.size as i64, note],
        )?;
        Ok(note)
    }
}
