//! Keys: the ledger's Ed25519 log key (checkpoint signing) and ECDSA P-256 dataset-signing keys.
//!
//! The log key is stored in the Go `sumdb/note` text formats, which C2SP signed-note tooling
//! reads: the signer key `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>` and the
//! verifier key `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, Verifier as _};
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use sha2::{Digest, Sha256};

use crate::error::{io_err, LedgerError, Result};
use crate::util::{hex, random_bytes, write_durable};

/// Signature algorithm byte for Ed25519 in C2SP signed notes.
const ALG_ED25519: u8 = 0x01;

/// C2SP signed-note key id: the first 4 bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key).
pub fn note_key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The ledger's checkpoint signer.
pub struct LogSigner {
    pub name: String,
    key: ed25519_dalek::SigningKey,
}

/// The public half, as used to verify checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogVerifier {
    pub name: String,
    pub key: ed25519_dalek::VerifyingKey,
}

impl LogSigner {
    pub fn generate(name: &str) -> Self {
        Self {
            name: name.to_string(),
            key: ed25519_dalek::SigningKey::from_bytes(&random_bytes::<32>()),
        }
    }

    pub fn verifier(&self) -> LogVerifier {
        LogVerifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    pub fn key_id(&self) -> [u8; 4] {
        note_key_id(&self.name, self.key.verifying_key().as_bytes())
    }

    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }

    /// `PRIVATE+KEY+<name>+<keyid hex>+<base64(0x01 ‖ seed)>`
    pub fn to_text(&self) -> String {
        let mut k = vec![ALG_ED25519];
        k.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}\n",
            self.name,
            hex(&self.key_id()),
            B64.encode(k)
        )
    }

    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.trim().strip_prefix("PRIVATE+KEY+")?;
        let (name, id, key) = split_key(rest)?;
        let raw = B64.decode(key).ok()?;
        if raw.len() != 33 || raw[0] != ALG_ED25519 {
            return None;
        }
        let signer = Self {
            name: name.to_string(),
            key: ed25519_dalek::SigningKey::from_bytes(&raw[1..].try_into().ok()?),
        };
        (hex(&signer.key_id()) == id).then_some(signer)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        Self::parse(&text).ok_or_else(|| LedgerError::Key {
            path: path.to_path_buf(),
            message: "not a signed-note Ed25519 private key".into(),
        })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        write_durable(path, self.to_text().as_bytes(), Some(0o600)).map_err(io_err(path))
    }
}

impl LogVerifier {
    pub fn key_id(&self) -> [u8; 4] {
        note_key_id(&self.name, self.key.as_bytes())
    }

    /// `<name>+<keyid hex>+<base64(0x01 ‖ public key)>`
    pub fn to_text(&self) -> String {
        let mut k = vec![ALG_ED25519];
        k.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}\n", self.name, hex(&self.key_id()), B64.encode(k))
    }

    pub fn parse(text: &str) -> Option<Self> {
        let (name, id, key) = split_key(text.trim())?;
        let raw = B64.decode(key).ok()?;
        if raw.len() != 33 || raw[0] != ALG_ED25519 {
            return None;
        }
        let v = Self {
            name: name.to_string(),
            key: ed25519_dalek::VerifyingKey::from_bytes(&raw[1..].try_into().ok()?).ok()?,
        };
        (hex(&v.key_id()) == id).then_some(v)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        Self::parse(&text).ok_or_else(|| LedgerError::Key {
            path: path.to_path_buf(),
            message: "not a signed-note Ed25519 verifier key".into(),
        })
    }

    pub fn verify(&self, msg: &[u8], sig: &[u8; 64]) -> bool {
        self.key
            .verify(msg, &ed25519_dalek::Signature::from_bytes(sig))
            .is_ok()
    }
}

/// `name+hexid+base64` → parts; the name may not contain '+' (the note spec forbids it).
fn split_key(s: &str) -> Option<(&str, &str, &str)> {
    let mut it = s.splitn(3, '+');
    let (name, id, key) = (it.next()?, it.next()?, it.next()?);
    (!name.is_empty() && id.len() == 8).then_some((name, id, key))
}

/// Generate an ECDSA P-256 key pair for `bezoar sign`; returns (PKCS#8 private PEM, SPKI
/// public PEM).
pub fn generate_p256() -> (String, String) {
    let sk = loop {
        // Rejection sampling: a random 32-byte string is a valid scalar with overwhelming
        // probability; retry in the astronomically rare other case.
        if let Ok(k) = p256::ecdsa::SigningKey::from_bytes(&random_bytes::<32>().into()) {
            break k;
        }
    };
    let private = sk
        .to_pkcs8_pem(LineEnding::LF)
        .expect("PKCS#8 encoding of a valid key")
        .to_string();
    (private, public_pem(sk.verifying_key()))
}

/// Generate an Ed25519 key pair for approvals; returns (PKCS#8 private PEM, SPKI public PEM).
pub fn generate_ed25519() -> (String, String) {
    let sk = ed25519_dalek::SigningKey::from_bytes(&random_bytes::<32>());
    let private = sk
        .to_pkcs8_pem(LineEnding::LF)
        .expect("PKCS#8 encoding of a valid key")
        .to_string();
    let public = sk
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("SPKI encoding of a valid key");
    (private, public)
}

/// The SubjectPublicKeyInfo PEM (64-column base64, trailing newline), as `openssl ec -pubout`
/// prints it: the exact text whose SHA-256 is the bundle's key hint.
pub fn public_pem(vk: &p256::ecdsa::VerifyingKey) -> String {
    vk.to_public_key_pem(LineEnding::LF)
        .expect("SPKI encoding of a valid key")
}

/// Load a P-256 private key: PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`, what
/// `openssl ecparam -genkey` writes).
pub fn load_p256_private(path: &Path) -> Result<p256::ecdsa::SigningKey> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let bad = |m: String| LedgerError::Key {
        path: path.to_path_buf(),
        message: m,
    };
    if text.contains("BEGIN EC PRIVATE KEY") {
        let sk = p256::SecretKey::from_sec1_pem(&text)
            .map_err(|e| bad(format!("not a P-256 SEC1 private key: {e}")))?;
        return Ok(sk.into());
    }
    if text.contains("BEGIN ENCRYPTED PRIVATE KEY") {
        return Err(bad("encrypted private keys are not supported; decrypt it first (openssl pkcs8 -in KEY -out PLAIN.pem)".into()));
    }
    p256::ecdsa::SigningKey::from_pkcs8_pem(&text).map_err(|e| {
        bad(format!(
            "not an ECDSA P-256 private key in PEM (PKCS#8 or SEC1): {e}; create one with `bezoar keygen`"
        ))
    })
}

/// Load a P-256 public key (SPKI PEM, `BEGIN PUBLIC KEY`).
pub fn load_p256_public(path: &Path) -> Result<(p256::ecdsa::VerifyingKey, String)> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let vk =
        p256::ecdsa::VerifyingKey::from_public_key_pem(&text).map_err(|e| LedgerError::Key {
            path: path.to_path_buf(),
            message: format!("not an ECDSA P-256 public key in PEM (BEGIN PUBLIC KEY): {e}"),
        })?;
    Ok((vk, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_keys_round_trip_and_sign() {
        let s = LogSigner::generate("bezoar.test/log");
        let back = LogSigner::parse(&s.to_text()).unwrap();
        assert_eq!(back.key.as_bytes(), s.key.as_bytes());
        let v = LogVerifier::parse(&s.verifier().to_text()).unwrap();
        let sig = s.sign(b"hello");
        assert!(v.verify(b"hello", &sig));
        assert!(!v.verify(b"hellO", &sig));
        // A key id that does not match the key is rejected.
        let mut t = s.verifier().to_text();
        t = t.replacen(&hex(&s.key_id()), "00000000", 1);
        assert!(LogVerifier::parse(&t).is_none());
    }

    #[test]
    fn key_id_matches_the_note_spec_example() {
        // From golang.org/x/mod/sumdb/note: PeterNeumann's verifier key
        // "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW".
        let raw = B64
            .decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
            .unwrap();
        let pk: [u8; 32] = raw[1..].try_into().unwrap();
        assert_eq!(hex(&note_key_id("PeterNeumann", &pk)), "c74f20a3");
        assert!(LogVerifier::parse(
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        )
        .is_some());
    }

    #[test]
    fn p256_keys_round_trip() {
        let (private, public) = generate_p256();
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\n") && public.ends_with("-----\n"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k.pem"), &private).unwrap();
        std::fs::write(dir.path().join("k.pub.pem"), &public).unwrap();
        let sk = load_p256_private(&dir.path().join("k.pem")).unwrap();
        let (vk, text) = load_p256_public(&dir.path().join("k.pub.pem")).unwrap();
        assert_eq!(sk.verifying_key(), &vk);
        assert_eq!(public_pem(&vk), text);
    }
}
