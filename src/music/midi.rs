//! Standard MIDI files in and out.
//!
//! Reading must give exactly the notes the original notebook got from `pretty_midi` (0.2.11,
//! which reads through `mido`): the first instrument, times through its tempo map, its way of
//! pairing note-ons with note-offs, and errors on the files `mido` refuses. midly's reader
//! cannot promise that (in its default mode it silently cuts a malformed track short, in its
//! strict mode it refuses files mido reads), so reading walks the bytes itself, following
//! mido's rules, without allocating per event. Writing goes through midly.
//!
//! pretty_midi's rules replicated here (see `pretty_midi.py`, `_load_tempo_changes`,
//! `_update_tick_to_time`, `_load_instruments`):
//! - Tempo comes from track 0 only (tempo events in other tracks are ignored, with a warning
//!   in pretty_midi); a tempo at tick 0 replaces the 120 BPM default; a later one that repeats
//!   the current tempo is dropped.
//! - Notes belong to an instrument keyed by (program, channel, track), where the program is
//!   the channel's latest program change *at the note-off*; instruments are listed in the order
//!   their first note was closed, so "the first instrument" is the one owning the first note
//!   that ends while reading tracks in file order. Channel 9 (drums) is not special here.
//! - A note-off (or note-on with velocity 0) closes every open note of that channel and pitch
//!   that started on an earlier tick, oldest first; notes opened on the same tick stay open if
//!   some older note was closed, otherwise they are discarded with the rest. A note-off with
//!   no open note is ignored; notes still open at the end of their track are dropped.
//! - The velocity is the note-on's.
//!
//! One deliberate difference: files with SMPTE time division (negative division) get real
//! SMPTE timing (ticks / (frames per second x ticks per frame)), where pretty_midi computes
//! negative times.

use crate::music::meter::{Bars, Meter};
use crate::music::note::{sort_notes, Note};

/// Why a file could not be read. Tracks count from 1, as a user would number them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MidiError {
    #[error("not a MIDI file (no MThd header)")]
    NotMidi,
    #[error("truncated MIDI header")]
    TruncatedHeader,
    #[error("ticks per quarter note is zero")]
    ZeroDivision,
    #[error("the file has no tracks")]
    NoTracks,
    #[error("the header promises {expected} tracks but the file ends after {found}")]
    MissingTracks { expected: usize, found: usize },
    #[error("found a `{id}` chunk where track {track} should start")]
    NotATrack { track: usize, id: String },
    #[error("truncated track {track}")]
    TruncatedTrack { track: usize },
    #[error("track {track} is empty")]
    EmptyTrack { track: usize },
    #[error("an event in track {track} runs past the end of the track")]
    TrackOverrun { track: usize },
    #[error("running status without a previous status byte in track {track}")]
    NoRunningStatus { track: usize },
    #[error("undefined status byte 0x{status:02x} in track {track}")]
    UndefinedStatus { track: usize, status: u8 },
    #[error("data byte 0x{byte:02x} above 127 in track {track}")]
    BadDataByte { track: usize, byte: u8 },
    #[error("an event of {len} bytes in track {track} is longer than the 1000000 byte limit")]
    EventTooLong { track: usize, len: u64 },
    #[error("malformed {what} event in track {track}")]
    BadMeta { track: usize, what: &'static str },
    #[error("tempo of zero microseconds per beat in track 1")]
    ZeroTempo,
    #[error("largest tick is {tick}: the file is likely corrupt")]
    TickTooLarge { tick: u64 },
}

/// pretty_midi refuses files whose largest tick (plus one) exceeds this (its `MAX_TICK`).
/// The writer keeps under it too, so that whatever `write` makes, `load` reads.
pub const MAX_TICK: u64 = 10_000_000;
/// mido refuses to read a single event longer than this (its `MAX_MESSAGE_LENGTH`).
const MAX_MESSAGE_LENGTH: u64 = 1_000_000;
/// One open-note list per (channel, pitch).
const KEYS: usize = 16 * 128;
const NONE: usize = usize::MAX;

/// What the note extraction needs from one event; everything else is only validated.
enum Event {
    NoteOn {
        channel: u8,
        pitch: u8,
        velocity: u8,
    },
    NoteOff {
        channel: u8,
        pitch: u8,
    },
    Program {
        channel: u8,
        program: u8,
    },
    Tempo(u32),
    /// Numerator and the denominator's power of two.
    TimeSignature(u8, u8),
    Other,
}

/// Reads the events of one track chunk the way mido's `read_track` does.
struct TrackReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Where the chunk says it ends; may lie past the end of the file.
    end: usize,
    track: usize,
    running: Option<u8>,
}

impl<'a> TrackReader<'a> {
    fn byte(&mut self) -> Result<u8, MidiError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or(MidiError::TruncatedTrack { track: self.track })?;
        self.pos += 1;
        Ok(b)
    }

    /// A variable-length quantity. mido accepts any number of bytes; the value saturates
    /// instead of overflowing (anything that large is refused later as a corrupt tick).
    fn varint(&mut self) -> Result<u64, MidiError> {
        let mut value: u64 = 0;
        loop {
            let b = self.byte()?;
            value = if value > (u64::MAX >> 8) {
                u64::MAX
            } else {
                (value << 7) | u64::from(b & 0x7f)
            };
            if b < 0x80 {
                return Ok(value);
            }
        }
    }

    /// Skips `len` bytes of payload, returning them.
    fn take(&mut self, len: u64) -> Result<&'a [u8], MidiError> {
        if len > MAX_MESSAGE_LENGTH {
            return Err(MidiError::EventTooLong {
                track: self.track,
                len,
            });
        }
        // len <= 1e6 fits usize everywhere.
        let len = len as usize;
        let data = self
            .bytes
            .get(self.pos..self.pos.saturating_add(len))
            .ok_or(MidiError::TruncatedTrack { track: self.track })?;
        self.pos += len;
        Ok(data)
    }

    fn data_byte(&mut self) -> Result<u8, MidiError> {
        let b = self.byte()?;
        if b > 127 {
            return Err(MidiError::BadDataByte {
                track: self.track,
                byte: b,
            });
        }
        Ok(b)
    }

    /// The next (delta, event), or None at the end of the chunk.
    fn next_event(&mut self) -> Result<Option<(u64, Event)>, MidiError> {
        if self.pos == self.end {
            return Ok(None);
        }
        // mido only stops when it lands exactly on the chunk end; past it, it reads on into
        // whatever follows and always fails in the end.
        if self.pos > self.end {
            return Err(MidiError::TrackOverrun { track: self.track });
        }
        let delta = self.varint()?;
        let mut status = self.byte()?;
        let mut peek = None;
        if status < 0x80 {
            peek = Some(status);
            status = self
                .running
                .ok_or(MidiError::NoRunningStatus { track: self.track })?;
        } else if status != 0xff {
            // mido lets every non-meta status, sysex included, become the running status.
            self.running = Some(status);
        }
        let event = match status {
            0xff => self.meta()?,
            0xf0 | 0xf7 => {
                // mido drops a running-status data byte here and reads the sysex length.
                let len = self.varint()?;
                self.take(len)?;
                Event::Other
            }
            _ => {
                let len = message_length(status).ok_or(MidiError::UndefinedStatus {
                    track: self.track,
                    status,
                })?;
                let mut data = [0u8; 2];
                let mut have = 0;
                if let Some(p) = peek {
                    if len < 2 {
                        // mido builds a message with one byte too many and refuses it.
                        return Err(MidiError::UndefinedStatus {
                            track: self.track,
                            status,
                        });
                    }
                    data[0] = p;
                    have = 1;
                }
                while have < len - 1 {
                    data[have] = self.data_byte()?;
                    have += 1;
                }
                let channel = status & 0x0f;
                match status & 0xf0 {
                    0x90 if data[1] > 0 => Event::NoteOn {
                        channel,
                        pitch: data[0],
                        velocity: data[1],
                    },
                    0x90 | 0x80 => Event::NoteOff {
                        channel,
                        pitch: data[0],
                    },
                    0xc0 => Event::Program {
                        channel,
                        program: data[0],
                    },
                    _ => Event::Other,
                }
            }
        };
        Ok(Some((delta, event)))
    }

    /// A meta event, failing where mido's decoders fail.
    fn meta(&mut self) -> Result<Event, MidiError> {
        let kind = self.byte()?;
        let len = self.varint()?;
        let data = self.take(len)?;
        let bad = |what| MidiError::BadMeta {
            track: self.track,
            what,
        };
        Ok(match kind {
            0x51 => match data {
                [a, b, c, ..] => Event::Tempo(u32::from_be_bytes([0, *a, *b, *c])),
                _ => return Err(bad("tempo")),
            },
            0x00 if data.len() == 1 => return Err(bad("sequence number")),
            0x20 if data.is_empty() => return Err(bad("channel prefix")),
            0x54 if data.len() < 5 || data[0] >> 5 > 3 => return Err(bad("SMPTE offset")),
            0x58 if data.len() < 4 => return Err(bad("time signature")),
            0x58 => Event::TimeSignature(data[0], data[1]),
            0x59 => match data {
                [key, mode, ..] if (-7..=7).contains(&(*key as i8)) && *mode <= 1 => Event::Other,
                _ => return Err(bad("key signature")),
            },
            _ => Event::Other,
        })
    }
}

/// Bytes in a message with this status, status included, as mido's message specs say.
fn message_length(status: u8) -> Option<usize> {
    match status {
        0x80..=0xbf | 0xe0..=0xef => Some(3),
        0xc0..=0xdf => Some(2),
        0xf1 | 0xf3 => Some(2),
        0xf2 => Some(3),
        0xf6 | 0xf8 | 0xfa | 0xfb | 0xfc | 0xfe => Some(1),
        _ => None,
    }
}

/// Note-ons waiting for their note-off: a FIFO list per (channel, pitch), threaded through
/// one pool so a file costs a handful of allocations however many notes it has.
struct OpenNotes {
    head: Vec<usize>,
    tail: Vec<usize>,
    /// (start tick, velocity, next index).
    pool: Vec<(u64, u8, usize)>,
}

impl OpenNotes {
    fn new() -> Self {
        OpenNotes {
            head: vec![NONE; KEYS],
            tail: vec![NONE; KEYS],
            pool: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.head.fill(NONE);
        self.tail.fill(NONE);
        self.pool.clear();
    }

    fn open(&mut self, key: usize, tick: u64, velocity: u8) {
        let i = self.pool.len();
        self.pool.push((tick, velocity, NONE));
        match self.tail[key] {
            NONE => self.head[key] = i,
            t => self.pool[t].2 = i,
        }
        self.tail[key] = i;
    }

    /// Closes the notes of `key` as pretty_midi does at a note-off on `tick`, calling `emit`
    /// with (start tick, velocity) of each closed note, oldest first.
    fn close(&mut self, key: usize, tick: u64, mut emit: impl FnMut(u64, u8)) {
        let mut i = self.head[key];
        let mut closed_any = false;
        // Start ticks never decrease along a list, so notes begun on this very tick (the ones
        // pretty_midi keeps) form its tail.
        while i != NONE {
            let (start, velocity, next) = self.pool[i];
            if start == tick {
                break;
            }
            emit(start, velocity);
            closed_any = true;
            i = next;
        }
        if closed_any && i != NONE {
            self.head[key] = i;
        } else {
            self.head[key] = NONE;
            self.tail[key] = NONE;
        }
    }
}

/// Converts ticks to seconds exactly as pretty_midi's `__tick_to_time` array does.
struct TempoMap {
    /// (first tick, seconds per tick, seconds at the first tick).
    segments: Vec<(u64, f64, f64)>,
}

impl TempoMap {
    fn new(resolution: f64) -> Self {
        TempoMap {
            segments: vec![(0, 60.0 / (120.0 * resolution), 0.0)],
        }
    }

    fn fixed(seconds_per_tick: f64) -> Self {
        TempoMap {
            segments: vec![(0, seconds_per_tick, 0.0)],
        }
    }

    /// A track-0 tempo event, in the order of the file.
    fn tempo(&mut self, tick: u64, scale: f64) {
        if tick == 0 {
            self.segments.clear();
            self.segments.push((0, scale, 0.0));
            return;
        }
        let &(start, last, base) = self.segments.last().unwrap_or(&(0, scale, 0.0));
        if scale != last {
            // numpy computes the time at the new segment's first tick from the previous one.
            let at = base + last * (tick - start) as f64;
            self.segments.push((tick, scale, at));
        }
    }

    fn seconds(&self, tick: u64) -> f64 {
        let k = self.segments.partition_point(|s| s.0 <= tick);
        match self.segments.get(k.wrapping_sub(1)) {
            Some(&(start, scale, base)) => base + scale * (tick - start) as f64,
            None => 0.0,
        }
    }
}

/// Notes of the first instrument exactly as pretty_midi extracts them, sorted by (start, pitch).
pub fn read_midi(bytes: &[u8]) -> Result<Vec<Note>, MidiError> {
    read_midi_bars(bytes).map(|(notes, _)| notes)
}

/// [`read_midi`], and where the file's bars fall: the meter of its time signature, and an
/// upbeat where a first time signature lasts exactly one bar before another follows (how
/// tms writes one: `1/4` at the start, then `3/4`).
pub fn read_midi_bars(bytes: &[u8]) -> Result<(Vec<Note>, Bars), MidiError> {
    if bytes.get(..4) != Some(b"MThd") {
        return Err(MidiError::NotMidi);
    }
    let header_len = chunk_len(bytes, 0).ok_or(MidiError::TruncatedHeader)?;
    let header = bytes
        .get(8..8usize.saturating_add(header_len).min(bytes.len()))
        .filter(|h| h.len() >= 6)
        .ok_or(MidiError::TruncatedHeader)?;
    // mido unpacks all three header words as signed shorts.
    let track_count = i16::from_be_bytes([header[2], header[3]]).max(0) as usize;
    let division = i16::from_be_bytes([header[4], header[5]]);
    if track_count == 0 {
        return Err(MidiError::NoTracks);
    }
    let (mut tempo, metrical) = match division {
        0 => return Err(MidiError::ZeroDivision),
        d if d > 0 => (TempoMap::new(f64::from(d)), true),
        d => {
            let [fps, ticks_per_frame] = d.to_be_bytes();
            // The high byte is minus the frame rate; widen first, as -(-128i8) overflows.
            let fps = match -i16::from(fps as i8) {
                29 => 29.97,
                f => f64::from(f),
            };
            if ticks_per_frame == 0 {
                return Err(MidiError::ZeroDivision);
            }
            (
                TempoMap::fixed(1.0 / (fps * f64::from(ticks_per_frame))),
                false,
            )
        }
    };
    let resolution = f64::from(division);

    let mut open = OpenNotes::new();
    let mut target: Option<(u8, u8, usize)> = None;
    // (start tick, end tick, pitch, velocity) of the first instrument's notes.
    let mut found: Vec<(u64, u64, u8, u8)> = Vec::new();
    let mut max_tick = 0u64;
    // (tick, numerator, denominator's power of two) of every time signature.
    let mut signatures: Vec<(u64, u8, u8)> = Vec::new();
    let mut pos = 8usize.saturating_add(header_len);
    for track in 1..=track_count {
        let id = bytes.get(pos..pos.saturating_add(4));
        let len = chunk_len(bytes, pos).ok_or(MidiError::MissingTracks {
            expected: track_count,
            found: track - 1,
        })?;
        if id != Some(b"MTrk") {
            let id = String::from_utf8_lossy(id.unwrap_or_default()).into_owned();
            return Err(MidiError::NotATrack { track, id });
        }
        let start = pos + 8;
        let mut reader = TrackReader {
            bytes,
            pos: start,
            end: start.saturating_add(len),
            track,
            running: None,
        };
        open.clear();
        let mut programs = [0u8; 16];
        let mut tick = 0u64;
        let mut events = 0usize;
        while let Some((delta, event)) = reader.next_event()? {
            events += 1;
            tick = tick.saturating_add(delta);
            match event {
                Event::NoteOn {
                    channel,
                    pitch,
                    velocity,
                } => open.open(key(channel, pitch), tick, velocity),
                Event::NoteOff { channel, pitch } => {
                    let instrument = (programs[usize::from(channel)], channel, track);
                    open.close(key(channel, pitch), tick, |start, velocity| {
                        let t = *target.get_or_insert(instrument);
                        if t == instrument {
                            found.push((start, tick, pitch, velocity));
                        }
                    });
                }
                Event::Program { channel, program } => programs[usize::from(channel)] = program,
                Event::Tempo(micros) if track == 1 && metrical => {
                    if micros == 0 {
                        return Err(MidiError::ZeroTempo);
                    }
                    let bpm = 6e7 / f64::from(micros);
                    tempo.tempo(tick, 60.0 / (bpm * resolution));
                }
                Event::TimeSignature(n, pow) => signatures.push((tick, n, pow)),
                Event::Tempo(_) | Event::Other => {}
            }
        }
        if events == 0 {
            return Err(MidiError::EmptyTrack { track });
        }
        max_tick = max_tick.max(tick);
        pos = reader.pos;
    }
    if max_tick.saturating_add(1) > MAX_TICK {
        return Err(MidiError::TickTooLarge { tick: max_tick });
    }

    let mut notes: Vec<Note> = found
        .iter()
        .map(|&(start, end, pitch, velocity)| {
            let start = tempo.seconds(start);
            Note {
                pitch,
                start,
                duration: tempo.seconds(end) - start,
                velocity,
            }
        })
        .collect();
    sort_notes(&mut notes);
    signatures.sort_by_key(|s| s.0);
    signatures.dedup();
    let meter = |&(_, n, pow): &(u64, u8, u8)| {
        let unit = 1u32.checked_shl(u32::from(pow))?;
        Meter::parse(&format!("{n}/{unit}")).ok()
    };
    let bars = match signatures.as_slice() {
        [] => Bars::default(),
        [first, second, ..] if first.0 == 0 && metrical => {
            // One bar of the first signature, in ticks (a quarter is `resolution` ticks).
            let bar = f64::from(first.1) * 4.0 * resolution / f64::from(1u32 << first.2.min(16));
            match (meter(second), (second.0 as f64 - bar).abs() < 0.5) {
                (Some(m), true) => Bars {
                    meter: Some(m),
                    upbeat: tempo.seconds(second.0),
                },
                _ => Bars {
                    meter: meter(first),
                    upbeat: 0.0,
                },
            }
        }
        [first, ..] => Bars {
            meter: meter(first),
            upbeat: 0.0,
        },
    };
    Ok((notes, bars))
}

fn key(channel: u8, pitch: u8) -> usize {
    usize::from(channel & 0x0f) * 128 + usize::from(pitch & 0x7f)
}

/// The length field of the chunk header at `pos`, if all 8 header bytes are there.
fn chunk_len(bytes: &[u8], pos: usize) -> Option<usize> {
    let b = bytes.get(pos.checked_add(4)?..pos.checked_add(8)?)?;
    usize::try_from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])).ok()
}

/// How `write_midi` shapes the file.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteOptions {
    /// General MIDI program (0-based), sent as a program change before the notes.
    pub program: u8,
    /// The tempo meta event; notes are placed assuming 120 BPM, so this scales playback speed.
    pub tempo_bpm: f64,
    /// MIDI channel 0..=15 (9 is drums).
    pub channel: u8,
    /// One velocity for every note, or None to keep each note's own.
    pub velocity: Option<u8>,
    /// Semitones added to every pitch (the result is clamped to 0..=127).
    pub transpose: i32,
    /// Resolution of the file.
    pub ticks_per_quarter: u16,
    /// The time signature.
    pub meter: Meter,
    /// Seconds before the first bar line: written as a time signature of that length at the
    /// start, the meter's after it (when the meter's unit or a shorter one counts it).
    pub upbeat: f64,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            program: 0,
            tempo_bpm: 120.0,
            channel: 0,
            velocity: None,
            transpose: 0,
            ticks_per_quarter: 480,
            meter: Meter::default(),
            upbeat: 0.0,
        }
    }
}

/// The largest note-on tick written: its note-off (at least one tick later) is then still
/// below the reader's `MAX_TICK`, and every delta fits midly's 28-bit field.
const LAST_ON_TICK: u64 = MAX_TICK - 2;

/// A format-1 SMF: track 0 with tempo + time signature 4/4, track 1 with program change and notes.
/// Note times are seconds at the reference tempo of 120 BPM (1 beat = 0.5 s), so beats = seconds*2;
/// the file's tempo meta is `tempo_bpm`: writing at 60 BPM makes the music play half as fast.
/// Pitches are transposed and clamped to 0..=127; zero-length notes still get at least 1 tick.
/// A melody too long for `MAX_TICK` at the asked resolution is written at a coarser one
/// (fewer ticks per quarter), so the file still reads back whole.
///
/// A note that starts while an earlier note of the same pitch still sounds ends that earlier
/// note (one channel cannot hold two of the same key; pretty_midi would otherwise end both at
/// the first note-off); two notes of one pitch starting on the same tick become the longer.
pub fn write_midi(notes: &[Note], opts: &WriteOptions) -> Vec<u8> {
    use midly::num::{u15, u24, u28, u4, u7};
    use midly::{
        Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind,
    };

    let longest = notes
        .iter()
        .map(|n| n.start + n.duration.max(0.0))
        .filter(|t| t.is_finite())
        .fold(0.0, f64::max);
    let fits = (LAST_ON_TICK as f64 / (2.0 * longest)).floor().max(1.0);
    let tpq = opts
        .ticks_per_quarter
        .clamp(1, 0x7fff)
        .min(fits.min(f64::from(0x7fff)) as u16);
    let ticks_per_second = 2.0 * f64::from(tpq);
    let to_tick = |seconds: f64| -> u64 {
        let t = (seconds * ticks_per_second).round();
        // NaN and negatives land on 0; the cast saturates anyway, the clamp keeps deltas legal.
        if t.is_nan() {
            0
        } else {
            t.clamp(0.0, LAST_ON_TICK as f64) as u64
        }
    };

    // (on tick, off tick, pitch, velocity), merged per pitch so no two overlap.
    let mut placed: Vec<(u64, u64, u8, u8)> = notes
        .iter()
        .map(|n| {
            let (pitch, velocity) = n.shaped(i64::from(opts.transpose), opts.velocity);
            let on = to_tick(n.start);
            let off = to_tick(n.start + n.duration).max(on + 1);
            (on, off, pitch, velocity)
        })
        .collect();
    placed.sort_by_key(|p| (p.0, p.2));
    let mut last_of_pitch = [usize::MAX; 128];
    let mut keep = vec![true; placed.len()];
    for i in 0..placed.len() {
        let (on, off, pitch, _) = placed[i];
        let j = last_of_pitch[usize::from(pitch)];
        if let Some(prev) = placed.get_mut(j) {
            if prev.0 == on {
                prev.1 = prev.1.max(off);
                keep[i] = false;
                continue;
            }
            if prev.1 > on {
                prev.1 = on;
            }
        }
        last_of_pitch[usize::from(pitch)] = i;
    }

    // (tick, note-offs before note-ons at one tick, pitch, velocity or 0 for an off).
    let mut timeline: Vec<(u64, u8, u8, u8)> = Vec::with_capacity(placed.len() * 2);
    for (&(on, off, pitch, velocity), _) in placed.iter().zip(&keep).filter(|(_, k)| **k) {
        timeline.push((on, 1, pitch, velocity));
        timeline.push((off, 0, pitch, 0));
    }
    timeline.sort_unstable();

    let channel = u4::new(opts.channel.min(15));
    let mut notes_track = Vec::with_capacity(timeline.len() + 2);
    notes_track.push(TrackEvent {
        delta: u28::new(0),
        kind: TrackEventKind::Midi {
            channel,
            message: MidiMessage::ProgramChange {
                program: u7::new(opts.program.min(127)),
            },
        },
    });
    let mut now = 0u64;
    for &(tick, kind, pitch, velocity) in &timeline {
        let message = if kind == 0 {
            MidiMessage::NoteOff {
                key: u7::new(pitch),
                vel: u7::new(0),
            }
        } else {
            MidiMessage::NoteOn {
                key: u7::new(pitch),
                vel: u7::new(velocity),
            }
        };
        // Ticks are clamped below MAX_TICK (< 2^28) above, so the delta always fits.
        notes_track.push(TrackEvent {
            delta: u28::new((tick - now) as u32),
            kind: TrackEventKind::Midi { channel, message },
        });
        now = tick;
    }
    let end = TrackEvent {
        delta: u28::new(0),
        kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
    };
    notes_track.push(end);

    let bpm = if opts.tempo_bpm.is_finite() && opts.tempo_bpm > 0.0 {
        opts.tempo_bpm
    } else {
        120.0
    };
    let micros = (60_000_000.0 / bpm)
        .round()
        .clamp(1.0, f64::from(0xff_ffffu32)) as u32;
    let signature = |beats: u32, unit: u32, delta: u64| TrackEvent {
        delta: u28::new(delta.min(LAST_ON_TICK) as u32),
        kind: TrackEventKind::Meta(MetaMessage::TimeSignature(
            beats.min(255) as u8,
            unit.trailing_zeros() as u8,
            // MIDI clocks (24 a quarter) per metronome click: a beat, felt in compound meter.
            (96 / unit * if opts.meter.is_compound() { 3 } else { 1 }).min(255) as u8,
            8,
        )),
    };
    let mut tempo_track = vec![TrackEvent {
        delta: u28::new(0),
        kind: TrackEventKind::Meta(MetaMessage::Tempo(u24::new(micros))),
    }];
    let m = opts.meter;
    match pickup_signature(opts.upbeat, m) {
        Some((beats, unit)) => {
            tempo_track.push(signature(beats, unit, 0));
            tempo_track.push(signature(m.beats, m.unit, to_tick(opts.upbeat)));
        }
        None => tempo_track.push(signature(m.beats, m.unit, 0)),
    }
    tempo_track.push(end);
    let smf = Smf {
        header: Header::new(Format::Parallel, Timing::Metrical(u15::new(tpq))),
        tracks: vec![tempo_track, notes_track],
    };
    let mut out = Vec::new();
    // midly only fails on a writer error (a Vec has none) or on tracks of 4 GB and more, which
    // ticks below MAX_TICK and a slice of notes in memory cannot reach.
    smf.write_std(&mut out)
        .expect("writing a MIDI file into memory cannot fail");
    out
}

/// The time signature of an upbeat of `upbeat` seconds (less whole bars of `meter`): its
/// length in the meter's unit, or a shorter one down to 1/16; None when there is no upbeat or
/// no such unit counts it whole (a triplet).
fn pickup_signature(upbeat: f64, meter: Meter) -> Option<(u32, u32)> {
    let upbeat = Bars {
        meter: None,
        upbeat,
    }
    .upbeat_in(meter);
    if upbeat <= 0.0 {
        return None;
    }
    // Seconds at 120 BPM: a whole note is 2 s.
    let whole = upbeat / 2.0;
    [1, 2, 4, 8, 16]
        .into_iter()
        .filter(|&u| u >= meter.unit)
        .find_map(|unit| {
            let n = whole * f64::from(unit);
            ((n - n.round()).abs() < 1e-6 && n.round() >= 1.0).then(|| (n.round() as u32, unit))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A format-0 file with one track of the given raw event bytes (end of track appended).
    fn smf0(division: u16, events: &[u8]) -> Vec<u8> {
        let mut track = events.to_vec();
        track.extend_from_slice(&[0x00, 0xff, 0x2f, 0x00]);
        let mut f = b"MThd\0\0\0\x06\0\0\0\x01".to_vec();
        f.extend_from_slice(&division.to_be_bytes());
        f.extend_from_slice(b"MTrk");
        f.extend_from_slice(&(track.len() as u32).to_be_bytes());
        f.extend_from_slice(&track);
        f
    }

    fn note(pitch: u8, start: f64, duration: f64, velocity: u8) -> Note {
        Note {
            pitch,
            start,
            duration,
            velocity,
        }
    }

    #[test]
    fn simple_note_at_default_tempo() {
        // 96 ticks per beat at 120 BPM: 96 ticks = 0.5 s.
        let f = smf0(96, &[0x00, 0x90, 60, 100, 0x60, 0x80, 60, 0]);
        assert_eq!(read_midi(&f).unwrap(), vec![note(60, 0.0, 0.5, 100)]);
    }

    #[test]
    fn velocity_zero_is_note_off_and_running_status_works() {
        let f = smf0(
            96,
            &[0x00, 0x90, 60, 100, 0x60, 60, 0, 0x00, 62, 90, 0x60, 62, 0],
        );
        assert_eq!(
            read_midi(&f).unwrap(),
            vec![note(60, 0.0, 0.5, 100), note(62, 0.5, 0.5, 90)]
        );
    }

    #[test]
    fn one_note_off_closes_every_older_note_of_the_pitch() {
        // on@0, on@48, off@96: both end at 96; the later off is spurious.
        let f = smf0(
            96,
            &[
                0x00, 0x90, 60, 100, 0x30, 0x90, 60, 80, 0x30, 0x80, 60, 0, 0x30, 0x80, 60, 0,
            ],
        );
        assert_eq!(
            read_midi(&f).unwrap(),
            vec![note(60, 0.0, 0.5, 100), note(60, 0.25, 0.25, 80)]
        );
    }

    #[test]
    fn note_on_at_the_off_tick_survives_only_if_something_closed() {
        // on@0, off@96 + on@96 (on first), off@192.
        let f = smf0(
            96,
            &[
                0x00, 0x90, 60, 100, 0x60, 0x90, 60, 70, 0x00, 0x80, 60, 0, 0x60, 0x80, 60, 0,
            ],
        );
        assert_eq!(
            read_midi(&f).unwrap(),
            vec![note(60, 0.0, 0.5, 100), note(60, 0.5, 0.5, 70)]
        );
        // A note-off on the same tick as its only note-on drops that note.
        let f = smf0(
            96,
            &[0x00, 0x90, 60, 100, 0x00, 0x80, 60, 0, 0x60, 0x80, 60, 0],
        );
        assert_eq!(read_midi(&f).unwrap(), vec![]);
    }

    #[test]
    fn tempo_change_in_track_one() {
        // 60 BPM from tick 96 on: a beat lasts 1 s.
        let f = smf0(
            96,
            &[
                0x00, 0x90, 60, 100, 0x60, 0xff, 0x51, 3, 0x0f, 0x42, 0x40, 0x60, 0x80, 60, 0,
            ],
        );
        assert_eq!(read_midi(&f).unwrap(), vec![note(60, 0.0, 1.5, 100)]);
    }

    #[test]
    fn smpte_division_counts_frames() {
        // 25 fps x 40 ticks per frame = 1000 ticks per second.
        let division = u16::from_be_bytes([(-25i8) as u8, 40]);
        let f = smf0(division, &[0x00, 0x90, 60, 100, 0x87, 0x68, 0x80, 60, 0]);
        assert_eq!(read_midi(&f).unwrap(), vec![note(60, 0.0, 1.0, 100)]);
        // The most negative frame-rate byte (128 fps x 1 tick), found by the fuzz test.
        let f = smf0(0x8001, &[0x00, 0x90, 60, 100, 0x81, 0x00, 0x80, 60, 0]);
        assert_eq!(read_midi(&f).unwrap(), vec![note(60, 0.0, 1.0, 100)]);
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(read_midi(b"RIFF1234"), Err(MidiError::NotMidi));
        assert_eq!(read_midi(b"MThd\0\0"), Err(MidiError::TruncatedHeader));
        let mut f = smf0(96, &[0x00, 0x90, 60, 100, 0x60, 0x80, 60, 0]);
        f.truncate(f.len() - 3);
        assert_eq!(read_midi(&f), Err(MidiError::TruncatedTrack { track: 1 }));
        assert_eq!(
            read_midi(&smf0(0, &[])),
            Err(MidiError::ZeroDivision),
            "division 0"
        );
        let f = smf0(96, &[0x00, 60, 100]);
        assert_eq!(read_midi(&f), Err(MidiError::NoRunningStatus { track: 1 }));
        let f = smf0(96, &[0x00, 0xff, 0x51, 3, 0, 0, 0]);
        assert_eq!(read_midi(&f), Err(MidiError::ZeroTempo));
        let f = smf0(96, &[0x00, 0x90, 200, 100]);
        assert_eq!(
            read_midi(&f),
            Err(MidiError::BadDataByte {
                track: 1,
                byte: 200
            })
        );
        let f = smf0(96, &[0x85, 0x89, 0xad, 0x00, 0x90, 60, 100]);
        assert!(matches!(read_midi(&f), Err(MidiError::TickTooLarge { .. })));
        assert_eq!(
            MidiError::TruncatedTrack { track: 2 }.to_string(),
            "truncated track 2"
        );
    }

    #[test]
    fn written_file_reads_back() {
        let notes = vec![note(60, 0.0, 0.5, 100), note(64, 0.5, 0.25, 90)];
        let back = read_midi(&write_midi(&notes, &WriteOptions::default())).unwrap();
        assert_eq!(back, notes);
    }

    #[test]
    fn melodies_longer_than_the_tick_limit_still_read_back_whole() {
        // 30,000 half-second notes: 14.4 million ticks at 480 per quarter, over MAX_TICK.
        let mut notes: Vec<Note> = (0..30_000)
            .map(|i| note(60, f64::from(i) * 0.5, 0.5, 90))
            .collect();
        notes.push(note(62, 1e12, 0.5, 90));
        let back = read_midi(&write_midi(&notes, &WriteOptions::default())).unwrap();
        assert_eq!(back.len(), notes.len());
        assert_eq!(back[29_999].start, 29_999.0 * 0.5);
    }

    #[test]
    fn overlapping_same_pitch_is_cut_at_the_next_start() {
        let notes = vec![note(60, 0.0, 2.0, 100), note(60, 1.0, 2.0, 90)];
        let back = read_midi(&write_midi(&notes, &WriteOptions::default())).unwrap();
        assert_eq!(back, vec![note(60, 0.0, 1.0, 100), note(60, 1.0, 2.0, 90)]);
    }

    #[test]
    fn zero_length_and_wild_values_still_write_a_valid_file() {
        let notes = vec![
            note(60, 0.0, 0.0, 0),
            note(127, f64::NAN, f64::INFINITY, 127),
            note(0, -5.0, 1.0, 64),
        ];
        let opts = WriteOptions {
            transpose: 300,
            tempo_bpm: 0.0,
            channel: 99,
            program: 200,
            ticks_per_quarter: 0,
            velocity: None,
            meter: Meter::default(),
            upbeat: f64::NAN,
        };
        let bytes = write_midi(&notes, &opts);
        let back = read_midi(&bytes).unwrap();
        assert_eq!(back.len(), 1, "all three land on pitch 127 at tick 0");
        assert!(midly::Smf::parse(&bytes).is_ok());
    }

    fn valid_files() -> Vec<Vec<u8>> {
        let notes: Vec<Note> = (0..12)
            .map(|i| note(60 + i, f64::from(i) * 0.25, 0.3, 80))
            .collect();
        vec![
            write_midi(&notes, &WriteOptions::default()),
            smf0(
                96,
                &[
                    0x00, 0x90, 60, 100, 0x60, 0xff, 0x51, 3, 0x0f, 0x42, 0x40, 0x60, 0x80, 60, 0,
                    0x00, 0xc0, 5, 0x00, 0xf0, 2, 1, 0xf7, 0x10, 0x99, 36, 99, 0x10, 36, 0,
                ],
            ),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2000),
            ..ProptestConfig::default()
        })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = read_midi(&bytes);
            let mut with_header = b"MThd\0\0\0\x06\0\x01\0\x02\x01\xe0".to_vec();
            with_header.extend_from_slice(&bytes);
            let _ = read_midi(&with_header);
            // Random events inside a well-formed track chunk reach the event decoder.
            let _ = read_midi(&smf0(96, &bytes));
            let _ = read_midi(&smf0(0xe728, &bytes));
        }

        #[test]
        fn mutated_files_never_panic(
            which in 0usize..2,
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut f = valid_files().swap_remove(which);
            for (at, byte) in edits {
                let i = at.index(f.len());
                f[i] = byte;
            }
            let _ = read_midi(&f);
            f.truncate(cut.index(f.len() + 1));
            let _ = read_midi(&f);
        }

        #[test]
        fn written_notes_read_back_to_tick_resolution(
            raw in proptest::collection::vec((0u8..128, 0u32..4000, 1u32..2000, 1u8..128), 0..40),
            transpose in -12i32..12,
        ) {
            let notes: Vec<Note> = raw.iter()
                .map(|&(p, s, d, v)| note(p, f64::from(s) / 960.0, f64::from(d) / 960.0, v))
                .collect();
            let opts = WriteOptions { transpose, ..WriteOptions::default() };
            let back = read_midi(&write_midi(&notes, &opts)).unwrap();
            // Every start that is not a duplicate (pitch, start) must come back.
            let mut expected: Vec<(u8, u32)> = raw.iter()
                .map(|&(p, s, _, _)| ((i32::from(p) + transpose).clamp(0, 127) as u8, s))
                .collect();
            expected.sort_by_key(|&(p, s)| (s, p));
            expected.dedup();
            let got: Vec<(u8, u32)> = back.iter()
                .map(|n| (n.pitch, (n.start * 960.0).round() as u32))
                .collect();
            prop_assert_eq!(got, expected);
            for n in &back {
                prop_assert!(n.duration >= 1.0 / 960.0 - 1e-12);
            }
        }
    }

    #[test]
    fn the_meter_and_an_upbeat_travel_as_time_signatures() {
        let melody = [note(60, 0.0, 0.5, 90), note(64, 0.5, 1.5, 90)];
        let read = |opts: &WriteOptions| read_midi_bars(&write_midi(&melody, opts)).unwrap();
        // 4/4 and no upbeat: the file tms always wrote.
        let (notes, bars) = read(&WriteOptions::default());
        assert_eq!(notes.len(), 2);
        assert_eq!(bars.meter, Some(Meter::default()));
        assert_eq!(bars.upbeat, 0.0);
        let three = Meter::parse("3/4").unwrap();
        let (_, bars) = read(&WriteOptions {
            meter: three,
            upbeat: 0.5,
            ..WriteOptions::default()
        });
        assert_eq!(bars.meter, Some(three));
        assert!((bars.upbeat - 0.5).abs() < 1e-9);
        // An eighth's upbeat in 2/4 is a 1/8 bar; a triplet's cannot be one.
        assert_eq!(
            pickup_signature(0.25, Meter::parse("2/4").unwrap()),
            Some((1, 8))
        );
        assert_eq!(pickup_signature(1.0 / 6.0, three), None);
        assert_eq!(
            pickup_signature(1.5, three),
            None,
            "a whole bar is no upbeat"
        );
        let six = Meter::parse("6/8").unwrap();
        let (_, bars) = read(&WriteOptions {
            meter: six,
            upbeat: 0.25,
            ..WriteOptions::default()
        });
        assert_eq!((bars.meter, bars.upbeat), (Some(six), 0.25));
        // A file whose second signature is not one bar after the first has no upbeat.
        let f = smf0(
            480,
            &[
                0x00, 0xff, 0x58, 0x04, 0x03, 0x02, 0x18, 0x08, // 3/4 at 0
                0x00, 0x90, 60, 90, 0x83, 0x60, 0x80, 60, 0, // a quarter
                0x00, 0xff, 0x58, 0x04, 0x02, 0x02, 0x18, 0x08, // 2/4 at a quarter
            ],
        );
        let (_, bars) = read_midi_bars(&f).unwrap();
        assert_eq!((bars.meter, bars.upbeat), (Some(three), 0.0));
    }
}
