//! Voices: several players at one prompt (`voice "bass"`), as Tidal has d1…d12 and Sonic Pi
//! its live_loops. Each voice has its own model, primer, melody, live controls and the
//! settings whose row in the settings table says `voice`; tempo, meter, quantize, latency and
//! the training settings stay shared, as do the clock and the output port.
//!
//! The session holds the current voice whole (`Session::voice`: its model, melody,
//! controls), so every command acts on it without knowing voices exist; the others wait
//! in `stage.voices`, and `voice "NAME"` swaps. The current voice's own settings are the
//! session's settings (one `Settings`, read by every command); a waiting voice keeps its
//! values of the `voice` and `draw` rows in its own.

use crate::say;
use std::sync::{Arc, Mutex};

use super::stage::LiveShape;
use super::Session;
use crate::error::{Error, ErrorKind};
use crate::ground::span::Spanned;
use crate::lang::commands::MAX_VOICES;
use crate::model::{Generator, Model, Trainer, WeightFeed};
use crate::music::grid::BarLines;
use crate::music::meter::Bars;
use crate::music::note::Note;
use crate::music::scale::Scale;
use crate::perform::record::MAIN_TRACK;
use crate::perform::{Activity, Controls};
use crate::settings::{Live, Settings};

/// One voice: the controls its player reads, the model it draws with and the melody it
/// plays.
pub(super) struct Voice {
    pub name: String,
    /// Its live controls, which the player reads for each of its notes.
    pub controls: Arc<Controls>,
    /// Its values of the `voice` and `draw` rows while another voice is current; the
    /// current voice's are the session's settings.
    pub settings: Settings,
    pub model: Option<Model>,
    /// Where the model's new weights reach its live source; a new model gets a new feed.
    pub feed: Arc<WeightFeed>,
    pub trainer: Option<Trainer>,
    /// The LSTM state after the melody, so `generate 32` twice continues one melody.
    /// Anything that changes the melody or the model drops it.
    pub generator: Option<Generator>,
    /// The melody and how many of its first notes are the primer.
    pub melody: Vec<Note>,
    pub primer_len: usize,
    /// Where the melody's bars fall (its source's upbeat, or bars from its first note).
    pub bars: Bars,
    /// The scale the melody's newest notes were generated in: the key notation writes.
    pub melody_scale: Option<Scale>,
    /// The scale mask and the grid for live generation (not numeric, so not in Controls).
    pub live_shape: Arc<Mutex<LiveShape>>,
}

impl Voice {
    /// The first voice, as a session starts.
    pub fn main() -> Voice {
        let settings = Settings::default();
        Voice {
            name: MAIN_TRACK.to_string(),
            controls: Arc::new(Controls::default()),
            live_shape: Arc::new(Mutex::new(LiveShape::of(
                &settings,
                None,
                BarLines::default(),
            ))),
            settings,
            model: None,
            feed: Arc::default(),
            trainer: None,
            generator: None,
            melody: Vec::new(),
            primer_len: 0,
            bars: Bars::default(),
            melody_scale: None,
        }
    }
}

impl Session {
    /// The current voice's name.
    pub fn voice_name(&self) -> &str {
        &self.voice.name
    }

    /// Voice `i` in the order voices were made.
    pub(super) fn voice_at(&self, i: usize) -> &Voice {
        match self.stage.voices.get(i).and_then(Option::as_ref) {
            Some(v) => v,
            None => &self.voice,
        }
    }

    /// Every voice's name, for completion at the prompt.
    pub fn voice_names(&self) -> Vec<String> {
        (0..self.stage.voices.len())
            .map(|i| self.voice_at(i).name.clone())
            .collect()
    }

    /// The controls that carry the shared live settings (tempo, latency): the first
    /// voice's, which the player and the input port read them from.
    pub(super) fn shared_controls(&self) -> Arc<Controls> {
        self.voice_at(0).controls.clone()
    }

    /// Writes a live setting to the controls that play it: the current voice's for a
    /// per-voice setting, every voice's for a shared one.
    pub(super) fn set_control(&self, l: Live, v: f64) {
        if l.per_voice() {
            self.voice.controls.set(l, v);
        } else {
            for i in 0..self.stage.voices.len() {
                self.voice_at(i).controls.set(l, v);
            }
        }
    }

    /// `voice "NAME"`: makes NAME current, creating it as a copy of the current voice.
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
        let existing = (0..self.stage.voices.len()).find(|&i| self.voice_at(i).name == name);
        if existing.is_none() && self.stage.voices.len() >= MAX_VOICES {
            return Err(Error::new(span, ErrorKind::TooManyVoices(MAX_VOICES)));
        }
        let created = existing.is_none();
        let target = match existing {
            Some(i) => i,
            None => {
                let copy = self.copy_of_current(name);
                self.stage.voices.push(Some(copy));
                self.stage.voices.len() - 1
            }
        };
        self.swap_to(target);
        let controls = self.voice.controls.clone();
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

    /// A new voice called `name`: a copy of the current one (the model's weights copied,
    /// not shared, so training one voice leaves the other as it was), with controls of its
    /// own.
    fn copy_of_current(&self, name: &str) -> Voice {
        let settings = &self.settings;
        let controls = Arc::new(Controls::default());
        for &l in Live::ALL.iter().filter(|&&l| l != Live::Program) {
            controls.set(l, settings.live_value(l));
        }
        // An unset program stays unset: the synth keeps the sound it has on that channel.
        if let Some(p) = self.voice.controls.program() {
            controls.set(Live::Program, f64::from(p));
        }
        let v = &self.voice;
        let grid = super::learn::resolve_grid(settings.grid, v.model.as_ref(), self.data.grid);
        let shape = LiveShape::of(
            settings,
            grid,
            BarLines {
                first: v.bars.upbeat_in(settings.meter),
                every: settings.meter.bar_seconds(),
            },
        );
        Voice {
            name: name.to_string(),
            controls,
            settings: settings.clone(),
            model: v.model.as_ref().map(Model::duplicate),
            // A model of its own, so weights of its own.
            feed: Arc::default(),
            trainer: None,
            generator: None,
            melody: v.melody.clone(),
            primer_len: v.primer_len,
            bars: v.bars,
            melody_scale: v.melody_scale,
            live_shape: Arc::new(Mutex::new(shape)),
        }
    }

    /// Makes voice `target` current: the current voice goes back to its slot with its own
    /// settings, and the target's own settings go over the shared ones, its model onto the
    /// session's device.
    fn swap_to(&mut self, target: usize) {
        let Some(mut incoming) = self.stage.voices.get_mut(target).and_then(Option::take) else {
            return;
        };
        let own = self.settings.clone();
        for id in crate::settings::voice_settings() {
            // Both sides passed the same checks, so this cannot fail.
            let _ = self.settings.set(id, &incoming.settings.get_id(id));
        }
        let device = self.model_device();
        let moved = incoming
            .model
            .as_ref()
            .is_some_and(|m| m.device() != device);
        if let Some(m) = incoming.model.as_mut() {
            m.to_device(device);
            // `precision` is shared by the voices: one set while this one waited holds.
            m.set_precision(self.settings.precision);
        }
        if moved {
            incoming.trainer = None;
            incoming.generator = None;
        }
        let mut outgoing = std::mem::replace(&mut self.voice, incoming);
        outgoing.settings = own;
        self.stage.voices[self.stage.current] = Some(outgoing);
        self.stage.current = target;
        // The shared live settings may have changed while it waited, and a knob may have
        // turned one of its own: the controls are what plays.
        for &l in Live::ALL {
            if !l.per_voice() {
                self.voice.controls.set(l, self.settings.live_value(l));
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
        let voices: Vec<&Voice> = (0..self.stage.voices.len())
            .map(|i| self.voice_at(i))
            .collect();
        let name_w = voices
            .iter()
            .map(|v| v.name.chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        let lines: Vec<String> = voices
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let current = i == self.stage.current;
                let (settings, model, melody) = match current {
                    false => (&v.settings, v.model.as_ref(), v.melody.len()),
                    true => (&self.settings, v.model.as_ref(), v.melody.len()),
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
