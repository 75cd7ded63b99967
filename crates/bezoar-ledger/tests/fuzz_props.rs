//! Fuzzing and property tests (proptest, stable Rust) for every parser of untrusted input in
//! the ledger crate (issue #12, "Hardening"). Every property runs a bounded number of cases
//! with a fixed RNG seed and no failure files, so the file is deterministic and quick enough for
//! the default `cargo test --workspace`.
//!
//! What each property checks:
//!
//! Checkpoints (`checkpoint.rs`, C2SP signed notes):
//! - `checkpoint_open_never_accepts_arbitrary_text`: arbitrary text and note-shaped text with
//!   forged signature lines give `Err`, never a panic and never `Ok`.
//! - `signed_checkpoints_round_trip`: any (origin, size, root) signed by any key opens to itself
//!   and fails under another key or another key name.
//! - `byte_mutations_of_a_signed_checkpoint_never_verify`: every single-byte replacement or bit
//!   flip of a signed note is refused; an insertion, deletion or truncation either is refused or
//!   opens to exactly the signed checkpoint (only the unsigned signature block's framing moved).
//! - `the_ledgers_own_checkpoint_resists_mutation`: the same on a real ledger's stored note.
//! - `log_verifier_keys_parse_or_refuse`: arbitrary `log.pub` text never panics; what parses
//!   round-trips.
//!
//! Merkle trees and proofs (`merkle.rs`, `proofs.rs`):
//! - `inclusion_proofs_verify_and_reject_tampering`: for 1..300 leaves and any index the proof
//!   verifies; any changed hash, missing or extra element, wrong leaf or wrong root is refused;
//!   under another (index, size) it verifies exactly when the RFC's recursive definition says
//!   it should (an independent oracle, below: leaf 0 of 5 does verify as leaf 0 of 6).
//! - `consistency_proofs_verify_and_reject_tampering`: the same for consistency proofs.
//! - `random_proof_inputs_never_panic_or_verify`: random hashes with sizes 0, 1, u64::MAX,
//!   index >= size etc.: no panic, and only the trivial cases verify.
//! - `compact_tree_matches_root`: `CompactTree` after every push equals `merkle::root`.
//! - `proof_json_never_panics`: arbitrary text and JSON shaped like a proof, parsed as
//!   `proofs::Proof`, never panic in `check` or `Ledger::check_proof`; parsed proofs round-trip.
//! - `ledger_proofs_round_trip_and_resist_mutation`: a ledger's proofs pass `check_proof`; any
//!   byte mutation of their JSON is refused or means the same proof (hex case, whitespace,
//!   origin).
//!
//! DSSE approval envelopes (`approval.rs`, read by `Ledger::check_approvals`):
//! - `approval_envelopes_resist_mutation`: arbitrary JSON and byte mutations of a real
//!   two-signature envelope never panic; a signature only verifies over the original payload;
//!   changing a payload byte, a signature byte or a key id makes that signature invalid.
//!
//! Model-signing bundles (`signing.rs`, `verify_dir`):
//! - `model_signing_bundles_resist_mutation`: arbitrary and mutated bundles never panic; a valid
//!   signature only over the original payload; payload or signature bit flips fail; statements
//!   signed with the right key but listing other files, or one file twice, never pass.
//!
//! Policy (`policy.rs`):
//! - `policy_text_never_panics`: arbitrary text and structurally random TOML load as `Ok` or a
//!   `LedgerError::Policy` value; `errors()` and `for_dataset` never panic on what loads.
//! - `policy_files_round_trip`: any `PolicyFile` written as TOML loads back to the same, and
//!   `for_dataset` takes each field from the dataset table, else `[defaults]`, else the default.
//!
//! API tokens (`auth.rs`):
//! - `tokens_never_authenticate`: arbitrary strings, well-formed unknown tokens, the admin's
//!   token id with another secret and every mutation of the admin's token are refused with
//!   `BadToken`, and the error never echoes the secret.
//!
//! Canonical rows (`rows.rs`):
//! - `decode_rows_never_panics_and_is_canonical`: arbitrary bytes: no panic; what decodes
//!   re-encodes to exactly the input and the ranges tile it.
//! - `rows_round_trip_and_truncations_fail`: encode→decode round-trips any (id, text, label);
//!   a prefix decodes iff it ends on a row boundary.
//! - `chunk_boundaries_are_content_defined`: boundaries increase, end at the row count, respect
//!   the minimum/maximum chunk sizes, and cutting the input at a boundary leaves the other
//!   boundaries unchanged (content-defined, independent of what came before).
//!
//! Order independence (`diff.rs`):
//! - `diff_is_independent_of_row_order`: `diff_rows` over shuffled inputs reports the same
//!   sets and counts, and `diff(a, b)` mirrors `diff(b, a)`.
//!
//! Dates (`identity.rs` `parse_time`, for `--expires`):
//! - `parse_time_round_trips_rfc3339`: every timestamp printed by `util::rfc3339` parses back.
//! - `parse_time_never_panics_and_checks_ranges`: time fields are unsigned clock values.

use std::cell::RefCell;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde_json::{json, Value};

use bezoar_data::{ColumnSpec, ReadOptions};
use bezoar_ledger::approval::{ApprovalKey, PAYLOAD_TYPE};
use bezoar_ledger::checkpoint::Checkpoint;
use bezoar_ledger::grants::Role;
use bezoar_ledger::identity::{IdentityKind, NewIdentity};
use bezoar_ledger::keys::{self, LogSigner, LogVerifier};
use bezoar_ledger::merkle::{self, CompactTree, Hash};
use bezoar_ledger::policy::{DatasetPolicy, Policy, PolicyFile, ProbePolicy, ScanPolicy};
use bezoar_ledger::proofs::Proof;
use bezoar_ledger::rows::{self, RowContent};
use bezoar_ledger::snapshot::{AddOptions, StoredRow};
use bezoar_ledger::{util, Ledger, LedgerError};

// ------------------------------------------------------------------------------------------
// Shared helpers
// ------------------------------------------------------------------------------------------

/// Bounded, deterministic, no failure files.
fn cfg(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x000b_e20a_12f0_22ed),
        max_shrink_iters: 1024,
        ..Config::default()
    }
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(cfg(cases))
}

/// Run a property with a runner and fail the test (with the minimal input) if it fails.
fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    if let Err(e) = runner(cases).run(&strategy, test) {
        panic!("{e}");
    }
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the byte at (index mod len) by a different one.
    Set(usize, u8),
    /// Flip one bit of the byte at (index mod len).
    Flip(usize, u8),
    /// Insert a byte before (index mod (len + 1)).
    Insert(usize, u8),
    /// Delete the byte at (index mod len).
    Delete(usize),
    /// Keep the first (index mod len) bytes.
    Truncate(usize),
}

impl Mutation {
    fn apply(&self, v: &[u8]) -> Vec<u8> {
        let mut out = v.to_vec();
        if v.is_empty() {
            if let Mutation::Insert(_, b) = self {
                out.push(*b);
            }
            return out;
        }
        match *self {
            Mutation::Set(i, b) => {
                let i = i % v.len();
                out[i] = if out[i] == b { b.wrapping_add(1) } else { b };
            }
            Mutation::Flip(i, bit) => out[i % v.len()] ^= 1 << (bit % 8),
            Mutation::Insert(i, b) => out.insert(i % (v.len() + 1), b),
            Mutation::Delete(i) => {
                out.remove(i % v.len());
            }
            Mutation::Truncate(i) => out.truncate(i % v.len()),
        }
        out
    }

    /// Replacements and bit flips keep the length: a "single-byte mutation".
    fn is_in_place(&self) -> bool {
        matches!(self, Mutation::Set(..) | Mutation::Flip(..))
    }
}

/// Byte values biased towards the characters that matter to these formats.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => any::<u8>(),
        3 => prop::sample::select(b" \n\r\t\"\\{}[],:=+_-./0123456789abcdefABCDEF".to_vec()),
        1 => prop::sample::select(vec![0u8, 0x7f, 0x80, 0xc3, 0xe2, 0xff]),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), interesting_byte()).prop_map(|(i, b)| Mutation::Set(i, b)),
        3 => (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        2 => (any::<usize>(), interesting_byte()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => any::<usize>().prop_map(Mutation::Delete),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

/// Text after a mutation: as is when still UTF-8, else with replacement characters (which is
/// what a reader that does not give up on bad UTF-8 would see).
fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Random JSON (depth-bounded), with object keys drawn from `keys` or arbitrary.
fn json_value(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        "[0-9a-fA-F]{0,70}".prop_map(Value::from),
        "[A-Za-z0-9+/=]{0,120}".prop_map(Value::from),
        prop::sample::select(keys.to_vec()).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        let key = prop_oneof![
            3 => prop::sample::select(keys.to_vec()).prop_map(str::to_string),
            1 => ".{0,12}".prop_map(String::from),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(key, inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>()
}

/// `n` distinct leaf hashes, determined by `seed`.
fn leaves(seed: u64, n: usize) -> Vec<Hash> {
    (0..n as u64)
        .map(|i| merkle::leaf_hash(&[seed.to_be_bytes(), i.to_be_bytes()].concat()))
        .collect()
}

/// A half-open range of leaf positions: one subtree of an RFC 6962 tree.
type Span = (u64, u64);

/// Largest power of two strictly smaller than `n` (n >= 2).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The subtrees whose roots form the inclusion proof of leaf `i` in the tree over `[a, b)`,
/// straight from the recursive definition (RFC 9162 2.1.3.1, PATH).
fn path_spans(i: u64, a: u64, b: u64, out: &mut Vec<Span>) {
    if b - a <= 1 {
        return;
    }
    let k = split(b - a);
    if i < k {
        path_spans(i, a, a + k, out);
        out.push((a + k, b));
    } else {
        path_spans(i - k, a + k, b, out);
        out.push((a, a + k));
    }
}

/// The subtrees whose roots form the consistency proof of the first `m` leaves of `[a, b)`
/// (RFC 9162 2.1.4.1, SUBPROOF). `whole_prefix` is set when the old tree is itself a subtree
/// (its root is then left out of the proof: the verifier knows it).
fn subproof_spans(
    m: u64,
    a: u64,
    b: u64,
    whole: bool,
    out: &mut Vec<Span>,
    whole_prefix: &mut bool,
) {
    if m == b - a {
        if whole {
            *whole_prefix = true;
        } else {
            out.push((a, b));
        }
        return;
    }
    let k = split(b - a);
    if m <= k {
        subproof_spans(m, a, a + k, whole, out, whole_prefix);
        out.push((a + k, b));
    } else {
        subproof_spans(m - k, a + k, b, false, out, whole_prefix);
        out.push((a, a + k));
    }
}

/// The root of the subtree `[a, b)` computed from known subtree roots only (`None` when some
/// leaf is not covered).
fn span_root(a: u64, b: u64, known: &[(Span, Hash)]) -> Option<Hash> {
    if let Some((_, h)) = known.iter().find(|(s, _)| *s == (a, b)) {
        return Some(*h);
    }
    if b - a <= 1 || !known.iter().any(|((x, y), _)| a <= *x && *y <= b) {
        return None;
    }
    let k = split(b - a);
    Some(merkle::node_hash(
        &span_root(a, a + k, known)?,
        &span_root(a + k, b, known)?,
    ))
}

/// What `verify_inclusion` must answer, by the definition: read the proof as the roots of the
/// subtrees PATH(index, size) names, and recompute the root from them and the leaf. An
/// independent restatement of RFC 9162's verification (which is bit arithmetic); it accepts
/// another (index, size) exactly when the two trees have the same shape along the path (e.g.
/// leaf 0 of 5 and of 6).
fn inclusion_oracle(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let mut spans = Vec::new();
    path_spans(index, 0, size, &mut spans);
    if spans.len() != proof.len() {
        return false;
    }
    let mut known: Vec<(Span, Hash)> = spans.into_iter().zip(proof.iter().copied()).collect();
    known.push(((index, index + 1), *leaf));
    span_root(0, size, &known).as_ref() == Some(root)
}

/// What `verify_consistency` must answer (first >= 1), by the same reading of SUBPROOF.
fn consistency_oracle(first: u64, second: u64, r1: &Hash, r2: &Hash, proof: &[Hash]) -> bool {
    if first == 0 || first > second {
        return false;
    }
    let (mut spans, mut whole_prefix) = (Vec::new(), false);
    subproof_spans(first, 0, second, true, &mut spans, &mut whole_prefix);
    if spans.len() != proof.len() {
        return false;
    }
    let mut known: Vec<(Span, Hash)> = spans.into_iter().zip(proof.iter().copied()).collect();
    if whole_prefix {
        known.push(((0, first), *r1));
    }
    span_root(0, first, &known).as_ref() == Some(r1)
        && span_root(0, second, &known).as_ref() == Some(r2)
}

/// A C2SP log signer from a fixed seed (the crate's `generate` draws a random one).
fn log_signer(name: &str, seed: [u8; 32]) -> LogSigner {
    let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
    let id = keys::note_key_id(name, sk.verifying_key().as_bytes());
    let mut raw = vec![1u8];
    raw.extend_from_slice(&seed);
    LogSigner::parse(&format!(
        "PRIVATE+KEY+{name}+{}+{}",
        util::hex(&id),
        B64.encode(raw)
    ))
    .expect("a well-formed signer key")
}

fn p256_key(seed: u8) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[seed; 32]).expect("a valid scalar")
}

fn read_opts() -> ReadOptions {
    ReadOptions {
        format: None,
        columns: ColumnSpec {
            id: Some("id".into()),
            ..ColumnSpec::default()
        },
        skip_invalid: false,
    }
}

fn add_opts(dataset: &str, source: &str) -> AddOptions {
    AddOptions {
        dataset: dataset.into(),
        source: source.into(),
        message: None,
        replace: false,
        read: read_opts(),
        llm: None,
    }
}

fn db(root: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(root.join(".bezoar/ledger.db")).unwrap()
}

// ------------------------------------------------------------------------------------------
// Checkpoints
// ------------------------------------------------------------------------------------------

/// Key names as the signed-note spec allows them: no whitespace, no '+'.
const KEY_NAME: &str = "[A-Za-z0-9._/-]{1,30}";

fn note_shaped(name: String) -> impl Strategy<Value = String> {
    (
        "[^\n]{0,20}",
        prop_oneof![any::<u64>().prop_map(|n| n.to_string()), ".{0,8}"],
        prop_oneof![hash().prop_map(|h| B64.encode(h)), "[A-Za-z0-9+/=]{0,50}"],
        prop_oneof![Just(name), KEY_NAME.prop_map(String::from)],
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..80),
            prop::collection::vec(any::<u8>(), 68..=68)
        ],
        prop::sample::select(vec!["\u{2014} ", "- ", "\u{2014}", ""]),
        prop::sample::select(vec!["\n", "", "\n\n", "\r\n"]),
    )
        .prop_map(|(origin, size, root, name, blob, dash, end)| {
            format!(
                "{origin}\n{size}\n{root}\n\n{dash}{name} {}{end}",
                B64.encode(blob)
            )
        })
}

#[test]
fn checkpoint_open_never_accepts_arbitrary_text() {
    let signer = log_signer("bezoar.test/log", [7; 32]);
    let v = signer.verifier();
    // The right key id in front of a random signature: the name and id match, so the
    // signature itself is checked.
    let id = signer.key_id();
    let text = prop_oneof![
        ".{0,200}".prop_map(String::from),
        note_shaped(v.name.clone()),
        (
            hash(),
            any::<u64>(),
            prop::collection::vec(any::<u8>(), 64..=64)
        )
            .prop_map(move |(root, size, sig)| {
                let body = Checkpoint {
                    origin: "bezoar.test/log".into(),
                    size,
                    root,
                }
                .body();
                let blob = [id.to_vec(), sig].concat();
                format!("{body}\n\u{2014} bezoar.test/log {}\n", B64.encode(blob))
            }),
    ];
    check(256, text, |note| {
        let r = Checkpoint::open(&note, &v);
        prop_assert!(r.is_err(), "accepted a forged note: {r:?}");
        Ok(())
    });
}

#[test]
fn signed_checkpoints_round_trip() {
    let s = (
        "[^\n]{1,40}",
        any::<u64>(),
        hash(),
        KEY_NAME,
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
    );
    check(128, s, |(origin, size, root, name, seed, other_seed)| {
        let cp = Checkpoint { origin, size, root };
        let signer = log_signer(&name, seed);
        let note = cp.sign(&signer);
        prop_assert_eq!(Checkpoint::open(&note, &signer.verifier()), Ok(cp.clone()));
        prop_assert_eq!(
            bezoar_ledger::verify::open_checkpoint(&note, &signer.verifier()),
            Ok(cp.clone())
        );
        if seed != other_seed {
            let other = log_signer(&name, other_seed);
            prop_assert!(Checkpoint::open(&note, &other.verifier()).is_err());
        }
        let renamed = log_signer(&format!("{name}x"), seed);
        prop_assert!(Checkpoint::open(&note, &renamed.verifier()).is_err());
        Ok(())
    });
}

/// A mutated note must be refused, unless it opens to exactly the signed checkpoint and the
/// edit was an insertion/deletion/truncation (the signature block is not signed: deleting the
/// final newline or inserting '\r' before it leaves the signed text and signature intact).
fn check_note_mutation(
    note: &str,
    cp: &Checkpoint,
    v: &LogVerifier,
    m: &Mutation,
) -> Result<(), TestCaseError> {
    let mutated = m.apply(note.as_bytes());
    if mutated == note.as_bytes() {
        return Ok(());
    }
    let text = text_of(&mutated);
    match Checkpoint::open(&text, v) {
        Err(_) => {}
        Ok(got) => {
            prop_assert!(
                !m.is_in_place(),
                "single-byte mutation {m:?} of the note still verifies: {text:?}"
            );
            prop_assert_eq!(&got, cp, "mutation {:?} verifies as another checkpoint", m);
            prop_assert!(
                text.starts_with(&format!("{}\n", cp.body())),
                "mutation {:?} changed the signed text and still verifies",
                m
            );
        }
    }
    Ok(())
}

#[test]
fn byte_mutations_of_a_signed_checkpoint_never_verify() {
    let s = (
        "[^\n]{1,24}",
        any::<u64>(),
        hash(),
        prop::collection::vec(mutation(), 1..4),
    );
    check(256, s, |(origin, size, root, muts)| {
        let signer = log_signer("bezoar.test/log", [3; 32]);
        let cp = Checkpoint { origin, size, root };
        let note = cp.sign(&signer);
        for m in &muts {
            check_note_mutation(&note, &cp, &signer.verifier(), m)?;
        }
        // Every in-place edit, applied together, is refused as well.
        let mut all = note.clone().into_bytes();
        for m in muts.iter().filter(|m| m.is_in_place()) {
            all = m.apply(&all);
        }
        if all != note.as_bytes() {
            prop_assert!(Checkpoint::open(&text_of(&all), &signer.verifier()).is_err());
        }
        Ok(())
    });
}

#[test]
fn the_ledgers_own_checkpoint_resists_mutation() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::init(dir.path()).unwrap();
    let (_, note) = ledger.latest_checkpoint().unwrap().unwrap();
    let v = ledger.verifier().clone();
    let cp = Checkpoint::open(&note, &v).unwrap();
    // Every position at least once, with a fixed replacement, then random edits.
    for i in 0..note.len() {
        check_note_mutation(&note, &cp, &v, &Mutation::Set(i, b'A')).unwrap();
        check_note_mutation(&note, &cp, &v, &Mutation::Flip(i, 0)).unwrap();
    }
    check(256, mutation(), |m| check_note_mutation(&note, &cp, &v, &m));
}

#[test]
fn log_verifier_keys_parse_or_refuse() {
    let good = log_signer("bezoar.local/abc", [5; 32]).verifier().to_text();
    let text = prop_oneof![
        ".{0,120}".prop_map(String::from),
        "[a-z./]{1,10}\\+[0-9a-f]{8}\\+[A-Za-z0-9+/=]{0,60}".prop_map(String::from),
        mutation().prop_map(move |m| text_of(&m.apply(good.as_bytes()))),
    ];
    check(256, text, |t| {
        if let Some(v) = LogVerifier::parse(&t) {
            prop_assert_eq!(LogVerifier::parse(&v.to_text()), Some(v.clone()));
        }
        let _ = LogSigner::parse(&t);
        Ok(())
    });
}

// ------------------------------------------------------------------------------------------
// Merkle trees and proofs
// ------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cfg(256))]

    #[test]
    fn inclusion_proofs_verify_and_reject_tampering(
        seed in any::<u64>(),
        n in 1usize..300,
        index in any::<prop::sample::Index>(),
        elem in any::<prop::sample::Index>(),
        bit in 0u8..8,
        other_index in 0u64..340,
        other_size in 0u64..340,
        extra in hash(),
    ) {
        let d = leaves(seed, n);
        let i = index.index(n);
        let root = merkle::root(&d);
        let p = merkle::inclusion_proof(&d, i).unwrap();
        let (iu, nu) = (i as u64, n as u64);
        prop_assert!(merkle::verify_inclusion(iu, nu, &d[i], &p, &root));
        prop_assert!(inclusion_oracle(iu, nu, &d[i], &p, &root), "oracle disagrees on the honest proof");
        prop_assert!(merkle::inclusion_proof(&d, n).is_none());
        // Tampered proof element, truncated or extended proof, wrong leaf, wrong root.
        if !p.is_empty() {
            let mut bad = p.clone();
            bad[elem.index(p.len())][bit as usize % 32] ^= 1 << (bit % 8);
            prop_assert!(!merkle::verify_inclusion(iu, nu, &d[i], &bad, &root));
            let mut short = p.clone();
            short.remove(elem.index(p.len()));
            prop_assert!(!merkle::verify_inclusion(iu, nu, &d[i], &short, &root));
        }
        let mut long = p.clone();
        long.push(extra);
        prop_assert!(!merkle::verify_inclusion(iu, nu, &d[i], &long, &root));
        let mut bad_leaf = d[i];
        bad_leaf[bit as usize] ^= 0x80;
        prop_assert!(!merkle::verify_inclusion(iu, nu, &bad_leaf, &p, &root));
        let mut bad_root = root;
        bad_root[31 - bit as usize] ^= 1;
        prop_assert!(!merkle::verify_inclusion(iu, nu, &d[i], &p, &bad_root));
        // Another index and/or size: accepted exactly when an honest tree of that size with the
        // same root yields this proof for the leaf at that index.
        for (j, m) in [
            (other_index, nu),
            (iu, other_size),
            (other_index, other_size),
            (iu, nu + 1),
            (iu, nu.saturating_sub(1)),
            (iu + 1, nu),
            (iu.saturating_sub(1), nu),
            (iu, u64::MAX),
        ] {
            prop_assert_eq!(
                merkle::verify_inclusion(j, m, &d[i], &p, &root),
                inclusion_oracle(j, m, &d[i], &p, &root),
                "leaf {} of {} verified as leaf {} of {}", i, n, j, m
            );
        }
    }

    #[test]
    fn consistency_proofs_verify_and_reject_tampering(
        seed in any::<u64>(),
        n in 1usize..300,
        first in any::<prop::sample::Index>(),
        elem in any::<prop::sample::Index>(),
        bit in 0u8..8,
        other_first in 0u64..340,
        other_second in 0u64..340,
        extra in hash(),
    ) {
        let d = leaves(seed, n);
        let m = first.index(n) + 1;
        let (r1, r2) = (merkle::root(&d[..m]), merkle::root(&d));
        let p = merkle::consistency_proof(&d, m).unwrap();
        let (mu, nu) = (m as u64, n as u64);
        prop_assert!(merkle::verify_consistency(mu, nu, &r1, &r2, &p));
        prop_assert!(consistency_oracle(mu, nu, &r1, &r2, &p), "oracle disagrees on the honest proof");
        prop_assert!(merkle::consistency_proof(&d, 0).is_none());
        prop_assert!(merkle::consistency_proof(&d, n + 1).is_none());
        if !p.is_empty() {
            let mut bad = p.clone();
            bad[elem.index(p.len())][bit as usize % 32] ^= 1 << (bit % 8);
            prop_assert!(!merkle::verify_consistency(mu, nu, &r1, &r2, &bad));
            let mut short = p.clone();
            short.remove(elem.index(p.len()));
            prop_assert!(!merkle::verify_consistency(mu, nu, &r1, &r2, &short));
        }
        let mut long = p.clone();
        long.push(extra);
        prop_assert!(!merkle::verify_consistency(mu, nu, &r1, &r2, &long));
        let (mut b1, mut b2) = (r1, r2);
        b1[bit as usize] ^= 1;
        b2[bit as usize + 8] ^= 2;
        prop_assert!(!merkle::verify_consistency(mu, nu, &b1, &r2, &p));
        prop_assert!(!merkle::verify_consistency(mu, nu, &r1, &b2, &p));
        // The empty tree is consistent with every tree, with an empty proof only.
        prop_assert_eq!(merkle::verify_consistency(0, nu, &r1, &r2, &p), p.is_empty());
        for (f, s) in [
            (other_first, nu),
            (mu, other_second),
            (other_first, other_second),
            (mu + 1, nu),
            (mu - 1, nu),
            (mu, nu + 1),
            (mu, nu - 1),
            (mu, u64::MAX),
            (u64::MAX, u64::MAX),
        ] {
            if f == 0 {
                continue;
            }
            prop_assert_eq!(
                merkle::verify_consistency(f, s, &r1, &r2, &p),
                consistency_oracle(f, s, &r1, &r2, &p),
                "proof {} -> {} verified as {} -> {}", m, n, f, s
            );
        }
    }

    #[test]
    fn random_proof_inputs_never_panic_or_verify(
        index in prop_oneof![Just(0u64), Just(1), Just(u64::MAX), Just(u64::MAX - 1), Just(1 << 63), any::<u64>(), 0u64..64],
        size in prop_oneof![Just(0u64), Just(1), Just(u64::MAX), Just(u64::MAX - 1), Just(1 << 63), any::<u64>(), 0u64..64],
        leaf in hash(),
        root in prop_oneof![hash().prop_map(Some), Just(None)],
        proof in prop::collection::vec(hash(), 0..70),
    ) {
        let root = root.unwrap_or(leaf);
        let trivial = index == 0 && size == 1 && proof.is_empty() && leaf == root;
        prop_assert_eq!(merkle::verify_inclusion(index, size, &leaf, &proof, &root), trivial);
        prop_assert_eq!(inclusion_oracle(index, size, &leaf, &proof, &root), trivial);
        let (first, second) = (index, size);
        let trivial = (first == second && proof.is_empty() && leaf == root)
            || (first == 0 && second > 0 && proof.is_empty());
        prop_assert_eq!(
            merkle::verify_consistency(first, second, &leaf, &root, &proof),
            trivial
        );
        if first > 0 {
            prop_assert_eq!(consistency_oracle(first, second, &leaf, &root, &proof), trivial);
        }
    }

    #[test]
    fn compact_tree_matches_root(seed in any::<u64>(), n in 0usize..300) {
        let d = leaves(seed, n);
        let mut t = CompactTree::new();
        prop_assert_eq!(t.root(), merkle::empty_root());
        for (k, l) in d.iter().enumerate() {
            t.push(*l);
            prop_assert_eq!(t.size(), k as u64 + 1);
            prop_assert_eq!(t.root(), merkle::root(&d[..=k]), "after {} leaves", k + 1);
        }
    }
}

const PROOF_KEYS: &[&str] = &[
    "type",
    "inclusion",
    "consistency",
    "origin",
    "leaf_index",
    "tree_size",
    "leaf_hash",
    "root",
    "proof",
    "first",
    "second",
    "first_root",
    "second_root",
];

/// A ledger with a few events (for proofs, checkpoints and tokens).
fn ledger_with_events(dir: &Path, events: usize) -> Ledger {
    let mut l = Ledger::init(dir).unwrap();
    for k in 0..events {
        l.record_event("note", json!({"k": k})).unwrap();
    }
    l
}

/// A proof as a `check_proof` that passes must see it: hex in lower case, origin dropped.
fn normalized(p: &Proof) -> Proof {
    let lc = |s: &String| s.to_ascii_lowercase();
    match p.clone() {
        Proof::Inclusion {
            leaf_index,
            tree_size,
            leaf_hash,
            root,
            proof,
            ..
        } => Proof::Inclusion {
            origin: String::new(),
            leaf_index,
            tree_size,
            leaf_hash: lc(&leaf_hash),
            root: lc(&root),
            proof: proof.iter().map(lc).collect(),
        },
        Proof::Consistency {
            first,
            second,
            first_root,
            second_root,
            proof,
            ..
        } => Proof::Consistency {
            origin: String::new(),
            first,
            second,
            first_root: lc(&first_root),
            second_root: lc(&second_root),
            proof: proof.iter().map(lc).collect(),
        },
    }
}

#[test]
fn proof_json_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_with_events(dir.path(), 3);
    let n = ledger.leaf_hashes().unwrap().len() as u64;
    let text = prop_oneof![
        ".{0,200}".prop_map(String::from),
        json_value(PROOF_KEYS).prop_map(|v| v.to_string()),
        // Proof-shaped objects with random field values.
        (
            prop::sample::select(vec!["inclusion", "consistency", "other"]),
            json_value(PROOF_KEYS),
            prop_oneof![
                Just(json!(0)),
                Just(json!(u64::MAX)),
                any::<u64>().prop_map(|x| json!(x)),
                (0..n + 2).prop_map(|x| json!(x))
            ],
            prop_oneof![
                Just(json!(0)),
                Just(json!(u64::MAX)),
                any::<u64>().prop_map(|x| json!(x)),
                (0..n + 2).prop_map(|x| json!(x))
            ],
            prop::collection::vec("[0-9a-fA-F]{0,66}|.{0,8}", 0..5),
            prop::collection::vec("[0-9a-fA-F]{64}|[0-9a-f]{0,66}|.{0,8}", 0..70),
        )
            .prop_map(|(ty, origin, a, b, h, proof)| {
                let h = |k: usize| h.get(k).cloned().unwrap_or_default();
                json!({
                    "type": ty, "origin": origin,
                    "leaf_index": a, "tree_size": b, "first": a, "second": b,
                    "leaf_hash": h(0), "root": h(1), "first_root": h(2), "second_root": h(3),
                    "proof": proof,
                })
                .to_string()
            }),
    ];
    check(256, text, |t| {
        if let Ok(p) = serde_json::from_str::<Proof>(&t) {
            let ok = p.check();
            let problems = ledger.check_proof(&p).map_err(|e| {
                TestCaseError::fail(format!("check_proof returned an error, not problems: {e}"))
            })?;
            prop_assert!(
                ok || !problems.is_empty(),
                "a failing proof passed check_proof"
            );
            let again: Proof = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
            prop_assert_eq!(again, p);
        }
        Ok(())
    });
}

#[test]
fn ledger_proofs_round_trip_and_resist_mutation() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_with_events(dir.path(), 12);
    let n = ledger.leaf_hashes().unwrap().len() as u64;
    assert!(n >= 13, "{n} events");
    let s = (
        any::<bool>(),
        1..=n,
        any::<prop::sample::Index>(),
        prop::collection::vec(mutation(), 1..3),
    );
    check(192, s, |(inclusion, size, at, muts)| {
        let p = if inclusion {
            ledger.inclusion_proof(at.index(size as usize) as u64, Some(size))
        } else {
            ledger.consistency_proof(at.index(size as usize) as u64 + 1, Some(size))
        }
        .unwrap();
        prop_assert!(p.check());
        prop_assert!(ledger.check_proof(&p).unwrap().is_empty());
        let text = serde_json::to_string_pretty(&p).unwrap();
        prop_assert_eq!(&serde_json::from_str::<Proof>(&text).unwrap(), &p);
        let mut bytes = text.clone().into_bytes();
        for m in &muts {
            bytes = m.apply(&bytes);
        }
        if let Ok(q) = serde_json::from_str::<Proof>(&text_of(&bytes)) {
            let problems = ledger.check_proof(&q).unwrap();
            if problems.is_empty() {
                prop_assert_eq!(
                    normalized(&q),
                    normalized(&p),
                    "a changed proof passes check_proof: {}",
                    text_of(&bytes)
                );
            }
        }
        Ok(())
    });
    // Proofs the ledger refuses to make are errors, not panics.
    assert!(ledger.inclusion_proof(n, None).is_err());
    assert!(ledger.inclusion_proof(0, Some(n + 1)).is_err());
    assert!(ledger.inclusion_proof(u64::MAX, Some(u64::MAX)).is_err());
    assert!(ledger.consistency_proof(0, None).is_err());
    assert!(ledger.consistency_proof(n + 1, None).is_err());
    assert!(ledger.consistency_proof(1, Some(0)).is_err());
}

// ------------------------------------------------------------------------------------------
// DSSE approval envelopes
// ------------------------------------------------------------------------------------------

const DSSE_KEYS: &[&str] = &[
    "payload",
    "payloadType",
    "signatures",
    "sig",
    "keyid",
    "application/vnd.in-toto+json",
    "subject",
    "digest",
    "sha256",
];

#[test]
fn approval_envelopes_resist_mutation() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut admin = Ledger::init(root).unwrap();
    let keys = [
        ApprovalKey::P256(p256_key(11)),
        ApprovalKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[12; 32])),
    ];
    let mut tokens = Vec::new();
    for (name, key) in ["alice", "bob"].iter().zip(&keys) {
        let (_, tok) = admin
            .add_identity(&NewIdentity {
                name: name.to_string(),
                kind: IdentityKind::Human,
                expires_at: Some(4_102_444_800),
                token: true,
                key: Some(key.public()),
            })
            .unwrap();
        tokens.push(tok.unwrap());
        admin.grant(name, "d", Role::Approver, None).unwrap();
    }
    std::fs::write(
        root.join("a.jsonl"),
        "{\"id\":\"1\",\"text\":\"x\",\"label\":\"pos\"}\n",
    )
    .unwrap();
    admin
        .add(&root.join("a.jsonl"), &add_opts("d", "v"))
        .unwrap();
    let snap = admin.resolve("d").unwrap();
    for (tok, key) in tokens.iter().zip(&keys) {
        let mut l = Ledger::open(root).unwrap();
        l.authenticate(tok).unwrap();
        l.approve(&snap, key).unwrap();
    }
    let now = util::now_unix();
    let original = admin.approval_envelope(snap.id).unwrap().unwrap();
    let env: Value = serde_json::from_str(&original).unwrap();
    let payload = B64.decode(env["payload"].as_str().unwrap()).unwrap();
    let base = admin.check_approvals(&snap, None, now).unwrap();
    assert_eq!(base.signatures.len(), 2);
    assert!(
        base.signatures.iter().all(|s| s.valid && s.counts),
        "{base:?}"
    );
    let conn = db(root);
    let put = |text: &str| {
        conn.execute("UPDATE approval_envelopes SET envelope = ?1", [text])
            .unwrap();
    };
    // Check the envelope `text`: never an error or a panic, a valid signature only over the
    // original payload, and at most `max_valid` valid signatures.
    let judge = |text: &str, max_valid: usize| -> Result<(), TestCaseError> {
        put(text);
        let c = admin
            .check_approvals(&snap, None, now)
            .map_err(|e| TestCaseError::fail(format!("check_approvals failed: {e}")))?;
        let valid = c.signatures.iter().filter(|s| s.valid).count();
        prop_assert!(valid <= max_valid, "{valid} valid signatures: {c:?}");
        if valid > 0 {
            prop_assert_eq!(
                c.payload.as_deref(),
                Some(payload.as_slice()),
                "a signature verifies over a changed payload"
            );
        }
        prop_assert!(
            c.signatures.iter().all(|s| s.valid || !s.counts),
            "an invalid signature counts"
        );
        Ok(())
    };

    // Arbitrary JSON and arbitrary text.
    let junk = prop_oneof![
        json_value(DSSE_KEYS).prop_map(|v| v.to_string()),
        ".{0,100}".prop_map(String::from),
        (json_value(DSSE_KEYS), prop::collection::vec((".{0,70}", ".{0,100}"), 0..4)).prop_map(
            |(p, sigs)| {
                json!({
                    "payloadType": PAYLOAD_TYPE,
                    "payload": B64.encode(p.to_string()),
                    "signatures": sigs.iter().map(|(k, s)| json!({"keyid": k, "sig": s})).collect::<Vec<_>>(),
                })
                .to_string()
            }
        ),
    ];
    check(128, junk, |t| judge(&t, 0));

    // Byte mutations of the stored envelope text.
    check(192, prop::collection::vec(mutation(), 1..4), |muts| {
        let mut bytes = original.clone().into_bytes();
        for m in &muts {
            bytes = m.apply(&bytes);
        }
        judge(&text_of(&bytes), 2)
    });

    // Semantic mutations: a payload byte (no signature can verify), a signature byte or a key
    // id (that signature fails, the other still verifies).
    let s = (0u8..3, any::<prop::sample::Index>(), 0u8..8, 0usize..2);
    check(96, s, |(what, at, bit, which)| {
        let mut e = env.clone();
        let expect_valid = match what {
            0 => {
                let mut p = payload.clone();
                let k = at.index(p.len());
                p[k] ^= 1 << bit;
                e["payload"] = json!(B64.encode(&p));
                0
            }
            1 => {
                let sig = e["signatures"][which]["sig"].as_str().unwrap();
                let mut raw = B64.decode(sig).unwrap();
                let k = at.index(raw.len());
                raw[k] ^= 1 << bit;
                e["signatures"][which]["sig"] = json!(B64.encode(&raw));
                1
            }
            _ => {
                let k0 = e["signatures"][0]["keyid"].clone();
                let k1 = e["signatures"][1]["keyid"].clone();
                if bit % 2 == 0 {
                    // Swap the key ids: each signature paired with the other's key.
                    e["signatures"][0]["keyid"] = k1;
                    e["signatures"][1]["keyid"] = k0;
                    0
                } else {
                    let mut k = k0.as_str().unwrap().as_bytes().to_vec();
                    let i = at.index(k.len());
                    k[i] = if k[i] == b'0' { b'1' } else { b'0' };
                    e["signatures"][0]["keyid"] = json!(String::from_utf8(k).unwrap());
                    1
                }
            }
        };
        put(&e.to_string());
        let c = admin.check_approvals(&snap, None, now).unwrap();
        let valid = c.signatures.iter().filter(|s| s.valid).count();
        prop_assert_eq!(valid, expect_valid, "{:?}", c);
        Ok(())
    });
    put(&original);
    assert_eq!(
        admin
            .check_approvals(&snap, None, now)
            .unwrap()
            .signatures
            .iter()
            .filter(|s| s.counts)
            .count(),
        2
    );
}

// ------------------------------------------------------------------------------------------
// Model-signing bundles
// ------------------------------------------------------------------------------------------

const BUNDLE_KEYS: &[&str] = &[
    "mediaType",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "verificationMaterial",
    "publicKey",
    "hint",
    "dsseEnvelope",
    "payload",
    "payloadType",
    "application/vnd.in-toto+json",
    "signatures",
    "sig",
    "keyid",
    "_type",
    "predicateType",
    "predicate",
    "resources",
    "name",
    "algorithm",
    "digest",
    "subject",
    "sha256",
];

#[test]
fn model_signing_bundles_resist_mutation() {
    use bezoar_ledger::signing::{self, FileDigest};
    use p256::ecdsa::signature::Signer as _;
    use p256::pkcs8::{EncodePrivateKey as _, LineEnding};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ds");
    std::fs::create_dir_all(data.join("train")).unwrap();
    std::fs::write(data.join("train/part-0.jsonl"), "{\"text\":\"a\"}\n").unwrap();
    std::fs::write(data.join("README.md"), "hi\n").unwrap();
    let sk = p256_key(21);
    let (key, public) = (dir.path().join("k.pem"), dir.path().join("k.pub.pem"));
    std::fs::write(&key, sk.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap();
    std::fs::write(&public, keys::public_pem(sk.verifying_key())).unwrap();
    let sig = dir.path().join("ds.sig.json");
    signing::sign_dir(&data, &key, &sig, None).unwrap();
    let original = std::fs::read_to_string(&sig).unwrap();
    assert!(signing::verify_dir(&data, &public, &sig).unwrap().ok);
    let bundle: Value = serde_json::from_str(&original).unwrap();
    let payload = B64
        .decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let files = signing::hash_dir(&data, &[]).unwrap();

    let verify = |text: &str| {
        std::fs::write(&sig, text).unwrap();
        signing::verify_dir(&data, &public, &sig)
    };
    // Never a panic; a valid signature only over the original payload.
    let judge = |text: &str| -> Result<(), TestCaseError> {
        if let Ok(c) = verify(text) {
            if c.signature_valid || c.ok {
                let got = serde_json::from_str::<Value>(text)
                    .ok()
                    .and_then(|b| b["dsseEnvelope"]["payload"].as_str().map(str::to_string))
                    .and_then(|p| B64.decode(p).ok());
                prop_assert_eq!(
                    got.as_deref(),
                    Some(payload.as_slice()),
                    "a changed payload verifies: {}",
                    text
                );
            }
            if c.ok {
                prop_assert!(c.signature_valid && c.problems.is_empty());
            }
        }
        Ok(())
    };

    let junk = prop_oneof![
        json_value(BUNDLE_KEYS).prop_map(|v| v.to_string()),
        ".{0,100}".prop_map(String::from),
        (
            json_value(BUNDLE_KEYS),
            prop::collection::vec(".{0,100}", 0..3)
        )
            .prop_map(|(st, sigs)| {
                json!({
                    "mediaType": signing::BUNDLE_MEDIA_TYPE,
                    "dsseEnvelope": {
                        "payload": B64.encode(st.to_string()),
                        "payloadType": signing::PAYLOAD_TYPE,
                        "signatures": sigs.iter().map(|s| json!({"sig": s})).collect::<Vec<_>>(),
                    },
                })
                .to_string()
            }),
    ];
    check(64, junk, |t| judge(&t));

    check(128, prop::collection::vec(mutation(), 1..4), |muts| {
        let mut bytes = original.clone().into_bytes();
        for m in &muts {
            bytes = m.apply(&bytes);
        }
        judge(&text_of(&bytes))
    });

    // A flipped payload or signature bit never verifies.
    check(
        64,
        (any::<bool>(), any::<prop::sample::Index>(), 0u8..8),
        |(in_payload, at, bit)| {
            let mut b = bundle.clone();
            let field = if in_payload {
                &mut b["dsseEnvelope"]["payload"]
            } else {
                &mut b["dsseEnvelope"]["signatures"][0]["sig"]
            };
            let mut raw = B64.decode(field.as_str().unwrap()).unwrap();
            let k = at.index(raw.len());
            raw[k] ^= 1 << bit;
            *field = json!(B64.encode(&raw));
            if let Ok(c) = verify(&b.to_string()) {
                prop_assert!(!c.signature_valid && !c.ok, "{:?}", c);
            }
            Ok(())
        },
    );

    // Statements signed with the right key: `ok` only when they list exactly the directory's
    // files with their digests.
    let resource = (
        prop_oneof![
            prop::sample::select(vec![
                "README.md",
                "train/part-0.jsonl",
                "x",
                "../etc/passwd",
                ""
            ])
            .prop_map(str::to_string),
            ".{0,20}".prop_map(String::from)
        ],
        prop_oneof![
            prop::sample::select(files.clone()).prop_map(|f| f.sha256),
            hash()
        ],
    );
    let stmt = (
        prop::collection::vec(resource, 0..4),
        any::<bool>(),
        any::<bool>(),
        // A second entry for one of the files, with another digest, listed first.
        prop::option::of((any::<prop::sample::Index>(), hash())),
    );
    check(96, stmt, |(res, exact, honest_subject, dup)| {
        let mut listed: Vec<FileDigest> = if exact {
            files.clone()
        } else {
            res.into_iter()
                .map(|(name, sha256)| FileDigest { name, sha256 })
                .collect()
        };
        if let Some((at, sha256)) = dup {
            let name = files[at.index(files.len())].name.clone();
            listed.insert(0, FileDigest { name, sha256 });
        }
        let mut st = signing::statement("ds", &listed, None);
        if !honest_subject {
            st["subject"][0]["digest"]["sha256"] = json!(util::hex(&[0u8; 32]));
        }
        let body = serde_json::to_vec(&st).unwrap();
        let s: p256::ecdsa::Signature = sk.sign(&signing::pae(signing::PAYLOAD_TYPE, &body));
        let mut b = bundle.clone();
        b["dsseEnvelope"]["payload"] = json!(B64.encode(&body));
        b["dsseEnvelope"]["signatures"][0]["sig"] = json!(B64.encode(s.to_der().as_bytes()));
        let c = match verify(&b.to_string()) {
            Ok(c) => c,
            Err(e) => {
                let mut names: Vec<&str> = listed.iter().map(|f| f.name.as_str()).collect();
                names.sort_unstable();
                let twice = names.windows(2).any(|w| w[0] == w[1]);
                prop_assert!(twice, "a well-formed bundle is an error: {}", e);
                return Ok(());
            }
        };
        prop_assert!(c.signature_valid);
        let mut sorted_listed = listed.clone();
        sorted_listed.sort_by(|a, b| a.name.cmp(&b.name));
        let mut sorted_files = files.clone();
        sorted_files.sort_by(|a, b| a.name.cmp(&b.name));
        let same = sorted_listed == sorted_files && honest_subject;
        if c.ok {
            prop_assert!(same, "a statement about other files passes: {:?}", listed);
        }
        if exact && honest_subject && dup.is_none() {
            prop_assert!(c.ok, "{:?}", c.problems);
        }
        Ok(())
    });
}

// ------------------------------------------------------------------------------------------
// Policy
// ------------------------------------------------------------------------------------------

const POLICY_KEYS: &[&str] = &[
    "trusted_sources",
    "required_approvals",
    "trusted_required_approvals",
    "approvers",
    "required_signers",
    "owners",
    "classification",
    "sensitive_data",
    "scan",
    "required",
    "fail_on",
    "max_flagged",
    "max_flagged_rate",
];

fn toml_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|x| x.to_string()),
        (0u64..5).prop_map(|x| x.to_string()),
        Just(u32::MAX.to_string()),
        Just((u64::from(u32::MAX) + 1).to_string()),
        Just("18446744073709551616".to_string()),
        prop::sample::select(vec![
            "nan",
            "inf",
            "-inf",
            "+nan",
            "1e400",
            "-0.0",
            "0.5",
            "2.0",
            "true",
            "false",
            "1979-05-27T07:32:00Z",
            "0x7f",
            "1_000",
        ])
        .prop_map(str::to_string),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        ".{0,12}".prop_map(|s| format!("{s:?}")),
        prop::sample::select(vec![
            "info", "low", "medium", "high", "critical", "never", "severe", ""
        ])
        .prop_map(|s| format!("\"{s}\"")),
        "[^\n]{0,12}".prop_map(|s| format!("'{s}'")),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((prop::sample::select(POLICY_KEYS.to_vec()), inner), 0..3)
                .prop_map(|kv| {
                    let kv: Vec<String> = kv.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                    format!("{{ {} }}", kv.join(", "))
                }),
        ]
    })
}

fn toml_document() -> impl Strategy<Value = String> {
    let header = prop_oneof![
        Just("[defaults]".to_string()),
        Just("[defaults.scan]".to_string()),
        "[a-z*@]{0,6}".prop_map(|n| format!("[datasets.\"{n}\"]")),
        "[a-z]{1,6}".prop_map(|n| format!("[datasets.{n}.scan]")),
        ".{0,10}".prop_map(|n| format!("[datasets.{n:?}]")),
        "[a-z.]{0,12}".prop_map(|n| format!("[{n}]")),
        Just(String::new()),
    ];
    let key = prop_oneof![
        6 => prop::sample::select(POLICY_KEYS.to_vec()).prop_map(str::to_string),
        1 => "[a-z_.\"]{0,12}".prop_map(String::from),
    ];
    let table = (header, prop::collection::vec((key, toml_value()), 0..6)).prop_map(|(h, kv)| {
        let mut s = format!("{h}\n");
        for (k, v) in kv {
            s.push_str(&format!("{k} = {v}\n"));
        }
        s
    });
    prop::collection::vec(table, 0..5).prop_map(|t| t.concat())
}

fn load_policy(text: &[u8]) -> Result<Policy, LedgerError> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bezoar.toml");
    std::fs::write(&p, text).unwrap();
    let r = Policy::load(&p);
    if let Err(e) = &r {
        assert!(
            matches!(e, LedgerError::Policy { .. }),
            "a bad policy is reported as {e:?}"
        );
    }
    r
}

fn exercise(p: &Policy) {
    for e in p.errors() {
        assert!(!e.trim().is_empty());
    }
    let _ = p.for_dataset("anything");
    for name in p.file.datasets.keys() {
        let _ = p.for_dataset(name);
    }
}

fn opt<T: std::fmt::Debug>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Option<T>> {
    prop::option::of(s)
}

fn names() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop_oneof![3 => "[a-z]{1,6}".prop_map(String::from), 1 => ".{0,8}".prop_map(String::from)],
        0..4,
    )
}

fn dataset_policy() -> impl Strategy<Value = DatasetPolicy> {
    let scan = (
        opt(any::<bool>()),
        opt(prop_oneof![
            prop::sample::select(vec!["low", "high", "never"]).prop_map(str::to_string),
            ".{0,6}".prop_map(String::from)
        ]),
        opt(any::<u64>().prop_map(|x| x >> 1)),
        opt(prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            -2.0f64..2.0
        ]),
    )
        .prop_map(
            |(required, fail_on, max_flagged, max_flagged_rate)| ScanPolicy {
                required,
                fail_on,
                max_flagged,
                max_flagged_rate,
            },
        );
    let rate = || {
        opt(prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            -2.0f64..2.0
        ])
    };
    let probe = (rate(), rate(), opt(any::<bool>())).prop_map(
        |(max_asr, max_accuracy_drop, require_baseline)| ProbePolicy {
            max_asr,
            max_accuracy_drop,
            require_baseline,
        },
    );
    (
        (opt(names()), opt(any::<u32>()), opt(0u32..4), opt(names())),
        (
            opt(names()),
            opt(scan),
            opt(names()),
            opt(".{0,8}"),
            opt(names()),
        ),
        opt(probe),
    )
        .prop_map(
            |(
                (trusted_sources, required_approvals, trusted_required_approvals, approvers),
                (required_signers, scan, owners, classification, sensitive_data),
                probe,
            )| DatasetPolicy {
                trusted_sources,
                required_approvals,
                trusted_required_approvals,
                approvers,
                required_signers,
                scan,
                probe,
                owners,
                classification,
                sensitive_data,
            },
        )
}

proptest! {
    #![proptest_config(cfg(192))]

    #[test]
    fn policy_text_never_panics(
        text in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            ".{0,200}".prop_map(String::into_bytes),
            toml_document().prop_map(String::into_bytes),
        ],
    ) {
        if let Ok(p) = load_policy(&text) {
            exercise(&p);
        }
    }

    #[test]
    fn policy_files_round_trip(
        defaults in dataset_policy(),
        datasets in prop::collection::btree_map(
            prop_oneof!["[a-z]{1,6}".prop_map(String::from), ".{0,8}".prop_map(String::from)],
            dataset_policy(),
            0..3,
        ),
        probe in "[a-z]{1,6}",
    ) {
        let file = PolicyFile { defaults, datasets };
        let text = toml::to_string(&file).unwrap();
        let p = load_policy(text.as_bytes())
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(toml::to_string(&p.file).unwrap(), text.clone());
        exercise(&p);
        for name in file.datasets.keys().chain([&probe]) {
            let e = p.for_dataset(name);
            let o = file.datasets.get(name);
            let d = &file.defaults;
            prop_assert_eq!(
                e.required_approvals,
                o.and_then(|o| o.required_approvals).or(d.required_approvals).unwrap_or(1)
            );
            prop_assert_eq!(
                e.trusted_required_approvals,
                o.and_then(|o| o.trusted_required_approvals).or(d.trusted_required_approvals).unwrap_or(0)
            );
            prop_assert_eq!(
                &e.approvers,
                &o.and_then(|o| o.approvers.clone()).or_else(|| d.approvers.clone())
            );
            prop_assert_eq!(
                &e.trusted_sources,
                &o.and_then(|o| o.trusted_sources.clone()).or_else(|| d.trusted_sources.clone()).unwrap_or_default()
            );
            let scan = |p: Option<&DatasetPolicy>| p.and_then(|p| p.scan.clone()).unwrap_or_default();
            prop_assert_eq!(
                e.scan_required,
                scan(o).required.or(scan(Some(d)).required).unwrap_or(true)
            );
            let fail_on = scan(o).fail_on.or(scan(Some(d)).fail_on).unwrap_or_else(|| "high".into());
            prop_assert_eq!(e.fail_on, (fail_on != "never").then_some(fail_on));
        }
    }
}

// ------------------------------------------------------------------------------------------
// API tokens
// ------------------------------------------------------------------------------------------

#[test]
fn tokens_never_authenticate() {
    let dir = tempfile::tempdir().unwrap();
    let mut admin = Ledger::init(dir.path()).unwrap();
    let token = admin.take_issued_token().unwrap();
    let mut l = Ledger::open(dir.path()).unwrap();
    // The reference works (with the whitespace `authenticate` trims), so refusals below are
    // about the token, not the setup.
    l.authenticate(&format!(" {token}\n")).unwrap();
    let l = RefCell::new(Ledger::open(dir.path()).unwrap());
    let id = token[4..16].to_string();
    let tok = token.clone();
    let candidates = prop_oneof![
        ".{0,80}".prop_map(String::from),
        "bzr_[0-9a-fA-F]{12}_[A-Za-z0-9_-]{43}".prop_map(String::from),
        "bzr_.{0,14}_.{0,45}".prop_map(String::from),
        "[A-Za-z0-9_-]{43}".prop_map(move |s| format!("bzr_{id}_{s}")),
        prop::collection::vec(mutation(), 1..3).prop_map(move |ms| {
            let mut b = tok.clone().into_bytes();
            for m in &ms {
                b = m.apply(&b);
            }
            text_of(&b)
        }),
    ];
    check(256, candidates, |t| {
        if t.trim() == token {
            return Ok(());
        }
        let r = l.borrow_mut().authenticate(&t);
        match r {
            Ok(a) => prop_assert!(false, "{t:?} authenticated as {a:?}"),
            Err(LedgerError::BadToken(msg)) => {
                let secret = t.trim().rsplit('_').next().unwrap_or("");
                prop_assert!(
                    secret.len() < 8 || !msg.contains(secret),
                    "the error echoes the token: {msg}"
                );
            }
            Err(e) => prop_assert!(false, "{t:?} gave {e:?}, not BadToken"),
        }
        prop_assert!(l.borrow().actor().is_none());
        Ok(())
    });
}

// ------------------------------------------------------------------------------------------
// Canonical rows and chunking
// ------------------------------------------------------------------------------------------

/// Text-classification rows and LLM rows (instruction pairs with every field kept), mixed.
fn row_content() -> impl Strategy<Value = RowContent> {
    (".{0,12}", ".{0,40}", ".{0,6}", any::<bool>()).prop_map(|(id, text, label, llm)| {
        if !llm {
            return RowContent::classification(id, text, label);
        }
        let fields = bezoar_data::llm::LlmFields {
            prompt: Some("prompt".into()),
            response: Some("response".into()),
            ..Default::default()
        };
        let layout = bezoar_data::llm::layout_json(bezoar_data::llm::Shape::Instruction, &fields);
        let mut json = String::new();
        bezoar_data::llm::canonical_json(
            &serde_json::json!({ "prompt": text, "response": label, "n": [1, 2.5] }),
            &mut json,
        );
        RowContent::llm(id, "instruction", layout, json)
    })
}

proptest! {
    #![proptest_config(cfg(256))]

    #[test]
    fn decode_rows_never_panics_and_is_canonical(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            // Valid rows with edits (length prefixes, UTF-8, truncation).
            (prop::collection::vec(row_content(), 0..5), prop::collection::vec(mutation(), 0..3))
                .prop_map(|(rows, muts)| {
                    let mut b = Vec::new();
                    for r in &rows {
                        r.encode_into(&mut b);
                    }
                    for m in &muts {
                        b = m.apply(&b);
                    }
                    b
                }),
            // Length prefixes near the limits.
            (prop::sample::select(vec![0u32, 1, 3, 4, u32::MAX, u32::MAX - 1, 1 << 31]), prop::collection::vec(any::<u8>(), 0..20))
                .prop_map(|(n, rest)| [n.to_be_bytes().to_vec(), rest].concat()),
        ],
    ) {
        if let Ok(rows) = rows::decode_rows(&bytes) {
            let mut again = Vec::new();
            let mut at = 0;
            for (r, range) in &rows {
                prop_assert_eq!(range.start, at);
                let before = again.len();
                r.encode_into(&mut again);
                prop_assert_eq!(range.end - range.start, again.len() - before);
                prop_assert_eq!(&bytes[range.clone()], &again[before..]);
                at = range.end;
            }
            prop_assert_eq!(at, bytes.len());
            prop_assert_eq!(again, bytes);
        }
    }

    #[test]
    fn rows_round_trip_and_truncations_fail(
        rows in prop::collection::vec(row_content(), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut b = Vec::new();
        let mut ends = vec![0];
        for r in &rows {
            r.encode_into(&mut b);
            prop_assert_eq!(&r.encode()[..], &b[*ends.last().unwrap()..]);
            ends.push(b.len());
        }
        let back = rows::decode_rows(&b).unwrap();
        let got: Vec<RowContent> = back.iter().map(|(r, _)| r.clone()).collect();
        prop_assert_eq!(&got, &rows);
        for (k, (r, range)) in back.iter().enumerate() {
            prop_assert_eq!(range.clone(), ends[k]..ends[k + 1]);
            prop_assert_eq!(r.digest(), merkle::leaf_hash(&b[range.clone()]));
        }
        let c = cut.index(b.len() + 1);
        let prefix = rows::decode_rows(&b[..c]);
        prop_assert_eq!(prefix.is_ok(), ends.contains(&c), "prefix of {} bytes", c);
    }
}

/// Digests whose first bytes are zero (a chunk boundary candidate) with probability ~1/`rare`.
fn digests(seed: u64, n: usize, rare: u64) -> Vec<Hash> {
    (0..n as u64)
        .map(|i| {
            let mut h = merkle::leaf_hash(&[seed.to_le_bytes(), i.to_le_bytes()].concat());
            if u64::from_le_bytes(h[8..16].try_into().unwrap()) % rare == 0 {
                h[..4].copy_from_slice(&[0; 4]);
            }
            h
        })
        .collect()
}

proptest! {
    #![proptest_config(cfg(48))]

    #[test]
    fn chunk_boundaries_are_content_defined(
        seed in any::<u64>(),
        n in 0usize..40_000,
        rare in prop::sample::select(vec![40u64, 300, 5_000, u64::MAX]),
        at in any::<prop::sample::Index>(),
    ) {
        const MIN: usize = 256;
        const MAX: usize = 16_384;
        let d = digests(seed, n, rare);
        let b = rows::chunk_boundaries(&d);
        prop_assert_eq!(b.last().copied(), (n > 0).then_some(n));
        let mut start = 0;
        for (k, &e) in b.iter().enumerate() {
            prop_assert!(e > start);
            prop_assert!(e - start <= MAX);
            if k + 1 < b.len() {
                prop_assert!(e - start >= MIN, "chunk {} has {} rows", k, e - start);
            }
            start = e;
        }
        if b.len() > 1 {
            // Cut at a boundary: the rest is chunked exactly as before, shifted, and the part
            // before it exactly as before too.
            let cut = b[at.index(b.len() - 1)];
            let tail = rows::chunk_boundaries(&d[cut..]);
            let want: Vec<usize> = b.iter().filter(|&&e| e > cut).map(|e| e - cut).collect();
            prop_assert_eq!(tail, want);
            let head = rows::chunk_boundaries(&d[..cut]);
            let want: Vec<usize> = b.iter().copied().filter(|&e| e <= cut).collect();
            prop_assert_eq!(head, want);
        }
    }
}

// ------------------------------------------------------------------------------------------
// Order independence: diff
// ------------------------------------------------------------------------------------------

fn stored_rows() -> impl Strategy<Value = Vec<StoredRow>> {
    prop::collection::btree_map(
        "[a-e]{1,2}",
        (
            "[xy]{0,2}",
            prop::sample::select(vec!["0", "1", "2"]),
            prop::sample::select(vec!["s1", "s2", "s3"]),
        ),
        0..12,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|(id, (text, label, source))| {
                let content = RowContent::classification(id, text, label.into());
                StoredRow {
                    digest: content.digest(),
                    content,
                    source: source.into(),
                    origin: 1,
                }
            })
            .collect()
    })
}

/// A diff as sets and counts (lists sorted), as JSON for comparison.
fn diff_summary(a: &[StoredRow], b: &[StoredRow]) -> Value {
    let d = bezoar_ledger::diff::diff_rows("a".into(), "b".into(), a, b);
    let mut v = serde_json::to_value(&d).unwrap();
    for k in ["added", "removed", "relabelled", "edited"] {
        let mut items: Vec<String> = v[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.to_string())
            .collect();
        items.sort();
        v[k] = json!(items);
    }
    v
}

proptest! {
    #![proptest_config(cfg(256))]

    #[test]
    fn diff_is_independent_of_row_order(
        a in stored_rows(),
        b in stored_rows(),
        sa in any::<u64>(),
        sb in any::<u64>(),
    ) {
        let shuffle = |v: &[StoredRow], seed: u64| {
            let mut v = v.to_vec();
            let mut x = seed | 1;
            for i in (1..v.len()).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.swap(i, (x % (i as u64 + 1)) as usize);
            }
            v
        };
        prop_assert_eq!(
            diff_summary(&a, &b),
            diff_summary(&shuffle(&a, sa), &shuffle(&b, sb))
        );
        let ab = bezoar_ledger::diff::diff_rows("a".into(), "b".into(), &a, &b);
        let ba = bezoar_ledger::diff::diff_rows("b".into(), "a".into(), &b, &a);
        let ids = |v: &[bezoar_ledger::diff::DiffRow]| {
            let mut x: Vec<String> = v.iter().map(|r| r.id.clone()).collect();
            x.sort();
            x
        };
        prop_assert_eq!(ids(&ab.added), ids(&ba.removed));
        prop_assert_eq!(ids(&ab.removed), ids(&ba.added));
        prop_assert_eq!(ab.relabelled.len(), ba.relabelled.len());
        prop_assert_eq!(ab.edited.len(), ba.edited.len());
        prop_assert!(bezoar_ledger::diff::diff_rows("a".into(), "a".into(), &a, &shuffle(&a, sb)).is_empty());
    }
}

// ------------------------------------------------------------------------------------------
// Dates
// ------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cfg(256))]

    #[test]
    fn parse_time_round_trips_rfc3339(
        t in -62_135_596_800i64..253_402_300_799,
        junk in ".{0,30}",
    ) {
        let s = util::rfc3339(t);
        // Years before 1000 print with fewer digits than `parse_time` requires.
        if s.as_bytes()[4] == b'-' && !s.starts_with('0') {
            prop_assert_eq!(bezoar_ledger::identity::parse_time(&s), Ok(t), "{}", s);
            let day = t.div_euclid(86_400) * 86_400;
            prop_assert_eq!(bezoar_ledger::identity::parse_time(&s[..10]), Ok(day));
        }
        let _ = bezoar_ledger::identity::parse_time(&junk);
    }
}

// Found by this property (issue #12): `parse_time` once accepted negative time fields
// ("2030-01-01T-1:00:00Z" as 2029-12-31T23:00:00Z) and overflowed on huge negative ones.
#[test]
fn parse_time_never_panics_and_checks_ranges() {
    for text in [
        "2030-01-01T-9223372036854775808:00:00Z",
        "2030-01-01T0:-153722867280912931:0Z",
    ] {
        let r = std::panic::catch_unwind(|| bezoar_ledger::identity::parse_time(text));
        assert!(matches!(r, Ok(Err(_))), "{text:?}: {r:?}");
    }
    assert!(bezoar_ledger::identity::parse_time("2030-01-01T-1:00:00Z").is_err());
    let s = (
        prop_oneof![Just("2030-01-01".to_string()), "[0-9]{4}-[0-9]{2}-[0-9]{2}"],
        prop::collection::vec(
            prop_oneof![
                any::<i64>().prop_map(|x| x.to_string()),
                (-5i64..70).prop_map(|x| x.to_string()),
                "[0-9+-]{1,3}".prop_map(String::from),
            ],
            3..=3,
        ),
    );
    check(512, s, |(date, hms)| {
        let text = format!("{date}T{}Z", hms.join(":"));
        let r = std::panic::catch_unwind(|| bezoar_ledger::identity::parse_time(&text));
        prop_assert!(r.is_ok(), "parse_time panicked on {text:?}");
        if let Ok(Ok(_)) = r {
            let ok = hms
                .iter()
                .zip([24, 60, 60])
                .all(|(x, max)| x.parse::<i64>().is_ok_and(|v| (0..max).contains(&v)));
            prop_assert!(ok, "parse_time accepted {text:?}");
        }
        Ok(())
    });
}
