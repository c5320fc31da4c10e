//! Ableton Link (`link on`): tempo and beat phase shared with every Link peer on the local
//! network, through `rusty_link` (Ableton's own C wrapper, `abl_link`).
//!
//! Compiled only with the `link` feature, because Link is GPL-2.0-or-later and a binary that
//! contains it is too; the default build stays MIT (README, "Ableton Link").
//!
//! Link keeps its own monotonic clock in microseconds, while the player schedules on
//! `Instant`. [`Link`] maps one onto the other through an offset sampled between the two
//! clocks, re-sampled by the follower thread so the two cannot drift apart during a long
//! session. The bar of the meter is Link's quantum, so peers agree on where bar 1 falls.
//!
//! [`Membership`] is one stay in a Link session: it enables Link and runs a small thread
//! that keeps the player's live `tempo` control and the session tempo equal, whichever side
//! changed (a peer, `set tempo`, a knob mapped to tempo).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusty_link::{AblLink, SessionState};

use super::timeline::BeatSource;
use super::Controls;
use crate::music::meter::Meter;
use crate::settings::Live;

/// How often the follower compares the tempos and re-samples the clock offset: well under
/// what an ear notices as a tempo change arriving late, and a negligible load.
const FOLLOW_EVERY: Duration = Duration::from_millis(20);

/// A clock sample whose two `Instant` reads are further apart than this was interrupted
/// (the thread was preempted between them) and is not used.
const GOOD_SAMPLE: Duration = Duration::from_micros(50);

/// Link's quantum for a meter: the bar, in quarter notes (4/4 → 4, 6/8 → 3, 2/2 → 4).
pub fn quantum(meter: Meter) -> f64 {
    meter.bar_whole_notes() * 4.0
}

/// Tempo as tms shows and stores it. Link sends tempo to peers as whole microseconds per
/// beat, so a peer's 97 arrives as 96.99997; a thousandth of a beat per minute is far below
/// what anyone hears, and `tempo = 97` is what the musician set.
pub fn shown_tempo(bpm: f64) -> f64 {
    (bpm * 1000.0).round() / 1000.0
}

/// One Link instance and the mapping between its clock and `Instant`.
pub struct Link {
    link: AblLink,
    /// Captured and committed under the lock: the app-thread calls are thread-safe, but one
    /// state object is reused instead of allocating one per question.
    state: Mutex<SessionState>,
    /// `Instant`s are measured in microseconds from here.
    base: Instant,
    /// Link's clock minus the microseconds since `base`.
    offset_us: AtomicI64,
    /// The quantum (bar length in quarter notes) as f64 bits.
    quantum: AtomicU64,
}

impl Link {
    /// A Link instance at `tempo` with the bar of `meter`, not yet enabled.
    pub fn new(tempo: f64, meter: Meter) -> Link {
        let link = Link {
            link: AblLink::new(tempo),
            state: Mutex::new(SessionState::new()),
            base: Instant::now(),
            offset_us: AtomicI64::new(0),
            quantum: AtomicU64::new(quantum(meter).to_bits()),
        };
        link.resync_clock();
        link
    }

    pub fn enable(&self, on: bool) {
        self.link.enable(on);
    }

    pub fn is_enabled(&self) -> bool {
        self.link.is_enabled()
    }

    /// Other Link applications in the session (this one not counted).
    pub fn peers(&self) -> u64 {
        self.link.num_peers()
    }

    pub fn set_meter(&self, meter: Meter) {
        self.quantum
            .store(quantum(meter).to_bits(), Ordering::Relaxed);
    }

    /// The bar length in quarter notes.
    pub fn quantum(&self) -> f64 {
        f64::from_bits(self.quantum.load(Ordering::Relaxed))
    }

    /// Changes the session's tempo for every peer, from now on.
    pub fn set_tempo(&self, bpm: f64) {
        let now = self.link.clock_micros();
        let mut state = self.state();
        self.link.capture_app_session_state(&mut state);
        state.set_tempo(bpm, now);
        self.link.commit_app_session_state(&state);
    }

    /// Where in the bar `t` falls: 0 up to the quantum, in quarter notes.
    pub fn phase_at(&self, t: Instant) -> f64 {
        let at = self.link_micros(t);
        let mut state = self.state();
        self.link.capture_app_session_state(&mut state);
        state.phase_at_time(at, self.quantum())
    }

    fn state(&self) -> MutexGuard<'_, SessionState> {
        // The state holds no invariant of ours that a panic elsewhere could break.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Samples both clocks and stores their offset. Of three tries, the one whose two
    /// `Instant` reads are closest is kept, as the Link reading lies between them.
    fn resync_clock(&self) {
        let mut best: Option<(Duration, i64)> = None;
        for _ in 0..3 {
            let before = Instant::now();
            let link = self.link.clock_micros();
            let after = Instant::now();
            let spread = after - before;
            let middle = before + spread / 2;
            let offset = link - self.micros_since_base(middle);
            if best.is_none_or(|(s, _)| spread < s) {
                best = Some((spread, offset));
            }
            if spread <= GOOD_SAMPLE {
                break;
            }
        }
        if let Some((_, offset)) = best {
            self.offset_us.store(offset, Ordering::Relaxed);
        }
    }

    fn micros_since_base(&self, t: Instant) -> i64 {
        match t.checked_duration_since(self.base) {
            Some(d) => d.as_micros() as i64,
            None => -((self.base - t).as_micros() as i64),
        }
    }

    /// `t` on Link's clock.
    fn link_micros(&self, t: Instant) -> i64 {
        self.micros_since_base(t) + self.offset_us.load(Ordering::Relaxed)
    }

    /// A time on Link's clock as an `Instant`.
    fn instant(&self, link_us: i64) -> Instant {
        let rel = link_us - self.offset_us.load(Ordering::Relaxed);
        if rel >= 0 {
            self.base + Duration::from_micros(rel as u64)
        } else {
            // Before this process could have scheduled anything: the earliest we can name.
            self.base
                .checked_sub(Duration::from_micros(rel.unsigned_abs()))
                .unwrap_or(self.base)
        }
    }
}

impl BeatSource for Link {
    fn tempo(&self) -> f64 {
        let mut state = self.state();
        self.link.capture_app_session_state(&mut state);
        state.tempo()
    }

    fn beat_at(&self, t: Instant) -> f64 {
        let at = self.link_micros(t);
        let mut state = self.state();
        self.link.capture_app_session_state(&mut state);
        state.beat_at_time(at, self.quantum())
    }

    fn time_at(&self, b: f64) -> Instant {
        let at = {
            let mut state = self.state();
            self.link.capture_app_session_state(&mut state);
            state.time_at_beat(b, self.quantum())
        };
        self.instant(at)
    }
}

/// Being in a Link session: Link enabled, and a thread keeping the live `tempo` control and
/// the session tempo equal. Dropping it leaves the session.
pub struct Membership {
    link: Arc<Link>,
    stop: Arc<AtomicBool>,
    follower: Option<JoinHandle<()>>,
}

impl Membership {
    /// Joins the Link session on the local network (or starts one) at `controls`' tempo.
    /// A session that already runs keeps its tempo, and this one adopts it.
    pub fn join(meter: Meter, controls: Arc<Controls>) -> Membership {
        let tempo = controls.get(Live::Tempo);
        let link = Arc::new(Link::new(tempo, meter));
        link.enable(true);
        let stop = Arc::new(AtomicBool::new(false));
        let follower = {
            let (link, stop) = (link.clone(), stop.clone());
            std::thread::Builder::new()
                .name("tms-link".into())
                .spawn(move || follow(&link, &controls, &stop, tempo))
                .ok()
        };
        Membership {
            link,
            stop,
            follower,
        }
    }

    /// The session's timeline, for the player to follow.
    pub fn link(&self) -> &Arc<Link> {
        &self.link
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.follower.take() {
            let _ = t.join();
        }
        self.link.enable(false);
    }
}

/// The follower thread: a tempo changed here (`set tempo`, a knob) goes to the session; a
/// tempo changed by a peer comes to the controls. Local changes win a tie, as the musician
/// at this prompt just asked for them. `start` is the tempo both had when Link was created:
/// whichever differs from it by the time the thread runs has changed since.
fn follow(link: &Link, controls: &Controls, stop: &AtomicBool, start: f64) {
    let mut local = start;
    let mut session = start;
    while !stop.load(Ordering::Relaxed) {
        link.resync_clock();
        let now_local = controls.get(Live::Tempo);
        if now_local != local {
            link.set_tempo(now_local);
            local = now_local;
            session = link.tempo();
        } else {
            let now_session = link.tempo();
            if now_session != session {
                session = now_session;
                local = controls
                    .set(Live::Tempo, shown_tempo(now_session))
                    .unwrap_or(local);
            }
        }
        std::thread::sleep(FOLLOW_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter(beats: u32, unit: u32) -> Meter {
        Meter { beats, unit }
    }

    #[test]
    fn the_quantum_is_the_bar_in_quarter_notes() {
        assert_eq!(quantum(meter(4, 4)), 4.0);
        assert_eq!(quantum(meter(3, 4)), 3.0);
        assert_eq!(quantum(meter(6, 8)), 3.0);
        assert_eq!(quantum(meter(2, 2)), 4.0);
    }

    #[test]
    fn a_tempo_sent_as_microseconds_per_beat_shows_as_set() {
        let sent = 60e6 / (60e6_f64 / 97.0).round();
        assert_ne!(sent, 97.0);
        assert_eq!(shown_tempo(sent), 97.0);
        assert_eq!(shown_tempo(133.25), 133.25);
    }

    #[test]
    fn beats_and_times_map_back_and_forth_on_the_instant_clock() {
        let link = Link::new(120.0, meter(4, 4));
        let t = Instant::now() + Duration::from_millis(300);
        let b = link.beat_at(t);
        // Half a second a beat at 120: 300 ms later is 0.6 beats later.
        let later = link.beat_at(t + Duration::from_millis(300));
        assert!((later - b - 0.6).abs() < 1e-3, "{b} then {later}");
        let back = link.time_at(b);
        let error = if back > t { back - t } else { t - back };
        assert!(error <= Duration::from_micros(2), "{error:?}");
        assert!((link.tempo() - 120.0).abs() < 1e-9);
    }

    #[test]
    fn setting_the_tempo_changes_the_session_and_the_beat_rate() {
        let link = Link::new(120.0, meter(3, 4));
        link.set_tempo(90.0);
        assert!((link.tempo() - 90.0).abs() < 1e-9);
        let t = Instant::now();
        let one_beat_later = link.beat_at(t + Duration::from_secs_f64(60.0 / 90.0));
        assert!((one_beat_later - link.beat_at(t) - 1.0).abs() < 1e-3);
        let phase = link.phase_at(t);
        assert!((0.0..3.0).contains(&phase), "{phase}");
    }

    #[test]
    fn the_follower_carries_tempo_both_ways() {
        // Link stays disabled here, so no peer on the network can change the outcome.
        let link = Arc::new(Link::new(100.0, meter(4, 4)));
        let controls = Arc::new(Controls::default());
        controls.set(Live::Tempo, 100.0);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (link, controls, stop) = (link.clone(), controls.clone(), stop.clone());
            std::thread::spawn(move || follow(&link, &controls, &stop, 100.0))
        };
        let settles = |what: &dyn Fn() -> bool| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !what() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            what()
        };
        controls.set(Live::Tempo, 132.0);
        assert!(settles(&|| link.tempo() == 132.0), "{}", link.tempo());
        // As a peer would: the session tempo changes, the control follows.
        link.set_tempo(60e6 / (60e6_f64 / 97.0).round());
        assert!(settles(&|| controls.get(Live::Tempo) == 97.0));
        stop.store(true, Ordering::Relaxed);
        thread.join().expect("the follower ends");
    }
}
