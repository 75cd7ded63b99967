//! The versioned JSON report (`"schema": "bezoar.report/1"`).
//!
//! The report is a tree of plain structs so the key order is fixed by the field order, and it
//! holds nothing that varies between runs (no timestamps, no durations), so the same input and
//! flags give byte-identical output.

use std::fmt;
use std::io::Write;

use bezoar_data::Dataset;
use bezoar_scan::{Evidence, Finding, ScanResult, Severity};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::text::truncate_chars;
use crate::{ReportError, REPORT_SCHEMA};

/// How many row ids each finding lists (the full count is in `rows`).
pub const MAX_ROW_IDS: usize = 100;
/// How many example rows each finding carries.
pub const MAX_EXAMPLES: usize = 5;
/// Example texts are cut to this many characters (not bytes).
pub const MAX_EXAMPLE_CHARS: usize = 300;
/// How many of the highest-scoring flagged rows `top_rows` lists.
pub const MAX_TOP_ROWS: usize = 50;

/// Facts about the run that are not in the dataset or the scan result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportMeta {
    /// The input path as the user gave it.
    pub input_path: String,
    /// The format the file was read as (`jsonl`, `csv`, `tsv`, `parquet`).
    pub input_format: String,
    /// The bezoar version that wrote the report.
    pub tool_version: String,
}

/// The whole JSON report. Field order is the key order in the output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub tool: ToolInfo,
    pub input: InputInfo,
    pub classes: Vec<ClassEntry>,
    pub representation: String,
    pub threshold: Option<f64>,
    pub summary: SummaryInfo,
    pub detectors: Vec<DetectorEntry>,
    pub findings: Vec<FindingEntry>,
    pub top_rows: Vec<TopRow>,
    /// The framework mapping of every rule (`catalog` of frameworks with their editions, and
    /// `rules`: rule id → framework key → identifiers). Added in bezoar 0.1 without a schema
    /// bump: readers of older reports get `null`.
    #[serde(default)]
    pub frameworks: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputInfo {
    pub path: String,
    pub format: String,
    pub rows: u64,
    pub columns: InputColumns,
    pub skipped: SkippedInfo,
}

/// The columns actually used, after defaults were resolved; `null` when not used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputColumns {
    pub text: String,
    pub label: String,
    pub id: Option<String>,
    pub source: Option<String>,
    pub embedding: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedInfo {
    pub count: u64,
    pub examples: Vec<SkipExample>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkipExample {
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassEntry {
    pub label: String,
    pub rows: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryInfo {
    pub rows: u64,
    pub flagged: u64,
    /// The most severe finding's severity (`critical` ... `info`); `null` when there are none.
    pub max_severity: Option<String>,
    pub findings_by_severity: FindingsBySeverity,
    /// How the flagged rows were flagged; the three counts add up to `flagged`.
    pub flagged_by: FlaggedByInfo,
}

/// See [`bezoar_scan::FlaggedBy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlaggedByInfo {
    pub one_detector: u64,
    pub several_detectors: u64,
    pub combined_evidence: u64,
}

/// Finding counts for every severity, most severe first; zero counts are present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingsBySeverity {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    pub info: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectorEntry {
    /// The detector's stable name (`trigger`, `unusual-chars`, ...).
    pub detector: String,
    /// The detector's stable rule id (`BZ001` ...).
    #[serde(default)]
    pub rule: String,
    pub rows_flagged: u64,
    pub findings: u64,
    /// Why the detector did not run; `null` when it ran.
    pub skipped: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingEntry {
    pub detector: String,
    /// The stable rule id of the detector that produced the finding (`BZ001` ...).
    #[serde(default)]
    pub rule: String,
    /// `critical`, `high`, `medium`, `low` or `info`.
    pub severity: String,
    pub title: String,
    pub subject: String,
    pub target_label: Option<String>,
    /// How many rows the finding covers.
    pub rows: u64,
    /// Ids of the first [`MAX_ROW_IDS`] rows, in input order.
    pub row_ids: Vec<String>,
    /// The first [`MAX_EXAMPLES`] rows.
    pub examples: Vec<ExampleRow>,
    pub evidence: EvidenceMap,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExampleRow {
    pub id: String,
    pub label: String,
    /// The row text, cut to [`MAX_EXAMPLE_CHARS`] characters.
    pub text: String,
    /// Whether `text` was cut.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopRow {
    pub id: String,
    pub score: Option<f64>,
    pub label: String,
    pub reasons: Vec<String>,
}

/// A finding's evidence: an object from name to number, in the detector's order. Non-finite
/// numbers are written as `null`; a repeated name keeps its first value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvidenceMap(pub Vec<(String, Option<f64>)>);

impl Serialize for EvidenceMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for EvidenceMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EvidenceMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of evidence names to numbers")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<EvidenceMap, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, Option<f64>>()? {
                    out.push((k, v));
                }
                Ok(EvidenceMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// An `f32` as the shortest decimal that reads back to it, as an `f64` (so `0.1f32` is
/// written `0.1`, not `0.10000000149011612`); `None` for NaN and infinities.
fn f32_json(v: f32) -> Option<f64> {
    if !v.is_finite() {
        return None;
    }
    format!("{v}").parse::<f64>().ok()
}

pub(crate) fn evidence_map(ev: &[Evidence]) -> EvidenceMap {
    let mut out: Vec<(String, Option<f64>)> = Vec::with_capacity(ev.len());
    for e in ev {
        if out.iter().any(|(k, _)| k == e.name) {
            continue;
        }
        out.push((e.name.to_string(), finite(e.value)));
    }
    EvidenceMap(out)
}

pub(crate) fn label_of(ds: &Dataset, row: usize) -> String {
    match ds.labels.codes.get(row) {
        Some(&c) => ds.labels.names.get(c as usize).cloned().unwrap_or_default(),
        None => String::new(),
    }
}

fn finding_entry(ds: &Dataset, f: &Finding) -> FindingEntry {
    let n = ds.len();
    let valid = f.rows.iter().map(|&r| r as usize).filter(|&r| r < n);
    let row_ids = valid
        .clone()
        .take(MAX_ROW_IDS)
        .map(|r| ds.ids.get(r).into_owned())
        .collect();
    let examples = valid
        .take(MAX_EXAMPLES)
        .map(|r| {
            let (text, truncated) = truncate_chars(ds.texts.get(r), MAX_EXAMPLE_CHARS);
            ExampleRow {
                id: ds.ids.get(r).into_owned(),
                label: label_of(ds, r),
                text: text.to_string(),
                truncated,
            }
        })
        .collect();
    FindingEntry {
        detector: f.detector.name().to_string(),
        rule: f.detector.rule_id().to_string(),
        severity: f.severity.name().to_string(),
        title: f.title.clone(),
        subject: f.subject.clone(),
        target_label: f.target_label.clone(),
        rows: f.rows.len() as u64,
        row_ids,
        examples,
        evidence: evidence_map(&f.evidence),
    }
}

/// Indices of flagged rows, highest score first, ties (and NaN scores, last) in input order.
pub(crate) fn ranked_flagged(res: &ScanResult) -> Vec<usize> {
    let mut idx: Vec<usize> = res
        .flagged
        .iter()
        .enumerate()
        .filter(|(_, f)| **f)
        .map(|(i, _)| i)
        .collect();
    let key = |i: usize| {
        let s = res.scores.get(i).copied().unwrap_or(f32::NAN);
        if s.is_nan() {
            f32::NEG_INFINITY
        } else {
            s
        }
    };
    // A stable sort keeps input order among equal scores.
    idx.sort_by(|&a, &b| key(b).total_cmp(&key(a)));
    idx
}

/// Build the report for one scan. Pure: the same inputs give an equal report.
pub fn build_report(ds: &Dataset, res: &ScanResult, meta: &ReportMeta) -> Report {
    let n = ds.len();
    let counts = ds.labels.counts();
    let classes = ds
        .labels
        .names
        .iter()
        .zip(counts)
        .map(|(label, rows)| ClassEntry {
            label: label.clone(),
            rows: rows as u64,
        })
        .collect();

    let mut by_sev = FindingsBySeverity::default();
    for f in &res.findings {
        let slot = match f.severity {
            Severity::Critical => &mut by_sev.critical,
            Severity::High => &mut by_sev.high,
            Severity::Medium => &mut by_sev.medium,
            Severity::Low => &mut by_sev.low,
            Severity::Info => &mut by_sev.info,
        };
        *slot += 1;
    }

    let top_rows = ranked_flagged(res)
        .into_iter()
        .filter(|&i| i < n)
        .take(MAX_TOP_ROWS)
        .map(|i| TopRow {
            id: ds.ids.get(i).into_owned(),
            score: res.scores.get(i).copied().and_then(f32_json),
            label: label_of(ds, i),
            reasons: res
                .reasons
                .get(i)
                .map(|r| r.iter().map(|d| d.name().to_string()).collect())
                .unwrap_or_default(),
        })
        .collect();

    let c = &ds.columns;
    Report {
        schema: REPORT_SCHEMA.to_string(),
        tool: ToolInfo {
            name: "bezoar".to_string(),
            version: meta.tool_version.clone(),
        },
        input: InputInfo {
            path: meta.input_path.clone(),
            format: meta.input_format.clone(),
            rows: n as u64,
            columns: InputColumns {
                text: c.text.clone(),
                label: c.label.clone(),
                id: c.id.clone(),
                source: c.source.clone(),
                embedding: c.embedding.clone(),
            },
            skipped: SkippedInfo {
                count: ds.skipped.count,
                examples: ds
                    .skipped
                    .examples
                    .iter()
                    .map(|s| SkipExample {
                        line: s.line,
                        reason: s.reason.clone(),
                    })
                    .collect(),
            },
        },
        classes,
        representation: res.representation.clone(),
        threshold: f32_json(res.threshold),
        summary: SummaryInfo {
            rows: n as u64,
            flagged: res.flagged_count() as u64,
            max_severity: res.max_severity().map(|s| s.name().to_string()),
            findings_by_severity: by_sev,
            flagged_by: FlaggedByInfo {
                one_detector: res.flagged_by.one_detector as u64,
                several_detectors: res.flagged_by.several_detectors as u64,
                combined_evidence: res.flagged_by.combined_evidence as u64,
            },
        },
        detectors: res
            .detectors
            .iter()
            .map(|d| DetectorEntry {
                detector: d.detector.name().to_string(),
                rule: d.detector.rule_id().to_string(),
                rows_flagged: d.rows_flagged as u64,
                findings: d.findings as u64,
                skipped: d.skipped.clone(),
            })
            .collect(),
        findings: res.findings.iter().map(|f| finding_entry(ds, f)).collect(),
        top_rows,
        frameworks: bezoar_frameworks::mapping_json(
            bezoar_scan::Detector::ALL.iter().map(|d| d.rule_id()),
        ),
    }
}

/// Write the pretty-printed JSON report followed by a newline.
pub fn write_report_json<W: Write>(
    mut w: W,
    ds: &Dataset,
    res: &ScanResult,
    meta: &ReportMeta,
) -> Result<(), ReportError> {
    let report = build_report(ds, res, meta);
    serde_json::to_writer_pretty(&mut w, &report)?;
    w.write_all(b"\n")?;
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{dataset, meta, result};

    fn render() -> Vec<u8> {
        let mut buf = Vec::new();
        write_report_json(&mut buf, &dataset(), &result(), &meta()).unwrap();
        buf
    }

    #[test]
    fn has_schema_first_and_is_byte_identical_across_renders() {
        let a = render();
        let b = render();
        assert_eq!(a, b);
        let s = String::from_utf8(a).unwrap();
        assert!(s.starts_with("{\n  \"schema\": \"bezoar.report/1\",\n  \"tool\""));
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["schema"], REPORT_SCHEMA);
        assert_eq!(v["tool"]["name"], "bezoar");
        assert!(!s.contains("seconds"));
    }

    #[test]
    fn report_content() {
        let v: serde_json::Value = serde_json::from_slice(&render()).unwrap();
        assert_eq!(v["input"]["rows"], 6);
        assert_eq!(v["input"]["columns"]["id"], "id");
        assert_eq!(v["input"]["columns"]["source"], serde_json::Value::Null);
        assert_eq!(v["input"]["skipped"]["count"], 1);
        assert_eq!(v["input"]["skipped"]["examples"][0]["line"], 7);
        assert_eq!(v["classes"][0]["label"], "0");
        assert_eq!(v["classes"][0]["rows"], 3);
        assert_eq!(v["threshold"], 0.5);
        assert_eq!(v["summary"]["flagged"], 3);
        assert_eq!(v["summary"]["max_severity"], "high");
        assert_eq!(v["summary"]["findings_by_severity"]["high"], 1);
        assert_eq!(v["summary"]["findings_by_severity"]["medium"], 1);
        assert_eq!(v["summary"]["findings_by_severity"]["critical"], 0);
        assert_eq!(v["detectors"][1]["skipped"], "needs --source");
        let f = &v["findings"][0];
        assert_eq!(f["detector"], "trigger");
        assert_eq!(f["severity"], "high");
        assert_eq!(f["rows"], 3);
        assert_eq!(f["row_ids"], serde_json::json!(["a,1", "b\"2", "d4"]));
        assert_eq!(f["examples"][0]["label"], "1");
        assert_eq!(f["evidence"]["purity"], 1.0);
        assert_eq!(f["evidence"]["weird"], serde_json::Value::Null);
        // Top rows: highest score first, ties in input order.
        let top: Vec<&str> = v["top_rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(top, ["b\"2", "a,1", "d4"]);
        assert_eq!(v["top_rows"][0]["score"], 0.95);
        assert_eq!(
            v["top_rows"][0]["reasons"],
            serde_json::json!(["trigger", "unusual-chars"])
        );
        // The framework mapping covers every rule, with the editions cited.
        assert_eq!(
            v["frameworks"]["rules"]["BZ001"]["mitre-atlas"][0]["id"],
            "AML.T0020"
        );
        assert_eq!(
            v["frameworks"]["rules"]["BZ003"]["owasp-ml"][0]["id"],
            "ML02:2023"
        );
        assert_eq!(v["frameworks"]["catalog"][0]["version"], "data v4.9.0");
        assert_eq!(
            v["frameworks"]["rules"].as_object().unwrap().len(),
            bezoar_scan::Detector::ALL.len()
        );
    }

    #[test]
    fn report_round_trips_through_serde() {
        let s = render();
        let parsed: Report = serde_json::from_slice(&s).unwrap();
        assert_eq!(parsed, build_report(&dataset(), &result(), &meta()));
    }

    #[test]
    fn long_example_text_is_cut_on_a_char_boundary() {
        let mut ds = dataset();
        let mut texts = bezoar_data::TextArena::new();
        for i in 0..ds.len() {
            if i == 0 {
                texts.push(&"é".repeat(MAX_EXAMPLE_CHARS + 10));
            } else {
                texts.push(ds.texts.get(i));
            }
        }
        ds.texts = texts;
        let r = build_report(&ds, &result(), &meta());
        let ex = &r.findings[0].examples[0];
        assert!(ex.truncated);
        assert_eq!(ex.text.chars().count(), MAX_EXAMPLE_CHARS);
    }
}
