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
    pointer: Option<Pointer>,
}

/// A pointer over the notes already read (a cache model): attention from the current LSTM
/// output to the outputs at earlier notes proposes the pitch that followed each of them, and
/// a gate mixes that copy distribution with the softmax. Folk tunes repeat phrases, which an
/// LSTM alone reproduces poorly.
struct Pointer {
    query: Tensor,
    key: Tensor,
    gate: (Tensor, Tensor),
}

/// Width of the pointer's queries and keys.
const POINTER_DIM: i64 = 64;
/// Notes the pointer remembers during stateful generation.
const POINTER_MEMORY: i64 = 64;

/// The heads' outputs for every position of a batch of sequences.
pub(super) struct Outputs {
    /// [B, T, 128] raw scores (before softmax or sigmoid); with the pointer, the log of the
    /// mixed distribution, which is its own log-softmax.
    pub logits: Tensor,
    /// [B, T] predicted step in seconds (unclamped).
    pub step: Tensor,
    /// [B, T] predicted duration in seconds (unclamped).
    pub duration: Tensor,
}

/// What the network carries from one call to the next.
pub(super) struct State {
    /// LSTM state, each [layers, B, hidden].
    h: Tensor,
    c: Tensor,
    /// [B] the last pitch read per row (−1 before the first note), for the next interval.
    prev: Tensor,
    /// [B, M, POINTER_DIM] pointer keys of the last M notes read, and [B, M] their pitches.
    keys: Tensor,
    pitches: Tensor,
}

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
    if c.pointer {
        v.push(("pointer.query".to_string(), vec![POINTER_DIM, h]));
        v.push(("pointer.key".to_string(), vec![POINTER_DIM, h]));
        v.push(("pointer.gate_weight".to_string(), vec![1, h]));
        v.push(("pointer.gate_bias".to_string(), vec![1]));
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
            pointer: config.pointer.then(|| Pointer {
                query: get("pointer.query"),
                key: get("pointer.key"),
                gate: (get("pointer.gate_weight"), get("pointer.gate_bias")),
            }),
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
            pointer: self.pointer.as_ref().map(|q| Pointer {
                query: c(&q.query),
                key: c(&q.key),
                gate: p(&q.gate),
            }),
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
        let d = self.device();
        State {
            h: z.shallow_clone(),
            c: z,
            prev: Tensor::full([batch], -1, (Kind::Int64, d)),
            keys: Tensor::zeros([batch, 0, POINTER_DIM], (Kind::Float, d)),
            pitches: Tensor::zeros([batch, 0], (Kind::Int64, d)),
        }
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
                let prev = Tensor::cat(&[state.prev.unsqueeze(1), pitch.narrow(1, 0, t - 1)], 1);
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
            &[&state.h, &state.c],
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
        let logits = lin(&self.pitch);
        let (logits, keys, pitches) = match &self.pointer {
            Some(ptr) => ptr.mix(&out, &logits, pitch, state),
            None => (
                logits,
                state.keys.shallow_clone(),
                state.pitches.shallow_clone(),
            ),
        };
        let outputs = Outputs {
            logits,
            step: lin(&self.step).squeeze_dim(2),
            duration: lin(&self.duration).squeeze_dim(2),
        };
        let state = State {
            h,
            c,
            prev: pitch.select(1, t - 1),
            keys,
            pitches,
        };
        (outputs, state)
    }
}

impl Pointer {
    /// The log of the mixed pitch distribution for every position, and the memory to keep.
    fn mix(
        &self,
        out: &Tensor,
        logits: &Tensor,
        pitch: &Tensor,
        state: &State,
    ) -> (Tensor, Tensor, Tensor) {
        let (b, t) = (pitch.size()[0], pitch.size()[1]);
        let m = state.keys.size()[1];
        let keys = Tensor::cat(
            &[
                state.keys.shallow_clone(),
                out.linear::<Tensor>(&self.key, None),
            ],
            1,
        );
        let pitches = Tensor::cat(&[state.pitches.shallow_clone(), pitch.shallow_clone()], 1);
        let n = m + t;
        // Key i proposes the pitch that followed it, known for i < n − 1; the query at chunk
        // position j (note m + j) may look at keys i < m + j + 1 whose follower is note ≤ m + j.
        let query = out.linear::<Tensor>(&self.query, None);
        let usable = keys.narrow(1, 0, n - 1);
        let scores = query.matmul(&usable.transpose(1, 2)) / (POINTER_DIM as f64).sqrt();
        let i = Tensor::arange(n - 1, (Kind::Int64, out.device())).view([1, n - 1]);
        let j = Tensor::arange(t, (Kind::Int64, out.device())).view([t, 1]);
        let hidden = i.ge_tensor(&(j + m)).unsqueeze(0);
        let scores = scores.masked_fill(&hidden, f64::NEG_INFINITY);
        // A null slot (score 0) lets the pointer abstain when nothing fits.
        let null = Tensor::zeros([b, t, 1], (Kind::Float, out.device()));
        let attn = Tensor::cat(&[scores, null], 2).softmax(-1, Kind::Float);
        let followers = pitches
            .narrow(1, 1, n - 1)
            .one_hot(super::PITCHES)
            .to_kind(Kind::Float);
        let copy = attn.narrow(2, 0, n - 1).matmul(&followers);
        let abstain = attn.narrow(2, n - 1, 1);
        let gate = out.linear(&self.gate.0, Some(&self.gate.1)).sigmoid();
        let lstm_share: Tensor = (-&gate + 1.0) + &gate * abstain;
        let p: Tensor = logits.softmax(-1, Kind::Float) * lstm_share + gate * copy;
        let keep = n.min(POINTER_MEMORY);
        (
            p.clamp_min(1e-12).log(),
            keys.narrow(1, n - keep, keep),
            pitches.narrow(1, n - keep, keep),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Head;

    fn config(pointer: bool) -> ModelConfig {
        ModelConfig {
            hidden: 16,
            layers: 2,
            input: Input::Embed,
            head: Head::Softmax,
            embed: 4,
            pointer,
        }
    }

    fn inputs(pitches: &[i64]) -> (Tensor, Tensor) {
        let n = pitches.len() as i64;
        let timing: Vec<f32> = (0..n).flat_map(|i| [0.5, 0.25 + 0.1 * i as f32]).collect();
        (
            Tensor::from_slice(pitches).view([1, n]),
            Tensor::from_slice(&timing).view([1, n, 2]),
        )
    }

    #[test]
    fn reading_in_pieces_equals_reading_at_once() {
        // What the stateful generator relies on: LSTM state, previous pitch and pointer
        // memory carry across calls exactly.
        tch::manual_seed(3);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = Net::new(&vs.root(), config(true));
        let pitches = [60, 62, 64, 60, 62, 67, 65, 64];
        let (p, t) = inputs(&pitches);
        let (whole, _) = net.forward(&p, &t, &net.zero_state(1), 0.0);
        let (a, state) = net.forward(
            &p.narrow(1, 0, 5),
            &t.narrow(1, 0, 5),
            &net.zero_state(1),
            0.0,
        );
        let mut parts = vec![a.logits];
        let mut state = state;
        for i in 5..8 {
            let (o, s) = net.forward(&p.narrow(1, i, 1), &t.narrow(1, i, 1), &state, 0.0);
            parts.push(o.logits);
            state = s;
        }
        let pieces = Tensor::cat(&parts, 1);
        let diff = (whole.logits - pieces).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "{diff}");
    }

    #[test]
    fn the_pointer_proposes_the_pitches_that_followed() {
        tch::manual_seed(4);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = Net::new(&vs.root(), config(true));
        let ptr = net.pointer.as_ref().expect("pointer");
        tch::no_grad(|| {
            // Gate fully open, all scores equal: attention is uniform over the usable notes
            // and the null slot.
            let _ = ptr.query.shallow_clone().zero_();
            let _ = ptr.gate.0.shallow_clone().zero_();
            let _ = ptr.gate.1.shallow_clone().fill_(60.0);
        });
        let (p, t) = inputs(&[60, 62, 60]);
        let (o, _) = net.forward(&p, &t, &net.zero_state(1), 0.0);
        let probs = o.logits.exp().select(1, 2).squeeze();
        // After the third note, notes 1 and 2 are usable; they were followed by 62 and 60.
        let at = |k: i64| probs.double_value(&[k]);
        assert!(at(62) > 1.0 / 3.0 - 1e-4, "{}", at(62));
        assert!(at(60) > 1.0 / 3.0 - 1e-4, "{}", at(60));
        assert!((probs.sum(Kind::Double).double_value(&[]) - 1.0).abs() < 1e-5);
    }
}
