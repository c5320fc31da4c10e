//! The interpreter: a `Session` holds everything a user builds up at the prompt (settings,
//! seed, dataset, model, melody, connections, history) and executes typed commands against
//! it. Parsing never happens here, and nothing here prints errors: they are returned as
//! data for the one renderer in `error.rs`.

mod data;
mod learn;
mod stage;

use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use colored::Colorize;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::error::{render, Error, ErrorKind};
use crate::lang::ast::{Command, Stmt};
use crate::lang::commands::{self, COMMANDS};
use crate::lang::settings::{self, Settings, Value, SETTINGS};
use crate::lang::span::Span;
use crate::music::note::{Note, Tune};

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
    device: String,
    tunes: Vec<Tune>,
    /// The current melody and how many of its first notes are the primer.
    melody: Vec<Note>,
    primer_len: usize,
    history: Vec<String>,
    run_depth: usize,
    /// Set by Ctrl-C; long commands poll it and stop cleanly.
    interrupt: Arc<AtomicBool>,
    quit: bool,
    color: bool,
    learn: learn::State,
    stage: stage::State,
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
        crate::model::init_threads();
        let mut s = Session {
            settings: Settings::default(),
            loss: LossWeights {
                pitch: 1.0,
                step: 1.0,
                duration: 1.0,
            },
            seed,
            initial_seed: seed,
            rng: ChaCha20Rng::seed_from_u64(seed),
            device: "auto".into(),
            tunes: Vec::new(),
            melody: Vec::new(),
            primer_len: 0,
            history: Vec::new(),
            run_depth: 0,
            interrupt,
            quit: false,
            color,
            learn: learn::State::default(),
            stage: stage::State::default(),
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
        self.rng = ChaCha20Rng::seed_from_u64(seed);
        tch::manual_seed(seed as i64);
    }

    /// A seed for one sub-task (weight init, a training run), drawn from the session's
    /// generator so the whole session stays a function of its seed.
    fn derive_seed(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// The device name as the banner and `--version` show it.
    pub fn device_label(&self) -> String {
        format!("{:?}", self.tch_device()).to_lowercase()
    }

    fn tch_device(&self) -> tch::Device {
        match self.device.as_str() {
            "cpu" => tch::Device::Cpu,
            "cuda" => tch::Device::Cuda(0),
            "auto" => tch::Device::cuda_if_available(),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map_or(tch::Device::Cpu, tch::Device::Cuda),
        }
    }

    /// Parses and runs a whole text (a script, a `-c` argument, a REPL line), stopping at the
    /// first error. Syntax errors anywhere stop it before anything runs, as a script with a
    /// typo on line 40 should not train for an hour first. Returns the rendered error.
    pub fn run_source(&mut self, src: &Source) -> Result<(), String> {
        let parsed = crate::lang::parse(src.text);
        if let Some(e) = parsed.errors.first() {
            return Err(render(e, src.name, src.text, self.color));
        }
        for stmt in &parsed.stmts {
            let result = if self.interrupted() {
                Err(Error::new(stmt.span, ErrorKind::Interrupted))
            } else {
                self.execute(stmt)
            };
            // Ctrl-C during a command (a sleep, a training run) ends the script there too.
            let result = result.and_then(|()| match self.interrupted() {
                true => Err(Error::new(stmt.span, ErrorKind::Interrupted)),
                false => Ok(()),
            });
            if let Err(e) = result {
                return Err(match e.kind {
                    ErrorKind::Failed(ref m) if m.starts_with(NESTED) => {
                        m[NESTED.len()..].to_string()
                    }
                    _ => render(&e, src.name, src.text, self.color),
                });
            }
            if self.quit {
                break;
            }
        }
        Ok(())
    }

    /// Runs one command and, when it succeeds, records it for `history`.
    pub fn execute(&mut self, stmt: &Stmt) -> Result<(), Error> {
        let result = self.dispatch(stmt);
        if result.is_ok() && records(&stmt.cmd) {
            self.history.push(stmt.cmd.to_string());
        }
        result
    }

    fn dispatch(&mut self, stmt: &Stmt) -> Result<(), Error> {
        let span = stmt.span;
        match &stmt.cmd {
            Command::Help { topic } => {
                self.help(topic.as_ref().map(|t| t.value.as_str()));
                Ok(())
            }
            Command::Seed { seed } => {
                self.reseed(*seed);
                Ok(())
            }
            Command::Device { device } => self.set_device(&device.value, device.span),
            Command::Set { name, value } => self.set(&name.value, &value.value, span),
            Command::SetList => {
                self.list_settings();
                Ok(())
            }
            Command::Loss {
                pitch,
                step,
                duration,
            } => {
                self.loss.pitch = pitch.unwrap_or(self.loss.pitch);
                self.loss.step = step.unwrap_or(self.loss.step);
                self.loss.duration = duration.unwrap_or(self.loss.duration);
                println!(
                    "loss weights: pitch {} step {} duration {}",
                    self.loss.pitch, self.loss.step, self.loss.duration
                );
                Ok(())
            }
            Command::Sleep { seconds } => {
                self.sleep(*seconds);
                Ok(())
            }
            Command::Run { path } => self.run_file(&path.value, path.span),
            Command::History { path } => match path {
                None => {
                    print!("{}", self.history_text());
                    Ok(())
                }
                Some(p) => self.save_history(&p.value, p.span),
            },
            Command::Quit => {
                self.stage_shutdown();
                self.quit = true;
                Ok(())
            }
            Command::Load { .. }
            | Command::Dataset
            | Command::Export { .. }
            | Command::PrimeFile { .. }
            | Command::PrimeNotes { .. }
            | Command::Show
            | Command::Write { .. }
            | Command::Render { .. } => self.data_command(&stmt.cmd, span),
            Command::ModelNew
            | Command::ModelOpen { .. }
            | Command::Save { .. }
            | Command::Train { .. }
            | Command::Evaluate { .. }
            | Command::Generate { .. } => self.learn_command(&stmt.cmd, span),
            Command::Ports
            | Command::Connect { .. }
            | Command::Disconnect
            | Command::Play { .. }
            | Command::Live { .. }
            | Command::Stop
            | Command::Panic
            | Command::Listen { .. }
            | Command::Map { .. }
            | Command::MapList
            | Command::Unmap { .. }
            | Command::Wait => self.stage_command(&stmt.cmd, span),
        }
    }

    fn help(&self, topic: Option<&str>) {
        let bold = |s: &str| {
            if self.color {
                s.bold().to_string()
            } else {
                s.to_string()
            }
        };
        match topic {
            None => {
                println!(
                    "{}",
                    bold("commands (`help COMMAND` for one, `help settings` for settings):")
                );
                let width = COMMANDS.iter().map(|c| c.name.len()).max().unwrap_or(0);
                for c in COMMANDS {
                    println!("  {:width$}  {}", c.name, c.summary);
                }
            }
            Some("settings") => {
                println!("{}", bold("settings (`set NAME VALUE`):"));
                for s in SETTINGS {
                    let default = Settings::default().get(s.name).map(|v| v.to_string());
                    println!(
                        "  {:16} {} — {}; default {}",
                        s.name,
                        s.help,
                        s.kind.allowed(),
                        default.unwrap_or_default()
                    );
                }
            }
            Some(name) => {
                let Some(c) = commands::lookup(name) else {
                    return;
                };
                println!("{}", bold(c.usage));
                println!("  {}", c.summary);
                if !c.details.is_empty() {
                    println!("  {}", c.details);
                }
                println!("  example: {}", c.example);
            }
        }
    }

    fn set_device(&mut self, device: &str, span: Span) -> Result<(), Error> {
        if device.starts_with("cuda") {
            let count = tch::Cuda::device_count();
            let index = device
                .strip_prefix("cuda:")
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap_or(0);
            if count == 0 {
                return Err(Error::failed(
                    span,
                    format!(
                        "CUDA is not available here (libtorch {} found no GPU); use `device cpu` or `device auto`",
                        env!("TMS_LIBTORCH_VERSION")
                    ),
                ));
            }
            if index >= count {
                return Err(Error::failed(
                    span,
                    format!(
                        "no GPU {device}: this machine has {count} (cuda:0 to cuda:{})",
                        count - 1
                    ),
                ));
            }
        }
        self.device = device.to_string();
        self.move_model_to_device();
        println!("device {}", self.device_label());
        Ok(())
    }

    fn set(&mut self, name: &str, value: &Value, span: Span) -> Result<(), Error> {
        self.settings.assign(name, value);
        self.on_setting_changed(name, span)?;
        let shown = self
            .settings
            .get(name)
            .map(|v| v.to_string())
            .unwrap_or_default();
        let shown = if name == "program" {
            format!(
                "{shown} ({})",
                crate::music::gm::GM_PROGRAMS[self.settings.program as usize]
            )
        } else {
            shown
        };
        println!("{name} = {shown}");
        Ok(())
    }

    fn list_settings(&self) {
        let defaults = Settings::default();
        for s in SETTINGS {
            let value = self
                .settings
                .get(s.name)
                .map(|v| v.to_string())
                .unwrap_or_default();
            let changed = self.settings.get(s.name) != defaults.get(s.name);
            let line = format!("{:16} {:12} {}", s.name, value, s.help);
            if changed && self.color {
                println!("{}", line.bold());
            } else {
                println!("{line}");
            }
        }
    }

    /// Sleeps in small slices so Ctrl-C ends it promptly.
    fn sleep(&self, seconds: f64) {
        let end = Instant::now() + Duration::from_secs_f64(seconds);
        while Instant::now() < end && !self.interrupted() {
            std::thread::sleep(Duration::from_millis(10).min(end - Instant::now()));
        }
    }

    fn run_file(&mut self, path: &str, span: Span) -> Result<(), Error> {
        if self.run_depth >= MAX_RUN_DEPTH {
            return Err(Error::failed(
                span,
                format!("`run` nested {MAX_RUN_DEPTH} deep: does a script run itself?"),
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::failed(
                span,
                format!("cannot read script `{path}`: {}", io_reason(&e)),
            )
        })?;
        self.run_depth += 1;
        let result = self.run_source(&Source {
            name: path,
            text: text.strip_prefix('\u{feff}').unwrap_or(&text),
        });
        self.run_depth -= 1;
        result.map_err(|rendered| Error::failed(span, format!("{NESTED}{rendered}")))
    }

    /// The session as a script: its starting seed, then every successful command.
    pub fn history_text(&self) -> String {
        let mut out = format!("seed {}\n", self.initial_seed);
        for line in &self.history {
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    fn save_history(&self, path: &str, span: Span) -> Result<(), Error> {
        write_atomic(Path::new(path), self.history_text().as_bytes()).map_err(|e| {
            Error::failed(span, format!("cannot write `{path}`: {}", io_reason(&e)))
        })?;
        println!("wrote {} commands to {path}", self.history.len() + 1);
        Ok(())
    }

    /// Settings that live outside `Settings` (live controls, the player) follow changes here.
    fn on_setting_changed(&mut self, name: &str, span: Span) -> Result<(), Error> {
        self.stage_setting_changed(name, span)
    }
}

/// A nested script's error arrives already rendered with its own file and line.
const NESTED: &str = "\u{0}nested:";

/// Commands that change state and so belong in a replayable history.
fn records(cmd: &Command) -> bool {
    !matches!(
        cmd,
        Command::Help { .. }
            | Command::History { .. }
            | Command::Run { .. }
            | Command::Quit
            | Command::SetList
            | Command::Dataset
            | Command::Show
            | Command::Ports
            | Command::MapList
    )
}

/// An OS error's message without Rust's `(os error 2)` suffix.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_lowercase(),
                None => s,
            }
        }
    }
}

/// Writes through a temporary file in the same directory, then renames: a crash never
/// leaves half a file where a good one was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

pub fn settings_names() -> impl Iterator<Item = &'static str> {
    settings::names()
}
