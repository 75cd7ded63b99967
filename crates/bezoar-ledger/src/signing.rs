//! OpenSSF model-signing bundles for dataset directories: a Sigstore bundle v0.3 wrapping a DSSE
//! envelope over an in-toto Statement v1 (predicate `https://model_signing/signature/v1.0`), with
//! a SHA-256 digest per file and an ECDSA P-256 signature. The reference `model_signing verify
//! key` accepts what [`sign_dir`] writes, and [`verify_dir`] accepts what it writes.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::{io_err, LedgerError, Result};
use crate::keys::{load_p256_private, load_p256_public, public_pem};
use crate::merkle::Hash;
use crate::util::{hex, hex32};

pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";
/// Paths model signing leaves out by default (top level of the signed directory).
pub const IGNORE_PATHS: [&str; 4] = [".gitignore", ".git", ".github", ".gitattributes"];

/// One signed file: its path relative to the directory (POSIX separators) and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDigest {
    pub name: String,
    #[serde(serialize_with = "ser_hex")]
    pub sha256: Hash,
}

fn ser_hex<S: serde::Serializer>(h: &Hash, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&hex(h))
}

/// Every regular file under `dir` (ignore paths and `exclude` left out), hashed, sorted by path
/// components (`a/b` before `a-c`).
pub fn hash_dir(dir: &Path, exclude: &[PathBuf]) -> Result<Vec<FileDigest>> {
    let meta = std::fs::metadata(dir).map_err(io_err(dir))?;
    if !meta.is_dir() {
        return Err(LedgerError::Invalid(format!(
            "{} is not a directory; sign a dataset directory",
            dir.display()
        )));
    }
    let exclude: Vec<PathBuf> = exclude
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    let mut files: Vec<(Vec<String>, PathBuf)> = Vec::new();
    walk(dir, &mut Vec::new(), &exclude, &mut files)?;
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
        .par_iter()
        .map(|(parts, path)| {
            let mut f = std::fs::File::open(path).map_err(io_err(path))?;
            let mut h = Sha256::new();
            std::io::copy(&mut f, &mut h).map_err(io_err(path))?;
            Ok(FileDigest {
                name: parts.join("/"),
                sha256: h.finalize().into(),
            })
        })
        .collect()
}

fn walk(
    dir: &Path,
    prefix: &mut Vec<String>,
    exclude: &[PathBuf],
    out: &mut Vec<(Vec<String>, PathBuf)>,
) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let name = entry
            .file_name()
            .to_str()
            .map(str::to_string)
            .ok_or_else(|| {
                LedgerError::Invalid(format!("{}: file name is not UTF-8", path.display()))
            })?;
        if prefix.is_empty() && IGNORE_PATHS.contains(&name.as_str()) {
            continue;
        }
        if std::fs::canonicalize(&path).is_ok_and(|c| exclude.contains(&c)) {
            continue;
        }
        let ft = entry.file_type().map_err(io_err(&path))?;
        if ft.is_symlink() {
            return Err(LedgerError::Invalid(format!(
                "{}: symbolic links are not allowed in a signed directory (model signing's allow_symlinks is false)",
                path.display()
            )));
        }
        prefix.push(name);
        if ft.is_dir() {
            walk(&path, prefix, exclude, out)?;
        } else if ft.is_file() {
            out.push((prefix.clone(), path));
        }
        prefix.pop();
    }
    Ok(())
}

/// SHA-256 over the concatenated raw file digests, in order: the statement's subject digest.
pub fn dir_root(files: &[FileDigest]) -> Hash {
    let mut h = Sha256::new();
    for f in files {
        h.update(f.sha256);
    }
    h.finalize().into()
}

/// The in-toto Statement v1 for a directory.
pub fn statement(dir_name: &str, files: &[FileDigest], extra: Option<Value>) -> Value {
    let resources: Vec<Value> = files
        .iter()
        .map(|f| json!({"name": f.name, "algorithm": "sha256", "digest": hex(&f.sha256)}))
        .collect();
    let mut predicate = json!({
        "resources": resources,
        "serialization": {
            "method": "files",
            "hash_type": "sha256",
            "allow_symlinks": false,
            "ignore_paths": IGNORE_PATHS,
        },
    });
    if let (Some(Value::Object(extra)), Value::Object(p)) = (extra, &mut predicate) {
        p.extend(extra);
    }
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": dir_name, "digest": {"sha256": hex(&dir_root(files))}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    })
}

/// DSSE pre-authentication encoding: `"DSSEv1" SP len(type) SP type SP len(body) SP body`.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

/// The bundle's key hint: hex SHA-256 of the public key's PEM text.
pub fn key_hint(pem: &str) -> String {
    hex(&Sha256::digest(pem.as_bytes()))
}

/// What `sign_dir` signed.
#[derive(Debug, Clone, Serialize)]
pub struct SignSummary {
    pub dir_name: String,
    #[serde(serialize_with = "ser_hex")]
    pub root: Hash,
    pub key_hint: String,
    pub files: Vec<FileDigest>,
    /// SHA-256 of the bundle file written.
    pub bundle_sha256: String,
}

fn dir_name(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string())
}

/// Sign a directory with an ECDSA P-256 key and write the bundle to `sig`. `extra` predicate
/// fields (verifiers ignore unknown ones) can carry a pointer into the ledger.
pub fn sign_dir(dir: &Path, key: &Path, sig: &Path, extra: Option<Value>) -> Result<SignSummary> {
    let sk = load_p256_private(key)?;
    let files = hash_dir(dir, &[sig.to_path_buf()])?;
    let name = dir_name(dir);
    let payload = serde_json::to_vec(&statement(&name, &files, extra)).expect("JSON encoding");
    let signature: p256::ecdsa::Signature = sk.sign(&pae(PAYLOAD_TYPE, &payload));
    let hint = key_hint(&public_pem(sk.verifying_key()));
    let bundle = json!({
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": hint}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": B64.encode(&payload),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": B64.encode(signature.to_der().as_bytes()), "keyid": ""}],
        },
    });
    let text = serde_json::to_string(&bundle).expect("JSON encoding");
    std::fs::write(sig, &text).map_err(io_err(sig))?;
    Ok(SignSummary {
        dir_name: name,
        root: dir_root(&files),
        key_hint: hint,
        files,
        bundle_sha256: hex(&Sha256::digest(text.as_bytes())),
    })
}

/// The outcome of checking a bundle against a directory.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SignatureCheck {
    pub ok: bool,
    pub signature_valid: bool,
    pub files_checked: u64,
    /// Each problem on one line, naming the file concerned.
    pub problems: Vec<String>,
    /// The statement's predicate extras, if any (e.g. `bezoar` ledger pointer).
    pub subject_digest: Option<String>,
}

/// Check a model-signing bundle: key hint, DSSE signature over the PAE, statement shape, then
/// every file of `dir` against the signed digests. Malformed bundles are errors; a bad
/// signature or changed files are reported in the result.
pub fn verify_dir(dir: &Path, public_key: &Path, sig: &Path) -> Result<SignatureCheck> {
    let (vk, pem) = load_p256_public(public_key)?;
    let text = std::fs::read_to_string(sig).map_err(io_err(sig))?;
    let bad = |m: &str| LedgerError::Invalid(format!("{}: {m}", sig.display()));
    let bundle: Value = serde_json::from_str(&text).map_err(|e| bad(&format!("not JSON: {e}")))?;
    let mut check = SignatureCheck::default();
    if bundle.get("mediaType").and_then(Value::as_str) != Some(BUNDLE_MEDIA_TYPE) {
        return Err(bad(&format!(
            "not a Sigstore bundle v0.3 (mediaType must be {BUNDLE_MEDIA_TYPE})"
        )));
    }
    if let Some(hint) = bundle
        .pointer("/verificationMaterial/publicKey/hint")
        .and_then(Value::as_str)
    {
        let want = key_hint(&pem);
        // The hint is of the PEM text; compare with our canonical re-encoding too, in case the
        // given file has different line endings.
        if hint != want && hint != key_hint(&public_pem(&vk)) {
            check.problems.push(format!(
                "the bundle was made for another key (hint {hint}, this key's hint is {want})"
            ));
        }
    }
    let env = bundle
        .get("dsseEnvelope")
        .ok_or_else(|| bad("no dsseEnvelope (only key-based DSSE bundles are supported)"))?;
    let payload_type = env.get("payloadType").and_then(Value::as_str).unwrap_or("");
    if payload_type != PAYLOAD_TYPE {
        return Err(bad(&format!(
            "payloadType is '{payload_type}', expected {PAYLOAD_TYPE}"
        )));
    }
    let payload = env
        .get("payload")
        .and_then(Value::as_str)
        .and_then(|p| B64.decode(p).ok())
        .ok_or_else(|| bad("the DSSE payload is missing or not base64"))?;
    let sigs = env
        .get("signatures")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("the DSSE envelope has no signatures"))?;
    let msg = pae(payload_type, &payload);
    check.signature_valid = sigs.iter().any(|s| {
        s.get("sig")
            .and_then(Value::as_str)
            .and_then(|b| B64.decode(b).ok())
            .and_then(|der| p256::ecdsa::Signature::from_der(&der).ok())
            .is_some_and(|sig| {
                let sig = sig.normalize_s().unwrap_or(sig);
                vk.verify(&msg, &sig).is_ok()
            })
    });
    if !check.signature_valid {
        check.problems.push(
            "the DSSE signature does not verify with this key: the statement was altered or signed by another key"
                .to_string(),
        );
    }
    let st: Value = serde_json::from_slice(&payload)
        .map_err(|e| bad(&format!("the DSSE payload is not JSON: {e}")))?;
    if st.get("_type").and_then(Value::as_str) != Some(STATEMENT_TYPE)
        || st.get("predicateType").and_then(Value::as_str) != Some(PREDICATE_TYPE)
    {
        return Err(bad(&format!(
            "the payload is not an in-toto Statement v1 with predicate {PREDICATE_TYPE}"
        )));
    }
    let resources = st
        .pointer("/predicate/resources")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("the statement has no predicate.resources"))?;
    let mut signed: Vec<FileDigest> = Vec::with_capacity(resources.len());
    let mut seen = std::collections::HashSet::with_capacity(resources.len());
    for r in resources {
        let name = r.get("name").and_then(Value::as_str);
        let alg = r.get("algorithm").and_then(Value::as_str);
        let digest = r.get("digest").and_then(Value::as_str).and_then(hex32);
        match (name, alg, digest) {
            // A file listed twice would be checked against whichever digest came last.
            (Some(n), Some("sha256"), Some(_)) if !seen.insert(n) => {
                return Err(bad(&format!(
                    "the statement lists {n} more than once (ambiguous digests)"
                )))
            }
            (Some(n), Some("sha256"), Some(d)) => signed.push(FileDigest {
                name: n.to_string(),
                sha256: d,
            }),
            _ => {
                return Err(bad(&format!(
                    "unsupported resource entry {r} (expected sha256 files)"
                )))
            }
        }
    }
    let subject = st
        .pointer("/subject/0/digest/sha256")
        .and_then(Value::as_str)
        .map(str::to_string);
    if subject.as_deref() != Some(hex(&dir_root(&signed)).as_str()) {
        check
            .problems
            .push("the statement's subject digest does not match its resources".to_string());
    }
    check.subject_digest = subject;
    let actual = hash_dir(dir, &[sig.to_path_buf()])?;
    check.files_checked = actual.len() as u64;
    let signed_map: std::collections::BTreeMap<&str, &Hash> = signed
        .iter()
        .map(|f| (f.name.as_str(), &f.sha256))
        .collect();
    let actual_map: std::collections::BTreeMap<&str, &Hash> = actual
        .iter()
        .map(|f| (f.name.as_str(), &f.sha256))
        .collect();
    for (name, d) in &actual_map {
        match signed_map.get(name) {
            None => check.problems.push(format!(
                "{name}: file is not covered by the signature (added)"
            )),
            Some(s) if s != d => check
                .problems
                .push(format!("{name}: content changed since it was signed")),
            _ => {}
        }
    }
    for name in signed_map.keys() {
        if !actual_map.contains_key(name) {
            check
                .problems
                .push(format!("{name}: signed file is missing"));
        }
    }
    check.ok = check.problems.is_empty();
    Ok(check)
}

impl crate::store::Ledger {
    /// Record a signature in the log, against every snapshot whose recorded file is one of the
    /// signed files (matched by SHA-256). Returns the event number and those snapshots.
    pub fn record_signature(
        &mut self,
        s: &SignSummary,
    ) -> Result<(u64, Vec<crate::snapshot::SnapshotInfo>)> {
        let digests: std::collections::HashSet<String> =
            s.files.iter().map(|f| hex(&f.sha256)).collect();
        let snaps: Vec<_> = self
            .snapshots()?
            .into_iter()
            .filter(|x| x.file.as_ref().is_some_and(|f| digests.contains(&f.sha256)))
            .collect();
        let mut datasets: Vec<&str> = snaps.iter().map(|x| x.dataset.as_str()).collect();
        datasets.sort_unstable();
        datasets.dedup();
        let seq = self.record_event(
            "signature",
            json!({
                "dir": s.dir_name,
                "root": hex(&s.root),
                "files": s.files.len(),
                "key_hint": s.key_hint,
                "bundle_sha256": s.bundle_sha256,
                "predicate_type": PREDICATE_TYPE,
                "snapshots": snaps.iter().map(|x| x.id).collect::<Vec<_>>(),
                "datasets": datasets,
            }),
        )?;
        Ok((seq, snaps))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interop() -> Option<PathBuf> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/interop");
        if p.join("sample_dataset.model-signing.sig.json").exists() {
            Some(p)
        } else {
            eprintln!("SKIP: {} not found", p.display());
            None
        }
    }

    #[test]
    fn pae_matches_the_dsse_spec() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn sorts_by_path_components() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/b"), "x").unwrap();
        std::fs::write(dir.path().join("a-c"), "y").unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".git/HEAD"), "z").unwrap();
        let files = hash_dir(dir.path(), &[]).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a/b", "a-c"]);
    }

    #[test]
    fn reference_fixture_verifies() {
        let Some(p) = interop() else { return };
        let files = hash_dir(&p.join("sample_dataset"), &[]).unwrap();
        assert_eq!(
            hex(&dir_root(&files)),
            "7d1ada86064a2ce989721ede1e49177bf4452e2d2be974e09844a58e085c6430"
        );
        let pem = std::fs::read_to_string(p.join("p256.pub.pem")).unwrap();
        assert_eq!(
            key_hint(&pem),
            "c951992255e0a8adb6d7e6721edc90a87e20500735e7a509956579a6302e2542"
        );
        let check = verify_dir(
            &p.join("sample_dataset"),
            &p.join("p256.pub.pem"),
            &p.join("sample_dataset.model-signing.sig.json"),
        )
        .unwrap();
        assert!(check.ok, "{:?}", check.problems);
    }

    #[test]
    fn sign_then_verify_then_tamper() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("ds");
        std::fs::create_dir_all(data.join("train")).unwrap();
        std::fs::write(
            data.join("train/part-0.jsonl"),
            "{\"text\":\"a\",\"label\":1}\n",
        )
        .unwrap();
        std::fs::write(data.join("README.md"), "hi\n").unwrap();
        let (private, public) = crate::keys::generate_p256();
        std::fs::write(dir.path().join("k.pem"), private).unwrap();
        std::fs::write(dir.path().join("k.pub.pem"), public).unwrap();
        let sig = dir.path().join("ds.sig.json");
        let s = sign_dir(&data, &dir.path().join("k.pem"), &sig, None).unwrap();
        assert_eq!(s.files.len(), 2);
        let ok = verify_dir(&data, &dir.path().join("k.pub.pem"), &sig).unwrap();
        assert!(ok.ok, "{:?}", ok.problems);
        std::fs::write(
            data.join("train/part-0.jsonl"),
            "{\"text\":\"a\",\"label\":0}\n",
        )
        .unwrap();
        let bad = verify_dir(&data, &dir.path().join("k.pub.pem"), &sig).unwrap();
        assert!(!bad.ok);
        assert!(
            bad.problems[0].contains("train/part-0.jsonl"),
            "{:?}",
            bad.problems
        );
        // Another key fails on the hint and the signature.
        let (_, other) = crate::keys::generate_p256();
        std::fs::write(dir.path().join("o.pub.pem"), other).unwrap();
        let bad = verify_dir(&data, &dir.path().join("o.pub.pem"), &sig).unwrap();
        assert!(!bad.signature_valid);
    }
}
