//! The key a melody is written in: its signature and how each pitch is spelled.
//!
//! The key comes from `set scale` when it is set. Otherwise it is estimated the way
//! Krumhansl and Schmuckler do: correlate the melody's pitch-class durations with a profile of
//! each candidate key and keep the best. Beside Krumhansl–Kessler's major and minor profiles
//! the candidates include the five Chinese pentatonic modes (gong, shang, jue, zhi, yu), since
//! much of what tms learns from is Chinese folk song: their profile weighs the tonic highest,
//! its fifth next, the other scale tones above the tones outside the scale. Those modes are
//! rotations of one pitch set and are told apart by their final, so the last note's pitch
//! class counts a little extra.

use crate::music::scale::{Mode, Scale};

use super::{letter, GridNote, Spelled};

/// Krumhansl–Kessler probe-tone ratings, from the tonic up.
const MAJOR: [f64; 12] = [
    6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88,
];
const MINOR: [f64; 12] = [
    6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17,
];

/// The pentatonic profile: tonic, its fifth, other scale tones, tones outside the scale.
pub(crate) const PENTATONIC: (f64, f64, f64, f64) = (6.35, 5.19, 4.0, 2.3);

/// The last note's share of the histogram, added to what the melody holds.
const FINAL_WEIGHT: f64 = 0.15;

/// Candidate modes, in the order ties are broken.
const CANDIDATES: [Mode; 7] = [
    Mode::Major,
    Mode::Minor,
    Mode::Gong,
    Mode::Shang,
    Mode::Jue,
    Mode::Zhi,
    Mode::Yu,
];

/// The natural pitch class of letter `l` (C D E F G A B).
fn natural(l: usize) -> i32 {
    i32::from(crate::music::pitch::LETTERS[l].1)
}

/// Letters in the order sharps are added to a signature: F C G D A E B.
const SHARP_ORDER: [usize; 7] = [3, 0, 4, 1, 5, 2, 6];

/// A key: its signature in fifths (positive sharps, negative flats), and the mode and tonic
/// it is named by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    /// Sharps (positive) or flats (negative) in the signature, -7..=7.
    pub fifths: i32,
    pub mode: Mode,
}

/// How a mode sits against its signature: fifths from the relative major's tonic, the ABC
/// mode suffix, and the MusicXML `<mode>`.
fn family(mode: Mode) -> (i32, &'static str, &'static str) {
    match mode {
        Mode::Major | Mode::Ionian | Mode::MajorPentatonic | Mode::Gong => (0, "", "major"),
        Mode::Minor
        | Mode::Aeolian
        | Mode::HarmonicMinor
        | Mode::MelodicMinor
        | Mode::MinorPentatonic
        | Mode::Blues
        | Mode::Yu => (-3, "m", "minor"),
        Mode::Dorian | Mode::Shang => (-2, "dor", "dorian"),
        Mode::Phrygian | Mode::Jue => (-4, "phr", "phrygian"),
        Mode::Lydian => (1, "lyd", "lydian"),
        Mode::Mixolydian | Mode::Zhi => (-1, "mix", "mixolydian"),
        Mode::Locrian => (-5, "loc", "locrian"),
    }
}

/// The spelling of a tonic pitch class (0 = C) with the signature nearest to none; F# rather
/// than Gb at six.
fn nearest(pc: u8, mode: Mode) -> i32 {
    let offset = family(mode).0;
    let pos = i32::from(pc % 12) * 7 % 12;
    [pos, pos - 12]
        .into_iter()
        .map(|p| p + offset)
        .min_by_key(|f| (f.abs(), -f.signum()))
        .unwrap_or(0)
}

/// A tonic as the user wrote it (`Bb`, `F#`, `E`): its place on the line of fifths.
fn spelled_tonic(word: &str) -> Option<i32> {
    let mut chars = word.chars();
    let letter = chars.next()?.to_ascii_uppercase();
    let mut pos = ["F", "C", "G", "D", "A", "E", "B"]
        .iter()
        .position(|l| l.starts_with(letter))? as i32
        - 1;
    for c in chars {
        pos += match c {
            '#' => 7,
            'b' => -7,
            _ => return None,
        };
    }
    Some(pos)
}

impl Key {
    /// The key of a scale (`set scale`), moved by `transpose` semitones. The scale's own
    /// spelling is kept (`C# major` has seven sharps, `Db major` five flats) unless it would
    /// need more than seven, or the melody is transposed.
    pub fn from_scale(scale: &Scale, transpose: i32) -> Key {
        let (offset, _, _) = family(scale.mode);
        let name = scale.name();
        let own = spelled_tonic(name.split_whitespace().next().unwrap_or("C"))
            .map(|p| p + offset)
            .filter(|f| transpose == 0 && f.abs() <= 7);
        let pc = (i32::from(scale.tonic) + transpose).rem_euclid(12) as u8;
        Key {
            fifths: own.unwrap_or_else(|| nearest(pc, scale.mode)),
            mode: scale.mode,
        }
    }

    /// The best-fitting key of a melody (see the module documentation); C major when empty.
    pub fn estimate(line: &[GridNote]) -> Key {
        let mut hist = [0.0f64; 12];
        for n in line {
            hist[usize::from(n.pitch % 12)] += n.len as f64;
        }
        let total: f64 = hist.iter().sum();
        if let Some(last) = line.last() {
            hist[usize::from(last.pitch % 12)] += FINAL_WEIGHT * total;
        }
        let mut best = (
            f64::NEG_INFINITY,
            Key::from_scale(&Scale::new(0, Mode::Major), 0),
        );
        for mode in CANDIDATES {
            let profile = profile(mode);
            for tonic in 0..12u8 {
                let rotated: Vec<f64> = (0..12)
                    .map(|pc| profile[(pc + 12 - usize::from(tonic)) % 12])
                    .collect();
                let r = correlation(&hist, &rotated);
                if r > best.0 + 1e-12 {
                    best = (
                        r,
                        Key {
                            fifths: nearest(tonic, mode),
                            mode,
                        },
                    );
                }
            }
        }
        best.1
    }

    /// [`Key::estimate`] of notes timed in seconds (in onset order), each weighing by its
    /// duration: what `generate … form` takes its cadences from when no scale is set.
    pub fn estimate_notes(notes: &[crate::music::note::Note]) -> Key {
        let line: Vec<GridNote> = notes
            .iter()
            .map(|n| GridNote {
                pitch: n.pitch,
                start: 0,
                len: ((n.duration * 1000.0).round() as u64).max(1),
                velocity: n.velocity,
            })
            .collect();
        Key::estimate(&line)
    }

    /// The tonic's pitch class, 0 = C.
    pub fn tonic_pitch_class(&self) -> u8 {
        ((self.fifths - family(self.mode).0) * 7).rem_euclid(12) as u8
    }

    /// The tonic as written, e.g. `Bb`, `F#`.
    pub fn tonic(&self) -> String {
        let pos = self.fifths - family(self.mode).0 + 1;
        let letter = ["F", "C", "G", "D", "A", "E", "B"][pos.rem_euclid(7) as usize];
        let acc = match pos.div_euclid(7) {
            -1 => "b",
            1 => "#",
            _ => "",
        };
        format!("{letter}{acc}")
    }

    /// The key's name as `set scale` writes it, e.g. `D shang`.
    pub fn name(&self) -> String {
        format!("{} {}", self.tonic(), self.mode.name())
    }

    /// The ABC `K:` value: tonic and mode suffix (`D`, `Am`, `Gdor`).
    pub fn abc(&self) -> String {
        format!("{}{}", self.tonic(), family(self.mode).1)
    }

    /// The MusicXML `<mode>`.
    pub fn musicxml_mode(&self) -> &'static str {
        family(self.mode).2
    }

    /// The alteration the signature gives each letter, C to B.
    pub fn signature(&self) -> [i8; 7] {
        let mut sig = [0i8; 7];
        let n = self.fifths.unsigned_abs().min(7) as usize;
        if self.fifths > 0 {
            for &l in &SHARP_ORDER[..n] {
                sig[l] = 1;
            }
        } else {
            for &l in SHARP_ORDER.iter().rev().take(n) {
                sig[l] = -1;
            }
        }
        sig
    }

    /// How `pitch` is written in this key: as the key spells it when it belongs to the
    /// signature's scale; otherwise with the fewest changes to the signature, a natural sign
    /// before a new sharp or flat, sharps in sharp keys and flats in flat keys (in C: C#, Eb,
    /// F#, G#, Bb).
    pub fn spell(&self, pitch: u8) -> Spelled {
        let sig = self.signature();
        let pc = i32::from(pitch % 12);
        let direction = match self.fifths.signum() {
            0 if pc == 3 || pc == 10 => -1,
            0 => 1,
            s => s,
        };
        let (letter, alter) = (0..7)
            .filter_map(|l| {
                let d = (pc - natural(l)).rem_euclid(12);
                let a = if d > 6 { d - 12 } else { d };
                (a.abs() <= 1).then_some((l, a as i8))
            })
            .min_by_key(|&(l, a)| {
                (
                    (i32::from(a) - i32::from(sig[l])).abs(),
                    a != 0,
                    i32::from(a).signum() != direction,
                )
            })
            .unwrap_or((0, 0));
        let octave = (i32::from(pitch) - i32::from(alter) - natural(letter)).div_euclid(12) - 1;
        Spelled {
            letter,
            alter,
            octave,
        }
    }
}

/// A mode's profile from its tonic up.
fn profile(mode: Mode) -> [f64; 12] {
    match mode {
        Mode::Major => MAJOR,
        Mode::Minor => MINOR,
        _ => {
            let (tonic, fifth, tone, outside) = PENTATONIC;
            let intervals = mode.intervals();
            let mut p = [outside; 12];
            for &i in intervals {
                p[usize::from(i)] = match i {
                    0 => tonic,
                    7 => fifth,
                    _ => tone,
                };
            }
            p
        }
    }
}

/// Pearson correlation of two profiles (0 when either is flat); `model::key` aligns keys
/// by it too.
pub(crate) fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut num, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        num += (x - ma) * (y - mb);
        va += (x - ma) * (x - ma);
        vb += (y - mb) * (y - mb);
    }
    if va == 0.0 || vb == 0.0 {
        0.0
    } else {
        num / (va * vb).sqrt()
    }
}

/// The written name of a letter with its alteration, e.g. `F#`, `Bb`.
pub fn letter_name(s: &Spelled) -> String {
    let acc = match s.alter {
        a if a > 0 => "#".repeat(a as usize),
        a => "b".repeat(a.unsigned_abs() as usize),
    };
    format!("{}{acc}", letter(s.letter))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Key {
        Key::from_scale(&Scale::parse(s).unwrap(), 0)
    }

    fn line(pitches: &[u8]) -> Vec<GridNote> {
        pitches
            .iter()
            .enumerate()
            .map(|(i, &p)| GridNote {
                pitch: p,
                start: 12 * i as u64,
                len: 12,
                velocity: 90,
            })
            .collect()
    }

    #[test]
    fn signatures_of_scales() {
        assert_eq!(key("C major").fifths, 0);
        assert_eq!(key("D major").fifths, 2);
        assert_eq!(key("Bb major").fifths, -2);
        assert_eq!(key("A# major").fifths, -2); // ten sharps are written as two flats
        assert_eq!(key("C# major").fifths, 7);
        assert_eq!(key("Db major").fifths, -5);
        assert_eq!(key("D yu").fifths, -1); // the gong is F
        assert_eq!(key("D yu").abc(), "Dm");
        assert_eq!(key("D shang").abc(), "Ddor");
        assert_eq!(key("F# gong").fifths, 6);
        assert_eq!(key("Gb gong").fifths, -6);
        assert_eq!(key("E jue").abc(), "Ephr");
        assert_eq!(key("G zhi").abc(), "Gmix");
        assert_eq!(key("G zhi").fifths, 0);
        assert_eq!(key("Eb minor").fifths, -6);
        assert_eq!(key("Eb minor").name(), "Eb minor");
        // Transposed: D major up a whole tone is E major.
        let e = Key::from_scale(&Scale::parse("D major").unwrap(), 2);
        assert_eq!((e.fifths, e.name().as_str()), (4, "E major"));
        let f = Key::from_scale(&Scale::parse("D yu").unwrap(), 3);
        assert_eq!((f.fifths, f.name().as_str()), (-4, "F yu"));
        assert_eq!(key("Bb major").signature(), [0, 0, -1, 0, 0, 0, -1]);
        assert_eq!(key("A major").signature(), [1, 0, 0, 1, 1, 0, 0]);
    }

    #[test]
    fn spelling_in_keys() {
        let name = |k: &Key, p: u8| {
            let s = k.spell(p);
            format!("{}{}", letter_name(&s), s.octave)
        };
        let c = key("C major");
        assert_eq!(name(&c, 60), "C4");
        assert_eq!(name(&c, 61), "C#4");
        assert_eq!(name(&c, 70), "Bb4");
        let f = key("F major");
        assert_eq!(name(&f, 70), "Bb4");
        assert_eq!(name(&f, 71), "B4"); // a natural before a new sharp or flat
        let d = key("D major");
        assert_eq!(name(&d, 66), "F#4");
        assert_eq!(name(&d, 65), "F4");
        let cs = key("C# major");
        assert_eq!(name(&cs, 60), "B#3");
        let gb = key("Gb major");
        assert_eq!(name(&gb, 59), "Cb4");
        assert_eq!(name(&c, 0), "C-1");
        assert_eq!(name(&c, 127), "G9");
    }

    #[test]
    fn estimates_what_a_folk_musician_hears() {
        // D major scale up and down, ending on D.
        let k = Key::estimate(&line(&[62, 64, 66, 67, 69, 71, 73, 74, 69, 66, 62]));
        assert_eq!(k.name(), "D major");
        // A minor: A B C D E with G#, ending on A.
        let k = Key::estimate(&line(&[69, 71, 72, 74, 76, 72, 71, 68, 69, 64, 69]));
        assert_eq!(k.name(), "A minor");
        // D gong pentatonic: D E F# A B, ending on D.
        let k = Key::estimate(&line(&[62, 64, 66, 69, 71, 69, 66, 64, 62, 66, 69, 62]));
        assert_eq!(k.name(), "D gong");
        // The same pitch set ending and dwelling on B is B yu (two sharps as well).
        let k = Key::estimate(&line(&[71, 74, 76, 78, 71, 69, 66, 71, 74, 71, 64, 71]));
        assert_eq!((k.name().as_str(), k.fifths), ("B yu", 2));
        // Bb major: the flats come out as flats.
        let k = Key::estimate(&line(&[70, 72, 74, 75, 77, 74, 70, 65, 70]));
        assert_eq!((k.name().as_str(), k.fifths), ("Bb major", -2));
        assert_eq!(Key::estimate(&[]).name(), "C major");
        for (name, pc) in [
            ("A minor", 9),
            ("G major", 7),
            ("D yu", 2),
            ("Bb major", 10),
            ("F# minor", 6),
        ] {
            let scale = crate::music::scale::parse_optional(name).unwrap().unwrap();
            assert_eq!(Key::from_scale(&scale, 0).tonic_pitch_class(), pc, "{name}");
        }
    }
}
