//! `record`: everything the player sends and the input port hears, kept as a multi-track
//! standard MIDI file — a performance cannot be played again, so it must not be lost.
//!
//! The player and the input thread stamp each channel message with the moment it went out
//! or came in and push it onto a [`Tape`]; that push is a short lock on a vector the
//! writer empties by swapping, so the real-time threads never wait on a file. A writer
//! thread rewrites the file (atomically) every second while recording, so a crash, a full
//! disk or a killed process loses at most the last second; `record stop`, `quit`, the end
//! of a script and a second Ctrl-C write it whole. Notes still sounding when it ends get
//! their note-off at the end, so the file has no hanging note.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use midly::live::LiveEvent;
use midly::num::{u15, u24, u28};
use midly::{Format, Header, MetaMessage, Smf, Timing, TrackEvent, TrackEventKind};

use crate::fsio::io_reason;
use crate::music::meter::Meter;

/// Resolution of recorded files: at 120 BPM a tick is 0.52 ms.
const TICKS_PER_QUARTER: u16 = 960;
/// How often the file on disk catches up while recording.
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// The track of what the input port heard.
pub const INPUT_TRACK: &str = "input";
/// The track of what the player sends (one voice).
pub const MAIN_TRACK: &str = "main";

/// One channel message, when it happened and whose it was.
#[derive(Clone)]
struct Event {
    at: Instant,
    track: Arc<str>,
    bytes: [u8; 3],
    len: u8,
}

/// Where the player and the input thread put what they send and hear. Cloning shares it.
#[derive(Clone, Default)]
pub struct Tape {
    /// None while nothing records.
    pending: Arc<Mutex<Option<Vec<Event>>>>,
    /// Whether `pending` is Some: the player and the input thread check it without a lock,
    /// so while nothing records they never touch the mutex.
    armed: Arc<AtomicBool>,
}

impl Tape {
    /// Keeps a channel message if a recording runs; system messages (clock) are not kept.
    pub fn push(&self, track: &Arc<str>, bytes: &[u8]) {
        if !self.armed.load(Ordering::Acquire) {
            return;
        }
        let at = Instant::now();
        let Some(&status) = bytes.first() else { return };
        if !(0x80..0xF0).contains(&status) || bytes.len() > 3 {
            return;
        }
        let mut b = [0u8; 3];
        b[..bytes.len()].copy_from_slice(bytes);
        if let Ok(mut p) = self.pending.lock() {
            if let Some(events) = p.as_mut() {
                events.push(Event {
                    at,
                    track: track.clone(),
                    bytes: b,
                    len: bytes.len() as u8,
                });
            }
        }
    }

    pub fn is_recording(&self) -> bool {
        self.pending.lock().is_ok_and(|p| p.is_some())
    }

    /// Starts (Some) or ends (None) keeping what is pushed.
    fn set(&self, events: Option<Vec<Event>>) {
        if let Ok(mut p) = self.pending.lock() {
            self.armed.store(events.is_some(), Ordering::Release);
            *p = events;
        }
    }

    fn take(&self) -> Vec<Event> {
        match self.pending.lock() {
            Ok(mut p) => p.as_mut().map(std::mem::take).unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }
}

/// What a recording writes into the file besides the events.
#[derive(Clone)]
struct Sheet {
    path: PathBuf,
    started: Instant,
    tempo: f64,
    meter: Meter,
    /// Everything the writer has taken from the tape.
    kept: Arc<Mutex<Vec<Event>>>,
}

/// A recording in progress: the writer thread and how to stop it.
pub struct Recording {
    tape: Tape,
    sheet: Sheet,
    stop: Sender<()>,
    writer: Option<JoinHandle<()>>,
}

/// What a finished recording holds.
pub struct Summary {
    pub path: PathBuf,
    pub tracks: Vec<(String, usize)>,
    pub seconds: f64,
}

/// The recording that a second Ctrl-C must still write before tms exits.
static ACTIVE: Mutex<Option<(Tape, Sheet)>> = Mutex::new(None);

impl Recording {
    /// Starts recording into `path` (written at once, empty, so a bad path fails now).
    pub fn start(tape: &Tape, path: &Path, tempo: f64, meter: Meter) -> Result<Recording, String> {
        let sheet = Sheet {
            path: path.to_path_buf(),
            started: Instant::now(),
            tempo,
            meter,
            kept: Arc::new(Mutex::new(Vec::new())),
        };
        sheet.write()?;
        tape.set(Some(Vec::new()));
        let (stop, stopped) = mpsc::channel::<()>();
        let (t, s) = (tape.clone(), sheet.clone());
        let writer = std::thread::Builder::new()
            .name("tms-record".into())
            .spawn(move || loop {
                let last = !matches!(
                    stopped.recv_timeout(SAVE_EVERY),
                    Err(RecvTimeoutError::Timeout)
                );
                if s.catch_up(&t) > 0 || last {
                    // A failure (full disk) keeps everything in memory; the next try or
                    // `record stop` reports it.
                    let _ = s.write();
                }
                if last {
                    return;
                }
            })
            .map_err(|e| format!("cannot start recording: {e}"))?;
        if let Ok(mut a) = ACTIVE.lock() {
            *a = Some((tape.clone(), sheet.clone()));
        }
        Ok(Recording {
            tape: tape.clone(),
            sheet,
            stop,
            writer: Some(writer),
        })
    }

    pub fn path(&self) -> &Path {
        &self.sheet.path
    }

    /// Seconds recorded and events kept so far.
    pub fn progress(&self) -> (f64, usize) {
        self.sheet.catch_up(&self.tape);
        let n = self.sheet.kept.lock().map_or(0, |k| k.len());
        (self.sheet.started.elapsed().as_secs_f64(), n)
    }

    /// Ends the recording and writes the file whole. On failure (a full disk) the
    /// recording stays in memory, still running, and the error says so: try again.
    pub fn stop(mut self) -> Result<Summary, Box<(Recording, String)>> {
        let _ = self.stop.send(());
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        self.sheet.catch_up(&self.tape);
        if let Err(e) = self.sheet.write() {
            return Err(Box::new((self, e)));
        }
        self.tape.set(None);
        if let Ok(mut a) = ACTIVE.lock() {
            *a = None;
        }
        Ok(self.sheet.summary())
    }
}

/// Writes the running recording as it stands: called on the way out of a forced exit
/// (a second Ctrl-C or SIGTERM), where no destructor runs.
pub fn save_on_exit() {
    let active = match ACTIVE.try_lock() {
        Ok(a) => a.clone(),
        Err(_) => None,
    };
    if let Some((tape, sheet)) = active {
        sheet.catch_up(&tape);
        match sheet.write() {
            Ok(()) => eprintln!("tms: recording saved in {}", sheet.path.display()),
            Err(e) => eprintln!("tms: {e}"),
        }
    }
}

impl Sheet {
    /// Moves what the tape collected into the kept events; how many moved.
    fn catch_up(&self, tape: &Tape) -> usize {
        let new = tape.take();
        let n = new.len();
        if let Ok(mut k) = self.kept.lock() {
            k.extend(new);
        }
        n
    }

    fn write(&self) -> Result<(), String> {
        let events = self.kept.lock().map(|k| k.clone()).unwrap_or_default();
        let bytes = self.smf(&events);
        crate::fsio::write(&self.path, &bytes).map_err(|e| {
            format!(
                "cannot write recording `{}`: {}",
                self.path.display(),
                io_reason(&e)
            )
        })
    }

    fn summary(&self) -> Summary {
        let events = self.kept.lock().map(|k| k.clone()).unwrap_or_default();
        let tracks = track_names(&events)
            .into_iter()
            .map(|name| {
                let notes = events
                    .iter()
                    .filter(|e| *e.track == *name && e.bytes[0] & 0xF0 == 0x90 && e.bytes[2] > 0)
                    .count();
                (name.to_string(), notes)
            })
            .collect();
        let last = events.iter().map(|e| e.at).max().unwrap_or(self.started);
        Summary {
            path: self.path.clone(),
            tracks,
            seconds: last.saturating_duration_since(self.started).as_secs_f64(),
        }
    }

    /// A format-1 file: a conductor track (tempo, meter), then a named track per source.
    fn smf(&self, events: &[Event]) -> Vec<u8> {
        let ticks_per_second = self.tempo / 60.0 * f64::from(TICKS_PER_QUARTER);
        let tick = |at: Instant| -> u64 {
            (at.saturating_duration_since(self.started).as_secs_f64() * ticks_per_second).round()
                as u64
        };
        let end = events.iter().map(|e| e.at).max().unwrap_or(self.started);
        let micros = (60_000_000.0 / self.tempo).round().clamp(1.0, 16_777_215.0) as u32;
        let denom_log2 = self.meter.unit.max(1).trailing_zeros() as u8;
        let mut tracks = vec![vec![
            TrackEvent {
                delta: u28::new(0),
                kind: TrackEventKind::Meta(MetaMessage::Tempo(u24::new(micros))),
            },
            TrackEvent {
                delta: u28::new(0),
                kind: TrackEventKind::Meta(MetaMessage::TimeSignature(
                    self.meter.beats.min(255) as u8,
                    denom_log2,
                    24,
                    8,
                )),
            },
            TrackEvent {
                delta: u28::new(0),
                kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
            },
        ]];
        let names = track_names(events);
        for name in &names {
            let mut mine: Vec<(u64, [u8; 3], u8)> = events
                .iter()
                .filter(|e| *e.track == **name)
                .map(|e| (tick(e.at), e.bytes, e.len))
                .collect();
            // The player and the input thread push concurrently: order by time, keeping
            // the order of simultaneous messages.
            mine.sort_by_key(|e| e.0);
            for (ch, key) in still_sounding(&mine) {
                mine.push((tick(end), [0x80 | ch, key, 0], 3));
            }
            let mut track = vec![TrackEvent {
                delta: u28::new(0),
                kind: TrackEventKind::Meta(MetaMessage::TrackName(name.as_bytes())),
            }];
            let mut now = 0u64;
            for (t, bytes, len) in &mine {
                let Ok(LiveEvent::Midi { channel, message }) =
                    LiveEvent::parse(&bytes[..usize::from(*len)])
                else {
                    continue;
                };
                track.push(TrackEvent {
                    delta: u28::new((t - now).min(0x0FFF_FFFF) as u32),
                    kind: TrackEventKind::Midi { channel, message },
                });
                now = *t;
            }
            track.push(TrackEvent {
                delta: u28::new(0),
                kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
            });
            tracks.push(track);
        }
        let smf = Smf {
            header: Header::new(
                Format::Parallel,
                Timing::Metrical(u15::new(TICKS_PER_QUARTER)),
            ),
            tracks,
        };
        let mut out = Vec::new();
        // Writing into memory fails only for tracks of 4 GB, which a recording cannot reach.
        smf.write_std(&mut out)
            .expect("writing a MIDI file into memory cannot fail");
        out
    }
}

/// Track names in the order they first sounded.
fn track_names(events: &[Event]) -> Vec<Arc<str>> {
    let mut names: Vec<Arc<str>> = Vec::new();
    for e in events {
        if !names.iter().any(|n| **n == *e.track) {
            names.push(e.track.clone());
        }
    }
    names
}

/// (channel, key) of note-ons without their note-off by the end of `events`.
fn still_sounding(events: &[(u64, [u8; 3], u8)]) -> Vec<(u8, u8)> {
    let mut on = [[false; 128]; 16];
    for (_, b, _) in events {
        let (kind, ch, key) = (b[0] & 0xF0, usize::from(b[0] & 15), usize::from(b[1] & 127));
        match kind {
            0x90 if b[2] > 0 => on[ch][key] = true,
            0x80 | 0x90 => on[ch][key] = false,
            // All notes off / all sound off end every note of the channel.
            0xB0 if b[1] == 123 || b[1] == 120 => on[ch] = [false; 128],
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (ch, keys) in on.iter().enumerate() {
        for (key, &sounding) in keys.iter().enumerate() {
            if sounding {
                out.push((ch as u8, key as u8));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheet(path: &Path) -> Sheet {
        Sheet {
            path: path.to_path_buf(),
            started: Instant::now(),
            tempo: 120.0,
            meter: Meter::parse("3/4").unwrap(),
            kept: Arc::default(),
        }
    }

    fn event(sheet: &Sheet, ms: u64, track: &str, bytes: [u8; 3]) -> Event {
        Event {
            at: sheet.started + Duration::from_millis(ms),
            track: Arc::from(track),
            bytes,
            len: 3,
        }
    }

    #[test]
    fn tracks_are_named_timed_and_every_note_ends() {
        let s = sheet(Path::new("unused.mid"));
        // Pushed out of order, as two threads may; the held note never gets its note-off.
        let events = vec![
            event(&s, 500, "main", [0x90, 60, 100]),
            event(&s, 250, "input", [0x90, 64, 80]),
            event(&s, 1000, "main", [0x80, 60, 0]),
            event(&s, 750, "input", [0x80, 64, 0]),
            event(&s, 1500, "main", [0x91, 67, 90]),
        ];
        let bytes = s.smf(&events);
        let smf = Smf::parse(&bytes).unwrap();
        assert_eq!(smf.tracks.len(), 3);
        let name = |t: &[TrackEvent]| match t[0].kind {
            TrackEventKind::Meta(MetaMessage::TrackName(n)) => {
                String::from_utf8_lossy(n).into_owned()
            }
            _ => String::new(),
        };
        assert_eq!(name(&smf.tracks[1]), "main");
        assert_eq!(name(&smf.tracks[2]), "input");
        assert!(smf.tracks[0].iter().any(|e| matches!(
            e.kind,
            TrackEventKind::Meta(MetaMessage::TimeSignature(3, 2, _, _))
        )));
        // At 120 BPM and 960 ticks per quarter a second is 1,920 ticks.
        let ticks: Vec<u32> = smf.tracks[1]
            .iter()
            .scan(0, |t, e| {
                *t += e.delta.as_int();
                Some(*t)
            })
            .collect();
        assert_eq!(ticks[1..4], [960, 1920, 2880]);
        // The held note ends at the last event.
        let last = smf.tracks[1][smf.tracks[1].len() - 2].kind;
        assert!(matches!(
            last,
            TrackEventKind::Midi {
                message: midly::MidiMessage::NoteOff { .. },
                ..
            }
        ));
    }

    #[test]
    fn clock_bytes_are_not_recorded_and_nothing_is_kept_while_stopped() {
        let tape = Tape::default();
        let main: Arc<str> = Arc::from("main");
        tape.push(&main, &[0x90, 60, 100]);
        assert!(tape.take().is_empty());
        tape.set(Some(Vec::new()));
        tape.push(&main, &[0xF8]);
        tape.push(&main, &[0x90, 60, 100]);
        tape.push(&main, &[0xC0, 5]);
        let kept = tape.take();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[1].len, 2);
    }

    #[test]
    fn a_path_that_cannot_be_written_fails_at_the_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "a file, not a folder").unwrap();
        let path = dir.path().join("notes.txt/set.mid");
        let err = match Recording::start(&Tape::default(), &path, 120.0, Meter::default()) {
            Err(e) => e,
            Ok(_) => panic!("recording under a file started"),
        };
        assert!(err.starts_with("cannot write recording"), "{err}");
    }
}
