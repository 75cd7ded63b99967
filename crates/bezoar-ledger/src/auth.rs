//! API tokens: issuing, storing (salted hash only) and authenticating.
//!
//! A token is `bzr_<token id>_<secret>`: `token id` is 12 lowercase hex characters (a public
//! lookup key, so authentication needs no scan over all identities) and `secret` is 32 random
//! bytes in unpadded base64url. The ledger stores only `SHA-256("bezoar-token-v1" ‖ salt ‖
//! token)` with a random 16-byte salt per token.
//!
//! Why a salted SHA-256 and not a password hash (argon2, scrypt): the secret is 256 bits from the
//! operating system's CSPRNG, so there is nothing to brute-force — a slow hash buys no security
//! for high-entropy tokens (it exists to protect low-entropy human passwords), while it would
//! make every write pay tens of milliseconds. The salt still stops precomputed tables and makes
//! the same token hash differently in two ledgers. Hashes are compared in constant time
//! (`subtle`), so response time says nothing about how much of a guessed hash matched.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{LedgerError, Result};
use crate::identity::IdentityKind;
use crate::store::Ledger;
use crate::util::{hex, now_unix, random_bytes, rfc3339};

pub const TOKEN_PREFIX: &str = "bzr_";
const HASH_DOMAIN: &[u8] = b"bezoar-token-v1";

/// The identity a ledger handle acts as, after [`Ledger::authenticate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: i64,
    pub name: String,
    pub kind: IdentityKind,
}

/// A freshly issued token: the text (shown once) and what is stored.
pub(crate) struct IssuedToken {
    pub text: String,
    pub token_id: String,
    pub salt: [u8; 16],
    pub hash: [u8; 32],
}

pub(crate) fn issue_token() -> IssuedToken {
    let token_id = hex(&random_bytes::<6>());
    let text = format!(
        "{TOKEN_PREFIX}{token_id}_{}",
        B64URL.encode(random_bytes::<32>())
    );
    let salt = random_bytes::<16>();
    let hash = token_hash(&salt, &text);
    IssuedToken {
        text,
        token_id,
        salt,
        hash,
    }
}

pub(crate) fn token_hash(salt: &[u8], token: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(HASH_DOMAIN);
    h.update(salt);
    h.update(token.as_bytes());
    h.finalize().into()
}

/// The lookup id of a well-formed token.
fn token_id_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) && secret.len() == 43)
        .then_some(id)
}

impl Ledger {
    /// Check a token and act as its identity for the writes that follow. A malformed, unknown,
    /// replaced (rotated), revoked or expired token is refused; the error never echoes it.
    pub fn authenticate(&mut self, token: &str) -> Result<Actor> {
        let token = token.trim();
        let Some(tid) = token_id_of(token) else {
            return Err(LedgerError::BadToken(
                "the token is malformed (bezoar tokens look like bzr_<12 hex>_<43 characters>); check BEZOAR_TOKEN".into(),
            ));
        };
        type Row = (
            i64,
            String,
            String,
            Vec<u8>,
            Vec<u8>,
            Option<i64>,
            Option<i64>,
        );
        let row: Option<Row> = self
            .conn
            .query_row(
                "SELECT id, name, kind, token_salt, token_hash, expires_at, revoked_at \
                 FROM identities WHERE token_id = ?1",
                params![tid],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )
            .optional()?;
        let unknown = || {
            LedgerError::BadToken(
                "unknown token (never issued by this ledger, or replaced by `bezoar identity rotate`)"
                    .into(),
            )
        };
        let Some((id, name, kind, salt, stored, expires_at, revoked_at)) = row else {
            // Hash anyway so an unknown id costs the same as a wrong secret.
            let _ = token_hash(&[0u8; 16], token);
            return Err(unknown());
        };
        let computed = token_hash(&salt, token);
        if stored.len() != 32 || !bool::from(computed.ct_eq(stored.as_slice())) {
            return Err(unknown());
        }
        if let Some(t) = revoked_at {
            return Err(LedgerError::BadToken(format!(
                "identity '{name}' was revoked at {}; it can no longer write",
                rfc3339(t)
            )));
        }
        let now = now_unix();
        if let Some(t) = expires_at.filter(|&t| t <= now) {
            return Err(LedgerError::BadToken(format!(
                "identity '{name}' expired at {}; an admin can issue a new expiry with `bezoar identity rotate {name} --expires DATE`",
                rfc3339(t)
            )));
        }
        self.conn.execute(
            "UPDATE identities SET last_used_at = ?1 WHERE id = ?2",
            params![now, id],
        )?;
        let actor = Actor {
            id,
            name,
            kind: IdentityKind::parse(&kind).unwrap_or(IdentityKind::Service),
        };
        self.actor = Some(actor.clone());
        Ok(actor)
    }

    /// The identity this handle acts as, if authenticated.
    pub fn actor(&self) -> Option<&Actor> {
        self.actor.as_ref()
    }

    /// The token issued by the last call that created one (init, identity add/rotate); it is
    /// handed out once and not kept.
    pub fn take_issued_token(&mut self) -> Option<String> {
        self.issued_token.take()
    }

    pub(crate) fn require_actor(&self) -> Result<Actor> {
        let actor = self.actor.clone().ok_or(LedgerError::NoToken)?;
        // Re-check status: a handle authenticated before a revocation must not keep writing.
        let (revoked, expires): (Option<i64>, Option<i64>) = self.conn.query_row(
            "SELECT revoked_at, expires_at FROM identities WHERE id = ?1",
            params![actor.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if revoked.is_some() || expires.is_some_and(|t| t <= now_unix()) {
            return Err(LedgerError::BadToken(format!(
                "identity '{}' is revoked or expired",
                actor.name
            )));
        }
        Ok(actor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_well_formed_and_hash_with_their_salt() {
        let t = issue_token();
        assert_eq!(token_id_of(&t.text), Some(t.token_id.as_str()));
        assert_eq!(token_hash(&t.salt, &t.text), t.hash);
        // Another salt gives another hash; another token with the same salt too.
        assert_ne!(token_hash(&[1u8; 16], &t.text), t.hash);
        let u = issue_token();
        assert_ne!(u.text, t.text);
        assert_ne!(token_hash(&t.salt, &u.text), t.hash);
        assert!(token_id_of("bzr_xyz").is_none());
        assert!(token_id_of(&t.text[..t.text.len() - 1]).is_none());
    }
}
