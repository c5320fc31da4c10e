//! Generation: a stateful LSTM that reads the primer once, then one note per step (the
//! notebook re-ran a whole window per note and fed raw pitches back; here the input is
//! encoded exactly as in training). Sampling happens on the CPU in f64 from the session's
//! ChaCha generator, so the same seed gives the same notes on every machine.
//!
//! A melody is one line: no generated note outlasts the next note's start. The heads draw a
//! note's step and duration together, so a duration knows nothing of the step after it, and
//! on the shipped model a fifth of the notes overlapped the next (the Essen songs have none).
//! [`Generator::next_ending`], which every way of generating goes through, therefore draws
//! the next note's step as soon as a note is read and cuts the note to it before handing it
//! out; the last note of a melody keeps the length it drew. Steps are never 0 (that would cut
//! the note before to nothing) and are at least `min_duration`, as durations are.

use super::data::Encoded;
use super::key::KeyView;
use super::position::Frame;
use super::rhythm::{allowed, class_of, on_grid_steps, sample_class, seconds_of, snap, Allowed};
use super::step::{exp, ln, NoteIn, RhythmLogits, StepState, Stepper};
use super::{Head, Model};
use crate::music::grid::{BarLines, Grid, QUANTUM_SECONDS};
use crate::music::note::Note;
use rand::Rng;
use rand_chacha::ChaCha20Rng;

/// Sampling controls, read afresh for every note (live mode changes them mid-stream).
#[derive(Clone, Debug, PartialEq)]
pub struct SampleOptions {
    /// Divides the log-probabilities; 0 picks the most likely pitch.
    pub temperature: f64,
    /// The same for the rhythm heads' step and duration classes. Apart from the pitch's:
    /// the corpus's rhythm is more regular than its pitch, and one temperature that makes
    /// the pitches repeat as the corpus does leaves the rhythm too free (BENCHMARKS.md,
    /// "The shape of generated tunes").
    pub rhythm_temperature: f64,
    /// Keep only the K most likely pitches (0 = all).
    pub top_k: usize,
    /// Pitches allowed (a scale); None allows all.
    pub allowed: Option<[bool; 128]>,
    /// The tonic pitch class of the scale behind `allowed`: the generator carries the key of
    /// what the model read onto it (see `key`). None aligns by the pitch set alone.
    pub tonic: Option<u8>,
    /// Shortest duration in seconds, so no note has zero length.
    pub min_duration: f64,
    /// Steps and durations are whole multiples of this note value (None = free).
    pub grid: Option<Grid>,
    /// Where the melody's bar lines fall: a grid counts from them, not from the last note.
    pub bar_lines: BarLines,
}

/// How a melody must end (`generate N bars`, `end tonic`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ending {
    /// The bar line the melody ends on, in seconds: no note starts at or after it, and the
    /// note that reaches it is cut there and is the last.
    pub at: Option<f64>,
    /// This note is the last whatever its length (the N-th of `generate N`).
    pub last: bool,
    /// Pitches the last note may have (the scale's tonic); None = as any other note.
    pub last_pitches: Option<[bool; 128]>,
    /// Seconds the last note lasts at least (a beat for `end tonic`, so a melody does not
    /// end on a sixteenth): before `at`, the last note starts early enough for it.
    pub min_last: f64,
    /// No note starts before this time, in seconds: bars drawn again (`regenerate`) begin
    /// on their first bar line, whatever rest the notes kept before them end with.
    pub from: Option<f64>,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            temperature: 1.0,
            rhythm_temperature: 1.0,
            top_k: 0,
            allowed: None,
            tonic: None,
            min_duration: 0.05,
            grid: None,
            bar_lines: BarLines::default(),
        }
    }
}

/// The model's prediction for the next note.
#[derive(Clone)]
struct Prediction {
    logits: Vec<f32>,
    step: f64,
    duration: f64,
    /// A grid model's step and duration distributions (`step` and `duration` are then 0).
    rhythm: Option<RhythmLogits>,
}

/// Continues a melody note by note. Owns its own copy of the weights (plain vectors), so it
/// can move to the live thread while the session keeps (or replaces) the model. A clone
/// continues the same melody on its own (`regenerate` draws its candidates from clones).
#[derive(Clone)]
pub struct Generator {
    /// Shared so that a new epoch's weights reach a playing voice as one pointer swap.
    stepper: std::sync::Arc<Stepper>,
    head: Head,
    state: StepState,
    next: Prediction,
    last_start: f64,
    velocity: u8,
    /// The model reads the melody in one key and its notes are moved into the scale's.
    key: KeyView,
    /// The step from the last note made to the next one, drawn when that note was made so
    /// that its duration could be cut to it.
    next_step: Option<f64>,
    /// The melody's bars and key, for a model that reads where each note falls in its bar
    /// or its scale degree. The degree is of the pitch in the model's view, which stays in
    /// the key of what it read (see `key`).
    frame: Frame,
}

impl Generator {
    /// Reads `primer` (not empty) into the LSTM state, then steps one note at a time.
    /// `frame` says where the primer's bars fall (the notes made next keep counting in
    /// them) and its key.
    ///
    /// The primer is read in f32 whatever the precision, in pieces of [`PRIMER_PIECE`]
    /// notes, and the pointer's first proposal sees every note of the last piece and the
    /// [`POINTER_MEMORY`](super::params::POINTER_MEMORY) notes before it: what the tensor
    /// network did when it read primers, so a seed gives the notes it gave then.
    pub fn new(model: &Model, primer: &[Note], frame: Frame) -> Generator {
        let e = Encoded::from_notes(primer, frame);
        let memory = super::params::POINTER_MEMORY as usize;
        let reader = model.params.stepper(
            &model.config,
            super::step::Precision::F32,
            PRIMER_PIECE + memory,
        );
        let (layers, hidden) = (model.config.layers as usize, model.config.hidden as usize);
        let mut state = StepState::fresh(layers, hidden);
        let mut out = None;
        for i in 0..e.len() {
            // A new piece starts with the memory the tensor network carried between calls.
            if i > 0 && i % PRIMER_PIECE == 0 {
                while state.keys.len() > memory {
                    state.keys.pop_front();
                    state.pitches.pop_front();
                }
            }
            let x = NoteIn {
                pitch: e.pitch[i] as u8,
                position: e.position[i] as usize,
                degree: e.degree[i] as usize,
                step: e.step[i],
                duration: e.duration[i],
            };
            out = Some(reader.read(&mut state, x));
        }
        while state.keys.len() > memory {
            state.keys.pop_front();
            state.pitches.pop_front();
        }
        let out = out.expect("a primer has notes");
        let last = primer.iter().max_by(|a, b| a.start.total_cmp(&b.start));
        Generator {
            head: model.config.head,
            stepper: std::sync::Arc::new(model.stepper(model.precision)),
            state,
            next: Prediction {
                logits: out.logits,
                step: out.step,
                duration: out.duration,
                rhythm: out.rhythm,
            },
            last_start: last.map_or(0.0, |n| n.start),
            velocity: last.map_or(100, |n| n.velocity),
            key: KeyView::new(primer),
            next_step: None,
            frame,
        }
    }

    /// Forgets everything read and reads `primer` (not empty) instead, with the one-note
    /// stepper: how call and response primes with each phrase off the session's thread,
    /// where the tensor network is not. Its state matches [`Generator::new`]'s to float
    /// rounding.
    pub fn reprime(&mut self, primer: &[Note]) {
        let (layers, hidden) = (self.state.h.len(), self.state.h.first().map_or(0, Vec::len));
        self.state = StepState::fresh(layers, hidden);
        let triples = crate::music::note::to_triples(primer);
        for (n, (pitch, step, duration)) in primer.iter().zip(triples) {
            self.step(pitch, n.start, step, duration);
        }
        let last = primer.iter().max_by(|a, b| a.start.total_cmp(&b.start));
        self.last_start = last.map_or(0.0, |n| n.start);
        self.velocity = last.map_or(100, |n| n.velocity);
        self.key = KeyView::new(primer);
        self.next_step = None;
    }

    /// Continues with the feed's newer weights, if it has any: the melody's state so far
    /// carries on (same architecture), and the note already predicted is drawn before the
    /// new weights predict the one after it. Says whether the weights changed.
    pub fn follow(&mut self, feed: &mut super::swap::FeedReader) -> bool {
        match feed.newer() {
            Some(stepper) => {
                self.stepper = stepper;
                true
            }
            None => false,
        }
    }

    /// Semitones between the model's view and the notes it gives (see `key`).
    pub fn shift(&self) -> i32 {
        self.key.shift()
    }

    /// Samples the next note and feeds it back. Starts never decrease.
    pub fn next(&mut self, opts: &SampleOptions, rng: &mut ChaCha20Rng) -> Note {
        self.next_ending(opts, &Ending::default(), rng).0
    }

    /// [`Generator::next`] under `ending`: also says whether this note ends the melody. The
    /// heads are independent given the LSTM state, so the rhythm is drawn first (step, then
    /// duration) and the pitch knows whether it belongs to the last note.
    ///
    /// A note that is not the last is read with the duration it drew, then the step to the
    /// next note is drawn (from the state that has read it) and the note handed out ends no
    /// later than that step: a gap stays a rest, an overlap becomes legato. The model keeps
    /// the duration it drew, so the notes after it are those it would have made without the
    /// cut; the next call uses that step (unless it no longer lands before `ending.at`; the
    /// caller then cuts the note before, as for a primer's last note: [`end_by`]).
    pub fn next_ending(
        &mut self,
        opts: &SampleOptions,
        ending: &Ending,
        rng: &mut ChaCha20Rng,
    ) -> (Note, bool) {
        // The last note needs `room` before the bar line, so no note starts inside it, and a
        // note after which no other fits with that room is the last.
        // Nor does any note start closer to it than the shortest duration: cut there, it
        // would be shorter.
        let room = ending.min_last.max(0.0);
        let guard = room.max(opts.min_duration);
        let slack = if room > 0.0 { 1e-6 } else { 0.0 };
        let below_from = |from: f64| ending.at.map(|at| at - guard - from + slack);
        let below = below_from(self.last_start);
        let lowest = ending.from.map_or(0.0, |from| from - self.last_start);
        let step = match self.next_step.take() {
            Some(step) if below.is_none_or(|b| step < b - 1e-9) && step >= lowest - 1e-9 => step,
            // The longest step the classes hold (4 s) may not reach `from` after a long rest:
            // the note then starts there, and the model reads the step it was given.
            _ => self.draw_step(opts, lowest, below, rng).max(lowest),
        };
        let mut duration = self.draw_duration(opts, rng);
        let start = self.last_start + step;
        // No other note fits after this one when it would start inside the guard.
        let no_more = |at: f64| start + opts.min_duration > at - guard + slack;
        let reaches = ending.at.filter(|&at| {
            start + duration >= at - 1e-9 || (room > 0.0 && at - start < 2.0 * room) || no_more(at)
        });
        if let Some(at) = reaches {
            duration = at - start;
        } else if ending.last {
            duration = duration.max(room);
        }
        let last = ending.last || reaches.is_some();
        let pitch = match ending.last_pitches.filter(|_| last) {
            Some(tonic) => {
                let mut only = tonic;
                if let Some(scale) = &opts.allowed {
                    for (o, s) in only.iter_mut().zip(scale) {
                        *o &= s;
                    }
                }
                // The scale's shift is chosen first, so the last note lands where the
                // melody already is.
                self.key.view_mask(opts.allowed.as_ref(), opts.tonic);
                let real = if only.contains(&true) { only } else { tonic };
                let view = SampleOptions {
                    allowed: Some(self.key.in_view(&real)),
                    ..opts.clone()
                };
                sample_pitch(&self.next.logits, self.head, &view, rng)
            }
            None => {
                let view = SampleOptions {
                    allowed: self.key.view_mask(opts.allowed.as_ref(), opts.tonic),
                    ..opts.clone()
                };
                sample_pitch(&self.next.logits, self.head, &view, rng)
            }
        };
        self.key.read(pitch, duration);
        let mut note = self.feed(pitch, step, duration);
        if !last {
            let next = self.draw_step(opts, 0.0, below_from(note.start), rng);
            note.duration = note.duration.min(next);
            self.next_step = Some(next);
        }
        (note, last)
    }

    /// The step in seconds from the last onset to the next: drawn from a grid model's
    /// distribution, or a regression model's value (snapped to the grid when one is set);
    /// positive, at least `min_duration` (a step may become the note's duration before it)
    /// and, with `below`, landing before that many seconds. A grid's points count from the
    /// melody's bar lines (`opts.bar_lines`), not from the last onset; when none of them lands
    /// before `below`, a multiple of the grid's value from the last onset, and when nothing on
    /// the grid lands there (a grid coarser than the room before the bar line), half the room.
    /// At least `lowest` seconds when that is longer than `min_duration` ([`Ending::from`]).
    fn draw_step(
        &self,
        opts: &SampleOptions,
        lowest: f64,
        below: Option<f64>,
        rng: &mut ChaCha20Rng,
    ) -> f64 {
        let min = opts.min_duration.max(lowest);
        let step = match &self.next.rhythm {
            Some(r) => {
                let unit = opts.grid.map_or(1, |g| g.quanta() as usize);
                opts.grid
                    .and_then(|g| self.grid_steps(g, &opts.bar_lines, min, below))
                    .or_else(|| allowed(unit, min, below))
                    .map(|ok| seconds_of(sample_class(&r.step, &ok, opts.rhythm_temperature, rng)))
            }
            None => {
                let step = self.next.step.max(min).max(QUANTUM_SECONDS);
                match opts.grid {
                    Some(g) => self
                        .snap_onset(step, g, &opts.bar_lines, min, below)
                        .or_else(|| snap(step, g.seconds(), below)),
                    None if below.is_some_and(|b| step >= b - 1e-9) => {
                        snap(step, QUANTUM_SECONDS, below).filter(|&s| s >= min - 1e-9)
                    }
                    None => Some(step),
                }
            }
        };
        // Between the shortest step and the bar line's guard, when both allow one.
        let between = |b: f64| if b > min { (min + b) / 2.0 } else { b / 2.0 };
        step.or(below.map(between)).unwrap_or(QUANTUM_SECONDS)
    }

    /// The next note's duration in seconds, drawn or regressed as [`Generator::draw_step`]
    /// does, at least `min_duration` (and one grid unit).
    fn draw_duration(&self, opts: &SampleOptions, rng: &mut ChaCha20Rng) -> f64 {
        let unit = opts.grid.map_or(1, |g| g.quanta() as usize);
        if let Some(r) = &self.next.rhythm {
            let ok = allowed(unit, opts.min_duration, None)
                .expect("without a bar line some class is always allowed");
            return seconds_of(sample_class(&r.duration, &ok, opts.rhythm_temperature, rng));
        }
        let duration = self.next.duration.max(0.0).max(opts.min_duration);
        match opts.grid {
            Some(g) => snap(duration, g.seconds(), None).unwrap_or(g.seconds()),
            None => duration,
        }
    }

    /// The step classes that land on a point of `grid` counted from `bars`, as
    /// [`on_grid_steps`] keeps them (never 0, at least `min` seconds, before `below`); None
    /// when no positive one does. When the grid divides the bar (1/16 in any meter) its
    /// points are every `unit` classes from the first one, found once; otherwise each class
    /// is tried.
    fn grid_steps(
        &self,
        grid: Grid,
        bars: &BarLines,
        min: f64,
        below: Option<f64>,
    ) -> Option<Allowed> {
        let from = self.last_start;
        let per_bar = bars.every / grid.seconds();
        let lead = (bars.at_or_after(from, grid) - from) / QUANTUM_SECONDS;
        if (per_bar - per_bar.round()).abs() < 1e-9 && (lead - lead.round()).abs() < 1e-6 {
            let (lead, unit) = (lead.round() as usize, grid.quanta() as usize);
            on_grid_steps(min, below, |k| k >= lead && (k - lead).is_multiple_of(unit))
        } else {
            on_grid_steps(min, below, |k| bars.holds(from + seconds_of(k), grid))
        }
    }

    /// The step to the point of `grid` (counted from the bar lines) nearest the onset `step`
    /// gives, at least `min` seconds after the last onset and before `below`; when no point
    /// that far lands before `below`, the latest one after the last onset that does; None
    /// when none does (a step is never 0).
    fn snap_onset(
        &self,
        step: f64,
        grid: Grid,
        bars: &BarLines,
        min: f64,
        below: Option<f64>,
    ) -> Option<f64> {
        let from = self.last_start;
        let lowest = from + min.max(QUANTUM_SECONDS);
        let mut at = bars.nearest(from + step, grid);
        if at < lowest - 1e-9 {
            at = bars.at_or_after(lowest, grid);
        }
        while below.is_some_and(|b| at - from >= b - 1e-9) {
            let earlier = bars.at_or_before(at - 1e-6, grid);
            if earlier <= from + 1e-9 {
                return None;
            }
            at = earlier;
        }
        Some(at - from)
    }

    /// Reads a note the model did not draw (one the melody keeps) as if it had, so that the
    /// notes drawn next continue after it: its step counts from the last onset read, its
    /// pitch is read in the model's key.
    pub fn read(&mut self, note: &Note) {
        let view = self.key.view(note.pitch);
        let step = note.start - self.last_start;
        self.key.read(view, note.duration);
        self.last_start = note.start;
        self.velocity = note.velocity;
        self.next_step = None;
        self.step(view, note.start, step, note.duration);
    }

    /// The model's log-probability, in nats, of `notes` (in onset order) coming next after
    /// what it has read: of each note's pitch (at temperature 1, over all 128 pitches), and
    /// for a model with a grid rhythm head also of its step's and its duration's classes. A
    /// regression head predicts one value, no distribution, so only pitches count there.
    /// How `regenerate` tells which new bars lead best into the notes kept after them.
    pub fn log_likelihood(&self, notes: &[Note]) -> f64 {
        let mut g = self.clone();
        let mut total = 0.0;
        for n in notes {
            total += pitch_log_prob(&g.next.logits, g.head, g.key.view(n.pitch));
            if let Some(r) = &g.next.rhythm {
                let step = class_of(n.start - g.last_start, 0);
                total += class_log_prob(&r.step, step);
                total += class_log_prob(&r.duration, class_of(n.duration, 1));
            }
            g.read(n);
        }
        total
    }

    /// Appends a note after the last one and reads it into the LSTM state.
    fn feed(&mut self, pitch: u8, step: f64, duration: f64) -> Note {
        let note = Note {
            pitch: self.key.real(pitch),
            start: self.last_start + step,
            duration,
            velocity: self.velocity,
        };
        self.last_start = note.start;
        self.step(pitch, note.start, step, duration);
        note
    }

    /// Reads one note (pitch in the model's view, starting at `start` seconds) into the
    /// LSTM state with the stepper and keeps what it predicts for the next.
    fn step(&mut self, pitch: u8, start: f64, step: f64, duration: f64) {
        let x = NoteIn {
            pitch,
            position: self.frame.position(start),
            degree: self.frame.degree(pitch),
            step: step as f32,
            duration: duration as f32,
        };
        let out = self.stepper.read(&mut self.state, x);
        self.next = Prediction {
            logits: out.logits,
            step: out.step,
            duration: out.duration,
            rhythm: out.rhythm,
        };
    }
}

/// Ends every note of `melody` that starts before `start` and still sounds there at `start`:
/// what the generator does to its own notes, for the notes it did not make (a primer's last
/// note, the free last note of an earlier `generate`) when a generated note follows them.
pub fn end_by(melody: &mut [Note], start: f64) {
    for n in melody.iter_mut() {
        if n.start < start && n.end() > start {
            n.duration = start - n.start;
        }
    }
}

/// Primer notes read as one piece (see [`Generator::new`]).
const PRIMER_PIECE: usize = 2048;

/// Picks a pitch from the model's scores under the controls. A scale that excludes every
/// pitch the model would consider falls back to the scale alone, then to no constraint.
///
/// One pass over the 128 pitches per step, in f32 (the precision the network computes in),
/// without sorting: the weights e^((log w − max)/T) are drawn from by inverse CDF in pitch
/// order, and top-k keeps the K highest through a partial selection only when asked. The
/// draw consumes one number from `rng`, and every sum runs in a fixed order, so a seed gives
/// the same notes on every machine.
pub(super) fn sample_pitch(
    logits: &[f32],
    head: Head,
    opts: &SampleOptions,
    rng: &mut ChaCha20Rng,
) -> u8 {
    let n = logits.len().min(PITCHES);
    // Log-weights at temperature 1: log-softmax up to a constant, or the log of the sigmoid
    // outputs that the notebook normalised and sampled.
    let mut logw = [f32::NEG_INFINITY; PITCHES];
    match head {
        Head::Softmax => logw[..n].copy_from_slice(&logits[..n]),
        Head::Sigmoid => {
            for (w, &l) in logw.iter_mut().zip(logits) {
                *w = log_sigmoid(l);
            }
        }
    }
    let allowed = opts.allowed.filter(|a| a.iter().any(|&ok| ok));
    let allows = |p: usize| allowed.as_ref().is_none_or(|a| a[p]);
    // The most likely allowed pitch, the lower one on ties.
    let mut best = (0..n).find(|&p| allows(p)).unwrap_or(0);
    for p in best + 1..n {
        if allows(p) && logw[p].total_cmp(&logw[best]).is_gt() {
            best = p;
        }
    }
    if opts.temperature <= 0.0 || n == 0 {
        return best as u8;
    }
    let mut keep = [false; PITCHES];
    for (p, k) in keep.iter_mut().enumerate().take(n) {
        *k = allows(p);
    }
    if opts.top_k > 0 {
        keep_top_k(&mut keep, &logw, opts.top_k);
    }
    let top = logw[best];
    let mut weights = [0f32; PITCHES];
    for ((w, &l), &k) in weights.iter_mut().zip(&logw).zip(&keep) {
        let x = ((l - top) as f64 / opts.temperature) as f32;
        // Below e^-87 a weight is 0 (the kernel would saturate there instead).
        *w = if k && x >= -87.0 { exp(x) } else { 0.0 };
    }
    let total: f64 = weights.iter().map(|&w| w as f64).sum();
    if !(total > 0.0 && total.is_finite()) {
        return best as u8;
    }
    let mut u = rng.random::<f64>() * total;
    for (p, &w) in weights.iter().enumerate() {
        let w = w as f64;
        if u < w {
            return p as u8;
        }
        u -= w;
    }
    // Only rounding in the running difference gets here.
    best as u8
}

const PITCHES: usize = super::PITCHES as usize;

/// log P(`pitch`) at temperature 1: a log-softmax of the logits, or for the notebook's
/// sigmoid head the log of the outputs normalised to sum to 1, as sampling reads them.
fn pitch_log_prob(logits: &[f32], head: Head, pitch: u8) -> f64 {
    let logw: Vec<f64> = match head {
        Head::Softmax => logits.iter().map(|&l| f64::from(l)).collect(),
        Head::Sigmoid => logits.iter().map(|&l| f64::from(log_sigmoid(l))).collect(),
    };
    logw.get(usize::from(pitch))
        .map_or(f64::NEG_INFINITY, |&l| l - log_sum_exp(&logw))
}

/// log P(`class`) under a rhythm head's logits (a softmax over the classes).
fn class_log_prob(logits: &[f32], class: usize) -> f64 {
    let logw: Vec<f64> = logits.iter().map(|&l| f64::from(l)).collect();
    logw.get(class)
        .map_or(f64::NEG_INFINITY, |&l| l - log_sum_exp(&logw))
}

fn log_sum_exp(x: &[f64]) -> f64 {
    let top = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return top;
    }
    top + x.iter().map(|&v| (v - top).exp()).sum::<f64>().ln()
}

/// log σ(l) = −(max(−l, 0) + ln(1 + e^−|l|)), exact in f32 for logits of any size.
fn log_sigmoid(l: f32) -> f32 {
    -((-l).max(0.0) + ln(1.0 + exp(-l.abs())))
}

/// Narrows `keep` to its `k` pitches of highest log-weight (the lower pitch first on ties),
/// by a partial selection: linear in the pitches, where a sort is n log n.
fn keep_top_k(keep: &mut [bool; PITCHES], logw: &[f32; PITCHES], k: usize) {
    let mut kept = [0u8; PITCHES];
    let mut m = 0;
    for (p, _) in keep.iter().enumerate().filter(|(_, &ok)| ok) {
        kept[m] = p as u8;
        m += 1;
    }
    if k >= m {
        return;
    }
    let order = |a: &u8, b: &u8| {
        logw[*b as usize]
            .total_cmp(&logw[*a as usize])
            .then(a.cmp(b))
    };
    let (_, &mut last, _) = kept[..m].select_nth_unstable_by(k - 1, order);
    for (p, kept) in keep.iter_mut().enumerate() {
        *kept = *kept && order(&(p as u8), &last).is_le();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn logits() -> Vec<f32> {
        (0..128)
            .map(|i| {
                if i == 60 {
                    5.0
                } else if i == 62 {
                    4.0
                } else {
                    -5.0
                }
            })
            .collect()
    }

    /// The tensor network reading `primer` in calls of `piece` notes, carrying its state:
    /// the pitch logits and the step outputs after the last note.
    #[cfg(feature = "torch")]
    fn read_by_the_tensor_network(model: &Model, primer: &[Note], piece: usize) -> [Vec<f32>; 2] {
        let torch = crate::model::torch::Torch::of(model);
        let net = &torch.net;
        let _guard = tch::no_grad_guard();
        let (pitch, position, timing) = super::super::batch::sequence(
            &Encoded::from_notes(primer, Frame::default()),
            crate::model::Device::Cpu,
        );
        let (len, piece) = (pitch.size()[1], piece as i64);
        let mut state = net.zero_state(1);
        let mut at = 0;
        loop {
            let n = piece.min(len - at);
            let (out, next) = net.forward(
                &pitch.narrow(1, at, n),
                &position.narrow(1, at, n),
                &timing.narrow(1, at, n),
                &state,
                0.0,
                n - 1,
            );
            at += n;
            if at == len {
                let floats = |t: &tch::Tensor| super::super::net::floats(&t.select(1, 0));
                return [floats(&out.logits), floats(&out.step)];
            }
            state = next;
        }
    }

    #[cfg(feature = "torch")]
    fn model_for_primers(pointer: bool, rhythm: crate::model::Rhythm) -> Model {
        use crate::model::{Head, Input, ModelConfig};
        let config = ModelConfig {
            hidden: 8,
            layers: 1,
            input: Input::Embed,
            head: Head::Softmax,
            embed: 4,
            pointer,
            position: false,
            degree: false,
            rhythm,
        };
        Model::new(config, crate::model::Device::Cpu, 3)
    }

    #[cfg(feature = "torch")]
    fn long_primer(n: usize) -> Vec<Note> {
        (0..n)
            .map(|i| Note {
                pitch: 60 + (i * 7 % 12) as u8,
                start: i as f64 * 0.25,
                duration: 0.25,
                velocity: 90,
            })
            .collect()
    }

    #[cfg(feature = "torch")]
    #[test]
    fn a_long_primer_read_in_pieces_predicts_as_read_whole() {
        let model = model_for_primers(false, crate::model::Rhythm::Regression);
        let primer = long_primer(2 * PRIMER_PIECE + 5);
        let g = Generator::new(&model, &primer, Frame::default());
        let [logits, step] = read_by_the_tensor_network(&model, &primer, primer.len());
        for (a, b) in g.next.logits.iter().zip(&logits) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        assert!((g.next.step - step[0] as f64).abs() < 1e-4);
    }

    #[cfg(feature = "torch")]
    #[test]
    fn a_long_primer_with_the_pointer_predicts_as_the_tensor_network_read_it_in_pieces() {
        // Until the stage left libtorch, primers were read by the tensor network in pieces
        // of PRIMER_PIECE notes, carrying POINTER_MEMORY keys from piece to piece: the
        // stepper must predict what it predicted, or a seed would give other notes.
        let model = model_for_primers(true, crate::model::Rhythm::Grid);
        let primer = long_primer(PRIMER_PIECE + 300);
        let g = Generator::new(&model, &primer, Frame::default());
        let [logits, step] = read_by_the_tensor_network(&model, &primer, PRIMER_PIECE);
        for (a, b) in g.next.logits.iter().zip(&logits) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        let got = &g.next.rhythm.as_ref().expect("a grid model").step;
        for (a, b) in got.iter().zip(&step) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }

    #[test]
    fn repriming_with_the_stepper_predicts_as_the_network_does() {
        let mut model = Model::open(
            std::path::Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/models/folk.safetensors"
            )),
            crate::model::Device::Cpu,
        )
        .expect("the shipped model");
        // f32 steps, the network's own numbers (int8's cost is evaluate.rs's test).
        model.set_precision(super::super::Precision::F32);
        let phrase = |base: u8| -> Vec<Note> {
            [0u8, 2, 4, 7, 9, 7, 4, 2]
                .iter()
                .enumerate()
                .map(|(i, d)| Note {
                    pitch: base + d,
                    start: i as f64 * 0.3,
                    duration: 0.25,
                    velocity: 80,
                })
                .collect()
        };
        let fresh = Generator::new(&model, &phrase(62), Frame::default());
        // Another phrase first: repriming must forget it.
        let mut g = Generator::new(&model, &phrase(55), Frame::default());
        g.reprime(&phrase(62));
        for (a, b) in g.next.logits.iter().zip(&fresh.next.logits) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
        assert!((g.next.step - fresh.next.step).abs() < 1e-4);
        assert_eq!(g.last_start, fresh.last_start);
    }

    /// Pairs of consecutive notes where the first outlasts the second's start, or where
    /// they start together (a step of 0 would cut the first to nothing).
    fn overlaps(notes: &[Note]) -> Vec<String> {
        notes
            .windows(2)
            .filter(|w| w[0].end() > w[1].start + 1e-9 || w[1].start <= w[0].start)
            .map(|w| {
                format!(
                    "{} at {:.4} for {:.4}, then {} at {:.4}",
                    w[0].pitch, w[0].start, w[0].duration, w[1].pitch, w[1].start
                )
            })
            .collect()
    }

    #[test]
    fn generated_melodies_are_one_line_with_every_head_grid_and_temperature() {
        use crate::model::{Input, ModelConfig, Precision, Rhythm};
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/folk.safetensors");
        let shipped = |precision| {
            let mut m = Model::open(std::path::Path::new(path), crate::model::Device::Cpu)
                .expect("the shipped model");
            m.set_precision(precision);
            m
        };
        // Random weights put mass on every step and duration, with either kind of head.
        let fresh = |rhythm| {
            let config = ModelConfig {
                hidden: 16,
                layers: 1,
                input: Input::Embed,
                head: Head::Softmax,
                embed: 4,
                pointer: false,
                position: false,
                degree: false,
                rhythm,
            };
            Model::seeded(config, 11)
        };
        let models = [
            ("shipped f32", shipped(Precision::F32)),
            ("shipped int8", shipped(Precision::Int8)),
            ("fresh grid", fresh(Rhythm::Grid)),
            ("fresh regression", fresh(Rhythm::Regression)),
        ];
        let primer = crate::music::notes_text::parse_notes("C4 D4 E4 F4", 90).unwrap();
        let grids = [
            None,
            Grid::parse_optional("1/16").unwrap(),
            Grid::parse_optional("1/8t").unwrap(),
        ];
        let (mut legato, mut rests) = (0, 0);
        for (name, model) in &models {
            for grid in grids {
                for temperature in [1.0, 2.5] {
                    for seed in 0..2 {
                        // `generate 64`, `generate 5 bars` (the bar line at 12 s) and the
                        // tonic ending, as live mode and `respond` call it too. Seed 1: bar
                        // lines after an upbeat of a 1/24 note (two classes; the grid counts
                        // from them, so the primer's onsets are off it) and a tonic that
                        // lasts a beat.
                        let bar_lines = BarLines {
                            first: if seed == 1 { 1.0 / 12.0 } else { 0.0 },
                            every: 2.0,
                        };
                        for at in [None, Some(12.0)] {
                            let min_last = if seed == 1 { 0.5 } else { 0.0 };
                            let mut g = Generator::new(model, &primer, Frame::default());
                            let mut rng = ChaCha20Rng::seed_from_u64(seed);
                            let opts = SampleOptions {
                                temperature,
                                rhythm_temperature: temperature,
                                grid,
                                bar_lines,
                                ..SampleOptions::default()
                            };
                            let mut notes = primer[3..].to_vec();
                            let mut ended = false;
                            for i in 0..64 {
                                let ending = Ending {
                                    at,
                                    last: at.is_none() && i == 63,
                                    last_pitches: Some(std::array::from_fn(|p| p % 12 == 2)),
                                    min_last,
                                    from: None,
                                };
                                let (note, last) = g.next_ending(&opts, &ending, &mut rng);
                                if i == 0 {
                                    end_by(&mut notes, note.start);
                                }
                                notes.push(note);
                                if last {
                                    ended = true;
                                    break;
                                }
                            }
                            let bad = overlaps(&notes);
                            let what = format!("{name}, grid {grid:?}, T {temperature}, seed {seed}, bar line {at:?}");
                            assert!(bad.is_empty(), "{what}: {bad:?}");
                            assert!(notes.iter().all(|n| n.duration >= 0.05 - 1e-9), "{what}");
                            if let Some(at) = at {
                                assert!(notes.iter().all(|n| n.end() <= at + 1e-9), "{what}");
                            }
                            if let Some(g) = grid {
                                let off: Vec<f64> = notes[1..]
                                    .iter()
                                    .map(|n| n.start)
                                    .filter(|&t| !bar_lines.holds(t, g))
                                    .collect();
                                assert!(
                                    off.is_empty(),
                                    "{what}: onsets off the bar's grid {off:?}"
                                );
                            }
                            let last = notes.last().unwrap();
                            assert!(
                                !ended || last.duration >= min_last - 1e-6,
                                "{what}: the last note lasts {}",
                                last.duration
                            );
                            for w in notes.windows(2) {
                                legato += usize::from((w[0].end() - w[1].start).abs() < 1e-9);
                                rests += usize::from(w[0].end() < w[1].start - 1e-9);
                            }
                        }
                    }
                }
            }
        }
        // Overlaps became legato, and the rests the model drew are still there.
        assert!(
            legato > 500 && rests > 100,
            "{legato} legato, {rests} rests"
        );
    }

    #[test]
    fn a_note_the_generator_did_not_make_ends_where_a_generated_one_starts() {
        let mut melody = crate::music::notes_text::parse_notes("C4*4+E4*4 r D4*2", 90).unwrap();
        end_by(&mut melody, 1.0);
        let ends: Vec<f64> = melody.iter().map(Note::end).collect();
        assert_eq!(
            ends,
            [1.0, 1.0, 3.5],
            "the chord is cut, the note after 1 s kept"
        );
    }

    #[test]
    fn the_rhythm_has_a_temperature_of_its_own() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/folk.safetensors");
        let model = Model::open(std::path::Path::new(path), crate::model::Device::Cpu).unwrap();
        let primer = crate::music::notes_text::parse_notes("D4 E4 G4 A4", 90).unwrap();
        let melody = |temperature, rhythm_temperature, seed| {
            let mut g = Generator::new(&model, &primer, Frame::default());
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let opts = SampleOptions {
                temperature,
                rhythm_temperature,
                grid: Grid::parse_optional("1/16").unwrap(),
                ..SampleOptions::default()
            };
            let notes: Vec<(u8, i64, i64)> = (0..24)
                .map(|_| g.next(&opts, &mut rng))
                .map(|n| {
                    (
                        n.pitch,
                        (n.start * 48.0).round() as i64,
                        (n.duration * 48.0).round() as i64,
                    )
                })
                .collect();
            notes
        };
        // Both at 0: nothing is left to chance.
        assert_eq!(melody(0.0, 0.0, 1), melody(0.0, 0.0, 2));
        // Greedy pitches, a free rhythm: the seed still changes the melody.
        assert_ne!(melody(0.0, 1.0, 1), melody(0.0, 1.0, 2));
        // A free pitch, a greedy rhythm: every step and duration is the likeliest class,
        // so across seeds the rhythm varies far less than the pitches do.
        let rhythms = |rt| {
            (0..6)
                .map(|seed| {
                    melody(1.0, rt, seed)
                        .iter()
                        .map(|n| (n.1, n.2))
                        .collect::<Vec<_>>()
                })
                .collect::<std::collections::HashSet<_>>()
                .len()
        };
        assert!(
            rhythms(0.0) < rhythms(1.0),
            "{} {}",
            rhythms(0.0),
            rhythms(1.0)
        );
    }

    #[test]
    fn temperature_zero_is_greedy() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let o = SampleOptions {
            temperature: 0.0,
            ..SampleOptions::default()
        };
        assert_eq!(sample_pitch(&logits(), Head::Softmax, &o, &mut rng), 60);
    }

    #[test]
    fn top_k_one_is_greedy_at_any_temperature() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let o = SampleOptions {
            temperature: 5.0,
            top_k: 1,
            ..SampleOptions::default()
        };
        for _ in 0..50 {
            assert_eq!(sample_pitch(&logits(), Head::Softmax, &o, &mut rng), 60);
        }
    }

    #[test]
    fn a_scale_excludes_pitches_outside_it() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut allowed = [false; 128];
        allowed[62] = true;
        allowed[64] = true;
        let o = SampleOptions {
            allowed: Some(allowed),
            ..SampleOptions::default()
        };
        for _ in 0..100 {
            let p = sample_pitch(&logits(), Head::Softmax, &o, &mut rng);
            assert!(p == 62 || p == 64, "{p}");
        }
    }

    #[test]
    fn sampling_follows_the_distribution() {
        // Softmax of (5, 4) over the two likely pitches: 60 about 73% of the time.
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let o = SampleOptions::default();
        let n = 4000;
        let hits = (0..n)
            .filter(|_| sample_pitch(&logits(), Head::Softmax, &o, &mut rng) == 60)
            .count();
        let frac = hits as f64 / n as f64;
        assert!((frac - 0.73).abs() < 0.03, "{frac}");
    }

    #[test]
    fn sigmoid_head_samples_normalised_outputs() {
        // sigmoid(0) = 0.5 for every pitch except one at sigmoid(+inf) = 1: that one has
        // weight 1 / (1 + 127 * 0.5).
        let mut l = vec![0.0f32; 128];
        l[70] = 40.0;
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let n = 20000;
        let hits = (0..n)
            .filter(|_| sample_pitch(&l, Head::Sigmoid, &SampleOptions::default(), &mut rng) == 70)
            .count();
        let frac = hits as f64 / n as f64;
        assert!((frac - 1.0 / 64.5).abs() < 0.004, "{frac}");
    }

    /// Draws `n` pitches and returns how often each came up.
    fn frequencies(logits: &[f32], head: Head, o: &SampleOptions, n: usize) -> Vec<f64> {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let mut hits = vec![0usize; 128];
        for _ in 0..n {
            hits[sample_pitch(logits, head, o, &mut rng) as usize] += 1;
        }
        hits.iter().map(|&h| h as f64 / n as f64).collect()
    }

    #[test]
    fn top_k_draws_from_the_k_most_likely_in_their_proportions() {
        let mut l = logits();
        l[64] = 3.5;
        let o = SampleOptions {
            top_k: 2,
            ..SampleOptions::default()
        };
        let f = frequencies(&l, Head::Softmax, &o, 8000);
        assert_eq!(f[64], 0.0, "the third most likely pitch is never drawn");
        let want = 1.0 / (1.0 + (-1f64).exp());
        assert!((f[60] - want).abs() < 0.025, "{} vs {want}", f[60]);
        assert!((f[60] + f[62] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn top_k_breaks_ties_at_its_boundary_toward_the_lower_pitch() {
        let mut l = logits();
        l[64] = 4.0;
        let o = SampleOptions {
            top_k: 2,
            ..SampleOptions::default()
        };
        let f = frequencies(&l, Head::Softmax, &o, 2000);
        assert!(f[62] > 0.0);
        assert_eq!(f[64], 0.0, "62 and 64 tie for second place: 62 is kept");
    }

    #[test]
    fn scale_temperature_and_top_k_together_follow_the_exact_distribution() {
        // Uneven logits; the exact probabilities computed in f64 the textbook way.
        let l: Vec<f32> = (0..128)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 3.0)
            .collect();
        let mut allowed = [false; 128];
        for p in (48..84).filter(|p| [0, 2, 4, 5, 7, 9, 11].contains(&(p % 12))) {
            allowed[p] = true;
        }
        let o = SampleOptions {
            temperature: 0.7,
            top_k: 6,
            allowed: Some(allowed),
            ..SampleOptions::default()
        };
        let mut kept: Vec<usize> = (0..128).filter(|&p| allowed[p]).collect();
        kept.sort_by(|&a, &b| l[b].total_cmp(&l[a]).then(a.cmp(&b)));
        kept.truncate(6);
        let w: Vec<f64> = kept.iter().map(|&p| (l[p] as f64 / 0.7).exp()).collect();
        let total: f64 = w.iter().sum();
        let n = 40_000;
        let f = frequencies(&l, Head::Softmax, &o, n);
        for (p, &got) in f.iter().enumerate() {
            let want = kept
                .iter()
                .position(|&k| k == p)
                .map_or(0.0, |i| w[i] / total);
            // four standard deviations of a binomial frequency
            let tolerance = 4.0 * (want * (1.0 - want) / n as f64).sqrt() + 1e-12;
            assert!(
                (got - want).abs() <= tolerance,
                "pitch {p}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_pitches() {
        let l: Vec<f32> = (0..128).map(|i| (i % 13) as f32 * 0.3).collect();
        let o = SampleOptions {
            temperature: 1.3,
            top_k: 20,
            ..SampleOptions::default()
        };
        let draw = || {
            let mut rng = ChaCha20Rng::seed_from_u64(42);
            (0..500)
                .map(|_| sample_pitch(&l, Head::Softmax, &o, &mut rng))
                .collect::<Vec<u8>>()
        };
        let first = draw();
        assert_eq!(first, draw());
        assert!(first.iter().any(|&p| p != first[0]), "not a constant");
    }

    #[test]
    fn log_sigmoid_keeps_its_precision_for_logits_of_any_size() {
        let mut l = -200f32;
        while l < 60.0 {
            let want = -(1.0 + (-(l as f64)).exp()).ln();
            let got = log_sigmoid(l) as f64;
            assert!(
                (got - want).abs() <= 3e-7 * want.abs().max(1.0),
                "log sigmoid({l}) = {got}, want {want}"
            );
            l += 0.0137;
        }
    }
}
