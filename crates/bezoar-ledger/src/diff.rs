//! `diff`: what changed between two snapshots, by row id.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::error::Result;
use crate::snapshot::{SnapshotInfo, StoredRow};
use crate::store::Ledger;

#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub from: String,
    pub to: String,
    pub rows_from: u64,
    pub rows_to: u64,
    /// Row ids only in `to`, with their source.
    pub added: Vec<DiffRow>,
    /// Row ids only in `from`.
    pub removed: Vec<DiffRow>,
    /// Same id, different label (for preference pairs: chosen and rejected swapped).
    pub relabelled: Vec<Relabel>,
    /// Same id and label, different text.
    pub edited: Vec<DiffRow>,
    /// Per source: rows added, removed, relabelled, edited.
    pub by_source: BTreeMap<String, SourceChange>,
    /// Per label: count and share before and after.
    pub labels: BTreeMap<String, Share>,
    /// Sources ordered by how much their share of the dataset moved (largest first).
    pub source_shares: Vec<SourceShare>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffRow {
    pub id: String,
    pub source: String,
    pub label: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Relabel {
    pub id: String,
    pub source: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceChange {
    pub added: u64,
    pub removed: u64,
    pub relabelled: u64,
    pub edited: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Share {
    pub from: u64,
    pub to: u64,
    pub from_share: f64,
    pub to_share: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceShare {
    pub source: String,
    pub from_share: f64,
    pub to_share: f64,
    pub change: f64,
}

impl DiffReport {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.relabelled.is_empty()
            && self.edited.is_empty()
    }
}

impl Ledger {
    pub fn diff(&self, a: &SnapshotInfo, b: &SnapshotInfo) -> Result<DiffReport> {
        let ra = self.load_rows(a)?;
        let rb = self.load_rows(b)?;
        Ok(diff_rows(a.label(), b.label(), &ra, &rb))
    }
}

fn share(n: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        n as f64 / total as f64
    }
}

pub fn diff_rows(from: String, to: String, a: &[StoredRow], b: &[StoredRow]) -> DiffReport {
    let index_a: HashMap<&str, &StoredRow> = a.iter().map(|r| (r.content.id.as_str(), r)).collect();
    let index_b: HashMap<&str, &StoredRow> = b.iter().map(|r| (r.content.id.as_str(), r)).collect();
    let row = |r: &StoredRow| DiffRow {
        id: r.content.id.clone(),
        source: r.source.clone(),
        label: r.content.label.clone(),
    };
    let mut rep = DiffReport {
        from,
        to,
        rows_from: a.len() as u64,
        rows_to: b.len() as u64,
        added: Vec::new(),
        removed: Vec::new(),
        relabelled: Vec::new(),
        edited: Vec::new(),
        by_source: BTreeMap::new(),
        labels: BTreeMap::new(),
        source_shares: Vec::new(),
    };
    for r in b {
        match index_a.get(r.content.id.as_str()) {
            None => {
                rep.by_source.entry(r.source.clone()).or_default().added += 1;
                rep.added.push(row(r));
            }
            Some(old) if old.digest != r.digest => {
                let e = rep.by_source.entry(r.source.clone()).or_default();
                if r.content.label_changed_from(&old.content) {
                    e.relabelled += 1;
                    let (from, to) = r.content.label_change(&old.content);
                    rep.relabelled.push(Relabel {
                        id: r.content.id.clone(),
                        source: r.source.clone(),
                        from,
                        to,
                    });
                } else {
                    e.edited += 1;
                    rep.edited.push(row(r));
                }
            }
            Some(_) => {}
        }
    }
    for r in a {
        if !index_b.contains_key(r.content.id.as_str()) {
            rep.by_source.entry(r.source.clone()).or_default().removed += 1;
            rep.removed.push(row(r));
        }
    }
    let (na, nb) = (a.len() as u64, b.len() as u64);
    let mut sources: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for r in a {
        rep.labels.entry(r.content.label.clone()).or_default().from += 1;
        sources.entry(r.source.clone()).or_default().0 += 1;
    }
    for r in b {
        rep.labels.entry(r.content.label.clone()).or_default().to += 1;
        sources.entry(r.source.clone()).or_default().1 += 1;
    }
    for s in rep.labels.values_mut() {
        s.from_share = share(s.from, na);
        s.to_share = share(s.to, nb);
    }
    rep.source_shares = sources
        .into_iter()
        .map(|(source, (x, y))| {
            let (f, t) = (share(x, na), share(y, nb));
            SourceShare {
                source,
                from_share: f,
                to_share: t,
                change: t - f,
            }
        })
        .collect();
    // Largest absolute move first; ties by name so output is deterministic.
    rep.source_shares.sort_by(|x, y| {
        y.change
            .abs()
            .total_cmp(&x.change.abs())
            .then_with(|| x.source.cmp(&y.source))
    });
    rep
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::RowContent;

    fn r(id: &str, text: &str, label: &str, source: &str) -> StoredRow {
        let content = RowContent::classification(id.into(), text.into(), label.into());
        StoredRow {
            digest: content.digest(),
            content,
            source: source.into(),
            origin: 1,
        }
    }

    #[test]
    fn classifies_changes_and_shares() {
        let a = vec![
            r("1", "a", "0", "s1"),
            r("2", "b", "1", "s1"),
            r("3", "c", "0", "s2"),
        ];
        let b = vec![
            r("1", "a", "1", "s1"),
            r("2", "B", "1", "s1"),
            r("4", "d", "1", "s3"),
            r("5", "e", "1", "s3"),
        ];
        let d = diff_rows("x@1".into(), "x@2".into(), &a, &b);
        assert_eq!(d.added.len(), 2);
        assert_eq!(d.removed.len(), 1);
        assert_eq!(d.removed[0].id, "3");
        assert_eq!(d.relabelled.len(), 1);
        assert_eq!(d.relabelled[0].from, "0");
        assert_eq!(d.edited.len(), 1);
        assert_eq!(d.by_source["s3"].added, 2);
        assert_eq!(d.labels["1"].to, 4);
        assert_eq!(d.source_shares[0].source, "s3");
        assert!((d.source_shares[0].change - 0.5).abs() < 1e-9);
    }
}
