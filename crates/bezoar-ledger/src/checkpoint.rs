//! C2SP tlog-checkpoint bodies signed as C2SP signed notes (Ed25519).
//!
//! ```text
//! <origin>
//! <tree size, decimal>
//! <base64 root hash>
//!
//! — <key name> <base64(4-byte key id ‖ 64-byte Ed25519 signature)>
//! ```
//!
//! The signature covers the note text: every byte up to and including the newline that ends
//! the root line. The key name is the log's origin.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::keys::{LogSigner, LogVerifier};
use crate::merkle::Hash;

/// A parsed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// The signed note: body, blank line, one signature line.
    pub fn sign(&self, signer: &LogSigner) -> String {
        let body = self.body();
        let mut blob = signer.key_id().to_vec();
        blob.extend_from_slice(&signer.sign(body.as_bytes()));
        format!("{body}\n\u{2014} {} {}\n", signer.name, B64.encode(blob))
    }

    /// Parse a signed note and check it carries a valid signature by `verifier` (signatures by
    /// other keys are ignored, as the signed-note spec requires).
    pub fn open(note: &str, verifier: &LogVerifier) -> Result<Self, String> {
        let split = note
            .rfind("\n\n")
            .ok_or("not a signed note: no blank line before the signatures")?;
        let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
        let want_id = verifier.key_id();
        let mut verified = false;
        for line in sigs.lines().filter(|l| !l.is_empty()) {
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or_else(|| format!("malformed signature line '{line}'"))?;
            let (name, b64) = rest
                .rsplit_once(' ')
                .ok_or_else(|| format!("malformed signature line '{line}'"))?;
            let blob = B64
                .decode(b64)
                .map_err(|_| format!("signature line '{line}' is not base64"))?;
            if name != verifier.name || blob.len() != 68 || blob[..4] != want_id {
                continue;
            }
            let sig: [u8; 64] = blob[4..].try_into().unwrap();
            if !verifier.verify(text.as_bytes(), &sig) {
                return Err(format!(
                    "the signature by '{name}' does not verify: the checkpoint was altered"
                ));
            }
            verified = true;
        }
        if !verified {
            return Err(format!(
                "no signature by the log key '{}' (key id {})",
                verifier.name,
                crate::util::hex(&want_id)
            ));
        }
        Self::parse_body(text)
    }

    fn parse_body(text: &str) -> Result<Self, String> {
        let mut lines = text.split('\n');
        let origin = lines.next().unwrap_or_default().to_string();
        let size = lines
            .next()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or("checkpoint: the second line is not a tree size")?;
        let root: Hash = lines
            .next()
            .and_then(|s| B64.decode(s).ok())
            .and_then(|v| v.try_into().ok())
            .ok_or("checkpoint: the third line is not a base64 SHA-256 root")?;
        if origin.is_empty() {
            return Err("checkpoint: empty origin line".into());
        }
        Ok(Self { origin, size, root })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_open() {
        let s = LogSigner::generate("bezoar.test/log");
        let cp = Checkpoint {
            origin: "bezoar.test/log".into(),
            size: 7,
            root: [9u8; 32],
        };
        let note = cp.sign(&s);
        assert!(note.starts_with("bezoar.test/log\n7\nCQkJ"));
        assert!(note.contains("\n\n\u{2014} bezoar.test/log "));
        assert_eq!(Checkpoint::open(&note, &s.verifier()).unwrap(), cp);
        let forged = note.replacen("\n7\n", "\n8\n", 1);
        assert!(Checkpoint::open(&forged, &s.verifier()).is_err());
        let other = LogSigner::generate("bezoar.test/log");
        assert!(Checkpoint::open(&note, &other.verifier()).is_err());
    }
}
