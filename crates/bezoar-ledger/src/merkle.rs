//! RFC 6962 / RFC 9162 Merkle tree hashing: roots, inclusion proofs and consistency proofs.
//!
//! Leaf hash = SHA-256(0x00 ‖ data); node hash = SHA-256(0x01 ‖ left ‖ right); a tree of n > 1
//! leaves splits at the largest power of two smaller than n. The same code hashes the event log
//! and the rows of a snapshot.

use sha2::{Digest, Sha256};

/// A SHA-256 output.
pub type Hash = [u8; 32];

/// SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The root over leaves given by their leaf hashes.
///
/// Pairs nodes level by level and carries an odd last node up unchanged, which yields exactly
/// the RFC 6962 split-at-largest-power-of-two tree in O(n) time without recursion.
pub fn root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return empty_root();
    }
    let mut level: Vec<Hash> = leaves.to_vec();
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for pair in level.chunks(2) {
            match pair {
                [l, r] => next.push(node_hash(l, r)),
                [one] => next.push(*one),
                _ => unreachable!(),
            }
        }
        level = next;
    }
    level[0]
}

/// Largest power of two strictly smaller than `n` (n ≥ 2).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1usize << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// Inclusion proof (audit path) for leaf `index` in the tree over `leaves` (RFC 9162 §2.1.3.1).
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut out = Vec::new();
    path(index, leaves, &mut out);
    Some(out)
}

fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
    let n = d.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(m, &d[..k], out);
        out.push(root(&d[k..]));
    } else {
        path(m - k, &d[k..], out);
        out.push(root(&d[..k]));
    }
}

/// Consistency proof between the tree of the first `first` leaves and the tree over all of
/// `leaves` (RFC 9162 §2.1.4.1). `None` when `first` is 0 or larger than the tree.
pub fn consistency_proof(leaves: &[Hash], first: usize) -> Option<Vec<Hash>> {
    if first == 0 || first > leaves.len() {
        return None;
    }
    let mut out = Vec::new();
    subproof(first, leaves, true, &mut out);
    Some(out)
}

fn subproof(m: usize, d: &[Hash], whole: bool, out: &mut Vec<Hash>) {
    let n = d.len();
    if m == n {
        if !whole {
            out.push(root(d));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &d[..k], whole, out);
        out.push(root(&d[k..]));
    } else {
        subproof(m - k, &d[k..], false, out);
        out.push(root(&d[..k]));
    }
}

/// Check an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    expected_root: &Hash,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && &r == expected_root
}

/// Check a consistency proof between two tree heads (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if first == 0 {
        // Every tree is consistent with the empty tree.
        return proof.is_empty();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && &fr == first_root && &sr == second_root
}

/// An append-only tree that knows its root after every append in O(log n): a stack of the
/// perfect subtrees the leaves so far decompose into (the "compact range").
#[derive(Debug, Default, Clone)]
pub struct CompactTree {
    /// (height, hash) of each perfect subtree, left to right; heights strictly decrease.
    stack: Vec<(u32, Hash)>,
    size: u64,
}

impl CompactTree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn push(&mut self, leaf: Hash) {
        let mut cur = (0u32, leaf);
        while let Some(&(h, ref left)) = self.stack.last() {
            if h != cur.0 {
                break;
            }
            cur = (h + 1, node_hash(left, &cur.1));
            self.stack.pop();
        }
        self.stack.push(cur);
        self.size += 1;
    }

    /// The RFC 6962 root over the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        let Some(&(_, mut acc)) = it.next() else {
            return empty_root();
        };
        for (_, left) in it {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_hex(s: &str) -> Vec<u8> {
        crate::util::hex_decode(s).unwrap()
    }

    fn h(s: &str) -> Hash {
        from_hex(s).try_into().unwrap()
    }

    /// The vectors shared by the project (`../shared/interop/merkle_vectors.json`), cross-checked
    /// against two independent implementations. Skipped with a message when absent.
    fn vectors() -> Option<serde_json::Value> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/interop/merkle_vectors.json");
        match std::fs::read_to_string(&path) {
            Ok(s) => Some(serde_json::from_str(&s).unwrap()),
            Err(_) => {
                eprintln!(
                    "SKIP: {} not found; using the built-in vectors only",
                    path.display()
                );
                None
            }
        }
    }

    /// The 8 standard leaves of the RFC 6962 / Certificate Transparency test suite.
    fn standard_leaves() -> Vec<Hash> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|x| leaf_hash(&from_hex(x)))
        .collect()
    }

    #[test]
    fn builtin_roots() {
        // From the Certificate Transparency reference test suite (copied into
        // ../shared/interop/merkle_vectors.json as well).
        let leaves = standard_leaves();
        assert_eq!(
            root(&leaves[..0]),
            h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(
            root(&leaves[..1]),
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        );
        assert_eq!(
            root(&leaves[..5]),
            h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4")
        );
        assert_eq!(
            root(&leaves),
            h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
        );
    }

    #[test]
    fn shared_vectors_roots_and_proofs() {
        let Some(v) = vectors() else { return };
        let leaves: Vec<Hash> = v["leaves_hex"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| leaf_hash(&from_hex(x.as_str().unwrap())))
            .collect();
        let mut ct = CompactTree::new();
        for n in 0..=leaves.len() {
            let want = h(v["roots"][n.to_string()].as_str().unwrap());
            assert_eq!(root(&leaves[..n]), want, "root of {n}");
            assert_eq!(ct.root(), want, "compact root of {n}");
            if n < leaves.len() {
                ct.push(leaves[n]);
            }
        }
        let hashes = |p: &serde_json::Value| -> Vec<Hash> {
            p.as_array()
                .unwrap()
                .iter()
                .map(|x| h(x.as_str().unwrap()))
                .collect()
        };
        let inc = v["inclusion"].as_array().unwrap();
        assert!(!inc.is_empty());
        for case in inc {
            let (i, n) = (
                case["index"].as_u64().unwrap() as usize,
                case["size"].as_u64().unwrap() as usize,
            );
            let want = hashes(&case["proof"]);
            assert_eq!(
                inclusion_proof(&leaves[..n], i).unwrap(),
                want,
                "inclusion {i} in {n}"
            );
            let r = root(&leaves[..n]);
            assert!(verify_inclusion(i as u64, n as u64, &leaves[i], &want, &r));
            if !want.is_empty() {
                let mut bad = want.clone();
                bad[0][0] ^= 1;
                assert!(!verify_inclusion(i as u64, n as u64, &leaves[i], &bad, &r));
            }
        }
        let cons = v["consistency"].as_array().unwrap();
        assert!(!cons.is_empty());
        for case in cons {
            let (m, n) = (
                case["first"].as_u64().unwrap() as usize,
                case["second"].as_u64().unwrap() as usize,
            );
            let want = hashes(&case["proof"]);
            assert_eq!(
                consistency_proof(&leaves[..n], m).unwrap(),
                want,
                "consistency {m} -> {n}"
            );
            let (r1, r2) = (root(&leaves[..m]), root(&leaves[..n]));
            assert!(
                verify_consistency(m as u64, n as u64, &r1, &r2, &want),
                "verify consistency {m} -> {n}"
            );
            if m != n {
                let mut bad = r1;
                bad[0] ^= 1;
                assert!(!verify_consistency(m as u64, n as u64, &bad, &r2, &want));
            }
        }
    }

    #[test]
    fn proofs_verify_for_many_sizes() {
        let leaves: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for n in 1..=leaves.len() {
            let r = root(&leaves[..n]);
            for i in 0..n {
                let p = inclusion_proof(&leaves[..n], i).unwrap();
                assert!(verify_inclusion(i as u64, n as u64, &leaves[i], &p, &r));
                let other = leaf_hash(b"not a leaf");
                assert!(!verify_inclusion(i as u64, n as u64, &other, &p, &r));
            }
            for m in 1..=n {
                let p = consistency_proof(&leaves[..n], m).unwrap();
                let r1 = root(&leaves[..m]);
                assert!(
                    verify_consistency(m as u64, n as u64, &r1, &r, &p),
                    "{m}->{n}"
                );
            }
        }
    }
}
