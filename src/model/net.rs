//! The network itself, as plain tensors named exactly like the notebook's PyTorch module
//! (`lstm.weight_ih_l0`, `fc_pitch.weight`, …) so that its state_dict maps onto it one to one.
//! Built by hand on `Tensor::lstm` rather than `nn::LSTM` so that a generator can own a
//! detached copy of the weights and run on another thread.

use std::collections::HashMap;

use tch::{nn, Kind, Tensor};

use super::{Input, ModelConfig, PITCHES, PITCH_SCALE};

pub(super) struct Net {
    config: ModelConfig,
    embed: Option<Tensor>,
    /// Embedding of the interval from the previous pitch (±24 semitones, plus "none").
    embed_interval: Option<Tensor>,
    /// w_ih, w_hh, b_ih, b_hh per layer, in the order `Tensor::lstm` expects.
    lstm: Vec<Tensor>,
    pitch: (Tensor, Tensor),
    step: (Tensor, Tensor),
    duration: (Tensor, Tensor),
}

/// The heads' outputs for every position of a batch of sequences.
pub(super) struct Outputs {
    /// [B, T, 128] raw scores (before softmax or sigmoid).
    pub logits: Tensor,
    /// [B, T] predicted step in seconds (unclamped).
    pub step: Tensor,
    /// [B, T] predicted duration in seconds (unclamped).
    pub duration: Tensor,
}

/// LSTM state (h, c), each [layers, B, hidden], and the last pitch read per row (−1 before
/// the first note), from which the next note's interval is formed.
pub(super) type State = (Tensor, Tensor, Tensor);

/// Intervals are clamped to ±INTERVAL_RANGE semitones; one more index means "no previous
/// note".
const INTERVAL_RANGE: i64 = 24;
const INTERVALS: i64 = 2 * INTERVAL_RANGE + 2;

/// Size of the LSTM's input vector per note.
pub(super) fn input_size(c: &ModelConfig) -> i64 {
    match c.input {
        Input::Embed => 2 * c.embed + 2,
        Input::Scalar => 3,
    }
}

/// Every variable's name and shape, in a fixed order: the file formats check against this.
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
    for l in 0..c.layers {
        let inp = if l == 0 { input_size(c) } else { h };
        v.push((format!("lstm.weight_ih_l{l}"), vec![4 * h, inp]));
        v.push((format!("lstm.weight_hh_l{l}"), vec![4 * h, h]));
        v.push((format!("lstm.bias_ih_l{l}"), vec![4 * h]));
        v.push((format!("lstm.bias_hh_l{l}"), vec![4 * h]));
    }
    for (name, out) in [("fc_pitch", PITCHES), ("fc_step", 1), ("fc_duration", 1)] {
        v.push((format!("{name}.weight"), vec![out, h]));
        v.push((format!("{name}.bias"), vec![out]));
    }
    v
}

impl Net {
    /// Creates the variables in `root` with PyTorch's default initialisation (uniform in
    /// ±1/√hidden for the LSTM and the linear heads, N(0, 1) for the embedding).
    pub fn new(root: &nn::Path, config: ModelConfig) -> Net {
        let bound = 1.0 / (config.hidden as f64).sqrt();
        let mut vars = HashMap::new();
        for (name, shape) in shapes(&config) {
            let init = if name.starts_with("embed") {
                nn::Init::Randn {
                    mean: 0.0,
                    stdev: 1.0,
                }
            } else {
                nn::Init::Uniform {
                    lo: -bound,
                    up: bound,
                }
            };
            let (module, var) = name.split_once('.').expect("names are module.var");
            let t = (root / module).var(var, &shape, init);
            vars.insert(name, t);
        }
        Net::from_vars(&vars, config)
    }

    /// The network over the store's variables (after they moved device, say).
    pub fn new_from_store(vs: &nn::VarStore, config: ModelConfig) -> Net {
        Net::from_vars(&vs.variables(), config)
    }

    fn from_vars(vars: &HashMap<String, Tensor>, config: ModelConfig) -> Net {
        let get = |n: &str| vars[n].shallow_clone();
        let lstm = (0..config.layers)
            .flat_map(|l| {
                ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
                    .map(|w| get(&format!("lstm.{w}_l{l}")))
            })
            .collect();
        let pair = |n: &str| (get(&format!("{n}.weight")), get(&format!("{n}.bias")));
        Net {
            config,
            embed: (config.input == Input::Embed).then(|| get("embed.weight")),
            embed_interval: (config.input == Input::Embed).then(|| get("embed_interval.weight")),
            lstm,
            pitch: pair("fc_pitch"),
            step: pair("fc_step"),
            duration: pair("fc_duration"),
        }
    }

    /// A copy that shares nothing with the model (for a generator on another thread).
    pub fn detached_copy(&self) -> Net {
        let c = |t: &Tensor| t.detach().copy();
        let p = |(w, b): &(Tensor, Tensor)| (c(w), c(b));
        Net {
            config: self.config,
            embed: self.embed.as_ref().map(c),
            embed_interval: self.embed_interval.as_ref().map(c),
            lstm: self.lstm.iter().map(c).collect(),
            pitch: p(&self.pitch),
            step: p(&self.step),
            duration: p(&self.duration),
        }
    }

    pub fn device(&self) -> tch::Device {
        self.pitch.0.device()
    }

    pub fn zero_state(&self, batch: i64) -> State {
        let z = Tensor::zeros(
            [self.config.layers, batch, self.config.hidden],
            (Kind::Float, self.device()),
        );
        let none = Tensor::full([batch], -1, (Kind::Int64, self.device()));
        (z.shallow_clone(), z, none)
    }

    /// Runs sequences through the network. `pitch` is [B, T] (int64, 0..=127), `timing`
    /// [B, T, 2] (step, duration in seconds). `dropout` > 0 only while training.
    pub fn forward(
        &self,
        pitch: &Tensor,
        timing: &Tensor,
        state: &State,
        dropout: f64,
    ) -> (Outputs, State) {
        let t = pitch.size()[1];
        let x = match (&self.embed, &self.embed_interval) {
            (Some(e), Some(ei)) => {
                let prev = Tensor::cat(&[state.2.unsqueeze(1), pitch.narrow(1, 0, t - 1)], 1);
                let iv = (pitch - &prev).clamp(-INTERVAL_RANGE, INTERVAL_RANGE) + INTERVAL_RANGE;
                let iv = iv.where_self(&prev.ge(0), &Tensor::full_like(&iv, INTERVALS - 1));
                Tensor::cat(
                    &[
                        Tensor::embedding(e, pitch, -1, false, false),
                        Tensor::embedding(ei, &iv, -1, false, false),
                        timing.shallow_clone(),
                    ],
                    2,
                )
            }
            _ => {
                let p = (pitch.to_kind(Kind::Float) / PITCH_SCALE).unsqueeze(2);
                Tensor::cat(&[p, timing.shallow_clone()], 2)
            }
        };
        let x = if dropout > 0.0 {
            x.dropout(dropout, true)
        } else {
            x
        };
        let params: Vec<&Tensor> = self.lstm.iter().collect();
        let (out, h, c) = x.lstm(
            &[&state.0, &state.1],
            &params,
            true,
            self.config.layers,
            0.0,
            false,
            false,
            true,
        );
        let out = if dropout > 0.0 {
            out.dropout(dropout, true)
        } else {
            out
        };
        let lin = |(w, b): &(Tensor, Tensor)| out.linear(w, Some(b));
        let outputs = Outputs {
            logits: lin(&self.pitch),
            step: lin(&self.step).squeeze_dim(2),
            duration: lin(&self.duration).squeeze_dim(2),
        };
        (outputs, (h, c, pitch.select(1, t - 1)))
    }
}
