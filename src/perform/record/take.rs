//! The take: the file on disk while recording, appended every second so that a crash loses
//! at most a second; apart from the final file, which is written once from what it holds.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::smf::{bridge, chunk, conductor, header, marker, meta, varlen};
use super::{micros, Event, RecordError, TAKE_TRACK, TICKS_PER_QUARTER};
use crate::fsio::Role;
use crate::music::meter::Meter;

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

/// What the file holds of one source: all the writer remembers of it.
#[derive(Clone)]
pub(super) struct Source {
    pub(super) name: Arc<str>,
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
pub(super) struct Written {
    /// Where the tail (closing note-offs, end of track) starts, and its length.
    pub(super) tail_at: u64,
    tail_len: u64,
    /// The tick of the last message written.
    pub(super) last_tick: u64,
    /// The source of the last message written (an index into `sources`).
    source: Option<usize>,
    pub(super) sources: Vec<Source>,
    pub(super) events: usize,
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
///
/// [`TMS_ID`]: super::TMS_ID
pub(super) fn neutral(len: u64) -> Vec<u8> {
    let mut out = vec![0, 0xFF, 0x7F];
    if len - 4 < 128 {
        out.push((len - 4) as u8);
    } else {
        // Two length bytes; `len - 5` is at least 128 because a tail is never 132 bytes.
        varlen(&mut out, (len - 5) as u32);
    }
    out
}

/// A recording's file and what has been written into it.
pub(super) struct Take {
    pub(super) file: File,
    pub(super) path: PathBuf,
    pub(super) started: Instant,
    pub(super) tempo: f64,
    pub(super) meter: Meter,
    /// Where the recording track's length is, and where its events start.
    pub(super) len_at: u64,
    pub(super) data_at: u64,
    pub(super) written: Written,
    /// The program each voice had when the take started (its track's name, then the
    /// program change): the player sent it before, so the tape never heard it.
    pub(super) programs: Vec<(Arc<str>, [u8; 2])>,
    /// Taken from the tape but not yet on disk (an append failed).
    pub(super) unsaved: Vec<Event>,
    /// The final file is written; nothing more goes into this one.
    pub(super) done: bool,
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

/// Refuses a target that is not a MIDI file's name, that exists and is not a regular file,
/// or that exists when `overwrite` was not given; says what to type instead.
fn check_target(path: &Path, overwrite: bool) -> Result<(), RecordError> {
    let exists = crate::fsio::existing_target(path).map_err(|e| RecordError::write(path, &e))?;
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase());
    if !ext.is_some_and(|e| Role::Recording.extensions().contains(&e.as_str())) {
        let stem = path
            .file_stem()
            .map_or("set".into(), |s| s.to_string_lossy().into_owned());
        let instead = path.with_file_name(format!("{stem}.mid"));
        return Err(RecordError::NotMidiName { instead });
    }
    if exists && !overwrite {
        return Err(RecordError::Exists {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

impl Take {
    /// Creates the file (refusing what [`check_target`] refuses): the conductor and an
    /// empty recording track.
    pub(super) fn create(
        path: &Path,
        overwrite: bool,
        tempo: f64,
        meter: Meter,
    ) -> Result<Take, RecordError> {
        check_target(path, overwrite)?;
        let mut bytes = header(2);
        bytes.extend_from_slice(&conductor(tempo, meter));
        let len_at = bytes.len() as u64 + 4;
        let mut data = Vec::new();
        meta(&mut data, 0, 0x03, TAKE_TRACK.as_bytes());
        let tail_at = len_at + 4 + data.len() as u64;
        meta(&mut data, 0, 0x2F, &[]);
        bytes.extend_from_slice(&chunk(&data));
        let error = |e: io::Error| RecordError::write(path, &e);
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
    pub(super) fn append(&mut self, new: Vec<Event>) -> Result<(), RecordError> {
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
        let length = u32::try_from(length).map_err(|_| RecordError::TrackFull {
            path: self.path.clone(),
        })?;
        body.extend_from_slice(&tail);
        let f = &self.file;
        f.write_all_at(&body, end)
            .and_then(|()| f.sync_data())
            .and_then(|()| f.write_all_at(&neutral(self.written.tail_len), self.written.tail_at))
            .and_then(|()| f.write_all_at(&length.to_be_bytes(), self.len_at))
            .and_then(|()| f.sync_data())
            .map_err(|e| RecordError::write(&self.path, &e))?;
        next.tail_at = end + (body.len() - tail.len()) as u64;
        next.tail_len = tail.len() as u64;
        self.written = next;
        self.unsaved.clear();
        Ok(())
    }

    /// What was written. Its length is the take's, from `record` to now (as `record` alone
    /// counts it), not up to the last note: a take that ends in silence lasted as long.
    pub(super) fn summary(&self) -> Summary {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
