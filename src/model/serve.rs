//! The trainer process (`tms-trainer`): reads requests on stdin, runs them on libtorch, and
//! answers on stdout (`wire.rs`). Nothing else may write to stdout; the progress bar and
//! libtorch's own messages go to stderr, which is tms's terminal.
//!
//! It runs below the stage's priority (`remote::TRAIN_NICE`), so a core the player needs goes
//! to the player.

use std::io::{self, BufReader, BufWriter};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use super::finetune::LocalFineTuner;
use super::train::LocalTrainer;
use super::wire::{self, Failure, Reply, Request};
use super::{Encoded, Model, Observer};

type Out = Arc<Mutex<BufWriter<io::Stdout>>>;

fn send(out: &Out, reply: &Reply, blobs: &[&[u8]]) {
    let mut w = out.lock().unwrap_or_else(|p| p.into_inner());
    // tms has gone: nothing is left to do.
    if wire::write(&mut *w, reply, blobs).is_err() {
        std::process::exit(0);
    }
}

/// Serves until stdin closes.
pub fn run() {
    // Before libtorch starts its workers, which inherit it.
    super::remote::lower_priority();
    super::torch::init_threads();
    if let Err(e) = super::cuda::load() {
        eprintln!("warning: {e}; training on the CPU");
    }
    let out: Out = Arc::new(Mutex::new(BufWriter::new(io::stdout())));
    let stop = Arc::new(AtomicBool::new(false));
    let reason = Arc::new(Mutex::new(String::from("interrupted")));
    let (tx, requests) = mpsc::channel();
    let (stop2, reason2) = (stop.clone(), reason.clone());
    // Reads ahead, so that `Stop` reaches a run while it trains.
    std::thread::spawn(move || {
        let mut r = BufReader::new(io::stdin());
        while let Ok(Some((request, blobs))) = wire::read::<Request>(&mut r) {
            match request {
                Request::Stop { reason } => {
                    *reason2.lock().unwrap_or_else(|p| p.into_inner()) = reason;
                    stop2.store(true, Ordering::SeqCst);
                }
                other => {
                    // A stop belongs to the request before this one.
                    stop2.store(false, Ordering::SeqCst);
                    if tx.send((other, blobs)).is_err() {
                        return;
                    }
                }
            }
        }
    });
    // One job a process: tms starts a trainer per voice's training and per `learn on`.
    let mut trainer = LocalTrainer::default();
    let mut tuner: Option<(LocalFineTuner, Vec<Encoded>)> = None;
    for (request, blobs) in requests {
        let model = |device| {
            let bytes = blobs.first().map(Vec::as_slice).unwrap_or_default();
            Model::from_bytes(bytes, device).map_err(|e| Failure::Model(e.to_string()))
        };
        match request {
            Request::Hello { .. } => send(
                &out,
                &Reply::Hello {
                    version: wire::VERSION,
                },
                &[],
            ),
            Request::Info => send(
                &out,
                &Reply::Info {
                    gpus: super::cuda::gpus(),
                },
                &[],
            ),
            Request::New {
                config,
                device,
                seed,
            } => {
                let m = Model::new(config, device, seed);
                match m.to_bytes() {
                    Ok(bytes) => send(&out, &Reply::Model, &[&bytes]),
                    Err(e) => send(&out, &Reply::Failed(Failure::Model(e.to_string())), &[]),
                }
            }
            Request::Train {
                device,
                cfg,
                epochs,
                tunes,
                bar,
                stop_after,
            } => {
                let mut m = match model(device) {
                    Ok(m) => m,
                    Err(f) => {
                        send(&out, &Reply::Done(Err(f)), &[]);
                        continue;
                    }
                };
                let mut observer = Follower {
                    out: &out,
                    stop: &stop,
                    reason: &reason,
                    stop_after,
                    batches: 0,
                    bar,
                };
                let mut lines = crate::out::Lines::new(|line| send(&out, &Reply::Line(line), &[]));
                let result = trainer.train(&mut m, &tunes, &cfg, epochs, &mut lines, &mut observer);
                send(
                    &out,
                    &Reply::Done(result.as_ref().map_err(Failure::from).copied()),
                    &[],
                );
            }
            Request::Learn {
                device,
                seed,
                cfg,
                phrase,
                corpus,
            } => {
                let mut m = match model(device) {
                    Ok(m) => m,
                    Err(f) => {
                        send(&out, &Reply::Failed(f), &[]);
                        continue;
                    }
                };
                let (tuner, kept) =
                    tuner.get_or_insert_with(|| (LocalFineTuner::new(seed), Vec::new()));
                if let Some(c) = corpus {
                    *kept = c;
                }
                let learned = tuner.learn(&mut m, &phrase, kept, &cfg);
                match m.to_bytes() {
                    Ok(bytes) => send(&out, &Reply::Learned(learned), &[&bytes]),
                    Err(e) => send(&out, &Reply::Failed(Failure::Model(e.to_string())), &[]),
                }
            }
            Request::Evaluate {
                device,
                tunes,
                seq_len,
            } => {
                let m = match model(device) {
                    Ok(m) => m,
                    Err(f) => {
                        send(&out, &Reply::Failed(f), &[]);
                        continue;
                    }
                };
                let metrics = super::evaluate_with(&m, &tunes, seq_len, &mut |done, total| {
                    send(&out, &Reply::Progress { done, total }, &[]);
                    !stop.load(Ordering::SeqCst)
                });
                send(&out, &Reply::Metrics(metrics), &[]);
            }
            // Read by the reader thread.
            Request::Stop { .. } => {}
        }
    }
}

/// Follows a run for tms: its batches and epochs as replies, its end from `Stop`.
struct Follower<'a> {
    out: &'a Out,
    stop: &'a AtomicBool,
    reason: &'a Mutex<String>,
    stop_after: Option<usize>,
    batches: usize,
    bar: bool,
}

impl Observer for Follower<'_> {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.stop_after.is_some_and(|k| self.batches >= k)
    }

    fn stop_reason(&self) -> &'static str {
        if !self.stop.load(Ordering::SeqCst) {
            return "stopped as asked";
        }
        match self.reason.lock().map(|r| r.clone()).as_deref() {
            Ok("stopped as asked") => "stopped as asked",
            _ => "interrupted",
        }
    }

    fn bar(&self) -> bool {
        self.bar
    }

    fn batch(&mut self, epoch: usize, done: usize, batches: usize, loss: f64) {
        self.batches += 1;
        send(
            self.out,
            &Reply::Batch {
                epoch,
                done,
                batches,
                loss,
            },
            &[],
        );
    }

    fn epoch(&mut self, model: &Model) {
        match model.to_bytes() {
            Ok(bytes) => send(self.out, &Reply::Epoch, &[&bytes]),
            Err(e) => eprintln!("trainer: cannot send the epoch's weights: {e}"),
        }
    }
}
