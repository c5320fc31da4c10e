//! Commands that perform over MIDI: ports, the player, live mode, voices, knobs, listening
//! and recording, each a type and its row beside its parser. The session's stage (the
//! player thread and the ports) carries them out.

use std::fmt;

use super::{
    opt_on_off, setting_name, Arg, Args, CommandSpec, Misuse, Num, Pool, Quoted, Replay, Q,
};
use crate::error::Error;
use crate::fsio::Role;
use crate::ground::span::Spanned;
use crate::lang::Command;
use crate::settings;

bare!(
    /// `ports`
    Ports
);

impl Ports {
    pub const ROW: CommandSpec = CommandSpec {
        name: "ports",
        usage: "ports",
        summary: "numbered MIDI output and input ports (tms's own are left out)",
        details: "",
        example: "ports",
        words: &[],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::Never,
        parse: |a| a.finish(Ports),
    };
}

/// A port by its number in `ports`, or by part of its name.
#[derive(Clone, Debug, PartialEq)]
pub enum PortArg {
    Index(usize),
    Name(String),
}

/// `connect [in] N|"NAME"`: the output, or with `in` the input, to a port.
#[derive(Clone, Debug, PartialEq)]
pub struct Connect {
    pub input: bool,
    pub port: Spanned<PortArg>,
}

impl fmt::Display for Connect {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(if self.input {
            "connect in "
        } else {
            "connect "
        })?;
        match &self.port.value {
            PortArg::Index(i) => write!(f, "{i}"),
            PortArg::Name(n) => write!(f, "{}", Q(n)),
        }
    }
}

impl Connect {
    pub const ROW: CommandSpec = CommandSpec {
        name: "connect",
        usage: "connect [in] N|\"NAME\"",
        summary: "connect the output (or with `in` the input) to a port, by number or part of its name",
        details: "A port that cannot be opened changes nothing. `connect in` to another port keeps `respond`, `learn`, `clock in` and the knobs working on it, and says so. A connected port that vanishes is said at once; tms connects again when a port of the same name returns, and never moves to another port by itself.",
        example: "connect \"synth\"",
        words: &["in"],
        quoted: Quoted::Ports,
        words_at: &[],
        history: Replay::Always,
        parse: p_connect,};
}

fn p_connect(a: &mut Args) -> Result<Command, Error> {
    let input = a.keyword("in");
    let port = if let Some(name) = a.opt_string() {
        Spanned::new(PortArg::Name(name.value), name.span)
    } else {
        let n = a.integer("a port number or a quoted name", 0, u32::MAX as u64)?;
        if n.value == 0 {
            return Err(a.error(n.span, Misuse::PortZero));
        }
        Spanned::new(PortArg::Index(n.value as usize), n.span)
    };
    a.finish(Connect { input, port })
}

bare!(
    /// `disconnect`
    Disconnect
);

impl Disconnect {
    pub const ROW: CommandSpec = CommandSpec {
        name: "disconnect",
        usage: "disconnect",
        summary: "close the connections, silencing every sounding note first",
        details: "",
        example: "disconnect",
        words: &[],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::Always,
        parse: |a| a.finish(Disconnect),
    };
}

/// `play [loop]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Play {
    pub looped: bool,
}

impl fmt::Display for Play {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(if self.looped { "play loop" } else { "play" })
    }
}

impl Play {
    pub const ROW: CommandSpec = CommandSpec {
        name: "play",
        usage: "play [loop]",
        summary: "play the current melody through the output port; returns at once",
        details: "Says what it plays: `playing 40 notes (20.0 s) on channel 1` (`looping …` with `loop`), with `, from the next bar` (or beat) while `quantize` waits for the clock.",
        example: "play loop",
        words: &["loop"],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::Always,
        parse: p_play,};
}

fn p_play(a: &mut Args) -> Result<Command, Error> {
    let looped = a.keyword("loop");
    a.finish(Play { looped })
}

/// `on` or `off`.
fn on_off(a: &mut Args) -> Result<bool, Error> {
    if a.keyword("on") {
        Ok(true)
    } else if a.keyword("off") {
        Ok(false)
    } else {
        Err(a.expected("`on` or `off`"))
    }
}

/// `live on|off`.
#[derive(Clone, Debug, PartialEq)]
pub struct Live {
    pub on: bool,
}

impl fmt::Display for Live {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(if self.on { "live on" } else { "live off" })
    }
}

impl Live {
    pub const ROW: CommandSpec = CommandSpec {
        name: "live",
        usage: "live on|off",
        summary: "endless performance: generate and play note by note",
        details: "Settings changed meanwhile (temperature, top_k, scale, tempo, transpose, velocity) take effect within one note.",
        example: "live on",
        words: &["on", "off"],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::Always,
        parse: p_live,};
}

fn p_live(a: &mut Args) -> Result<Command, Error> {
    let on = on_off(a)?;
    a.finish(Live { on })
}

/// `clock in|out on|off`, or `clock` alone: which clock leads, its tempo and beat.
#[derive(Clone, Debug, PartialEq)]
pub enum Clock {
    Show,
    Turn { input: bool, on: bool },
}

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Clock::Show => f.write_str("clock"),
            Clock::Turn { input, on } => write!(
                f,
                "clock {} {}",
                if *input { "in" } else { "out" },
                if *on { "on" } else { "off" }
            ),
        }
    }
}

impl Clock {
    pub const ROW: CommandSpec = CommandSpec {
        name: "clock",
        usage: "clock [in|out on|off]",
        summary: "MIDI clock: send it on the output port, or follow it from the input port; `clock` alone shows which clock leads",
        details: "`clock out on` sends 24 ticks per quarter note following `tempo`, Start at the next bar line (or when `play` starts while stopped), Stop on `stop`, Song Position and Continue on `live on`. `clock in on` follows the ticks on the input port: tempo from the last two beats of ticks, the beat locked to them, Start/Stop/Continue obeyed and, with clock out on too, passed on to the gear tms clocks; `tempo` then shows the followed tempo, and `set tempo` says so in one line and changes nothing. With `set quantize beat|bar`, `play` and `live on` wait for the next beat or bar of the clock that leads.",
        example: "clock in on",
        words: &["in", "out", "on", "off"],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::WithArgs,
        parse: p_clock,};
}

fn p_clock(a: &mut Args) -> Result<Command, Error> {
    if a.at_end() {
        return Ok(Clock::Show.into());
    }
    let input = if a.keyword("in") {
        true
    } else if a.keyword("out") {
        false
    } else {
        return Err(a.expected("`in` or `out`"));
    };
    let on = on_off(a)?;
    a.finish(Clock::Turn { input, on })
}

/// `stop` (the current voice) or `stop all` (every voice).
#[derive(Clone, Debug, PartialEq)]
pub struct Stop {
    pub all: bool,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(if self.all { "stop all" } else { "stop" })
    }
}

impl Stop {
    pub const ROW: CommandSpec = CommandSpec {
        name: "stop",
        usage: "stop [all]",
        summary:
            "stop the current voice (`stop all`: every voice); sounding notes get their note-off",
        details: "",
        example: "stop all",
        words: &["all"],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::Always,
        parse: p_stop,
    };
}

fn p_stop(a: &mut Args) -> Result<Command, Error> {
    let all = a.keyword("all");
    a.finish(Stop { all })
}

/// The longest voice name: it shows in the prompt and names a MIDI track.
pub const VOICE_NAME_MAX: usize = 32;

/// The most voices a session holds. Each holds a model of its own (the folk model costs
/// about 3.5 MB a voice) and a share of the one player thread; 64 is four times what 16
/// MIDI channels can tell apart, and a thousand voices ran the process out of memory.
pub const MAX_VOICES: usize = 64;

/// `voice "NAME"`: switch to (or create) a voice.
#[derive(Clone, Debug, PartialEq)]
pub struct Voice {
    pub name: Spanned<String>,
}

impl fmt::Display for Voice {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "voice {}", Q(&self.name))
    }
}

impl Voice {
    pub const ROW: CommandSpec = CommandSpec {
        name: "voice",
        usage: "voice \"NAME\"",
        summary: "switch to voice NAME, creating it from the current voice: its own model, primer, melody, channel and performance settings",
        details: "Every voice plays at once on the one output port and follows the one clock; `play`, `live on`, `stop`, `generate`, `model`, `respond` and the voice's settings (temperature, rhythm_temperature, top_k, min_duration, scale, grid, velocity, program, transpose, channel) act on the current voice, shown in the prompt. A new voice starts as a copy of the current one (its model weights, melody and settings); the first voice is \"main\". A session holds at most 64 voices; a name is 1 to 32 visible characters. tempo, latency, meter, quantize and the training settings are shared.",
        example: "voice \"bass\"",
        words: &[],
        quoted: Quoted::Voices,
        words_at: &[],
        history: Replay::Always,
        parse: p_voice,};
}

fn p_voice(a: &mut Args) -> Result<Command, Error> {
    let name = a.string("a quoted voice name such as \"bass\"")?;
    let n = name.value.chars().count();
    if n == 0 || n > VOICE_NAME_MAX || name.value.trim() != name.value {
        return Err(a.error(name.span, Misuse::VoiceNameLength));
    }
    if let Some(c) = name
        .value
        .chars()
        .find(|&c| c.is_control() || crate::error::is_invisible(c))
    {
        return Err(a.error(name.span, Misuse::VoiceNameChar(c as u32)));
    }
    a.finish(Voice { name })
}

bare!(
    /// `voices`
    Voices
);

impl Voices {
    pub const ROW: CommandSpec = CommandSpec {
        name: "voices",
        usage: "voices",
        summary: "list the voices, one line each within 80 columns: channel, what each is doing, model, melody, and which one answers the input (`respond`) or learns from it (`learn`)",
        details: "",
        example: "voices",
        words: &[],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::Never,
        parse: |a| a.finish(Voices),};
}

bare!(
    /// `panic`
    Panic
);

impl Panic {
    pub const ROW: CommandSpec = CommandSpec {
        name: "panic",
        usage: "panic",
        summary: "all notes off on every channel",
        details: "Says `panic: all notes off on 16 channels`, or that no output is connected.",
        example: "panic",
        words: &[],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::Always,
        parse: |a| a.finish(Panic),
    };
}

/// `listen [N]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Listen {
    pub n: Option<usize>,
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "listen{}", Arg(self.n))
    }
}

impl Listen {
    pub const ROW: CommandSpec = CommandSpec {
        name: "listen",
        usage: "listen [N]",
        summary: "record a phrase from the input port as the primer (N notes, or until 600 ms of silence between the notes' arrivals; a key held over 8 s counts as released)",
        details: "It says what it heard as note names on the grid (`set grid`, or 1/48 notes when it is off): \
                  `heard 4 notes: D4/2 E4/2 r/2 F#4*3/2`, every onset and end rounded to the grid, which \
                  `prime notes` reads back as that. The primer is the phrase as played.",
        example: "listen 8",
        words: &[],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::Always,
        parse: p_listen,};
}

fn p_listen(a: &mut Args) -> Result<Command, Error> {
    let n = a
        .opt_integer("a note count", 1, 100_000)?
        .map(|n| n as usize);
    a.finish(Listen { n })
}

/// `respond on [notes N]`, `respond off`, or `respond` alone (how many were answered).
#[derive(Clone, Debug, PartialEq)]
pub struct Respond(pub Option<RespondArg>);

#[derive(Debug, Clone, PartialEq)]
pub enum RespondArg {
    On { notes: Option<usize> },
    Off,
}

impl fmt::Display for Respond {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match &self.0 {
            None => f.write_str("respond"),
            Some(RespondArg::On { notes: None }) => f.write_str("respond on"),
            Some(RespondArg::On { notes: Some(n) }) => write!(f, "respond on notes {n}"),
            Some(RespondArg::Off) => f.write_str("respond off"),
        }
    }
}

impl Respond {
    pub const ROW: CommandSpec = CommandSpec {
        name: "respond",
        usage: "respond on [notes N] | respond off | respond",
        summary: "call and response: answer each phrase played on the input port with N generated notes (16 unless given)",
        details: "A phrase ends as `listen` ends one: 600 ms with no key down (between the notes' arrivals; a key \
                  held over 8 s counts as released), and is answered once. The answer is primed with the phrase \
                  and starts at once, with the live settings of the moment (temperature, top_k, scale, …); knobs keep \
                  working. Once the answer has started, the phrase is shown as `listen` shows it (`heard 3 notes: \
                  C4/2 E4/2 G4`, on the grid of the moment). `respond` alone says how many phrases were answered. \
                  `listen` waits for `respond off`.",
        example: "respond on notes 12",
        words: &["on", "off", "notes"],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::Always,
        parse: p_respond,};
}

fn p_respond(a: &mut Args) -> Result<Command, Error> {
    if a.at_end() {
        return Ok(Respond(None).into());
    }
    if a.keyword("off") {
        return a.finish(Respond(Some(RespondArg::Off)));
    }
    if !a.keyword("on") {
        return Err(a.expected("`on` or `off`"));
    }
    let mut notes = None;
    a.options(&["notes"], |_, a| {
        notes = Some(a.integer("a note count", 1, 10_000)?.value as usize);
        Ok(())
    })?;
    a.finish(Respond(Some(RespondArg::On { notes })))
}

/// `record "F.mid" [overwrite]`, `record stop`, or `record` alone (what is being recorded).
#[derive(Clone, Debug, PartialEq)]
pub struct Record(pub Option<RecordArg>);

#[derive(Debug, Clone, PartialEq)]
pub enum RecordArg {
    /// Into a new file, or over an existing one with `overwrite`.
    Into {
        path: Spanned<String>,
        overwrite: bool,
    },
    Stop,
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match &self.0 {
            None => f.write_str("record"),
            Some(RecordArg::Into { path, overwrite }) => {
                write!(f, "record {}", Q(path))?;
                if *overwrite {
                    f.write_str(" overwrite")?;
                }
                Ok(())
            }
            Some(RecordArg::Stop) => f.write_str("record stop"),
        }
    }
}

impl Record {
    pub const ROW: CommandSpec = CommandSpec {
        name: "record",
        usage: "record \"FILE.mid\" [overwrite] | record stop | record",
        summary: "capture everything played and heard into a multi-track MIDI file; `record stop` writes it whole",
        details: "A track per voice, named after it and starting with its program, and one for the input port, \
                  at the times they happened, with the meter and the tempo as played (every `set tempo` during \
                  the take, at its time). The name must end in .mid or .midi; an existing file is refused \
                  unless `overwrite` follows the name. While recording, each second's messages are appended \
                  to the file (one track, every note ended), so a crash loses at most a second; `record stop`, \
                  `quit`, the end of a script and a second Ctrl-C write the tracks.",
        example: "record \"set.mid\"",
        words: &["stop", "overwrite"],
        quoted: Quoted::Files(&[Role::Recording]),
        words_at: &[],
        history: Replay::Never,
        parse: p_record,};
}

fn p_record(a: &mut Args) -> Result<Command, Error> {
    if a.keyword("stop") {
        return a.finish(Record(Some(RecordArg::Stop)));
    }
    let Some(path) = a.opt_string() else {
        return a.finish(Record(None));
    };
    let overwrite = a.keyword("overwrite");
    a.finish(Record(Some(RecordArg::Into { path, overwrite })))
}

/// `map cc N SETTING MIN MAX`, or `map` alone: the mappings.
#[derive(Clone, Debug, PartialEq)]
pub enum Map {
    List,
    Cc {
        cc: u8,
        setting: Spanned<settings::Live>,
        min: f64,
        max: f64,
    },
}

impl fmt::Display for Map {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Map::List => f.write_str("map"),
            Map::Cc {
                cc,
                setting,
                min,
                max,
            } => write!(
                f,
                "map cc {cc} {} {} {}",
                setting.value.name(),
                Num(*min),
                Num(*max)
            ),
        }
    }
}

impl Map {
    pub const ROW: CommandSpec = CommandSpec {
        name: "map",
        usage: "map [cc N SETTING MIN MAX]",
        summary: "a hardware knob drives a numeric setting live; `map` alone lists the mappings",
        details: "With no input port connected the mapping is kept and a warning says no knob can turn it yet.",
        example: "map cc 1 temperature 0.2 1.5",
        words: &["cc"],
        quoted: Quoted::Paths,
        words_at: &[(3, Pool::LiveSettings)],
        history: Replay::WithArgs,
        parse: p_map,};
}

fn p_map(a: &mut Args) -> Result<Command, Error> {
    if a.at_end() {
        return Ok(Map::List.into());
    }
    a.expect_keyword("cc")?;
    let cc = a.integer("a controller number", 0, 127)?.value as u8;
    let setting = setting_name(a)?;
    // Checked here, not when the command runs, so that `tms check` accepts exactly what
    // `tms run` accepts.
    let Some(live) = setting.value.live() else {
        return Err(a.error(setting.span, Misuse::NotLive(setting.value.name())));
    };
    let setting = Spanned::new(live, setting.span);
    let min = a.number("a minimum", f64::MIN, f64::MAX)?.value;
    let max = a.number("a maximum", f64::MIN, f64::MAX)?.value;
    a.finish(Map::Cc {
        cc,
        setting,
        min,
        max,
    })
}

/// `unmap cc N`.
#[derive(Clone, Debug, PartialEq)]
pub struct Unmap {
    pub cc: u8,
}

impl fmt::Display for Unmap {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "unmap cc {}", self.cc)
    }
}

impl Unmap {
    pub const ROW: CommandSpec = CommandSpec {
        name: "unmap",
        usage: "unmap cc N",
        summary: "remove a knob mapping",
        details: "",
        example: "unmap cc 1",
        words: &["cc"],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::Always,
        parse: p_unmap,
    };
}

fn p_unmap(a: &mut Args) -> Result<Command, Error> {
    a.expect_keyword("cc")?;
    let cc = a.integer("a controller number", 0, 127)?.value as u8;
    a.finish(Unmap { cc })
}

/// `link on|off`; `link` alone (None) shows the Link session.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub on: Option<bool>,
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self.on {
            Some(true) => "link on",
            Some(false) => "link off",
            None => "link",
        })
    }
}

impl Link {
    pub const ROW: CommandSpec = CommandSpec {
        name: "link",
        usage: "link [on|off]",
        summary: "share tempo and beat phase with Ableton Link peers on the local network; `link` alone shows the session",
        details: "While Link is on, `tempo` follows the session's tempo (joining a session adopts it) and `set tempo` changes it for every peer; the meter's bar is Link's quantum. Needs a build with the `link` feature: `make build FEATURES=link` (that binary is GPL-2.0-or-later, as Link is).",
        example: "link on",
        words: &["on", "off"],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::WithArgs,
        parse: p_link,};
}

fn p_link(a: &mut Args) -> Result<Command, Error> {
    let on = opt_on_off(a)?;
    a.finish(Link { on })
}

bare!(
    /// `wait`
    Wait
);

impl Wait {
    pub const ROW: CommandSpec = CommandSpec {
        name: "wait",
        usage: "wait",
        summary: "block until playing has finished",
        details: "Waits for background training and for melodies played once. Endless music (a live voice, `play loop`) has no end to wait for: \
                  `wait` says at once what keeps playing (`wait: voice main loops and bass plays live: they play until stopped`) and the script goes on.",
        example: "wait",
        words: &[],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::Always,
        parse: |a| a.finish(Wait),};
}
