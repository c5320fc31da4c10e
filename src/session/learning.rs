//! `learn on|off`: the model learns from the performer while it plays. Every phrase heard
//! on the input port (ended as `listen` ends one) becomes a tune of the dataset and moves
//! the model a little toward it (see `model::finetune`), on the thread that reads the
//! phrases, at low priority; the next notes every voice of the model generates come from
//! the updated weights.
//!
//! As with `train N background`, the model itself lives on that thread while learning is on
//! and the session keeps a copy that takes the new weights at each command; `learn off`
//! brings the model back. `learn off` never waits for a fine-tune: one in flight is
//! abandoned (it finishes on its thread, off the prompt's path, and its result and phrase
//! are dropped), and the session keeps its copy, which holds every phrase learned before. The input's notes have one reader: `learn`, `respond` and
//! `listen` exclude each other, with a message naming the one to turn off.

use crate::say;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::background::Shared;
use super::Session;
use crate::error::{Error, ErrorKind};
use crate::ground::span::Span;
use crate::model::finetune::{LR, REPLAY, STEPS};
use crate::model::remote::lower_priority;
use crate::model::FineTuner;
use crate::model::Model;
use crate::music::note::{Note, Tune};
use crate::perform::{PerformError, PhraseReader};

/// Silence that ends a phrase, as for `listen` and `respond`.
const PHRASE_SILENCE_MS: u64 = 600;

pub(super) struct Learning {
    /// Reads phrases and fine-tunes; dropping it stops after the current phrase.
    reader: PhraseReader,
    /// The model while learning is on (the thread holds the lock while it learns).
    model: Arc<Mutex<Option<Model>>>,
    shared: Arc<Shared>,
    /// Phrases heard, not yet added to the session's dataset.
    heard: Arc<Mutex<Vec<Tune>>>,
    learned: Arc<AtomicU64>,
    /// Set by `learn off`: a fine-tune that ends after it keeps nothing. The thread holds
    /// it while it hands a result over, so a result is either whole or dropped.
    off: Arc<Mutex<bool>>,
    /// Notes of the phrase being learned (0: none).
    in_flight: Arc<AtomicUsize>,
}

/// What `learn off` found.
pub(super) struct Stopped {
    /// Phrases learned.
    pub learned: u64,
    /// Notes of the phrase abandoned mid-fine-tune (0: none was).
    pub dropped: usize,
}

/// A phrase as a tune of the dataset, its first note at 0.
fn phrase_tune(phrase: &[Note], n: u64) -> Tune {
    let t0 = phrase.iter().map(|n| n.start).fold(f64::INFINITY, f64::min);
    let mut tune = Tune {
        source: format!("<input phrase {n}>"),
        notes: phrase
            .iter()
            .map(|x| Note {
                start: x.start - t0,
                ..*x
            })
            .collect(),
        ..Tune::default()
    };
    tune.sort();
    tune
}

impl Session {
    /// Refuses a second reader of the input's notes while learning.
    pub(super) fn refuse_while_learning(
        &self,
        span: Span,
        before: &'static str,
    ) -> Result<(), Error> {
        match &self.learn.learning {
            Some(_) => Err(Error::new(span, ErrorKind::InputLearning { before })),
            None => Ok(()),
        }
    }

    pub(super) fn learn_mode(&mut self, on: Option<bool>, span: Span) -> Result<(), Error> {
        match on {
            None => {
                let n = self.learn.phrases_learned;
                let tunes = self.data.tunes.len();
                match &self.learn.learning {
                    Some(l) => {
                        let busy = match l.in_flight.load(Ordering::SeqCst) {
                            0 => String::new(),
                            k => format!(" (a phrase of {k} notes is being learned)"),
                        };
                        say!(
                            self,
                            "learning: {n} phrase{} learned{busy}; the dataset has {tunes} tunes",
                            plural(n)
                        )
                    }
                    None => say!(
                        self,
                        "not learning (`learn on` starts): {n} phrase{} learned",
                        plural(n)
                    ),
                }
                Ok(())
            }
            Some(false) => {
                match self.stop_learning() {
                    Some(Stopped { learned: n, dropped: 0 }) => say!(
                        self,
                        "learn: off after {n} phrase{}; the model keeps what it learned",
                        plural(n)
                    ),
                    Some(Stopped { learned: n, dropped }) => say!(
                        self,
                        "learn: off after {n} phrase{}; the phrase being learned ({dropped} notes) is dropped, the model keeps what it learned before it",
                        plural(n)
                    ),
                    None => say!(self, "was not learning"),
                }
                Ok(())
            }
            Some(true) => self.start_learning(span),
        }
    }

    fn start_learning(&mut self, span: Span) -> Result<(), Error> {
        if self.learn.learning.is_some() {
            return Err(Error::new(span, ErrorKind::AlreadyLearning));
        }
        self.refuse_while_training(span, "learning")?;
        self.need_model(span)?;
        if self
            .stage
            .performer
            .as_ref()
            .and_then(|p| p.responding())
            .is_some()
        {
            return Err(Error::new(span, ErrorKind::InputResponding));
        }
        let cfg = self.train_config();
        let corpus = self.data.tunes.clone();
        let seed = self.derive_seed();
        let model = Arc::new(Mutex::new(self.voice.model.take()));
        let copy = model
            .lock()
            .ok()
            .and_then(|m| m.as_ref().map(Model::duplicate));
        self.voice.model = copy;
        let shared = Shared::new(self.learn.printer.clone());
        let heard = Arc::new(Mutex::new(Vec::new()));
        let learned = Arc::new(AtomicU64::new(self.learn.phrases_learned));
        let off = Arc::new(Mutex::new(false));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let (m, sh, h, l, feed) = (
            model.clone(),
            shared.clone(),
            heard.clone(),
            learned.clone(),
            self.voice.feed.clone(),
        );
        let (gone, busy) = (off.clone(), in_flight.clone());
        let mut tuner = FineTuner::new(seed);
        let mut first = true;
        let take = Box::new(move |phrase: &[Note]| {
            if first {
                lower_priority();
                first = false;
            }
            if phrase.len() < 2 {
                sh.say(format!(
                    "learn: a phrase of {} note is too short to learn from",
                    phrase.len()
                ));
                return;
            }
            let started = std::time::Instant::now();
            busy.store(phrase.len(), Ordering::SeqCst);
            let n = l.load(Ordering::SeqCst) + 1;
            let tune = phrase_tune(phrase, n);
            let Ok(mut guard) = m.lock() else { return };
            let Some(model) = guard.as_mut() else { return };
            if gone.lock().map_or(true, |off| *off) {
                return;
            }
            let done = match tuner.learn(model, &tune, &corpus, &cfg) {
                Ok(done) => done,
                Err(e) => {
                    busy.store(0, Ordering::SeqCst);
                    sh.say(format!("learn: {e}"));
                    return;
                }
            };
            // `learn off` came during the fine-tune: the session went on without it.
            let Ok(off) = gone.lock() else { return };
            busy.store(0, Ordering::SeqCst);
            if *off {
                return;
            }
            feed.publish(model);
            if let Ok(mut w) = sh.weights.lock() {
                *w = Some((model.epochs(), model.weights()));
            }
            drop(guard);
            if let Ok(mut h) = h.lock() {
                h.push(tune);
            }
            l.store(n, Ordering::SeqCst);
            drop(off);
            sh.say(format!(
                "learned phrase {n} ({} notes) in {:.2} s: loss {:.3} → {:.3}",
                phrase.len(),
                started.elapsed().as_secs_f64(),
                done.first,
                done.last
            ));
        });
        let reader = match &self.stage.performer {
            Some(p) => p.read_phrases(Duration::from_millis(PHRASE_SILENCE_MS), take),
            None => Err(PerformError::NoInput),
        };
        let reader = match reader {
            Ok(r) => r,
            Err(e) => {
                // Nothing was learned: the model comes straight back.
                self.voice.model = model.lock().ok().and_then(|mut m| m.take());
                return Err(Error::new(span, e.into()));
            }
        };
        self.learn.learning = Some(Learning {
            reader,
            model,
            shared,
            heard,
            learned,
            off,
            in_flight,
        });
        let replay = match self.data.tunes.is_empty() {
            true => "no dataset to replay: the model may forget what it knew".to_string(),
            false => format!("with {REPLAY} tunes of the dataset replayed"),
        };
        say!(
            self,
            "learn: on; each phrase on the input joins the dataset and the model takes {STEPS} steps at lr {LR} on it, {replay}"
        );
        Ok(())
    }

    /// Adds the phrases heard to the dataset and gives the session's copy the newest
    /// weights. Runs before every command.
    pub(super) fn poll_learning(&mut self) {
        let Some(l) = &self.learn.learning else {
            return;
        };
        let (shared, heard) = (l.shared.clone(), l.heard.clone());
        self.learn.phrases_learned = l.learned.load(Ordering::SeqCst);
        self.catch_up(&shared);
        let new = heard
            .lock()
            .map(|mut h| std::mem::take(&mut *h))
            .unwrap_or_default();
        self.data.tunes.extend(new);
    }

    /// `quit`, the end of a script: learning and background training stop and say so.
    pub(super) fn stop_model_work(&mut self) {
        if let Some(Stopped { learned: n, .. }) = self.stop_learning() {
            say!(self, "quitting: learn off after {n} phrase{}", plural(n));
        }
        if let Some(e) = self.stop_background("quitting") {
            say!(self, "background training stopped: {e}");
        }
    }

    /// `disconnect` and `connect in`: the phrases' port closes, so learning ends and says so.
    pub(super) fn input_closing(&mut self) {
        if let Some(Stopped { learned: n, .. }) = self.stop_learning() {
            say!(
                self,
                "learn: off, the input port closes (after {n} phrase{}; the model keeps what it learned)",
                plural(n)
            );
        }
    }

    /// `learn off`, `quit`: stops reading phrases at once and takes the model back; a
    /// fine-tune in flight is abandoned (it ends on its own thread and keeps nothing), and
    /// the session's copy, which has every phrase learned before, stays the model.
    pub(super) fn stop_learning(&mut self) -> Option<Stopped> {
        let l = self.learn.learning.take()?;
        // From here a fine-tune that ends hands nothing over; one handing over now finishes
        // first (a moment: no learning happens under this lock).
        let dropped = match l.off.lock() {
            Ok(mut off) => {
                *off = true;
                l.in_flight.load(Ordering::SeqCst)
            }
            Err(_) => 0,
        };
        l.reader.let_go();
        let n = l.learned.load(Ordering::SeqCst);
        self.learn.phrases_learned = n;
        let shared = l.shared.clone();
        self.catch_up(&shared);
        if let Ok(mut h) = l.heard.lock() {
            self.data.tunes.append(&mut h);
        }
        // The thread's model when it is not learning; while it is, the copy (which took
        // every weight it published) is the model.
        if let Ok(mut m) = l.model.try_lock() {
            if let Some(m) = m.take() {
                self.voice.model = Some(m);
            }
        }
        self.voice.generator = None;
        Some(Stopped {
            learned: n,
            dropped,
        })
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
