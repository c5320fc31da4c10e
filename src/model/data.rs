//! From tunes to what the network reads: each tune becomes (pitch, position, degree, step,
//! duration) columns. Plain numbers: the stage encodes tunes, and the trainer cuts windows
//! and makes tensors of them (`batch.rs`).

use super::position::Frame;
use crate::music::note::{to_triples, Tune};

/// One tune as the model reads it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Encoded {
    pub pitch: Vec<i64>,
    /// Each note's place in its bar (`position`), read by models with `position on`.
    pub position: Vec<i64>,
    /// Each note's scale degree, read by models with `degree on`.
    pub degree: Vec<i64>,
    pub step: Vec<f32>,
    pub duration: Vec<f32>,
}

impl Encoded {
    /// A tune in the bars and key its source gives it.
    pub fn new(tune: &Tune) -> Encoded {
        Encoded::from_notes(&tune.notes, Frame::of_tune(tune))
    }

    /// Notes in onset order, read in `frame`.
    pub fn from_notes(notes: &[crate::music::note::Note], frame: Frame) -> Encoded {
        let t = to_triples(notes);
        let (position, degree) = frame.classes(notes);
        Encoded {
            pitch: t.iter().map(|x| x.0 as i64).collect(),
            position,
            degree,
            step: t.iter().map(|x| x.1 as f32).collect(),
            duration: t.iter().map(|x| x.2 as f32).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.pitch.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pitch.is_empty()
    }
}
