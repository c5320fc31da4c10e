//! The interactive prompt: rustyline with tab completion, hints and highlighting driven by
//! the command and settings tables, history kept across sessions, Ctrl-C that stops the
//! running command, and lines typed ahead kept in order (Ctrl-C included: they run after
//! the command it stopped).

mod complete;
mod typeahead;

use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use colored::Colorize;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::{Context, Editor, Helper, Validator};

use crate::session::{Session, Source};
use crate::settings::Settings;
use typeahead::TypeAhead;

#[derive(Helper, Validator)]
pub struct TmsHelper {
    color: bool,
    /// The session's settings as they were when the prompt appeared, for hints.
    settings: Settings,
    /// The session's voices when the prompt appeared, for `voice "` completion.
    voices: Vec<String>,
}

impl complete::Known for TmsHelper {
    /// Rescanned on each Tab: ports come and go while the prompt waits.
    fn ports(&self, input: bool) -> Vec<String> {
        match crate::perform::list_ports() {
            Ok(list) if input => list.inputs,
            Ok(list) => list.outputs,
            Err(_) => Vec::new(),
        }
    }

    fn voices(&self) -> Vec<String> {
        self.voices.clone()
    }
}

impl Completer for TmsHelper {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, words) = complete::candidates(line, pos, self);
        let pairs = words
            .into_iter()
            .map(|w| Pair {
                display: complete::shown(&w).to_string(),
                replacement: w,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for TmsHelper {
    type Hint = complete::Hint;
    fn hint(&self, line: &str, pos: usize, _: &Context<'_>) -> Option<complete::Hint> {
        complete::hint(line, pos, &self.settings)
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

/// What the prompt does when SIGTERM or SIGHUP arrives while it waits for a line: shut the
/// stage down (note-offs, the recording closed) and exit. Set only while the prompt waits.
type IdleExit = Box<dyn Fn() + Send>;
static IDLE_EXIT: Mutex<Option<IdleExit>> = Mutex::new(None);
/// Whether SIGTERM or SIGHUP arrived: the process ends once the command running stops.
static TERMINATED: AtomicBool = AtomicBool::new(false);

/// True once SIGTERM or SIGHUP asked tms to end.
pub fn terminated() -> bool {
    TERMINATED.load(Ordering::SeqCst)
}

/// Ctrl-C (SIGINT) stops the running command: it sets a flag that long commands poll
/// (training stops after the batch, playing stops with note-offs), and the prompt clears it
/// before the next line, so it never cuts a later command short. SIGTERM and SIGHUP end tms:
/// they stop the running command the same way and then exit with status 130 — at once when
/// the prompt is idle, with the stage shut down (note-offs sent, the recording written). A
/// second signal while the first is still pending forces an exit, for a command that does
/// not answer.
///
/// The prompt must call this after creating its editor: rustyline's editor installs its own
/// SIGINT handler when it is created (it only forwards the signal to a waiting `readline`),
/// which would otherwise replace this one, and Ctrl-C during a command would do nothing.
/// At the prompt itself the terminal is in raw mode and Ctrl-C is a key rustyline reads.
pub fn install_interrupt() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let _ = ctrlc::set_handler(move || {
        if f.swap(true, Ordering::SeqCst) {
            crate::perform::record::save_on_exit();
            std::process::exit(130);
        }
    });
    use signal_hook::consts::{SIGHUP, SIGTERM};
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP]) {
        let f = flag.clone();
        let _ = std::thread::Builder::new()
            .name("tms-signals".into())
            .spawn(move || {
                for _ in signals.forever() {
                    f.store(true, Ordering::SeqCst);
                    if TERMINATED.swap(true, Ordering::SeqCst) {
                        crate::perform::record::save_on_exit();
                        std::process::exit(130);
                    }
                    let idle = IDLE_EXIT.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(exit) = idle.as_ref() {
                        exit();
                    }
                }
            });
    }
    flag
}

/// How the player thread prints while the prompt may be showing. Not rustyline's external
/// printer: creating one makes rustyline wait on the terminal instead of its own buffer,
/// which stalls any burst of input (see `typeahead`). While a line is being edited the
/// message replaces the prompt row and the prompt is written again below it; rustyline
/// redraws the typed text at the next key.
fn player_printer(
    editing: Arc<AtomicBool>,
    prompt: Prompt,
    redraw: bool,
) -> Box<dyn FnMut(String) + Send> {
    Box::new(move |line: String| {
        let prompt = prompt.get();
        let mut out = std::io::stdout().lock();
        let _ = if redraw && editing.load(Ordering::SeqCst) {
            write!(out, "\r\x1b[K{line}\n{prompt}")
        } else {
            writeln!(out, "{line}")
        };
        let _ = out.flush();
    })
}

/// The prompt as shown now: `tms> `, or `tms:bass> ` while another voice than the first
/// is current. Shared with the threads that redraw it.
#[derive(Clone)]
struct Prompt {
    text: Arc<Mutex<String>>,
    color: bool,
}

impl Prompt {
    fn new(color: bool) -> Prompt {
        let p = Prompt {
            text: Arc::default(),
            color,
        };
        p.follow(crate::perform::record::MAIN_TRACK);
        p
    }

    /// Shows `voice` (the first voice, "main", is not named).
    fn follow(&self, voice: &str) {
        let plain = match voice {
            crate::perform::record::MAIN_TRACK => "tms> ".to_string(),
            v => format!("tms:{}> ", crate::error::escape_control(v)),
        };
        let shown = if self.color {
            plain.cyan().bold().to_string()
        } else {
            plain
        };
        if let Ok(mut t) = self.text.lock() {
            *t = shown;
        }
    }

    fn get(&self) -> String {
        self.text.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

fn lock(session: &Mutex<Session>) -> std::sync::MutexGuard<'_, Session> {
    session.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the watched file after each save while the prompt waits for a line. Its output
/// replaces the prompt row, and the prompt is written again below it, as the player's
/// messages are.
fn spawn_watch_runner(
    bell: Arc<crate::session::Bell>,
    session: Arc<Mutex<Session>>,
    editing: Arc<AtomicBool>,
    prompt: Prompt,
    redraw: bool,
) {
    let _ = std::thread::Builder::new()
        .name("tms-watch-run".into())
        .spawn(move || loop {
            if !bell.wait(std::time::Duration::from_secs(3600)) {
                continue;
            }
            let mut session = lock(&session);
            let at_prompt = redraw && editing.load(Ordering::SeqCst);
            if at_prompt {
                print!("\r\x1b[K");
            }
            if let Some(Err(msg)) = session.run_watched() {
                eprintln!("{msg}");
            }
            if at_prompt {
                print!("{}", prompt.get());
            }
            let _ = std::io::stdout().flush();
        });
}

/// Runs the prompt until `quit` or Ctrl-D. Errors are printed and the session goes on; when
/// the input is not a terminal (`printf 'train 1\n' | tms`) the exit status says whether
/// any command failed (an interrupted one does not count: the session goes on by design).
pub fn run(color: bool, version: String) -> ExitCode {
    // bash's way: Tab completes as far as the candidates agree and lists them all when they
    // differ, so a completed folder shows its entries at the next Tab.
    let config = rustyline::Config::builder()
        .completion_type(rustyline::CompletionType::List)
        .completion_show_all_if_ambiguous(true)
        .build();
    let mut rl = match Editor::<TmsHelper, DefaultHistory>::with_config(config) {
        Ok(rl) => rl,
        Err(e) => {
            eprintln!("tms: cannot start the prompt: {e}");
            return ExitCode::from(1);
        }
    };
    let mut session = Session::new(None, install_interrupt(), color);
    rl.set_helper(Some(TmsHelper {
        color,
        settings: session.settings.clone(),
        voices: session.voice_names(),
    }));
    let history = history_path();
    if let Some(h) = &history {
        let _ = rl.load_history(h);
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
    let prompt = Prompt::new(color);
    let interactive = std::io::stdin().is_terminal();
    let editing = Arc::new(AtomicBool::new(false));
    let redraw = interactive
        && std::io::stdout().is_terminal()
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb");
    session.set_printer(player_printer(editing.clone(), prompt.clone(), redraw));
    session.set_background_printer(player_printer(editing.clone(), prompt.clone(), redraw));
    let bell = session.watch_bell();
    let shared = Arc::new(Mutex::new(session));
    spawn_watch_runner(
        bell,
        shared.clone(),
        editing.clone(),
        prompt.clone(),
        redraw,
    );
    let mut typed = TypeAhead::default();
    let mut failed = false;
    let terminal = Terminal::save();
    terminal.keep_typeahead_on_interrupt();
    loop {
        let mut session = lock(&shared);
        if terminated() {
            break;
        }
        session.clear_interrupt();
        session.sync_from_controls();
        if let Some(h) = rl.helper_mut() {
            h.settings = session.settings.clone();
            h.voices = session.voice_names();
        }
        prompt.follow(session.voice_name());
        let shown = prompt.get();
        typed.collect();
        let line = match typed.next_line() {
            Some(line) => {
                println!("{shown}{line}");
                line
            }
            None => {
                let partial = typed.take_partial();
                // The watch runner may use the session while the prompt waits for a line.
                drop(session);
                editing.store(true, Ordering::SeqCst);
                set_idle_exit(Some(idle_exit(shared.clone(), terminal.clone())));
                if terminated() {
                    // The signal came while the last command ran, or just after it.
                    set_idle_exit(None);
                    break;
                }
                let read = rl.readline_with_initial(&shown, (&partial, ""));
                set_idle_exit(None);
                editing.store(false, Ordering::SeqCst);
                session = lock(&shared);
                // A SIGINT while the prompt waited (one sent with `kill`, or Ctrl-C when the
                // input is not a terminal) interrupted nothing: it must not cut the line read
                // now short. SIGTERM is different: it ends tms.
                session.clear_interrupt();
                if terminated() {
                    break;
                }
                match read {
                    Ok(line) => line,
                    Err(ReadlineError::Interrupted) => {
                        // As shells do: the abandoned line stays visible, marked.
                        if interactive {
                            println!("^C");
                        }
                        continue;
                    }
                    Err(ReadlineError::Eof) => break,
                    Err(e) => {
                        eprintln!("tms: {e}");
                        failed = true;
                        break;
                    }
                }
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let _ = rl.add_history_entry(line.as_str());
        if let Err(msg) = session.run_source(&Source {
            name: "<prompt>",
            text: &line,
        }) {
            eprintln!("{msg}");
            // Ctrl-C is the player's choice, not a failure of the input.
            failed |= !session.interrupted();
        }
        if session.wants_quit() || terminated() {
            break;
        }
    }
    let mut session = lock(&shared);
    session.stage_shutdown();
    terminal.restore();
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
    if terminated() {
        ExitCode::from(130)
    } else if failed && !interactive {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn set_idle_exit(exit: Option<IdleExit>) {
    *IDLE_EXIT.lock().unwrap_or_else(|e| e.into_inner()) = exit;
}

/// Ends tms from the signal thread while the prompt waits for a line: the stage is shut
/// down as `quit` does it, the terminal is given back as it was (rustyline holds it in raw
/// mode while it reads), then the process exits with 130.
fn idle_exit(session: Arc<Mutex<Session>>, terminal: Terminal) -> IdleExit {
    Box::new(move || {
        // A watched run may hold the session: the interrupt flag is set, so it stops soon.
        lock(&session).stage_shutdown();
        terminal.restore();
        println!();
        let _ = std::io::stdout().flush();
        std::process::exit(130);
    })
}

/// The terminal's settings before rustyline changed them, to restore when tms must exit
/// while a line is being read.
#[derive(Clone)]
struct Terminal(Option<nix::sys::termios::Termios>);

impl Terminal {
    fn save() -> Terminal {
        let stdin = std::io::stdin();
        Terminal(
            stdin
                .is_terminal()
                .then(|| nix::sys::termios::tcgetattr(&stdin).ok())
                .flatten(),
        )
    }

    /// Ctrl-C makes the terminal throw away what it holds typed ahead (and any line half
    /// typed) unless NOFLSH is set: with it, a line typed while `generate` ran still runs
    /// after Ctrl-C stopped `generate`, as the prompt promises. rustyline keeps the flag: it
    /// saves the mode before each read and restores it after.
    fn keep_typeahead_on_interrupt(&self) {
        if let Some(t) = &self.0 {
            let mut kept = t.clone();
            kept.local_flags
                .insert(nix::sys::termios::LocalFlags::NOFLSH);
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                &kept,
            );
        }
    }

    fn restore(&self) {
        if let Some(t) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                t,
            );
        }
    }
}
