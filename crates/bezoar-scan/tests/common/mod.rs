//! Helpers shared by the scan integration tests (each test binary uses its own subset).
#![allow(dead_code)]

use bezoar_data::{Categorical, Dataset, ResolvedColumns, RowIds, SkipReport, TextArena};

/// A small deterministic generator, so the tests need no dependency.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A dataset of `texts` with labels "0" and "1", ids the row numbers, no sources.
pub fn two_class(texts: TextArena, labels: Vec<u32>) -> Dataset {
    Dataset {
        ids: RowIds::RowNumbers(labels.len()),
        texts,
        labels: Categorical {
            codes: labels,
            names: vec!["0".into(), "1".into()],
        },
        sources: None,
        embeddings: None,
        columns: ResolvedColumns::default(),
        skipped: SkipReport::default(),
        lines: Vec::new(),
    }
}
