//! The settings table: every `set NAME VALUE` knob with its type, range, default and help,
//! declared once. The same declaration generates the typed `Settings` struct the session
//! reads, the checks `set` and `tms check` apply, the `set` listing, `help set` and completion.

use std::fmt;

/// A setting's value as written in a script.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Text(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{}", crate::lang::ast::fmt_number(*x)),
            // Choice values print as bare words (`set optimizer sgd`); anything else quoted.
            Value::Text(s) if is_bare_word(s) => f.write_str(s),
            Value::Text(s) => write!(f, "{}", crate::lang::ast::quote(s)),
        }
    }
}

fn is_bare_word(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What a setting accepts.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Int {
        min: i64,
        max: i64,
    },
    Float {
        min: f64,
        max: f64,
    },
    Choice(&'static [&'static str]),
    /// Free text (a directory).
    Text,
    /// A scale such as "D yu", or `none`.
    Scale,
    /// A meter such as "4/4" or "6/8".
    Meter,
    /// A General MIDI program: 0–127 or its name.
    Program,
}

impl Kind {
    /// What a user may write, for error messages and `help set`.
    pub fn allowed(&self) -> String {
        match self {
            Kind::Int { min, max } => format!("an integer from {min} to {max}"),
            Kind::Float { min, max } => {
                format!("a number from {} to {}", fmt_bound(*min), fmt_bound(*max))
            }
            Kind::Choice(c) => format!("one of {}", c.join(", ")),
            Kind::Text => "a quoted string".into(),
            Kind::Scale => "a scale such as \"D yu\" or \"C major\", or none".into(),
            Kind::Meter => "a meter such as \"4/4\", \"3/4\" or \"6/8\"".into(),
            Kind::Program => "a General MIDI program number 0–127 or its name".into(),
        }
    }

    /// Checks and normalises a written value, or says what is allowed.
    pub fn check(&self, v: &Value) -> Result<Value, String> {
        match (self, v) {
            (Kind::Int { min, max }, Value::Int(i)) if (min..=max).contains(&i) => {
                Ok(Value::Int(*i))
            }
            (Kind::Float { min, max }, Value::Int(i)) if (*min..=*max).contains(&(*i as f64)) => {
                Ok(Value::Float(*i as f64))
            }
            (Kind::Float { min, max }, Value::Float(x)) if (*min..=*max).contains(x) => {
                Ok(Value::Float(*x))
            }
            (Kind::Choice(c), Value::Text(t)) => c
                .iter()
                .find(|c| c.eq_ignore_ascii_case(t))
                .map(|c| Value::Text(c.to_string()))
                .ok_or_else(|| match crate::error::suggest(t, c.iter().copied()) {
                    Some(s) => format!("{} (did you mean `{s}`?)", self.allowed()),
                    None => self.allowed(),
                }),
            (Kind::Text, Value::Text(t)) => Ok(Value::Text(t.clone())),
            (Kind::Scale, Value::Text(t)) => match crate::music::scale::parse_optional(t) {
                Ok(Some(s)) => Ok(Value::Text(s.name())),
                Ok(None) => Ok(Value::Text("none".into())),
                Err(e) => Err(e.to_string()),
            },
            (Kind::Meter, Value::Text(t)) => crate::music::meter::Meter::parse(t)
                .map(|m| Value::Text(m.to_string()))
                .map_err(|e| e.to_string()),
            (Kind::Program, Value::Int(i)) if (0..=127).contains(i) => Ok(Value::Int(*i)),
            (Kind::Program, Value::Text(t)) => match crate::music::gm::program_by_name(t) {
                Ok(p) => Ok(Value::Int(p as i64)),
                Err(Some(s)) => Err(format!("unknown program name (did you mean \"{s}\"?)")),
                Err(None) => Err(self.allowed()),
            },
            _ => Err(self.allowed()),
        }
    }
}

fn fmt_bound(x: f64) -> String {
    crate::lang::ast::fmt_number(x)
}

pub struct SettingSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

trait FromValue {
    fn from_value(v: &Value) -> Self;
}
impl FromValue for i64 {
    fn from_value(v: &Value) -> Self {
        match v {
            Value::Int(i) => *i,
            Value::Float(x) => *x as i64,
            Value::Text(_) => 0,
        }
    }
}
impl FromValue for f64 {
    fn from_value(v: &Value) -> Self {
        match v {
            Value::Int(i) => *i as f64,
            Value::Float(x) => *x,
            Value::Text(_) => 0.0,
        }
    }
}
impl FromValue for String {
    fn from_value(v: &Value) -> Self {
        match v {
            Value::Text(s) => s.clone(),
            other => other.to_string(),
        }
    }
}
trait ToValue {
    fn to_value(&self) -> Value;
}
impl ToValue for i64 {
    fn to_value(&self) -> Value {
        Value::Int(*self)
    }
}
impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Float(*self)
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

macro_rules! settings {
    ($($name:ident : $ty:ty = $default:expr, $kind:expr, $help:literal;)*) => {
        /// The session's current settings, one typed field per row of [`SETTINGS`].
        #[derive(Clone, Debug, PartialEq)]
        pub struct Settings { $(pub $name: $ty,)* }

        impl Default for Settings {
            fn default() -> Self {
                Settings { $($name: <$ty>::from($default),)* }
            }
        }

        /// Every setting, in the order `set` lists them.
        pub static SETTINGS: &[SettingSpec] = &[
            $(SettingSpec { name: stringify!($name), kind: $kind, help: $help },)*
        ];

        impl Settings {
            /// Stores an already checked value (see [`Kind::check`]).
            pub fn assign(&mut self, name: &str, v: &Value) -> bool {
                match name {
                    $(stringify!($name) => self.$name = FromValue::from_value(v),)*
                    _ => return false,
                }
                true
            }

            pub fn get(&self, name: &str) -> Option<Value> {
                match name {
                    $(stringify!($name) => Some(ToValue::to_value(&self.$name)),)*
                    _ => None,
                }
            }
        }
    };
}

settings! {
    seq_len: i64 = 32, Kind::Int { min: 1, max: 4096 },
        "notes of context the model reads before predicting (window length)";
    batch: i64 = 16, Kind::Int { min: 1, max: 65536 },
        "windows per training step";
    lr: f64 = 0.003, Kind::Float { min: 1e-9, max: 10.0 },
        "learning rate";
    lr_decay: f64 = 0.85, Kind::Float { min: 0.01, max: 1.0 },
        "multiply the learning rate by this after every epoch (1 = constant)";
    epochs: i64 = 16, Kind::Int { min: 1, max: 100000 },
        "epochs that `train` runs when no count is given";
    optimizer: String = "adam", Kind::Choice(&["sgd", "adam"]),
        "sgd (as the notebook) or adam";
    hidden: i64 = 256, Kind::Int { min: 1, max: 4096 },
        "LSTM hidden units (takes effect at `model new`)";
    layers: i64 = 1, Kind::Int { min: 1, max: 8 },
        "stacked LSTM layers (takes effect at `model new`)";
    embed: i64 = 32, Kind::Int { min: 1, max: 1024 },
        "size of the learned pitch embedding when input is embed (at `model new`)";
    input: String = "embed", Kind::Choice(&["embed", "scalar"]),
        "embed: a learned pitch embedding; scalar: pitch/128 as in the notebook (at `model new`)";
    head: String = "softmax", Kind::Choice(&["softmax", "sigmoid"]),
        "pitch output: softmax, or sigmoid as in the notebook (at `model new`)";
    pointer: String = "on", Kind::Choice(&["on", "off"]),
        "a pointer that can copy pitches from earlier notes, mixed into a softmax head (at `model new`)";
    objective: String = "sequence", Kind::Choice(&["sequence", "window"]),
        "sequence: predict every next note of a window; window: only the note after it (notebook)";
    clip: f64 = 1.0, Kind::Float { min: 0.0, max: 1e6 },
        "gradient norm clipping (0 = off)";
    dropout: f64 = 0.3, Kind::Float { min: 0.0, max: 0.9 },
        "dropout on the LSTM's input and output while training (0 = off, as the notebook)";
    augment: i64 = 0, Kind::Int { min: 0, max: 24 },
        "transpose each training window by a random number of semitones within ±N (0 = off)";
    val: f64 = 0.1, Kind::Float { min: 0.0, max: 0.9 },
        "fraction of tunes held out for validation (seeded)";
    keep: String = "best", Kind::Choice(&["best", "last"]),
        "after training keep the best validation epoch, or the last";
    checkpoint_every: i64 = 0, Kind::Int { min: 0, max: 100000 },
        "write a checkpoint every N epochs (0 = off)";
    checkpoint_dir: String = "checkpoints", Kind::Text,
        "directory for checkpoints";
    abc_accidentals: String = "bar", Kind::Choice(&["bar", "note"]),
        "ABC accidentals last to the end of the bar (ABC 2.1), or apply to their note only (Essen, music21)";
    temperature: f64 = 1.0, Kind::Float { min: 0.0, max: 10.0 },
        "pitch sampling temperature (0 = always the most likely pitch)";
    top_k: i64 = 0, Kind::Int { min: 0, max: 128 },
        "sample only among the K most likely pitches (0 = all)";
    scale: String = "none", Kind::Scale,
        "keep generated pitches in a scale, e.g. \"D yu\", \"A minor pentatonic\" (none = off)";
    meter: String = "4/4", Kind::Meter,
        "the bar: beats per bar and the note that counts them, e.g. \"3/4\", \"6/8\" (notation bar lines)";
    min_duration: f64 = 0.05, Kind::Float { min: 0.0, max: 10.0 },
        "shortest generated note, seconds";
    velocity: i64 = 0, Kind::Int { min: 0, max: 127 },
        "velocity for writing and playing (0 = each note's own)";
    program: i64 = 0, Kind::Program,
        "General MIDI program for writing, rendering and playing (number or name)";
    tempo: f64 = 120.0, Kind::Float { min: 10.0, max: 960.0 },
        "beats per minute; melodies are stored at 120, so 60 plays them at half speed";
    channel: i64 = 1, Kind::Int { min: 1, max: 16 },
        "MIDI channel for writing and playing";
    transpose: i64 = 0, Kind::Int { min: -48, max: 48 },
        "semitones added when writing, rendering and playing";
    latency: f64 = 0.0, Kind::Float { min: 0.0, max: 2000.0 },
        "milliseconds added to every MIDI deadline, to line up with other gear";
}

pub fn spec(name: &str) -> Option<&'static SettingSpec> {
    SETTINGS.iter().find(|s| s.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    SETTINGS.iter().map(|s| s.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_their_own_checks() {
        let s = Settings::default();
        for spec in SETTINGS {
            let v = s.get(spec.name).unwrap();
            assert!(spec.kind.check(&v).is_ok(), "{} = {v}", spec.name);
        }
    }

    #[test]
    fn checks_say_what_is_allowed() {
        let k = spec("optimizer").unwrap().kind;
        assert_eq!(
            k.check(&Value::Text("adamw".into())),
            Err("one of sgd, adam (did you mean `adam`?)".into())
        );
        let k = spec("seq_len").unwrap().kind;
        assert_eq!(
            k.check(&Value::Int(0)),
            Err("an integer from 1 to 4096".into())
        );
        let k = spec("lr").unwrap().kind;
        assert!(k.check(&Value::Text("abc".into())).is_err());
        assert_eq!(k.check(&Value::Int(1)), Ok(Value::Float(1.0)));
    }

    #[test]
    fn assign_and_get_round_trip() {
        let mut s = Settings::default();
        assert!(s.assign("temperature", &Value::Float(0.5)));
        assert_eq!(s.temperature, 0.5);
        assert_eq!(s.get("temperature"), Some(Value::Float(0.5)));
        assert!(!s.assign("nope", &Value::Int(1)));
    }
}
