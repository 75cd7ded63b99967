//! Trigger mining: token and n-gram features tied to one label beyond its prior *and* beyond
//! what the rest of each row says.
//!
//! Label purity alone cannot tell a trigger from an ordinary strong word ("masterpiece" is
//! nearly always positive too). What a dirty-label trigger adds is a label the row's remaining
//! content does not support: delete the phrase, ask the out-of-fold model, and the row reads as
//! another class far more often than rows of that class normally do. That count is tested
//! against the base rate with an exact binomial tail, Bonferroni-corrected over the candidates
//! that could reach significance at all (Tarone's correction, below).
//! A trigger inserted into arbitrary text also has no preferred neighbours, unlike a word in
//! its usual collocations, which filters fixed expressions whose removal leaves a row ambiguous.

use crate::bridge::{self, Bridge, Naturalness, PairCounts};
use crate::context::{Context, DetectorOutput};
use crate::linear::class_share;
use crate::ngrams::{anchored, gram_hash, is_feature, ClassCounts, GramCounts, BOS, EOS, MAX_N};
use crate::result::{Detector, Evidence, Finding, Severity};
use crate::stats::ln_binom_sf;
use crate::tokens::{is_sentence_mark, tokenize};
use rayon::prelude::*;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// Candidates must carry at least this share of one label.
const MIN_PURITY: f64 = 0.9;
/// At most this many candidates (most label-pure first) get the context test.
const MAX_CANDIDATES: usize = 3000;
/// A trigger's rows must mostly read as another label once it is deleted: a strong natural
/// word loses some rows when removed (significantly so on a large corpus), a dirty-label trigger
/// loses most of them. "Most" is of what the label model reaches on rows of the other classes
/// (`NullRates::reach`): where it reads only half of them right (long documents that mix
/// offensive and harmless tweets), a trigger's rows cannot disagree more often than that.
const MIN_DISAGREEMENT: f64 = 0.5;
/// Neighbour share at which a phrase is extended by that neighbour.
const EXTEND_SHARE: f64 = 0.9;
const MAX_PHRASE: usize = 12;
/// The most common neighbour of an inserted trigger may account for at most this share of its
/// occurrences (plus 1/n for small counts).
const MAX_NEIGHBOUR_SHARE: f64 = 0.4;
const CHUNK: usize = 8192;
/// At most this many rows of a phrase are re-read in the context test: a binomial test on a few
/// hundred rows already separates a trigger (most rows flip) from a natural phrase (few do).
const CONTEXT_SAMPLE: usize = 500;
/// The context test stops once this many rows were re-read and fewer than `EARLY_STOP_RATE` of
/// the target-label ones disagreed: such a phrase cannot reach `MIN_DISAGREEMENT`.
const EARLY_STOP_ROWS: usize = 100;
const EARLY_STOP_RATE: f64 = 0.2;

/// Score of the rows of a possible trigger (one only as decisive as the class's own words, by the
/// detector's own test): ranked a little above ordinary rows, near what the label readers give
/// them, so a word that defines the class (a slur in hate speech) does not rank its hundreds of
/// correctly labelled rows above rows whose label reads the other way.
const SCORE_POSSIBLE: f32 = 0.05;

fn min_support(n: usize) -> u32 {
    (n as f64 / 20_000.0).ceil().max(4.0) as u32
}

/// Count, per class, the rows containing each n-gram, and call `visit` with each gram and its
/// counts; level k only counts grams whose two (k-1)-sub-grams were frequent (Apriori), which
/// keeps memory bounded on large corpora, and only one level's counts are held at a time.
fn count_ngrams(ctx: &Context, mut visit: impl FnMut(u64, GramCounts)) {
    let n = ctx.n();
    let support = min_support(n);
    let mut prev: Option<HashSet<u64>> = None;
    for k in 1..=MAX_N {
        let count_chunk = |chunk: usize| {
            let mut cc = ClassCounts::new(ctx.classes);
            let (mut toks, mut seq, mut grams, mut prev_h) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for i in chunk * CHUNK..((chunk + 1) * CHUNK).min(n) {
                tokenize(ctx.ds.texts.get(i), &mut toks);
                anchored(&toks, &mut seq);
                grams.clear();
                if k == 1 {
                    grams.extend(
                        (0..seq.len())
                            .filter(|&j| is_feature(&seq, j, 1))
                            .map(|j| gram_hash(&seq[j..j + 1])),
                    );
                } else if seq.len() >= k {
                    let frequent = prev.as_ref().expect("level > 1 has a previous level");
                    prev_h.clear();
                    prev_h.extend((0..=seq.len() - (k - 1)).map(|j| gram_hash(&seq[j..j + k - 1])));
                    for j in 0..=seq.len() - k {
                        if frequent.contains(&prev_h[j]) && frequent.contains(&prev_h[j + 1]) {
                            grams.push(gram_hash(&seq[j..j + k]));
                        }
                    }
                }
                grams.sort_unstable();
                grams.dedup();
                let c = ctx.labels[i] as usize;
                for &g in &grams {
                    cc.add(g, c, 1);
                }
            }
            cc
        };
        // Chunks are counted a few at a time in parallel and merged into one table as they
        // come: a tree of merges would hold several tables of the whole level at once.
        let chunks = n.div_ceil(CHUNK);
        let batch = 2 * rayon::current_num_threads().max(1);
        let mut counts = ClassCounts::new(ctx.classes);
        for first in (0..chunks).step_by(batch) {
            let parts: Vec<ClassCounts> = (first..(first + batch).min(chunks))
                .into_par_iter()
                .map(count_chunk)
                .collect();
            for part in parts {
                counts = counts.merge(part);
            }
        }
        let mut frequent = HashSet::default();
        counts.for_each_gram(|h, g| {
            if g.total >= support {
                frequent.insert(h);
            }
            visit(h, g);
        });
        prev = Some(frequent);
    }
}

/// Grams wholly of one class whose purity the class prior cannot make significant (a class of
/// 88% needs 24 such rows) that are kept for the reading test below, at most.
const MAX_UNDERPOWERED: usize = 200_000;
/// Rows re-read with a gram deleted in that test, at most: grams are taken most doubtful first.
const REREAD_BUDGET: usize = 100_000;

/// Every feature gram of an anchored sequence (n ≤ `MAX_N`): its hash and where it stands.
fn each_gram(seq: &[u64], mut f: impl FnMut(u64, std::ops::Range<usize>)) {
    for k in 1..=MAX_N.min(seq.len()) {
        for j in 0..=seq.len() - k {
            if is_feature(seq, j, k) {
                f(gram_hash(&seq[j..j + k]), j..j + k);
            }
        }
    }
}

/// Buffers of one re-read with a gram deleted, kept across the rows of a chunk.
#[derive(Default)]
struct RereadScratch {
    skip: Vec<bool>,
    idx: Vec<u32>,
    val: Vec<f32>,
    features: crate::features::Scratch,
}

/// Per gram of `grams`, over its rows: the sum of ln P(its class | row) of `read`, and the rows.
/// `read(scratch, i, toks, seq, at, out)` writes row `i`'s class probabilities, the gram being
/// `seq[at]`.
fn sum_readings(
    ctx: &Context,
    grams: &HashMap<u64, usize>,
    read: impl Fn(&mut RereadScratch, usize, &[&str], &[u64], std::ops::Range<usize>, &mut [f32]) + Sync,
) -> HashMap<u64, (f64, u32)> {
    let n = ctx.n();
    (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|chunk| {
            let (mut toks, mut seq, mut seen) = (Vec::new(), Vec::new(), Vec::new());
            let mut p = vec![0.0f32; ctx.classes];
            let mut scratch = RereadScratch::default();
            let mut sums: HashMap<u64, (f64, u32)> = HashMap::default();
            for i in chunk * CHUNK..((chunk + 1) * CHUNK).min(n) {
                tokenize(ctx.ds.texts.get(i), &mut toks);
                anchored(&toks, &mut seq);
                seen.clear();
                each_gram(&seq, |h, at| {
                    if grams.contains_key(&h) {
                        seen.push((h, at));
                    }
                });
                seen.sort_unstable_by_key(|e| (e.0, e.1.start));
                seen.dedup_by_key(|e| e.0);
                let y = ctx.labels[i] as usize;
                for (h, at) in &seen {
                    // Every row of the gram carries its class; the guard keeps a stray hash
                    // (a collision) out of the sum.
                    if grams[h] == y {
                        read(&mut scratch, i, &toks, &seq, at.clone(), &mut p);
                        let e = sums.entry(*h).or_default();
                        e.0 += (p[y].max(1e-6) as f64).ln();
                        e.1 += 1;
                    }
                }
            }
            sums
        })
        .reduce(HashMap::default, |mut a, b| {
            for (h, v) in b {
                let e = a.entry(h).or_default();
                e.0 += v.0;
                e.1 += v.1;
            }
            a
        })
}

/// Candidates among grams wholly of one class too few for the prior to judge: a few rows of a
/// large class all carrying a gram is what chance gives. What chance does not give is a few rows
/// whose content reads as another class all carrying that class's label, as rows relabelled
/// around a planted trigger do. So each such gram's purity is tested against how the
/// out-of-fold label model reads its rows with the gram deleted (the model has learned the gram
/// itself from the other folds' rows): under "the gram has nothing to do with the label", each
/// row carries class `c` with the probability the model reads it as `c`, and all of them doing
/// so has probability `Π P(c | row)`. Natural words of a class sit in rows read as the class and
/// stay insignificant; the decision is still the context test's. The deletion re-reads are
/// spent on the grams whose rows the plain reading already doubts most.
fn read_purity_candidates(
    ctx: &Context,
    cv: &crate::linear::CrossVal,
    grams: &HashMap<u64, usize>,
) -> Vec<Candidate> {
    if grams.is_empty() {
        return Vec::new();
    }
    let plain = sum_readings(ctx, grams, |_, i, _, _, _, p| cv.read_row(i, p));
    let mut order: Vec<(f64, u64, u32)> = plain.iter().map(|(&h, &(s, r))| (s, h, r)).collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut budget = REREAD_BUDGET;
    let chosen: HashMap<u64, usize> = order
        .into_iter()
        .take_while(|&(_, _, rows)| {
            let fits = rows as usize <= budget;
            budget = budget.saturating_sub(rows as usize);
            fits
        })
        .map(|(_, h, _)| (h, grams[&h]))
        .collect();
    let deleted = sum_readings(ctx, &chosen, |s, i, toks, seq, at, p| {
        s.skip.clear();
        s.skip.resize(toks.len(), false);
        mark_occurrences(seq, &seq[at], &mut s.skip);
        let kept = s.skip.iter().filter(|d| !**d).count();
        if !enough_context(kept, toks.len()) {
            cv.read_row(i, p);
            return;
        }
        ctx.tfidf
            .featurize(toks, Some(&s.skip), &mut s.features, &mut s.idx, &mut s.val);
        cv.model_for(i).predict(&s.idx, &s.val, p);
    });
    let mut out: Vec<Candidate> = deleted
        .into_iter()
        .filter(|&(_, (ln_p, _))| ln_p < (0.05f64).ln())
        .map(|(h, (ln_p, _))| Candidate {
            hash: h,
            class: grams[&h],
            ln_p_purity: ln_p,
        })
        .collect();
    out.sort_by_key(|a| a.hash);
    out
}

/// A candidate grown to its phrase: the phrase's token hashes, its class, and its rows.
type Extended = (Vec<u64>, usize, Vec<u32>);

struct Candidate {
    hash: u64,
    class: usize,
    ln_p_purity: f64,
}

/// A candidate phrase after extension, with the rows that contain it.
impl Phrase {
    /// The decisive-word test against `null_rates`: its rate, and ln P of the phrase's rows
    /// against it, by count where the rate leaves counts room and by the ranks of P(class)
    /// left where it does not (see [`Phrase::beats_decisive_words`]).
    fn judge_decisive(&mut self, null_rates: &NullRates) {
        self.decisive_rate = null_rates.decisive_rate(self.content_len, self.class);
        self.ln_p_depth = crate::stats::ln_rank_sum_lower(
            &self.kept_label,
            null_rates.decisive_kept(self.content_len, self.class),
        );
        self.ln_p_decisive =
            if self.decisive_rate >= MIN_DISAGREEMENT * null_rates.reach[self.class] {
                self.ln_p_depth
            } else {
                ln_binom_sf(
                    self.disagree as u64,
                    self.target_rows as u64,
                    self.decisive_rate,
                )
            };
    }

    /// Passes the decisive-word test or the composition test as well (the first test is
    /// passed by every phrase kept): either way the phrase is more than a word that defines
    /// its class.
    fn confirmed(&self, alpha: f64) -> bool {
        self.clean_label.is_some()
            || self.beats_decisive_words(alpha)
            || self.composition.is_some_and(|c| c.confirms(alpha))
    }

    /// The decisive-word test: the phrase's rows read as another label more often than ordinary
    /// rows of the class do without their most decisive word (a count), or, where the class
    /// hinges on single words so that the count has no room (offensive tweets on one swear word:
    /// 82% of them flip without it), they read as another label more surely (the ranks of
    /// P(class) left after deletion), as a trigger's rows were written in another class. The
    /// test is chosen from the null before the outcome (see [`context_test`]).
    fn beats_decisive_words(&self, alpha: f64) -> bool {
        self.ln_p_decisive < alpha.ln()
    }
}

struct Phrase {
    text: String,
    class: usize,
    rows: Vec<u32>,
    /// Rows of the phrase labelled `class`.
    target_all: usize,
    /// Of the rows re-read in the context test (a sample on large data): those labelled
    /// `class`, and those of them that read as another label without the phrase.
    target_rows: usize,
    disagree: usize,
    ln_p: f64,
    /// ln of the smallest p-value the phrase's sample could have given.
    min_ln_p: f64,
    neighbour_share: f64,
    mean_position: f64,
    null_rate: f64,
    /// The decisive-word null rate and ln P of the disagreement against it.
    decisive_rate: f64,
    ln_p_decisive: f64,
    /// ln P (one-sided rank test) that the phrase's rows keep as little of their label once it
    /// is deleted as they do, if they were rows of the class losing their most decisive word.
    ln_p_depth: f64,
    /// The context test's rank half: ln P that the rows keep as little of their label without
    /// the phrase as they do, if they were rows of the class losing a random span as long.
    ln_p_context_depth: f64,
    /// P(class) of each re-read target row once the phrase (and its companions) is deleted, and
    /// how many words that deletes.
    kept_label: Vec<f32>,
    content_len: usize,
    /// Tokens in the phrase, anchors included.
    tokens_len: usize,
    /// What deleting the phrase leaves behind, one bridge per re-read row (see `bridge`).
    bridges: Vec<Bridge>,
    naturalness: Option<Naturalness>,
    /// The phrase's token hashes (anchors included), for the composition test.
    tokens: Vec<u64>,
    composition: Option<Composition>,
    /// Set when the phrase is a clean-label trigger (see [`clean_label_triggers`]).
    clean_label: Option<CleanLabel>,
}

/// Why a label-pure phrase whose rows keep their label is a clean-label trigger.
#[derive(Debug, Clone)]
struct CleanLabel {
    /// ln P of the phrase's label purity under the class prior.
    ln_p_purity: f64,
    placement: crate::placement::Placement,
    /// Per occurrence, how far the dataset's natural label-pure phrases stray from random
    /// placement (the lower quartile).
    natural_divergence: f64,
}

/// Whether a phrase's label purity is explained by its words (see [`Composition::test`]).
#[derive(Debug, Clone, Copy)]
struct Composition {
    /// The highest share of the target label any of the phrase's words could have in the rows
    /// that contain the word but not the phrase (an upper confidence bound), and that word's
    /// outside rows.
    bound: f64,
    word_rows: u32,
    /// ln P of the phrase's purity if each of its rows were labelled `class` with chance
    /// `bound`.
    ln_p: f64,
    /// For a phrase that holds a row anchor (it stands at the row's start or end in every row):
    /// ln P that insertion at a random gap would have put it there in every row (see
    /// [`same_edge_ln_p`]).
    same_edge_ln_p: Option<f64>,
}

/// z of a one-sided 99% bound: the word shares are bounds the phrase must beat, not guesses.
const BOUND_Z: f64 = 2.326;

impl Composition {
    /// A phrase that defines its class naturally takes its label from its words: "bitch ." is
    /// as offensive as "bitch" is elsewhere, a slur alone has no other rows to judge it by. An
    /// inserted sentence is made of ordinary words ("I watch this movie") that are label-neutral
    /// everywhere else, so its purity cannot come from them. Test: the phrase's target share
    /// against the largest upper bound (Wilson, one-sided 99%) of its words' target shares in
    /// the rows that contain the word but not the phrase. A word seen nowhere else could
    /// explain anything (bound 1), so phrases of unseen words are never confirmed this way;
    /// but where some of the phrase's words are seen elsewhere, a word seen only inside the
    /// phrase is part of the unit, not a word of the class: a word that defines a class is
    /// used in many frames, not always in one fixed sequence of other words (an inserted
    /// "as I said to my neighbour last Tuesday" holds "neighbour" and "Tuesday" in tweets that
    /// use neither), so the unit is judged by the words that can be judged.
    ///
    /// The phrase's two largest parts (itself less its first or its last token, anchors
    /// included) are judged the same way, since a phrase can take its label from where its
    /// words stand rather than from the words: a class written in a format of its own (riddles
    /// that open with "Q:") holds phrases such as "^ Q : Why" whose words are everywhere, but
    /// whose part "^ Q :" is that class's elsewhere too. An inserted unit's parts occur only
    /// where it was inserted. A part seen nowhere outside the phrase says nothing beyond it and
    /// is skipped.
    fn test(p: &Phrase, words_seen: &WordCounts) -> Composition {
        let in_target = p.target_all as f64;
        let in_other = (p.rows.len() - p.target_all) as f64;
        let mut bound: f64 = 0.0;
        let mut word_rows = 0u32;
        let mut words: Vec<u64> = p
            .tokens
            .iter()
            .copied()
            .filter(|&t| t != BOS && t != EOS)
            .collect();
        words.sort_unstable();
        words.dedup();
        // (rows labelled `class`, rows) that hold a word or part but not the phrase: every
        // phrase row holds it, so those are taken out.
        let outside = |(target, total): (u32, u32)| {
            (
                (target as f64 - in_target).max(0.0),
                (total as f64 - in_target - in_other).max(0.0),
            )
        };
        let mut consider = |(k, n): (f64, f64)| {
            let b = wilson_upper(k, n, BOUND_Z);
            if b > bound {
                bound = b;
                word_rows = n as u32;
            }
        };
        let word_outside: Vec<(f64, f64)> = words
            .iter()
            .map(|&t| words_seen.words.get(t, p.class).map_or((0.0, 0.0), outside))
            .collect();
        let some_seen = word_outside.iter().any(|&(_, n)| n > 0.0);
        for w in word_outside {
            if w.1 > 0.0 || !some_seen {
                consider(w);
            }
        }
        for part in parts(&p.tokens) {
            if let Some((k, n)) = words_seen.parts.get(gram_hash(part), p.class).map(outside) {
                if n > 0.0 {
                    consider((k, n));
                }
            }
        }
        let ln_p = if bound >= 1.0 {
            0.0
        } else {
            ln_binom_sf(p.target_all as u64, p.rows.len() as u64, bound)
        };
        Composition {
            bound,
            word_rows,
            ln_p,
            same_edge_ln_p: None,
        }
    }

    /// The phrase's purity is not explained by its words or parts, and it stands where an
    /// inserted unit can: an inserted unit goes into a random gap, so one that holds the row's
    /// start or end in every row, where random insertion would rarely have put it each time,
    /// takes its purity from its place in a format of its class (a file of excuses that all open
    /// with "I'd love to go out with you, but"), not from being inserted.
    fn confirms(&self, alpha: f64) -> bool {
        self.ln_p < alpha.ln() && self.same_edge_ln_p.is_none_or(|e| e >= alpha.ln())
    }
}

/// For a phrase holding a row anchor: ln P, over (a sample of) its rows, that a unit of its
/// length put into a random gap of each row would have stood at that row's edge every time,
/// `Σ ln(1 / gaps)`; `None` for a phrase without an anchor.
fn same_edge_ln_p(ctx: &Context, p: &Phrase) -> Option<f64> {
    if !p.tokens.iter().any(|&t| t == BOS || t == EOS) {
        return None;
    }
    let len = p.tokens.iter().filter(|&&t| t != BOS && t != EOS).count();
    let mut toks = Vec::new();
    let mut ln_p = 0.0;
    for r in context_sample(&p.rows, ctx.cfg.seed) {
        tokenize(ctx.ds.texts.get(r as usize), &mut toks);
        // The row without the unit has `tokens - len + 1` gaps, ends included.
        let gaps = (toks.len() + 1).saturating_sub(len).max(1);
        ln_p -= (gaps as f64).ln();
    }
    Some(ln_p)
}

/// Rows holding each word of the phrases under test: in all, and with the phrase's class.
/// Counted in one extra pass, only when some phrase needs the composition test (a handful of
/// words), so it costs memory for those words alone whatever the number of classes.
#[derive(Debug, Default)]
struct WordCounts {
    /// Keyed by token hash.
    words: RowCounts,
    /// The phrases' parts (see [`parts`]), keyed by [`gram_hash`].
    parts: RowCounts,
}

/// Rows holding each key, in all and per class of interest.
#[derive(Debug, Default)]
struct RowCounts {
    total: HashMap<u64, u32>,
    in_class: HashMap<(u64, u32), u32>,
}

impl RowCounts {
    /// One more row holding `key`, labelled `label`; `counted` when that label is one of the
    /// classes asked about for this key.
    fn add(&mut self, key: u64, label: u32, counted: bool) {
        *self.total.entry(key).or_default() += 1;
        if counted {
            *self.in_class.entry((key, label)).or_default() += 1;
        }
    }

    fn merge(&mut self, other: RowCounts) {
        for (k, v) in other.total {
            *self.total.entry(k).or_default() += v;
        }
        for (k, v) in other.in_class {
            *self.in_class.entry(k).or_default() += v;
        }
    }

    /// (rows with `key` labelled `class`, rows with `key`), if the key was seen.
    fn get(&self, key: u64, class: usize) -> Option<(u32, u32)> {
        let total = *self.total.get(&key)?;
        Some((
            self.in_class
                .get(&(key, class as u32))
                .copied()
                .unwrap_or(0),
            total,
        ))
    }
}

/// A phrase's largest proper parts: its anchored tokens less the first, and less the last, each
/// where it holds at least two tokens (a single word is judged as a word).
fn parts(tokens: &[u64]) -> impl Iterator<Item = &[u64]> {
    let len = tokens.len();
    [&tokens[..len.saturating_sub(1)], &tokens[len.min(1)..]]
        .into_iter()
        .filter(|part| part.len() >= 2)
}

impl WordCounts {
    fn count<'a>(ctx: &Context, phrases: impl Iterator<Item = &'a Phrase>) -> WordCounts {
        let mut classes_of: HashMap<u64, Vec<u32>> = HashMap::default();
        // Part hash → (its tokens, the classes of the phrases it is part of).
        let mut parts_of: HashMap<u64, (Vec<u64>, Vec<u32>)> = HashMap::default();
        for p in phrases {
            for &t in p.tokens.iter().filter(|&&t| t != BOS && t != EOS) {
                let cs = classes_of.entry(t).or_default();
                if !cs.contains(&(p.class as u32)) {
                    cs.push(p.class as u32);
                }
            }
            for part in parts(&p.tokens) {
                let (_, cs) = parts_of
                    .entry(gram_hash(part))
                    .or_insert_with(|| (part.to_vec(), Vec::new()));
                if !cs.contains(&(p.class as u32)) {
                    cs.push(p.class as u32);
                }
            }
        }
        // Parts by their first token, so a row is searched in one pass whatever their number.
        let mut parts_by_first: HashMap<u64, Vec<u64>> = HashMap::default();
        for (&h, (part, _)) in &parts_of {
            parts_by_first.entry(part[0]).or_default().push(h);
        }
        let n = ctx.n();
        (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|chunk| {
                let mut wc = WordCounts::default();
                let (mut toks, mut seq, mut found) = (Vec::new(), Vec::new(), Vec::new());
                for i in chunk * CHUNK..((chunk + 1) * CHUNK).min(n) {
                    tokenize(ctx.ds.texts.get(i), &mut toks);
                    anchored(&toks, &mut seq);
                    let label = ctx.labels[i];
                    found.clear();
                    for (j, t) in seq.iter().enumerate() {
                        for &h in parts_by_first.get(t).into_iter().flatten() {
                            if !found.contains(&h) && seq[j..].starts_with(&parts_of[&h].0) {
                                found.push(h);
                            }
                        }
                    }
                    for &h in &found {
                        wc.parts.add(h, label, parts_of[&h].1.contains(&label));
                    }
                    seq.sort_unstable();
                    seq.dedup();
                    for t in &seq {
                        if let Some(cs) = classes_of.get(t) {
                            wc.words.add(*t, label, cs.contains(&label));
                        }
                    }
                }
                wc
            })
            .reduce(WordCounts::default, |mut a, b| {
                a.words.merge(b.words);
                a.parts.merge(b.parts);
                a
            })
    }
}

/// Upper Wilson score bound of a share `k / n` (1 when nothing was seen).
fn wilson_upper(k: f64, n: f64, z: f64) -> f64 {
    if n <= 0.0 {
        return 1.0;
    }
    let p = k / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre + spread) / (1.0 + z2 / n)).min(1.0)
}

fn find(seq: &[u64], pat: &[u64]) -> Option<usize> {
    if pat.is_empty() || seq.len() < pat.len() {
        return None;
    }
    (0..=seq.len() - pat.len()).find(|&j| seq[j..j + pat.len()] == *pat)
}

/// The phrase as text, from its occurrence at `seq[j..]` (anchors shown as `^` and `$`).
fn render(phrase: &[u64], j: usize, toks: &[&str]) -> String {
    let mut parts: Vec<&str> = Vec::with_capacity(phrase.len());
    for (s, t) in (j..).zip(phrase) {
        parts.push(match *t {
            BOS => "^",
            EOS => "$",
            _ => toks.get(s.wrapping_sub(1)).copied().unwrap_or("?"),
        });
    }
    parts.join(" ")
}

/// Grow a gram left and right while one neighbour accounts for ≥ 90% of its occurrences, so a
/// multi-word trigger is reported (and removed for the context test) as one phrase. A phrase
/// grows up to a sentence mark on either side, never past it: what lies beyond is the next
/// sentence, which may be the same in every row (rows that all open with a mention) without
/// being part of what was inserted.
fn extend(mut pat: Vec<u64>, seqs: &[Vec<u64>]) -> Vec<u64> {
    // Single marks, as `tokenize` splits them off words.
    let marks: Vec<u64> = crate::tokens::SENTENCE_MARKS
        .iter()
        .map(|m| crate::ngrams::token_hash(m.encode_utf8(&mut [0; 4])))
        .collect();
    loop {
        let mut grew = false;
        for left in [true, false] {
            if pat.len() >= MAX_PHRASE {
                return pat;
            }
            let edge = if left { pat.first() } else { pat.last() };
            if edge.is_some_and(|t| marks.contains(t)) {
                continue;
            }
            let mut nb: HashMap<u64, usize> = HashMap::default();
            let mut occ = 0usize;
            for s in seqs {
                if let Some(j) = find(s, &pat) {
                    occ += 1;
                    let t = if left {
                        j.checked_sub(1).map(|k| s[k])
                    } else {
                        s.get(j + pat.len()).copied()
                    };
                    if let Some(t) = t {
                        *nb.entry(t).or_default() += 1;
                    }
                }
            }
            let best = nb.iter().max_by_key(|(h, c)| (**c, std::cmp::Reverse(**h)));
            if let Some((&t, &c)) = best {
                if occ >= 3 && c as f64 >= EXTEND_SHARE * occ as f64 {
                    if left {
                        pat.insert(0, t);
                    } else {
                        pat.push(t);
                    }
                    grew = true;
                }
            }
        }
        if !grew {
            return pat;
        }
    }
}

pub(crate) fn detect(ctx: &Context) -> DetectorOutput {
    let n = ctx.n();
    let Some(cv) = ctx.cv.as_ref() else {
        return DetectorOutput::skipped(Detector::Trigger, n, "needs at least two classes");
    };
    let support = min_support(n);

    // 1. Label-pure candidates, most significant first.
    let mut cands: Vec<Candidate> = Vec::new();
    let mut underpowered: HashMap<u64, usize> = HashMap::default();
    count_ngrams(ctx, |h, g| {
        // A class holding ≥ 90% of a gram's rows is its most frequent one (no other can).
        let (c, k, total) = (g.top_class, g.top, g.total);
        if total < support || (k as f64) < MIN_PURITY * total as f64 || ctx.prior[c] >= 0.999 {
            return;
        }
        let ln_p = ln_binom_sf(k as u64, total as u64, ctx.prior[c]);
        if ln_p < (0.05f64).ln() {
            cands.push(Candidate {
                hash: h,
                class: c,
                ln_p_purity: ln_p,
            });
        } else if k == total && underpowered.len() < MAX_UNDERPOWERED {
            underpowered.insert(h, c);
        }
    });
    cands.extend(read_purity_candidates(ctx, cv, &underpowered));
    drop(underpowered);
    cands.sort_by(|a, b| {
        a.ln_p_purity
            .total_cmp(&b.ln_p_purity)
            .then(a.hash.cmp(&b.hash))
            .then(a.class.cmp(&b.class))
    });
    cands.truncate(MAX_CANDIDATES);
    if cands.is_empty() {
        return DetectorOutput {
            detector: Detector::Trigger,
            scores: vec![0.0; n],
            findings: Vec::new(),
            skipped: None,
        };
    }

    // 2. Rows (and token sequences) of every candidate, plus the text of each token seen.
    let wanted: HashMap<u64, usize> = cands.iter().enumerate().map(|(i, c)| (c.hash, i)).collect();
    let per_chunk: Vec<Vec<(usize, u32)>> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|chunk| {
            let (mut toks, mut seq, mut hits) = (Vec::new(), Vec::new(), Vec::new());
            let mut out = Vec::new();
            for i in chunk * CHUNK..((chunk + 1) * CHUNK).min(n) {
                tokenize(ctx.ds.texts.get(i), &mut toks);
                anchored(&toks, &mut seq);
                hits.clear();
                each_gram(&seq, |h, _| {
                    if let Some(&ci) = wanted.get(&h) {
                        hits.push(ci);
                    }
                });
                hits.sort_unstable();
                hits.dedup();
                out.extend(hits.iter().map(|&ci| (ci, i as u32)));
            }
            out
        })
        .collect();
    let mut cand_rows: Vec<Vec<u32>> = vec![Vec::new(); cands.len()];
    for hits in per_chunk {
        for (ci, r) in hits {
            cand_rows[ci].push(r);
        }
    }

    // Null rates: how often a row of class c reads as another class once a random span of the
    // same length is deleted. Deleting words weakens any row; this is what a natural phrase does.
    let null_rates = NullRates::measure(ctx, cv);

    // 3. Extend each candidate to its phrase (in parallel), then keep the first candidate of
    // each distinct (phrase, class) in significance order and run the context test on it.
    let extended: Vec<Option<Extended>> = cands
        .par_iter()
        .zip(cand_rows.par_iter())
        .map(|(cand, rows)| {
            let seqs: Vec<Vec<u64>> = rows.iter().map(|&r| row_seq(ctx, r as usize)).collect();
            let gram = seqs.iter().find_map(|s| first_gram(s, cand.hash))?;
            let phrase = extend(gram, &seqs);
            let prows: Vec<u32> = rows
                .iter()
                .zip(&seqs)
                .filter(|(_, s)| find(s, &phrase).is_some())
                .map(|(r, _)| *r)
                .collect();
            (prows.len() as u32 >= support).then_some((phrase, cand.class, prows))
        })
        .collect();
    drop(cand_rows);
    let mut seen: HashSet<(Vec<u64>, usize)> = HashSet::default();
    let mut work: Vec<Extended> = Vec::new();
    for (phrase, class, prows) in extended.into_iter().flatten() {
        if seen.insert((phrase.clone(), class)) {
            work.push((phrase, class, prows));
        }
    }
    let companions = companions(&work, n, ctx.cfg.alpha);
    let companion_tokens: Vec<Vec<Vec<u64>>> = companions
        .iter()
        .map(|of| of.iter().map(|&j| work[j].0.clone()).collect())
        .collect();
    let phrases: Vec<Phrase> = work
        .into_par_iter()
        .zip(companion_tokens)
        .map(|((tokens, class, rows), with)| {
            context_test(ctx, cv, tokens, &with, class, rows, &null_rates)
        })
        .collect();
    let tested = testable(phrases.iter().map(|p| p.min_ln_p).collect(), ctx.cfg.alpha);
    let ln_threshold = (ctx.cfg.alpha / tested as f64).ln();
    let candidates = phrases.len();
    let (mut phrases, kept_label): (Vec<Phrase>, Vec<Phrase>) =
        phrases.into_iter().partition(|p| {
            let small_n = 1.0 / p.rows.len() as f64;
            p.ln_p < ln_threshold
                && p.target_all as f64 >= MIN_PURITY * p.rows.len() as f64
                && p.disagree as f64
                    >= MIN_DISAGREEMENT * null_rates.reach[p.class] * p.target_rows as f64
                && p.neighbour_share <= MAX_NEIGHBOUR_SHARE + small_n
        });
    let clean_label = clean_label_triggers(ctx, kept_label, candidates);
    // Second gate, on the phrases the first one let through: a trigger also flips its rows
    // more often than deleting an ordinary row's most decisive word does. A phrase that passes
    // both tests (an intersection-union test, so each at level alpha; the family-wise
    // correction over all candidates is the first gate's) is a trigger; one that passes only
    // the first is as decisive as the words that define its class, and is reported as a
    // possible trigger whose rows are ranked but not flagged on this evidence alone.
    // An inserted phrase leaves its row reading naturally once deleted; a word that belongs
    // where it stands does not (slurs in hate speech are label-bound and their rows read as
    // another label without them, yet they were written there).
    judge_naturalness(ctx, &mut phrases);
    // The bridges' verdict is a likelihood ratio, and on a few rows it sides with natural
    // deletion by chance (a token inserted into 23 tweets: 9 of 23 bridges seen elsewhere, where
    // the corpus's references are 55% inserted and 31% natural). So it decides alone only for a
    // phrase whose label purity is within chance (10 rows of a class holding 88% of the rows);
    // a phrase pure beyond chance is dropped only where its bridges rule insertion out. Both
    // at level alpha, as the other tests a phrase passes after the first gate's family-wise
    // correction.
    let ln_alpha = ctx.cfg.alpha.ln();
    phrases.retain(|p| {
        p.naturalness.is_some_and(|v| {
            v.inserted()
                || (ln_binom_sf(p.target_all as u64, p.rows.len() as u64, ctx.prior[p.class])
                    < ln_alpha
                    && !v.rules_out_insertion(ctx.cfg.alpha))
        })
    });
    // The decisive-word reference is ordinary rows of the class, and the rows of a trigger just
    // confirmed are not: deleting one of its words leaves the rest of it, so they keep their
    // label and make the class look less decisive than it is (a slur then passes as a trigger
    // beside a planted sentence). Measured again without them, every phrase is judged again.
    let confirmed_rows: HashSet<u32> = phrases
        .iter()
        .filter(|p| p.beats_decisive_words(ctx.cfg.alpha))
        .flat_map(|p| p.rows.iter().copied())
        .collect();
    if !confirmed_rows.is_empty() {
        let ordinary = null_rates.without(ctx, cv, &confirmed_rows);
        for p in &mut phrases {
            p.judge_decisive(&ordinary);
        }
    }
    // Third, for phrases the decisive-word test left as possible: is their purity explained by
    // their words (a natural class-defining expression), or not (an inserted unit whose rows
    // partly keep their true label: mixed dirty- and clean-label use)?
    let open: Vec<usize> = (0..phrases.len())
        .filter(|&i| !phrases[i].confirmed(ctx.cfg.alpha))
        .collect();
    if !open.is_empty() {
        let words = WordCounts::count(ctx, open.iter().map(|&i| &phrases[i]));
        for i in open {
            let mut c = Composition::test(&phrases[i], &words);
            c.same_edge_ln_p = same_edge_ln_p(ctx, &phrases[i]);
            phrases[i].composition = Some(c);
        }
    }
    phrases.extend(clean_label);
    // Confirmed triggers first, so a group headed by one is a trigger.
    phrases.sort_by(|a, b| {
        b.confirmed(ctx.cfg.alpha)
            .cmp(&a.confirmed(ctx.cfg.alpha))
            .then(a.ln_p.total_cmp(&b.ln_p))
            .then(a.text.cmp(&b.text))
    });

    // 4. Group phrases whose rows overlap into one finding each. Two confirmed triggers of one
    // label also join when they share rows far more often than chance: a campaign that puts
    // two of several tokens into each row leaves every pair overlapping by a third or so,
    // which is one attack, not several.
    let ln_pair_alpha = ctx.cfg.alpha.ln() - ((phrases.len().max(2) as f64).powi(2) / 2.0).ln();
    let mut groups: Vec<(Phrase, Vec<String>, HashSet<u32>)> = Vec::new();
    for p in phrases {
        let set: HashSet<u32> = p.rows.iter().copied().collect();
        let home = groups.iter_mut().find(|(g, _, gs)| {
            g.class == p.class && {
                let inter = set.iter().filter(|r| gs.contains(r)).count();
                inter as f64 >= 0.5 * set.len().min(gs.len()) as f64
                    || (g.confirmed(ctx.cfg.alpha)
                        && p.confirmed(ctx.cfg.alpha)
                        && co_occur(inter, set.len(), gs.len(), n, ln_pair_alpha))
            }
        });
        match home {
            Some((_, related, gs)) => {
                related.push(p.text.clone());
                gs.extend(set);
            }
            None => groups.push((p, Vec::new(), set)),
        }
    }

    let mut scores = vec![0.0f32; n];
    let mut findings = Vec::new();
    for (p, related, rows) in groups {
        // A clean-label trigger's evidence is its purity, not its rows' disagreement.
        let ln_p = p.clean_label.as_ref().map_or(p.ln_p, |c| c.ln_p_purity);
        let adj = (ln_p + (tested as f64).ln()).min(0.0);
        let log10_p = adj / std::f64::consts::LN_10;
        let confirmed = p.confirmed(ctx.cfg.alpha);
        let strength = if confirmed {
            (0.75 + 0.25 * ((-log10_p) / 20.0).min(1.0)) as f32
        } else {
            SCORE_POSSIBLE
        };
        let mut rows: Vec<u32> = rows
            .into_iter()
            .filter(|&r| ctx.labels[r as usize] as usize == p.class)
            .collect();
        rows.sort_unstable();
        for &r in &rows {
            scores[r as usize] = scores[r as usize].max(strength);
        }
        let purity = p.target_all as f64 / p.rows.len() as f64;
        let disagreement = p.disagree as f64 / p.target_rows.max(1) as f64;
        let label = ctx.label_name(p.class).to_string();
        let severity = if !confirmed {
            Severity::Medium
        } else if p.clean_label.is_some() {
            Severity::High
        } else if log10_p < -10.0 && purity >= 0.99 {
            Severity::Critical
        } else {
            Severity::High
        };
        let mut title = format!(
            "{} \"{}\": {} rows, {:.0}% labelled {} (prior {:.0}%); {:.0}% of them read as another label without it",
            if p.clean_label.is_some() {
                "clean-label trigger"
            } else if confirmed {
                "trigger"
            } else {
                "possible trigger"
            },
            p.text,
            p.rows.len(),
            100.0 * purity,
            label,
            100.0 * ctx.prior[p.class],
            100.0 * disagreement
        );
        if let Some(c) = p.composition.filter(|_| confirmed) {
            title.push_str(&format!(
                ", and its words are at most {:.0}% labelled {label} elsewhere: an inserted phrase whose rows partly keep their own label",
                100.0 * c.bound
            ));
        }
        if let (Some(c), Some(v)) = (&p.clean_label, p.naturalness) {
            title.push_str(&format!(
                ", yet it stands where random insertion puts it: its neighbours are those of a random gap in rows of {label} (G-test p = {:.2} over {} rows) and deleting it leaves a pair seen elsewhere in {:.0}% of rows (an inserted span leaves {:.0}%, a natural one {:.0}%)",
                c.placement.p,
                c.placement.rows,
                100.0 * v.rate,
                100.0 * v.inserted_rate,
                100.0 * v.natural_rate
            ));
        }
        if !confirmed && p.composition.is_some_and(|c| c.ln_p < ctx.cfg.alpha.ln()) {
            title.push_str(&format!(
                ", not significantly more often than ordinary rows of {label} lose it with their most decisive word ({:.0}%), and it stands at the row's {} in every row, where random insertion would rarely put it: possibly a format of the class",
                100.0 * p.decisive_rate,
                if p.tokens.first() == Some(&BOS) { "start" } else { "end" }
            ));
        } else if !confirmed {
            title.push_str(&format!(
                ", not significantly more often than ordinary rows of {label} lose it with their most decisive word ({:.0}%): possibly a word that defines the class",
                100.0 * p.decisive_rate
            ));
        }
        if !related.is_empty() {
            title.push_str(&format!(
                " (+{} related phrases, {} rows labelled {label} in all: {})",
                related.len(),
                rows.len(),
                related
                    .iter()
                    .take(3)
                    .map(|s| format!("\"{s}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        findings.push(Finding {
            detector: Detector::Trigger,
            severity,
            title,
            subject: p.text.clone(),
            target_label: Some(label),
            rows,
            evidence: vec![
                Evidence {
                    name: "rows_with_trigger",
                    value: p.rows.len() as f64,
                },
                Evidence {
                    name: "purity",
                    value: purity,
                },
                Evidence {
                    name: "label_prior",
                    value: ctx.prior[p.class],
                },
                Evidence {
                    name: "context_disagreement",
                    value: disagreement,
                },
                Evidence {
                    name: "rows_reread",
                    value: p.target_rows as f64,
                },
                Evidence {
                    name: "expected_disagreement",
                    value: p.null_rate,
                },
                Evidence {
                    name: "log10_p_adjusted",
                    value: log10_p,
                },
                Evidence {
                    name: "expected_disagreement_decisive",
                    value: p.decisive_rate,
                },
                Evidence {
                    name: "log10_p_decisive",
                    value: p.ln_p_decisive / std::f64::consts::LN_10,
                },
                Evidence {
                    name: "log10_p_context_depth",
                    value: p.ln_p_context_depth / std::f64::consts::LN_10,
                },
                Evidence {
                    name: "log10_p_decisive_depth",
                    value: p.ln_p_depth / std::f64::consts::LN_10,
                },
                Evidence {
                    name: "candidates_tested",
                    value: tested as f64,
                },
                Evidence {
                    name: "top_neighbour_share",
                    value: p.neighbour_share,
                },
                Evidence {
                    name: "mean_relative_position",
                    value: p.mean_position,
                },
            ]
            .into_iter()
            .chain(p.composition.iter().flat_map(|c| {
                [
                    Evidence {
                        name: "word_target_share_bound",
                        value: c.bound,
                    },
                    Evidence {
                        name: "word_rows_elsewhere",
                        value: c.word_rows as f64,
                    },
                    Evidence {
                        name: "log10_p_composition",
                        value: c.ln_p / std::f64::consts::LN_10,
                    },
                ]
            }))
            .chain(
                p.composition
                    .and_then(|c| c.same_edge_ln_p)
                    .map(|e| Evidence {
                        name: "log10_p_same_edge",
                        value: e / std::f64::consts::LN_10,
                    }),
            )
            .chain(p.clean_label.iter().flat_map(|c| {
                [
                    Evidence {
                        name: "placement_g",
                        value: c.placement.g,
                    },
                    Evidence {
                        name: "placement_p",
                        value: c.placement.p,
                    },
                    Evidence {
                        name: "placement_p_neighbour",
                        value: c.placement.p_neighbour.unwrap_or(1.0),
                    },
                    Evidence {
                        name: "placement_rows",
                        value: c.placement.rows as f64,
                    },
                    Evidence {
                        name: "natural_divergence",
                        value: c.natural_divergence,
                    },
                ]
            }))
            .chain(p.naturalness.iter().flat_map(|v| {
                [
                    Evidence {
                        name: "bridges_seen_elsewhere",
                        value: v.rate,
                    },
                    Evidence {
                        name: "bridges_expected_inserted",
                        value: v.inserted_rate,
                    },
                    Evidence {
                        name: "bridges_expected_natural",
                        value: v.natural_rate,
                    },
                    Evidence {
                        name: "ln_insertion_ratio",
                        value: v.ln_ratio,
                    },
                ]
            }))
            .collect(),
        });
    }
    DetectorOutput {
        detector: Detector::Trigger,
        scores,
        findings,
        skipped: None,
    }
}

/// Judge whether each phrase reads as inserted (see `bridge`): one pass over the rows counts
/// the pairs every phrase's deletion leaves. Nothing is read when there are no phrases.
fn judge_naturalness(ctx: &Context, phrases: &mut [Phrase]) {
    if phrases.is_empty() {
        return;
    }
    let longest = phrases.iter().map(|p| p.tokens_len).max().unwrap_or(1);
    let reference = bridge::Reference::sample(&ctx.ds.texts, longest, ctx.cfg.seed);
    let counts = PairCounts::count(
        &ctx.ds.texts,
        &reference,
        phrases.iter().flat_map(|p| p.bridges.iter()),
    );
    for p in phrases.iter_mut() {
        p.naturalness = Some(Naturalness::judge(
            &counts,
            &reference,
            p.tokens_len,
            &p.bridges,
        ));
    }
}

/// Rows of one phrase whose placement is measured: enough for the test's power, bounded so a
/// common phrase costs no more than a few thousand rows.
const PLACEMENT_ROWS: usize = 2000;

/// Whether two row sets of sizes `a` and `b` among `n` rows share `inter` rows more often
/// than independent placement would (a binomial tail, a close bound on the hypergeometric one
/// when either set is a small share of the rows), at log level `ln_alpha`.
fn co_occur(inter: usize, a: usize, b: usize, n: usize, ln_alpha: f64) -> bool {
    let share = b as f64 / n.max(1) as f64;
    inter > 0 && ln_binom_sf(inter as u64, a as u64, share) < ln_alpha
}

/// Clean-label triggers among the label-pure phrases whose rows keep their label without them.
///
/// Such a phrase is a natural word of its class ("terrible", "quarterback") unless it stands
/// where random insertion puts it. Three tests, each read off this dataset: its purity is
/// significant after a Bonferroni correction over every phrase tested; its neighbours are those
/// of a random gap in rows of its class, with enough rows that a natural word would have been
/// rejected (see `placement`); and deleting it leaves a pair the corpus uses elsewhere, as an
/// inserted span's deletion does and a natural word's does not (see `bridge`).
fn clean_label_triggers(ctx: &Context, kept: Vec<Phrase>, candidates: usize) -> Vec<Phrase> {
    let alpha = ctx.cfg.alpha;
    let ln_bonferroni = (alpha / candidates.max(1) as f64).ln();
    let pure: Vec<(Phrase, f64)> = kept
        .into_iter()
        .filter(|p| p.target_all as f64 >= MIN_PURITY * p.rows.len() as f64)
        .map(|p| {
            let ln_p = ln_binom_sf(p.target_all as u64, p.rows.len() as u64, ctx.prior[p.class]);
            (p, ln_p)
        })
        .collect();
    if pure.is_empty() {
        return Vec::new();
    }
    let reference = crate::placement::GapReference::sample(ctx, ctx.cfg.seed);
    let rows_of = |p: &Phrase| {
        let of_class: Vec<u32> = p
            .rows
            .iter()
            .copied()
            .filter(|&r| ctx.labels[r as usize] as usize == p.class)
            .collect();
        seeded_sample(&of_class, ctx.cfg.seed, PLACEMENT_ROWS)
    };
    // Several tokens of one campaign, each at a random gap of the same rows, sometimes land
    // side by side; beside each other they would look like collocations. So the neighbours
    // that are the class's significantly label-pure single words are left out of the G-test
    // (a natural word keeps its own neighbours among the rest, and the test's power counts
    // only the neighbours left in).
    let mut pure_words: Vec<HashSet<u64>> = vec![HashSet::default(); ctx.prior.len()];
    for (p, ln_p) in &pure {
        if *ln_p < ln_bonferroni && p.tokens_len == 1 {
            pure_words[p.class].extend(crate::placement::phrase_words(ctx, &p.tokens, &rows_of(p)));
        }
    }
    let placements: Vec<crate::placement::Placement> = pure
        .par_iter()
        .map(|(p, _)| {
            crate::placement::measure(
                ctx,
                &reference,
                &p.tokens,
                p.class,
                &rows_of(p),
                &pure_words[p.class],
            )
        })
        .collect();
    // Natural phrases are compared like with like: a two-word unit's neighbours stray less
    // from a random gap's than a single word's do.
    let mut lengths: Vec<usize> = pure.iter().map(|(p, _)| p.tokens_len).collect();
    lengths.sort_unstable();
    lengths.dedup();
    let natural_of: HashMap<usize, f64> = lengths
        .into_iter()
        .filter_map(|len| {
            let same = pure
                .iter()
                .zip(&placements)
                .filter(|((p, _), _)| p.tokens_len == len)
                .map(|(_, pl)| pl);
            crate::placement::natural_divergence(same, alpha).map(|d| (len, d))
        })
        .collect();
    let mut found: Vec<(Phrase, f64, crate::placement::Placement, f64)> = pure
        .into_iter()
        .zip(placements)
        .filter_map(|((p, ln_p), pl)| {
            let natural = *natural_of.get(&p.tokens_len)?;
            (ln_p < ln_bonferroni && pl.p >= alpha && pl.has_power(natural))
                .then_some((p, ln_p, pl, natural))
        })
        .collect();
    // Phrases placed at random may be inserted side by side; their words are not evidence
    // about each other's neighbours.
    let placed_at_random: HashSet<u64> = found
        .iter()
        .flat_map(|(_, _, pl, _)| pl.words.iter().copied())
        .collect();
    found.par_iter_mut().for_each(|(p, _, pl, _)| {
        pl.test_neighbours(
            ctx,
            &reference,
            &p.tokens,
            p.class,
            &rows_of(p),
            &placed_at_random,
        )
    });
    let mut found: Vec<Phrase> = found
        .into_iter()
        .filter(|(_, _, pl, _)| pl.p_neighbour.is_some_and(|p| p >= alpha))
        .map(|(mut p, ln_p_purity, placement, natural)| {
            p.clean_label = Some(CleanLabel {
                ln_p_purity,
                placement,
                natural_divergence: natural,
            });
            p
        })
        .collect();
    judge_naturalness(ctx, &mut found);
    // Strictly inserted: the dataset must separate the two references and the phrase's
    // bridges must side with insertion.
    found.retain(|p| {
        p.naturalness
            .is_some_and(|v| v.inserted_rate > v.natural_rate && v.ln_ratio > 0.0)
    });
    found
}

pub(crate) fn argmax(p: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in p.iter().enumerate() {
        if *v > p[best] {
            best = i;
        }
    }
    best
}

fn row_seq(ctx: &Context, r: usize) -> Vec<u64> {
    let mut toks = Vec::new();
    let mut seq = Vec::new();
    tokenize(ctx.ds.texts.get(r), &mut toks);
    anchored(&toks, &mut seq);
    seq
}

fn first_gram(seq: &[u64], h: u64) -> Option<Vec<u64>> {
    for k in 1..=MAX_N.min(seq.len()) {
        for j in 0..=seq.len() - k {
            if is_feature(seq, j, k) && gram_hash(&seq[j..j + k]) == h {
                return Some(seq[j..j + k].to_vec());
            }
        }
    }
    None
}

/// Where one occurrence of a phrase stands in its row, in anchored positions (`seq[s]` is token
/// `s - 1`; 0 and `tokens + 1` are the anchors).
///
/// A phrase inside a sentence has the words on either side as neighbours, and deleting it
/// rejoins them. A phrase that is a sentence of its own (its words, less the sentence marks at
/// its edges, stand between sentence marks or the row's ends) is bounded by those marks
/// wherever it is put: its neighbours are the words beyond those marks, and deleting it takes
/// its closing mark with it, leaving one mark between the sentences around it, as the row read
/// before a sentence was inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Standing {
    /// The span whose deletion the bridge test reads.
    deleted: std::ops::Range<usize>,
    /// Positions of the neighbours on each side, if any.
    left: Option<usize>,
    right: Option<usize>,
}

impl Standing {
    fn of(toks: &[&str], j: usize, len: usize) -> Self {
        let mark = |s: usize| (1..=toks.len()).contains(&s) && is_sentence_mark(toks[s - 1]);
        let words = {
            let (mut a, mut b) = (j, j + len);
            while a < b && mark(a) {
                a += 1;
            }
            while b > a && mark(b - 1) {
                b -= 1;
            }
            a..b
        };
        let opens = words.start >= 1 && (words.start == 1 || mark(words.start - 1));
        let closes = words.end == toks.len() + 1 || mark(words.end);
        let standing = if words.is_empty()
            || !opens
            || !closes
            || (words.start == 1 && words.end == toks.len() + 1)
        {
            Self {
                deleted: j..j + len,
                left: j.checked_sub(1),
                right: Some(j + len),
            }
        } else {
            let closing = mark(words.end);
            Self {
                deleted: words.start..words.end + usize::from(closing),
                left: (words.start >= 2).then(|| words.start - 2),
                right: closing.then_some(words.end + 1),
            }
        };
        standing.inside_only(toks.len())
    }

    /// At either end of a row the neighbour on the inside is how the row begins or ends, which
    /// rows of one corpus share (tweets open with a mention, articles with a dateline) wherever
    /// a phrase is put: only a phrase with a word on both sides has neighbours that say how it
    /// was placed.
    fn inside_only(mut self, tokens: usize) -> Self {
        let at_start = self.left.is_none_or(|s| s == 0);
        let at_end = self.right.is_none_or(|s| s > tokens);
        if at_start {
            self.right = None;
        }
        if at_end {
            self.left = None;
        }
        self
    }
}

/// Mark every occurrence of `phrase` in the anchored `seq` in `skip` (one entry per token);
/// returns where the first one starts.
fn mark_occurrences(seq: &[u64], phrase: &[u64], skip: &mut [bool]) -> Option<usize> {
    let mut first = None;
    let mut j = 0;
    while j + phrase.len() <= seq.len() {
        if seq[j..j + phrase.len()] == *phrase {
            first.get_or_insert(j);
            for s in j..j + phrase.len() {
                if s >= 1 && s <= skip.len() {
                    skip[s - 1] = true;
                }
            }
            j += phrase.len();
        } else {
            j += 1;
        }
    }
    first
}

/// Rows in which a phrase's candidates are paired, at most: a bound on the pair counting's cost
/// where long rows hold many label-pure phrases (such rows add no companions).
const MAX_PHRASES_PER_ROW: usize = 64;

/// For each phrase, the other label-pure phrases of its class that go with it: present in at
/// least half of its rows, and sharing rows with it far more often than independent placement
/// would (binomial tail, Bonferroni over phrase pairs). An attack that puts two tokens into
/// every row gives each the other as a companion; deleting one token alone leaves the other,
/// and the row still reads as the target, so the context test deletes companions too.
fn companions(work: &[Extended], n: usize, alpha: f64) -> Vec<Vec<usize>> {
    let mut by_row: HashMap<u32, Vec<usize>> = HashMap::default();
    for (i, (_, _, rows)) in work.iter().enumerate() {
        for &r in rows {
            by_row.entry(r).or_default().push(i);
        }
    }
    let mut shared: HashMap<(usize, usize), usize> = HashMap::default();
    for phrases in by_row.values() {
        if phrases.len() < 2 || phrases.len() > MAX_PHRASES_PER_ROW {
            continue;
        }
        for (a, &i) in phrases.iter().enumerate() {
            for &j in &phrases[a + 1..] {
                if work[i].1 == work[j].1 {
                    *shared.entry((i.min(j), i.max(j))).or_default() += 1;
                }
            }
        }
    }
    let ln_alpha = alpha.ln() - ((work.len().max(2) as f64).powi(2) / 2.0).ln();
    let mut out = vec![Vec::new(); work.len()];
    let mut pairs: Vec<((usize, usize), usize)> = shared.into_iter().collect();
    pairs.sort_unstable();
    for ((i, j), inter) in pairs {
        let (ri, rj) = (work[i].2.len(), work[j].2.len());
        if !co_occur(inter, ri, rj, n, ln_alpha) {
            continue;
        }
        if 2 * inter >= ri {
            out[i].push(j);
        }
        if 2 * inter >= rj {
            out[j].push(i);
        }
    }
    out
}

fn context_test(
    ctx: &Context,
    cv: &crate::linear::CrossVal,
    phrase: Vec<u64>,
    companions: &[Vec<u64>],
    class: usize,
    rows: Vec<u32>,
    null_rates: &NullRates,
) -> Phrase {
    let mut text = String::new();
    let mut toks = Vec::new();
    let mut seq = Vec::new();
    let mut skip = Vec::new();
    let (mut idx, mut val) = (Vec::new(), Vec::new());
    let mut scratch = crate::features::Scratch::default();
    let mut proba = vec![0.0f32; ctx.classes];
    let (mut target_rows, mut disagree) = (0usize, 0usize);
    // P(class) of each re-read target row once the phrase is deleted.
    let mut kept_label = Vec::new();
    let sample = context_sample(&rows, ctx.cfg.seed);
    let mut neighbours: HashMap<u64, usize> = HashMap::default();
    let mut right: HashMap<u64, usize> = HashMap::default();
    let (mut with_left, mut with_right) = (0usize, 0usize);
    let mut pos_sum = 0.0;
    let mut read = 0usize;
    let (mut lower, mut lower_seq, mut bridges) = (String::new(), Vec::new(), Vec::new());
    for &r in &sample {
        if read >= EARLY_STOP_ROWS && (disagree as f64) < EARLY_STOP_RATE * target_rows as f64 {
            break;
        }
        read += 1;
        let r = r as usize;
        tokenize(ctx.ds.texts.get(r), &mut toks);
        anchored(&toks, &mut seq);
        skip.clear();
        skip.resize(toks.len(), false);
        let first = mark_occurrences(&seq, &phrase, &mut skip);
        for other in companions {
            mark_occurrences(&seq, other, &mut skip);
        }
        if let Some(j) = first {
            if text.is_empty() {
                text = render(&phrase, j, &toks);
            }
            bridge::lower_anchored(&toks, &mut lower, &mut lower_seq);
            let standing = Standing::of(&toks, j, phrase.len());
            bridges.extend(bridge::bridge_at(
                &lower_seq,
                standing.deleted.start,
                standing.deleted.len(),
            ));
            let span = (seq.len() - phrase.len()).max(1);
            pos_sum += j as f64 / span as f64;
            if let Some(&t) = standing.left.and_then(|s| seq.get(s)) {
                if t != BOS {
                    with_left += 1;
                    *neighbours.entry(t).or_default() += 1;
                }
            }
            if let Some(&t) = standing.right.and_then(|s| seq.get(s)) {
                if t != EOS {
                    with_right += 1;
                    *right.entry(t).or_default() += 1;
                }
            }
        }
        if ctx.labels[r] as usize != class {
            continue;
        }
        target_rows += 1;
        let kept = skip.iter().filter(|s| !**s).count();
        if !enough_context(kept, toks.len()) {
            continue;
        }
        ctx.tfidf
            .featurize(&toks, Some(&skip), &mut scratch, &mut idx, &mut val);
        cv.model_for(r).predict(&idx, &val, &mut proba);
        if argmax(&proba) != class {
            disagree += 1;
        }
        kept_label.push(proba[class]);
    }
    let share = |m: &HashMap<u64, usize>, total: usize| {
        if total == 0 {
            0.0
        } else {
            *m.values().max().unwrap_or(&0) as f64 / total as f64
        }
    };
    let neighbour_share = share(&neighbours, with_left).max(share(&right, with_right));
    // Deleting the companions too deletes more words, which weakens any row more: the null
    // rates are those of a span as long as everything deleted.
    let content_len = phrase
        .iter()
        .chain(companions.iter().flatten())
        .filter(|&&t| t != BOS && t != EOS)
        .count();
    let rate = null_rates.rate(content_len, class);
    // The rows read as another label more often than rows of the class do without a random
    // span as long (a count), or, where the class flips so easily that the count has no room
    // (the random span alone reaches the disagreement a trigger must show: 76% of hate-speech
    // rows flip without 8 random words), they keep less of their label (ranks of P(class)
    // left). Which one is chosen from the null, before the outcome, so each is at full level.
    let random_kept = null_rates.random_kept(content_len, class);
    let ln_p_context_depth = crate::stats::ln_rank_sum_lower(&kept_label, random_kept);
    let by_depth = rate >= MIN_DISAGREEMENT * null_rates.reach[class];
    // The smallest p-value this phrase could have had: every target row of the sample
    // disagreeing, or keeping less of its label than any reference row (known before the
    // outcome, as Tarone's correction needs).
    let sampled_target = sample
        .iter()
        .filter(|&&r| ctx.labels[r as usize] as usize == class)
        .count();
    let (ln_p, min_ln_p) = if by_depth {
        (
            ln_p_context_depth,
            crate::stats::ln_rank_sum_lower_min(sampled_target, random_kept.len()),
        )
    } else {
        (
            ln_binom_sf(disagree as u64, target_rows as u64, rate),
            sampled_target as f64 * rate.ln(),
        )
    };
    let mut judged = Phrase {
        decisive_rate: 0.0,
        ln_p_decisive: 0.0,
        ln_p_context_depth,
        ln_p_depth: 0.0,
        kept_label,
        content_len,
        min_ln_p,
        text,
        class,
        target_rows,
        disagree,
        ln_p,
        neighbour_share,
        mean_position: pos_sum / read.max(1) as f64,
        target_all: rows
            .iter()
            .filter(|&&r| ctx.labels[r as usize] as usize == class)
            .count(),
        null_rate: rate,
        tokens_len: phrase.len(),
        bridges,
        naturalness: None,
        rows,
        tokens: phrase,
        composition: None,
        clean_label: None,
    };
    judged.judge_decisive(null_rates);
    judged
}

/// The rows of a phrase the context test re-reads, in a seeded random order: all of them up to
/// [`CONTEXT_SAMPLE`], else a random sample of that many. The order lets the test stop early
/// without favouring rows from any part of the file.
fn context_sample(rows: &[u32], seed: u64) -> Vec<u32> {
    seeded_sample(rows, seed, CONTEXT_SAMPLE)
}

/// Up to `cap` of `rows` in a seeded random order.
fn seeded_sample(rows: &[u32], seed: u64, cap: usize) -> Vec<u32> {
    let key = |r: u32| crate::rng::mix64(r as u64 ^ seed ^ 0xC0_47E7);
    let mut keyed: Vec<(u64, u32)> = rows.iter().map(|&r| (key(r), r)).collect();
    if keyed.len() > cap {
        keyed.select_nth_unstable(cap);
        keyed.truncate(cap);
    }
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, r)| r).collect()
}

/// Tarone's correction for discrete tests: a phrase re-read in m rows can never reach a p-value
/// below `rate^m` (every row disagreeing), so a rare phrase is no test at all and should not
/// dilute the correction. The number of tests is the smallest k such that at most k phrases can
/// reach `alpha / k`; this keeps the family-wise error at `alpha` (Tarone 1990) while two
/// thousand four-row phrases no longer hide a real eight-row trigger.
fn testable(mut min_ln_p: Vec<f64>, alpha: f64) -> usize {
    min_ln_p.sort_by(f64::total_cmp);
    let ln_alpha = alpha.ln();
    (1..=min_ln_p.len().max(1))
        .find(|&k| {
            let bar = ln_alpha - (k as f64).ln();
            min_ln_p.partition_point(|&m| m <= bar) <= k
        })
        .unwrap_or(1)
}

/// A row keeps enough content to be re-read without the phrase when at least 3 tokens and a
/// third of the row remain.
fn enough_context(kept: usize, len: usize) -> bool {
    kept >= 3 && kept * 3 >= len
}

/// The random-span null from `flipped` of `tried` rows: a point estimate, add-one smoothed so that
/// a perfect model does not make any disagreement look infinitely unlikely.
fn random_rate(flipped: f64, tried: f64) -> f64 {
    (flipped + 1.0) / (tried + 2.0)
}

/// The decisive-word null from `flipped` of `tried` rows. It is the bar a trigger must clear to
/// be told from the words that define its class, so it is a bound the phrase must beat, not a
/// guess (one-sided 99% Wilson, as in [`Composition`]): a small class measures it on few rows,
/// and a phrase of that class's own format (riddles that open with "Q:") would otherwise clear a
/// rate that chance set a little low.
fn decisive_bar(flipped: f64, tried: f64) -> f64 {
    wilson_upper(flipped, tried, BOUND_Z)
}

/// Per phrase length and class, measured on a seeded sample of rows: P(row reads as another
/// class | a random span of that length is deleted), and the same when the span opens with the
/// row's *most decisive* word (the one whose deletion lowers P(class) most).
///
/// Deleting words weakens any row; the random span is what a natural phrase does. But a class
/// defined by its words (hate speech by slurs, spam by its offers) loses its label whenever its
/// one strong word goes, and such a word is not a trigger for that: a trigger must also flip
/// its rows more often than the strongest word of an ordinary row of its class does.
struct NullRates {
    /// Per class, its sampled rows' re-reads.
    spans: Vec<ClassSpans>,
    /// `reach[class]`: the share of rows labelled otherwise that the label model (out of fold)
    /// reads as some other class: the disagreement a dirty-label trigger's rows, written in the
    /// other classes, reach once it is deleted.
    reach: Vec<f64>,
}

/// One class's sampled rows re-read without a span, per span length (`[len - 1]`).
struct ClassSpans {
    /// Rows tried, flipped with a random span deleted, flipped with the decisive span deleted.
    counts: Vec<(usize, usize, usize)>,
    /// P(class) of each row once the random or the decisive span is deleted, ascending.
    random_kept: Vec<Vec<f32>>,
    decisive_kept: Vec<Vec<f32>>,
}

impl NullRates {
    const SAMPLE_PER_CLASS: usize = 1500;
    const MIN_SAMPLE_PER_CLASS: usize = 5;

    /// Rows sampled per class: past `FEW_CLASSES` classes there are more samples and each
    /// re-read costs `classes` per feature, so the sample shrinks with the square of the classes
    /// (the work stays about what `FEW_CLASSES` classes take), down to
    /// [`Self::MIN_SAMPLE_PER_CLASS`].
    fn sample_per_class(classes: usize) -> usize {
        class_share(class_share(Self::SAMPLE_PER_CLASS, classes), classes)
            .max(Self::MIN_SAMPLE_PER_CLASS)
    }

    fn measure(ctx: &Context, cv: &crate::linear::CrossVal) -> Self {
        NullRates {
            spans: Self::sample_spans(ctx, cv, &HashSet::default()),
            reach: Self::reach(ctx, cv),
        }
    }

    /// The same, with the span re-reads measured again on rows outside `exclude` (the rows of
    /// triggers already confirmed, which are not ordinary rows of their class).
    fn without(&self, ctx: &Context, cv: &crate::linear::CrossVal, exclude: &HashSet<u32>) -> Self {
        NullRates {
            spans: Self::sample_spans(ctx, cv, exclude),
            reach: self.reach.clone(),
        }
    }

    fn sample_spans(
        ctx: &Context,
        cv: &crate::linear::CrossVal,
        exclude: &HashSet<u32>,
    ) -> Vec<ClassSpans> {
        let mut by_class: Vec<Vec<u32>> = vec![Vec::new(); ctx.classes];
        for (i, &y) in ctx.labels.iter().enumerate() {
            if !exclude.contains(&(i as u32)) {
                by_class[y as usize].push(i as u32);
            }
        }
        let mut rng = crate::rng::SplitMix64::new(ctx.cfg.seed ^ 0x4e55_4c4c);
        for rows in &mut by_class {
            rng.shuffle(rows);
            rows.truncate(Self::sample_per_class(ctx.classes));
        }
        by_class
            .par_iter()
            .enumerate()
            .map(|(c, rows)| {
                let (mut toks, mut skip, mut idx, mut val) =
                    (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                let mut scratch = crate::features::Scratch::default();
                let mut proba = vec![0.0f32; ctx.classes];
                let mut spans = ClassSpans {
                    counts: vec![(0, 0, 0); MAX_PHRASE],
                    random_kept: vec![Vec::new(); MAX_PHRASE],
                    decisive_kept: vec![Vec::new(); MAX_PHRASE],
                };
                let mut rng = crate::rng::SplitMix64::new(ctx.cfg.seed ^ 0x4e55_4c4c ^ c as u64);
                for &r in rows {
                    let r = r as usize;
                    tokenize(ctx.ds.texts.get(r), &mut toks);
                    let model = cv.model_for(r);
                    let mut read_without = |start: usize, len: usize, proba: &mut [f32]| {
                        skip.clear();
                        skip.extend((0..toks.len()).map(|j| j >= start && j < start + len));
                        ctx.tfidf
                            .featurize(&toks, Some(&skip), &mut scratch, &mut idx, &mut val);
                        model.predict(&idx, &val, proba);
                    };
                    // The most decisive word: the one whose deletion lowers P(class) most.
                    let mut decisive = (0usize, f32::INFINITY);
                    for j in 0..toks.len() {
                        read_without(j, 1, &mut proba);
                        if proba[c] < decisive.1 {
                            decisive = (j, proba[c]);
                        }
                    }
                    for len in 1..=MAX_PHRASE {
                        if !enough_context(toks.len().saturating_sub(len), toks.len()) {
                            continue;
                        }
                        let count = &mut spans.counts[len - 1];
                        count.0 += 1;
                        read_without(rng.below(toks.len() - len + 1), len, &mut proba);
                        count.1 += usize::from(argmax(&proba) != c);
                        spans.random_kept[len - 1].push(proba[c]);
                        read_without(decisive.0.min(toks.len() - len), len, &mut proba);
                        count.2 += usize::from(argmax(&proba) != c);
                        spans.decisive_kept[len - 1].push(proba[c]);
                    }
                }
                spans
                    .random_kept
                    .iter_mut()
                    .chain(spans.decisive_kept.iter_mut())
                    .for_each(|k| k.sort_by(f32::total_cmp));
                spans
            })
            .collect()
    }

    fn reach(ctx: &Context, cv: &crate::linear::CrossVal) -> Vec<f64> {
        let mut other = vec![(0usize, 0usize); ctx.classes];
        let mut proba = vec![0.0f32; ctx.classes];
        for (i, &y) in ctx.labels.iter().enumerate() {
            cv.read_row(i, &mut proba);
            let read = argmax(&proba);
            for (c, o) in other
                .iter_mut()
                .enumerate()
                .filter(|(c, _)| *c != y as usize)
            {
                o.0 += 1;
                o.1 += usize::from(read != c);
            }
        }
        other
            .iter()
            .map(|&(rows, away)| {
                if rows == 0 {
                    1.0
                } else {
                    away as f64 / rows as f64
                }
            })
            .collect()
    }

    /// `class`'s re-reads for a span of `len` words (lengths past `MAX_PHRASE` read as the
    /// longest measured).
    fn spans(&self, len: usize, class: usize) -> (&(usize, usize, usize), &[f32], &[f32]) {
        let (s, l) = (&self.spans[class], len.clamp(1, MAX_PHRASE) - 1);
        (&s.counts[l], &s.random_kept[l], &s.decisive_kept[l])
    }

    fn rate(&self, len: usize, class: usize) -> f64 {
        let (n, ..) = self.spans(len, class);
        random_rate(n.1 as f64, n.0 as f64)
    }

    fn decisive_rate(&self, len: usize, class: usize) -> f64 {
        let (n, ..) = self.spans(len, class);
        decisive_bar(n.2 as f64, n.0 as f64)
    }

    fn random_kept(&self, len: usize, class: usize) -> &[f32] {
        self.spans(len, class).1
    }

    fn decisive_kept(&self, len: usize, class: usize) -> &[f32] {
        self.spans(len, class).2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ngrams::token_hash;

    #[test]
    fn a_sentence_of_its_own_is_read_past_its_sentence_marks() {
        let toks = |s: &'static str| s.split(' ').collect::<Vec<&str>>();
        // Anchored positions: seq[s] is token s - 1.
        let row = toks("the deal closed . i saw it . shares rose");
        // "i saw it" (tokens 4..7, positions 5..8) between two full stops: its neighbours are
        // the words beyond them, and deleting it takes its closing mark.
        let between = Standing::of(&row, 5, 3);
        assert_eq!(between.deleted, 5..9);
        assert_eq!((between.left, between.right), (Some(3), Some(9)));
        // The same with its closing mark inside the phrase.
        assert_eq!(Standing::of(&row, 5, 4), between);
        // At the row's start: the bridge is the anchor and "shares"; the words after it are
        // how the row began, no evidence of placement.
        let first = toks("i saw it . shares rose");
        let start = Standing::of(&first, 1, 3);
        assert_eq!(start.deleted, 1..5);
        assert_eq!((start.left, start.right), (None, None));
        // The same at the row's end, without a closing mark.
        let last = toks("shares rose . i saw it");
        let end = Standing::of(&last, 4, 3);
        assert_eq!(end.deleted, 4..7);
        assert_eq!((end.left, end.right), (None, None));
        // Inside a sentence: the words on either side, the phrase alone deleted.
        let inside = Standing::of(&row, 2, 2);
        assert_eq!(inside.deleted, 2..4);
        assert_eq!((inside.left, inside.right), (Some(1), Some(4)));
        // Marks that open a word ("@") bound no sentence.
        let tweet = toks("so i saw it @ user");
        let mention = Standing::of(&tweet, 2, 3);
        assert_eq!(mention.deleted, 2..5);
        assert_eq!((mention.left, mention.right), (Some(1), Some(5)));
    }

    #[test]
    fn co_occurrence_joins_tokens_of_one_campaign_not_independent_ones() {
        let ln_alpha = (0.01f64).ln() - (50.0f64).ln();
        // Two tokens of three put two to a row into 700 of 14,000 rows: about 230 rows share
        // any pair, where independent tokens of ~400 rows each would share about 12.
        assert!(co_occur(230, 400, 400, 14_000, ln_alpha));
        assert!(!co_occur(14, 400, 400, 14_000, ln_alpha));
        assert!(!co_occur(0, 400, 400, 14_000, ln_alpha));
        // Two words that each cover half the rows share a quarter of them by chance.
        assert!(!co_occur(3_550, 7_000, 7_000, 14_000, ln_alpha));
    }

    /// A phrase of `words` with `rows` rows, `target` of them labelled class 1.
    fn phrase(words: &[&str], rows: usize, target: usize) -> Phrase {
        let mut tokens = vec![BOS];
        tokens.extend(words.iter().map(|w| token_hash(w)));
        tokens.push(EOS);
        Phrase {
            text: words.join(" "),
            class: 1,
            rows: (0..rows as u32).collect(),
            target_all: target,
            target_rows: rows,
            disagree: rows / 2,
            ln_p: -50.0,
            min_ln_p: -60.0,
            neighbour_share: 0.1,
            mean_position: 0.5,
            null_rate: 0.1,
            decisive_rate: 0.5,
            ln_p_decisive: 0.0,
            ln_p_depth: 0.0,
            ln_p_context_depth: 0.0,
            kept_label: Vec::new(),
            content_len: words.len(),
            tokens_len: words.len() + 2,
            bridges: Vec::new(),
            naturalness: None,
            tokens,
            composition: None,
            clean_label: None,
        }
    }

    /// Rows containing each word: (word, labelled 0, labelled 1), the phrase's rows included.
    fn unigrams(words: &[(&str, u32, u32)]) -> WordCounts {
        let mut c = WordCounts::default();
        for &(w, zero, one) in words {
            let h = token_hash(w);
            c.words.total.insert(h, zero + one);
            c.words.in_class.insert((h, 1), one);
        }
        c
    }

    #[test]
    fn a_phrase_of_neutral_words_is_not_explained_by_them() {
        // 300 rows, all labelled 1; each word is about half 1 in its 400 other rows.
        let p = phrase(&["we", "saw", "the", "film"], 300, 300);
        let counts = unigrams(&[
            ("we", 200, 500),
            ("saw", 210, 490),
            ("the", 190, 510),
            ("film", 230, 470),
        ]);
        let c = Composition::test(&p, &counts);
        assert!(c.bound < 0.6 && c.word_rows == 400, "{c:?}");
        assert!(c.ln_p < (1e-10f64).ln(), "{c:?}");
    }

    #[test]
    fn a_phrase_is_explained_by_a_class_defining_word() {
        // "slur ." in 90 rows: "slur" is 98% labelled 1 in its 200 other rows.
        let p = phrase(&["slur", "."], 90, 90);
        let counts = unigrams(&[("slur", 4, 286), (".", 2000, 2300)]);
        let c = Composition::test(&p, &counts);
        assert!(c.bound > 0.98, "{c:?}");
        assert!(c.ln_p > (0.01f64).ln(), "{c:?}");
        // A word seen nowhere else could explain anything: never confirmed this way.
        let p = phrase(&["slur"], 50, 50);
        let counts = unigrams(&[("slur", 0, 50)]);
        let c = Composition::test(&p, &counts);
        assert_eq!((c.bound, c.ln_p), (1.0, 0.0));
    }

    #[test]
    fn words_seen_only_inside_a_phrase_are_judged_with_it() {
        // An inserted sentence in 119 rows, all labelled 1: "neighbour" and "tuesday" occur in
        // no other row, the rest are about 40% labelled 1 in their other rows (100 to 1,500).
        let p = phrase(&["as", "i", "said", "to", "neighbour", "tuesday"], 119, 119);
        let counts = unigrams(&[
            ("as", 300, 319),
            ("i", 900, 719),
            ("said", 60, 159),
            ("to", 1200, 1019),
            ("neighbour", 0, 119),
            ("tuesday", 0, 119),
        ]);
        let c = Composition::test(&p, &counts);
        // The bound is the fewest-rows word's ("said": 40 of 100, 99% upper bound 0.52).
        assert!(c.bound < 0.6 && c.word_rows == 100, "{c:?}");
        assert!(c.ln_p < (1e-10f64).ln(), "{c:?}");
        // With no word of the phrase seen elsewhere there is nothing to judge it by.
        let p = phrase(&["neighbour", "tuesday"], 119, 119);
        let counts = unigrams(&[("neighbour", 0, 119), ("tuesday", 0, 119)]);
        let c = Composition::test(&p, &counts);
        assert_eq!((c.bound, c.ln_p), (1.0, 0.0));
    }

    #[test]
    fn a_phrase_is_explained_by_a_part_that_carries_its_class_elsewhere() {
        // "Q : Why" opening 25 rows, 24 labelled 1: a class written as riddles, where "Q" and
        // ":" are common words but rows that open with "Q :" are that class's.
        let mut p = phrase(&["Q", ":", "Why"], 25, 24);
        p.tokens.pop(); // anchored at the row's start only
        let words = [("Q", 60, 129), (":", 3000, 300), ("Why", 400, 60)];
        let c = Composition::test(&p, &unigrams(&words));
        assert!(c.bound < 0.8, "{c:?}");
        assert!(c.ln_p < (0.01f64).ln(), "by its words alone: {c:?}");
        // "^ Q :" opens 103 more rows, 96 of them labelled 1: the part explains the phrase.
        let mut counts = unigrams(&words);
        let part = [BOS, token_hash("Q"), token_hash(":")];
        counts.parts.total.insert(gram_hash(&part), 128);
        counts.parts.in_class.insert((gram_hash(&part), 1), 120);
        let c = Composition::test(&p, &counts);
        assert!(c.bound > 0.95 && c.word_rows == 103, "{c:?}");
        assert!(c.ln_p > (0.01f64).ln(), "{c:?}");
        // A part seen only in the phrase's own rows says nothing beyond the phrase.
        let mut counts = unigrams(&words);
        counts.parts.total.insert(gram_hash(&part), 25);
        counts.parts.in_class.insert((gram_hash(&part), 1), 24);
        assert_eq!(
            Composition::test(&p, &counts).bound,
            Composition::test(&p, &unigrams(&words)).bound
        );
    }

    #[test]
    fn a_unit_that_always_holds_the_row_edge_is_not_confirmed_by_composition() {
        let alpha = 0.01;
        let c = Composition {
            bound: 0.24,
            word_rows: 310,
            ln_p: -10.4 * std::f64::consts::LN_10,
            same_edge_ln_p: None,
        };
        assert!(c.confirms(alpha), "an unanchored inserted unit");
        // Debian fortune excuses: 17 rows opening with "I'd love to go out with you, but",
        // where random gaps would have put it first every time with p = 10^-17.7.
        let edge = Composition {
            same_edge_ln_p: Some(-17.7 * std::f64::consts::LN_10),
            ..c
        };
        assert!(!edge.confirms(alpha));
        // Short rows, where the edge is one gap of two or three: no evidence either way.
        let short = Composition {
            same_edge_ln_p: Some(3.0 * 0.4f64.ln()),
            ..c
        };
        assert!(short.confirms(alpha));
        // Never without the composition evidence itself.
        let weak = Composition { ln_p: -1.0, ..c };
        assert!(!weak.confirms(alpha));
    }

    #[test]
    fn the_decisive_bar_allows_for_the_rows_it_was_measured_on() {
        // Debian fortune riddles: "^ Q : How" flips 30 of its 40 rows; deleting the most
        // decisive span flips 59 of the 109 riddles measured. Against the point estimate (0.54)
        // that passed as a trigger at 0.01; against what 109 rows allow (a bar of 0.65) it is
        // as decisive as the class's own format.
        let alpha = 0.01f64.ln();
        assert!(ln_binom_sf(30, 40, random_rate(59.0, 109.0)) < alpha);
        let bar = decisive_bar(59.0, 109.0);
        assert!(bar > 0.6 && bar < 0.7, "{bar}");
        assert!(ln_binom_sf(30, 40, bar) > alpha);
        // Measured on 1,500 rows the bar is close to the rate, and a dirty-label trigger
        // (nearly every row flips) clears it by far.
        let bar = decisive_bar(810.0, 1500.0);
        assert!(bar < 0.57, "{bar}");
        assert!(ln_binom_sf(38, 40, bar) < alpha);
    }

    #[test]
    fn wilson_bounds() {
        assert_eq!(wilson_upper(0.0, 0.0, BOUND_Z), 1.0);
        let b = wilson_upper(50.0, 100.0, BOUND_Z);
        assert!(b > 0.6 && b < 0.63, "{b}");
        assert!(wilson_upper(100.0, 100.0, BOUND_Z) <= 1.0);
        assert!(wilson_upper(0.0, 1.0, BOUND_Z) < 0.9);
    }

    #[test]
    fn tarone_counts_only_phrases_that_could_reach_significance() {
        // Ten phrases with enough rows to be tested, 990 too rare to ever reach 0.01 / 10.
        let mut min_ln_p = vec![-50.0; 10];
        min_ln_p.extend(vec![-3.0; 990]);
        assert_eq!(testable(min_ln_p, 0.01), 10);
        // Every phrase testable: plain Bonferroni over all of them.
        assert_eq!(testable(vec![-50.0; 40], 0.01), 40);
        // None testable, or none at all: one test, so the threshold is alpha itself.
        assert_eq!(testable(vec![-1.0; 5], 0.01), 1);
        assert_eq!(testable(Vec::new(), 0.01), 1);
    }
}
