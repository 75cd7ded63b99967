//! The content-addressed object store under `.bezoar/objects/`.
//!
//! An object is a chunk of canonical rows, zstd-compressed, stored at
//! `objects/<first 2 hex>/<remaining 62 hex>` of the SHA-256 of its *uncompressed* bytes. Naming
//! by content gives deduplication for free (a chunk shared by two snapshots is stored once) and
//! lets `verify` re-hash every object. Objects are written (temp file, fsync, rename) *before*
//! the database transaction that references them commits, so a crash can leave unreferenced
//! objects behind — harmless, they are never read — but never a reference to a missing object.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{io_err, LedgerError, Result};
use crate::merkle::Hash;
use crate::util::{hex, write_durable};

/// zstd level: 3 is zstd's default, a good speed/size balance for text.
const ZSTD_LEVEL: i32 = 3;

pub struct ObjectStore {
    dir: PathBuf,
}

/// The outcome of reading one object back.
#[derive(Debug)]
pub enum ObjectRead {
    Ok(Vec<u8>),
    Missing,
    /// Present but its content does not hash to its name (or does not decompress).
    Corrupt(String),
}

impl ObjectStore {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(&name[..2]).join(&name[2..])
    }

    pub fn name_of(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    /// Store `bytes` (uncompressed) unless an object with that name exists. Returns the name and
    /// the stored (compressed) size, and whether it was newly written.
    pub fn put(&self, bytes: &[u8]) -> Result<(String, u64, bool)> {
        let name = Self::name_of(bytes);
        let path = self.path_of(&name);
        if let Ok(meta) = std::fs::metadata(&path) {
            return Ok((name, meta.len(), false));
        }
        let compressed = zstd::bulk::compress(bytes, ZSTD_LEVEL).map_err(io_err(path.clone()))?;
        let parent = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        write_durable(&path, &compressed, None).map_err(io_err(path.clone()))?;
        Ok((name, compressed.len() as u64, true))
    }

    /// Read an object and check that it hashes to its name.
    pub fn get(&self, name: &str, expected_size: usize) -> ObjectRead {
        let path = self.path_of(name);
        let stored = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return ObjectRead::Missing,
            Err(e) => return ObjectRead::Corrupt(format!("cannot read: {e}")),
        };
        let bytes = match zstd::bulk::decompress(&stored, expected_size.max(1)) {
            Ok(b) => b,
            Err(e) => return ObjectRead::Corrupt(format!("does not decompress: {e}")),
        };
        let actual = Self::name_of(&bytes);
        if actual != name {
            return ObjectRead::Corrupt(format!("content hashes to {actual}"));
        }
        ObjectRead::Ok(bytes)
    }

    /// Read an object, turning a problem into an error (for commands other than verify).
    pub fn get_checked(&self, name: &str, expected_size: usize) -> Result<Vec<u8>> {
        match self.get(name, expected_size) {
            ObjectRead::Ok(b) => Ok(b),
            ObjectRead::Missing => Err(LedgerError::Corrupt(format!(
                "object {name} is missing from the object store"
            ))),
            ObjectRead::Corrupt(why) => Err(LedgerError::Corrupt(format!("object {name} {why}"))),
        }
    }
}

/// SHA-256 of a byte string as a fixed array.
pub fn sha256(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}
