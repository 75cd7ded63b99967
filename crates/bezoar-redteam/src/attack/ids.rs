//! Fresh ids for rows an attack adds.
//!
//! The rule (documented in FORMATS.md):
//! - no id column: ids are 0-based row numbers, and added rows come after every original row, so
//!   an added row's id is its row number (`n`, `n + 1`, …);
//! - every id an integer: `max + 1`, `max + 2`, …;
//! - otherwise: `injected-1`, `injected-2`, …, skipping any that already exist.

use std::collections::HashSet;

use bezoar_data::RowIds;

#[derive(Debug, Clone)]
pub enum FreshIds {
    RowNumbers,
    Integers { next: i128 },
    Strings { taken: HashSet<String>, next: u64 },
}

impl FreshIds {
    pub fn new(ids: &RowIds) -> Self {
        match ids {
            RowIds::RowNumbers(_) => FreshIds::RowNumbers,
            RowIds::Column(arena) => {
                let ints: Option<Vec<i128>> = arena.iter().map(canonical_int).collect();
                match ints {
                    Some(v) => FreshIds::Integers {
                        next: v.into_iter().max().unwrap_or(-1) + 1,
                    },
                    None => FreshIds::Strings {
                        taken: arena.iter().map(str::to_string).collect(),
                        next: 1,
                    },
                }
            }
        }
    }

    /// The id of a row added at output position `position`.
    pub fn next(&mut self, position: usize) -> String {
        match self {
            FreshIds::RowNumbers => position.to_string(),
            FreshIds::Integers { next } => {
                let id = next.to_string();
                *next += 1;
                id
            }
            FreshIds::Strings { taken, next } => loop {
                let id = format!("injected-{next}");
                *next += 1;
                if taken.insert(id.clone()) {
                    break id;
                }
            },
        }
    }
}

/// An integer written the way an integer id is written (no `+`, no leading zeros), so that a
/// fresh id never has another spelling of an existing one (`007` vs `7`).
fn canonical_int(s: &str) -> Option<i128> {
    let v: i128 = s.parse().ok()?;
    (v.to_string() == s).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bezoar_data::TextArena;

    fn column(ids: &[&str]) -> RowIds {
        let mut a = TextArena::new();
        for id in ids {
            a.push(id);
        }
        RowIds::Column(a)
    }

    #[test]
    fn integer_ids_continue_after_the_maximum() {
        let mut f = FreshIds::new(&column(&["5", "-3", "12"]));
        assert_eq!(f.next(3), "13");
        assert_eq!(f.next(4), "14");
    }

    #[test]
    fn other_ids_get_injected_n_without_collisions() {
        let mut f = FreshIds::new(&column(&["a", "injected-1", "007"]));
        assert_eq!(f.next(3), "injected-2");
        assert_eq!(f.next(4), "injected-3");
    }

    #[test]
    fn row_numbers_continue_the_count() {
        let mut f = FreshIds::new(&RowIds::RowNumbers(10));
        assert_eq!(f.next(10), "10");
    }
}
