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
use crate::linear::CrossVal;
use crate::result::{Detector, Evidence, Finding, Severity};
use crate::trigger::argmax;

/// Probability of the given label below which a row counts as "reads as another label".
const CONFIDENT_DISAGREEMENT: f32 = 0.2;
/// A row is flagged on this evidence alone when every linear model view gives its label less
/// than `FLAG_ALONE` and the pooled readers believe it less than `FLAG_ALONE_POOLED`. Chosen for
/// precision: on a clean public sentiment set of 6,920 rows, 2 rows are read this surely as
/// another label (3 at a pooled 0.02, 5 at 0.05; those thresholds flagged 3–4 clean rows of the
/// 1% BadNets set, while they caught 23 and 24 of 24 flips on the synthetic reviews against 21
/// at 0.01).
const FLAG_ALONE: f32 = 0.05;
const FLAG_ALONE_POOLED: f32 = 0.01;

/// The most doubt a row gets while the models read it as labelled.
const AGREE_DOUBT: f32 = 0.05;
/// Score of a row flagged as one of the estimated noisy rows.
const SCORE_NOISY: f32 = 0.6;
/// Rows the models are this sure about, one way or the other, estimate the noise rate.
const CONFIDENT: f32 = 0.1;
/// Rows read confidently the other way, per row read confidently as labelled, that hard but
/// correctly labelled rows explain: up to 2.5% (measured at 2.0–2.2% on five public sentiment
/// sets with no flips, and 6.9–7.0% with 5% random flips).
const NATURAL_RATIO: f64 = 0.025;
/// Significance of the excess over `NATURAL_RATIO` needed to call the labels noisy.
const NOISE_ALPHA: f64 = 1e-4;
/// Fewer confident rows than this say too little about the noise rate.
const MIN_CONFIDENT_ROWS: usize = 200;

/// Noise rate estimated by mirroring: a random label flip turns a row the model reads
/// confidently as its label into one it reads confidently the other way, so the ratio of
/// confidently-contradicted to confidently-confirmed rows estimates the flip rate, plus a small
/// natural share of hard rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct NoiseEstimate {
    pub contradicted: usize,
    pub confirmed: usize,
}

impl NoiseEstimate {
    pub fn measure(p_label: &[f32]) -> Option<Self> {
        let contradicted = p_label.iter().filter(|&&p| p < CONFIDENT).count();
        let confirmed = p_label.iter().filter(|&&p| p > 1.0 - CONFIDENT).count();
        (contradicted + confirmed >= MIN_CONFIDENT_ROWS).then_some(Self {
            contradicted,
            confirmed,
        })
    }

    pub fn ratio(&self) -> f64 {
        self.contradicted as f64 / self.confirmed.max(1) as f64
    }

    /// How many rows to flag as noisy: none unless the contradicted rows significantly exceed
    /// the natural share; then the excess rate over the natural one, times the row count.
    pub fn rows_to_flag(&self, n: usize) -> Option<usize> {
        let total = (self.contradicted + self.confirmed) as u64;
        let p0 = NATURAL_RATIO / (1.0 + NATURAL_RATIO);
        let ln_p = crate::stats::ln_binom_sf(self.contradicted as u64, total, p0);
        if ln_p > NOISE_ALPHA.ln() {
            return None;
        }
        let excess = (self.ratio() - NATURAL_RATIO).max(0.0);
        Some((excess * n as f64).round() as usize)
    }
}

/// Map the pooled belief in a row's label to a suspicion score: graded (for ranking) but below
/// the flag threshold unless the readers are nearly certain the label is wrong (`p_most` is the
/// largest P(label) of any linear model view).
fn suspicion(p_mean: f32, p_most: f32) -> f32 {
    let p = p_mean.clamp(0.0, 1.0);
    // Rows the models read as labelled keep a trace of doubt (so ranking still orders them), too
    // small to tip another detector's weak evidence over the flag threshold; doubt proper starts
    // where the models read the row as another label.
    let doubt = if p >= 0.5 {
        AGREE_DOUBT * 2.0 * (1.0 - p)
    } else {
        AGREE_DOUBT + (0.35 - AGREE_DOUBT) * (0.5 - p) / 0.5
    };
    if p_most < FLAG_ALONE && p < FLAG_ALONE_POOLED {
        doubt + 0.2
    } else {
        doubt
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
                // Floored, so a class the model rules out stays finite.
                for (o, p) in out.iter_mut().zip(cv.row(i)) {
                    *o = p.max(1e-6).ln();
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
                out.copy_from_slice(nb.ln_row(i));
                true
            }),
        ));
    }
    readers
        .into_iter()
        .map(|(name, read)| {
            let beta = calibrate::fit_beta(ctx.n(), ctx.classes, |i, out| {
                read(i, out).then_some(ctx.labels[i] as usize)
            });
            Reader { name, read, beta }
        })
        .collect()
}

/// How far the readers together believe row `i`'s label `y`: the logarithmic opinion pool of
/// their calibrated probabilities (the normalised geometric mean over readers), which lets a
/// reader that is sure a label is wrong count for more than an arithmetic mean would, without
/// letting any one reader decide (measured on public sentiment data with random flips: ranks
/// flipped labels better than the arithmetic mean). `ln_q` and `pooled` are scratch of one
/// entry per class.
fn pooled_belief(
    readers: &[Reader],
    i: usize,
    y: usize,
    ln_q: &mut [f32],
    pooled: &mut [f32],
) -> f32 {
    pooled.fill(0.0);
    let mut count = 0usize;
    for r in readers {
        if (r.read)(i, ln_q) {
            calibrate::scale_ln_proba(ln_q, r.beta);
            pooled
                .iter_mut()
                .zip(ln_q.iter())
                .for_each(|(p, q)| *p += q);
            count += 1;
        }
    }
    // Every row has the linear model's reading, so `count` ≥ 1.
    pooled.iter_mut().for_each(|p| *p /= count.max(1) as f32);
    let max = pooled.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let norm: f32 = pooled.iter().map(|p| (p - max).exp()).sum();
    (pooled[y] - max).exp() / norm
}

pub(crate) fn detect(ctx: &Context) -> DetectorOutput {
    let n = ctx.n();
    // With embeddings there are two views of each row: text alone, and text with the embedding.
    // The noise estimate reads their mean; flagging on this evidence alone needs both to be
    // nearly certain, because the embedding model is sharper and also sure about rows that are
    // merely hard.
    let views: Vec<&CrossVal> = ctx.cv.iter().chain(ctx.cv_label.iter()).collect();
    let Some(cv) = views.last().copied() else {
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
    // P(label) by the models (mean over views, as calibrated by training), and how far the
    // row's label is believed once the readers are pooled.
    let mut p_model = vec![0.0f32; n];
    let mut belief = vec![0.0f32; n];
    let (mut ln_q, mut pooled) = (vec![0.0f32; k], vec![0.0f32; k]);
    // pairs[given * k + read_as] = rows, for one finding per label pair.
    let mut pairs: Vec<Vec<u32>> = vec![Vec::new(); k * k];
    for (i, score) in scores.iter_mut().enumerate() {
        let y = ctx.labels[i] as usize;
        let (mut sum, mut most) = (0.0f32, 0.0f32);
        for v in &views {
            let p = v.row(i)[y];
            sum += p;
            most = most.max(p);
        }
        p_model[i] = sum / views.len() as f32;
        belief[i] = pooled_belief(&readers, i, y, &mut ln_q, &mut pooled);
        *score = suspicion(belief[i], most);
        let p = cv.row(i);
        if p[y] < CONFIDENT_DISAGREEMENT {
            pairs[y * k + argmax(p)].push(i as u32);
        }
    }
    let mut noise_finding = None;
    if let Some((e, k)) =
        NoiseEstimate::measure(&p_model).and_then(|e| e.rows_to_flag(n).map(|k| (e, k)))
    {
        // Label noise beyond what hard rows explain: flag the k rows whose label is believed
        // least (ties by row order). The estimate reads the models' calibrated probabilities;
        // the ranking also hears the neighbours.
        let mut order: Vec<u32> = (0..n as u32)
            .filter(|&i| belief[i as usize] < 0.5)
            .collect();
        order.sort_by(|&a, &b| {
            belief[a as usize]
                .total_cmp(&belief[b as usize])
                .then(a.cmp(&b))
        });
        order.truncate(k);
        for &i in &order {
            scores[i as usize] = scores[i as usize].max(SCORE_NOISY);
        }
        order.sort_unstable();
        let rate = k as f64 / n as f64;
        let mut evidence = vec![
            Evidence {
                name: "estimated_noise_rate",
                value: rate,
            },
            Evidence {
                name: "confidently_contradicted",
                value: e.contradicted as f64,
            },
            Evidence {
                name: "confidently_confirmed",
                value: e.confirmed as f64,
            },
            Evidence {
                name: "natural_ratio",
                value: NATURAL_RATIO,
            },
        ];
        // How far each reader's probabilities were sharpened (> 1) or softened (< 1).
        evidence.extend(readers.iter().map(|r| Evidence {
            name: r.name,
            value: r.beta as f64,
        }));
        noise_finding = Some(Finding {
            detector: Detector::LabelConsistency,
            severity: if rate >= 0.02 { Severity::High } else { Severity::Medium },
            title: format!(
                "label noise: about {:.1}% of rows carry a wrong label ({} rows read confidently as another label, {:.1} per 100 read confidently as labelled, against up to {:.1} for hard rows); the {} rows the models believe least are flagged",
                100.0 * rate,
                e.contradicted,
                100.0 * e.ratio(),
                100.0 * NATURAL_RATIO,
                order.len()
            ),
            subject: "label noise".into(),
            target_label: None,
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

    /// `confirmed` rows at P(label) 0.95, `contradicted` at 0.05, the rest in between.
    fn probs(confirmed: usize, contradicted: usize, middle: usize) -> Vec<f32> {
        let mut p = vec![0.95; confirmed];
        p.extend(vec![0.05; contradicted]);
        p.extend(vec![0.5; middle]);
        p
    }

    #[test]
    fn natural_share_of_contradicted_rows_flags_nothing() {
        // 1.5% contradicted per confirmed row: what hard rows of clean data look like.
        let e = NoiseEstimate::measure(&probs(1000, 15, 5000)).expect("enough confident rows");
        assert_eq!((e.contradicted, e.confirmed), (15, 1000));
        assert_eq!(e.rows_to_flag(6015), None);
    }

    #[test]
    fn flips_beyond_the_natural_share_set_how_many_rows_to_flag() {
        let e = NoiseEstimate::measure(&probs(1000, 80, 5000)).unwrap();
        assert!((e.ratio() - 0.08).abs() < 1e-12);
        // (0.08 - 0.025) × 6080 rows.
        assert_eq!(e.rows_to_flag(6080), Some(334));
    }

    #[test]
    fn too_few_confident_rows_estimate_nothing() {
        assert_eq!(NoiseEstimate::measure(&probs(100, 50, 5000)), None);
    }

    #[test]
    fn suspicion_flags_alone_only_when_every_view_is_near_certain() {
        assert!(suspicion(0.005, 0.04) >= 0.5);
        assert!(suspicion(0.005, 0.3) < 0.5);
        assert!(
            suspicion(0.03, 0.04) < 0.5,
            "the pooled readers are less sure"
        );
        assert!(suspicion(0.6, 0.6) < suspicion(0.3, 0.6));
        // Agreeing rows carry at most a trace, which cannot lift a 0.45 score to 0.5.
        assert!(suspicion(0.5, 0.5) <= AGREE_DOUBT);
        assert!(1.0 - 0.55 * (1.0 - suspicion(0.51, 0.51)) < 0.5);
    }
}
