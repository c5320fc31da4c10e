//! Where a session's messages go. Everything the session says goes through one [`Out`], so
//! that a closed pipe (`tms -c '…' | head`) or a full device never panics and never stops
//! the script's later commands (a `save` after a `show` must still happen), and so that a
//! test can run commands in-process and read what they said.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

/// A writer that hands on each whole line it is given (without its newline): what a training
/// run prints, relayed a line at a time from a thread or another process.
pub struct Lines<F: FnMut(String)> {
    each: F,
    partial: Vec<u8>,
}

impl<F: FnMut(String)> Lines<F> {
    pub fn new(each: F) -> Self {
        Lines {
            each,
            partial: Vec::new(),
        }
    }
}

impl<F: FnMut(String)> Write for Lines<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.partial.extend_from_slice(buf);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            (self.each)(String::from_utf8_lossy(&line[..end]).into_owned());
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A message sink that swallows write errors: once the reader is gone, output is discarded
/// and the work goes on.
pub struct Out {
    w: Box<dyn Write + Send>,
    broken: bool,
}

impl Out {
    pub fn stdout() -> Out {
        Out::new(Box::new(io::stdout()))
    }

    pub fn new(w: Box<dyn Write + Send>) -> Out {
        Out { w, broken: false }
    }

    /// A sink into memory, and the buffer to read it back from (tests).
    pub fn buffer() -> (Out, Arc<Mutex<Vec<u8>>>) {
        let buf = Arc::new(Mutex::new(Vec::new()));
        (Out::new(Box::new(Shared(buf.clone()))), buf)
    }

    /// Whether a write has failed (the reader went away).
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    pub fn print(&mut self, args: std::fmt::Arguments) {
        if !self.broken
            && self
                .w
                .write_fmt(args)
                .and_then(|()| self.w.flush())
                .is_err()
        {
            self.broken = true;
        }
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.broken && self.w.write_all(buf).is_err() {
            self.broken = true;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.broken && self.w.flush().is_err() {
            self.broken = true;
        }
        Ok(())
    }
}

struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Terminal width for pictures (piano roll, histograms), or a sensible width when the
/// output is not a terminal.
pub fn term_width() -> usize {
    terminal_size::terminal_size()
        .map(|(w, _)| w.0 as usize)
        .unwrap_or(100)
        .clamp(40, 400)
}

/// Whether `TMS_VERBOSE` asks for what is normally kept off the terminal (libjack's own
/// messages).
pub fn verbose() -> bool {
    std::env::var_os("TMS_VERBOSE").is_some_and(|v| !v.is_empty() && v != "0")
}

/// The width of the terminal stdout is, or None when stdout is not a terminal.
pub fn terminal_columns() -> Option<usize> {
    terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| (w.0 as usize).max(20))
}

/// `say!(session, "fmt", args…)`: one line to the session's output.
#[macro_export]
macro_rules! say {
    ($s:expr, $($arg:tt)*) => {
        $s.out.print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Like [`say!`] without the newline.
#[macro_export]
macro_rules! say_raw {
    ($s:expr, $($arg:tt)*) => {
        $s.out.print(format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_reader_is_survived() {
        let mut out = Out::new(Box::new(Closed));
        out.print(format_args!("lost\n"));
        assert!(out.is_broken());
        assert_eq!(out.write(b"more").unwrap(), 4);
    }

    #[test]
    fn a_buffer_collects_lines() {
        let (mut out, buf) = Out::buffer();
        out.print(format_args!("a {}\n", 1));
        assert_eq!(&*buf.lock().unwrap(), b"a 1\n");
    }
}
