//! Session commands about performing: ports, connections, the player, live mode, knobs,
//! listening. The `Performer` owns the MIDI connections and the player thread; the session
//! only translates commands and keeps the shared live `Controls` in step with `set`.

use crate::say;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::Session;
use crate::error::{Error, ErrorKind};
use crate::lang::ast::{PortArg, Stage};
use crate::lang::settings::{Live, SettingId};
use crate::lang::span::Span;
use crate::model::{Generator, SampleOptions};
use crate::music::note::Note;
use crate::perform::{self, Controls, NoteSource, Performer, PortSel};

pub(super) struct State {
    pub controls: Arc<Controls>,
    pub performer: Option<Performer>,
    /// The scale mask for live generation (not numeric, so not in Controls).
    pub live_shape: Arc<Mutex<LiveShape>>,
}

impl Default for State {
    fn default() -> Self {
        State {
            controls: Arc::new(Controls::default()),
            performer: None,
            live_shape: Arc::new(Mutex::new(LiveShape {
                allowed: None,
                tonic: None,
            })),
        }
    }
}

pub(super) struct LiveShape {
    allowed: Option<[bool; 128]>,
    tonic: Option<u8>,
}

/// Live mode's note supplier: the model's generator reading the current controls per note.
struct LiveSource {
    generator: Generator,
    rng: ChaCha20Rng,
    shape: Arc<Mutex<LiveShape>>,
}

impl NoteSource for LiveSource {
    fn next_note(&mut self, controls: &Controls) -> Option<Note> {
        let (allowed, tonic) = self
            .shape
            .lock()
            .map_or((None, None), |s| (s.allowed, s.tonic));
        let opts = SampleOptions {
            temperature: controls.get(Live::Temperature),
            top_k: controls.get(Live::TopK) as usize,
            allowed,
            tonic,
            min_duration: controls.get(Live::MinDuration),
        };
        Some(self.generator.next(&opts, &mut self.rng))
    }
}

impl Session {
    fn performer(&mut self) -> &mut Performer {
        let controls = self.stage.controls.clone();
        self.stage.performer.get_or_insert_with(|| {
            Performer::new(
                controls,
                Box::new(|line: String| {
                    // A closed stdout must not kill the player thread.
                    let _ = writeln!(std::io::stdout(), "{line}");
                }),
            )
        })
    }

    /// Replaces how the player prints (the REPL passes rustyline's external printer).
    pub fn set_printer(&mut self, printer: Box<dyn FnMut(String) + Send>) {
        let controls = self.stage.controls.clone();
        if self.stage.performer.is_none() {
            self.stage.performer = Some(Performer::new(controls, printer));
        }
    }

    pub(super) fn stage_command(&mut self, cmd: &Stage, span: Span) -> Result<(), Error> {
        let fail = |e: perform::PerformError| Error::failed(span, e.to_string());
        match cmd {
            Stage::Ports => {
                let list = perform::list_ports().map_err(fail)?;
                say!(self, "outputs:");
                if list.outputs.is_empty() {
                    say!(self, "  (none)");
                }
                for (i, p) in list.outputs.iter().enumerate() {
                    say!(self, "  {}  {p}", i + 1);
                }
                say!(self, "inputs:");
                if list.inputs.is_empty() {
                    say!(self, "  (none)");
                }
                for (i, p) in list.inputs.iter().enumerate() {
                    say!(self, "  {}  {p}", i + 1);
                }
                Ok(())
            }
            Stage::Connect { input, port } => {
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
                say!(
                    self,
                    "connected {} {name}",
                    if *input { "input" } else { "output" }
                );
                Ok(())
            }
            Stage::Disconnect => {
                if let Some(p) = self.stage.performer.as_mut() {
                    p.disconnect();
                }
                say!(self, "disconnected");
                Ok(())
            }
            Stage::Play { looped } => {
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
            Stage::Live { on: true } => {
                let generator = self.live_generator(span)?;
                // As `play`: no port at all is said in one line, not an error, so a script
                // runs on a machine without a synth.
                if !self.ensure_output()? {
                    return Ok(());
                }
                let rng = ChaCha20Rng::seed_from_u64(self.derive_seed());
                self.sync_live_shape();
                let source = LiveSource {
                    generator,
                    rng,
                    shape: self.stage.live_shape.clone(),
                };
                self.performer().live(Box::new(source)).map_err(fail)?;
                say!(self, "live: on (`live off` or `stop` to end)");
                Ok(())
            }
            Stage::Live { on: false } | Stage::Stop => {
                if let Some(p) = self.stage.performer.as_mut() {
                    p.stop();
                }
                Ok(())
            }
            Stage::Panic => {
                if let Some(p) = self.stage.performer.as_mut() {
                    p.panic();
                }
                Ok(())
            }
            Stage::Wait => {
                self.wait_for_player();
                match self.interrupted() {
                    true => Err(Error::new(span, ErrorKind::Interrupted)),
                    false => Ok(()),
                }
            }
            Stage::Listen { n } => {
                let interrupt = self.interrupt.clone();
                let notes = self
                    .performer()
                    .listen(*n, Duration::from_millis(600), &interrupt)
                    .map_err(fail)?;
                if self.interrupted() {
                    return Err(Error::new(span, ErrorKind::Interrupted));
                }
                if notes.is_empty() {
                    return Err(Error::failed(span, "heard no notes"));
                }
                say!(
                    self,
                    "heard {} notes: {}",
                    notes.len(),
                    crate::music::notes_text::format_notes(&notes)
                );
                self.set_melody(notes);
                Ok(())
            }
            Stage::Map {
                cc,
                setting,
                min,
                max,
            } => {
                self.performer().map_cc(*cc, setting.value, *min, *max);
                say!(self, "cc {cc} → {} ({min} to {max})", setting.value.name());
                Ok(())
            }
            Stage::MapList => {
                let maps = self
                    .stage
                    .performer
                    .as_ref()
                    .map(|p| p.mappings())
                    .unwrap_or_default();
                if maps.is_empty() {
                    say!(self, "no knobs mapped (map cc N SETTING MIN MAX)");
                }
                for (cc, setting, min, max) in maps {
                    say!(self, "cc {cc} → {} ({min} to {max})", setting.name());
                }
                Ok(())
            }
            Stage::Unmap { cc } => {
                let removed = self
                    .stage
                    .performer
                    .as_mut()
                    .is_some_and(|p| p.unmap_cc(*cc));
                if !removed {
                    return Err(Error::failed(span, format!("cc {cc} is not mapped")));
                }
                say!(self, "unmapped cc {cc}");
                Ok(())
            }
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
                say!(self, "not playing: {e}");
                return Ok(false);
            }
        };
        if outputs.is_empty() {
            say!(
                self,
                "not playing: no MIDI output port (connect a synth, then `ports` and `connect N`)"
            );
            return Ok(false);
        }
        match self.performer().connect_output(&PortSel::Index(1)) {
            Ok(name) => {
                say!(self, "connected output {name}");
                Ok(true)
            }
            Err(e) => {
                say!(self, "not playing: {e}");
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
    pub(super) fn stage_setting_changed(&mut self, id: SettingId) {
        if let Some(l) = id.live() {
            self.stage.controls.set(l, self.settings.live_value(l));
        }
        if id == SettingId::Scale {
            self.sync_live_shape();
        }
    }

    fn sync_live_shape(&mut self) {
        if let Ok(mut s) = self.stage.live_shape.lock() {
            s.allowed = self.settings.scale.map(|s| s.mask());
            s.tonic = self.settings.scale.map(|s| s.tonic);
        }
    }

    /// Pulls knob changes back into the settings so `set` lists what is playing.
    pub fn sync_from_controls(&mut self) {
        for &l in Live::ALL {
            self.settings.set_live(l, self.stage.controls.get(l));
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
