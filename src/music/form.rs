//! The form of a tune (`generate 8 bars form "AABA"`): one letter a phrase, where a letter
//! that comes again is the same phrase returning and a new letter is new material. Phrases
//! are of equal length because the folk tunes tms learns from build them so (two or four
//! bars, repeated whole): an uneven split has no phrase length to repeat.
//!
//! How far apart two phrases are is measured on their interval sequences, not their
//! pitches: a phrase sung a step higher is still the same phrase to a listener, and the
//! contrast a new letter should bring is a different shape.

use std::fmt;

use super::note::Note;

/// Phrases a form may have: more would be a tune of hundreds of bars in phrases too short
/// to hear as phrases.
pub const MAX_PHRASES: usize = 64;

/// Letters, one a phrase, A to Z.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Form(Vec<u8>);

/// Why a text is not a form, or a form does not fit a length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormError {
    Empty,
    /// `ch` (at 0-based character `index`) is not a capital letter.
    NotALetter {
        ch: char,
        index: usize,
    },
    TooLong(usize),
    /// `bars` do not split into `phrases` phrases of whole bars.
    Uneven {
        bars: usize,
        phrases: usize,
    },
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            FormError::Empty => f.write_str(
                "a form has a letter for each phrase, such as \"AABA\", and this one is empty",
            ),
            FormError::NotALetter { ch, index } => {
                write!(
                    f,
                    "a form is capital letters A to Z, one a phrase, such as \"AABA\": character {} is `{ch}`",
                    index + 1
                )?;
                if ch.is_ascii_lowercase() {
                    write!(f, " (write `{}`)", ch.to_ascii_uppercase())?;
                }
                Ok(())
            }
            FormError::TooLong(n) => {
                write!(f, "a form has at most {MAX_PHRASES} phrases, not {n}")
            }
            FormError::Uneven { bars, phrases } => {
                let below = bars / phrases * phrases;
                let above = below + phrases;
                let would = match below {
                    0 => format!("{above} bars would"),
                    _ => format!("{below} or {above} bars would"),
                };
                write!(
                    f,
                    "{bars} bar{} do not split into {phrases} phrases of whole bars, one a letter: {would}",
                    if *bars == 1 { "" } else { "s" }
                )
            }
        }
    }
}

impl std::error::Error for FormError {}

impl Form {
    pub fn parse(text: &str) -> Result<Form, FormError> {
        let mut letters = Vec::new();
        for (index, ch) in text.chars().enumerate() {
            if !ch.is_ascii_uppercase() {
                return Err(FormError::NotALetter { ch, index });
            }
            letters.push(ch as u8);
        }
        match letters.len() {
            0 => Err(FormError::Empty),
            n if n > MAX_PHRASES => Err(FormError::TooLong(n)),
            _ => Ok(Form(letters)),
        }
    }

    pub fn letters(&self) -> &[u8] {
        &self.0
    }

    /// Bars a phrase has when the form fills `bars` bars.
    pub fn phrase_bars(&self, bars: usize) -> Result<usize, FormError> {
        let phrases = self.0.len();
        match bars % phrases {
            0 if bars > 0 => Ok(bars / phrases),
            _ => Err(FormError::Uneven { bars, phrases }),
        }
    }

    /// Where `letter`'s phrase first comes, when it came before `at`.
    pub fn earlier(&self, at: usize) -> Option<usize> {
        self.0[..at].iter().position(|&l| l == self.0[at])
    }

    /// Whether the phrase at `at` has the letter the tune ends with: that phrase closes
    /// the tune wherever it comes, so it closes on the tonic everywhere.
    pub fn is_closing(&self, at: usize) -> bool {
        self.0.last() == Some(&self.0[at])
    }
}

impl fmt::Display for Form {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

/// How different two phrases' shapes are, from 0 (the same intervals, whatever the
/// register) to 1 (no interval in common, in order): the edit distance between their
/// interval sequences over the longer one's length.
pub fn contrast(a: &[Note], b: &[Note]) -> f64 {
    let intervals = |n: &[Note]| -> Vec<i32> {
        n.windows(2)
            .map(|w| i32::from(w[1].pitch) - i32::from(w[0].pitch))
            .collect()
    };
    let (x, y) = (intervals(a), intervals(b));
    let longest = x.len().max(y.len());
    if longest == 0 {
        return 0.0;
    }
    // Levenshtein, one row at a time.
    let mut row: Vec<usize> = (0..=y.len()).collect();
    for (i, xi) in x.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, yj) in y.iter().enumerate() {
            let here = (diagonal + usize::from(xi != yj))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = here;
        }
    }
    row[y.len()] as f64 / longest as f64
}

/// Which of `candidates` is furthest ([`contrast`]) from the nearest of `earlier`, and how
/// far: the first on a tie. None without candidates.
pub fn most_contrasting(candidates: &[Vec<Note>], earlier: &[Vec<Note>]) -> Option<(usize, f64)> {
    let mut best: Option<(usize, f64)> = None;
    for (i, c) in candidates.iter().enumerate() {
        let apart = earlier
            .iter()
            .map(|e| contrast(c, e))
            .fold(f64::INFINITY, f64::min);
        if best.is_none_or(|(_, b)| apart > b) {
            best = Some((i, apart));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notes(text: &str) -> Vec<Note> {
        crate::music::notes_text::parse_notes(text, 90).expect("notes")
    }

    #[test]
    fn a_form_is_capital_letters() {
        let f = Form::parse("AABA").unwrap();
        assert_eq!(f.to_string(), "AABA");
        assert_eq!(f.earlier(1), Some(0));
        assert_eq!(f.earlier(2), None);
        assert_eq!(f.earlier(3), Some(0));
        assert!(f.is_closing(0) && !f.is_closing(2) && f.is_closing(3));
        assert_eq!(
            Form::parse("A-B"),
            Err(FormError::NotALetter { ch: '-', index: 1 })
        );
        let lower = Form::parse("aaba").unwrap_err().to_string();
        assert!(lower.ends_with("character 1 is `a` (write `A`)"), "{lower}");
        assert_eq!(Form::parse(""), Err(FormError::Empty));
        assert_eq!(Form::parse(&"A".repeat(65)), Err(FormError::TooLong(65)));
        assert!(Form::parse(&"AB".repeat(32)).is_ok());
    }

    #[test]
    fn an_uneven_split_names_the_lengths_that_would_do() {
        let f = Form::parse("ABA").unwrap();
        assert_eq!(f.phrase_bars(6), Ok(2));
        let e = f.phrase_bars(8).unwrap_err();
        assert_eq!(
            e,
            FormError::Uneven {
                bars: 8,
                phrases: 3
            }
        );
        assert_eq!(
            e.to_string(),
            "8 bars do not split into 3 phrases of whole bars, one a letter: 6 or 9 bars would"
        );
        assert_eq!(
            f.phrase_bars(2).unwrap_err().to_string(),
            "2 bars do not split into 3 phrases of whole bars, one a letter: 3 bars would"
        );
    }

    #[test]
    fn contrast_is_about_shape_not_register() {
        let a = notes("D4 E4 G4 A4 B4");
        let higher = notes("E4 F#4 A4 B4 C#5");
        assert_eq!(contrast(&a, &higher), 0.0);
        assert_eq!(contrast(&a, &a), 0.0);
        // One interval of four changed.
        let one = notes("D4 E4 G4 A4 A4");
        assert!((contrast(&a, &one) - 0.25).abs() < 1e-12);
        let other = notes("B4 A4 G4 E4 D4");
        assert_eq!(contrast(&a, &other), 1.0);
        assert_eq!(contrast(&[], &[]), 0.0);
        assert!(contrast(&a, &notes("D4")) == 1.0);
    }

    #[test]
    fn the_most_contrasting_is_furthest_from_the_nearest_earlier_phrase() {
        let a = notes("D4 E4 G4 A4 B4");
        let b = notes("B4 A4 G4 E4 D4");
        // Far from a, but b itself: nearest is b, at 0.
        let like_b = notes("C#5 B4 A4 F#4 E4");
        // One interval from a, but far from b.
        let near_a = notes("D4 E4 G4 A4 A4");
        // Far from both.
        let other = notes("D4 D4 D4 D4 D4");
        let earlier = vec![a.clone(), b.clone()];
        let c = [like_b.clone(), near_a.clone(), other.clone(), other.clone()];
        assert_eq!(most_contrasting(&c, &earlier), Some((2, 1.0)));
        assert_eq!(most_contrasting(&c[..2], &earlier), Some((1, 0.25)));
        assert_eq!(most_contrasting(&[], &earlier), None);
    }
}
