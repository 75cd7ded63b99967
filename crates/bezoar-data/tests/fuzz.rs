//! Fuzz-style robustness: random and mutated files must give `Ok` or `Err`, never a panic.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use bezoar_data::{read_dataset, ReadOptions};
use common::{sample_rows, write_parquet};

/// xorshift64* — deterministic, no external crate.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const CASES: u64 = 300;

/// Bytes that tend to break parsers.
const NASTY: &[&[u8]] = &[
    b"\"",
    b"\n",
    b"\r\n",
    b"\xff",
    b"\xc3",
    b",",
    b"\t",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"\\",
    b"null",
    b"NaN",
    b"1e999",
    b"\xef\xbb\xbf",
    b"\0",
];

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    let rounds = 1 + rng.below(8);
    for _ in 0..rounds {
        match rng.below(6) {
            0 => {
                // flip a byte
                if !v.is_empty() {
                    let i = rng.below(v.len());
                    v[i] ^= 1 << rng.below(8);
                }
            }
            1 => {
                // random byte
                if !v.is_empty() {
                    let i = rng.below(v.len());
                    v[i] = rng.next() as u8;
                }
            }
            2 => {
                // truncate
                let n = rng.below(v.len() + 1);
                v.truncate(n);
            }
            3 | 4 => {
                // insert something nasty
                let s = NASTY[rng.below(NASTY.len())];
                let i = rng.below(v.len() + 1);
                v.splice(i..i, s.iter().copied());
            }
            _ => {
                // delete a range
                if !v.is_empty() {
                    let i = rng.below(v.len());
                    let j = (i + 1 + rng.below(16)).min(v.len());
                    v.drain(i..j);
                }
            }
        }
    }
    v
}

/// Overwrite a few bytes without changing the length, so a Parquet footer stays findable and
/// the decoders (not just the footer check) see corrupt input.
fn mutate_in_place(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    if v.is_empty() {
        return v;
    }
    for _ in 0..1 + rng.below(4) {
        let i = rng.below(v.len());
        if rng.below(2) == 0 {
            v[i] ^= 1 << rng.below(8);
        } else {
            v[i] = rng.next() as u8;
        }
    }
    v
}

fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    let n = rng.below(2000);
    (0..n).map(|_| rng.next() as u8).collect()
}

fn option_sets() -> Vec<ReadOptions> {
    let mut full = ReadOptions::default();
    full.columns.id = Some("id".into());
    full.columns.source = Some("source".into());
    full.columns.embedding = Some("embedding".into());
    let mut full_skip = full.clone();
    full_skip.skip_invalid = true;
    let skip = ReadOptions {
        skip_invalid: true,
        ..ReadOptions::default()
    };
    vec![ReadOptions::default(), skip, full, full_skip]
}

/// Run every option set over `cases` generated files; return the seeds that panicked.
fn run(ext: &str, valid: &[u8], cases: u64, seed_base: u64) -> Vec<u64> {
    let in_place = ext == "parquet";
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(format!("fuzz.{ext}"));
    let sets = option_sets();
    let mut panicked = Vec::new();
    for case in 0..cases {
        let seed = seed_base + case;
        let mut rng = Rng::new(seed);
        let bytes = match case % 4 {
            0 => random_bytes(&mut rng),
            1 => mutate(&mut rng, valid),
            _ if in_place => mutate_in_place(&mut rng, valid),
            _ => mutate(&mut rng, valid),
        };
        std::fs::write(&path, &bytes).expect("write");
        for o in &sets {
            if !no_panic(&path, o) {
                panicked.push(seed);
                break;
            }
        }
    }
    panicked
}

fn no_panic(path: &Path, o: &ReadOptions) -> bool {
    catch_unwind(AssertUnwindSafe(|| {
        let _ = read_dataset(path, o);
    }))
    .is_ok()
}

const JSONL: &str = concat!(
    "{\"id\": \"a\", \"text\": \"hello \\\"w\\\"\", \"label\": 1, \"source\": \"web\", \"embedding\": [0.5, 1]}\n",
    "{\"id\": 2, \"text\": \"ünï\", \"label\": \"2\", \"source\": 3, \"embedding\": [1e-3, -2], \"x\": {\"y\": [1, [2]]}}\n",
    "\n",
    "{\"id\": \"c\", \"text\": \"\", \"label\": 1.0, \"source\": \"web\", \"embedding\": [0, 0]}\n",
);

const CSV: &str = "id,text,label,source,embedding\n\
    a,\"hello, \"\"world\"\"\",1,web,\"[0.5, 1]\"\n\
    b,\"multi\nline\",2,books,0.25 2\n\
    c,plain,10,web,\"3,4\"\n";

#[test]
fn fuzz_jsonl() {
    let bad = run("jsonl", JSONL.as_bytes(), CASES, 1_000);
    assert!(bad.is_empty(), "jsonl panicked for seeds {bad:?}");
}

#[test]
fn fuzz_csv() {
    let bad = run("csv", CSV.as_bytes(), CASES, 2_000);
    assert!(bad.is_empty(), "csv panicked for seeds {bad:?}");
}

#[test]
fn fuzz_tsv() {
    let tsv = CSV.replace(',', "\t");
    let bad = run("tsv", tsv.as_bytes(), CASES, 3_000);
    assert!(bad.is_empty(), "tsv panicked for seeds {bad:?}");
}

#[test]
fn fuzz_parquet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bad = Vec::new();
    for fixed in [true, false] {
        let path = dir.path().join("valid.parquet");
        write_parquet(&path, &sample_rows(), 4, fixed);
        let valid = std::fs::read(&path).expect("read back");
        // Sanity: the unmutated file reads.
        assert!(read_dataset(&path, &option_sets()[2]).is_ok());
        bad.extend(run(
            "parquet",
            &valid,
            CASES / 2,
            if fixed { 4_000 } else { 5_000 },
        ));
    }
    assert!(bad.is_empty(), "parquet panicked for seeds {bad:?}");
}
