//! Learning from the performer (`learn on`): each phrase heard on the input port moves the
//! model a little toward it. A few optimizer steps at a small learning rate, each on the
//! phrase together with a replay sample of the corpus, so the model drifts toward what is
//! played without forgetting what it knew (a phrase alone, stepped on repeatedly, would
//! pull every weight toward eight notes).

use rand::seq::IndexedRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tch::nn::{self, OptimizerConfig};

use super::data::{self, Encoded};
use super::train::loss;
use super::{Model, Objective, TrainConfig};
use crate::music::note::Tune;

/// Optimizer steps per phrase.
pub const STEPS: usize = 4;
/// Adam's learning rate for them: a tenth of the training default.
pub const LR: f64 = 3e-4;
/// Corpus tunes replayed with the phrase at each step.
pub const REPLAY: usize = 15;

/// What one phrase did to the model.
#[derive(Clone, Copy, Debug)]
pub struct Learned {
    /// The batch loss at the first and the last step.
    pub first: f64,
    pub last: f64,
}

/// The optimizer and replay sampler of one `learn on`, kept from phrase to phrase.
pub struct FineTuner {
    opt: Option<nn::Optimizer>,
    rng: ChaCha20Rng,
}

impl FineTuner {
    pub fn new(seed: u64) -> FineTuner {
        FineTuner {
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
        phrase: &Tune,
        corpus: &[Tune],
        cfg: &TrainConfig,
    ) -> Learned {
        let device = model.device();
        let opt = self.opt.get_or_insert_with(|| {
            nn::Adam::default()
                .build(&model.vs, LR)
                .expect("an optimizer over the model's variables")
        });
        let focus = Encoded::new(phrase);
        let mut learned = Learned {
            first: f64::NAN,
            last: f64::NAN,
        };
        for step in 0..STEPS {
            let replay: Vec<Encoded> = corpus
                .choose_multiple(&mut self.rng, REPLAY)
                .map(Encoded::new)
                .collect();
            let set: Vec<&Encoded> = std::iter::once(&focus).chain(&replay).collect();
            let mut windows = data::windows(
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
            let b = data::batch(&set, &windows, device);
            let l = loss(
                &model.net.forward_batch(&b, 0.0),
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
        learned
    }
}
