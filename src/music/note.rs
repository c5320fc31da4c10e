//! The one representation of music that every stage shares: notes in seconds, grouped into
//! tunes. Importers produce it, the model learns from it, writers and players consume it.

/// A note as files, the model and the player see it. Times are in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Note {
    /// MIDI pitch, 0..=127.
    pub pitch: u8,
    /// Onset in seconds from the start of the tune.
    pub start: f64,
    /// Length in seconds (never negative).
    pub duration: f64,
    /// MIDI velocity, 1..=127.
    pub velocity: u8,
}

impl Note {
    pub fn end(&self) -> f64 {
        self.start + self.duration
    }

    /// The key and velocity this note sounds with under `transpose` and an optional velocity
    /// for every note: the key clamped to the keyboard (0..=127), the velocity to 1..=127.
    /// The MIDI writer, the renderer and the player all shape notes here, so the file, the
    /// audio and the performance agree.
    pub fn shaped(&self, transpose: i64, velocity: Option<u8>) -> (u8, u8) {
        let key = (i64::from(self.pitch) + transpose).clamp(0, 127);
        let velocity = velocity.unwrap_or(self.velocity);
        (key as u8, velocity.clamp(1, 127))
    }
}

/// ABC header fields that `load ... where FIELD ~ "TEXT"` can filter on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TuneFields {
    pub title: String,
    pub origin: String,
    pub notes: String,
    pub rhythm: String,
    pub key: String,
    pub meter: String,
}

impl TuneFields {
    /// The value of a field by its `where` name, or None for an unknown name.
    pub fn get(&self, name: &str) -> Option<&str> {
        Some(match name {
            "title" => &self.title,
            "origin" => &self.origin,
            "notes" => &self.notes,
            "rhythm" => &self.rhythm,
            "key" => &self.key,
            "meter" => &self.meter,
            _ => return None,
        })
    }

    pub const NAMES: [&'static str; 6] = ["title", "origin", "notes", "rhythm", "key", "meter"];
}

/// One melody with where it came from: a MIDI file, or one `X:` tune of an ABC file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tune {
    /// The path as loaded, plus `#X` for a tune of a multi-tune ABC file.
    pub source: String,
    /// Sorted by start, then pitch.
    pub notes: Vec<Note>,
    pub fields: TuneFields,
    /// Where its bars fall, as its source says (none said: bars from the first note).
    pub bars: crate::music::meter::Bars,
}

impl Tune {
    /// Sorts notes by (start, pitch), the order every consumer relies on.
    pub fn sort(&mut self) {
        sort_notes(&mut self.notes);
    }
}

pub fn sort_notes(notes: &mut [Note]) {
    notes.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.pitch.cmp(&b.pitch)));
}

/// `(pitch, step, duration)` triples: what the model reads. `step` is the onset distance from
/// the previous note (0 for the first).
pub fn to_triples(notes: &[Note]) -> Vec<(u8, f64, f64)> {
    let mut prev = None;
    notes
        .iter()
        .map(|n| {
            let step = prev.map_or(0.0, |p: f64| n.start - p);
            prev = Some(n.start);
            (n.pitch, step, n.duration)
        })
        .collect()
}

/// Rebuilds notes from triples, starting at `start`.
pub fn from_triples(triples: &[(u8, f64, f64)], start: f64, velocity: u8) -> Vec<Note> {
    let mut t = start;
    triples
        .iter()
        .enumerate()
        .map(|(i, &(pitch, step, duration))| {
            if i > 0 {
                t += step;
            }
            Note {
                pitch,
                start: t,
                duration,
                velocity,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shaping_clamps_to_the_keyboard_and_overrides_velocity() {
        let n = Note {
            pitch: 120,
            start: 0.0,
            duration: 1.0,
            velocity: 90,
        };
        assert_eq!(n.shaped(0, None), (120, 90));
        assert_eq!(n.shaped(12, Some(100)), (127, 100));
        assert_eq!(n.shaped(-125, None), (0, 90));
        assert_eq!(n.shaped(0, Some(0)).1, 1);
        let quiet = Note { velocity: 0, ..n };
        assert_eq!(quiet.shaped(0, None).1, 1);
    }
}
