//! Poisoning rates: a fraction (`0.005`) or a percentage (`0.5%`), and how a rate becomes a row
//! count.

use std::fmt;

/// A poisoning rate in (0, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate(f64);

impl Rate {
    /// `None` unless `0 < fraction <= 1`.
    pub fn new(fraction: f64) -> Option<Rate> {
        (fraction > 0.0 && fraction <= 1.0).then_some(Rate(fraction))
    }

    pub fn fraction(self) -> f64 {
        self.0
    }

    /// How many rows this rate means out of `n`: `round(rate × n)` with halves rounded up, and at
    /// least 1 (a positive rate on a small dataset still plants one row, rather than silently
    /// planting nothing). 0 only when `n` is 0.
    pub fn count(self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        // The epsilon absorbs binary representation error: 0.005 × 200 is 0.99999… in f64.
        let exact = self.0 * n as f64;
        ((exact + 0.5 + 1e-9).floor() as usize).clamp(1, n.max(1))
    }
}

impl fmt::Display for Rate {
    /// As a percentage with up to three decimals: `0.5%`, `1%`, `12.125%`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = format!("{:.3}", self.0 * 100.0);
        let pct = pct.trim_end_matches('0').trim_end_matches('.');
        write!(f, "{pct}%")
    }
}

impl std::str::FromStr for Rate {
    type Err = String;
    /// `0.005` (a fraction) or `0.5%` (a percentage).
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let (num, scale) = match t.strip_suffix('%') {
            Some(p) => (p.trim(), 100.0),
            None => (t, 1.0),
        };
        let v: f64 = num.parse().map_err(|_| {
            format!("invalid rate '{s}': expected a fraction (0.005) or a percentage (0.5%)")
        })?;
        Rate::new(v / scale)
            .ok_or_else(|| format!("invalid rate '{s}': must be above 0 and at most 1 (or 100%)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fractions_and_percentages() {
        assert_eq!("0.005".parse::<Rate>().unwrap().fraction(), 0.005);
        assert_eq!("0.5%".parse::<Rate>().unwrap().fraction(), 0.005);
        assert_eq!(" 100% ".parse::<Rate>().unwrap().fraction(), 1.0);
        for bad in ["0", "-0.1", "1.5", "150%", "abc", "", "nan", "0%"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn counts_round_half_up_with_a_floor_of_one() {
        let r = |s: &str| s.parse::<Rate>().unwrap();
        assert_eq!(r("1%").count(6920), 69); // 69.2
        assert_eq!(r("0.5%").count(6920), 35); // 34.6
        assert_eq!(r("0.5%").count(200), 1); // exactly 1 despite 0.005*200 < 1 in f64
        assert_eq!(r("0.5%").count(300), 2); // 1.5 rounds up
        assert_eq!(r("0.1%").count(10), 1); // 0.01 → floor of one
        assert_eq!(r("100%").count(7), 7);
        assert_eq!(r("1%").count(0), 0);
    }

    #[test]
    fn displays_as_percentage() {
        assert_eq!(Rate(0.005).to_string(), "0.5%");
        assert_eq!(Rate(0.01).to_string(), "1%");
        assert_eq!(Rate(0.2).to_string(), "20%");
    }
}
