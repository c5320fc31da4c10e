//! The shared musical timeline: where the beat is and when a beat falls, wherever it comes
//! from. The player asks one [`BeatSource`] (the leader) for every deadline, so notes, MIDI
//! clock out ticks and quantized starts all follow the same beat: the internal tempo clock,
//! MIDI clock coming in on the input port ([`ClockFollower`]), or Ableton Link.
//!
//! Beats are quarter notes, counted from an origin the source defines: the internal clock's
//! start, the last MIDI Start, Link's shared session. Bar lines fall on whole multiples of
//! the meter's bar length in beats, so `quantize bar` means the same bar to every source.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A musical timeline that other gear may share: where the beat is and when a beat falls.
pub trait BeatSource: Send + Sync {
    /// Tempo in quarter notes per minute.
    fn tempo(&self) -> f64;
    /// The beat (in quarter notes, fractional) at wall time `t`.
    fn beat_at(&self, t: std::time::Instant) -> f64;
    /// The wall time at which beat `b` falls.
    fn time_at(&self, b: f64) -> std::time::Instant;
    /// Whether the transport runs (MIDI clock Stop halts it; internal and Link always run).
    fn running(&self) -> bool {
        true
    }
    /// Bumped by every MIDI Start: the song begins again at beat 0, so whatever plays starts
    /// over. Sources without a transport never bump it.
    fn epoch(&self) -> u64 {
        0
    }
}

pub use crate::music::meter::Quantize;

/// The first multiple of `grid` at or after beat `b`. A start asked for a hair after a grid
/// line (less than a millibeat) still takes that line, since the asking took that long.
pub fn next_line(b: f64, grid: f64) -> f64 {
    if grid.is_nan() || grid <= 0.0 || !b.is_finite() {
        return b;
    }
    ((b - 1e-3) / grid).ceil() * grid
}

/// How far a voice that fell `behind` beats moves on: whole lines of the start grid (a
/// beat without one), so that it keeps its place against the beat and the other voices.
pub fn whole_lines(behind: f64, grid: Option<f64>) -> f64 {
    let g = grid.filter(|g| g.is_finite() && *g > 0.0).unwrap_or(1.0);
    if !behind.is_finite() || behind <= 0.0 {
        return 0.0;
    }
    (behind / g).ceil() * g
}

/// Signed seconds from `from` to `to`.
fn seconds_between(from: Instant, to: Instant) -> f64 {
    if to >= from {
        (to - from).as_secs_f64()
    } else {
        -(from - to).as_secs_f64()
    }
}

/// `t` moved by signed seconds, clamped to what `Instant` can hold comfortably.
fn shifted(t: Instant, secs: f64) -> Instant {
    let secs = secs.clamp(-1e6, 1e6);
    if secs >= 0.0 {
        t + Duration::from_secs_f64(secs)
    } else {
        t.checked_sub(Duration::from_secs_f64(-secs)).unwrap_or(t)
    }
}

/// A straight piece of timeline: `beat` falls at `wall`, and beats go by at `tempo`.
#[derive(Clone, Copy, Debug)]
struct Segment {
    wall: Instant,
    beat: f64,
    tempo: f64,
}

impl Segment {
    fn beat_at(&self, t: Instant) -> f64 {
        self.beat + seconds_between(self.wall, t) * self.tempo / 60.0
    }

    fn time_at(&self, b: f64) -> Instant {
        shifted(self.wall, (b - self.beat) * 60.0 / self.tempo)
    }
}

/// The internal tempo clock: always runs, at `tempo`. A tempo change takes hold at a beat
/// the player names (the last event it sent), so the timeline never jumps.
pub struct InternalClock {
    seg: Mutex<Segment>,
}

impl InternalClock {
    pub fn new(wall: Instant, tempo: f64) -> InternalClock {
        InternalClock {
            seg: Mutex::new(Segment {
                wall,
                beat: 0.0,
                tempo: tempo.max(1e-3),
            }),
        }
    }

    fn seg(&self) -> Segment {
        *self.seg.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From beat `b` on (or from the last change, if that is later) the clock runs at
    /// `tempo`; beat `b` keeps its time.
    pub fn retempo(&self, b: f64, tempo: f64) {
        let mut s = self.seg.lock().unwrap_or_else(|e| e.into_inner());
        if tempo == s.tempo || tempo.is_nan() || tempo <= 0.0 || !b.is_finite() {
            return;
        }
        let b = b.max(s.beat);
        *s = Segment {
            wall: s.time_at(b),
            beat: b,
            tempo,
        };
    }

    /// Beat `b` falls at `wall` and the clock runs at `tempo` from there: handing over from
    /// another leader without a jump.
    pub fn reset(&self, wall: Instant, b: f64, tempo: f64) {
        if b.is_finite() && tempo > 0.0 {
            *self.seg.lock().unwrap_or_else(|e| e.into_inner()) = Segment {
                wall,
                beat: b,
                tempo,
            };
        }
    }
}

impl BeatSource for InternalClock {
    fn tempo(&self) -> f64 {
        self.seg().tempo
    }
    fn beat_at(&self, t: Instant) -> f64 {
        self.seg().beat_at(t)
    }
    fn time_at(&self, b: f64) -> Instant {
        self.seg().time_at(b)
    }
}

/// MIDI clock ticks per quarter note.
pub const TICKS_PER_BEAT: f64 = 24.0;

/// The regression looks at this many recent ticks (two beats).
const WINDOW: usize = 48;

/// No tick for this long and the clock counts as stopped sending: the last tempo is kept.
pub const SILENT_AFTER: Duration = Duration::from_secs(1);

/// A tempo estimate: tick counter `n` as a straight line of wall time.
#[derive(Clone, Copy, Debug)]
struct Fit {
    t0: Instant,
    n0: f64,
    /// Ticks per second.
    rate: f64,
}

impl Fit {
    fn n_at(&self, t: Instant) -> f64 {
        self.n0 + seconds_between(self.t0, t) * self.rate
    }
    fn t_at(&self, n: f64) -> Instant {
        shifted(self.t0, (n - self.n0) / self.rate)
    }
}

/// What the follower knows, behind one lock (the input thread writes, the player reads).
#[derive(Debug)]
struct Follow {
    /// Recent ticks: arrival time and position counter (counted since the follower began,
    /// with the ticks missed in a silence estimated). A tick counts one, except from a
    /// sender faster than `tempo` allows, whose ticks count a fraction (see [`Follow::step`]).
    ticks: VecDeque<(Instant, f64)>,
    /// The last tick's counter (kept when a restart empties `ticks`).
    last: Option<f64>,
    /// What the last tick counted.
    step: f64,
    fit: Option<Fit>,
    /// Tempo to assume before there are two ticks to measure (BPM).
    prior: f64,
    /// Song position (ticks) = counter - offset, while running.
    offset: f64,
    running: bool,
    /// The song position (ticks) the next tick has when the transport (re)starts.
    next_pos: f64,
    epoch: u64,
    /// No tick for a second: the last fit is kept and extrapolated.
    silent: bool,
    /// When the last tick arrived.
    last_t: Option<Instant>,
    /// A Start or Continue placed the next tick at `last + step`, however long it takes.
    placed: bool,
    /// The last tick came about `k` + 1 intervals after the one before: `k` ticks may have
    /// been lost on the way (a MIDI server that misses a period drops that period's
    /// messages), or that tick may just have been late. The next tick decides (see
    /// [`Follow::confirm_loss`]).
    suspect: Option<f64>,
}

impl Follow {
    fn new(prior: f64, epoch: u64) -> Follow {
        Follow {
            ticks: VecDeque::with_capacity(WINDOW + 1),
            last: None,
            step: 1.0,
            fit: None,
            prior: prior.max(1.0),
            offset: 0.0,
            running: true,
            next_pos: 0.0,
            epoch,
            silent: false,
            last_t: None,
            placed: false,
            suspect: None,
        }
    }
}

/// Follows MIDI clock from the input port: tempo and beat phase by a least-squares line
/// through the last two beats of ticks (so one late tick moves the estimate by a fraction
/// of its lateness, not by all of it), song position from Start, Continue and Song
/// Position Pointer. When the ticks stop it keeps the last tempo and goes on counting.
pub struct ClockFollower {
    state: Mutex<Follow>,
}

/// What a message did, so the input thread can tell the prompt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClockEvent {
    /// Ticks came back after a silence.
    Resumed,
}

impl ClockFollower {
    /// `prior`: the tempo to assume until two ticks have arrived.
    pub fn new(prior: f64) -> ClockFollower {
        ClockFollower {
            state: Mutex::new(Follow::new(prior, 0)),
        }
    }

    /// Forgets the clock followed so far (another port, or a new run after the ticks
    /// stopped): no tempo until ticks arrive, and whatever waits on the beat starts over
    /// on the new clock (the epoch moves, as for a Start).
    pub fn reset(&self) {
        let mut f = self.lock();
        let prior = f.tempo();
        *f = Follow::new(prior, f.epoch + 1);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Follow> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A MIDI real-time or system-common message that arrived at `t` (others are ignored).
    pub fn message(&self, t: Instant, m: &[u8]) -> Option<ClockEvent> {
        let mut f = self.lock();
        let status = *m.first()?;
        if status != 0xF8 {
            // Transport moves the count on its own terms: a suspected loss before it is moot.
            f.suspect = None;
        }
        match status {
            0xF8 => return f.tick(t),
            0xFA => {
                f.next_pos = 0.0;
                f.restart(t);
                f.epoch += 1;
            }
            0xFB => f.restart(t),
            0xFC if f.running => {
                f.running = false;
                f.next_pos = f.last.map_or(0.0, |n| n + f.step - f.offset);
            }
            0xF2 => {
                // Position in sixteenths (6 ticks), obeyed while stopped as the spec says.
                let lsb = i64::from(*m.get(1)? & 127);
                let msb = i64::from(*m.get(2)? & 127);
                if !f.running {
                    f.next_pos = ((msb << 7 | lsb) * 6) as f64;
                }
            }
            _ => {}
        }
        None
    }

    /// Whether the ticks stopped a second ago or more (`now` being the time asked); true
    /// once, when it first happens, so the notice is said once.
    pub fn went_silent(&self, now: Instant) -> bool {
        let mut f = self.lock();
        match f.last_t {
            Some(last) if !f.silent && now.saturating_duration_since(last) >= SILENT_AFTER => {
                f.silent = true;
                true
            }
            _ => false,
        }
    }

    /// Whether ticks have arrived (ever) and stopped coming a second ago.
    pub fn is_silent(&self) -> bool {
        self.lock().silent
    }

    /// Whether any tick arrived yet.
    pub fn has_ticks(&self) -> bool {
        self.lock().fit.is_some()
    }
}

impl Follow {
    /// Start or Continue at `t`: the next tick is song position `next_pos`. Where the ticks
    /// had paused (the sender stopped them with its transport), the line is moved so that
    /// the next tick falls about a tick from now, not where the old line would put it:
    /// until that tick arrives the beat is just before the song position, so a quantized
    /// start waits for the master's first bar line, counted from this Start.
    fn restart(&mut self, t: Instant) {
        self.running = true;
        let next = self.last.map_or(0.0, |n| n + self.step);
        self.offset = next - self.next_pos;
        self.placed = true;
        let paused = match (self.fit, self.last_t) {
            (Some(fit), Some(last_t)) => seconds_between(last_t, t) > 1.5 / fit.rate,
            _ => false,
        };
        if self.silent || paused {
            if let Some(fit) = self.fit.as_mut() {
                fit.t0 = t + Duration::from_secs_f64(1.0 / fit.rate);
                fit.n0 = next;
            }
            self.ticks.clear();
        }
    }

    /// What a tick arriving at `t` counts: one, or less when the last beat of ticks came
    /// faster than the fastest `tempo` (so the beat goes on at the tempo shown, and clock
    /// out never outruns it). A beat's worth of ticks is needed to judge: a few ticks
    /// bunched in one period of the MIDI server are not a fast sender.
    fn step(&self, t: Instant) -> f64 {
        let Some(&(front, _)) = self.ticks.front() else {
            return 1.0;
        };
        if self.ticks.len() < TICKS_PER_BEAT as usize {
            return 1.0;
        }
        let span = seconds_between(front, t);
        if span <= 0.0 {
            return self.step;
        }
        let rate = self.ticks.len() as f64 / span;
        (tempo_range().1 * TICKS_PER_BEAT / 60.0 / rate).min(1.0)
    }

    fn tick(&mut self, t: Instant) -> Option<ClockEvent> {
        let mut event = None;
        let step = self.step(t);
        let n = match (self.last, self.fit) {
            (Some(last), Some(fit)) if self.silent => {
                self.silent = false;
                event = Some(ClockEvent::Resumed);
                let n = if self.placed {
                    // A Start or Continue came first and placed this tick.
                    last + step
                } else {
                    // Back after a silence: count the ticks the old tempo says were missed,
                    // so the beat goes on where free running had it.
                    fit.n_at(t).max(last + step)
                };
                self.ticks.clear();
                if step >= 1.0 {
                    n.round()
                } else {
                    n
                }
            }
            (Some(last), Some(fit)) => {
                let last = self.confirm_loss(t, fit).unwrap_or(last);
                self.suspect = self.lost_before(t, fit, step);
                last + step
            }
            (Some(last), None) => last + step,
            (None, _) => {
                // The first tick: beat 0 unless a Start or Continue said otherwise.
                self.offset = -self.next_pos;
                0.0
            }
        };
        if event.is_some() {
            self.suspect = None;
        }
        self.placed = false;
        self.last_t = Some(t);
        self.step = step;
        self.last = Some(n);
        self.ticks.push_back((t, n));
        while self.ticks.len() > WINDOW {
            self.ticks.pop_front();
        }
        self.fit = Some(match step < 1.0 {
            // Faster than `tempo` allows: the line runs at the fastest tempo through the
            // newest tick (no fit to make, and a reader this busy has no time to spare).
            true => Fit {
                t0: t,
                n0: n,
                rate: tempo_range().1 * TICKS_PER_BEAT / 60.0,
            },
            false => {
                let prior = self
                    .fit
                    .map_or(self.prior * TICKS_PER_BEAT / 60.0, |f| f.rate);
                regression(&self.ticks, prior)
            }
        });
        event
    }

    fn tempo(&self) -> f64 {
        self.fit
            .map_or(self.prior, |f| f.rate * 60.0 / TICKS_PER_BEAT)
    }

    /// How many ticks may have been lost before a tick arriving at `t`: the gap since the
    /// last tick holds about two intervals or more (and at most a few: longer is a pause,
    /// which a Start or the silence rule handles). Judged only on a steady clock of at
    /// most `LOSS_MAX_BPM`, where a tick interval spans many server periods, so that ticks
    /// bunched into periods never look lost.
    fn lost_before(&self, t: Instant, fit: Fit, step: f64) -> Option<f64> {
        let interval = 1.0 / fit.rate;
        // Eight ticks make a line that leaves a late tick out (`regression`).
        let steady = self.ticks.len() >= 8 && step >= 1.0;
        if !steady || fit.rate * 60.0 / TICKS_PER_BEAT > LOSS_MAX_BPM || self.placed {
            return None;
        }
        let gap = seconds_between(self.last_t?, t) / interval;
        (LOST_GAP..=1.0 + LOSS_MAX as f64 + 0.5)
            .contains(&gap)
            .then(|| (gap.round() - 1.0).max(1.0))
    }

    /// At a tick arriving at `t`: when the tick before came a suspect gap after its own
    /// predecessor and this one falls where the line through the ticks before the gap puts
    /// the tick after the lost ones, they were lost, so the last tick counts them. A late
    /// tick is followed by ones that catch up with the line at the old count instead, at
    /// once or over a few ticks (the line leaves late ticks out: [`LATE_TICK`]). Returns
    /// the corrected counter of the last tick.
    fn confirm_loss(&mut self, t: Instant, fit: Fit) -> Option<f64> {
        let lost = self.suspect.take()?;
        let expected = self.last? + lost + 1.0;
        if (fit.n_at(t) - expected).abs() > CONFIRM {
            return None;
        }
        let back = self.ticks.back_mut()?;
        back.1 += lost;
        let last = self.last? + lost;
        self.last = Some(last);
        Some(last)
    }
}

/// A gap of this many tick intervals or more between two ticks makes the ticks between
/// them suspects of loss (one lost tick leaves a gap of two).
const LOST_GAP: f64 = 1.6;
/// At most this many ticks lost in a row are counted; a longer gap is a pause.
const LOSS_MAX: usize = 3;
/// Lost ticks are counted only up to this tempo (BPM): above it a tick interval spans too
/// few server periods (10 ms at 250 BPM) to tell a loss from ticks bunched into periods.
const LOSS_MAX_BPM: f64 = 250.0;
/// The tick after a suspect gap confirms the loss when it arrives within this fraction of
/// an interval of where the line puts the tick after the lost ones.
const CONFIRM: f64 = 0.2;

/// The tempi `tempo` allows (BPM): what the follower shows and counts beats at.
fn tempo_range() -> (f64, f64) {
    crate::settings::Live::Tempo
        .spec()
        .kind
        .range()
        .unwrap_or((10.0, 960.0))
}

/// Ticks later than this behind the line (beyond the median's lateness) are left out of the
/// second fit: MIDI arrives late, never early, so a burst of ticks a stalled sender or
/// server delivers late would otherwise drag the beat late for the whole window.
const LATE_TICK: f64 = 0.002;

/// A robust line through the ticks: least squares, then least squares again without the
/// ticks that arrived much later than the first line says (when most ticks remain).
fn regression(ticks: &VecDeque<(Instant, f64)>, prior_rate: f64) -> Fit {
    let all: Vec<(Instant, f64)> = ticks.iter().copied().collect();
    let first = least_squares(&all, prior_rate);
    if all.len() < 8 {
        return first;
    }
    let lateness: Vec<f64> = all
        .iter()
        .map(|(t, n)| seconds_between(first.t_at(*n), *t))
        .collect();
    let mut sorted = lateness.clone();
    sorted.sort_by(f64::total_cmp);
    let limit = sorted[sorted.len() / 2] + LATE_TICK;
    let kept: Vec<(Instant, f64)> = all
        .iter()
        .zip(&lateness)
        .filter(|(_, late)| **late <= limit)
        .map(|(tick, _)| *tick)
        .collect();
    if kept.len() == all.len() || kept.len() < all.len() / 2 {
        return first;
    }
    let mut fit = least_squares(&kept, first.rate);
    // Anchored at the newest tick's time, as the first fit was.
    let t_last = all[all.len() - 1].0;
    fit.n0 = fit.n_at(t_last);
    fit.t0 = t_last;
    fit
}

/// Least squares n = n0 + rate·(t − t0) through the ticks; with one tick, a line of the
/// prior rate through it. The rate is kept within what `tempo` allows (10 to 960 BPM).
fn least_squares(ticks: &[(Instant, f64)], prior_rate: f64) -> Fit {
    let (t0, n_first) = ticks[0];
    let len = ticks.len() as f64;
    let xs = || ticks.iter().map(|(t, _)| seconds_between(t0, *t));
    let ys = || ticks.iter().map(|(_, n)| *n - n_first);
    let mx = xs().sum::<f64>() / len;
    let my = ys().sum::<f64>() / len;
    let sxx: f64 = xs().map(|x| (x - mx) * (x - mx)).sum();
    let sxy: f64 = xs().zip(ys()).map(|(x, y)| (x - mx) * (y - my)).sum();
    let (lo, hi) = tempo_range();
    let (lo, hi) = (lo * TICKS_PER_BEAT / 60.0, hi * TICKS_PER_BEAT / 60.0);
    let rate = if ticks.len() >= 2 && sxx > 0.0 {
        (sxy / sxx).clamp(lo, hi)
    } else {
        prior_rate.clamp(lo, hi)
    };
    // The line through the centroid, anchored at the newest tick's time.
    let t_last = ticks[ticks.len() - 1].0;
    let x_last = seconds_between(t0, t_last);
    Fit {
        t0: t_last,
        n0: n_first + my + rate * (x_last - mx),
        rate,
    }
}

impl BeatSource for ClockFollower {
    fn tempo(&self) -> f64 {
        self.lock().tempo()
    }

    fn beat_at(&self, t: Instant) -> f64 {
        let f = self.lock();
        match (f.running, f.fit) {
            (true, Some(fit)) => (fit.n_at(t) - f.offset) / TICKS_PER_BEAT,
            _ => f.next_pos / TICKS_PER_BEAT,
        }
    }

    fn time_at(&self, b: f64) -> Instant {
        let f = self.lock();
        match (f.running, f.fit) {
            (true, Some(fit)) => fit.t_at(b * TICKS_PER_BEAT + f.offset),
            // Stopped: no beat falls until the transport runs again.
            _ => Instant::now() + Duration::from_secs(3600),
        }
    }

    fn running(&self) -> bool {
        let f = self.lock();
        f.running && f.fit.is_some()
    }

    fn epoch(&self) -> u64 {
        self.lock().epoch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_voice_that_fell_behind_moves_on_by_whole_grid_lines() {
        assert_eq!(whole_lines(0.004, Some(1.0)), 1.0);
        assert_eq!(whole_lines(1.5, Some(1.0)), 2.0);
        assert_eq!(whole_lines(0.3, Some(4.0)), 4.0);
        assert_eq!(whole_lines(0.3, None), 1.0);
        assert_eq!(whole_lines(0.0, Some(1.0)), 0.0);
        assert_eq!(whole_lines(-0.5, None), 0.0);
    }

    /// A deterministic jitter in [-1, 1): a linear congruential sequence.
    struct Jitter(u64);
    impl Jitter {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        }
    }

    /// Feeds ticks at `bpm` from tick `from` (times from `t0`), each late by up to
    /// `jitter_ms` (never early: MIDI arrives late, not early).
    fn feed(
        f: &ClockFollower,
        t0: Instant,
        bpm: f64,
        from: usize,
        count: usize,
        jitter_ms: f64,
        j: &mut Jitter,
    ) -> Vec<Instant> {
        let interval = 60.0 / bpm / TICKS_PER_BEAT;
        (from..from + count)
            .map(|k| {
                let ideal = t0 + Duration::from_secs_f64(k as f64 * interval);
                let late = Duration::from_secs_f64((j.next() + 1.0) / 2.0 * jitter_ms / 1e3);
                f.message(ideal + late, &[0xF8]);
                ideal
            })
            .collect()
    }

    #[test]
    fn tempo_from_jittered_ticks_is_close_where_tick_to_tick_is_not() {
        let f = ClockFollower::new(120.0);
        let t0 = Instant::now();
        let mut j = Jitter(7);
        feed(&f, t0, 100.0, 0, 96, 2.0, &mut j);
        let tempo = f.tempo();
        // Tick to tick, 2 ms of jitter on a 25 ms tick would be up to ±8 % (±8 BPM).
        assert!((tempo - 100.0).abs() < 0.5, "estimated {tempo}");
    }

    /// Ticks at 100 BPM from `t0` with the ones in `lost` never arriving and `late` ones
    /// (tick, ms) arriving late; returns the follower's error at beat 8 (tick 192), in ms.
    fn error_at_beat_8(lost: &[usize], late: &[(usize, f64)]) -> f64 {
        let f = ClockFollower::new(100.0);
        let t0 = Instant::now();
        let interval = 0.025;
        f.message(t0, &[0xFA]);
        for k in 0..180 {
            if lost.contains(&k) {
                continue;
            }
            let ms = late.iter().find(|l| l.0 == k).map_or(0.0, |l| l.1);
            f.message(
                t0 + Duration::from_secs_f64(k as f64 * interval + ms / 1e3),
                &[0xF8],
            );
        }
        let want = t0 + Duration::from_secs_f64(192.0 * interval);
        seconds_between(want, f.time_at(8.0)) * 1e3
    }

    #[test]
    fn a_lost_tick_is_counted_once_the_next_one_arrives_on_time() {
        assert!(error_at_beat_8(&[], &[]).abs() < 0.5);
        // Without counting it, every beat after would come one tick (25 ms) late.
        for lost in [&[100][..], &[100, 101], &[60, 130, 131, 132]] {
            let err = error_at_beat_8(lost, &[]);
            assert!(err.abs() < 0.5, "lost {lost:?}: beat 8 off by {err:.2} ms");
        }
    }

    #[test]
    fn a_late_tick_and_its_catching_up_are_not_a_loss() {
        // Tick 100 arrives 20 ms late (a stalled period): a gap of 1.8 intervals, then 0.2.
        let err = error_at_beat_8(&[], &[(100, 20.0)]);
        assert!(err.abs() < 1.0, "beat 8 off by {err:.2} ms");
    }

    #[test]
    fn a_sudden_slower_tempo_is_not_taken_for_lost_ticks() {
        // 120 BPM, then at once 60 BPM: twice the interval, every tick, never a loss.
        let f = ClockFollower::new(120.0);
        let t0 = Instant::now();
        f.message(t0, &[0xFA]);
        let mut t = 0.0;
        for k in 0..96 {
            f.message(t0 + Duration::from_secs_f64(t), &[0xF8]);
            t += if k < 48 {
                60.0 / 120.0 / 24.0
            } else {
                60.0 / 60.0 / 24.0
            };
        }
        // 96 ticks since Start: beat 4 at the last tick.
        let last = t - 60.0 / 60.0 / 24.0;
        let got = f.beat_at(t0 + Duration::from_secs_f64(last));
        assert!((got - 95.0 / 24.0).abs() < 0.01, "beat {got}");
    }

    #[test]
    fn beat_phase_locks_to_the_ticks_after_start() {
        let f = ClockFollower::new(120.0);
        let t0 = Instant::now();
        let mut j = Jitter(11);
        let interval = 0.025; // 100 BPM
        feed(&f, t0, 100.0, 0, 30, 1.5, &mut j);
        // Start just before tick 30: that tick is song position 0.
        f.message(t0 + Duration::from_secs_f64(29.5 * interval), &[0xFA]);
        assert_eq!(f.epoch(), 1);
        let ideal = feed(&f, t0, 100.0, 30, 120, 1.5, &mut j);
        assert!(f.running());
        // Beat 4 (tick 96 after Start) falls where the sender sent it, give or take the
        // jitter's mean (the ticks are 0.75 ms late on average).
        let want = ideal[96];
        let got = f.time_at(4.0);
        let err = seconds_between(want, got);
        assert!(
            (0.0..0.0015).contains(&err),
            "beat 4 off by {:.3} ms",
            err * 1e3
        );
        let b = f.beat_at(want + Duration::from_millis(300));
        assert!((b - 4.5).abs() < 0.01, "beat {b}");
        // And in the future, by extrapolation.
        let far = f.time_at(8.0);
        let err = seconds_between(t0 + Duration::from_secs_f64((30.0 + 192.0) * interval), far);
        assert!(err.abs() < 0.003, "beat 8 off by {:.3} ms", err * 1e3);
    }

    #[test]
    fn a_burst_of_late_ticks_does_not_drag_the_beat() {
        let f = ClockFollower::new(120.0);
        let t0 = Instant::now();
        let mut j = Jitter(13);
        let interval = 0.025;
        feed(&f, t0, 100.0, 0, 60, 0.5, &mut j);
        // A stall: ticks 60..68 arrive 20 ms late (the last ones bunched up).
        for k in 60..68 {
            let late = Duration::from_secs_f64(0.020 - (k - 60) as f64 * 0.0025);
            f.message(
                t0 + Duration::from_secs_f64(k as f64 * interval) + late,
                &[0xF8],
            );
        }
        feed(&f, t0, 100.0, 68, 4, 0.5, &mut j);
        // Beat 3 after the first tick (tick 72) is where the sender put it.
        let err = seconds_between(
            t0 + Duration::from_secs_f64(72.0 * interval),
            f.time_at(3.0),
        );
        assert!(err.abs() < 0.001, "beat 3 off by {:.3} ms", err * 1e3);
        assert!((f.tempo() - 100.0).abs() < 0.5, "{}", f.tempo());
    }

    #[test]
    fn follows_a_tempo_change_within_two_beats() {
        let f = ClockFollower::new(120.0);
        let t0 = Instant::now();
        let mut j = Jitter(3);
        let slow = feed(&f, t0, 100.0, 0, 96, 1.0, &mut j);
        assert!((f.tempo() - 100.0).abs() < 0.3);
        let t1 = *slow.last().unwrap() + Duration::from_millis(25);
        feed(&f, t1, 140.0, 0, 48, 1.0, &mut j);
        assert!((f.tempo() - 140.0).abs() < 0.5, "after: {}", f.tempo());
    }

    #[test]
    fn stop_freezes_and_continue_resumes_from_the_song_position() {
        let f = ClockFollower::new(120.0);
        let t0 = Instant::now();
        let mut j = Jitter(5);
        f.message(t0, &[0xFA]);
        feed(&f, t0, 120.0, 0, 48, 0.0, &mut j);
        assert!((f.beat_at(t0 + Duration::from_secs_f64(47.0 / 48.0)) - 47.0 / 24.0).abs() < 1e-6);
        f.message(t0 + Duration::from_secs(1), &[0xFC]);
        assert!(!f.running());
        assert_eq!(f.beat_at(t0 + Duration::from_secs(5)), 2.0);
        // Song position pointer: sixteenth 16 = beat 4.
        f.message(t0 + Duration::from_secs(2), &[0xF2, 16, 0]);
        assert_eq!(f.beat_at(t0 + Duration::from_secs(5)), 4.0);
        f.message(t0 + Duration::from_secs(3), &[0xFB]);
        assert!(f.running());
        assert_eq!(f.epoch(), 1, "a continue is not a start");
        // The ticks stopped with the transport: the next tick is song position 4 beats,
        // expected about a tick after the Continue (not where the old ticks' line was).
        let next = t0 + Duration::from_secs(3) + Duration::from_secs_f64(1.0 / 48.0);
        assert!((f.beat_at(next) - 4.0).abs() < 1e-6, "{}", f.beat_at(next));
    }

    #[test]
    fn a_silence_keeps_the_last_tempo_and_resumes_in_phase() {
        let f = ClockFollower::new(120.0);
        let t0 = Instant::now();
        let mut j = Jitter(9);
        let ideal = feed(&f, t0, 100.0, 0, 96, 0.5, &mut j);
        let last = *ideal.last().unwrap();
        assert!(!f.went_silent(last + Duration::from_millis(500)));
        assert!(f.went_silent(last + Duration::from_millis(1100)));
        assert!(
            !f.went_silent(last + Duration::from_millis(1200)),
            "said once"
        );
        assert!(f.is_silent());
        assert!((f.tempo() - 100.0).abs() < 0.3, "kept {}", f.tempo());
        assert!(f.running(), "free running goes on");
        // The sender comes back on its own grid 2 s later: 80 ticks were missed.
        let back = feed(&f, t0, 100.0, 176, 4, 0.5, &mut j);
        assert!(!f.is_silent());
        let b = f.beat_at(back[3]);
        assert!((b - 179.0 / 24.0).abs() < 0.01, "beat {b}");
    }

    #[test]
    fn ticks_faster_than_the_fastest_tempo_count_the_beat_at_that_tempo() {
        let f = ClockFollower::new(120.0);
        let t0 = Instant::now();
        let tick = |k: u64| t0 + Duration::from_micros(100 * k); // 10 kHz
        for k in 0..20_000 {
            f.message(tick(k), &[0xF8]);
        }
        let fastest = tempo_range().1;
        assert!((f.tempo() - fastest).abs() < 1.0, "shows {}", f.tempo());
        // One second of ticks: the beat moved as far as the tempo shown says.
        let beats = f.beat_at(tick(19_999)) - f.beat_at(tick(9_999));
        let want = fastest / 60.0;
        assert!(
            (beats - want).abs() < 0.05 * want,
            "{beats} beats in a second"
        );
        // And the next beats fall at that tempo's pace.
        let b = f.beat_at(tick(19_999));
        let gap = seconds_between(f.time_at(b), f.time_at(b + 1.0));
        assert!((gap - 60.0 / fastest).abs() < 1e-3, "a beat lasts {gap} s");
    }

    #[test]
    fn a_burst_of_a_few_ticks_still_counts_each_tick() {
        let f = ClockFollower::new(120.0);
        let t0 = Instant::now();
        let mut j = Jitter(17);
        feed(&f, t0, 100.0, 0, 60, 0.0, &mut j);
        // Eight ticks arrive at once (a stalled server), then the grid goes on.
        let at = t0 + Duration::from_secs_f64(68.0 * 0.025);
        for _ in 0..8 {
            f.message(at, &[0xF8]);
        }
        feed(&f, t0, 100.0, 68, 24, 0.0, &mut j);
        let b = f.beat_at(t0 + Duration::from_secs_f64(91.0 * 0.025));
        assert!((b - 91.0 / 24.0).abs() < 0.02, "beat {b}");
    }

    #[test]
    fn a_continue_after_the_ticks_stopped_starts_at_the_song_position() {
        let f = ClockFollower::new(120.0);
        let t0 = Instant::now();
        let mut j = Jitter(19);
        f.message(t0, &[0xFA]);
        feed(&f, t0, 120.0, 0, 96, 0.0, &mut j);
        let stop = t0 + Duration::from_secs(2);
        f.message(stop, &[0xFC]);
        // The sender stops its ticks too; five seconds later it continues from bar 3.
        assert!(f.went_silent(stop + Duration::from_secs(2)));
        f.message(stop + Duration::from_secs(4), &[0xF2, 32, 0]);
        let go = stop + Duration::from_secs(5);
        f.message(go, &[0xFB]);
        let b = f.beat_at(go);
        assert!((b - 8.0).abs() < 0.1, "beat {b} at the Continue");
        f.message(go + Duration::from_millis(20), &[0xF8]);
        let b = f.beat_at(go + Duration::from_millis(20));
        assert!(
            (b - 8.0).abs() < 1e-6,
            "the first tick is the song position: {b}"
        );
    }

    #[test]
    fn a_start_after_a_short_pause_in_the_ticks_locks_to_the_new_ticks_alone() {
        let f = ClockFollower::new(120.0);
        let t0 = Instant::now();
        let mut j = Jitter(23);
        f.message(t0, &[0xFA]);
        feed(&f, t0, 90.0, 0, 200, 0.5, &mut j);
        let interval = 60.0 / 90.0 / 24.0;
        let stop = t0 + Duration::from_secs_f64(200.0 * interval);
        f.message(stop, &[0xFC]);
        // Half a second without ticks (too short to count as silent), then Start and the
        // ticks again on the sender's new grid, a third of a tick off the old one.
        let go = stop + Duration::from_millis(500);
        f.message(go, &[0xFA]);
        assert!(
            f.beat_at(go) < 0.0,
            "before the first tick the song has not begun: {}",
            f.beat_at(go)
        );
        let t1 = go + Duration::from_secs_f64(interval / 3.0);
        let ideal = feed(&f, t1, 90.0, 0, 60, 0.5, &mut j);
        let err = seconds_between(ideal[48], f.time_at(2.0));
        assert!(err.abs() < 0.001, "beat 2 off by {:.3} ms", err * 1e3);
        assert!((f.tempo() - 90.0).abs() < 0.09, "tempo {}", f.tempo());
    }

    #[test]
    fn a_reset_forgets_the_tempo_and_starts_over() {
        let f = ClockFollower::new(120.0);
        let t0 = Instant::now();
        let mut j = Jitter(29);
        feed(&f, t0, 100.0, 0, 48, 0.0, &mut j);
        assert!(f.has_ticks() && f.running());
        let epoch = f.epoch();
        f.reset();
        assert!(!f.has_ticks() && !f.running(), "no tempo until ticks come");
        assert_eq!(f.epoch(), epoch + 1, "what plays starts over");
        let t1 = t0 + Duration::from_secs(5);
        feed(&f, t1, 140.0, 0, 49, 0.0, &mut j);
        assert!(
            (f.beat_at(t1) - 0.0).abs() < 1e-6,
            "the first tick is beat 0"
        );
        assert!((f.tempo() - 140.0).abs() < 0.01, "tempo {}", f.tempo());
    }

    #[test]
    fn internal_clock_retempo_is_continuous() {
        let t0 = Instant::now();
        let c = InternalClock::new(t0, 120.0);
        assert_eq!(c.time_at(2.0), t0 + Duration::from_secs(1));
        c.retempo(2.0, 60.0);
        assert_eq!(c.time_at(2.0), t0 + Duration::from_secs(1));
        assert_eq!(c.time_at(3.0), t0 + Duration::from_secs(2));
        assert!((c.beat_at(t0 + Duration::from_secs(3)) - 4.0).abs() < 1e-9);
        // A change at an earlier beat than the last one takes hold at the last one.
        c.retempo(1.0, 120.0);
        assert_eq!(c.time_at(2.0), t0 + Duration::from_secs(1));
        assert_eq!(c.time_at(4.0), t0 + Duration::from_secs(2));
    }

    #[test]
    fn next_line_rounds_up_to_the_grid() {
        assert_eq!(next_line(5.3, 4.0), 8.0);
        assert_eq!(next_line(8.0, 4.0), 8.0);
        assert_eq!(next_line(8.0005, 4.0), 8.0);
        assert_eq!(next_line(8.01, 1.0), 9.0);
        assert_eq!(next_line(-0.2, 1.0), 0.0);
        assert_eq!(Quantize::Bar.grid(3.0), Some(3.0));
        assert_eq!(Quantize::Off.grid(4.0), None);
    }
}
