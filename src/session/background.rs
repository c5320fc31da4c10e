//! `train N background`: training on a thread of its own while the prompt stays usable and
//! the music keeps playing.
//!
//! The model and its optimizer move to the training thread, which runs exactly what a
//! foreground `train` runs (the same trainer, seeds and libtorch thread count), so a script
//! that trains in the background and then `wait`s saves the same bytes. The session keeps a
//! copy of the model for `generate`, `evaluate` and `save`, and that copy takes each epoch's
//! weights at the next command; live voices take them through the model's
//! [`WeightFeed`] between two notes. When the run ends (done, `train stop`, `quit`) the
//! trained model and optimizer come back to the session.

use crate::say;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Session;
use crate::error::{Error, ErrorKind};
use crate::ground::span::Span;
use crate::model::{Model, Observer, TrainError, Trainer, WeightFeed, Weights};

/// Prints a line from another thread where the prompt may be showing (the REPL's printer).
pub(super) type Printer = Box<dyn FnMut(String) + Send>;

/// The session's handle on a run in the background.
pub(super) struct Background {
    thread: Option<JoinHandle<Finished>>,
    /// `train stop` and `quit`: ends the run after its current batch. Not the session's
    /// Ctrl-C flag, which a background run must outlive.
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
    /// Epochs asked for, and the model's epoch count when the run began.
    epochs: usize,
    first: usize,
    started: Instant,
    /// The player's counters when the run began, to say whether training made it late.
    played: crate::perform::PlayStats,
}

/// What a thread that trains the model (`train N background`, `learn on`) leaves for the
/// session.
#[derive(Default)]
pub(super) struct Shared {
    progress: Mutex<Progress>,
    /// Output lines not yet said, when no printer says them at once.
    lines: Mutex<Vec<String>>,
    /// The newest weights for the session's copy, with the model's epoch count.
    pub weights: Mutex<Option<(usize, Weights)>>,
    pub printer: Option<Arc<Mutex<Printer>>>,
}

#[derive(Clone, Copy, Default)]
struct Progress {
    epoch: usize,
    batch: usize,
    batches: usize,
    loss: f64,
    /// Whole epochs done in this run.
    done: usize,
}

struct Finished {
    model: Model,
    trainer: Trainer,
    result: Result<(), TrainError>,
}

impl Shared {
    /// Lines go to `printer` at once when there is one, else wait for the session's look.
    pub fn new(printer: Option<Arc<Mutex<Printer>>>) -> Arc<Shared> {
        Arc::new(Shared {
            printer,
            ..Shared::default()
        })
    }

    pub fn say(&self, line: String) {
        match &self.printer {
            Some(p) => {
                if let Ok(mut p) = p.lock() {
                    p(line);
                }
            }
            None => {
                if let Ok(mut lines) = self.lines.lock() {
                    lines.push(line);
                }
            }
        }
    }
}

/// Hands each epoch to the session's copy and to the voices.
struct Publisher {
    shared: Arc<Shared>,
    feed: Arc<WeightFeed>,
    stop: Arc<AtomicBool>,
}

impl Observer for Publisher {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn bar(&self) -> bool {
        false
    }

    fn batch(&mut self, epoch: usize, done: usize, batches: usize, loss: f64) {
        if let Ok(mut p) = self.shared.progress.lock() {
            p.epoch = epoch;
            p.batch = done;
            p.batches = batches;
            p.loss = loss;
        }
    }

    fn epoch(&mut self, model: &Model) {
        self.feed.publish(model);
        if let Ok(mut w) = self.shared.weights.lock() {
            *w = Some((model.epochs(), model.weights()));
        }
        if let Ok(mut p) = self.shared.progress.lock() {
            p.done += 1;
        }
    }
}

/// The foreground run's observer: Ctrl-C stops it, and while the prompt is busy live
/// voices still hear each epoch. It counts the run's batches: a run Ctrl-C stopped is
/// recorded as `train N stop after K batches`, which stops at the same batch.
pub(super) struct Voices<'a> {
    pub feed: &'a WeightFeed,
    pub interrupt: &'a AtomicBool,
    /// Batches of this run done so far.
    pub batches: usize,
    pub stop_after: Option<usize>,
}

impl Voices<'_> {
    fn limit_reached(&self) -> bool {
        self.stop_after.is_some_and(|k| self.batches >= k)
    }
}

impl Observer for Voices<'_> {
    fn stopped(&self) -> bool {
        self.interrupt.load(Ordering::SeqCst) || self.limit_reached()
    }

    fn stop_reason(&self) -> &'static str {
        match self.interrupt.load(Ordering::SeqCst) {
            true => "interrupted",
            false => "stopped as asked",
        }
    }

    fn batch(&mut self, _epoch: usize, _done: usize, _batches: usize, _loss: f64) {
        self.batches += 1;
    }

    fn epoch(&mut self, model: &Model) {
        self.feed.publish(model);
    }

    fn stop_after(&self) -> Option<usize> {
        self.stop_after
    }
}

impl Background {
    fn running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    fn progress(&self) -> Progress {
        self.shared.progress.lock().map(|p| *p).unwrap_or_default()
    }
}

impl Session {
    /// Lines from the REPL's printer: background training then prints at the moment an
    /// epoch ends instead of before the next command.
    pub fn set_background_printer(&mut self, printer: Printer) {
        self.learn.printer = Some(Arc::new(Mutex::new(printer)));
    }

    /// Refuses what would replace the model under a background run.
    pub(super) fn refuse_while_training(
        &self,
        span: Span,
        before: &'static str,
    ) -> Result<(), Error> {
        if self.learn.learning.is_some() {
            return Err(Error::new(span, ErrorKind::LearningFromInput { before }));
        }
        match &self.learn.background {
            Some(b) => {
                let p = b.progress();
                let kind = ErrorKind::TrainingInBackground {
                    epoch: p.done.min(b.epochs) + 1,
                    epochs: b.epochs,
                    before,
                };
                Err(Error::new(span, kind))
            }
            None => Ok(()),
        }
    }

    pub(super) fn train_background(&mut self, epochs: usize, span: Span) -> Result<(), Error> {
        self.refuse_while_training(span, "training again")?;
        self.prepare_training(span)?;
        let cfg = self.train_config();
        let tunes = self.data.tunes.clone();
        let trainer = self.voice.trainer.take().unwrap_or_default();
        let mut model = self.voice.model.take().expect("prepare_training made one");
        self.voice.model = Some(model.duplicate());
        self.voice.generator = None;
        let shared = Shared::new(self.learn.printer.clone());
        let stop = Arc::new(AtomicBool::new(false));
        let first = model.epochs();
        let (stop2, shared2, feed) = (stop.clone(), shared.clone(), self.voice.feed.clone());
        let spawned = std::thread::Builder::new()
            .name("tms-train".into())
            .spawn(move || {
                // It relays the trainer and builds each epoch's stepper for the voices.
                crate::model::remote::lower_priority();
                let mut trainer = trainer;
                let said = shared2.clone();
                let mut lines = crate::out::Lines::new(move |line| said.say(line));
                let mut publisher = Publisher {
                    shared: shared2,
                    feed,
                    stop: stop2,
                };
                let result =
                    trainer.train(&mut model, &tunes, &cfg, epochs, &mut lines, &mut publisher);
                Finished {
                    model,
                    trainer,
                    result,
                }
            });
        let thread = spawned.map_err(|e| Error::new(span, ErrorKind::TrainingThread(e)))?;
        self.learn.background = Some(Background {
            thread: Some(thread),
            stop,
            shared,
            epochs,
            first,
            started: Instant::now(),
            played: self.player_stats(),
        });
        say!(
            self,
            "training {epochs} epoch{} in the background (`train` shows progress, `train stop` ends it, `wait` waits for it)",
            if epochs == 1 { "" } else { "s" }
        );
        Ok(())
    }

    /// Says what the run printed since the last look, gives the session's copy the newest
    /// epoch, and takes the model back when the run has ended. Runs before every command.
    /// Returns the run's error, if it ended with one.
    pub(super) fn poll_background(&mut self) -> Option<TrainError> {
        let b = self.learn.background.as_ref()?;
        let (shared, ended) = (b.shared.clone(), !b.running());
        self.catch_up(&shared);
        if ended {
            self.learn.ended_before_this_command = true;
            return self.finish_background(None);
        }
        None
    }

    /// Says what a training thread printed since the last look and gives the session's copy
    /// of the model its newest weights.
    pub(super) fn catch_up(&mut self, shared: &Shared) {
        let lines = shared
            .lines
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default();
        for line in lines {
            say!(self, "{line}");
        }
        let weights = shared.weights.lock().ok().and_then(|mut w| w.take());
        if let (Some((epochs, w)), Some(m)) = (weights, self.voice.model.as_mut()) {
            m.take_weights(&w, epochs);
            // The next `generate` reads the melody again with the new weights.
            self.voice.generator = None;
        }
    }

    /// Joins the ended (or stopping) run and puts its model back. `why`: what stopped it.
    fn finish_background(&mut self, why: Option<&str>) -> Option<TrainError> {
        let mut b = self.learn.background.take()?;
        let finished = b.thread.take()?.join();
        // Lines written after the last look, before the thread ended.
        self.catch_up(&b.shared);
        let Ok(f) = finished else {
            // A panic on the training thread: the session's copy holds the last whole epoch.
            say!(
                self,
                "background training failed; the model keeps its last whole epoch"
            );
            return None;
        };
        self.voice.feed.publish(&f.model);
        let p = b.progress();
        let ran = f.model.epochs() - b.first;
        let secs = b.started.elapsed().as_secs_f64();
        let stopped_mid = p.batch < p.batches && p.epoch > f.model.epochs();
        let how = match (why, stopped_mid) {
            (Some(why), true) => format!(
                "{why}: background training stopped in epoch {} after batch {}/{}",
                p.epoch, p.batch, p.batches
            ),
            (Some(why), false) => {
                format!(
                    "{why}: background training stopped after epoch {}",
                    f.model.epochs()
                )
            }
            (None, _) if f.result.is_err() => "background training ended early".to_string(),
            (None, _) => "background training done".to_string(),
        };
        say!(
            self,
            "{how}; {ran} of {} epoch{} in {secs:.1} s, the model has {} and keeps what it learned",
            b.epochs,
            if b.epochs == 1 { "" } else { "s" },
            match f.model.epochs() {
                1 => "1 epoch".to_string(),
                n => format!("{n} epochs"),
            }
        );
        let now = self.player_stats();
        if now.events > b.played.events {
            say!(
                self,
                "while it trained the player sent {} MIDI events, {} late (worst lateness since playing began {:.1} ms)",
                now.events - b.played.events,
                now.late.saturating_sub(b.played.late),
                now.max_late * 1e3
            );
        }
        self.voice.model = Some(f.model);
        self.voice.trainer = Some(f.trainer);
        self.voice.generator = None;
        f.result.err()
    }

    fn player_stats(&self) -> crate::perform::PlayStats {
        self.stage
            .performer
            .as_ref()
            .map(|p| p.stats_all())
            .unwrap_or_default()
    }

    /// `train stop`, `quit` and the end of a script: the run ends after its current batch.
    pub(super) fn stop_background(&mut self, why: &str) -> Option<TrainError> {
        let b = self.learn.background.as_ref()?;
        b.stop.store(true, Ordering::SeqCst);
        self.finish_background(Some(why))
    }

    /// `train` alone while a run goes on.
    pub(super) fn show_background(&mut self) -> bool {
        let Some(b) = &self.learn.background else {
            return false;
        };
        let p = b.progress();
        let line = if p.batches == 0 {
            format!(
                "training in the background: starting ({} epochs asked)",
                b.epochs
            )
        } else {
            format!(
                "training in the background: epoch {} ({} of {}), batch {}/{}, loss {:.4}; {:.0} s so far",
                p.epoch,
                p.epoch - b.first,
                b.epochs,
                p.batch,
                p.batches,
                p.loss,
                b.started.elapsed().as_secs_f64()
            )
        };
        say!(self, "{line}");
        true
    }

    /// `wait`: until the run ends. Ctrl-C ends the wait, not the run.
    pub(super) fn wait_background(&mut self, span: Span) -> Result<(), Error> {
        while self.learn.background.is_some() {
            if self.interrupted() {
                return Err(Error::new(span, ErrorKind::Interrupted));
            }
            if let Some(e) = self.poll_background() {
                return Err(Error::new(span, e.into()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}
