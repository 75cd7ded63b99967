//! The human summary printed by `bezoar scan`.

use std::fmt::Write as _;

use bezoar_data::Dataset;
use bezoar_scan::{Finding, ScanResult, Severity};

use crate::text::{escape_invisible, excerpt};

/// How the terminal summary looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalOptions {
    /// Use ANSI colours and bold (severity tags, highlighted subjects, verdict).
    pub color: bool,
    /// Findings listed in full; the rest are counted in one line.
    pub max_findings: usize,
    /// Example rows shown under each finding.
    pub examples_per_finding: usize,
    /// The policy the exit code follows (`--fail-on`); when set, the verdict says PASS or FAIL.
    pub fail_on: Option<Severity>,
}

impl Default for TerminalOptions {
    fn default() -> Self {
        Self {
            color: false,
            max_findings: 20,
            examples_per_finding: 3,
            fail_on: None,
        }
    }
}

/// Example texts are cut to about this many characters around the finding's subject.
const EXAMPLE_CHARS: usize = 100;
/// Classes listed by name in the header line.
const MAX_HEADER_CLASSES: usize = 8;

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const HIGHLIGHT: &str = "\x1b[1;31m";
const GREEN: &str = "\x1b[1;32m";

struct Painter {
    on: bool,
}

impl Painter {
    fn paint(&self, style: &str, s: &str) -> String {
        if self.on {
            format!("{style}{s}{RESET}")
        } else {
            s.to_string()
        }
    }
}

fn severity_style(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "\x1b[1;37;41m",
        Severity::High => "\x1b[1;31m",
        Severity::Medium => "\x1b[1;33m",
        Severity::Low => "\x1b[36m",
        Severity::Info => DIM,
    }
}

/// `1234567` → `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    // Digits before the first comma: 1-3, then groups of three.
    let head = match digits.len() % 3 {
        0 => 3,
        r => r,
    };
    for (i, c) in digits.chars().enumerate() {
        if i >= head && (i - head) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A number for people: integers as integers, moderate values with up to 4 decimals,
/// very small or very large ones in scientific notation.
fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = v.abs();
    if v == v.trunc() && a < 1e15 {
        return format!("{}", v as i64);
    }
    if (1e-3..1e6).contains(&a) {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        return s.to_string();
    }
    format!("{v:.2e}")
}

fn fmt_seconds(s: f64) -> String {
    if !s.is_finite() {
        "-".into()
    } else if s >= 1.0 {
        format!("{s:.2}s")
    } else {
        format!("{s:.3}s")
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{} {}", group(n as u64), if n == 1 { one } else { many })
}

fn header(out: &mut String, ds: &Dataset, res: &ScanResult, p: &Painter) {
    let n = ds.len();
    let counts = ds.labels.counts();
    let mut classes: Vec<String> = ds
        .labels
        .names
        .iter()
        .zip(&counts)
        .take(MAX_HEADER_CLASSES)
        .map(|(name, c)| format!("{}: {}", escape_invisible(name), group(*c as u64)))
        .collect();
    if ds.labels.names.len() > MAX_HEADER_CLASSES {
        classes.push(format!(
            "… +{} more",
            ds.labels.names.len() - MAX_HEADER_CLASSES
        ));
    }
    let flagged = res.flagged_count();
    let pct = if n > 0 {
        100.0 * flagged as f64 / n as f64
    } else {
        0.0
    };
    let _ = writeln!(
        out,
        "{} {}, {} ({}) · {} flagged ({pct:.1}%) at threshold {} · representation: {}",
        p.paint(BOLD, "bezoar scan:"),
        plural(n, "row", "rows"),
        plural(ds.num_classes(), "class", "classes"),
        classes.join(", "),
        group(flagged as u64),
        fmt_num(f64::from(res.threshold)),
        escape_invisible(&res.representation),
    );
    if ds.skipped.count > 0 {
        let _ = write!(
            out,
            "skipped {} invalid {}",
            group(ds.skipped.count),
            if ds.skipped.count == 1 { "row" } else { "rows" }
        );
        if let Some(first) = ds.skipped.examples.first() {
            let _ = write!(
                out,
                " (first: line {}: {})",
                first.line,
                escape_invisible(&first.reason)
            );
        }
        out.push('\n');
    }
}

/// `s` escaped, with occurrences of `subject` highlighted when colour is on; the text is cut to
/// about `max_chars` characters around the first occurrence.
fn highlighted(s: &str, subject: &str, max_chars: usize, p: &Painter) -> String {
    let e = excerpt(s, subject, max_chars);
    let mut out = String::new();
    if e.cut_front {
        out.push('…');
    }
    for (piece, hit) in &e.pieces {
        if *hit {
            out.push_str(&p.paint(HIGHLIGHT, piece));
        } else {
            out.push_str(piece);
        }
    }
    if e.cut_back {
        out.push('…');
    }
    out
}

fn finding(out: &mut String, ds: &Dataset, f: &Finding, opts: &TerminalOptions, p: &Painter) {
    let tag = format!("[{}]", f.severity.name().to_ascii_uppercase());
    let _ = writeln!(
        out,
        "{} {}",
        p.paint(severity_style(f.severity), &tag),
        highlighted(&f.title, &f.subject, usize::MAX, p)
    );
    let indent = "    ";
    let mut facts: Vec<String> = vec![format!("detector={}", f.detector.name())];
    if let Some(t) = &f.target_label {
        facts.push(format!("target={}", escape_invisible(t)));
    }
    facts.push(format!("rows={}", group(f.rows.len() as u64)));
    for e in &f.evidence {
        // Skip evidence that repeats a fact already shown (e.g. a detector's own `rows`).
        let prefix = format!("{}=", e.name);
        if facts.iter().any(|f| f.starts_with(&prefix)) {
            continue;
        }
        facts.push(format!("{prefix}{}", fmt_num(e.value)));
    }
    let _ = writeln!(out, "{indent}{}", p.paint(DIM, &facts.join("  ")));
    let n = ds.len();
    let shown: Vec<usize> = f
        .rows
        .iter()
        .map(|&r| r as usize)
        .filter(|&r| r < n)
        .take(opts.examples_per_finding)
        .collect();
    for &r in &shown {
        let id = escape_invisible(&ds.ids.get(r));
        let label = ds
            .labels
            .codes
            .get(r)
            .and_then(|&c| ds.labels.names.get(c as usize))
            .map(|s| escape_invisible(s))
            .unwrap_or_default();
        let text = highlighted(ds.texts.get(r), &f.subject, EXAMPLE_CHARS, p);
        let _ = writeln!(out, "{indent}- {id} [{label}] {text}");
    }
    if f.rows.len() > shown.len() && !shown.is_empty() {
        let _ = writeln!(
            out,
            "{indent}  {}",
            p.paint(
                DIM,
                &format!(
                    "… {} more {}",
                    group((f.rows.len() - shown.len()) as u64),
                    if f.rows.len() - shown.len() == 1 {
                        "row"
                    } else {
                        "rows"
                    }
                )
            )
        );
    }
}

fn detector_table(out: &mut String, res: &ScanResult, p: &Painter) {
    if res.detectors.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "{}",
        p.paint(
            BOLD,
            &format!(
                "{:<18} {:>10} {:>9} {:>9}",
                "detector", "flagged", "findings", "time"
            )
        )
    );
    for d in &res.detectors {
        match &d.skipped {
            Some(why) => {
                let _ = writeln!(
                    out,
                    "{:<18} {:>10} {:>9} {}",
                    d.detector.name(),
                    "-",
                    "-",
                    p.paint(DIM, &format!("skipped: {}", escape_invisible(why)))
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "{:<18} {:>10} {:>9} {:>9}",
                    d.detector.name(),
                    group(d.rows_flagged as u64),
                    group(d.findings as u64),
                    fmt_seconds(d.seconds)
                );
            }
        }
    }
    let total = res.flagged_count();
    if total > 0 {
        let fb = res.flagged_by;
        let _ = writeln!(
            out,
            "{}",
            p.paint(
                DIM,
                &format!(
                    "flagged = rows a detector's own score flags (a row can count under several); of the {} flagged: {} by one detector, {} by several, {} only by evidence combined across detectors",
                    group(total as u64),
                    group(fb.one_detector as u64),
                    group(fb.several_detectors as u64),
                    group(fb.combined_evidence as u64)
                )
            )
        );
    }
    if !res.stages.is_empty() {
        let shared: Vec<String> = res
            .stages
            .iter()
            .map(|(name, s)| format!("{name} {}", fmt_seconds(*s)))
            .collect();
        let _ = writeln!(
            out,
            "{}",
            p.paint(DIM, &format!("shared stages: {}", shared.join(" · ")))
        );
    }
}

fn verdict(out: &mut String, res: &ScanResult, opts: &TerminalOptions, p: &Painter) {
    let flagged = res.flagged_count();
    let mut counts = Vec::new();
    for sev in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ] {
        let c = res.findings.iter().filter(|f| f.severity == sev).count();
        if c > 0 {
            counts.push(format!("{} {}", group(c as u64), sev.name()));
        }
    }
    let body = if res.findings.is_empty() {
        format!("no findings; {} flagged", plural(flagged, "row", "rows"))
    } else {
        format!(
            "{} ({}); {} flagged",
            plural(res.findings.len(), "finding", "findings"),
            counts.join(", "),
            plural(flagged, "row", "rows")
        )
    };
    let status = opts.fail_on.map(|policy| {
        let failed = res.max_severity().is_some_and(|m| m >= policy);
        if failed {
            (
                p.paint(HIGHLIGHT, "FAIL"),
                format!(" (findings at or above {})", policy.name()),
            )
        } else {
            (
                p.paint(GREEN, "PASS"),
                format!(" (nothing at or above {})", policy.name()),
            )
        }
    });
    match status {
        Some((word, why)) => {
            let _ = writeln!(out, "{} {word}{why}: {body}", p.paint(BOLD, "verdict:"));
        }
        None => {
            let _ = writeln!(out, "{} {body}", p.paint(BOLD, "verdict:"));
        }
    }
}

/// The human summary of a scan: a header line (rows, classes, flagged rows, threshold,
/// representation), the findings most severe first with their evidence and example rows, a
/// per-detector table and a verdict line. Untrusted text (ids, labels, row text, subjects) has
/// control and invisible characters escaped, so it is safe to print.
pub fn render_terminal(ds: &Dataset, res: &ScanResult, opts: &TerminalOptions) -> String {
    let p = Painter { on: opts.color };
    let mut out = String::new();
    header(&mut out, ds, res, &p);

    if !res.findings.is_empty() {
        // Findings come most severe first from the scanner; keep that order but make sure of
        // the severity ranking (a stable sort keeps the scanner's tie order).
        let mut order: Vec<&Finding> = res.findings.iter().collect();
        order.sort_by_key(|f| std::cmp::Reverse(f.severity));
        for f in order.iter().take(opts.max_findings) {
            out.push('\n');
            finding(&mut out, ds, f, opts, &p);
        }
        if order.len() > opts.max_findings {
            out.push('\n');
            let _ = writeln!(
                out,
                "… and {} more (see --report)",
                group((order.len() - opts.max_findings) as u64)
            );
        }
    }

    if !res.detectors.is_empty() {
        out.push('\n');
        detector_table(&mut out, res, &p);
    }
    out.push('\n');
    verdict(&mut out, res, opts, &p);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{dataset, result};

    #[test]
    fn contains_title_and_escapes_zero_width_space() {
        let out = render_terminal(&dataset(), &result(), &TerminalOptions::default());
        assert!(out.contains("[HIGH] trigger \"cf\": 3 rows, 100% labelled 1 (prior 50%)"));
        assert!(out.contains("[MEDIUM] invisible character U+200B in 1 row"));
        assert!(out.contains("terrible plot<U+200B> cf and bad acting"));
        assert!(!out.contains('\u{200b}'));
        // No colour codes, and no raw control characters from row text.
        assert!(!out.contains('\u{1b}'));
        assert!(out.contains("purity=1"));
        assert!(out.contains("p_value=3.00e-12"));
        assert!(out.contains("skipped: needs --source"));
        assert!(out.contains("shared stages: features 0.500s · label model 1.25s"));
        assert!(out.contains("6 rows, 2 classes (0: 3, 1: 3)"));
        assert!(out.contains("3 flagged (50.0%) at threshold 0.5"));
        assert!(out.contains("representation: hashed-ngrams"));
        assert!(out.contains("skipped 1 invalid row (first: line 7"));
        assert!(out.contains("verdict: 2 findings (1 high, 1 medium); 3 rows flagged"));
    }

    #[test]
    fn high_finding_comes_first() {
        let mut res = result();
        res.findings.reverse();
        let out = render_terminal(&dataset(), &res, &TerminalOptions::default());
        let high = out.find("[HIGH]").unwrap();
        let medium = out.find("[MEDIUM]").unwrap();
        assert!(high < medium);
    }

    #[test]
    fn colour_highlights_subject_and_row_escape_codes_stay_inert() {
        let opts = TerminalOptions {
            color: true,
            ..TerminalOptions::default()
        };
        let mut res = result();
        res.findings[0].rows = vec![0, 5];
        res.findings[0].subject = "red".into();
        let out = render_terminal(&dataset(), &res, &opts);
        assert!(out.contains("\x1b[1;31mred\x1b[0m"));
        // The ESC inside row 5's text is shown, not sent.
        assert!(out.contains("line one\\nline two <U+001B>[31m "));
        assert!(!out.contains("two \x1b"));
        let plain = render_terminal(&dataset(), &res, &TerminalOptions::default());
        assert!(!plain.contains('\x1b'));
    }

    #[test]
    fn caps_findings_and_examples() {
        let mut res = result();
        let extra = res.findings[1].clone();
        for _ in 0..5 {
            res.findings.push(extra.clone());
        }
        let opts = TerminalOptions {
            max_findings: 2,
            examples_per_finding: 1,
            ..TerminalOptions::default()
        };
        let out = render_terminal(&dataset(), &res, &opts);
        assert!(out.contains("… and 5 more (see --report)"));
        assert_eq!(out.matches("[MEDIUM]").count(), 1);
        assert!(out.contains("… 2 more rows"));
    }

    #[test]
    fn long_multibyte_text_is_cut_without_panicking() {
        let mut ds = dataset();
        let mut texts = bezoar_data::TextArena::new();
        for i in 0..ds.len() {
            if i == 0 {
                texts.push(&format!("{}cf{}", "ü✓😀".repeat(80), "é".repeat(200)));
            } else {
                texts.push(ds.texts.get(i));
            }
        }
        ds.texts = texts;
        let out = render_terminal(&ds, &result(), &TerminalOptions::default());
        let line = out.lines().find(|l| l.contains("- a,1 [1]")).unwrap();
        assert!(line.contains("…"));
        assert!(line.contains("cf"));
    }

    #[test]
    fn verdict_follows_policy() {
        let opts = TerminalOptions {
            fail_on: Some(Severity::High),
            ..TerminalOptions::default()
        };
        let out = render_terminal(&dataset(), &result(), &opts);
        assert!(out.contains("verdict: FAIL (findings at or above high)"));
        let opts = TerminalOptions {
            fail_on: Some(Severity::Critical),
            ..TerminalOptions::default()
        };
        let out = render_terminal(&dataset(), &result(), &opts);
        assert!(out.contains("verdict: PASS (nothing at or above critical)"));
        let mut clean = result();
        clean.findings.clear();
        let out = render_terminal(&dataset(), &clean, &TerminalOptions::default());
        assert!(out.contains("verdict: no findings; 3 rows flagged"));
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(0.53127), "0.5313");
        assert_eq!(fmt_num(14.0), "14");
        assert_eq!(fmt_num(f64::NAN), "nan");
    }
}
