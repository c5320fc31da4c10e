//! Training: epochs of shuffled windows with the notebook's weighted loss, a progress bar,
//! one line per epoch, validation, best-epoch restore, atomic checkpoints, NaN recovery and
//! Ctrl-C after the current batch. The optimizer lives in the `Trainer` so that `train`
//! again continues where the last run stopped.

use std::io::Write;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tch::{nn, Kind, Reduction, Tensor};

use super::batch::{self, Batch};
use super::data::Encoded;
use super::evaluate::split_indices;
use super::net::{Net, Outputs};
use super::scoring;
use super::torch::{self, Mirror};
use super::{
    rhythm, Head, Keep, LossWeights, Model, ModelConfig, Observer, Optimizer, Rhythm, TrainConfig,
    TrainError,
};

/// Asks libtorch, through its fallible API, for the activations one training batch keeps
/// for the backward pass (per layer and step: the four gates, the cell and the output) before
/// the first batch runs. The sizes come from settings, so a refused allocation is the user's
/// to fix, and must read as such rather than as a panic from inside the LSTM.
fn preflight(
    config: &super::ModelConfig,
    rows: usize,
    seq_len: usize,
    device: super::Device,
) -> Result<(), TrainError> {
    let floats = [rows as i64, seq_len as i64, config.layers, 6, config.hidden]
        .into_iter()
        .try_fold(1i64, i64::checked_mul);
    let gb = floats.map_or(f64::INFINITY, |f| f as f64 * 4.0 / 1e9);
    let refused = |reason: String| TrainError::Memory { gb, reason };
    let floats = floats.ok_or_else(|| refused("more than 2^63 values".into()))?;
    Tensor::f_empty([floats], (Kind::Float, super::torch::device(device)))
        .map(drop)
        .map_err(|e| {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("out of memory");
            refused(first.trim().to_string())
        })
}

/// Optimizer state kept between `train` commands.
#[derive(Default)]
pub struct LocalTrainer {
    /// The model's weights as tensors, kept between runs with the optimizer over them.
    mirror: Mirror,
    opt: Option<(Optimizer, nn::Optimizer)>,
    /// Epochs run with this trainer, to seed each epoch's batch order differently.
    epochs_run: u64,
}

/// The loss of one batch: weighted pitch cross-entropy plus, for step and duration, the
/// cross-entropy of the nearest rhythm class (grid heads) or the notebook's
/// mse-with-positive-pressure (regression heads), averaged over scored positions.
pub(super) fn loss(out: &Outputs, b: &Batch, config: &ModelConfig, w: &LossWeights) -> Tensor {
    let scores = match config.head {
        Head::Softmax => out.logits.shallow_clone(),
        Head::Sigmoid => out.logits.sigmoid(),
    };
    let pitch = scores
        .view([-1, super::PITCHES])
        .cross_entropy_loss::<Tensor>(&b.target_pitch.view([-1]), None, Reduction::Mean, -100, 0.0);
    let n = b.mask.sum(Kind::Float);
    let pressure = |pred: &Tensor, y: &Tensor| {
        let e = (pred - y).square() + (-pred).relu() * 10.0;
        (e * &b.mask).sum(Kind::Float) / &n
    };
    let classes = |logits: &Tensor, y: &Tensor, min: i64| {
        let target = rhythm::target_classes(y, &b.mask, min);
        logits
            .view([-1, rhythm::CLASSES])
            .cross_entropy_loss::<Tensor>(&target.view([-1]), None, Reduction::Mean, -100, 0.0)
    };
    let (step, duration) = match config.rhythm {
        Rhythm::Regression => (
            pressure(&out.step, &b.target_step),
            pressure(&out.duration, &b.target_duration),
        ),
        Rhythm::Grid => (
            classes(&out.step, &b.target_step, 0),
            classes(&out.duration, &b.target_duration, 1),
        ),
    };
    pitch * w.pitch + step * w.step + duration * w.duration
}

/// The optimizer of `kind` over `vs`: the one kept, or a new one.
fn optimizer<'a>(
    kept: &'a mut Option<(Optimizer, nn::Optimizer)>,
    vs: &nn::VarStore,
    cfg: &TrainConfig,
    lr: f64,
) -> &'a mut nn::Optimizer {
    let stale = !matches!(kept, Some((kind, _)) if *kind == cfg.optimizer);
    if stale {
        use nn::OptimizerConfig;
        let opt = match cfg.optimizer {
            Optimizer::Sgd => nn::Sgd::default().build(vs, cfg.lr),
            Optimizer::Adam => nn::Adam::default().build(vs, cfg.lr),
        }
        .expect("an optimizer over the model's variables");
        *kept = Some((cfg.optimizer, opt));
    }
    let opt = &mut kept.as_mut().expect("set above").1;
    opt.set_lr(lr);
    opt
}

impl LocalTrainer {
    /// Trains `epochs` epochs. Output lines go to `out`; the progress bar to stderr when it
    /// is a terminal. Returns normally when stopped (after the current batch) or when a
    /// non-finite loss stopped it: the model is always left usable.
    pub fn train(
        &mut self,
        model: &mut Model,
        tunes: &[Encoded],
        cfg: &TrainConfig,
        epochs: usize,
        out: &mut dyn Write,
        observer: &mut dyn Observer,
    ) -> Result<(), TrainError> {
        let encoded = tunes;
        let (train_idx, val_idx) = split_indices(tunes.len(), cfg.val, cfg.seed);
        let train_set: Vec<&Encoded> = train_idx.iter().map(|&i| &encoded[i]).collect();
        let val_set: Vec<&Encoded> = val_idx.iter().map(|&i| &encoded[i]).collect();

        let device = model.device();
        let train_windows = batch::windows(&train_set, cfg.seq_len, cfg.objective, 0, None).len();
        if train_windows == 0 {
            return Err(TrainError::NoWindows);
        }
        preflight(
            &model.config,
            cfg.batch.min(train_windows),
            cfg.seq_len,
            device,
        )?;
        let val_windows = batch::windows(&val_set, cfg.seq_len, cfg.objective, 0, None);
        let (torch, fresh) = self.mirror.sync(model);
        if fresh {
            self.opt = None;
        }
        writeln!(
            out,
            "training on {} tunes, validating on {} ({} windows of {} notes, objective {}, batch {}, {} lr {})",
            train_set.len(),
            val_set.len(),
            train_windows,
            cfg.seq_len,
            cfg.objective.name(),
            cfg.batch,
            cfg.optimizer.name(),
            cfg.lr
        )?;

        // (val loss, epoch, weights) of the best epoch so far.
        let mut best: Option<(f64, usize, torch::Snapshot)> = None;
        let mut val_history = Vec::new();
        let mut stopped = false;
        for run_epoch in 0..epochs {
            let lr = cfg.lr * cfg.lr_decay.powi(run_epoch as i32);
            let epoch = model.epochs + 1;
            let started = Instant::now();
            let mut rng =
                ChaCha20Rng::seed_from_u64(cfg.seed ^ (0x9e37_79b9 * (self.epochs_run + 1)));
            let mut windows = batch::windows(
                &train_set,
                cfg.seq_len,
                cfg.objective,
                cfg.augment,
                Some(&mut rng),
            );
            if model.config.position {
                batch::hide_bars(&mut windows, cfg.seed ^ self.epochs_run);
            }
            let batches = windows.len().div_ceil(cfg.batch);
            let bar = match observer.bar() {
                true => progress_bar(batches as u64, epoch),
                false => ProgressBar::hidden(),
            };
            let good = torch.snapshot();
            tch::manual_seed((cfg.seed ^ self.epochs_run) as i64);
            let mut sum = 0.0;
            let mut weight = 0usize;
            let mut done = 0usize;
            let mut nonfinite = false;
            for chunk in windows.chunks(cfg.batch) {
                let b = batch::batch(&train_set, chunk, device);
                let l = loss(
                    &torch.net.forward_batch(&b, cfg.dropout),
                    &b,
                    &model.config,
                    &cfg.loss,
                );
                let value = l.double_value(&[]);
                if !value.is_finite() {
                    nonfinite = true;
                    break;
                }
                let opt = optimizer(&mut self.opt, &torch.vs, cfg, lr);
                opt.zero_grad();
                l.backward();
                if cfg.clip > 0.0 {
                    opt.clip_grad_norm(cfg.clip);
                }
                opt.step();
                sum += value * b.scored as f64;
                weight += b.scored;
                done += 1;
                bar.inc(1);
                observer.batch(epoch, done, batches, sum / weight as f64);
                bar.set_message(format!(
                    "loss {:.3}  {:.0} windows/s",
                    sum / weight as f64,
                    (done * cfg.batch) as f64 / started.elapsed().as_secs_f64()
                ));
                if observer.stopped() {
                    break;
                }
            }
            bar.finish_and_clear();
            self.epochs_run += 1;
            if nonfinite {
                torch.restore(&good);
                self.opt = None;
            }
            // What this epoch learned, whole or not, is the model's now.
            torch.store(model);
            if nonfinite {
                writeln!(
                    out,
                    "epoch {epoch}: the loss became infinite or NaN at batch {}: restored the weights from before this epoch and stopped (try a lower lr, or clip)",
                    done + 1
                )?;
                stopped = true;
                break;
            }
            if observer.stopped() && done < batches {
                writeln!(
                    out,
                    "epoch {epoch}: {} after batch {done}/{batches}; the model keeps what it learned",
                    observer.stop_reason()
                )?;
                stopped = true;
                break;
            }
            model.epochs = epoch;
            let train_loss = sum / weight.max(1) as f64;
            let mut line = format!("epoch {epoch}  train {train_loss:.4}");
            if !val_windows.is_empty() {
                let val_loss = validation_loss(&torch.net, model, &val_set, &val_windows, cfg);
                let scored = scoring::evaluate_net(&torch.net, model, &val_set, cfg.seq_len);
                line += &format!("  val {val_loss:.4}");
                // A zero here would read as a perfect model: say instead that nothing was
                // scored, and why.
                line += &if scored.notes == 0 {
                    format!(
                        "  val pitch_nll not scored (no validation tune has more than seq_len {} notes; lower seq_len)",
                        cfg.seq_len
                    )
                } else {
                    format!("  val pitch_nll {:.4}", scored.pitch_nll)
                };
                val_history.push(val_loss);
                if cfg.keep == Keep::Best && best.as_ref().is_none_or(|b| val_loss < b.0) {
                    best = Some((val_loss, epoch, torch.snapshot()));
                }
            }
            // Before the line, so that whoever reads of the epoch can already use it.
            observer.epoch(model);
            writeln!(out, "{line}  {:.1} s", started.elapsed().as_secs_f64())?;
            if cfg.checkpoint_every > 0 && epoch.is_multiple_of(cfg.checkpoint_every) {
                model.trained_with = Some(cfg.clone());
                let path = cfg
                    .checkpoint_dir
                    .join(format!("epoch-{epoch:04}.safetensors"));
                let latest = cfg.checkpoint_dir.join("latest.safetensors");
                for p in [&path, &latest] {
                    model.save(p).map_err(|source| TrainError::Checkpoint {
                        path: p.display().to_string(),
                        source,
                    })?;
                }
                writeln!(out, "checkpoint {}", path.display())?;
            }
            // Ctrl-C during an epoch's last (or only) batch: the epoch is whole and kept,
            // and the next one does not start.
            if observer.stopped() && run_epoch + 1 < epochs {
                writeln!(
                    out,
                    "{} after epoch {epoch}; the model keeps what it learned",
                    observer.stop_reason()
                )?;
                stopped = true;
                break;
            }
        }
        model.trained_with = Some(cfg.clone());
        if val_history.len() > 1 {
            writeln!(out, "val loss {}", sparkline(&val_history))?;
        }
        if let Some((loss, epoch, weights)) = best {
            if epoch != model.epochs && !stopped {
                torch.restore(&weights);
                torch.store(model);
                observer.epoch(model);
                writeln!(
                    out,
                    "kept epoch {epoch}, the best on validation (val {loss:.4}); set keep last to keep the last"
                )?;
            }
        }
        Ok(())
    }
}

fn validation_loss(
    net: &Net,
    model: &Model,
    set: &[&Encoded],
    windows: &[batch::Window],
    cfg: &TrainConfig,
) -> f64 {
    let _guard = tch::no_grad_guard();
    let (mut sum, mut n) = (0.0, 0usize);
    for chunk in windows.chunks(512) {
        let b = batch::batch(set, chunk, model.device());
        let l = loss(&net.forward_batch(&b, 0.0), &b, &model.config, &cfg.loss);
        sum += l.double_value(&[]) * b.scored as f64;
        n += b.scored;
    }
    sum / n.max(1) as f64
}

fn progress_bar(len: u64, epoch: usize) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "epoch {epoch} {{bar:30}} {{pos}}/{{len}} batches  {{msg}}"
        ))
        .expect("a valid template"),
    );
    bar
}

/// Values as a row of block characters, lowest to highest.
pub fn sparkline(values: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    values
        .iter()
        .map(|v| {
            let r = if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
            BARS[((r * 7.0).round() as usize).min(7)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_libtorch_cannot_allocate_is_a_clear_error() {
        use crate::model::{Head, Input, ModelConfig};
        let config = ModelConfig {
            hidden: 4096,
            layers: 8,
            embed: 32,
            input: Input::Embed,
            head: Head::Softmax,
            pointer: false,
            position: false,
            degree: false,
            rhythm: Rhythm::Grid,
        };
        // 4096 rows of 4096 steps: about 13 TB, more than any machine here can give.
        let e = preflight(&config, 4096, 4096, crate::model::Device::Cpu).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("one batch needs about 13194.1 GB for its LSTM activations, which libtorch could not allocate ("),
            "{text}"
        );
        assert!(
            text.ends_with("lower batch, seq_len, hidden or layers"),
            "{text}"
        );
        assert!(preflight(&config, 1, 16, crate::model::Device::Cpu).is_ok());
    }

    #[test]
    fn sparkline_spans_lowest_to_highest() {
        assert_eq!(sparkline(&[3.0, 2.0, 1.0, 1.5]), "█▅▁▃");
        assert_eq!(sparkline(&[1.0, 1.0]), "▁▁");
    }
}
