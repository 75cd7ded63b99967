//! Identities (human, service, agent) and their credentials: an API token (see [`crate::auth`])
//! and public keys for signed approvals. Managing identities needs the global admin role
//! (`admin` on dataset `*`); every change is an `identity` event in the log, written in the same
//! transaction as the table change.

use std::path::Path;

use ed25519_dalek::pkcs8::DecodePublicKey as _;
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::auth::issue_token;
use crate::error::{io_err, LedgerError, Result};
use crate::grants::{Action, GrantInfo};
use crate::store::{Ledger, LogAppender};
use crate::util::{hex, now_unix};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityKind {
    Human,
    Service,
    Agent,
}

impl IdentityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Human => "human",
            IdentityKind::Service => "service",
            IdentityKind::Agent => "agent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "human" => Some(IdentityKind::Human),
            "service" => Some(IdentityKind::Service),
            "agent" => Some(IdentityKind::Agent),
            _ => None,
        }
    }

    /// Non-human identities (service accounts, CI jobs, agents): held to stricter audit rules.
    pub fn is_non_human(self) -> bool {
        self != IdentityKind::Human
    }
}

/// A public key for signed approvals.
#[derive(Debug, Clone)]
pub enum PublicKey {
    P256(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PublicKey {
    /// Parse a SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`): ECDSA P-256 or Ed25519.
    pub fn from_pem(text: &str) -> std::result::Result<Self, String> {
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_pem(text) {
            return Ok(PublicKey::P256(k));
        }
        ed25519_dalek::VerifyingKey::from_public_key_pem(text)
            .map(PublicKey::Ed25519)
            .map_err(|_| {
                "not an ECDSA P-256 or Ed25519 public key in PEM (BEGIN PUBLIC KEY); create one with `bezoar keygen --algorithm p256|ed25519`".to_string()
            })
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        Self::from_pem(&text).map_err(|message| LedgerError::Key {
            path: path.to_path_buf(),
            message,
        })
    }

    pub fn algorithm(&self) -> &'static str {
        match self {
            PublicKey::P256(_) => "ecdsa-p256",
            PublicKey::Ed25519(_) => "ed25519",
        }
    }

    /// The canonical PEM (64-column base64, trailing newline; what `openssl pkey -pubout`
    /// prints).
    pub fn pem(&self) -> String {
        match self {
            PublicKey::P256(k) => crate::keys::public_pem(k),
            PublicKey::Ed25519(k) => k
                .to_public_key_pem(LineEnding::LF)
                .expect("SPKI encoding of a valid key"),
        }
    }

    /// The securesystemslib key dict, as OLPC canonical JSON: keys sorted, no whitespace, and
    /// only `"` and `\` escaped (newlines in the PEM stay raw bytes).
    pub fn securesystemslib_canonical(&self) -> String {
        let (keytype, scheme, public) = match self {
            PublicKey::P256(_) => ("ecdsa", "ecdsa-sha2-nistp256", self.pem()),
            PublicKey::Ed25519(k) => ("ed25519", "ed25519", hex(k.as_bytes())),
        };
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        format!(
            "{{\"keytype\":\"{keytype}\",\"keyval\":{{\"public\":\"{}\"}},\"scheme\":\"{scheme}\"}}",
            esc(&public)
        )
    }

    /// securesystemslib key id: hex SHA-256 of the canonical key dict. DSSE signatures carry it
    /// so that securesystemslib's threshold check pairs each signature with its key.
    pub fn keyid(&self) -> String {
        hex(&Sha256::digest(
            self.securesystemslib_canonical().as_bytes(),
        ))
    }

    /// Verify a DSSE signature over `msg` (ECDSA: DER over SHA-256; Ed25519: 64 raw bytes).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        use ed25519_dalek::Verifier as _;
        match self {
            PublicKey::P256(k) => p256::ecdsa::Signature::from_der(sig)
                .or_else(|_| p256::ecdsa::Signature::from_slice(sig))
                .is_ok_and(|s| {
                    let s = s.normalize_s().unwrap_or(s);
                    k.verify(msg, &s).is_ok()
                }),
            PublicKey::Ed25519(k) => {
                ed25519_dalek::Signature::from_slice(sig).is_ok_and(|s| k.verify(msg, &s).is_ok())
            }
        }
    }
}

/// A registered key.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub keyid: String,
    pub algorithm: String,
    pub public_pem: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// An identity as listed.
#[derive(Debug, Clone, Serialize)]
pub struct IdentityInfo {
    pub id: i64,
    pub name: String,
    pub kind: IdentityKind,
    pub created_at: i64,
    pub created_by: Option<String>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub has_token: bool,
    /// The token's public lookup id (the `bzr_<id>_` part), never the secret.
    pub token_id: Option<String>,
    pub token_created_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub keys: Vec<KeyInfo>,
    pub grants: Vec<GrantInfo>,
}

impl IdentityInfo {
    /// Active: not revoked and not expired at `now`.
    pub fn active_at(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| t > now)
    }

    pub fn status(&self, now: i64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|t| t <= now) {
            "expired"
        } else {
            "active"
        }
    }
}

/// What `identity add` creates.
#[derive(Debug, Clone)]
pub struct NewIdentity {
    pub name: String,
    pub kind: IdentityKind,
    pub expires_at: Option<i64>,
    pub token: bool,
    pub key: Option<PublicKey>,
}

/// What `identity rotate` replaces.
#[derive(Debug, Clone, Default)]
pub struct Rotation {
    pub token: bool,
    pub key: Option<PublicKey>,
    pub expires_at: Option<i64>,
}

/// Parse `YYYY-MM-DD` (midnight UTC at the start of that day) or `YYYY-MM-DDTHH:MM:SSZ`.
pub fn parse_time(s: &str) -> std::result::Result<i64, String> {
    let bad = || format!("invalid date '{s}': use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)");
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z').ok_or_else(bad)?)),
        None => (s, None),
    };
    let p: Vec<&str> = date.split('-').collect();
    let [y, m, d] = p.as_slice() else {
        return Err(bad());
    };
    let (y, m, d): (i64, i64, i64) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let dim = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if y.to_string().len() != 4 || !(1..=12).contains(&m) || d < 1 || d > dim[m as usize - 1] {
        return Err(bad());
    }
    let secs = match time {
        None => 0,
        Some(t) => {
            // Unsigned fields: "-1" or "+5" are not clock times (and cannot overflow below).
            let q: Vec<i64> = t
                .split(':')
                .map(|x| {
                    if x.is_empty() || !x.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(bad());
                    }
                    x.parse().map_err(|_| bad())
                })
                .collect::<std::result::Result<_, _>>()?;
            match q.as_slice() {
                [h, mi, se] if *h < 24 && *mi < 60 && *se < 60 => h * 3600 + mi * 60 + se,
                _ => return Err(bad()),
            }
        }
    };
    // Days from civil (Howard Hinnant), the inverse of `util::rfc3339`.
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok((era * 146_097 + doe - 719_468) * 86_400 + secs)
}

fn validate_name(name: &str) -> Result<()> {
    crate::names::check_name(crate::names::NameKind::Identity, name)
}

pub(crate) fn insert_key(
    tx: &Transaction,
    log: &mut LogAppender,
    identity_id: i64,
    identity: &str,
    key: &PublicKey,
    now: i64,
    by: &str,
) -> Result<String> {
    let keyid = key.keyid();
    let existing: Option<i64> = tx
        .query_row(
            "SELECT identity_id FROM identity_keys WHERE keyid = ?1",
            params![keyid],
            |r| r.get(0),
        )
        .optional()?;
    if existing.is_some() {
        return Err(LedgerError::Invalid(format!(
            "key {keyid} is already registered (keys are never shared or reused between identities)"
        )));
    }
    tx.execute(
        "INSERT INTO identity_keys(keyid, identity_id, algorithm, public_pem, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![keyid, identity_id, key.algorithm(), key.pem(), now],
    )?;
    log.append(
        tx,
        "identity",
        now,
        json!({"action": "key-add", "name": identity, "keyid": keyid, "algorithm": key.algorithm(), "by": by}),
    )?;
    Ok(keyid)
}

impl Ledger {
    /// For a ledger created before identities existed (schema v1, now migrated): create the
    /// first admin, as `init` does for new ledgers. Refused once any identity exists — after
    /// that, identities are managed by admins. Whoever can write `.bezoar/` is trusted here,
    /// exactly as with `init`.
    pub fn bootstrap_admin(workdir: &Path, name: &str) -> Result<Ledger> {
        validate_name(name)?;
        let mut ledger = Ledger::open(workdir)?;
        let n: i64 = ledger
            .conn
            .query_row("SELECT COUNT(*) FROM identities", [], |r| r.get(0))?;
        if n > 0 {
            return Err(LedgerError::AlreadyInitialized {
                dir: ledger.dir.clone(),
            });
        }
        let token = issue_token();
        let now = now_unix();
        let (id, _) = ledger.in_write_tx(|tx, log| {
            tx.execute(
                "INSERT INTO identities(name, kind, created_at, created_by, token_id, token_salt, token_hash, token_created_at) \
                 VALUES (?1, 'human', ?2, NULL, ?3, ?4, ?5, ?2)",
                params![name, now, token.token_id, token.salt.to_vec(), token.hash.to_vec()],
            )?;
            let id = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO grants(identity_id, dataset, role, source, created_at, created_by) VALUES (?1, '*', 'admin', NULL, ?2, NULL)",
                params![id, now],
            )?;
            let grant = tx.last_insert_rowid();
            log.append(
                tx,
                "identity",
                now,
                json!({"action": "add", "name": name, "kind": "human", "expires": null,
                       "token_id": token.token_id, "by": null, "bootstrap": true}),
            )?;
            log.append(
                tx,
                "grant",
                now,
                json!({"action": "grant", "grant": grant, "identity": name, "dataset": "*",
                       "role": "admin", "source": null, "by": null}),
            )?;
            Ok((id, grant))
        })?;
        ledger.actor = Some(crate::auth::Actor {
            id,
            name: name.to_string(),
            kind: IdentityKind::Human,
        });
        ledger.issued_token = Some(token.text);
        Ok(ledger)
    }

    /// Every identity with its keys and grants, by name.
    pub fn identities(&self) -> Result<Vec<IdentityInfo>> {
        let mut st = self.conn.prepare(
            "SELECT id, name, kind, created_at, created_by, expires_at, revoked_at, token_id, \
             token_created_at, last_used_at FROM identities ORDER BY name",
        )?;
        let mut out: Vec<IdentityInfo> = st
            .query_map([], |r| {
                let token_id: Option<String> = r.get(7)?;
                Ok(IdentityInfo {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    kind: IdentityKind::parse(&r.get::<_, String>(2)?)
                        .unwrap_or(IdentityKind::Service),
                    created_at: r.get(3)?,
                    created_by: r.get(4)?,
                    expires_at: r.get(5)?,
                    revoked_at: r.get(6)?,
                    has_token: token_id.is_some(),
                    token_id,
                    token_created_at: r.get(8)?,
                    last_used_at: r.get(9)?,
                    keys: Vec::new(),
                    grants: Vec::new(),
                })
            })?
            .collect::<std::result::Result<_, _>>()?;
        let grants = self.grants()?;
        for i in &mut out {
            i.keys = self.keys_of(i.id)?;
            i.grants = grants
                .iter()
                .filter(|g| g.identity == i.name)
                .cloned()
                .collect();
        }
        Ok(out)
    }

    pub fn identity(&self, name: &str) -> Result<IdentityInfo> {
        let all = self.identities()?;
        let names: Vec<String> = all.iter().map(|i| i.name.clone()).collect();
        all.into_iter().find(|i| i.name == name).ok_or_else(|| {
            LedgerError::Invalid(format!(
                "unknown identity '{name}'; identities: {}",
                names.join(", ")
            ))
        })
    }

    pub(crate) fn keys_of(&self, identity_id: i64) -> Result<Vec<KeyInfo>> {
        let mut st = self.conn.prepare(
            "SELECT keyid, algorithm, public_pem, created_at, revoked_at FROM identity_keys \
             WHERE identity_id = ?1 ORDER BY created_at, keyid",
        )?;
        let rows = st.query_map(params![identity_id], |r| {
            Ok(KeyInfo {
                keyid: r.get(0)?,
                algorithm: r.get(1)?,
                public_pem: r.get(2)?,
                created_at: r.get(3)?,
                revoked_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The identity and public key registered under a securesystemslib key id.
    pub fn key_owner(&self, keyid: &str) -> Result<Option<(String, KeyInfo)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT i.name, k.keyid, k.algorithm, k.public_pem, k.created_at, k.revoked_at \
                 FROM identity_keys k JOIN identities i ON i.id = k.identity_id WHERE k.keyid = ?1",
                params![keyid],
                |r| {
                    Ok((
                        r.get(0)?,
                        KeyInfo {
                            keyid: r.get(1)?,
                            algorithm: r.get(2)?,
                            public_pem: r.get(3)?,
                            created_at: r.get(4)?,
                            revoked_at: r.get(5)?,
                        },
                    ))
                },
            )
            .optional()?)
    }

    /// Create an identity (global admin only). Returns it and, with `token`, the token text:
    /// shown once, stored only as a salted hash.
    pub fn add_identity(&mut self, new: &NewIdentity) -> Result<(IdentityInfo, Option<String>)> {
        let by = self.authorize(&Action::ManageIdentities)?.name;
        validate_name(&new.name)?;
        let now = now_unix();
        if new.expires_at.is_some_and(|t| t <= now) {
            return Err(LedgerError::Invalid(
                "the expiry date is in the past".into(),
            ));
        }
        if !new.token && new.key.is_none() {
            return Err(LedgerError::Invalid(
                "an identity needs a credential: a token (the default) and/or a public key (--key PUB.pem)".into(),
            ));
        }
        let token = new.token.then(issue_token);
        let name = new.name.clone();
        let n = &new;
        self.in_write_tx(|tx, log| {
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT id FROM identities WHERE name = ?1",
                    params![n.name],
                    |r| r.get(0),
                )
                .optional()?;
            if exists.is_some() {
                return Err(LedgerError::Invalid(format!(
                    "identity '{}' already exists (names are never reused, even after revocation, so the log stays unambiguous)",
                    n.name
                )));
            }
            tx.execute(
                "INSERT INTO identities(name, kind, created_at, created_by, expires_at, token_id, token_salt, token_hash, token_created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    n.name,
                    n.kind.as_str(),
                    now,
                    by,
                    n.expires_at,
                    token.as_ref().map(|t| t.token_id.clone()),
                    token.as_ref().map(|t| t.salt.to_vec()),
                    token.as_ref().map(|t| t.hash.to_vec()),
                    token.as_ref().map(|_| now),
                ],
            )?;
            let id = tx.last_insert_rowid();
            log.append(
                tx,
                "identity",
                now,
                json!({
                    "action": "add",
                    "name": n.name,
                    "kind": n.kind.as_str(),
                    "expires": n.expires_at.map(crate::util::rfc3339),
                    "token_id": token.as_ref().map(|t| t.token_id.clone()),
                    "by": by,
                }),
            )?;
            if let Some(k) = &n.key {
                insert_key(tx, log, id, &n.name, k, now, &by)?;
            }
            Ok(())
        })?;
        Ok((self.identity(&name)?, token.map(|t| t.text)))
    }

    /// Replace an identity's token (the old one stops working at once) and/or key (old keys are
    /// revoked), and/or set a new expiry.
    pub fn rotate_identity(
        &mut self,
        name: &str,
        rot: &Rotation,
    ) -> Result<(IdentityInfo, Option<String>)> {
        let by = self.authorize(&Action::ManageIdentities)?.name;
        let ident = self.identity(name)?;
        if ident.revoked_at.is_some() {
            return Err(LedgerError::Invalid(format!(
                "identity '{name}' is revoked; create a new identity instead"
            )));
        }
        let now = now_unix();
        if rot.expires_at.is_some_and(|t| t <= now) {
            return Err(LedgerError::Invalid(
                "the expiry date is in the past".into(),
            ));
        }
        if !rot.token && rot.key.is_none() && rot.expires_at.is_none() {
            return Err(LedgerError::Invalid(
                "nothing to rotate: pass --token, --key PUB.pem and/or --expires DATE".into(),
            ));
        }
        let token = rot.token.then(issue_token);
        self.in_write_tx(|tx, log| {
            if let Some(t) = &token {
                tx.execute(
                    "UPDATE identities SET token_id = ?1, token_salt = ?2, token_hash = ?3, token_created_at = ?4 WHERE id = ?5",
                    params![t.token_id, t.salt.to_vec(), t.hash.to_vec(), now, ident.id],
                )?;
            }
            if let Some(e) = rot.expires_at {
                tx.execute(
                    "UPDATE identities SET expires_at = ?1 WHERE id = ?2",
                    params![e, ident.id],
                )?;
            }
            let mut revoked_keys = Vec::new();
            if rot.key.is_some() {
                for k in ident.keys.iter().filter(|k| k.revoked_at.is_none()) {
                    tx.execute(
                        "UPDATE identity_keys SET revoked_at = ?1 WHERE keyid = ?2",
                        params![now, k.keyid],
                    )?;
                    revoked_keys.push(k.keyid.clone());
                }
            }
            log.append(
                tx,
                "identity",
                now,
                json!({
                    "action": "rotate",
                    "name": name,
                    "token_id": token.as_ref().map(|t| t.token_id.clone()),
                    "expires": rot.expires_at.map(crate::util::rfc3339),
                    "revoked_keys": revoked_keys,
                    "by": by,
                }),
            )?;
            if let Some(k) = &rot.key {
                insert_key(tx, log, ident.id, name, k, now, &by)?;
            }
            Ok(())
        })?;
        Ok((self.identity(name)?, token.map(|t| t.text)))
    }

    /// Revoke an identity: its token and keys stop working for writes and approvals at once,
    /// its grants end. Its history stays in the log.
    pub fn revoke_identity(&mut self, name: &str, reason: Option<&str>) -> Result<IdentityInfo> {
        let actor = self.authorize(&Action::ManageIdentities)?;
        let ident = self.identity(name)?;
        if ident.revoked_at.is_some() {
            return Err(LedgerError::Invalid(format!(
                "identity '{name}' is already revoked"
            )));
        }
        if ident.id == actor.id {
            // Revoking oneself could leave a ledger with no admin at all.
            let admins = self
                .identities()?
                .into_iter()
                .filter(|i| {
                    i.id != actor.id
                        && i.active_at(now_unix())
                        && i.grants.iter().any(|g| g.is_global_admin())
                })
                .count();
            if admins == 0 {
                return Err(LedgerError::Invalid(format!(
                    "'{name}' is the last active admin; grant another identity `--dataset '*' --role admin` before revoking it"
                )));
            }
        }
        let now = now_unix();
        let by = actor.name;
        self.in_write_tx(|tx, log| {
            tx.execute(
                "UPDATE identities SET revoked_at = ?1 WHERE id = ?2",
                params![now, ident.id],
            )?;
            tx.execute(
                "UPDATE identity_keys SET revoked_at = ?1 WHERE identity_id = ?2 AND revoked_at IS NULL",
                params![now, ident.id],
            )?;
            tx.execute(
                "UPDATE grants SET revoked_at = ?1 WHERE identity_id = ?2 AND revoked_at IS NULL",
                params![now, ident.id],
            )?;
            log.append(
                tx,
                "identity",
                now,
                json!({"action": "revoke", "name": name, "reason": reason, "by": by}),
            )?;
            Ok(())
        })?;
        self.identity(name)
    }
}

/// The identities, keys and grants the event log says exist, replayed from `init`, `identity`
/// and `grant` events; `verify` compares them with the tables, so an identity, key or grant
/// inserted, changed or un-revoked behind bezoar's back is named.
#[derive(Debug, Default)]
struct Replayed {
    /// name → (kind, expires, token_id, revoked)
    identities: std::collections::BTreeMap<String, (String, Option<String>, Option<String>, bool)>,
    /// keyid → (identity, revoked)
    keys: std::collections::BTreeMap<String, (String, bool)>,
    /// grant id → (identity, dataset, role, source, revoked)
    grants: std::collections::BTreeMap<i64, (String, String, String, Option<String>, bool)>,
}

fn replay(events: &[crate::store::Event]) -> Replayed {
    use serde_json::Value;
    let mut r = Replayed::default();
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    for e in events {
        let b = e.json();
        match e.kind.as_str() {
            "init" => {
                if let Some(a) = b.get("admin") {
                    let name = s(a, "name").unwrap_or_default();
                    r.identities.insert(
                        name.clone(),
                        (
                            s(a, "kind").unwrap_or_default(),
                            None,
                            s(a, "token_id"),
                            false,
                        ),
                    );
                    if let Some(g) = a.get("grant") {
                        if let Some(id) = g.get("id").and_then(Value::as_i64) {
                            r.grants.insert(
                                id,
                                (
                                    name,
                                    s(g, "dataset").unwrap_or_default(),
                                    s(g, "role").unwrap_or_default(),
                                    s(g, "source"),
                                    false,
                                ),
                            );
                        }
                    }
                }
            }
            "identity" => {
                let name = s(&b, "name").unwrap_or_default();
                match s(&b, "action").as_deref() {
                    Some("add") => {
                        r.identities.insert(
                            name,
                            (
                                s(&b, "kind").unwrap_or_default(),
                                s(&b, "expires"),
                                s(&b, "token_id"),
                                false,
                            ),
                        );
                    }
                    Some("rotate") => {
                        if let Some(i) = r.identities.get_mut(&name) {
                            if let Some(t) = s(&b, "token_id") {
                                i.2 = Some(t);
                            }
                            if let Some(x) = s(&b, "expires") {
                                i.1 = Some(x);
                            }
                        }
                        for k in b
                            .get("revoked_keys")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                        {
                            if let Some(k) = k.as_str().and_then(|k| r.keys.get_mut(k)) {
                                k.1 = true;
                            }
                        }
                    }
                    Some("key-add") => {
                        if let Some(k) = s(&b, "keyid") {
                            r.keys.insert(k, (name, false));
                        }
                    }
                    Some("revoke") => {
                        if let Some(i) = r.identities.get_mut(&name) {
                            i.3 = true;
                        }
                        for k in r.keys.values_mut().filter(|k| k.0 == name) {
                            k.1 = true;
                        }
                        for g in r.grants.values_mut().filter(|g| g.0 == name) {
                            g.4 = true;
                        }
                    }
                    _ => {}
                }
            }
            "grant" => {
                let Some(id) = b.get("grant").and_then(Value::as_i64) else {
                    continue;
                };
                match s(&b, "action").as_deref() {
                    Some("grant") => {
                        r.grants.insert(
                            id,
                            (
                                s(&b, "identity").unwrap_or_default(),
                                s(&b, "dataset").unwrap_or_default(),
                                s(&b, "role").unwrap_or_default(),
                                s(&b, "source"),
                                false,
                            ),
                        );
                    }
                    Some("revoke") => {
                        if let Some(g) = r.grants.get_mut(&id) {
                            g.4 = true;
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    r
}

impl Ledger {
    /// Compare the identities, keys and grants tables with what the event log records.
    pub(crate) fn check_identity_records(&self, problems: &mut Vec<String>) -> Result<()> {
        let r = replay(&self.events()?);
        let ids = self.identities()?;
        for i in &ids {
            let Some((kind, expires, token_id, revoked)) = r.identities.get(&i.name) else {
                problems.push(format!(
                    "identity '{}': no event in the log creates it: it was inserted behind bezoar's back",
                    i.name
                ));
                continue;
            };
            let mut bad = Vec::new();
            if kind != i.kind.as_str() {
                bad.push("kind");
            }
            if expires.as_deref() != i.expires_at.map(crate::util::rfc3339).as_deref() {
                bad.push("expiry");
            }
            if token_id != &i.token_id {
                bad.push("token");
            }
            if *revoked != i.revoked_at.is_some() {
                bad.push("revocation");
            }
            if !bad.is_empty() {
                problems.push(format!(
                    "identity '{}': {} in the database differ(s) from the log: rewritten behind bezoar's back",
                    i.name,
                    bad.join(", ")
                ));
            }
            for k in &i.keys {
                match r.keys.get(&k.keyid) {
                    None => problems.push(format!(
                        "key {} of '{}': no event in the log registers it",
                        k.keyid, i.name
                    )),
                    Some((owner, rev)) if owner != &i.name || *rev != k.revoked_at.is_some() => {
                        problems.push(format!(
                            "key {} of '{}': owner or revocation differs from the log",
                            k.keyid, i.name
                        ))
                    }
                    _ => {}
                }
            }
        }
        for name in r.identities.keys() {
            if !ids.iter().any(|i| &i.name == name) {
                problems.push(format!(
                    "identity '{name}' is in the log but missing from the database (deleted behind bezoar's back)"
                ));
            }
        }
        let grants = self.grants()?;
        for g in &grants {
            let want = r.grants.get(&g.id);
            let have = (
                g.identity.clone(),
                g.dataset.clone(),
                g.role.as_str().to_string(),
                g.source.clone(),
                g.revoked_at.is_some(),
            );
            match want {
                None => problems.push(format!(
                    "grant {} ({} {}): no event in the log records it: it was inserted behind bezoar's back",
                    g.id,
                    g.identity,
                    g.describe()
                )),
                Some(w) if *w != have => problems.push(format!(
                    "grant {} ({} {}): differs from its event in the log (rewritten behind bezoar's back)",
                    g.id,
                    g.identity,
                    g.describe()
                )),
                _ => {}
            }
        }
        for id in r.grants.keys() {
            if !grants.iter().any(|g| g.id == *id) {
                problems.push(format!(
                    "grant {id} is in the log but missing from the database"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_and_round_trip() {
        assert_eq!(parse_time("1970-01-01").unwrap(), 0);
        assert_eq!(parse_time("2000-02-29").unwrap(), 951_782_400);
        assert_eq!(
            crate::util::rfc3339(parse_time("2026-11-21T07:32:05Z").unwrap()),
            "2026-11-21T07:32:05Z"
        );
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "26-01-01",
            "tomorrow",
            "2026-01-01T25:00:00Z",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn key_ids_match_the_securesystemslib_fixture() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/interop");
        if !p.join("approver0.pub.pem").exists() {
            eprintln!("SKIP: {} not found", p.display());
            return;
        }
        let k0 = PublicKey::load(&p.join("approver0.pub.pem")).unwrap();
        let k1 = PublicKey::load(&p.join("approver1.pub.pem")).unwrap();
        assert_eq!(
            k0.keyid(),
            "cc59c4ee834706f48bd1e8eb5a7681add7905f2367eb6770f32c7068b76ad3cd"
        );
        assert_eq!(
            k1.keyid(),
            "029932e20b2e1f6d8c67704ca9537d15d40eb30a918fc53a03b33f69c72f497c"
        );
        assert_eq!(k1.algorithm(), "ed25519");
    }
}
