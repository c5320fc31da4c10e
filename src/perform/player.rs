//! The performer: owns the MIDI connections and a player thread that sends every event at
//! its deadline.
//!
//! One monotonic clock (`Instant`) maps musical time (seconds at the reference 120 BPM) to
//! wall time; a tempo change re-anchors the mapping at the last event sent, so it takes
//! effect from the next note on without a jump. The thread sleeps until about a millisecond
//! before a deadline and spins the rest (OS sleeps overshoot by tens to hundreds of
//! microseconds). A late event goes out at once and is counted. Every sounding note is
//! tracked so that stop, panic, disconnect, a vanished port and drop can end it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use midir::MidiOutputConnection;

use super::input::{Input, Knobs};
use super::record::{Tape, MAIN_TRACK};
use super::respond::{Answer, Responder};
use super::LATE_AFTER;
use crate::lang::settings::Live;

use super::{msg, ports, Controls, NoteEvent, NoteSource, PerformError, PlayStats, PortSel};
use crate::music::note::Note;

/// Sleep until this long before a deadline, then spin.
const SPIN: Duration = Duration::from_millis(1);
/// While live mode waits for the generator, look for its note this often.
const POLL: Duration = Duration::from_millis(2);
/// At most this many messages per millisecond: keeps a huge chord or a burst of late
/// events from overflowing the backend's buffer (JACK's holds about 2,000 per period).
const BURST: u32 = 64;
/// More sounding notes than this and the oldest is ended early (bounded memory, and no
/// synth holds more anyway).
const MAX_SOUNDING: usize = 512;
/// A loop shorter than this would flood the port.
const MIN_LOOP: f64 = 0.05;
/// How many steps of zero length in a row a live source may give before the player paces
/// it by note length (a buggy source must not flood the port).
const MAX_CHORD: u32 = 16;
/// How long to wait for the player to confirm stop/panic/disconnect.
const ACK: Duration = Duration::from_secs(2);

enum Cmd {
    /// Silence the old port, then use this one (`None`: just close).
    Output(Option<(MidiOutputConnection, String)>, Sender<()>),
    Play {
        events: Vec<NoteEvent>,
        looped: bool,
        gen: u64,
    },
    Live {
        notes: Receiver<(f64, Note)>,
        gen: u64,
    },
    Stop(Sender<()>),
    Panic(Sender<()>),
    Quit,
}

/// What the REPL side and the player thread both see.
#[derive(Default)]
struct Shared {
    job: Mutex<JobInfo>,
    done: Condvar,
    events: AtomicU64,
    late: AtomicU64,
    max_late_ns: AtomicU64,
}

#[derive(Default)]
struct JobInfo {
    /// Bumped for every play/live, so the end of an old job cannot mark a new one done.
    gen: u64,
    playing: bool,
    endless: bool,
    output: Option<String>,
}

impl Shared {
    /// A new job's generation, marked playing; None without an output port.
    fn begin(&self, endless: bool) -> Option<u64> {
        let mut j = self.job.lock().ok()?;
        j.output.as_ref()?;
        j.gen += 1;
        j.playing = true;
        j.endless = endless;
        self.events.store(0, Ordering::Relaxed);
        self.late.store(0, Ordering::Relaxed);
        self.max_late_ns.store(0, Ordering::Relaxed);
        Some(j.gen)
    }

    fn finish(&self, gen: Option<u64>) {
        if let Ok(mut j) = self.job.lock() {
            if gen.is_none_or(|g| g == j.gen) {
                j.playing = false;
            }
        }
        self.done.notify_all();
    }
}

/// Owns the output/input connections (midir guards) and the player thread; dropping it
/// silences everything.
pub struct Performer {
    controls: Arc<Controls>,
    tx: Sender<Cmd>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    input: Option<Input>,
    knobs: Arc<Knobs>,
    tape: Tape,
    responder: Option<Responder>,
}

impl Performer {
    /// `printer` shows the player's messages (the REPL passes rustyline's external printer).
    pub fn new(controls: Arc<Controls>, printer: Box<dyn FnMut(String) + Send>) -> Performer {
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared::default());
        let tape = Tape::default();
        let mut player = Player {
            rx,
            out: None,
            controls: controls.clone(),
            printer,
            shared: shared.clone(),
            sounding: Vec::new(),
            used: 0,
            job: None,
            clock: Clock::new(Instant::now(), 120.0),
            cursor: 0.0,
            program: None,
            burst: (Instant::now(), 0),
            tape: tape.clone(),
            track: Arc::from(MAIN_TRACK),
        };
        let thread = std::thread::Builder::new()
            .name("tms-player".into())
            .spawn(move || player.run())
            .ok();
        Performer {
            controls,
            tx,
            thread,
            shared,
            input: None,
            knobs: Arc::new(Knobs::default()),
            tape,
            responder: None,
        }
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
        if let Ok(mut j) = self.shared.job.lock() {
            j.output = Some(name.clone());
        }
        Ok(name)
    }

    pub fn connect_input(&mut self, sel: &PortSel) -> Result<String, PerformError> {
        // Close the old one first: a JACK client name is reused more predictably.
        self.responder = None;
        self.input = None;
        let input = Input::open(
            sel,
            self.controls.clone(),
            self.knobs.clone(),
            self.tape.clone(),
        )?;
        let name = input.name.clone();
        self.input = Some(input);
        Ok(name)
    }

    /// Note-offs for every sounding note plus CC 123 on the channels used, then closes both
    /// ports.
    pub fn disconnect(&mut self) {
        self.responder = None;
        self.shared.finish(None);
        self.ask(|ack| Cmd::Output(None, ack));
        if let Ok(mut j) = self.shared.job.lock() {
            j.output = None;
        }
        self.input = None;
    }

    fn output_name(&self) -> Option<String> {
        self.shared.job.lock().ok().and_then(|j| j.output.clone())
    }

    /// Starts a new job (ending the current one) and returns its generation.
    fn begin(&mut self, endless: bool) -> Result<u64, PerformError> {
        let name = self.output_name().ok_or(PerformError::NotConnected)?;
        if ports::output_exists(&name) == Some(false) {
            self.ask(|ack| Cmd::Output(None, ack));
            if let Ok(mut j) = self.shared.job.lock() {
                j.output = None;
            }
            return Err(PerformError::PortVanished(name));
        }
        self.shared.begin(endless).ok_or(PerformError::NotConnected)
    }

    /// Plays the notes (from the first onset on) and returns at once; `looped` repeats them
    /// until `stop`.
    pub fn play(&mut self, notes: &[Note], looped: bool) -> Result<(), PerformError> {
        let events = to_events(notes);
        let gen = self.begin(looped)?;
        if self
            .tx
            .send(Cmd::Play {
                events,
                looped,
                gen,
            })
            .is_err()
        {
            self.shared.finish(Some(gen));
        }
        Ok(())
    }

    /// Endless performance from `source` until `stop` (or until the source gives `None`).
    pub fn live(&mut self, mut source: Box<dyn NoteSource>) -> Result<(), PerformError> {
        let gen = self.begin(true)?;
        // Capacity 1 plus the note the player holds: the generator runs a note or two ahead
        // of the clock and never further.
        let (note_tx, notes) = mpsc::sync_channel::<(f64, Note)>(1);
        let controls = self.controls.clone();
        let spawned = std::thread::Builder::new()
            .name("tms-live".into())
            .spawn(move || generate(&mut *source, &controls, &note_tx));
        if spawned.is_err() || self.tx.send(Cmd::Live { notes, gen }).is_err() {
            self.shared.finish(Some(gen));
        }
        Ok(())
    }

    /// Stops playing; sounding notes get their note-off, plus CC 123 on the channels used.
    pub fn stop(&mut self) {
        self.shared.finish(None);
        self.ask(Cmd::Stop);
    }

    /// Stops, and sends all-notes-off and all-sound-off on every channel.
    pub fn panic(&mut self) {
        self.shared.finish(None);
        self.ask(Cmd::Panic);
    }

    /// Blocks until the melody has finished. Loops and live mode never finish, so it returns
    /// at once for them.
    pub fn wait(&mut self) {
        let Ok(mut j) = self.shared.job.lock() else {
            return;
        };
        while j.playing && !j.endless {
            match self.shared.done.wait_timeout(j, Duration::from_millis(100)) {
                Ok((g, _)) => j = g,
                Err(_) => return,
            }
        }
    }

    pub fn is_playing(&self) -> bool {
        self.shared.job.lock().is_ok_and(|j| j.playing)
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
        if input.busy() {
            return Err(PerformError::Responding);
        }
        Ok(input.listen(n, silence, stop))
    }

    /// Answers every phrase heard on the input port with `answer`'s notes, played at once
    /// (each answer replaces what was playing). `silence` ends a phrase, as for `listen`.
    pub fn respond(&mut self, silence: Duration, answer: Answer) -> Result<(), PerformError> {
        self.responder = None;
        let input = self.input.as_ref().ok_or(PerformError::NoInput)?;
        self.output_name().ok_or(PerformError::NotConnected)?;
        let (tx, shared) = (self.tx.clone(), self.shared.clone());
        let play = move |notes: &[Note]| {
            if let Some(gen) = shared.begin(false) {
                let events = to_events(notes);
                let looped = false;
                if tx
                    .send(Cmd::Play {
                        events,
                        looped,
                        gen,
                    })
                    .is_err()
                {
                    shared.finish(Some(gen));
                }
            }
        };
        let responder = Responder::start(input.phrases(), silence, answer, play)
            .map_err(|e| PerformError::Send(e.to_string()))?;
        self.responder = Some(responder);
        Ok(())
    }

    /// Stops answering; what is playing plays on. The phrases answered, if it was on.
    pub fn respond_off(&mut self) -> Option<u64> {
        self.responder.take().map(|r| r.answered())
    }

    /// Phrases answered so far while responding.
    pub fn responding(&self) -> Option<u64> {
        self.responder.as_ref().map(|r| r.answered())
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
        (
            self.output_name(),
            self.input.as_ref().map(|i| i.name.clone()),
        )
    }

    /// Counters of the current (or last) performance.
    pub fn stats(&self) -> PlayStats {
        PlayStats {
            events: self.shared.events.load(Ordering::Relaxed),
            late: self.shared.late.load(Ordering::Relaxed),
            max_late: self.shared.max_late_ns.load(Ordering::Relaxed) as f64 * 1e-9,
        }
    }
}

impl Drop for Performer {
    fn drop(&mut self) {
        let _ = self.tx.send(Cmd::Quit);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The melody as player events: from its first onset on, bad values dropped or clamped.
fn to_events(notes: &[Note]) -> Vec<NoteEvent> {
    let first = notes
        .iter()
        .map(|n| n.start)
        .filter(|s| s.is_finite())
        .fold(f64::INFINITY, f64::min);
    let mut events: Vec<NoteEvent> = notes
        .iter()
        .filter(|n| n.start.is_finite() && n.pitch < 128)
        .map(|n| NoteEvent {
            at: n.start - first,
            pitch: n.pitch,
            velocity: n.velocity.clamp(1, 127),
            duration: if n.duration.is_finite() {
                n.duration.max(0.0)
            } else {
                0.0
            },
            channel: 0,
        })
        .collect();
    events.sort_by(|a, b| a.at.total_cmp(&b.at).then(a.pitch.cmp(&b.pitch)));
    events
}

/// The live thread: asks the source for notes and hands them over as (step, note), blocking
/// while the player already holds enough.
fn generate(source: &mut dyn NoteSource, controls: &Controls, out: &SyncSender<(f64, Note)>) {
    let mut prev: Option<f64> = None;
    let mut chord = 0;
    while let Some(note) = source.next_note(controls) {
        let mut step = prev.map_or(0.0, |p| note.start - p);
        if !step.is_finite() || step < 0.0 {
            step = 0.0;
        }
        prev = Some(note.start);
        if step == 0.0 && prev.is_some() {
            chord += 1;
            if chord > MAX_CHORD {
                step = note.duration.clamp(MIN_LOOP, 4.0);
                chord = 0;
            }
        } else {
            chord = 0;
        }
        if out.send((step, note)).is_err() {
            return;
        }
    }
}

/// Musical time (reference seconds) to wall time, re-anchored when the tempo changes.
struct Clock {
    wall: Instant,
    at: f64,
    tempo: f64,
}

impl Clock {
    fn new(wall: Instant, tempo: f64) -> Clock {
        Clock {
            wall,
            at: 0.0,
            tempo,
        }
    }

    fn time(&self, at: f64) -> Instant {
        let secs = ((at - self.at) * 120.0 / self.tempo).clamp(0.0, 1e6);
        self.wall + Duration::from_secs_f64(secs)
    }

    /// From `at` on, music runs at `tempo`.
    fn retempo(&mut self, at: f64, tempo: f64) {
        if tempo != self.tempo && tempo > 0.0 {
            self.wall = self.time(at);
            self.at = at;
            self.tempo = tempo;
        }
    }
}

/// A note that sounds: when (musically) to end it and what to end.
#[derive(Clone, Copy)]
struct Sounding {
    off_at: f64,
    ch: u8,
    pitch: u8,
}

enum Job {
    Play {
        events: Vec<NoteEvent>,
        next: usize,
        looped: bool,
        /// Added to event times: the loop's repetitions.
        base: f64,
        length: f64,
        gen: u64,
    },
    Live {
        notes: Receiver<(f64, Note)>,
        /// The note waiting for its deadline, with its musical time.
        held: Option<(f64, Note)>,
        /// Musical time of the last note-on.
        last: f64,
        ended: bool,
        gen: u64,
    },
}

impl Job {
    fn gen(&self) -> u64 {
        match self {
            Job::Play { gen, .. } | Job::Live { gen, .. } => *gen,
        }
    }

    /// The next note-on as (musical time, pitch, velocity, duration, channel 0 = control),
    /// fetching from the generator if needed; `Err(true)` when the job has no more notes,
    /// `Err(false)` when live mode is waiting for the generator.
    fn peek(&mut self) -> Result<(f64, NoteEvent), bool> {
        match self {
            Job::Play {
                events,
                next,
                looped,
                base,
                length,
                ..
            } => {
                if *next >= events.len() {
                    if !*looped || events.is_empty() {
                        return Err(true);
                    }
                    *next = 0;
                    *base += *length;
                }
                let e = events[*next];
                Ok((*base + e.at, e))
            }
            Job::Live {
                notes,
                held,
                last,
                ended,
                ..
            } => {
                if held.is_none() && !*ended {
                    match notes.try_recv() {
                        Ok((step, n)) => *held = Some((*last + step, n)),
                        Err(TryRecvError::Empty) => {}
                        Err(TryRecvError::Disconnected) => *ended = true,
                    }
                }
                match held {
                    Some((at, n)) => Ok((
                        *at,
                        NoteEvent {
                            at: *at,
                            pitch: n.pitch.min(127),
                            velocity: n.velocity.clamp(1, 127),
                            duration: if n.duration.is_finite() {
                                n.duration.max(0.0)
                            } else {
                                0.0
                            },
                            channel: 0,
                        },
                    )),
                    None => Err(*ended),
                }
            }
        }
    }

    fn advance(&mut self, at: f64) {
        match self {
            Job::Play { next, .. } => *next += 1,
            Job::Live { held, last, .. } => {
                *held = None;
                *last = at;
            }
        }
    }
}

/// What the player does next.
enum Next {
    Off(usize),
    On(f64, NoteEvent),
    /// Live mode waits for the generator.
    Poll,
    Idle,
}

struct Player {
    rx: Receiver<Cmd>,
    out: Option<(MidiOutputConnection, String)>,
    controls: Arc<Controls>,
    printer: Box<dyn FnMut(String) + Send>,
    shared: Arc<Shared>,
    sounding: Vec<Sounding>,
    /// Channels (bit per channel) that got notes since the last silence.
    used: u16,
    job: Option<Job>,
    clock: Clock,
    /// Musical time of the last event sent: where a tempo change takes hold.
    cursor: f64,
    /// The (channel, program) last sent, so a change is sent once.
    program: Option<(u8, u8)>,
    /// Start of the current millisecond and messages sent in it.
    burst: (Instant, u32),
    tape: Tape,
    /// The recording track of what this player sends.
    track: Arc<str>,
}

impl Player {
    fn run(&mut self) {
        loop {
            let next = self.next();
            let deadline = match next {
                Next::Off(i) => Some(self.deadline(self.sounding[i].off_at)),
                Next::On(at, _) => Some(self.deadline(at)),
                Next::Poll => Some(Instant::now() + POLL),
                Next::Idle => None,
            };
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
                Next::Off(i) => {
                    self.spin(deadline);
                    let s = self.sounding.swap_remove(i);
                    self.cursor = self.cursor.max(s.off_at);
                    self.send_timed(&msg::note_off(s.ch, s.pitch), deadline);
                }
                Next::On(at, e) => {
                    self.spin(deadline);
                    self.note_on(at, e, deadline);
                }
                Next::Poll | Next::Idle => {}
            }
        }
    }

    /// Wall deadline of musical time `at`, with the current tempo and latency.
    fn deadline(&mut self, at: f64) -> Instant {
        let tempo = self.controls.get(Live::Tempo);
        self.clock.retempo(self.cursor, tempo);
        let latency = self.controls.get(Live::Latency);
        self.clock.time(at) + Duration::from_secs_f64(latency / 1000.0)
    }

    fn spin(&self, deadline: Instant) {
        while Instant::now() < deadline {
            std::hint::spin_loop();
        }
    }

    /// The earliest of the next note-off and the next note-on (offs first on a tie, so a
    /// repeated note is released before it sounds again).
    fn next(&mut self) -> Next {
        let off = self
            .sounding
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.off_at.total_cmp(&b.1.off_at))
            .map(|(i, s)| (i, s.off_at));
        let on = match self.job.as_mut().map(|j| j.peek()) {
            Some(Ok(on)) => Some(on),
            Some(Err(true)) => {
                if off.is_none() {
                    self.end_job();
                }
                None
            }
            Some(Err(false)) => {
                return match off {
                    Some((i, _))
                        if self.deadline(self.sounding[i].off_at) <= Instant::now() + POLL =>
                    {
                        Next::Off(i)
                    }
                    _ => Next::Poll,
                }
            }
            None => None,
        };
        match (off, on) {
            (Some((i, t)), Some((at, _))) if t <= at => Next::Off(i),
            (_, Some((at, e))) => Next::On(at, e),
            (Some((i, _)), None) => Next::Off(i),
            (None, None) => Next::Idle,
        }
    }

    fn end_job(&mut self) {
        if let Some(job) = self.job.take() {
            self.shared.finish(Some(job.gen()));
        }
    }

    fn note_on(&mut self, at: f64, e: NoteEvent, deadline: Instant) {
        let Some(job) = self.job.as_mut() else { return };
        job.advance(at);
        // Live: a generator that fell behind moves the clock instead of piling up lateness.
        let mut deadline = deadline;
        if matches!(job, Job::Live { .. }) {
            let now = Instant::now();
            let behind = now.saturating_duration_since(deadline);
            if behind.as_secs_f64() > LATE_AFTER {
                self.clock.wall += behind;
                self.count_late(behind.as_secs_f64());
                deadline = now;
            }
        }
        self.cursor = self.cursor.max(at);
        let c = &self.controls;
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
            if self.program != Some((ch, p)) {
                self.program = Some((ch, p));
                self.send(&msg::program(ch, p));
            }
        }
        // A key struck again ends the note it was sounding.
        if let Some(i) = self
            .sounding
            .iter()
            .position(|s| s.ch == ch && s.pitch == pitch)
        {
            self.sounding.swap_remove(i);
            self.send(&msg::note_off(ch, pitch));
        }
        if self.sounding.len() >= MAX_SOUNDING {
            if let Some(i) = self
                .sounding
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.off_at.total_cmp(&b.1.off_at))
                .map(|(i, _)| i)
            {
                let s = self.sounding.swap_remove(i);
                self.send(&msg::note_off(s.ch, s.pitch));
            }
        }
        self.used |= 1 << ch;
        if self.send_timed(&msg::note_on(ch, pitch, velocity), deadline) {
            self.sounding.push(Sounding {
                off_at: at + e.duration,
                ch,
                pitch,
            });
        }
    }

    fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Output(conn, ack) => {
                self.silence(false);
                self.close_output();
                self.out = conn;
                self.program = None;
                if self.out.is_none() {
                    self.drop_job();
                }
                let _ = ack.send(());
            }
            Cmd::Play {
                events,
                looped,
                gen,
            } => {
                self.silence(false);
                let end = events.iter().map(|e| e.at + e.duration).fold(0.0, f64::max);
                self.start(Job::Play {
                    events,
                    next: 0,
                    looped,
                    base: 0.0,
                    length: end.max(MIN_LOOP),
                    gen,
                });
            }
            Cmd::Live { notes, gen } => {
                self.silence(false);
                self.start(Job::Live {
                    notes,
                    held: None,
                    last: 0.0,
                    ended: false,
                    gen,
                });
            }
            Cmd::Stop(ack) => {
                self.silence(false);
                let _ = ack.send(());
            }
            Cmd::Panic(ack) => {
                self.silence(true);
                let _ = ack.send(());
            }
            Cmd::Quit => self.close(),
        }
    }

    fn start(&mut self, job: Job) {
        let gen = job.gen();
        if self.out.is_none() {
            self.shared.finish(Some(gen));
            return;
        }
        // A little headroom so the first note is not late while the thread wakes up.
        let tempo = self.controls.get(Live::Tempo);
        self.clock = Clock::new(Instant::now() + Duration::from_millis(5), tempo);
        self.cursor = 0.0;
        self.program = None;
        self.job = Some(job);
    }

    /// Ends the job and every sounding note: note-offs, then CC 123 on the channels used
    /// (`all`: all-notes-off and all-sound-off on all 16 channels).
    fn silence(&mut self, all: bool) {
        self.drop_job();
        let sounding = std::mem::take(&mut self.sounding);
        for s in sounding {
            self.send(&msg::note_off(s.ch, s.pitch));
        }
        for ch in 0..16u8 {
            if all || self.used & (1 << ch) != 0 {
                self.send(&msg::cc(ch, msg::ALL_NOTES_OFF, 0));
                if all {
                    self.send(&msg::cc(ch, msg::ALL_SOUND_OFF, 0));
                }
            }
        }
        self.used = 0;
    }

    fn drop_job(&mut self) {
        if let Some(job) = self.job.take() {
            self.shared.finish(Some(job.gen()));
        }
    }

    fn close_output(&mut self) {
        if let Some((conn, _)) = self.out.take() {
            // JACK sends what was queued at its next period; closing first would lose the
            // note-offs just queued.
            if cfg!(feature = "jack") {
                std::thread::sleep(Duration::from_millis(50));
            }
            drop(conn);
        }
    }

    fn close(&mut self) {
        self.silence(false);
        self.close_output();
    }

    /// Sends an event due at `deadline`, counting it late if it is.
    fn send_timed(&mut self, m: &[u8], deadline: Instant) -> bool {
        let behind = Instant::now()
            .saturating_duration_since(deadline)
            .as_secs_f64();
        if behind > LATE_AFTER {
            self.count_late(behind);
        }
        self.send(m)
    }

    fn count_late(&self, behind: f64) {
        self.shared.late.fetch_add(1, Ordering::Relaxed);
        self.shared
            .max_late_ns
            .fetch_max((behind * 1e9) as u64, Ordering::Relaxed);
    }

    /// Sends one message; a failure means the port vanished: stop and say so.
    fn send(&mut self, m: &[u8]) -> bool {
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
        match conn.send(m) {
            Ok(()) => {
                self.shared.events.fetch_add(1, Ordering::Relaxed);
                self.tape.push(&self.track, m);
                true
            }
            Err(e) => {
                let name = self.out.take().map(|(_, n)| n).unwrap_or_default();
                self.sounding.clear();
                self.used = 0;
                self.drop_job();
                if let Ok(mut j) = self.shared.job.lock() {
                    j.output = None;
                }
                (self.printer)(format!(
                    "output port `{name}` vanished ({e}); playing stopped: use `ports`, then `connect`"
                ));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(pitch: u8, start: f64, duration: f64) -> Note {
        Note {
            pitch,
            start,
            duration,
            velocity: 0,
        }
    }

    #[test]
    fn events_start_at_first_onset_and_drop_bad_values() {
        let ev = to_events(&[
            note(62, 2.5, 0.5),
            note(60, 2.0, f64::NAN),
            note(61, f64::NAN, 1.0),
            note(64, 3.0, -1.0),
        ]);
        assert_eq!(ev.len(), 3);
        assert_eq!((ev[0].pitch, ev[0].at, ev[0].duration), (60, 0.0, 0.0));
        assert_eq!((ev[1].pitch, ev[1].at), (62, 0.5));
        assert_eq!((ev[2].pitch, ev[2].duration), (64, 0.0));
        assert!(ev.iter().all(|e| e.velocity >= 1));
    }

    #[test]
    fn clock_retempo_is_continuous() {
        let t0 = Instant::now();
        let mut c = Clock::new(t0, 120.0);
        assert_eq!(c.time(1.0), t0 + Duration::from_secs(1));
        c.retempo(1.0, 60.0);
        assert_eq!(c.time(1.0), t0 + Duration::from_secs(1));
        assert_eq!(c.time(2.0), t0 + Duration::from_secs(3));
    }

    #[test]
    fn play_without_output_says_connect() {
        let mut p = Performer::new(Arc::new(Controls::default()), Box::new(|_| {}));
        let err = p.play(&[note(60, 0.0, 1.0)], false).unwrap_err();
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

    struct Counter(u8);
    impl NoteSource for Counter {
        fn next_note(&mut self, _c: &Controls) -> Option<Note> {
            self.0 = self.0.checked_add(1)?;
            Some(note(60, 0.0, 0.5)) // never advances: must be paced
        }
    }

    #[test]
    fn a_source_that_never_advances_is_paced() {
        let (tx, rx) = mpsc::sync_channel(1);
        let t = std::thread::spawn(move || {
            generate(&mut Counter(0), &Controls::default(), &tx);
        });
        let steps: Vec<f64> = rx.iter().map(|(s, _)| s).collect();
        t.join().unwrap();
        assert_eq!(steps.len(), 255);
        assert!(steps.iter().filter(|s| **s > 0.0).count() >= 255 / (MAX_CHORD as usize + 1));
    }
}
