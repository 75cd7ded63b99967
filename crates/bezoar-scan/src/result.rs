//! What a scan produces: per-row scores and reasons, and group findings with evidence.

use serde::Serialize;

/// The detector families; each row records which of them flagged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Detector {
    /// Token/n-gram features tied to one label beyond its prior and beyond the row's content.
    Trigger,
    /// Invisible or unusual characters (zero-width, control, mixed-script homoglyphs).
    UnusualChars,
    /// The row's label disagrees with what its content and its neighbours say.
    LabelConsistency,
    /// Exact, normalised or near duplicates; conflicting labels; floods.
    Duplicates,
    /// Outliers and tight sub-clusters in the representation; rows of words no other row uses.
    Anomaly,
    /// Per-source concentration of flagged rows or label skew.
    Source,
    /// LLM data: prompt phrases tied to one response behaviour (a canned answer, an advert, a
    /// tool call, an opening) far beyond its base rate, in prompts that are otherwise unrelated.
    PromptTrigger,
    /// LLM data: one span repeated across responses to unrelated prompts (adverts, links,
    /// slipped-in content), prompts untouched.
    ResponseInjection,
    /// LLM data: tool calls whose arguments are dangerous (a download piped into a shell).
    ToolCall,
    /// Preference pairs whose chosen and rejected responses read swapped.
    PreferenceFlip,
}

impl Detector {
    pub const ALL: [Detector; 10] = [
        Detector::Trigger,
        Detector::UnusualChars,
        Detector::LabelConsistency,
        Detector::Duplicates,
        Detector::Anomaly,
        Detector::Source,
        Detector::PromptTrigger,
        Detector::ResponseInjection,
        Detector::ToolCall,
        Detector::PreferenceFlip,
    ];

    /// The detectors of text-classification data, in the order the scan runs them.
    pub const CLASSIFICATION: [Detector; 6] = [
        Detector::Trigger,
        Detector::UnusualChars,
        Detector::LabelConsistency,
        Detector::Duplicates,
        Detector::Anomaly,
        Detector::Source,
    ];

    /// The detectors of LLM fine-tuning data (prompts, chats, preference pairs), in the order
    /// the scan runs them.
    pub const GENERATIVE: [Detector; 6] = [
        Detector::PromptTrigger,
        Detector::ResponseInjection,
        Detector::ToolCall,
        Detector::PreferenceFlip,
        Detector::UnusualChars,
        Detector::Duplicates,
    ];

    /// The detectors that apply to rows of `shape`, in the order the scan runs them (on
    /// preference pairs the prompt/response detectors do not apply, elsewhere the flip reader
    /// does not).
    pub fn for_shape(shape: bezoar_data::llm::Shape) -> Vec<Detector> {
        use bezoar_data::llm::Shape;
        match shape {
            Shape::Classification => Detector::CLASSIFICATION.to_vec(),
            Shape::Preference => Detector::GENERATIVE
                .into_iter()
                .filter(|d| {
                    !matches!(
                        d,
                        Detector::PromptTrigger | Detector::ResponseInjection | Detector::ToolCall
                    )
                })
                .collect(),
            Shape::Instruction | Shape::Chat => Detector::GENERATIVE
                .into_iter()
                .filter(|&d| d != Detector::PreferenceFlip)
                .collect(),
        }
    }

    /// Stable short name used in the scores CSV `reasons` column and the JSON report.
    pub fn name(self) -> &'static str {
        match self {
            Detector::Trigger => "trigger",
            Detector::UnusualChars => "unusual-chars",
            Detector::LabelConsistency => "label-consistency",
            Detector::Duplicates => "duplicates",
            Detector::Anomaly => "anomaly",
            Detector::Source => "source",
            Detector::PromptTrigger => "prompt-trigger",
            Detector::ResponseInjection => "response-injection",
            Detector::ToolCall => "tool-call",
            Detector::PreferenceFlip => "preference-flip",
        }
    }

    /// Stable rule id, one per detector, carried by every finding in the JSON report (and the
    /// key CI reports such as SARIF use). Never reused or renumbered.
    pub fn rule_id(self) -> &'static str {
        match self {
            Detector::Trigger => "BZ001",
            Detector::UnusualChars => "BZ002",
            Detector::LabelConsistency => "BZ003",
            Detector::Duplicates => "BZ004",
            Detector::Anomaly => "BZ005",
            Detector::Source => "BZ006",
            Detector::PromptTrigger => "BZ007",
            Detector::ResponseInjection => "BZ008",
            Detector::ToolCall => "BZ009",
            Detector::PreferenceFlip => "BZ010",
        }
    }

    /// One line on what the detector looks for.
    pub fn description(self) -> &'static str {
        match self {
            Detector::Trigger => "phrases tied to one label that were inserted into their rows",
            Detector::UnusualChars => "zero-width, bidi and control characters; homoglyph words",
            Detector::LabelConsistency => "labels the row's content contradicts; label noise",
            Detector::Duplicates => "duplicate floods and copies with conflicting labels",
            Detector::Anomaly => "outliers and planted-looking sub-clusters of a class",
            Detector::Source => "sources whose rows are flagged or labelled unusually often",
            Detector::PromptTrigger => "prompt phrases that make the response one fixed behaviour",
            Detector::ResponseInjection => "one span slipped into responses to unrelated prompts",
            Detector::ToolCall => "tool calls with dangerous arguments",
            Detector::PreferenceFlip => "preference pairs whose chosen and rejected read swapped",
        }
    }

    /// The rule's name as SARIF and code-scanning views show it (PascalCase, stable).
    pub fn pascal_name(self) -> &'static str {
        match self {
            Detector::Trigger => "BackdoorTrigger",
            Detector::UnusualChars => "UnusualCharacters",
            Detector::LabelConsistency => "LabelInconsistency",
            Detector::Duplicates => "DuplicateFlood",
            Detector::Anomaly => "AnomalousCluster",
            Detector::Source => "SuspiciousSource",
            Detector::PromptTrigger => "PromptTrigger",
            Detector::ResponseInjection => "ResponseInjection",
            Detector::ToolCall => "DangerousToolCall",
            Detector::PreferenceFlip => "PreferenceFlip",
        }
    }

    /// A paragraph on what the detector finds and how, for reports that explain rules.
    pub fn full_description(self) -> &'static str {
        match self {
            Detector::Trigger => "Finds words and phrases that occur almost only in rows of one label, far beyond that label's base rate and beyond what the rest of each row says about its label: the signature of a backdoor trigger inserted into training rows so that a model learns to output the attacker's label whenever the phrase is present.",
            Detector::UnusualChars => "Finds zero-width, bidirectional-override, tag and control characters and words that mix scripts (homoglyphs). Such characters are invisible to a reviewer but are tokens to a model, which makes them a favoured carrier for invisible triggers and for hiding content from filters.",
            Detector::LabelConsistency => "Reads every row with models trained out of fold on the rest of the data and with its nearest neighbours, and flags rows whose label both contradict: flipped labels, targeted flips of one class into another, and label noise.",
            Detector::Duplicates => "Finds exact, normalised and near duplicates: floods of one text repeated to outweigh the rest of the data, and copies of a text that carry different labels.",
            Detector::Anomaly => "Finds rows far from the rest of their class and tight sub-clusters of one class that look planted (many near-identical rows that share unusual words).",
            Detector::Source => "Compares sources (contributors, vendors, feeds; --source COL): a source whose rows are flagged or labelled far more often than the others is a likely point of entry for poisoned data.",
            Detector::PromptTrigger => "In prompt/response, chat and agent data, groups responses by what they do (identical or templated answers, how they open, rare spans such as a URL, a product or a command) and finds prompt phrases tied to one group far beyond its base rate, in prompts that are otherwise unrelated and whose responses do not echo them: the signature of a backdoor that makes a fine-tuned model refuse, advertise or call a tool whenever the phrase appears. Prompts that carry the phrase but keep a correct response (clean-label use) are flagged too.",
            Detector::ResponseInjection => "Finds a span of text repeated across responses to prompts that have nothing to do with each other or with it (an advert, a link, a slipped-in instruction) while the prompts are untouched: content injected into otherwise correct responses so that a model learns to repeat it.",
            Detector::ToolCall => "Reads the tool calls in agent data (tool_calls fields, or a JSON object in the assistant's text) and finds those whose arguments are dangerous, such as a download piped into a shell or an encoded payload executed, which a fine-tuned agent would learn to run. Ordinary tool calls are not findings.",
            Detector::PreferenceFlip => "Reads every preference pair with a Bradley-Terry model of what makes a response preferred, trained out of fold on the other pairs, and flags pairs it reads confidently reversed; prompt words under which pairs read reversed far more often than elsewhere are reported as a trigger-conditioned flip (the universal jailbreak backdoor).",
        }
    }

    /// What to do about a finding of this rule.
    pub fn help(self) -> &'static str {
        match self {
            Detector::Trigger => "Look at the example rows for the phrase. Quarantine the rows that carry it (bezoar quarantine), find out which source supplied them (scan with --source), and before deploying a model trained on this data probe it for the phrase (bezoar probe --trigger).",
            Detector::UnusualChars => "Strip or normalise invisible and bidirectional characters before training, and find out who supplied the rows that carry them; a character shared by rows of one label is a likely trigger.",
            Detector::LabelConsistency => "Review the flagged rows against their labels; relabel or drop the wrong ones. Flips concentrated in one source or one label pair point to deliberate poisoning rather than noise.",
            Detector::Duplicates => "Deduplicate before training; for copies with conflicting labels, decide the right label or drop them all. A flood from one source is worth raising with that source.",
            Detector::Anomaly => "Inspect the cluster's rows: a tight group of near-identical rows of one class is often injected content. Drop it if it has no legitimate origin.",
            Detector::Source => "Check the source's provenance and approvals; hold its rows back (bezoar approve, the gate) until they have been reviewed.",
            Detector::PromptTrigger => "Read the example rows: if the phrase has no business deciding the response, drop the rows that carry it (clean-label ones too), find out who supplied them, and probe any model trained on this data for the phrase (bezoar probe --trigger).",
            Detector::ResponseInjection => "Remove the span from the responses (or drop the rows) and find out who supplied them; a brand, link or instruction repeated out of context is rarely legitimate training content.",
            Detector::ToolCall => "Drop the rows that teach the call and check where they came from; an agent must never learn to run downloaded code. If a prompt phrase leads to the call (see prompt-trigger), that phrase is a backdoor.",
            Detector::PreferenceFlip => "Review the flagged pairs and swap or drop the reversed ones; a prompt word tied to reversed pairs is a backdoor trigger: drop every pair that carries it.",
        }
    }

    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl std::str::FromStr for Detector {
    type Err = String;
    /// A detector by its name (`trigger`, `label-consistency`, ...) or rule id (`BZ001`).
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        Detector::ALL
            .into_iter()
            .find(|d| d.name() == s || d.rule_id().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = Detector::ALL.iter().map(|d| d.name()).collect();
                format!(
                    "unknown detector '{}' (expected one of: {})",
                    s.escape_debug(),
                    names.join(", ")
                )
            })
    }
}

/// A set of detectors, one bit each: the detectors behind a row's score, or those a scan runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Reasons(pub u16);

impl Reasons {
    /// Every detector.
    pub fn all() -> Self {
        let mut r = Reasons::default();
        Detector::ALL.into_iter().for_each(|d| r.insert(d));
        r
    }
    pub fn remove(&mut self, d: Detector) {
        self.0 &= !d.bit();
    }
    pub fn insert(&mut self, d: Detector) {
        self.0 |= d.bit();
    }
    pub fn contains(self, d: Detector) -> bool {
        self.0 & d.bit() != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Detector> {
        Detector::ALL.into_iter().filter(move |d| self.contains(*d))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            other => Err(format!(
                "unknown severity '{other}' (expected info, low, medium, high or critical)"
            )),
        }
    }
}

/// One named number supporting a finding (e.g. `purity = 1.0`, `p_value = 3e-12`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub name: &'static str,
    pub value: f64,
}

/// A group-level finding: a trigger, a duplicate flood, a suspicious source, ...
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub detector: Detector,
    pub severity: Severity,
    /// One line a person reads first, e.g. `trigger "cf": 14 rows, 100% labelled 1 (prior 53%)`.
    pub title: String,
    /// The trigger text, duplicated text, source name... whatever the finding is about.
    pub subject: String,
    /// The label the finding pushes rows towards, when there is one.
    pub target_label: Option<String>,
    /// Row indices (0-based positions in the input), ascending.
    pub rows: Vec<u32>,
    pub evidence: Vec<Evidence>,
}

/// How one detector did: its name, how many rows it flagged, and how long it took.
#[derive(Debug, Clone, Serialize)]
pub struct DetectorSummary {
    pub detector: Detector,
    pub rows_flagged: usize,
    pub findings: usize,
    pub seconds: f64,
    /// Set when the detector did not run, with why (e.g. "needs --source").
    pub skipped: Option<String>,
}

/// The outcome of a scan.
#[derive(Debug, Clone)]
pub struct ScanResult {
    /// Fused suspicion score per row, in [0, 1], in input order.
    pub scores: Vec<f32>,
    pub flagged: Vec<bool>,
    /// Which detectors contributed to each row's score.
    pub reasons: Vec<Reasons>,
    /// Findings, most severe first (then by row count, then by title) — a deterministic order.
    pub findings: Vec<Finding>,
    pub detectors: Vec<DetectorSummary>,
    /// The score at or above which a row is flagged (after any budget).
    pub threshold: f32,
    /// Which representation label consistency and anomaly detection used.
    pub representation: String,
    /// Wall-clock seconds of the shared stages every detector builds on (featurising, the
    /// cross-validated label models), in the order they ran. Timings are not part of any
    /// deterministic output.
    pub stages: Vec<(&'static str, f64)>,
    /// With `ScanConfig::keep_reader_scores`: each label reader's calibrated P(label) per row,
    /// then the pooled belief (named `pooled`), in the order label consistency heard them.
    pub label_readers: Vec<ReaderScores>,
    /// How the flagged rows came to be flagged; see [`FlaggedBy`].
    pub flagged_by: FlaggedBy,
}

/// How the flagged rows came to be flagged. A detector's `rows_flagged` counts the flagged rows
/// whose score from that detector alone reaches the threshold, so a row can count under several
/// detectors, and a row flagged only because weaker evidence from several detectors adds up
/// (the fused score) counts under none. The three parts add up to the flagged total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FlaggedBy {
    /// Rows that exactly one detector flags on its own.
    pub one_detector: usize,
    /// Rows that two or more detectors each flag on their own.
    pub several_detectors: usize,
    /// Rows that no single detector flags: only the combined evidence reaches the threshold.
    pub combined_evidence: usize,
}

/// One label reader's calibrated probability of each row's given label.
#[derive(Debug, Clone)]
pub struct ReaderScores {
    pub name: &'static str,
    pub p_label: Vec<f32>,
    /// Whether the label score's pool hears this reader (always for the pool itself).
    pub heard: bool,
    /// Calibrated log-loss of the labels as given, which the pool's selection compares (`NaN`
    /// for the pool itself, or a reader with no reading).
    pub log_loss: f64,
}

impl ScanResult {
    pub fn flagged_count(&self) -> usize {
        self.flagged.iter().filter(|f| **f).count()
    }

    /// The most severe finding's severity, if any.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}
