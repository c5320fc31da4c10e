//! Voices: several players at one prompt (`voice "bass"`), as Tidal has d1…d12 and Sonic Pi
//! its live_loops. Each voice has its own model, primer, melody, live controls and the
//! settings whose row in the settings table says `voice`; tempo, meter, quantize, latency and
//! the training settings stay shared, as do the clock and the output port.
//!
//! The rest of the session works on "the current" model, melody and settings; switching
//! voice parks the current voice's part of that state in its slot and takes the other's
//! out, so every existing command acts on the current voice without knowing voices exist.

use crate::say;
use std::sync::{Arc, Mutex};

use super::stage::LiveShape;
use super::Session;
use crate::error::{Error, ErrorKind};
use crate::ground::span::Spanned;
use crate::lang::commands::MAX_VOICES;
use crate::model::{Generator, Model, Trainer, WeightFeed};
use crate::music::note::Note;
use crate::perform::record::MAIN_TRACK;
use crate::perform::{Activity, Controls};
use crate::settings::{Live, Settings};

/// One voice as the session keeps it.
pub(super) struct Voice {
    pub name: String,
    /// Its live controls: also `stage.controls` while it is current.
    pub controls: Arc<Controls>,
    /// Its state while another voice is current.
    parked: Option<Parked>,
}

/// What a voice that is not current keeps aside.
struct Parked {
    settings: Settings,
    model: Option<Model>,
    /// Where the model's new weights reach this voice's live source.
    feed: Arc<WeightFeed>,
    trainer: Option<Trainer>,
    generator: Option<Generator>,
    melody: Vec<Note>,
    primer_len: usize,
    bars: crate::music::meter::Bars,
    melody_scale: Option<crate::music::scale::Scale>,
    live_shape: Arc<Mutex<LiveShape>>,
}

impl Voice {
    /// The first voice, holding the session's controls.
    pub fn main(controls: Arc<Controls>) -> Voice {
        Voice {
            name: MAIN_TRACK.to_string(),
            controls,
            parked: None,
        }
    }
}

impl Session {
    /// The current voice's name.
    pub fn voice_name(&self) -> &str {
        &self.stage.voices[self.stage.current].name
    }

    /// Every voice's name, for completion at the prompt.
    pub fn voice_names(&self) -> Vec<String> {
        self.stage.voices.iter().map(|v| v.name.clone()).collect()
    }

    /// The controls that carry the shared live settings (tempo, latency): the first
    /// voice's, which the player and the input port read them from.
    pub(super) fn shared_controls(&self) -> Arc<Controls> {
        self.stage.voices[0].controls.clone()
    }

    /// Writes a live setting to the controls that play it: the current voice's for a
    /// per-voice setting, every voice's for a shared one.
    pub(super) fn set_control(&self, l: Live, v: f64) {
        if l.per_voice() {
            self.stage.controls.set(l, v);
        } else {
            for voice in &self.stage.voices {
                voice.controls.set(l, v);
            }
        }
    }

    /// `voice "NAME"`: parks the current voice and makes NAME current, creating it as a
    /// copy of the current one.
    pub(super) fn voice_command(&mut self, name: &Spanned<String>) -> Result<(), Error> {
        // A run in the background trains the current voice's model and sends the session
        // its weights at each epoch's end: the model stays where it is until then.
        self.refuse_while_training(name.span, "switching voice")?;
        let span = name.span;
        let name = name.value.as_str();
        if name == self.voice_name() {
            say!(self, "voice {name} (already the current voice)");
            return Ok(());
        }
        self.sync_from_controls();
        let from = self.voice_name().to_string();
        let existing = self.stage.voices.iter().position(|v| v.name == name);
        if existing.is_none() && self.stage.voices.len() >= MAX_VOICES {
            return Err(Error::new(span, ErrorKind::TooManyVoices(MAX_VOICES)));
        }
        let parked = self.park();
        let created = existing.is_none();
        let target = match existing {
            Some(i) => i,
            None => {
                let copy = self.copy_of(&parked);
                self.stage.voices.push(Voice {
                    name: name.to_string(),
                    controls: copy.1,
                    parked: Some(copy.0),
                });
                self.stage.voices.len() - 1
            }
        };
        self.stage.voices[self.stage.current].parked = Some(parked);
        self.stage.current = target;
        self.unpark();
        let controls = self.stage.controls.clone();
        if let Some(p) = self.stage.performer.as_mut() {
            p.select_voice(name, controls);
        }
        let channel = self.settings.channel;
        match created {
            true => say!(
                self,
                "voice {name}: new, a copy of {from}, on channel {channel} (`set channel N` to move it)"
            ),
            false => say!(self, "voice {name} on channel {channel}"),
        }
        Ok(())
    }

    /// Takes the current voice's own state out of the session.
    fn park(&mut self) -> Parked {
        Parked {
            settings: self.settings.clone(),
            model: self.learn.model.take(),
            feed: self.learn.feed.clone(),
            trainer: self.learn.trainer.take(),
            generator: self.learn.generator.take(),
            melody: std::mem::take(&mut self.melody),
            primer_len: self.primer_len,
            bars: self.bars,
            melody_scale: self.melody_scale,
            live_shape: self.stage.live_shape.clone(),
        }
    }

    /// A new voice's state: a copy of `from` (the model's weights copied, not shared, so
    /// training one voice leaves the other as it was), with controls of its own.
    fn copy_of(&self, from: &Parked) -> (Parked, Arc<Controls>) {
        let controls = Arc::new(Controls::default());
        for &l in Live::ALL.iter().filter(|&&l| l != Live::Program) {
            controls.set(l, from.settings.live_value(l));
        }
        // An unset program stays unset: the synth keeps the sound it has on that channel.
        if let Some(p) = self.stage.controls.program() {
            controls.set(Live::Program, f64::from(p));
        }
        let grid = super::learn::resolve_grid(
            from.settings.grid,
            from.model.as_ref(),
            self.learn.data_grid,
        );
        let shape = LiveShape::of(
            &from.settings,
            grid,
            crate::music::grid::BarLines {
                first: from.bars.upbeat_in(from.settings.meter),
                every: from.settings.meter.bar_seconds(),
            },
        );
        let parked = Parked {
            settings: from.settings.clone(),
            model: from.model.as_ref().map(Model::duplicate),
            // A model of its own, so weights of its own.
            feed: Arc::default(),
            trainer: None,
            generator: None,
            melody: from.melody.clone(),
            primer_len: from.primer_len,
            bars: from.bars,
            melody_scale: from.melody_scale,
            live_shape: Arc::new(Mutex::new(shape)),
        };
        (parked, controls)
    }

    /// Puts the current slot's parked state into the session: its own settings over the
    /// shared ones, its model (on the session's device), melody and controls.
    fn unpark(&mut self) {
        let voice = &mut self.stage.voices[self.stage.current];
        let Some(p) = voice.parked.take() else {
            return;
        };
        let controls = voice.controls.clone();
        for id in crate::settings::voice_settings() {
            // Both sides passed the same checks, so this cannot fail.
            let _ = self.settings.set(id, &p.settings.get_id(id));
        }
        let mut model = p.model;
        let device = self.tch_device();
        let moved = model.as_ref().is_some_and(|m| m.device() != device);
        if let Some(m) = model.as_mut() {
            m.to_device(device);
            // `precision` is shared by the voices: one set while this one was parked holds.
            m.set_precision(self.settings.precision);
        }
        self.learn.model = model;
        self.learn.feed = p.feed;
        self.learn.trainer = if moved { None } else { p.trainer };
        self.learn.generator = if moved { None } else { p.generator };
        self.melody = p.melody;
        self.primer_len = p.primer_len;
        self.bars = p.bars;
        self.melody_scale = p.melody_scale;
        self.stage.controls = controls;
        self.stage.live_shape = p.live_shape;
        // The shared live settings may have changed while it was parked, and a knob may
        // have turned one of its own: the controls are what plays.
        for &l in Live::ALL {
            if !l.per_voice() {
                self.stage.controls.set(l, self.settings.live_value(l));
            }
        }
        self.sync_from_controls();
    }

    /// `voices`: one line per voice, the current one marked.
    pub(super) fn list_voices(&mut self) {
        let doing: Vec<(String, Activity)> = match &self.stage.performer {
            Some(p) => p.voices(),
            None => Vec::new(),
        };
        let responder = self
            .stage
            .performer
            .as_ref()
            .and_then(|p| p.responding_voice().map(str::to_string));
        let waiting_port = self
            .stage
            .performer
            .as_ref()
            .and_then(|p| p.waiting_for_port());
        // `learn on` keeps the current voice current (switching is refused while it runs).
        let learning = self.learn.learning.is_some();
        // Columns as wide as the longest name, so the usual line fits 80 columns.
        let name_w = self
            .stage
            .voices
            .iter()
            .map(|v| v.name.chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        let lines: Vec<String> = self
            .stage
            .voices
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let current = i == self.stage.current;
                let (settings, model, melody) = match &v.parked {
                    Some(p) => (&p.settings, p.model.as_ref(), p.melody.len()),
                    None => (&self.settings, self.learn.model.as_ref(), self.melody.len()),
                };
                let what = doing
                    .iter()
                    .find(|(n, _)| *n == v.name)
                    .map_or(Activity::Silent, |d| d.1);
                let what = match what {
                    Activity::Silent => "silent",
                    Activity::Playing => "playing",
                    Activity::Looping => "looping",
                    Activity::Live => "live",
                };
                let model = match model {
                    Some(m) => {
                        let c = m.config();
                        format!(
                            "LSTM {}x{}, {}",
                            c.hidden,
                            c.layers,
                            super::data::count(m.epochs(), "epoch")
                        )
                    }
                    None => "no model".to_string(),
                };
                let pad = name_w - v.name.chars().count();
                let mut line = format!(
                    "{} {}{:pad$}  ch {:<2}  {what:<7}  {model}, {}",
                    if current { "*" } else { " " },
                    v.name,
                    "",
                    settings.channel,
                    super::data::count(melody, "note"),
                );
                if let (Some(port), false) = (&waiting_port, what == "silent") {
                    line.push_str(&format!(", waiting for port `{port}` to return"));
                }
                if responder.as_deref() == Some(v.name.as_str()) {
                    line.push_str(", answers the input");
                }
                if current && learning {
                    line.push_str(", learns from the input");
                }
                line
            })
            .collect();
        for line in lines {
            say!(self, "{line}");
        }
    }
}
