//! Performing through MIDI ports: listing and connecting ports, a real-time player thread,
//! endless live generation, recording from an input port and hardware knobs.
//!
//! midir sends a message the moment it is asked to and has no timestamps, so the timing is
//! ours: the player gives every event a deadline on one monotonic clock and a dedicated
//! thread sends it then (see DESIGN.md, "Real time"). The REPL talks to that thread only
//! through a channel and shared atomics ([`Controls`]), so it never waits on the music and
//! the music never waits on it.

mod input;
#[cfg(feature = "jack")]
mod jack_log;
#[cfg(feature = "link")]
pub mod link;
mod player;
mod ports;
pub mod record;
mod respond;
pub mod timeline;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::settings::{Kind, Live, Settings};

pub use input::HOLD_LIMIT;
pub use player::{Activity, ClockSource, ClockState, Performer};
pub use ports::{list_ports, PortList, PortSel};
pub(crate) use respond::Responder as PhraseReader;
pub use respond::{Answer, Show};
pub use timeline::{BeatSource, Quantize};

/// Where the player and the input thread print their one-line notices (the REPL passes
/// rustyline's external printer); shared, since both may speak.
pub(crate) type Printer = Arc<Mutex<Box<dyn FnMut(String) + Send>>>;

pub(crate) fn say(printer: &Printer, line: String) {
    let mut p = printer.lock().unwrap_or_else(|e| e.into_inner());
    p(line);
}

/// Everything that can go wrong while performing. Display texts are short, lower-case and
/// say what to do; the caller adds where it happened.
#[derive(Debug, thiserror::Error)]
pub enum PerformError {
    #[error("no MIDI system: {0}")]
    NoMidiSystem(String),
    #[error("{}", no_such_port(.0, .1))]
    NoSuchPort(String, Vec<String>),
    #[error("no output port connected: use `ports`, then `connect N`")]
    NotConnected,
    #[error("the input port is answering phrases: `respond off` first")]
    Responding,
    #[error("no input port connected: use `ports`, then `connect in N`")]
    NoInput,
    #[error("could not send MIDI: {0}")]
    Send(String),
    #[error("could not connect to `{0}`: {1}")]
    Connect(String, String),
}

fn no_such_port(asked: &str, available: &[String]) -> String {
    if available.is_empty() {
        format!("no port matches {asked}: there are none (start a synth or plug in a device)")
    } else {
        let list: Vec<String> = available
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{} {p}", i + 1))
            .collect();
        format!("no port matches {asked}; available: {}", list.join(", "))
    }
}

/// What the player sends: ready-made events, times in seconds at the reference tempo
/// (120 BPM) relative to play start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoteEvent {
    pub at: f64,
    pub pitch: u8,
    pub velocity: u8,
    pub duration: f64,
    /// 1..=16, or 0 for "the `channel` control".
    pub channel: u8,
}

/// Endless note supplier for live mode, called on the live thread a note or two ahead of the
/// clock. `start` is the onset on the source's own timeline in seconds at the reference
/// 120 BPM; the player uses the differences between consecutive starts (non-decreasing;
/// equal starts make a chord) and applies tempo, transpose, velocity and channel from the
/// controls. `None` ends the performance.
pub trait NoteSource: Send {
    fn next_note(&mut self, controls: &Controls) -> Option<crate::music::note::Note>;
}

/// Counters a performance leaves behind, for `stats`-like reports and the tests.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PlayStats {
    /// MIDI messages sent (notes, note-offs, controllers, program changes).
    pub events: u64,
    /// Events whose deadline had already passed by more than [`LATE_AFTER`] when their turn
    /// came; they were sent at once.
    pub late: u64,
    /// The worst lateness seen, in seconds.
    pub max_late: f64,
}

/// Being this far behind a deadline counts as late (scheduling jitter below it is normal).
pub const LATE_AFTER: f64 = 0.001;

/// Live parameters shared between the prompt, the input port's knobs and the player: one
/// atomic per [`Live`] setting (f64 bits), read once per note, so no one ever waits on a
/// lock. Ranges and defaults come from the settings table, so a knob can never put a
/// setting where `set` could not.
pub struct Controls {
    values: [AtomicU64; Live::ALL.len()],
    /// Until `program` is set the player sends no program change and leaves the synth's
    /// sound as it is.
    program_set: AtomicBool,
}

impl Default for Controls {
    fn default() -> Self {
        let defaults = Settings::default();
        Controls {
            values: std::array::from_fn(|i| {
                AtomicU64::new(defaults.live_value(Live::ALL[i]).to_bits())
            }),
            program_set: AtomicBool::new(false),
        }
    }
}

impl Controls {
    pub fn get(&self, l: Live) -> f64 {
        f64::from_bits(self.values[l as usize].load(Ordering::Relaxed))
    }

    /// The program to send, once one was set.
    pub fn program(&self) -> Option<u8> {
        self.program_set
            .load(Ordering::Relaxed)
            .then(|| self.get(Live::Program) as u8)
    }

    /// Sets a value, clamped to the setting's range (whole settings are rounded), and
    /// returns what was stored; None for a value that is not a number.
    pub fn set(&self, l: Live, v: f64) -> Option<f64> {
        if !v.is_finite() {
            return None;
        }
        let kind = l.spec().kind;
        let v = match kind {
            Kind::Float { .. } => v,
            _ => v.round(),
        };
        let (min, max) = kind.range().unwrap_or((v, v));
        let v = v.clamp(min, max);
        self.values[l as usize].store(v.to_bits(), Ordering::Relaxed);
        if l == Live::Program {
            self.program_set.store(true, Ordering::Relaxed);
        }
        Some(v)
    }
}

/// Short MIDI messages the player and the tests build.
pub(crate) mod msg {
    pub fn note_on(ch: u8, pitch: u8, vel: u8) -> [u8; 3] {
        [0x90 | (ch & 15), pitch & 127, vel & 127]
    }
    pub fn note_off(ch: u8, pitch: u8) -> [u8; 3] {
        [0x80 | (ch & 15), pitch & 127, 0]
    }
    pub fn cc(ch: u8, cc: u8, v: u8) -> [u8; 3] {
        [0xB0 | (ch & 15), cc & 127, v & 127]
    }
    pub fn program(ch: u8, p: u8) -> [u8; 2] {
        [0xC0 | (ch & 15), p & 127]
    }
    /// CC 123: all notes off.
    pub const ALL_NOTES_OFF: u8 = 123;
    /// CC 120: all sound off (panic only: it also cuts releases).
    pub const ALL_SOUND_OFF: u8 = 120;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_start_at_the_settings_defaults() {
        let c = Controls::default();
        let s = Settings::default();
        for &l in Live::ALL {
            assert_eq!(c.get(l), s.live_value(l), "{}", l.name());
        }
        assert_eq!(c.get(Live::Tempo), 120.0);
        assert_eq!(c.program(), None, "program is unset until set");
    }

    #[test]
    fn controls_set_clamps_and_rounds() {
        let c = Controls::default();
        assert_eq!(c.set(Live::Tempo, 90.5), Some(90.5));
        assert_eq!(c.set(Live::Tempo, 5000.0), Some(960.0));
        assert_eq!(c.set(Live::Channel, 3.6), Some(4.0));
        assert_eq!(c.set(Live::Program, 40.2), Some(40.0));
        assert_eq!(c.program(), Some(40));
        assert_eq!(c.set(Live::Tempo, f64::NAN), None);
        assert_eq!(c.get(Live::Tempo), 960.0);
    }

    #[test]
    fn error_messages_say_what_to_do() {
        let e = PerformError::NoSuchPort("\"fluid\"".into(), vec!["Midi Through".into()]);
        assert_eq!(
            e.to_string(),
            "no port matches \"fluid\"; available: 1 Midi Through"
        );
        let e = PerformError::NoSuchPort("3".into(), vec![]);
        assert!(e.to_string().contains("there are none"));
        assert!(PerformError::NotConnected.to_string().contains("connect"));
    }
}
