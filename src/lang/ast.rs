//! The typed commands a script is made of. Printing a command (`Display`) gives text that
//! parses back to the same command: `history` relies on it to write replayable scripts.

use std::fmt;

use super::settings::Value;
use super::span::{Span, Spanned};

/// One command with the span of its whole text.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub cmd: Command,
    pub span: Span,
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

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Help {
        topic: Option<Spanned<String>>,
    },
    Seed {
        seed: u64,
    },
    Device {
        device: Spanned<String>,
    },
    Set {
        name: Spanned<String>,
        value: Spanned<Value>,
    },
    SetList,
    Loss {
        pitch: Option<f64>,
        step: Option<f64>,
        duration: Option<f64>,
    },
    Load {
        glob: Spanned<String>,
        limit: Option<usize>,
        filter: Option<Filter>,
    },
    Dataset,
    Export {
        path: Spanned<String>,
    },
    ModelNew,
    ModelOpen {
        path: Spanned<String>,
    },
    Save {
        path: Spanned<String>,
    },
    Train {
        epochs: Option<usize>,
    },
    Evaluate {
        glob: Option<Spanned<String>>,
    },
    PrimeFile {
        path: Spanned<String>,
        last: Option<usize>,
    },
    PrimeNotes {
        notes: Spanned<String>,
    },
    Generate {
        n: usize,
        temperature: Option<f64>,
        top_k: Option<usize>,
        scale: Option<Spanned<String>>,
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
    Stop,
    Panic,
    Listen {
        n: Option<usize>,
    },
    Map {
        cc: u8,
        setting: Spanned<String>,
        min: f64,
        max: f64,
    },
    MapList,
    Unmap {
        cc: u8,
    },
    Wait,
    Sleep {
        seconds: f64,
    },
    Run {
        path: Spanned<String>,
    },
    History {
        path: Option<Spanned<String>>,
    },
    Quit,
}

/// A number as the lexer reads it back exactly (Rust's shortest round-trip form).
pub fn fmt_number(x: f64) -> String {
    format!("{x}")
}

/// A string literal with `"` and `\` escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
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
        use Command::*;
        let num = |x: &Option<f64>| x.map(Num);
        let q = |s: &Option<Spanned<String>>| s.as_ref().map(|s| quote(s));
        match self {
            Help { topic } => match topic {
                Some(t) => write!(f, "help {}", t.value),
                None => f.write_str("help"),
            },
            Seed { seed } => write!(f, "seed {seed}"),
            Device { device } => write!(f, "device {}", device.value),
            Set { name, value } => write!(f, "set {} {}", name.value, value.value),
            SetList => f.write_str("set"),
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
            Export { path } => write!(f, "export {}", Q(path)),
            ModelNew => f.write_str("model new"),
            ModelOpen { path } => write!(f, "model {}", Q(path)),
            Save { path } => write!(f, "save {}", Q(path)),
            Train { epochs } => match epochs {
                Some(n) => write!(f, "train {n}"),
                None => f.write_str("train"),
            },
            Evaluate { glob } => match glob {
                Some(g) => write!(f, "evaluate {}", Q(g)),
                None => f.write_str("evaluate"),
            },
            PrimeFile { path, last } => write!(f, "prime {}{}", Q(path), Opt("last", last)),
            PrimeNotes { notes } => write!(f, "prime notes {}", Q(notes)),
            Generate {
                n,
                temperature,
                top_k,
                scale,
            } => write!(
                f,
                "generate {n}{}{}{}",
                Opt("temperature", &num(temperature)),
                Opt("top_k", top_k),
                Opt("scale", &q(scale))
            ),
            Show => f.write_str("show"),
            Write {
                path,
                program,
                tempo,
            } => write!(
                f,
                "write {}{}{}",
                Q(path),
                Opt("program", program),
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
            Stop => f.write_str("stop"),
            Panic => f.write_str("panic"),
            Listen { n } => match n {
                Some(n) => write!(f, "listen {n}"),
                None => f.write_str("listen"),
            },
            Map {
                cc,
                setting,
                min,
                max,
            } => {
                write!(
                    f,
                    "map cc {cc} {} {} {}",
                    setting.value,
                    Num(*min),
                    Num(*max)
                )
            }
            MapList => f.write_str("map"),
            Unmap { cc } => write!(f, "unmap cc {cc}"),
            Wait => f.write_str("wait"),
            Sleep { seconds } => write!(f, "sleep {}", Num(*seconds)),
            Run { path } => write!(f, "run {}", Q(path)),
            History { path } => match path {
                Some(p) => write!(f, "history {}", Q(p)),
                None => f.write_str("history"),
            },
            Quit => f.write_str("quit"),
        }
    }
}
