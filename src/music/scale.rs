//! Scales that constrain sampling (`generate ... scale "D yu"`, `set scale`). The corpus is
//! largely Chinese and Tibetan folk song, so the five pentatonic modes of that tradition (gong,
//! shang, jue, zhi, yu) stand beside the Western modes. A scale is only a pitch-class set: the
//! sampler masks out every pitch outside it.

use std::fmt;

/// A mode: a set of intervals above the tonic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Major,
    Minor,
    HarmonicMinor,
    MelodicMinor,
    Ionian,
    Dorian,
    Phrygian,
    Lydian,
    Mixolydian,
    Aeolian,
    Locrian,
    MajorPentatonic,
    MinorPentatonic,
    Blues,
    Gong,
    Shang,
    Jue,
    Zhi,
    Yu,
}

/// Canonical names first (in `Mode` order), then accepted aliases.
const NAMES: &[(&str, Mode)] = &[
    ("major", Mode::Major),
    ("minor", Mode::Minor),
    ("harmonic minor", Mode::HarmonicMinor),
    ("melodic minor", Mode::MelodicMinor),
    ("ionian", Mode::Ionian),
    ("dorian", Mode::Dorian),
    ("phrygian", Mode::Phrygian),
    ("lydian", Mode::Lydian),
    ("mixolydian", Mode::Mixolydian),
    ("aeolian", Mode::Aeolian),
    ("locrian", Mode::Locrian),
    ("major pentatonic", Mode::MajorPentatonic),
    ("minor pentatonic", Mode::MinorPentatonic),
    ("blues", Mode::Blues),
    ("gong", Mode::Gong),
    ("shang", Mode::Shang),
    ("jue", Mode::Jue),
    ("zhi", Mode::Zhi),
    ("yu", Mode::Yu),
    // aliases
    ("natural minor", Mode::Minor),
    ("pentatonic", Mode::MajorPentatonic),
    ("jiao", Mode::Jue),
];

const CANONICAL: usize = 19;

impl Mode {
    /// Semitones above the tonic.
    pub fn intervals(self) -> &'static [u8] {
        match self {
            Mode::Major | Mode::Ionian => &[0, 2, 4, 5, 7, 9, 11],
            Mode::Minor | Mode::Aeolian => &[0, 2, 3, 5, 7, 8, 10],
            Mode::HarmonicMinor => &[0, 2, 3, 5, 7, 8, 11],
            Mode::MelodicMinor => &[0, 2, 3, 5, 7, 9, 11],
            Mode::Dorian => &[0, 2, 3, 5, 7, 9, 10],
            Mode::Phrygian => &[0, 1, 3, 5, 7, 8, 10],
            Mode::Lydian => &[0, 2, 4, 6, 7, 9, 11],
            Mode::Mixolydian => &[0, 2, 4, 5, 7, 9, 10],
            Mode::Locrian => &[0, 1, 3, 5, 6, 8, 10],
            Mode::MajorPentatonic | Mode::Gong => &[0, 2, 4, 7, 9],
            Mode::MinorPentatonic | Mode::Yu => &[0, 3, 5, 7, 10],
            Mode::Blues => &[0, 3, 5, 6, 7, 10],
            Mode::Shang => &[0, 2, 5, 7, 10],
            Mode::Jue => &[0, 3, 5, 8, 10],
            Mode::Zhi => &[0, 2, 5, 7, 9],
        }
    }

    pub fn name(self) -> &'static str {
        NAMES[..CANONICAL]
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("major", |(n, _)| n)
    }
}

/// A tonic and a mode. `flat` only remembers how the user spelled a black-key tonic, so that
/// `Bb gong` is shown back as `Bb gong`, not `A# gong`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scale {
    /// Pitch class, 0 (C) to 11 (B).
    pub tonic: u8,
    pub mode: Mode,
    flat: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScaleError {
    #[error("empty scale (write e.g. `D minor pentatonic`, or `none`)")]
    Empty,
    #[error("unknown tonic `{0}` (use A–G with # or b)")]
    Tonic(String),
    /// A chord symbol where a scale was meant: `Dm`, `Gmaj`.
    #[error("`{text}` is a chord symbol, not a scale (did you mean \"{suggestion}\"?)")]
    Chord { text: String, suggestion: String },
    #[error(
        "missing scale mode after `{0}` (did you mean \"{0} major\"? or `{0} minor`, `{0} yu`, …)"
    )]
    MissingMode(String),
    #[error("unknown scale mode `{text}`{}", hint(.suggestion))]
    Mode {
        text: String,
        suggestion: Option<String>,
    },
}

fn hint(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => format!(" (known: {})", mode_names().join(", ")),
    }
}

use crate::music::pitch;

/// The canonical mode names, for completion and help (aliases such as `natural minor`,
/// `pentatonic` and `jiao` are accepted too).
pub fn mode_names() -> &'static [&'static str] {
    const LIST: [&str; CANONICAL] = [
        "major",
        "minor",
        "harmonic minor",
        "melodic minor",
        "ionian",
        "dorian",
        "phrygian",
        "lydian",
        "mixolydian",
        "aeolian",
        "locrian",
        "major pentatonic",
        "minor pentatonic",
        "blues",
        "gong",
        "shang",
        "jue",
        "zhi",
        "yu",
    ];
    &LIST
}

/// `none`, `off` and the empty string mean "no constraint".
pub fn parse_optional(text: &str) -> Result<Option<Scale>, ScaleError> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("off") {
        Ok(None)
    } else {
        Scale::parse(t).map(Some)
    }
}

/// A tonic spelling: letter, then any number of `#`/`b`/`♯`/`♭`. Returns the pitch class and
/// whether it should be spelled with a flat.
fn parse_tonic(word: &str) -> Option<(u8, bool)> {
    let mut chars = word.chars();
    let base = i32::from(pitch::letter_semitone(chars.next()?)?);
    let mut shift = 0i32;
    for c in chars {
        match c {
            '#' | '♯' => shift += 1,
            'b' | '♭' => shift -= 1,
            _ => return None,
        }
        if shift.abs() > 2 {
            return None;
        }
    }
    let pc = (base + shift).rem_euclid(12) as u8;
    Some((pc, pitch::is_black(pc) && shift < 0))
}

/// The scale a chord symbol names, as people type it from lead sheets: `Dm` and `Dmin` are
/// D minor, `Gmaj` and `GM` G major.
fn chord_scale(word: &str) -> Option<String> {
    let split = word
        .char_indices()
        .skip(1)
        .find(|&(_, c)| !matches!(c, '#' | '♯' | 'b' | '♭'))
        .map_or(word.len(), |(i, _)| i);
    let (tonic, suffix) = word.split_at(split);
    parse_tonic(tonic)?;
    let mode = match suffix {
        "m" | "min" | "mi" | "-" => "minor",
        "M" | "maj" | "Maj" | "ma" => "major",
        s if s.eq_ignore_ascii_case("min") => "minor",
        s if s.eq_ignore_ascii_case("maj") => "major",
        _ => return None,
    };
    let mut tonic = tonic.to_string();
    if let Some(first) = tonic.get(..1) {
        tonic.replace_range(..1, &first.to_uppercase());
    }
    Some(format!("{tonic} {mode}"))
}

impl Scale {
    pub fn new(tonic: u8, mode: Mode) -> Scale {
        Scale {
            tonic: tonic % 12,
            mode,
            flat: false,
        }
    }

    /// Parses `TONIC MODE`, case-insensitively: `C major`, `D minor pentatonic`, `Bb gong`,
    /// `F# zhi`. Words of the mode may also be joined by `-` or `_`.
    pub fn parse(text: &str) -> Result<Scale, ScaleError> {
        let mut words = text.split_whitespace();
        let tonic_word = words.next().ok_or(ScaleError::Empty)?;
        let (tonic, flat) =
            parse_tonic(tonic_word).ok_or_else(|| match chord_scale(tonic_word) {
                Some(suggestion) => ScaleError::Chord {
                    text: tonic_word.to_string(),
                    suggestion,
                },
                None => ScaleError::Tonic(tonic_word.to_string()),
            })?;
        let mode_text = words
            .flat_map(|w| w.split(['-', '_']))
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(" ");
        if mode_text.is_empty() {
            return Err(ScaleError::MissingMode(tonic_word.to_string()));
        }
        match NAMES.iter().find(|(n, _)| *n == mode_text) {
            Some(&(_, mode)) => Ok(Scale { tonic, mode, flat }),
            None => Err(ScaleError::Mode {
                suggestion: suggest(&mode_text),
                text: mode_text,
            }),
        }
    }

    /// `mask[p]` is true when MIDI pitch `p` belongs to the scale.
    pub fn mask(&self) -> [bool; 128] {
        let mut mask = [false; 128];
        let intervals = self.mode.intervals();
        for (p, m) in mask.iter_mut().enumerate() {
            let rel = (p as i32 - self.tonic as i32).rem_euclid(12) as u8;
            *m = intervals.contains(&rel);
        }
        mask
    }

    /// Canonical spelling: `Scale::parse(&s.name()) == Ok(s)`.
    pub fn name(&self) -> String {
        format!(
            "{} {}",
            pitch::class_name(self.tonic, self.flat),
            self.mode.name()
        )
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The closest known mode name, if it is close enough to be a likely typo.
fn suggest(text: &str) -> Option<String> {
    crate::ground::text::suggest(text, NAMES.iter().map(|(n, _)| *n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcs(s: &Scale) -> Vec<u8> {
        let m = s.mask();
        (60u8..72)
            .filter(|&p| m[p as usize])
            .map(|p| p % 12)
            .collect()
    }

    #[test]
    fn chinese_modes_from_their_own_tonic() {
        // D yu: D F G A C
        let yu = Scale::parse("D yu").unwrap();
        let mut want = vec![2, 5, 7, 9, 0];
        want.sort();
        assert_eq!(pcs(&yu), want);
        // All five are rotations of the same pentatonic set: C gong = D shang = E jue = G zhi
        // = A yu.
        let gong = pcs(&Scale::parse("C gong").unwrap());
        assert_eq!(gong, vec![0, 2, 4, 7, 9]);
        for s in ["D shang", "E jue", "G zhi", "A yu", "E jiao"] {
            assert_eq!(pcs(&Scale::parse(s).unwrap()), gong, "{s}");
        }
        assert_eq!(Mode::Shang.intervals(), &[0, 2, 5, 7, 10]);
        assert_eq!(Mode::Jue.intervals(), &[0, 3, 5, 8, 10]);
        assert_eq!(Mode::Zhi.intervals(), &[0, 2, 5, 7, 9]);
        assert_eq!(Mode::Yu.intervals(), &[0, 3, 5, 7, 10]);
    }

    #[test]
    fn western_modes() {
        let c = |s: &str| pcs(&Scale::parse(s).unwrap());
        assert_eq!(c("C major"), vec![0, 2, 4, 5, 7, 9, 11]);
        assert_eq!(c("A minor"), c("C major"));
        assert_eq!(c("A natural minor"), c("C major"));
        assert_eq!(c("D dorian"), c("C major"));
        assert_eq!(c("E phrygian"), c("C major"));
        assert_eq!(c("F lydian"), c("C major"));
        assert_eq!(c("G mixolydian"), c("C major"));
        assert_eq!(c("A aeolian"), c("C major"));
        assert_eq!(c("B locrian"), c("C major"));
        assert_eq!(c("A harmonic minor"), vec![0, 2, 4, 5, 8, 9, 11]);
        assert_eq!(c("D minor pentatonic"), vec![0, 2, 5, 7, 9]);
        assert_eq!(c("C pentatonic"), vec![0, 2, 4, 7, 9]);
        assert_eq!(c("C major pentatonic"), c("C pentatonic"));
    }

    #[test]
    fn mask_covers_every_octave() {
        let m = Scale::parse("C major").unwrap().mask();
        assert!(m[0] && m[60] && m[127] && !m[1] && !m[61] && !m[126]);
        assert_eq!(m.iter().filter(|&&b| b).count(), 75);
    }

    #[test]
    fn spellings() {
        let bb = Scale::parse("Bb gong").unwrap();
        assert_eq!(bb.tonic, 10);
        assert_eq!(bb.name(), "Bb gong");
        let a = Scale::parse("a# GONG").unwrap();
        assert_eq!(a.tonic, 10);
        assert_eq!(a.name(), "A# gong");
        assert_eq!(Scale::parse("F♯ zhi").unwrap().name(), "F# zhi");
        assert_eq!(Scale::parse("e♭ major").unwrap().name(), "Eb major");
        assert_eq!(Scale::parse("Cb major").unwrap().name(), "B major");
        assert_eq!(Scale::parse("E# major").unwrap().name(), "F major");
        assert_eq!(
            Scale::parse("  d   Minor-Pentatonic ").unwrap().name(),
            "D minor pentatonic"
        );
        assert_eq!(Scale::parse("bb natural_minor").unwrap().name(), "Bb minor");
    }

    #[test]
    fn names_round_trip() {
        for &(_, mode) in NAMES {
            for tonic in 0..12 {
                for flat in [false, true] {
                    let mut s = Scale::new(tonic, mode);
                    s.flat = flat && pitch::is_black(tonic);
                    assert_eq!(Scale::parse(&s.name()), Ok(s), "{}", s.name());
                }
            }
        }
        for n in mode_names() {
            assert!(Scale::parse(&format!("C {n}")).is_ok());
        }
    }

    #[test]
    fn errors() {
        let msg = |s: &str| Scale::parse(s).unwrap_err().to_string();
        assert_eq!(
            msg("D yuu"),
            "unknown scale mode `yuu` (did you mean `yu`?)"
        );
        assert_eq!(
            msg("C majr"),
            "unknown scale mode `majr` (did you mean `major`?)"
        );
        assert_eq!(
            msg("C dorain"),
            "unknown scale mode `dorain` (did you mean `dorian`?)"
        );
        assert_eq!(msg("H major"), "unknown tonic `H` (use A–G with # or b)");
        assert_eq!(
            msg("C#x major"),
            "unknown tonic `C#x` (use A–G with # or b)"
        );
        assert_eq!(
            msg("D"),
            "missing scale mode after `D` (did you mean \"D major\"? or `D minor`, `D yu`, …)"
        );
        assert_eq!(Scale::parse("  "), Err(ScaleError::Empty));
        assert!(msg("C qqqqqqqq").starts_with("unknown scale mode `qqqqqqqq` (known: major, "));
    }

    #[test]
    fn optional() {
        for s in ["", "none", "NONE", " off "] {
            assert_eq!(parse_optional(s), Ok(None), "{s:?}");
        }
        assert_eq!(
            parse_optional("D yu").unwrap().map(|s| s.name()),
            Some("D yu".to_string())
        );
        assert!(parse_optional("nonee").is_err());
    }

    #[test]
    fn chord_symbols_suggest_their_scale() {
        let err = |t: &str| Scale::parse(t).unwrap_err().to_string();
        assert_eq!(
            err("Dm"),
            "`Dm` is a chord symbol, not a scale (did you mean \"D minor\"?)"
        );
        assert_eq!(
            err("f#maj"),
            "`f#maj` is a chord symbol, not a scale (did you mean \"F# major\"?)"
        );
        assert_eq!(
            err("F#"),
            "missing scale mode after `F#` (did you mean \"F# major\"? or `F# minor`, `F# yu`, …)"
        );
        assert_eq!(err("H"), "unknown tonic `H` (use A–G with # or b)");
    }
}
