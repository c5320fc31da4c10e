//! Learning from the performer (`learn on`): each phrase heard on the input port moves the
//! model a little toward it. A few optimizer steps at a small learning rate, each on the
//! phrase together with a replay sample of the corpus, so the model drifts toward what is
//! played without forgetting what it knew (a phrase alone, stepped on repeatedly, would
//! pull every weight toward eight notes).

/// Optimizer steps per phrase.
pub const STEPS: usize = 4;
/// Adam's learning rate for them: a tenth of the training default.
pub const LR: f64 = 3e-4;
/// Corpus tunes replayed with the phrase at each step.
pub const REPLAY: usize = 15;

/// What one phrase did to the model.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct Learned {
    /// The batch loss at the first and the last step.
    pub first: f64,
    pub last: f64,
}

#[cfg(feature = "torch")]
pub use local::LocalFineTuner;

/// The fine-tuning itself, on the tensor network (the trainer's side).
#[cfg(feature = "torch")]
mod local {
    use rand::seq::IndexedRandom;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use tch::nn::{self, OptimizerConfig};

    use super::{Learned, LR, REPLAY, STEPS};
    use crate::model::batch;
    use crate::model::data::Encoded;
    use crate::model::torch::Mirror;
    use crate::model::train::loss;
    use crate::model::{Model, Objective, TrainConfig};

    /// The optimizer and replay sampler of one `learn on`, kept from phrase to phrase.
    pub struct LocalFineTuner {
        mirror: Mirror,
        opt: Option<nn::Optimizer>,
        rng: ChaCha20Rng,
    }

    impl LocalFineTuner {
        pub fn new(seed: u64) -> LocalFineTuner {
            LocalFineTuner {
                mirror: Mirror::default(),
                opt: None,
                rng: ChaCha20Rng::seed_from_u64(seed),
            }
        }

        /// [`STEPS`] steps on `phrase` (at least 2 notes) and, at each, a new sample of
        /// [`REPLAY`] tunes of `corpus` (which may be empty). No dropout: a phrase is a handful
        /// of notes, and every one should count.
        pub fn learn(
            &mut self,
            model: &mut Model,
            phrase: &Encoded,
            corpus: &[Encoded],
            cfg: &TrainConfig,
        ) -> Learned {
            let device = model.device();
            let (torch, fresh) = self.mirror.sync(model);
            if fresh {
                self.opt = None;
            }
            let opt = self.opt.get_or_insert_with(|| {
                nn::Adam::default()
                    .build(&torch.vs, LR)
                    .expect("an optimizer over the model's variables")
            });
            let focus = phrase;
            let mut learned = Learned {
                first: f64::NAN,
                last: f64::NAN,
            };
            for step in 0..STEPS {
                let replay: Vec<Encoded> = corpus
                    .choose_multiple(&mut self.rng, REPLAY)
                    .cloned()
                    .collect();
                let set: Vec<&Encoded> = std::iter::once(focus).chain(&replay).collect();
                let mut windows = batch::windows(
                    &set,
                    cfg.seq_len,
                    Objective::Sequence,
                    0,
                    Some(&mut self.rng),
                );
                // Every window of the phrase, one of each replayed tune.
                let mut seen = vec![false; set.len()];
                windows.retain(|w| {
                    let keep = w.tune == 0 || !seen[w.tune];
                    seen[w.tune] = true;
                    keep
                });
                if windows.is_empty() {
                    break;
                }
                let b = batch::batch(&set, &windows, device);
                let l = loss(
                    &torch.net.forward_batch(&b, 0.0),
                    &b,
                    &model.config,
                    &cfg.loss,
                );
                let value = l.double_value(&[]);
                if !value.is_finite() {
                    break;
                }
                opt.zero_grad();
                l.backward();
                if cfg.clip > 0.0 {
                    opt.clip_grad_norm(cfg.clip);
                }
                opt.step();
                if step == 0 {
                    learned.first = value;
                }
                learned.last = value;
            }
            torch.store(model);
            learned
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::model::{Head, Input, Keep, LossWeights, ModelConfig, Optimizer, Rhythm};
        use crate::music::note::Note;
        use crate::music::note::Tune;

        #[test]
        fn a_phrase_learned_again_and_again_becomes_likelier() {
            let config = ModelConfig {
                hidden: 16,
                layers: 1,
                embed: 4,
                input: Input::Embed,
                head: Head::Softmax,
                pointer: false,
                position: false,
                degree: false,
                rhythm: Rhythm::Grid,
            };
            let mut model = Model::new(config, crate::model::Device::Cpu, 5);
            let tune = |pitches: &[u8]| Tune {
                source: "t".into(),
                notes: pitches
                    .iter()
                    .enumerate()
                    .map(|(i, &pitch)| Note {
                        pitch,
                        start: i as f64 * 0.25,
                        duration: 0.25,
                        velocity: 90,
                    })
                    .collect(),
                ..Tune::default()
            };
            let phrase = tune(&[60, 66, 61, 67, 62, 68, 63, 69]);
            let corpus = vec![tune(&[60, 62, 64, 65, 67, 69, 71, 72]); 20];
            let cfg = TrainConfig {
                seq_len: 32,
                batch: 16,
                lr: 0.003,
                lr_decay: 1.0,
                optimizer: Optimizer::Adam,
                objective: Objective::Sequence,
                loss: LossWeights {
                    pitch: 1.0,
                    step: 1.0,
                    duration: 1.0,
                },
                clip: 1.0,
                dropout: 0.0,
                augment: 0,
                val: 0.0,
                keep: Keep::Last,
                checkpoint_every: 0,
                checkpoint_dir: "unused".into(),
                seed: 1,
            };
            let nll =
                |m: &Model| crate::model::evaluate(m, std::slice::from_ref(&phrase), 2).pitch_nll;
            let before = nll(&model);
            let mut tuner = LocalFineTuner::new(1);
            let (focus, replay): (Encoded, Vec<Encoded>) = (
                Encoded::new(&phrase),
                corpus.iter().map(Encoded::new).collect(),
            );
            for _ in 0..5 {
                let done = tuner.learn(&mut model, &focus, &replay, &cfg);
                assert!(done.first.is_finite() && done.last.is_finite());
            }
            assert!(nll(&model) < before, "{} then {}", before, nll(&model));
        }
    }
}
