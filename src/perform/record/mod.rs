//! `record`: everything the player sends and the input port hears, kept as a multi-track
//! standard MIDI file — a performance cannot be played again, so it must not be lost.
//!
//! The player and the input thread stamp each channel message with the moment it went out
//! or came in and push it onto a [`Tape`], a bounded channel the writer empties each
//! second: a push neither locks nor allocates, so the real-time threads never wait on a
//! file or on the writer.
//!
//! A set may last hours, so what a second costs must not grow with what came before it.
//! While recording, the file on disk is a format-1 file of two tracks: the conductor
//! (tempo, meter) and one track named `recording` holding every message in time order,
//! channels as played. Before a message from another source than the last one's stands a
//! sequencer-specific event (`FF 7F`, manufacturer 0x7D, the ID MIDI keeps for
//! non-commercial use) naming the voice or `input`; other readers skip it. Every second the
//! writer thread appends what the tape collected to the end of that last track:
//!
//! 1. it writes the new messages, then note-offs for every note still sounding and an end
//!    of track (the tail), after the current end of the file, and syncs;
//! 2. it turns the old tail into one sequencer-specific event of the same length (a short
//!    write over its first bytes), so the old note-offs and end of track become data;
//! 3. it writes the track's new length over the old one, and syncs.
//!
//! After each append the file is a valid standard MIDI file holding everything up to that
//! second, every note ended; between the steps (a few microseconds; a power cut between the
//! syncs) a reader sees the file as it was, with bytes past its last chunk or a last track
//! without its end of track, both of which MIDI readers accept. So a crash, a full disk or
//! `kill -9` loses at most the last second. What the writer keeps in memory is bounded: the
//! notes sounding per track, a count per track, and the messages of one second (of more
//! only while appends fail, as on a full disk, until one succeeds).
//!
//! `record stop`, `quit`, the end of a script and a second Ctrl-C then write the final file
//! atomically (through [`crate::fsio`]): the conductor track, then a track per source named
//! after it, in the order they first sounded, each read back from the recording track on
//! disk in one pass, so memory stays bounded there too. Notes still sounding at the end
//! get their note-off at the end, so the file has no hanging note. If that final write
//! fails the recording keeps running and the file on disk keeps everything, in one track.
//!
//! The final file is what a DAW reads as played:
//! - the tempo map: a change of tempo ([`Tape::tempo`], from `set tempo`) is stamped like a
//!   message, written as a tempo event into the recording track (ticks after it follow the
//!   new tempo), and moved into the conductor track at its tick, so the bar grid matches
//!   the music after it. A tempo changed on the played controls without `set tempo` (the
//!   tempo `clock in` follows, Link's, a knob) is noticed by the next push, a clock tick
//!   included, and kept at that moment ([`Recording::follow_tempo`]): no thread polls it;
//! - programs: the player sends a voice's program change before its first note and when
//!   `set program` changed it, so the tape hears those; a program set before `record` was
//!   sent before the take, so [`Recording::programs`] puts it at the start of the voice's
//!   track;
//! - notes (see [`Cleaner`]): a note-off for a key the track never pressed (a note that
//!   sounded when `record` started) is dropped; a note-off at the tick of its note-on moves
//!   one tick later (about 0.5 ms at 120 BPM), keeping the note rather than dropping it, as
//!   the synth heard it. The one-track file a crash leaves is not cleaned this way.
//!
//! [`Cleaner`]: finish::Cleaner

mod error;
mod finish;
mod manual;
mod readback;
mod recording;
mod smf;
mod take;
mod tape;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub use error::RecordError;
pub use manual::Manual;
pub use recording::{save_on_exit, Recording};
pub use take::Summary;
pub use tape::Tape;

/// Resolution of recorded files: at 120 BPM a tick is 0.52 ms.
const TICKS_PER_QUARTER: u16 = 960;
/// How often the file on disk catches up while recording.
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// The track of what the input port heard.
pub const INPUT_TRACK: &str = "input";
/// The track of what the player sends (one voice).
pub const MAIN_TRACK: &str = "main";
/// The one track that holds everything while recording.
const TAKE_TRACK: &str = "recording";
/// The manufacturer ID that starts tms's sequencer-specific events: MIDI's ID for
/// non-commercial use. A neutralized tail never starts with it (see [`neutral`]).
///
/// [`neutral`]: take::neutral
const TMS_ID: u8 = 0x7D;
/// The largest delta time a track event can carry.
const MAX_DELTA: u64 = 0x0FFF_FFFF;

/// One channel message, when it happened and whose it was; or, with `len` 0, a change of
/// tempo to `bytes` microseconds per quarter (big-endian), which belongs to no source.
#[derive(Clone)]
struct Event {
    at: Instant,
    track: Arc<str>,
    bytes: [u8; 3],
    len: u8,
}

/// Microseconds per quarter at `bpm`, as a tempo event holds it.
fn micros(bpm: f64) -> u32 {
    (60_000_000.0 / bpm).round().clamp(1.0, 16_777_215.0) as u32
}

/// The track of a tempo change: none.
static NO_TRACK: OnceLock<Arc<str>> = OnceLock::new();

impl Event {
    fn tempo(at: Instant, bpm: f64) -> Event {
        let m = micros(bpm).to_be_bytes();
        Event {
            at,
            // Shared, so that a tempo change allocates nothing on the player's time.
            track: NO_TRACK.get_or_init(|| Arc::from("")).clone(),
            bytes: [m[1], m[2], m[3]],
            len: 0,
        }
    }
}

/// The bytes of a whole channel message: a status below 0xF0, then exactly the data bytes
/// it needs, each below 128. Anything else (clock, SysEx, a cut or garbled message) cannot
/// stand in a track and is not kept, so counts say what the file holds.
fn channel_message(bytes: &[u8]) -> Option<([u8; 3], u8)> {
    let (&status, data) = bytes.split_first()?;
    let need = match status & 0xF0 {
        0x80 | 0x90 | 0xA0 | 0xB0 | 0xE0 => 2,
        0xC0 | 0xD0 => 1,
        _ => return None,
    };
    if data.len() != need || data.iter().any(|&b| b >= 0x80) {
        return None;
    }
    let mut b = [0u8; 3];
    b[..bytes.len()].copy_from_slice(bytes);
    Some((b, bytes.len() as u8))
}

#[cfg(test)]
mod tests;
