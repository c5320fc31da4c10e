//! The rhythm grid (`set grid "1/16"`): a note value that every generated step and duration
//! is a whole multiple of. Lengths are counted in quanta of 1/48 of a whole note, the finest
//! unit that holds both sixteenths (3 quanta) and eighth-note triplets (4 quanta); the model's
//! categorical rhythm heads and notation use the same quantum, so a grid is a set of classes.

use std::fmt;

/// Quanta in a whole note.
pub const WHOLE: u32 = 48;

/// Seconds of one quantum at the 120 BPM melodies are stored at (a whole note = 2 s).
pub const QUANTUM_SECONDS: f64 = 2.0 / WHOLE as f64;

/// A note value 1/`denominator`, or a triplet of it (two thirds as long).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    pub denominator: u32,
    pub triplet: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GridError {
    #[error("a grid is a note value such as \"1/16\", \"1/8\" or \"1/8t\" (a triplet), or off; not `{0}`")]
    Form(String),
    #[error("a grid of {0} is not a whole number of 1/48 notes: use 1, 1/2, 1/4, 1/8 or 1/16, or a triplet 1t to 1/32t")]
    Fine(String),
}

impl Grid {
    /// Parses `1/16`, `1/8t`, `1/4`, `1`; `off` and `none` are no grid.
    pub fn parse_optional(text: &str) -> Result<Option<Grid>, GridError> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("off") || t.eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        let form = || GridError::Form(t.to_string());
        let (body, triplet) = match t.strip_suffix(['t', 'T']) {
            Some(b) => (b, true),
            None => (t, false),
        };
        let denominator: u32 = match body.trim().split_once('/') {
            Some((one, d)) if one.trim() == "1" => d.trim().parse().map_err(|_| form())?,
            None if body.trim() == "1" => 1,
            _ => return Err(form()),
        };
        if denominator == 0 || !denominator.is_power_of_two() {
            return Err(form());
        }
        let g = Grid {
            denominator,
            triplet,
        };
        if !g.span().is_multiple_of(denominator) {
            return Err(GridError::Fine(g.to_string()));
        }
        Ok(Some(g))
    }

    /// Quanta of the whole note (or of its triplet, two thirds of it) this value divides.
    fn span(&self) -> u32 {
        if self.triplet {
            WHOLE * 2 / 3
        } else {
            WHOLE
        }
    }

    /// The note value's length in quanta.
    pub fn quanta(&self) -> u32 {
        self.span() / self.denominator
    }

    /// The note value's length in seconds at 120 BPM.
    pub fn seconds(&self) -> f64 {
        f64::from(self.quanta()) * QUANTUM_SECONDS
    }
}

impl fmt::Display for Grid {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.denominator {
            1 => f.write_str("1")?,
            d => write!(f, "1/{d}")?,
        }
        if self.triplet {
            f.write_str("t")?;
        }
        Ok(())
    }
}

/// `off`, or the grid's note value, as `set` lists it.
pub fn name(grid: Option<Grid>) -> String {
    grid.map_or_else(|| "off".into(), |g| g.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quanta(s: &str) -> u32 {
        Grid::parse_optional(s).unwrap().unwrap().quanta()
    }

    #[test]
    fn note_values_count_in_forty_eighths() {
        assert_eq!(quanta("1/16"), 3);
        assert_eq!(quanta("1/8t"), 4);
        assert_eq!(quanta("1/8"), 6);
        assert_eq!(quanta("1/4"), 12);
        assert_eq!(quanta("1/4t"), 8);
        assert_eq!(quanta("1"), 48);
        assert_eq!(quanta("1/32t"), 1);
        assert_eq!(quanta(" 1 / 16 "), 3);
        assert_eq!(Grid::parse_optional("off"), Ok(None));
        assert!((Grid::parse_optional("1/16").unwrap().unwrap().seconds() - 0.125).abs() < 1e-12);
        for s in ["1/16", "1/8t", "1", "1/2t"] {
            assert_eq!(Grid::parse_optional(s).unwrap().unwrap().to_string(), s);
        }
    }

    #[test]
    fn says_what_is_wrong() {
        let msg = |s: &str| Grid::parse_optional(s).unwrap_err().to_string();
        assert!(
            msg("1/32").contains("not a whole number of 1/48 notes"),
            "{}",
            msg("1/32")
        );
        assert!(msg("1/6").starts_with("a grid is a note value"));
        assert!(msg("swing").contains("`swing`"));
        assert!(msg("2/8").starts_with("a grid is a note value"));
    }
}
