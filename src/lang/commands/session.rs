//! Commands on the session itself: help, seed, device, settings, loss weights, scripts and
//! history, each a type and its row beside its parser. The session carries them out on
//! its own state.

use std::fmt;

use super::{
    lookup, names, setting_name, setting_value, Arg, Args, CommandSpec, Num, Opt, Pool, Q,
};
use super::{Misuse, Quoted, Replay};
use crate::error::{Error, ErrorKind};
use crate::fsio::Role;
use crate::ground::span::Spanned;
use crate::ground::text::suggest;
use crate::lang::Command;
use crate::model::cuda::DeviceChoice;
use crate::settings::{self, SettingId, Value};

/// `help [COMMAND|SETTING]`; the topic is a known name, in lower case.
#[derive(Clone, Debug, PartialEq)]
pub struct Help {
    pub topic: Option<Spanned<String>>,
}

impl fmt::Display for Help {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "help{}", Arg(self.topic.as_deref()))
    }
}

impl Help {
    pub const ROW: CommandSpec = CommandSpec {
        name: "help",
        usage: "help [COMMAND|SETTING]",
        summary: "list commands, or show one command's syntax, options and an example",
        details: "`help settings` lists every setting with its range and default; `help SETTING` shows one with its current value.",
        example: "help generate",
        words: &["settings"],
        quoted: Quoted::Paths,
        words_at: &[(1, Pool::Topics)],
        history: Replay::Never,
        parse: p_help,};
}

fn p_help(a: &mut Args) -> Result<Command, Error> {
    let topic = if a.at_end() {
        None
    } else {
        let w = a.word("a command or setting name")?;
        let lower = w.value.to_lowercase();
        if lookup(&lower).is_none() && settings::spec(&lower).is_none() && lower != "settings" {
            return Err(Error::new(
                w.span,
                ErrorKind::UnknownCommand {
                    suggestion: suggest(&w.value, names().chain(settings::names())),
                    name: w.value,
                },
            ));
        }
        Some(Spanned::new(lower, w.span))
    };
    a.finish(Help { topic })
}

/// `seed N`.
#[derive(Clone, Debug, PartialEq)]
pub struct Seed {
    pub seed: u64,
}

impl fmt::Display for Seed {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "seed {}", self.seed)
    }
}

impl Seed {
    pub const ROW: CommandSpec = CommandSpec {
        name: "seed",
        usage: "seed N",
        summary: "seed every random choice: weights, shuffling, validation split, sampling",
        details: "A session that never runs `seed` draws one at start and shows it in the banner; `history` records it, so a saved session replays exactly.",
        example: "seed 42",
        words: &[],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::Always,
        parse: p_seed,};
}

fn p_seed(a: &mut Args) -> Result<Command, Error> {
    let seed = a.integer("a seed", 0, u64::MAX)?.value;
    a.finish(Seed { seed })
}

/// `device [auto|cpu|cuda|cuda:N]`; alone, shows where tensors live.
#[derive(Clone, Debug, PartialEq)]
pub struct Device {
    pub device: Option<Spanned<DeviceChoice>>,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "device{}", Arg(self.device.as_deref()))
    }
}

impl Device {
    pub const ROW: CommandSpec = CommandSpec {
        name: "device",
        usage: "device [auto|cpu|cuda|cuda:N]",
        summary: "where tensors live; auto picks CUDA when available; alone, shows it",
        details: "Moves the current model too. Training on CPU is deterministic for a given seed.",
        example: "device cpu",
        words: &["auto", "cpu", "cuda"],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::WithArgs,
        parse: p_device,
    };
}

fn p_device(a: &mut Args) -> Result<Command, Error> {
    if a.at_end() {
        return a.finish(Device { device: None });
    }
    let d = a.word("auto, cpu, cuda or cuda:N")?;
    let Some(device) = DeviceChoice::parse(&d.value) else {
        let suggestion = suggest(&d.value, ["auto", "cpu", "cuda"]);
        let name = d.value;
        return Err(a.error(d.span, Misuse::UnknownDevice { name, suggestion }));
    };
    a.finish(Device {
        device: Some(Spanned::new(device, d.span)),
    })
}

/// `set NAME VALUE`; `set NAME` alone shows the setting, `set` alone lists them.
#[derive(Clone, Debug, PartialEq)]
pub enum Set {
    List,
    Show {
        name: Spanned<SettingId>,
    },
    To {
        name: Spanned<SettingId>,
        value: Spanned<Value>,
    },
}

impl fmt::Display for Set {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Set::List => f.write_str("set"),
            Set::Show { name } => write!(f, "set {}", name.value.name()),
            Set::To { name, value } => write!(f, "set {} {}", name.value.name(), value.value),
        }
    }
}

impl Set {
    pub const ROW: CommandSpec = CommandSpec {
        name: "set",
        usage: "set [NAME [VALUE]]",
        summary: "change a setting; `set NAME` alone shows one (value, range, default), `set` alone lists them all",
        details: "Values are checked against each setting's type and range (`help settings`). A value with spaces or `/` is quoted (`set meter \"3/4\"`, `set scale \"D yu\"`): the error says so. A chord symbol as a scale gets its scale as a suggestion (`Dm`: \"D minor\"). Values a knob or a followed clock set are shown rounded (`0.937`); `history` keeps them exact.",
        example: "set temperature 0.8",
        words: &[],
        quoted: Quoted::Paths,
        words_at: &[(1, Pool::Settings)],
        history: Replay::WithArgs,
        parse: p_set,};
}

fn p_set(a: &mut Args) -> Result<Command, Error> {
    if a.at_end() {
        return Ok(Set::List.into());
    }
    let name = setting_name(a)?;
    if a.at_end() {
        return Ok(Set::Show { name }.into());
    }
    let spec = name.value.spec();
    let value = setting_value(a, spec, "set ", &[])?;
    a.finish(Set::To { name, value })
}

/// `loss [pitch W] [step W] [duration W]`: the weights given, the others kept.
#[derive(Clone, Debug, PartialEq)]
pub struct Loss {
    pub pitch: Option<f64>,
    pub step: Option<f64>,
    pub duration: Option<f64>,
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let num = |x: Option<f64>| x.map(Num);
        write!(
            f,
            "loss{}{}{}",
            Opt("pitch", &num(self.pitch)),
            Opt("step", &num(self.step)),
            Opt("duration", &num(self.duration))
        )
    }
}

impl Loss {
    pub const ROW: CommandSpec = CommandSpec {
        name: "loss",
        usage: "loss [pitch W] [step W] [duration W]",
        summary: "loss weights of the three heads, any subset (default pitch 1 step 0.2 duration 0.2; the notebook used 0.1, 20, 1)",
        details: "`loss` alone shows them. The rhythm terms weigh less than pitch by default: the three cross-entropies share one LSTM, and with rhythm at 0.3 instead of 1 the held-out pitch NLL fell 0.013 nats while the step and duration NLLs rose 0.045 and 0.011 (README, \"The shipped model\"). `loss` weights are saved with the model's training settings.",
        example: "loss pitch 1 step 20 duration 1",
        words: &["pitch", "step", "duration"],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::WithArgs,
        parse: p_loss,};
}

fn p_loss(a: &mut Args) -> Result<Command, Error> {
    let (mut pitch, mut step, mut duration) = (None, None, None);
    a.options(&["pitch", "step", "duration"], |name, a| {
        let w = Some(a.number("a weight", 0.0, 1e6)?.value);
        match name {
            "pitch" => pitch = w,
            "step" => step = w,
            _ => duration = w,
        }
        Ok(())
    })?;
    a.finish(Loss {
        pitch,
        step,
        duration,
    })
}

/// `sleep SECONDS`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sleep {
    pub seconds: f64,
}

impl fmt::Display for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "sleep {}", Num(self.seconds))
    }
}

impl Sleep {
    pub const ROW: CommandSpec = CommandSpec {
        name: "sleep",
        usage: "sleep SECONDS",
        summary: "pause a script",
        details: "",
        example: "sleep 0.5",
        words: &[],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::Always,
        parse: p_sleep,
    };
}

fn p_sleep(a: &mut Args) -> Result<Command, Error> {
    let seconds = a.number("seconds", 0.0, 86_400.0)?.value;
    a.finish(Sleep { seconds })
}

/// `run "FILE.tms"`.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub path: Spanned<String>,
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "run {}", Q(&self.path))
    }
}

impl Run {
    pub const ROW: CommandSpec = CommandSpec {
        name: "run",
        usage: "run \"FILE.tms\"",
        summary: "run another script (paths in it are relative to the current directory)",
        details: "",
        example: "run \"scripts/demo.tms\"",
        words: &[],
        quoted: Quoted::Files(&[Role::Script]),
        words_at: &[],
        history: Replay::Never,
        parse: p_run,
    };
}

fn p_run(a: &mut Args) -> Result<Command, Error> {
    let path = a.string("a quoted script such as \"demo.tms\"")?;
    a.finish(Run { path })
}

/// `watch "F.tms"`, or `watch` alone to show what is watched.
#[derive(Clone, Debug, PartialEq)]
pub struct Watch {
    pub path: Option<Spanned<String>>,
}

impl fmt::Display for Watch {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "watch{}", Arg(self.path.as_deref().map(|p| Q(p))))
    }
}

impl Watch {
    pub const ROW: CommandSpec = CommandSpec {
        name: "watch",
        usage: "watch [\"FILE.tms\"]",
        summary: "run a script now and again each time an editor saves it; `watch` alone shows what is watched",
        details: "Every kind of save reruns it once: rename-over (vim, VS Code), truncate-and-write, append. \
                  An error in it is shown with its caret and the music keeps playing; the prompt stays usable. \
                  At the end of `tms run` or `tms -c`, tms keeps watching until Ctrl-C.",
        example: "watch \"live.tms\"",
        words: &[],
        quoted: Quoted::Files(&[Role::Script]),
        words_at: &[],
        history: Replay::Never,
        parse: p_watch,};
}

fn p_watch(a: &mut Args) -> Result<Command, Error> {
    let path = a.opt_string();
    a.finish(Watch { path })
}

bare!(
    /// `unwatch`
    Unwatch
);

impl Unwatch {
    pub const ROW: CommandSpec = CommandSpec {
        name: "unwatch",
        usage: "unwatch",
        summary: "stop watching the file given to `watch` (what it started keeps playing)",
        details: "",
        example: "unwatch",
        words: &[],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::Never,
        parse: |a| a.finish(Unwatch),
    };
}

/// `history ["FILE.tms"]`: print the session's script, or save it.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    pub path: Option<Spanned<String>>,
}

impl fmt::Display for History {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "history{}", Arg(self.path.as_deref().map(|p| Q(p))))
    }
}

impl History {
    pub const ROW: CommandSpec = CommandSpec {
        name: "history",
        usage: "history [\"FILE.tms\"]",
        summary: "print this session's successful commands, or save them as a replayable script",
        details: "The saved script starts with the session's seed, so it reproduces the session: a `train` or `generate` that Ctrl-C stopped is recorded as what it did (`train 50 stop after 494 batches`), so the replay writes the same bytes.",
        example: "history \"session.tms\"",
        words: &[],
        quoted: Quoted::Files(&[Role::Script]),
        words_at: &[],
        history: Replay::Never,
        parse: p_history,};
}

fn p_history(a: &mut Args) -> Result<Command, Error> {
    let path = a.opt_string();
    a.finish(History { path })
}

bare!(
    /// `quit`
    Quit
);

impl Quit {
    pub const ROW: CommandSpec = CommandSpec {
        name: "quit",
        usage: "quit",
        summary: "leave (silencing every sounding note first)",
        details: "",
        example: "quit",
        words: &[],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::Never,
        parse: |a| a.finish(Quit),
    };
}
