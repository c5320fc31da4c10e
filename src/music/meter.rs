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

    /// A felt beat in seconds at 120 BPM: the unit, or three of them in a compound meter.
    pub fn beat_seconds(&self) -> f64 {
        let units = if self.is_compound() { 3.0 } else { 1.0 };
        2.0 * units / f64::from(self.unit)
    }

    /// Compound meters (6/8, 9/8, 12/8) group their beats in threes.
    pub fn is_compound(&self) -> bool {
        self.unit >= 8 && self.beats > 3 && self.beats.is_multiple_of(3)
    }
}

/// Where a melody's bars fall: the meter its source declares and the upbeat before its
/// first bar line. Most European folk tunes start with an upbeat; written from their first
/// note as if it began a bar, every bar line of such a tune shifts and notes get tied across
/// bar lines the source never had. So a melody carries this from its source (ABC bar lines,
/// a MIDI time signature) through `prime`, `generate` and `write`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bars {
    /// The source's meter (ABC `M:`, a MIDI time signature); None when it says none.
    pub meter: Option<Meter>,
    /// Seconds from the melody's start to its first bar line (0: it starts on one).
    pub upbeat: f64,
}

/// Times closer than this (seconds) are one time: sums of note lengths drift by far less.
const SAME_TIME: f64 = 1e-6;

impl Bars {
    /// Bars whose first bar line is at `first` seconds, in bars of `bar` seconds: the upbeat
    /// is what comes before it, less whole bars (a first bar line at 0 or after whole bars is
    /// no upbeat).
    pub fn first_line_at(meter: Option<Meter>, first: f64, bar: f64) -> Bars {
        Bars {
            meter,
            upbeat: phase(first, bar),
        }
    }

    /// The upbeat in bars of `meter`: the same bar lines' phase when the meter changed since.
    pub fn upbeat_in(&self, meter: Meter) -> f64 {
        phase(self.upbeat, meter.bar_seconds())
    }

    /// The bars of the notes from `t0` on (a primer cut from a tune and moved to start at 0):
    /// the bar lines stay where they were.
    pub fn from(&self, t0: f64, meter: Meter) -> Bars {
        Bars {
            meter: self.meter,
            upbeat: phase(self.upbeat - t0, meter.bar_seconds()),
        }
    }

    /// The first bar line at or after `t` seconds, in bars of `meter`.
    pub fn next_bar_line(&self, t: f64, meter: Meter) -> f64 {
        let bar = meter.bar_seconds();
        let upbeat = self.upbeat_in(meter);
        let k = ((t - upbeat) / bar - SAME_TIME / bar).ceil();
        upbeat + k * bar
    }
}

/// `t` less whole bars: 0 up to (not including) a bar.
fn phase(t: f64, bar: f64) -> f64 {
    if bar.is_nan() || bar <= 0.0 || !t.is_finite() {
        return 0.0;
    }
    let p = t.rem_euclid(bar);
    if p < SAME_TIME || bar - p < SAME_TIME {
        0.0
    } else {
        p
    }
}

impl fmt::Display for Meter {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}", self.beats, self.unit)
    }
}

crate::choice! {
    /// What `play` and `live on` wait for before their first note.
    pub enum Quantize {
        /// Start at once.
        Off = "off",
        /// Start on the next beat (quarter note) of the leading clock.
        Beat = "beat",
        /// Start on the next bar line of the leading clock (the bar is `meter`).
        Bar = "bar",
    }
}

impl Quantize {
    /// The grid in beats that a start waits for, given the bar length in beats; None: none.
    pub fn grid(self, bar_beats: f64) -> Option<f64> {
        match self {
            Quantize::Off => None,
            Quantize::Beat => Some(1.0),
            Quantize::Bar => Some(bar_beats),
        }
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

    #[test]
    fn bars_keep_their_lines_when_cut_or_remetered() {
        let three = Meter::parse("3/4").unwrap(); // 1.5 s bars
                                                  // A first bar line after a quarter-note upbeat, or after whole bars and a quarter.
        let b = Bars::first_line_at(Some(three), 0.5, 1.5);
        assert_eq!(b.upbeat, 0.5);
        assert_eq!(Bars::first_line_at(None, 2.0, 1.5).upbeat, 0.5);
        assert_eq!(Bars::first_line_at(None, 3.0, 1.5).upbeat, 0.0);
        assert_eq!(Bars::first_line_at(None, 3.0 - 1e-9, 1.5).upbeat, 0.0);
        // Cut at 1.25 s: the next bar line (2.0 s) is 0.75 s into the primer.
        assert!((b.from(1.25, three).upbeat - 0.75).abs() < 1e-12);
        assert_eq!(b.from(2.0, three).upbeat, 0.0);
        assert_eq!(b.next_bar_line(0.0, three), 0.5);
        assert_eq!(b.next_bar_line(0.5, three), 0.5);
        assert_eq!(b.next_bar_line(0.6, three), 2.0);
        // In 2/4 (1 s bars) the same upbeat stays a quarter.
        assert_eq!(b.upbeat_in(Meter::parse("2/4").unwrap()), 0.5);
        assert_eq!(b.upbeat_in(Meter::parse("1/4").unwrap()), 0.0);
        assert_eq!(Bars::default().next_bar_line(2.1, Meter::default()), 4.0);
    }
}
