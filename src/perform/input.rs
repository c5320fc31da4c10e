//! The input port: notes to record (`listen`), knobs that drive live settings (`map cc`) and
//! MIDI clock to follow (`clock in`).
//!
//! midir calls us on its own (often real-time) thread, so the callback only stamps the
//! message and pushes it into a bounded channel; a plain thread applies knob mappings and
//! feeds clock ticks to the [`ClockFollower`] (with the arrival times stamped in the
//! callback, so the hop adds no error), and `listen` reads the notes on the caller's thread.
//!
//! A phrase ends on the notes' own arrival times: a gap of `silence` after the last key
//! went up, measured between stamps, so a reader that was busy (a fine-tune, an answer
//! being generated) reads the notes that queued meanwhile as they were played, never as a
//! run of one-note phrases. A key held longer than [`HOLD_LIMIT`] counts as released, so a
//! lost note-off cannot keep a phrase open.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use midir::MidiInputConnection;

use super::record::{Tape, INPUT_TRACK};
use super::timeline::{BeatSource, ClockEvent, ClockFollower};
use super::{ports, say, Controls, PerformError, PortSel, Printer};
use crate::music::note::Note;
use crate::settings::Live;

/// A short MIDI message as it arrived, with when it arrived.
pub(crate) type Stamped = (Instant, [u8; 3]);

/// How many messages may wait in a channel; beyond that they are dropped, never stored.
const QUEUE: usize = 4096;

/// A `listen` without N stops after this many notes, so a stuck controller cannot grow it.
const MAX_LISTEN: usize = 10_000;

/// A key held this long counts as released for ending a phrase (`listen`, `respond`,
/// `learn`): a note-off lost to a pulled cable or a sustain-pedal mistake would otherwise
/// keep the phrase open until [`MAX_LISTEN`] notes. Such a note lasts this long in the phrase.
pub const HOLD_LIMIT: Duration = Duration::from_secs(8);

/// How often the input thread looks whether the clock went silent.
const SILENCE_CHECK: Duration = Duration::from_millis(100);

/// Where incoming MIDI clock goes.
pub(crate) struct Clock {
    pub follower: Arc<ClockFollower>,
    /// Whether the follower leads (`clock in on`): then its tempo is the `tempo` setting
    /// and its silences are told.
    pub leads: Arc<AtomicBool>,
    pub printer: Printer,
}

impl Clock {
    fn message(&self, t: Instant, m: &[u8], controls: &Controls) {
        let event = self.follower.message(t, m);
        if !self.leads.load(Ordering::Relaxed) {
            return;
        }
        if m[0] == 0xF8 {
            // Two decimals: what `set` shows, without the estimate's last-digit flicker.
            let tempo = (self.follower.tempo() * 100.0).round() / 100.0;
            controls.set(Live::Tempo, tempo);
        }
        if event == Some(ClockEvent::Resumed) {
            say(
                &self.printer,
                format!(
                    "clock in: ticks again, following at {:.1} BPM",
                    self.follower.tempo()
                ),
            );
        }
    }

    /// Whether the ticks went silent by `now`: the arrival time of the message just read,
    /// or the present when none is waiting. Never the present while messages wait: a thread
    /// behind a fast clock reads ticks that are old, but they did not stop.
    fn check_silence(&self, now: Instant) {
        if self.follower.went_silent(now) && self.leads.load(Ordering::Relaxed) {
            say(
                &self.printer,
                format!(
                    "clock in: no ticks for a second; keeping {:.1} BPM",
                    self.follower.tempo()
                ),
            );
        }
    }
}

/// Knob mappings and the changes they made (for the prompt to echo).
#[derive(Default)]
pub(crate) struct Knobs {
    maps: Mutex<Vec<(u8, Live, f64, f64)>>,
    changes: Mutex<Vec<(Live, f64)>>,
    /// The current voice's controls, which a knob on a voice's own setting turns (the
    /// shared settings, tempo and latency, stay on the controls the input port was given).
    voice: Mutex<Option<Arc<Controls>>>,
}

impl Knobs {
    /// Knobs on a voice's own settings turn `controls` from now on.
    pub fn follow_voice(&self, controls: Arc<Controls>) {
        if let Ok(mut v) = self.voice.lock() {
            *v = Some(controls);
        }
    }

    pub fn map(&self, cc: u8, setting: Live, min: f64, max: f64) {
        if let Ok(mut maps) = self.maps.lock() {
            maps.retain(|m| m.0 != cc);
            maps.push((cc, setting, min, max));
            maps.sort_by_key(|m| m.0);
        }
    }

    pub fn unmap(&self, cc: u8) -> bool {
        self.maps.lock().is_ok_and(|mut maps| {
            let before = maps.len();
            maps.retain(|m| m.0 != cc);
            maps.len() != before
        })
    }

    pub fn list(&self) -> Vec<(u8, Live, f64, f64)> {
        self.maps.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub fn take_changes(&self) -> Vec<(Live, f64)> {
        self.changes
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }

    /// A controller moved: scale 0..127 onto the mapped range and set the control.
    fn apply(&self, cc: u8, value: u8, controls: &Controls) {
        let Some((setting, min, max)) = self
            .maps
            .lock()
            .ok()
            .and_then(|maps| maps.iter().find(|m| m.0 == cc).map(|m| (m.1, m.2, m.3)))
        else {
            return;
        };
        let v = min + (max - min) * f64::from(value.min(127)) / 127.0;
        let voice = match setting.per_voice() {
            false => None,
            true => self.voice.lock().ok().and_then(|v| v.clone()),
        };
        if let Some(now) = voice.as_deref().unwrap_or(controls).set(setting, v) {
            if let Ok(mut changes) = self.changes.lock() {
                // One entry per setting: the prompt wants the latest value, not the history.
                match changes.iter_mut().find(|c| c.0 == setting) {
                    Some(c) => c.1 = now,
                    None => changes.push((setting, now)),
                }
            }
        }
    }
}

/// An open input port and the thread that sorts its messages. The thread and the notes'
/// channel outlive the port: `connect in` to another port (or the same port coming back
/// after it vanished) only swaps the connection, so `respond`, `learn`, `clock in` and the
/// knobs go on reading the new port without knowing.
pub(crate) struct Input {
    /// The port listened to.
    name: Mutex<String>,
    /// Dropped before `raw_tx`: closing the port drops the callback and its sender; with
    /// `raw_tx` gone too the thread ends.
    conn: Mutex<Option<MidiInputConnection<()>>>,
    raw_tx: mpsc::SyncSender<Stamped>,
    tape: Tape,
    /// Note messages, read by one phrase reader at a time (`listen`, or `respond`'s thread).
    notes: Arc<Mutex<Receiver<Stamped>>>,
    /// The port vanished: the thread waits for it to come back under its name.
    pub(crate) gone: AtomicBool,
    _thread: JoinHandle<()>,
}

impl Input {
    pub fn open(
        sel: &PortSel,
        controls: Arc<Controls>,
        knobs: Arc<Knobs>,
        tape: Tape,
        clock: Clock,
    ) -> Result<Input, PerformError> {
        let (raw_tx, raw_rx) = mpsc::sync_channel::<Stamped>(QUEUE);
        let (conn, name) = Self::connect(sel, &raw_tx, &tape)?;
        let (note_tx, notes) = mpsc::sync_channel::<Stamped>(QUEUE);
        let thread = std::thread::Builder::new()
            .name("tms-input".into())
            .spawn(move || loop {
                let (t, m) = match raw_rx.recv_timeout(SILENCE_CHECK) {
                    Ok(stamped) => stamped,
                    Err(RecvTimeoutError::Timeout) => {
                        clock.check_silence(Instant::now());
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                };
                match m[0] & 0xF0 {
                    0xB0 => knobs.apply(m[1], m[2], &controls),
                    0x80 | 0x90 => {
                        if let Err(TrySendError::Disconnected(_)) = note_tx.try_send((t, m)) {
                            return;
                        }
                    }
                    0xF0 => clock.message(t, &m, &controls),
                    _ => {}
                }
                // Notes may keep coming while the clock has gone quiet.
                clock.check_silence(t);
            })
            .map_err(|e| PerformError::Connect(name.clone(), e.to_string()))?;
        Ok(Input {
            name: Mutex::new(name),
            conn: Mutex::new(Some(conn)),
            raw_tx,
            tape,
            notes: Arc::new(Mutex::new(notes)),
            gone: AtomicBool::new(false),
            _thread: thread,
        })
    }

    /// A connection to the chosen port whose messages go to `raw_tx` (and the tape).
    fn connect(
        sel: &PortSel,
        raw_tx: &mpsc::SyncSender<Stamped>,
        tape: &Tape,
    ) -> Result<(MidiInputConnection<()>, String), PerformError> {
        let (raw_tx, tape) = (raw_tx.clone(), tape.clone());
        let track: Arc<str> = Arc::from(INPUT_TRACK);
        ports::open_input(sel, move |_, bytes, _| {
            tape.push(&track, bytes);
            if let Some(m) = short_message(bytes) {
                // try_send: the MIDI thread must never wait on us.
                let _ = raw_tx.try_send((Instant::now(), m));
            }
        })
    }

    /// Listens to another port from now on (or to the same one again, after it came back);
    /// if it cannot be opened nothing changes. Returns its name.
    pub fn switch(&self, sel: &PortSel) -> Result<String, PerformError> {
        let (conn, name) = Self::connect(sel, &self.raw_tx, &self.tape)?;
        let old = self
            .conn
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(conn);
        drop(old);
        *self.name.lock().unwrap_or_else(|e| e.into_inner()) = name.clone();
        self.gone.store(false, Ordering::Relaxed);
        Ok(name)
    }

    /// The port listened to.
    pub fn name(&self) -> String {
        self.name.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records a phrase: `n` notes, or until `silence` passes with no note sounding after at
    /// least one note; `stop` (Ctrl-C) ends it early with what was heard. Times are relative
    /// to the first note-on.
    pub fn listen(&self, n: Option<usize>, silence: Duration, stop: &AtomicBool) -> Vec<Note> {
        let Ok(notes) = self.notes.try_lock() else {
            return Vec::new();
        };
        // Notes played before `listen` are not part of the phrase.
        while notes.try_recv().is_ok() {}
        Phrases::default().read(&notes, n, silence, stop)
    }

    /// The notes the input hears, for a thread that reads phrase after phrase.
    pub(crate) fn phrases(&self) -> Arc<Mutex<Receiver<Stamped>>> {
        self.notes.clone()
    }

    /// Whether another reader (`respond`) holds the notes.
    pub fn busy(&self) -> bool {
        self.notes.try_lock().is_err()
    }
}

/// Reads phrase after phrase from the input's notes. The message that showed a phrase had
/// ended (the first of the next one) is kept for the next read.
#[derive(Default)]
pub(crate) struct Phrases {
    pending: Option<Stamped>,
}

impl Phrases {
    /// Reads one phrase from `notes`: `n` notes, or until `silence` passes (between the
    /// notes' arrival times, or until now when none is waiting) with no key down after at
    /// least one note, or until `stop`.
    pub fn read(
        &mut self,
        notes: &Receiver<Stamped>,
        n: Option<usize>,
        silence: Duration,
        stop: &AtomicBool,
    ) -> Vec<Note> {
        let mut rec = Recorder::default();
        let limit = n.unwrap_or(MAX_LISTEN).min(MAX_LISTEN);
        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let next = match self.pending.take() {
                Some(m) => Ok(m),
                None => notes.recv_timeout(Duration::from_millis(10)),
            };
            match next {
                Ok((t, m)) => {
                    if rec.ended_before(t, silence) {
                        self.pending = Some((t, m));
                        break;
                    }
                    rec.message(t, m);
                }
                Err(RecvTimeoutError::Timeout) => {
                    if rec.ended_before(Instant::now(), silence) {
                        break;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if rec.notes.len() >= limit {
                break;
            }
        }
        rec.finish(Instant::now(), limit)
    }
}

/// Note-ons and -offs into notes.
#[derive(Default)]
struct Recorder {
    first: Option<Instant>,
    sounding: HashMap<(u8, u8), (Instant, u8)>,
    notes: Vec<Note>,
    last_off: Option<Instant>,
}

impl Recorder {
    fn message(&mut self, t: Instant, m: [u8; 3]) {
        let ch = m[0] & 15;
        let on = m[0] & 0xF0 == 0x90 && m[2] > 0;
        if on {
            self.first.get_or_insert(t);
            // A retriggered key ends the note it was playing.
            if let Some(prev) = self.sounding.insert((ch, m[1]), (t, m[2])) {
                self.close(m[1], prev, t);
            }
        } else if let Some(prev) = self.sounding.remove(&(ch, m[1])) {
            let up = self.close(m[1], prev, t);
            self.last_off = Some(self.last_off.map_or(up, |l| l.max(up)));
        }
    }

    /// Whether the phrase had ended by `t`: a note was heard, and `silence` passed after
    /// the last key went up (a key held past [`HOLD_LIMIT`] counts as up then).
    fn ended_before(&self, t: Instant, silence: Duration) -> bool {
        if self.first.is_none() {
            return false;
        }
        let mut quiet = self.last_off;
        for (down, _) in self.sounding.values() {
            let up = *down + HOLD_LIMIT;
            if up > t {
                return false;
            }
            quiet = Some(quiet.map_or(up, |q| q.max(up)));
        }
        quiet.is_some_and(|q| t >= q + silence)
    }

    /// Adds the note; returns when it ended (a held key at most [`HOLD_LIMIT`] after it
    /// went down).
    fn close(&mut self, pitch: u8, (start, velocity): (Instant, u8), end: Instant) -> Instant {
        let end = end.min(start + HOLD_LIMIT);
        if let Some(first) = self.first {
            self.notes.push(Note {
                pitch,
                start: start.saturating_duration_since(first).as_secs_f64(),
                duration: end.saturating_duration_since(start).as_secs_f64(),
                velocity: velocity.max(1),
            });
        }
        end
    }

    /// Notes still held when listening ended last until now (at most [`HOLD_LIMIT`]).
    fn finish(mut self, now: Instant, limit: usize) -> Vec<Note> {
        let held: Vec<_> = self.sounding.drain().collect();
        for ((_, pitch), prev) in held {
            self.close(pitch, prev, now);
        }
        crate::music::note::sort_notes(&mut self.notes);
        self.notes.truncate(limit);
        self.notes
    }
}

/// Channel messages of up to three bytes (running status is resolved by the backends), and
/// the clock's: tick, Start, Continue, Stop and Song Position Pointer.
fn short_message(bytes: &[u8]) -> Option<[u8; 3]> {
    let status = *bytes.first()?;
    if !(0x80..0xF0).contains(&status) && !matches!(status, 0xF2 | 0xF8 | 0xFA | 0xFB | 0xFC) {
        return None;
    }
    Some([
        status,
        bytes.get(1).copied().unwrap_or(0) & 127,
        bytes.get(2).copied().unwrap_or(0) & 127,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_pairs_ons_and_offs_relative_to_first_note() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut r = Recorder::default();
        r.message(ms(100), [0x90, 60, 80]);
        r.message(ms(300), [0x80, 60, 0]);
        r.message(ms(350), [0x91, 64, 90]);
        r.message(ms(400), [0x91, 64, 0]); // note-on with velocity 0 is a note-off
        r.message(ms(500), [0x90, 67, 70]);
        let notes = r.finish(ms(700), 10);
        assert_eq!(notes.len(), 3);
        assert_eq!(notes[0].pitch, 60);
        assert!((notes[0].start - 0.0).abs() < 1e-9);
        assert!((notes[0].duration - 0.2).abs() < 1e-9);
        assert!((notes[1].start - 0.25).abs() < 1e-9);
        assert!((notes[1].duration - 0.05).abs() < 1e-9);
        assert_eq!(notes[2].pitch, 67);
        assert!(
            (notes[2].duration - 0.2).abs() < 1e-9,
            "held note closed at finish"
        );
    }

    /// Messages as the input callback would have stamped them, `ms` after `t0`.
    fn queued(t0: Instant, msgs: &[(u64, [u8; 3])]) -> Receiver<Stamped> {
        let (tx, rx) = mpsc::channel();
        for &(ms, m) in msgs {
            tx.send((t0 + Duration::from_millis(ms), m)).unwrap();
        }
        rx
    }

    /// Long enough ago that every stamp from it is in the past.
    fn long_ago(secs: u64) -> Instant {
        Instant::now()
            .checked_sub(Duration::from_secs(secs))
            .unwrap_or_else(Instant::now)
    }

    #[test]
    fn a_phrase_read_late_is_read_whole_and_the_next_one_kept() {
        // 2,000 notes 5 ms apart, then after a 700 ms gap another phrase: all of it queued
        // while the reader was busy, so every stamp is seconds old when it is read.
        let mut msgs = Vec::new();
        for k in 0..2000u64 {
            let key = 40 + (k % 40) as u8;
            msgs.push((k * 5, [0x90, key, 80]));
            msgs.push((k * 5 + 3, [0x80, key, 0]));
        }
        let end = 1999 * 5 + 3;
        msgs.push((end + 700, [0x90, 60, 80]));
        msgs.push((end + 800, [0x80, 60, 0]));
        let rx = queued(long_ago(30), &msgs);
        let stop = AtomicBool::new(false);
        let silence = Duration::from_millis(600);
        let mut phrases = Phrases::default();
        let first = phrases.read(&rx, None, silence, &stop);
        assert_eq!(first.len(), 2000, "one phrase, as it was played");
        assert!((first[1999].start - 9.995).abs() < 1e-9);
        let second = phrases.read(&rx, None, silence, &stop);
        assert_eq!(
            second.len(),
            1,
            "the note that ended the first phrase begins the next"
        );
        assert_eq!(second[0].pitch, 60);
        assert!((second[0].duration - 0.1).abs() < 1e-9);
    }

    #[test]
    fn a_phrase_goes_on_while_its_notes_come_closer_than_the_silence() {
        let rx = queued(
            long_ago(30),
            &[
                (0, [0x90, 60, 80]),
                (100, [0x80, 60, 0]),
                (650, [0x90, 62, 80]),
                (700, [0x80, 62, 0]),
            ],
        );
        let notes = Phrases::default().read(
            &rx,
            None,
            Duration::from_millis(600),
            &AtomicBool::new(false),
        );
        assert_eq!(notes.len(), 2, "a 550 ms gap is inside the phrase");
    }

    #[test]
    fn a_key_never_released_lets_the_phrase_end_after_the_hold_limit() {
        let hold = HOLD_LIMIT.as_millis() as u64;
        let rx = queued(
            long_ago(60),
            &[
                (0, [0x90, 48, 80]), // its note-off is lost
                (100, [0x90, 60, 80]),
                (200, [0x80, 60, 0]),
                (hold - 1000, [0x90, 62, 80]), // still the same phrase: 48 is down
                (hold - 900, [0x80, 62, 0]),
                (hold + 700, [0x90, 64, 80]),
                (hold + 800, [0x80, 64, 0]),
                (hold + 5000, [0x80, 48, 0]), // the lost note-off, late: a stray
            ],
        );
        let stop = AtomicBool::new(false);
        let silence = Duration::from_millis(600);
        let mut phrases = Phrases::default();
        let first = phrases.read(&rx, None, silence, &stop);
        let pitches: Vec<u8> = first.iter().map(|n| n.pitch).collect();
        assert_eq!(pitches, [48, 60, 62]);
        assert!(
            (first[0].duration - HOLD_LIMIT.as_secs_f64()).abs() < 1e-9,
            "the held key lasts the hold limit"
        );
        let second = phrases.read(&rx, None, silence, &stop);
        assert_eq!(second.iter().map(|n| n.pitch).collect::<Vec<_>>(), [64]);
    }

    #[test]
    fn a_key_held_alone_ends_its_phrase_after_the_hold_limit() {
        let (tx, rx) = mpsc::channel();
        tx.send((long_ago(20), [0x90, 48, 80])).unwrap();
        let notes = Phrases::default().read(
            &rx,
            None,
            Duration::from_millis(600),
            &AtomicBool::new(false),
        );
        assert_eq!(notes.len(), 1);
        assert!((notes[0].duration - HOLD_LIMIT.as_secs_f64()).abs() < 1e-9);
        drop(tx);
    }

    #[test]
    fn stray_note_off_is_ignored() {
        let mut r = Recorder::default();
        r.message(Instant::now(), [0x80, 60, 0]);
        assert!(r.finish(Instant::now(), 10).is_empty());
    }

    #[test]
    fn knobs_scale_and_record_changes() {
        let k = Knobs::default();
        let c = Controls::default();
        k.map(74, Live::Tempo, 60.0, 180.0);
        k.apply(74, 127, &c);
        assert_eq!(c.get(Live::Tempo), 180.0);
        k.apply(74, 0, &c);
        assert_eq!(c.get(Live::Tempo), 60.0);
        k.apply(75, 64, &c); // unmapped: nothing happens
        assert_eq!(k.take_changes(), vec![(Live::Tempo, 60.0)]);
        assert!(k.take_changes().is_empty());
        assert!(k.unmap(74));
        assert!(!k.unmap(74));
    }

    #[test]
    fn short_messages_only() {
        assert_eq!(short_message(&[0x90, 60, 100]), Some([0x90, 60, 100]));
        assert_eq!(short_message(&[0xC0, 5]), Some([0xC0, 5, 0]));
        assert_eq!(short_message(&[0xF8]), Some([0xF8, 0, 0]));
        assert_eq!(short_message(&[0xF2, 16, 1]), Some([0xF2, 16, 1]));
        assert_eq!(short_message(&[0xFE]), None, "active sensing is dropped");
        assert_eq!(short_message(&[0xF0, 1, 2, 0xF7]), None, "sysex is dropped");
        assert_eq!(short_message(&[]), None);
        assert_eq!(short_message(&[60]), None);
    }
}
