//! Rhythm as categories (`rhythm grid`): the step and duration heads predict a distribution
//! over whole multiples of one quantum (1/48 of a whole note, which holds sixteenths and
//! eighth-note triplets alike) instead of a number of seconds. A regression head gives one
//! value per context, off the grid and untouched by temperature; classes can be sampled,
//! masked to a coarser grid (`set grid "1/16"`), and scored as a likelihood (`step_nll`).
//!
//! Classes are 0..=MAX_QUANTA quanta. The Essen Chinese songs (han1.abc) never step or hold
//! longer than 78 quanta (3.25 s, a dotted half tied to a whole note); longer values are
//! trained as the last class, which means "MAX_QUANTA or more" and samples as MAX_QUANTA.
//! Values between classes (0.9% of han1's notes, 1/32 notes) train as the nearest class.

use rand::Rng;
use rand_chacha::ChaCha20Rng;

use super::step::exp;
use crate::music::grid::QUANTUM_SECONDS;

/// The longest step or duration with its own class: two whole notes (4 s at 120 BPM).
pub const MAX_QUANTA: usize = 96;
/// Classes per head: 0..=MAX_QUANTA quanta.
pub const CLASSES: i64 = MAX_QUANTA as i64 + 1;

/// The class of a step (`min` 0) or a duration (`min` 1: a note always has a length): the
/// nearest multiple of the quantum, clamped to the classes.
pub fn class_of(seconds: f64, min: usize) -> usize {
    let k = (seconds / QUANTUM_SECONDS).round();
    if k.is_nan() {
        return min;
    }
    (k.max(0.0) as usize).clamp(min, MAX_QUANTA)
}

/// A class's length in seconds.
pub fn seconds_of(class: usize) -> f64 {
    class as f64 * QUANTUM_SECONDS
}

#[cfg(feature = "torch")]
pub(super) use tensors::{median_seconds, target_classes};

/// The same classes as tensors, for training and the evaluation protocol (the trainer's
/// side).
#[cfg(feature = "torch")]
mod tensors {
    use tch::{Kind, Tensor};

    use super::MAX_QUANTA;
    use crate::music::grid::QUANTUM_SECONDS;

    /// Training targets: the class of every position of `seconds` ([B, T]), −100 (ignored by the
    /// cross-entropy) where `mask` is 0.
    pub(in crate::model) fn target_classes(seconds: &Tensor, mask: &Tensor, min: i64) -> Tensor {
        let k = (seconds.to_kind(Kind::Double) / QUANTUM_SECONDS)
            .round()
            .clamp(min as f64, MAX_QUANTA as f64)
            .to_kind(Kind::Int64);
        k.where_self(&mask.gt(0.0), &Tensor::full_like(&k, -100))
    }

    /// The median of each distribution of `logits` ([…, CLASSES]) in seconds: the point
    /// prediction with the least expected absolute error, for `step_mae` and `duration_mae`.
    pub(in crate::model) fn median_seconds(logits: &Tensor) -> Tensor {
        let below = logits
            .softmax(-1, Kind::Float)
            .cumsum(-1, Kind::Float)
            .lt(0.5)
            .sum_dim_intlist(-1, false, Kind::Float);
        below.clamp_max(MAX_QUANTA as f64) * QUANTUM_SECONDS
    }
}

/// Which classes sampling may pick for a step or a duration: whole multiples of `unit`
/// quanta (the grid; 1 = free), never 0, at least `min_seconds` long, and shorter than
/// `below` seconds when given (a step that must land before the final bar line). A step is
/// never 0 because a melody is one line: the note before a step is cut to end where the next
/// starts, so a step is also a duration (see `sample::Generator::next_ending`). When nothing
/// qualifies, the longest positive multiple of the unit that still fits (a `min_duration`
/// longer than every class); None when no positive multiple lands before `below`.
pub fn allowed(unit: usize, min_seconds: f64, below: Option<f64>) -> Option<Allowed> {
    let unit = unit.max(1);
    let on_grid = |k: usize| k.is_multiple_of(unit) && k > 0;
    let fits = |k: usize| below.is_none_or(|b| seconds_of(k) < b - 1e-9);
    let mut ok: Allowed =
        std::array::from_fn(|k| on_grid(k) && fits(k) && seconds_of(k) >= min_seconds - 1e-9);
    if !ok.contains(&true) {
        match (0..=MAX_QUANTA).rev().find(|&k| on_grid(k) && fits(k)) {
            Some(k) => ok[k] = true,
            // A grid coarser than the classes: its unit, as the last class means "or more".
            None if below.is_none() => ok[unit.min(MAX_QUANTA)] = true,
            None => return None,
        }
    }
    Some(ok)
}

/// The step classes that land on a grid point (`on` says, given a class): as [`allowed`]
/// keeps them, never 0, at least `min_seconds` long and before `below` seconds when given;
/// when none is that long, the longest that lands; None when no positive class does.
pub fn on_grid_steps(
    min_seconds: f64,
    below: Option<f64>,
    on: impl Fn(usize) -> bool,
) -> Option<Allowed> {
    let fits = |k: usize| k > 0 && below.is_none_or(|b| seconds_of(k) < b - 1e-9) && on(k);
    let mut ok: Allowed = std::array::from_fn(|k| fits(k) && seconds_of(k) >= min_seconds - 1e-9);
    if !ok.contains(&true) {
        ok[(1..=MAX_QUANTA).rev().find(|&k| fits(k))?] = true;
    }
    Some(ok)
}

/// Which classes may be drawn, one flag per class (on the stack: two per generated note).
pub type Allowed = [bool; MAX_QUANTA + 1];

/// Samples a class from `logits` among the `allowed` ones at `temperature` (0 = the most
/// likely; ties go to the shorter value). Draws one number from `rng` unless greedy. The
/// weights use the stepper's branch-free f32 exp (within 2 ulp), one pass that vectorizes,
/// as `sample_pitch` does: per note this ran two hundred libm calls.
pub fn sample_class(
    logits: &[f32],
    allowed: &Allowed,
    temperature: f64,
    rng: &mut ChaCha20Rng,
) -> usize {
    assert_eq!(logits.len(), allowed.len(), "one logit per class");
    let best = (0..logits.len())
        .filter(|&k| allowed[k])
        .reduce(|a, b| if logits[b] > logits[a] { b } else { a })
        .expect("allowed() keeps at least one class");
    if temperature <= 0.0 {
        return best;
    }
    let (top, inverse) = (logits[best], (1.0 / temperature) as f32);
    let mut weights = [0f32; MAX_QUANTA + 1];
    for ((w, &l), &ok) in weights.iter_mut().zip(logits).zip(allowed) {
        let e = exp((l - top) * inverse);
        *w = if ok { e } else { 0.0 };
    }
    let total: f64 = weights.iter().map(|&w| w as f64).sum();
    let mut u = rng.random::<f64>() * total;
    for (k, &w) in weights.iter().enumerate() {
        if w > 0.0 && u < w as f64 {
            return k;
        }
        u -= w as f64;
    }
    best
}

/// A regression head's value on the grid: the nearest whole multiple of `unit` seconds, at
/// least one unit, kept below `below` when given; None when not even one unit lands before
/// it.
pub fn snap(value: f64, unit: f64, below: Option<f64>) -> Option<f64> {
    let mut k = (value / unit).round().max(1.0);
    if let Some(b) = below {
        k = k.min(((b - 1e-9) / unit).ceil() - 1.0);
    }
    (k >= 1.0).then_some(k * unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn values_fall_in_the_nearest_class() {
        assert_eq!(class_of(0.25, 0), 6, "an eighth note is 6 quanta");
        assert_eq!(class_of(0.5 / 3.0, 1), 4, "a triplet eighth is 4");
        assert_eq!(class_of(0.0, 0), 0);
        assert_eq!(class_of(0.0, 1), 1, "a duration is never 0");
        assert_eq!(
            class_of(0.0625, 0),
            2,
            "a 1/32 note rounds to the nearest class"
        );
        assert_eq!(class_of(100.0, 0), MAX_QUANTA, "overflow is the last class");
        assert_eq!(class_of(-1.0, 0), 0);
        assert!((seconds_of(3) - 0.125).abs() < 1e-12);
    }

    #[cfg(feature = "torch")]
    #[test]
    fn training_targets_are_the_classes_of_the_scored_positions() {
        use tch::Tensor;
        let t = Tensor::from_slice(&[0.25f32, 0.0, 7.0, 0.126]).view([1, 4]);
        let mask = Tensor::from_slice(&[1f32, 1.0, 1.0, 0.0]).view([1, 4]);
        let got = Vec::<i64>::try_from(target_classes(&t, &mask, 1).view(-1)).unwrap();
        assert_eq!(got, [6, 1, 96, -100]);
    }

    #[test]
    fn a_grid_keeps_only_its_positive_multiples() {
        let kept = |ok: Option<Allowed>| -> Vec<usize> {
            let ok = ok.expect("some class qualifies");
            (0..ok.len()).filter(|&k| ok[k]).collect()
        };
        let sixteenths = allowed(3, 0.0, None).unwrap();
        for (k, &ok) in sixteenths.iter().enumerate() {
            assert_eq!(ok, k % 3 == 0 && k > 0, "class {k}: never a step of 0");
        }
        let triplets = allowed(4, 0.05, None).unwrap();
        for (k, &ok) in triplets.iter().enumerate() {
            assert_eq!(ok, k % 4 == 0 && k > 0, "class {k}");
        }
        // Free, but nothing under min_duration (0.05 s is more than one quantum).
        let free = allowed(1, 0.05, None).unwrap();
        assert!(!free[0] && !free[1] && free[2]);
        // A step must land before the bar line 0.5 s away: sixteenths 3, 6, 9.
        assert_eq!(kept(allowed(3, 0.0, Some(0.5))), [3, 6, 9]);
        // A min_duration longer than every class: the longest multiple of the grid.
        assert_eq!(kept(allowed(12, 60.0, None)), [96]);
        // ... or the longest that lands before the bar line.
        assert_eq!(kept(allowed(3, 60.0, Some(0.5))), [9]);
        // No positive multiple of a quarter lands before a bar line an eighth away.
        assert_eq!(allowed(12, 0.0, Some(0.25)), None);
    }

    #[test]
    fn sampling_obeys_the_mask_and_the_temperature() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let mut logits = vec![-10.0f32; CLASSES as usize];
        logits[5] = 4.0; // off the sixteenth grid: never picked under it
        logits[6] = 3.0;
        logits[12] = 2.0;
        let grid = allowed(3, 0.0, None).unwrap();
        assert_eq!(sample_class(&logits, &grid, 0.0, &mut rng), 6, "greedy");
        let n = 4000;
        let picks: Vec<usize> = (0..n)
            .map(|_| sample_class(&logits, &grid, 1.0, &mut rng))
            .collect();
        assert!(picks.iter().all(|k| k % 3 == 0));
        // softmax(3, 2): 73% sixths at temperature 1, fewer at temperature 3.
        let share = |p: &[usize]| p.iter().filter(|&&k| k == 6).count() as f64 / n as f64;
        assert!((share(&picks) - 0.73).abs() < 0.03, "{}", share(&picks));
        let hot: Vec<usize> = (0..n)
            .map(|_| sample_class(&logits, &grid, 3.0, &mut rng))
            .collect();
        assert!(share(&hot) < 0.62, "{}", share(&hot));
    }

    #[test]
    fn regression_values_snap_to_the_grid() {
        let near = |got: Option<f64>, want: f64| {
            let got = got.expect("a value");
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        };
        near(snap(0.699, 0.125, None), 0.75);
        near(snap(0.01, 0.125, None), 0.125);
        near(snap(0.9, 0.125, Some(0.5)), 0.375);
        near(snap(0.9, 0.125, Some(0.51)), 0.5);
        assert_eq!(snap(0.9, 0.125, Some(0.1)), None);
    }

    #[cfg(feature = "torch")]
    #[test]
    fn the_median_is_where_half_the_mass_is_reached() {
        use tch::Tensor;
        let mut l = vec![-30.0f32; CLASSES as usize];
        l[3] = 0.0;
        l[12] = 0.1;
        let t = Tensor::from_slice(&l).view([1, CLASSES]);
        let m = median_seconds(&t).double_value(&[0]);
        assert!((m - seconds_of(12)).abs() < 1e-6, "{m}");
    }
}
