//! The meter (`set meter "6/8"`): how many of which note value make a bar. Notation output
//! draws bar lines from it, and everything that counts in bars (`generate N bars`, the clock's
//! bar count, `quantize bar`) reads the same value.

use std::fmt;

/// `beats` notes of value 1/`unit` to the bar: 4/4, 3/4, 6/8, 2/2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Meter {
    pub beats: u32,
    pub unit: u32,
}

/// Note values a meter may count in: whole to sixteenth. Notation places every note on a grid
/// of 1/48 of a whole note, and a bar of any of these units ends on that grid.
const UNITS: [u32; 5] = [1, 2, 4, 8, 16];

/// The most beats in a bar.
const MAX_BEATS: u32 = 64;

impl Default for Meter {
    fn default() -> Self {
        Meter { beats: 4, unit: 4 }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MeterError {
    #[error("a meter is BEATS/UNIT such as \"4/4\" or \"6/8\", not `{0}`")]
    Form(String),
    #[error("a meter has 1 to {MAX_BEATS} beats, not {0}")]
    Beats(u32),
    #[error("a meter's unit is 1, 2, 4, 8 or 16, not {0}")]
    Unit(u32),
}

impl Meter {
    /// Parses `BEATS/UNIT` (`"3/4"`, `" 6 / 8 "`); `C` is 4/4 and `C|` is 2/2, as in ABC.
    pub fn parse(text: &str) -> Result<Meter, MeterError> {
        let t = text.trim();
        match t {
            "C" => return Ok(Meter::default()),
            "C|" => return Ok(Meter { beats: 2, unit: 2 }),
            _ => {}
        }
        let form = || MeterError::Form(t.to_string());
        let (b, u) = t.split_once('/').ok_or_else(form)?;
        let beats: u32 = b.trim().parse().map_err(|_| form())?;
        let unit: u32 = u.trim().parse().map_err(|_| form())?;
        if !(1..=MAX_BEATS).contains(&beats) {
            return Err(MeterError::Beats(beats));
        }
        if !UNITS.contains(&unit) {
            return Err(MeterError::Unit(unit));
        }
        Ok(Meter { beats, unit })
    }

    /// Length of a bar in whole notes.
    pub fn bar_whole_notes(&self) -> f64 {
        f64::from(self.beats) / f64::from(self.unit)
    }

    /// Length of a bar in seconds at the 120 BPM melodies are stored at (a whole note = 2 s).
    pub fn bar_seconds(&self) -> f64 {
        2.0 * self.bar_whole_notes()
    }

    /// Compound meters (6/8, 9/8, 12/8) group their beats in threes.
    pub fn is_compound(&self) -> bool {
        self.unit >= 8 && self.beats > 3 && self.beats.is_multiple_of(3)
    }
}

impl fmt::Display for Meter {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}", self.beats, self.unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_musicians_write() {
        assert_eq!(Meter::parse("4/4"), Ok(Meter { beats: 4, unit: 4 }));
        assert_eq!(Meter::parse(" 6 / 8 "), Ok(Meter { beats: 6, unit: 8 }));
        assert_eq!(Meter::parse("3/4").unwrap().to_string(), "3/4");
        assert_eq!(Meter::parse("C"), Ok(Meter::default()));
        assert_eq!(Meter::parse("C|").unwrap().to_string(), "2/2");
        assert_eq!(Meter::default().to_string(), "4/4");
        assert_eq!(Meter::parse("6/8").unwrap().bar_seconds(), 1.5);
        assert!(Meter::parse("6/8").unwrap().is_compound());
        assert!(!Meter::parse("3/4").unwrap().is_compound());
    }

    #[test]
    fn says_what_is_wrong() {
        let msg = |s: &str| Meter::parse(s).unwrap_err().to_string();
        assert_eq!(
            msg("waltz"),
            "a meter is BEATS/UNIT such as \"4/4\" or \"6/8\", not `waltz`"
        );
        assert_eq!(msg("0/4"), "a meter has 1 to 64 beats, not 0");
        assert_eq!(msg("3/5"), "a meter's unit is 1, 2, 4, 8 or 16, not 5");
        assert_eq!(msg("3/32"), "a meter's unit is 1, 2, 4, 8 or 16, not 32");
        assert!(msg("4/").contains("BEATS/UNIT"));
    }
}
