//! Weights that change under a playing voice. Training in the background publishes each
//! epoch's weights here; a live voice picks them up between two notes without ever waiting
//! for the trainer (the player thread must not block), and the session's own copy of the
//! model follows the same epochs so that `generate`, `evaluate` and `save` keep working
//! while the trained model itself is on the training thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::params::Params;
use super::step::Stepper;
use super::Model;

/// A copy of every weight of a model: sent from the training thread to the session's copy.
pub struct Weights(Params);

/// Where a model's newest weights are published, for the voices that play it. One feed per
/// model: a model opened or made anew gets a new feed, so voices of the old one keep theirs.
#[derive(Default)]
pub struct WeightFeed {
    /// Bumped after each publication; readers compare it with what they last took.
    version: AtomicU64,
    latest: Mutex<Option<Arc<Stepper>>>,
}

impl WeightFeed {
    /// Makes `model`'s weights the ones every reader switches to at its next note. Builds
    /// the stepper here, on the publishing thread, so the reader only swaps a pointer.
    pub fn publish(&self, model: &Model) {
        let stepper = Arc::new(model.stepper(model.precision));
        if let Ok(mut slot) = self.latest.lock() {
            *slot = Some(stepper);
            self.version.fetch_add(1, Ordering::Release);
        }
    }

    /// A reader that sees publications from now on.
    pub fn reader(self: &Arc<Self>) -> FeedReader {
        FeedReader {
            seen: self.version.load(Ordering::Acquire),
            feed: self.clone(),
        }
    }
}

/// A voice's view of a feed.
pub struct FeedReader {
    feed: Arc<WeightFeed>,
    seen: u64,
}

impl FeedReader {
    /// Weights newer than the last ones taken, if there are any and the slot is free this
    /// instant. A publication in progress is picked up at a later note rather than waited
    /// for: the player thread never blocks on the trainer.
    pub(super) fn newer(&mut self) -> Option<Arc<Stepper>> {
        let version = self.feed.version.load(Ordering::Acquire);
        if version == self.seen {
            return None;
        }
        let slot = self.feed.latest.try_lock().ok()?;
        let stepper = slot.clone()?;
        self.seen = version;
        Some(stepper)
    }
}

impl Model {
    /// A copy with the same weights, architecture and record. Draws nothing from libtorch's
    /// random generator, so making one in the middle of a training run does not change
    /// that run.
    pub fn duplicate(&self) -> Model {
        Model {
            params: self.params.clone(),
            device: self.device,
            config: self.config,
            epochs: self.epochs,
            trained_with: self.trained_with.clone(),
            origin: self.origin.clone(),
            trained_record: self.trained_record.clone(),
            precision: self.precision,
            data_grid: self.data_grid,
        }
    }

    /// A copy of the weights, to send to another copy of this model.
    pub fn weights(&self) -> Weights {
        Weights(self.params.clone())
    }

    /// Takes another copy's weights and epoch count (the weights must come from a model of
    /// the same architecture, as `duplicate` makes).
    pub fn take_weights(&mut self, weights: &Weights, epochs: usize) {
        self.params = weights.0.clone();
        self.epochs = epochs;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Head, Input, ModelConfig, Rhythm};

    fn small() -> Model {
        let config = ModelConfig {
            hidden: 8,
            layers: 1,
            embed: 4,
            input: Input::Embed,
            head: Head::Softmax,
            pointer: false,
            position: false,
            degree: false,
            rhythm: Rhythm::Grid,
        };
        Model::seeded(config, 7)
    }

    /// What the model predicts after two notes, read by the f32 stepper.
    fn predicts(m: &Model) -> Vec<f32> {
        let stepper = m.stepper(crate::model::Precision::F32);
        let c = m.config();
        let mut s = crate::model::step::StepState::fresh(c.layers as usize, c.hidden as usize);
        stepper.step(&mut s, 60, 0.5, 0.5);
        stepper.step(&mut s, 62, 0.5, 0.5).logits
    }

    #[test]
    fn a_duplicate_has_the_same_weights_and_its_own_variables() {
        let a = small();
        let mut b = a.duplicate();
        assert_eq!(predicts(&a), predicts(&b));
        let other = Model::seeded(a.config(), 8);
        b.take_weights(&other.weights(), 3);
        assert_eq!(predicts(&b), predicts(&other));
        assert_ne!(predicts(&a), predicts(&b));
        assert_eq!(b.epochs(), 3);
    }

    #[test]
    fn a_reader_takes_each_publication_once() {
        let feed = Arc::new(WeightFeed::default());
        let mut r = feed.reader();
        assert!(r.newer().is_none());
        feed.publish(&small());
        assert!(r.newer().is_some());
        assert!(r.newer().is_none());
        let mut late = feed.reader();
        assert!(late.newer().is_none(), "a new reader starts at the latest");
    }

    #[test]
    fn a_playing_generator_switches_weights_between_two_notes() {
        use crate::model::{Generator, SampleOptions};
        use crate::music::note::Note;
        use rand::SeedableRng;
        let a = small();
        let primer = [Note {
            pitch: 60,
            start: 0.0,
            duration: 0.5,
            velocity: 90,
        }];
        let feed = Arc::new(WeightFeed::default());
        let mut reader = feed.reader();
        let mut g = Generator::new(&a, &primer, Default::default());
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        g.next(&SampleOptions::default(), &mut rng);
        assert!(!g.follow(&mut reader));
        feed.publish(&Model::seeded(a.config(), 9));
        assert!(g.follow(&mut reader));
        assert!(!g.follow(&mut reader), "each epoch is taken once");
        let n = g.next(&SampleOptions::default(), &mut rng);
        assert!(n.start >= 0.0 && n.duration > 0.0);
    }
}
