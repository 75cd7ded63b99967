//! `eval`: join a per-row scores file to a truth file by id and compute the detection metrics,
//! overall and per poisoning kind and attack.
//!
//! Per-group metrics compare the poisoned rows of that group against *all* clean rows; poisoned
//! rows of other groups are left out, so one easy attack cannot hide a hard one. A group's
//! precision is `tp_group / (tp_group + fp)`, where `fp` counts every flagged clean row.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::error::RedteamError;
use crate::metrics::{self, Confusion};
use crate::truth::{self, TruthRow};

/// The schema identifier of `eval --json` output.
pub const EVAL_SCHEMA: &str = "bezoar.eval/1";

/// How many example ids an error about missing ids lists.
const MAX_LISTED: usize = 5;

/// One line of a scores file.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRow {
    pub id: String,
    pub score: f64,
    pub flagged: Option<bool>,
}

/// A scores file: `id,score[,flagged][,…]`, as `bezoar scan --scores` writes it.
#[derive(Debug, Clone)]
pub struct Scores {
    pub rows: Vec<ScoreRow>,
    /// Whether the file has a `flagged` column (precision/recall/F1 need it).
    pub has_flagged: bool,
}

/// Read a scores file. Needs `id` and `score` columns; `flagged` (`true`/`false`/`1`/`0`) is
/// optional; other columns are ignored. A score that is not a finite number is an error naming
/// the line.
pub fn read_scores(path: &Path) -> Result<Scores, RedteamError> {
    let mut rdr = truth::open_csv(path)?;
    let header = truth::headers(path, &mut rdr)?;
    let id = truth::require(path, &header, "id")?;
    let score = truth::require(path, &header, "score")?;
    let flagged = header.iter().position(|h| h == "flagged");
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| truth::csv_error(path, e))?;
        let line = truth::line_of(&rec);
        let bad = |message: String| RedteamError::Malformed {
            file: path.to_path_buf(),
            line,
            message,
        };
        let raw = rec.get(score).unwrap_or("").trim();
        let s: f64 = raw
            .parse()
            .map_err(|_| bad(format!("column 'score': expected a number, found '{raw}'")))?;
        if !s.is_finite() {
            return Err(bad(format!(
                "column 'score': '{raw}' is not a finite number (did the scan fail on this row?)"
            )));
        }
        let f = match flagged {
            Some(i) => {
                let raw = rec.get(i).unwrap_or("");
                Some(truth::parse_bool(raw).ok_or_else(|| {
                    bad(format!(
                        "column 'flagged': expected true, false, 1 or 0, found '{raw}'"
                    ))
                })?)
            }
            None => None,
        };
        rows.push(ScoreRow {
            id: bezoar_data::display::restore_csv_cell(rec.get(id).unwrap_or("")).to_string(),
            score: s,
            flagged: f,
        });
    }
    Ok(Scores {
        rows,
        has_flagged: flagged.is_some(),
    })
}

/// How to treat ids present on one side only.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvalOptions {
    /// Truth rows without a score count as score 0, not flagged (as for rows a scan skipped);
    /// scores without a truth row are ignored. Off: either is an error.
    pub allow_missing: bool,
}

/// Metrics of one group of poisoned rows against all clean rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupMetrics {
    /// `all`, a kind (`dirty-label`, …) or an attack (`badnets`, …).
    pub group: String,
    pub poisoned: usize,
    pub clean: usize,
    /// `null` when the group or the clean rows are empty.
    pub auroc: Option<f64>,
    pub average_precision: Option<f64>,
    /// k of recall@k: the group's poisoned rows.
    pub k: usize,
    pub recall_at_k: Option<f64>,
    /// The flagged-set numbers; all `null` when the scores have no `flagged` column.
    pub flagged: Option<usize>,
    pub true_positives: Option<usize>,
    pub false_positives: Option<usize>,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
}

/// The result of an evaluation (`eval --json` writes it; see FORMATS.md).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    pub schema: &'static str,
    pub rows: usize,
    pub poisoned: usize,
    /// Whether precision/recall/F1 could be computed (the scores had a `flagged` column).
    pub has_flagged: bool,
    /// Truth rows that had no score (only with `allow_missing`; they scored 0).
    pub missing_scores: usize,
    /// Scored ids not in the truth (only with `allow_missing`; they were ignored).
    pub unknown_scores: usize,
    pub overall: GroupMetrics,
    /// One entry per distinct `kind` of poisoned rows, sorted by name.
    pub by_kind: Vec<GroupMetrics>,
    /// One entry per distinct `attack` of poisoned rows, sorted by name.
    pub by_attack: Vec<GroupMetrics>,
}

/// Join `scores` to `truth` by id and evaluate.
pub fn evaluate(
    truth: &[TruthRow],
    scores: &Scores,
    opts: EvalOptions,
) -> Result<EvalReport, RedteamError> {
    let mut by_id: HashMap<&str, &ScoreRow> = HashMap::with_capacity(scores.rows.len());
    for r in &scores.rows {
        if by_id.insert(r.id.as_str(), r).is_some() {
            return Err(RedteamError::Join(format!(
                "the scores list id '{}' more than once; ids must be unique to join on",
                r.id
            )));
        }
    }
    let mut seen: HashMap<&str, ()> = HashMap::with_capacity(truth.len());
    let mut score = Vec::with_capacity(truth.len());
    let mut flagged = Vec::with_capacity(truth.len());
    let mut missing: Vec<&str> = Vec::new();
    for t in truth {
        if seen.insert(t.id.as_str(), ()).is_some() {
            return Err(RedteamError::Join(format!(
                "the truth lists id '{}' more than once; ids must be unique to join on",
                t.id
            )));
        }
        match by_id.get(t.id.as_str()) {
            Some(r) => {
                score.push(r.score);
                flagged.push(r.flagged.unwrap_or(false));
            }
            None => {
                missing.push(&t.id);
                score.push(0.0);
                flagged.push(false);
            }
        }
    }
    let unknown: Vec<&str> = scores
        .rows
        .iter()
        .map(|r| r.id.as_str())
        .filter(|id| !seen.contains_key(id))
        .collect();
    if !opts.allow_missing && (!missing.is_empty() || !unknown.is_empty()) {
        let mut msg = String::from("truth and scores do not cover the same ids:");
        if !missing.is_empty() {
            let _ = write!(
                msg,
                " {} truth id(s) have no score (first: {})",
                missing.len(),
                listed(&missing)
            );
        }
        if !unknown.is_empty() {
            if !missing.is_empty() {
                msg.push(';');
            }
            let _ = write!(
                msg,
                " {} scored id(s) are not in the truth (first: {})",
                unknown.len(),
                listed(&unknown)
            );
        }
        msg.push_str(
            "; check both files come from the same dataset and --id column, or pass \
             --allow-missing",
        );
        return Err(RedteamError::Join(msg));
    }
    let flagged = scores.has_flagged.then_some(&flagged[..]);
    let mut report = evaluate_aligned(truth, &score, flagged);
    report.missing_scores = missing.len();
    report.unknown_scores = unknown.len();
    Ok(report)
}

fn listed(ids: &[&str]) -> String {
    ids.iter()
        .take(MAX_LISTED)
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Evaluate scores already aligned with the truth rows (`score[i]` belongs to `truth[i]`).
pub fn evaluate_aligned(truth: &[TruthRow], score: &[f64], flagged: Option<&[bool]>) -> EvalReport {
    let poisoned: Vec<bool> = truth.iter().map(|t| t.poisoned).collect();
    let overall = group_metrics("all", score, &poisoned, flagged, |_| true);
    let breakdown = |key: fn(&TruthRow) -> &str| -> Vec<GroupMetrics> {
        let mut names: BTreeMap<&str, ()> = BTreeMap::new();
        for t in truth.iter().filter(|t| t.poisoned) {
            names.insert(group_name(key(t)), ());
        }
        names
            .keys()
            .map(|name| {
                group_metrics(name, score, &poisoned, flagged, |i| {
                    group_name(key(&truth[i])) == *name
                })
            })
            .collect()
    };
    EvalReport {
        schema: EVAL_SCHEMA,
        rows: truth.len(),
        poisoned: poisoned.iter().filter(|&&p| p).count(),
        has_flagged: flagged.is_some(),
        missing_scores: 0,
        unknown_scores: 0,
        overall,
        by_kind: breakdown(|t| t.kind.as_str()),
        by_attack: breakdown(|t| t.attack.as_str()),
    }
}

fn group_name(s: &str) -> &str {
    if s.is_empty() {
        "unspecified"
    } else {
        s
    }
}

/// Metrics for the poisoned rows `i` with `in_group(i)` against every clean row.
fn group_metrics(
    name: &str,
    score: &[f64],
    poisoned: &[bool],
    flagged: Option<&[bool]>,
    in_group: impl Fn(usize) -> bool,
) -> GroupMetrics {
    let keep: Vec<usize> = (0..score.len())
        .filter(|&i| !poisoned[i] || in_group(i))
        .collect();
    let s: Vec<f64> = keep.iter().map(|&i| score[i]).collect();
    let y: Vec<bool> = keep.iter().map(|&i| poisoned[i]).collect();
    let pos = y.iter().filter(|&&p| p).count();
    let conf = flagged.map(|f| {
        let f: Vec<bool> = keep.iter().map(|&i| f[i]).collect();
        Confusion::new(&f, &y)
    });
    GroupMetrics {
        group: name.to_string(),
        poisoned: pos,
        clean: y.len() - pos,
        auroc: metrics::auroc(&s, &y),
        average_precision: metrics::average_precision(&s, &y),
        k: pos,
        recall_at_k: metrics::recall_at_k(&s, &y, pos),
        flagged: conf.map(|c| c.true_positives + c.false_positives),
        true_positives: conf.map(|c| c.true_positives),
        false_positives: conf.map(|c| c.false_positives),
        precision: conf.map(|c| c.precision()),
        recall: conf.map(|c| c.recall()),
        f1: conf.map(|c| c.f1()),
    }
}

/// The report as a plain-text table for people.
pub fn render_text(r: &EvalReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} rows, {} poisoned ({:.2}%){}",
        r.rows,
        r.poisoned,
        100.0 * r.poisoned as f64 / r.rows.max(1) as f64,
        match r.overall.flagged {
            Some(f) => format!(", {f} flagged"),
            None => ", no flagged column (precision/recall/F1 not computed)".to_string(),
        }
    );
    if r.missing_scores > 0 || r.unknown_scores > 0 {
        let _ = writeln!(
            out,
            "{} truth rows had no score (counted as 0); {} scored ids not in the truth (ignored)",
            r.missing_scores, r.unknown_scores
        );
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "{:<28} {:>8} {:>8} {:>6} {:>6} {:>8} {:>9} {:>6} {:>6}",
        "group", "poisoned", "clean", "AUROC", "AP", "recall@k", "precision", "recall", "F1"
    );
    let mut line = |prefix: &str, g: &GroupMetrics| {
        let name = format!("{prefix}{}", g.group);
        let _ = writeln!(
            out,
            "{:<28} {:>8} {:>8} {:>6} {:>6} {:>8} {:>9} {:>6} {:>6}",
            name,
            g.poisoned,
            g.clean,
            num(g.auroc),
            num(g.average_precision),
            num(g.recall_at_k),
            num(g.precision),
            num(g.recall),
            num(g.f1)
        );
    };
    line("", &r.overall);
    for g in &r.by_kind {
        line("kind ", g);
    }
    for g in &r.by_attack {
        line("attack ", g);
    }
    out
}

/// Three decimals, or `-` when undefined.
pub fn num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.3}"),
        _ => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str, poisoned: bool, kind: &str, attack: &str) -> TruthRow {
        TruthRow {
            id: id.into(),
            poisoned,
            kind: kind.into(),
            attack: attack.into(),
        }
    }

    fn s(id: &str, score: f64, flagged: bool) -> ScoreRow {
        ScoreRow {
            id: id.into(),
            score,
            flagged: Some(flagged),
        }
    }

    fn truth() -> Vec<TruthRow> {
        vec![
            t("a", true, "dirty-label", "badnets"),
            t("b", false, "", ""),
            t("c", true, "label-flip", "label-flip"),
            t("d", false, "", ""),
            t("e", false, "", ""),
        ]
    }

    fn scores() -> Scores {
        // Shuffled relative to the truth: the join is by id, not position.
        Scores {
            rows: vec![
                s("e", 0.1, false),
                s("a", 0.9, true),
                s("c", 0.8, false),
                s("b", 0.8, true),
                s("d", 0.3, true),
            ],
            has_flagged: true,
        }
    }

    #[test]
    fn overall_and_per_group_numbers_by_hand() {
        let r = evaluate(&truth(), &scores(), EvalOptions::default()).unwrap();
        assert_eq!((r.rows, r.poisoned), (5, 2));
        let o = &r.overall;
        // Same data as the metrics module's hand-computed example.
        assert!((o.auroc.unwrap() - 5.5 / 6.0).abs() < 1e-12);
        assert!((o.average_precision.unwrap() - (0.5 + 1.0 / 3.0)).abs() < 1e-12);
        assert!((o.recall_at_k.unwrap() - 0.75).abs() < 1e-12);
        assert_eq!(
            (o.flagged, o.true_positives, o.false_positives),
            (Some(3), Some(1), Some(2))
        );
        assert!((o.f1.unwrap() - 0.4).abs() < 1e-12);

        assert_eq!(r.by_kind.len(), 2);
        let dirty = &r.by_kind[0];
        assert_eq!(dirty.group, "dirty-label");
        // Row a (0.9) against b, d, e: above all clean rows.
        assert_eq!((dirty.poisoned, dirty.clean), (1, 3));
        assert_eq!(dirty.auroc, Some(1.0));
        assert_eq!(dirty.average_precision, Some(1.0));
        assert_eq!(dirty.precision, Some(1.0 / 3.0));
        let flip = &r.by_kind[1];
        assert_eq!(flip.group, "label-flip");
        // Row c (0.8): ties b (½), beats d and e: 2.5 / 3.
        assert!((flip.auroc.unwrap() - 2.5 / 3.0).abs() < 1e-12);
        // One threshold at 0.8 with c and b: P = ½.
        assert!((flip.average_precision.unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(flip.recall, Some(0.0));
        assert_eq!(
            r.by_attack
                .iter()
                .map(|g| g.group.as_str())
                .collect::<Vec<_>>(),
            ["badnets", "label-flip"]
        );
    }

    #[test]
    fn missing_and_unknown_ids_are_errors_unless_allowed() {
        let mut sc = scores();
        sc.rows.retain(|r| r.id != "d");
        sc.rows.push(s("zz", 0.5, false));
        let e = evaluate(&truth(), &sc, EvalOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("1 truth id(s) have no score (first: 'd')"),
            "{e}"
        );
        assert!(
            e.contains("1 scored id(s) are not in the truth (first: 'zz')"),
            "{e}"
        );
        let r = evaluate(
            &truth(),
            &sc,
            EvalOptions {
                allow_missing: true,
            },
        )
        .unwrap();
        assert_eq!((r.missing_scores, r.unknown_scores), (1, 1));
        assert_eq!(r.rows, 5);
    }

    #[test]
    fn duplicate_ids_are_errors() {
        let mut sc = scores();
        sc.rows.push(s("a", 0.1, false));
        assert!(evaluate(&truth(), &sc, EvalOptions::default()).is_err());
        let mut tr = truth();
        tr.push(t("a", false, "", ""));
        assert!(evaluate(&tr, &scores(), EvalOptions::default()).is_err());
    }

    #[test]
    fn without_flagged_column_prf_is_null() {
        let mut sc = scores();
        sc.has_flagged = false;
        let r = evaluate(&truth(), &sc, EvalOptions::default()).unwrap();
        assert_eq!(r.overall.f1, None);
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.starts_with("{\"schema\":\"bezoar.eval/1\""), "{json}");
        assert!(json.contains("\"f1\":null"));
        assert!(render_text(&r).contains("no flagged column"));
    }

    /// Expected values from the independent scorer `../shared/tools/score.py --json` on these
    /// ten rows (no tied scores, where its tie handling and ours coincide). On the scan of
    /// `../shared/bench/sst2-badnets-1pct` (6,920 rows, with ties) both give AUROC 0.976132,
    /// AP 0.896329, recall@k 0.884058, P 0.968254, R 0.884058, F1 0.924242.
    #[test]
    fn agrees_with_the_independent_scorer() {
        let truth: Vec<TruthRow> = "a1 b0 c1 d0 e0 f1 g0 h0 i0 j1"
            .split(' ')
            .map(|x| t(&x[..1], &x[1..] == "1", "k", "x"))
            .collect();
        let rows = [
            ("a", 0.95, true),
            ("b", 0.40, false),
            ("c", 0.62, true),
            ("d", 0.71, true),
            ("e", 0.05, false),
            ("f", 0.33, false),
            ("g", 0.12, false),
            ("h", 0.58, false),
            ("i", 0.21, false),
            ("j", 0.80, true),
        ];
        let sc = Scores {
            rows: rows.iter().map(|&(id, v, f)| s(id, v, f)).collect(),
            has_flagged: true,
        };
        let o = evaluate(&truth, &sc, EvalOptions::default())
            .unwrap()
            .overall;
        let close = |a: Option<f64>, b: f64| assert!((a.unwrap() - b).abs() < 1e-12, "{a:?} {b}");
        close(o.auroc, 0.8333333333333334);
        close(o.average_precision, 0.8303571428571428);
        close(o.recall_at_k, 0.75);
        close(o.precision, 0.75);
        close(o.recall, 0.75);
        close(o.f1, 0.75);
    }

    #[test]
    fn scores_file_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.csv");
        std::fs::write(&p, "id,score,flagged\na,0.5,true\nb,nan,false\n").unwrap();
        let e = read_scores(&p).unwrap_err().to_string();
        assert!(e.contains("s.csv:3: column 'score'"), "{e}");
        std::fs::write(&p, "id,score,flagged\na,0.5,perhaps\n").unwrap();
        let e = read_scores(&p).unwrap_err().to_string();
        assert!(e.contains("s.csv:2: column 'flagged'"), "{e}");
        std::fs::write(
            &p,
            "id,score,flagged,reasons\n\"x,1\",0.25,false,trigger;duplicates\n",
        )
        .unwrap();
        let sc = read_scores(&p).unwrap();
        assert_eq!(sc.rows, vec![s("x,1", 0.25, false)]);
    }
}
