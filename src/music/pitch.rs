//! Pitch names, spelled once: the letters and their semitones, sharp and flat spellings of
//! the twelve pitch classes, and scientific names (MIDI 60 is `C4`). The ABC reader, the
//! inline-notes parser, scales, the dataset summary and the notation writers all read them
//! from here, so a spelling fixed in one place is fixed everywhere.

/// The seven letters from C, with their semitones above C.
pub const LETTERS: [(char, u8); 7] = [
    ('C', 0),
    ('D', 2),
    ('E', 4),
    ('F', 5),
    ('G', 7),
    ('A', 9),
    ('B', 11),
];

pub const SHARP_NAMES: [&str; 12] = [
    "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
];

pub const FLAT_NAMES: [&str; 12] = [
    "C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B",
];

/// Position of a letter in C D E F G A B (either case).
pub fn letter_index(letter: char) -> Option<usize> {
    let upper = letter.to_ascii_uppercase();
    LETTERS.iter().position(|&(l, _)| l == upper)
}

/// Semitones of a letter above C (either case).
pub fn letter_semitone(letter: char) -> Option<u8> {
    letter_index(letter).map(|i| LETTERS[i].1)
}

/// A pitch class spelled with sharps, or with flats.
pub fn class_name(pc: u8, flat: bool) -> &'static str {
    let names = if flat { &FLAT_NAMES } else { &SHARP_NAMES };
    names[usize::from(pc % 12)]
}

/// Whether a pitch class is a black key (needs an accidental in C).
pub fn is_black(pc: u8) -> bool {
    SHARP_NAMES[usize::from(pc % 12)].len() > 1
}

/// Scientific pitch name with sharps: MIDI 60 is `C4`, 0 is `C-1`, 127 is `G9`.
pub fn note_name(pitch: u8) -> String {
    let octave = i32::from(pitch) / 12 - 1;
    format!("{}{}", class_name(pitch, false), octave)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_letters_agree() {
        assert_eq!(note_name(60), "C4");
        assert_eq!(note_name(0), "C-1");
        assert_eq!(note_name(127), "G9");
        assert_eq!(note_name(61), "C#4");
        assert_eq!(class_name(10, true), "Bb");
        for (i, &(l, st)) in LETTERS.iter().enumerate() {
            assert_eq!(letter_index(l.to_ascii_lowercase()), Some(i));
            assert_eq!(SHARP_NAMES[st as usize], l.to_string());
            assert!(!is_black(st));
        }
        assert_eq!(letter_semitone('h'), None);
    }
}
