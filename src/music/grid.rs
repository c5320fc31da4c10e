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

/// The `grid` setting: a note value, `off` (free rhythm), or `auto`: the note value of the
/// data the model learned from ([`of_data`]), recorded in its file when tms trained it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GridChoice {
    #[default]
    Auto,
    Off,
    Value(Grid),
}

impl GridChoice {
    /// `auto`, `off`/`none`, or a note value as [`Grid::parse_optional`] reads it.
    pub fn parse(text: &str) -> Result<GridChoice, GridError> {
        if text.trim().eq_ignore_ascii_case("auto") {
            return Ok(GridChoice::Auto);
        }
        Ok(match Grid::parse_optional(text)? {
            Some(g) => GridChoice::Value(g),
            None => GridChoice::Off,
        })
    }

    /// The grid to generate on: `auto` takes `learned` (the model's data's, if known).
    pub fn resolve(self, learned: Option<Grid>) -> Option<Grid> {
        match self {
            GridChoice::Auto => learned,
            GridChoice::Off => None,
            GridChoice::Value(g) => Some(g),
        }
    }
}

impl fmt::Display for GridChoice {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            GridChoice::Auto => f.write_str("auto"),
            GridChoice::Off => f.write_str("off"),
            GridChoice::Value(g) => g.fmt(f),
        }
    }
}

/// Where bar lines fall, for a grid laid from them: a grid's points are every bar line plus
/// whole multiples of its value, so generated notes sit on the bar's sixteenths (say) and not
/// on the previous note's, which a primer ending on an odd sixteenth would leave them off.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BarLines {
    /// A bar line, in seconds.
    pub first: f64,
    /// A bar's length, in seconds.
    pub every: f64,
}

impl Default for BarLines {
    /// Bars of 4/4 from time 0.
    fn default() -> Self {
        BarLines {
            first: 0.0,
            every: 2.0,
        }
    }
}

/// Points closer than this (seconds) are one point.
const NEAR: f64 = 1e-6;

impl BarLines {
    /// The start of the bar `t` lies in, and how far into it `t` is.
    fn bar_of(&self, t: f64) -> (f64, f64) {
        if self.every.is_nan() || self.every <= 0.0 {
            return (t, 0.0);
        }
        let mut x = (t - self.first).rem_euclid(self.every);
        if self.every - x < NEAR {
            x = 0.0;
        }
        (t - x, x)
    }

    /// The last point of `grid` at or before `t`.
    pub fn at_or_before(&self, t: f64, grid: Grid) -> f64 {
        let (start, x) = self.bar_of(t);
        let g = grid.seconds();
        start + ((x + NEAR) / g).floor() * g
    }

    /// The first point of `grid` at or after `t`.
    pub fn at_or_after(&self, t: f64, grid: Grid) -> f64 {
        let (start, x) = self.bar_of(t);
        let g = grid.seconds();
        start + (((x - NEAR) / g).ceil() * g).min(self.every)
    }

    /// Whether `t` is a point of `grid`.
    pub fn holds(&self, t: f64, grid: Grid) -> bool {
        (self.at_or_before(t, grid) - t).abs() < NEAR
    }

    /// The point of `grid` nearest `t` (the earlier of two as near).
    pub fn nearest(&self, t: f64, grid: Grid) -> f64 {
        let (a, b) = (self.at_or_before(t, grid), self.at_or_after(t, grid));
        if b - t < t - a - NEAR {
            b
        } else {
            a
        }
    }
}

/// The grid a dataset's rhythm lives on: the coarsest note value that holds at least
/// [`DATA_SHARE`] of its steps and durations (whole note down to 1/32 triplets). The Essen
/// Chinese songs give 1/16 (0.9% of han1's values are 1/32 notes); played MIDI that fits no
/// grid gives None. What `grid auto` uses: a melody generated on it is written as the data
/// is, where a free rhythm writes tuplets and tiny rests.
pub fn of_data(tunes: &[crate::music::note::Tune]) -> Option<Grid> {
    // Whole, half, quarter, quarter triplet, eighth, eighth triplet, sixteenth, sixteenth
    // triplet, thirty-second triplet: longest first.
    const CANDIDATES: [(u32, bool); 9] = [
        (1, false),
        (2, false),
        (4, false),
        (4, true),
        (8, false),
        (8, true),
        (16, false),
        (16, true),
        (32, true),
    ];
    let mut values = Vec::new();
    for t in tunes {
        let mut prev: Option<f64> = None;
        for n in &t.notes {
            if let Some(p) = prev {
                values.push(n.start - p);
            }
            prev = Some(n.start);
            values.push(n.duration);
        }
    }
    if values.is_empty() {
        return None;
    }
    CANDIDATES
        .iter()
        .map(|&(denominator, triplet)| Grid {
            denominator,
            triplet,
        })
        .find(|g| {
            let unit = g.seconds();
            let on = values
                .iter()
                .filter(|&&v| {
                    let k = (v / unit).round();
                    (v - k * unit).abs() <= DATA_TOLERANCE
                })
                .count();
            on as f64 >= DATA_SHARE * values.len() as f64
        })
}

/// The share of a dataset's steps and durations its grid must hold.
pub const DATA_SHARE: f64 = 0.99;

/// How far (seconds) a value may lie from the grid and still be on it: a MIDI tick at 480 per
/// quarter is 1 ms at 120 BPM, a 1/48 note 42 ms.
const DATA_TOLERANCE: f64 = 0.004;

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
    fn auto_off_or_a_note_value() {
        let sixteenth = Grid::parse_optional("1/16").unwrap();
        assert_eq!(GridChoice::parse(" AUTO "), Ok(GridChoice::Auto));
        assert_eq!(GridChoice::parse("off"), Ok(GridChoice::Off));
        assert_eq!(
            GridChoice::parse("1/16"),
            Ok(GridChoice::Value(sixteenth.unwrap()))
        );
        assert!(GridChoice::parse("1/32").is_err());
        assert_eq!(GridChoice::Auto.resolve(sixteenth), sixteenth);
        assert_eq!(GridChoice::Auto.resolve(None), None);
        assert_eq!(GridChoice::Off.resolve(sixteenth), None);
        for s in ["auto", "off", "1/8t"] {
            assert_eq!(GridChoice::parse(s).unwrap().to_string(), s);
        }
    }

    fn tune(values: &[(f64, f64)]) -> crate::music::note::Tune {
        crate::music::note::Tune {
            notes: values
                .iter()
                .map(|&(start, duration)| crate::music::note::Note {
                    pitch: 60,
                    start,
                    duration,
                    velocity: 90,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_data_s_grid_is_the_coarsest_that_holds_99_percent() {
        let name = |tunes: &[crate::music::note::Tune]| name(of_data(tunes));
        // Eighths and quarters: 1/8. One sixteenth among them: 1/16.
        let eighths: Vec<(f64, f64)> = (0..100).map(|i| (i as f64 * 0.25, 0.25)).collect();
        assert_eq!(name(&[tune(&eighths)]), "1/8");
        let mut some = eighths.clone();
        some.push((25.0, 0.125));
        assert_eq!(
            name(&[tune(&some)]),
            "1/8",
            "one value in 201 off the eighths"
        );
        some.extend([(25.125, 0.125), (25.25, 0.125), (25.375, 0.25)]);
        assert_eq!(
            name(&[tune(&some)]),
            "1/16",
            "six in 207: under 99% on eighths"
        );
        // Whole notes only; triplet eighths; free timing; nothing at all.
        assert_eq!(name(&[tune(&[(0.0, 2.0), (2.0, 2.0)])]), "1");
        let t = 1.0 / 6.0;
        let triplets: Vec<(f64, f64)> = (0..30).map(|i| (i as f64 * t, t)).collect();
        assert_eq!(name(&[tune(&triplets)]), "1/8t");
        let free: Vec<(f64, f64)> = (0..50).map(|i| (i as f64 * 0.1037, 0.0917)).collect();
        assert_eq!(name(&[tune(&free)]), "off");
        assert_eq!(name(&[]), "off");
        // A MIDI tick off (1 ms) is still on the grid.
        assert_eq!(name(&[tune(&[(0.0, 0.251), (0.251, 0.249)])]), "1/8");
    }

    #[test]
    fn the_essen_chinese_songs_are_on_sixteenths() {
        // The data the shipped model learned from (the model file records 1/16).
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/essen/han1.abc");
        let Ok(text) = std::fs::read_to_string(path) else {
            eprintln!("skipped: no {path} (tests/golden/fetch_essen.sh fetches it)");
            return;
        };
        let (tunes, _) =
            crate::music::abc::parse_abc_with(&text, path, crate::music::abc::Accidentals::Bar);
        assert!(tunes.len() > 500);
        assert_eq!(name(of_data(&tunes)), "1/16");
    }

    #[test]
    fn a_grid_counts_from_the_bar_line() {
        let eighth = Grid::parse_optional("1/8").unwrap().unwrap(); // 0.25 s
        let third = Grid::parse_optional("1/4t").unwrap().unwrap(); // 1/3 s
                                                                    // 3/4 bars (1.5 s) after an upbeat of a sixteenth (0.125 s).
        let bars = BarLines {
            first: 0.125,
            every: 1.5,
        };
        assert!(bars.holds(0.125, eighth));
        assert!(bars.holds(0.375, eighth));
        assert!(
            !bars.holds(0.25, eighth),
            "an odd sixteenth is off the bar's eighths"
        );
        assert!(bars.holds(1.625, eighth));
        assert_eq!(bars.at_or_after(0.25, eighth), 0.375);
        assert_eq!(bars.at_or_before(0.25, eighth), 0.125);
        assert_eq!(bars.nearest(0.3, eighth), 0.375);
        assert_eq!(bars.nearest(0.2, eighth), 0.125);
        // Before the first bar line the grid counts back from it.
        assert!(bars.holds(-0.125, eighth));
        assert!(!bars.holds(0.0, eighth));
        // Quarter triplets do not divide a 3/4 bar: they start again at each bar line.
        let plain = BarLines {
            first: 0.0,
            every: 1.5,
        };
        assert!(plain.holds(4.0 / 3.0, third));
        assert!(plain.holds(1.5, third));
        assert!(
            !plain.holds(2.0, third),
            "six triplet quarters from 0, but not from 1.5"
        );
        assert!((plain.at_or_after(1.4, third) - 1.5).abs() < 1e-12);
        assert!((plain.at_or_after(1.6, third) - (1.5 + 1.0 / 3.0)).abs() < 1e-12);
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
