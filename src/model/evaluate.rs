//! What `evaluate` reports (the protocol itself runs in the trainer, `scoring.rs`), the
//! seeded train/validation split that `train` and `evaluate` share, and the stepper's own
//! pitch NLL.

use std::fmt;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::data::Encoded;
use super::{Head, Model, Precision};
use crate::music::note::Tune;

/// Next-note prediction quality: nats, fraction, seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
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

/// Splits tune indices into (train, validation): a seeded `val` fraction of the tunes, at
/// least one when `val` > 0 and there are two or more tunes. Both lists are sorted.
pub fn split_validation(tunes: &[Tune], val: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    split_indices(tunes.len(), val, seed)
}

/// [`split_validation`] of `n` tunes.
pub fn split_indices(n: usize, val: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
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
