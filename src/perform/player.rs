//! The performer: owns the MIDI connections and a player thread that sends every event at
//! its deadline.
//!
//! The one thread plays every voice: each voice has its own job, origin, controls and
//! sounding notes, and the thread always sends the earliest event of all of them, so the
//! voices share one clock and one port without locks between them (a thread per voice
//! would need one for the port and would wake in a different order than the deadlines).
//!
//! Musical time (seconds at the reference 120 BPM) maps to beats from a voice's origin, and
//! beats to wall time (`Instant`) through the leading [`BeatSource`]: the internal tempo
//! clock, MIDI clock in, or Link. So notes, MIDI clock out ticks and quantized starts follow
//! one timeline. The internal clock takes a tempo change at the last event sent, so it takes
//! effect from the next note or tick on without a jump. The thread sleeps until about a
//! millisecond before a deadline and spins the rest (OS sleeps overshoot by tens to hundreds
//! of microseconds). A late event goes out at once and is counted. Every sounding note is
//! tracked so that stop, panic, disconnect, a vanished port and drop can end it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use midir::MidiOutputConnection;

use super::input::{Input, Knobs};
use super::record::{Tape, MAIN_TRACK};
use super::respond::{Answer, Responder, Show, TakePhrase};
use super::timeline::{
    next_line, whole_lines, BeatSource, ClockFollower, InternalClock, TICKS_PER_BEAT,
};
use super::{Printer, LATE_AFTER};
use crate::settings::Live;

use super::{msg, ports, Controls, NoteEvent, NoteSource, PerformError, PlayStats, PortSel};
use crate::music::note::Note;

/// Sleep until this long before a deadline, then spin.
const SPIN: Duration = Duration::from_millis(1);
/// A live note later than this means its generator fell behind: the voice moves on by
/// whole grid lines (see [`whole_lines`]). Below it, a late note is only counted.
const SLIP_AFTER: f64 = 0.030;
/// While live mode waits for the generator, look for its note this often.
const POLL: Duration = Duration::from_millis(2);
/// At most this many messages per millisecond: keeps a huge chord or a burst of late
/// events from overflowing the backend's buffer (JACK's holds about 2,000 per period).
const BURST: u32 = 64;

/// How long a message waits for room in a full output queue before the port counts as lost
/// (a server that took nothing for this long is not coming back soon).
const QUEUE_PATIENCE: Duration = Duration::from_secs(2);
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
/// Headroom before a job's first note, so it is not late while the thread wakes up.
const HEADROOM: Duration = Duration::from_millis(5);
/// Beats per second of musical time: melodies are stored at 120 BPM.
const REF_BEATS: f64 = 2.0;
/// A tempo change takes hold at the last event sent if that was this recent (so tick
/// intervals change exactly at a tick), else now.
const RECENT: Duration = Duration::from_millis(30);
/// Clock out never sends ticks closer than this: 24 a quarter note at the fastest `tempo`.
fn min_tick_interval() -> Duration {
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

enum Cmd {
    /// Silence the old port, then use this one (`None`: just close).
    Output(Option<(MidiOutputConnection, String)>, Sender<()>),
    /// A new voice with its own controls and recording track.
    AddVoice(Box<Lane>),
    Play {
        voice: usize,
        events: Vec<NoteEvent>,
        looped: bool,
        gen: u64,
    },
    Live {
        voice: usize,
        notes: Receiver<(f64, Note)>,
        gen: u64,
    },
    /// A voice's loop plays these notes from its next bar line on.
    Reloop {
        voice: usize,
        next: Box<NextLoop>,
    },
    /// Stop one voice, or every voice (`None`).
    Stop(Option<usize>, Sender<()>),
    Panic(Sender<()>),
    /// MIDI clock out on or off.
    ClockOut(bool, Sender<()>),
    /// The timeline to follow (`None`: the internal tempo clock).
    Leader(Option<Arc<dyn BeatSource>>, Sender<()>),
    /// The output port vanished: sounding notes end, the voices wait for it.
    OutputGone,
    /// The output port came back under its name: this is a new connection to it.
    Reattach(MidiOutputConnection, String),
    Quit,
}

/// What the REPL side and the player thread both see, for all voices.
#[derive(Default)]
struct Shared {
    /// The output port's name while one is connected.
    output: Mutex<Option<String>>,
    /// What a start waits for, in beats (f64 bits; 0 = start at once).
    grid: AtomicU64,
    /// The bar in beats (f64 bits): where clock out's Start goes.
    bar: AtomicU64,
    /// The output port vanished and tms waits for it to come back under its name.
    gone: AtomicBool,
}

impl Shared {
    fn grid(&self) -> Option<f64> {
        Some(f64::from_bits(self.grid.load(Ordering::Relaxed))).filter(|g| *g > 0.0)
    }
    fn bar(&self) -> f64 {
        Some(f64::from_bits(self.bar.load(Ordering::Relaxed)))
            .filter(|b| *b > 0.0)
            .unwrap_or(4.0)
    }
    fn output(&self) -> Option<String> {
        self.output.lock().ok().and_then(|o| o.clone())
    }
    fn set_output(&self, name: Option<String>) {
        if let Ok(mut o) = self.output.lock() {
            *o = name;
        }
    }
    fn gone(&self) -> bool {
        self.gone.load(Ordering::Relaxed)
    }
}

/// How often the lookout looks whether the connected ports are still there: a vanished
/// port is told at once and one that returns is connected again within a second.
const LOOK: Duration = Duration::from_millis(200);

/// What the lookout thread looks after.
#[derive(Default)]
struct Watched {
    input: Mutex<Option<std::sync::Weak<Input>>>,
    quit: AtomicBool,
}

/// The lookout thread: notices a connected port that vanished (the synth was closed, the
/// cable pulled) and connects again when a port of the same name returns. It never picks
/// another port: moving to another device is the user's choice (`connect`).
fn look_after_ports(shared: Arc<Shared>, watched: Arc<Watched>, tx: Sender<Cmd>, printer: Printer) {
    let mut lookout = ports::Lookout::default();
    while !watched.quit.load(Ordering::Relaxed) {
        // Parked, so that dropping the performer wakes it at once.
        std::thread::park_timeout(LOOK);
        if watched.quit.load(Ordering::Relaxed) {
            return;
        }
        let output = shared.output();
        let input = watched
            .input
            .lock()
            .ok()
            .and_then(|i| i.as_ref().and_then(|w| w.upgrade()));
        if output.is_none() && input.is_none() {
            lookout.close();
            continue;
        }
        if let Some(name) = output {
            match lookout.output_exists(&name) {
                Some(false) if !shared.gone.swap(true, Ordering::Relaxed) => {
                    let _ = tx.send(Cmd::OutputGone);
                }
                Some(true) if shared.gone() => {
                    if let Ok((conn, name)) = ports::open_output(&PortSel::Name(name)) {
                        let _ = tx.send(Cmd::Reattach(conn, name));
                    }
                }
                _ => {}
            }
        }
        if let Some(input) = input {
            let name = input.name();
            match lookout.input_exists(&name) {
                Some(false) if !input.gone.swap(true, Ordering::Relaxed) => super::say(
                    &printer,
                    format!(
                        "input port `{name}` vanished; tms listens again when it returns \
                         (`connect in` picks another port)"
                    ),
                ),
                Some(true)
                    if input.gone.load(Ordering::Relaxed)
                        && input.switch(&PortSel::Name(name.clone())).is_ok() =>
                {
                    super::say(
                        &printer,
                        format!("input port `{name}` is back: listening to it again"),
                    );
                }
                _ => {}
            }
        }
    }
}

/// What a voice is doing, as `voices` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    Silent,
    /// A melody, once.
    Playing,
    /// A melody, over and over.
    Looping,
    /// Endless generation.
    Live,
}

/// One voice as the REPL side and the player thread both see it: its job and its counters.
#[derive(Default)]
struct VoiceState {
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
    what: Option<Activity>,
}

impl VoiceState {
    /// A new job's generation, marked playing (`what` it is), with fresh counters.
    fn begin(&self, what: Activity) -> Option<u64> {
        let mut j = self.job.lock().ok()?;
        j.gen += 1;
        j.playing = true;
        j.what = Some(what);
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

    fn activity(&self) -> Activity {
        match self.job.lock() {
            Ok(j) if j.playing => j.what.unwrap_or(Activity::Playing),
            _ => Activity::Silent,
        }
    }

    fn is_playing(&self) -> bool {
        self.job.lock().is_ok_and(|j| j.playing)
    }

    fn stats(&self) -> PlayStats {
        PlayStats {
            events: self.events.load(Ordering::Relaxed),
            late: self.late.load(Ordering::Relaxed),
            max_late: self.max_late_ns.load(Ordering::Relaxed) as f64 * 1e-9,
        }
    }
}

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
struct VoiceHandle {
    name: String,
    controls: Arc<Controls>,
    state: Arc<VoiceState>,
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
            super::input::Clock {
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
                super::say(&printer, show(phrase));
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

/// Real-time scheduling for the player thread where the system allows it (root, or the
/// `audio` group's rtprio that JACK setups grant): on a loaded machine an ordinary thread
/// wakes milliseconds late, which is what MIDI clock listeners hear as jitter. The priority
/// is the lowest real-time one, below JACK's server (10) and its clients' process threads
/// (5), so the player never delays the graph (a client late for its cycle loses its MIDI);
/// it only spins for the last millisecond before each deadline. Where it is not allowed
/// the thread stays as it was.
#[cfg(unix)]
#[allow(unsafe_code)]
fn realtime_priority() -> bool {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: pthread_self() names the calling thread, which is alive; `param` is a valid
    // sched_param that the call only reads.
    unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) == 0 }
}

#[cfg(not(unix))]
fn realtime_priority() -> bool {
    false
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

/// How long a loop of `events` lasts: to the end of its last note.
fn loop_length(events: &[NoteEvent]) -> f64 {
    events
        .iter()
        .map(|e| e.at + e.duration)
        .fold(0.0, f64::max)
        .max(MIN_LOOP)
}

/// The melody a loop changes to ([`Performer::reloop`]), and where.
struct NextLoop {
    events: Vec<NoteEvent>,
    length: f64,
    /// Bar lines of the melody, in its events' time: `phase` + whole `bar`s.
    phase: f64,
    bar: f64,
    /// The loop's time of the change, once the loop has it.
    at: Option<f64>,
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
        /// The melody a loop changes to at a bar line.
        then: Option<Box<NextLoop>>,
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
                then,
                ..
            } => {
                if then.is_some() {
                    change_loop(events, next, base, length, then);
                }
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

    /// A loop that is to change melody and jumps (a seek, a MIDI Start) changes at once:
    /// there is no bar to finish.
    fn change_now(&mut self) {
        if let Job::Play {
            events,
            length,
            then,
            ..
        } = self
        {
            if let Some(t) = then.take() {
                *events = t.events;
                *length = t.length;
            }
        }
    }

    /// Back to the beginning (a MIDI Start): a melody from its first note; live mode goes
    /// on with the note it holds, now first.
    fn rewind(&mut self) {
        self.change_now();
        match self {
            Job::Play { next, base, .. } => {
                *next = 0;
                *base = 0.0;
            }
            Job::Live { held, last, .. } => {
                if let Some((at, _)) = held.as_mut() {
                    *at -= *last;
                }
                *last = 0.0;
            }
        }
    }

    /// A melody goes on from musical time `m`: the notes before it are skipped (a loop
    /// from the repetition that holds `m`). Live mode is moved by its origin instead.
    fn seek(&mut self, m: f64) {
        self.change_now();
        if let Job::Play {
            events,
            next,
            looped,
            base,
            length,
            ..
        } = self
        {
            if !m.is_finite() {
                return;
            }
            *base = match *looped {
                true => (m / *length).floor() * *length,
                false => 0.0,
            };
            let b = *base;
            *next = events.partition_point(|e| b + e.at < m);
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

/// A loop's change of melody ([`Performer::reloop`]), when its time has come: the change is
/// placed, when first seen, at the first bar line at or after the next note not yet sent
/// (the end of the pass when no bar line is left in it), and made as soon as no note of the
/// old melody before that time is left to send. The new melody goes on from its first note
/// at or after that time of the pass, and its passes follow at its own length.
fn change_loop(
    events: &mut Vec<NoteEvent>,
    next: &mut usize,
    base: &mut f64,
    length: &mut f64,
    then: &mut Option<Box<NextLoop>>,
) {
    let Some(t) = then.as_mut() else {
        return;
    };
    // The next old note's time in this pass; the pass's end when none is left.
    let due = events.get(*next).map_or(*length, |e| e.at);
    let at = *t.at.get_or_insert_with(|| {
        let k = ((due - t.phase) / t.bar - 1e-9).ceil();
        let line = t.phase + k * t.bar;
        if t.bar > 0.0 && line.is_finite() && line < *length - 1e-9 {
            line
        } else {
            *length
        }
    });
    if due < at - 1e-9 {
        return;
    }
    let t = then.take().expect("checked above");
    if at >= *length - 1e-9 {
        // At the pass's end: the next pass is the new melody's.
        *base += *length;
        *next = 0;
    } else {
        *next = t.events.partition_point(|e| e.at < at - 1e-9);
    }
    *events = t.events;
    *length = t.length;
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

/// A Start or Continue that goes out just before a given tick.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cue {
    Start,
    /// Continue from this song position (sixteenths), sent after a Song Position Pointer.
    Continue(u16),
}

/// MIDI clock out: ticks on the leader's beat grid (tick k falls on beat k/24).
struct ClockOut {
    next: i64,
    /// While the transport runs, the beat at which song position 0 fell.
    song: Option<f64>,
    /// Where the song stopped, in beats (Continue resumes there).
    stopped_at: f64,
    cue: Option<(i64, Cue)>,
    /// The deadline of the last tick sent: the next is at least [`min_tick_interval`]
    /// later, whatever the leader's beat does.
    last: Option<Instant>,
}

/// The first tick at or after beat `b`.
fn tick_at_or_after(b: f64) -> i64 {
    (b * TICKS_PER_BEAT - 1e-6).ceil() as i64
}

fn tick_beat(k: i64) -> f64 {
    k as f64 / TICKS_PER_BEAT
}

/// One voice in the player thread: its controls, its job and the notes it has sounding.
struct Lane {
    controls: Arc<Controls>,
    state: Arc<VoiceState>,
    /// The recording track of what this voice sends.
    track: Arc<str>,
    sounding: Vec<Sounding>,
    /// Channels (bit per channel) that got notes since the last silence.
    used: u16,
    job: Option<Job>,
    /// The leader's beat at which the job's musical time 0 falls; None while the job waits
    /// for its start (the leader's transport, then its grid line).
    origin: Option<f64>,
}

impl Lane {
    fn new(v: &VoiceHandle) -> Lane {
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
    fn sounding_channels(&self) -> u16 {
        self.sounding.iter().fold(0, |m, s| m | 1 << s.ch)
    }
}

struct Player {
    rx: Receiver<Cmd>,
    out: Option<(MidiOutputConnection, String)>,
    printer: Printer,
    shared: Arc<Shared>,
    /// The voices; the first one's controls also hold the shared tempo and latency.
    voices: Vec<Lane>,
    internal: Arc<InternalClock>,
    /// The external timeline followed (None: the internal clock).
    leader: Option<Arc<dyn BeatSource>>,
    /// Beat of the last event sent: where an internal tempo change takes hold.
    last_beat: f64,
    /// The leader's epoch and transport as last seen, to notice a Start or a Stop.
    epoch: u64,
    running: bool,
    clock_out: Option<ClockOut>,
    /// The program last sent on each channel, so a change is sent once (and voices that
    /// share a channel each get theirs back).
    programs: [Option<u8>; 16],
    /// Start of the current millisecond and messages sent in it.
    burst: (Instant, u32),
    tape: Tape,
    /// The output port vanished: nothing plays until it is back (or another is chosen).
    port_gone: bool,
}

/// Ticks, transport messages and all-voice silences count and record as the first voice's.
const FIRST: usize = 0;

impl Player {
    fn run(&mut self) {
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
    fn lead(&self) -> &dyn BeatSource {
        match &self.leader {
            Some(l) => &**l,
            None => &*self.internal,
        }
    }

    /// The shared settings (tempo, latency) live in the first voice's controls.
    fn controls(&self) -> &Controls {
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

    /// The leader started (a MIDI Start: the song from its beginning) or continued (from
    /// its song position): clock out says the same to the gear it clocks, before its next
    /// tick (a Continue waits for a tick on a sixteenth, as Song Position counts them).
    fn forward_transport(&mut self, start: bool) {
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
    fn resync_ticks(&mut self) {
        let now = self.lead().beat_at(Instant::now() + HEADROOM);
        if let Some(c) = self.clock_out.as_mut() {
            c.next = tick_at_or_after(now);
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
                Some(Err(true)) if self.voices[v].sounding.is_empty() => self.end_job(v),
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

    fn end_job(&mut self, v: usize) {
        let lane = &mut self.voices[v];
        if let Some(job) = lane.job.take() {
            lane.state.finish(Some(job.gen()));
        }
    }

    /// Sends the tick due now, after the Start or Continue cued for it.
    fn tick(&mut self, deadline: Instant) {
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
    fn stop_transport(&mut self) {
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
    fn start_clock_out(&mut self) {
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

    fn command(&mut self, cmd: Cmd) {
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

    /// The output port vanished: every sounding note ends (its note-off goes to the
    /// recording; the synth is gone), and the voices keep their jobs and wait for the port.
    fn output_gone(&mut self, why: Option<String>) {
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
        super::say(&self.printer, line);
    }

    /// The vanished output port is back under its name: play on, on the grid. A melody goes
    /// on from where the timeline is now (the notes of the time without a port are not
    /// sent late); a live voice moves on by whole grid steps (the `quantize` grid, else
    /// beats), so its notes fall where they would have.
    fn reattach(&mut self, conn: MidiOutputConnection, name: String) {
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
        super::say(
            &self.printer,
            format!("output port `{name}` is back: connected again, playing goes on"),
        );
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
    fn release(&mut self, v: usize) {
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
    fn silence_all(&mut self, panic: bool) {
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

    fn drop_job(&mut self, v: usize) {
        let lane = &mut self.voices[v];
        if let Some(job) = lane.job.take() {
            lane.state.finish(Some(job.gen()));
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
        self.silence_all(false);
        self.close_output();
    }

    /// Sends an event of voice `v` due at `deadline`, counting it late if it is.
    fn send_timed(&mut self, v: usize, m: &[u8], deadline: Instant) -> bool {
        let behind = Instant::now()
            .saturating_duration_since(deadline)
            .as_secs_f64();
        if behind > LATE_AFTER {
            self.count_late(v, behind);
        }
        self.send(v, m)
    }

    fn count_late(&self, v: usize, behind: f64) {
        let state = &self.voices[v].state;
        state.late.fetch_add(1, Ordering::Relaxed);
        state
            .max_late_ns
            .fetch_max((behind * 1e9) as u64, Ordering::Relaxed);
    }

    /// Sends one message for voice `v`; a failure means the port vanished: every voice
    /// stops, and the player says so.
    fn send(&mut self, v: usize, m: &[u8]) -> bool {
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

    fn melody(looped: bool) -> Job {
        let notes: Vec<Note> = (0..4)
            .map(|k| note(60 + k, f64::from(k) * 0.25, 0.25))
            .collect();
        Job::Play {
            events: to_events(&notes),
            next: 0,
            looped,
            base: 0.0,
            length: 1.0,
            gen: 0,
            then: None,
        }
    }

    fn next_at(job: &mut Job) -> Option<f64> {
        job.peek().ok().map(|(at, _)| at)
    }

    #[test]
    fn a_loop_seeks_into_the_repetition_that_holds_the_time() {
        let mut job = melody(true);
        job.seek(5.6);
        assert_eq!(
            next_at(&mut job),
            Some(5.75),
            "notes before 5.6 are skipped"
        );
        job.advance(5.75);
        assert_eq!(next_at(&mut job), Some(6.0), "and the loop goes on");
        job.seek(5.0);
        assert_eq!(
            next_at(&mut job),
            Some(5.0),
            "a note at the time itself plays"
        );
    }

    /// Notes of `pitch` on every quarter of `bars` bars of 4/4 (a bar is 2 s).
    fn quarters(pitch: u8, bars: u32) -> Vec<Note> {
        (0..4 * bars)
            .map(|k| note(pitch, f64::from(k) * 0.5, 0.5))
            .collect()
    }

    /// The (time, pitch) of the next `n` notes a job plays.
    fn played(job: &mut Job, n: usize) -> Vec<(f64, u8)> {
        (0..n)
            .map(|_| {
                let (at, e) = job.peek().expect("a loop never ends");
                job.advance(at);
                (at, e.pitch)
            })
            .collect()
    }

    fn next_loop(notes: &[Note], phase: f64) -> Box<NextLoop> {
        let events = to_events(notes);
        Box::new(NextLoop {
            length: loop_length(&events),
            events,
            phase,
            bar: 2.0,
            at: None,
        })
    }

    fn looping(notes: &[Note]) -> Job {
        let events = to_events(notes);
        Job::Play {
            length: loop_length(&events),
            events,
            next: 0,
            looped: true,
            base: 0.0,
            gen: 0,
            then: None,
        }
    }

    #[test]
    fn a_loop_takes_a_new_melody_at_its_next_bar_line() {
        // Two bars of C4; a third of a bar has played when the loop is told to change.
        let mut job = looping(&quarters(60, 2));
        assert_eq!(played(&mut job, 2), [(0.0, 60), (0.5, 60)]);
        if let Job::Play { then, .. } = &mut job {
            *then = Some(next_loop(&quarters(72, 2), 0.0));
        }
        let next = played(&mut job, 10);
        let want: Vec<(f64, u8)> = [(1.0, 60), (1.5, 60)]
            .into_iter()
            .chain((4..12).map(|k| (f64::from(k) * 0.5, 72)))
            .collect();
        assert_eq!(
            next, want,
            "bar 1 ends as it was, bar 2 and the next pass are new"
        );
        // Bar lines off the loop's start (an upbeat of a quarter): the change waits for one.
        let mut job = looping(&quarters(60, 2));
        played(&mut job, 1);
        if let Job::Play { then, .. } = &mut job {
            *then = Some(next_loop(&quarters(72, 2), 0.5));
        }
        assert_eq!(played(&mut job, 2), [(0.5, 72), (1.0, 72)]);
        // Told during the last bar: the next pass is the new melody, from its start.
        let mut job = looping(&quarters(60, 2));
        played(&mut job, 6);
        if let Job::Play { then, .. } = &mut job {
            *then = Some(next_loop(&quarters(72, 1), 0.0));
        }
        assert_eq!(
            played(&mut job, 4),
            [(3.0, 60), (3.5, 60), (4.0, 72), (4.5, 72)]
        );
        assert_eq!(
            played(&mut job, 3),
            [(5.0, 72), (5.5, 72), (6.0, 72)],
            "its own length"
        );
        // A seek changes it at once.
        let mut job = looping(&quarters(60, 2));
        if let Job::Play { then, .. } = &mut job {
            *then = Some(next_loop(&quarters(72, 2), 0.0));
        }
        job.seek(4.2);
        assert_eq!(played(&mut job, 1), [(4.5, 72)]);
    }

    #[test]
    fn a_melody_seeks_past_its_end_to_nothing() {
        let mut job = melody(false);
        job.seek(0.3);
        assert_eq!(next_at(&mut job), Some(0.5));
        job.seek(2.0);
        assert!(matches!(job.peek(), Err(true)), "nothing left to play");
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
