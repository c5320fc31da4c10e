//! The REPL side of the player. Everything here runs on the session's thread, between
//! prompts, and reaches the player thread only through [`Cmd`]s and shared atomics: apart,
//! so that nothing in it can end up on the path that keeps the deadlines.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::job::{generate, loop_length, to_events, NextLoop};
use super::lookout::{look_after_ports, Watched};
use super::thread::{realtime_priority, Lane, Player};
use super::{Activity, Cmd, Shared, VoiceState};
use crate::music::note::Note;
use crate::perform::input::{Input, Knobs};
use crate::perform::record::{Tape, MAIN_TRACK};
use crate::perform::respond::{Answer, Responder, Show, TakePhrase};
use crate::perform::timeline::{BeatSource, ClockFollower, InternalClock};
use crate::perform::{ports, say, Controls, NoteSource, PerformError, PlayStats, PortSel, Printer};
use crate::settings::Live;

/// How long to wait for the player to confirm stop/panic/disconnect.
const ACK: Duration = Duration::from_secs(2);

/// Where the beat comes from, as `clock` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockSource {
    Internal,
    /// MIDI clock in leads and ticks arrive.
    ClockIn,
    /// MIDI clock in leads but no tick arrived yet.
    ClockInWaiting,
    /// MIDI clock in leads and the ticks stopped: the last tempo goes on.
    ClockInSilent,
    /// A leader installed with [`Performer::set_leader`] (Link).
    External,
}

/// The leading clock at a glance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClockState {
    pub source: ClockSource,
    pub tempo: f64,
    pub beat: f64,
    pub running: bool,
    pub clock_out: bool,
}

/// A voice on the REPL side: what the player knows it by.
pub(super) struct VoiceHandle {
    pub(super) name: String,
    pub(super) controls: Arc<Controls>,
    pub(super) state: Arc<VoiceState>,
}

/// Owns the output/input connections (midir guards) and the player thread; dropping it
/// silences everything.
///
/// The player plays several voices at once (`voice "bass"`), each with its own controls,
/// job, sounding notes and recording track, all on one output port and one clock. The
/// methods that start or stop one job (`play`, `live`, `stop`, `wait`, `respond`, `stats`)
/// act on the current voice, which [`Performer::select_voice`] chooses; the first voice is
/// [`MAIN_TRACK`] with the controls given to [`Performer::new`], which also carry the
/// shared `tempo` and `latency`.
pub struct Performer {
    controls: Arc<Controls>,
    tx: Sender<Cmd>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    voices: Vec<VoiceHandle>,
    current: usize,
    input: Option<Arc<Input>>,
    /// What the lookout thread watches, and its handle.
    watched: Arc<Watched>,
    lookout: Option<JoinHandle<()>>,
    knobs: Arc<Knobs>,
    tape: Tape,
    responder: Option<Responder>,
    /// The voice whose lane plays the responder's answers.
    responder_voice: usize,
    printer: Printer,
    internal: Arc<InternalClock>,
    /// MIDI clock from the input port, measured whether or not it leads.
    follower: Arc<ClockFollower>,
    /// Whether the follower leads (`clock in on`).
    clock_in: Arc<AtomicBool>,
    clock_out: bool,
    leader: Option<Arc<dyn BeatSource>>,
    /// A shared timeline (Link) that leads whenever MIDI clock in does not.
    external: Option<Arc<dyn BeatSource>>,
}

impl Performer {
    /// `printer` shows the player's messages (the REPL passes rustyline's external printer).
    pub fn new(controls: Arc<Controls>, printer: Box<dyn FnMut(String) + Send>) -> Performer {
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared::default());
        let tape = Tape::default();
        let printer: Printer = Arc::new(Mutex::new(printer));
        let tempo = controls.get(Live::Tempo);
        let internal = Arc::new(InternalClock::new(Instant::now(), tempo));
        let main = VoiceHandle {
            name: MAIN_TRACK.to_string(),
            controls: controls.clone(),
            state: Arc::new(VoiceState::default()),
        };
        let mut player = Player {
            rx,
            out: None,
            printer: printer.clone(),
            shared: shared.clone(),
            voices: vec![Lane::new(&main)],
            internal: internal.clone(),
            leader: None,
            last_beat: 0.0,
            epoch: 0,
            running: true,
            clock_out: None,
            programs: [None; 16],
            burst: (Instant::now(), 0),
            tape: tape.clone(),
            port_gone: false,
        };
        let thread = std::thread::Builder::new()
            .name("tms-player".into())
            .spawn(move || {
                realtime_priority();
                player.run()
            })
            .ok();
        let watched = Arc::new(Watched::default());
        let lookout = {
            let (shared, watched, tx, printer) =
                (shared.clone(), watched.clone(), tx.clone(), printer.clone());
            std::thread::Builder::new()
                .name("tms-lookout".into())
                .spawn(move || look_after_ports(shared, watched, tx, printer))
                .ok()
        };
        Performer {
            watched,
            lookout,
            follower: Arc::new(ClockFollower::new(tempo)),
            controls,
            tx,
            thread,
            shared,
            voices: vec![main],
            current: 0,
            input: None,
            knobs: Arc::new(Knobs::default()),
            tape,
            responder: None,
            responder_voice: 0,
            printer,
            internal,
            clock_in: Arc::new(AtomicBool::new(false)),
            clock_out: false,
            leader: None,
            external: None,
        }
    }

    /// Makes `name` the current voice, creating it with `controls` (its own channel,
    /// program, transpose, … ; `tempo` and `latency` are read from the first voice's) and
    /// a recording track of its name when it is new. Returns whether it was created.
    pub fn select_voice(&mut self, name: &str, controls: Arc<Controls>) -> bool {
        if let Some(i) = self.voices.iter().position(|v| v.name == name) {
            self.current = i;
            self.knobs.follow_voice(self.voices[i].controls.clone());
            return false;
        }
        let voice = VoiceHandle {
            name: name.to_string(),
            controls,
            state: Arc::new(VoiceState::default()),
        };
        // The channel is ordered: the voice exists for the player before any job for it.
        let _ = self.tx.send(Cmd::AddVoice(Box::new(Lane::new(&voice))));
        self.knobs.follow_voice(voice.controls.clone());
        self.voices.push(voice);
        self.current = self.voices.len() - 1;
        true
    }

    /// The current voice's name.
    pub fn voice(&self) -> &str {
        &self.voices[self.current].name
    }

    /// Every voice in the order they were made, with what it is doing.
    pub fn voices(&self) -> Vec<(String, Activity)> {
        self.voices
            .iter()
            .map(|v| (v.name.clone(), v.state.activity()))
            .collect()
    }

    fn state(&self) -> &Arc<VoiceState> {
        &self.voices[self.current].state
    }

    /// Where `record` finds what was played and heard.
    pub fn tape(&self) -> &Tape {
        &self.tape
    }

    /// Sends a command and waits (bounded) for the player to have done it.
    fn ask(&self, make: impl FnOnce(Sender<()>) -> Cmd) {
        let (ack, done) = mpsc::channel();
        if self.tx.send(make(ack)).is_ok() {
            let _ = done.recv_timeout(ACK);
        }
    }

    pub fn connect_output(&mut self, sel: &PortSel) -> Result<String, PerformError> {
        let (conn, name) = ports::open_output(sel)?;
        self.ask(|ack| Cmd::Output(Some((conn, name.clone())), ack));
        self.shared.set_output(Some(name.clone()));
        Ok(name)
    }

    /// Listens to the chosen port. With a port already open only the connection changes:
    /// `respond`, `learn`, `clock in` and the knobs go on, now on the new port (clock in
    /// waits for the new port's ticks). A port that cannot be opened changes nothing.
    pub fn connect_input(&mut self, sel: &PortSel) -> Result<String, PerformError> {
        if let Some(input) = &self.input {
            let name = input.switch(sel)?;
            self.follower.reset();
            return Ok(name);
        }
        let input = Input::open(
            sel,
            self.controls.clone(),
            self.knobs.clone(),
            self.tape.clone(),
            crate::perform::input::Clock {
                follower: self.follower.clone(),
                leads: self.clock_in.clone(),
                printer: self.printer.clone(),
            },
        )?;
        let name = input.name();
        let input = Arc::new(input);
        if let Ok(mut w) = self.watched.input.lock() {
            *w = Some(Arc::downgrade(&input));
        }
        self.input = Some(input);
        Ok(name)
    }

    /// The output port, while it vanished and tms waits for it to come back.
    pub fn waiting_for_port(&self) -> Option<String> {
        self.shared.gone().then(|| self.output_name()).flatten()
    }

    /// Every voice stops; note-offs for every sounding note plus CC 123 on the channels
    /// used, then both ports close.
    pub fn disconnect(&mut self) {
        self.responder = None;
        self.finish_all();
        self.ask(|ack| Cmd::Output(None, ack));
        self.shared.set_output(None);
        self.clock_out = false;
        self.input = None;
        if self.clock_in.swap(false, Ordering::Relaxed) {
            self.set_leader(None);
        }
    }

    fn finish_all(&self) {
        for v in &self.voices {
            v.state.finish(None);
        }
    }

    fn output_name(&self) -> Option<String> {
        self.shared.output()
    }

    /// Starts a new job on the current voice (ending the one it had) and returns its
    /// generation. A port that vanished is not replaced by another: the job waits for it
    /// (the lookout may not have looked yet, so this looks too).
    fn begin(&mut self, what: Activity) -> Result<u64, PerformError> {
        let name = self.output_name().ok_or(PerformError::NotConnected)?;
        if !self.shared.gone()
            && ports::output_exists(&name) == Some(false)
            && !self.shared.gone.swap(true, Ordering::Relaxed)
        {
            let _ = self.tx.send(Cmd::OutputGone);
        }
        self.state().begin(what).ok_or(PerformError::NotConnected)
    }

    /// Plays the notes on the current voice (from the first onset on) and returns at once;
    /// `looped` repeats them until `stop`.
    pub fn play(&mut self, notes: &[Note], looped: bool) -> Result<(), PerformError> {
        let events = to_events(notes);
        let what = match looped {
            true => Activity::Looping,
            false => Activity::Playing,
        };
        let gen = self.begin(what)?;
        let voice = self.current;
        if self
            .tx
            .send(Cmd::Play {
                voice,
                events,
                looped,
                gen,
            })
            .is_err()
        {
            self.state().finish(Some(gen));
        }
        Ok(())
    }

    /// When the current voice loops a melody (`play loop`), it loops `notes` instead from its
    /// next bar line, the first at or after the next note it has not yet sent: the bars
    /// before it sound as they were, the loop's time goes on. Bar lines fall every `bar`
    /// seconds of the melody from `first_line` (the first onset of `notes` plays at the
    /// loop's start, as `play` has it). Says whether the voice was looping.
    pub fn reloop(&mut self, notes: &[Note], first_line: f64, bar: f64) -> bool {
        if self.state().activity() != Activity::Looping {
            return false;
        }
        let events = to_events(notes);
        let first = notes
            .iter()
            .map(|n| n.start)
            .filter(|s| s.is_finite())
            .fold(f64::INFINITY, f64::min);
        let next = Box::new(NextLoop {
            length: loop_length(&events),
            events,
            phase: if first.is_finite() {
                first_line - first
            } else {
                0.0
            },
            bar,
            at: None,
        });
        let voice = self.current;
        self.tx.send(Cmd::Reloop { voice, next }).is_ok()
    }

    /// Endless performance on the current voice from `source` until `stop` (or until the
    /// source gives `None`).
    pub fn live(&mut self, mut source: Box<dyn NoteSource>) -> Result<(), PerformError> {
        let gen = self.begin(Activity::Live)?;
        // Capacity 1 plus the note the player holds: the generator runs a note or two ahead
        // of the clock and never further.
        let (note_tx, notes) = mpsc::sync_channel::<(f64, Note)>(1);
        let voice = self.current;
        let controls = self.voices[voice].controls.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("tms-live-{}", self.voice()))
            .spawn(move || generate(&mut *source, &controls, &note_tx));
        if spawned.is_err() || self.tx.send(Cmd::Live { voice, notes, gen }).is_err() {
            self.state().finish(Some(gen));
        }
        Ok(())
    }

    /// Stops the current voice; its sounding notes get their note-off, plus CC 123 on the
    /// channels it used that no other voice is sounding on. The other voices play on.
    pub fn stop(&mut self) {
        self.state().finish(None);
        let voice = self.current;
        self.ask(|ack| Cmd::Stop(Some(voice), ack));
    }

    /// Stops every voice, with note-offs and CC 123 on the channels used.
    pub fn stop_all(&mut self) {
        self.finish_all();
        self.ask(|ack| Cmd::Stop(None, ack));
    }

    /// Stops every voice, and sends all-notes-off and all-sound-off on every channel.
    pub fn panic(&mut self) {
        self.finish_all();
        self.ask(Cmd::Panic);
    }

    /// Blocks until the current voice's melody has finished. Loops and live mode never
    /// finish, so it returns at once for them.
    pub fn wait(&mut self) {
        let state = self.state().clone();
        let Ok(mut j) = state.job.lock() else {
            return;
        };
        while j.playing && j.what == Some(Activity::Playing) {
            match state.done.wait_timeout(j, Duration::from_millis(100)) {
                Ok((g, _)) => j = g,
                Err(_) => return,
            }
        }
    }

    /// Whether the current voice plays.
    pub fn is_playing(&self) -> bool {
        self.state().is_playing()
    }

    /// Whether any voice plays.
    pub fn any_playing(&self) -> bool {
        self.voices.iter().any(|v| v.state.is_playing())
    }

    /// Records a phrase from the input port: `n` notes, or until `silence` passes with no
    /// note sounding. `stop` ends it early. Times are relative to the first note-on.
    pub fn listen(
        &mut self,
        n: Option<usize>,
        silence: Duration,
        stop: &AtomicBool,
    ) -> Result<Vec<Note>, PerformError> {
        let input = self.input.as_ref().ok_or(PerformError::NoInput)?;
        // The responder lets go of the notes while it answers; it still owns them.
        if input.busy() || self.responder.is_some() {
            return Err(PerformError::Responding);
        }
        Ok(input.listen(n, silence, stop))
    }

    /// Answers every phrase heard on the input port with `answer`'s notes, played at once
    /// on the current voice (each answer replaces what that voice was playing). `silence`
    /// ends a phrase, as for `listen`. `show`, when given, says what was heard: printed
    /// after the answer has started, so that it costs the answer no time.
    pub fn respond(
        &mut self,
        silence: Duration,
        answer: Answer,
        mut show: Option<Show>,
    ) -> Result<(), PerformError> {
        self.responder = None;
        let input = self.input.as_ref().ok_or(PerformError::NoInput)?;
        self.output_name().ok_or(PerformError::NotConnected)?;
        let (tx, shared) = (self.tx.clone(), self.shared.clone());
        let (voice, state) = (self.current, self.state().clone());
        let printer = self.printer.clone();
        let play = move |phrase: &[Note], notes: &[Note]| {
            if shared.output().is_some() {
                if let Some(gen) = state.begin(Activity::Playing) {
                    let events = to_events(notes);
                    let looped = false;
                    if tx
                        .send(Cmd::Play {
                            voice,
                            events,
                            looped,
                            gen,
                        })
                        .is_err()
                    {
                        state.finish(Some(gen));
                    }
                }
            }
            if let Some(show) = &mut show {
                say(&printer, show(phrase));
            }
        };
        let responder = Responder::start(input.phrases(), silence, answer, play)
            .map_err(|e| PerformError::Send(e.to_string()))?;
        self.responder = Some(responder);
        self.responder_voice = voice;
        Ok(())
    }

    /// Hands every phrase heard on the input port to `take` on a thread of its own, as
    /// `respond` reads them (`learn`); dropping the reader stops it. Refused while another
    /// reader holds the input's notes.
    pub(crate) fn read_phrases(
        &self,
        silence: Duration,
        mut take: TakePhrase,
    ) -> Result<Responder, PerformError> {
        let input = self.input.as_ref().ok_or(PerformError::NoInput)?;
        if input.busy() || self.responder.is_some() {
            return Err(PerformError::Responding);
        }
        let answer: Answer = Box::new(move |phrase: &[Note]| {
            take(phrase);
            Vec::new()
        });
        Responder::start(
            input.phrases(),
            silence,
            answer,
            |_: &[Note], _: &[Note]| {},
        )
        .map_err(|e| PerformError::Send(e.to_string()))
    }

    /// Stops answering; what is playing plays on. The phrases answered, if it was on.
    pub fn respond_off(&mut self) -> Option<u64> {
        self.responder.take().map(|r| r.answered())
    }

    /// Phrases answered so far while responding.
    pub fn responding(&self) -> Option<u64> {
        self.responder.as_ref().map(|r| r.answered())
    }

    /// The name of the voice that answers the input's phrases, while one does.
    pub fn responding_voice(&self) -> Option<&str> {
        self.responder
            .as_ref()
            .and_then(|_| self.voices.get(self.responder_voice))
            .map(|v| v.name.as_str())
    }

    /// Controller `cc` on the input port now drives `setting` from `min` (0) to `max` (127).
    pub fn map_cc(&mut self, cc: u8, setting: Live, min: f64, max: f64) {
        self.knobs.map(cc, setting, min, max);
    }

    pub fn unmap_cc(&mut self, cc: u8) -> bool {
        self.knobs.unmap(cc)
    }

    pub fn mappings(&self) -> Vec<(u8, Live, f64, f64)> {
        self.knobs.list()
    }

    /// Settings that knobs changed since the last call, with their new values (latest only),
    /// so the prompt can echo them.
    pub fn take_knob_changes(&self) -> Vec<(Live, f64)> {
        self.knobs.take_changes()
    }

    /// The output and input port names, when connected.
    pub fn connections(&self) -> (Option<String>, Option<String>) {
        (self.output_name(), self.input.as_ref().map(|i| i.name()))
    }

    /// Installs the timeline the player follows: an external leader such as Link, or
    /// `None` for the internal tempo clock. The music goes on without a jump: the internal
    /// clock takes over at the beat and tempo the old leader had.
    pub fn set_leader(&mut self, leader: Option<Arc<dyn BeatSource>>) {
        self.leader = leader.clone();
        self.ask(|ack| Cmd::Leader(leader, ack));
    }

    /// Installs (or removes) a shared timeline such as an Ableton Link session. It leads at
    /// once unless MIDI clock in leads, and takes over again when `clock in off`.
    pub fn set_external(&mut self, external: Option<Arc<dyn BeatSource>>) {
        self.external = external.clone();
        if !self.clock_in.load(Ordering::Relaxed) {
            self.set_leader(external);
        }
    }

    /// The timeline that leads now.
    pub fn leader(&self) -> Arc<dyn BeatSource> {
        match &self.leader {
            Some(l) => l.clone(),
            None => self.internal.clone(),
        }
    }

    /// MIDI clock out on the output port: ticks from the next tick, Start at the next bar
    /// line; off sends Stop.
    pub fn clock_out(&mut self, on: bool) -> Result<(), PerformError> {
        if on && self.output_name().is_none() {
            return Err(PerformError::NotConnected);
        }
        self.clock_out = on;
        self.ask(|ack| Cmd::ClockOut(on, ack));
        Ok(())
    }

    /// Follow MIDI clock from the input port (tempo, beat and Start/Stop/Continue), or go
    /// back to the internal clock at the tempo followed last.
    pub fn clock_in(&mut self, on: bool) -> Result<(), PerformError> {
        if on && self.input.is_none() {
            return Err(PerformError::NoInput);
        }
        if on && self.follower.is_silent() {
            // The ticks of an earlier run stopped: this run waits for new ones, and shows
            // no tempo until they come.
            self.follower.reset();
        }
        if self.clock_in.swap(on, Ordering::Relaxed) != on {
            let leader: Option<Arc<dyn BeatSource>> = match on {
                true => Some(self.follower.clone()),
                false => self.external.clone(),
            };
            self.set_leader(leader);
        }
        Ok(())
    }

    /// What clock leads and how it is doing, for `clock`.
    pub fn clock_state(&self) -> ClockState {
        let leader = self.leader();
        let following = self.clock_in.load(Ordering::Relaxed);
        ClockState {
            tempo: leader.tempo(),
            beat: leader.beat_at(Instant::now()),
            running: leader.running(),
            source: match (&self.leader, following) {
                (None, _) => ClockSource::Internal,
                (Some(_), true) if !self.follower.has_ticks() => ClockSource::ClockInWaiting,
                (Some(_), true) if self.follower.is_silent() => ClockSource::ClockInSilent,
                (Some(_), true) => ClockSource::ClockIn,
                (Some(_), false) => ClockSource::External,
            },
            clock_out: self.clock_out,
        }
    }

    /// What `play` and `live on` wait for (`grid` in beats; None: start at once) and how
    /// long a bar is in beats (where clock out puts Start).
    pub fn set_quantize(&mut self, grid: Option<f64>, bar_beats: f64) {
        let grid = grid.filter(|g| *g > 0.0 && g.is_finite()).unwrap_or(0.0);
        self.shared.grid.store(grid.to_bits(), Ordering::Relaxed);
        self.shared
            .bar
            .store(bar_beats.to_bits(), Ordering::Relaxed);
    }

    /// Counters of the current voice's current (or last) performance (MIDI clock out's
    /// messages count for the first voice).
    pub fn stats(&self) -> PlayStats {
        self.state().stats()
    }

    /// Counters of every voice's current (or last) performance together: what the player
    /// thread did, whichever voice is current.
    pub fn stats_all(&self) -> PlayStats {
        self.voices
            .iter()
            .map(|v| v.state.stats())
            .fold(PlayStats::default(), |a, s| PlayStats {
                events: a.events + s.events,
                late: a.late + s.late,
                max_late: a.max_late.max(s.max_late),
            })
    }
}

impl Drop for Performer {
    fn drop(&mut self) {
        self.watched.quit.store(true, Ordering::Relaxed);
        if let Some(t) = self.lookout.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        let _ = self.tx.send(Cmd::Quit);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn play_without_output_says_connect() {
        let mut p = Performer::new(Arc::new(Controls::default()), Box::new(|_| {}));
        let note = Note {
            pitch: 60,
            start: 0.0,
            duration: 1.0,
            velocity: 0,
        };
        let err = p.play(&[note], false).unwrap_err();
        assert!(matches!(err, PerformError::NotConnected));
        assert!(!p.is_playing());
        p.wait();
        p.stop();
        p.panic();
        p.disconnect();
        assert!(matches!(
            p.listen(Some(1), Duration::from_millis(1), &AtomicBool::new(false)),
            Err(PerformError::NoInput)
        ));
    }
}
