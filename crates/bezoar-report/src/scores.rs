//! The per-row scores CSV: `id,score,flagged,reasons`.

use std::fmt::Write as _;
use std::io::{self, Write};

use bezoar_data::Dataset;
use bezoar_scan::{Reasons, ScanResult};

/// The header line of the scores CSV.
pub const SCORES_HEADER: [&str; 4] = ["id", "score", "flagged", "reasons"];

/// Detector names joined with `;` (e.g. `trigger;unusual-chars`), empty when there are none.
pub fn reasons_string(r: Reasons) -> String {
    let mut s = String::new();
    for d in r.iter() {
        if !s.is_empty() {
            s.push(';');
        }
        s.push_str(d.name());
    }
    s
}

/// Write one CSV line per input row, in input order, after the header
/// `id,score,flagged,reasons`: the row id (CSV-quoted when needed, and prefixed with `'` when it
/// would start a spreadsheet formula — see [`bezoar_data::display::neutralize_csv_cell`]), the fused score with six
/// decimals (`nan` if a detector produced no number), `true`/`false`, and the detectors that
/// contributed, joined with `;`.
///
/// Fails with `InvalidInput` when the result does not have one entry per dataset row.
pub fn write_scores_csv<W: Write>(w: W, ds: &Dataset, res: &ScanResult) -> io::Result<()> {
    let n = ds.len();
    if res.scores.len() != n || res.flagged.len() != n || res.reasons.len() != n {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "scan result covers {} rows but the dataset has {n}",
                res.scores.len()
            ),
        ));
    }
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(w);
    out.write_record(SCORES_HEADER)?;
    let mut score = String::new();
    for i in 0..n {
        score.clear();
        let s = res.scores[i];
        if s.is_nan() {
            score.push_str("nan");
        } else {
            let _ = write!(score, "{s:.6}");
        }
        let flagged = if res.flagged[i] { "true" } else { "false" };
        let reasons = reasons_string(res.reasons[i]);
        let id = ds.ids.get(i);
        out.write_record([
            bezoar_data::display::neutralize_csv_cell(&id).as_ref(),
            score.as_str(),
            flagged,
            reasons.as_str(),
        ])?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{dataset, result};

    fn render() -> String {
        let mut buf = Vec::new();
        write_scores_csv(&mut buf, &dataset(), &result()).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn one_line_per_row_in_input_order() {
        let out = render();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "id,score,flagged,reasons");
        assert_eq!(lines.len(), 7);
        assert_eq!(lines[3], "c3,0.100000,false,");
        assert_eq!(lines[4], "d4,0.900000,true,trigger");
        assert_eq!(lines[5], "e5,nan,false,");
    }

    #[test]
    fn ids_with_commas_and_quotes_are_escaped() {
        let out = render();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[1], "\"a,1\",0.900000,true,trigger");
        assert_eq!(lines[2], "\"b\"\"2\",0.950000,true,trigger;unusual-chars");
        // And a CSV reader gets the original ids back.
        let mut rd = csv::Reader::from_reader(out.as_bytes());
        let ids: Vec<String> = rd
            .records()
            .map(|r| r.unwrap().get(0).unwrap().to_string())
            .collect();
        assert_eq!(ids, ["a,1", "b\"2", "c3", "d4", "e5", "f6"]);
    }

    #[test]
    fn length_mismatch_is_an_error_not_a_panic() {
        let mut res = result();
        res.scores.pop();
        let err = write_scores_csv(Vec::new(), &dataset(), &res).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
