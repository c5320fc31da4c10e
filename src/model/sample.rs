//! Generation: a stateful LSTM that reads the primer once, then one note per step (the
//! notebook re-ran a whole window per note and fed raw pitches back; here the input is
//! encoded exactly as in training). Sampling happens on the CPU in f64 from the session's
//! ChaCha generator, so the same seed gives the same notes on every machine.

use rand::Rng;
use rand_chacha::ChaCha20Rng;
use tch::{Kind, Tensor};

use super::data::{self, Encoded};
use super::key::KeyView;
use super::net::{Net, State};
use super::step::{StepState, Stepper};
use super::{Head, Model};
use crate::music::note::Note;

/// Sampling controls, read afresh for every note (live mode changes them mid-stream).
#[derive(Clone, Debug, PartialEq)]
pub struct SampleOptions {
    /// Divides the log-probabilities; 0 picks the most likely pitch.
    pub temperature: f64,
    /// Keep only the K most likely pitches (0 = all).
    pub top_k: usize,
    /// Pitches allowed (a scale); None allows all.
    pub allowed: Option<[bool; 128]>,
    /// The tonic pitch class of the scale behind `allowed`: the generator carries the key of
    /// what the model read onto it (see `key`). None aligns by the pitch set alone.
    pub tonic: Option<u8>,
    /// Shortest duration in seconds, so no note has zero length.
    pub min_duration: f64,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            temperature: 1.0,
            top_k: 0,
            allowed: None,
            tonic: None,
            min_duration: 0.05,
        }
    }
}

/// The model's prediction for the next note.
struct Prediction {
    logits: Vec<f32>,
    step: f64,
    duration: f64,
}

/// Continues a melody note by note. Owns its own copy of the weights (plain vectors), so it
/// can move to the live thread while the session keeps (or replaces) the model.
pub struct Generator {
    stepper: Stepper,
    head: Head,
    state: StepState,
    next: Prediction,
    last_start: f64,
    velocity: u8,
    /// The model reads the melody in one key and its notes are moved into the scale's.
    key: KeyView,
}

impl Generator {
    /// Reads `primer` (not empty) into the LSTM state with the tensor network, then hands
    /// the state to the one-note stepper.
    pub fn new(model: &Model, primer: &[Note]) -> Generator {
        let _guard = tch::no_grad_guard();
        let net = &model.net;
        let (pitch, timing) = data::sequence(&Encoded::from_notes(primer), net.device());
        // In pieces, carrying the state: one libtorch LSTM call over a 530,000-note primer
        // failed inside oneDNN ("could not create a primitive") and would hold every
        // position's hidden state at once; pieces give the same LSTM state in bounded
        // memory. (The pointer's first proposal then sees the last piece and its memory of
        // POINTER_MEMORY notes, as every later step does, instead of the whole primer.)
        let len = pitch.size()[1];
        let mut state = net.zero_state(1);
        let mut at = 0;
        while len - at > PRIMER_PIECE {
            let piece = |t: &Tensor| t.narrow(1, at, PRIMER_PIECE);
            state = net
                .forward(
                    &piece(&pitch),
                    &piece(&timing),
                    &state,
                    0.0,
                    PRIMER_PIECE - 1,
                )
                .1;
            at += PRIMER_PIECE;
        }
        let rest = |t: &Tensor| t.narrow(1, at, len - at);
        let (next, state) = predict(net, &rest(&pitch), &rest(&timing), &state);
        let last = primer.iter().max_by(|a, b| a.start.total_cmp(&b.start));
        Generator {
            head: model.config.head,
            stepper: net.stepper(),
            state: state.row(),
            next,
            last_start: last.map_or(0.0, |n| n.start),
            velocity: last.map_or(100, |n| n.velocity),
            key: KeyView::new(primer),
        }
    }

    /// Semitones between the model's view and the notes it gives (see `key`).
    pub fn shift(&self) -> i32 {
        self.key.shift()
    }

    /// Samples the next note and feeds it back. Starts never decrease.
    pub fn next(&mut self, opts: &SampleOptions, rng: &mut ChaCha20Rng) -> Note {
        let view = SampleOptions {
            allowed: self.key.view_mask(opts.allowed.as_ref(), opts.tonic),
            ..opts.clone()
        };
        let pitch = sample_pitch(&self.next.logits, self.head, &view, rng);
        let step = self.next.step.max(0.0);
        let duration = self.next.duration.max(0.0).max(opts.min_duration);
        self.key.read(pitch, duration);
        let note = Note {
            pitch: self.key.real(pitch),
            start: self.last_start + step,
            duration,
            velocity: self.velocity,
        };
        self.last_start = note.start;
        let out = self
            .stepper
            .step(&mut self.state, pitch, step as f32, duration as f32);
        self.next = Prediction {
            logits: out.logits,
            step: out.step,
            duration: out.duration,
        };
        note
    }
}

/// Primer notes read per libtorch call.
const PRIMER_PIECE: i64 = 2048;

fn predict(net: &Net, pitch: &Tensor, timing: &Tensor, state: &State) -> (Prediction, State) {
    let (o, state) = net.forward(pitch, timing, state, 0.0, pitch.size()[1] - 1);
    let logits: Vec<f32> = Vec::try_from(
        o.logits
            .select(1, 0)
            .squeeze_dim(0)
            .to_kind(Kind::Float)
            .to_device(tch::Device::Cpu),
    )
    .expect("128 floats");
    let scalar = |t: &Tensor| t.select(1, 0).double_value(&[0]);
    (
        Prediction {
            logits,
            step: scalar(&o.step),
            duration: scalar(&o.duration),
        },
        state,
    )
}

/// Picks a pitch from the model's scores under the controls. A scale that excludes every
/// pitch the model would consider falls back to the scale alone, then to no constraint.
pub(super) fn sample_pitch(
    logits: &[f32],
    head: Head,
    opts: &SampleOptions,
    rng: &mut ChaCha20Rng,
) -> u8 {
    // Log-weights at temperature 1: log-softmax up to a constant, or the log of the sigmoid
    // outputs that the notebook normalised and sampled.
    let mut logw: Vec<f64> = logits
        .iter()
        .map(|&l| match head {
            Head::Softmax => l as f64,
            Head::Sigmoid => -(1.0 + (-(l as f64)).exp()).ln(),
        })
        .collect();
    if let Some(allowed) = &opts.allowed {
        if allowed.iter().any(|&a| a) {
            for (w, &ok) in logw.iter_mut().zip(allowed.iter()) {
                if !ok {
                    *w = f64::NEG_INFINITY;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..logw.len()).collect();
    // Highest first; ties by lower pitch, so the order is total (an unstable sort gives the
    // same order as a stable one) and portable.
    order.sort_unstable_by(|&a, &b| logw[b].total_cmp(&logw[a]).then(a.cmp(&b)));
    if opts.temperature <= 0.0 {
        return order[0] as u8;
    }
    let k = if opts.top_k == 0 {
        order.len()
    } else {
        opts.top_k.min(order.len())
    };
    let kept = &order[..k];
    let top = logw[kept[0]];
    let weights: Vec<f64> = kept
        .iter()
        .map(|&i| ((logw[i] - top) / opts.temperature).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (&i, w) in kept.iter().zip(&weights) {
        if u < *w {
            return i as u8;
        }
        u -= w;
    }
    kept[0] as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn logits() -> Vec<f32> {
        (0..128)
            .map(|i| {
                if i == 60 {
                    5.0
                } else if i == 62 {
                    4.0
                } else {
                    -5.0
                }
            })
            .collect()
    }

    #[test]
    fn a_long_primer_read_in_pieces_predicts_as_read_whole() {
        use crate::model::{Head, Input, ModelConfig};
        let config = ModelConfig {
            hidden: 8,
            layers: 1,
            input: Input::Embed,
            head: Head::Softmax,
            embed: 4,
            pointer: false,
        };
        let model = Model::new(config, tch::Device::Cpu, 3);
        let primer: Vec<Note> = (0..(2 * PRIMER_PIECE + 5))
            .map(|i| Note {
                pitch: 60 + (i % 12) as u8,
                start: i as f64 * 0.25,
                duration: 0.25,
                velocity: 90,
            })
            .collect();
        let g = Generator::new(&model, &primer);
        let _guard = tch::no_grad_guard();
        let (pitch, timing) = data::sequence(&Encoded::from_notes(&primer), tch::Device::Cpu);
        let (whole, _) = predict(&model.net, &pitch, &timing, &model.net.zero_state(1));
        for (a, b) in g.next.logits.iter().zip(&whole.logits) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        assert!((g.next.step - whole.step).abs() < 1e-4);
    }

    #[test]
    fn temperature_zero_is_greedy() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let o = SampleOptions {
            temperature: 0.0,
            ..SampleOptions::default()
        };
        assert_eq!(sample_pitch(&logits(), Head::Softmax, &o, &mut rng), 60);
    }

    #[test]
    fn top_k_one_is_greedy_at_any_temperature() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let o = SampleOptions {
            temperature: 5.0,
            top_k: 1,
            ..SampleOptions::default()
        };
        for _ in 0..50 {
            assert_eq!(sample_pitch(&logits(), Head::Softmax, &o, &mut rng), 60);
        }
    }

    #[test]
    fn a_scale_excludes_pitches_outside_it() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut allowed = [false; 128];
        allowed[62] = true;
        allowed[64] = true;
        let o = SampleOptions {
            allowed: Some(allowed),
            ..SampleOptions::default()
        };
        for _ in 0..100 {
            let p = sample_pitch(&logits(), Head::Softmax, &o, &mut rng);
            assert!(p == 62 || p == 64, "{p}");
        }
    }

    #[test]
    fn sampling_follows_the_distribution() {
        // Softmax of (5, 4) over the two likely pitches: 60 about 73% of the time.
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let o = SampleOptions::default();
        let n = 4000;
        let hits = (0..n)
            .filter(|_| sample_pitch(&logits(), Head::Softmax, &o, &mut rng) == 60)
            .count();
        let frac = hits as f64 / n as f64;
        assert!((frac - 0.73).abs() < 0.03, "{frac}");
    }

    #[test]
    fn sigmoid_head_samples_normalised_outputs() {
        // sigmoid(0) = 0.5 for every pitch except one at sigmoid(+inf) = 1: that one has
        // weight 1 / (1 + 127 * 0.5).
        let mut l = vec![0.0f32; 128];
        l[70] = 40.0;
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let n = 20000;
        let hits = (0..n)
            .filter(|_| sample_pitch(&l, Head::Sigmoid, &SampleOptions::default(), &mut rng) == 70)
            .count();
        let frac = hits as f64 / n as f64;
        assert!((frac - 1.0 / 64.5).abs() < 0.004, "{frac}");
    }
}
