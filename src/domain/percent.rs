use std::fmt;

use serde::{Deserialize, Serialize};

/// A share of traffic in tenths of a percent (0..=1000): the finest step a
/// flag can express here, and exact in integer `fractional` weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PerMille(u16);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PercentError {
    #[error("{0:?} is not a percentage (expected a number such as 25, 0.1 or 99.9%)")]
    NotANumber(String),
    #[error("{0}% is out of range (expected 0 to 100)")]
    OutOfRange(String),
    #[error("{0}% is finer than 0.1% (the smallest step a flag can express)")]
    TooFine(String),
}

impl PerMille {
    pub const ZERO: PerMille = PerMille(0);
    pub const ALL: PerMille = PerMille(1000);

    pub fn new(value: u16) -> Option<Self> {
        (value <= 1000).then_some(Self(value))
    }

    pub fn get(self) -> u16 {
        self.0
    }

    /// Parses `25`, `25%`, `0.1`, `99.9 %`: decimal text, at most one decimal place.
    /// Parsed as text (not as a float) so that `0.1` is exactly 1 ‰.
    pub fn parse_percent(text: &str) -> Result<Self, PercentError> {
        let trimmed = text.trim().trim_end_matches('%').trim_end();
        let bad = || PercentError::NotANumber(text.to_string());
        let (whole, frac) = match trimmed.split_once('.') {
            Some((w, f)) => (w, f),
            None => (trimmed, ""),
        };
        let negative = whole.starts_with('-');
        let whole_digits = whole.strip_prefix(['-', '+']).unwrap_or(whole);
        if whole_digits.is_empty() && frac.is_empty()
            || !whole_digits.chars().all(|c| c.is_ascii_digit())
            || !frac.chars().all(|c| c.is_ascii_digit())
            || (trimmed.contains('.') && frac.is_empty() && whole_digits.is_empty())
        {
            return Err(bad());
        }
        let shown = trimmed.to_string();
        if negative && (whole_digits.chars().any(|c| c != '0') || frac.chars().any(|c| c != '0')) {
            return Err(PercentError::OutOfRange(shown));
        }
        let frac_trimmed = frac.trim_end_matches('0');
        if frac_trimmed.len() > 1 {
            return Err(PercentError::TooFine(shown));
        }
        let whole_value: u64 = if whole_digits.is_empty() {
            0
        } else if whole_digits.len() > 6 {
            return Err(PercentError::OutOfRange(shown));
        } else {
            whole_digits.parse().map_err(|_| bad())?
        };
        let tenth: u64 = frac_trimmed.parse().unwrap_or(0);
        let value = whole_value * 10 + tenth;
        if value > 1000 {
            return Err(PercentError::OutOfRange(shown));
        }
        Ok(Self(value as u16))
    }

    /// From a percentage given as a float in a profile (e.g. a ladder step).
    pub fn from_percent_f64(percent: f64) -> Result<Self, PercentError> {
        let shown = format!("{percent}");
        if !percent.is_finite() {
            return Err(PercentError::NotANumber(shown));
        }
        if !(0.0..=100.0).contains(&percent) {
            return Err(PercentError::OutOfRange(shown));
        }
        let tenths = percent * 10.0;
        if (tenths - tenths.round()).abs() > 1e-6 {
            return Err(PercentError::TooFine(shown));
        }
        Ok(Self(tenths.round() as u16))
    }

    pub fn complement(self) -> Self {
        Self(1000 - self.0)
    }
}

impl fmt::Display for PerMille {
    /// `25%`, `0.1%`, `99.9%`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, tenth) = (self.0 / 10, self.0 % 10);
        let text = if tenth == 0 {
            format!("{whole}%")
        } else {
            format!("{whole}.{tenth}%")
        };
        f.pad(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<u16, PercentError> {
        PerMille::parse_percent(text).map(PerMille::get)
    }

    #[test]
    fn parses_percent_text_exactly() {
        assert_eq!(p("25"), Ok(250));
        assert_eq!(p("25%"), Ok(250));
        assert_eq!(p(" 0.1 "), Ok(1));
        assert_eq!(p("99.9"), Ok(999));
        assert_eq!(p("100"), Ok(1000));
        assert_eq!(p("100.0"), Ok(1000));
        assert_eq!(p("0"), Ok(0));
        assert_eq!(p("-0"), Ok(0));
        assert_eq!(p(".5"), Ok(5));
        assert_eq!(p("7."), Ok(70));
    }

    #[test]
    fn rejects_bad_percent_text() {
        assert!(matches!(p("abc"), Err(PercentError::NotANumber(_))));
        assert!(matches!(p(""), Err(PercentError::NotANumber(_))));
        assert!(matches!(p("."), Err(PercentError::NotANumber(_))));
        assert!(matches!(p("1e2"), Err(PercentError::NotANumber(_))));
        assert!(matches!(p("100.1"), Err(PercentError::OutOfRange(_))));
        assert!(matches!(p("-5"), Err(PercentError::OutOfRange(_))));
        assert!(matches!(p("99999999999"), Err(PercentError::OutOfRange(_))));
        assert!(matches!(p("0.05"), Err(PercentError::TooFine(_))));
    }

    #[test]
    fn displays_compactly() {
        assert_eq!(PerMille(250).to_string(), "25%");
        assert_eq!(PerMille(1).to_string(), "0.1%");
        assert_eq!(PerMille(999).to_string(), "99.9%");
        assert_eq!(format!("{:>6}", PerMille(50)), "    5%");
    }

    #[test]
    fn from_float() {
        assert_eq!(PerMille::from_percent_f64(0.1).map(PerMille::get), Ok(1));
        assert!(PerMille::from_percent_f64(101.0).is_err());
        assert!(PerMille::from_percent_f64(-1.0).is_err());
        assert!(PerMille::from_percent_f64(0.25).is_err());
    }
}
