//! Hashing throughput of the digests `bezoar add` computes for a file.
//!
//! Usage: `cargo run --release -p bezoar-ledger --example hash_speed [FILE | SIZE_MB]`
//! (default: a 1024 MB temporary file of pseudo-random bytes). Prints GB/s for BLAKE3 on one
//! thread, BLAKE3 multi-threaded (rayon, memory-mapped), SHA-256, and both together as `add`
//! runs them (in parallel).

use std::io::{Read, Write};
use std::time::Instant;

use sha2::Digest;

fn main() {
    let arg = std::env::args().nth(1);
    let _tmp;
    let path = match arg.as_deref().map(|a| (a, a.parse::<u64>())) {
        Some((p, Err(_))) => std::path::PathBuf::from(p),
        other => {
            let mb = match other {
                Some((_, Ok(n))) => n,
                _ => 1024,
            };
            let mut f = tempfile::NamedTempFile::new().expect("temp file");
            let mut x: u64 = 0x9e3779b97f4a7c15;
            let mut block = vec![0u8; 1 << 20];
            for _ in 0..mb {
                for c in block.chunks_mut(8) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    c.copy_from_slice(&x.to_le_bytes());
                }
                f.write_all(&block).expect("write");
            }
            f.flush().expect("flush");
            let p = f.path().to_path_buf();
            _tmp = f;
            p
        }
    };
    let size = std::fs::metadata(&path).expect("file").len() as f64;
    let gbs = |secs: f64| size / secs / 1e9;
    // Warm the page cache so the numbers measure hashing, not the disk.
    let mut sink = vec![0u8; 1 << 20];
    let mut f = std::fs::File::open(&path).unwrap();
    while f.read(&mut sink).unwrap() > 0 {}

    let t = Instant::now();
    let mut h = blake3::Hasher::new();
    h.update_mmap(&path).unwrap();
    let _ = h.finalize();
    let b1 = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut h = blake3::Hasher::new();
    h.update_mmap_rayon(&path).unwrap();
    let _ = h.finalize();
    let bn = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut f = std::fs::File::open(&path).unwrap();
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h).unwrap();
    let _ = h.finalize();
    let s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let d = bezoar_ledger::snapshot::hash_file(&path).unwrap();
    let both = t.elapsed().as_secs_f64();

    println!(
        "file {} ({:.0} MB), {} threads",
        path.display(),
        size / 1e6,
        rayon::current_num_threads()
    );
    println!("BLAKE3, 1 thread:        {:.2} GB/s", gbs(b1));
    println!("BLAKE3, rayon:           {:.2} GB/s", gbs(bn));
    println!("SHA-256, 1 thread:       {:.2} GB/s", gbs(s));
    println!(
        "SHA-256 + BLAKE3 (add):  {:.2} GB/s  (sha256 {}…)",
        gbs(both),
        &d.sha256[..16]
    );
}
