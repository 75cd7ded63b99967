//! The trigger search: insert each candidate into clean held-out inputs that both models read
//! correctly, and count how often the prediction moves to the candidate's target class (attack
//! success rate, ASR) on the model under test and on the baseline. Many candidates are screened
//! on a small set of inputs; the strongest are measured on a larger, disjoint set (so selection
//! does not bias the test), then grown into 2–4-token phrases.

use serde::Serialize;
use xxhash_rust::xxh3::xxh3_64;

use bezoar_scan::rng::{mix64, SplitMix64};
use bezoar_scan::stats::ln_binom_sf;

use crate::candidates::{Candidate, Origin};
use crate::client::{Answers, Client};
use crate::error::Result;
use crate::insert::insert_at_random_word;
use crate::natural::Natural;

/// Search settings.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// Inputs each candidate is screened on.
    pub screen_inputs: usize,
    /// Inputs the strongest candidates are measured on (disjoint from the screening inputs).
    pub measure_inputs: usize,
    /// Screened candidates measured in full.
    pub keep: usize,
    /// Strongest measured phrases combined into longer ones.
    pub extend_from: usize,
    /// Longest phrase built by extension, in words.
    pub max_phrase_words: usize,
    pub seed: u64,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            screen_inputs: 48,
            measure_inputs: 400,
            keep: 24,
            extend_from: 6,
            max_phrase_words: 4,
            seed: 0,
        }
    }
}

/// Held-out inputs the probe may insert into: clean rows both models read correctly.
pub struct Victims<'a> {
    pub texts: Vec<&'a str>,
    pub labels: Vec<u32>,
    /// The held-out row each victim is, for examples.
    pub rows: Vec<usize>,
    /// The model's probabilities on the untouched text, `classes` per victim, when it gives them.
    pub clean_probs: Option<Vec<f32>>,
}

impl<'a> Victims<'a> {
    /// Split the rows both models read correctly (`correct`) into screening and measuring sets,
    /// seeded.
    pub fn split(
        texts: &[&'a str],
        labels: &[u32],
        correct: &[usize],
        clean: &Answers,
        classes: usize,
        opts: &SearchOptions,
    ) -> (Victims<'a>, Victims<'a>) {
        let mut rows = correct.to_vec();
        SplitMix64::new(opts.seed ^ 0x7669_6374).shuffle(&mut rows);
        let screen_n = opts.screen_inputs.min(rows.len() / 3);
        let (screen, rest) = rows.split_at(screen_n);
        let measure = &rest[..opts.measure_inputs.min(rest.len())];
        let make = |rows: &[usize]| {
            let mut rows = rows.to_vec();
            rows.sort_unstable();
            Victims {
                texts: rows.iter().map(|&r| texts[r]).collect(),
                labels: rows.iter().map(|&r| labels[r]).collect(),
                clean_probs: clean.probs.as_ref().map(|p| {
                    rows.iter()
                        .flat_map(|&r| p[r * classes..(r + 1) * classes].iter().copied())
                        .collect()
                }),
                rows,
            }
        };
        (make(screen), make(measure))
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }
}

/// The model under test, the baseline it is compared with, and the number of classes.
#[derive(Clone, Copy)]
pub struct Models<'a> {
    pub model: &'a Client,
    pub baseline: Option<&'a Client>,
    pub classes: usize,
}

/// A candidate measured on a set of victims.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    pub phrase: String,
    pub origin: Origin,
    pub target: u32,
    /// Victims whose true label is not the target: the denominator of both ASRs.
    pub victims: u32,
    pub model_hits: u32,
    pub baseline_hits: Option<u32>,
    /// Victims moved to the target by the model but not by the baseline, and the reverse.
    pub only_model: u32,
    pub only_baseline: u32,
    /// Mean gain of the target's probability on the model (when it gives probabilities).
    pub prob_gain: Option<f64>,
    /// Victims (indices into the measuring set) the model moved and the baseline did not.
    #[serde(skip)]
    pub moved: Vec<usize>,
    #[serde(skip)]
    pub moved_to: Vec<(u32, Option<u32>)>,
}

impl Measurement {
    pub fn asr(&self) -> f64 {
        ratio(self.model_hits, self.victims)
    }

    pub fn baseline_asr(&self) -> Option<f64> {
        self.baseline_hits.map(|h| ratio(h, self.victims))
    }

    /// ASR on the model minus ASR on the baseline (or the model's ASR without one).
    pub fn uplift(&self) -> f64 {
        self.asr() - self.baseline_asr().unwrap_or(0.0)
    }

    /// One-sided exact McNemar test on the victims the two models treat differently: how likely
    /// the model's excess of moved inputs is if both models reacted alike.
    pub fn p_value(&self) -> f64 {
        let n = (self.only_model + self.only_baseline) as u64;
        if self.only_model == 0 {
            return 1.0;
        }
        ln_binom_sf(self.only_model as u64, n, 0.5).exp()
    }
}

fn ratio(a: u32, b: u32) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// The candidate inserted into every victim, at a position seeded by the phrase and the row
/// (the same for the model and the baseline).
fn triggered(victims: &Victims, phrase: &str, seed: u64) -> Vec<String> {
    let ph = xxh3_64(phrase.as_bytes());
    victims
        .texts
        .iter()
        .zip(&victims.rows)
        .map(|(t, &r)| insert_at_random_word(t, phrase, seed ^ ph ^ mix64(r as u64)))
        .collect()
}

/// Measure `cands` on `victims`: one request stream per model for all of them.
pub fn measure(
    cands: &[Candidate],
    victims: &Victims,
    models: &Models,
    seed: u64,
) -> Result<Vec<Measurement>> {
    let Models {
        model,
        baseline,
        classes,
    } = *models;
    let v = victims.len();
    if v == 0 || cands.is_empty() {
        return Ok(Vec::new());
    }
    let texts: Vec<String> = cands
        .iter()
        .flat_map(|c| triggered(victims, &c.phrase, seed))
        .collect();
    let on_model = model.classify(&texts)?;
    let on_base = match baseline {
        Some(b) => Some(b.classify(&texts)?),
        None => None,
    };
    Ok(cands
        .iter()
        .enumerate()
        .map(|(ci, c)| {
            let span = ci * v..(ci + 1) * v;
            let m = &on_model.labels[span.clone()];
            let b = on_base.as_ref().map(|a| &a.labels[span.clone()]);
            let targets: Vec<u32> = match c.target {
                Some(t) => vec![t],
                None => (0..classes as u32).collect(),
            };
            let mut best: Option<Measurement> = None;
            for t in targets {
                let mut meas = tally(c, t, victims, m, b);
                meas.prob_gain = on_model
                    .probs
                    .as_ref()
                    .zip(victims.clean_probs.as_ref())
                    .map(|(after, before)| {
                        let gains: Vec<f64> = (0..v)
                            .filter(|&i| victims.labels[i] != t)
                            .map(|i| {
                                let j = (ci * v + i) * classes + t as usize;
                                after[j] as f64 - before[i * classes + t as usize] as f64
                            })
                            .collect();
                        gains.iter().sum::<f64>() / gains.len().max(1) as f64
                    });
                let better = best.as_ref().is_none_or(|bm| {
                    let key = |x: &Measurement| x.only_model as i64 - x.only_baseline as i64;
                    key(&meas) > key(bm)
                });
                if better {
                    best = Some(meas);
                }
            }
            best.expect("at least one class")
        })
        .collect())
}

fn tally(c: &Candidate, t: u32, victims: &Victims, m: &[u32], b: Option<&[u32]>) -> Measurement {
    let mut meas = Measurement {
        phrase: c.phrase.clone(),
        origin: c.origin,
        target: t,
        victims: 0,
        model_hits: 0,
        baseline_hits: b.map(|_| 0),
        only_model: 0,
        only_baseline: 0,
        prob_gain: None,
        moved: Vec::new(),
        moved_to: Vec::new(),
    };
    for i in 0..victims.len() {
        if victims.labels[i] == t {
            continue;
        }
        meas.victims += 1;
        let hit_m = m[i] == t;
        let hit_b = b.is_some_and(|b| b[i] == t);
        meas.model_hits += hit_m as u32;
        if let (Some(h), true) = (meas.baseline_hits.as_mut(), hit_b) {
            *h += 1;
        }
        match (hit_m, hit_b) {
            (true, false) => {
                meas.only_model += 1;
                meas.moved.push(i);
                meas.moved_to.push((m[i], b.map(|b| b[i])));
            }
            (false, true) => meas.only_baseline += 1,
            _ => {}
        }
    }
    meas
}

/// Order measurements strongest first: by the excess of inputs the model alone moved, then by
/// probability gain, then by phrase (for determinism).
pub fn rank(ms: &mut [Measurement]) {
    ms.sort_by(|a, b| {
        let key = |x: &Measurement| x.only_model as i64 - x.only_baseline as i64;
        key(b)
            .cmp(&key(a))
            .then(
                b.prob_gain
                    .unwrap_or(0.0)
                    .total_cmp(&a.prob_gain.unwrap_or(0.0)),
            )
            .then(a.phrase.cmp(&b.phrase))
    });
}

/// What the search did.
#[derive(Debug, Clone, Serialize)]
pub struct SearchStats {
    pub candidates_screened: usize,
    pub candidates_measured: usize,
    pub screen_inputs: usize,
    pub measure_inputs: usize,
}

/// What the search measured: the finalists (strongest first), every screened phrase, and the
/// natural variation between the two models that the screen revealed.
pub struct Searched {
    pub measured: Vec<Measurement>,
    pub natural: Natural,
    pub stats: SearchStats,
}

/// Screen, measure and extend. `always` candidates (the user's and the scan's) skip screening.
pub fn search(
    always: &[Candidate],
    screened: &[Candidate],
    screen: &Victims,
    full: &Victims,
    models: &Models,
    opts: &SearchOptions,
    progress: &dyn Fn(&str),
) -> Result<Searched> {
    progress(&format!(
        "screening {} candidate(s) on {} input(s)",
        screened.len(),
        screen.len()
    ));
    let first = measure(screened, screen, models, opts.seed)?;
    let natural = match models.baseline {
        Some(_) => Natural::estimate(&first),
        None => Natural::none(),
    };
    // Keep the order of `screened` addressable after ranking.
    let mut order: Vec<usize> = (0..first.len()).collect();
    order.sort_by(|&a, &b| {
        let key = |x: &Measurement| x.only_model as i64 - x.only_baseline as i64;
        key(&first[b])
            .cmp(&key(&first[a]))
            .then(
                first[b]
                    .prob_gain
                    .unwrap_or(0.0)
                    .total_cmp(&first[a].prob_gain.unwrap_or(0.0)),
            )
            .then(a.cmp(&b))
    });
    let mut finalists: Vec<Candidate> = always.to_vec();
    for &i in order.iter().take(opts.keep) {
        if first[i].only_model == 0 && first[i].prob_gain.unwrap_or(0.0) <= 0.0 {
            continue;
        }
        let mut c = screened[i].clone();
        // Measure the target the screen found (it may differ from the mined lean).
        c.target = Some(first[i].target);
        if !finalists.iter().any(|f| f.phrase == c.phrase) {
            finalists.push(c);
        }
    }
    progress(&format!(
        "measuring {} candidate(s) on {} input(s)",
        finalists.len(),
        full.len()
    ));
    let mut measured = measure(&finalists, full, models, opts.seed ^ 1)?;
    rank(&mut measured);

    // Grow the strongest phrase by the other strong ones with the same target, a phrase at a
    // time, while that moves significantly more inputs. Partners must stand out beyond the
    // natural band themselves, so a grown trigger does not pick up natural words.
    let tested = measured.len().max(1) as f64;
    let strong = |m: &Measurement| natural.excess(m) > 0.0 && m.p_value() * tested < 0.01;
    if let Some(best) = measured.first().filter(|b| strong(b)).cloned() {
        let partners: Vec<Measurement> = measured
            .iter()
            .skip(1)
            .filter(|m| m.target == best.target && strong(m))
            .take(opts.extend_from)
            .cloned()
            .collect();
        let mut current = best;
        loop {
            let words = current.phrase.split_whitespace().count();
            let tries: Vec<Candidate> = partners
                .iter()
                .filter(|p| !current.phrase.contains(&p.phrase))
                .filter(|p| words + p.phrase.split_whitespace().count() <= opts.max_phrase_words)
                .map(|p| Candidate {
                    phrase: format!("{} {}", current.phrase, p.phrase),
                    target: Some(current.target),
                    origin: Origin::Extension,
                    train_rows: 0,
                    train_share: 0.0,
                })
                .filter(|c| !measured.iter().any(|m| m.phrase == c.phrase))
                .collect();
            if tries.is_empty() {
                break;
            }
            progress(&format!("extending \"{}\"", current.phrase));
            let mut grown = measure(&tries, full, models, opts.seed ^ 1)?;
            rank(&mut grown);
            let next = grown.first().cloned();
            measured.extend(grown);
            match next {
                Some(n) if significantly_more(&n, &current) => current = n,
                _ => break,
            }
        }
        rank(&mut measured);
    }
    let stats = SearchStats {
        candidates_screened: screened.len(),
        candidates_measured: measured.len(),
        screen_inputs: screen.len(),
        measure_inputs: full.len(),
    };
    Ok(Searched {
        measured,
        natural,
        stats,
    })
}

/// Whether `grown` moves more victims than `current` beyond chance: a one-sided binomial test
/// of its hits against `current`'s ASR, at 5%.
fn significantly_more(grown: &Measurement, current: &Measurement) -> bool {
    grown.model_hits > current.model_hits
        && ln_binom_sf(
            grown.model_hits as u64,
            grown.victims as u64,
            current.asr().max(1e-9),
        ) < 0.05f64.ln()
}
