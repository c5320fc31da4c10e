//! The stage's side of the trainer process: tms never loads libtorch itself. What needs it
//! (training, `learn on`, the evaluation protocol, a new model's weights) runs in
//! `tms-trainer`, started on first need, one process per job that keeps state (a voice's
//! optimizer, a `learn on`), and one more for the short requests. If a trainer crashes, is
//! killed or runs out of memory, the request fails with one line, the model keeps the last
//! epoch it received, and the next request starts another trainer.

use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::time::Duration;

use super::finetune::Learned;
use super::wire::{self, Reply, Request};
use super::{Device, Encoded, Metrics, Model, ModelConfig, Observer, TrainConfig, TrainError};
use crate::music::note::Tune;

/// How often a waiting request looks at its observer (Ctrl-C, `train stop`).
const POLL: Duration = Duration::from_millis(20);

/// Where the trainer binary is: `TMS_TRAINER`, else beside this executable (or beside the
/// directory of a test binary in `target/*/deps`).
fn trainer_path() -> PathBuf {
    if let Some(p) = std::env::var_os("TMS_TRAINER") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    let beside = dir.join("tms-trainer");
    if !beside.exists() && dir.file_name().is_some_and(|n| n == "deps") {
        if let Some(up) = dir.parent() {
            return up.join("tms-trainer");
        }
    }
    beside
}

type Frame = (Reply, Vec<Vec<u8>>);

/// One running trainer process.
struct Process {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    replies: Receiver<std::io::Result<Frame>>,
}

impl Process {
    fn start() -> Result<Process, TrainError> {
        let path = trainer_path();
        let failed = |source| TrainError::Start {
            path: path.display().to_string(),
            source,
        };
        let mut command = Command::new(&path);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // Its own process group: Ctrl-C at the terminal reaches tms, which stops the run
        // after its batch, rather than killing the trainer in the middle of one.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn().map_err(failed)?;
        let stdin = BufWriter::new(child.stdin.take().expect("piped"));
        let stdout = child.stdout.take().expect("piped");
        let (tx, replies) = mpsc::channel();
        std::thread::Builder::new()
            .name("tms-trainer-replies".into())
            .spawn(move || {
                let mut r = BufReader::new(stdout);
                loop {
                    match wire::read::<Reply>(&mut r) {
                        Ok(Some(frame)) => {
                            if tx.send(Ok(frame)).is_err() {
                                return;
                            }
                        }
                        Ok(None) => return,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
            })
            .map_err(failed)?;
        let mut p = Process {
            child,
            stdin,
            replies,
        };
        p.send(
            &Request::Hello {
                version: wire::VERSION,
            },
            &[],
        )?;
        match p.recv()? {
            (Reply::Hello { version }, _) if version == wire::VERSION => Ok(p),
            (Reply::Hello { version }, _) => Err(TrainError::Protocol(format!(
                "it speaks version {version}, this tms {}",
                wire::VERSION
            ))),
            (other, _) => Err(unexpected(&other)),
        }
    }

    fn send(&mut self, request: &Request, blobs: &[&[u8]]) -> Result<(), TrainError> {
        match wire::write(&mut self.stdin, request, blobs) {
            Ok(()) => Ok(()),
            Err(_) => Err(self.gone()),
        }
    }

    /// The next reply, waiting as long as it takes.
    fn recv(&mut self) -> Result<Frame, TrainError> {
        loop {
            if let Some(f) = self.poll()? {
                return Ok(f);
            }
        }
    }

    /// The next reply if one comes within [`POLL`].
    fn poll(&mut self) -> Result<Option<Frame>, TrainError> {
        match self.replies.recv_timeout(POLL) {
            Ok(Ok(frame)) => Ok(Some(frame)),
            Ok(Err(e)) => Err(TrainError::Protocol(e.to_string())),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(self.gone()),
        }
    }

    /// Why the process stopped answering.
    fn gone(&mut self) -> TrainError {
        // The pipe closes a moment before the kernel reports the exit.
        let _ = self.stdin.flush();
        let status = (0..100).find_map(|_| match self.child.try_wait() {
            Ok(Some(s)) => Some(s),
            _ => {
                std::thread::sleep(Duration::from_millis(10));
                None
            }
        });
        let how = match status {
            None => "stopped answering".to_string(),
            Some(s) => {
                #[cfg(unix)]
                if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(&s) {
                    return TrainError::Gone {
                        how: format!("was killed by signal {sig} ({})", signal_name(sig)),
                    };
                }
                format!("ended ({s})")
            }
        };
        TrainError::Gone { how }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        6 => "SIGABRT, an abort inside libtorch",
        9 => "SIGKILL: killed, or out of memory",
        11 => "SIGSEGV, a crash",
        15 => "SIGTERM",
        _ => "a signal",
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unexpected(reply: &Reply) -> TrainError {
    TrainError::Protocol(format!("unexpected {reply:?}"))
}

/// The model file a reply carries.
fn model_in(blobs: &[Vec<u8>], device: Device) -> Result<Model, TrainError> {
    let bytes = blobs
        .first()
        .ok_or_else(|| TrainError::Protocol("a reply without its model".into()))?;
    Model::from_bytes(bytes, device).map_err(|e| TrainError::Protocol(e.to_string()))
}

/// A trainer kept for one job; started on its first request, and again after it died.
#[derive(Default)]
struct Slot(Option<Process>);

impl Slot {
    /// Runs `f` on the process; a process that died is dropped so the next call starts one.
    fn with<T>(
        &mut self,
        f: impl FnOnce(&mut Process) -> Result<T, TrainError>,
    ) -> Result<T, TrainError> {
        if self.0.is_none() {
            self.0 = Some(Process::start()?);
        }
        let result = f(self.0.as_mut().expect("started above"));
        if matches!(
            result,
            Err(TrainError::Gone { .. } | TrainError::Protocol(_))
        ) {
            self.0 = None;
        }
        result
    }
}

/// A voice's training: optimizer state kept between `train` commands, in its own trainer
/// process, so that a run in the background leaves the other requests free.
#[derive(Default)]
pub struct Trainer {
    slot: Slot,
}

impl Trainer {
    pub fn new() -> Trainer {
        Trainer::default()
    }

    /// Trains `epochs` epochs in the trainer process. Output lines go to `out`, and the
    /// progress bar to the terminal; each whole epoch's weights reach `model` (and
    /// `observer.epoch`) as the trainer sends them, so whatever ends the run, the model
    /// holds the last whole epoch. Returns normally when stopped after a batch.
    pub fn train(
        &mut self,
        model: &mut Model,
        tunes: &[Tune],
        cfg: &TrainConfig,
        epochs: usize,
        out: &mut dyn Write,
        observer: &mut dyn Observer,
    ) -> Result<(), TrainError> {
        let request = Request::Train {
            device: model.device(),
            cfg: cfg.clone(),
            epochs,
            tunes: tunes.iter().map(Encoded::new).collect(),
            bar: observer.bar(),
            stop_after: observer.stop_after(),
        };
        let bytes = model
            .to_bytes()
            .map_err(|e| TrainError::Protocol(e.to_string()))?;
        let mut epochs_received = false;
        let result = self.slot.with(|p| {
            p.send(&request, &[&bytes])?;
            let mut stop_sent = false;
            loop {
                if observer.stopped() && !stop_sent {
                    let reason = observer.stop_reason().to_string();
                    p.send(&Request::Stop { reason }, &[])?;
                    stop_sent = true;
                }
                let Some((reply, blobs)) = p.poll()? else {
                    continue;
                };
                match reply {
                    Reply::Line(line) => writeln!(out, "{line}")?,
                    Reply::Batch {
                        epoch,
                        done,
                        batches,
                        loss,
                    } => observer.batch(epoch, done, batches, loss),
                    Reply::Epoch => {
                        let trained = model_in(&blobs, model.device())?;
                        model.take_weights(&trained.weights(), trained.epochs());
                        epochs_received = true;
                        observer.epoch(model);
                    }
                    Reply::Done(r) => return r.map_err(TrainError::from),
                    other => return Err(unexpected(&other)),
                }
            }
        });
        if result.is_ok() || epochs_received {
            model.trained_with = Some(cfg.clone());
        }
        result
    }
}

/// One `learn on`: the optimizer and the replay sampler kept from phrase to phrase, in a
/// trainer process of its own.
pub struct FineTuner {
    slot: Slot,
    seed: u64,
    corpus_sent: bool,
}

impl FineTuner {
    pub fn new(seed: u64) -> FineTuner {
        FineTuner {
            slot: Slot::default(),
            seed,
            corpus_sent: false,
        }
    }

    /// A few steps on `phrase` with replayed tunes of `corpus` (sent with the first phrase
    /// only); the model takes the weights they lead to.
    pub fn learn(
        &mut self,
        model: &mut Model,
        phrase: &Tune,
        corpus: &[Tune],
        cfg: &TrainConfig,
    ) -> Result<Learned, TrainError> {
        let request = Request::Learn {
            device: model.device(),
            seed: self.seed,
            cfg: cfg.clone(),
            phrase: Encoded::new(phrase),
            corpus: (!self.corpus_sent).then(|| corpus.iter().map(Encoded::new).collect()),
        };
        let bytes = model
            .to_bytes()
            .map_err(|e| TrainError::Protocol(e.to_string()))?;
        let result = self.slot.with(|p| {
            p.send(&request, &[&bytes])?;
            match p.recv()? {
                (Reply::Learned(learned), blobs) => {
                    let trained = model_in(&blobs, model.device())?;
                    model.take_weights(&trained.weights(), trained.epochs());
                    Ok(learned)
                }
                (Reply::Failed(f), _) => Err(f.into()),
                (other, _) => Err(unexpected(&other)),
            }
        });
        // A trainer started after this one died has not seen the corpus.
        self.corpus_sent = self.slot.0.is_some() && (self.corpus_sent || result.is_ok());
        result
    }
}

/// The trainer for short requests (a new model, `evaluate`, `device`), shared by the
/// session's commands.
static SHORT: Mutex<Slot> = Mutex::new(Slot(None));

fn short<T>(f: impl FnOnce(&mut Process) -> Result<T, TrainError>) -> Result<T, TrainError> {
    let mut slot = SHORT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    slot.with(f)
}

/// A freshly initialised model from libtorch; the same seed gives the same weights.
pub fn new_model(config: ModelConfig, device: Device, seed: u64) -> Result<Model, TrainError> {
    short(|p| {
        p.send(
            &Request::New {
                config,
                device,
                seed,
            },
            &[],
        )?;
        match p.recv()? {
            (Reply::Model, blobs) => {
                let mut made = model_in(&blobs, device)?;
                made.origin = "new".into();
                Ok(made)
            }
            (Reply::Failed(f), _) => Err(f.into()),
            (other, _) => Err(unexpected(&other)),
        }
    })
}

/// The evaluation protocol in the trainer. `progress` hears (notes scored, notes to score)
/// and stops the run when it returns false (Ctrl-C): Ok(None) then.
pub fn evaluate_with(
    model: &Model,
    tunes: &[Tune],
    seq_len: usize,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Option<Metrics>, TrainError> {
    let request = Request::Evaluate {
        device: model.device(),
        tunes: tunes.iter().map(Encoded::new).collect(),
        seq_len,
    };
    let bytes = model
        .to_bytes()
        .map_err(|e| TrainError::Protocol(e.to_string()))?;
    short(|p| {
        p.send(&request, &[&bytes])?;
        let mut stop_sent = false;
        loop {
            let Some((reply, _)) = p.poll()? else {
                continue;
            };
            match reply {
                Reply::Progress { done, total } => {
                    if !progress(done, total) && !stop_sent {
                        p.send(
                            &Request::Stop {
                                reason: "interrupted".into(),
                            },
                            &[],
                        )?;
                        stop_sent = true;
                    }
                }
                Reply::Metrics(m) => return Ok(m),
                Reply::Failed(f) => return Err(f.into()),
                other => return Err(unexpected(&other)),
            }
        }
    })
}

/// How many GPUs the trainer's libtorch can use.
pub fn gpus() -> Result<usize, TrainError> {
    short(|p| {
        p.send(&Request::Info, &[])?;
        match p.recv()? {
            (Reply::Info { gpus }, _) => Ok(gpus),
            (other, _) => Err(unexpected(&other)),
        }
    })
}

/// Niceness of training and of the threads that relay it: the player (SCHED_FIFO where
/// allowed, else an ordinary thread at nice 0) then gets about ten times their CPU share
/// when both want a core (the kernel's weights for nice 0 and 10 are 1024 and 110), so an
/// epoch slows down rather than a note coming late.
const TRAIN_NICE: i32 = 10;

/// Lowers the calling thread's priority (Linux sets niceness per thread); threads it
/// starts later (the trainer's libtorch workers) inherit it.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn lower_priority() -> bool {
    // SAFETY: gettid has no arguments and cannot fail; setpriority only reads its integers.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, TRAIN_NICE) == 0
    }
}

#[cfg(not(target_os = "linux"))]
pub fn lower_priority() -> bool {
    false
}
