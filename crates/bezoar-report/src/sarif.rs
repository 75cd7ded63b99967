//! SARIF 2.1.0 output (`--format sarif`, `--sarif FILE`), for CI systems and code-scanning views.
//!
//! One run. `tool.driver.rules` is the detector registry (every rule, whether it fired or not,
//! so `ruleIndex` is stable); each finding is one result whose locations point at the dataset
//! file and the line of each example row, so a code-scanning view opens the poisoned line.
//! Like the JSON report, the log holds nothing that varies between runs of the same input and
//! flags: no timestamps, no absolute paths of the machine that wrote it (the file's URI is
//! relative to `%SRCROOT%`, the directory the scan ran in, whenever the file lies under it).
//! Field by field in `FORMATS.md`.

use std::io::Write;

use bezoar_data::Dataset;
use bezoar_scan::{Detector, Finding, ScanResult, Severity};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::json::{evidence_map, label_of};
use crate::{ReportError, ReportMeta};

/// The SARIF version written and the schema it validates against.
pub const SARIF_VERSION: &str = "2.1.0";
pub const SARIF_SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";
/// How many locations (example rows) each result lists; `properties.rows` has the full count.
pub const MAX_SARIF_LOCATIONS: usize = 20;
/// The `uriBaseId` of dataset files under the directory the scan ran in.
pub const SRCROOT: &str = "SRCROOT";
/// The key of the one partial fingerprint each result carries.
pub const FINGERPRINT_KEY: &str = "bezoarFinding/v1";

/// Where the scanned rows live, as SARIF should name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SarifArtifact {
    /// A file, by URI: relative to `%SRCROOT%` (`base` = true) or absolute (`file://…`).
    File {
        uri: String,
        relative: bool,
        /// Parquet files are binary: their rows are named as row numbers, not text lines.
        rows_not_lines: bool,
    },
    /// A ledger snapshot (`NAME@N`): rows are named by logical location only.
    Snapshot(String),
    /// Standard input: rows are named by logical location only.
    Stdin,
}

/// How SARIF names `input`, a path as the user gave it, seen from the directory `cwd`.
///
/// A path under `cwd` becomes a relative URI with `uriBaseId: SRCROOT`; any other path becomes
/// an absolute `file://` URI. Every byte outside RFC 3986's unreserved set and `/` is
/// percent-encoded, so a hostile file name cannot break out of the URI.
pub fn artifact_for_path(
    input: &std::path::Path,
    cwd: &std::path::Path,
    parquet: bool,
) -> SarifArtifact {
    if bezoar_data::is_stdin(input) {
        return SarifArtifact::Stdin;
    }
    let absolute = if input.is_absolute() {
        input.to_path_buf()
    } else {
        cwd.join(input)
    };
    let absolute = normalise(&absolute);
    let cwd = normalise(cwd);
    match absolute.strip_prefix(&cwd) {
        Ok(rel) if !rel.as_os_str().is_empty() => SarifArtifact::File {
            uri: bezoar_data::display::uri_path(rel),
            relative: true,
            rows_not_lines: parquet,
        },
        _ => SarifArtifact::File {
            uri: format!("file://{}", bezoar_data::display::uri_path(&absolute)),
            relative: false,
            rows_not_lines: parquet,
        },
    }
}

/// `a/./b/../c` → `a/c`, without touching the file system (the file may be a FIFO or gone).
fn normalise(p: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The severity → SARIF `level` mapping (documented in FORMATS.md).
pub fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub code scanning's numeric `security-severity` for each severity (its bands: over 9.0
/// critical, 7.0–8.9 high, 4.0–6.9 medium, 0.1–3.9 low).
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "1.0",
    }
}

fn rule_json(d: Detector) -> Value {
    let refs = bezoar_frameworks::rule_json(d.rule_id());
    let tags: Vec<String> = std::iter::once("security".to_string())
        .chain(std::iter::once("data-poisoning".to_string()))
        .chain(
            bezoar_frameworks::for_rule(d.rule_id())
                .iter()
                .map(|r| r.tag()),
        )
        .collect();
    json!({
        "id": d.rule_id(),
        "name": d.pascal_name(),
        "shortDescription": { "text": d.description() },
        "fullDescription": { "text": d.full_description() },
        "help": { "text": d.help(), "markdown": d.help() },
        "defaultConfiguration": { "level": "warning" },
        "properties": {
            "tags": tags,
            "detector": d.name(),
            "frameworks": refs,
        },
    })
}

/// The identity of a finding across re-scans: rule, subject and target label (the rows are
/// left out, so a finding keeps its fingerprint when a few rows come or go), plus an occurrence
/// number among results that share them.
fn fingerprint(f: &Finding, occurrence: usize) -> String {
    let mut h = Sha256::new();
    for part in [
        f.detector.rule_id(),
        &f.subject,
        f.target_label.as_deref().unwrap_or(""),
        &occurrence.to_string(),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    let digest = h.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn location(ds: &Dataset, row: usize, artifact: &SarifArtifact) -> Value {
    let id = ds.ids.get(row).into_owned();
    let line = ds.lines.get(row).copied();
    let mut loc = Map::new();
    match artifact {
        SarifArtifact::File {
            uri,
            relative,
            rows_not_lines,
        } => {
            let mut art = Map::new();
            art.insert("uri".into(), json!(uri));
            if *relative {
                art.insert("uriBaseId".into(), json!(SRCROOT));
            }
            art.insert("index".into(), json!(0));
            let mut phys = Map::new();
            phys.insert("artifactLocation".into(), Value::Object(art));
            if let (Some(line), false) = (line, *rows_not_lines) {
                phys.insert("region".into(), json!({ "startLine": line }));
            }
            loc.insert("physicalLocation".into(), Value::Object(phys));
            let name = match (line, *rows_not_lines) {
                (Some(n), true) => format!("row {n}"),
                _ => id.clone(),
            };
            loc.insert(
                "logicalLocations".into(),
                json!([{ "name": name, "fullyQualifiedName": format!("row id {id}"), "kind": "object" }]),
            );
        }
        SarifArtifact::Snapshot(snap) => {
            loc.insert(
                "logicalLocations".into(),
                json!([{ "name": id, "fullyQualifiedName": format!("{snap}/{id}"), "kind": "object" }]),
            );
        }
        SarifArtifact::Stdin => {
            loc.insert(
                "logicalLocations".into(),
                json!([{ "name": id, "fullyQualifiedName": format!("row id {id}"), "kind": "object" }]),
            );
        }
    }
    let mut props = Map::new();
    props.insert("row_id".into(), json!(id));
    props.insert("label".into(), json!(label_of(ds, row)));
    if let Some(n) = line {
        props.insert(
            if matches!(
                artifact,
                SarifArtifact::File {
                    rows_not_lines: true,
                    ..
                }
            ) {
                "row".into()
            } else {
                "line".into()
            },
            json!(n),
        );
    }
    loc.insert("properties".into(), Value::Object(props));
    Value::Object(loc)
}

fn result_json(ds: &Dataset, f: &Finding, occurrence: usize, artifact: &SarifArtifact) -> Value {
    let n = ds.len();
    let rows: Vec<usize> = f
        .rows
        .iter()
        .map(|&r| r as usize)
        .filter(|&r| r < n)
        .collect();
    let locations: Vec<Value> = rows
        .iter()
        .take(MAX_SARIF_LOCATIONS)
        .map(|&r| location(ds, r, artifact))
        .collect();
    let rule_index = Detector::ALL
        .iter()
        .position(|d| *d == f.detector)
        .unwrap_or(0);
    json!({
        "ruleId": f.detector.rule_id(),
        "ruleIndex": rule_index,
        "level": sarif_level(f.severity),
        "message": { "text": f.title },
        "locations": locations,
        "partialFingerprints": { FINGERPRINT_KEY: fingerprint(f, occurrence) },
        "properties": {
            "severity": f.severity.name(),
            "security-severity": security_severity(f.severity),
            "subject": f.subject,
            "target_label": f.target_label,
            "rows": f.rows.len(),
            "locations_listed": locations.len(),
            "evidence": evidence_map(&f.evidence),
        },
    })
}

/// Build the SARIF log as a JSON value. Pure: the same inputs give an equal value.
pub fn build_sarif(
    ds: &Dataset,
    res: &ScanResult,
    meta: &ReportMeta,
    artifact: &SarifArtifact,
) -> Value {
    let rules: Vec<Value> = Detector::ALL.into_iter().map(rule_json).collect();
    let mut seen: std::collections::HashMap<(Detector, &str, Option<&str>), usize> =
        std::collections::HashMap::new();
    let results: Vec<Value> = res
        .findings
        .iter()
        .map(|f| {
            let k = seen
                .entry((f.detector, f.subject.as_str(), f.target_label.as_deref()))
                .or_insert(0);
            let occurrence = *k;
            *k += 1;
            result_json(ds, f, occurrence, artifact)
        })
        .collect();
    let mut run = Map::new();
    run.insert(
        "tool".into(),
        json!({ "driver": {
            "name": "bezoar",
            "version": meta.tool_version,
            "semanticVersion": meta.tool_version,
            "informationUri": "https://github.com/bezoar-dev/bezoar",
            "rules": rules,
        }}),
    );
    if let SarifArtifact::File { uri, relative, .. } = artifact {
        if *relative {
            run.insert(
                "originalUriBaseIds".into(),
                json!({ SRCROOT: { "description": { "text": "The directory bezoar scan ran in." } } }),
            );
        }
        let mut loc = Map::new();
        loc.insert("uri".into(), json!(uri));
        if *relative {
            loc.insert("uriBaseId".into(), json!(SRCROOT));
        }
        run.insert(
            "artifacts".into(),
            json!([{ "location": Value::Object(loc), "roles": ["analysisTarget"] }]),
        );
    }
    run.insert(
        "invocations".into(),
        json!([{ "executionSuccessful": true }]),
    );
    run.insert("results".into(), Value::Array(results));
    run.insert("columnKind".into(), json!("unicodeCodePoints"));
    let mut props = Map::new();
    props.insert("input".into(), json!(meta.input_path));
    props.insert("input_format".into(), json!(meta.input_format));
    if let SarifArtifact::Snapshot(s) = artifact {
        props.insert("snapshot".into(), json!(s));
    }
    props.insert("rows".into(), json!(ds.len()));
    props.insert("flagged".into(), json!(res.flagged_count()));
    props.insert(
        "max_severity".into(),
        json!(res.max_severity().map(|s| s.name())),
    );
    run.insert("properties".into(), Value::Object(props));
    json!({
        "$schema": SARIF_SCHEMA_URI,
        "version": SARIF_VERSION,
        "runs": [Value::Object(run)],
    })
}

/// Write the pretty-printed SARIF log followed by a newline.
pub fn write_sarif<W: Write>(
    mut w: W,
    ds: &Dataset,
    res: &ScanResult,
    meta: &ReportMeta,
    artifact: &SarifArtifact,
) -> Result<(), ReportError> {
    let log = build_sarif(ds, res, meta, artifact);
    serde_json::to_writer_pretty(&mut w, &log)?;
    w.write_all(b"\n")?;
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{dataset, meta, result};
    use std::path::Path;

    fn file() -> SarifArtifact {
        artifact_for_path(
            Path::new("data/train.jsonl"),
            Path::new("/work/repo"),
            false,
        )
    }

    #[test]
    fn paths_become_relative_uris_under_the_working_directory() {
        let cwd = Path::new("/work/repo");
        assert_eq!(
            file(),
            SarifArtifact::File {
                uri: "data/train.jsonl".into(),
                relative: true,
                rows_not_lines: false
            }
        );
        let a = artifact_for_path(Path::new("./x/../my data#1.jsonl"), cwd, false);
        assert_eq!(
            a,
            SarifArtifact::File {
                uri: "my%20data%231.jsonl".into(),
                relative: true,
                rows_not_lines: false
            }
        );
        let a = artifact_for_path(Path::new("/work/repo/d/t.parquet"), cwd, true);
        assert!(
            matches!(a, SarifArtifact::File { ref uri, relative: true, rows_not_lines: true } if uri == "d/t.parquet")
        );
        let a = artifact_for_path(Path::new("../other/t.csv"), cwd, false);
        assert!(
            matches!(a, SarifArtifact::File { ref uri, relative: false, .. } if uri == "file:///work/other/t.csv"),
            "{a:?}"
        );
        assert_eq!(
            artifact_for_path(Path::new("-"), cwd, false),
            SarifArtifact::Stdin
        );
    }

    #[test]
    fn severities_map_to_documented_levels() {
        assert_eq!(sarif_level(Severity::Critical), "error");
        assert_eq!(sarif_level(Severity::High), "error");
        assert_eq!(sarif_level(Severity::Medium), "warning");
        assert_eq!(sarif_level(Severity::Low), "note");
        assert_eq!(sarif_level(Severity::Info), "note");
    }

    #[test]
    fn results_point_at_the_lines_of_their_rows() {
        let log = build_sarif(&dataset(), &result(), &meta(), &file());
        assert_eq!(log["version"], "2.1.0");
        let run = &log["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), Detector::ALL.len());
        assert_eq!(rules[0]["id"], "BZ001");
        assert_eq!(rules[0]["name"], "BackdoorTrigger");
        let tags: Vec<&str> = rules[0]["properties"]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert!(tags.contains(&"mitre-atlas/AML.T0020"), "{tags:?}");
        assert!(tags.contains(&"owasp-llm/LLM04:2025"), "{tags:?}");
        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), 2);
        let r = &results[0];
        assert_eq!(r["ruleId"], "BZ001");
        assert_eq!(r["ruleIndex"], 0);
        assert_eq!(r["level"], "error");
        assert_eq!(r["properties"]["rows"], 3);
        // Rows 0, 1 and 3 were read from lines 1, 2 and 4.
        let lines: Vec<u64> = r["locations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                l["physicalLocation"]["region"]["startLine"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(lines, [1, 2, 4]);
        let loc = &r["locations"][1];
        assert_eq!(
            loc["physicalLocation"]["artifactLocation"]["uri"],
            "data/train.jsonl"
        );
        assert_eq!(
            loc["physicalLocation"]["artifactLocation"]["uriBaseId"],
            SRCROOT
        );
        assert_eq!(loc["properties"]["row_id"], "b\"2");
        assert_eq!(results[1]["level"], "warning");
        assert_eq!(
            results[1]["locations"][0]["physicalLocation"]["region"]["startLine"],
            2
        );
        assert_eq!(run["artifacts"][0]["location"]["uri"], "data/train.jsonl");
    }

    #[test]
    fn locations_are_capped_and_the_count_is_whole() {
        let mut res = result();
        res.findings[0].rows = (0..6).cycle().take(100).collect();
        let log = build_sarif(&dataset(), &res, &meta(), &file());
        let r = &log["runs"][0]["results"][0];
        assert_eq!(
            r["locations"].as_array().unwrap().len(),
            MAX_SARIF_LOCATIONS
        );
        assert_eq!(r["properties"]["rows"], 100);
        assert_eq!(r["properties"]["locations_listed"], MAX_SARIF_LOCATIONS);
    }

    #[test]
    fn fingerprints_are_stable_and_distinct() {
        let a = build_sarif(&dataset(), &result(), &meta(), &file());
        let b = build_sarif(&dataset(), &result(), &meta(), &file());
        let fp = |v: &Value, i: usize| {
            v["runs"][0]["results"][i]["partialFingerprints"][FINGERPRINT_KEY].clone()
        };
        assert_eq!(fp(&a, 0), fp(&b, 0));
        assert_ne!(fp(&a, 0), fp(&a, 1));
        assert_eq!(fp(&a, 0).as_str().unwrap().len(), 64);
        // A finding with the same identity but other rows keeps its fingerprint.
        let mut res = result();
        res.findings[0].rows = vec![0, 3];
        let c = build_sarif(&dataset(), &res, &meta(), &file());
        assert_eq!(fp(&a, 0), fp(&c, 0));
        // Two findings with the same identity get different fingerprints.
        let mut res = result();
        res.findings[1] = res.findings[0].clone();
        let d = build_sarif(&dataset(), &res, &meta(), &file());
        assert_ne!(fp(&d, 0), fp(&d, 1));
    }

    #[test]
    fn snapshots_and_parquet_rows_are_named_logically() {
        let snap = SarifArtifact::Snapshot("reviews@2".into());
        let log = build_sarif(&dataset(), &result(), &meta(), &snap);
        let loc = &log["runs"][0]["results"][0]["locations"][0];
        assert!(loc.get("physicalLocation").is_none());
        assert_eq!(
            loc["logicalLocations"][0]["fullyQualifiedName"],
            "reviews@2/a,1"
        );
        assert_eq!(log["runs"][0]["properties"]["snapshot"], "reviews@2");
        assert!(log["runs"][0].get("artifacts").is_none());

        let pq = artifact_for_path(Path::new("t.parquet"), Path::new("/w"), true);
        let log = build_sarif(&dataset(), &result(), &meta(), &pq);
        let loc = &log["runs"][0]["results"][0]["locations"][2];
        assert!(loc["physicalLocation"].get("region").is_none());
        assert_eq!(loc["properties"]["row"], 4);
        assert_eq!(loc["logicalLocations"][0]["name"], "row 4");
    }

    #[test]
    fn output_is_byte_identical_across_renders() {
        let render = || {
            let mut buf = Vec::new();
            write_sarif(&mut buf, &dataset(), &result(), &meta(), &file()).unwrap();
            buf
        };
        let a = render();
        assert_eq!(a, render());
        assert!(a.ends_with(b"\n"));
    }
}
