//! A model's weights as plain numbers: what a model file holds, what generation steps with,
//! and what the training side copies into tensors and back. Everything that plays, writes
//! or reads a model works on these, so only training and the evaluation protocol need
//! libtorch (`torch.rs`).

use super::position::{DEGREES, POSITIONS};
use super::step::{
    InputWeights, Layer, PointerWeights, Precision, RhythmWeights, Stepper, Weights,
};
use super::{Input, ModelConfig, Rhythm, PITCHES};

/// Intervals are clamped to ±INTERVAL_RANGE semitones; one more index means "no previous
/// note".
pub(super) const INTERVAL_RANGE: i64 = 24;
pub(super) const INTERVALS: i64 = 2 * INTERVAL_RANGE + 2;
/// Width of the pointer's queries and keys.
pub(super) const POINTER_DIM: i64 = 64;
/// Notes the pointer remembers during stateful generation.
pub(super) const POINTER_MEMORY: i64 = 64;

/// Size of the LSTM's input vector per note.
pub(super) fn input_size(c: &ModelConfig) -> i64 {
    match c.input {
        Input::Embed => (2 + i64::from(c.position) + i64::from(c.degree)) * c.embed + 2,
        Input::Scalar => 3,
    }
}

/// Outputs of the step head and of the duration head.
pub(super) fn rhythm_outputs(c: &ModelConfig) -> i64 {
    match c.rhythm {
        Rhythm::Grid => super::rhythm::CLASSES,
        Rhythm::Regression => 1,
    }
}

/// Every variable's name and shape, in a fixed order: the file formats check against this,
/// and the tensor network creates its variables in it.
pub(super) fn shapes(c: &ModelConfig) -> Vec<(String, Vec<i64>)> {
    let h = c.hidden;
    let mut v = Vec::new();
    if c.input == Input::Embed {
        v.push(("embed.weight".to_string(), vec![PITCHES, c.embed]));
        v.push((
            "embed_interval.weight".to_string(),
            vec![INTERVALS, c.embed],
        ));
    }
    if c.input == Input::Embed && c.position {
        v.push((
            "embed_position.weight".to_string(),
            vec![POSITIONS as i64, c.embed],
        ));
    }
    if c.input == Input::Embed && c.degree {
        v.push((
            "embed_degree.weight".to_string(),
            vec![DEGREES as i64, c.embed],
        ));
    }
    for l in 0..c.layers {
        let inp = if l == 0 { input_size(c) } else { h };
        v.push((format!("lstm.weight_ih_l{l}"), vec![4 * h, inp]));
        v.push((format!("lstm.weight_hh_l{l}"), vec![4 * h, h]));
        v.push((format!("lstm.bias_ih_l{l}"), vec![4 * h]));
        v.push((format!("lstm.bias_hh_l{l}"), vec![4 * h]));
    }
    let rhythm = rhythm_outputs(c);
    for (name, out) in [
        ("fc_pitch", PITCHES),
        ("fc_step", rhythm),
        ("fc_duration", rhythm),
    ] {
        v.push((format!("{name}.weight"), vec![out, h]));
        v.push((format!("{name}.bias"), vec![out]));
    }
    if c.pointer {
        v.push(("pointer.query".to_string(), vec![POINTER_DIM, h]));
        v.push(("pointer.key".to_string(), vec![POINTER_DIM, h]));
        v.push(("pointer.gate_weight".to_string(), vec![1, h]));
        v.push(("pointer.gate_bias".to_string(), vec![1]));
    }
    v
}

/// One variable: its name as the notebook's PyTorch module names it, its shape, its values
/// in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Every variable of a network, in the order of [`shapes`].
#[derive(Clone, Debug, PartialEq)]
pub struct Params(Vec<Param>);

impl Params {
    /// The variables of `config` from `(name, shape, values)` in the order of [`shapes`]
    /// (the caller checked names and shapes).
    pub(super) fn new(params: Vec<Param>) -> Params {
        Params(params)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Param> {
        self.0.iter()
    }

    /// How many numbers the network has.
    pub fn count(&self) -> usize {
        self.0.iter().map(|p| p.data.len()).sum()
    }

    /// A variable's values by name; every name of [`shapes`] is present.
    pub fn get(&self, name: &str) -> &[f32] {
        &self
            .0
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("the network has `{name}`"))
            .data
    }

    /// The network for one-note steps in plain Rust (see `step`); the pointer remembers
    /// `memory` notes.
    pub(super) fn stepper(&self, c: &ModelConfig, precision: Precision, memory: usize) -> Stepper {
        let get = |n: &str| self.get(n).to_vec();
        let input = match c.input {
            Input::Embed => InputWeights::Embed {
                pitch: get("embed.weight"),
                interval: get("embed_interval.weight"),
                size: c.embed as usize,
                range: INTERVAL_RANGE,
                position: c.position.then(|| get("embed_position.weight")),
                degree: c.degree.then(|| get("embed_degree.weight")),
            },
            Input::Scalar => InputWeights::Scalar,
        };
        let layers = (0..c.layers)
            .map(|l| {
                let (b_ih, b_hh) = (
                    self.get(&format!("lstm.bias_ih_l{l}")),
                    self.get(&format!("lstm.bias_hh_l{l}")),
                );
                Layer {
                    w_ih: get(&format!("lstm.weight_ih_l{l}")),
                    w_hh: get(&format!("lstm.weight_hh_l{l}")),
                    bias: b_ih.iter().zip(b_hh).map(|(a, b)| a + b).collect(),
                }
            })
            .collect();
        let pair = |n: &str| (get(&format!("{n}.weight")), get(&format!("{n}.bias")));
        let scalar_pair = |n: &str| {
            (
                get(&format!("{n}.weight")),
                self.get(&format!("{n}.bias"))[0],
            )
        };
        // A grid model has no regression heads: zero rows keep the stacked head layout
        // (two rows of multiply-adds), and the categorical heads are their own product.
        let (fc_step, fc_duration, rhythm) = match c.rhythm {
            Rhythm::Regression => (scalar_pair("fc_step"), scalar_pair("fc_duration"), None),
            Rhythm::Grid => {
                let zero = || (vec![0f32; c.hidden as usize], 0f32);
                let heads = RhythmWeights {
                    step: pair("fc_step"),
                    duration: pair("fc_duration"),
                };
                (zero(), zero(), Some(heads))
            }
        };
        Stepper::with_precision(
            Weights {
                hidden: c.hidden as usize,
                input,
                layers,
                fc_pitch: pair("fc_pitch"),
                fc_step,
                fc_duration,
                rhythm,
                pointer: c.pointer.then(|| PointerWeights {
                    query: get("pointer.query"),
                    key: get("pointer.key"),
                    gate_w: get("pointer.gate_weight"),
                    gate_b: self.get("pointer.gate_bias")[0],
                    dim: POINTER_DIM as usize,
                    memory,
                }),
            },
            precision,
        )
    }
}

#[cfg(test)]
impl super::Model {
    /// A model with weights drawn in plain Rust (uniform in ±1/√hidden, embeddings in ±1):
    /// for tests of what reads weights, where libtorch's own initialisation does not matter.
    pub(crate) fn seeded(config: ModelConfig, seed: u64) -> super::Model {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let bound = 1.0 / (config.hidden as f32).sqrt();
        let params = shapes(&config)
            .into_iter()
            .map(|(name, shape)| {
                let b = if name.starts_with("embed") {
                    1.0
                } else {
                    bound
                };
                let n = shape.iter().product::<i64>() as usize;
                Param {
                    data: (0..n).map(|_| rng.random_range(-b..b)).collect(),
                    shape: shape.iter().map(|&d| d as usize).collect(),
                    name,
                }
            })
            .collect();
        super::Model::of_params(config, super::Device::Cpu, Params::new(params))
    }
}
