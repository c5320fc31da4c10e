//! The typed commands a script is made of. Printing a command (`Display`) gives text that
//! parses back to the same command: `history` relies on it to write replayable scripts.

use std::fmt;

use crate::ground::span::{Span, Spanned};
use crate::ground::text::{fmt_number, quote};
use crate::model::cuda::DeviceChoice;
use crate::settings::{Live, SettingId, Value};

/// One command with the span of its whole text.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub cmd: Command,
    pub span: Span,
    /// Whether it belongs in `history` when it succeeds (the command table's column).
    pub recorded: bool,
}

/// `load ... where FIELD ~ "TEXT"`.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub field: Spanned<String>,
    pub text: String,
}

/// A port by its number in `ports`, or by part of its name.
#[derive(Clone, Debug, PartialEq)]
pub enum PortArg {
    Index(usize),
    Name(String),
}

/// A command, by the part of the session it works on: each part matches its own enum
/// exhaustively, so a new command cannot be forgotten by a `match`.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Core(Core),
    Data(Data),
    Learn(Learn),
    Stage(Stage),
}

/// The session itself: settings, seed, device, scripts, history.
#[derive(Clone, Debug, PartialEq)]
pub enum Core {
    Help {
        topic: Option<Spanned<String>>,
    },
    Seed {
        seed: u64,
    },
    /// `device` alone shows where tensors live.
    Device {
        device: Option<Spanned<DeviceChoice>>,
    },
    Set {
        name: Spanned<SettingId>,
        value: Spanned<Value>,
    },
    SetList,
    /// `set NAME` alone: shows the setting.
    SetShow {
        name: Spanned<SettingId>,
    },
    Loss {
        pitch: Option<f64>,
        step: Option<f64>,
        duration: Option<f64>,
    },
    Sleep {
        seconds: f64,
    },
    Run {
        path: Spanned<String>,
    },
    /// `watch "F.tms"`, or `watch` alone to show what is watched.
    Watch {
        path: Option<Spanned<String>>,
    },
    Unwatch,
    History {
        path: Option<Spanned<String>>,
    },
    Quit,
}

impl From<Core> for Command {
    fn from(c: Core) -> Command {
        Command::Core(c)
    }
}

/// Melodies and datasets: loading, primers, viewing, writing files.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    Load {
        glob: Spanned<String>,
        limit: Option<usize>,
        filter: Option<Filter>,
    },
    Dataset,
    Export {
        path: Spanned<String>,
        /// A seventh column, `position`: each note's place in its bar as a model with
        /// `position on` reads it (the PyTorch twin reads it from here).
        positions: bool,
    },
    PrimeFile {
        path: Spanned<String>,
        last: Option<usize>,
    },
    PrimeNotes {
        notes: Spanned<String>,
    },
    Show,
    Write {
        path: Spanned<String>,
        program: Option<u8>,
        tempo: Option<f64>,
    },
    Render {
        path: Spanned<String>,
        soundfont: Option<Spanned<String>>,
        rate: Option<u32>,
    },
}

impl From<Data> for Command {
    fn from(c: Data) -> Command {
        Command::Data(c)
    }
}

/// The model: creating, opening, saving, training, evaluating, generating.
#[derive(Clone, Debug, PartialEq)]
pub enum Learn {
    ModelNew,
    /// `model` alone describes the current model.
    ModelShow,
    ModelOpen {
        path: Spanned<String>,
    },
    Save {
        path: Spanned<String>,
    },
    Train {
        epochs: Option<usize>,
        /// `train N background`: on a thread of its own, the prompt stays usable.
        background: bool,
        /// `train N stop after K batches`: stops after the K-th batch of this run exactly as
        /// Ctrl-C there would, so `history` can replay an interrupted run.
        stop_after: Option<usize>,
    },
    /// `train stop`: ends a background run after its current batch.
    TrainStop,
    /// `learn on|off`: fine-tune on each phrase heard on the input; `learn` alone reports.
    LearnMode {
        on: Option<bool>,
    },
    Evaluate {
        glob: Option<Spanned<String>>,
    },
    Generate {
        n: usize,
        /// `generate N bars`: N bars of the meter instead of N notes.
        bars: bool,
        /// Settings given for this call (`temperature 0.5`, `scale "D yu"`): the table's
        /// `draw` rows, checked, in table order.
        overrides: Vec<(SettingId, Spanned<Value>)>,
        /// `end tonic`: the melody's last note is the scale's tonic.
        end_tonic: bool,
        /// `stop after K notes`: stops after the K-th note exactly as Ctrl-C there would, so
        /// `history` can replay an interrupted `generate`.
        stop_after: Option<usize>,
        /// `form "AABA"` (with `bars`): the bars in phrases, one a letter.
        form: Option<crate::music::form::Form>,
        /// `vary X`: how much a returning phrase of the form changes (0 to 1).
        vary: Option<f64>,
    },
    /// `regenerate bars 5-6 [tries K]`: the bars drawn again to lead into what follows.
    Regenerate {
        bars: Spanned<BarRange>,
        tries: Option<usize>,
    },
    /// `vary bar 3 [amount X] [tries K]`: the bars drawn again, keeping part of them.
    Vary {
        bars: Spanned<BarRange>,
        amount: Option<f64>,
        tries: Option<usize>,
    },
}

/// Bars `first` to `last` (inclusive), counted from the melody's first bar line: an upbeat
/// is bar 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarRange {
    pub first: usize,
    pub last: usize,
}

impl fmt::Display for BarRange {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.first == self.last {
            true => write!(f, "bar {}", self.first),
            false => write!(f, "bars {}-{}", self.first, self.last),
        }
    }
}

impl From<Learn> for Command {
    fn from(c: Learn) -> Command {
        Command::Learn(c)
    }
}

/// Performing over MIDI: ports, the player, live mode, knobs, listening.
#[derive(Clone, Debug, PartialEq)]
pub enum Stage {
    Ports,
    Connect {
        input: bool,
        port: Spanned<PortArg>,
    },
    Disconnect,
    Play {
        looped: bool,
    },
    Live {
        on: bool,
    },
    /// `stop` (the current voice) or `stop all` (every voice).
    Stop {
        all: bool,
    },
    Panic,
    /// `voice "NAME"`: switch to (or create) a voice.
    Voice {
        name: Spanned<String>,
    },
    /// `voices`: list them.
    Voices,
    Listen {
        n: Option<usize>,
    },
    /// `respond on [notes N]`, `respond off`, or `respond` alone (how many were answered).
    Respond(Option<RespondArg>),
    /// `record "F.mid" [overwrite]`, `record stop`, or `record` alone (what is being recorded).
    Record(Option<RecordArg>),
    Map {
        cc: u8,
        setting: Spanned<Live>,
        min: f64,
        max: f64,
    },
    MapList,
    Unmap {
        cc: u8,
    },
    Wait,
    /// `clock in|out on|off`.
    Clock {
        input: bool,
        on: bool,
    },
    /// `clock`: which clock leads, its tempo and beat.
    ClockShow,
    /// `link on|off`; `link` alone (None) shows the Link session.
    Link {
        on: Option<bool>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum RespondArg {
    On { notes: Option<usize> },
    Off,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RecordArg {
    /// Into a new file, or over an existing one with `overwrite`.
    Into {
        path: Spanned<String>,
        overwrite: bool,
    },
    Stop,
}

impl From<Stage> for Command {
    fn from(c: Stage) -> Command {
        Command::Stage(c)
    }
}

struct Opt<'a, T>(&'a str, &'a Option<T>);

impl<T: fmt::Display> fmt::Display for Opt<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.1 {
            Some(v) => write!(f, " {} {v}", self.0),
            None => Ok(()),
        }
    }
}

struct Num(f64);
impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&fmt_number(self.0))
    }
}

struct Q<'a>(&'a str);
impl fmt::Display for Q<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&quote(self.0))
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Command::Core(c) => c.fmt(f),
            Command::Data(c) => c.fmt(f),
            Command::Learn(c) => c.fmt(f),
            Command::Stage(c) => c.fmt(f),
        }
    }
}

impl fmt::Display for Core {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        use Core::*;
        let num = |x: &Option<f64>| x.map(Num);
        match self {
            Help { topic } => match topic {
                Some(t) => write!(f, "help {}", t.value),
                None => f.write_str("help"),
            },
            Seed { seed } => write!(f, "seed {seed}"),
            Device { device } => match device {
                Some(d) => write!(f, "device {}", d.value),
                None => f.write_str("device"),
            },
            Set { name, value } => write!(f, "set {} {}", name.value.name(), value.value),
            SetList => f.write_str("set"),
            SetShow { name } => write!(f, "set {}", name.value.name()),
            Loss {
                pitch,
                step,
                duration,
            } => write!(
                f,
                "loss{}{}{}",
                Opt("pitch", &num(pitch)),
                Opt("step", &num(step)),
                Opt("duration", &num(duration))
            ),
            Sleep { seconds } => write!(f, "sleep {}", Num(*seconds)),
            Run { path } => write!(f, "run {}", Q(path)),
            Watch { path: Some(p) } => write!(f, "watch {}", Q(p)),
            Watch { path: None } => f.write_str("watch"),
            Unwatch => f.write_str("unwatch"),
            History { path } => match path {
                Some(p) => write!(f, "history {}", Q(p)),
                None => f.write_str("history"),
            },
            Quit => f.write_str("quit"),
        }
    }
}

impl fmt::Display for Data {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        use Data::*;
        let num = |x: &Option<f64>| x.map(Num);
        let q = |s: &Option<Spanned<String>>| s.as_ref().map(|s| quote(s));
        match self {
            Load {
                glob,
                limit,
                filter,
            } => {
                write!(f, "load {}{}", Q(glob), Opt("limit", limit))?;
                if let Some(flt) = filter {
                    write!(f, " where {} ~ {}", flt.field.value, Q(&flt.text))?;
                }
                Ok(())
            }
            Dataset => f.write_str("dataset"),
            Export { path, positions } => {
                write!(f, "export {}", Q(path))?;
                if *positions {
                    write!(f, " positions")?;
                }
                Ok(())
            }
            PrimeFile { path, last } => write!(f, "prime {}{}", Q(path), Opt("last", last)),
            PrimeNotes { notes } => write!(f, "prime notes {}", Q(notes)),
            Show => f.write_str("show"),
            Write {
                path,
                program,
                tempo,
            } => write!(
                f,
                "write {}{}{}",
                Q(path),
                // By name, as musicians write it: `program "Shakuhachi"`, not `program 77`.
                Opt(
                    "program",
                    &program.map(|p| quote(crate::music::gm::GM_PROGRAMS[usize::from(p)]))
                ),
                Opt("tempo", &num(tempo))
            ),
            Render {
                path,
                soundfont,
                rate,
            } => write!(
                f,
                "render {}{}{}",
                Q(path),
                Opt("soundfont", &q(soundfont)),
                Opt("rate", rate)
            ),
        }
    }
}

impl fmt::Display for Learn {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        use Learn::*;
        let num = |x: &Option<f64>| x.map(Num);
        match self {
            ModelNew => f.write_str("model new"),
            ModelShow => f.write_str("model"),
            ModelOpen { path } => write!(f, "model {}", Q(path)),
            Save { path } => write!(f, "save {}", Q(path)),
            Train {
                epochs,
                background,
                stop_after,
            } => {
                f.write_str("train")?;
                if let Some(n) = epochs {
                    write!(f, " {n}")?;
                }
                if let Some(k) = stop_after {
                    write!(
                        f,
                        " stop after {k} batch{}",
                        if *k == 1 { "" } else { "es" }
                    )?;
                }
                if *background {
                    f.write_str(" background")?;
                }
                Ok(())
            }
            TrainStop => f.write_str("train stop"),
            LearnMode { on } => match on {
                Some(true) => f.write_str("learn on"),
                Some(false) => f.write_str("learn off"),
                None => f.write_str("learn"),
            },
            Evaluate { glob } => match glob {
                Some(g) => write!(f, "evaluate {}", Q(g)),
                None => f.write_str("evaluate"),
            },
            Generate {
                n,
                bars,
                overrides,
                end_tonic,
                stop_after,
                form,
                vary,
            } => write!(
                f,
                "generate {n}{}{}{}{}{}{}",
                if *bars { " bars" } else { "" },
                Opt("form", &form.as_ref().map(|f| quote(&f.to_string()))),
                Opt("vary", &num(vary)),
                overrides
                    .iter()
                    .map(|(id, v)| format!(" {} {}", id.name(), v.value))
                    .collect::<String>(),
                if *end_tonic { " end tonic" } else { "" },
                match stop_after {
                    Some(1) => " stop after 1 note".to_string(),
                    Some(k) => format!(" stop after {k} notes"),
                    None => String::new(),
                },
            ),
            Regenerate { bars, tries } => {
                write!(f, "regenerate {}{}", bars.value, Opt("tries", tries))
            }
            Vary {
                bars,
                amount,
                tries,
            } => write!(
                f,
                "vary {}{}{}",
                bars.value,
                Opt("amount", &num(amount)),
                Opt("tries", tries)
            ),
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        use Stage::*;
        match self {
            Ports => f.write_str("ports"),
            Connect { input, port } => {
                f.write_str(if *input { "connect in " } else { "connect " })?;
                match &port.value {
                    PortArg::Index(i) => write!(f, "{i}"),
                    PortArg::Name(n) => write!(f, "{}", Q(n)),
                }
            }
            Disconnect => f.write_str("disconnect"),
            Play { looped } => f.write_str(if *looped { "play loop" } else { "play" }),
            Live { on } => f.write_str(if *on { "live on" } else { "live off" }),
            Stop { all } => f.write_str(if *all { "stop all" } else { "stop" }),
            Voice { name } => write!(f, "voice {}", Q(name)),
            Voices => f.write_str("voices"),
            Panic => f.write_str("panic"),
            Listen { n } => match n {
                Some(n) => write!(f, "listen {n}"),
                None => f.write_str("listen"),
            },
            Respond(None) => f.write_str("respond"),
            Respond(Some(RespondArg::On { notes: None })) => f.write_str("respond on"),
            Respond(Some(RespondArg::On { notes: Some(n) })) => write!(f, "respond on notes {n}"),
            Respond(Some(RespondArg::Off)) => f.write_str("respond off"),
            Record(None) => f.write_str("record"),
            Record(Some(RecordArg::Into { path, overwrite })) => {
                write!(f, "record {}", Q(path))?;
                if *overwrite {
                    f.write_str(" overwrite")?;
                }
                Ok(())
            }
            Record(Some(RecordArg::Stop)) => f.write_str("record stop"),
            Map {
                cc,
                setting,
                min,
                max,
            } => {
                write!(
                    f,
                    "map cc {cc} {} {} {}",
                    setting.value.name(),
                    Num(*min),
                    Num(*max)
                )
            }
            MapList => f.write_str("map"),
            Unmap { cc } => write!(f, "unmap cc {cc}"),
            Wait => f.write_str("wait"),
            Clock { input, on } => write!(
                f,
                "clock {} {}",
                if *input { "in" } else { "out" },
                if *on { "on" } else { "off" }
            ),
            ClockShow => f.write_str("clock"),
            Link { on } => f.write_str(match on {
                Some(true) => "link on",
                Some(false) => "link off",
                None => "link",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lang::parser::parse;

    #[test]
    fn record_prints_back_as_typed() {
        let src = "record \"a \\\"b\\\".mid\" overwrite\nrecord \"set.mid\"\nrecord stop\nrecord";
        let p = parse(src);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let printed: Vec<String> = p.stmts.iter().map(|s| s.cmd.to_string()).collect();
        assert_eq!(printed.join("\n"), src);
        let again = parse(&printed.join("\n"));
        let cmds = |stmts: &[crate::lang::ast::Stmt]| {
            stmts.iter().map(|s| s.cmd.clone()).collect::<Vec<_>>()
        };
        assert_eq!(cmds(&p.stmts), cmds(&again.stmts));
    }
}
