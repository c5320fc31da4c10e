//! The interactive prompt: rustyline with tab completion, hints and highlighting driven by
//! the command and settings tables, history kept across sessions, and a printer that lets
//! the player thread print without breaking the line being typed.

mod complete;

use std::borrow::Cow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use colored::Colorize;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::{Context, Editor, ExternalPrinter, Helper, Validator};

use crate::session::{Session, Source};

#[derive(Helper, Validator)]
pub struct TmsHelper {
    color: bool,
}

impl Completer for TmsHelper {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, words) = complete::candidates(line, pos);
        let pairs = words
            .into_iter()
            .map(|w| Pair {
                display: w.clone(),
                replacement: w,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for TmsHelper {
    type Hint = String;
    fn hint(&self, line: &str, pos: usize, _: &Context<'_>) -> Option<String> {
        complete::hint(line, pos)
    }
}

impl Highlighter for TmsHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if !self.color {
            return Cow::Borrowed(line);
        }
        Cow::Owned(complete::highlight(line))
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.color {
            Cow::Owned(hint.dimmed().to_string())
        } else {
            Cow::Borrowed(hint)
        }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        self.color
    }
}

fn history_path() -> Option<PathBuf> {
    let dir = dirs::data_dir()?.join("tms");
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join("history.txt"))
}

/// Runs the prompt until `quit` or Ctrl-D. Errors are printed and the session goes on.
pub fn run(interrupt: Arc<AtomicBool>, color: bool, version: String) -> ExitCode {
    let mut session = Session::new(None, interrupt, color);
    let mut rl = match Editor::<TmsHelper, DefaultHistory>::new() {
        Ok(rl) => rl,
        Err(e) => {
            eprintln!("tms: cannot start the prompt: {e}");
            return ExitCode::from(1);
        }
    };
    rl.set_helper(Some(TmsHelper { color }));
    let history = history_path();
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    if let Ok(mut printer) = rl.create_external_printer() {
        session.set_printer(Box::new(move |line: String| {
            let _ = printer.print(format!("{line}\n"));
        }));
    }
    let banner = format!(
        "{version}\ndevice {}, seed {} — `help` lists commands, Ctrl-D quits",
        session.device_label(),
        session.seed()
    );
    println!(
        "{}",
        if color {
            banner.bold().to_string()
        } else {
            banner
        }
    );
    let prompt = if color {
        "tms> ".cyan().bold().to_string()
    } else {
        "tms> ".to_string()
    };
    loop {
        session.clear_interrupt();
        session.sync_from_controls();
        match rl.readline(&prompt) {
            Ok(line) => {
                if line.trim().is_empty() {
                    continue;
                }
                let _ = rl.add_history_entry(line.as_str());
                if let Err(msg) = session.run_source(&Source {
                    name: "<prompt>",
                    text: &line,
                }) {
                    eprintln!("{msg}");
                }
                if session.wants_quit() {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("tms: {e}");
                break;
            }
        }
    }
    session.stage_shutdown();
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
    ExitCode::SUCCESS
}
