//! Where a note falls in its bar, as a model with `position on` reads it. The pitch of a
//! folk tune's note depends on its place in the bar (stable tones on strong beats, passing
//! tones between them), which the notes' steps alone do not say: a tune may start with an
//! upbeat, and the same step lands on a downbeat in one bar and off it in the next.
//!
//! A note's class is its felt beat in the bar (the first 12; later beats count as the
//! 12th) and its place in that beat in twelfths (straight and triplet subdivisions alike),
//! or "between the twelfths"; one more class means the bars are not known. The classes
//! are counted in `tms_step` so that the stepper and the tensor network agree.

use crate::music::meter::{Bars, Meter};
use crate::music::note::Note;
pub use tms_step::{POSITIONS, UNKNOWN_POSITION};

/// Beats of a bar that get their own classes.
const BEATS: usize = 12;
/// Places within a beat: twelfths, and one for "between them".
const PLACES: usize = 13;
const _: () = assert!(BEATS * PLACES + 1 == POSITIONS);

/// How far from a twelfth of a beat (in twelfths) a note still counts as on it: note
/// lengths summed in floating point drift by far less, and swing or a human's timing in a
/// MIDI file by more.
const ON_GRID: f64 = 0.1;

/// The bars a melody's notes fall in: the meter and where the first bar line is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BarClock {
    bar: f64,
    beat: f64,
    first_line: f64,
}

impl BarClock {
    /// Bars of `meter` with bar lines where `bars` puts them.
    pub fn new(meter: Meter, bars: &Bars) -> BarClock {
        BarClock {
            bar: meter.bar_seconds(),
            beat: meter.beat_seconds(),
            first_line: bars.upbeat_in(meter),
        }
    }

    /// The bars of a tune, as its source says them; None where it says no meter.
    pub fn of_source(bars: &Bars) -> Option<BarClock> {
        bars.meter.map(|m| BarClock::new(m, bars))
    }

    /// The position class of a note starting at `t` seconds.
    pub fn class(&self, t: f64) -> usize {
        if !t.is_finite() || self.bar <= 0.0 || self.beat <= 0.0 {
            return UNKNOWN_POSITION;
        }
        let in_bar = (t - self.first_line).rem_euclid(self.bar);
        let twelfths = in_bar / self.beat * 12.0;
        let nearest = twelfths.round();
        let bar_twelfths = (self.bar / self.beat * 12.0).round();
        if (twelfths - nearest).abs() > ON_GRID {
            let beat = (twelfths / 12.0).floor() as usize;
            return beat.min(BEATS - 1) * PLACES + PLACES - 1;
        }
        // Just before the next bar line is on it.
        let nearest = if nearest >= bar_twelfths {
            0.0
        } else {
            nearest
        };
        let beat = (nearest / 12.0).floor() as usize;
        let place = (nearest as usize) % 12;
        beat.min(BEATS - 1) * PLACES + place
    }
}

/// The classes of `notes` (in onset order) under `clock`; all unknown without one.
pub fn classes(notes: &[Note], clock: Option<BarClock>) -> Vec<i64> {
    notes
        .iter()
        .map(|n| clock.map_or(UNKNOWN_POSITION, |c| c.class(n.start)) as i64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(meter: &str, upbeat: f64) -> BarClock {
        let m = Meter::parse(meter).unwrap();
        BarClock::new(
            m,
            &Bars {
                meter: Some(m),
                upbeat,
            },
        )
    }

    #[test]
    fn a_bar_of_four_quarters_counts_beats_and_twelfths() {
        let c = clock("4/4", 0.0);
        // 120 BPM: a quarter is 0.5 s, a sixteenth 0.125 s (three twelfths).
        assert_eq!(c.class(0.0), 0);
        assert_eq!(c.class(0.125), 3);
        assert_eq!(c.class(0.5), PLACES);
        assert_eq!(c.class(1.75), 3 * PLACES + 6);
        // The next bar starts over, and a sum that falls just short of it is on it.
        assert_eq!(c.class(2.0), 0);
        assert_eq!(c.class(2.0 - 1e-9), 0);
        // A triplet eighth is four twelfths.
        assert_eq!(c.class(0.5 + 1.0 / 6.0), PLACES + 4);
        // Off the twelfths: the beat's "between" class.
        assert_eq!(c.class(0.51), PLACES + PLACES - 1);
    }

    #[test]
    fn an_upbeat_moves_the_bar_lines_and_compound_meters_count_dotted_beats() {
        // A quarter-note upbeat in 3/4: the first note is on the third beat.
        let c = clock("3/4", 0.5);
        assert_eq!(c.class(0.0), 2 * PLACES);
        assert_eq!(c.class(0.5), 0);
        // 6/8: two beats of three eighths (0.75 s); the second eighth is a third in.
        let c = clock("6/8", 0.0);
        assert_eq!(c.class(0.25), 4);
        assert_eq!(c.class(0.75), PLACES);
    }

    #[test]
    fn notes_without_bars_are_unknown() {
        let n = Note {
            pitch: 60,
            start: 0.5,
            duration: 0.5,
            velocity: 100,
        };
        assert_eq!(classes(&[n], None), vec![UNKNOWN_POSITION as i64]);
        assert_eq!(classes(&[n], Some(clock("4/4", 0.0))), vec![PLACES as i64]);
    }
}
