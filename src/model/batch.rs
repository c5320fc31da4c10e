//! Windows cut inside one tune (never across a boundary), a batch of them as padded tensors
//! with a mask saying which positions are scored, and one sequence as a batch of one: what
//! the tensor network reads.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha20Rng;
use tch::Tensor;

use super::data::Encoded;
use super::position::{UNKNOWN_DEGREE, UNKNOWN_POSITION};
use super::{Device, Objective};

/// A window: notes `start..start+len` of tune `tune`; positions `0..len-1` are inputs,
/// `1..len` their targets, and `scored_from` is the first input position whose prediction
/// counts in the loss (0 for the sequence objective, the last one for the window objective).
#[derive(Clone, Copy, Debug)]
pub(super) struct Window {
    pub tune: usize,
    pub start: usize,
    pub len: usize,
    pub scored_from: usize,
    /// Semitones added to every pitch of the window (transposition augmentation).
    pub shift: i64,
    /// Read as if its bars and key were not known (see [`hide_bars`]).
    pub hide_bars: bool,
}

/// Share of training windows a model that reads positions sees without them: a phrase
/// heard at the prompt or a MIDI file without a time signature has no known bars, and the
/// "not known" class must have been trained to mean something.
pub(super) const HIDE_BARS: f64 = 0.1;

/// Marks about [`HIDE_BARS`] of `windows` to be read without their bars, drawn from `seed`
/// (its own stream, so that the windows themselves are what they are without positions).
pub(super) fn hide_bars(windows: &mut [Window], seed: u64) {
    let mut rng = <ChaCha20Rng as rand::SeedableRng>::seed_from_u64(seed ^ 0x00ba_250f_f1ce);
    for w in windows {
        w.hide_bars = rng.random_bool(HIDE_BARS);
    }
}

/// Windows of `seq_len` inputs for one epoch. The sequence objective tiles each tune from a
/// random offset (a different tiling every epoch, each note predicted once); the window
/// objective takes every position that has `seq_len` notes before it, as the notebook did.
pub(super) fn windows(
    tunes: &[&Encoded],
    seq_len: usize,
    objective: Objective,
    augment: i64,
    mut rng: Option<&mut ChaCha20Rng>,
) -> Vec<Window> {
    let mut out = Vec::new();
    match objective {
        Objective::Window => {
            for (i, t) in tunes.iter().enumerate() {
                for target in seq_len..t.len() {
                    out.push(Window {
                        tune: i,
                        start: target - seq_len,
                        len: seq_len + 1,
                        scored_from: seq_len - 1,
                        shift: 0,
                        hide_bars: false,
                    });
                }
            }
        }
        Objective::Sequence => {
            for (i, t) in tunes.iter().enumerate() {
                let n = t.len();
                if n < 2 {
                    continue;
                }
                let offset = match rng.as_deref_mut() {
                    Some(r) => r.random_range(0..seq_len.min(n - 1)),
                    None => 0,
                };
                let mut cuts = vec![0];
                let mut s = offset;
                while s < n - 1 {
                    if s > 0 {
                        cuts.push(s);
                    }
                    s += seq_len;
                }
                for (k, &s) in cuts.iter().enumerate() {
                    let end = cuts.get(k + 1).map_or(n, |&e| e + 1).min(s + seq_len + 1);
                    if end - s >= 2 {
                        out.push(Window {
                            tune: i,
                            start: s,
                            len: end - s,
                            scored_from: 0,
                            shift: 0,
                            hide_bars: false,
                        });
                    }
                }
            }
        }
    }
    if let Some(r) = rng {
        if augment > 0 {
            for w in &mut out {
                w.shift = r.random_range(-augment..=augment);
            }
        }
        out.shuffle(r);
    }
    out
}

/// A batch ready for the network.
pub(super) struct Batch {
    /// [B, T] int64 input pitches.
    pub pitch: Tensor,
    /// [B, T, 2] int64 position and degree classes.
    pub context: Tensor,
    /// [B, T, 2] input (step, duration).
    pub timing: Tensor,
    /// [B, T] int64 target pitches (−100 where not scored).
    pub target_pitch: Tensor,
    pub target_step: Tensor,
    pub target_duration: Tensor,
    /// [B, T] 1.0 where scored.
    pub mask: Tensor,
    pub scored: usize,
    /// First position with a target in any window: the targets and mask above cover
    /// positions `from..T` only, and so must the network's outputs.
    pub from: i64,
}

pub(super) fn batch(tunes: &[&Encoded], ws: &[Window], device: Device) -> Batch {
    let device = super::torch::device(device);
    let t = ws.iter().map(|w| w.len - 1).max().unwrap_or(1);
    let b = ws.len();
    let mut pitch = vec![0i64; b * t];
    let mut context: Vec<i64> = [UNKNOWN_POSITION as i64, UNKNOWN_DEGREE as i64].repeat(b * t);
    let mut timing = vec![0f32; b * t * 2];
    let mut tp = vec![-100i64; b * t];
    let mut ts = vec![0f32; b * t];
    let mut td = vec![0f32; b * t];
    let mut mask = vec![0f32; b * t];
    let mut scored = 0;
    for (r, w) in ws.iter().enumerate() {
        let e = tunes[w.tune];
        for j in 0..w.len - 1 {
            let src = w.start + j;
            let k = r * t + j;
            let tr = |p: i64| (p + w.shift).clamp(0, 127);
            pitch[k] = tr(e.pitch[src]);
            if !w.hide_bars {
                context[2 * k] = e.position[src];
                context[2 * k + 1] = e.degree[src];
            }
            timing[2 * k] = e.step[src];
            timing[2 * k + 1] = e.duration[src];
            if j >= w.scored_from {
                tp[k] = tr(e.pitch[src + 1]);
                ts[k] = e.step[src + 1];
                td[k] = e.duration[src + 1];
                mask[k] = 1.0;
                scored += 1;
            }
        }
    }
    let (bi, ti) = (b as i64, t as i64);
    let from = ws
        .iter()
        .map(|w| w.scored_from)
        .min()
        .unwrap_or(0)
        .min(t - 1) as i64;
    let mk = |v: &[f32], shape: &[i64]| Tensor::from_slice(v).view(shape).to_device(device);
    let scored_part = |x: Tensor| x.narrow(1, from, ti - from);
    Batch {
        pitch: Tensor::from_slice(&pitch).view([bi, ti]).to_device(device),
        context: Tensor::from_slice(&context)
            .view([bi, ti, 2])
            .to_device(device),
        timing: mk(&timing, &[bi, ti, 2]),
        target_pitch: scored_part(Tensor::from_slice(&tp).view([bi, ti]).to_device(device)),
        target_step: scored_part(mk(&ts, &[bi, ti])),
        target_duration: scored_part(mk(&td, &[bi, ti])),
        mask: scored_part(mk(&mask, &[bi, ti])),
        scored,
        from,
    }
}

/// Inputs of one sequence (pitch, context, timing), shaped as a batch of one.
#[cfg(test)]
pub(super) fn sequence(e: &Encoded, device: Device) -> (Tensor, Tensor, Tensor) {
    let device = super::torch::device(device);
    let n = e.len() as i64;
    let timing: Vec<f32> = e
        .step
        .iter()
        .zip(&e.duration)
        .flat_map(|(s, d)| [*s, *d])
        .collect();
    (
        Tensor::from_slice(&e.pitch).view([1, n]).to_device(device),
        Tensor::from_slice(
            &e.position
                .iter()
                .zip(&e.degree)
                .flat_map(|(p, d)| [*p, *d])
                .collect::<Vec<i64>>(),
        )
        .view([1, n, 2])
        .to_device(device),
        Tensor::from_slice(&timing)
            .view([1, n, 2])
            .to_kind(tch::Kind::Float)
            .to_device(device),
    )
}
