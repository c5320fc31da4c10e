//! What tms and its trainer process say to each other over the trainer's stdin and stdout.
//! A frame is a JSON message and the byte blobs it refers to (a model file's bytes): the
//! same frames could cross a socket to a trainer on another machine, since nothing is
//! shared but these bytes (README, "Training in a process of its own").
//!
//! Frame layout: u32 LE length of the JSON, the JSON, u32 LE count of blobs, then for each
//! blob a u64 LE length and its bytes.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

use super::finetune::Learned;
use super::{Device, Encoded, Metrics, ModelConfig, TrainConfig, TrainError};

/// Bumped whenever a message changes shape: a trainer of another build is refused by name.
pub const VERSION: u32 = 1;

/// The largest JSON part a frame may have (a dataset of a million notes is about 40 MB).
const MAX_JSON: usize = 1 << 30;
/// The largest blob (a model of hidden 4096 and 8 layers is about 4 GB of weights).
const MAX_BLOB: u64 = 1 << 34;

/// What tms asks of the trainer.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// The first message: which protocol this tms speaks.
    Hello { version: u32 },
    /// A new model's weights from libtorch's initialisation. Reply: `Model` with its file.
    New {
        config: ModelConfig,
        device: Device,
        seed: u64,
    },
    /// Trains the model file in blob 0; the optimizer's state carries on from this
    /// process's last run (tms starts a trainer per voice). Replies: `Line`s, `Batch`es, an
    /// `Epoch` with the model file after each whole epoch, then `Done`.
    Train {
        device: Device,
        cfg: TrainConfig,
        epochs: usize,
        tunes: Vec<Encoded>,
        bar: bool,
        stop_after: Option<usize>,
    },
    /// Ends the current training or evaluation after its current batch.
    Stop { reason: String },
    /// One phrase learned into the model file in blob 0 (`learn on`, a trainer of its own);
    /// the corpus comes with the first phrase and is kept. Reply: `Learned` with the model
    /// file.
    Learn {
        device: Device,
        seed: u64,
        cfg: TrainConfig,
        phrase: Encoded,
        corpus: Option<Vec<Encoded>>,
    },
    /// The evaluation protocol on the model file in blob 0. Replies: `Progress`, then
    /// `Metrics` (None when stopped).
    Evaluate {
        device: Device,
        tunes: Vec<Encoded>,
        seq_len: usize,
    },
    /// What libtorch sees. Reply: `Info`.
    Info,
}

/// What the trainer answers.
#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    Hello {
        version: u32,
    },
    /// A model file in blob 0.
    Model,
    /// A line of training output.
    Line(String),
    Batch {
        epoch: usize,
        done: usize,
        batches: usize,
        loss: f64,
    },
    /// The model file after a whole epoch, in blob 0.
    Epoch,
    Done(Result<(), Failure>),
    Progress {
        done: usize,
        total: usize,
    },
    Metrics(Option<Metrics>),
    /// The model file after the phrase, in blob 0.
    Learned(Learned),
    Info {
        gpus: usize,
    },
    /// A request that could not be carried out.
    Failed(Failure),
}

/// Why a request failed, as the trainer saw it.
#[derive(Debug, Serialize, Deserialize)]
pub enum Failure {
    NoWindows,
    Checkpoint {
        path: String,
        problem: String,
    },
    Output(String),
    Memory {
        gb: f64,
        reason: String,
    },
    /// The model file sent could not be read.
    Model(String),
    Protocol(String),
}

impl From<&TrainError> for Failure {
    fn from(e: &TrainError) -> Failure {
        match e {
            TrainError::NoWindows => Failure::NoWindows,
            TrainError::Checkpoint { path, source } => Failure::Checkpoint {
                path: path.clone(),
                problem: source.to_string(),
            },
            TrainError::Memory { gb, reason } => Failure::Memory {
                gb: *gb,
                reason: reason.clone(),
            },
            TrainError::Output(e) => Failure::Output(e.to_string()),
            other => Failure::Protocol(other.to_string()),
        }
    }
}

impl From<Failure> for TrainError {
    /// The same words the error had in the trainer.
    fn from(f: Failure) -> TrainError {
        match f {
            Failure::NoWindows => TrainError::NoWindows,
            Failure::Checkpoint { path, problem } => TrainError::Checkpoint {
                path,
                source: super::ModelError::Io(problem),
            },
            Failure::Memory { gb, reason } => TrainError::Memory { gb, reason },
            Failure::Output(e) => TrainError::Output(io::Error::other(e)),
            Failure::Model(e) | Failure::Protocol(e) => TrainError::Protocol(e),
        }
    }
}

/// Writes one frame and flushes it.
pub fn write<T: Serialize>(w: &mut impl Write, message: &T, blobs: &[&[u8]]) -> io::Result<()> {
    let json = serde_json::to_vec(message).map_err(io::Error::other)?;
    let mut head = Vec::with_capacity(8 + json.len());
    head.extend_from_slice(&(json.len() as u32).to_le_bytes());
    head.extend_from_slice(&json);
    head.extend_from_slice(&(blobs.len() as u32).to_le_bytes());
    w.write_all(&head)?;
    for b in blobs {
        w.write_all(&(b.len() as u64).to_le_bytes())?;
        w.write_all(b)?;
    }
    w.flush()
}

/// Reads one frame: Ok(None) at a clean end of the stream (between frames).
pub fn read<T: for<'de> Deserialize<'de>>(
    r: &mut impl Read,
) -> io::Result<Option<(T, Vec<Vec<u8>>)>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_JSON {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a message of {len} bytes"),
        ));
    }
    let mut json = vec![0u8; len];
    r.read_exact(&mut json)?;
    let message =
        serde_json::from_slice(&json).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let mut count = [0u8; 4];
    r.read_exact(&mut count)?;
    let mut blobs = Vec::new();
    for _ in 0..u32::from_le_bytes(count) {
        let mut n = [0u8; 8];
        r.read_exact(&mut n)?;
        let n = u64::from_le_bytes(n);
        if n > MAX_BLOB {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a blob of {n} bytes"),
            ));
        }
        let mut b = Vec::new();
        r.by_ref().take(n).read_to_end(&mut b)?;
        if b.len() as u64 != n {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        blobs.push(b);
    }
    Ok(Some((message, blobs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_reads_back_as_written_and_a_cut_one_is_an_error() {
        let mut buf = Vec::new();
        write(&mut buf, &Reply::Line("epoch 1".into()), &[b"abc", b""]).unwrap();
        write(&mut buf, &Reply::Info { gpus: 2 }, &[]).unwrap();
        let mut r = &buf[..];
        let (m, blobs): (Reply, _) = read(&mut r).unwrap().unwrap();
        assert!(matches!(m, Reply::Line(l) if l == "epoch 1"));
        assert_eq!(blobs, vec![b"abc".to_vec(), vec![]]);
        let (m, _): (Reply, _) = read(&mut r).unwrap().unwrap();
        assert!(matches!(m, Reply::Info { gpus: 2 }));
        assert!(read::<Reply>(&mut r).unwrap().is_none());
        let cut = &buf[..buf.len() - 3];
        let mut r = cut;
        read::<Reply>(&mut r).unwrap();
        assert!(read::<Reply>(&mut r).is_err());
    }
}
