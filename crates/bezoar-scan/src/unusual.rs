//! Unusual characters: invisible and zero-width characters, bidirectional controls, control
//! characters, mixed-script (homoglyph) words and U+FFFD replacement characters.
//!
//! Each is rare in clean text and cheap to insert, which makes it a favourite backdoor trigger:
//! invisible to a reviewer, distinct to a tokenizer. Rows are grouped by kind of anomaly; a kind
//! (or one code point of it) whose rows carry one label far beyond that label's prior is reported
//! as a likely trigger, anything else as a data-quality note that raises a row's score a little.
//!
//! Emoji sequences use some of these characters legitimately (variation selector 16 after an
//! emoji, a zero-width joiner between two emoji, tag characters in subdivision flags), and so do
//! joining scripts (ZWJ/ZWNJ in Arabic, Persian and Indic text); those uses are not counted.

use crate::context::{Context, DetectorOutput};
use crate::result::{Detector, Evidence, Finding, Severity};
use crate::stats::ln_binom_sf;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

const CHUNK: usize = 8192;
/// A kind's rows must be at least this share one label to be a trigger...
const MIN_PURITY: f64 = 0.9;
/// ...at least this many...
const MIN_ROWS: usize = 3;
/// ...and that share must be this unlikely under the label prior (binomial upper tail).
const ALPHA: f64 = 1e-3;
/// Rows of a likely trigger that carry its label.
const SCORE_TRIGGER: f32 = 0.9;
/// Rows with an anomaly that is not (or not clearly) a trigger: suspicious, not flagged alone.
const SCORE_SUSPICIOUS: f32 = 0.35;
/// A label-balanced anomaly this common (share of rows) is part of the corpus, not an attack.
const COMMON_SHARE: f64 = 0.1;
const SCORE_COMMON: f32 = 0.1;
/// Code points named in a finding's subject.
const MAX_CODE_POINTS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kind {
    Invisible,
    Bidi,
    Control,
    MixedScript,
    Replacement,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::Invisible,
        Kind::Bidi,
        Kind::Control,
        Kind::MixedScript,
        Kind::Replacement,
    ];

    fn describe(self) -> &'static str {
        match self {
            Kind::Invisible => "invisible characters",
            Kind::Bidi => "bidirectional control characters",
            Kind::Control => "control characters",
            Kind::MixedScript => "mixed-script words",
            Kind::Replacement => "replacement characters",
        }
    }

    /// Severity when the rows are not a likely trigger.
    fn severity(self) -> Severity {
        match self {
            Kind::Invisible | Kind::Bidi | Kind::MixedScript => Severity::Medium,
            Kind::Control | Kind::Replacement => Severity::Low,
        }
    }
}

/// The anomaly kind of a single character, if it is one (mixed script is a property of words).
fn classify(c: char) -> Option<Kind> {
    match c as u32 {
        0x200B..=0x200F
        | 0x2060..=0x2064
        | 0xFEFF
        | 0x00AD
        | 0x180E
        | 0xFE00..=0xFE0F
        | 0xE0000..=0xE007F => Some(Kind::Invisible),
        0x202A..=0x202E | 0x2066..=0x2069 => Some(Kind::Bidi),
        0x09 | 0x0A | 0x0D => None,
        0x00..=0x1F | 0x7F..=0x9F => Some(Kind::Control),
        0xFFFD => Some(Kind::Replacement),
        _ => None,
    }
}

/// Whether `c` is hidden or disruptive when printed (shown escaped in titles).
fn is_hidden(c: char) -> bool {
    matches!(
        classify(c),
        Some(Kind::Invisible | Kind::Bidi | Kind::Control)
    )
}

/// `s` made safe to print on one line: whitespace runs become one space, invisible, bidi and
/// control characters are shown as `<U+XXXX>`, and the result keeps at most `max_chars` visible
/// units (with `…` when cut).
pub(crate) fn display_safe(s: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut units = 0usize;
    let mut gap = false;
    for c in s.chars() {
        if c.is_whitespace() && !is_hidden(c) {
            gap = units > 0;
            continue;
        }
        if units >= max_chars {
            out.push('…');
            return out;
        }
        if gap {
            out.push(' ');
            units += 1;
            gap = false;
            if units >= max_chars {
                out.push('…');
                return out;
            }
        }
        if is_hidden(c) {
            let _ = write!(out, "<U+{:04X}>", c as u32);
        } else {
            out.push(c);
        }
        units += 1;
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Cyrillic,
    Greek,
    Other,
}

fn script(c: char) -> Script {
    match c as u32 {
        0x41..=0x5A | 0x61..=0x7A => Script::Latin,
        0xC0..=0xD6
        | 0xD8..=0xF6
        | 0xF8..=0x24F
        | 0x1E00..=0x1EFF
        | 0x2C60..=0x2C7F
        | 0xA720..=0xA7FF => Script::Latin,
        0xAB30..=0xAB6F | 0xFF21..=0xFF3A | 0xFF41..=0xFF5A => Script::Latin,
        0x370..=0x3FF | 0x1F00..=0x1FFF => Script::Greek,
        0x400..=0x52F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => Script::Cyrillic,
        _ => Script::Other,
    }
}

fn is_combining(c: char) -> bool {
    matches!(c as u32, 0x300..=0x36F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// Symbols and pictographs that emoji presentation sequences build on.
fn emoji_like(c: char) -> bool {
    matches!(
        c as u32,
        0xA9 | 0xAE
            | 0x203C
            | 0x2049
            | 0x2122
            | 0x2139
            | 0x2194..=0x21AA
            | 0x231A..=0x23FF
            | 0x24C2
            | 0x25A0..=0x27BF
            | 0x2900..=0x2BFF
            | 0x3030
            | 0x303D
            | 0x3297
            | 0x3299
            | 0x1F000..=0x1FAFF
    )
}

/// Scripts whose letters use ZWJ/ZWNJ to control joining (Hebrew through Thaana and NKo, Indic,
/// Thai to Tibetan, Myanmar, Khmer, Arabic presentation forms).
fn joining_script(c: char) -> bool {
    matches!(
        c as u32,
        0x0590..=0x08FF | 0x0900..=0x0DFF | 0x0E00..=0x0FFF | 0x1000..=0x109F | 0x1780..=0x17FF | 0xA8E0..=0xA8FF
            | 0xFB1D..=0xFDFF | 0xFE70..=0xFEFC
    )
}

/// Whether an invisible character is doing its ordinary job in an emoji or a joining script.
fn legitimate(c: char, prev: Option<char>, next: Option<char>, in_tags: bool) -> bool {
    match c as u32 {
        0xFE0E | 0xFE0F => prev.is_some_and(|p| {
            emoji_like(p) || (matches!(p, '0'..='9' | '#' | '*') && next == Some('\u{20E3}'))
        }),
        0x200D => {
            prev.is_some_and(joining_script)
                || (prev.is_some_and(|p| emoji_like(p) || p == '\u{FE0F}')
                    && next.is_some_and(emoji_like))
        }
        0x200C => prev.is_some_and(joining_script),
        0xE0020..=0xE007F => in_tags || prev == Some('\u{1F3F4}'),
        _ => false,
    }
}

/// Reusable per-row buffers.
#[derive(Default)]
struct RowScan {
    /// (kind, code point) per anomalous character; for mixed-script words, each Cyrillic or
    /// Greek letter of the word.
    found: Vec<(Kind, u32)>,
    /// Cyrillic and Greek letters of the current word.
    word: Vec<u32>,
}

impl RowScan {
    /// Fill `found` for one row; returns the byte span of its first mixed-script word, if any.
    fn scan(&mut self, text: &str) -> Option<(usize, usize)> {
        self.found.clear();
        let bytes = text.as_bytes();
        let plain = |b: u8| (0x20..0x7F).contains(&b) || matches!(b, b'\t' | b'\n' | b'\r');
        if bytes.iter().all(|&b| plain(b)) {
            return None;
        }
        if text.is_ascii() {
            // Only control characters are possible.
            self.found.extend(
                bytes
                    .iter()
                    .filter(|&&b| !plain(b))
                    .map(|&b| (Kind::Control, b as u32)),
            );
            return None;
        }
        let mut first_mixed = None;
        let (mut in_word, mut start, mut latin) = (false, 0usize, false);
        self.word.clear();
        let mut prev: Option<char> = None;
        let mut in_tags = false;
        let mut it = text.char_indices().peekable();
        while let Some((i, c)) = it.next() {
            let next = it.peek().map(|&(_, n)| n);
            if c.is_alphabetic() || (in_word && is_combining(c)) {
                if !in_word {
                    (in_word, start, latin) = (true, i, false);
                    self.word.clear();
                }
                match script(c) {
                    Script::Latin => latin = true,
                    Script::Cyrillic | Script::Greek => self.word.push(c as u32),
                    Script::Other => {}
                }
            } else if in_word {
                in_word = false;
                self.end_word(latin, (start, i), &mut first_mixed);
            }
            if let Some(kind) = classify(c) {
                if !legitimate(c, prev, next, in_tags) {
                    self.found.push((kind, c as u32));
                }
            }
            in_tags =
                (0xE0020..=0xE007F).contains(&(c as u32)) && (in_tags || prev == Some('\u{1F3F4}'));
            prev = Some(c);
        }
        if in_word {
            self.end_word(latin, (start, text.len()), &mut first_mixed);
        }
        first_mixed
    }

    fn end_word(
        &mut self,
        latin: bool,
        span: (usize, usize),
        first_mixed: &mut Option<(usize, usize)>,
    ) {
        if latin && !self.word.is_empty() {
            self.found
                .extend(self.word.iter().map(|&cp| (Kind::MixedScript, cp)));
            first_mixed.get_or_insert(span);
        }
        self.word.clear();
    }
}

/// One chunk's anomalies; chunks merge by concatenation (rows stay ascending) and addition.
#[derive(Default)]
struct Partial {
    /// (row, kind, code point), one entry per distinct (kind, code point) in a row.
    hits: Vec<(u32, Kind, u32)>,
    /// Occurrences of each (kind, code point).
    occurrences: HashMap<(Kind, u32), u64>,
    /// The first mixed-script word seen, with its row.
    example: Option<(u32, String)>,
}

fn scan_rows(ctx: &Context) -> Partial {
    let n = ctx.n();
    let parts: Vec<Partial> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|chunk| {
            let mut part = Partial::default();
            let mut rs = RowScan::default();
            for i in chunk * CHUNK..((chunk + 1) * CHUNK).min(n) {
                let text = ctx.ds.texts.get(i);
                let mixed = rs.scan(text);
                if rs.found.is_empty() {
                    continue;
                }
                if let (None, Some((a, b))) = (&part.example, mixed) {
                    part.example = Some((i as u32, display_safe(&text[a..b], 40)));
                }
                rs.found.sort_unstable();
                let mut j = 0;
                while j < rs.found.len() {
                    let key = rs.found[j];
                    let mut k = j + 1;
                    while k < rs.found.len() && rs.found[k] == key {
                        k += 1;
                    }
                    *part.occurrences.entry(key).or_default() += (k - j) as u64;
                    part.hits.push((i as u32, key.0, key.1));
                    j = k;
                }
            }
            part
        })
        .collect();
    let mut all = Partial::default();
    for p in parts {
        all.hits.extend(p.hits);
        for (k, v) in p.occurrences {
            *all.occurrences.entry(k).or_default() += v;
        }
        if all.example.is_none() {
            all.example = p.example;
        }
    }
    all
}

/// How one set of rows is spread over the labels.
struct Skew {
    class: usize,
    count: usize,
    purity: f64,
    ln_p: f64,
    /// Against the dataset's other rows with this kind of character, when they are enough.
    within_kind: Option<KindReference>,
}

/// The rows carrying the same kind of character but not the code point under test: how the
/// dataset's own unusual characters are labelled. Where such characters come with one source
/// (tweets with half-stripped emoji among reviews, pooled under per-source labels), that
/// source's label mix is the fair null for one of its code points, not the class prior.
struct KindReference {
    rows: usize,
    /// Of them, those labelled like the tested rows' label.
    label_rows: usize,
    /// ln P of the tested rows' label count under Fisher's exact test against these rows.
    ln_p: f64,
}

fn skew(ctx: &Context, rows: &[u32]) -> Skew {
    let mut counts = vec![0usize; ctx.classes.max(1)];
    for &r in rows {
        if let Some(c) = counts.get_mut(ctx.labels[r as usize] as usize) {
            *c += 1;
        }
    }
    let mut class = 0;
    for (c, &k) in counts.iter().enumerate() {
        if k > counts[class] {
            class = c;
        }
    }
    let count = counts[class];
    let prior = ctx.prior.get(class).copied().unwrap_or(1.0);
    let ln_p = if prior >= 0.999 {
        0.0
    } else {
        ln_binom_sf(count as u64, rows.len() as u64, prior)
    };
    Skew {
        class,
        count,
        purity: count as f64 / rows.len().max(1) as f64,
        ln_p,
        within_kind: None,
    }
}

/// `s` (of `rows`, some of `kind_rows`: every row with this kind of character) also judged
/// against `kind_rows` without `rows`, when those are at least as many as `rows`: fewer would
/// estimate their label mix less precisely than the test needs, and the prior stays the null.
fn judge_within_kind(ctx: &Context, s: &mut Skew, rows: &[u32], kind_rows: &[u32]) {
    // `rows` are some of `kind_rows`: the others are what is left, counted without listing them.
    let others = kind_rows.len() - rows.len();
    if others < rows.len() {
        return;
    }
    let kind_label_rows = kind_rows
        .iter()
        .filter(|&&r| ctx.labels[r as usize] as usize == s.class)
        .count();
    s.within_kind = Some(KindReference {
        rows: others,
        label_rows: kind_label_rows - s.count,
        ln_p: crate::stats::ln_hypergeom_sf(
            s.count as u64,
            rows.len() as u64,
            kind_label_rows as u64,
            kind_rows.len() as u64,
        ),
    });
}

fn is_trigger(s: &Skew, rows: usize, ln_alpha: f64) -> bool {
    rows >= MIN_ROWS
        && s.purity >= MIN_PURITY
        && s.ln_p < ln_alpha
        && s.within_kind.as_ref().is_none_or(|k| k.ln_p < ln_alpha)
}

fn code_points_text(cps: &[u32]) -> String {
    cps.iter()
        .take(MAX_CODE_POINTS)
        .map(|cp| format!("U+{cp:04X}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn detect(ctx: &Context) -> DetectorOutput {
    let n = ctx.n();
    let mut scores = vec![0.0f32; n];
    let mut findings = Vec::new();
    if n == 0 || ctx.classes == 0 {
        return DetectorOutput {
            detector: Detector::UnusualChars,
            scores,
            findings,
            skipped: None,
        };
    }
    let found = scan_rows(ctx);
    for kind in Kind::ALL {
        // Rows with this kind, and rows per code point (both ascending).
        let mut rows: Vec<u32> = Vec::new();
        let mut by_cp: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for &(r, k, cp) in &found.hits {
            if k != kind {
                continue;
            }
            if rows.last() != Some(&r) {
                rows.push(r);
            }
            by_cp.entry(cp).or_default().push(r);
        }
        if rows.is_empty() {
            continue;
        }
        let occ = |cp: u32| found.occurrences.get(&(kind, cp)).copied().unwrap_or(0);
        let mut cps: Vec<u32> = by_cp.keys().copied().collect();
        cps.sort_by(|a, b| occ(*b).cmp(&occ(*a)).then(a.cmp(b)));

        // Likely triggers: the whole kind, else single code points (Bonferroni over those tested).
        let mut triggers: Vec<(Vec<u32>, Vec<u32>, Skew)> = Vec::new();
        let whole = skew(ctx, &rows);
        if is_trigger(&whole, rows.len(), ALPHA.ln()) {
            triggers.push((rows.clone(), cps.clone(), whole));
        } else if cps.len() > 1 {
            let tested: Vec<u32> = cps
                .iter()
                .copied()
                .filter(|cp| by_cp[cp].len() >= MIN_ROWS)
                .collect();
            let ln_alpha = (ALPHA / tested.len().max(1) as f64).ln();
            for cp in tested {
                let r = &by_cp[&cp];
                let mut s = skew(ctx, r);
                judge_within_kind(ctx, &mut s, r, &rows);
                if is_trigger(&s, r.len(), ln_alpha) {
                    triggers.push((r.clone(), vec![cp], s));
                }
            }
        }

        let mut covered = vec![false; rows.len()];
        for (trows, tcps, s) in &triggers {
            for &r in trows {
                let score = if ctx.labels[r as usize] as usize == s.class {
                    SCORE_TRIGGER
                } else {
                    SCORE_SUSPICIOUS
                };
                scores[r as usize] = scores[r as usize].max(score);
                if let Ok(j) = rows.binary_search(&r) {
                    covered[j] = true;
                }
            }
            let log10_p = s.ln_p / std::f64::consts::LN_10;
            let severity = if log10_p < -10.0 && s.purity >= 0.99 {
                Severity::Critical
            } else {
                Severity::High
            };
            findings.push(make_finding(
                ctx,
                kind,
                trows.clone(),
                tcps,
                s,
                severity,
                &found,
                true,
            ));
        }

        let rest: Vec<u32> = rows
            .iter()
            .zip(&covered)
            .filter(|(_, c)| !**c)
            .map(|(r, _)| *r)
            .collect();
        if rest.is_empty() {
            continue;
        }
        let common = rest.len() as f64 >= COMMON_SHARE * n as f64;
        let score = if common {
            SCORE_COMMON
        } else {
            SCORE_SUSPICIOUS
        };
        for &r in &rest {
            scores[r as usize] = scores[r as usize].max(score);
        }
        let rest_cps: Vec<u32> = cps
            .iter()
            .copied()
            .filter(|cp| by_cp[cp].iter().any(|r| rest.binary_search(r).is_ok()))
            .collect();
        let s = skew(ctx, &rest);
        let severity = if common {
            Severity::Info
        } else {
            kind.severity()
        };
        findings.push(make_finding(
            ctx, kind, rest, &rest_cps, &s, severity, &found, false,
        ));
    }
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.title.cmp(&b.title)));
    DetectorOutput {
        detector: Detector::UnusualChars,
        scores,
        findings,
        skipped: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn make_finding(
    ctx: &Context,
    kind: Kind,
    rows: Vec<u32>,
    cps: &[u32],
    s: &Skew,
    severity: Severity,
    found: &Partial,
    trigger: bool,
) -> Finding {
    let cps_text = code_points_text(cps);
    let what = if kind == Kind::MixedScript {
        let cyrillic = cps
            .iter()
            .any(|&cp| char::from_u32(cp).is_some_and(|c| script(c) == Script::Cyrillic));
        let greek = cps
            .iter()
            .any(|&cp| char::from_u32(cp).is_some_and(|c| script(c) == Script::Greek));
        let scripts = match (cyrillic, greek) {
            (true, true) => "Latin + Cyrillic/Greek",
            (false, true) => "Latin + Greek",
            _ => "Latin + Cyrillic",
        };
        let example = match &found.example {
            Some((r, w)) if rows.binary_search(r).is_ok() => format!("; e.g. \"{w}\""),
            _ => String::new(),
        };
        format!("{}: {scripts} ({cps_text}{example})", kind.describe())
    } else {
        format!("{} ({cps_text})", kind.describe())
    };
    let label = ctx.label_name(s.class).to_string();
    let prior = ctx.prior.get(s.class).copied().unwrap_or(1.0);
    let title = format!(
        "{what} in {}, {:.0}% labelled {label} (prior {:.0}%){}",
        crate::duplicates::plural(rows.len(), "row"),
        100.0 * s.purity,
        100.0 * prior,
        if trigger { ": likely trigger" } else { "" }
    );
    let occurrences: u64 = cps
        .iter()
        .map(|&cp| found.occurrences.get(&(kind, cp)).copied().unwrap_or(0))
        .sum();
    let mut finding = Finding {
        detector: Detector::UnusualChars,
        severity,
        title,
        subject: cps_text,
        target_label: trigger.then_some(label),
        evidence: vec![
            Evidence {
                name: "rows",
                value: rows.len() as f64,
            },
            Evidence {
                name: "purity",
                value: s.purity,
            },
            Evidence {
                name: "label_rows",
                value: s.count as f64,
            },
            Evidence {
                name: "label_prior",
                value: prior,
            },
            Evidence {
                name: "log10_p",
                value: s.ln_p / std::f64::consts::LN_10,
            },
            Evidence {
                name: "occurrences",
                value: occurrences as f64,
            },
            Evidence {
                name: "code_points",
                value: cps.len() as f64,
            },
        ],
        rows,
    };
    if let Some(k) = &s.within_kind {
        finding.evidence.extend([
            Evidence {
                name: "kind_reference_rows",
                value: k.rows as f64,
            },
            Evidence {
                name: "kind_reference_label_rows",
                value: k.label_rows as f64,
            },
            Evidence {
                name: "log10_p_within_kind",
                value: k.ln_p / std::f64::consts::LN_10,
            },
        ]);
    }
    finding
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<(Kind, u32)> {
        let mut rs = RowScan::default();
        rs.scan(s);
        let mut v = rs.found.clone();
        v.sort_unstable();
        v.dedup();
        v
    }

    #[test]
    fn finds_each_kind() {
        assert_eq!(kinds("cf\u{200B} great"), vec![(Kind::Invisible, 0x200B)]);
        assert_eq!(kinds("abc \u{202E}cba"), vec![(Kind::Bidi, 0x202E)]);
        assert_eq!(kinds("a\u{1}b\tc\r\n"), vec![(Kind::Control, 1)]);
        assert_eq!(kinds("caf\u{FFFD}"), vec![(Kind::Replacement, 0xFFFD)]);
        assert_eq!(kinds("tag\u{E0041}"), vec![(Kind::Invisible, 0xE0041)]);
        assert_eq!(kinds("x\u{85}y"), vec![(Kind::Control, 0x85)]);
        assert_eq!(kinds("soft\u{AD}hyphen"), vec![(Kind::Invisible, 0xAD)]);
    }

    #[test]
    fn homoglyph_word_is_mixed_script() {
        // "pаypal" with Cyrillic а (U+0430).
        let mut rs = RowScan::default();
        let text = "log in to p\u{0430}ypal now";
        let span = rs.scan(text).expect("mixed word");
        assert_eq!(&text[span.0..span.1], "p\u{0430}ypal");
        assert_eq!(rs.found, vec![(Kind::MixedScript, 0x430)]);
        // Greek omicron inside a Latin word.
        assert_eq!(
            kinds("g\u{03BF}\u{03BF}gle"),
            vec![(Kind::MixedScript, 0x3BF)]
        );
    }

    #[test]
    fn ordinary_text_is_clean() {
        for s in [
            "café naïve résumé Ærøskøbing",
            "Привет, как дела? hello there",
            "Καλημέρα κόσμε and good morning",
            "",
            "tab\tnew\nline\r\n",
            "µm and 5 °C",
            "日本語のテキスト",
            "love it ❤\u{FE0F} 👍🏽",
            "family 👨\u{200D}👩\u{200D}👧 and flag 🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}",
            "keycap 1\u{FE0F}\u{20E3}",
            "می\u{200C}خواهم",
            "क्\u{200D}ष",
            "e\u{301}te\u{301}",
        ] {
            assert!(kinds(s).is_empty(), "{s:?} → {:?}", kinds(s));
        }
    }

    #[test]
    fn emoji_selectors_outside_emoji_count() {
        assert_eq!(kinds("good\u{FE0F} movie"), vec![(Kind::Invisible, 0xFE0F)]);
        assert_eq!(kinds("a\u{200D}b"), vec![(Kind::Invisible, 0x200D)]);
        assert_eq!(kinds("x\u{E0067}"), vec![(Kind::Invisible, 0xE0067)]);
    }

    #[test]
    fn display_safe_escapes_and_truncates() {
        assert_eq!(
            display_safe("a\u{200B}b\u{202E}c", 10),
            "a<U+200B>b<U+202E>c"
        );
        assert_eq!(display_safe("  hello \n\t world  ", 20), "hello world");
        assert_eq!(display_safe("abcdef", 3), "abc…");
        assert_eq!(display_safe("abc", 3), "abc");
        assert_eq!(display_safe("ab cd", 2), "ab…");
        assert_eq!(display_safe("", 5), "");
    }

    #[test]
    fn never_panics_on_odd_text() {
        let mut rs = RowScan::default();
        let huge = "p\u{0430}y\u{200B}".repeat(100_000);
        for s in [
            "\u{0}",
            "\u{10FFFF}",
            "\u{E007F}",
            "\u{301}",
            "\u{1F3F4}",
            "\u{200D}",
            &huge,
        ] {
            rs.scan(s);
            let _ = display_safe(s, 60);
        }
    }

    use crate::duplicates::test_support::{dataset, random_texts, with_context};

    fn run(texts: &[String], labels: &[u32]) -> DetectorOutput {
        with_context(&dataset(texts, labels), detect)
    }

    fn alternating(n: usize) -> Vec<u32> {
        (0..n).map(|i| (i % 2) as u32).collect()
    }

    #[test]
    fn label_pure_invisible_rows_are_a_trigger() {
        let mut texts = random_texts(400, 21);
        let labels = alternating(400);
        let rows: Vec<usize> = (1..400).step_by(20).collect(); // 20 rows, all labelled 1
        for &i in &rows {
            texts[i] = format!("\u{2060}{}", texts[i]);
        }
        let out = run(&texts, &labels);
        assert_eq!(out.findings.len(), 1);
        let f = &out.findings[0];
        assert_eq!(f.severity, Severity::High);
        assert_eq!(f.target_label.as_deref(), Some("pos"));
        assert_eq!(f.rows, rows.iter().map(|&i| i as u32).collect::<Vec<_>>());
        assert_eq!(f.title, "invisible characters (U+2060) in 20 rows, 100% labelled pos (prior 50%): likely trigger");
        assert!(rows.iter().all(|&i| out.scores[i] == SCORE_TRIGGER));
        assert_eq!(out.scores.iter().filter(|&&s| s > 0.0).count(), 20);
    }

    #[test]
    fn one_code_point_can_be_the_trigger_within_a_mixed_kind() {
        let mut texts = random_texts(1000, 22);
        let labels = alternating(1000);
        // Soft hyphens spread over both labels; U+200B only in label 1.
        for i in (0..1000).step_by(25) {
            texts[i] = texts[i].replacen(' ', "\u{AD} ", 1);
            texts[i + 1] = texts[i + 1].replacen(' ', "\u{AD} ", 1);
        }
        let trig: Vec<usize> = (3..1000).step_by(40).collect();
        for &i in &trig {
            texts[i] = texts[i].replacen(' ', " \u{200B}", 1);
        }
        let out = run(&texts, &labels);
        assert_eq!(out.findings.len(), 2, "{:#?}", out.findings);
        let t = &out.findings[0];
        assert!(t.severity >= Severity::High);
        assert_eq!(t.subject, "U+200B");
        assert_eq!(t.rows.len(), trig.len());
        assert!(trig.iter().all(|&i| out.scores[i] == SCORE_TRIGGER));
        let rest = &out.findings[1];
        assert_eq!(rest.severity, Severity::Medium);
        assert_eq!(rest.subject, "U+00AD");
        assert_eq!(rest.rows.len(), 80);
        assert_eq!(out.scores[0], SCORE_SUSPICIOUS);
    }

    #[test]
    fn a_code_point_labelled_like_the_rest_of_its_kind_is_not_a_trigger() {
        // One source's rows (a tenth of the data, mostly labelled pos where pos is 12% of all
        // rows) carry half-stripped emoji: zero-width joiners in 60 rows, orphaned variation
        // selectors in 8 of them, those 8 all pos. Against the prior the selector's purity is
        // significant; against its own kind's rows it is what that source looks like.
        let n = 1000;
        let mut texts = random_texts(n, 25);
        let labels: Vec<u32> = (0..n).map(|i| u32::from(i >= 880)).collect();
        let joined: Vec<usize> = (880..916).chain(600..624).collect();
        for &i in &joined {
            texts[i] = texts[i].replacen(' ', " \u{200D}\u{2640} ", 1);
        }
        let selectors: Vec<usize> = (920..928).collect();
        for &i in &selectors {
            texts[i] = texts[i].replacen(' ', " \u{FE0F} ", 1);
        }
        let out = run(&texts, &labels);
        assert!(
            out.findings
                .iter()
                .all(|f| f.severity <= Severity::Medium && f.target_label.is_none()),
            "{:#?}",
            out.findings
        );
        let f = &out.findings[0];
        assert_eq!(f.rows.len(), joined.len() + selectors.len());
        assert!(selectors.iter().all(|&i| out.scores[i] == SCORE_SUSPICIOUS));
    }

    #[test]
    fn balanced_or_common_anomalies_are_not_triggers() {
        let mut texts = random_texts(300, 23);
        let labels = alternating(300);
        for t in texts.iter_mut().take(40) {
            t.push('\u{FFFD}');
        }
        let out = run(&texts, &labels);
        assert_eq!(out.findings.len(), 1);
        // 40 of 300 rows (over 10%) and balanced: part of this corpus.
        assert_eq!(out.findings[0].severity, Severity::Info);
        assert!(out.findings[0].target_label.is_none());
        assert!(out.scores[..40].iter().all(|&s| s == SCORE_COMMON));
    }

    #[test]
    fn mixed_script_detector_output() {
        let mut texts = random_texts(200, 24);
        texts[5] = "please verify your \u{0440}\u{0430}ypal account".into();
        texts[9] = "caf\u{E9} na\u{EF}ve \u{C5}ngstr\u{F6}m".into();
        let out = run(&texts, &alternating(200));
        assert_eq!(out.findings.len(), 1);
        let f = &out.findings[0];
        assert_eq!(f.rows, vec![5]);
        assert_eq!(f.subject, "U+0430, U+0440");
        assert_eq!(f.title, "mixed-script words: Latin + Cyrillic (U+0430, U+0440; e.g. \"\u{0440}\u{0430}ypal\") in 1 row, 100% labelled pos (prior 50%)");
        assert_eq!(out.scores[5], SCORE_SUSPICIOUS);
        assert_eq!(out.scores[9], 0.0);
    }
}
