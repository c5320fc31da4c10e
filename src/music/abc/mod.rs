//! ABC notation reader. ABC is how most folk-song corpora are published (the Essen
//! collection that tms trains on among them), so tms reads it directly instead of asking users
//! to convert to MIDI first.
//!
//! The reader covers ABC 2.1 as far as a monophonic melody needs it: header fields, keys with
//! modes and explicit accidentals, bar-long accidentals, octaves, lengths, rests, ties, broken
//! rhythm, tuplets, repeats and endings (expanded as a player plays them), inline fields and
//! the first voice. What a melody model cannot use is skipped: decorations, grace notes,
//! chord symbols, annotations, lyrics.
//!
//! Where the standard leaves room, the reading follows music21 (whose MIDI export is the
//! parity reference in `tests/abc_parity.rs`):
//! - a chord `[CEG]` keeps only its top note (the melody), lasting the chord's length;
//! - velocity is music21's default, [`VELOCITY`];
//! - `Q:120` (no note length) means 120 quarter notes per minute; no `Q:` means 120 too;
//! - accidentals last to the end of the bar, same letter and octave, as ABC 2.1 says
//!   ([`Accidentals::Bar`], the default). [`Accidentals::Note`] (`set abc_accidentals note`)
//!   applies each to its own note only: that is how music21 reads ABC and how collections
//!   converted from EsAC, the Essen songs among them, were written (every altered note is
//!   marked). A file's own `%%propagate-accidentals not|octave|pitch` wins over both.
//!
//! Parsing is two-stage: nom parsers turn each music line into [`Elem`](grammar::Elem)s, then
//! the elements are expanded (repeats) and played against a clock to produce notes in seconds.
//!
//! The files follow those stages: `grammar` (text to elements), `repeats` (the order they are
//! played in), `player` (elements against a clock), with `key` for what a written letter means
//! under the key signature and the accidentals, and `tune` for cutting a file into tunes and
//! running the stages on each.

mod grammar;
mod key;
mod player;
mod repeats;
mod tune;

use crate::music::note::Tune;

pub use key::signature_fifths;
use repeats::MAX_PLAYED;
use tune::parse_tunes;

/// The velocity music21 gives every note it exports (it has no dynamics from ABC).
pub const VELOCITY: u8 = 90;

/// Note lengths are clamped to this many whole notes, so a length like `A99999999` cannot
/// push times to infinity.
const MAX_LEN: f64 = 4096.0;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbcError {
    #[error("tune {tune}, line {line}: unterminated chord")]
    UnterminatedChord { tune: String, line: usize },
    #[error("tune {tune}, line {line}: unterminated grace notes")]
    UnterminatedGrace { tune: String, line: usize },
    #[error("tune {tune}, line {line}: unterminated string")]
    UnterminatedString { tune: String, line: usize },
    #[error("tune {tune}, line {line}: unterminated inline field")]
    UnterminatedField { tune: String, line: usize },
    #[error("tune {tune}, line {line}: repeats expand to more than {MAX_PLAYED} elements")]
    RepeatTooLong { tune: String, line: usize },
    #[error("tune {tune}, line {line}: no notes")]
    NoNotes { tune: String, line: usize },
    #[error("line {line}: no tunes (no X: field)")]
    NoTunes { line: usize },
}

crate::choice! {
    /// How long an accidental lasts in files that do not say (`%%propagate-accidentals`).
    #[derive(Default)]
    pub enum Accidentals {
        /// To the end of the bar, for the same letter and octave: the ABC 2.1 standard.
        #[default]
        Bar = "bar",
        /// Only on the note that carries it: how music21 reads ABC, and how collections
        /// converted from EsAC (the Essen Folksong Collection) were written, with every
        /// altered note marked.
        Note = "note",
    }
}

/// Every tune of an ABC file, read as ABC 2.1 (accidentals last to the end of the bar).
pub fn parse_abc(text: &str, path: &str) -> (Vec<Tune>, Vec<AbcError>) {
    parse_abc_with(text, path, Accidentals::Bar)
}

/// Every tune of an ABC file. `path` is the file path as loaded; each tune's source is `path#X`
/// (X = its X: number; when a file holds exactly one tune, the source is just `path`).
/// A broken tune is reported in the error list and skipped; the other tunes still load.
pub fn parse_abc_with(text: &str, path: &str, mode: Accidentals) -> (Vec<Tune>, Vec<AbcError>) {
    let (tunes, errors) = parse_tunes(text, path, mode);
    (tunes.into_iter().map(|(t, _)| t).collect(), errors)
}

/// The times (seconds) of every bar line of every tune of an ABC file, after the tune's start
/// and in the order played: where its bars fall, as tests compare them with other readers'.
pub fn bar_lines(text: &str) -> Vec<Vec<f64>> {
    parse_tunes(text, "", Accidentals::Bar)
        .0
        .into_iter()
        .map(|(_, lines)| lines)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(super) fn one(body: &str) -> Vec<(u8, f64, f64)> {
        let text = format!("X:1\nT:t\nM:4/4\nL:1/8\nK:C\n{body}\n");
        let (tunes, errors) = parse_abc(&text, "t.abc");
        assert!(errors.is_empty(), "{errors:?}");
        tunes[0]
            .notes
            .iter()
            .map(|n| (n.pitch, n.start, n.duration))
            .collect()
    }

    pub(super) fn pitches(body: &str) -> Vec<u8> {
        one(body).into_iter().map(|n| n.0).collect()
    }

    pub(super) fn per_note(body: &str) -> Vec<u8> {
        let text = format!("X:1\nL:1/8\nK:C\n{body}\n");
        let (tunes, _) = parse_abc_with(&text, "t.abc", Accidentals::Note);
        tunes[0].notes.iter().map(|n| n.pitch).collect()
    }

    #[test]
    fn velocity_is_music21s() {
        assert!(one_note_velocity() == VELOCITY && VELOCITY == 90);
    }

    fn one_note_velocity() -> u8 {
        parse_abc("X:1\nK:C\nC\n", "v.abc").0[0].notes[0].velocity
    }

    const ESSEN_LIKE: &str = "X:1\nT: Renmin\nN: C0002\nO: China, Shaanxi\nM: 2/4\nL: 1/16\nK: C\nd4A2c2 | d4d4 | A3cd2g2 | c2A2G4\nG2^F2G4 | G3Ac2d2 | e2B2d2e2- | e8 z2\n|: (3cde [CE]2 {g}f>e :|1 d2 :|2 c4 |]\n";

    fn check_invariants(text: &str) {
        let (tunes, _) = parse_abc(text, "fuzz.abc");
        for t in tunes {
            for n in &t.notes {
                assert!(n.pitch <= 127);
                assert!(n.start.is_finite() && n.start >= 0.0);
                assert!(n.duration.is_finite() && n.duration > 0.0);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases.max(2000), ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_text_never_panics(s in ".{0,400}") {
            check_invariants(&s);
            check_invariants(&format!("X:1\nK:C\n{s}\n"));
        }

        #[test]
        fn abc_alphabet_never_panics(s in "[A-Ga-gzZxX0-9/<>(:|\\[\\]{}!\"^_=,'~.\\- \nKLMQ%\\\\]{0,300}") {
            check_invariants(&format!("X:1\nM:2/4\nL:1/16\nK:G\n{s}\n"));
        }

        #[test]
        fn mutated_essen_never_panics(edits in prop::collection::vec((0usize..400, prop::sample::select(vec!["", "[", "]", "|:", ":|", "(3", "{", "\"", "-", ">", "9999999", "/0", "^", "K:", "\n", "[1", "::"])), 1..8)) {
            let mut s = ESSEN_LIKE.to_string();
            for (pos, ins) in edits {
                let mut p = pos.min(s.len());
                while !s.is_char_boundary(p) {
                    p -= 1;
                }
                s.insert_str(p, ins);
            }
            check_invariants(&s);
        }
    }
}
