//! Scanning LLM fine-tuning data: prompt/response pairs, chats (agent tool calls included) and
//! preference pairs.
//!
//! The detectors work on *units* (a prompt and its response; see `bezoar_data::llm`) and
//! report rows: a row's score is the highest of its units'. They share one tokenisation and the
//! per-word document frequencies; duplicates and unusual characters run as for text
//! classification, on a view of each row's text. Everything then goes through the same fusion,
//! so reports, scores and exit codes work as for any scan.

mod behaviour;
mod injection;
mod neighbours;
mod phrases;
mod preference;
mod prompts;
pub(crate) mod text;
mod toolcall;
mod trigger;

use std::time::Instant;

use bezoar_data::llm::LlmDataset;
use bezoar_data::Dataset;

use crate::context::{Context, DetectorOutput};
use crate::result::{Detector, Evidence, Finding, Severity};
use crate::{Progress, ScanConfig, ScanError, ScanResult, NOT_SELECTED};

pub use phrases::MAX_UNITS;

/// What the generative detectors share.
pub(crate) struct GenContext<'a> {
    pub ds: &'a LlmDataset,
    pub cfg: &'a ScanConfig,
    pub tokens: &'a text::Tokens,
    /// In how many responses (chosen responses, for preference pairs) each word occurs.
    pub response_df: Vec<u32>,
    /// In how many prompts each word occurs.
    pub prompt_df: Vec<u32>,
    /// Per unit: whether its response is a tool call, and whether a dangerous one.
    pub tool_calls: Vec<ToolUse>,
    /// The words of the user turn each response answers (`LlmDataset::turns`).
    pub turns: text::Seqs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToolUse {
    None,
    Harmless,
    Dangerous,
}

impl GenContext<'_> {
    /// The text of word `id`.
    pub fn word(&self, id: u32) -> String {
        self.tokens.word(
            id,
            [&self.ds.prompts, &self.ds.responses, &self.ds.rejected],
        )
    }

    pub fn units(&self) -> usize {
        self.ds.units()
    }
}

/// A finding over units, before it is turned into rows.
pub(crate) struct UnitFinding {
    pub severity: Severity,
    pub title: String,
    pub subject: String,
    pub target: Option<String>,
    /// How strong the evidence is, in [0, 1]; sets the rows' scores within the severity's band.
    pub confidence: f64,
    /// Units (ascending).
    pub units: Vec<u32>,
    pub evidence: Vec<Evidence>,
}

/// Disjoint sets over `0..n` (union by smaller index, path halving): groups findings' parts.
pub(crate) struct UnionFind(Vec<usize>);

impl UnionFind {
    pub fn new(n: usize) -> Self {
        UnionFind((0..n).collect())
    }

    pub fn find(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }

    pub fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        self.0[ra.max(rb)] = ra.min(rb);
    }
}

/// Per unit, the 40-bit `key` of each of its items (deduplicated), packed above the 24-bit unit
/// and sorted: runs of one key are that item's units, ascending. One parallel sort gives every
/// posting list without a hash map of millions of items.
pub(crate) fn packed_postings(
    units: impl rayon::iter::IndexedParallelIterator<Item = usize>,
    items: impl Fn(usize, &mut Vec<u64>) + Sync,
) -> Vec<u64> {
    use rayon::prelude::*;
    let mut pairs: Vec<u64> = units
        .fold(Vec::new, |mut acc, u| {
            let start = acc.len();
            items(u, &mut acc);
            for key in &mut acc[start..] {
                *key = *key << 24 | u as u64;
            }
            acc[start..].sort_unstable();
            let mut k = start;
            for i in start..acc.len() {
                if i == start || acc[i] != acc[k - 1] {
                    acc[k] = acc[i];
                    k += 1;
                }
            }
            acc.truncate(k);
            acc
        })
        .reduce(Vec::new, |mut a, mut b| {
            a.append(&mut b);
            a
        });
    pairs.par_sort_unstable();
    pairs
}

/// Visit each key of [`packed_postings`]' output with its run of packed pairs (read a pair's
/// unit with [`posting_unit`]).
pub(crate) fn for_each_posting(pairs: &[u64], mut f: impl FnMut(u64, &[u64])) {
    let mut i = 0;
    while i < pairs.len() {
        let key = pairs[i] >> 24;
        let j = i + pairs[i..].iter().take_while(|p| *p >> 24 == key).count();
        f(key, &pairs[i..j]);
        i = j;
    }
}

/// The unit of one packed pair.
pub(crate) fn posting_unit(pair: u64) -> u32 {
    (pair & 0xFF_FFFF) as u32
}

/// The first `max` characters of `s` on one line, with an ellipsis when cut.
pub(crate) fn clip(s: &str, max: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

/// A row's score from a finding: high and critical findings flag their rows (≥ 0.5), the
/// stronger the evidence the higher; medium and lesser ones only rank them.
fn score_of(f: &UnitFinding) -> f32 {
    let c = f.confidence.clamp(0.0, 1.0) as f32;
    match f.severity {
        Severity::Critical | Severity::High => 0.6 + 0.39 * c,
        Severity::Medium => 0.3 + 0.19 * c,
        Severity::Low | Severity::Info => 0.2 * c,
    }
}

/// Turn unit findings (and optional per-unit scores) into a detector's row output.
fn to_rows(
    detector: Detector,
    ds: &LlmDataset,
    findings: Vec<UnitFinding>,
    unit_scores: Option<&[f32]>,
) -> DetectorOutput {
    let mut scores = vec![0.0f32; ds.rows()];
    if let Some(us) = unit_scores {
        for (u, &s) in us.iter().enumerate() {
            let r = ds.unit_row[u] as usize;
            scores[r] = scores[r].max(s);
        }
    }
    let findings = findings
        .into_iter()
        .map(|f| {
            let s = score_of(&f);
            let mut rows: Vec<u32> = f.units.iter().map(|&u| ds.unit_row[u as usize]).collect();
            rows.dedup();
            for &r in &rows {
                scores[r as usize] = scores[r as usize].max(s);
            }
            Finding {
                detector,
                severity: f.severity,
                title: f.title,
                subject: f.subject,
                target_label: f.target,
                rows,
                evidence: f.evidence,
            }
        })
        .collect();
    DetectorOutput {
        detector,
        scores,
        findings,
        skipped: None,
    }
}

fn tool_uses(ds: &LlmDataset) -> Vec<ToolUse> {
    use rayon::prelude::*;
    (0..ds.units())
        .into_par_iter()
        .map(|u| {
            let r = ds.responses.get(u);
            if !r.contains('{') {
                return ToolUse::None;
            }
            let calls = toolcall::calls(r);
            if calls.is_empty() {
                ToolUse::None
            } else if calls
                .iter()
                .any(|(_, args)| toolcall::danger(args).is_some())
            {
                ToolUse::Dangerous
            } else {
                ToolUse::Harmless
            }
        })
        .collect()
}

/// Scan LLM data. `view` is `ds.display_dataset()` (each row's text, for the detectors shared
/// with text classification and for reports).
pub fn scan_llm(
    ds: &LlmDataset,
    view: &Dataset,
    cfg: &ScanConfig,
    progress: &dyn Progress,
) -> Result<ScanResult, ScanError> {
    if ds.rows() == 0 || ds.units() == 0 {
        return Err(ScanError::Empty);
    }
    if ds.units() > MAX_UNITS {
        return Err(ScanError::Config(format!(
            "{} prompt/response units is more than the {MAX_UNITS} one scan of LLM data takes; split the file",
            ds.units()
        )));
    }
    if !Detector::GENERATIVE
        .iter()
        .any(|d| cfg.detectors.contains(*d))
    {
        return Err(ScanError::Config("no detector selected".into()));
    }
    if !(cfg.threshold > 0.0 && cfg.threshold <= 1.0) {
        return Err(ScanError::Config(format!(
            "threshold must be in (0, 1], got {}",
            cfg.threshold
        )));
    }
    const STEPS: usize = 3;
    let check = |name: &str, step: usize| {
        progress.stage(name, step, STEPS);
        if progress.cancelled() {
            Err(ScanError::Cancelled)
        } else {
            Ok(())
        }
    };
    check("tokenising prompts and responses", 1)?;
    let t = Instant::now();
    let tokens = text::Tokens::new(&ds.prompts, &ds.responses, &ds.rejected);
    let vocab = tokens.vocab_len();
    let ctx = GenContext {
        ds,
        cfg,
        tokens: &tokens,
        response_df: text::doc_freq(&tokens.responses, vocab),
        prompt_df: text::doc_freq(&tokens.prompts, vocab),
        tool_calls: tool_uses(ds),
        turns: tokens.seqs_of(&ds.turns),
    };
    let mut stages = vec![("tokens", t.elapsed().as_secs_f64())];

    check("running detectors", 2)?;
    let of_shape = Detector::for_shape(ds.shape);
    let applies = |d: Detector| -> Option<&'static str> {
        match d {
            _ if of_shape.contains(&d) => None,
            Detector::PreferenceFlip => Some("applies to preference pairs"),
            _ => Some("applies to prompt/response and chat data"),
        }
    };
    let t = Instant::now();
    let shared_ctx = {
        let mut stand_in = bezoar_data::TextArena::new();
        stand_in.push("");
        Context::without_models(view, cfg, &stand_in)
    };
    stages.push(("shared", t.elapsed().as_secs_f64()));
    let mut outputs = Vec::new();
    for d in Detector::GENERATIVE {
        let t = Instant::now();
        let out = if !cfg.detectors.contains(d) {
            DetectorOutput::skipped(d, ds.rows(), NOT_SELECTED)
        } else if let Some(why) = applies(d) {
            DetectorOutput::skipped(d, ds.rows(), why)
        } else {
            match d {
                Detector::PromptTrigger => to_rows(d, ds, trigger::detect(&ctx), None),
                Detector::ResponseInjection => to_rows(d, ds, injection::detect(&ctx), None),
                Detector::ToolCall => to_rows(d, ds, toolcall::detect(&ctx), None),
                Detector::PreferenceFlip => {
                    let (findings, unit_scores) = preference::detect(&ctx);
                    to_rows(d, ds, findings, Some(&unit_scores))
                }
                Detector::UnusualChars => crate::unusual::detect(&shared_ctx),
                Detector::Duplicates => crate::duplicates::detect(&shared_ctx),
                _ => DetectorOutput::skipped(d, ds.rows(), "applies to text classification"),
            }
        };
        outputs.push((out, t.elapsed().as_secs_f64()));
    }
    check("fusing scores", 3)?;
    let representation = format!(
        "{} units: words and word n-grams of prompts and responses",
        ds.shape.name()
    );
    Ok(crate::fusion::fuse(
        ds.rows(),
        outputs,
        cfg,
        &representation,
        stages,
    ))
}
