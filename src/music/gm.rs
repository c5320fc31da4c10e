//! The General MIDI program names, so scripts can say `program "Flute"` instead of a number
//! and a misspelt name gets a did-you-mean rather than a silent piano.

/// The 128 General MIDI Level 1 melodic programs, indexed by program number (0-based).
pub const GM_PROGRAMS: [&str; 128] = [
    "Acoustic Grand Piano",
    "Bright Acoustic Piano",
    "Electric Grand Piano",
    "Honky-tonk Piano",
    "Electric Piano 1",
    "Electric Piano 2",
    "Harpsichord",
    "Clavinet",
    "Celesta",
    "Glockenspiel",
    "Music Box",
    "Vibraphone",
    "Marimba",
    "Xylophone",
    "Tubular Bells",
    "Dulcimer",
    "Drawbar Organ",
    "Percussive Organ",
    "Rock Organ",
    "Church Organ",
    "Reed Organ",
    "Accordion",
    "Harmonica",
    "Tango Accordion",
    "Acoustic Guitar (nylon)",
    "Acoustic Guitar (steel)",
    "Electric Guitar (jazz)",
    "Electric Guitar (clean)",
    "Electric Guitar (muted)",
    "Overdriven Guitar",
    "Distortion Guitar",
    "Guitar Harmonics",
    "Acoustic Bass",
    "Electric Bass (finger)",
    "Electric Bass (pick)",
    "Fretless Bass",
    "Slap Bass 1",
    "Slap Bass 2",
    "Synth Bass 1",
    "Synth Bass 2",
    "Violin",
    "Viola",
    "Cello",
    "Contrabass",
    "Tremolo Strings",
    "Pizzicato Strings",
    "Orchestral Harp",
    "Timpani",
    "String Ensemble 1",
    "String Ensemble 2",
    "Synth Strings 1",
    "Synth Strings 2",
    "Choir Aahs",
    "Voice Oohs",
    "Synth Choir",
    "Orchestra Hit",
    "Trumpet",
    "Trombone",
    "Tuba",
    "Muted Trumpet",
    "French Horn",
    "Brass Section",
    "Synth Brass 1",
    "Synth Brass 2",
    "Soprano Sax",
    "Alto Sax",
    "Tenor Sax",
    "Baritone Sax",
    "Oboe",
    "English Horn",
    "Bassoon",
    "Clarinet",
    "Piccolo",
    "Flute",
    "Recorder",
    "Pan Flute",
    "Blown bottle",
    "Shakuhachi",
    "Whistle",
    "Ocarina",
    "Lead 1 (square)",
    "Lead 2 (sawtooth)",
    "Lead 3 (calliope)",
    "Lead 4 chiff",
    "Lead 5 (charang)",
    "Lead 6 (voice)",
    "Lead 7 (fifths)",
    "Lead 8 (bass + lead)",
    "Pad 1 (new age)",
    "Pad 2 (warm)",
    "Pad 3 (polysynth)",
    "Pad 4 (choir)",
    "Pad 5 (bowed)",
    "Pad 6 (metallic)",
    "Pad 7 (halo)",
    "Pad 8 (sweep)",
    "FX 1 (rain)",
    "FX 2 (soundtrack)",
    "FX 3 (crystal)",
    "FX 4 (atmosphere)",
    "FX 5 (brightness)",
    "FX 6 (goblins)",
    "FX 7 (echoes)",
    "FX 8 (sci-fi)",
    "Sitar",
    "Banjo",
    "Shamisen",
    "Koto",
    "Kalimba",
    "Bagpipe",
    "Fiddle",
    "Shanai",
    "Tinkle Bell",
    "Agogo",
    "Steel Drums",
    "Woodblock",
    "Taiko Drum",
    "Melodic Tom",
    "Synth Drum",
    "Reverse Cymbal",
    "Guitar Fret Noise",
    "Breath Noise",
    "Seashore",
    "Bird Tweet",
    "Telephone Ring",
    "Helicopter",
    "Applause",
    "Gunshot",
];

/// The program number of a General MIDI name, matched case-insensitively and exactly.
/// Err carries a name for a did-you-mean: the first that contains what was typed, else the
/// closest (strsim), if any is close.
pub fn program_by_name(name: &str) -> Result<u8, Option<&'static str>> {
    let wanted = name.trim();
    if let Some(i) = GM_PROGRAMS
        .iter()
        .position(|p| p.eq_ignore_ascii_case(wanted))
    {
        // GM_PROGRAMS has 128 entries, so the index always fits a u8.
        return Ok(i as u8);
    }
    Err(crate::ground::text::suggest_phrase(
        wanted,
        GM_PROGRAMS.iter().copied(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_ends_are_the_general_midi_ones() {
        assert_eq!(GM_PROGRAMS[0], "Acoustic Grand Piano");
        assert_eq!(GM_PROGRAMS[73], "Flute");
        assert_eq!(GM_PROGRAMS[127], "Gunshot");
    }

    #[test]
    fn names_are_unique_so_lookup_round_trips() {
        for (i, name) in GM_PROGRAMS.iter().enumerate() {
            assert_eq!(program_by_name(name), Ok(i as u8), "{name}");
        }
    }

    #[test]
    fn matching_ignores_case_and_surrounding_space() {
        assert_eq!(program_by_name("acoustic grand piano"), Ok(0));
        assert_eq!(program_by_name("  FLUTE "), Ok(73));
    }

    #[test]
    fn typo_gets_a_suggestion() {
        assert_eq!(
            program_by_name("Acoustc Grand Piano"),
            Err(Some("Acoustic Grand Piano"))
        );
        assert_eq!(program_by_name("flutte"), Err(Some("Flute")));
    }

    #[test]
    fn nonsense_gets_no_suggestion() {
        assert_eq!(program_by_name("zzzzzzzzzzzzzzzzzzzz"), Err(None));
        assert_eq!(program_by_name(""), Err(None));
    }
}
