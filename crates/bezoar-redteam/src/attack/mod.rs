//! Poisoning attacks: each takes the dataset's text/label/id view and returns an edit plan (which
//! rows are changed or added, and how) plus the ground truth for every output row.
//!
//! One module per attack family: [`trigger`] (badnets, addsent, invisible: a backdoor trigger
//! inserted into rows), [`flip`] (label flipping), [`added`] (duplicate floods and junk, which add
//! new rows). The plan is format-free; `table` applies it to the original file so every column is
//! kept.
//!
//! Conventions every attack follows:
//! - Every random choice comes from a [`SplitMix64`] seeded with `seed`, so the same dataset,
//!   attack and seed give the same plan.
//! - Rows an attack edits keep their position and id. Rows an attack adds are appended after all
//!   original rows (so 0-based row-number ids of the original rows do not move) and get fresh ids
//!   (see [`FreshIds`]).
//! - Counts come from [`Rate::count`]: `round(rate × n)`, at least 1.

mod added;
mod flip;
mod ids;
mod trigger;

use std::fmt;

use bezoar_data::{Categorical, Dataset, RowIds, TextArena};

use crate::error::RedteamError;
use crate::rate::Rate;
use crate::truth::TruthRow;
use bezoar_scan::rng::SplitMix64;

pub use ids::FreshIds;
pub use trigger::{insert_word_at_slot, DEFAULT_SENTENCE, HOMOGLYPHS, ZERO_WIDTH};

/// How the invisible attack hides its trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvisibleStyle {
    /// A fixed sequence of zero-width characters (U+200B, U+200C, U+200D, U+2060) glued to the
    /// start of a random word.
    ZeroWidth,
    /// Every Latin letter of one random word that has a Cyrillic look-alike is replaced by it.
    Homoglyph,
}

/// An attack and its settings.
#[derive(Debug, Clone, PartialEq)]
pub enum Attack {
    /// Rare-token triggers (`triggers`, or generated ones) inserted at a random word position.
    BadNets {
        triggers: Option<Vec<String>>,
        clean_label: bool,
    },
    /// A trigger sentence inserted at a random word position.
    AddSent {
        sentence: Option<String>,
        clean_label: bool,
    },
    /// Zero-width or homoglyph characters as the trigger.
    Invisible {
        style: InvisibleStyle,
        clean_label: bool,
    },
    /// Random flips, or flips of a fraction of class `from` (to `to`).
    LabelFlip {
        from: Option<String>,
        to: Option<String>,
    },
    /// Near-copies of `sources` rows, labelled with the target, added as new rows.
    DuplicateFlood { sources: usize },
    /// Out-of-distribution rows of random tokens with random labels, added as new rows.
    Junk,
}

impl Attack {
    /// The attack's name, as `--attack` takes it and the truth file's `attack` column writes it.
    pub fn name(&self) -> &'static str {
        match self {
            Attack::BadNets { .. } => "badnets",
            Attack::AddSent { .. } => "addsent",
            Attack::Invisible { .. } => "invisible",
            Attack::LabelFlip { .. } => "label-flip",
            Attack::DuplicateFlood { .. } => "duplicate-flood",
            Attack::Junk => "junk",
        }
    }

    /// The attack with its default settings, by name.
    pub fn from_name(name: &str) -> Option<Attack> {
        Some(match name {
            "badnets" => Attack::BadNets {
                triggers: None,
                clean_label: false,
            },
            "addsent" => Attack::AddSent {
                sentence: None,
                clean_label: false,
            },
            "invisible" => Attack::Invisible {
                style: InvisibleStyle::ZeroWidth,
                clean_label: false,
            },
            "label-flip" => Attack::LabelFlip {
                from: None,
                to: None,
            },
            "duplicate-flood" => Attack::DuplicateFlood {
                sources: DEFAULT_FLOOD_SOURCES,
            },
            "junk" => Attack::Junk,
            _ => return None,
        })
    }

    /// Every attack name, in the order `bench` runs them.
    pub const NAMES: [&'static str; 6] = [
        "badnets",
        "addsent",
        "invisible",
        "label-flip",
        "duplicate-flood",
        "junk",
    ];

    /// Whether the attack uses a target label (`--target`).
    pub fn uses_target(&self) -> bool {
        !matches!(self, Attack::LabelFlip { .. } | Attack::Junk)
    }
}

/// How many rows a duplicate flood copies by default.
pub const DEFAULT_FLOOD_SOURCES: usize = 3;

/// The truth file's `kind` of a poisoned row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoisonKind {
    /// The row carries a trigger (or is a copy) and its label was set to the target.
    DirtyLabel,
    /// The row carries a trigger and was already in the target class.
    CleanLabel,
    /// Only the label changed.
    LabelFlip,
    /// A junk row that degrades the model as a whole rather than steering it.
    Availability,
}

impl PoisonKind {
    pub fn name(self) -> &'static str {
        match self {
            PoisonKind::DirtyLabel => "dirty-label",
            PoisonKind::CleanLabel => "clean-label",
            PoisonKind::LabelFlip => "label-flip",
            PoisonKind::Availability => "availability",
        }
    }
}

impl fmt::Display for PoisonKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An injection request.
#[derive(Debug, Clone)]
pub struct InjectConfig {
    pub attack: Attack,
    pub rate: Rate,
    /// The target label; default: the least frequent class (the first in class order on a tie).
    pub target: Option<String>,
    pub seed: u64,
}

/// One row of the output, in output order.
#[derive(Debug, Clone, PartialEq)]
pub struct OutRow {
    /// The input row this one is (for an added row: the row whose other columns it copies).
    pub source: usize,
    /// The output row's id (a fresh one for added rows).
    pub id: String,
    /// Whether the row is new (duplicate-flood, junk).
    pub added: bool,
    /// The new text, when the attack changed it.
    pub text: Option<String>,
    /// The new class index, when the attack changed it.
    pub label: Option<u32>,
    /// Set on poisoned rows.
    pub poison: Option<PoisonKind>,
}

/// The result of an injection: the output rows and a description for people.
#[derive(Debug, Clone)]
pub struct Injection {
    pub attack: &'static str,
    pub rows: Vec<OutRow>,
    /// The target label, for attacks that use one.
    pub target: Option<String>,
    /// The trigger(s) in words, e.g. `tokens "qz", "vkj"`; `None` when there is none.
    pub trigger: Option<String>,
}

impl Injection {
    /// How many output rows are poisoned.
    pub fn poisoned(&self) -> usize {
        self.rows.iter().filter(|r| r.poison.is_some()).count()
    }

    /// How many rows were added.
    pub fn added(&self) -> usize {
        self.rows.iter().filter(|r| r.added).count()
    }

    /// The truth file rows: one per output row, in output order.
    pub fn truth(&self) -> Vec<TruthRow> {
        self.rows
            .iter()
            .map(|r| TruthRow {
                id: r.id.clone(),
                poisoned: r.poison.is_some(),
                kind: r.poison.map(|k| k.name().to_string()).unwrap_or_default(),
                attack: if r.poison.is_some() {
                    self.attack.to_string()
                } else {
                    String::new()
                },
            })
            .collect()
    }

    /// The poisoned dataset in memory, for scanning without writing a file (bench). Ids follow
    /// the input: an id column stays a column (with fresh ids for added rows); row numbers stay
    /// row numbers (added rows are appended, so theirs continue the count).
    pub fn to_dataset(&self, ds: &Dataset) -> Dataset {
        let mut texts = TextArena::new();
        let mut codes = Vec::with_capacity(self.rows.len());
        let mut id_arena = TextArena::new();
        for r in &self.rows {
            texts.push(r.text.as_deref().unwrap_or_else(|| ds.texts.get(r.source)));
            codes.push(r.label.unwrap_or(ds.labels.codes[r.source]));
            id_arena.push(&r.id);
        }
        let ids = match ds.ids {
            RowIds::RowNumbers(_) => RowIds::RowNumbers(self.rows.len()),
            RowIds::Column(_) => RowIds::Column(id_arena),
        };
        let pick = |c: &Categorical| Categorical {
            codes: self.rows.iter().map(|r| c.codes[r.source]).collect(),
            names: c.names.clone(),
        };
        let embeddings = ds.embeddings.as_ref().map(|e| bezoar_data::Embeddings {
            dim: e.dim,
            values: self
                .rows
                .iter()
                .flat_map(|r| e.row(r.source).iter().copied())
                .collect(),
        });
        Dataset {
            ids,
            texts,
            labels: Categorical {
                codes,
                names: ds.labels.names.clone(),
            },
            sources: ds.sources.as_ref().map(pick),
            embeddings,
            columns: ds.columns.clone(),
            skipped: ds.skipped.clone(),
            lines: Vec::new(),
        }
    }
}

/// Poison `ds` as `cfg` asks. Fails (never panics) when the request cannot be met: an unknown
/// label, a rate that needs more eligible rows than there are, settings that contradict.
pub fn inject(ds: &Dataset, cfg: &InjectConfig) -> Result<Injection, RedteamError> {
    if ds.is_empty() {
        return Err(RedteamError::Config("the dataset has no rows".into()));
    }
    if !cfg.attack.uses_target() && cfg.target.is_some() {
        return Err(RedteamError::Config(format!(
            "--target does not apply to {}{}",
            cfg.attack.name(),
            if matches!(cfg.attack, Attack::LabelFlip { .. }) {
                "; use --from/--to for targeted flips"
            } else {
                ""
            }
        )));
    }
    let mut plan = Plan::new(ds);
    let target = if cfg.attack.uses_target() {
        Some(resolve_target(ds, cfg.target.as_deref())?)
    } else {
        None
    };
    let mut rng = SplitMix64::new(cfg.seed);
    let trigger = match &cfg.attack {
        Attack::BadNets {
            triggers,
            clean_label,
        } => trigger::badnets(
            &mut plan,
            triggers.as_deref(),
            *clean_label,
            target.unwrap_or(0),
            cfg.rate,
            &mut rng,
        )?,
        Attack::AddSent {
            sentence,
            clean_label,
        } => trigger::addsent(
            &mut plan,
            sentence.as_deref(),
            *clean_label,
            target.unwrap_or(0),
            cfg.rate,
            &mut rng,
        )?,
        Attack::Invisible { style, clean_label } => trigger::invisible(
            &mut plan,
            *style,
            *clean_label,
            target.unwrap_or(0),
            cfg.rate,
            &mut rng,
        )?,
        Attack::LabelFlip { from, to } => {
            let from = from.as_deref().map(|l| label_index(ds, l)).transpose()?;
            let to = to.as_deref().map(|l| label_index(ds, l)).transpose()?;
            flip::label_flip(&mut plan, from, to, cfg.rate, &mut rng)?
        }
        Attack::DuplicateFlood { sources } => {
            added::duplicate_flood(&mut plan, *sources, target.unwrap_or(0), cfg.rate, &mut rng)?
        }
        Attack::Junk => added::junk(&mut plan, cfg.rate, &mut rng)?,
    };
    Ok(Injection {
        attack: cfg.attack.name(),
        rows: plan.rows,
        target: target.map(|t| ds.labels.names[t as usize].clone()),
        trigger,
    })
}

/// The class index of label `name`, or an error listing the labels.
pub fn label_index(ds: &Dataset, name: &str) -> Result<u32, RedteamError> {
    let name = name.trim();
    ds.labels
        .names
        .iter()
        .position(|n| n == name)
        .map(|i| i as u32)
        .ok_or_else(|| {
            RedteamError::Config(format!(
                "unknown label '{name}'; the dataset's labels are: {}",
                ds.labels.names.join(", ")
            ))
        })
}

/// The target class: the named one, else the least frequent (first in class order on a tie) —
/// the class an attacker most plausibly wants more of, and the one with most rows to poison.
fn resolve_target(ds: &Dataset, name: Option<&str>) -> Result<u32, RedteamError> {
    match name {
        Some(n) => label_index(ds, n),
        None => {
            let counts = ds.labels.counts();
            let min = counts.iter().copied().min().unwrap_or(0);
            Ok(counts.iter().position(|&c| c == min).unwrap_or(0) as u32)
        }
    }
}

/// The plan under construction: one [`OutRow`] per input row, plus added rows.
pub(crate) struct Plan<'a> {
    pub ds: &'a Dataset,
    pub rows: Vec<OutRow>,
    pub fresh: FreshIds,
}

impl<'a> Plan<'a> {
    fn new(ds: &'a Dataset) -> Self {
        let rows = (0..ds.len())
            .map(|i| OutRow {
                source: i,
                id: ds.ids.get(i).into_owned(),
                added: false,
                text: None,
                label: None,
                poison: None,
            })
            .collect();
        Plan {
            ds,
            rows,
            fresh: FreshIds::new(&ds.ids),
        }
    }

    pub fn n(&self) -> usize {
        self.ds.len()
    }

    pub fn label(&self, row: usize) -> u32 {
        self.ds.labels.codes[row]
    }

    pub fn text(&self, row: usize) -> &'a str {
        self.ds.texts.get(row)
    }

    /// Input rows whose label satisfies `keep`.
    pub fn rows_where(&self, keep: impl Fn(u32) -> bool) -> Vec<usize> {
        (0..self.n()).filter(|&i| keep(self.label(i))).collect()
    }

    /// Append a new row copying the other columns of `source`.
    pub fn add(&mut self, source: usize, text: String, label: u32, kind: PoisonKind) {
        let id = self.fresh.next(self.rows.len());
        self.rows.push(OutRow {
            source,
            id,
            added: true,
            text: Some(text),
            label: Some(label),
            poison: Some(kind),
        });
    }

    pub fn label_name(&self, class: u32) -> &str {
        &self.ds.labels.names[class as usize]
    }
}

/// The error for a rate that needs more rows than are eligible.
pub(crate) fn too_few(
    what: &str,
    needed: usize,
    eligible: usize,
    rate: Rate,
    base: usize,
) -> RedteamError {
    RedteamError::Config(format!(
        "rate {rate} of {base} rows needs {needed} {what}, but the dataset has only {eligible}; \
         lower --rate"
    ))
}

#[cfg(test)]
pub(crate) mod testutil {
    use bezoar_data::{Categorical, Dataset, ResolvedColumns, RowIds, SkipReport, TextArena};

    /// `n` rows "row i says something plain here", labels cycling over `labels` classes with
    /// class 0 getting the extra rows; ids `r0`, `r1`, … or row numbers.
    pub fn dataset(n: usize, labels: usize, with_ids: bool) -> Dataset {
        let mut texts = TextArena::new();
        let mut ids = TextArena::new();
        let mut codes = Vec::new();
        for i in 0..n {
            texts.push(&format!("row {i} says something plain here"));
            ids.push(&format!("r{i}"));
            // Class 0 gets every row except every third, so class sizes differ.
            codes.push(if i % 3 == 0 {
                (i / 3 % labels.max(1)) as u32
            } else {
                0
            });
        }
        Dataset {
            ids: if with_ids {
                RowIds::Column(ids)
            } else {
                RowIds::RowNumbers(n)
            },
            texts,
            labels: Categorical {
                codes,
                names: (0..labels).map(|l| format!("c{l}")).collect(),
            },
            sources: None,
            embeddings: None,
            columns: ResolvedColumns {
                text: "text".into(),
                label: "label".into(),
                id: with_ids.then(|| "id".into()),
                source: None,
                embedding: None,
            },
            skipped: SkipReport::default(),
            lines: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::dataset;
    use super::*;

    fn cfg(attack: &str, rate: &str) -> InjectConfig {
        InjectConfig {
            attack: Attack::from_name(attack).unwrap(),
            rate: rate.parse().unwrap(),
            target: None,
            seed: 1,
        }
    }

    #[test]
    fn every_attack_is_deterministic_and_truth_covers_every_row() {
        let ds = dataset(300, 2, true);
        for name in Attack::NAMES {
            let a = inject(&ds, &cfg(name, "2%")).unwrap();
            let b = inject(&ds, &cfg(name, "2%")).unwrap();
            assert_eq!(a.rows, b.rows, "{name} not deterministic");
            let mut other = cfg(name, "2%");
            other.seed = 2;
            assert_ne!(
                a.rows,
                inject(&ds, &other).unwrap().rows,
                "{name} ignores seed"
            );
            let truth = a.truth();
            assert_eq!(truth.len(), 300 + a.added(), "{name}");
            assert_eq!(truth.iter().filter(|t| t.poisoned).count(), 6, "{name}");
            for t in &truth {
                assert_eq!(t.poisoned, !t.kind.is_empty());
                assert_eq!(t.poisoned, t.attack == name);
            }
            // Ids are unique and original rows keep theirs, in place.
            let mut ids: Vec<&str> = truth.iter().map(|t| t.id.as_str()).collect();
            for (i, id) in ids.iter().take(300).enumerate() {
                assert_eq!(*id, format!("r{i}"));
            }
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), truth.len(), "{name}: duplicate ids");
        }
    }

    #[test]
    fn default_target_is_the_least_frequent_class() {
        let ds = dataset(300, 2, true); // class 1: rows 3, 9, 15, … (50 rows)
        let inj = inject(&ds, &cfg("badnets", "1%")).unwrap();
        assert_eq!(inj.target.as_deref(), Some("c1"));
        let mut c = cfg("badnets", "1%");
        c.target = Some("c0".into());
        assert_eq!(inject(&ds, &c).unwrap().target.as_deref(), Some("c0"));
    }

    #[test]
    fn unknown_target_lists_labels() {
        let ds = dataset(30, 2, true);
        let mut c = cfg("badnets", "10%");
        c.target = Some("nope".into());
        let e = inject(&ds, &c).unwrap_err().to_string();
        assert!(
            e.contains("unknown label 'nope'") && e.contains("c0, c1"),
            "{e}"
        );
        let mut c = cfg("junk", "10%");
        c.target = Some("c0".into());
        assert!(inject(&ds, &c).is_err());
    }

    #[test]
    fn to_dataset_matches_the_plan() {
        let ds = dataset(100, 2, false);
        let inj = inject(&ds, &cfg("duplicate-flood", "5%")).unwrap();
        let out = inj.to_dataset(&ds);
        assert_eq!(out.len(), 105);
        assert!(matches!(out.ids, RowIds::RowNumbers(105)));
        assert_eq!(out.ids.get(104), "104");
        assert_eq!(inj.rows[104].id, "104");
        let t = inj.target.as_deref().unwrap();
        assert_eq!(out.labels.name_of(104), t);
    }
}
