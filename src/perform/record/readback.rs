//! Reading the recording track back from disk, a block at a time: apart because the final
//! file is made from this one pass, never from messages kept in memory.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::error::NotAsWritten;
use super::TMS_ID;

/// A message read back: its tick, its source, its bytes and how many there are (0: a
/// tempo, as in [`Event`](super::Event)).
type ReadBack = (u64, Arc<str>, [u8; 3], usize);

/// The messages of the recording track, read back from disk a block at a time.
pub(super) struct Events<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    at: usize,
    tick: u64,
    source: Arc<str>,
}

impl<'a> Events<'a> {
    pub(super) fn new(file: &'a File, (start, end): (u64, u64)) -> Events<'a> {
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

    pub(super) fn next(&mut self) -> io::Result<Option<ReadBack>> {
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
    io::Error::other(NotAsWritten)
}
