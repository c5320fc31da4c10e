//! What a written letter sounds as, apart from where it sits: the `K:` signature (tonic, mode,
//! explicit accidentals, `exp`, bagpipe keys) and how long an accidental lasts. These are the
//! rules on which ABC 2.1, music21 and the EsAC-derived collections disagree (see
//! [`Accidentals`]), so they are kept in one place, apart from the parser and the clock, where
//! each reading can be checked against its source; the signature is also what a model with
//! `degree on` reads pitches against ([`signature_fifths`]).

use super::grammar::{accidental, letter_index};
use super::Accidentals;

/// How long an accidental lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Propagation {
    /// Only its own note (ABC 1.x, music21's reading of undeclared files).
    Not,
    /// To the end of the bar, same letter and octave (ABC 2.1).
    Octave,
    /// To the end of the bar, same letter in any octave.
    Pitch,
}

/// The file's own `%%propagate-accidentals` directive wins over the caller's default.
pub(super) fn propagation(file_header: &[&str], mode: Accidentals) -> Propagation {
    let mut p = match mode {
        Accidentals::Bar => Propagation::Octave,
        Accidentals::Note => Propagation::Not,
    };
    for l in file_header {
        if let Some(v) = l.strip_prefix("%%propagate-accidentals") {
            p = match v.trim() {
                "pitch" => Propagation::Pitch,
                "octave" => Propagation::Octave,
                _ => Propagation::Not,
            };
        }
    }
    p
}

/// The key signature as a semitone offset per letter (C D E F G A B).
/// The signature of a `K:` value in fifths (sharps positive, flats negative), None where
/// it names no tonic (`K:none`, `K:`, a percussion clef only): what a model with `degree
/// on` reads the tune's pitches against.
pub fn signature_fifths(v: &str) -> Option<i32> {
    let first = v.trim().chars().next()?;
    if !matches!(first.to_ascii_uppercase(), 'A'..='G') {
        return None;
    }
    Some(parse_key(v).iter().map(|&a| i32::from(a)).sum())
}

pub(super) fn parse_key(v: &str) -> [i8; 7] {
    let mut key = [0i8; 7];
    let v = v.trim();
    let mut chars = v.char_indices().peekable();
    let mut fifths: i32 = 0;
    let mut rest = v;
    let mut bagpipe_mix = false;
    if let Some(&(_, c)) = chars.peek() {
        let tonic = match c.to_ascii_uppercase() {
            'C' => Some(0),
            'G' => Some(1),
            'D' => Some(2),
            'A' => Some(3),
            'E' => Some(4),
            'B' => Some(5),
            'F' => Some(-1),
            _ => None,
        };
        if let Some(t) = tonic {
            fifths = t;
            rest = &v[c.len_utf8()..];
            if let Some(r) = rest.strip_prefix('#') {
                fifths += 7;
                rest = r;
            } else if let Some(r) = rest.strip_prefix('b') {
                fifths -= 7;
                rest = r;
            }
            let r = rest.trim_start();
            let word: String = r.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
            let w = word.to_ascii_lowercase();
            let mode = if w == "m" || w.starts_with("min") || w.starts_with("aeo") {
                Some(-3)
            } else if w.starts_with("maj") || w.starts_with("ion") {
                Some(0)
            } else if w.starts_with("mix") {
                Some(-1)
            } else if w.starts_with("dor") {
                Some(-2)
            } else if w.starts_with("phr") {
                Some(-4)
            } else if w.starts_with("lyd") {
                Some(1)
            } else if w.starts_with("loc") {
                Some(-5)
            } else {
                None
            };
            if let Some(m) = mode {
                fifths += m;
                rest = &r[word.len()..];
            }
        } else if let Some(r) = v.strip_prefix("Hp") {
            bagpipe_mix = true;
            rest = r;
        } else if let Some(r) = v.strip_prefix("HP") {
            rest = r;
        }
    }
    if bagpipe_mix {
        key[3] = 1; // F#
        key[0] = 1; // C#
    } else {
        const SHARPS: [usize; 7] = [3, 0, 4, 1, 5, 2, 6]; // F C G D A E B
        let fifths = fifths.clamp(-7, 7);
        if fifths > 0 {
            for &l in &SHARPS[..fifths as usize] {
                key[l] = 1;
            }
        } else {
            for &l in SHARPS.iter().rev().take((-fifths) as usize) {
                key[l] = -1;
            }
        }
    }
    for tok in rest.split_whitespace() {
        if tok.eq_ignore_ascii_case("exp") {
            key = [0; 7];
            continue;
        }
        if let Ok((r, a)) = accidental(tok) {
            let mut cs = r.chars();
            if let (Some(l @ ('a'..='g' | 'A'..='G')), None) = (cs.next(), cs.next()) {
                key[letter_index(l)] = a;
            }
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use crate::music::abc::parse_abc;
    use crate::music::abc::tests::{per_note, pitches};

    #[test]
    fn key_signatures() {
        let k = |k: &str| {
            let text = format!("X:1\nL:1/8\nK:{k}\nCDEFGAB\n");
            let (t, _) = parse_abc(&text, "t.abc");
            t[0].notes.iter().map(|n| n.pitch).collect::<Vec<u8>>()
        };
        assert_eq!(k("D"), [61, 62, 64, 66, 67, 69, 71]);
        assert_eq!(k("Bb"), [60, 62, 63, 65, 67, 69, 70]);
        assert_eq!(k("Am"), [60, 62, 64, 65, 67, 69, 71]);
        assert_eq!(k("D dor"), [60, 62, 64, 65, 67, 69, 71]);
        assert_eq!(k("Amix"), [61, 62, 64, 66, 67, 69, 71]);
        assert_eq!(k("E phr"), [60, 62, 64, 65, 67, 69, 71]);
        assert_eq!(k("F lyd"), [60, 62, 64, 65, 67, 69, 71]);
        assert_eq!(k("C ^f _b"), [60, 62, 64, 66, 67, 69, 70]);
        assert_eq!(k("D exp _b"), [60, 62, 64, 65, 67, 69, 70]);
        assert_eq!(k("none"), [60, 62, 64, 65, 67, 69, 71]);
        assert_eq!(k("HP"), [60, 62, 64, 65, 67, 69, 71]);
        assert_eq!(k("Hp"), [61, 62, 64, 66, 67, 69, 71]);
        assert_eq!(k("F# clef=treble"), [61, 63, 65, 66, 68, 70, 71]);
    }

    #[test]
    fn accidentals_last_to_the_bar() {
        // Same letter and octave keeps the accidental; another octave or a new bar does not.
        assert_eq!(pitches("^F F f | F"), [66, 66, 77, 65]);
        assert_eq!(pitches("^F =F F"), [66, 65, 65]);
        // Per-note reading (music21, EsAC-derived collections): the accidental is the note's own.
        assert_eq!(per_note("^F F f | F"), [66, 65, 77, 65]);
        let text = "%%propagate-accidentals not\nX:1\nK:C\n^F F|\n";
        assert_eq!(parse_abc(text, "n.abc").0[0].notes[1].pitch, 65);
        let text = "%%propagate-accidentals pitch\nX:1\nK:C\n^F f|\n";
        let t = parse_abc(text, "p.abc").0;
        assert_eq!(t[0].notes[1].pitch, 78);
    }
}
