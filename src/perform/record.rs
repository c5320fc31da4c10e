//! `record`: everything the player sends and the input port hears, kept as a multi-track
//! standard MIDI file — a performance cannot be played again, so it must not be lost.
//!
//! The player and the input thread stamp each channel message with the moment it went out
//! or came in and push it onto a [`Tape`]; that push is a short lock on a vector the
//! writer empties by swapping, so the real-time threads never wait on a file.
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

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::OnceLock;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Controls;
use crate::fsio::io_reason;
use crate::music::meter::Meter;
use crate::settings::Live;

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
const TMS_ID: u8 = 0x7D;
/// The largest delta time a track event can carry.
const MAX_DELTA: u64 = 0x0FFF_FFFF;
/// Recordings are refused unless their name ends in one of these.
pub const EXTENSIONS: [&str; 2] = ["mid", "midi"];

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

/// Where ticks stand against time: the tick of the last tempo change, when it came, and
/// the tempo since, so that ticks follow the tempo as played.
#[derive(Clone, Copy)]
struct Clock {
    since: Instant,
    tick: u64,
    micros: u32,
}

impl Clock {
    fn tick(&self, at: Instant) -> u64 {
        let per_second = f64::from(TICKS_PER_QUARTER) * 1e6 / f64::from(self.micros);
        let secs = at.saturating_duration_since(self.since).as_secs_f64();
        self.tick + (secs * per_second).round() as u64
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
    follow: Arc<Mutex<Option<Followed>>>,
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
    fn set(&self, on: bool) -> Vec<Event> {
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

    fn take(&self) -> Vec<Event> {
        match self.read.lock() {
            Ok(read) => self.drain(&read),
            Err(_) => Vec::new(),
        }
    }

    fn drain(&self, read: &Receiver<Event>) -> Vec<Event> {
        let since = self.since.lock().map_or_else(|_| Instant::now(), |s| *s);
        let events: Vec<Event> = read.try_iter().collect();
        self.taken.fetch_add(events.len(), Ordering::Relaxed);
        events.into_iter().filter(|e| e.at >= since).collect()
    }

    fn waiting(&self) -> usize {
        let taken = self.taken.load(Ordering::Relaxed);
        self.pushed.load(Ordering::Relaxed).saturating_sub(taken)
    }

    /// Messages the full tape could not keep since the take began.
    fn lost(&self) -> usize {
        self.lost.load(Ordering::Relaxed)
    }
}

/// What the file holds of one source: all the writer remembers of it.
#[derive(Clone)]
struct Source {
    name: Arc<str>,
    /// Note-ons (velocity above 0) written.
    notes: usize,
    /// Keys down, a bit per key, per channel.
    sounding: [u128; 16],
}

impl Source {
    fn new(name: Arc<str>) -> Source {
        Source {
            name,
            notes: 0,
            sounding: [0; 16],
        }
    }
}

/// Follows which keys a message presses and releases; whether it is a sounding note-on.
fn hear(sounding: &mut [u128; 16], b: [u8; 3]) -> bool {
    let ch = usize::from(b[0] & 15);
    let key = 1u128 << (b[1] & 127);
    match b[0] & 0xF0 {
        0x90 if b[2] > 0 => {
            sounding[ch] |= key;
            return true;
        }
        0x80 | 0x90 => sounding[ch] &= !key,
        // All notes off / all sound off end every note of the channel.
        0xB0 if b[1] == 123 || b[1] == 120 => sounding[ch] = 0,
        _ => {}
    }
    false
}

/// Where the recording stands on disk; replaced whole only when an append succeeded.
#[derive(Clone)]
struct Written {
    /// Where the tail (closing note-offs, end of track) starts, and its length.
    tail_at: u64,
    tail_len: u64,
    /// The tick of the last message written.
    last_tick: u64,
    /// The source of the last message written (an index into `sources`).
    source: Option<usize>,
    sources: Vec<Source>,
    events: usize,
    last_at: Option<Instant>,
    clock: Clock,
}

impl Written {
    fn source(&mut self, name: &Arc<str>) -> usize {
        match self.sources.iter().position(|s| *s.name == **name) {
            Some(i) => i,
            None => {
                self.sources.push(Source::new(name.clone()));
                self.sources.len() - 1
            }
        }
    }

    /// Note-offs for every key any source holds, then the end of track. Its length is never
    /// 132 bytes, the one length [`neutral`] cannot cover with a canonical header.
    fn tail(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut count = 0;
        for ch in 0..16u8 {
            let held = self
                .sources
                .iter()
                .fold(0u128, |acc, s| acc | s.sounding[usize::from(ch)]);
            for key in 0..128u8 {
                if held & (1u128 << key) != 0 {
                    out.extend_from_slice(&[0, 0x80 | ch, key, 0]);
                    count += 1;
                }
            }
        }
        if count == 32 {
            // A repeated note-off is harmless and moves the length to 136.
            let last = out[out.len() - 4..].to_vec();
            out.extend_from_slice(&last);
        }
        out.extend_from_slice(&[0, 0xFF, 0x2F, 0]);
        out
    }
}

/// The first bytes that turn a tail of `len` bytes into one sequencer-specific event
/// (delta 0) whose data is the rest of the tail. The data then starts with a delta (0) or a
/// note-off status, never with [`TMS_ID`], so it is never taken for a source marker.
fn neutral(len: u64) -> Vec<u8> {
    let mut out = vec![0, 0xFF, 0x7F];
    if len - 4 < 128 {
        out.push((len - 4) as u8);
    } else {
        // Two length bytes; `len - 5` is at least 128 because a tail is never 132 bytes.
        varlen(&mut out, (len - 5) as u32);
    }
    out
}

fn varlen(out: &mut Vec<u8>, v: u32) {
    let mut groups = [0u8; 4];
    let mut n = 0;
    let mut v = v & 0x0FFF_FFFF;
    loop {
        groups[n] = (v & 0x7F) as u8;
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out.push(groups[i] | if i > 0 { 0x80 } else { 0 });
    }
}

/// The delta time before an event; hours of silence at a fast tempo need more than one
/// delta can carry, and empty events bridge them.
fn bridge(out: &mut Vec<u8>, mut delta: u64) {
    while delta > MAX_DELTA {
        meta(out, MAX_DELTA as u32, 0x7F, &[]);
        delta -= MAX_DELTA;
    }
    varlen(out, delta as u32);
}

fn meta(out: &mut Vec<u8>, delta: u32, kind: u8, data: &[u8]) {
    varlen(out, delta);
    out.extend_from_slice(&[0xFF, kind]);
    varlen(out, data.len() as u32);
    out.extend_from_slice(data);
}

/// The sequencer-specific event that says whose messages follow.
fn marker(out: &mut Vec<u8>, name: &str) {
    let mut data = vec![TMS_ID];
    data.extend_from_slice(name.as_bytes());
    meta(out, 0, 0x7F, &data);
}

fn header(tracks: usize) -> Vec<u8> {
    let mut out = b"MThd\0\0\0\x06\0\x01".to_vec();
    out.extend_from_slice(&(tracks.min(0xFFFF) as u16).to_be_bytes());
    out.extend_from_slice(&TICKS_PER_QUARTER.to_be_bytes());
    out
}

fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = b"MTrk".to_vec();
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// The start of the conductor track: tempo and meter.
fn conductor_start(tempo: f64, meter: Meter) -> Vec<u8> {
    let denom_log2 = meter.unit.max(1).trailing_zeros() as u8;
    let mut data = Vec::new();
    meta(&mut data, 0, 0x51, &micros(tempo).to_be_bytes()[1..]);
    meta(
        &mut data,
        0,
        0x58,
        &[meter.beats.min(255) as u8, denom_log2, 24, 8],
    );
    data
}

/// The conductor track as recording starts: tempo and meter.
fn conductor(tempo: f64, meter: Meter) -> Vec<u8> {
    let mut data = conductor_start(tempo, meter);
    meta(&mut data, 0, 0x2F, &[]);
    chunk(&data)
}

/// A recording's file and what has been written into it.
struct Take {
    file: File,
    path: PathBuf,
    started: Instant,
    tempo: f64,
    meter: Meter,
    /// Where the recording track's length is, and where its events start.
    len_at: u64,
    data_at: u64,
    written: Written,
    /// The program each voice had when the take started (its track's name, then the
    /// program change): the player sent it before, so the tape never heard it.
    programs: Vec<(Arc<str>, [u8; 2])>,
    /// Taken from the tape but not yet on disk (an append failed).
    unsaved: Vec<Event>,
    /// The final file is written; nothing more goes into this one.
    done: bool,
}

/// What a finished recording holds.
pub struct Summary {
    pub path: PathBuf,
    pub tracks: Vec<(String, usize)>,
    pub seconds: f64,
    /// Messages that came faster than the tape could keep them (none, unless a second
    /// brought more than the tape holds).
    pub lost: usize,
}

fn write_error(path: &Path, e: &io::Error) -> String {
    format!(
        "cannot write recording `{}`: {}",
        path.display(),
        io_reason(e)
    )
}

/// Refuses a target that is not a MIDI file's name, that exists and is not a regular file,
/// or that exists when `overwrite` was not given; says what to type instead.
fn check_target(path: &Path, overwrite: bool) -> Result<(), String> {
    let exists = crate::fsio::existing_target(path).map_err(|e| write_error(path, &e))?;
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase());
    if !ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str())) {
        let stem = path
            .file_stem()
            .map_or("set".into(), |s| s.to_string_lossy().into_owned());
        let instead = path.with_file_name(format!("{stem}.mid"));
        return Err(format!(
            "`record` writes a standard MIDI file: its name must end in .mid or .midi, e.g. `record {}`",
            crate::ground::text::quote(&instead.to_string_lossy())
        ));
    }
    if exists && !overwrite {
        return Err(format!(
            "`{}` already exists: `record {} overwrite` replaces it, or give another name",
            path.display(),
            crate::ground::text::quote(&path.to_string_lossy())
        ));
    }
    Ok(())
}

impl Take {
    /// Creates the file (refusing what [`check_target`] refuses): the conductor and an
    /// empty recording track.
    fn create(path: &Path, overwrite: bool, tempo: f64, meter: Meter) -> Result<Take, String> {
        check_target(path, overwrite)?;
        let mut bytes = header(2);
        bytes.extend_from_slice(&conductor(tempo, meter));
        let len_at = bytes.len() as u64 + 4;
        let mut data = Vec::new();
        meta(&mut data, 0, 0x03, TAKE_TRACK.as_bytes());
        let tail_at = len_at + 4 + data.len() as u64;
        meta(&mut data, 0, 0x2F, &[]);
        bytes.extend_from_slice(&chunk(&data));
        let error = |e: io::Error| write_error(path, &e);
        let file = if overwrite {
            crate::fsio::write(path, &bytes).map_err(error)?;
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(error)?
        } else {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(error)?;
            }
            // Exclusive: a file that appeared since the check is not replaced either.
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(|e| match e.kind() {
                    io::ErrorKind::AlreadyExists => {
                        check_target(path, false).err().unwrap_or_else(|| error(e))
                    }
                    _ => error(e),
                })?;
            file.write_all_at(&bytes, 0)
                .and_then(|()| file.sync_all())
                .map_err(error)?;
            file
        };
        let started = Instant::now();
        Ok(Take {
            file,
            path: path.to_path_buf(),
            started,
            tempo,
            meter,
            len_at,
            data_at: len_at + 4,
            written: Written {
                tail_at,
                tail_len: 4,
                last_tick: 0,
                source: None,
                sources: Vec::new(),
                events: 0,
                last_at: None,
                clock: Clock {
                    since: started,
                    tick: 0,
                    micros: micros(tempo),
                },
            },
            programs: Vec::new(),
            unsaved: Vec::new(),
            done: false,
        })
    }

    /// Appends `new` and whatever an earlier append could not write (see the module docs).
    /// The work is proportional to the messages appended and the notes sounding.
    fn append(&mut self, new: Vec<Event>) -> Result<(), String> {
        self.unsaved.extend(new);
        if self.unsaved.is_empty() || self.done {
            return Ok(());
        }
        // The player and the input thread push concurrently: order by time, keeping the
        // order of simultaneous messages. A message stamped just before the previous append
        // but pushed after it goes at that append's last tick.
        self.unsaved.sort_by_key(|e| e.at);
        let mut next = self.written.clone();
        let mut body = Vec::with_capacity(self.unsaved.len() * 5);
        for e in &self.unsaved {
            let tick = next.clock.tick(e.at).max(next.last_tick);
            if e.len == 0 {
                let micros = u32::from_be_bytes([0, e.bytes[0], e.bytes[1], e.bytes[2]]);
                bridge(&mut body, tick - next.last_tick);
                body.extend_from_slice(&[0xFF, 0x51, 3]);
                body.extend_from_slice(&e.bytes);
                next.last_tick = tick;
                next.clock = Clock {
                    since: e.at,
                    tick,
                    micros,
                };
                continue;
            }
            let i = next.source(&e.track);
            if next.source != Some(i) {
                marker(&mut body, &e.track);
                next.source = Some(i);
            }
            bridge(&mut body, tick - next.last_tick);
            body.extend_from_slice(&e.bytes[..usize::from(e.len)]);
            next.last_tick = tick;
            let src = &mut next.sources[i];
            if hear(&mut src.sounding, e.bytes) {
                src.notes += 1;
            }
            next.events += 1;
            next.last_at = next.last_at.max(Some(e.at));
        }
        let tail = next.tail();
        let end = self.written.tail_at + self.written.tail_len;
        let length = end + (body.len() + tail.len()) as u64 - self.data_at;
        let length = u32::try_from(length).map_err(|_| {
            format!(
                "cannot write recording `{}`: a MIDI track holds at most 4 GB: `record stop`",
                self.path.display()
            )
        })?;
        body.extend_from_slice(&tail);
        let f = &self.file;
        f.write_all_at(&body, end)
            .and_then(|()| f.sync_data())
            .and_then(|()| f.write_all_at(&neutral(self.written.tail_len), self.written.tail_at))
            .and_then(|()| f.write_all_at(&length.to_be_bytes(), self.len_at))
            .and_then(|()| f.sync_data())
            .map_err(|e| write_error(&self.path, &e))?;
        next.tail_at = end + (body.len() - tail.len()) as u64;
        next.tail_len = tail.len() as u64;
        self.written = next;
        self.unsaved.clear();
        Ok(())
    }

    /// What was written. Its length is the take's, from `record` to now (as `record` alone
    /// counts it), not up to the last note: a take that ends in silence lasted as long.
    fn summary(&self) -> Summary {
        let last = self
            .written
            .last_at
            .map_or(Instant::now(), |l| l.max(Instant::now()));
        Summary {
            path: self.path.clone(),
            tracks: self
                .written
                .sources
                .iter()
                .map(|s| (s.name.to_string(), s.notes))
                .collect(),
            seconds: last.saturating_duration_since(self.started).as_secs_f64(),
            lost: 0,
        }
    }

    /// Replaces the file, atomically, with the conductor (the tempo as played) and a track
    /// per source, each read back from the recording track in one pass and made fit for a
    /// DAW (see [`Cleaner`]).
    fn finish(&mut self) -> Result<Summary, String> {
        let names: Vec<Arc<str>> = self
            .written
            .sources
            .iter()
            .map(|s| s.name.clone())
            .collect();
        let end = self.written.last_tick;
        let region = (self.data_at, self.written.tail_at);
        let (tempo, meter) = (self.tempo, self.meter);
        let programs = &self.programs;
        let file = &self.file;
        crate::fsio::write_with(&self.path, |f| -> io::Result<()> {
            let mut w = BufWriter::new(f);
            w.write_all(&header(1 + names.len()))?;
            let start = w.stream_position()?;
            w.write_all(b"MTrk\0\0\0\0")?;
            let opening = conductor_start(tempo, meter);
            w.write_all(&opening)?;
            let mut track = Track {
                length: opening.len() as u64,
                last: 0,
                data: Vec::new(),
            };
            let mut events = Events::new(file, region);
            while let Some((tick, _, b, len)) = events.next()? {
                if len == 0 {
                    track.put(&mut w, tick, &[0xFF, 0x51, 3, b[0], b[1], b[2]])?;
                }
            }
            track.close(&mut w, start)?;
            for name in &names {
                let start = w.stream_position()?;
                w.write_all(b"MTrk\0\0\0\0")?;
                let mut data = Vec::new();
                meta(&mut data, 0, 0x03, name.as_bytes());
                for (_, p) in programs.iter().filter(|(n, _)| **n == **name) {
                    data.extend_from_slice(&[0, p[0], p[1]]);
                }
                w.write_all(&data)?;
                let mut track = Track {
                    length: data.len() as u64,
                    last: 0,
                    data,
                };
                let mut clean = Cleaner::new();
                let mut events = Events::new(file, region);
                while let Some((tick, source, b, len)) = events.next()? {
                    if len > 0 && *source == **name {
                        clean.put(&mut track, &mut w, tick, &b[..len])?;
                    }
                }
                clean.end(&mut track, &mut w, end)?;
                track.close(&mut w, start)?;
            }
            w.flush()
        })
        .map_err(|e| write_error(&self.path, &e))?;
        self.done = true;
        Ok(self.summary())
    }
}

type Out<'a> = BufWriter<&'a mut File>;

/// A track of the final file being written: its length so far and its last tick.
struct Track {
    length: u64,
    last: u64,
    data: Vec<u8>,
}

impl Track {
    /// Writes `msg` at `tick`, or at the last tick if that is later.
    fn put(&mut self, w: &mut Out, tick: u64, msg: &[u8]) -> io::Result<()> {
        let tick = tick.max(self.last);
        self.data.clear();
        varlen(&mut self.data, (tick - self.last).min(MAX_DELTA) as u32);
        self.data.extend_from_slice(msg);
        self.last = tick;
        self.length += self.data.len() as u64;
        w.write_all(&self.data)
    }

    /// Ends the track begun at `start` and writes its length there.
    fn close(mut self, w: &mut Out, start: u64) -> io::Result<()> {
        let at = self.last;
        self.put(w, at, &[0xFF, 0x2F, 0])?;
        let length =
            u32::try_from(self.length).map_err(|_| io::Error::other("a track longer than 4 GB"))?;
        w.seek(SeekFrom::Start(start + 4))?;
        w.write_all(&length.to_be_bytes())?;
        w.seek(SeekFrom::End(0))?;
        Ok(())
    }
}

/// What makes one source's messages a track a DAW reads as played: a note-off for a key the
/// track never pressed (a note sounding when `record` started) is dropped, and a note-off
/// at the very tick of its note-on moves one tick (about half a millisecond) later, so no
/// note has zero length and every note the synth heard is kept. Notes still sounding at
/// the end end there (a tick after their start at least).
struct Cleaner {
    sounding: [u128; 16],
    /// The tick of each sounding key's note-on, per channel.
    pressed: Box<[[u64; 128]; 16]>,
    /// Note-offs moved a tick later, not yet written: (tick, channel, key).
    later: Vec<(u64, u8, u8)>,
}

impl Cleaner {
    fn new() -> Cleaner {
        Cleaner {
            sounding: [0; 16],
            pressed: Box::new([[0; 128]; 16]),
            later: Vec::new(),
        }
    }

    /// Writes the moved note-offs due by `tick` (all of them with `all`).
    fn flush(&mut self, t: &mut Track, w: &mut Out, tick: u64, all: bool) -> io::Result<()> {
        let mut i = 0;
        while i < self.later.len() {
            let (at, ch, key) = self.later[i];
            if all || at <= tick {
                self.later.remove(i);
                t.put(w, at, &[0x80 | ch, key, 0])?;
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    fn put(&mut self, t: &mut Track, w: &mut Out, tick: u64, msg: &[u8]) -> io::Result<()> {
        let (ch, key) = (msg[0] & 15, msg.get(1).map_or(0, |k| k & 127));
        let (c, k) = (usize::from(ch), usize::from(key));
        let bit = 1u128 << key;
        let on = msg[0] & 0xF0 == 0x90 && msg[2] > 0;
        let off = matches!(msg[0] & 0xF0, 0x80 | 0x90) && !on;
        // The same key pressed again before its moved note-off: that note-off comes first.
        let again = on && self.later.iter().any(|&(_, lc, lk)| (lc, lk) == (ch, key));
        self.flush(t, w, tick, again)?;
        if off {
            if self.sounding[c] & bit == 0 {
                return Ok(());
            }
            self.sounding[c] &= !bit;
            if tick.max(t.last) <= self.pressed[c][k] {
                self.later.push((self.pressed[c][k] + 1, ch, key));
                return Ok(());
            }
        }
        t.put(w, tick, msg)?;
        if on {
            self.sounding[c] |= bit;
            self.pressed[c][k] = t.last;
        } else if msg[0] & 0xF0 == 0xB0 && (key == 123 || key == 120) {
            self.sounding[c] = 0;
        }
        Ok(())
    }

    /// Ends every note still sounding at `end`.
    fn end(&mut self, t: &mut Track, w: &mut Out, end: u64) -> io::Result<()> {
        self.flush(t, w, 0, true)?;
        for (c, keys) in self.sounding.iter().enumerate() {
            for key in (0..128u8).filter(|k| keys & (1u128 << k) != 0) {
                let at = end.max(self.pressed[c][usize::from(key)] + 1);
                t.put(w, at, &[0x80 | c as u8, key, 0])?;
            }
        }
        Ok(())
    }
}

/// A message read back: its tick, its source, its bytes and how many there are (0: a
/// tempo, as in [`Event`]).
type ReadBack = (u64, Arc<str>, [u8; 3], usize);

/// The messages of the recording track, read back from disk a block at a time.
struct Events<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    at: usize,
    tick: u64,
    source: Arc<str>,
}

impl<'a> Events<'a> {
    fn new(file: &'a File, (start, end): (u64, u64)) -> Events<'a> {
        Events {
            file,
            pos: start,
            end,
            buf: Vec::new(),
            at: 0,
            tick: 0,
            source: Arc::from(""),
        }
    }

    fn byte(&mut self) -> io::Result<u8> {
        if self.at == self.buf.len() {
            let n = (self.end - self.pos).min(1 << 16) as usize;
            if n == 0 {
                return Err(changed());
            }
            self.buf.resize(n, 0);
            self.file.read_exact_at(&mut self.buf, self.pos)?;
            self.pos += n as u64;
            self.at = 0;
        }
        self.at += 1;
        Ok(self.buf[self.at - 1])
    }

    fn varlen(&mut self) -> io::Result<u64> {
        let mut v = 0u64;
        for _ in 0..4 {
            let b = self.byte()?;
            v = (v << 7) | u64::from(b & 0x7F);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(changed())
    }

    fn done(&self) -> bool {
        self.at == self.buf.len() && self.pos == self.end
    }

    fn next(&mut self) -> io::Result<Option<ReadBack>> {
        while !self.done() {
            self.tick += self.varlen()?;
            let status = self.byte()?;
            if status == 0xFF {
                let kind = self.byte()?;
                let len = self.varlen()?;
                let mut data = Vec::new();
                for _ in 0..len {
                    let b = self.byte()?;
                    // Only a marker's or a tempo's data is kept; a neutralized tail's is
                    // skipped.
                    if (kind == 0x7F && (!data.is_empty() || b == TMS_ID)) || kind == 0x51 {
                        data.push(b);
                    }
                }
                if let (0x51, &[a, b, c]) = (kind, data.as_slice()) {
                    return Ok(Some((self.tick, self.source.clone(), [a, b, c], 0)));
                }
                if let Some((&TMS_ID, name)) = data.split_first() {
                    self.source = Arc::from(String::from_utf8_lossy(name).as_ref());
                }
                continue;
            }
            let len = match status & 0xF0 {
                0x80 | 0x90 | 0xA0 | 0xB0 | 0xE0 => 3,
                0xC0 | 0xD0 => 2,
                _ => return Err(changed()),
            };
            let mut b = [status, 0, 0];
            for x in b.iter_mut().take(len).skip(1) {
                *x = self.byte()?;
            }
            return Ok(Some((self.tick, self.source.clone(), b, len)));
        }
        Ok(None)
    }
}

fn changed() -> io::Error {
    io::Error::other("the recording track on disk is not as tms wrote it")
}

fn lock(take: &Mutex<Take>) -> MutexGuard<'_, Take> {
    take.lock().unwrap_or_else(|p| p.into_inner())
}

fn opening_programs(programs: &[(String, u8, u8)]) -> Vec<(Arc<str>, [u8; 2])> {
    programs
        .iter()
        .map(|(name, ch, p)| (Arc::from(name.as_str()), [0xC0 | (ch & 15), p & 127]))
        .collect()
}

/// A recording in progress: the writer thread and how to stop it.
pub struct Recording {
    tape: Tape,
    take: Arc<Mutex<Take>>,
    path: PathBuf,
    stop: Sender<()>,
    writer: Option<JoinHandle<()>>,
}

/// The recording that a second Ctrl-C must still write before tms exits.
type Active = (Tape, Arc<Mutex<Take>>, PathBuf);
static ACTIVE: Mutex<Option<Active>> = Mutex::new(None);

impl Recording {
    /// Starts recording into `path`, a `.mid` or `.midi` name, created at once so that a
    /// bad path fails now. An existing file is refused unless `overwrite`.
    pub fn start(
        tape: &Tape,
        path: &Path,
        overwrite: bool,
        tempo: f64,
        meter: Meter,
    ) -> Result<Recording, String> {
        let take = Arc::new(Mutex::new(Take::create(path, overwrite, tempo, meter)?));
        tape.set(true);
        let (stop, stopped) = mpsc::channel::<()>();
        let (t, k) = (tape.clone(), take.clone());
        let writer = std::thread::Builder::new()
            .name("tms-record".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(SAVE_EVERY) {
                    let mut take = lock(&k);
                    if take.done {
                        return;
                    }
                    // A failure (full disk) keeps the messages; the next second or
                    // `record stop` tries again and reports it.
                    let _ = take.append(t.take());
                }
            })
            .map_err(|e| format!("cannot start recording: {e}"))?;
        if let Ok(mut a) = ACTIVE.lock() {
            *a = Some((tape.clone(), take.clone(), path.to_path_buf()));
        }
        Ok(Recording {
            tape: tape.clone(),
            take,
            path: path.to_path_buf(),
            stop,
            writer: Some(writer),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A change of tempo: into the conductor track at its time.
    pub fn tempo(&self, bpm: f64) {
        self.tape.tempo(bpm);
    }

    /// The controls whose tempo is played (the first voice's), starting at `bpm`: a change
    /// made there without `set tempo` (`clock in`, a knob) is kept with the next message
    /// played or heard.
    pub fn follow_tempo(&self, controls: Arc<Controls>, bpm: f64) {
        if let Ok(mut f) = self.tape.follow.lock() {
            *f = Some((controls, bpm));
        }
    }

    /// The program each voice has as the take starts (its name, channel 0 to 15, program):
    /// each voice's track in the final file begins with it.
    pub fn programs(&self, programs: &[(String, u8, u8)]) {
        lock(&self.take).programs = opening_programs(programs);
    }

    /// Seconds recorded and messages kept so far.
    pub fn progress(&self) -> (f64, usize) {
        let take = lock(&self.take);
        let kept = take.written.events + take.unsaved.len() + self.tape.waiting();
        (take.started.elapsed().as_secs_f64(), kept)
    }

    /// Ends the recording and writes the final file. On failure (a full disk) the
    /// recording keeps running and the error says so: try again.
    pub fn stop(mut self) -> Result<Summary, Box<(Recording, String)>> {
        let result = {
            let mut take = lock(&self.take);
            let rest = self.tape.set(false);
            let result = take.append(rest).and_then(|()| take.finish());
            if result.is_err() {
                self.tape.set(true);
            }
            result
        };
        match result {
            Ok(mut summary) => {
                summary.lost = self.tape.lost();
                let _ = self.stop.send(());
                if let Some(w) = self.writer.take() {
                    let _ = w.join();
                }
                if let Ok(mut a) = ACTIVE.lock() {
                    *a = None;
                }
                Ok(summary)
            }
            Err(e) => Err(Box::new((self, e))),
        }
    }
}

/// Writes the running recording's final file: called on the way out of a forced exit (a
/// second Ctrl-C or SIGTERM), where no destructor runs.
pub fn save_on_exit() {
    let active = match ACTIVE.try_lock() {
        Ok(a) => a.clone(),
        Err(_) => None,
    };
    let Some((tape, take, path)) = active else {
        return;
    };
    // The writer holds the take for an append, `record stop` for the final write: both
    // end soon. If it stays held, the file on disk is whole as it stands.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut take = loop {
        match take.try_lock() {
            Ok(t) => break t,
            Err(TryLockError::Poisoned(p)) => break p.into_inner(),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(TryLockError::WouldBlock) => {
                eprintln!(
                    "tms: {} holds the recording up to the last second, in one track",
                    path.display()
                );
                return;
            }
        }
    };
    if take.done {
        return;
    }
    let rest = tape.set(false);
    let appended = take.append(rest);
    match take.finish() {
        Ok(_) => eprintln!("tms: recording saved in {}", take.path.display()),
        Err(e) => match appended {
            Ok(()) => eprintln!(
                "tms: {e}; {} holds everything recorded, in one track",
                take.path.display()
            ),
            Err(_) => eprintln!("tms: {e}"),
        },
    }
}

/// A recording driven by hand, for benches/record.rs and the tests: no tape and no writer
/// thread; [`Manual::save`] does what the writer does each second.
#[doc(hidden)]
pub struct Manual {
    take: Take,
}

#[doc(hidden)]
impl Manual {
    pub fn start(path: &Path, overwrite: bool, tempo: f64, meter: Meter) -> Result<Manual, String> {
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
    pub fn save(&mut self) -> Result<(), String> {
        self.take.append(Vec::new())
    }

    pub fn finish(&mut self) -> Result<Summary, String> {
        self.take.append(Vec::new())?;
        self.take.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use midly::{MetaMessage, Smf, TrackEvent, TrackEventKind};

    /// Checks what lenient readers let pass: the declared number of chunks, each exactly as
    /// long as it says, each track's events whole and ending with its one end of track, and
    /// nothing after the last chunk.
    fn strictly_valid(bytes: &[u8]) {
        assert_eq!(&bytes[..8], b"MThd\0\0\0\x06");
        let tracks = u16::from_be_bytes([bytes[10], bytes[11]]);
        let mut at = 14;
        for _ in 0..tracks {
            assert_eq!(&bytes[at..at + 4], b"MTrk");
            let len = u32::from_be_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
            let track = &bytes[at + 8..at + 8 + len];
            let mut iter = midly::EventIter::new(track);
            let events = iter
                .by_ref()
                .collect::<Result<Vec<_>, _>>()
                .expect("every event whole");
            assert!(iter.unread().is_empty(), "a cut event");
            let ends = events
                .iter()
                .filter(|e| matches!(e.kind, TrackEventKind::Meta(MetaMessage::EndOfTrack)))
                .count();
            assert_eq!(ends, 1);
            assert!(matches!(
                events.last().unwrap().kind,
                TrackEventKind::Meta(MetaMessage::EndOfTrack)
            ));
            at += 8 + len;
        }
        assert_eq!(at, bytes.len(), "bytes after the last chunk");
    }

    fn name(t: &[TrackEvent]) -> String {
        match t[0].kind {
            TrackEventKind::Meta(MetaMessage::TrackName(n)) => {
                String::from_utf8_lossy(n).into_owned()
            }
            _ => String::new(),
        }
    }

    fn ticks(t: &[TrackEvent]) -> Vec<u32> {
        t.iter()
            .scan(0, |t, e| {
                *t += e.delta.as_int();
                Some(*t)
            })
            .collect()
    }

    fn manual(dir: &Path) -> (PathBuf, Manual) {
        let path = dir.join("set.mid");
        let m = Manual::start(&path, false, 120.0, Meter::parse("3/4").unwrap()).unwrap();
        (path, m)
    }

    #[test]
    fn tracks_are_named_timed_and_every_note_ends() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut m) = manual(dir.path());
        let (main, input): (Arc<str>, Arc<str>) = (Arc::from("main"), Arc::from("input"));
        // Pushed out of order, as two threads may; the held note never gets its note-off.
        m.push_at(&main, &[0x90, 60, 100], 0.5);
        m.push_at(&input, &[0x90, 64, 80], 0.25);
        m.save().unwrap();
        m.push_at(&main, &[0x80, 60, 0], 1.0);
        m.push_at(&input, &[0x80, 64, 0], 0.75);
        m.push_at(&main, &[0x91, 67, 90], 1.5);
        m.save().unwrap();
        let sum = m.finish().unwrap();
        assert_eq!(
            sum.tracks,
            [("input".to_string(), 1), ("main".to_string(), 2)]
        );
        let bytes = std::fs::read(&path).unwrap();
        strictly_valid(&bytes);
        let smf = Smf::parse(&bytes).unwrap();
        assert_eq!(smf.tracks.len(), 3);
        assert_eq!(name(&smf.tracks[1]), "input");
        assert_eq!(name(&smf.tracks[2]), "main");
        assert!(smf.tracks[0].iter().any(|e| matches!(
            e.kind,
            TrackEventKind::Meta(MetaMessage::TimeSignature(3, 2, _, _))
        )));
        // At 120 BPM and 960 ticks per quarter a second is 1,920 ticks.
        assert_eq!(ticks(&smf.tracks[2])[1..4], [960, 1920, 2880]);
        assert_eq!(ticks(&smf.tracks[1])[1..3], [480, 1440]);
        // The held note ends at the last message.
        let last = smf.tracks[2][smf.tracks[2].len() - 2].kind;
        assert!(matches!(
            last,
            TrackEventKind::Midi {
                message: midly::MidiMessage::NoteOff { .. },
                ..
            }
        ));
    }

    /// Checks a final track as a DAW needs it: every note-off ends a note that sounds,
    /// later than it started, and nothing sounds at the end; returns the notes as
    /// (start, end, key).
    fn notes(t: &[TrackEvent]) -> Vec<(u32, u32, u8)> {
        let mut down: std::collections::HashMap<(u8, u8), u32> = Default::default();
        let mut out = Vec::new();
        for (tick, e) in ticks(t).into_iter().zip(t) {
            let TrackEventKind::Midi { channel, message } = e.kind else {
                continue;
            };
            let (key, on) = match message {
                midly::MidiMessage::NoteOn { key, vel } => (key.as_int(), vel > 0),
                midly::MidiMessage::NoteOff { key, .. } => (key.as_int(), false),
                _ => continue,
            };
            let k = (channel.as_int(), key);
            if on {
                assert!(down.insert(k, tick).is_none(), "key {key} struck twice");
            } else {
                let start = down.remove(&k).unwrap_or_else(|| {
                    panic!("a note-off at {tick} for key {key}, which was not on")
                });
                assert!(tick > start, "a zero-length note: key {key} at {tick}");
                out.push((start, tick, key));
            }
        }
        assert!(down.is_empty(), "notes hang: {down:?}");
        out
    }

    fn tempos(t: &[TrackEvent]) -> Vec<(u32, u32)> {
        ticks(t)
            .into_iter()
            .zip(t)
            .filter_map(|(tick, e)| match e.kind {
                TrackEventKind::Meta(MetaMessage::Tempo(m)) => Some((tick, m.as_int())),
                _ => None,
            })
            .collect()
    }

    fn programs(t: &[TrackEvent]) -> Vec<(u32, u8)> {
        ticks(t)
            .into_iter()
            .zip(t)
            .filter_map(|(tick, e)| match e.kind {
                TrackEventKind::Midi {
                    message: midly::MidiMessage::ProgramChange { program },
                    ..
                } => Some((tick, program.as_int())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_tempo_change_lands_in_the_conductor_at_its_time_and_ticks_follow_it() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut m) = manual(dir.path());
        let main: Arc<str> = Arc::from("main");
        m.push_at(&main, &[0x90, 60, 100], 0.5);
        m.push_at(&main, &[0x80, 60, 0], 0.75);
        // Half the speed after one second: a second then is 960 ticks, not 1,920; at 240
        // BPM it is 3,840.
        m.tempo_at(60.0, 1.0);
        m.save().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        strictly_valid(&bytes);
        m.push_at(&main, &[0x90, 62, 100], 2.0);
        m.push_at(&main, &[0x80, 62, 0], 2.5);
        m.tempo_at(240.0, 3.0);
        m.push_at(&main, &[0x90, 64, 100], 3.5);
        m.push_at(&main, &[0x80, 64, 0], 4.0);
        m.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        strictly_valid(&bytes);
        let smf = Smf::parse(&bytes).unwrap();
        assert_eq!(
            tempos(&smf.tracks[0]),
            [(0, 500_000), (1920, 1_000_000), (3840, 250_000)]
        );
        assert!(smf.tracks[0].iter().any(|e| matches!(
            e.kind,
            TrackEventKind::Meta(MetaMessage::TimeSignature(3, 2, _, _))
        )));
        assert_eq!(
            notes(&smf.tracks[1]),
            [(960, 1440, 60), (2880, 3360, 62), (5760, 7680, 64)]
        );
    }

    #[test]
    fn each_track_starts_with_its_voices_program_and_keeps_its_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut m) = manual(dir.path());
        let (piano, bass): (Arc<str>, Arc<str>) = (Arc::from("piano"), Arc::from("bass"));
        m.programs(&[
            ("piano".to_string(), 0, 5),
            ("bass".to_string(), 1, 33),
            ("silent".to_string(), 2, 40),
        ]);
        m.push_at(&piano, &[0x90, 60, 100], 0.5);
        m.push_at(&bass, &[0x91, 40, 100], 0.5);
        m.push_at(&piano, &[0x80, 60, 0], 0.75);
        m.push_at(&bass, &[0x81, 40, 0], 0.75);
        // `set program 7` during the take: the player sends it before the next note.
        m.push_at(&piano, &[0xC0, 7], 1.0);
        m.push_at(&piano, &[0x90, 62, 100], 1.0);
        m.push_at(&piano, &[0x80, 62, 0], 1.25);
        let sum = m.finish().unwrap();
        assert_eq!(
            sum.tracks.len(),
            2,
            "a voice that never played has no track"
        );
        let bytes = std::fs::read(&path).unwrap();
        strictly_valid(&bytes);
        let smf = Smf::parse(&bytes).unwrap();
        assert_eq!(name(&smf.tracks[1]), "piano");
        assert_eq!(programs(&smf.tracks[1]), [(0, 5), (1920, 7)]);
        assert_eq!(name(&smf.tracks[2]), "bass");
        assert_eq!(programs(&smf.tracks[2]), [(0, 33)]);
        assert!(matches!(
            smf.tracks[2][1].kind,
            TrackEventKind::Midi { channel, .. } if channel.as_int() == 1
        ));
    }

    #[test]
    fn a_note_off_for_a_note_struck_before_the_take_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut m) = manual(dir.path());
        let main: Arc<str> = Arc::from("main");
        // Key 60 sounded when `record` started; key 62 is another track's.
        m.push_at(&main, &[0x80, 60, 0], 0.1);
        m.push_at(&main, &[0x90, 64, 0], 0.2);
        m.push_at(&main, &[0x90, 62, 100], 0.5);
        m.push_at(&main, &[0x80, 62, 0], 1.0);
        m.push_at(&main, &[0x80, 62, 0], 1.1);
        m.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        strictly_valid(&bytes);
        let smf = Smf::parse(&bytes).unwrap();
        assert_eq!(notes(&smf.tracks[1]), [(960, 1920, 62)]);
    }

    #[test]
    fn a_zero_length_note_ends_a_tick_later_and_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut m) = manual(dir.path());
        let main: Arc<str> = Arc::from("main");
        // Struck and released at once, then struck again at that same moment.
        m.push_at(&main, &[0x90, 60, 100], 0.5);
        m.push_at(&main, &[0x80, 60, 0], 0.5);
        m.push_at(&main, &[0x90, 64, 100], 0.5);
        m.push_at(&main, &[0x90, 64, 0], 0.5);
        m.push_at(&main, &[0x90, 64, 90], 0.5);
        m.push_at(&main, &[0x80, 64, 0], 1.0);
        // The last message: still sounding at the end, which is its own tick.
        m.push_at(&main, &[0x90, 67, 100], 1.5);
        let sum = m.finish().unwrap();
        assert_eq!(sum.tracks, [("main".to_string(), 4)]);
        let bytes = std::fs::read(&path).unwrap();
        strictly_valid(&bytes);
        let smf = Smf::parse(&bytes).unwrap();
        let mut got = notes(&smf.tracks[1]);
        got.sort_by_key(|n| (n.0, n.2));
        assert_eq!(
            got,
            [
                (960, 961, 60),
                (960, 961, 64),
                (961, 1920, 64),
                (2880, 2881, 67)
            ]
        );
    }

    #[test]
    fn the_file_is_whole_after_every_second_and_holds_everything_so_far() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut m) = manual(dir.path());
        let (main, input): (Arc<str>, Arc<str>) = (Arc::from("main"), Arc::from("input"));
        let mut pressed = 0;
        // 40 "seconds"; 0..=40 keys held at once, so the tail's length passes 132 bytes.
        for second in 0..40u8 {
            for k in 0..=second {
                let t = f64::from(second) + f64::from(k) / 100.0;
                m.push_at(&main, &[0x90, 20 + k, 90], t);
                pressed += 1;
                if k % 3 == 0 {
                    m.push_at(&input, &[0x91, 20 + k, 90], t);
                    m.push_at(&input, &[0x81, 20 + k, 0], t + 0.001);
                    pressed += 1;
                }
            }
            m.save().unwrap();
            let bytes = std::fs::read(&path).unwrap();
            strictly_valid(&bytes);
            let smf = Smf::parse(&bytes).unwrap();
            assert_eq!(smf.tracks.len(), 2);
            assert_eq!(name(&smf.tracks[1]), "recording");
            let mut ons = 0;
            let mut down = [[false; 128]; 16];
            for e in &smf.tracks[1] {
                if let TrackEventKind::Midi { channel, message } = e.kind {
                    let (ch, key) = match message {
                        midly::MidiMessage::NoteOn { key, vel } if vel > 0 => {
                            ons += 1;
                            down[usize::from(channel.as_int())][usize::from(key.as_int())] = true;
                            continue;
                        }
                        midly::MidiMessage::NoteOff { key, .. }
                        | midly::MidiMessage::NoteOn { key, .. } => (channel, key),
                        _ => continue,
                    };
                    down[usize::from(ch.as_int())][usize::from(key.as_int())] = false;
                }
            }
            assert_eq!(ons, pressed, "second {second}");
            assert!(down.iter().flatten().all(|d| !d), "a note hangs");
        }
        let sum = m.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        strictly_valid(&bytes);
        let smf = Smf::parse(&bytes).unwrap();
        let count = |t: &[TrackEvent]| {
            t.iter()
                .filter(|e| {
                    matches!(e.kind, TrackEventKind::Midi { message: midly::MidiMessage::NoteOn { vel, .. }, .. } if vel > 0)
                })
                .count()
        };
        assert_eq!(count(&smf.tracks[1]) + count(&smf.tracks[2]), pressed);
        assert_eq!(sum.tracks[0].1 + sum.tracks[1].1, pressed);
    }

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

    #[test]
    fn a_path_that_cannot_be_written_fails_at_the_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "a file, not a folder").unwrap();
        let path = dir.path().join("notes.txt/set.mid");
        let err = match Recording::start(&Tape::default(), &path, false, 120.0, Meter::default()) {
            Err(e) => e,
            Ok(_) => panic!("recording under a file started"),
        };
        assert!(err.starts_with("cannot write recording"), "{err}");
    }

    #[test]
    fn every_tail_length_can_be_neutralized() {
        for count in 0..=2048u64 {
            let len = if count == 32 {
                33 * 4 + 4
            } else {
                count * 4 + 4
            };
            let head = neutral(len);
            let mut tail = vec![0u8; len as usize];
            tail[..head.len()].copy_from_slice(&head);
            let mut iter = midly::EventIter::new(&tail);
            assert_eq!(iter.by_ref().count(), 1, "tail of {len} bytes");
            assert!(iter.unread().is_empty(), "tail of {len} bytes");
        }
    }
}
