//! The evaluation protocol of LANGUAGE.md on the tensor network (the trainer's side): each
//! note that has at least `seq_len` notes before it in its tune is predicted from exactly
//! those notes, from a fresh LSTM state.

use tch::{Kind, Tensor};

use super::batch;
use super::data::Encoded;
use super::net::Net;
use super::torch::Torch;
use super::{rhythm, Head, Metrics, Model, Objective, Rhythm};
use crate::music::note::Tune;

/// Scores `tunes` by the protocol. Tunes too short to score contribute nothing.
pub fn evaluate(model: &Model, tunes: &[Tune], seq_len: usize) -> Metrics {
    let encoded: Vec<Encoded> = tunes.iter().map(Encoded::new).collect();
    let refs: Vec<&Encoded> = encoded.iter().collect();
    let torch = Torch::of(model);
    evaluate_net(&torch.net, model, &refs, seq_len)
}

/// [`evaluate`] that reports `(notes scored, notes to score)` after every chunk and stops,
/// returning None, when `progress` returns false (Ctrl-C).
pub fn evaluate_with(
    model: &Model,
    tunes: &[Encoded],
    seq_len: usize,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Option<Metrics> {
    let refs: Vec<&Encoded> = tunes.iter().collect();
    let torch = Torch::of(model);
    scored(&torch.net, model, &refs, seq_len, progress)
}

/// [`evaluate`] with the tensors of `model` that are already at hand (a training run's).
pub(super) fn evaluate_net(
    net: &Net,
    model: &Model,
    tunes: &[&Encoded],
    seq_len: usize,
) -> Metrics {
    scored(net, model, tunes, seq_len, &mut |_, _| true).expect("never stopped")
}

fn scored(
    net: &Net,
    model: &Model,
    set: &[&Encoded],
    seq_len: usize,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Option<Metrics> {
    let _guard = tch::no_grad_guard();
    // The notebook's windows: every note with `seq_len` notes before it, scored alone.
    let windows = batch::windows(set, seq_len, Objective::Window, 0, None);
    let grid = model.config.rhythm == Rhythm::Grid;
    let mut sums = [0.0f64; 6];
    for (i, chunk) in windows.chunks(1024).enumerate() {
        if !progress(i * 1024, windows.len()) {
            return None;
        }
        let b = batch::batch(set, chunk, model.device());
        let o = net.forward_batch(&b, 0.0);
        // Every window scores only its last position, the one the outputs hold.
        let last = 0;
        let logits = o.logits.select(1, last);
        let target = b.target_pitch.select(1, last);
        let logp = log_probs(&logits, model.config.head);
        let nll = -logp
            .gather(1, &target.unsqueeze(1), false)
            .sum(Kind::Double);
        let hits = logits.argmax(1, false).eq_tensor(&target).sum(Kind::Double);
        let mae = |pred: &Tensor, y: &Tensor| {
            let pred = pred.select(1, last);
            let seconds = if grid {
                rhythm::median_seconds(&pred)
            } else {
                pred
            };
            (seconds.clamp_min(0.0) - y.select(1, last))
                .abs()
                .sum(Kind::Double)
        };
        sums[0] += nll.double_value(&[]);
        sums[1] += hits.double_value(&[]);
        sums[2] += mae(&o.step, &b.target_step).double_value(&[]);
        sums[3] += mae(&o.duration, &b.target_duration).double_value(&[]);
        if grid {
            let nll = |logits: &Tensor, y: &Tensor, min: i64| {
                let target = rhythm::target_classes(y, &b.mask, min).select(1, last);
                -logits
                    .select(1, last)
                    .log_softmax(-1, Kind::Float)
                    .gather(1, &target.unsqueeze(1), false)
                    .sum(Kind::Double)
                    .double_value(&[])
            };
            sums[4] += nll(&o.step, &b.target_step, 0);
            sums[5] += nll(&o.duration, &b.target_duration, 1);
        }
    }
    let n = windows.len();
    let d = n.max(1) as f64;
    Some(Metrics {
        notes: n,
        pitch_nll: sums[0] / d,
        pitch_acc: sums[1] / d,
        step_mae: sums[2] / d,
        duration_mae: sums[3] / d,
        step_nll: grid.then(|| sums[4] / d),
        duration_nll: grid.then(|| sums[5] / d),
    })
}

/// Log-probabilities of the pitches at temperature 1: a log-softmax, or for the notebook's
/// sigmoid head the log of the outputs normalised to sum to 1.
pub(super) fn log_probs(logits: &Tensor, head: Head) -> Tensor {
    match head {
        Head::Softmax => logits.log_softmax(-1, Kind::Float),
        Head::Sigmoid => {
            let s = logits.sigmoid();
            let total = s.sum_dim_intlist(-1, true, Kind::Float);
            (s / total).log()
        }
    }
}
