//! Label flipping: only labels change, texts stay.
//!
//! - no `from`, no `to`: `rate × n` rows chosen uniformly, each given a uniformly random *other*
//!   label;
//! - `from` A: `rate × |A|` rows of class A (the rate is a fraction of the source class), each
//!   flipped to `to` — or, without `to`, to the other class of a binary dataset or a random other
//!   class;
//! - only `to` B: `rate × n` rows not in B, flipped to B.

use super::{too_few, Plan, PoisonKind};
use crate::error::RedteamError;
use crate::rate::Rate;
use bezoar_scan::rng::SplitMix64;

pub(crate) fn label_flip(
    plan: &mut Plan<'_>,
    from: Option<u32>,
    to: Option<u32>,
    rate: Rate,
    rng: &mut SplitMix64,
) -> Result<Option<String>, RedteamError> {
    let classes = plan.ds.num_classes() as u32;
    if classes < 2 {
        return Err(RedteamError::Config(
            "label-flip needs at least two labels; the dataset has one".into(),
        ));
    }
    if let (Some(f), Some(t)) = (from, to) {
        if f == t {
            return Err(RedteamError::Config(format!(
                "--from and --to are the same label '{}'",
                plan.label_name(f)
            )));
        }
    }
    let n = plan.n();
    let (eligible, base, what) = match (from, to) {
        (Some(f), _) => {
            let rows = plan.rows_where(|l| l == f);
            let base = rows.len();
            (
                rows,
                base,
                format!("rows labelled '{}'", plan.label_name(f)),
            )
        }
        (None, Some(t)) => (
            plan.rows_where(|l| l != t),
            n,
            format!("rows not labelled '{}'", plan.label_name(t)),
        ),
        (None, None) => ((0..n).collect(), n, "rows".to_string()),
    };
    let count = rate.count(base);
    if count > eligible.len() {
        return Err(too_few(&what, count, eligible.len(), rate, base));
    }
    for i in rng.sample(&eligible, count) {
        let old = plan.label(i);
        let new = match to {
            Some(t) => t,
            None => {
                // A uniformly random label other than the current one.
                let k = rng.below(classes as usize - 1) as u32;
                if k >= old {
                    k + 1
                } else {
                    k
                }
            }
        };
        let row = &mut plan.rows[i];
        row.label = Some(new);
        row.poison = Some(PoisonKind::LabelFlip);
    }
    let described = match (from, to) {
        (Some(f), Some(t)) => format!("'{}' → '{}'", plan.label_name(f), plan.label_name(t)),
        (Some(f), None) => format!("'{}' → another label", plan.label_name(f)),
        (None, Some(t)) => format!("any label → '{}'", plan.label_name(t)),
        (None, None) => "random labels → another random label".to_string(),
    };
    Ok(Some(described))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::dataset;
    use super::super::{inject, Attack, InjectConfig, PoisonKind};

    fn flip(from: Option<&str>, to: Option<&str>, rate: &str, labels: usize) -> Vec<(u32, u32)> {
        let ds = dataset(600, labels, true);
        let inj = inject(
            &ds,
            &InjectConfig {
                attack: Attack::LabelFlip {
                    from: from.map(str::to_string),
                    to: to.map(str::to_string),
                },
                rate: rate.parse().unwrap(),
                target: None,
                seed: 9,
            },
        )
        .unwrap();
        assert_eq!(inj.rows.len(), 600);
        inj.rows
            .iter()
            .filter(|r| r.poison.is_some())
            .map(|r| {
                assert_eq!(r.poison, Some(PoisonKind::LabelFlip));
                assert!(r.text.is_none());
                (ds.labels.codes[r.source], r.label.unwrap())
            })
            .collect()
    }

    #[test]
    fn random_flips_change_every_chosen_label() {
        let f = flip(None, None, "5%", 3);
        assert_eq!(f.len(), 30);
        assert!(f.iter().all(|(a, b)| a != b));
    }

    #[test]
    fn targeted_flips_take_a_fraction_of_the_source_class() {
        // dataset(600, 2): class c1 has 100 rows; 10% of them is 10.
        let f = flip(Some("c1"), Some("c0"), "10%", 2);
        assert_eq!(f.len(), 10);
        assert!(f.iter().all(|&(a, b)| a == 1 && b == 0));
        // Binary data: --from alone flips to the other class.
        let f = flip(Some("c1"), None, "10%", 2);
        assert!(f.iter().all(|&(a, b)| a == 1 && b == 0));
        // --to alone: rows from any other class.
        let f = flip(None, Some("c1"), "1%", 2);
        assert_eq!(f.len(), 6);
        assert!(f.iter().all(|&(a, b)| a == 0 && b == 1));
    }

    #[test]
    fn same_from_and_to_is_an_error() {
        let ds = dataset(30, 2, true);
        let e = inject(
            &ds,
            &InjectConfig {
                attack: Attack::LabelFlip {
                    from: Some("c0".into()),
                    to: Some("c0".into()),
                },
                rate: "10%".parse().unwrap(),
                target: None,
                seed: 1,
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("same label"), "{e}");
    }
}
