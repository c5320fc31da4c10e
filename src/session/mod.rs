//! The interpreter: a `Session` holds everything a user builds up at the prompt (settings,
//! seed, dataset, model, melody, connections, history) and executes typed commands against
//! it. Parsing never happens here, and nothing here prints errors: they are returned as
//! data for the one renderer in `error.rs`.

mod background;
mod clock;
mod data;
mod form;
mod learn;
mod learning;
mod redraw;
mod stage;
mod voices;
mod watch;

pub use learn::OpenModelError;
pub use watch::{Bell, WatchError};

use crate::{say, say_raw};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use colored::Colorize;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::error::{Error, ErrorKind, Report, ScriptError, ERRORS_SHOWN};
use crate::ground::span::Span;
use crate::lang::ast::Stmt;
use crate::lang::commands::{self, session as cmd, Handle};
use crate::lang::help;
use crate::lang::Statements;
use crate::model::cuda::DeviceChoice;
use crate::settings::{self, SettingId, Settings, Value, SETTINGS};

/// How deep `run` may nest before we call it a loop.
const MAX_RUN_DEPTH: usize = 16;

/// Loss weights of the three heads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossWeights {
    pub pitch: f64,
    pub step: f64,
    pub duration: f64,
}

pub struct Session {
    pub settings: Settings,
    pub loss: LossWeights,
    /// The seed of the last `seed` command, or the one drawn at start.
    seed: u64,
    /// The seed the session started with; `history` files begin with it.
    initial_seed: u64,
    rng: ChaCha20Rng,
    device: DeviceChoice,
    /// The dataset: its tunes, its validation split, its grid.
    data: data::State,
    /// The voice the prompt acts on: its model, its melody, its controls. Every command
    /// reads and changes it here; `voice "NAME"` swaps it with one in `stage.voices`.
    voice: voices::Voice,
    /// What replays the session: the lines `history` writes.
    history: History,
    run_depth: usize,
    /// Set by Ctrl-C; long commands poll it and stop cleanly.
    interrupt: Arc<AtomicBool>,
    quit: bool,
    color: bool,
    /// Everything the session says goes here (stdout unless replaced).
    pub out: crate::out::Out,
    learn: learn::State,
    stage: stage::State,
    watch: watch::State,
}

/// What `history` writes: the commands that changed the session, as they really ran.
#[derive(Default)]
struct History {
    lines: Vec<String>,
    /// Set by a command that turned out to change nothing (`train` showing progress), so
    /// that `history` leaves it out.
    unrecorded: bool,
    /// What a command Ctrl-C cut short really did (`train 50 stop after 494 batches`), for
    /// `history` to record instead of what was typed, so that replay writes the same bytes.
    recorded_as: Option<String>,
}

/// Where a batch of commands came from, for error messages.
pub struct Source<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

impl Session {
    /// A session seeded with `seed`, or with a freshly drawn seed when None.
    pub fn new(seed: Option<u64>, interrupt: Arc<AtomicBool>, color: bool) -> Session {
        let seed = seed.unwrap_or_else(|| rand::rng().next_u64() % 1_000_000_000);
        let mut s = Session {
            settings: Settings::default(),
            // Rhythm weighs less than pitch: the three cross-entropies share one LSTM, and
            // with rhythm at 0.3 instead of 1 the held-out pitch NLL fell 0.013 nats while
            // the step and duration NLLs rose 0.045 and 0.011 (README, "The shipped model").
            loss: LossWeights {
                pitch: 1.0,
                step: 0.2,
                duration: 0.2,
            },
            seed,
            initial_seed: seed,
            rng: ChaCha20Rng::seed_from_u64(seed),
            device: DeviceChoice::Auto,
            data: data::State::default(),
            voice: voices::Voice::main(),
            history: History::default(),
            run_depth: 0,
            interrupt,
            quit: false,
            color,
            out: crate::out::Out::stdout(),
            learn: learn::State::default(),
            stage: stage::State::default(),
            watch: watch::State::default(),
        };
        s.reseed(seed);
        s
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn wants_quit(&self) -> bool {
        self.quit
    }

    pub fn interrupted(&self) -> bool {
        self.interrupt.load(Ordering::SeqCst)
    }

    pub fn clear_interrupt(&self) {
        self.interrupt.store(false, Ordering::SeqCst);
    }

    fn reseed(&mut self, seed: u64) {
        self.seed = seed;
        // libtorch's generator needs no seed here: whatever draws from it (a new model's
        // weights, each epoch's dropout) seeds it first from this session's generator.
        self.rng = ChaCha20Rng::seed_from_u64(seed);
    }

    /// A seed for one sub-task (weight init, a training run), drawn from the session's
    /// generator so the whole session stays a function of its seed.
    fn derive_seed(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// The device name as the banner and `--version` show it.
    pub fn device_label(&self) -> String {
        format!("{:?}", self.model_device()).to_lowercase()
    }

    fn model_device(&self) -> crate::model::Device {
        self.device.resolve()
    }

    /// Parses and runs a whole text (a script, a `-c` argument, a REPL line), stopping at the
    /// first error. Syntax errors anywhere stop it before anything runs, as a script with a
    /// typo on line 40 should not train for an hour first. The errors come back with the
    /// text they point into, to be shown as they print.
    pub fn run_source(&mut self, src: &Source) -> Result<(), Report> {
        self.run_text(src).map_err(|errors| Report {
            script: ScriptError {
                file: src.name.to_string(),
                source: src.text.into(),
                errors,
            },
            color: self.color,
        })
    }

    /// [`Session::run_source`] with the errors as data: every syntax error of the text, or
    /// the one error that stopped it.
    fn run_text(&mut self, src: &Source) -> Result<(), Vec<Error>> {
        // Checked whole before anything runs (a typo on the last line must not wait for an
        // hour of training), then parsed again command by command as it runs: a long script
        // costs memory for its text, never for all its commands at once.
        let mut errors = Vec::new();
        let mut more = 0;
        for e in Statements::new(src.text).filter_map(Result::err) {
            if errors.len() < ERRORS_SHOWN {
                errors.push(e);
            } else {
                more += 1;
            }
        }
        if more > 0 {
            errors.push(Error {
                span: None,
                kind: ErrorKind::MoreErrors(more),
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // A command that notices Ctrl-C returns `Interrupted` itself; one that arrives after
        // a command finished stops the script before the next one, and is reported there.
        let mut last = None;
        for stmt in Statements::new(src.text) {
            let stmt = stmt.map_err(|e| vec![e])?;
            if self.interrupted() {
                return Err(vec![Error::new(stmt.span, ErrorKind::Interrupted)]);
            }
            self.execute(&stmt).map_err(|e| vec![e])?;
            last = Some(stmt.span);
            if self.quit {
                break;
            }
        }
        match last {
            Some(span) if self.interrupted() => Err(vec![Error::new(span, ErrorKind::Interrupted)]),
            _ => Ok(()),
        }
    }

    /// Runs one command and, when it succeeds, records it for `history`; one that Ctrl-C
    /// stopped after it changed something is recorded as what it did.
    pub fn execute(&mut self, stmt: &Stmt) -> Result<(), Error> {
        self.history.unrecorded = false;
        self.history.recorded_as = None;
        let result = self.dispatch(stmt);
        match (&result, self.history.recorded_as.take()) {
            (Ok(()), Some(did)) => self.history.lines.push(did),
            (Err(e), Some(did)) if matches!(e.kind, ErrorKind::Interrupted) => {
                self.history.lines.push(did)
            }
            (Ok(()), None) if stmt.recorded && !self.history.unrecorded => {
                self.history.lines.push(stmt.cmd.to_string())
            }
            _ => {}
        }
        result
    }

    fn dispatch(&mut self, stmt: &Stmt) -> Result<(), Error> {
        let span = stmt.span;
        self.follow_link();
        self.learn.ended_before_this_command = false;
        self.poll_learning();
        if let Some(e) = self.poll_background() {
            say!(self, "background training stopped: {e}");
        }
        stmt.cmd.run(self, span)
    }

    fn help(&mut self, topic: Option<&str>) {
        let text = match topic {
            None => help::commands(self.color),
            Some("settings") => help::settings(self.color),
            Some(name) => match (commands::lookup(name), settings::spec(name)) {
                (Some(c), _) => help::command(c, self.color),
                (None, Some(s)) => help::setting(s, &self.settings, self.color),
                // The parser lets only known topics through.
                (None, None) => return,
            },
        };
        say_raw!(self, "{}", wrap_for_terminal(text));
    }

    fn set_device(&mut self, device: DeviceChoice, span: Span) -> Result<(), Error> {
        self.refuse_while_training(span, "moving the model")?;
        if let DeviceChoice::Cuda(index) = device {
            let count = crate::model::cuda::gpus();
            if count == 0 {
                return Err(Error::new(span, ErrorKind::NoCuda));
            }
            if index >= count {
                return Err(Error::new(span, ErrorKind::NoSuchGpu { device, count }));
            }
        }
        self.device = device;
        self.move_model_to_device();
        say!(self, "device {}", self.device_label());
        Ok(())
    }

    fn set(&mut self, id: SettingId, value: &Value, span: Span) -> Result<(), Error> {
        if id == SettingId::Tempo && self.clock_in_leads() {
            // One voice for the clock: the value is checked, then nothing changes.
            Settings::default()
                .set(id, value)
                .map_err(|e| Error::new(span, e.into()))?;
            self.history.unrecorded = true;
            self.sync_from_controls();
            say!(
                self,
                "tempo stays {} BPM: it follows MIDI clock in (`clock in off` to set it here)",
                Value::Float(self.settings.tempo).shown()
            );
            return Ok(());
        }
        if id == SettingId::Precision {
            // A training run publishes steppers of its own copy of the model.
            self.refuse_while_training(span, "changing `precision`")?;
        }
        self.settings
            .set(id, value)
            .map_err(|e| Error::new(span, e.into()))?;
        self.stage_setting_changed(id);
        if id == SettingId::Meter {
            // The melody is read again in its new bars (by a model that reads positions).
            self.voice.generator = None;
        }
        if id == SettingId::Precision {
            if let Some(m) = self.voice.model.as_mut() {
                m.set_precision(self.settings.precision);
                // The next `generate` reads the melody again, stepping in the new precision.
                self.voice.generator = None;
            }
        }
        let shown = self.settings.get_id(id);
        match id {
            SettingId::Program => say!(
                self,
                "program = {shown} ({})",
                crate::music::gm::GM_PROGRAMS[self.settings.program as usize]
            ),
            _ => say!(self, "{} = {shown}", id.name()),
        }
        Ok(())
    }

    fn list_settings(&mut self) {
        let defaults = Settings::default();
        for s in SETTINGS {
            let value = self.settings.get_id(s.id);
            let changed = value != defaults.get_id(s.id);
            let value = match s.id == SettingId::Tempo && self.tempo_not_known_yet() {
                true => "no ticks yet".to_string(),
                false => value.shown(),
            };
            let line = format!("{:16} {:12} {}", s.name, value, s.help);
            if changed && self.color {
                say!(self, "{}", line.bold());
            } else {
                say!(self, "{line}");
            }
        }
    }

    /// Sleeps in small slices so Ctrl-C ends it promptly (and says so). Background
    /// training's lines are said as they come.
    fn sleep(&mut self, seconds: f64, span: Span) -> Result<(), Error> {
        let end = Instant::now() + Duration::from_secs_f64(seconds);
        while Instant::now() < end {
            if self.interrupted() {
                return Err(Error::new(span, ErrorKind::Interrupted));
            }
            self.poll_learning();
            if let Some(e) = self.poll_background() {
                say!(self, "background training stopped: {e}");
            }
            std::thread::sleep(Duration::from_millis(10).min(end - Instant::now()));
        }
        Ok(())
    }

    fn run_file(&mut self, path: &str, span: Span) -> Result<(), Error> {
        if self.run_depth >= MAX_RUN_DEPTH {
            return Err(Error::new(span, ErrorKind::RunTooDeep(MAX_RUN_DEPTH)));
        }
        let text = crate::fsio::read_script(Path::new(path)).map_err(|reason| {
            Error::new(
                span,
                ErrorKind::ScriptUnreadable {
                    path: path.to_string(),
                    reason,
                },
            )
        })?;
        let text = text.as_str();
        self.run_depth += 1;
        let result = self.run_text(&Source { name: path, text });
        self.run_depth -= 1;
        result.map_err(|errors| {
            // An interruption is the caller's too: it ends every script on the way up.
            if errors
                .iter()
                .any(|e| matches!(e.kind, ErrorKind::Interrupted))
            {
                return Error::new(span, ErrorKind::Interrupted);
            }
            Error::new(
                span,
                ErrorKind::InScript(Box::new(ScriptError {
                    file: path.to_string(),
                    source: text.into(),
                    errors,
                })),
            )
        })
    }

    /// The session as a script: its starting seed, then every successful command.
    pub fn history_text(&self) -> String {
        let mut out = format!("seed {}\n", self.initial_seed);
        for line in &self.history.lines {
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    fn save_history(&mut self, path: &str, span: Span) -> Result<(), Error> {
        crate::fsio::write(Path::new(path), self.history_text().as_bytes()).map_err(|reason| {
            let path = path.to_string();
            Error::new(span, ErrorKind::CannotWrite { path, reason })
        })?;
        say!(
            self,
            "wrote {} commands to {path}",
            self.history.lines.len() + 1
        );
        Ok(())
    }
}

// The session's own commands, one handler each (`lang::commands::session` has their rows).

impl Handle<cmd::Help> for Session {
    fn handle(&mut self, cmd: &cmd::Help, _: Span) -> Result<(), Error> {
        // Knobs and a followed clock change live settings behind the prompt's back.
        self.sync_from_controls();
        self.help(cmd.topic.as_ref().map(|t| t.value.as_str()));
        Ok(())
    }
}

impl Handle<cmd::Seed> for Session {
    fn handle(&mut self, cmd: &cmd::Seed, _: Span) -> Result<(), Error> {
        self.reseed(cmd.seed);
        Ok(())
    }
}

impl Handle<cmd::Device> for Session {
    fn handle(&mut self, cmd: &cmd::Device, _: Span) -> Result<(), Error> {
        if let Some(d) = &cmd.device {
            return self.set_device(d.value, d.span);
        }
        say!(
            self,
            "device {} ({}); CUDA {}",
            self.device,
            self.device_label(),
            match crate::model::cuda::gpus() {
                0 => "not available".into(),
                n => format!("available, {n} GPU(s)"),
            }
        );
        Ok(())
    }
}

impl Handle<cmd::Set> for Session {
    fn handle(&mut self, cmd: &cmd::Set, span: Span) -> Result<(), Error> {
        match cmd {
            cmd::Set::To { name, value } => self.set(name.value, &value.value, span),
            cmd::Set::Show { name } => {
                // Showing changes nothing: a replayed session does not need it.
                self.history.unrecorded = true;
                self.sync_from_controls();
                let text = help::setting(name.value.spec(), &self.settings, self.color);
                say_raw!(self, "{}", wrap_for_terminal(text));
                Ok(())
            }
            cmd::Set::List => {
                // Knobs and a followed clock change live settings behind the prompt's back.
                self.sync_from_controls();
                self.list_settings();
                Ok(())
            }
        }
    }
}

impl Handle<cmd::Loss> for Session {
    fn handle(&mut self, cmd: &cmd::Loss, span: Span) -> Result<(), Error> {
        let w = LossWeights {
            pitch: cmd.pitch.unwrap_or(self.loss.pitch),
            step: cmd.step.unwrap_or(self.loss.step),
            duration: cmd.duration.unwrap_or(self.loss.duration),
        };
        if w.pitch == 0.0 && w.step == 0.0 && w.duration == 0.0 {
            return Err(Error::new(span, ErrorKind::ZeroLossWeights));
        }
        self.loss = w;
        say!(
            self,
            "loss weights: pitch {} step {} duration {}",
            self.loss.pitch,
            self.loss.step,
            self.loss.duration
        );
        Ok(())
    }
}

impl Handle<cmd::Sleep> for Session {
    fn handle(&mut self, cmd: &cmd::Sleep, span: Span) -> Result<(), Error> {
        self.sleep(cmd.seconds, span)
    }
}

impl Handle<cmd::Run> for Session {
    fn handle(&mut self, cmd: &cmd::Run, _: Span) -> Result<(), Error> {
        self.run_file(&cmd.path.value, cmd.path.span)
    }
}

impl Handle<cmd::Watch> for Session {
    fn handle(&mut self, cmd: &cmd::Watch, span: Span) -> Result<(), Error> {
        self.watch_command(cmd.path.as_ref().map(|p| p.value.as_str()), span)
    }
}

impl Handle<cmd::Unwatch> for Session {
    fn handle(&mut self, _: &cmd::Unwatch, _: Span) -> Result<(), Error> {
        self.unwatch_command();
        Ok(())
    }
}

impl Handle<cmd::History> for Session {
    fn handle(&mut self, cmd: &cmd::History, _: Span) -> Result<(), Error> {
        match &cmd.path {
            None => {
                say_raw!(self, "{}", self.history_text());
                Ok(())
            }
            Some(p) => self.save_history(&p.value, p.span),
        }
    }
}

impl Handle<cmd::Quit> for Session {
    fn handle(&mut self, _: &cmd::Quit, _: Span) -> Result<(), Error> {
        self.stage_shutdown();
        self.quit = true;
        Ok(())
    }
}

pub fn settings_names() -> impl Iterator<Item = &'static str> {
    settings::names()
}

/// Help at a terminal is wrapped at its edge, between words; piped help is left as written
/// (one line a row, for tools and tests that read it).
fn wrap_for_terminal(text: String) -> String {
    match crate::out::terminal_columns() {
        Some(width) => help::wrap(&text, width),
        None => text,
    }
}
