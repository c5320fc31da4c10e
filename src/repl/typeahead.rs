//! Lines typed while a command runs, kept and run in order.
//!
//! While a command runs the terminal is in its ordinary line mode, so what the player types
//! waits in the terminal's buffer. rustyline 17 loses such a burst: its reader pulls every
//! waiting byte into a private buffer, then, when an external printer exists, waits on the
//! terminal rather than that buffer (the prompt shows `tms> s` until another key), and
//! whatever follows the first newline is dropped when `readline` returns. So before each
//! prompt the REPL takes the waiting bytes itself: complete lines run as if typed at the
//! prompt, and an unfinished line becomes the prompt's initial text. Ctrl-C does not drop
//! them: the prompt keeps the terminal from flushing its buffer on an interrupt (NOFLSH), so
//! what was typed while a command ran still runs after Ctrl-C stopped that command.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::sys::termios::{self, LocalFlags, SetArg, SpecialCharacterIndices};

#[derive(Default)]
pub struct TypeAhead {
    lines: VecDeque<String>,
    partial: String,
}

impl TypeAhead {
    /// Takes what the terminal holds (nothing when stdin is not a terminal: rustyline then
    /// reads plain lines and loses none).
    pub fn collect(&mut self) {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return;
        }
        if let Ok(bytes) = waiting_bytes(stdin.as_fd()) {
            self.absorb(&bytes);
        }
    }

    fn absorb(&mut self, bytes: &[u8]) {
        self.partial
            .push_str(&typed_text(&String::from_utf8_lossy(bytes)));
        while let Some(i) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=i).collect();
            self.lines
                .push_back(line.trim_end_matches('\n').to_string());
        }
    }

    /// The next complete line typed ahead.
    pub fn next_line(&mut self) -> Option<String> {
        self.lines.pop_front()
    }

    /// The unfinished line, for the prompt to start with.
    pub fn take_partial(&mut self) -> String {
        std::mem::take(&mut self.partial)
    }
}

/// Every byte waiting on the terminal, read without blocking: for the moment of the read
/// the line mode is off (so an unfinished line is readable too) and reads return at once.
fn waiting_bytes(fd: std::os::fd::BorrowedFd<'_>) -> nix::Result<Vec<u8>> {
    let saved = termios::tcgetattr(fd)?;
    let mut now = saved.clone();
    now.local_flags
        .remove(LocalFlags::ICANON | LocalFlags::ECHO);
    now.control_chars[SpecialCharacterIndices::VMIN as usize] = 0;
    now.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
    termios::tcsetattr(fd, SetArg::TCSANOW, &now)?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let read = loop {
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR) => continue,
            Err(e) => break Err(e),
        }
    };
    termios::tcsetattr(fd, SetArg::TCSANOW, &saved)?;
    read.map(|()| out)
}

/// The text a person meant: terminal escape sequences (arrow keys pressed while waiting)
/// and other control characters are dropped, a carriage return ends a line.
fn typed_text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI (`ESC [ … final`) or SS3 (`ESC O x`); a lone ESC is dropped.
                match chars.peek() {
                    Some('[') => {
                        chars.next();
                        for d in chars.by_ref() {
                            if ('\u{40}'..='\u{7e}').contains(&d) {
                                break;
                            }
                        }
                    }
                    Some('O') => {
                        chars.next();
                        chars.next();
                    }
                    _ => {}
                }
            }
            '\r' | '\n' => out.push('\n'),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_lines_run_in_order_and_the_rest_starts_the_prompt() {
        let mut t = TypeAhead::default();
        t.absorb(b"set tempo 90\nset te");
        t.absorb(b"mpo 100\rseed 3");
        assert_eq!(t.next_line().as_deref(), Some("set tempo 90"));
        assert_eq!(t.next_line().as_deref(), Some("set tempo 100"));
        assert_eq!(t.next_line(), None);
        assert_eq!(t.take_partial(), "seed 3");
        assert_eq!(t.take_partial(), "");
    }

    #[test]
    fn arrow_keys_and_control_bytes_are_dropped() {
        assert_eq!(typed_text("se\u{1b}[Aed\u{1b}OB 1\u{7}\n"), "seed 1\n");
        assert_eq!(typed_text("ü\tok"), "ü\tok");
    }
}
