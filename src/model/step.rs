//! One note at a time without libtorch: the network's single-step inference in plain Rust.
//! A generation step is a few hundred thousand multiply-adds on vectors of a few hundred
//! numbers, where libtorch's per-operation dispatch (dozens of small ops per note) costs more
//! than the arithmetic. Live performance needs each note in well under a millisecond; this
//! gives about 0.1 ms for the folk model. The primer is still read by the tensor network
//! (`Net::forward`), whose state is handed over here; net.rs's tests check both agree.

use std::collections::VecDeque;

/// Weights of one LSTM layer, gates in PyTorch's order (input, forget, cell, output).
pub(super) struct Layer {
    pub w_ih: Vec<f32>,
    pub w_hh: Vec<f32>,
    /// b_ih + b_hh.
    pub bias: Vec<f32>,
}

pub(super) struct PointerWeights {
    pub query: Vec<f32>,
    pub key: Vec<f32>,
    pub gate_w: Vec<f32>,
    pub gate_b: f32,
    pub dim: usize,
    pub memory: usize,
}

/// How a note becomes the first layer's input.
pub(super) enum InputWeights {
    Embed {
        pitch: Vec<f32>,
        interval: Vec<f32>,
        size: usize,
        range: i64,
    },
    Scalar,
}

pub(super) struct Stepper {
    pub hidden: usize,
    pub input: InputWeights,
    pub layers: Vec<Layer>,
    pub fc_pitch: (Vec<f32>, Vec<f32>),
    pub fc_step: (Vec<f32>, f32),
    pub fc_duration: (Vec<f32>, f32),
    pub pointer: Option<PointerWeights>,
}

/// The recurrent state, as `net::State` holds it for one row.
pub(super) struct StepState {
    pub h: Vec<Vec<f32>>,
    pub c: Vec<Vec<f32>>,
    /// The last pitch read, −1 before the first.
    pub prev: i64,
    /// Pointer keys of the last notes read, with their pitches.
    pub keys: VecDeque<Vec<f32>>,
    pub pitches: VecDeque<u8>,
}

/// What the network predicts after a note.
pub(super) struct StepOutput {
    /// Log-weights of the 128 pitches, as `Outputs::logits`.
    pub logits: Vec<f32>,
    pub step: f64,
    pub duration: f64,
}

/// x·y over equal-length slices, in eight independent lanes so that the compiler can use SIMD
/// without reordering a single sum (which Rust, rightly, never does on its own).
fn dot(x: &[f32], y: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (a, b) in xc.zip(yc) {
        for k in 0..8 {
            lanes[k] += a[k] * b[k];
        }
    }
    let mut sum = lanes.iter().sum::<f32>();
    for (a, b) in xr.iter().zip(yr) {
        sum += a * b;
    }
    sum
}

/// out[r] = W[r]·x for a row-major W.
fn matvec(w: &[f32], x: &[f32], out: &mut [f32]) {
    debug_assert_eq!(w.len(), out.len() * x.len());
    for (o, row) in out.iter_mut().zip(w.chunks_exact(x.len())) {
        *o = dot(row, x);
    }
}

/// out[r] = bias[r] + W[r]·x.
fn affine(w: &[f32], bias: &[f32], x: &[f32], out: &mut [f32]) {
    matvec(w, x, out);
    for (o, b) in out.iter_mut().zip(bias) {
        *o += b;
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl Stepper {
    /// Reads one note and returns the prediction for the next.
    pub fn step(&self, s: &mut StepState, pitch: u8, step: f32, duration: f32) -> StepOutput {
        let h = self.hidden;
        let mut x: Vec<f32> = match &self.input {
            InputWeights::Embed {
                pitch: table,
                interval,
                size,
                range,
            } => {
                let p = pitch as usize;
                let iv = if s.prev < 0 {
                    2 * range + 1
                } else {
                    (pitch as i64 - s.prev).clamp(-range, *range) + range
                } as usize;
                let mut v = Vec::with_capacity(2 * size + 2);
                v.extend_from_slice(&table[p * size..(p + 1) * size]);
                v.extend_from_slice(&interval[iv * size..(iv + 1) * size]);
                v.extend([step, duration]);
                v
            }
            InputWeights::Scalar => vec![pitch as f32 / super::PITCH_SCALE as f32, step, duration],
        };
        s.prev = pitch as i64;
        let mut gates = vec![0f32; 4 * h];
        let mut recur = vec![0f32; 4 * h];
        for (l, layer) in self.layers.iter().enumerate() {
            affine(&layer.w_ih, &layer.bias, &x, &mut gates);
            matvec(&layer.w_hh, &s.h[l], &mut recur);
            let (hl, cl) = (&mut s.h[l], &mut s.c[l]);
            for j in 0..h {
                let i = sigmoid(gates[j] + recur[j]);
                let f = sigmoid(gates[h + j] + recur[h + j]);
                let g = (gates[2 * h + j] + recur[2 * h + j]).tanh();
                let o = sigmoid(gates[3 * h + j] + recur[3 * h + j]);
                cl[j] = f * cl[j] + i * g;
                hl[j] = o * cl[j].tanh();
            }
            x.clone_from(hl);
        }
        let out = x;
        let mut logits = vec![0f32; super::PITCHES as usize];
        affine(&self.fc_pitch.0, &self.fc_pitch.1, &out, &mut logits);
        let step = (self.fc_step.1 + dot(&self.fc_step.0, &out)) as f64;
        let duration = (self.fc_duration.1 + dot(&self.fc_duration.0, &out)) as f64;
        if let Some(ptr) = &self.pointer {
            logits = ptr.mix(&out, logits, pitch, s);
        }
        StepOutput {
            logits,
            step,
            duration,
        }
    }
}

impl PointerWeights {
    /// The same mixture as `net::Pointer::mix`, for one query.
    fn mix(&self, out: &[f32], logits: Vec<f32>, pitch: u8, s: &mut StepState) -> Vec<f32> {
        let mut key = vec![0f32; self.dim];
        matvec(&self.key, out, &mut key);
        let mut query = vec![0f32; self.dim];
        matvec(&self.query, out, &mut query);
        s.keys.push_back(key);
        s.pitches.push_back(pitch);
        let usable = s.keys.len() - 1;
        let scale = (self.dim as f32).sqrt();
        let scores: Vec<f32> = s
            .keys
            .iter()
            .take(usable)
            .map(|k| dot(&query, k) / scale)
            .collect();
        // softmax over the usable keys and the null slot (score 0)
        let top = scores.iter().copied().fold(0f32, f32::max);
        let weights: Vec<f32> = scores.iter().map(|v| (v - top).exp()).collect();
        let null = (-top).exp();
        let total = weights.iter().sum::<f32>() + null;
        let gate = sigmoid(self.gate_b + dot(&self.gate_w, out));
        let lmax = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exps: Vec<f32> = logits.iter().map(|l| (l - lmax).exp()).collect();
        let esum: f32 = exps.iter().sum();
        let share = 1.0 - gate + gate * (null / total);
        let mut p: Vec<f32> = exps.iter().map(|e| e / esum * share).collect();
        for (w, &follower) in weights.iter().zip(s.pitches.iter().skip(1)) {
            p[follower as usize] += gate * w / total;
        }
        while s.keys.len() > self.memory {
            s.keys.pop_front();
            s.pitches.pop_front();
        }
        p.iter().map(|v| v.max(1e-12).ln()).collect()
    }
}
