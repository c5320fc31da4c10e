//! Session commands about performing: ports, connections, the player, live mode, knobs,
//! listening. The `Performer` owns the MIDI connections and the player thread; the session
//! only translates commands and keeps the shared live `Controls` in step with `set`.

use crate::say;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::Session;
use crate::error::{Error, ErrorKind};
use crate::ground::span::Span;
use crate::lang::commands::stage::{self as cmd, PortArg, RecordArg, RespondArg};
use crate::lang::commands::Handle;
use crate::model::{Generator, SampleOptions};
use crate::music::grid::{BarLines, Grid};
use crate::music::note::Note;
use crate::perform::record::Recording;
use crate::perform::{self, ClockSource, Controls, NoteSource, Performer, PortSel};
use crate::settings::{Live, SettingId, Settings};

/// A failure of the player or the ports, at the command's `span`.
pub(super) fn fail(span: Span) -> impl Fn(perform::PerformError) -> Error {
    move |e| Error::new(span, e.into())
}

/// Notes in an answer when `respond on` does not say.
const RESPOND_NOTES: usize = 16;
/// Silence that ends a phrase for `listen` and `respond`.
const PHRASE_SILENCE_MS: u64 = 600;

pub(super) struct State {
    /// Every voice in the order they were made, the first one "main"; the slot at
    /// `current` is empty, since the session holds that voice (`Session::voice`).
    pub voices: Vec<Option<super::voices::Voice>>,
    pub current: usize,
    pub performer: Option<Performer>,
    pub recording: Option<Recording>,
    /// The Ableton Link session while `link on`.
    #[cfg(feature = "link")]
    pub link: Option<perform::link::Membership>,
}

impl Default for State {
    fn default() -> Self {
        State {
            voices: vec![None],
            current: 0,
            performer: None,
            recording: None,
            #[cfg(feature = "link")]
            link: None,
        }
    }
}

pub(super) struct LiveShape {
    allowed: Option<[bool; 128]>,
    grid: Option<Grid>,
    tonic: Option<u8>,
    bar_lines: BarLines,
}

impl LiveShape {
    /// The shape the settings ask for, on `grid` (the `grid` setting resolved) laid from
    /// `bar_lines`.
    pub(super) fn of(s: &Settings, grid: Option<Grid>, bar_lines: BarLines) -> LiveShape {
        LiveShape {
            allowed: s.scale.map(|s| s.mask()),
            grid,
            tonic: s.scale.map(|s| s.tonic),
            bar_lines,
        }
    }
}

/// Live mode's note supplier: the model's generator reading the current controls per note.
struct LiveSource {
    generator: Generator,
    rng: ChaCha20Rng,
    shape: Arc<Mutex<LiveShape>>,
    /// The model's newest weights (training publishes each epoch), taken between notes.
    feed: crate::model::FeedReader,
}

/// What `listen` and `respond` say of a phrase: its notes on `grid` (1/48 notes when off),
/// as `prime notes` reads them.
fn heard_line(notes: &[Note], grid: Option<Grid>) -> String {
    format!(
        "heard {}: {}",
        super::data::count(notes.len(), "note"),
        crate::music::notes_text::format_heard(notes, grid)
    )
}

impl LiveSource {
    /// The sampling controls of this moment.
    fn options(&self, controls: &Controls) -> SampleOptions {
        let (allowed, grid, tonic, bar_lines) = self
            .shape
            .lock()
            .map_or((None, None, None, BarLines::default()), |s| {
                (s.allowed, s.grid, s.tonic, s.bar_lines)
            });
        SampleOptions {
            allowed,
            tonic,
            grid,
            bar_lines,
            ..crate::settings::sampling(|l| controls.get(l))
        }
    }

    /// An answer of `n` notes to `phrase`: its last note keeps the length it drew, as the
    /// last note of `generate N` does.
    fn answer(&mut self, phrase: &[Note], n: usize, controls: &Controls) -> Vec<Note> {
        self.generator.reprime(phrase);
        let opts = self.options(controls);
        self.generator.follow(&mut self.feed);
        (0..n)
            .map(|i| {
                let ending = crate::model::Ending {
                    last: i + 1 == n,
                    ..Default::default()
                };
                self.generator.next_ending(&opts, &ending, &mut self.rng).0
            })
            .collect()
    }
}

impl NoteSource for LiveSource {
    fn next_note(&mut self, controls: &Controls) -> Option<Note> {
        let opts = self.options(controls);
        self.generator.follow(&mut self.feed);
        Some(self.generator.next(&opts, &mut self.rng))
    }
}

impl Session {
    pub(super) fn performer(&mut self) -> &mut Performer {
        if self.stage.performer.is_none() {
            self.set_printer(Box::new(|line: String| {
                // A closed stdout must not kill the player thread.
                let _ = writeln!(std::io::stdout(), "{line}");
            }));
        }
        self.stage
            .performer
            .as_mut()
            .expect("set_printer made the performer")
    }

    /// Replaces how the player prints (the REPL passes rustyline's external printer).
    pub fn set_printer(&mut self, printer: Box<dyn FnMut(String) + Send>) {
        let controls = self.shared_controls();
        if self.stage.performer.is_none() {
            let mut p = Performer::new(controls, printer);
            // Every voice the session has, then the current one selected.
            let current = self.stage.current;
            for i in (1..self.stage.voices.len()).chain([current]) {
                let v = self.voice_at(i);
                p.select_voice(&v.name, v.controls.clone());
            }
            p.set_quantize(self.quantize_grid(), self.bar_beats());
            #[cfg(feature = "link")]
            if let Some(m) = &self.stage.link {
                p.set_external(Some(m.link().clone()));
            }
            self.stage.performer = Some(p);
        }
    }

    /// The meter's bar in beats (quarter notes).
    pub(super) fn bar_beats(&self) -> f64 {
        self.settings.meter.bar_whole_notes() * 4.0
    }

    fn quantize_grid(&self) -> Option<f64> {
        self.settings.quantize.grid(self.bar_beats())
    }

    /// What `play` says it does: `playing 40 notes (20.0 s) on channel 1, from the next bar`.
    fn playing_line(&self, melody: &[Note], looped: bool) -> String {
        // Melodies are stored at 120 BPM.
        let end = melody.iter().map(|n| n.end()).fold(0.0, f64::max);
        let seconds = end * 120.0 / self.settings.tempo;
        let when = match self.settings.quantize {
            perform::Quantize::Off => "",
            perform::Quantize::Beat => ", from the next beat",
            perform::Quantize::Bar => ", from the next bar",
        };
        format!(
            "{} {} ({seconds:.1} s{}) on channel {}{when}",
            if looped { "looping" } else { "playing" },
            super::data::count(melody.len(), "note"),
            if looped { " a pass" } else { "" },
            self.settings.channel
        )
    }

    /// What goes on reading the input after `connect in` moved it to another port, as
    /// the end of the line that says so (empty when nothing reads it).
    fn kept_on_new_input(&mut self) -> String {
        let learning = self.learn.learning.is_some();
        let p = self.performer();
        let mut kept: Vec<String> = Vec::new();
        if p.responding().is_some() {
            kept.push("respond".into());
        }
        if learning {
            kept.push("learn".into());
        }
        if p.clock_state().source != ClockSource::Internal
            && p.clock_state().source != ClockSource::External
        {
            kept.push("clock in (waiting for its ticks)".into());
        }
        match p.mappings().len() {
            0 => {}
            1 => kept.push("1 mapped knob".into()),
            n => kept.push(format!("{n} mapped knobs")),
        }
        match kept.len() {
            0 => String::new(),
            _ => format!("; {} go on with it", kept.join(", ")),
        }
    }

    /// Says so when `play` or `live on` will wait for an external clock's transport, or
    /// for an output port that vanished to return.
    pub(super) fn say_if_waiting(&mut self) {
        if let Some(port) = self.performer().waiting_for_port() {
            say!(
                self,
                "waiting for output port `{port}` to return (`connect` picks another port)"
            );
        }
        let state = self.performer().clock_state();
        if matches!(
            state.source,
            ClockSource::ClockIn | ClockSource::ClockInWaiting
        ) && !state.running
        {
            say!(
                self,
                "waiting for the MIDI clock on the input port to start (Start or Continue)"
            );
        }
    }

    /// `stop`, and `live off`: the current voice stops, its sounding notes get their note-off.
    fn stop_voice(&mut self) {
        if let Some(p) = self.stage.performer.as_mut() {
            p.stop();
        }
    }
}

impl Handle<cmd::Ports> for Session {
    fn handle(&mut self, _: &cmd::Ports, span: Span) -> Result<(), Error> {
        let list = perform::list_ports().map_err(fail(span))?;
        say!(self, "outputs:");
        if list.outputs.is_empty() {
            say!(self, "  (none)");
        }
        for (i, p) in list.outputs.iter().enumerate() {
            say!(self, "  {}  {p}", i + 1);
        }
        say!(self, "inputs:");
        if list.inputs.is_empty() {
            say!(self, "  (none)");
        }
        for (i, p) in list.inputs.iter().enumerate() {
            say!(self, "  {}  {p}", i + 1);
        }
        Ok(())
    }
}

impl Handle<cmd::Connect> for Session {
    fn handle(&mut self, cmd: &cmd::Connect, _: Span) -> Result<(), Error> {
        let cmd::Connect { input, port } = cmd;
        let sel = match &port.value {
            PortArg::Index(i) => PortSel::Index(*i),
            PortArg::Name(n) => PortSel::Name(n.clone()),
        };
        // A port that cannot be opened changes nothing: what worked goes on.
        if *input {
            let name = self
                .performer()
                .connect_input(&sel)
                .map_err(fail(port.span))?;
            let kept = self.kept_on_new_input();
            say!(self, "connected input {name}{kept}");
        } else {
            let name = self
                .performer()
                .connect_output(&sel)
                .map_err(fail(port.span))?;
            say!(self, "connected output {name}");
        }
        Ok(())
    }
}

impl Handle<cmd::Disconnect> for Session {
    fn handle(&mut self, _: &cmd::Disconnect, _: Span) -> Result<(), Error> {
        self.input_closing();
        if let Some(p) = self.stage.performer.as_mut() {
            p.disconnect();
        }
        say!(self, "disconnected");
        Ok(())
    }
}

impl Handle<cmd::Play> for Session {
    fn handle(&mut self, cmd: &cmd::Play, span: Span) -> Result<(), Error> {
        let cmd::Play { looped } = cmd;
        self.need_melody(span)?;
        if !self.ensure_output("not playing")? {
            return Ok(());
        }
        let melody = self.melody().to_vec();
        self.performer()
            .play(&melody, *looped)
            .map_err(fail(span))?;
        say!(self, "{}", self.playing_line(&melody, *looped));
        self.say_if_waiting();
        Ok(())
    }
}

impl Handle<cmd::Live> for Session {
    fn handle(&mut self, cmd: &cmd::Live, span: Span) -> Result<(), Error> {
        match cmd {
            cmd::Live { on: false } => {
                self.stop_voice();
                Ok(())
            }
            cmd::Live { on: true } => {
                let generator = self.live_generator(span)?;
                // As `play`: no port at all is said in one line, not an error, so a script
                // runs on a machine without a synth.
                if !self.ensure_output("not playing")? {
                    return Ok(());
                }
                let rng = ChaCha20Rng::seed_from_u64(self.derive_seed());
                self.sync_live_shape();
                let source = LiveSource {
                    generator,
                    rng,
                    shape: self.voice.live_shape.clone(),
                    feed: self.voice.feed.reader(),
                };
                self.performer()
                    .live(Box::new(source))
                    .map_err(fail(span))?;
                say!(self, "live: on (`live off` or `stop` to end)");
                self.say_if_waiting();
                Ok(())
            }
        }
    }
}

impl Handle<cmd::Stop> for Session {
    fn handle(&mut self, cmd: &cmd::Stop, _: Span) -> Result<(), Error> {
        match cmd.all {
            false => self.stop_voice(),
            true => {
                if let Some(p) = self.stage.performer.as_mut() {
                    p.stop_all();
                }
            }
        }
        Ok(())
    }
}

impl Handle<cmd::Voice> for Session {
    fn handle(&mut self, cmd: &cmd::Voice, _: Span) -> Result<(), Error> {
        self.voice_command(&cmd.name)
    }
}

impl Handle<cmd::Voices> for Session {
    fn handle(&mut self, _: &cmd::Voices, _: Span) -> Result<(), Error> {
        self.list_voices();
        Ok(())
    }
}

impl Handle<cmd::Panic> for Session {
    fn handle(&mut self, _: &cmd::Panic, _: Span) -> Result<(), Error> {
        let connected = match self.stage.performer.as_mut() {
            Some(p) if p.connections().0.is_some() => {
                p.panic();
                true
            }
            _ => false,
        };
        match connected {
            true => say!(self, "panic: all notes off on 16 channels"),
            false => say!(self, "panic: no output connected, nothing sounds"),
        }
        Ok(())
    }
}

impl Handle<cmd::Wait> for Session {
    fn handle(&mut self, _: &cmd::Wait, span: Span) -> Result<(), Error> {
        self.wait_background(span)?;
        self.wait_for_player(false);
        if let Some((list, many)) = self.endless_music() {
            let (they, them) = if many {
                ("they play", "them")
            } else {
                ("it plays", "it")
            };
            say!(
                self,
                "wait: voice {list}: {they} until stopped (`stop all` ends {them})"
            );
        }
        match self.interrupted() {
            true => Err(Error::new(span, ErrorKind::Interrupted)),
            false => Ok(()),
        }
    }
}

impl Handle<cmd::Listen> for Session {
    fn handle(&mut self, cmd: &cmd::Listen, span: Span) -> Result<(), Error> {
        let cmd::Listen { n } = cmd;
        self.refuse_while_learning(span, "`listen`")?;
        let interrupt = self.interrupt.clone();
        let notes = self
            .performer()
            .listen(*n, Duration::from_millis(PHRASE_SILENCE_MS), &interrupt)
            .map_err(fail(span))?;
        if self.interrupted() {
            return Err(Error::new(span, ErrorKind::Interrupted));
        }
        if notes.is_empty() {
            return Err(Error::new(span, ErrorKind::HeardNoNotes));
        }
        say!(self, "{}", heard_line(&notes, self.grid()));
        self.set_melody(notes);
        Ok(())
    }
}

impl Handle<cmd::Record> for Session {
    fn handle(&mut self, cmd: &cmd::Record, span: Span) -> Result<(), Error> {
        self.record(cmd.0.as_ref(), span)
    }
}

impl Handle<cmd::Respond> for Session {
    fn handle(&mut self, cmd: &cmd::Respond, span: Span) -> Result<(), Error> {
        self.respond(cmd.0.as_ref(), span)
    }
}

impl Handle<cmd::Map> for Session {
    fn handle(&mut self, cmd: &cmd::Map, _: Span) -> Result<(), Error> {
        match cmd {
            cmd::Map::Cc {
                cc,
                setting,
                min,
                max,
            } => {
                self.performer().map_cc(*cc, setting.value, *min, *max);
                say!(self, "cc {cc} → {} ({min} to {max})", setting.value.name());
                if self.performer().connections().1.is_none() {
                    say!(
                        self,
                        "warning: no input port connected, so no knob can turn it yet (`ports`, then `connect in N`)"
                    );
                }
                Ok(())
            }
            cmd::Map::List => {
                let maps = self
                    .stage
                    .performer
                    .as_ref()
                    .map(|p| p.mappings())
                    .unwrap_or_default();
                if maps.is_empty() {
                    say!(self, "no knobs mapped (map cc N SETTING MIN MAX)");
                }
                for (cc, setting, min, max) in maps {
                    say!(self, "cc {cc} → {} ({min} to {max})", setting.name());
                }
                Ok(())
            }
        }
    }
}

impl Handle<cmd::Unmap> for Session {
    fn handle(&mut self, cmd: &cmd::Unmap, span: Span) -> Result<(), Error> {
        let cmd::Unmap { cc } = cmd;
        let removed = self
            .stage
            .performer
            .as_mut()
            .is_some_and(|p| p.unmap_cc(*cc));
        if !removed {
            return Err(Error::new(span, ErrorKind::CcNotMapped { cc: *cc }));
        }
        say!(self, "unmapped cc {cc}");
        Ok(())
    }
}

impl Session {
    /// Connects the first output port when none is connected, as a musician expects `play`
    /// to just work. Where there is no port at all it says so in one line and plays nothing
    /// (false), so that a demo script runs on a machine without a synth. `refused` begins
    /// that line: what does not happen ("not playing").
    pub(super) fn ensure_output(&mut self, refused: &str) -> Result<bool, Error> {
        if self.performer().connections().0.is_some() {
            return Ok(true);
        }
        let outputs = match perform::list_ports() {
            Ok(list) => list.outputs,
            Err(e) => {
                say!(self, "{refused}: {e}");
                return Ok(false);
            }
        };
        if outputs.is_empty() {
            say!(
                self,
                "{refused}: no MIDI output port (connect a synth, then `ports` and `connect N`)"
            );
            return Ok(false);
        }
        match self.performer().connect_output(&PortSel::Index(1)) {
            Ok(name) => {
                say!(self, "connected output {name}");
                Ok(true)
            }
            Err(e) => {
                say!(self, "{refused}: {e}");
                Ok(false)
            }
        }
    }

    /// Blocks until the melody has played, polling so that Ctrl-C stops it (with note-offs).
    /// Endless music (a live voice, a loop) would block forever: `wait` waits only for
    /// melodies played once (`endless` false), the end of a script for everything.
    fn wait_for_player(&mut self, endless: bool) {
        use perform::Activity;
        let waits_for = |a: Activity| a == Activity::Playing || (endless && a != Activity::Silent);
        while self
            .stage
            .performer
            .as_ref()
            .is_some_and(|p| p.voices().iter().any(|(_, a)| waits_for(*a)))
        {
            if self.interrupted() {
                if let Some(p) = self.stage.performer.as_mut() {
                    p.stop_all();
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What plays until stopped, as `wait` says it (`bass plays live and main loops`), and
    /// whether that is more than one voice. None when nothing endless plays.
    fn endless_music(&self) -> Option<(String, bool)> {
        use perform::Activity;
        let voices = self.stage.performer.as_ref()?.voices();
        let doing: Vec<String> = voices
            .iter()
            .filter_map(|(name, a)| {
                let name = crate::error::escape_control(name);
                match a {
                    Activity::Live => Some(format!("{name} plays live")),
                    Activity::Looping => Some(format!("{name} loops")),
                    Activity::Silent | Activity::Playing => None,
                }
            })
            .collect();
        let (last, rest) = doing.split_last()?;
        Some(match rest {
            [] => (last.clone(), false),
            _ => (format!("{} and {last}", rest.join(", ")), true),
        })
    }

    /// Keeps the live controls equal to the settings the user changed.
    pub(super) fn stage_setting_changed(&mut self, id: SettingId) {
        if let Some(l) = id.live() {
            self.set_control(l, self.settings.live_value(l));
        }
        if matches!(id, SettingId::Quantize | SettingId::Meter) {
            let (grid, bar) = (self.quantize_grid(), self.bar_beats());
            if let Some(p) = self.stage.performer.as_mut() {
                p.set_quantize(grid, bar);
            }
        }

        if matches!(id, SettingId::Scale | SettingId::Grid | SettingId::Meter) {
            self.sync_live_shape();
        }
        // At once rather than on the follower's next look, so that a `link` right after
        // `set tempo` shows the new session tempo.
        #[cfg(feature = "link")]
        if let Some(m) = &self.stage.link {
            match id {
                SettingId::Tempo => {
                    // Link keeps tempo within 20 to 999: `set tempo 10` shows what the
                    // session took, and the player plays that.
                    use crate::perform::timeline::BeatSource;
                    m.link().set_tempo(self.settings.tempo);
                    let took = perform::link::shown_tempo(m.link().tempo());
                    self.settings.set_live(Live::Tempo, took);
                    self.set_control(Live::Tempo, took);
                }
                SettingId::Meter => m.link().set_meter(self.settings.meter),
                _ => {}
            }
        }
        // The recording's tempo map follows what is played (Link's tempo included).
        if let (SettingId::Tempo, Some(r)) = (id, &self.stage.recording) {
            r.tempo(self.settings.tempo);
        }
    }

    pub(super) fn sync_live_shape(&mut self) {
        if let Ok(mut s) = self.voice.live_shape.lock() {
            *s = LiveShape::of(&self.settings, self.grid(), self.bar_lines());
        }
    }

    /// Pulls knob changes back into the settings so `set` lists what is playing.
    pub fn sync_from_controls(&mut self) {
        let shared = self.shared_controls();
        for &l in Live::ALL {
            let from = match l.per_voice() {
                true => &self.voice.controls,
                false => &shared,
            };
            self.settings.set_live(l, from.get(l));
        }
        // The follower thread brings a peer's tempo to the controls on its next look (every
        // 20 ms): the session itself is the newer word.
        self.follow_link();
    }

    /// Silences everything and closes the ports: `quit`, end of a script, drop. A
    /// recording is written after the note-offs, so it ends with them.
    pub fn stage_shutdown(&mut self) {
        self.stop_model_work();
        if let Some(p) = self.stage.performer.as_mut() {
            p.disconnect();
        }
        if self.stage.recording.is_some() {
            if let Err(e) = self.record(Some(&RecordArg::Stop), Span::default()) {
                eprintln!("{}", crate::error::render(&e, "<quit>", "", self.color));
            }
        }
        self.stage.performer = None;
        // Peers see this one leave at once instead of after Link's timeout.
        #[cfg(feature = "link")]
        {
            self.stage.link = None;
        }
    }

    fn respond(&mut self, arg: Option<&RespondArg>, span: Span) -> Result<(), Error> {
        let fail = |e: perform::PerformError| Error::new(span, e.into());
        match arg {
            None => {
                match self.stage.performer.as_ref().and_then(|p| p.responding()) {
                    Some(n) => say!(
                        self,
                        "responding: {} answered",
                        super::data::count(n as usize, "phrase")
                    ),
                    None => say!(self, "not responding: `respond on` starts"),
                }
                Ok(())
            }
            Some(RespondArg::Off) => {
                match self.stage.performer.as_mut().and_then(|p| p.respond_off()) {
                    Some(n) => say!(
                        self,
                        "stopped responding after {}",
                        super::data::count(n as usize, "phrase")
                    ),
                    None => say!(self, "was not responding"),
                }
                Ok(())
            }
            Some(RespondArg::On { notes }) => {
                self.refuse_while_learning(span, "`respond on`")?;
                let n = notes.unwrap_or(RESPOND_NOTES);
                let model = self.need_model(span)?;
                // Replaced by each phrase before anything is generated.
                let placeholder = [Note {
                    pitch: 60,
                    start: 0.0,
                    duration: 0.5,
                    velocity: 100,
                }];
                let mut source = LiveSource {
                    // A heard phrase's bar lines and key are not known: its notes are read
                    // as such.
                    generator: Generator::new(model, &placeholder, Default::default()),
                    rng: ChaCha20Rng::seed_from_u64(self.derive_seed()),
                    shape: self.voice.live_shape.clone(),
                    feed: self.voice.feed.reader(),
                };
                let controls = self.voice.controls.clone();
                let shape = source.shape.clone();
                let answer: perform::Answer =
                    Box::new(move |phrase: &[Note]| source.answer(phrase, n, &controls));
                // On the grid the answer was made on.
                let show: perform::Show = Box::new(move |phrase: &[Note]| {
                    heard_line(phrase, shape.lock().ok().and_then(|s| s.grid))
                });
                self.sync_live_shape();
                self.performer()
                    .respond(Duration::from_millis(PHRASE_SILENCE_MS), answer, Some(show))
                    .map_err(fail)?;
                say!(self, "answering each phrase on the input with {n} notes");
                Ok(())
            }
        }
    }

    fn record(&mut self, arg: Option<&RecordArg>, span: Span) -> Result<(), Error> {
        match arg {
            None => {
                match &self.stage.recording {
                    Some(r) => {
                        let (secs, events) = r.progress();
                        say!(
                            self,
                            "recording into {}: {secs:.1} s, {events} events",
                            r.path().display()
                        );
                    }
                    None => say!(self, "not recording: `record \"FILE.mid\"` starts"),
                }
                Ok(())
            }
            Some(RecordArg::Into { path, overwrite }) => {
                if let Some(r) = &self.stage.recording {
                    let path = r.path().to_path_buf();
                    return Err(Error::new(span, ErrorKind::AlreadyRecording { path }));
                }
                // The tempo as played: `clock in` may lead it away from the setting.
                let tempo = self.shared_controls().get(Live::Tempo);
                let meter = self.settings.meter;
                let tape = self.performer().tape().clone();
                let target = std::path::Path::new(&path.value);
                let rec =
                    Recording::start(&tape, target, *overwrite, tempo, meter).map_err(|error| {
                        Error::new(path.span, ErrorKind::Record { error, kept: false })
                    })?;
                // The player sent these before the take; each voice's track starts with its.
                let programs: Vec<(String, u8, u8)> = (0..self.stage.voices.len())
                    .map(|i| self.voice_at(i))
                    .filter_map(|v| {
                        let ch = v.controls.get(Live::Channel).clamp(1.0, 16.0) as u8 - 1;
                        Some((v.name.clone(), ch, v.controls.program()?))
                    })
                    .collect();
                rec.programs(&programs);
                rec.follow_tempo(self.shared_controls(), tempo);
                say!(
                    self,
                    "recording into {}{} (`record stop` writes it)",
                    path.value,
                    if *overwrite { ", replacing it" } else { "" }
                );
                self.stage.recording = Some(rec);
                Ok(())
            }
            Some(RecordArg::Stop) => {
                let Some(rec) = self.stage.recording.take() else {
                    return Err(Error::new(span, ErrorKind::NotRecording));
                };
                match rec.stop() {
                    Ok(sum) => {
                        let tracks: Vec<String> = sum
                            .tracks
                            .iter()
                            .map(|(name, notes)| format!("{name} {notes} notes"))
                            .collect();
                        let tracks = if tracks.is_empty() {
                            "nothing was played or heard".to_string()
                        } else {
                            tracks.join(", ")
                        };
                        let lost = match sum.lost {
                            0 => String::new(),
                            n => {
                                format!("; {n} messages came faster than the recording could keep")
                            }
                        };
                        say!(
                            self,
                            "wrote {}: {:.1} s; {tracks}{lost}",
                            sum.path.display(),
                            sum.seconds
                        );
                        Ok(())
                    }
                    Err(failed) => {
                        let (rec, error) = *failed;
                        self.stage.recording = Some(rec);
                        Err(Error::new(span, ErrorKind::Record { error, kept: true }))
                    }
                }
            }
        }
    }

    /// A script that ends while a melody plays waits for it (LANGUAGE.md), then silences.
    pub fn finish_script(&mut self) {
        self.keep_watching();
        self.wait_for_player(false);
        if let Some((list, many)) = self.endless_music() {
            // Not silently: the script is over, the music is not.
            let they = if many { "they play" } else { "it plays" };
            say!(
                self,
                "the script has ended; voice {list}: {they} until Ctrl-C"
            );
        }
        self.wait_for_player(true);
        self.stage_shutdown();
    }
}
