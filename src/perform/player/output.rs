//! The one way out to the port: bursts paced, a full queue waited out, lateness counted, a
//! vanished port noticed and taken back when it returns. Apart, because every other part of
//! the thread sends through it.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use midir::MidiOutputConnection;

use super::job::Job;
use super::thread::Player;
use super::{HEADROOM, REF_BEATS};
use crate::perform::timeline::whole_lines;
use crate::perform::{say, LATE_AFTER};

/// At most this many messages per millisecond: keeps a huge chord or a burst of late
/// events from overflowing the backend's buffer (JACK's holds about 2,000 per period).
const BURST: u32 = 64;

/// How long a message waits for room in a full output queue before the port counts as lost
/// (a server that took nothing for this long is not coming back soon).
const QUEUE_PATIENCE: Duration = Duration::from_secs(2);

impl Player {
    /// The output port vanished: every sounding note ends (its note-off goes to the
    /// recording; the synth is gone), and the voices keep their jobs and wait for the port.
    pub(super) fn output_gone(&mut self, why: Option<String>) {
        if self.port_gone {
            return;
        }
        for v in 0..self.voices.len() {
            self.release(v);
            self.voices[v].used = 0;
        }
        self.port_gone = true;
        self.shared.gone.store(true, Ordering::Relaxed);
        let name = self.out.as_ref().map(|o| o.1.clone()).unwrap_or_default();
        let waiting: Vec<&str> = self
            .voices
            .iter()
            .filter(|l| l.job.is_some())
            .map(|l| &*l.track)
            .collect();
        let why = why.map(|e| format!(" ({e})")).unwrap_or_default();
        let line = match waiting.as_slice() {
            [] => format!(
                "output port `{name}` vanished{why}; tms connects again when it returns \
                 (`connect` picks another port)"
            ),
            [one] => format!(
                "output port `{name}` vanished{why}: notes ended, voice {one} waits for it to \
                 return (`connect` picks another port)"
            ),
            many => format!(
                "output port `{name}` vanished{why}: notes ended, voices {} wait for it to \
                 return (`connect` picks another port)",
                many.join(", ")
            ),
        };
        say(&self.printer, line);
    }

    /// The vanished output port is back under its name: play on, on the grid. A melody goes
    /// on from where the timeline is now (the notes of the time without a port are not
    /// sent late); a live voice moves on by whole grid steps (the `quantize` grid, else
    /// beats), so its notes fall where they would have.
    pub(super) fn reattach(&mut self, conn: MidiOutputConnection, name: String) {
        if self.shared.output().as_deref() != Some(name.as_str()) || !self.port_gone {
            // The user chose another port meanwhile.
            return;
        }
        let old = self.out.replace((conn, name.clone()));
        drop(old);
        self.programs = [None; 16];
        self.port_gone = false;
        self.shared.gone.store(false, Ordering::Relaxed);
        let now = self.lead().beat_at(Instant::now() + HEADROOM);
        let grid = self.shared.grid();
        for v in 0..self.voices.len() {
            let lane = &mut self.voices[v];
            let (Some(origin), Some(job)) = (lane.origin.as_mut(), lane.job.as_mut()) else {
                continue;
            };
            match job {
                Job::Play { .. } => job.seek((now - *origin) / REF_BEATS),
                Job::Live { .. } => {
                    if let Ok((at, _)) = job.peek() {
                        let behind = now - (*origin + at * REF_BEATS);
                        if behind > 0.0 {
                            *origin += whole_lines(behind, grid);
                        }
                    }
                }
            }
        }
        self.resync_ticks();
        say(
            &self.printer,
            format!("output port `{name}` is back: connected again, playing goes on"),
        );
    }

    pub(super) fn close_output(&mut self) {
        if let Some((conn, _)) = self.out.take() {
            // JACK sends what was queued at its next period; closing first would lose the
            // note-offs just queued.
            if cfg!(feature = "jack") {
                std::thread::sleep(Duration::from_millis(50));
            }
            drop(conn);
        }
    }

    pub(super) fn close(&mut self) {
        self.silence_all(false);
        self.close_output();
    }

    /// Sends an event of voice `v` due at `deadline`, counting it late if it is.
    pub(super) fn send_timed(&mut self, v: usize, m: &[u8], deadline: Instant) -> bool {
        let behind = Instant::now()
            .saturating_duration_since(deadline)
            .as_secs_f64();
        if behind > LATE_AFTER {
            self.count_late(v, behind);
        }
        self.send(v, m)
    }

    pub(super) fn count_late(&self, v: usize, behind: f64) {
        let state = &self.voices[v].state;
        state.late.fetch_add(1, Ordering::Relaxed);
        state
            .max_late_ns
            .fetch_max((behind * 1e9) as u64, Ordering::Relaxed);
    }

    /// Sends one message for voice `v`; a failure means the port vanished: every voice
    /// stops, and the player says so.
    pub(super) fn send(&mut self, v: usize, m: &[u8]) -> bool {
        if self.port_gone {
            return false;
        }
        let Some((conn, _)) = self.out.as_mut() else {
            return false;
        };
        let now = Instant::now();
        if now.duration_since(self.burst.0) >= Duration::from_millis(1) {
            self.burst = (now, 0);
        } else if self.burst.1 >= BURST {
            std::thread::sleep(Duration::from_millis(1));
            self.burst = (Instant::now(), 0);
        }
        self.burst.1 += 1;
        let mut sent = conn.send(m);
        // A full output queue means the MIDI server is behind (it missed periods on a busy
        // machine), not that the port is gone: wait for it, as a sender waits on a cable.
        let waited = Instant::now();
        while matches!(sent, Err(midir::SendError::Other(why)) if why == midir::QUEUE_FULL)
            && waited.elapsed() < QUEUE_PATIENCE
        {
            std::thread::sleep(Duration::from_millis(1));
            sent = conn.send(m);
        }
        match sent {
            Ok(()) => {
                let lane = &self.voices[v];
                lane.state.events.fetch_add(1, Ordering::Relaxed);
                self.tape.push(&lane.track, m);
                true
            }
            Err(e) => {
                // The backend says the port is gone (ALSA does; JACK takes messages for a
                // port that is gone, and the lookout notices instead).
                for w in 0..self.voices.len() {
                    self.voices[w].sounding.clear();
                }
                self.output_gone(Some(e.to_string()));
                false
            }
        }
    }
}
