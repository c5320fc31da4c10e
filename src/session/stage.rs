//! Session commands about performing: ports, connections, the player, live mode, knobs,
//! listening. The `Performer` owns the MIDI connections and the player thread; the session
//! only translates commands and keeps the shared live `Controls` in step with `set`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::Session;
use crate::error::Error;
use crate::lang::ast::{Command, PortArg};
use crate::lang::span::Span;
use crate::model::{Generator, SampleOptions};
use crate::music::note::Note;
use crate::perform::{self, Controls, NoteSource, Performer, PortSel};

/// Settings the player and the live generator read while they run.
const LIVE_SETTINGS: [&str; 8] = [
    "tempo",
    "transpose",
    "velocity",
    "channel",
    "program",
    "latency",
    "temperature",
    "top_k",
];

pub(super) struct State {
    pub controls: Arc<Controls>,
    pub performer: Option<Performer>,
    /// Scale mask and shortest note for live generation (not numeric, so not in Controls).
    pub live_shape: Arc<Mutex<LiveShape>>,
}

impl Default for State {
    fn default() -> Self {
        State {
            controls: Arc::new(Controls::default()),
            performer: None,
            live_shape: Arc::new(Mutex::new(LiveShape {
                allowed: None,
                min_duration: 0.05,
            })),
        }
    }
}

pub(super) struct LiveShape {
    allowed: Option<[bool; 128]>,
    min_duration: f64,
}

/// Live mode's note supplier: the model's generator reading the current controls per note.
struct LiveSource {
    generator: Generator,
    rng: ChaCha20Rng,
    shape: Arc<Mutex<LiveShape>>,
}

impl NoteSource for LiveSource {
    fn next_note(&mut self, controls: &Controls) -> Option<Note> {
        let (allowed, min_duration) = match self.shape.lock() {
            Ok(s) => (s.allowed, s.min_duration),
            Err(_) => (None, 0.05),
        };
        let opts = SampleOptions {
            temperature: controls.get("temperature").unwrap_or(1.0),
            top_k: controls.get("top_k").unwrap_or(0.0).max(0.0) as usize,
            allowed,
            min_duration,
        };
        Some(self.generator.next(&opts, &mut self.rng))
    }
}

impl Session {
    fn performer(&mut self) -> &mut Performer {
        let controls = self.stage.controls.clone();
        self.stage.performer.get_or_insert_with(|| {
            Performer::new(controls, Box::new(|line: String| println!("{line}")))
        })
    }

    /// Replaces how the player prints (the REPL passes rustyline's external printer).
    pub fn set_printer(&mut self, printer: Box<dyn FnMut(String) + Send>) {
        let controls = self.stage.controls.clone();
        if self.stage.performer.is_none() {
            self.stage.performer = Some(Performer::new(controls, printer));
        }
    }

    pub(super) fn stage_command(&mut self, cmd: &Command, span: Span) -> Result<(), Error> {
        let fail = |e: perform::PerformError| Error::failed(span, e.to_string());
        match cmd {
            Command::Ports => {
                let list = perform::list_ports().map_err(fail)?;
                println!("outputs:");
                if list.outputs.is_empty() {
                    println!("  (none)");
                }
                for (i, p) in list.outputs.iter().enumerate() {
                    println!("  {}  {p}", i + 1);
                }
                println!("inputs:");
                if list.inputs.is_empty() {
                    println!("  (none)");
                }
                for (i, p) in list.inputs.iter().enumerate() {
                    println!("  {}  {p}", i + 1);
                }
                Ok(())
            }
            Command::Connect { input, port } => {
                let sel = match &port.value {
                    PortArg::Index(i) => PortSel::Index(*i),
                    PortArg::Name(n) => PortSel::Name(n.clone()),
                };
                let fail = |e: perform::PerformError| Error::failed(port.span, e.to_string());
                let name = if *input {
                    self.performer().connect_input(&sel).map_err(fail)?
                } else {
                    self.performer().connect_output(&sel).map_err(fail)?
                };
                println!(
                    "connected {} {name}",
                    if *input { "input" } else { "output" }
                );
                Ok(())
            }
            Command::Disconnect => {
                if let Some(p) = self.stage.performer.as_mut() {
                    p.disconnect();
                }
                println!("disconnected");
                Ok(())
            }
            Command::Play { looped } => {
                if self.melody().is_empty() {
                    return Err(Error::failed(
                        span,
                        "no melody yet: use `prime` or `generate`",
                    ));
                }
                if !self.ensure_output()? {
                    return Ok(());
                }
                let melody = self.melody().to_vec();
                self.performer().play(&melody, *looped).map_err(fail)?;
                Ok(())
            }
            Command::Live { on: true } => {
                let generator = self.live_generator(span)?;
                let rng = ChaCha20Rng::seed_from_u64(self.derive_seed());
                self.sync_live_shape(span)?;
                let source = LiveSource {
                    generator,
                    rng,
                    shape: self.stage.live_shape.clone(),
                };
                self.performer().live(Box::new(source)).map_err(fail)?;
                println!("live: on (`live off` or `stop` to end)");
                Ok(())
            }
            Command::Live { on: false } | Command::Stop => {
                if let Some(p) = self.stage.performer.as_mut() {
                    p.stop();
                }
                Ok(())
            }
            Command::Panic => {
                if let Some(p) = self.stage.performer.as_mut() {
                    p.panic();
                }
                Ok(())
            }
            Command::Wait => {
                self.wait_for_player();
                Ok(())
            }
            Command::Listen { n } => {
                let interrupt = self.interrupt.clone();
                let notes = self
                    .performer()
                    .listen(*n, Duration::from_millis(600), &interrupt)
                    .map_err(fail)?;
                if notes.is_empty() {
                    return Err(Error::failed(span, "heard no notes"));
                }
                println!(
                    "heard {} notes: {}",
                    notes.len(),
                    crate::music::notes_text::format_notes(&notes)
                );
                self.set_melody(notes);
                Ok(())
            }
            Command::Map {
                cc,
                setting,
                min,
                max,
            } => {
                if !LIVE_SETTINGS.contains(&setting.value.as_str()) {
                    return Err(Error::failed(
                        setting.span,
                        format!(
                            "a knob can drive only the live settings: {}",
                            LIVE_SETTINGS.join(", ")
                        ),
                    ));
                }
                self.performer()
                    .map_cc(*cc, setting.value.clone(), *min, *max);
                println!("cc {cc} → {} ({min} to {max})", setting.value);
                Ok(())
            }
            Command::MapList => {
                let maps = self
                    .stage
                    .performer
                    .as_ref()
                    .map(|p| p.mappings())
                    .unwrap_or_default();
                if maps.is_empty() {
                    println!("no knobs mapped (map cc N SETTING MIN MAX)");
                }
                for (cc, setting, min, max) in maps {
                    println!("cc {cc} → {setting} ({min} to {max})");
                }
                Ok(())
            }
            Command::Unmap { cc } => {
                let removed = self
                    .stage
                    .performer
                    .as_mut()
                    .is_some_and(|p| p.unmap_cc(*cc));
                if !removed {
                    return Err(Error::failed(span, format!("cc {cc} is not mapped")));
                }
                println!("unmapped cc {cc}");
                Ok(())
            }
            _ => unreachable!("dispatch sends only performance commands here"),
        }
    }

    /// Connects the first output port when none is connected, as a musician expects `play`
    /// to just work. Where there is no port at all it says so in one line and plays nothing
    /// (false), so that a demo script runs on a machine without a synth.
    fn ensure_output(&mut self) -> Result<bool, Error> {
        if self.performer().connections().0.is_some() {
            return Ok(true);
        }
        let outputs = match perform::list_ports() {
            Ok(list) => list.outputs,
            Err(e) => {
                println!("not playing: {e}");
                return Ok(false);
            }
        };
        if outputs.is_empty() {
            println!(
                "not playing: no MIDI output port (connect a synth, then `ports` and `connect N`)"
            );
            return Ok(false);
        }
        match self.performer().connect_output(&PortSel::Index(1)) {
            Ok(name) => {
                println!("connected output {name}");
                Ok(true)
            }
            Err(e) => {
                println!("not playing: {e}");
                Ok(false)
            }
        }
    }

    /// Blocks until the melody has played, polling so that Ctrl-C stops it (with note-offs).
    fn wait_for_player(&mut self) {
        while self
            .stage
            .performer
            .as_ref()
            .is_some_and(|p| p.is_playing())
        {
            if self.interrupted() {
                if let Some(p) = self.stage.performer.as_mut() {
                    p.stop();
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Keeps the live controls equal to the settings the user changed.
    pub(super) fn stage_setting_changed(&mut self, name: &str, span: Span) -> Result<(), Error> {
        if LIVE_SETTINGS.contains(&name) {
            if let Some(crate::lang::settings::Value::Int(i)) = self.settings.get(name) {
                self.stage.controls.set(name, i as f64);
            } else if let Some(crate::lang::settings::Value::Float(x)) = self.settings.get(name) {
                self.stage.controls.set(name, x);
            }
        }
        if name == "scale" || name == "min_duration" {
            self.sync_live_shape(span)?;
        }
        Ok(())
    }

    fn sync_live_shape(&mut self, span: Span) -> Result<(), Error> {
        let allowed =
            super::learn::scale_mask(&self.settings.scale).map_err(|m| Error::failed(span, m))?;
        if let Ok(mut s) = self.stage.live_shape.lock() {
            s.allowed = allowed;
            s.min_duration = self.settings.min_duration;
        }
        Ok(())
    }

    /// Pulls knob changes back into the settings so `set` lists what is playing.
    pub fn sync_from_controls(&mut self) {
        for name in LIVE_SETTINGS {
            if let Some(v) = self.stage.controls.get(name) {
                let value = match self.settings.get(name) {
                    Some(crate::lang::settings::Value::Int(_)) => {
                        crate::lang::settings::Value::Int(v.round() as i64)
                    }
                    _ => crate::lang::settings::Value::Float(v),
                };
                self.settings.assign(name, &value);
            }
        }
    }

    /// Silences everything and closes the ports: `quit`, end of a script, drop.
    pub fn stage_shutdown(&mut self) {
        if let Some(mut p) = self.stage.performer.take() {
            p.disconnect();
        }
    }

    /// A script that ends while a melody plays waits for it (LANGUAGE.md), then silences.
    pub fn finish_script(&mut self) {
        self.wait_for_player();
        self.stage_shutdown();
    }
}
