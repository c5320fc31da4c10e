//! The network itself, as plain tensors named exactly like the notebook's PyTorch module
//! (`lstm.weight_ih_l0`, `fc_pitch.weight`, …) so that its state_dict maps onto it one to one.
//! Built by hand on `Tensor::lstm` rather than `nn::LSTM` so that a generator can own a
//! detached copy of the weights and run on another thread.

use std::collections::HashMap;

use tch::{nn, Kind, Tensor};

use super::params::{shapes, INTERVALS, INTERVAL_RANGE, POINTER_DIM, POINTER_MEMORY};

use super::{Input, ModelConfig, PITCH_SCALE};

pub(super) struct Net {
    config: ModelConfig,
    embed: Option<Tensor>,
    /// Embedding of the interval from the previous pitch (±24 semitones, plus "none").
    embed_interval: Option<Tensor>,
    /// Embedding of the note's place in its bar (`position::POSITIONS` classes).
    embed_position: Option<Tensor>,
    /// Embedding of the note's scale degree (`position::DEGREES` classes).
    embed_degree: Option<Tensor>,
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

/// The heads' outputs for every position of a batch of sequences.
pub(super) struct Outputs {
    /// [B, T, 128] raw scores (before softmax or sigmoid); with the pointer, the log of the
    /// mixed distribution, which is its own log-softmax.
    pub logits: Tensor,
    /// [B, T] predicted step in seconds (unclamped) for regression heads; [B, T, CLASSES]
    /// logits over `rhythm::CLASSES` for grid heads.
    pub step: Tensor,
    /// The duration, as `step`.
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
            embed_position: (config.input == Input::Embed && config.position)
                .then(|| get("embed_position.weight")),
            embed_degree: (config.input == Input::Embed && config.degree)
                .then(|| get("embed_degree.weight")),
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

    /// Runs a batch of windows from a fresh state; the outputs cover the batch's targets.
    pub fn forward_batch(&self, b: &super::batch::Batch, dropout: f64) -> Outputs {
        let rows = b.pitch.size()[0];
        let (out, _) = self.forward(
            &b.pitch,
            &b.context,
            &b.timing,
            &self.zero_state(rows),
            dropout,
            b.from,
        );
        out
    }

    /// Runs sequences through the network. `pitch` is [B, T] (int64, 0..=127), `context`
    /// [B, T, 2] (int64 position and degree classes, each read only by a model with
    /// `position` or `degree`), `timing` [B, T, 2] (step, duration in seconds). `dropout` > 0 only while training. The heads
    /// run on positions `from..T` only: the notebook's objective and the evaluation protocol
    /// score just the last position, and the heads are most of the cost after the LSTM.
    pub fn forward(
        &self,
        pitch: &Tensor,
        context: &Tensor,
        timing: &Tensor,
        state: &State,
        dropout: f64,
        from: i64,
    ) -> (Outputs, State) {
        let t = pitch.size()[1];
        let x = match (&self.embed, &self.embed_interval) {
            (Some(e), Some(ei)) => {
                let prev = Tensor::cat(&[state.prev.unsqueeze(1), pitch.narrow(1, 0, t - 1)], 1);
                let iv = (pitch - &prev).clamp(-INTERVAL_RANGE, INTERVAL_RANGE) + INTERVAL_RANGE;
                let iv = iv.where_self(&prev.ge(0), &Tensor::full_like(&iv, INTERVALS - 1));
                let mut parts = vec![
                    Tensor::embedding(e, pitch, -1, false, false),
                    Tensor::embedding(ei, &iv, -1, false, false),
                    timing.shallow_clone(),
                ];
                if let Some(ep) = &self.embed_position {
                    let position = context.select(2, 0);
                    parts.push(Tensor::embedding(ep, &position, -1, false, false));
                }
                if let Some(ed) = &self.embed_degree {
                    let degree = context.select(2, 1);
                    parts.push(Tensor::embedding(ed, &degree, -1, false, false));
                }
                Tensor::cat(&parts, 2)
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
        let scored = out.narrow(1, from, t - from);
        let lin = |(w, b): &(Tensor, Tensor)| scored.linear(w, Some(b));
        let logits = lin(&self.pitch);
        let (logits, keys, pitches) = match &self.pointer {
            Some(ptr) => ptr.mix(&out, from, &logits, pitch, state),
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

/// A tensor's values on the CPU as f32, in row-major order.
pub(super) fn floats(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(
        t.detach()
            .to_device(tch::Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous()
            .view(-1),
    )
    .expect("a float tensor")
}

#[cfg(test)]
impl State {
    /// Row 0 of the state, for `Stepper`.
    pub fn row(&self) -> super::step::StepState {
        let hidden = self.h.size()[2] as usize;
        let split = |t: &Tensor| -> Vec<Vec<f32>> {
            floats(&t.select(1, 0))
                .chunks(hidden)
                .map(<[f32]>::to_vec)
                .collect()
        };
        let keys = floats(&self.keys.select(0, 0));
        let pitches = Vec::<i64>::try_from(self.pitches.select(0, 0).to_device(tch::Device::Cpu))
            .expect("pitches");
        super::step::StepState {
            h: split(&self.h),
            c: split(&self.c),
            prev: self.prev.int64_value(&[0]),
            keys: keys
                .chunks(POINTER_DIM as usize)
                .map(<[f32]>::to_vec)
                .collect(),
            pitches: pitches.iter().map(|&p| p as u8).collect(),
        }
    }
}

impl Pointer {
    /// The log of the mixed pitch distribution for every position, and the memory to keep.
    fn mix(
        &self,
        out: &Tensor,
        from: i64,
        logits: &Tensor,
        pitch: &Tensor,
        state: &State,
    ) -> (Tensor, Tensor, Tensor) {
        let (b, t) = (pitch.size()[0], pitch.size()[1]);
        let scored = out.narrow(1, from, t - from);
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
        let query = scored.linear::<Tensor>(&self.query, None);
        let usable = keys.narrow(1, 0, n - 1);
        let scores = query.matmul(&usable.transpose(1, 2)) / (POINTER_DIM as f64).sqrt();
        let i = Tensor::arange(n - 1, (Kind::Int64, out.device())).view([1, n - 1]);
        let j = Tensor::arange_start(from, t, (Kind::Int64, out.device())).view([t - from, 1]);
        let hidden = i.ge_tensor(&(j + m)).unsqueeze(0);
        let scores = scores.masked_fill(&hidden, f64::NEG_INFINITY);
        // A null slot (score 0) lets the pointer abstain when nothing fits.
        let null = Tensor::zeros([b, t - from, 1], (Kind::Float, out.device()));
        let attn = Tensor::cat(&[scores, null], 2).softmax(-1, Kind::Float);
        let followers = pitches
            .narrow(1, 1, n - 1)
            .one_hot(super::PITCHES)
            .to_kind(Kind::Float);
        let copy = attn.narrow(2, 0, n - 1).matmul(&followers);
        let abstain = attn.narrow(2, n - 1, 1);
        let gate = scored.linear(&self.gate.0, Some(&self.gate.1)).sigmoid();
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
    use crate::model::position::{DEGREES, POSITIONS};
    use crate::model::step::Precision;
    use crate::model::torch::Torch;
    use crate::model::{Head, Rhythm};

    fn config(pointer: bool) -> ModelConfig {
        ModelConfig {
            hidden: 16,
            layers: 2,
            input: Input::Embed,
            head: Head::Softmax,
            embed: 4,
            pointer,
            position: pointer,
            degree: pointer,
            rhythm: Rhythm::Regression,
        }
    }

    /// Pitches, (position, degree) classes (every note different ones) and timing, as a
    /// batch of one.
    fn inputs(pitches: &[i64]) -> (Tensor, Tensor, Tensor) {
        let n = pitches.len() as i64;
        let timing: Vec<f32> = (0..n).flat_map(|i| [0.5, 0.25 + 0.1 * i as f32]).collect();
        let context: Vec<i64> = (0..n)
            .flat_map(|i| {
                [
                    (i * 13 + 5) % POSITIONS as i64,
                    (i * 5 + 2) % DEGREES as i64,
                ]
            })
            .collect();
        (
            Tensor::from_slice(pitches).view([1, n]),
            Tensor::from_slice(&context).view([1, n, 2]),
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
        let (p, pos, t) = inputs(&pitches);
        let (whole, _) = net.forward(&p, &pos, &t, &net.zero_state(1), 0.0, 0);
        let (a, state) = net.forward(
            &p.narrow(1, 0, 5),
            &pos.narrow(1, 0, 5),
            &t.narrow(1, 0, 5),
            &net.zero_state(1),
            0.0,
            0,
        );
        let mut parts = vec![a.logits];
        let mut state = state;
        for i in 5..8 {
            let (o, s) = net.forward(
                &p.narrow(1, i, 1),
                &pos.narrow(1, i, 1),
                &t.narrow(1, i, 1),
                &state,
                0.0,
                0,
            );
            parts.push(o.logits);
            state = s;
        }
        let pieces = Tensor::cat(&parts, 1);
        let diff = (whole.logits - pieces).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "{diff}");
    }

    #[test]
    fn the_plain_rust_stepper_agrees_with_the_tensor_network() {
        let cases = [
            (true, Input::Embed, 2, Rhythm::Grid),
            (false, Input::Scalar, 1, Rhythm::Regression),
        ];
        for (pointer, input, layers, rhythm) in cases {
            let cfg = ModelConfig {
                input,
                layers,
                pointer,
                rhythm,
                ..config(pointer)
            };
            let torch = Torch::init(cfg, crate::model::Device::Cpu, 5);
            let net = &torch.net;
            let pitches = [60, 62, 64, 60, 62, 67, 65, 64, 62, 60];
            let (p, pos, t) = inputs(&pitches);
            let (whole, _) = net.forward(&p, &pos, &t, &net.zero_state(1), 0.0, 0);
            // Read the first four notes with tensors, then step through the rest.
            let (_, state) = net.forward(
                &p.narrow(1, 0, 4),
                &pos.narrow(1, 0, 4),
                &t.narrow(1, 0, 4),
                &net.zero_state(1),
                0.0,
                0,
            );
            let stepper = torch
                .params()
                .stepper(&cfg, Precision::F32, POINTER_MEMORY as usize);
            let mut s = state.row();
            let timing: Vec<f32> = Vec::try_from(t.view(-1)).unwrap();
            let context: Vec<i64> = Vec::try_from(pos.view(-1)).unwrap();
            for (i, &pitch) in pitches.iter().enumerate().skip(4) {
                let x = tms_step::step::NoteIn {
                    pitch: pitch as u8,
                    position: context[2 * i] as usize,
                    degree: context[2 * i + 1] as usize,
                    step: timing[2 * i],
                    duration: timing[2 * i + 1],
                };
                let out = stepper.read(&mut s, x);
                let want: Vec<f32> =
                    Vec::try_from(whole.logits.select(1, i as i64).view(-1)).unwrap();
                for (a, b) in out.logits.iter().zip(&want) {
                    assert!((a - b).abs() < 1e-4, "note {i}: {a} vs {b}");
                }
                if let Some(r) = &out.rhythm {
                    for (got, want) in [(&r.step, &whole.step), (&r.duration, &whole.duration)] {
                        let want = floats(&want.select(1, i as i64));
                        assert_eq!(got.len(), want.len());
                        for (a, b) in got.iter().zip(&want) {
                            assert!((a - b).abs() < 1e-4, "note {i}: rhythm {a} vs {b}");
                        }
                    }
                    continue;
                }
                let step = whole.step.double_value(&[0, i as i64]);
                assert!(
                    (out.step - step).abs() < 1e-5,
                    "note {i}: step {} vs {step}",
                    out.step
                );
                let duration = whole.duration.double_value(&[0, i as i64]);
                assert!((out.duration - duration).abs() < 1e-5);
            }
        }
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
        let (p, pos, t) = inputs(&[60, 62, 60]);
        let (o, _) = net.forward(&p, &pos, &t, &net.zero_state(1), 0.0, 0);
        let probs = o.logits.exp().select(1, 2).squeeze();
        // After the third note, notes 1 and 2 are usable; they were followed by 62 and 60.
        let at = |k: i64| probs.double_value(&[k]);
        assert!(at(62) > 1.0 / 3.0 - 1e-4, "{}", at(62));
        assert!(at(60) > 1.0 / 3.0 - 1e-4, "{}", at(60));
        assert!((probs.sum(Kind::Double).double_value(&[]) - 1.0).abs() < 1e-5);
    }
}
