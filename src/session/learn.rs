//! Session commands about the model: model new/open, save, train, evaluate, generate.

use crate::say;
use std::path::Path;

use super::Session;
use crate::error::{Error, ErrorKind};
use crate::fsio::io_reason;
use crate::ground::span::Span;
use crate::lang::commands::{model as cmd, Handle};
use crate::model::{self, Generator, Model, ModelError, SampleOptions, TrainConfig, Trainer};
use crate::settings::Switch;
use std::sync::Arc;

use crate::music::grid::{Grid, GridChoice};

#[derive(Default)]
pub(super) struct State {
    /// A run of `train N background`; `model` is then the session's copy.
    pub background: Option<super::background::Background>,
    pub printer: Option<Arc<std::sync::Mutex<super::background::Printer>>>,
    /// A background run ended and said so just before this command: a `train` typed to see
    /// its progress must not start a new run.
    pub ended_before_this_command: bool,
    /// `learn on`; `model` is then the session's copy.
    pub learning: Option<super::learning::Learning>,
    /// Phrases learned from the input in this session.
    pub phrases_learned: u64,
}

impl Handle<cmd::Model> for Session {
    fn handle(&mut self, cmd: &cmd::Model, span: Span) -> Result<(), Error> {
        match cmd {
            cmd::Model::New => {
                self.refuse_while_training(span, "a new model")?;
                self.new_model(span)
            }
            cmd::Model::Show => {
                let m = self.need_model(span)?;
                let line = format!("model: {}", m.describe());
                say!(self, "{line}");
                Ok(())
            }
            cmd::Model::Open { path } => {
                self.refuse_while_training(span, "opening another model")?;
                let mut m = open_model(&path.value, self.model_device())
                    .map_err(|e| Error::new(path.span, e.into()))?;
                m.set_precision(self.settings.precision);
                say!(self, "model: {}", m.describe());
                self.voice.model = Some(m);
                self.voice.feed = Arc::default();
                self.voice.trainer = None;
                self.voice.generator = None;
                self.sync_live_shape();
                Ok(())
            }
        }
    }
}

impl Handle<cmd::Save> for Session {
    fn handle(&mut self, cmd: &cmd::Save, span: Span) -> Result<(), Error> {
        let cmd::Save { path } = cmd;
        let m = self.need_model(span)?;
        m.save(Path::new(&path.value)).map_err(|reason| {
            let kind = ErrorKind::CannotSave {
                path: path.value.clone(),
                reason: Box::new(reason),
            };
            Error::new(path.span, kind)
        })?;
        say!(self, "saved {}", path.value);
        Ok(())
    }
}

impl Handle<cmd::Train> for Session {
    fn handle(&mut self, cmd: &cmd::Train, span: Span) -> Result<(), Error> {
        match cmd {
            cmd::Train::Run {
                epochs: None,
                background: false,
                stop_after: None,
            } if self.show_background() || self.learn.ended_before_this_command => {
                // Showing progress changes nothing: replaying the session must not train.
                self.history.unrecorded = true;
                Ok(())
            }
            cmd::Train::Run {
                epochs,
                background,
                stop_after,
            } => {
                let epochs = epochs.unwrap_or(self.settings.epochs as usize);
                match (background, stop_after) {
                    (true, Some(_)) => Err(Error::new(span, ErrorKind::BackgroundStopAfter)),
                    (true, None) => self.train_background(epochs, span),
                    (false, _) => self.train(epochs, *stop_after, span),
                }
            }
            cmd::Train::Stop if self.learn.background.is_none() => {
                // Not an error: a run may have ended just before, and a script goes on.
                say!(self, "no training runs in the background: nothing to stop");
                Ok(())
            }
            cmd::Train::Stop => match self.stop_background("train stop") {
                Some(e) => Err(Error::new(span, e.into())),
                None => Ok(()),
            },
        }
    }
}

impl Handle<cmd::Learn> for Session {
    fn handle(&mut self, cmd: &cmd::Learn, span: Span) -> Result<(), Error> {
        self.learn_mode(cmd.on, span)
    }
}

impl Handle<cmd::Evaluate> for Session {
    fn handle(&mut self, cmd: &cmd::Evaluate, span: Span) -> Result<(), Error> {
        let cmd::Evaluate { glob } = cmd;
        // No model is the first thing to say, before any files are read.
        self.need_model(span)?;
        let tunes = match glob {
            Some(g) => {
                let report = self.load_glob(&g.value, None, None, g.span)?;
                report.tunes
            }
            None => {
                if self.tunes().is_empty() {
                    return Err(Error::new(span, ErrorKind::NoDatasetToEvaluate));
                }
                let (_, val) =
                    model::split_validation(self.tunes(), self.settings.val, self.data.split_seed);
                if val.is_empty() {
                    return Err(Error::new(span, ErrorKind::EmptyValidation));
                }
                val.iter().map(|&i| self.tunes()[i].clone()).collect()
            }
        };
        let m = self.need_model(span)?;
        let seq_len = self.settings.seq_len as usize;
        let interrupt = self.interrupt.clone();
        let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(&format!(
                    "evaluating {{bar:30}} {{pos}}/{{len}} notes (context: seq_len {seq_len})"
                ))
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        let metrics = model::remote::evaluate_with(m, &tunes, seq_len, &mut |done, total| {
            if let Some(b) = &bar {
                b.set_length(total as u64);
                b.set_position(done as u64);
            }
            !interrupt.load(std::sync::atomic::Ordering::SeqCst)
        });
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        let metrics = metrics.map_err(|e| Error::new(span, e.into()))?;
        let Some(metrics) = metrics else {
            return Err(Error::new(span, ErrorKind::Interrupted));
        };
        if metrics.notes == 0 {
            let seq_len = self.settings.seq_len;
            return Err(Error::new(span, ErrorKind::NothingToScore { seq_len }));
        }
        // The score depends on the context length, so the line names it.
        say!(self, "{metrics} seq_len {seq_len}");
        Ok(())
    }
}

impl Handle<cmd::Generate> for Session {
    fn handle(&mut self, cmd: &cmd::Generate, span: Span) -> Result<(), Error> {
        let cmd::Generate {
            n,
            bars,
            overrides,
            end_tonic,
            stop_after,
            form,
            vary,
        } = cmd;
        let mut settings = self.settings.clone();
        for (id, value) in overrides {
            // The parser checked each against its row, so this cannot fail.
            let _ = settings.set(*id, &value.value);
        }
        let scale = settings.scale;
        let opts = SampleOptions {
            grid: resolve_grid(settings.grid, self.voice.model.as_ref(), self.data.grid),
            bar_lines: self.bar_lines(),
            ..settings.sample_options()
        };
        let tonic = match (end_tonic, scale) {
            (false, _) => None,
            (true, Some(s)) => Some(tonic_mask(s.tonic)),
            (true, None) => return Err(Error::new(span, ErrorKind::NeedsScale)),
        };
        if let Some(form) = form {
            let vary = vary.unwrap_or(super::form::DEFAULT_VARY);
            let made = self.generate_form(*n, form, vary, &opts, scale, span)?;
            if made > 0 {
                self.voice.melody_scale = scale;
            }
            return Ok(());
        }
        let length = if *bars {
            Length::Bars(*n)
        } else {
            Length::Notes(*n)
        };
        let (made, result) = self.generate(length, &opts, tonic, *stop_after, span);
        if made > 0 {
            self.voice.melody_scale = scale;
        }
        if self.interrupted() && made > 0 {
            // What replays it: the same call, stopped at the same note.
            let mut did = cmd.clone();
            did.stop_after = Some(made);
            self.history.recorded_as = Some(did.to_string());
        }
        result
    }
}

impl Handle<cmd::Regenerate> for Session {
    fn handle(&mut self, cmd: &cmd::Regenerate, span: Span) -> Result<(), Error> {
        let cmd::Regenerate { bars, tries } = cmd;
        let tries = tries.unwrap_or(super::redraw::DEFAULT_TRIES);
        self.redraw_bars(bars, 1.0, tries, span)
    }
}

impl Handle<cmd::Vary> for Session {
    fn handle(&mut self, cmd: &cmd::Vary, span: Span) -> Result<(), Error> {
        let cmd::Vary {
            bars,
            amount,
            tries,
        } = cmd;
        let amount = amount.unwrap_or(super::redraw::DEFAULT_AMOUNT);
        let tries = tries.unwrap_or(super::redraw::DEFAULT_TRIES);
        self.redraw_bars(bars, amount, tries, span)
    }
}

impl Session {
    pub(super) fn need_model(&self, span: Span) -> Result<&Model, Error> {
        self.voice
            .model
            .as_ref()
            .ok_or_else(|| Error::new(span, ErrorKind::NoModel))
    }

    fn model_config(&self) -> model::ModelConfig {
        let s = &self.settings;
        model::ModelConfig {
            // The pointer mixes probabilities, which the notebook's sigmoid head has not.
            pointer: s.pointer == Switch::On && s.head == model::Head::Softmax,
            // Positions are embedded like pitches, which the scalar input is not.
            position: s.position == Switch::On && s.input == model::Input::Embed,
            degree: s.degree == Switch::On && s.input == model::Input::Embed,
            hidden: s.hidden,
            layers: s.layers,
            embed: s.embed,
            input: s.input,
            head: s.head,
            rhythm: s.rhythm,
        }
    }

    /// A new model from the current settings; libtorch's initialisation runs in the trainer.
    fn new_model(&mut self, span: Span) -> Result<(), Error> {
        let seed = self.derive_seed();
        let mut m = model::remote::new_model(self.model_config(), self.model_device(), seed)
            .map_err(|e| Error::new(span, e.into()))?;
        m.set_precision(self.settings.precision);
        say!(self, "model: {}", m.describe());
        self.voice.model = Some(m);
        self.voice.feed = Arc::default();
        self.voice.trainer = None;
        self.voice.generator = None;
        self.sync_live_shape();
        Ok(())
    }

    pub(super) fn train_config(&self) -> TrainConfig {
        let s = &self.settings;
        TrainConfig {
            seq_len: s.seq_len as usize,
            batch: s.batch as usize,
            lr: s.lr,
            lr_decay: s.lr_decay,
            optimizer: s.optimizer,
            objective: s.objective,
            loss: model::LossWeights {
                pitch: self.loss.pitch,
                step: self.loss.step,
                duration: self.loss.duration,
            },
            clip: s.clip,
            dropout: s.dropout,
            augment: s.augment,
            val: s.val,
            keep: s.keep,
            checkpoint_every: s.checkpoint_every as usize,
            checkpoint_dir: s.checkpoint_dir.clone().into(),
            seed: self.data.split_seed,
        }
    }

    /// What foreground and background training both need: a dataset, and a model.
    pub(super) fn prepare_training(&mut self, span: Span) -> Result<(), Error> {
        if self.tunes().is_empty() {
            return Err(Error::new(span, ErrorKind::NoDataset));
        }
        if self.voice.model.is_none() {
            say!(self, "no model yet: a new one from the current settings");
            self.new_model(span)?;
        }
        // What it learns from is on this grid: `grid auto` generates on it from now on.
        let grid = self.data.grid;
        if let Some(m) = self.voice.model.as_mut() {
            m.set_data_grid(grid);
        }
        self.sync_live_shape();
        Ok(())
    }

    /// Trains `epochs` epochs, or fewer when `stop_after` batches (of this run) end it as
    /// Ctrl-C after that batch would. A run Ctrl-C stopped is recorded in `history` as the
    /// batches it trained, so replay stops where it stopped.
    fn train(&mut self, epochs: usize, stop_after: Option<usize>, span: Span) -> Result<(), Error> {
        self.refuse_while_training(span, "training again")?;
        self.prepare_training(span)?;
        let cfg = self.train_config();
        let tunes = std::mem::take(&mut self.data.tunes);
        let trainer = self.voice.trainer.get_or_insert_with(Trainer::new);
        let model = self.voice.model.as_mut().expect("created above");
        let mut voices = super::background::Voices {
            feed: &self.voice.feed,
            interrupt: &self.interrupt,
            batches: 0,
            stop_after,
        };
        let result = trainer.train(model, &tunes, &cfg, epochs, &mut self.out, &mut voices);
        let batches = voices.batches;
        self.data.tunes = tunes;
        self.voice.generator = None;
        match result {
            // Stopped after a batch: the model keeps what it learned, and a script stops here.
            Ok(_) if self.interrupted() => {
                if batches > 0 {
                    let did = cmd::Train::Run {
                        epochs: Some(epochs),
                        background: false,
                        stop_after: Some(batches),
                    };
                    self.history.recorded_as = Some(did.to_string());
                }
                Err(Error::new(span, ErrorKind::Interrupted))
            }
            Ok(_) => Ok(()),
            Err(e) => Err(Error::new(span, e.into())),
        }
    }

    fn generate(
        &mut self,
        length: Length,
        opts: &SampleOptions,
        tonic: Option<[bool; 128]>,
        stop_after: Option<usize>,
        span: Span,
    ) -> (usize, Result<(), Error>) {
        let mut made = 0;
        let result = self.generate_counting(length, opts, tonic, stop_after, &mut made, span);
        (made, result)
    }

    /// [`Session::generate`], counting the notes it made in `made` (a `generate` Ctrl-C
    /// stopped is recorded as them: `generate 1000000 stop after 5312 notes`).
    fn generate_counting(
        &mut self,
        length: Length,
        opts: &SampleOptions,
        tonic: Option<[bool; 128]>,
        stop_after: Option<usize>,
        made: &mut usize,
        span: Span,
    ) -> Result<(), Error> {
        self.need_model(span)?;
        if self.melody().is_empty() {
            return Err(Error::new(span, ErrorKind::NoPrimer));
        }
        if self.voice.generator.is_none() {
            let m = self.voice.model.as_ref().expect("checked above");
            self.voice.generator = Some(Generator::new(m, &self.voice.melody, self.frame()));
        }
        let bar = self.settings.meter.bar_seconds();
        let end_before = self
            .voice
            .melody
            .iter()
            .map(|n| n.end())
            .fold(0.0, f64::max);
        let (n, at) = match length {
            Length::Notes(n) => (n, None),
            // The bar the melody is in is completed (a melody ending on a bar line is in no
            // bar), then N whole bars follow. At most MAX_NOTES_PER_BAR notes a bar: a model
            // whose steps stay at 0 would otherwise never reach the bar line.
            Length::Bars(bars) => {
                let first = self
                    .voice
                    .bars
                    .next_bar_line(end_before, self.settings.meter);
                (bars * MAX_NOTES_PER_BAR, Some(first + bars as f64 * bar))
            }
        };
        let beat = self.settings.meter.beat_seconds();
        let gen = self.voice.generator.as_mut().expect("created above");
        let shift = gen.shift();
        let mut finished = false;
        let limit = stop_after.map_or(n, |k| k.min(n));
        let progress = generation_progress(limit);
        while !finished
            && *made < limit
            && !self.interrupt.load(std::sync::atomic::Ordering::SeqCst)
        {
            if made.is_multiple_of(PROGRESS_EVERY) {
                if let Some(bar) = &progress {
                    bar.set_position(*made as u64);
                }
            }
            let ending = model::Ending {
                at,
                last: at.is_none() && *made + 1 == n,
                last_pitches: tonic,
                // A melody that ends on its tonic rests there: a beat at least.
                min_last: if tonic.is_some() { beat } else { 0.0 },
                from: None,
            };
            let (note, last) = gen.next_ending(opts, &ending, &mut self.rng);
            if *made == 0 {
                // The generator cuts its own notes; the melody's last one may be the primer's.
                model::end_by(&mut self.voice.melody, note.start);
            }
            self.voice.melody.push(note);
            *made += 1;
            finished = last;
        }
        if let Some(bar) = progress {
            bar.finish_and_clear();
        }
        let moved = gen.shift();
        let made = *made;
        // Stopped before the end: by Ctrl-C, or where `stop after` said (a replayed Ctrl-C).
        let cut = match self.interrupted() {
            true => Some("before Ctrl-C"),
            false => stop_after.filter(|&k| made >= k).map(|_| "as asked"),
        };
        if moved != shift && made > 0 {
            // Why the new notes sit where they do: the scale is not in the key the model reads.
            let how = match moved {
                0 => "as it reads them".to_string(),
                m => format!(
                    "{} semitone{} {}",
                    m.abs(),
                    if m.abs() == 1 { "" } else { "s" },
                    if m > 0 { "higher" } else { "lower" }
                ),
            };
            say!(
                self,
                "the model continues in the key it read; to fit the scale its notes sound {how}"
            );
        }
        let end = self.voice.melody.last().map_or(0.0, |n| n.end());
        // A stopped run says what it really made.
        let what = match (length, at) {
            (Length::Bars(bars), Some(at)) if finished => format!(
                "generated {bars} bar{} of {}, {made} notes, ending at {at:.3} s",
                if bars == 1 { "" } else { "s" },
                self.settings.meter
            ),
            (Length::Bars(bars), _) if cut.is_none() => {
                let kind = ErrorKind::StepsNearZero {
                    notes: made,
                    bars: Some(bars),
                };
                return Err(Error::new(span, kind));
            }
            (Length::Bars(bars), _) => {
                format!(
                    "generated {made} notes of {bars} bars {}",
                    cut.unwrap_or_default()
                )
            }
            (Length::Notes(n), _) if made < n => {
                format!("generated {made} of {n} notes {}", cut.unwrap_or_default())
            }
            (Length::Notes(n), _) => format!("generated {}", super::data::count(n, "note")),
        };
        say!(
            self,
            "{what}: melody is {}, {:.1} s",
            super::data::count(self.voice.melody.len(), "note"),
            end
        );
        if self.interrupted() {
            return Err(Error::new(span, ErrorKind::Interrupted));
        }
        Ok(())
    }

    /// Where the melody's bar lines fall, for a grid laid from them.
    pub(super) fn bar_lines(&self) -> crate::music::grid::BarLines {
        crate::music::grid::BarLines {
            first: self.voice.bars.upbeat_in(self.settings.meter),
            every: self.settings.meter.bar_seconds(),
        }
    }

    /// The dataset was replaced: a new validation split, and its grid.
    pub(super) fn dataset_changed(&mut self) {
        self.data.split_seed = self.derive_seed();
        self.data.grid = crate::music::grid::of_data(self.tunes());
        self.sync_live_shape();
    }

    /// The grid generation uses: the `grid` setting, `auto` taken as the grid of the data
    /// the model learned from (its file records it), or for a model that records none (the
    /// notebook's, or one saved before tms recorded it) the loaded dataset's; free when
    /// neither is known.
    pub(super) fn grid(&self) -> Option<Grid> {
        resolve_grid(
            self.settings.grid,
            self.voice.model.as_ref(),
            self.data.grid,
        )
    }

    /// The melody was replaced: generation must restart from the new primer.
    pub(super) fn melody_changed(&mut self) {
        self.voice.generator = None;
    }

    pub(super) fn move_model_to_device(&mut self) {
        let d = self.model_device();
        if let Some(m) = self.voice.model.as_mut() {
            m.to_device(d);
        }
        self.voice.generator = None;
        self.voice.trainer = None;
    }

    /// A generator for live mode, continuing the current melody.
    pub(super) fn live_generator(&self, span: Span) -> Result<Generator, Error> {
        let m = self.need_model(span)?;
        if self.melody().is_empty() {
            return Err(Error::new(span, ErrorKind::NoPrimer));
        }
        Ok(Generator::new(m, self.melody(), self.frame()))
    }

    /// What the melody is read against: its bars (`meter`, from the bar line its source
    /// or `generate` put first) and its key (estimated from the melody, as `write` does).
    pub(super) fn frame(&self) -> model::position::Frame {
        model::position::Frame {
            clock: Some(model::position::BarClock::new(
                self.settings.meter,
                &self.voice.bars,
            )),
            tonic: model::position::estimated_tonic(&self.voice.melody),
        }
    }
}

/// `choice` for a voice with `model`, the loaded dataset's grid being `dataset`.
pub(super) fn resolve_grid(
    choice: GridChoice,
    model: Option<&Model>,
    dataset: Option<Grid>,
) -> Option<Grid> {
    let learned = model.and_then(Model::data_grid).unwrap_or(dataset);
    choice.resolve(learned)
}

/// How much `generate` makes.
#[derive(Clone, Copy)]
enum Length {
    Notes(usize),
    Bars(usize),
}

/// Notes `generate N bars` makes per bar at most (more than a bar of 1/48 notes).
pub(super) const MAX_NOTES_PER_BAR: usize = 256;

/// Every octave of the tonic's pitch class.
fn tonic_mask(tonic: u8) -> [bool; 128] {
    std::array::from_fn(|p| p % 12 == usize::from(tonic % 12))
}

/// Why `model "F"` could not open a file.
#[derive(Debug, thiserror::Error)]
pub enum OpenModelError {
    #[error("cannot read `{path}`: {}", io_reason(.source))]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// A PyTorch file tms could not read.
    #[error("cannot read PyTorch file `{path}`: {source}")]
    Pth {
        path: String,
        source: model::pth::PthError,
    },
    /// A state_dict that does not fit the notebook's network.
    #[error("`{path}` is not the notebook's model: {source}")]
    NotNotebook { path: String, source: ModelError },
    /// Anything else: tms's own format, or not a model.
    #[error("cannot open model `{path}`: {source}")]
    Open { path: String, source: ModelError },
}

/// Opens tms's own format, or the notebook's PyTorch state_dict by its content.
fn open_model(path: &str, device: crate::model::Device) -> Result<Model, OpenModelError> {
    let path_of = || path.to_string();
    let bytes = crate::fsio::read(Path::new(path)).map_err(|source| OpenModelError::Read {
        path: path_of(),
        source,
    })?;
    if model::pth::is_pth(&bytes) {
        let entries =
            model::pth::read_state_dict(&bytes).map_err(|source| OpenModelError::Pth {
                path: path_of(),
                source,
            })?;
        let mut m = Model::from_notebook_state_dict(entries).map_err(|source| {
            OpenModelError::NotNotebook {
                path: path_of(),
                source,
            }
        })?;
        m.to_device(device);
        return Ok(m);
    }
    Model::open(Path::new(path), device).map_err(|source| OpenModelError::Open {
        path: path_of(),
        source,
    })
}

/// A `generate` of at least this many notes shows its progress (a second or more of work).
const PROGRESS_FROM: usize = 50_000;
/// How often the progress bar moves, in notes: drawing it costs more than a step.
const PROGRESS_EVERY: usize = 1024;

/// A progress bar for a long `generate`, on a terminal only: scripts and pipes read the
/// same one summary line as for a short one.
fn generation_progress(notes: usize) -> Option<indicatif::ProgressBar> {
    if notes < PROGRESS_FROM || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return None;
    }
    let bar = indicatif::ProgressBar::new(notes as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "generating {bar:30} {pos}/{len} notes, {per_sec}, {eta} left (Ctrl-C stops)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}
