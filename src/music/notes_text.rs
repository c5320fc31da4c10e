//! Melodies written inline (`prime notes "C4 D4/2 E4*2 r G4"`) and written back out: what
//! `listen` and `respond` heard is shown in the same notation, on the grid, so that it can be
//! read and pasted into `prime notes`.
//!
//! A quarter note lasts 0.5 s, the reference 120 BPM every stored time uses; `/n` and `*n`
//! scale it (`*3/2` is a dotted quarter; a note or rest lasts at most [`MAX_QUARTERS`]
//! quarters), `r` is a rest, `C4+E4+G4` is a chord (it lasts as long as its longest note) and
//! `|` may mark bars; it is ignored. Errors carry a span in characters so the caller can put a
//! caret under the offending note.

use crate::music::grid::{Grid, QUANTUM_SECONDS};
use crate::music::note::{sort_notes, Note};
use crate::music::stats::note_name;
use nom::character::complete::{char, digit1, one_of, satisfy};
use nom::combinator::{opt, recognize};
use nom::multi::many0;
use nom::sequence::pair;
use nom::{IResult, Parser};
use std::ops::Range;

/// Seconds per quarter note at the reference tempo.
const QUARTER: f64 = 0.5;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
pub struct NotesError {
    /// Character offsets within the text.
    pub span: Range<usize>,
    pub problem: NotesProblem,
}

/// What is wrong at [`NotesError::span`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotesProblem {
    /// Not a note, a rest or a chord where one was due.
    #[error("expected a note name like C4 or r")]
    ExpectedNote,
    /// `*` or `/` with no number after it.
    #[error("expected a number after `{0}`")]
    NoNumberAfter(char),
    #[error("bad number `{0}`")]
    BadNumber(String),
    #[error("division by zero")]
    DivisionByZero,
    /// `*0`.
    #[error("a note of length zero (use `r` for a rest)")]
    ZeroLength,
    /// A note or rest (the word) longer than [`MAX_QUARTERS`].
    #[error("{0} too long: a {0} lasts at most {MAX_QUARTERS} quarter notes (`*{MAX_QUARTERS}`)")]
    TooLong(&'static str),
    /// A note name as written, without its octave.
    #[error("missing octave: write `{0}4` (middle C is C4)")]
    MissingOctave(String),
    /// A pitch as written, above MIDI 127.
    #[error("pitch out of range: `{0}` is above G9, the highest (127)")]
    AboveG9(String),
    /// A pitch as written, below MIDI 0.
    #[error("pitch out of range: `{0}` is below C-1, the lowest (0)")]
    BelowCMinus1(String),
    #[error("expected a note after `+` (rests cannot be in chords)")]
    NoNoteAfterPlus,
    /// A character right after an item, with no space between.
    #[error("unexpected `{0}` (separate notes with spaces)")]
    Unexpected(char),
    /// The notes' times add up past what a number holds.
    #[error("melody too long")]
    MelodyTooLong,
    /// Only rests, bar lines or spaces.
    #[error("no notes: write e.g. \"C4 D4/2 E4*2 r G4\"")]
    NoNotes,
}

/// A parse failure inside one item: where (the remaining input), how many characters, why.
#[derive(Debug)]
struct Fail<'a> {
    at: &'a str,
    len: usize,
    problem: NotesProblem,
}

impl<'a> nom::error::ParseError<&'a str> for Fail<'a> {
    fn from_error_kind(input: &'a str, _: nom::error::ErrorKind) -> Self {
        Fail {
            at: input,
            len: 1,
            problem: NotesProblem::ExpectedNote,
        }
    }
    fn append(_: &'a str, _: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

type Res<'a, O> = IResult<&'a str, O, Fail<'a>>;

fn fail<T>(at: &str, len: usize, problem: NotesProblem) -> Result<T, nom::Err<Fail<'_>>> {
    Err(nom::Err::Failure(Fail { at, len, problem }))
}

/// Characters between two positions of the same string (`from` is the longer rest).
fn chars_between(from: &str, to: &str) -> usize {
    from[..from.len() - to.len()].chars().count()
}

fn number(i: &str) -> Res<'_, &str> {
    recognize(pair(digit1, opt(pair(char('.'), digit1)))).parse(i)
}

/// The longest note or rest written inline, in quarter notes: what notation writes as one
/// note (16 bars of 4/4), and far past any phrase; `*99999999999999999999` is a typo or an
/// attack, not a melody.
pub const MAX_QUARTERS: u32 = crate::music::notation::MAX_NOTE_QUARTERS;

/// `/n` and `*n` factors, applied left to right to a quarter note; the result in quarters,
/// at most [`MAX_QUARTERS`]. `what` names the item (note or rest) for the error.
fn length<'a>(i: &'a str, what: &'static str) -> Res<'a, f64> {
    let start = i;
    let (_, factors) = many0(pair(one_of("*/"), opt(number))).parse(i)?;
    let mut q = 1.0f64;
    // Re-walk the factors to report the exact place of a bad one.
    let mut at = start;
    for (op, n) in factors {
        let after_op = &at[op.len_utf8()..];
        let Some(n) = n else {
            return fail(after_op, 1, NotesProblem::NoNumberAfter(op));
        };
        let Ok(x) = n.parse::<f64>() else {
            return fail(
                after_op,
                n.chars().count(),
                NotesProblem::BadNumber(n.into()),
            );
        };
        if x == 0.0 {
            let why = if op == '/' {
                NotesProblem::DivisionByZero
            } else {
                NotesProblem::ZeroLength
            };
            return fail(after_op, n.chars().count(), why);
        }
        if op == '/' {
            q /= x;
        } else {
            q *= x;
        }
        at = &after_op[n.len()..];
    }
    // Also catches an infinite length (`*1` followed by 400 zeros) and infinity divided by
    // itself.
    if q.is_nan() || q > f64::from(MAX_QUARTERS) {
        let len = chars_between(start, at).max(1);
        return fail(start, len, NotesProblem::TooLong(what));
    }
    Ok((at, q))
}

/// A pitch with its octave: `C4`, `F#5`, `Bb-1`, `e♭3`.
fn pitch(i: &str) -> Res<'_, u8> {
    let start = i;
    let (i, letter) = satisfy(|c| matches!(c.to_ascii_uppercase(), 'A'..='G')).parse(i)?;
    let (i, accidentals) = many0(one_of("#b♯♭")).parse(i)?;
    let (rest, octave) = opt(recognize(pair(opt(char('-')), digit1))).parse(i)?;
    let written = &start[..start.len() - rest.len()];
    let Some(octave) = octave else {
        let name = &start[..start.len() - i.len()];
        return fail(
            start,
            name.chars().count(),
            NotesProblem::MissingOctave(name.into()),
        );
    };
    let base = i64::from(crate::music::pitch::letter_semitone(letter).unwrap_or(11));
    let shift: i64 = accidentals
        .iter()
        .map(|&c| if c == '#' || c == '♯' { 1 } else { -1 })
        .sum();
    let octave: i64 = octave.parse().unwrap_or(i64::MAX / 4);
    let midi = (octave.saturating_add(1)).saturating_mul(12) + base + shift;
    let len = written.chars().count();
    if midi > 127 {
        return fail(start, len, NotesProblem::AboveG9(written.into()));
    }
    if midi < 0 {
        return fail(start, len, NotesProblem::BelowCMinus1(written.into()));
    }
    Ok((rest, midi as u8))
}

enum Item {
    Rest(f64),
    /// Pitches with their lengths in quarters.
    Chord(Vec<(u8, f64)>),
}

fn item(i: &str) -> Res<'_, Item> {
    if let Ok((i, _)) = one_of::<_, _, Fail>("rR").parse(i) {
        let (i, q) = length(i, "rest")?;
        return Ok((i, Item::Rest(q)));
    }
    let (mut i, p) = pitch(i)?;
    let (r, q) = length(i, "note")?;
    i = r;
    let mut chord = vec![(p, q)];
    while let Some(r) = i.strip_prefix('+') {
        let (r, p) = match pitch(r) {
            Err(nom::Err::Error(_)) => return fail(r, 1, NotesProblem::NoNoteAfterPlus),
            other => other?,
        };
        let (r, q) = length(r, "note")?;
        chord.push((p, q));
        i = r;
    }
    Ok((i, Item::Chord(chord)))
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || c == '|'
}

/// Parses inline notes into notes starting at 0 s, each with `velocity`.
pub fn parse_notes(text: &str, velocity: u8) -> Result<Vec<Note>, NotesError> {
    let velocity = velocity.clamp(1, 127);
    // Every `Fail::at` is a suffix of `text`, so its position is the length difference.
    let to_error = |f: Fail| {
        let start = chars_between(text, f.at);
        NotesError {
            span: start..start + f.len,
            problem: f.problem,
        }
    };
    let mut notes = Vec::new();
    let mut t = 0.0f64;
    let mut rest = text.trim_start_matches(is_separator);
    while !rest.is_empty() {
        let (after, it) = match item(rest) {
            Ok(ok) => ok,
            Err(nom::Err::Error(f) | nom::Err::Failure(f)) => {
                // The whole word is what was not understood.
                let word = rest.split(is_separator).next().unwrap_or(rest);
                let f = if f.problem == NotesProblem::ExpectedNote {
                    Fail {
                        at: rest,
                        len: word.chars().count().max(1),
                        ..f
                    }
                } else {
                    f
                };
                return Err(to_error(f));
            }
            Err(nom::Err::Incomplete(_)) => {
                return Err(to_error(Fail::from_rest(rest)));
            }
        };
        if let Some(c) = after.chars().next().filter(|&c| !is_separator(c)) {
            let junk = after.split(is_separator).next().unwrap_or(after);
            let f = Fail {
                at: after,
                len: junk.chars().count(),
                problem: NotesProblem::Unexpected(c),
            };
            return Err(to_error(f));
        }
        match it {
            Item::Rest(q) => t += q * QUARTER,
            Item::Chord(chord) => {
                let mut advance = 0.0f64;
                for (pitch, q) in chord {
                    let duration = q * QUARTER;
                    advance = advance.max(duration);
                    notes.push(Note {
                        pitch,
                        start: t,
                        duration,
                        velocity,
                    });
                }
                t += advance;
            }
        }
        if !t.is_finite() {
            let start = chars_between(text, rest);
            return Err(NotesError {
                span: start..start + 1,
                problem: NotesProblem::MelodyTooLong,
            });
        }
        rest = after.trim_start_matches(is_separator);
    }
    if notes.is_empty() {
        return Err(NotesError {
            span: 0..text.chars().count().max(1),
            problem: NotesProblem::NoNotes,
        });
    }
    sort_notes(&mut notes);
    Ok(notes)
}

impl Fail<'_> {
    fn from_rest(at: &str) -> Fail<'_> {
        Fail {
            at,
            len: 1,
            problem: NotesProblem::ExpectedNote,
        }
    }
}

/// A length in quarters as `parse_notes` reads it back: `""`, `/2`, `*3/2`, or `*0.874`, with
/// the value that text parses to. Lengths within 1e-9 of a small fraction are written as that
/// fraction, so parsed melodies read back as they were written.
fn write_length(q: f64) -> (String, f64) {
    let q = if q.is_finite() { q.max(0.0) } else { 0.0 };
    if q == 0.0 {
        return ("*0".into(), 0.0);
    }
    for m in 1u32..=64 {
        let n = (q * m as f64).round();
        if (1.0..=1e6).contains(&n) {
            let v = n / m as f64;
            if (v - q).abs() <= 1e-9 * q.max(1.0) {
                let n = n as u64;
                let text = match (n, m) {
                    (1, 1) => String::new(),
                    (n, 1) => format!("*{n}"),
                    (1, m) => format!("/{m}"),
                    (n, m) => format!("*{n}/{m}"),
                };
                return (text, v);
            }
        }
    }
    (format!("*{q}"), q)
}

/// Writes notes so that `parse_notes` gives them back (velocity aside): gaps become rests,
/// notes with the same onset a chord. The text is sequential, so a note that overlaps the next
/// onset is shortened to end there (legato played on a keyboard loses its overlap).
pub fn format_notes(notes: &[Note]) -> String {
    let mut sorted = notes.to_vec();
    sort_notes(&mut sorted);
    let origin = sorted.first().map_or(0.0, |n| n.start.min(0.0));
    let mut cursor = origin;
    let mut words: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i].start;
        let mut j = i;
        while j < sorted.len() && sorted[j].start == start {
            j += 1;
        }
        let mut gap = (start - cursor) / QUARTER;
        // A long silence is several rests, each as long as a rest may be (up to hours of them;
        // a listened phrase has none longer than its ending silence).
        let most = f64::from(MAX_QUARTERS);
        if gap > most {
            let whole = ((gap / most).floor() as usize).min(1000);
            words.extend(std::iter::repeat_n(format!("r*{MAX_QUARTERS}"), whole));
            cursor += whole as f64 * most * QUARTER;
            gap = (start - cursor) / QUARTER;
        }
        if gap > 1e-9 {
            let (text, q) = write_length(gap);
            words.push(format!("r{text}"));
            cursor += q * QUARTER;
        }
        let room = sorted.get(j).map(|n| (n.start - cursor) / QUARTER);
        let mut advance = 0.0f64;
        let mut chord = Vec::new();
        for n in &sorted[i..j] {
            let mut q = n.duration / QUARTER;
            if let Some(room) = room {
                q = q.min(room.max(0.0));
            }
            let (text, q) = write_length(q);
            advance = advance.max(q * QUARTER);
            chord.push(format!("{}{text}", note_name(n.pitch.min(127))));
        }
        words.push(chord.join("+"));
        cursor += advance;
        i = j;
    }
    words.join(" ")
}

/// A phrase played in (`listen`, `respond`) as the notes syntax writes it on `grid`, or on
/// 1/48 notes without one (the model's quantum: sixteenths and triplet eighths alike), so
/// that a player reads what the grid heard and can paste it into `prime notes`. Every onset
/// and end is rounded to the nearest grid line; a note keeps at least one unit, a gap shorter
/// than half a unit disappears, and a note still sounding at the next onset ends there.
/// `parse_notes` of the text gives [`on_grid`]'s notes back.
pub fn format_heard(notes: &[Note], grid: Option<Grid>) -> String {
    format_notes(&on_grid(
        notes,
        grid.map_or(QUANTUM_SECONDS, |g| g.seconds()),
    ))
}

/// `notes` with every onset and end on the nearest multiple of `unit` seconds (a note at
/// least one unit long), sorted, each note cut at the next later onset: the notes that
/// [`format_heard`]'s text parses to.
pub fn on_grid(notes: &[Note], unit: f64) -> Vec<Note> {
    let at = |t: f64| (t / unit).round() * unit;
    let mut grid: Vec<Note> = notes
        .iter()
        .filter(|n| n.start.is_finite() && n.duration.is_finite())
        .map(|n| {
            let start = at(n.start);
            Note {
                start,
                duration: (at(n.end()) - start).max(unit),
                ..*n
            }
        })
        .collect();
    sort_notes(&mut grid);
    let onsets: Vec<f64> = grid.iter().map(|n| n.start).collect();
    for n in &mut grid {
        let next = onsets[onsets.partition_point(|&o| o <= n.start)..].first();
        if let Some(&next) = next {
            n.duration = n.duration.min(next - n.start);
        }
    }
    grid
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn n(pitch: u8, start: f64, duration: f64) -> Note {
        Note {
            pitch,
            start,
            duration,
            velocity: 100,
        }
    }

    #[test]
    fn the_example() {
        let got = parse_notes("C4 D4/2 E4*2 r G4", 100).unwrap();
        assert_eq!(
            got,
            vec![
                n(60, 0.0, 0.5),
                n(62, 0.5, 0.25),
                n(64, 0.75, 1.0),
                n(67, 2.25, 0.5)
            ]
        );
        assert_eq!(format_notes(&got), "C4 D4/2 E4*2 r G4");
    }

    #[test]
    fn spellings_and_lengths() {
        let p = |s: &str| parse_notes(s, 90).unwrap();
        assert_eq!(p("C-1")[0].pitch, 0);
        assert_eq!(p("G9")[0].pitch, 127);
        assert_eq!(p("bb3")[0].pitch, 58);
        assert_eq!(
            p("F#5 Gb5 F♯5 G♭5")
                .iter()
                .map(|n| n.pitch)
                .collect::<Vec<_>>(),
            [78; 4]
        );
        assert_eq!(p("Cb4")[0].pitch, 59);
        assert_eq!(p("B#3")[0].pitch, 60);
        assert_eq!(p("A4*3/2")[0].duration, 0.75);
        assert_eq!(p("A4*1.5")[0].duration, 0.75);
        assert_eq!(p("A4/4*3")[0].duration, 0.375);
        assert_eq!(p("r/2 A4")[0].start, 0.25);
        assert_eq!(p("R*2 A4")[0].start, 1.0);
        assert_eq!(p("  | C4 D4 | E4 |")[2].start, 1.0);
        assert_eq!(p("A4")[0].velocity, 90);
        assert_eq!(p("A4*64")[0].duration, 32.0);
        assert_eq!(p("A4*128/2")[0].duration, 32.0);
        assert_eq!(p("r*64 A4")[0].start, 32.0);
        assert_eq!(parse_notes("A4", 0).unwrap()[0].velocity, 1);
    }

    #[test]
    fn chords_last_as_long_as_their_longest_note() {
        let got = parse_notes("C4+E4*2+G4/2 A4", 100).unwrap();
        assert_eq!(
            got,
            vec![
                n(60, 0.0, 0.5),
                n(64, 0.0, 1.0),
                n(67, 0.0, 0.25),
                n(69, 1.0, 0.5)
            ]
        );
        assert_eq!(format_notes(&got), "C4+E4*2+G4/2 A4");
    }

    fn err(s: &str) -> (Range<usize>, String) {
        let e = parse_notes(s, 100).unwrap_err();
        (e.span.clone(), e.to_string())
    }

    #[test]
    fn errors_point_at_the_problem() {
        assert_eq!(
            err("C4 X4 D4"),
            (3..5, "expected a note name like C4 or r".into())
        );
        assert_eq!(
            err("C4 D"),
            (3..4, "missing octave: write `D4` (middle C is C4)".into())
        );
        assert_eq!(
            err("G#9"),
            (
                0..3,
                "pitch out of range: `G#9` is above G9, the highest (127)".into()
            )
        );
        assert_eq!(
            err("C4 Cb-1"),
            (
                3..7,
                "pitch out of range: `Cb-1` is below C-1, the lowest (0)".into()
            )
        );
        assert_eq!(
            err("C99999999999999999999999"),
            (
                0..24,
                "pitch out of range: `C99999999999999999999999` is above G9, the highest (127)"
                    .into()
            )
        );
        assert_eq!(err("C4/"), (3..4, "expected a number after `/`".into()));
        assert_eq!(err("C4/0"), (3..4, "division by zero".into()));
        assert_eq!(
            err("C4x D4"),
            (2..3, "unexpected `x` (separate notes with spaces)".into())
        );
        assert_eq!(
            err("C4+r"),
            (
                3..4,
                "expected a note after `+` (rests cannot be in chords)".into()
            )
        );
        assert_eq!(
            err(""),
            (0..1, "no notes: write e.g. \"C4 D4/2 E4*2 r G4\"".into())
        );
        assert_eq!(err("r r").1, "no notes: write e.g. \"C4 D4/2 E4*2 r G4\"");
        // Lengths stop at 64 quarter notes, whatever the factors on the way.
        let too_long = |what: &str| {
            format!("{what} too long: a {what} lasts at most 64 quarter notes (`*64`)")
        };
        assert_eq!(err("C4*99999999999999999999"), (2..23, too_long("note")));
        assert_eq!(err("C4 D4*65"), (5..8, too_long("note")));
        assert_eq!(err("C4*8*9/2*2"), (2..10, too_long("note")));
        assert_eq!(err("C4+E4*1000000"), (5..13, too_long("note")));
        assert_eq!(err("C4 r*64.5 D4"), (4..9, too_long("rest")));
        let inf = format!("C4*1{}", "0".repeat(400));
        assert_eq!(err(&inf), (2..404, too_long("note")));
        let nan = format!("C4*1{0}/1{0}", "0".repeat(400));
        assert_eq!(err(&nan), (2..806, too_long("note")));
        // Columns count characters, not bytes.
        assert_eq!(err("♭♭ C4 é4").0, 0..2);
        assert_eq!(err("F♯4 é4").0, 4..6);
        assert_eq!(err("F♯4 G♯").0, 4..6);
    }

    #[test]
    fn format_writes_gaps_and_shortens_overlaps() {
        let melody = [
            n(60, 0.25, 0.5),
            n(62, 0.75, 0.437),
            n(64, 1.0, 2.0),
            n(65, 2.0, 0.5),
        ];
        let text = format_notes(&melody);
        assert_eq!(text, "r/2 C4 D4/2 E4*2 F4");
        let text = format_notes(&[n(60, 0.0, 0.437), n(62, 1.0, 0.5)]);
        assert_eq!(text, "C4*0.874 r*1.126 D4");
        let back = parse_notes(&text, 100).unwrap();
        assert!((back[1].start - 1.0).abs() < 1e-12);
        assert_eq!(format_notes(&[]), "");
        // A silence longer than a rest may be is several rests, and reads back.
        let text = format_notes(&[n(60, 0.0, 0.5), n(62, 100.0, 0.5)]);
        assert_eq!(text, "C4 r*64 r*64 r*64 r*7 D4");
        assert_eq!(parse_notes(&text, 100).unwrap()[1].start, 100.0);
        assert_eq!(format_notes(&[n(60, 0.0, 0.0)]), "C4*0");
    }

    fn item_text() -> impl Strategy<Value = String> {
        let len = prop_oneof![
            Just(String::new()),
            (1u32..9).prop_map(|n| format!("/{n}")),
            (1u32..9).prop_map(|n| format!("*{n}")),
            (1u32..9, 1u32..9).prop_map(|(a, b)| format!("*{a}/{b}")),
            (1u32..9, 1u32..9).prop_map(|(a, b)| format!("/{a}*{b}")),
            (1u32..999).prop_map(|n| format!("*0.{n}")),
        ];
        let pitch = (0u8..128).prop_map(note_name);
        prop_oneof![
            1 => len.clone().prop_map(|l| format!("r{l}")),
            4 => prop::collection::vec((pitch, len), 1..4).prop_map(|v| {
                v.into_iter().map(|(p, l)| format!("{p}{l}")).collect::<Vec<_>>().join("+")
            }),
        ]
    }

    /// The same pitches, onsets and durations, to float rounding.
    fn same_notes(got: &[Note], want: &[Note]) {
        assert_eq!(got.len(), want.len(), "{got:?}\n{want:?}");
        for (a, b) in got.iter().zip(want) {
            assert!(
                a.pitch == b.pitch
                    && (a.start - b.start).abs() < 1e-9
                    && (a.duration - b.duration).abs() < 1e-9,
                "{a:?} vs {b:?}"
            );
        }
    }

    #[test]
    fn a_heard_phrase_is_written_on_the_grid() {
        // The issue's line: `heard 5 notes: D4*0.49049352 r*0.00798368599999999 E4*0.493284614 …`
        // (in quarters), as a keyboard plays eighth notes.
        let q = |quarters: f64| quarters * QUARTER;
        let heard = [
            n(62, 0.0, q(0.490_493_52)),
            n(64, q(0.498_477_2), q(0.493_284_614)),
            n(66, q(1.013), q(0.46)),
            n(67, q(1.51), q(1.02)),
            n(69, q(3.03), q(0.97)),
        ];
        // Off the grid: 1/48 notes. The 1/128-quarter rest is swallowed; the rest before A4
        // (half a quarter) is kept.
        assert_eq!(format_heard(&heard, None), "D4/2 E4/2 F#4/2 G4 r/2 A4");
        let sixteenths = Grid::parse_optional("1/16").unwrap();
        assert_eq!(
            format_heard(&heard, sixteenths),
            "D4/2 E4/2 F#4/2 G4 r/2 A4"
        );
        // A coarse grid: D4 and E4 round onto one quarter and sound together.
        let quarters = Grid::parse_optional("1/4").unwrap();
        assert_eq!(format_heard(&heard, quarters), "D4+E4 F#4 G4 A4");
        // Pasted into `prime notes` it gives back the phrase on the grid.
        for grid in [None, sixteenths, quarters] {
            let text = format_heard(&heard, grid);
            let unit = grid.map_or(QUANTUM_SECONDS, |g| g.seconds());
            same_notes(&parse_notes(&text, 100).unwrap(), &on_grid(&heard, unit));
        }
    }

    #[test]
    fn notes_rounded_onto_one_onset_become_a_chord_and_a_short_note_keeps_one_unit() {
        let heard = [n(60, 0.0, 0.01), n(64, 0.02, 0.5), n(67, 0.49, 0.3)];
        let text = format_heard(&heard, Grid::parse_optional("1/8").unwrap());
        assert_eq!(text, "C4/2+E4 G4/2");
        same_notes(&parse_notes(&text, 100).unwrap(), &on_grid(&heard, 0.25));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse_notes(&s, 100);
        }

        #[test]
        fn never_panics_on_near_misses(s in "[A-Gra-g#b♯♭0-9/*+.| -]{0,30}") {
            if let Err(e) = parse_notes(&s, 100) {
                prop_assert!(e.span.start <= s.chars().count());
                prop_assert!(!e.span.is_empty());
            }
        }

        #[test]
        fn heard_text_parses_to_the_notes_on_the_grid(
            notes in prop::collection::vec((40u8..90, 0.0..8.0f64, 0.0..2.0f64), 1..20),
            grid in prop::sample::select(vec![None, Some("1/16"), Some("1/8t"), Some("1/4")]),
        ) {
            let notes: Vec<Note> = notes.iter().map(|&(p, s, d)| n(p, s, d)).collect();
            let grid = grid.and_then(|g| Grid::parse_optional(g).unwrap());
            let unit = grid.map_or(QUANTUM_SECONDS, |g| g.seconds());
            let want = on_grid(&notes, unit);
            let got = parse_notes(&format_heard(&notes, grid), 100).unwrap();
            prop_assert_eq!(got.len(), want.len());
            for (a, b) in got.iter().zip(&want) {
                prop_assert_eq!(a.pitch, b.pitch);
                prop_assert!((a.start - b.start).abs() < 1e-9, "{:?} {:?}", a, b);
                prop_assert!((a.duration - b.duration).abs() < 1e-9, "{:?} {:?}", a, b);
            }
        }

        #[test]
        fn format_then_parse_gives_the_same_notes(items in prop::collection::vec(item_text(), 1..20)) {
            let text = items.join(" ");
            let Ok(notes) = parse_notes(&text, 100) else { return Ok(()) };
            let again = parse_notes(&format_notes(&notes), 100).unwrap();
            prop_assert_eq!(notes.len(), again.len());
            for (a, b) in notes.iter().zip(&again) {
                prop_assert_eq!(a.pitch, b.pitch);
                prop_assert!((a.start - b.start).abs() < 1e-9, "{:?} {:?}", a, b);
                prop_assert!((a.duration - b.duration).abs() < 1e-9, "{:?} {:?}", a, b);
            }
        }
    }
}
