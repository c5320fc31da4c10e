//! The melody model: an LSTM over (pitch, step, duration) with the notebook's knobs and
//! better defaults. This module owns the network and its file formats; `train`, `evaluate`
//! and `sample` are separate stages over it, so the session only wires settings to them.

#[cfg(feature = "torch")]
mod batch;
pub mod cuda;
mod data;
mod evaluate;
mod file;
pub mod finetune;
mod key;
#[cfg(feature = "torch")]
mod net;
mod params;
pub mod position;
pub mod pth;
pub mod redraw;
pub mod remote;
pub mod rhythm;
mod run;
mod sample;
#[cfg(feature = "torch")]
mod scoring;
#[cfg(feature = "torch")]
pub mod serve;
pub(crate) use tms_step::step;
#[cfg(all(test, feature = "torch"))]
mod step_check;
mod swap;
#[cfg(feature = "torch")]
mod torch;
#[cfg(feature = "torch")]
mod train;
pub mod wire;

use std::fmt;

use crate::music::grid::Grid;

pub use data::Encoded;
pub use evaluate::{split_indices, split_validation, stepped_pitch_nll, Metrics};
pub use file::ModelError;
pub use params::{Param, Params};
pub use remote::{FineTuner, Trainer};
pub use run::{Observer, TrainError};
pub use sample::{end_by, Ending, Generator, SampleOptions};
#[cfg(feature = "torch")]
pub use scoring::{evaluate, evaluate_with};
pub use swap::{FeedReader, WeightFeed, Weights};
#[cfg(feature = "torch")]
pub use torch::init_threads;

crate::choice! {
    /// How a pitch enters the network.
    pub enum Input {
        /// A learned embedding of the 128 pitches.
        Embed = "embed",
        /// pitch/128 as one number, as the notebook did.
        Scalar = "scalar",
    }
}

crate::choice! {
    /// How the pitch distribution is formed from the network's 128 outputs.
    pub enum Head {
        /// A softmax over pitches, trained with cross-entropy on the logits.
        Softmax = "softmax",
        /// The notebook's head: a sigmoid per pitch, trained with cross-entropy applied to the
        /// sigmoid outputs; sampled from the outputs normalised to sum to 1.
        Sigmoid = "sigmoid",
    }
}

crate::choice! {
    /// How step and duration are predicted.
    pub enum Rhythm {
        /// A categorical distribution over whole multiples of 1/48 note (`rhythm.rs`),
        /// sampled with the temperature and constrained by `grid`.
        Grid = "grid",
        /// One number each, trained with the notebook's squared error: what the notebook did,
        /// and what every model file without a `rhythm` entry has.
        Regression = "regression",
    }
}

crate::choice! {
    /// Which notes of a window are predicted during training.
    pub enum Objective {
        /// Every next note of the window.
        Sequence = "sequence",
        /// Only the note after the window, as the notebook did.
        Window = "window",
    }
}

crate::choice! {
    pub enum Optimizer {
        Sgd = "sgd",
        Adam = "adam",
    }
}

crate::choice! {
    /// How generation stores the matrices it streams every note (`set precision`).
    pub enum Precision {
        /// The trained f32 weights: the same numbers as `evaluate`'s tensor network.
        F32 = "f32",
        /// One byte per weight and a scale per row: a quarter of the bytes, so a step
        /// stays in cache and runs about twice as fast (BENCHMARKS.md, "Generation").
        Int8 = "int8",
    }
}

impl Precision {
    fn stepper(self) -> step::Precision {
        match self {
            Precision::F32 => step::Precision::F32,
            Precision::Int8 => step::Precision::Int8,
        }
    }
}

crate::choice! {
    /// Which weights a training run ends with.
    pub enum Keep {
        /// Those of the epoch with the lowest validation loss.
        Best = "best",
        Last = "last",
    }
}

/// Where a model trains and is evaluated. Named as libtorch names its devices (`cpu`,
/// `cuda(0)`), but plain: the stage holds models without libtorch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Device {
    Cpu,
    Cuda(usize),
}

/// The architecture: everything needed to rebuild the network from a file.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelConfig {
    pub hidden: i64,
    pub layers: i64,
    pub input: Input,
    pub head: Head,
    /// Embedding size when `input` is `Embed`.
    pub embed: i64,
    /// A pointer over the notes already read, mixed into the pitch distribution.
    pub pointer: bool,
    /// The network reads each note's place in its bar (`position`), with an embedding of
    /// the size of the pitch's (embedded input only).
    pub position: bool,
    /// The network reads each note's scale degree (`degree`), likewise.
    pub degree: bool,
    pub rhythm: Rhythm,
}

/// Weights of the three loss terms, as the notebook's `loss_weight`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LossWeights {
    pub pitch: f64,
    pub step: f64,
    pub duration: f64,
}

/// Everything `train` reads from the settings.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    pub seq_len: usize,
    pub batch: usize,
    pub lr: f64,
    /// Factor applied to the learning rate after each epoch of this run.
    pub lr_decay: f64,
    pub optimizer: Optimizer,
    pub objective: Objective,
    pub loss: LossWeights,
    /// Gradient-norm clipping; 0 turns it off.
    pub clip: f64,
    /// Dropout on the LSTM's input and output while training.
    pub dropout: f64,
    /// Each training window is transposed by a random number of semitones in ±augment.
    pub augment: i64,
    pub val: f64,
    pub keep: Keep,
    pub checkpoint_every: usize,
    pub checkpoint_dir: std::path::PathBuf,
    /// Seeds the validation split and the batch order.
    pub seed: u64,
}

/// Pitch inputs are divided by this for `Input::Scalar` (the notebook's normalisation).
pub const PITCH_SCALE: f64 = 128.0;
/// Number of pitches the head predicts.
pub const PITCHES: i64 = 128;
const _: () =
    assert!(PITCHES as usize == tms_step::PITCHES && PITCH_SCALE as f32 == tms_step::PITCH_SCALE);

/// A network with its weights, its architecture and what is known of how it was trained.
pub struct Model {
    /// The weights as plain numbers: generation and the files read them without libtorch.
    params: Params,
    /// Where its training and evaluation run.
    device: Device,
    config: ModelConfig,
    /// Epochs trained so far (saved in the file).
    epochs: usize,
    /// The training settings of the last run, saved for the record.
    trained_with: Option<TrainConfig>,
    /// Where the weights came from, for `describe`.
    origin: String,
    /// The `train.*` metadata of an opened file, written back by `save` until this session
    /// trains the model itself, so a re-save keeps the record of how it was trained.
    trained_record: std::collections::BTreeMap<String, String>,
    /// How generators and published weights step this model (not saved: a setting).
    precision: Precision,
    /// The grid of the data it learned from (`data.grid` in its file; `grid auto` generates
    /// on it): None when not recorded, Some(None) when that data fits no grid.
    data_grid: Option<Option<Grid>>,
}

impl Model {
    /// A model of `config` with these weights (which match its shapes) and no record yet.
    pub(crate) fn of_params(config: ModelConfig, device: Device, params: Params) -> Model {
        Model {
            params,
            device,
            config,
            epochs: 0,
            trained_with: None,
            origin: "new".into(),
            trained_record: Default::default(),
            // the `precision` setting's default
            precision: Precision::Int8,
            data_grid: None,
        }
    }

    /// The grid of the data it learned from: None when not recorded, Some(None) when that
    /// data fits no grid.
    pub fn data_grid(&self) -> Option<Option<Grid>> {
        self.data_grid
    }

    /// Records the grid of the data it is trained on ([`crate::music::grid::of_data`]).
    pub fn set_data_grid(&mut self, grid: Option<Grid>) {
        self.data_grid = Some(grid);
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// How generators made from now on step this model (those already playing keep theirs
    /// until the next weights are published).
    pub fn set_precision(&mut self, precision: Precision) {
        self.precision = precision;
    }

    pub fn config(&self) -> ModelConfig {
        self.config
    }

    pub fn device(&self) -> Device {
        self.device
    }

    pub fn epochs(&self) -> usize {
        self.epochs
    }

    /// Trains and evaluates on another device from now on (optimizer state does not
    /// follow: the session drops the trainer).
    pub fn to_device(&mut self, device: Device) {
        self.device = device;
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The one-note stepper over these weights, as generation runs them.
    pub(crate) fn stepper(&self, precision: Precision) -> step::Stepper {
        self.params.stepper(
            &self.config,
            precision.stepper(),
            params::POINTER_MEMORY as usize,
        )
    }

    /// One line: architecture, size, training so far.
    pub fn describe(&self) -> String {
        let c = &self.config;
        let input = match (c.input, c.position) {
            (Input::Embed, _) => {
                let read = match (c.position, c.degree) {
                    (true, true) => " with positions in the bar and scale degrees",
                    (true, false) => " with positions in the bar",
                    (false, true) => " with scale degrees",
                    (false, false) => "",
                };
                format!("embed {}{read}", c.embed)
            }
            (Input::Scalar, _) => "scalar".into(),
        };
        let head = match (c.head, c.pointer) {
            (Head::Softmax, true) => "softmax with pointer",
            (head, _) => head.name(),
        };
        let rhythm = match c.rhythm {
            Rhythm::Grid => format!(", rhythm grid of 1/{} notes", crate::music::grid::WHOLE),
            Rhythm::Regression => String::new(),
        };
        let params = self.params.count();
        format!(
            "LSTM hidden {} layers {}, input {input}, head {head}{rhythm}, {params} parameters, {} epoch{} trained, on {} ({})",
            c.hidden,
            c.layers,
            self.epochs,
            if self.epochs == 1 { "" } else { "s" },
            format!("{:?}", self.device).to_lowercase(),
            self.origin
        )
    }
}

impl Model {
    /// What the model predicts after reading `notes` (pitch, step, duration) from a fresh
    /// state, stepped in f32 with the trained numbers: the pitch head's outputs (softmax
    /// probabilities, or the notebook's raw sigmoid values) and the unclamped step and
    /// duration (for grid heads, their distributions' medians).
    pub fn predict_next(&self, notes: &[(u8, f64, f64)]) -> NextNote {
        let stepper = self.stepper(Precision::F32);
        let c = &self.config;
        let mut state = step::StepState::fresh(c.layers as usize, c.hidden as usize);
        let mut out = None;
        for &(pitch, step, duration) in notes {
            out = Some(stepper.step(&mut state, pitch, step as f32, duration as f32));
        }
        let out = out.expect("at least one note");
        let pitch = match c.head {
            Head::Softmax => softmax(&out.logits),
            Head::Sigmoid => out
                .logits
                .iter()
                .map(|&l| 1.0 / (1.0 + (-l).exp()))
                .collect(),
        };
        let median = |logits: &[f32]| {
            let mut below = 0;
            let mut sum = 0.0f32;
            for p in softmax(logits) {
                sum += p;
                if sum >= 0.5 {
                    break;
                }
                below += 1;
            }
            rhythm::seconds_of(below.min(rhythm::MAX_QUANTA))
        };
        let (step, duration) = match &out.rhythm {
            Some(r) => (median(&r.step), median(&r.duration)),
            None => (out.step, out.duration),
        };
        NextNote {
            pitch,
            step,
            duration,
        }
    }
}

fn softmax(logits: &[f32]) -> Vec<f32> {
    let top = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let e: Vec<f32> = logits.iter().map(|&l| (l - top).exp()).collect();
    let sum: f32 = e.iter().sum();
    e.iter().map(|v| v / sum).collect()
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// The next-note prediction of `Model::predict_next`.
#[derive(Clone, Debug, PartialEq)]
pub struct NextNote {
    pub pitch: Vec<f32>,
    pub step: f64,
    pub duration: f64,
}
