//! MIDI clock out runs beside the voices on its own grid (ticks, Start, Stop, Continue and the
//! song position for gear that tms clocks): apart, as one concern the loop only calls into.

use std::time::{Duration, Instant};

use super::thread::Player;
use super::{FIRST, HEADROOM};
use crate::perform::timeline::{next_line, TICKS_PER_BEAT};
use crate::settings::Live;

/// Clock out never sends ticks closer than this: 24 a quarter note at the fastest `tempo`.
pub(super) fn min_tick_interval() -> Duration {
    let fastest = Live::Tempo.spec().kind.range().map_or(960.0, |r| r.1);
    Duration::from_secs_f64(60.0 / fastest / TICKS_PER_BEAT)
}
/// MIDI real-time and song position messages.
mod rt {
    pub const TICK: u8 = 0xF8;
    pub const START: u8 = 0xFA;
    pub const CONTINUE: u8 = 0xFB;
    pub const STOP: u8 = 0xFC;
    pub const SONG_POSITION: u8 = 0xF2;
}

/// A Start or Continue that goes out just before a given tick.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Cue {
    Start,
    /// Continue from this song position (sixteenths), sent after a Song Position Pointer.
    Continue(u16),
}

/// MIDI clock out: ticks on the leader's beat grid (tick k falls on beat k/24).
pub(super) struct ClockOut {
    pub(super) next: i64,
    /// While the transport runs, the beat at which song position 0 fell.
    pub(super) song: Option<f64>,
    /// Where the song stopped, in beats (Continue resumes there).
    pub(super) stopped_at: f64,
    pub(super) cue: Option<(i64, Cue)>,
    /// The deadline of the last tick sent: the next is at least [`min_tick_interval`]
    /// later, whatever the leader's beat does.
    pub(super) last: Option<Instant>,
}

/// The first tick at or after beat `b`.
pub(super) fn tick_at_or_after(b: f64) -> i64 {
    (b * TICKS_PER_BEAT - 1e-6).ceil() as i64
}

pub(super) fn tick_beat(k: i64) -> f64 {
    k as f64 / TICKS_PER_BEAT
}

impl Player {
    /// The leader started (a MIDI Start: the song from its beginning) or continued (from
    /// its song position): clock out says the same to the gear it clocks, before its next
    /// tick (a Continue waits for a tick on a sixteenth, as Song Position counts them).
    pub(super) fn forward_transport(&mut self, start: bool) {
        let Some(c) = self.clock_out.as_mut() else {
            return;
        };
        if start {
            c.song = None;
        } else if c.song.is_some() {
            return;
        }
        let k = c.next;
        c.cue = Some(if start {
            (k, Cue::Start)
        } else {
            let k = k + (6 - k.rem_euclid(6)) % 6;
            let sixteenths = (tick_beat(k) * 4.0).round().clamp(0.0, 16383.0);
            (k, Cue::Continue(sixteenths as u16))
        });
    }

    /// Clock out goes on from the leader's current beat (after a jump of the timeline).
    pub(super) fn resync_ticks(&mut self) {
        let now = self.lead().beat_at(Instant::now() + HEADROOM);
        if let Some(c) = self.clock_out.as_mut() {
            c.next = tick_at_or_after(now);
        }
    }

    /// Sends the tick due now, after the Start or Continue cued for it.
    pub(super) fn tick(&mut self, deadline: Instant) {
        let Some(c) = self.clock_out.as_mut() else {
            return;
        };
        let k = c.next;
        c.next += 1;
        c.last = Some(deadline);
        let cue = c.cue.filter(|(at, _)| *at <= k);
        if cue.is_some() {
            c.cue = None;
        }
        let mut pre: Vec<Vec<u8>> = Vec::new();
        match cue {
            Some((_, Cue::Start)) => {
                c.song = Some(tick_beat(k));
                pre.push(vec![rt::START]);
            }
            Some((_, Cue::Continue(pos))) => {
                c.song = Some(tick_beat(k) - f64::from(pos) / 4.0);
                pre.push(vec![
                    rt::SONG_POSITION,
                    (pos & 127) as u8,
                    ((pos >> 7) & 127) as u8,
                ]);
                pre.push(vec![rt::CONTINUE]);
            }
            None => {}
        }
        self.last_beat = self.last_beat.max(tick_beat(k));
        for m in pre {
            self.send(FIRST, &m);
        }
        self.send_timed(FIRST, &[rt::TICK], deadline);
    }

    /// Stops clock out's transport: Stop, and where the song was, for Continue.
    pub(super) fn stop_transport(&mut self) {
        let Some(c) = self.clock_out.as_mut() else {
            return;
        };
        c.cue = None;
        if let Some(song) = c.song.take() {
            // After n ticks the next one would have been song position n (the first tick
            // after Start is 0); Song Position counts sixteenths.
            let at = (tick_beat(c.next) - song).max(0.0);
            c.stopped_at = (at * 4.0).floor() / 4.0;
            self.send(FIRST, &[rt::STOP]);
        }
    }

    /// Clock out from the next tick; Start at the next bar line.
    pub(super) fn start_clock_out(&mut self) {
        let b = self.lead().beat_at(Instant::now() + HEADROOM);
        let start = next_line(b, self.shared.bar());
        self.clock_out = Some(ClockOut {
            next: tick_at_or_after(b),
            song: None,
            stopped_at: 0.0,
            cue: Some((tick_at_or_after(start), Cue::Start)),
            last: None,
        });
    }
}
