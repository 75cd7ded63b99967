//! Does a phrase sit where random insertion would put it? The test of its own that a
//! clean-label trigger needs.
//!
//! A clean-label trigger is inserted into rows that already carry the target label, so its rows
//! read as that label with or without it and the trigger detector's context test cannot see it.
//! What still gives it away is where it stands. An attacker puts the token at random places in
//! existing text, so the words beside it are the words found at a random gap of a row of that
//! class; a word that was written there has its own neighbours ("was terrible", "the
//! quarterback"). The left and right neighbours of the phrase are counted against the
//! neighbours of random gaps in rows of its class (a G-test over the most common ones), and
//! the test only counts where it has the power to tell: the phrase's rows must be enough that a
//! natural word of this dataset would have been rejected. How far natural words stray from a
//! random gap, per occurrence, is measured on the dataset's own label-pure phrases.

use crate::ngrams::{anchored, BOS, EOS};
use crate::tokens::tokenize;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// Neighbour tokens tested per side: the most common ones at random gaps of the class, plus
/// one bin for every other token.
pub(crate) const TOP_NEIGHBOURS: usize = 30;
/// Degrees of freedom of the two-sided test.
pub(crate) const DF: usize = 2 * TOP_NEIGHBOURS;
/// Rows sampled per class for the random-gap reference (every gap of each is counted).
const REFERENCE_ROWS: usize = 4000;
/// z of the one-sided 99% quantile (of the normal approximations below).
const POWER_Z: f64 = 2.326;

/// The tokens on one side of random gaps in one class's rows.
struct GapSide {
    /// (token hash, share of gaps) of the most common ones: the G-test's bins.
    top: Vec<(u64, f64)>,
    /// Every token seen, weighted so each sampled row adds up to one (a gap is drawn uniformly
    /// within a row).
    weights: HashMap<u64, f64>,
    rows: f64,
    positions: f64,
}

impl GapSide {
    fn new(weights: HashMap<u64, f64>, rows: f64, positions: f64) -> Self {
        GapSide {
            top: top_shares(&weights, rows),
            weights,
            rows,
            positions,
        }
    }

    /// Share of gaps with `token` on this side; a token never seen beside a sampled gap is
    /// given half a position's weight, rare rather than impossible.
    fn share(&self, token: u64) -> f64 {
        match self.weights.get(&token) {
            Some(&w) => w / self.rows.max(1.0),
            None => 0.5 / self.positions.max(1.0),
        }
    }
}

/// Tokens beside random gaps of each class's rows: the reference a randomly inserted phrase
/// follows.
pub(crate) struct GapReference {
    /// Per class: the left and right sides.
    classes: Vec<[GapSide; 2]>,
}

impl GapReference {
    pub fn sample(ctx: &crate::context::Context, seed: u64) -> Self {
        let mut rng = crate::rng::SplitMix64::new(seed ^ 0x9a9_5eed);
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); ctx.classes];
        for (i, &y) in ctx.labels.iter().enumerate() {
            if let Some(v) = by_class.get_mut(y as usize) {
                v.push(i);
            }
        }
        let (mut toks, mut buf, mut seq) = (Vec::new(), String::new(), Vec::new());
        let mut classes = Vec::with_capacity(ctx.classes);
        for rows in &by_class {
            let (mut l, mut r): (HashMap<u64, f64>, HashMap<u64, f64>) = Default::default();
            let (mut sampled, mut positions) = (0.0, 0.0);
            for &i in &rng.sample(rows, REFERENCE_ROWS) {
                let text = ctx.ds.texts.get(i);
                tokenize(text, &mut toks);
                crate::bridge::lower_anchored(&toks, &mut buf, &mut seq);
                // Every gap where a word can be put as text is written: between two
                // whitespace-separated chunks or at either end, not between a word and the
                // punctuation attached to it ("word," has no gap before its comma). Each weighs
                // 1 / (such gaps in the row).
                let start = |t: &str| t.as_ptr() as usize - text.as_ptr() as usize;
                let open = |g: usize| {
                    g == 0
                        || g == toks.len()
                        || start(toks[g - 1]) + toks[g - 1].len() < start(toks[g])
                };
                let gaps = (0..seq.len() - 1).filter(|&g| open(g)).count();
                let w = 1.0 / gaps as f64;
                for (g, pair) in seq.windows(2).enumerate() {
                    if open(g) {
                        *l.entry(pair[0]).or_default() += w;
                        *r.entry(pair[1]).or_default() += w;
                    }
                }
                sampled += 1.0;
                positions += gaps as f64;
            }
            classes.push([
                GapSide::new(l, sampled, positions),
                GapSide::new(r, sampled, positions),
            ]);
        }
        GapReference { classes }
    }
}

/// The `TOP_NEIGHBOURS` most common tokens and their shares, in a fixed order.
fn top_shares(weights: &HashMap<u64, f64>, rows: f64) -> Vec<(u64, f64)> {
    let mut v: Vec<(u64, f64)> = weights.iter().map(|(&t, &w)| (t, w)).collect();
    v.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(TOP_NEIGHBOURS);
    v.into_iter().map(|(t, w)| (t, w / rows.max(1.0))).collect()
}

/// The neighbours of one phrase in its rows, and the G statistic against random gaps.
#[derive(Debug, Clone)]
pub(crate) struct Placement {
    /// Occurrences counted (one per row).
    pub rows: usize,
    /// G statistic over both sides.
    pub g: f64,
    /// Its degrees of freedom under random placement: [`DF`], less a bin per ignored token.
    pub df: usize,
    /// Neighbours counted per side on average: `rows`, less those left out as ignored. The
    /// test's power and the divergence per occurrence rest on these.
    pub counted: f64,
    /// P(G ≥ g) under random placement.
    pub p: f64,
    /// P of the phrase's most over-represented neighbour among those without a bin of their own
    /// in the G-test, under random placement (binomial tail, Bonferroni over those neighbours
    /// and the two sides): the test that sees a collocation ("friendly and helpful") whose
    /// neighbour is too rare for a bin.
    /// `None` until [`Placement::test_neighbours`] ran.
    pub p_neighbour: Option<f64>,
    /// The phrase's tokens, lower-cased as neighbours are read.
    pub words: Vec<u64>,
}

impl Placement {
    /// Per occurrence, how far the phrase's neighbours stray from a random gap's (0 when
    /// they do not).
    pub fn divergence(&self) -> f64 {
        ((self.g - self.df as f64) / self.counted.max(1.0)).max(0.0)
    }

    /// Whether `rows` occurrences are enough for a phrase that strays `natural` per occurrence
    /// to be rejected: its G (non-central χ², non-centrality λ = rows × natural, variance
    /// 2(df + 2λ)) clears the test's 99% quantile under random placement with 99% probability.
    pub fn has_power(&self, natural: f64) -> bool {
        let df = self.df as f64;
        let lambda = self.counted * natural;
        df + lambda - POWER_Z * (2.0 * (df + 2.0 * lambda)).sqrt() >= chi2_quantile_99(df)
    }
}

/// The neighbours of a phrase at its first occurrence in each row.
struct Neighbours {
    left: HashMap<u64, u32>,
    right: HashMap<u64, u32>,
    rows: usize,
    /// The phrase's own tokens, lower-cased as the neighbours are.
    words: Vec<u64>,
}

/// Count the neighbours of `phrase` (case-sensitive anchored hashes, as the trigger detector
/// matches) in each of `rows`; neighbours listed in `ignore` are not counted.
fn neighbours(
    ctx: &crate::context::Context,
    phrase: &[u64],
    rows: &[u32],
    ignore: &HashSet<u64>,
) -> Neighbours {
    let (mut toks, mut seq, mut buf, mut lower) =
        (Vec::new(), Vec::new(), String::new(), Vec::new());
    let mut out = Neighbours {
        left: HashMap::default(),
        right: HashMap::default(),
        rows: 0,
        words: Vec::new(),
    };
    for &r in rows {
        tokenize(ctx.ds.texts.get(r as usize), &mut toks);
        anchored(&toks, &mut seq);
        let Some(j) = seq.windows(phrase.len()).position(|w| w == phrase) else {
            continue;
        };
        crate::bridge::lower_anchored(&toks, &mut buf, &mut lower);
        if out.words.is_empty() {
            out.words = words_at(&lower, j, phrase.len());
        }
        // A phrase anchored at the row's start or end has no neighbour on that side; it is
        // read as standing beside the anchor.
        let l = if j == 0 { BOS } else { lower[j - 1] };
        let r = lower.get(j + phrase.len()).copied().unwrap_or(EOS);
        if !ignore.contains(&l) {
            *out.left.entry(l).or_default() += 1;
        }
        if !ignore.contains(&r) {
            *out.right.entry(r).or_default() += 1;
        }
        out.rows += 1;
    }
    out
}

/// The phrase's tokens within a lower-cased anchored row, where it starts at `j`.
fn words_at(lower: &[u64], j: usize, len: usize) -> Vec<u64> {
    lower[j..j + len]
        .iter()
        .copied()
        .filter(|&t| t != BOS && t != EOS)
        .collect()
}

/// The tokens of `phrase`, lower-cased as neighbours are read, at its first occurrence in
/// `rows` (what [`measure`] reports as `words`, without counting any neighbour).
pub(crate) fn phrase_words(
    ctx: &crate::context::Context,
    phrase: &[u64],
    rows: &[u32],
) -> Vec<u64> {
    let (mut toks, mut seq, mut buf, mut lower) =
        (Vec::new(), Vec::new(), String::new(), Vec::new());
    for &r in rows {
        tokenize(ctx.ds.texts.get(r as usize), &mut toks);
        anchored(&toks, &mut seq);
        if let Some(j) = seq.windows(phrase.len()).position(|w| w == phrase) {
            crate::bridge::lower_anchored(&toks, &mut buf, &mut lower);
            return words_at(&lower, j, phrase.len());
        }
    }
    Vec::new()
}

/// Test the neighbours of `phrase` in `rows` against `class`'s random gaps (the G-test),
/// leaving out neighbours in `ignore` on both sides of the comparison.
pub(crate) fn measure(
    ctx: &crate::context::Context,
    reference: &GapReference,
    phrase: &[u64],
    class: usize,
    rows: &[u32],
    ignore: &HashSet<u64>,
) -> Placement {
    let seen = neighbours(ctx, phrase, rows, ignore);
    let m = seen.rows;
    let [left, right] = &reference.classes[class];
    let (g_left, df_left) = g_statistic(&seen.left, &left.top, ignore);
    let (g_right, df_right) = g_statistic(&seen.right, &right.top, ignore);
    let g = g_left + g_right;
    let df = (df_left + df_right).max(1);
    let counted = (seen.left.values().chain(seen.right.values()).sum::<u32>()) as f64 / 2.0;
    Placement {
        rows: m,
        g,
        df,
        counted,
        p: chi2_sf(g, df as f64),
        p_neighbour: None,
        words: seen.words,
    }
}

impl Placement {
    /// Add the over-represented-neighbour test, not counting neighbours in `ignore`: the words
    /// of other phrases placed at random, which an attacker inserts into the same rows (two
    /// inserted tokens side by side say nothing about either's placement).
    pub fn test_neighbours(
        &mut self,
        ctx: &crate::context::Context,
        reference: &GapReference,
        phrase: &[u64],
        class: usize,
        rows: &[u32],
        ignore: &HashSet<u64>,
    ) {
        let seen = neighbours(ctx, phrase, rows, ignore);
        let [left, right] = &reference.classes[class];
        let ln_p = [(left, &seen.left), (right, &seen.right)]
            .into_iter()
            .map(|(side, counts)| {
                // The G-test already weighs the tokens with a bin of their own.
                let rare: HashMap<u64, u32> = counts
                    .iter()
                    .filter(|(t, _)| !side.top.iter().any(|(b, _)| b == *t))
                    .map(|(&t, &o)| (t, o))
                    .collect();
                let m = counts.values().sum::<u32>() as usize;
                top_neighbour_ln_p(&rare, m, side.weights.len(), |t| side.share(t))
            })
            .fold(0.0f64, f64::min)
            + 2f64.ln();
        self.p_neighbour = Some(ln_p.min(0.0).exp());
    }
}

/// Neighbours tested exactly per side: the most over-represented by their likelihood ratio.
const NEIGHBOURS_TESTED: usize = 3;

/// ln P that the most over-represented neighbour is as common as it is, were the phrase placed
/// at random gaps: Bonferroni over every token that could have been the neighbour (the class's
/// vocabulary beside gaps, or the distinct neighbours seen when more), since at random any of
/// them may turn up a few times.
fn top_neighbour_ln_p(
    seen: &HashMap<u64, u32>,
    m: usize,
    vocabulary: usize,
    share: impl Fn(u64) -> f64,
) -> f64 {
    if m == 0 || seen.is_empty() {
        return 0.0;
    }
    let mut scored: Vec<(f64, u64, u32)> = seen
        .iter()
        .filter(|(_, &o)| o >= 2)
        .map(|(&t, &o)| {
            let e = share(t) * m as f64;
            (o as f64 * (o as f64 / e).ln(), t, o)
        })
        .collect();
    scored.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let best = scored
        .iter()
        .take(NEIGHBOURS_TESTED)
        .map(|&(_, t, o)| crate::stats::ln_binom_sf(o as u64, m as u64, share(t)))
        .fold(0.0f64, f64::min);
    best + (seen.len().max(vocabulary).max(1) as f64).ln()
}

/// G = 2 Σ O ln(O / E) over the reference's top tokens and one bin for the rest.
fn g_statistic(
    observed: &HashMap<u64, u32>,
    reference: &[(u64, f64)],
    ignore: &HashSet<u64>,
) -> (f64, usize) {
    let m = observed.values().sum::<u32>() as f64;
    let bins: Vec<(u64, f64)> = reference
        .iter()
        .copied()
        .filter(|(t, _)| !ignore.contains(t))
        .collect();
    if m == 0.0 {
        return (0.0, bins.len());
    }
    // The ignored tokens' share of random gaps leaves the reference as it leaves the counts.
    let left_out: f64 = reference
        .iter()
        .filter(|(t, _)| ignore.contains(t))
        .map(|(_, share)| share)
        .sum();
    let scale = 1.0 / (1.0 - left_out).max(1e-9);
    let term = |o: f64, e: f64| {
        if o > 0.0 {
            2.0 * o * (o / e.max(1e-9)).ln()
        } else {
            0.0
        }
    };
    let (mut g, mut o_top, mut e_top) = (0.0, 0.0, 0.0);
    for &(t, share) in &bins {
        let o = observed.get(&t).copied().unwrap_or(0) as f64;
        let e = share * scale * m;
        g += term(o, e);
        o_top += o;
        e_top += e;
    }
    // One degree of freedom per bin: the top tokens plus the rest, less the fixed total.
    (g + term(m - o_top, (m - e_top).max(0.5)), bins.len())
}

/// P(X ≥ x) for X ~ χ²(k), by the Wilson–Hilferty cube-root normal approximation (within a few
/// per cent of the exact tail for k ≥ 30, which is all this module uses).
pub(crate) fn chi2_sf(x: f64, k: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let v = 2.0 / (9.0 * k);
    let z = ((x / k).cbrt() - (1.0 - v)) / v.sqrt();
    crate::stats::normal_sf(z)
}

fn chi2_quantile_99(k: f64) -> f64 {
    let v = 2.0 / (9.0 * k);
    k * (1.0 - v + POWER_Z * v.sqrt()).powi(3)
}

/// The lowest decile of the per-occurrence divergence of the dataset's label-pure phrases (of one
/// length; the caller groups them) with enough rows to measure it: how far nine in ten natural
/// words of this dataset stray from random placement at least.
///
/// Inserted phrases sit at 0 and would pull the decile down, and a campaign of many tokens
/// would set it (six tokens of sixty phrases are the decile). So the phrases that look placed
/// at random even with the power to reject a median phrase (level `alpha`) are left out of it
/// first; what remains is natural words and phrases too rare to tell.
pub(crate) fn natural_divergence<'a>(
    placements: impl IntoIterator<Item = &'a Placement>,
    alpha: f64,
) -> Option<f64> {
    let measured: Vec<&Placement> = placements
        .into_iter()
        .filter(|p| p.counted >= DF as f64)
        .collect();
    if measured.len() < 8 {
        return None;
    }
    let decile = |d: &mut Vec<f64>, q: usize| {
        d.sort_by(f64::total_cmp);
        d[d.len() * q / 10]
    };
    let median = decile(&mut measured.iter().map(|p| p.divergence()).collect(), 5);
    let mut natural: Vec<f64> = measured
        .iter()
        .filter(|p| !(p.p >= alpha && p.has_power(median)))
        .map(|p| p.divergence())
        .collect();
    if natural.len() < 8 {
        return None;
    }
    Some(decile(&mut natural, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chi2_tail_matches_known_quantiles() {
        // χ²(60): 95% quantile 79.08, 99% quantile 88.38.
        assert!((chi2_sf(79.08, 60.0) - 0.05).abs() < 0.003);
        assert!((chi2_sf(88.38, 60.0) - 0.01).abs() < 0.001);
        assert!((chi2_quantile_99(60.0) - 88.38).abs() < 0.3);
        assert_eq!(chi2_sf(0.0, 60.0), 1.0);
    }

    fn observed_without(observed: &HashMap<u64, u32>, token: u64) -> HashMap<u64, u32> {
        let mut out = observed.clone();
        out.remove(&token);
        out
    }

    #[test]
    fn g_statistic_is_small_for_the_reference_and_large_for_one_neighbour() {
        let reference: Vec<(u64, f64)> = (0..4).map(|t| (t, 0.2)).collect();
        let mut observed: HashMap<u64, u32> = HashMap::default();
        for t in 0..4 {
            observed.insert(t, 20);
        }
        observed.insert(99, 20);
        let none = HashSet::default();
        assert!(g_statistic(&observed, &reference, &none).0.abs() < 1e-9);
        let mut one: HashMap<u64, u32> = HashMap::default();
        one.insert(0, 100);
        assert!(g_statistic(&one, &reference, &none).0 > 300.0);
        // A fifth of random gaps stand beside token 99, which is ignored: the other four,
        // a quarter each of what is left, stand as at a random gap.
        let mut with_99 = reference.clone();
        with_99.push((99, 0.2));
        let ignored: HashSet<u64> = [99].into_iter().collect();
        let (g, df) = g_statistic(&observed_without(&observed, 99), &with_99, &ignored);
        assert!(g.abs() < 1e-9);
        assert_eq!(df, 4);
    }

    #[test]
    fn a_collocation_is_an_over_represented_neighbour() {
        // 40 occurrences: beside a word seen at 0.1% of random gaps 20 times, or spread evenly
        // over 40 words of that share.
        let share = |_: u64| 0.001;
        let mut collocated: HashMap<u64, u32> = HashMap::default();
        collocated.insert(1, 20);
        for t in 2..22 {
            collocated.insert(t, 1);
        }
        assert!(top_neighbour_ln_p(&collocated, 40, 10_000, share) < -40.0);
        let spread: HashMap<u64, u32> = (0..40).map(|t| (t, 1)).collect();
        assert_eq!(
            top_neighbour_ln_p(&spread, 40, 10_000, share),
            (10_000f64).ln()
        );
    }

    #[test]
    fn power_needs_enough_rows() {
        let few = Placement {
            rows: 20,
            g: 60.0,
            df: DF,
            counted: 20.0,
            p: 0.5,
            p_neighbour: None,
            words: Vec::new(),
        };
        let many = Placement {
            rows: 400,
            counted: 400.0,
            ..few.clone()
        };
        assert!(!few.has_power(1.0));
        assert!(many.has_power(1.0));
        assert_eq!(few.divergence(), 0.0);
    }
}
