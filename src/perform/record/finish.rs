//! The final file, written once at `record stop` from what the take holds: a track per
//! source, cleaned for a DAW. Apart from the take, whose appends stay small every second.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::sync::Arc;

use super::readback::Events;
use super::smf::{conductor_start, header, meta, varlen};
use super::take::{Summary, Take};
use super::{RecordError, MAX_DELTA};

impl Take {
    /// Replaces the file, atomically, with the conductor (the tempo as played) and a track
    /// per source, each read back from the recording track in one pass and made fit for a
    /// DAW (see [`Cleaner`]).
    pub(super) fn finish(&mut self) -> Result<Summary, RecordError> {
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
        .map_err(|e| RecordError::write(&self.path, &e))?;
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
pub(super) struct Cleaner {
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
