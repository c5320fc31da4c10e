//! The performer: owns the MIDI connections and a player thread that sends every event at
//! its deadline.
//!
//! The one thread plays every voice: each voice has its own job, origin, controls and
//! sounding notes, and the thread always sends the earliest event of all of them, so the
//! voices share one clock and one port without locks between them (a thread per voice
//! would need one for the port and would wake in a different order than the deadlines).
//!
//! Musical time (seconds at the reference 120 BPM) maps to beats from a voice's origin, and
//! beats to wall time (`Instant`) through the leading [`BeatSource`]: the internal tempo
//! clock, MIDI clock in, or Link. So notes, MIDI clock out ticks and quantized starts follow
//! one timeline. The internal clock takes a tempo change at the last event sent, so it takes
//! effect from the next note or tick on without a jump. The thread sleeps until about a
//! millisecond before a deadline and spins the rest (OS sleeps overshoot by tens to hundreds
//! of microseconds). A late event goes out at once and is counted. Every sounding note is
//! tracked so that stop, panic, disconnect, a vanished port and drop can end it.
//!
//! Here are what the two sides share: the commands and the state both see. The REPL side is
//! `performer`; the thread is `thread` (its loop), `commands`, `output` and `clock_out`; what
//! a voice plays is `job`; `lookout` watches the ports.

mod clock_out;
mod commands;
mod job;
mod lookout;
mod output;
mod performer;
mod thread;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use midir::MidiOutputConnection;

use super::timeline::BeatSource;
use super::{NoteEvent, PlayStats};
use crate::music::note::Note;
use job::NextLoop;
use thread::Lane;

pub use performer::{ClockSource, ClockState, Performer};

/// Headroom before a job's first note, so it is not late while the thread wakes up.
const HEADROOM: Duration = Duration::from_millis(5);
/// Beats per second of musical time: melodies are stored at 120 BPM.
const REF_BEATS: f64 = 2.0;

/// Ticks, transport messages and all-voice silences count and record as the first voice's.
const FIRST: usize = 0;

enum Cmd {
    /// Silence the old port, then use this one (`None`: just close).
    Output(Option<(MidiOutputConnection, String)>, Sender<()>),
    /// A new voice with its own controls and recording track.
    AddVoice(Box<Lane>),
    Play {
        voice: usize,
        events: Vec<NoteEvent>,
        looped: bool,
        gen: u64,
    },
    Live {
        voice: usize,
        notes: Receiver<(f64, Note)>,
        gen: u64,
    },
    /// A voice's loop plays these notes from its next bar line on.
    Reloop {
        voice: usize,
        next: Box<NextLoop>,
    },
    /// Stop one voice, or every voice (`None`).
    Stop(Option<usize>, Sender<()>),
    Panic(Sender<()>),
    /// MIDI clock out on or off.
    ClockOut(bool, Sender<()>),
    /// The timeline to follow (`None`: the internal tempo clock).
    Leader(Option<Arc<dyn BeatSource>>, Sender<()>),
    /// The output port vanished: sounding notes end, the voices wait for it.
    OutputGone,
    /// The output port came back under its name: this is a new connection to it.
    Reattach(MidiOutputConnection, String),
    Quit,
}

/// What the REPL side and the player thread both see, for all voices.
#[derive(Default)]
struct Shared {
    /// The output port's name while one is connected.
    output: Mutex<Option<String>>,
    /// What a start waits for, in beats (f64 bits; 0 = start at once).
    grid: AtomicU64,
    /// The bar in beats (f64 bits): where clock out's Start goes.
    bar: AtomicU64,
    /// The output port vanished and tms waits for it to come back under its name.
    gone: AtomicBool,
}

impl Shared {
    fn grid(&self) -> Option<f64> {
        Some(f64::from_bits(self.grid.load(Ordering::Relaxed))).filter(|g| *g > 0.0)
    }
    fn bar(&self) -> f64 {
        Some(f64::from_bits(self.bar.load(Ordering::Relaxed)))
            .filter(|b| *b > 0.0)
            .unwrap_or(4.0)
    }
    fn output(&self) -> Option<String> {
        self.output.lock().ok().and_then(|o| o.clone())
    }
    fn set_output(&self, name: Option<String>) {
        if let Ok(mut o) = self.output.lock() {
            *o = name;
        }
    }
    fn gone(&self) -> bool {
        self.gone.load(Ordering::Relaxed)
    }
}

/// What a voice is doing, as `voices` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    Silent,
    /// A melody, once.
    Playing,
    /// A melody, over and over.
    Looping,
    /// Endless generation.
    Live,
}

/// One voice as the REPL side and the player thread both see it: its job and its counters.
#[derive(Default)]
struct VoiceState {
    job: Mutex<JobInfo>,
    done: Condvar,
    events: AtomicU64,
    late: AtomicU64,
    max_late_ns: AtomicU64,
}

#[derive(Default)]
struct JobInfo {
    /// Bumped for every play/live, so the end of an old job cannot mark a new one done.
    gen: u64,
    playing: bool,
    what: Option<Activity>,
}

impl VoiceState {
    /// A new job's generation, marked playing (`what` it is), with fresh counters.
    fn begin(&self, what: Activity) -> Option<u64> {
        let mut j = self.job.lock().ok()?;
        j.gen += 1;
        j.playing = true;
        j.what = Some(what);
        self.events.store(0, Ordering::Relaxed);
        self.late.store(0, Ordering::Relaxed);
        self.max_late_ns.store(0, Ordering::Relaxed);
        Some(j.gen)
    }

    fn finish(&self, gen: Option<u64>) {
        if let Ok(mut j) = self.job.lock() {
            if gen.is_none_or(|g| g == j.gen) {
                j.playing = false;
            }
        }
        self.done.notify_all();
    }

    fn activity(&self) -> Activity {
        match self.job.lock() {
            Ok(j) if j.playing => j.what.unwrap_or(Activity::Playing),
            _ => Activity::Silent,
        }
    }

    fn is_playing(&self) -> bool {
        self.job.lock().is_ok_and(|j| j.playing)
    }

    fn stats(&self) -> PlayStats {
        PlayStats {
            events: self.events.load(Ordering::Relaxed),
            late: self.late.load(Ordering::Relaxed),
            max_late: self.max_late_ns.load(Ordering::Relaxed) as f64 * 1e-9,
        }
    }
}
