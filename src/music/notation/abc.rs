//! The ABC writer: one tune, `L:1/8`, four bars to a line. Triplet beats are written as
//! `(3:2:N` so a beat of mixed lengths (a triplet quarter and a triplet eighth) reads right;
//! ties are `-`, across bar lines too.

use std::fmt::Write;

use super::{letter, Bar, BarAccidentals, Glyph, Item, Key, Options, Sym};

/// Ticks in the unit note length `L:1/8`.
const L_TICKS: u32 = super::TICKS_PER_WHOLE / 8;

const BARS_PER_LINE: usize = 4;

pub(super) fn render(bars: &[Bar], key: &Key, estimated: bool, opts: &Options) -> String {
    let mut out = String::new();
    let title: String = opts.title.chars().filter(|c| !c.is_control()).collect();
    let _ = writeln!(out, "X:1");
    let _ = writeln!(out, "T:{title}");
    let _ = writeln!(out, "M:{}", opts.meter);
    let _ = writeln!(out, "L:1/8");
    let _ = writeln!(out, "Q:{}", tempo(opts.tempo_bpm));
    if opts.program != 0 {
        let _ = writeln!(out, "%%MIDI program {}", opts.program);
    }
    let how = if estimated { "estimated" } else { "from scale" };
    let _ = writeln!(out, "K:{} % {}, {how}", key.abc(), key.name());

    let mut acc = BarAccidentals::new(key);
    let mut carried = None;
    for (i, bar) in bars.iter().enumerate() {
        acc.bar();
        let mut text = String::new();
        for item in &bar.items {
            match item {
                Item::Plain(g) => {
                    space_at_beat(&mut text, g, bar.beat);
                    glyph(&mut text, g, key, &mut acc, &mut carried);
                }
                Item::Triplet(gs) => {
                    if !text.is_empty() {
                        text.push(' ');
                    }
                    let _ = write!(text, "(3:2:{}", gs.len());
                    for g in gs {
                        glyph(&mut text, g, key, &mut acc, &mut carried);
                    }
                }
            }
        }
        out.push_str(&text);
        let last = i + 1 == bars.len();
        if last {
            out.push_str(" |]\n");
        } else if (i + 1) % BARS_PER_LINE == 0 {
            out.push_str(" |\n");
        } else {
            out.push_str(" | ");
        }
    }
    out
}

/// Notes of one beat are beamed (written together); a new beat starts after a space.
fn space_at_beat(text: &mut String, g: &Glyph, beat: u64) {
    if !text.is_empty() && (g.at.is_multiple_of(beat) || g.written >= 24) {
        text.push(' ');
    }
}

/// Writes one note or rest. `carried` is the accidental written where the current tie began:
/// the notes it is tied to repeat it, since music21 joins a tie only between notes written
/// alike (`=B-|B` would stay two notes there).
fn glyph(
    text: &mut String,
    g: &Glyph,
    key: &Key,
    acc: &mut BarAccidentals,
    carried: &mut Option<i8>,
) {
    match g.sym {
        Sym::Rest => text.push('z'),
        Sym::Note { pitch, .. } => {
            let s = key.spell(pitch);
            let shown = match *carried {
                Some(a) if g.tied_from => {
                    acc.mark(&s);
                    Some(a)
                }
                _ => acc.show(&s, true),
            };
            if !g.tied_from {
                *carried = shown;
            }
            if let Some(a) = shown {
                text.push_str(match a {
                    2 => "^^",
                    1 => "^",
                    0 => "=",
                    -1 => "_",
                    _ => "__",
                });
            }
            let letter = letter(s.letter);
            if s.octave >= 5 {
                text.push(letter.to_ascii_lowercase());
                text.push_str(&"'".repeat((s.octave - 5) as usize));
            } else {
                text.push(letter);
                text.push_str(&",".repeat((4 - s.octave).max(0) as usize));
            }
        }
    }
    text.push_str(&length(g.written));
    if g.tie {
        text.push('-');
    }
}

/// The `Q:` value: quarter notes per minute, or a shorter beat when that makes the count a
/// whole number (`90.5` is `1/8=181`), since abc2midi drops a fraction.
fn tempo(bpm: f64) -> String {
    let text = super::tempo_text(bpm);
    let bpm: f64 = text.parse().unwrap_or(120.0);
    for k in [1u32, 2, 4, 8, 16] {
        let count = bpm * f64::from(k);
        if (count - count.round()).abs() < 1e-9 {
            return format!("1/{}={}", 4 * k, count.round());
        }
    }
    format!("1/4={text}")
}

/// A written length in units of `L:1/8`: `2`, `3/2`, `/2`, or nothing for one unit.
fn length(ticks: u32) -> String {
    let g = gcd(ticks, L_TICKS);
    let (n, d) = (ticks / g, L_TICKS / g);
    match (n, d) {
        (1, 1) => String::new(),
        (n, 1) => n.to_string(),
        (1, d) => format!("/{d}"),
        (n, d) => format!("{n}/{d}"),
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{write, Format, Options};
    use super::length;
    use crate::music::meter::Meter;
    use crate::music::note::Note;
    use crate::music::scale::Scale;

    fn notes(spec: &[(u8, f64, f64)]) -> Vec<Note> {
        spec.iter()
            .map(|&(pitch, start, duration)| Note {
                pitch,
                start,
                duration,
                velocity: 80,
            })
            .collect()
    }

    fn body(text: &str) -> String {
        text.lines()
            .skip_while(|l| !l.starts_with("K:"))
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn tempo_as_a_whole_count() {
        assert_eq!(super::tempo(120.0), "1/4=120");
        assert_eq!(super::tempo(90.5), "1/8=181");
        assert_eq!(super::tempo(72.25), "1/16=289");
        assert_eq!(super::tempo(100.1), "1/4=100.1");
        assert_eq!(super::tempo(f64::NAN), "1/4=120");
    }

    #[test]
    fn lengths_in_eighths() {
        assert_eq!(length(12), "");
        assert_eq!(length(24), "2");
        assert_eq!(length(36), "3");
        assert_eq!(length(6), "/2");
        assert_eq!(length(18), "3/2");
        assert_eq!(length(3), "/4");
        assert_eq!(length(9), "3/4");
        assert_eq!(length(96), "8");
    }

    #[test]
    fn a_tune_with_headers_bars_and_a_tie() {
        // Quarters D E F# G A, the A tied into bar 2, then B: in D major.
        let melody = notes(&[
            (62, 0.0, 0.5),
            (64, 0.5, 0.5),
            (66, 1.0, 0.5),
            (67, 1.5, 0.5),
            (69, 2.0, 1.0),
            (71, 3.0, 1.0),
            (74, 4.0, 1.0),
        ]);
        let opts = Options {
            title: "Test".into(),
            scale: Some(Scale::parse("D major").unwrap()),
            tempo_bpm: 90.0,
            ..Options::default()
        };
        let w = write(Format::Abc, &melody, &opts).unwrap();
        assert!(w
            .text
            .starts_with("X:1\nT:Test\nM:4/4\nL:1/8\nQ:1/4=90\nK:D % D major, from scale\n"));
        assert_eq!(body(&w.text), "D2 E2 F2 G2 | A4 B4 | d4 z4 |]");
        assert_eq!(w.notes, 7);

        let opts = Options {
            meter: Meter::parse("3/4").unwrap(),
            ..opts
        };
        let w = write(Format::Abc, &melody, &opts).unwrap();
        assert_eq!(body(&w.text), "D2 E2 F2 | G2 A4 | B4 d2- | d2 z4 |]");
    }

    #[test]
    fn accidentals_outside_the_key_are_marked_on_every_note() {
        // C major: F# twice in one bar, then F natural; the next bar F# again.
        let melody = notes(&[
            (66, 0.0, 0.5),
            (66, 0.5, 0.5),
            (65, 1.0, 0.5),
            (60, 1.5, 0.5),
            (66, 2.0, 2.0),
        ]);
        let opts = Options {
            scale: Some(Scale::parse("C major").unwrap()),
            ..Options::default()
        };
        let w = write(Format::Abc, &melody, &opts).unwrap();
        assert_eq!(body(&w.text), "^F2 ^F2 =F2 C2 | ^F8 |]");
    }

    #[test]
    fn triplets_and_sixteenths() {
        let t = 1.0 / 6.0; // a triplet eighth at 120 BPM
        let melody = notes(&[
            (72, 0.0, t),
            (74, t, t),
            (76, 2.0 * t, t),
            (77, 0.5, 0.125),
            (79, 0.625, 0.125),
            (81, 0.75, 0.25),
            (72, 1.0, 1.0),
        ]);
        let opts = Options {
            scale: Some(Scale::parse("C major").unwrap()),
            ..Options::default()
        };
        let w = write(Format::Abc, &melody, &opts).unwrap();
        assert_eq!(body(&w.text), "(3:2:3cde f/2g/2a c4 |]");
    }
}
