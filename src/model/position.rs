//! Where a note falls in its bar, as a model with `position on` reads it. The pitch of a
//! folk tune's note depends on its place in the bar (stable tones on strong beats, passing
//! tones between them), which the notes' steps alone do not say: a tune may start with an
//! upbeat, and the same step lands on a downbeat in one bar and off it in the next.
//!
//! A note's class is its felt beat in the bar (the first 12; later beats count as the
//! 12th) and its place in that beat in twelfths (straight and triplet subdivisions alike),
//! or "between the twelfths"; one more class means the bars are not known. The classes
//! are counted in `tms_step` so that the stepper and the tensor network agree.
//!
//! With `degree on` the network also reads each note's scale degree: its pitch class above
//! the tonic of the tune's key signature (the major tonic of ABC `K:`'s signature, so a
//! pentatonic tune's five tones are the same five degrees in any key), or "key not known".

use crate::music::meter::{Bars, Meter};
use crate::music::note::{Note, Tune};
pub use tms_step::{DEGREES, POSITIONS, UNKNOWN_DEGREE, UNKNOWN_POSITION};

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

/// What a melody's notes are read against: its bars and its key's tonic (pitch class, 0 =
/// C; the major tonic of the key signature). Either may be unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Frame {
    pub clock: Option<BarClock>,
    pub tonic: Option<u8>,
}

impl Frame {
    /// A tune's frame as its source gives it: ABC `M:`, bar lines and `K:`.
    pub fn of_tune(tune: &Tune) -> Frame {
        Frame {
            clock: BarClock::of_source(&tune.bars),
            tonic: crate::music::abc::signature_fifths(&tune.fields.key).map(tonic_of_fifths),
        }
    }

    /// The position class of a note starting at `start` seconds.
    pub fn position(&self, start: f64) -> usize {
        self.clock.map_or(UNKNOWN_POSITION, |c| c.class(start))
    }

    /// The degree class of `pitch`.
    pub fn degree(&self, pitch: u8) -> usize {
        self.tonic.map_or(UNKNOWN_DEGREE, |t| {
            (usize::from(pitch) + 12 - usize::from(t % 12)) % 12
        })
    }

    /// Each note's (position, degree) classes.
    pub fn classes(&self, notes: &[Note]) -> (Vec<i64>, Vec<i64>) {
        notes
            .iter()
            .map(|n| (self.position(n.start) as i64, self.degree(n.pitch) as i64))
            .unzip()
    }
}

/// The major tonic of a signature of `fifths` sharps (negative: flats), 0 = C.
pub fn tonic_of_fifths(fifths: i32) -> u8 {
    (fifths * 7).rem_euclid(12) as u8
}

/// The major tonic of the signature estimated from `notes` (what `write` would give them),
/// for a melody whose source says no key.
pub fn estimated_tonic(notes: &[Note]) -> Option<u8> {
    if notes.is_empty() {
        return None;
    }
    Some(tonic_of_fifths(
        crate::music::notation::key::Key::estimate_notes(notes).fifths,
    ))
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
    fn degrees_count_from_the_signatures_major_tonic() {
        // Two flats: B-flat major; its D is degree 4, its G (the yu mode's tonic) 9.
        let f = Frame {
            clock: None,
            tonic: Some(tonic_of_fifths(-2)),
        };
        assert_eq!(f.tonic, Some(10));
        assert_eq!(f.degree(62), 4);
        assert_eq!(f.degree(67), 9);
        assert_eq!(f.degree(70), 0);
        assert_eq!(Frame::default().degree(60), UNKNOWN_DEGREE);
        assert_eq!(tonic_of_fifths(3), 9);
        // A D pentatonic melody is estimated in D.
        let melody: Vec<Note> = [62, 64, 66, 69, 71, 74, 71, 69, 66, 64, 62]
            .iter()
            .enumerate()
            .map(|(i, &p)| Note {
                pitch: p,
                start: i as f64 * 0.5,
                duration: if p == 62 { 1.0 } else { 0.5 },
                velocity: 90,
            })
            .collect();
        assert_eq!(estimated_tonic(&melody), Some(2));
        assert_eq!(estimated_tonic(&[]), None);
    }

    #[test]
    fn notes_without_bars_are_unknown() {
        let n = Note {
            pitch: 60,
            start: 0.5,
            duration: 0.5,
            velocity: 100,
        };
        let known = Frame {
            clock: Some(clock("4/4", 0.0)),
            tonic: None,
        };
        assert_eq!(Frame::default().classes(&[n]).0, [UNKNOWN_POSITION as i64]);
        assert_eq!(known.classes(&[n]).0, [PLACES as i64]);
    }
}
