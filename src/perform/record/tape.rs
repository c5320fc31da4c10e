//! The tape is what the real-time threads touch, so it is apart from the file: a push
//! neither locks nor allocates, and everything slow happens on the writer's side.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{channel_message, micros, Event};
use crate::perform::Controls;
use crate::settings::Live;

/// Messages the tape holds between two visits of the writer (one a second): at 48 bytes
/// each, 1.5 MB, far more than eight voices, the input and a knob sweep send in a second.
const TAPE_ROOM: usize = 32_768;

/// Where the player and the input thread put what they send and hear. Cloning shares it.
///
/// The player runs at real-time priority and must never wait for an ordinary thread: a
/// lock it shares with the writer is a lock the writer can hold while the kernel runs
/// something else (a 12.8 ms late note in the stage soak), and a growing Vec reallocates
/// on the player's time. So the tape is a bounded channel, allocated once: a push neither
/// locks nor allocates, and a message that finds it full is counted, not waited for.
#[derive(Clone)]
pub struct Tape {
    send: SyncSender<Event>,
    /// Only the writer (and `record` starting or stopping) reads the tape.
    read: Arc<Mutex<Receiver<Event>>>,
    /// Whether a recording runs: the player and the input thread check it without a lock,
    /// so while nothing records they never touch the channel.
    armed: Arc<AtomicBool>,
    /// When the take began: a message pushed by a thread that saw the previous take still
    /// armed is older, and not kept.
    since: Arc<Mutex<Instant>>,
    /// Messages pushed and taken, for the count of those waiting; and those the full tape
    /// could not hold.
    pushed: Arc<AtomicUsize>,
    taken: Arc<AtomicUsize>,
    lost: Arc<AtomicUsize>,
    /// The controls whose tempo is played, and the tempo last kept: a tempo that changes
    /// without `set tempo` (the tempo `clock in` follows, a knob) is kept with the next
    /// message pushed after the change.
    pub(super) follow: Arc<Mutex<Option<Followed>>>,
}

/// The controls whose tempo is played, and the tempo last kept.
type Followed = (Arc<Controls>, f64);

impl Default for Tape {
    fn default() -> Tape {
        let (send, read) = mpsc::sync_channel(TAPE_ROOM);
        Tape {
            send,
            read: Arc::new(Mutex::new(read)),
            armed: Arc::default(),
            since: Arc::new(Mutex::new(Instant::now())),
            pushed: Arc::default(),
            taken: Arc::default(),
            lost: Arc::default(),
            follow: Arc::default(),
        }
    }
}

impl Tape {
    /// Keeps a channel message if a recording runs; system messages (clock) and malformed
    /// messages are not kept.
    pub fn push(&self, track: &Arc<str>, bytes: &[u8]) {
        if !self.armed.load(Ordering::Acquire) {
            return;
        }
        let at = Instant::now();
        // Clock ticks count too: they are what brings a followed tempo's changes.
        if let Some(bpm) = self.followed_change() {
            self.keep(Event::tempo(at, bpm));
        }
        if let Some((bytes, len)) = channel_message(bytes) {
            self.keep(Event {
                at,
                track: track.clone(),
                bytes,
                len,
            });
        }
    }

    fn keep(&self, event: Event) {
        match self.send.try_send(event) {
            Ok(()) => self.pushed.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.lost.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// The tempo of the followed controls if it changed since the last one kept. Never
    /// waits: while `record` holds the lock, the change is seen with the next message.
    fn followed_change(&self) -> Option<f64> {
        let mut f = self.follow.try_lock().ok()?;
        let (controls, last) = f.as_mut()?;
        let now = controls.get(Live::Tempo);
        (micros(now) != micros(*last) && now > 0.0).then(|| {
            *last = now;
            now
        })
    }

    /// Keeps a change of tempo if a recording runs: it goes into the conductor track at its
    /// time, and ticks after it follow the new tempo.
    pub fn tempo(&self, bpm: f64) {
        if !self.armed.load(Ordering::Acquire) || bpm.is_nan() || bpm <= 0.0 {
            return;
        }
        if let Ok(mut f) = self.follow.lock() {
            if let Some((_, last)) = f.as_mut() {
                *last = bpm;
            }
        }
        self.keep(Event::tempo(Instant::now(), bpm));
    }

    pub fn is_recording(&self) -> bool {
        self.armed.load(Ordering::Acquire)
    }

    /// Starts (true) or ends (false) keeping what is pushed; returns what was pushed since
    /// the last take.
    pub(super) fn set(&self, on: bool) -> Vec<Event> {
        let Ok(read) = self.read.lock() else {
            return Vec::new();
        };
        if on {
            // Whatever a late push left from an earlier take is not this take's.
            let stale = read.try_iter().count();
            self.taken.fetch_add(stale, Ordering::Relaxed);
            self.lost.store(0, Ordering::Relaxed);
            if let Ok(mut s) = self.since.lock() {
                *s = Instant::now();
            }
            self.armed.store(true, Ordering::Release);
            Vec::new()
        } else {
            self.armed.store(false, Ordering::Release);
            self.drain(&read)
        }
    }

    pub(super) fn take(&self) -> Vec<Event> {
        match self.read.lock() {
            Ok(read) => self.drain(&read),
            Err(_) => Vec::new(),
        }
    }

    fn drain(&self, read: &Receiver<Event>) -> Vec<Event> {
        let since = self.since.lock().map_or_else(|_| Instant::now(), |s| *s);
        let mut taken = 0;
        let events = read
            .try_iter()
            .inspect(|_| taken += 1)
            .filter(|e| e.at >= since)
            .collect();
        self.taken.fetch_add(taken, Ordering::Relaxed);
        events
    }

    pub(super) fn waiting(&self) -> usize {
        let taken = self.taken.load(Ordering::Relaxed);
        self.pushed.load(Ordering::Relaxed).saturating_sub(taken)
    }

    /// Messages the full tape could not keep since the take began.
    pub(super) fn lost(&self) -> usize {
        self.lost.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn clock_and_malformed_bytes_are_not_recorded_and_nothing_is_kept_while_stopped() {
        let tape = Tape::default();
        let main: Arc<str> = Arc::from("main");
        tape.push(&main, &[0x90, 60, 100]);
        assert!(tape.take().is_empty());
        tape.set(true);
        tape.push(&main, &[0xF8]);
        tape.push(&main, &[0x90, 60, 100]);
        tape.push(&main, &[0xC0, 5]);
        // Cut short, too long, a data byte above 127, a lone data byte.
        tape.push(&main, &[0x90, 60]);
        tape.push(&main, &[0xC0, 5, 6]);
        tape.push(&main, &[0x90, 200, 100]);
        tape.push(&main, &[0x3C]);
        let kept = tape.take();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[1].len, 2);
    }

    #[test]
    fn a_full_tape_counts_what_it_could_not_keep_and_a_new_take_starts_clean() {
        let tape = Tape::default();
        let main: Arc<str> = Arc::from("main");
        tape.set(true);
        for _ in 0..TAPE_ROOM + 5 {
            tape.push(&main, &[0x90, 60, 100]);
        }
        assert_eq!(tape.waiting(), TAPE_ROOM);
        assert_eq!(tape.lost(), 5);
        assert_eq!(tape.take().len(), TAPE_ROOM);
        assert_eq!(tape.waiting(), 0);
        tape.push(&main, &[0x80, 60, 0]);
        assert_eq!(tape.set(false).len(), 1);
        // Left behind after the take ended (a push that saw it still armed): not the next
        // take's, and the next take's count of lost messages starts at none.
        tape.keep(Event::tempo(Instant::now(), 100.0));
        std::thread::sleep(Duration::from_millis(2));
        tape.set(true);
        assert_eq!(tape.lost(), 0);
        tape.push(&main, &[0x90, 62, 100]);
        let kept = tape.take();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].bytes, [0x90, 62, 100]);
    }

    #[test]
    fn a_tempo_changed_without_set_tempo_is_kept_with_the_next_message() {
        let tape = Tape::default();
        let main: Arc<str> = Arc::from("main");
        let controls = Arc::new(Controls::default());
        controls.set(Live::Tempo, 120.0);
        tape.set(true);
        if let Ok(mut f) = tape.follow.lock() {
            *f = Some((controls.clone(), 120.0));
        }
        tape.push(&main, &[0x90, 60, 100]);
        // `clock in` follows a faster master: its next tick brings the change.
        controls.set(Live::Tempo, 131.25);
        tape.push(&main, &[0xF8]);
        tape.push(&main, &[0x80, 60, 0]);
        // `set tempo` is kept at once, and not again with the next message.
        controls.set(Live::Tempo, 90.0);
        tape.tempo(90.0);
        tape.push(&main, &[0x90, 62, 100]);
        let kept: Vec<(u8, [u8; 3])> = tape.take().iter().map(|e| (e.len, e.bytes)).collect();
        let m = |bpm: f64| micros(bpm).to_be_bytes();
        let (a, b) = (m(131.25), m(90.0));
        assert_eq!(
            kept,
            [
                (3, [0x90, 60, 100]),
                (0, [a[1], a[2], a[3]]),
                (3, [0x80, 60, 0]),
                (0, [b[1], b[2], b[3]]),
                (3, [0x90, 62, 100]),
            ]
        );
    }
}
