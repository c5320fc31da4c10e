//! One note at a time without libtorch: the network's single-step inference in plain Rust.
//! A generation step is a few hundred thousand multiply-adds (about 760,000 for the shipped
//! hidden-384 model) on vectors of a few hundred numbers, where libtorch's per-operation
//! dispatch (dozens of small ops per note) costs more than the arithmetic. The primer is still read by the tensor network (`Net::forward`), whose state
//! is handed over here; tms's model::step_check test checks both agree.
//!
//! `Stepper::new` rearranges the weights once so that a step is little more than streaming
//! them through vector registers (the kernels module):
//! - the first layer's input is an embedding row, an interval row and two numbers, so its
//!   input-to-gates product is precomputed per pitch and per interval (bias included) and a
//!   step adds two table rows and two scaled columns instead of a 4H × (2E + 2) product;
//! - later layers fuse input and recurrent weights into one 4H × 2H product;
//! - every head (pitch, step, duration, and the pointer's query, key and gate) reads the same
//!   LSTM output, so they are one stacked product;
//! - with `Precision::Int8` the streamed matrices (W_hh and the heads) are bytes with a
//!   scale per row (the quant module): the products are bound by the bytes they read, and
//!   bytes are a quarter of f32's.
//!
//! The pointer remembers at most `memory` notes (64 for the folk model, as tms's net.rs
//! stateful state keeps), so a step costs the same at note 100 and at note 100,000.

use std::collections::VecDeque;

use crate::kernels::{self, add_scaled, dot, map_in_place, sigmoid, tanh, Packed};
use crate::quant::QPacked;
/// The polynomial exp and ln, for sampling (sample.rs) as well.
pub use kernels::{exp, ln};

/// Weights of one LSTM layer, gates in PyTorch's order (input, forget, cell, output).
pub struct Layer {
    pub w_ih: Vec<f32>,
    pub w_hh: Vec<f32>,
    /// b_ih + b_hh.
    pub bias: Vec<f32>,
}

pub struct PointerWeights {
    pub query: Vec<f32>,
    pub key: Vec<f32>,
    pub gate_w: Vec<f32>,
    pub gate_b: f32,
    pub dim: usize,
    pub memory: usize,
}

/// How a note becomes the first layer's input.
pub enum InputWeights {
    Embed {
        pitch: Vec<f32>,
        interval: Vec<f32>,
        size: usize,
        range: i64,
        /// A model that reads where each note falls in its bar: a table of `size` values
        /// per position class, whose input columns follow step and duration.
        position: Option<Vec<f32>>,
        /// A model that reads scale degrees: a table of `size` values per degree class,
        /// whose columns follow the position's (or duration's, without positions).
        degree: Option<Vec<f32>>,
    },
    Scalar,
}

/// The network's weights as `Net` holds them (row-major, PyTorch's shapes), for
/// `Stepper::new`.
pub struct Weights {
    pub hidden: usize,
    pub input: InputWeights,
    pub layers: Vec<Layer>,
    pub fc_pitch: (Vec<f32>, Vec<f32>),
    pub fc_step: (Vec<f32>, f32),
    pub fc_duration: (Vec<f32>, f32),
    pub pointer: Option<PointerWeights>,
    /// The categorical step and duration heads of a `rhythm grid` model.
    pub rhythm: Option<RhythmWeights>,
}

/// The categorical rhythm heads: weights [CLASSES, H] and biases, as `Net` holds them.
pub struct RhythmWeights {
    pub step: (Vec<f32>, Vec<f32>),
    pub duration: (Vec<f32>, Vec<f32>),
}

/// How the stepper stores the matrices it streams every note (W_hh and the heads; the
/// first layer's tables stay f32 whatever this says).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// The network's own f32 weights: the tensor network's numbers to float rounding.
    F32,
    /// One byte per weight, a scale per row (the `quant` module): a quarter of the bytes,
    /// within the quantization error of f32.
    Int8,
}

/// A matrix the stepper multiplies by, in the chosen precision.
enum Matrix {
    F32(Packed),
    Int8(QPacked),
}

impl Matrix {
    fn new(w: &[f32], rows: usize, cols: usize, precision: Precision) -> Matrix {
        match precision {
            Precision::F32 => Matrix::F32(Packed::new(w, rows, cols)),
            Precision::Int8 => Matrix::Int8(QPacked::new(w, rows, cols)),
        }
    }

    #[inline(always)]
    fn add_product(&self, x: &[f32], out: &mut [f32]) {
        match self {
            Matrix::F32(m) => m.add_product(x, out),
            Matrix::Int8(m) => m.add_product(x, out),
        }
    }
}

/// The categorical rhythm heads stacked into one product: step rows, then duration rows.
struct RhythmHeads {
    heads: Matrix,
    bias: Vec<f32>,
    classes: usize,
}

impl RhythmHeads {
    fn new(w: &RhythmWeights, hidden: usize, precision: Precision) -> RhythmHeads {
        let rows: Vec<f32> = w.step.0.iter().chain(&w.duration.0).copied().collect();
        let bias: Vec<f32> = w.step.1.iter().chain(&w.duration.1).copied().collect();
        RhythmHeads {
            heads: Matrix::new(&rows, bias.len(), hidden, precision),
            classes: w.step.1.len(),
            bias,
        }
    }

    /// The step and duration logits after the LSTM output `out`.
    #[inline(always)]
    fn logits(&self, out: &[f32]) -> RhythmLogits {
        let mut all = self.bias.clone();
        self.heads.add_product(out, &mut all);
        let duration = all.split_off(self.classes);
        RhythmLogits {
            step: all,
            duration,
        }
    }
}

/// Logits over the rhythm classes for the next note's step and duration.
#[derive(Clone)]
pub struct RhythmLogits {
    pub step: Vec<f32>,
    pub duration: Vec<f32>,
}

/// The first layer's input-to-gates product, precomputed.
struct FirstLayer {
    /// Per pitch, 4H values: the biases plus the product with the pitch's part of the input.
    pitch: Vec<f32>,
    /// Per interval index, 4H values (embedded input only), and the clamp range.
    interval: Option<(Vec<f32>, i64)>,
    /// The weight columns of the step and duration inputs.
    step: Vec<f32>,
    duration: Vec<f32>,
    /// Per position class, 4H values (a model that reads positions only).
    position: Option<Vec<f32>>,
    /// Per degree class, 4H values (a model that reads degrees only).
    degree: Option<Vec<f32>>,
}

struct Pointer {
    dim: usize,
    memory: usize,
}

/// The heads' rows in the stacked product: pitch logits first, then these.
const STEP_ROW: usize = PITCHES;
const DURATION_ROW: usize = PITCHES + 1;
/// With the pointer: its gate, then `dim` query rows, then `dim` key rows.
const GATE_ROW: usize = PITCHES + 2;
use crate::{DEGREES, PITCHES, PITCH_SCALE, POSITIONS, UNKNOWN_DEGREE, UNKNOWN_POSITION};

pub struct Stepper {
    hidden: usize,
    first: FirstLayer,
    /// Layer 0: W_hh. Later layers: [W_ih | W_hh] over [h below, own h], with their biases.
    layers: Vec<(Matrix, Vec<f32>)>,
    heads: Matrix,
    head_bias: Vec<f32>,
    pointer: Option<Pointer>,
    rhythm: Option<RhythmHeads>,
    /// Whether this CPU has AVX2 (see `step_avx2`).
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    avx2: bool,
}

/// The recurrent state, as `net::State` holds it for one row.
#[derive(Clone)]
pub struct StepState {
    pub h: Vec<Vec<f32>>,
    pub c: Vec<Vec<f32>>,
    /// The last pitch read, −1 before the first.
    pub prev: i64,
    /// Pointer keys of the last notes read, with their pitches.
    pub keys: VecDeque<Vec<f32>>,
    pub pitches: VecDeque<u8>,
}

impl StepState {
    /// The state before any note: zeros, no previous pitch, nothing remembered.
    pub fn fresh(layers: usize, hidden: usize) -> StepState {
        StepState {
            h: vec![vec![0.0; hidden]; layers],
            c: vec![vec![0.0; hidden]; layers],
            prev: -1,
            keys: VecDeque::new(),
            pitches: VecDeque::new(),
        }
    }
}

/// One note as the first layer reads it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoteIn {
    pub pitch: u8,
    /// Its position class in the bar (see tms's `model::position`), read only by a model
    /// that has a position table; [`UNKNOWN_POSITION`] where the bars are not known.
    pub position: usize,
    /// Its scale degree class, read only by a model that has a degree table;
    /// [`UNKNOWN_DEGREE`] where the key is not known.
    pub degree: usize,
    pub step: f32,
    pub duration: f32,
}

/// What the network predicts after a note.
pub struct StepOutput {
    /// Log-weights of the 128 pitches, as `Outputs::logits`.
    pub logits: Vec<f32>,
    pub step: f64,
    pub duration: f64,
    /// The categorical heads' logits (grid models; `step` and `duration` are then 0).
    pub rhythm: Option<RhythmLogits>,
}

/// Columns `from..to` of a row-major matrix with `cols` columns, row-major.
fn columns(w: &[f32], cols: usize, from: usize, to: usize) -> Vec<f32> {
    w.chunks_exact(cols)
        .flat_map(|row| &row[from..to])
        .copied()
        .collect()
}

/// Per row of `table` (`size` values each): start + W·row, one after another.
fn products(w: &Packed, start: &[f32], table: &[f32], size: usize) -> Vec<f32> {
    table
        .chunks_exact(size)
        .flat_map(|x| {
            let mut out = start.to_vec();
            w.add_product(x, &mut out);
            out
        })
        .collect()
}

impl FirstLayer {
    fn new(input: &InputWeights, layer: &Layer, gates: usize) -> FirstLayer {
        let cols = layer.w_ih.len() / gates;
        let zero = vec![0f32; gates];
        match input {
            InputWeights::Embed {
                pitch,
                interval,
                size,
                range,
                position,
                degree,
            } => {
                let degree_from = 2 * size + 2 + if position.is_some() { *size } else { 0 };
                let part = |from| {
                    Packed::new(&columns(&layer.w_ih, cols, from, from + size), gates, *size)
                };
                FirstLayer {
                    pitch: products(&part(0), &layer.bias, pitch, *size),
                    interval: Some((products(&part(*size), &zero, interval, *size), *range)),
                    step: columns(&layer.w_ih, cols, 2 * size, 2 * size + 1),
                    duration: columns(&layer.w_ih, cols, 2 * size + 1, 2 * size + 2),
                    position: position
                        .as_ref()
                        .map(|t| products(&part(2 * size + 2), &zero, t, *size)),
                    degree: degree
                        .as_ref()
                        .map(|t| products(&part(degree_from), &zero, t, *size)),
                }
            }
            InputWeights::Scalar => {
                let scale = PITCH_SCALE;
                let pitch_column = columns(&layer.w_ih, cols, 0, 1);
                let pitch = (0..PITCHES)
                    .flat_map(|p| {
                        let mut row = layer.bias.clone();
                        add_scaled(&mut row, p as f32 / scale, &pitch_column);
                        row
                    })
                    .collect();
                FirstLayer {
                    pitch,
                    interval: None,
                    step: columns(&layer.w_ih, cols, 1, 2),
                    duration: columns(&layer.w_ih, cols, 2, 3),
                    position: None,
                    degree: None,
                }
            }
        }
    }

    /// The layer's gate inputs before the recurrent product: one pass over the table rows
    /// and the two timing columns, summed in the order pitch + interval + step + duration
    /// (+ position, for a model that reads it).
    #[inline(always)]
    fn gates(&self, out: &mut Vec<f32>, prev: i64, x: NoteIn) {
        let NoteIn {
            pitch,
            position,
            degree,
            step,
            duration,
        } = x;
        let n = self.step.len();
        let p = pitch as usize;
        let row = &self.pitch[p * n..(p + 1) * n];
        out.clear();
        out.resize(n, 0.0);
        let timing = self.step.iter().zip(&self.duration);
        match &self.interval {
            Some((table, range)) => {
                let iv = if prev < 0 {
                    2 * range + 1
                } else {
                    (pitch as i64 - prev).clamp(-range, *range) + range
                } as usize;
                let interval = &table[iv * n..(iv + 1) * n];
                for (((o, a), b), (s, d)) in out.iter_mut().zip(row).zip(interval).zip(timing) {
                    *o = a + b + step * s + duration * d;
                }
            }
            None => {
                for ((o, a), (s, d)) in out.iter_mut().zip(row).zip(timing) {
                    *o = a + step * s + duration * d;
                }
            }
        }
        if let Some(table) = &self.position {
            let k = position.min(POSITIONS - 1);
            for (o, v) in out.iter_mut().zip(&table[k * n..(k + 1) * n]) {
                *o += v;
            }
        }
        if let Some(table) = &self.degree {
            let k = degree.min(DEGREES - 1);
            for (o, v) in out.iter_mut().zip(&table[k * n..(k + 1) * n]) {
                *o += v;
            }
        }
    }
}

impl Stepper {
    /// Rearranges the weights for stepping in f32 (a few milliseconds for the folk model).
    pub fn new(w: Weights) -> Stepper {
        Stepper::with_precision(w, Precision::F32)
    }

    /// Rearranges the weights for stepping, the streamed matrices in `precision`.
    pub fn with_precision(w: Weights, precision: Precision) -> Stepper {
        let h = w.hidden;
        let gates = 4 * h;
        let first = FirstLayer::new(&w.input, &w.layers[0], gates);
        let layers = w
            .layers
            .iter()
            .enumerate()
            .map(|(l, layer)| {
                if l == 0 {
                    return (Matrix::new(&layer.w_hh, gates, h, precision), Vec::new());
                }
                let fused: Vec<f32> = layer
                    .w_ih
                    .chunks_exact(h)
                    .zip(layer.w_hh.chunks_exact(h))
                    .flat_map(|(a, b)| a.iter().chain(b))
                    .copied()
                    .collect();
                (
                    Matrix::new(&fused, gates, 2 * h, precision),
                    layer.bias.clone(),
                )
            })
            .collect();
        let mut rows = w.fc_pitch.0.clone();
        let mut head_bias = w.fc_pitch.1.clone();
        rows.extend(&w.fc_step.0);
        head_bias.push(w.fc_step.1);
        rows.extend(&w.fc_duration.0);
        head_bias.push(w.fc_duration.1);
        if let Some(p) = &w.pointer {
            rows.extend(&p.gate_w);
            head_bias.push(p.gate_b);
            rows.extend(&p.query);
            rows.extend(&p.key);
            head_bias.resize(head_bias.len() + 2 * p.dim, 0.0);
        }
        Stepper {
            hidden: h,
            first,
            layers,
            heads: Matrix::new(&rows, head_bias.len(), h, precision),
            head_bias,
            pointer: w.pointer.as_ref().map(|p| Pointer {
                dim: p.dim,
                memory: p.memory,
            }),
            rhythm: w.rhythm.as_ref().map(|r| RhythmHeads::new(r, h, precision)),
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            avx2: std::arch::is_x86_feature_detected!("avx2"),
        }
    }

    /// Reads one note (at an unknown place in the bar) and returns the prediction for the
    /// next.
    pub fn step(&self, s: &mut StepState, pitch: u8, step: f32, duration: f32) -> StepOutput {
        self.read(
            s,
            NoteIn {
                pitch,
                position: UNKNOWN_POSITION,
                degree: UNKNOWN_DEGREE,
                step,
                duration,
            },
        )
    }

    /// Reads one note and returns the prediction for the next.
    pub fn read(&self, s: &mut StepState, x: NoteIn) -> StepOutput {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        if self.avx2 {
            return self.step_avx2(s, x);
        }
        self.step_any(s, x)
    }

    /// `step_any` compiled for AVX2: eight floats per instruction instead of SSE2's four.
    /// The build targets baseline x86-64 (CI runs it elsewhere), so AVX2 is chosen at run
    /// time. No FMA: a fused multiply-add rounds once where the baseline rounds twice, and
    /// with the same operations in the same order both give the same bits, so a seed gives
    /// the same notes with or without AVX2.
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    #[allow(unsafe_code)]
    fn step_avx2(&self, s: &mut StepState, x: NoteIn) -> StepOutput {
        #[target_feature(enable = "avx2")]
        fn compiled_for_avx2(me: &Stepper, s: &mut StepState, x: NoteIn) -> StepOutput {
            me.step_any(s, x)
        }
        // SAFETY: `avx2` is set only when the CPU reported AVX2 (`Stepper::new`), the one
        // requirement of calling a function compiled for it.
        unsafe { compiled_for_avx2(self, s, x) }
    }

    /// The step itself, inlined into each of `step`'s two compilations, as is everything
    /// it calls.
    #[inline(always)]
    fn step_any(&self, s: &mut StepState, x: NoteIn) -> StepOutput {
        let pitch = x.pitch;
        let mut gates = Vec::with_capacity(4 * self.hidden);
        self.first.gates(&mut gates, s.prev, x);
        s.prev = pitch as i64;
        let mut below = Vec::new();
        for (l, (w, bias)) in self.layers.iter().enumerate() {
            if l == 0 {
                w.add_product(&s.h[0], &mut gates);
            } else {
                gates.clone_from(bias);
                below.clear();
                below.extend_from_slice(&s.h[l - 1]);
                below.extend_from_slice(&s.h[l]);
                w.add_product(&below, &mut gates);
            }
            cell(&gates, &mut s.h[l], &mut s.c[l]);
        }
        let out = s.h.last().expect("at least one layer");
        let mut head = self.head_bias.clone();
        self.heads.add_product(out, &mut head);
        let (step, duration) = (head[STEP_ROW] as f64, head[DURATION_ROW] as f64);
        // Not `Option::map`: a closure is compiled without the caller's target features,
        // and this one held the rhythm heads' product (a third of a step's time in SSE2).
        #[allow(clippy::manual_map)]
        let rhythm = match &self.rhythm {
            Some(r) => Some(r.logits(out)),
            None => None,
        };
        if let Some(ptr) = &self.pointer {
            let (logits, rest) = head.split_at_mut(PITCHES);
            let (query, key) = rest[GATE_ROW + 1 - PITCHES..].split_at(ptr.dim);
            ptr.mix(logits, rest[GATE_ROW - PITCHES], query, key, pitch, s);
        }
        head.truncate(PITCHES);
        StepOutput {
            logits: head,
            step,
            duration,
            rhythm,
        }
    }
}

/// The LSTM cell: gates (pre-activations, i f g o) to new h and c, in one pass (each
/// element's five activations together, rather than a pass over memory per gate).
#[inline(always)]
fn cell(gates: &[f32], h: &mut [f32], c: &mut [f32]) {
    let n = h.len();
    let (i, rest) = gates.split_at(n);
    let (f, rest) = rest.split_at(n);
    let (g, o) = rest.split_at(n);
    let gates = i.iter().zip(f).zip(g.iter().zip(o));
    for ((h, c), ((i, f), (g, o))) in h.iter_mut().zip(c.iter_mut()).zip(gates) {
        *c = sigmoid(*f) * *c + sigmoid(*i) * tanh(*g);
        *h = sigmoid(*o) * tanh(*c);
    }
}

impl Pointer {
    /// The same mixture as `net::Pointer::mix`, for one query: turns `logits` into the log
    /// of the mixed distribution and remembers this note's key.
    #[inline(always)]
    fn mix(
        &self,
        logits: &mut [f32],
        gate: f32,
        query: &[f32],
        key: &[f32],
        pitch: u8,
        s: &mut StepState,
    ) {
        // Every remembered key is usable: each one's follower is known, the last one's
        // being this note.
        let scale = (self.dim as f32).sqrt();
        let mut weights = Vec::with_capacity(s.keys.len());
        for k in &s.keys {
            weights.push(dot(query, k) / scale);
        }
        // softmax over the keys and the null slot (score 0)
        let top = weights.iter().copied().fold(0f32, f32::max);
        map_in_place(&mut weights, |v| kernels::exp(v - top));
        let null = kernels::exp(-top);
        let total = weights.iter().sum::<f32>() + null;
        let gate = sigmoid(gate);
        let lmax = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        map_in_place(logits, |l| kernels::exp(l - lmax));
        let esum: f32 = logits.iter().sum();
        let share = 1.0 - gate + gate * (null / total);
        map_in_place(logits, |e| e / esum * share);
        let followers = s.pitches.iter().skip(1).chain([&pitch]);
        for (w, &follower) in weights.iter().zip(followers) {
            logits[follower as usize] += gate * w / total;
        }
        map_in_place(logits, |p| ln(if p < 1e-12 { 1e-12 } else { p }));
        // Remember this note, reusing the oldest key's buffer once the memory is full.
        let mut buffer = if s.keys.len() >= self.memory {
            s.pitches.pop_front();
            s.keys.pop_front().unwrap_or_default()
        } else {
            Vec::with_capacity(self.dim)
        };
        buffer.clear();
        buffer.extend_from_slice(key);
        s.keys.push_back(buffer);
        s.pitches.push_back(pitch);
        while s.keys.len() > self.memory {
            s.keys.pop_front();
            s.pitches.pop_front();
        }
    }
}
