//! What the player thread does with a command from the REPL side: starting, stopping and
//! silencing voices, switching leaders. Apart from the loop, since it runs between deadlines,
//! never on the way to one.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::clock_out::{tick_at_or_after, tick_beat};
use super::job::{loop_length, Job};
use super::thread::Player;
use super::{Cmd, FIRST};
use crate::perform::msg;
use crate::perform::timeline::BeatSource;
use crate::settings::Live;

impl Player {
    pub(super) fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Output(conn, ack) => {
                self.silence_all(false);
                let clock_out = self.clock_out.is_some();
                self.stop_transport();
                self.close_output();
                self.out = conn;
                self.programs = [None; 16];
                self.clock_out = None;
                self.port_gone = false;
                self.shared.gone.store(false, Ordering::Relaxed);
                if self.out.is_none() {
                    for v in 0..self.voices.len() {
                        self.drop_job(v);
                    }
                } else if clock_out {
                    self.start_clock_out();
                }
                let _ = ack.send(());
            }
            Cmd::AddVoice(lane) => self.voices.push(*lane),
            Cmd::Play {
                voice,
                events,
                looped,
                gen,
            } => {
                self.silence(voice);
                self.start(
                    voice,
                    Job::Play {
                        length: loop_length(&events),
                        events,
                        next: 0,
                        looped,
                        base: 0.0,
                        gen,
                        then: None,
                    },
                );
            }
            Cmd::Reloop { voice, next } => {
                if let Some(Job::Play {
                    looped: true, then, ..
                }) = self.voices.get_mut(voice).and_then(|l| l.job.as_mut())
                {
                    *then = Some(next);
                }
            }
            Cmd::Live { voice, notes, gen } => {
                self.silence(voice);
                self.start(
                    voice,
                    Job::Live {
                        notes,
                        held: None,
                        last: 0.0,
                        ended: false,
                        gen,
                    },
                );
            }
            Cmd::Stop(voice, ack) => {
                match voice {
                    Some(v) => self.silence(v),
                    None => self.silence_all(false),
                }
                // Clock out's transport stops with the last voice.
                if !self.voices.iter().any(|l| l.job.is_some()) {
                    self.stop_transport();
                }
                let _ = ack.send(());
            }
            Cmd::Panic(ack) => {
                self.silence_all(true);
                self.stop_transport();
                let _ = ack.send(());
            }
            Cmd::ClockOut(on, ack) => {
                match (on, self.clock_out.is_some()) {
                    (true, false) if self.out.is_some() => self.start_clock_out(),
                    (false, true) => {
                        self.stop_transport();
                        self.clock_out = None;
                    }
                    _ => {}
                }
                let _ = ack.send(());
            }
            Cmd::Leader(leader, ack) => {
                self.switch_leader(leader);
                let _ = ack.send(());
            }
            Cmd::OutputGone => self.output_gone(None),
            Cmd::Reattach(conn, name) => self.reattach(conn, name),
            Cmd::Quit => self.close(),
        }
    }

    /// Follows a new timeline from now on without a jump: the voices' origins, clock out's
    /// ticks and song keep their wall times; going back to the internal clock, it takes the
    /// beat and tempo the old leader had.
    fn switch_leader(&mut self, leader: Option<Arc<dyn BeatSource>>) {
        let now = Instant::now();
        let old_beat = self.lead().beat_at(now);
        if leader.is_none() && self.leader.is_some() {
            let tempo = self.lead().tempo();
            if self.lead().running() {
                self.internal.reset(now, old_beat, tempo);
                // Two decimals, as `set` shows a followed tempo.
                self.controls()
                    .set(Live::Tempo, (tempo * 100.0).round() / 100.0);
            }
        }
        self.leader = leader;
        let shift = self.lead().beat_at(now) - old_beat;
        self.epoch = self.lead().epoch();
        self.running = self.lead().running();
        for lane in &mut self.voices {
            if let Some(o) = lane.origin.as_mut() {
                *o += shift;
            }
        }
        self.last_beat += shift;
        if let Some(c) = self.clock_out.as_mut() {
            if let Some(song) = c.song.as_mut() {
                *song += shift;
            }
            if let Some((k, _)) = c.cue.as_mut() {
                *k = tick_at_or_after(tick_beat(*k) + shift);
            }
        }
        self.resync_ticks();
    }

    fn start(&mut self, v: usize, job: Job) {
        let gen = job.gen();
        let lane = &mut self.voices[v];
        if self.out.is_none() {
            lane.state.finish(Some(gen));
            return;
        }
        lane.origin = None;
        lane.job = Some(job);
        // Each start sends its program again, in case the synth was changed meanwhile.
        self.programs = [None; 16];
    }

    /// Note-offs for every note voice `v` has sounding (its job goes on).
    pub(super) fn release(&mut self, v: usize) {
        let sounding = std::mem::take(&mut self.voices[v].sounding);
        for s in sounding {
            self.send(v, &msg::note_off(s.ch, s.pitch));
        }
    }

    /// Ends voice `v`'s job and every note it sounds: note-offs, then CC 123 on the
    /// channels it used where no other voice has a note sounding.
    fn silence(&mut self, v: usize) {
        self.drop_job(v);
        self.release(v);
        let others = self
            .voices
            .iter()
            .enumerate()
            .filter(|(w, _)| *w != v)
            .fold(0u16, |m, (_, l)| m | l.sounding_channels());
        let used = std::mem::take(&mut self.voices[v].used) & !others;
        for ch in 0..16u8 {
            if used & (1 << ch) != 0 {
                self.send(v, &msg::cc(ch, msg::ALL_NOTES_OFF, 0));
            }
        }
    }

    /// Ends every voice's job and sounding notes: note-offs, then CC 123 on the channels
    /// used (`panic`: all-notes-off and all-sound-off on all 16 channels).
    pub(super) fn silence_all(&mut self, panic: bool) {
        for v in 0..self.voices.len() {
            self.drop_job(v);
            self.release(v);
        }
        let mut sent = 0u16;
        for v in 0..self.voices.len() {
            let used = std::mem::take(&mut self.voices[v].used);
            for ch in 0..16u8 {
                if used & !sent & (1 << ch) != 0 {
                    sent |= 1 << ch;
                    self.send(v, &msg::cc(ch, msg::ALL_NOTES_OFF, 0));
                }
            }
        }
        if panic {
            for ch in 0..16u8 {
                if sent & (1 << ch) == 0 {
                    self.send(FIRST, &msg::cc(ch, msg::ALL_NOTES_OFF, 0));
                }
                self.send(FIRST, &msg::cc(ch, msg::ALL_SOUND_OFF, 0));
            }
        }
    }

    pub(super) fn drop_job(&mut self, v: usize) {
        let lane = &mut self.voices[v];
        if let Some(job) = lane.job.take() {
            lane.state.finish(Some(job.gen()));
        }
    }
}
