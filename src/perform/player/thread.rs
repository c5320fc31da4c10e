//! The player thread's loop: which event is next, when, and sending it then. Apart from the
//! commands and the port's upkeep, so that the path that keeps the deadlines reads on its own.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use midir::MidiOutputConnection;

use super::clock_out::{min_tick_interval, tick_at_or_after, tick_beat, ClockOut, Cue};
use super::job::Job;
use super::performer::VoiceHandle;
use super::{Cmd, Shared, VoiceState, FIRST, HEADROOM, REF_BEATS};
use crate::music::note::Note;
use crate::perform::record::Tape;
use crate::perform::timeline::{next_line, whole_lines, BeatSource, InternalClock};
use crate::perform::{msg, Controls, NoteEvent, Printer};
use crate::settings::Live;

/// Sleep until this long before a deadline, then spin.
const SPIN: Duration = Duration::from_millis(1);
/// A live note later than this means its generator fell behind: the voice moves on by
/// whole grid lines (see [`whole_lines`]). Below it, a late note is only counted.
const SLIP_AFTER: f64 = 0.030;
/// While live mode waits for the generator, look for its note this often.
const POLL: Duration = Duration::from_millis(2);

/// More sounding notes than this and the oldest is ended early (bounded memory, and no
/// synth holds more anyway).
const MAX_SOUNDING: usize = 512;

/// A tempo change takes hold at the last event sent if that was this recent (so tick
/// intervals change exactly at a tick), else now.
const RECENT: Duration = Duration::from_millis(30);

/// Real-time scheduling for the player thread where the system allows it (root, or the
/// `audio` group's rtprio that JACK setups grant): on a loaded machine an ordinary thread
/// wakes milliseconds late, which is what MIDI clock listeners hear as jitter. The priority
/// is the lowest real-time one, below JACK's server (10) and its clients' process threads
/// (5), so the player never delays the graph (a client late for its cycle loses its MIDI);
/// it only spins for the last millisecond before each deadline. Where it is not allowed
/// the thread stays as it was.
#[cfg(unix)]
#[allow(unsafe_code)]
pub(super) fn realtime_priority() -> bool {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: pthread_self() names the calling thread, which is alive; `param` is a valid
    // sched_param that the call only reads.
    unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) == 0 }
}

#[cfg(not(unix))]
pub(super) fn realtime_priority() -> bool {
    false
}

/// A note that sounds: when (musically) to end it and what to end.
#[derive(Clone, Copy)]
pub(super) struct Sounding {
    pub(super) off_at: f64,
    pub(super) ch: u8,
    pub(super) pitch: u8,
}

/// What the player does next.
enum Next {
    /// Voice, index into its sounding notes.
    Off(usize, usize),
    /// Voice, musical time, event.
    On(usize, f64, NoteEvent),
    /// The next MIDI clock tick.
    Tick,
    /// Live mode waits for the generator, or the job waits for the leader's transport.
    Poll,
    Idle,
}

/// One voice in the player thread: its controls, its job and the notes it has sounding.
pub(super) struct Lane {
    pub(super) controls: Arc<Controls>,
    pub(super) state: Arc<VoiceState>,
    /// The recording track of what this voice sends.
    pub(super) track: Arc<str>,
    pub(super) sounding: Vec<Sounding>,
    /// Channels (bit per channel) that got notes since the last silence.
    pub(super) used: u16,
    pub(super) job: Option<Job>,
    /// The leader's beat at which the job's musical time 0 falls; None while the job waits
    /// for its start (the leader's transport, then its grid line).
    pub(super) origin: Option<f64>,
}

impl Lane {
    pub(super) fn new(v: &VoiceHandle) -> Lane {
        Lane {
            controls: v.controls.clone(),
            state: v.state.clone(),
            track: Arc::from(v.name.as_str()),
            sounding: Vec::new(),
            used: 0,
            job: None,
            origin: None,
        }
    }

    /// The earliest note to end, with its index.
    fn first_off(&self) -> Option<(usize, f64)> {
        self.sounding
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.off_at.total_cmp(&b.1.off_at))
            .map(|(i, s)| (i, s.off_at))
    }

    /// The channels this voice has a note sounding on (bit per channel).
    pub(super) fn sounding_channels(&self) -> u16 {
        self.sounding.iter().fold(0, |m, s| m | 1 << s.ch)
    }
}

pub(super) struct Player {
    pub(super) rx: Receiver<Cmd>,
    pub(super) out: Option<(MidiOutputConnection, String)>,
    pub(super) printer: Printer,
    pub(super) shared: Arc<Shared>,
    /// The voices; the first one's controls also hold the shared tempo and latency.
    pub(super) voices: Vec<Lane>,
    pub(super) internal: Arc<InternalClock>,
    /// The external timeline followed (None: the internal clock).
    pub(super) leader: Option<Arc<dyn BeatSource>>,
    /// Beat of the last event sent: where an internal tempo change takes hold.
    pub(super) last_beat: f64,
    /// The leader's epoch and transport as last seen, to notice a Start or a Stop.
    pub(super) epoch: u64,
    pub(super) running: bool,
    pub(super) clock_out: Option<ClockOut>,
    /// The program last sent on each channel, so a change is sent once (and voices that
    /// share a channel each get theirs back).
    pub(super) programs: [Option<u8>; 16],
    /// Start of the current millisecond and messages sent in it.
    pub(super) burst: (Instant, u32),
    pub(super) tape: Tape,
    /// The output port vanished: nothing plays until it is back (or another is chosen).
    pub(super) port_gone: bool,
}

impl Player {
    pub(super) fn run(&mut self) {
        loop {
            self.follow_leader();
            let (next, deadline) = self.next();
            let cmd = match deadline {
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(d) => {
                    let wake = d.checked_sub(SPIN).unwrap_or(d);
                    self.rx
                        .recv_timeout(wake.saturating_duration_since(Instant::now()))
                }
            };
            match cmd {
                Ok(Cmd::Quit) | Err(RecvTimeoutError::Disconnected) => {
                    self.close();
                    return;
                }
                Ok(cmd) => {
                    self.command(cmd);
                    continue;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            let Some(deadline) = deadline else { continue };
            match next {
                Next::Off(v, i) => {
                    self.spin(deadline);
                    let s = self.voices[v].sounding.swap_remove(i);
                    self.last_beat = self.last_beat.max(self.beat_of(v, s.off_at));
                    self.send_timed(v, &msg::note_off(s.ch, s.pitch), deadline);
                }
                Next::On(v, at, e) => {
                    self.spin(deadline);
                    self.note_on(v, at, e, deadline);
                }
                Next::Tick => {
                    self.spin(deadline);
                    self.tick(deadline);
                }
                Next::Poll | Next::Idle => {}
            }
        }
    }

    /// The timeline that leads.
    pub(super) fn lead(&self) -> &dyn BeatSource {
        match &self.leader {
            Some(l) => &**l,
            None => &*self.internal,
        }
    }

    /// The shared settings (tempo, latency) live in the first voice's controls.
    pub(super) fn controls(&self) -> &Controls {
        &self.voices[FIRST].controls
    }

    /// The leader's beat of voice `v`'s musical time `at`.
    fn beat_of(&self, v: usize, at: f64) -> f64 {
        self.voices[v].origin.unwrap_or(0.0) + at * REF_BEATS
    }

    /// Wall deadline of beat `b`, with the latency setting.
    fn when(&self, b: f64) -> Instant {
        let latency = self.controls().get(Live::Latency);
        self.lead().time_at(b) + Duration::from_secs_f64(latency / 1000.0)
    }

    fn busy(&self) -> bool {
        self.voices.iter().any(|l| l.job.is_some()) || self.clock_out.is_some()
    }

    /// Keeps up with the leader: the internal clock takes the `tempo` setting; a Stop
    /// releases every sounding note (the jobs wait); a Start begins the jobs again.
    fn follow_leader(&mut self) {
        if self.leader.is_none() {
            let tempo = self.controls().get(Live::Tempo);
            let now = Instant::now();
            let busy = self.busy();
            let now_beat = self.internal.beat_at(now);
            // The last event, if it was just sent (never a beat still to come).
            let recent =
                self.last_beat <= now_beat && self.internal.time_at(self.last_beat) + RECENT >= now;
            let at = if busy && recent {
                self.last_beat
            } else {
                now_beat
            };
            self.internal.retempo(at, tempo);
            return;
        }
        let (epoch, running) = (self.lead().epoch(), self.lead().running());
        let started = epoch != self.epoch;
        if started {
            self.epoch = epoch;
            self.last_beat = self.lead().beat_at(Instant::now());
            for v in 0..self.voices.len() {
                self.release(v);
                let lane = &mut self.voices[v];
                if let Some(job) = lane.job.as_mut() {
                    job.rewind();
                    lane.origin = None;
                }
            }
            self.resync_ticks();
        }
        let changed = running != self.running;
        self.running = running;
        if changed && running {
            // A Continue may come from anywhere in the song (a Song Position Pointer): the
            // notes whose time was jumped over are skipped, not sent at once.
            let now_beat = self.lead().beat_at(Instant::now());
            for v in 0..self.voices.len() {
                self.skip_to(v, now_beat);
            }
            self.resync_ticks();
        } else if changed {
            for v in 0..self.voices.len() {
                self.release(v);
            }
            // Gear clocked by tms stops with the gear tms follows.
            self.stop_transport();
        }
        if running && (started || changed) {
            self.forward_transport(started);
        }
    }

    /// Voice `v` goes on from the leader's beat `b`: the notes due before it are skipped
    /// (a melody seeks, live mode moves its origin to its next note).
    fn skip_to(&mut self, v: usize, b: f64) {
        let lane = &mut self.voices[v];
        let (Some(origin), Some(job)) = (lane.origin.as_mut(), lane.job.as_mut()) else {
            return;
        };
        match job {
            Job::Play { .. } => job.seek((b - *origin) / REF_BEATS),
            Job::Live { .. } => {
                if let Ok((at, _)) = job.peek() {
                    let behind = b - (*origin + at * REF_BEATS);
                    if behind > 0.0 {
                        *origin += whole_lines(behind, self.shared.grid());
                    }
                }
            }
        }
    }

    fn spin(&self, deadline: Instant) {
        while Instant::now() < deadline {
            std::hint::spin_loop();
        }
    }

    /// Sets voice `v`'s origin: the next grid line of the leader (or now, unquantized), on
    /// a tick while clock out runs; and cues clock out's Start or Continue there when its
    /// transport is stopped.
    fn arm(&mut self, v: usize) {
        let b = self.lead().beat_at(Instant::now() + HEADROOM);
        let mut origin = match self.shared.grid() {
            Some(g) => next_line(b, g),
            None => b,
        };
        // Just before a MIDI Start's first tick the beat is below 0: the song begins at 0.
        if (-1.0..0.0).contains(&origin) {
            origin = 0.0;
        }
        if let Some(c) = self.clock_out.as_mut() {
            let k = tick_at_or_after(origin);
            origin = tick_beat(k);
            if c.song.is_none() {
                c.cue = Some(match self.voices[v].job {
                    Some(Job::Live { .. }) if c.stopped_at > 0.0 => {
                        // Continue on a sixteenth, as the song position counts them.
                        let k = k + (6 - k.rem_euclid(6)) % 6;
                        origin = tick_beat(k);
                        (k, Cue::Continue((c.stopped_at * 4.0).round() as u16))
                    }
                    _ => (k, Cue::Start),
                });
            }
        }
        self.voices[v].origin = Some(origin);
    }

    /// The earliest of the next tick and every voice's next note-off and note-on, with its
    /// deadline (ticks first on a tie, then offs, so a repeated note is released before it
    /// sounds again).
    fn next(&mut self) -> (Next, Option<Instant>) {
        let poll = Some(Instant::now() + POLL);
        if self.port_gone {
            // The jobs wait for the port; commands wake the thread.
            return (Next::Idle, None);
        }
        if !self.lead().running() {
            // Clock out looks too: the leader's Start or Continue is passed on.
            let waiting = self.busy() || self.clock_out.is_some();
            return (
                if waiting { Next::Poll } else { Next::Idle },
                poll.filter(|_| waiting),
            );
        }
        for v in 0..self.voices.len() {
            let lane = &mut self.voices[v];
            // A live voice starts once its first note is ready: a generator still priming
            // (eight of them at once on two cores) would make the first note late and move
            // the voice's start, and every later note with it, off the shared grid.
            let ready = lane.origin.is_none()
                && lane
                    .job
                    .as_mut()
                    .is_some_and(|j| !matches!(j.peek(), Err(false)));
            if ready {
                self.arm(v);
            }
        }
        let now_beat = self.lead().beat_at(Instant::now());
        // A melody more than a beat behind (a stall, a jump of the timeline) goes on from
        // now rather than send a burst of stale notes, as clock out's ticks do.
        for v in 0..self.voices.len() {
            let lane = &mut self.voices[v];
            let behind = match (lane.origin, lane.job.as_mut().map(|j| j.peek())) {
                (Some(o), Some(Ok((at, _)))) => o + at * REF_BEATS < now_beat - 1.0,
                _ => false,
            };
            if behind && matches!(lane.job, Some(Job::Play { .. })) {
                self.skip_to(v, now_beat);
            }
        }
        let tick = self.clock_out.as_mut().map(|c| {
            // More than a beat behind (a stall, a jump of the timeline): go on from now
            // rather than send a burst of stale ticks.
            if tick_beat(c.next) < now_beat - 1.0 {
                c.next = tick_at_or_after(now_beat);
            }
            (tick_beat(c.next), c.last)
        });
        let mut first = tick.map(|(b, last)| {
            let d = self.when(b);
            // Never faster than the fastest tempo, whatever the leader's beat does.
            let d = last.map_or(d, |l| d.max(l + min_tick_interval()));
            (Next::Tick, d)
        });
        let mut earlier = |n: Next, d: Instant| {
            if first.as_ref().is_none_or(|(_, f)| d < *f) {
                first = Some((n, d));
            }
        };
        for v in 0..self.voices.len() {
            if let Some((i, off_at)) = self.voices[v].first_off() {
                earlier(Next::Off(v, i), self.when(self.beat_of(v, off_at)));
            }
        }
        let mut waiting = false;
        for v in 0..self.voices.len() {
            match self.voices[v].job.as_mut().map(|j| j.peek()) {
                Some(Ok((at, e))) => earlier(Next::On(v, at, e), self.when(self.beat_of(v, at))),
                Some(Err(true)) if self.voices[v].sounding.is_empty() => self.drop_job(v),
                Some(Err(true)) => {}
                Some(Err(false)) => waiting = true,
                None => {}
            }
        }
        // An external clock's line moves with every tick (and a new master's first ticks
        // move it a lot): a deadline is computed again until it is near, never slept on.
        let external = self.leader.is_some();
        match first {
            // While live mode waits for its generator, look again soon.
            Some((_, d)) if (waiting || external) && d > Instant::now() + POLL => {
                (Next::Poll, poll)
            }
            Some((n, d)) => (n, Some(d)),
            None if waiting => (Next::Poll, poll),
            None => (Next::Idle, None),
        }
    }

    fn note_on(&mut self, v: usize, at: f64, e: NoteEvent, deadline: Instant) {
        let Some(job) = self.voices[v].job.as_mut() else {
            return;
        };
        job.advance(at);
        let live = matches!(job, Job::Live { .. });
        // Live: a generator that fell behind moves the voice's origin instead of piling up
        // lateness, by whole grid lines, so that it comes in again on the others' grid. A
        // note late by less (the thread woke late on a busy machine) is sent as it is: moving
        // the origin by that much would leave the voice off the grid for good, and a long
        // gig collects hundreds of such moves.
        let mut deadline = deadline;
        if live {
            let now = Instant::now();
            let behind = now.saturating_duration_since(deadline);
            if behind.as_secs_f64() > SLIP_AFTER {
                let lead = self.lead();
                let shift = whole_lines(
                    lead.beat_at(now) - lead.beat_at(deadline),
                    self.shared.grid(),
                );
                if let Some(o) = self.voices[v].origin.as_mut() {
                    *o += shift;
                }
                self.count_late(v, behind.as_secs_f64());
                deadline = now;
            }
        }
        self.last_beat = self.last_beat.max(self.beat_of(v, at));
        let c = &self.voices[v].controls;
        let ch = if e.channel == 0 {
            c.get(Live::Channel).clamp(1.0, 16.0) as u8 - 1
        } else {
            e.channel.clamp(1, 16) - 1
        };
        let note = Note {
            pitch: e.pitch,
            start: at,
            duration: e.duration,
            velocity: e.velocity,
        };
        let (pitch, velocity) = note.shaped(
            c.get(Live::Transpose) as i64,
            // Velocity 0 means each note's own.
            Some(c.get(Live::Velocity) as u8).filter(|&v| v > 0),
        );
        if let Some(p) = c.program() {
            if self.programs[ch as usize] != Some(p) {
                self.programs[ch as usize] = Some(p);
                self.send(v, &msg::program(ch, p));
            }
        }
        // A key struck again, by this voice or another on the channel, ends the note it
        // was sounding: the synth knows one note per key and channel.
        for w in 0..self.voices.len() {
            let lane = &mut self.voices[w];
            if let Some(i) = lane
                .sounding
                .iter()
                .position(|s| s.ch == ch && s.pitch == pitch)
            {
                lane.sounding.swap_remove(i);
                self.send(w, &msg::note_off(ch, pitch));
                break;
            }
        }
        if self.voices[v].sounding.len() >= MAX_SOUNDING {
            if let Some((i, _)) = self.voices[v].first_off() {
                let s = self.voices[v].sounding.swap_remove(i);
                self.send(v, &msg::note_off(s.ch, s.pitch));
            }
        }
        self.voices[v].used |= 1 << ch;
        if self.send_timed(v, &msg::note_on(ch, pitch, velocity), deadline) {
            self.voices[v].sounding.push(Sounding {
                off_at: at + e.duration,
                ch,
                pitch,
            });
        }
    }
}
