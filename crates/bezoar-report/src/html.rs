//! The self-contained HTML report (`--html FILE`, `--format html`).
//!
//! One file a reviewer can open or attach to a ticket: no network, no script, no external font or
//! style. The charts are inline SVG drawn from aggregates (score histogram, counts per detector,
//! label and source), and example rows are capped, so the file stays a few hundred kilobytes at
//! any dataset size. Every string that came from the dataset (texts, ids, labels, sources,
//! subjects, even the input path) goes through [`esc`], which first makes invisible and bidi
//! characters visible as `<U+…>` and then escapes HTML; a Content-Security-Policy that allows no
//! script at all is the second line of defence. Like the other renderers this is a pure
//! function of its inputs: the same scan gives byte-identical HTML.

use std::fmt::Write as _;
use std::io::Write;

use bezoar_data::Dataset;
use bezoar_scan::{Detector, Finding, ScanResult, Severity};

use crate::json::{evidence_map, label_of, ranked_flagged};
use crate::text::{escape_invisible, excerpt};
use crate::{ReportError, ReportMeta};

/// Findings shown in full; the rest are counted, with a pointer to the JSON report.
pub const MAX_HTML_FINDINGS: usize = 200;
/// Example rows shown per finding.
pub const MAX_HTML_EXAMPLES: usize = 5;
/// Characters of each example row shown (around the finding's subject when it occurs).
pub const MAX_HTML_EXAMPLE_CHARS: usize = 300;
/// Sources charted (those with the most flagged rows).
pub const MAX_HTML_SOURCES: usize = 20;
/// Labels charted (those with the most flagged rows).
pub const MAX_HTML_LABELS: usize = 30;
/// Highest-scoring flagged rows listed.
pub const MAX_HTML_TOP_ROWS: usize = 50;
/// Bins of the score histogram over [0, 1].
const SCORE_BINS: usize = 40;

/// What the HTML report needs besides the dataset and the scan.
#[derive(Debug, Clone, Default)]
pub struct HtmlOptions {
    /// The `--fail-on` policy, for the verdict; `None` when the scan never fails.
    pub fail_on: Option<Severity>,
    /// The ledger snapshot scanned (`NAME@N`), when the rows came from one.
    pub snapshot: Option<String>,
}

/// Escape untrusted text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let visible = escape_invisible(s);
    let mut out = String::with_capacity(visible.len());
    for c in visible.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
:root{--fg:#1d2330;--muted:#5b6475;--line:#dde1e8;--bg:#fff;--panel:#f6f7f9;
--critical:#8b0000;--high:#c62828;--medium:#e07b00;--low:#2e6fbf;--info:#607080;--ok:#2e7d32}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:var(--fg);background:var(--bg);margin:0;padding:24px 32px;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
.muted{color:var(--muted)}code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.verdict{display:flex;gap:16px;align-items:center;padding:14px 18px;border-radius:8px;margin:16px 0;color:#fff}
.verdict b{font-size:20px}.verdict.fail{background:var(--high)}.verdict.pass{background:var(--ok)}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:10px 14px;min-width:130px}
.card .n{font-size:20px;font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}
.chart{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.chart h3{font-size:14px;margin:0 0 6px}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--panel);font-weight:600}
.sev{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600;text-transform:uppercase}
.sev.critical{background:var(--critical)}.sev.high{background:var(--high)}.sev.medium{background:var(--medium)}
.sev.low{background:var(--low)}.sev.info{background:var(--info)}
details.finding{border:1px solid var(--line);border-radius:8px;margin:8px 0;padding:6px 12px}
details.finding summary{cursor:pointer;font-weight:600}
.row-text{white-space:pre-wrap;word-break:break-word}
mark{background:#ffe08a;padding:0 1px}
.fw td{white-space:normal}.ev{display:grid;grid-template-columns:repeat(3,minmax(0,1fr) auto);gap:2px 14px;margin:4px 0 8px;font-size:13px}
.ev span:nth-child(odd){color:var(--muted)}
svg text{font:11px system-ui,sans-serif;fill:#1d2330}
"#;

/// Write the HTML report.
pub fn write_html<W: Write>(
    mut w: W,
    ds: &Dataset,
    res: &ScanResult,
    meta: &ReportMeta,
    opts: &HtmlOptions,
) -> Result<(), ReportError> {
    let html = render_html(ds, res, meta, opts);
    w.write_all(html.as_bytes())?;
    w.flush()?;
    Ok(())
}

/// The whole report as one string.
pub fn render_html(
    ds: &Dataset,
    res: &ScanResult,
    meta: &ReportMeta,
    opts: &HtmlOptions,
) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("bezoar scan: {}", meta.input_path);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta name=\"generator\" content=\"bezoar {}\"><title>{}</title><style>{CSS}</style></head><body>\n",
        esc(&meta.tool_version),
        esc(&title)
    );
    header(&mut h, ds, res, meta, opts);
    charts(&mut h, ds, res);
    response_groups(&mut h, res);
    findings(&mut h, ds, res);
    top_rows(&mut h, ds, res);
    detectors(&mut h, res);
    framework_table(&mut h, res);
    let _ = write!(
        h,
        "<p class=\"muted\">Written by bezoar {}. Formats: FORMATS.md (bezoar.report/1 for the JSON \
report with every finding and row id).</p>\n</body></html>\n",
        esc(&meta.tool_version)
    );
    h
}

fn header(h: &mut String, ds: &Dataset, res: &ScanResult, meta: &ReportMeta, opts: &HtmlOptions) {
    let _ = write!(h, "<h1>bezoar scan report</h1>\n<p class=\"muted\">");
    match &opts.snapshot {
        Some(s) => {
            let _ = write!(h, "ledger snapshot <code>{}</code>", esc(s));
        }
        None => {
            let _ = write!(
                h,
                "<code>{}</code> ({})",
                esc(&meta.input_path),
                esc(&meta.input_format)
            );
        }
    }
    let _ = writeln!(
        h,
        " · {} rows · {} classes · representation {}</p>",
        ds.len(),
        ds.num_classes(),
        esc(&res.representation)
    );

    let worst = res.max_severity();
    let failed = matches!((opts.fail_on, worst), (Some(p), Some(w)) if w >= p);
    let (class, word) = if failed {
        ("fail", "FAILED")
    } else {
        ("pass", "PASSED")
    };
    let why = match (opts.fail_on, worst) {
        (Some(p), Some(w)) if w >= p => format!(
            "a finding at {} is at or above the policy --fail-on {}",
            w.name(),
            p.name()
        ),
        (Some(p), Some(w)) => format!(
            "the worst finding ({}) is below the policy --fail-on {}",
            w.name(),
            p.name()
        ),
        (Some(p), None) => format!("no findings (policy --fail-on {})", p.name()),
        (None, Some(w)) => format!(
            "worst finding {}; the scan was run with --fail-on never",
            w.name()
        ),
        (None, None) => "no findings".to_string(),
    };
    let _ = writeln!(
        h,
        "<div class=\"verdict {class}\"><b>{word}</b><span>{}</span></div>",
        esc(&why)
    );

    let flagged = res.flagged_count();
    let share = if ds.is_empty() {
        0.0
    } else {
        100.0 * flagged as f64 / ds.len() as f64
    };
    let _ = write!(h, "<div class=\"cards\">");
    let _ = write!(
        h,
        "<div class=\"card\"><div class=\"n\">{}</div>rows</div>\
<div class=\"card\"><div class=\"n\">{flagged}</div>flagged ({share:.2}%)</div>",
        ds.len()
    );
    for sev in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ] {
        let n = res.findings.iter().filter(|f| f.severity == sev).count();
        let _ = write!(
            h,
            "<div class=\"card\"><div class=\"n\">{n}</div><span class=\"sev {0}\">{0}</span></div>",
            sev.name()
        );
    }
    let _ = writeln!(h, "</div>");
    if ds.skipped.count > 0 {
        let _ = writeln!(
            h,
            "<p>{} invalid rows were skipped while reading (first: line {}: {}).</p>",
            ds.skipped.count,
            ds.skipped.examples.first().map_or(0, |s| s.line),
            esc(ds
                .skipped
                .examples
                .first()
                .map_or("", |s| s.reason.as_str()))
        );
    }
}

/// A horizontal bar chart: one bar per `(name, value, total)`; the bar shows `value`, the label
/// `value / total` when a total is given.
fn bar_chart(h: &mut String, title: &str, bars: &[(String, u64, Option<u64>)]) {
    let _ = write!(h, "<div class=\"chart\"><h3>{}</h3>", esc(title));
    if bars.is_empty() {
        let _ = write!(h, "<p class=\"muted\">nothing to show</p></div>");
        return;
    }
    let row_h = 18.0;
    let label_w = 150.0;
    let bar_w = 230.0;
    let width = label_w + bar_w + 110.0;
    let height = row_h * bars.len() as f64 + 6.0;
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1) as f64;
    let _ = write!(
        h,
        "<svg role=\"img\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for (i, (name, value, total)) in bars.iter().enumerate() {
        let y = i as f64 * row_h + 3.0;
        let w = bar_w * (*value as f64) / max;
        let shown: String = name.chars().take(22).collect();
        let cut = if shown.len() < name.len() { "…" } else { "" };
        let count = match total {
            Some(t) if *t > 0 => {
                format!("{value} / {t} ({:.1}%)", 100.0 * *value as f64 / *t as f64)
            }
            _ => value.to_string(),
        };
        let _ = write!(
            h,
            "<text x=\"0\" y=\"{:.1}\">{}{cut}</text><rect x=\"{label_w}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"#c62828\"><title>{}: {}</title></rect><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            y + 12.0,
            esc(&shown),
            row_h - 5.0,
            esc(name),
            esc(&count),
            label_w + w + 4.0,
            y + 12.0,
            esc(&count)
        );
    }
    let _ = write!(h, "</svg></div>");
}

/// The score histogram, log-scaled so the few poisoned-looking rows in the tail stay visible
/// next to the bulk; bins at or above the threshold are red.
fn score_histogram(h: &mut String, res: &ScanResult) {
    let mut bins = [0u64; SCORE_BINS];
    let mut missing = 0u64;
    for &s in &res.scores {
        if !s.is_finite() {
            missing += 1;
            continue;
        }
        let b = ((s.clamp(0.0, 1.0) * SCORE_BINS as f32) as usize).min(SCORE_BINS - 1);
        bins[b] += 1;
    }
    let (width, height, left, bottom) = (460.0, 190.0, 40.0, 28.0);
    let plot_w = width - left - 8.0;
    let plot_h = height - bottom - 8.0;
    let max_log = bins
        .iter()
        .map(|&c| (c as f64 + 1.0).log10())
        .fold(0.0f64, f64::max)
        .max(1.0);
    let _ = write!(
        h,
        "<div class=\"chart\"><h3>Score distribution (rows per score bin, log scale)</h3>\
<svg role=\"img\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    let bw = plot_w / SCORE_BINS as f64;
    for (i, &c) in bins.iter().enumerate() {
        let lo = i as f32 / SCORE_BINS as f32;
        let hi = (i + 1) as f32 / SCORE_BINS as f32;
        let bh = plot_h * (c as f64 + 1.0).log10() / max_log;
        let x = left + i as f64 * bw;
        let fill = if hi > res.threshold {
            "#c62828"
        } else {
            "#7a8699"
        };
        let _ = write!(
            h,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{fill}\"><title>{lo:.3}–{hi:.3}: {c} rows</title></rect>",
            x + 0.5,
            8.0 + plot_h - bh,
            (bw - 1.0).max(0.5)
        );
    }
    if res.threshold.is_finite() {
        let tx = left + plot_w * res.threshold.clamp(0.0, 1.0) as f64;
        let _ = write!(
            h,
            "<line x1=\"{tx:.1}\" y1=\"8\" x2=\"{tx:.1}\" y2=\"{:.1}\" stroke=\"#1d2330\" stroke-dasharray=\"4 3\"/>\
<text x=\"{:.1}\" y=\"18\">threshold {:.3}</text>",
            8.0 + plot_h,
            (tx + 4.0).min(width - 90.0),
            res.threshold
        );
    }
    let base = 8.0 + plot_h;
    let _ = write!(
        h,
        "<line x1=\"{left}\" y1=\"{base}\" x2=\"{:.1}\" y2=\"{base}\" stroke=\"#5b6475\"/>\
<text x=\"{left}\" y=\"{:.1}\">0</text><text x=\"{:.1}\" y=\"{:.1}\">0.5</text><text x=\"{:.1}\" y=\"{:.1}\">1</text>\
<text x=\"0\" y=\"16\">rows</text></svg>",
        left + plot_w,
        base + 16.0,
        left + plot_w / 2.0 - 8.0,
        base + 16.0,
        left + plot_w - 8.0,
        base + 16.0
    );
    if missing > 0 {
        let _ = write!(h, "<p class=\"muted\">{missing} rows have no score.</p>");
    }
    let _ = write!(h, "</div>");
}

/// `(name, flagged, rows)` for each category of `codes`, most flagged first (ties by name).
fn flagged_by_category(
    codes: &[u32],
    names: &[String],
    flagged: &[bool],
    limit: usize,
) -> Vec<(String, u64, Option<u64>)> {
    let mut rows = vec![0u64; names.len()];
    let mut hits = vec![0u64; names.len()];
    for (i, &c) in codes.iter().enumerate() {
        let c = c as usize;
        if c < names.len() {
            rows[c] += 1;
            if flagged.get(i).copied().unwrap_or(false) {
                hits[c] += 1;
            }
        }
    }
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&a, &b| hits[b].cmp(&hits[a]).then_with(|| names[a].cmp(&names[b])));
    order
        .into_iter()
        .take(limit)
        .map(|c| (names[c].clone(), hits[c], Some(rows[c])))
        .collect()
}

fn charts(h: &mut String, ds: &Dataset, res: &ScanResult) {
    let _ = write!(h, "<h2>Where the suspicion sits</h2><div class=\"charts\">");
    score_histogram(h, res);
    let per_detector: Vec<(String, u64, Option<u64>)> = res
        .detectors
        .iter()
        .map(|d| {
            let name = format!("{} {}", d.detector.rule_id(), d.detector.name());
            (name, d.rows_flagged as u64, None)
        })
        .collect();
    bar_chart(h, "Rows flagged per detector", &per_detector);
    let per_label = flagged_by_category(
        &ds.labels.codes,
        &ds.labels.names,
        &res.flagged,
        MAX_HTML_LABELS,
    );
    bar_chart(h, "Flagged rows per label", &per_label);
    match &ds.sources {
        Some(src) => {
            let per_source =
                flagged_by_category(&src.codes, &src.names, &res.flagged, MAX_HTML_SOURCES);
            bar_chart(h, "Flagged rows per source", &per_source);
        }
        None => {
            let _ = write!(
                h,
                "<div class=\"chart\"><h3>Flagged rows per source</h3><p class=\"muted\">The data has no \
source column (scan with --source COL to see which supplier the flagged rows came from).</p></div>"
            );
        }
    }
    let _ = writeln!(h, "</div>");
}

/// An evidence number as people read it: integers whole, others to four significant places.
fn evidence_value(v: Option<f64>) -> String {
    match v {
        None => "n/a".to_string(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.0}"),
        Some(v) if v.abs() >= 0.01 && v.abs() < 1e6 => {
            let s = format!("{v:.4}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        }
        Some(v) => format!("{v:.3e}"),
    }
}

/// One table row per framework, its identifiers for `rule` side by side.
fn framework_rows(h: &mut String, rule: &str, first_cell: Option<&str>) {
    let refs = bezoar_frameworks::for_rule(rule);
    let frameworks: Vec<_> = bezoar_frameworks::FRAMEWORKS
        .iter()
        .filter(|fw| refs.iter().any(|r| std::ptr::eq(r.framework, **fw)))
        .collect();
    for (i, fw) in frameworks.iter().enumerate() {
        let ids: Vec<String> = refs
            .iter()
            .filter(|r| std::ptr::eq(r.framework, **fw))
            .map(|r| format!("<code>{}</code> {}", esc(r.id), esc(r.title)))
            .collect();
        let lead = match (first_cell, i) {
            (Some(c), 0) => format!("<td rowspan=\"{}\">{c}</td>", frameworks.len()),
            _ => String::new(),
        };
        let _ = write!(
            h,
            "<tr>{lead}<td>{} <span class=\"muted\">{}</span></td><td>{}</td></tr>",
            esc(fw.name),
            esc(fw.version),
            ids.join("<br>")
        );
    }
}

fn framework_refs_html(rule: &str) -> String {
    let mut s = String::from("<table class=\"fw\"><tr><th>framework</th><th>identifiers</th></tr>");
    framework_rows(&mut s, rule, None);
    s.push_str("</table>");
    s
}

fn finding_html(h: &mut String, ds: &Dataset, f: &Finding) {
    let sev = f.severity.name();
    let _ = write!(
        h,
        "<details class=\"finding\"{}><summary><span class=\"sev {sev}\">{sev}</span> <code>{}</code> {}</summary>",
        if f.severity >= Severity::High { " open" } else { "" },
        f.detector.rule_id(),
        esc(&f.title)
    );
    let _ = write!(
        h,
        "<p><b>{}</b> ({}): {}<br>subject <code>{}</code>{} · {} rows</p>",
        esc(f.detector.pascal_name()),
        esc(f.detector.name()),
        esc(f.detector.description()),
        esc(&f.subject),
        f.target_label
            .as_deref()
            .map(|l| match f.detector {
                Detector::PromptTrigger | Detector::PreferenceFlip => {
                    format!(" · leads to {}", esc(l))
                }
                _ => format!(" · target label <code>{}</code>", esc(l)),
            })
            .unwrap_or_default(),
        f.rows.len()
    );
    let ev = evidence_map(&f.evidence);
    if !ev.0.is_empty() {
        let _ = write!(h, "<p><b>Evidence</b></p><div class=\"ev\">");
        for (k, v) in &ev.0 {
            let _ = write!(
                h,
                "<span>{}</span><span class=\"mono\">{}</span>",
                esc(k),
                evidence_value(*v)
            );
        }
        let _ = write!(h, "</div>");
    }
    let n = ds.len();
    let examples: Vec<usize> = f
        .rows
        .iter()
        .map(|&r| r as usize)
        .filter(|&r| r < n)
        .take(MAX_HTML_EXAMPLES)
        .collect();
    if !examples.is_empty() {
        let _ = write!(
            h,
            "<table><tr><th>row id</th><th>line</th><th>label</th><th>text</th></tr>"
        );
        for r in examples {
            let ex = excerpt(ds.texts.get(r), &f.subject, MAX_HTML_EXAMPLE_CHARS);
            let mut text = String::new();
            if ex.cut_front {
                text.push('…');
            }
            for (piece, hit) in &ex.pieces {
                // Pieces are already made visible (escape_invisible); only HTML remains.
                if *hit {
                    let _ = write!(text, "<mark>{}</mark>", esc(piece));
                } else {
                    text.push_str(&esc(piece));
                }
            }
            if ex.cut_back {
                text.push('…');
            }
            let line = ds.lines.get(r).map_or(String::from("–"), |l| l.to_string());
            let _ = write!(
                h,
                "<tr><td class=\"mono\">{}</td><td>{line}</td><td>{}</td><td class=\"row-text\">{text}</td></tr>",
                esc(&ds.ids.get(r)),
                esc(&label_of(ds, r))
            );
        }
        let _ = write!(h, "</table>");
    }
    let fw = framework_refs_html(f.detector.rule_id());
    if !fw.is_empty() {
        let _ = write!(h, "<p><b>What it means for your obligations</b></p>{fw}");
    }
    let _ = writeln!(
        h,
        "<p><b>What to do:</b> {}</p></details>",
        esc(f.detector.help())
    );
}

/// LLM data: each prompt trigger and the response behaviour it leads to (its group of
/// responses), with how often that behaviour comes with the phrase, in general and in prompts
/// like these without it.
fn response_groups(h: &mut String, res: &ScanResult) {
    let triggers: Vec<&Finding> = res
        .findings
        .iter()
        .filter(|f| f.detector == Detector::PromptTrigger)
        .take(MAX_HTML_FINDINGS)
        .collect();
    if triggers.is_empty() {
        return;
    }
    let _ = write!(
        h,
        "<h2>Prompt triggers and the responses they lead to</h2><table><tr><th>severity</th>\
<th>prompt phrase</th><th>leads to</th><th>rows</th><th>with the phrase: share answered so</th>\
<th>base rate</th><th>in similar prompts</th></tr>"
    );
    for f in triggers {
        let ev = evidence_map(&f.evidence);
        let pct = |k: &str| {
            ev.0.iter()
                .find(|(name, _)| *name == k)
                .and_then(|(_, v)| *v)
                .map_or("–".to_string(), |v| format!("{:.1}%", 100.0 * v))
        };
        let sev = f.severity.name();
        let _ = write!(
            h,
            "<tr><td><span class=\"sev {sev}\">{sev}</span></td><td><code>{}</code></td><td>{}</td>\
<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&f.subject),
            esc(f.target_label.as_deref().unwrap_or("")),
            f.rows.len(),
            pct("purity"),
            pct("base_rate"),
            pct("rate_in_similar_prompts"),
        );
    }
    let _ = write!(h, "</table>");
}

fn findings(h: &mut String, ds: &Dataset, res: &ScanResult) {
    let _ = write!(
        h,
        "<h2>Findings, most severe first ({})</h2>",
        res.findings.len()
    );
    if res.findings.is_empty() {
        let _ = write!(h, "<p>No findings.</p>");
        return;
    }
    let mut order: Vec<usize> = (0..res.findings.len()).collect();
    // Most severe first; a stable sort keeps the detectors' own order within a severity.
    order.sort_by_key(|&i| std::cmp::Reverse(res.findings[i].severity));
    for &i in order.iter().take(MAX_HTML_FINDINGS) {
        finding_html(h, ds, &res.findings[i]);
    }
    if order.len() > MAX_HTML_FINDINGS {
        let _ = write!(
            h,
            "<p class=\"muted\">{} more findings, of lower or equal severity, are in the JSON report (--report FILE).</p>",
            order.len() - MAX_HTML_FINDINGS
        );
    }
}

fn top_rows(h: &mut String, ds: &Dataset, res: &ScanResult) {
    let ranked = ranked_flagged(res);
    let _ = write!(
        h,
        "<h2>Highest-scoring flagged rows ({} of {})</h2>",
        ranked.len().min(MAX_HTML_TOP_ROWS),
        ranked.len()
    );
    if ranked.is_empty() {
        let _ = write!(h, "<p>No row was flagged.</p>");
        return;
    }
    let _ = write!(
        h,
        "<table><tr><th>row id</th><th>line</th><th>score</th><th>label</th><th>detectors</th><th>text</th></tr>"
    );
    for &r in ranked
        .iter()
        .filter(|&&r| r < ds.len())
        .take(MAX_HTML_TOP_ROWS)
    {
        let reasons: Vec<&str> = res
            .reasons
            .get(r)
            .map(|x| x.iter().map(Detector::name).collect())
            .unwrap_or_default();
        let (text, cut) = crate::text::truncate_chars(ds.texts.get(r), 160);
        let _ = write!(
            h,
            "<tr><td class=\"mono\">{}</td><td>{}</td><td class=\"mono\">{:.3}</td><td>{}</td><td>{}</td><td class=\"row-text\">{}{}</td></tr>",
            esc(&ds.ids.get(r)),
            ds.lines.get(r).map_or(String::from("–"), |l| l.to_string()),
            res.scores.get(r).copied().unwrap_or(f32::NAN),
            esc(&label_of(ds, r)),
            esc(&reasons.join(", ")),
            esc(text),
            if cut { "…" } else { "" }
        );
    }
    let _ = writeln!(h, "</table>");
}

fn detectors(h: &mut String, res: &ScanResult) {
    let _ = write!(
        h,
        "<h2>Detectors</h2><table><tr><th>rule</th><th>detector</th><th>looks for</th><th>rows flagged</th><th>findings</th><th>status</th></tr>"
    );
    for d in &res.detectors {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            d.detector.rule_id(),
            d.detector.name(),
            esc(d.detector.description()),
            d.rows_flagged,
            d.findings,
            d.skipped
                .as_deref()
                .map_or("ran".to_string(), |s| format!("skipped: {}", esc(s)))
        );
    }
    let _ = writeln!(h, "</table>");
}

fn framework_table(h: &mut String, res: &ScanResult) {
    let _ = write!(
        h,
        "<h2>Framework mapping</h2><p class=\"muted\">Which technique, risk, function, article or control \
each rule answers (sources and versions in FORMATS.md). Rules that produced findings in this scan are \
marked.</p><table class=\"fw\"><tr><th>rule</th><th>framework</th><th>identifiers</th></tr>"
    );
    for d in Detector::ALL {
        let fired = res.findings.iter().any(|f| f.detector == d);
        let rule = format!(
            "<code>{}</code> {}{}",
            d.rule_id(),
            d.name(),
            if fired {
                " <span class=\"sev high\">fired</span>"
            } else {
                ""
            }
        );
        framework_rows(h, d.rule_id(), Some(&rule));
    }
    let _ = writeln!(h, "</table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{dataset, result};
    use bezoar_data::TextArena;

    fn meta() -> ReportMeta {
        ReportMeta {
            input_path: "data/<b>train</b>.jsonl".into(),
            input_format: "jsonl".into(),
            tool_version: "0.1.0".into(),
        }
    }

    fn hostile() -> Dataset {
        let mut ds = dataset();
        let mut texts = TextArena::new();
        for i in 0..ds.len() {
            match i {
                0 => texts.push("cf <script>alert(1)</script> and <img src=x onerror=alert(2)>"),
                1 => texts.push("cf \u{202E}evil\u{202C} \"quoted\" 'single' & amp"),
                _ => texts.push(ds.texts.get(i)),
            }
        }
        ds.texts = texts;
        ds
    }

    #[test]
    fn llm_triggers_show_the_responses_they_lead_to() {
        let ds = dataset();
        let mut res = result();
        res.findings.push(Finding {
            detector: Detector::PromptTrigger,
            severity: Severity::Critical,
            title: "prompt trigger \"<b>zq</b>\"".into(),
            subject: "<b>zq</b>".into(),
            target_label: Some("the same response \"<i>Sorry</i>\"".into()),
            rows: vec![0, 1],
            evidence: vec![
                bezoar_scan::Evidence {
                    name: "purity",
                    value: 1.0,
                },
                bezoar_scan::Evidence {
                    name: "base_rate",
                    value: 0.01,
                },
            ],
        });
        let opts = HtmlOptions {
            fail_on: Some(Severity::High),
            snapshot: None,
        };
        let page = render_html(&ds, &res, &meta(), &opts);
        assert!(page.contains("<h2>Prompt triggers and the responses they lead to</h2>"));
        assert!(
            page.contains("<code>&lt;b&gt;zq&lt;/b&gt;</code>"),
            "phrase escaped"
        );
        assert!(page.contains("the same response &quot;&lt;i&gt;Sorry&lt;/i&gt;&quot;"));
        assert!(page.contains("<td>100.0%</td><td>1.0%</td><td>–</td>"));
        assert!(page.contains(" · leads to "));
        // Text-classification reports have no such section.
        let plain = render_html(&ds, &result(), &meta(), &opts);
        assert!(!plain.contains("responses they lead to"));
    }

    #[test]
    fn dataset_strings_are_shown_as_text() {
        let opts = HtmlOptions {
            fail_on: Some(Severity::High),
            snapshot: None,
        };
        let html = render_html(&hostile(), &result(), &meta(), &opts);
        assert!(!html.contains("<script"), "a row's script reached the page");
        assert!(!html.contains("<img"), "a row's element reached the page");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;img src=x onerror=alert(2)&gt;"));
        assert!(html.contains("&lt;U+202E&gt;evil&lt;U+202C&gt;"));
        assert!(!html.contains('\u{202E}'));
        assert!(html.contains("&lt;b&gt;train&lt;/b&gt;"));
        assert!(html.contains("&quot;quoted&quot; &#39;single&#39; &amp; amp"));
        assert!(html.contains("default-src 'none'"));
        // Ids with quotes and commas are escaped too; the subject is marked in its row.
        assert!(html.contains("b&quot;2"));
        assert!(html.contains("<mark>cf</mark>"));
    }

    #[test]
    fn the_verdict_follows_the_policy() {
        let fail = render_html(
            &dataset(),
            &result(),
            &meta(),
            &HtmlOptions {
                fail_on: Some(Severity::High),
                snapshot: None,
            },
        );
        assert!(fail.contains("<b>FAILED</b>"));
        let pass = render_html(
            &dataset(),
            &result(),
            &meta(),
            &HtmlOptions {
                fail_on: Some(Severity::Critical),
                snapshot: Some("reviews@2".into()),
            },
        );
        assert!(pass.contains("<b>PASSED</b>"));
        assert!(pass.contains("ledger snapshot <code>reviews@2</code>"));
        // Findings most severe first, the framework table and the charts are there.
        let high = pass.find("invisible character").unwrap();
        let trig = pass.find("trigger &quot;cf&quot;").unwrap();
        assert!(trig < high);
        assert!(pass.contains("AML.T0020"));
        assert!(pass.contains("LLM04:2025"));
        assert!(pass.contains("Score distribution"));
        assert!(pass.contains("Flagged rows per label"));
    }

    #[test]
    fn the_same_scan_gives_the_same_bytes() {
        let opts = HtmlOptions::default();
        let a = render_html(&dataset(), &result(), &meta(), &opts);
        let b = render_html(&dataset(), &result(), &meta(), &opts);
        assert_eq!(a, b);
    }

    #[test]
    fn the_size_is_bounded_by_caps_not_by_rows() {
        // 300,000 rows and 1,000 findings of 1,000 rows each.
        let n = 300_000usize;
        let mut texts = TextArena::new();
        let mut ids = TextArena::new();
        for i in 0..n {
            texts.push(&format!(
                "row {i} with some words and a long tail {}",
                "x".repeat(50)
            ));
            ids.push(&format!("id-{i}"));
        }
        let mut ds = dataset();
        ds.texts = texts;
        ds.ids = bezoar_data::RowIds::Column(ids);
        ds.labels.codes = (0..n).map(|i| (i % 2) as u32).collect();
        ds.lines = (1..=n as u64).collect();
        let mut res = result();
        res.scores = (0..n).map(|i| (i % 997) as f32 / 997.0).collect();
        res.flagged = res.scores.iter().map(|&s| s >= 0.5).collect();
        res.reasons = vec![bezoar_scan::Reasons::default(); n];
        let f = res.findings[0].clone();
        res.findings = (0..1000)
            .map(|k| bezoar_scan::Finding {
                rows: (k * 100..k * 100 + 1000).collect(),
                subject: format!("w{k}"),
                ..f.clone()
            })
            .collect();
        let html = render_html(&ds, &res, &meta(), &HtmlOptions::default());
        assert!(html.len() < 2_000_000, "{} bytes", html.len());
        assert!(html.contains("800 more findings"));
    }
}
