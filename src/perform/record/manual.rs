//! A take driven by hand for benches/record.rs and the tests, apart because the session
//! never uses it: no tape, no writer thread, messages stamped at chosen times.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::recording::opening_programs;
use super::take::{Summary, Take};
use super::{channel_message, Event, RecordError};
use crate::music::meter::Meter;

/// A recording driven by hand, for benches/record.rs and the tests: no tape and no writer
/// thread; [`Manual::save`] does what the writer does each second.
#[doc(hidden)]
pub struct Manual {
    take: Take,
}

#[doc(hidden)]
impl Manual {
    pub fn start(
        path: &Path,
        overwrite: bool,
        tempo: f64,
        meter: Meter,
    ) -> Result<Manual, RecordError> {
        Ok(Manual {
            take: Take::create(path, overwrite, tempo, meter)?,
        })
    }

    /// Queues a message as if it happened `seconds` after the start.
    pub fn push_at(&mut self, track: &Arc<str>, bytes: &[u8], seconds: f64) {
        if let Some((bytes, len)) = channel_message(bytes) {
            self.take.unsaved.push(Event {
                at: self.take.started + Duration::from_secs_f64(seconds),
                track: track.clone(),
                bytes,
                len,
            });
        }
    }

    /// Queues a change of tempo as if it came `seconds` after the start.
    pub fn tempo_at(&mut self, bpm: f64, seconds: f64) {
        let at = self.take.started + Duration::from_secs_f64(seconds);
        self.take.unsaved.push(Event::tempo(at, bpm));
    }

    pub fn programs(&mut self, programs: &[(String, u8, u8)]) {
        self.take.programs = opening_programs(programs);
    }

    /// Appends what was queued, as the writer does each second.
    pub fn save(&mut self) -> Result<(), RecordError> {
        self.take.append(Vec::new())
    }

    pub fn finish(&mut self) -> Result<Summary, RecordError> {
        self.take.append(Vec::new())?;
        self.take.finish()
    }
}
