//! The evaluation protocol of LANGUAGE.md, the same for every model: each note that has at
//! least `seq_len` notes before it in its tune is predicted from exactly those notes, from a
//! fresh LSTM state. Also the seeded train/validation split that `train` and `evaluate`
//! share.

use std::fmt;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tch::{Kind, Tensor};

use super::data::{self, Encoded, Window};
use super::net::Net;
use super::torch::Torch;
use super::{rhythm, Head, Model, Precision, Rhythm};
use crate::music::note::Tune;

/// Next-note prediction quality: nats, fraction, seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Metrics {
    pub notes: usize,
    pub pitch_nll: f64,
    pub pitch_acc: f64,
    /// For grid heads, of the distribution's median.
    pub step_mae: f64,
    pub duration_mae: f64,
    /// Nats of the true step's and duration's nearest class (grid heads only).
    pub step_nll: Option<f64>,
    pub duration_nll: Option<f64>,
}

impl fmt::Display for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "notes {} pitch_nll {:.4} pitch_acc {:.4} step_mae {:.4} duration_mae {:.4}",
            self.notes, self.pitch_nll, self.pitch_acc, self.step_mae, self.duration_mae
        )?;
        if let (Some(s), Some(d)) = (self.step_nll, self.duration_nll) {
            write!(f, " step_nll {s:.4} duration_nll {d:.4}")?;
        }
        Ok(())
    }
}

/// Scores `tunes` by the protocol. Tunes too short to score contribute nothing.
pub fn evaluate(model: &Model, tunes: &[Tune], seq_len: usize) -> Metrics {
    let refs: Vec<&Tune> = tunes.iter().collect();
    evaluate_refs(model, &refs, seq_len)
}

/// [`evaluate`] that reports `(notes scored, notes to score)` after every chunk and stops,
/// returning None, when `progress` returns false (Ctrl-C).
pub fn evaluate_with(
    model: &Model,
    tunes: &[Tune],
    seq_len: usize,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Option<Metrics> {
    let refs: Vec<&Tune> = tunes.iter().collect();
    let torch = Torch::of(model);
    scored(&torch.net, model, &refs, seq_len, progress)
}

fn evaluate_refs(model: &Model, tunes: &[&Tune], seq_len: usize) -> Metrics {
    let torch = Torch::of(model);
    evaluate_net(&torch.net, model, tunes, seq_len)
}

/// [`evaluate`] with the tensors of `model` that are already at hand (a training run's).
pub(super) fn evaluate_net(net: &Net, model: &Model, tunes: &[&Tune], seq_len: usize) -> Metrics {
    scored(net, model, tunes, seq_len, &mut |_, _| true).expect("never stopped")
}

fn scored(
    net: &Net,
    model: &Model,
    tunes: &[&Tune],
    seq_len: usize,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Option<Metrics> {
    let _guard = tch::no_grad_guard();
    let encoded: Vec<Encoded> = tunes.iter().map(|t| Encoded::new(t)).collect();
    let set: Vec<&Encoded> = encoded.iter().collect();
    let windows: Vec<Window> = set
        .iter()
        .enumerate()
        .flat_map(|(i, e)| {
            (seq_len..e.len()).map(move |target| Window {
                tune: i,
                start: target - seq_len,
                len: seq_len + 1,
                scored_from: seq_len - 1,
                shift: 0,
                hide_bars: false,
            })
        })
        .collect();
    let grid = model.config.rhythm == Rhythm::Grid;
    let mut sums = [0.0f64; 6];
    for (i, chunk) in windows.chunks(1024).enumerate() {
        if !progress(i * 1024, windows.len()) {
            return None;
        }
        let b = data::batch(&set, chunk, model.device());
        let o = net.forward_batch(&b, 0.0);
        // Every window scores only its last position, the one the outputs hold.
        let last = 0;
        let logits = o.logits.select(1, last);
        let target = b.target_pitch.select(1, last);
        let logp = log_probs(&logits, model.config.head);
        let nll = -logp
            .gather(1, &target.unsqueeze(1), false)
            .sum(Kind::Double);
        let hits = logits.argmax(1, false).eq_tensor(&target).sum(Kind::Double);
        let mae = |pred: &Tensor, y: &Tensor| {
            let pred = pred.select(1, last);
            let seconds = if grid {
                rhythm::median_seconds(&pred)
            } else {
                pred
            };
            (seconds.clamp_min(0.0) - y.select(1, last))
                .abs()
                .sum(Kind::Double)
        };
        sums[0] += nll.double_value(&[]);
        sums[1] += hits.double_value(&[]);
        sums[2] += mae(&o.step, &b.target_step).double_value(&[]);
        sums[3] += mae(&o.duration, &b.target_duration).double_value(&[]);
        if grid {
            let nll = |logits: &Tensor, y: &Tensor, min: i64| {
                let target = rhythm::target_classes(y, &b.mask, min).select(1, last);
                -logits
                    .select(1, last)
                    .log_softmax(-1, Kind::Float)
                    .gather(1, &target.unsqueeze(1), false)
                    .sum(Kind::Double)
                    .double_value(&[])
            };
            sums[4] += nll(&o.step, &b.target_step, 0);
            sums[5] += nll(&o.duration, &b.target_duration, 1);
        }
    }
    let n = windows.len();
    let d = n.max(1) as f64;
    Some(Metrics {
        notes: n,
        pitch_nll: sums[0] / d,
        pitch_acc: sums[1] / d,
        step_mae: sums[2] / d,
        duration_mae: sums[3] / d,
        step_nll: grid.then(|| sums[4] / d),
        duration_nll: grid.then(|| sums[5] / d),
    })
}

/// Pitch NLL (nats per note) of `tunes` read note by note by the generation stepper in
/// `precision`, each tune from a fresh state and each note after the first predicted from
/// all the notes before it: what the notes `generate` samples are drawn from, so the cost
/// of a lower precision shows as the difference between two calls. Not the evaluation
/// protocol (that reads fixed windows with the tensor network): compare its figures only
/// with each other. Returns (notes scored, nats per note).
pub fn stepped_pitch_nll(model: &Model, tunes: &[Tune], precision: Precision) -> (usize, f64) {
    let stepper = model.stepper(precision);
    let (layers, hidden) = (model.config.layers as usize, model.config.hidden as usize);
    let (mut notes, mut nll) = (0usize, 0f64);
    for tune in tunes {
        let e = Encoded::new(tune);
        let mut state = super::step::StepState::fresh(layers, hidden);
        for i in 0..e.len().saturating_sub(1) {
            let x = super::step::NoteIn {
                pitch: e.pitch[i] as u8,
                position: e.position[i] as usize,
                degree: e.degree[i] as usize,
                step: e.step[i],
                duration: e.duration[i],
            };
            let out = stepper.read(&mut state, x);
            let logp: Vec<f64> = match model.config.head {
                Head::Softmax => {
                    let top = out.logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
                    let sum: f64 = out.logits.iter().map(|&l| (l as f64 - top).exp()).sum();
                    out.logits
                        .iter()
                        .map(|&l| l as f64 - top - sum.ln())
                        .collect()
                }
                Head::Sigmoid => {
                    let s: Vec<f64> = out
                        .logits
                        .iter()
                        .map(|&l| 1.0 / (1.0 + (-l as f64).exp()))
                        .collect();
                    let total: f64 = s.iter().sum();
                    s.iter().map(|v| (v / total).ln()).collect()
                }
            };
            nll -= logp[e.pitch[i + 1] as usize];
            notes += 1;
        }
    }
    (notes, nll / notes.max(1) as f64)
}

/// Log-probabilities of the pitches at temperature 1: a log-softmax, or for the notebook's
/// sigmoid head the log of the outputs normalised to sum to 1.
pub(super) fn log_probs(logits: &Tensor, head: Head) -> Tensor {
    match head {
        Head::Softmax => logits.log_softmax(-1, Kind::Float),
        Head::Sigmoid => {
            let s = logits.sigmoid();
            let total = s.sum_dim_intlist(-1, true, Kind::Float);
            (s / total).log()
        }
    }
}

/// Splits tune indices into (train, validation): a seeded `val` fraction of the tunes, at
/// least one when `val` > 0 and there are two or more tunes. Both lists are sorted.
pub fn split_validation(tunes: &[Tune], val: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let n = tunes.len();
    let mut k = (val * n as f64).round() as usize;
    if val > 0.0 && n >= 2 {
        k = k.clamp(1, n - 1);
    } else {
        k = 0;
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha20Rng::seed_from_u64(seed));
    let mut v = idx[..k].to_vec();
    let mut t = idx[k..].to_vec();
    v.sort_unstable();
    t.sort_unstable();
    (t, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tunes(n: usize) -> Vec<Tune> {
        (0..n)
            .map(|i| Tune {
                source: i.to_string(),
                ..Tune::default()
            })
            .collect()
    }

    #[test]
    fn int8_steps_predict_real_tunes_as_f32_steps_do() {
        // The shipped model on the sample tunes (MIDI from outside the project): what the
        // int8 stepper's rounding costs in held-out NLL must stay far below anything a
        // listener or a researcher could notice. On all of han2 it is under 1e-4 nats
        // (BENCHMARKS.md); a broken quantization costs whole nats.
        let root = env!("CARGO_MANIFEST_DIR");
        let model = Model::open(
            std::path::Path::new(&format!("{root}/models/folk.safetensors")),
            crate::model::Device::Cpu,
        )
        .expect("the shipped model");
        let tunes: Vec<Tune> = ["han1-1", "zang-345", "zang-353", "zang-456", "little_star"]
            .iter()
            .map(|name| {
                let bytes = std::fs::read(format!("{root}/samples/{name}.mid")).expect("sample");
                Tune {
                    source: name.to_string(),
                    notes: crate::music::midi::read_midi(&bytes).expect("a MIDI file"),
                    ..Tune::default()
                }
            })
            .collect();
        let (notes, exact) = stepped_pitch_nll(&model, &tunes, Precision::F32);
        let (same, int8) = stepped_pitch_nll(&model, &tunes, Precision::Int8);
        assert_eq!(notes, same);
        assert!(notes > 150, "{notes} notes scored");
        assert!(exact > 0.3 && exact < 4.0, "f32 NLL {exact}");
        assert!(
            (int8 - exact).abs() < 0.01,
            "int8 {int8} against f32 {exact}"
        );
    }

    #[test]
    fn split_is_seeded_disjoint_and_complete() {
        let (t, v) = split_validation(&tunes(100), 0.1, 7);
        assert_eq!(v.len(), 10);
        assert_eq!(t.len(), 90);
        let mut all: Vec<usize> = t.iter().chain(&v).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(split_validation(&tunes(100), 0.1, 7), (t, v.clone()));
        assert_ne!(split_validation(&tunes(100), 0.1, 8).1, v);
    }

    #[test]
    fn split_keeps_one_tune_for_each_side_when_it_can() {
        assert_eq!(split_validation(&tunes(3), 0.01, 1).1.len(), 1);
        assert_eq!(split_validation(&tunes(1), 0.5, 1).1.len(), 0);
        assert_eq!(split_validation(&tunes(10), 0.0, 1).1.len(), 0);
    }
}
