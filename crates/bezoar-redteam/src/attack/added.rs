//! Attacks that add rows: `duplicate-flood` and `junk`.
//!
//! The rate is a fraction of the *input* dataset: `round(rate × n)` rows are added, so the
//! poisoned share of the output is `added / (n + added)`. Added rows are appended after every
//! input row — where new contributions land in a real feed — and copy every other column (source,
//! embedding, …) of the row named by [`super::OutRow::source`].

use super::{Plan, PoisonKind};
use crate::error::RedteamError;
use crate::rate::Rate;
use bezoar_scan::rng::SplitMix64;

/// Copies the rows (from outside the target class) `sources` of them, `round(rate × n)` copies in
/// all, spread evenly, each lightly perturbed and labelled with the target.
pub(crate) fn duplicate_flood(
    plan: &mut Plan<'_>,
    sources: usize,
    target: u32,
    rate: Rate,
    rng: &mut SplitMix64,
) -> Result<Option<String>, RedteamError> {
    if sources == 0 {
        return Err(RedteamError::Config("--sources must be at least 1".into()));
    }
    let pool = plan.rows_where(|l| l != target);
    if pool.is_empty() {
        return Err(RedteamError::Config(format!(
            "duplicate-flood copies rows not labelled '{}' (the target), and there are none",
            plan.label_name(target)
        )));
    }
    let picked = rng.sample(&pool, sources);
    let count = rate.count(plan.n());
    for k in 0..count {
        let src = picked[k % picked.len()];
        let text = perturb(plan.text(src), rng);
        plan.add(src, text, target, PoisonKind::DirtyLabel);
    }
    Ok(Some(format!(
        "{count} near-copies of {} row{}",
        picked.len(),
        if picked.len() == 1 { "" } else { "s" }
    )))
}

/// `round(rate × n)` rows of random lowercase tokens (as many as a random input row has words)
/// with uniformly random labels; other columns copied from a random input row.
pub(crate) fn junk(
    plan: &mut Plan<'_>,
    rate: Rate,
    rng: &mut SplitMix64,
) -> Result<Option<String>, RedteamError> {
    let n = plan.n();
    let classes = plan.ds.num_classes().max(1);
    let count = rate.count(n);
    for _ in 0..count {
        let template = rng.below(n);
        let words = plan.text(template).split_whitespace().count().clamp(1, 200);
        let mut text = String::new();
        for w in 0..words {
            if w > 0 {
                text.push(' ');
            }
            let len = 2 + rng.below(8);
            for _ in 0..len {
                text.push((b'a' + rng.below(26) as u8) as char);
            }
        }
        let label = rng.below(classes) as u32;
        plan.add(template, text, label, PoisonKind::Availability);
    }
    Ok(Some(format!("{count} rows of random tokens")))
}

/// One small random edit, so copies are near (not exact) duplicates: drop a word, repeat a word,
/// swap two neighbouring words, or change the final punctuation.
fn perturb(text: &str, rng: &mut SplitMix64) -> String {
    let mut words: Vec<&str> = text.split_whitespace().collect();
    match (rng.below(4), words.len()) {
        (0, n) if n >= 4 => {
            words.remove(rng.below(n));
        }
        (1, n) if n >= 1 => {
            let i = rng.below(n);
            words.insert(i, words[i]);
        }
        (2, n) if n >= 2 => {
            let i = rng.below(n - 1);
            words.swap(i, i + 1);
        }
        _ => {
            let mut s = words.join(" ");
            s.push_str(if s.ends_with('!') { " ." } else { " !" });
            return s;
        }
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::super::testutil::dataset;
    use super::super::{inject, Attack, InjectConfig, PoisonKind};

    fn run(attack: Attack, rate: &str, with_ids: bool) -> super::super::Injection {
        let ds = dataset(200, 2, with_ids);
        let target = attack.uses_target().then(|| "c1".to_string());
        inject(
            &ds,
            &InjectConfig {
                attack,
                rate: rate.parse().unwrap(),
                target,
                seed: 5,
            },
        )
        .unwrap()
    }

    #[test]
    fn flood_appends_labelled_near_copies_of_few_rows() {
        let inj = run(Attack::DuplicateFlood { sources: 2 }, "5%", true);
        let ds = dataset(200, 2, true);
        assert_eq!(inj.rows.len(), 210);
        assert!(inj.rows[..200].iter().all(|r| r.poison.is_none()));
        let added = &inj.rows[200..];
        let mut srcs: Vec<usize> = added.iter().map(|r| r.source).collect();
        srcs.sort_unstable();
        srcs.dedup();
        assert_eq!(srcs.len(), 2);
        for r in added {
            assert!(r.added);
            assert_eq!(r.label, Some(1));
            assert_eq!(ds.labels.codes[r.source], 0);
            assert_eq!(r.poison, Some(PoisonKind::DirtyLabel));
            assert!(r.id.starts_with("injected-"), "{}", r.id);
            let orig: Vec<&str> = ds.texts.get(r.source).split_whitespace().collect();
            let copy: Vec<&str> = r.text.as_deref().unwrap().split_whitespace().collect();
            let shared = copy.iter().filter(|w| orig.contains(w)).count();
            assert!(shared + 1 >= orig.len().min(copy.len()), "not a near copy");
        }
    }

    #[test]
    fn junk_appends_random_rows_with_row_number_ids() {
        let inj = run(Attack::Junk, "1%", false);
        assert_eq!(inj.rows.len(), 202);
        assert_eq!(inj.rows[200].id, "200");
        assert_eq!(inj.rows[201].id, "201");
        for r in &inj.rows[200..] {
            assert_eq!(r.poison, Some(PoisonKind::Availability));
            assert!(r
                .text
                .as_deref()
                .unwrap()
                .chars()
                .all(|c| c == ' ' || c.is_ascii_lowercase()));
        }
    }

    #[test]
    fn zero_sources_is_an_error() {
        let ds = dataset(20, 2, true);
        let e = inject(
            &ds,
            &InjectConfig {
                attack: Attack::DuplicateFlood { sources: 0 },
                rate: "10%".parse().unwrap(),
                target: None,
                seed: 1,
            },
        );
        assert!(e.is_err());
    }
}
