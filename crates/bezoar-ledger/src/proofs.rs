//! Inclusion and consistency proofs over the event log, as self-describing JSON documents that
//! can be checked with the log alone or, for the math, with nothing but the proof.

use serde::{Deserialize, Serialize};

use crate::error::{LedgerError, Result};
use crate::merkle::{self, Hash};
use crate::store::Ledger;
use crate::util::{hex, hex32};

/// `{"type":"inclusion", ...}` or `{"type":"consistency", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Proof {
    Inclusion {
        origin: String,
        leaf_index: u64,
        tree_size: u64,
        leaf_hash: String,
        root: String,
        proof: Vec<String>,
    },
    Consistency {
        origin: String,
        first: u64,
        second: u64,
        first_root: String,
        second_root: String,
        proof: Vec<String>,
    },
}

fn hashes(v: &[String]) -> Option<Vec<Hash>> {
    v.iter().map(|h| hex32(h)).collect()
}

impl Proof {
    /// Check the proof's own math (RFC 9162 verification algorithms).
    pub fn check(&self) -> bool {
        match self {
            Proof::Inclusion {
                leaf_index,
                tree_size,
                leaf_hash,
                root,
                proof,
                ..
            } => match (hex32(leaf_hash), hex32(root), hashes(proof)) {
                (Some(l), Some(r), Some(p)) => {
                    merkle::verify_inclusion(*leaf_index, *tree_size, &l, &p, &r)
                }
                _ => false,
            },
            Proof::Consistency {
                first,
                second,
                first_root,
                second_root,
                proof,
                ..
            } => match (hex32(first_root), hex32(second_root), hashes(proof)) {
                (Some(a), Some(b), Some(p)) => {
                    merkle::verify_consistency(*first, *second, &a, &b, &p)
                }
                _ => false,
            },
        }
    }
}

impl Ledger {
    fn leaves_up_to(&self, size: Option<u64>) -> Result<(Vec<Hash>, u64)> {
        let leaves = self.leaf_hashes()?;
        let n = leaves.len() as u64;
        let size = size.unwrap_or(n);
        if size > n || size == 0 {
            return Err(LedgerError::Invalid(format!(
                "tree size {size} is out of range: the log holds {n} events"
            )));
        }
        Ok((leaves[..size as usize].to_vec(), size))
    }

    /// Prove that event `index` is in the log of `size` events (default: the whole log).
    pub fn inclusion_proof(&self, index: u64, size: Option<u64>) -> Result<Proof> {
        let (leaves, size) = self.leaves_up_to(size)?;
        if index >= size {
            return Err(LedgerError::Invalid(format!(
                "event {index} is not in a tree of {size} events (events are numbered from 0)"
            )));
        }
        let proof = merkle::inclusion_proof(&leaves, index as usize).unwrap_or_default();
        Ok(Proof::Inclusion {
            origin: self.origin().to_string(),
            leaf_index: index,
            tree_size: size,
            leaf_hash: hex(&leaves[index as usize]),
            root: hex(&merkle::root(&leaves)),
            proof: proof.iter().map(|h| hex(h)).collect(),
        })
    }

    /// Prove that the log of `first` events is a prefix of the log of `second` events.
    pub fn consistency_proof(&self, first: u64, second: Option<u64>) -> Result<Proof> {
        let (leaves, second) = self.leaves_up_to(second)?;
        if first == 0 || first > second {
            return Err(LedgerError::Invalid(format!(
                "first tree size {first} must be between 1 and {second}"
            )));
        }
        let proof = merkle::consistency_proof(&leaves, first as usize).unwrap_or_default();
        Ok(Proof::Consistency {
            origin: self.origin().to_string(),
            first,
            second,
            first_root: hex(&merkle::root(&leaves[..first as usize])),
            second_root: hex(&merkle::root(&leaves)),
            proof: proof.iter().map(|h| hex(h)).collect(),
        })
    }

    /// Check a proof's math and that its roots are this log's roots at those sizes. Returns
    /// the problems found (empty: valid).
    pub fn check_proof(&self, p: &Proof) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        if !p.check() {
            problems.push("the proof does not verify (RFC 9162 verification failed)".to_string());
        }
        let leaves = self.leaf_hashes()?;
        let root_at = |n: u64| -> Option<String> {
            (n as usize <= leaves.len()).then(|| hex(&merkle::root(&leaves[..n as usize])))
        };
        let mut want = |size: u64, root: &str| match root_at(size) {
            None => problems.push(format!(
                "this log holds {} events, fewer than the proof's tree size {size}",
                leaves.len()
            )),
            Some(r) if r != root => problems.push(format!(
                "this log's root at size {size} is {r}, not the proof's {root}"
            )),
            _ => {}
        };
        match p {
            Proof::Inclusion {
                tree_size, root, ..
            } => want(*tree_size, root),
            Proof::Consistency {
                first,
                second,
                first_root,
                second_root,
                ..
            } => {
                want(*first, first_root);
                want(*second, second_root);
            }
        }
        Ok(problems)
    }
}
