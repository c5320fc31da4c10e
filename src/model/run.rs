//! What a caller sees of a training run, wherever it runs: the observer that follows it and
//! stops it, and why it failed. Training itself runs in the trainer process (`serve.rs`,
//! `train.rs`); the stage follows it through `remote.rs` with these same types.

use super::{Model, ModelError};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("no training windows: every tune has fewer than 2 notes")]
    NoWindows,
    #[error("cannot write checkpoint `{path}`: {source}")]
    Checkpoint { path: String, source: ModelError },
    #[error("cannot write training output: {0}")]
    Output(#[from] std::io::Error),
    /// The trainer process could not be started.
    #[error("cannot start the trainer `{path}`: {source} (it is built beside tms: `make build`)")]
    Start {
        path: String,
        source: std::io::Error,
    },
    /// The trainer process ended in the middle of a request (crashed, killed, out of memory).
    #[error("the trainer process {how}; the model keeps its last whole epoch, and `train` starts a new trainer")]
    Gone { how: String },
    /// The trainer answered what this tms cannot read (a trainer of another build).
    #[error("the trainer answered in a form this tms does not read ({0}): rebuild both with `make build`")]
    Protocol(String),
    #[error("one batch needs about {gb:.1} GB for its LSTM activations, which libtorch could not allocate ({reason}); lower batch, seq_len, hidden or layers")]
    Memory { gb: f64, reason: String },
}

/// What a caller follows of a run while it goes, and how it stops it: training in the
/// background shows its progress on request and hands each epoch's weights to the voices
/// that play the model.
pub trait Observer {
    /// Whether to stop after the current batch (Ctrl-C, `train stop`).
    fn stopped(&self) -> bool;
    /// How the lines say the run ended early when `stopped` said so.
    fn stop_reason(&self) -> &'static str {
        "interrupted"
    }
    /// Whether the run draws its progress bar on stderr (not behind the prompt).
    fn bar(&self) -> bool {
        true
    }
    /// After each batch: the epoch's number, batches done and in all, the mean loss so far.
    fn batch(&mut self, _epoch: usize, _done: usize, _batches: usize, _loss: f64) {}
    /// After each whole epoch, and again after a run that kept an earlier epoch's weights.
    fn epoch(&mut self, _model: &Model) {}
    /// Stop after this many batches of this run, exactly (a replayed `train N stop after K
    /// batches`): told to the trainer before it starts, where `stopped` may come late.
    fn stop_after(&self) -> Option<usize> {
        None
    }
}
