//! Label consistency: rows whose label disagrees with what their content says. Several readers
//! judge each row's label, none having seen it: out-of-fold probabilities of the shared text (or
//! text + embedding) linear model, and of its word and character blocks read apart; the labels
//! of the row's nearest neighbours; leave-one-out naive Bayes over words and over character
//! n-grams. Each reader is temperature-scaled to its own measured confidence, and their
//! logarithmic pool ranks rows; the linear model's probabilities estimate how many labels are
//! wrong.

use crate::bayes::Vocabulary;
use crate::calibrate;
use crate::context::{Context, DetectorOutput};
use crate::result::{Detector, Evidence, Finding, Severity};
use crate::trigger::argmax;

/// Probability of the given label below which a row counts as "reads as another label".
const CONFIDENT_DISAGREEMENT: f32 = 0.2;

/// The most doubt a row gets while the models read it as labelled.
const AGREE_DOUBT: f32 = 0.05;
/// Score of a row flagged as one of the estimated noisy rows: from this, higher the less its
/// label is believed (by up to `NOISY_SPREAD`), so the flagged rows keep the readers' order.
const SCORE_NOISY: f32 = 0.6;
const NOISY_SPREAD: f32 = 0.2;
/// A row whose label the calibrated label model gives less than this is "read confidently as
/// another label"; the noise test compares how many such rows there are with how many the
/// model's own probabilities predict.
const CONFIDENT: f32 = 0.05;
/// Significance the excess of confidently contradicted rows must reach to call the labels noisy
/// (one-sided, normal approximation: z ≥ 3.72).
const NOISE_ALPHA: f64 = 1e-4;

/// Is there more label noise than the data's own ambiguity explains?
///
/// A calibrated model says how often a row like this one carries each label, so the labels it
/// expects to contradict confidently are `Σ_i Σ_c p_ic·[p_ic < τ]`: natural label noise sits
/// where the model is unsure and is absorbed by calibration. A random or targeted flip lands on
/// rows the model reads confidently as their true class, wherever they are, so flipped data
/// holds more confidently contradicted rows than its calibrated model predicts. The comparison
/// is the dataset's own; no natural noise rate is assumed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NoiseTest {
    classes: usize,
    /// Per ordered class pair `given * classes + read_as` (the likeliest class): rows whose
    /// label has calibrated probability below `CONFIDENT`.
    confident: Vec<Tally>,
    /// The same, per ordered pair, for labels outside the reading's two likeliest classes under
    /// the flip-aware calibration (see [`NoiseTest::add_far`]).
    far: Vec<Tally>,
}

/// Rows counted, how many a calibrated model predicts, and that prediction's variance.
#[derive(Debug, Clone, Default, PartialEq)]
struct Tally {
    observed: usize,
    expected: f64,
    variance: f64,
}

impl Tally {
    /// A class the model gives probability `p`: it would be the label with that probability.
    fn expect(&mut self, p: f32) {
        self.expected += p as f64;
        self.variance += p as f64 * (1.0 - p as f64);
    }

    /// The excess of observed over expected, in standard deviations (at least one).
    fn z(&self) -> f64 {
        (self.observed as f64 - self.expected) / self.variance.max(1.0).sqrt()
    }

    /// The cells summed, but the one at `skip`.
    fn sum_outside(cells: &[Tally], skip: Option<usize>) -> Tally {
        let mut sum = Tally::default();
        for (cell, t) in cells.iter().enumerate() {
            if Some(cell) != skip {
                sum.observed += t.observed;
                sum.expected += t.expected;
                sum.variance += t.variance;
            }
        }
        sum
    }

    fn as_tuple(&self) -> (usize, f64, f64) {
        (self.observed, self.expected, self.z())
    }
}

impl NoiseTest {
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            confident: vec![Tally::default(); classes * classes],
            far: vec![Tally::default(); classes * classes],
        }
    }

    /// Add one row to the far test: its class probabilities under the flip-aware calibration
    /// ([`calibrate::fit_with_uniform_flips`]) and its label.
    ///
    /// With many classes one temperature fattens the tail of every unrelated class (it must
    /// soften confident rows to explain flips), so the count of all confident contradictions
    /// is over-predicted and random flips hide in it. Natural mislabels sit between a row's
    /// likeliest classes; a random flip lands on any class, most often one the reading ranks
    /// third or lower. So this test counts only labels outside the two likeliest classes read
    /// with probability below `CONFIDENT`, against what a calibration that lets a flip
    /// component take the flips predicts. Needs three classes or more.
    pub fn add_far(&mut self, proba: &[f32], label: usize) {
        if self.classes < 3 {
            return;
        }
        let (first, second) = top_two(proba);
        let far = |c: usize| c != first && c != second;
        for (c, &p) in proba.iter().enumerate() {
            if far(c) && p < CONFIDENT {
                self.far[c * self.classes + first].expect(p);
            }
        }
        if far(label) && proba[label] < CONFIDENT {
            self.far[label * self.classes + first].observed += 1;
        }
    }

    /// Observed, expected and z of the far test.
    pub fn far_total(&self) -> (usize, f64, f64) {
        Tally::sum_outside(&self.far, None).as_tuple()
    }

    /// Labels far from the reading in excess of the flip-aware calibration (three classes or
    /// more).
    pub fn far_significant(&self) -> bool {
        self.classes >= 3 && self.far_total().2 >= crate::stats::normal_isf(NOISE_ALPHA)
    }

    /// Add one row: its calibrated class probabilities and its label.
    pub fn add(&mut self, proba: &[f32], label: usize) {
        let read = crate::trigger::argmax(proba);
        for (c, &p) in proba.iter().enumerate() {
            if p < CONFIDENT && c != read {
                self.confident[c * self.classes + read].expect(p);
            }
        }
        if proba[label] < CONFIDENT {
            self.confident[label * self.classes + read].observed += 1;
        }
    }

    /// Observed, expected and z over all rows.
    pub fn total(&self) -> (usize, f64, f64) {
        Tally::sum_outside(&self.confident, None).as_tuple()
    }

    /// The ordered pair (given, read as) with the largest excess, and its z.
    pub fn top_pair(&self) -> (usize, usize, f64) {
        let (cell, z) = (0..self.confident.len())
            .filter(|c| c / self.classes != c % self.classes)
            .map(|c| (c, self.confident[c].z()))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            .unwrap_or((0, 0.0));
        (cell / self.classes, cell % self.classes, z)
    }

    /// The ordered pair whose excess stands out from the other pairs' excesses, when one does.
    /// A calibrated model's per-pair expectations are off by systematic amounts (one global
    /// temperature, classes that are naturally confused one way more than the other), so a
    /// pair's z is judged against the spread of every pair's z in this dataset (median and
    /// MAD), not against 1. Needs three classes or more (six pairs) to measure that spread.
    pub fn targeted_pair(&self) -> Option<(usize, usize)> {
        if self.classes < 3 {
            return None;
        }
        let mut zs: Vec<f64> = (0..self.confident.len())
            .filter(|c| c / self.classes != c % self.classes)
            .map(|c| self.confident[c].z())
            .collect();
        let median = crate::stats::median(&mut zs);
        let mut dev: Vec<f64> = zs.iter().map(|z| (z - median).abs()).collect();
        let spread = (1.4826 * crate::stats::median(&mut dev)).max(1.0);
        let (given, read, z) = self.top_pair();
        ((z - median) / spread >= crate::stats::normal_isf(NOISE_ALPHA)).then_some((given, read))
    }

    /// Noise spread over the classes shows in the total.
    pub fn spread_significant(&self) -> bool {
        self.total().2 >= crate::stats::normal_isf(NOISE_ALPHA)
    }

    /// The class pair significant noise is confined to, when it is: the top pair's excess
    /// stands out (from the other pairs' spread with three classes or more; from the opposite
    /// direction's excess with two) and what lies outside the pair is not significant on its
    /// own. Flips aimed from one class into another are then flagged only there; the natural
    /// misreads of the other pairs are not the attack.
    pub fn confined_pair(&self) -> Option<(usize, usize)> {
        let isf = crate::stats::normal_isf(NOISE_ALPHA);
        let (given, read, _) = self.top_pair();
        let k = self.classes;
        let pair = given * k + read;
        let stands_out = if k == 2 {
            let (to, back) = (&self.confident[pair], &self.confident[read * k + given]);
            let excess = |t: &Tally| t.observed as f64 - t.expected;
            (excess(to) - excess(back)) / (to.variance + back.variance).max(1.0).sqrt() >= isf
        } else {
            self.targeted_pair().is_some()
        };
        let rest = Tally::sum_outside(&self.confident, Some(pair)).z();
        // With three classes or more, spread flips also show in the far test.
        let far_rest = Tally::sum_outside(&self.far, Some(pair)).z();
        (stands_out && rest < isf && (k < 3 || far_rest < isf)).then_some((given, read))
    }
}

/// The likeliest and second likeliest classes (lowest index first on ties).
fn top_two(proba: &[f32]) -> (usize, usize) {
    let first = argmax(proba);
    let second = (0..proba.len())
        .filter(|&c| c != first)
        .max_by(|&a, &b| proba[a].total_cmp(&proba[b]).then(b.cmp(&a)))
        .unwrap_or(first);
    (first, second)
}

/// Confident learning (Northcutt et al. 2021): per class, the average probability the pooled
/// readers give that class on the rows labelled with it is the class's threshold; a row is a
/// label issue when some other class reaches its threshold and is the likeliest such class.
/// The count of issues, measured on the dataset, is how many rows to flag once the noise test
/// has fired.
struct ConfidentJoint {
    thresholds: Vec<f32>,
}

impl ConfidentJoint {
    /// The class this row is confidently read as, when it is not its label.
    fn issue(&self, proba: &[f32], label: usize) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (c, (&p, &t)) in proba.iter().zip(&self.thresholds).enumerate() {
            if p >= t && best.is_none_or(|b| p > proba[b]) {
                best = Some(c);
            }
        }
        best.filter(|&c| c != label)
    }
}

/// Map the pooled belief in a row's label to a suspicion score: graded for ranking, and always
/// below the flag threshold. A row is flagged as mislabelled only once the noise test, measured
/// on this dataset, says there is more label noise than its own ambiguity explains: how sure the
/// readers are about one row is no evidence of poisoning where every dataset has hard rows.
fn suspicion(p_mean: f32) -> f32 {
    let p = p_mean.clamp(0.0, 1.0);
    // Rows the models read as labelled keep a trace of doubt (so ranking still orders them), too
    // small to tip another detector's weak evidence over the flag threshold; doubt proper starts
    // where the models read the row as another label.
    if p >= 0.5 {
        AGREE_DOUBT * 2.0 * (1.0 - p)
    } else {
        AGREE_DOUBT + (0.35 - AGREE_DOUBT) * (0.5 - p) / 0.5
    }
}

/// Writes row `i`'s class log-scores into `out`: ln class probabilities up to a constant per row
/// (calibration and pooling renormalise them); `false` where there is no reading.
type ReadFn<'a> = Box<dyn Fn(usize, &mut [f32]) -> bool + Sync + 'a>;

/// One reading of every row's label.
struct Reader<'a> {
    /// Evidence name under which the reader's `beta` is reported.
    name: &'static str,
    read: ReadFn<'a>,
    /// Temperature-scaling factor (see `calibrate`).
    beta: f32,
    /// Whether the pool hears it: the reader explains the labels as given at least as well as
    /// the readers do on average (see [`readers`]).
    pooled: bool,
    /// Calibrated log-loss of the labels as given.
    log_loss: f64,
}

/// The readers of each row's label available in `ctx`, each calibrated on the labels.
fn readers<'a>(ctx: &'a Context) -> Vec<Reader<'a>> {
    let mut readers: Vec<(&'static str, ReadFn<'a>)> = Vec::new();
    // The text model and, when given, the text + embedding model read apart (the embedding
    // model is the sharper reader and earns its own weight in the pool); then what each reads
    // in each block of its features alone (words and characters; text and embedding), as each
    // block errs on rows the other reads right.
    let models = [
        (
            &ctx.cv,
            "scale_linear_model",
            ["scale_linear_model_words", "scale_linear_model_chars"],
        ),
        (
            &ctx.cv_label,
            "scale_linear_model_embeddings",
            [
                "scale_linear_model_embeddings_text",
                "scale_linear_model_embeddings_only",
            ],
        ),
    ];
    for (cv, name, block_names) in models {
        let Some(cv) = cv.as_ref() else {
            continue;
        };
        readers.push((
            name,
            Box::new(move |i, out: &mut [f32]| {
                cv.read_row(i, out);
                // Floored, so a class the model rules out stays finite.
                for o in out.iter_mut() {
                    *o = o.max(1e-6).ln();
                }
                true
            }),
        ));
        if cv.block_logits.is_none() {
            continue;
        }
        for (block, name) in block_names.into_iter().enumerate() {
            readers.push((
                name,
                Box::new(move |i, out: &mut [f32]| {
                    // Logits are log-scores already.
                    cv.block_row(i, block)
                        .map(|z| out.copy_from_slice(z))
                        .is_some()
                }),
            ));
        }
    }
    if let Some(nl) = &ctx.neighbours {
        readers.push((
            "scale_neighbours",
            Box::new(move |i, out| nl.ln_vote(i, out)),
        ));
    }
    for nb in &ctx.bayes {
        let name = match nb.vocabulary() {
            Vocabulary::Words => "scale_naive_bayes_words",
            Vocabulary::CharGrams => "scale_naive_bayes_chars",
        };
        readers.push((
            name,
            Box::new(move |i, out: &mut [f32]| {
                nb.read_ln_row(i, out);
                true
            }),
        ));
    }
    let mut readers: Vec<Reader<'a>> = readers
        .into_iter()
        .map(|(name, read)| {
            let fit = calibrate::fit_beta_and_loss(ctx.n(), ctx.classes, |i, out| {
                read(i, out).then_some(ctx.labels[i] as usize)
            });
            Reader {
                name,
                read,
                beta: fit.beta,
                pooled: false,
                log_loss: fit.log_loss,
            }
        })
        .collect();
    // The pool hears only the readers whose calibrated log-loss on the labels as given is no
    // worse than the readers' mean: a reader that explains the labels worse than the average
    // reader adds more of its own errors than diversity. The bar is the scanned data's own;
    // the labels' flips raise every reader's loss alike. Measured on the four label-flip bench
    // sets (random and targeted, 2–4 classes), the pool of every reader ranked flips below its
    // best single reader on one of them (a targeted flip among four classes: AUROC 0.927
    // against 0.931); pooling the readers at or under the mean loss beat the best single
    // reader on all four.
    let losses: Vec<f64> = readers.iter().map(|r| r.log_loss).collect();
    for (reader, pooled) in readers.iter_mut().zip(pool_selection(&losses)) {
        reader.pooled = pooled;
    }
    readers
}

/// Which readers the label score's pool hears, from each one's calibrated log-loss on the labels
/// as given: those at or under the mean of the finite losses, and always the best one (so
/// rounding in the mean never leaves the pool empty). A reader with no loss (no reading of any
/// row) is not heard.
fn pool_selection(losses: &[f64]) -> Vec<bool> {
    let finite = || losses.iter().copied().filter(|l| l.is_finite());
    let count = finite().count();
    let bar = finite().sum::<f64>() / count.max(1) as f64;
    let best = finite().fold(f64::INFINITY, f64::min);
    losses
        .iter()
        .map(|&l| l.is_finite() && (l <= bar || l == best))
        .collect()
}

/// How far the readers together believe row `i`'s label `y`: the logarithmic opinion pool of
/// their calibrated probabilities (the normalised geometric mean over readers), which lets a
/// reader that is sure a label is wrong count for more than an arithmetic mean would, without
/// letting any one reader decide (measured on public sentiment data with random flips: ranks
/// flipped labels better than the arithmetic mean). The pool hears the selected readers (see
/// [`readers`]); `every`, where given, is left holding the pool of every reader: the belief
/// sub-clusters are judged by (see `anomaly`), which asks whether any reader reads a group as
/// another class, not which rows are most surely mislabelled. `ln_q` and `pooled` are scratch
/// of one entry per class; `pooled` is left holding the selected pool's probabilities.
fn pooled_belief(
    readers: &[Reader],
    i: usize,
    y: usize,
    ln_q: &mut [f32],
    pooled: &mut [f32],
    mut every: Option<&mut [f32]>,
    mut first: Option<&mut FirstReading>,
) -> f32 {
    pooled.fill(0.0);
    if let Some(e) = every.as_deref_mut() {
        e.fill(0.0);
    }
    let (mut count, mut every_count) = (0usize, 0usize);
    for (k, r) in readers.iter().enumerate() {
        let first = if k == 0 { first.as_deref_mut() } else { None };
        if !r.pooled && first.is_none() && every.is_none() {
            continue;
        }
        if !(r.read)(i, ln_q) {
            continue;
        }
        calibrate::scale_ln_proba(ln_q, r.beta);
        if let Some(f) = first {
            f.proba
                .iter_mut()
                .zip(ln_q.iter())
                .for_each(|(p, q)| *p = q.exp());
            f.read = true;
        }
        if r.pooled {
            add_ln(pooled, ln_q);
            count += 1;
        }
        if let Some(e) = every.as_deref_mut() {
            add_ln(e, ln_q);
            every_count += 1;
        }
    }
    if let Some(e) = every {
        normalise_pool(e, every_count);
    }
    normalise_pool(pooled, count);
    pooled[y]
}

fn add_ln(sum: &mut [f32], ln_q: &[f32]) {
    sum.iter_mut().zip(ln_q).for_each(|(p, q)| *p += q);
}

/// The summed ln probabilities of `count` readers as the normalised geometric mean; a row no
/// heard reader reads (`count` 0) is left with the uniform pool.
fn normalise_pool(pool: &mut [f32], count: usize) {
    pool.iter_mut().for_each(|p| *p /= count.max(1) as f32);
    let max = pool.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    pool.iter_mut().for_each(|p| *p = (*p - max).exp());
    let norm: f32 = pool.iter().sum();
    pool.iter_mut().for_each(|p| *p /= norm);
}

/// The first reader (the text label model), as calibrated, recalibrated with a random-flip
/// component for the far test (no flips and β = 1 with two classes).
fn flip_aware_fit(readers: &[Reader], ctx: &Context) -> calibrate::FlipAwareFit {
    let Some(r) = readers.first() else {
        return calibrate::FlipAwareFit::NONE;
    };
    calibrate::fit_with_uniform_flips(ctx.n(), ctx.classes, |i, out| {
        (r.read)(i, out).then(|| {
            calibrate::scale_ln_proba(out, r.beta);
            ctx.labels[i] as usize
        })
    })
}

/// The first reader's (the text label model's) calibrated probabilities, as the pool heard them.
struct FirstReading {
    proba: Vec<f32>,
    read: bool,
}

/// The calibrated probabilities of `reader` for row `i`, in `out`; `false` where it has no
/// reading.
fn calibrated(reader: &Reader, i: usize, out: &mut [f32]) -> bool {
    if !(reader.read)(i, out) {
        return false;
    }
    calibrate::scale_ln_proba(out, reader.beta);
    out.iter_mut().for_each(|v| *v = v.exp());
    true
}

pub(crate) fn detect(ctx: &Context) -> DetectorOutput {
    let n = ctx.n();
    // With embeddings, the text + embedding model (the sharper one) names the class a row is
    // read as for the per-pair findings.
    let Some(cv) = ctx.cv_label.as_ref().or(ctx.cv.as_ref()) else {
        return DetectorOutput::skipped(
            Detector::LabelConsistency,
            n,
            "needs at least two classes",
        );
    };
    let k = ctx.classes;
    // The readers err on different rows; each one's probabilities are rescaled to its own
    // measured confidence before they are pooled (raw, naive Bayes's overconfidence would
    // decide the ranking).
    let readers = readers(ctx);
    let mut scores = vec![0.0f32; n];
    // How far each row's label is believed once the readers are pooled.
    let mut belief = vec![0.0f32; n];
    let mut every_belief = vec![0.0f32; n];
    let (mut ln_q, mut pooled, mut p) = (vec![0.0f32; k], vec![0.0f32; k], vec![0.0f32; k]);
    let mut every = vec![0.0f32; k];
    // pairs[given * k + read_as] = rows, for one finding per label pair.
    let mut pairs: Vec<Vec<u32>> = vec![Vec::new(); k * k];
    let mut noise = NoiseTest::new(k);
    let mut threshold_sum = vec![0.0f64; k];
    let mut first = FirstReading {
        proba: vec![0.0f32; k],
        read: false,
    };
    let flip_fit = flip_aware_fit(&readers, ctx);
    let mut far_q = vec![0.0f32; k];
    for (i, score) in scores.iter_mut().enumerate() {
        let y = ctx.labels[i] as usize;
        first.read = false;
        belief[i] = pooled_belief(
            &readers,
            i,
            y,
            &mut ln_q,
            &mut pooled,
            Some(&mut every),
            Some(&mut first),
        );
        every_belief[i] = every[y];
        threshold_sum[y] += pooled[y] as f64;
        *score = suspicion(belief[i]);
        cv.read_row(i, &mut p);
        if p[y] < CONFIDENT_DISAGREEMENT {
            pairs[y * k + argmax(&p)].push(i as u32);
        }
        if first.read {
            noise.add(&first.proba, y);
            if k >= 3 {
                for (q, &p) in far_q.iter_mut().zip(&first.proba) {
                    *q = p.max(f32::MIN_POSITIVE).ln();
                }
                calibrate::scale_ln_proba(&mut far_q, flip_fit.beta);
                far_q.iter_mut().for_each(|q| *q = q.exp());
                noise.add_far(&far_q, y);
            }
        }
    }
    // Sub-clusters are judged by how surely their rows read as their label (see `anomaly`).
    let _ = ctx.label_belief.set(every_belief);
    let mut noise_finding = None;
    if ctx.cfg.keep_reader_scores {
        let mut kept: Vec<crate::ReaderScores> = readers
            .iter()
            .map(|r| crate::ReaderScores {
                name: r.name,
                p_label: (0..n)
                    .map(|i| {
                        if calibrated(r, i, &mut ln_q) {
                            ln_q[ctx.labels[i] as usize]
                        } else {
                            f32::NAN
                        }
                    })
                    .collect(),
                heard: r.pooled,
                log_loss: r.log_loss,
            })
            .collect();
        kept.push(crate::ReaderScores {
            name: "pooled",
            p_label: belief.clone(),
            heard: true,
            log_loss: f64::NAN,
        });
        *ctx.reader_scores
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = kept;
    }
    let targeted_pair = noise.targeted_pair();
    let far_significant = noise.far_significant();
    if noise.spread_significant() || targeted_pair.is_some() || far_significant {
        let (observed, expected, z) = noise.total();
        // Noise spread over the classes is flagged wherever it is; a targeted flip only in its
        // class pair.
        let within = noise.confined_pair();
        // More rows read confidently as another label than the data's own ambiguity explains:
        // confident learning on the pooled readers says how many labels are wrong, and the
        // rows whose label is believed least are flagged (ties by row order).
        let class_counts = ctx.ds.labels.counts();
        let joint = ConfidentJoint {
            thresholds: threshold_sum
                .iter()
                .zip(&class_counts)
                .map(|(s, &c)| {
                    if c == 0 {
                        f32::INFINITY
                    } else {
                        (s / c as f64) as f32
                    }
                })
                .collect(),
        };
        let mut issues = vec![0usize; k * k];
        let mut in_pair = Vec::new();
        // A second pass over the pooled readings, which need the thresholds of the first:
        // keeping every row's pooled vector instead would cost rows × classes floats.
        for i in 0..n {
            let y = ctx.labels[i] as usize;
            pooled_belief(&readers, i, y, &mut ln_q, &mut pooled, None, None);
            if let Some(read) = joint.issue(&pooled, y) {
                issues[y * k + read] += 1;
            }
            if within == Some((y, argmax(&pooled))) {
                in_pair.push(i as u32);
            }
        }
        let counted: usize = match within {
            Some((given, read)) => issues[given * k + read],
            None => issues.iter().sum(),
        };
        // Where the far test saw random flips spread over the classes, the flip-aware
        // calibration estimates how many labels were drawn at random; with many classes
        // confident learning's per-class thresholds count every row the pooled readers hesitate
        // over (twice the flips on six corpora pooled as 14 labels), so the smaller count is
        // flagged.
        let flip_count = (flip_fit.flip_share as f64 * n as f64).round() as usize;
        let estimated = if within.is_none() && far_significant {
            counted.min(flip_count)
        } else {
            counted
        };
        let mut order: Vec<u32> = match within {
            Some(_) => in_pair,
            None => (0..n as u32).collect(),
        };
        order.retain(|&i| belief[i as usize] < 0.5);
        order.sort_by(|&a, &b| {
            belief[a as usize]
                .total_cmp(&belief[b as usize])
                .then(a.cmp(&b))
        });
        order.truncate(estimated);
        for &i in &order {
            let doubt = (0.5 - belief[i as usize]).clamp(0.0, 0.5);
            scores[i as usize] = scores[i as usize].max(SCORE_NOISY + NOISY_SPREAD * doubt);
        }
        order.sort_unstable();
        // A targeted flip is one class pair holding most of the issues.
        let (given, read) = within.unwrap_or_else(|| {
            let (g, r, _) = noise.top_pair();
            (g, r)
        });
        let top_count = issues[given * k + read];
        let rate = order.len() as f64 / n as f64;
        let mut evidence = vec![
            Evidence {
                name: "estimated_noise_rate",
                value: rate,
            },
            Evidence {
                name: "confidently_contradicted",
                value: observed as f64,
            },
            Evidence {
                name: "expected_contradicted",
                value: expected,
            },
            Evidence {
                name: "excess_z",
                value: z,
            },
            Evidence {
                name: "top_pair_excess_z",
                value: noise.top_pair().2,
            },
            Evidence {
                name: "label_issues",
                value: estimated as f64,
            },
            Evidence {
                name: "top_pair_issues",
                value: top_count as f64,
            },
        ];
        let (far_observed, far_expected, far_z) = noise.far_total();
        if k >= 3 {
            evidence.extend([
                Evidence {
                    name: "far_contradicted",
                    value: far_observed as f64,
                },
                Evidence {
                    name: "far_expected",
                    value: far_expected,
                },
                Evidence {
                    name: "far_excess_z",
                    value: far_z,
                },
                Evidence {
                    name: "random_flip_share",
                    value: flip_fit.flip_share as f64,
                },
            ]);
        }
        // How far each reader's probabilities were sharpened (> 1) or softened (< 1).
        evidence.extend(readers.iter().map(|r| Evidence {
            name: r.name,
            value: r.beta as f64,
        }));
        let targeted = within.is_some() || counted > 0 && 4 * top_count > 3 * counted;
        let shape = if targeted {
            format!(
                "targeted: {} of them labelled {} but read as {}",
                top_count,
                ctx.label_name(given),
                ctx.label_name(read)
            )
        } else {
            "spread over the classes".to_string()
        };
        let far_clause = if far_significant {
            format!(
                "; {} labels lie outside the two classes their row reads likeliest where a calibration that allows for random flips expects {:.0} (z = {:.1}; random flips estimated at {:.1}% of rows)",
                far_observed,
                far_expected,
                far_z,
                100.0 * flip_fit.flip_share
            )
        } else {
            String::new()
        };
        noise_finding = Some(Finding {
            detector: Detector::LabelConsistency,
            severity: if rate >= 0.02 { Severity::High } else { Severity::Medium },
            title: format!(
                "label noise: {} rows read confidently as another label where the calibrated model expects {:.0} (z = {:.1}){}; confident learning counts {} wrong labels{}, {}; the {} rows the readers believe least are flagged",
                observed,
                expected,
                z,
                far_clause,
                counted,
                if estimated < counted {
                    format!(" (the flip share {estimated})")
                } else {
                    String::new()
                },
                shape,
                order.len()
            ),
            subject: if targeted {
                format!("label noise {} -> {}", ctx.label_name(given), ctx.label_name(read))
            } else {
                "label noise".into()
            },
            target_label: targeted.then(|| ctx.label_name(given).to_string()),
            evidence,
            rows: order,
        });
    }
    let counts = ctx.ds.labels.counts();
    let mut findings = Vec::new();
    for given in 0..k {
        for read in 0..k {
            let rows = std::mem::take(&mut pairs[given * k + read]);
            if rows.is_empty() || given == read {
                continue;
            }
            let share = rows.len() as f64 / counts[given].max(1) as f64;
            let severity = if share >= 0.05 {
                Severity::Medium
            } else {
                Severity::Low
            };
            findings.push(Finding {
                detector: Detector::LabelConsistency,
                severity,
                title: format!(
                    "{} rows labelled {} read as {} (out-of-fold P(label) < {:.1}); {:.1}% of that class",
                    rows.len(),
                    ctx.label_name(given),
                    ctx.label_name(read),
                    CONFIDENT_DISAGREEMENT,
                    100.0 * share
                ),
                subject: format!("{} -> {}", ctx.label_name(given), ctx.label_name(read)),
                target_label: Some(ctx.label_name(given).to_string()),
                evidence: vec![
                    Evidence { name: "rows", value: rows.len() as f64 },
                    Evidence { name: "share_of_class", value: share },
                ],
                rows,
            });
        }
    }
    findings.extend(noise_finding);
    DetectorOutput {
        detector: Detector::LabelConsistency,
        scores,
        findings,
        skipped: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_hears_readers_at_or_under_the_mean_loss() {
        // Mean 0.45: the two better readers are heard, the two worse ones not.
        assert_eq!(
            pool_selection(&[0.3, 0.4, 0.5, 0.6]),
            vec![true, true, false, false]
        );
        // A reader with no reading is neither heard nor counted in the bar.
        assert_eq!(
            pool_selection(&[0.3, f64::NAN, 0.5]),
            vec![true, false, false]
        );
        // Equal losses are all heard, one reader alone is heard, and no loss pools nothing.
        assert_eq!(pool_selection(&[0.1; 3]), vec![true; 3]);
        assert_eq!(pool_selection(&[0.7]), vec![true]);
        assert_eq!(pool_selection(&[f64::NAN]), vec![false]);
    }

    #[test]
    fn the_selected_pool_leaves_out_unheard_readers_and_every_reader_pool_hears_them() {
        let reader = |p: f32, pooled: bool| Reader {
            name: "test",
            read: Box::new(move |_, out: &mut [f32]| {
                out.copy_from_slice(&[p.ln(), (1.0 - p).ln()]);
                true
            }),
            beta: 1.0,
            pooled,
            log_loss: f64::NAN,
        };
        // The heard reader says 0.8 for class 0; the unheard one 0.2.
        let readers = [reader(0.8, true), reader(0.2, false)];
        let (mut ln_q, mut pooled, mut every) = (vec![0.0; 2], vec![0.0; 2], vec![0.0; 2]);
        let mut first = FirstReading {
            proba: vec![0.0; 2],
            read: false,
        };
        let belief = pooled_belief(
            &readers,
            0,
            0,
            &mut ln_q,
            &mut pooled,
            Some(&mut every),
            Some(&mut first),
        );
        assert!((belief - 0.8).abs() < 1e-6, "{belief}");
        // The geometric mean of 0.8·0.2 and 0.2·0.8, normalised: an even split.
        assert!((every[0] - 0.5).abs() < 1e-6, "{every:?}");
        assert!(first.read && (first.proba[0] - 0.8).abs() < 1e-6);
        // Without a heard reader the pool is uniform.
        let unheard = [reader(0.9, false)];
        let belief = pooled_belief(&unheard, 0, 0, &mut ln_q, &mut pooled, None, None);
        assert!((belief - 0.5).abs() < 1e-6, "{belief}");
    }

    /// A calibrated two-class model: `rows` rows at P(class 1) = `p`, labelled 1 in the share
    /// `p` of them (what calibration means), plus `flipped` of the confident ones relabelled.
    fn noise_test(groups: &[(usize, f32)], flipped: usize) -> NoiseTest {
        let mut t = NoiseTest::new(2);
        let mut flips_left = flipped;
        for &(rows, p) in groups {
            let ones = (rows as f32 * p).round() as usize;
            for r in 0..rows {
                let mut label = usize::from(r < ones);
                if flips_left > 0 && !(0.01..=0.99).contains(&p) {
                    label = 1 - label;
                    flips_left -= 1;
                }
                t.add(&[1.0 - p, p], label);
            }
        }
        t
    }

    #[test]
    fn natural_noise_where_the_model_is_unsure_is_not_significant() {
        // Rows at P = 0.03 carry the minority label 3% of the time: calibrated ambiguity.
        let t = noise_test(&[(3000, 0.03), (3000, 0.97), (2000, 0.5), (3000, 0.999)], 0);
        assert!(t.total().2.abs() < 2.0, "{t:?}");
        assert!(!t.spread_significant());
    }

    #[test]
    fn flips_of_confident_rows_exceed_what_calibration_predicts() {
        let t = noise_test(
            &[(3000, 0.03), (3000, 0.97), (2000, 0.5), (3000, 0.999)],
            60,
        );
        assert!(t.total().0 >= 60, "{t:?}");
        assert!(t.spread_significant(), "{t:?}");
    }

    #[test]
    fn a_targeted_flip_stands_out_from_the_other_class_pairs() {
        // Four classes read with calibrated confidence; every pair holds a few natural misreads
        // and one pair (labelled 3, read as 2) gets 80 more.
        let mut t = NoiseTest::new(4);
        let proba = |c: usize| {
            let mut p = [0.01f32; 4];
            p[c] = 0.97;
            p
        };
        for read in 0..4 {
            for _ in 0..2000 {
                t.add(&proba(read), read);
            }
            for given in (0..4).filter(|&g| g != read) {
                for _ in 0..20 {
                    t.add(&proba(read), given);
                }
            }
        }
        assert_eq!(
            t.targeted_pair(),
            None,
            "natural misreads everywhere: {t:?}"
        );
        for _ in 0..80 {
            t.add(&proba(2), 3);
        }
        assert_eq!(t.targeted_pair(), Some((3, 2)));
        assert_eq!(t.confined_pair(), Some((3, 2)));
        // Two classes give two pairs: too few to measure their spread.
        assert_eq!(NoiseTest::new(2).targeted_pair(), None);
    }

    #[test]
    fn two_class_noise_is_confined_to_one_direction_only_when_the_other_is_natural() {
        let proba = |c: usize| {
            let mut p = [0.03f32; 2];
            p[c] = 0.97;
            p
        };
        let with_flips = |back: usize| {
            let mut t = NoiseTest::new(2);
            for c in 0..2 {
                for _ in 0..3000 {
                    t.add(&proba(c), c);
                }
            }
            // 250 rows labelled 0 read as 1, and `back` labelled 1 read as 0.
            for _ in 0..250 {
                t.add(&proba(1), 0);
            }
            for _ in 0..back {
                t.add(&proba(0), 1);
            }
            t
        };
        // Natural misreads the other way (about the 3% calibration expects): confined.
        assert_eq!(with_flips(100).confined_pair(), Some((0, 1)));
        // Flips both ways: spread, flagged wherever they are.
        assert_eq!(with_flips(330).confined_pair(), None);
    }

    #[test]
    fn the_far_test_counts_labels_outside_the_two_likeliest_classes() {
        // Eight classes; each row is read 0.958 as its class, 0.03 as its sibling (c ^ 1) and
        // 0.002 as each other class, and labelled as that calibration says: 3% carry the
        // sibling's label, 1.2% one of the six far classes.
        let k = 8;
        let proba = |c: usize| {
            let mut p = vec![0.002f32; k];
            p[c] = 0.958;
            p[c ^ 1] = 0.03;
            p
        };
        let far_class = |c: usize, j: usize| {
            let far: Vec<usize> = (0..k).filter(|&x| x != c && x != c ^ 1).collect();
            far[j % far.len()]
        };
        let calibrated = |flips: usize| {
            let mut t = NoiseTest::new(k);
            for i in 0..24_000 {
                let c = i % k;
                let label = match (i / k) % 1000 {
                    0..=29 => c ^ 1,
                    30..=41 => far_class(c, i),
                    _ => c,
                };
                t.add_far(&proba(c), label);
            }
            // Flips to a class the reading ranks third or lower.
            for i in 0..flips {
                t.add_far(&proba(i % k), far_class(i % k, i / k));
            }
            t
        };
        // 288 far labels, as predicted (0.002 × 6 classes × 24,000 rows).
        let (observed, expected, _) = calibrated(0).far_total();
        assert_eq!(observed, 288);
        assert!((expected - 288.0).abs() < 1.0, "{expected}");
        assert!(!calibrated(0).far_significant());
        // 200 flips on top stand out, 20 do not.
        assert!(
            calibrated(200).far_significant(),
            "{:?}",
            calibrated(200).far_total()
        );
        assert!(
            !calibrated(20).far_significant(),
            "{:?}",
            calibrated(20).far_total()
        );
        // Two classes have no far classes.
        let mut two = NoiseTest::new(2);
        two.add_far(&[0.99, 0.01], 1);
        assert!(!two.far_significant());
        assert_eq!(top_two(&[0.1, 0.5, 0.5]), (1, 2));
    }

    #[test]
    fn confident_joint_names_the_class_a_row_is_read_as() {
        let joint = ConfidentJoint {
            thresholds: vec![0.8, 0.7, 0.9],
        };
        // Read as class 1 (above its threshold), labelled 0: an issue.
        assert_eq!(joint.issue(&[0.2, 0.75, 0.05], 0), Some(1));
        // Its own label reaches its threshold: no issue.
        assert_eq!(joint.issue(&[0.85, 0.1, 0.05], 0), None);
        // No class reaches its threshold: no issue either.
        assert_eq!(joint.issue(&[0.4, 0.3, 0.3], 2), None);
    }

    #[test]
    fn suspicion_ranks_but_never_flags_alone() {
        assert!(suspicion(0.0) < 0.5);
        assert!(suspicion(0.6) < suspicion(0.3));
        assert!(suspicion(0.3) < suspicion(0.01));
        // Agreeing rows carry at most a trace, which cannot lift a 0.45 score to 0.5.
        assert!(suspicion(0.5) <= AGREE_DOUBT);
        assert!(1.0 - 0.55 * (1.0 - suspicion(0.51)) < 0.5);
    }
}
