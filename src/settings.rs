//! The settings table: every `set NAME VALUE` knob declared once, as one row with its Rust
//! type, range, default, help and whether it is live (may change while music plays). From
//! the rows the `settings!` macro generates the typed [`Settings`] the session reads, the
//! [`SettingId`] enum, the [`Live`] enum that indexes the player's lock-free controls, the
//! checks that `set`, `map` and `tms check` apply, and the listings behind `set`, `help` and
//! completion. Adding a setting is adding a row.

use crate::music::grid::{GridChoice, GridError};
use crate::music::meter::{Meter, MeterError};
use crate::music::scale::{Scale, ScaleError};

pub use crate::ground::value::{SettingType, Switch, Value};

/// Why a value does not fit a setting: what the setting allows, or what the value's own
/// parser says is wrong with it. As small as a [`Kind`] (anything larger is boxed): the
/// session's `Error` carries one inline, and every `Result<_, Error>` pays for its size.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ValueError {
    #[error("{}", .0.allowed())]
    NotAllowed(Kind),
    #[error(transparent)]
    Misspelt(Box<Misspelt>),
    #[error(transparent)]
    Scale(Box<ScaleError>),
    #[error(transparent)]
    Meter(Box<MeterError>),
    #[error(transparent)]
    Grid(Box<GridError>),
    /// A General MIDI program name, misspelt.
    #[error("unknown program name (did you mean \"{0}\"?)")]
    Program(&'static str),
}

/// One of a [`Kind::Choice`]'s words, misspelt, and the word likely meant.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{} (did you mean `{suggestion}`?)", Kind::Choice(.choices).allowed())]
pub struct Misspelt {
    pub choices: &'static [&'static str],
    pub suggestion: String,
}

/// What a setting accepts.
#[derive(Clone, Copy, Debug, PartialEq)]
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
    /// A note value such as "1/16" or "1/8t", or off.
    Grid,
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
            Kind::Grid => "a note value such as \"1/16\" or \"1/8t\" (triplet), auto or off".into(),
            Kind::Program => "a General MIDI program number 0–127 or its name".into(),
        }
    }

    /// Numeric settings are the ones a knob can turn.
    pub fn is_numeric(&self) -> bool {
        matches!(self, Kind::Int { .. } | Kind::Float { .. } | Kind::Program)
    }

    /// The numeric range, for clamping knob values.
    pub fn range(&self) -> Option<(f64, f64)> {
        match *self {
            Kind::Int { min, max } => Some((min as f64, max as f64)),
            Kind::Float { min, max } => Some((min, max)),
            Kind::Program => Some((0.0, 127.0)),
            _ => None,
        }
    }

    /// Checks and normalises a written value, or says what is allowed.
    pub fn check(&self, v: &Value) -> Result<Value, ValueError> {
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
                .ok_or_else(
                    || match crate::ground::text::suggest(t, c.iter().copied()) {
                        Some(suggestion) => ValueError::Misspelt(Box::new(Misspelt {
                            choices: c,
                            suggestion,
                        })),
                        None => ValueError::NotAllowed(*self),
                    },
                ),
            (Kind::Text, Value::Text(t)) => Ok(Value::Text(t.clone())),
            (Kind::Scale, Value::Text(t)) => match crate::music::scale::parse_optional(t) {
                Ok(Some(s)) => Ok(Value::Text(s.name())),
                Ok(None) => Ok(Value::Text("none".into())),
                Err(e) => Err(ValueError::Scale(Box::new(e))),
            },
            (Kind::Meter, Value::Text(t)) => Meter::parse(t)
                .map(|m| Value::Text(m.to_string()))
                .map_err(|e| ValueError::Meter(Box::new(e))),
            (Kind::Grid, Value::Text(t)) => GridChoice::parse(t)
                .map(|g| Value::Text(g.to_string()))
                .map_err(|e| ValueError::Grid(Box::new(e))),
            (Kind::Program, Value::Int(i)) if (0..=127).contains(i) => Ok(Value::Int(*i)),
            (Kind::Program, Value::Text(t)) => match crate::music::gm::program_by_name(t) {
                Ok(p) => Ok(Value::Int(p as i64)),
                Err(Some(s)) => Err(ValueError::Program(s)),
                Err(None) => Err(ValueError::NotAllowed(*self)),
            },
            _ => Err(ValueError::NotAllowed(*self)),
        }
    }
}

fn fmt_bound(x: f64) -> String {
    crate::ground::text::fmt_number(x)
}

impl SettingType for Option<Scale> {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Text(t) => crate::music::scale::parse_optional(t).ok(),
            _ => None,
        }
    }
    fn to_value(&self) -> Value {
        Value::Text(self.as_ref().map_or_else(|| "none".into(), Scale::name))
    }
}

impl SettingType for Meter {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Text(t) => Meter::parse(t).ok(),
            _ => None,
        }
    }
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl SettingType for GridChoice {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Text(t) => GridChoice::parse(t).ok(),
            _ => None,
        }
    }
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}

/// The numeric settings the player reads as plain numbers.
pub trait LiveNumber {
    fn to_f64(&self) -> f64;
    fn from_f64(x: f64) -> Self;
}

impl LiveNumber for i64 {
    fn to_f64(&self) -> f64 {
        *self as f64
    }
    fn from_f64(x: f64) -> Self {
        x.round() as i64
    }
}

impl LiveNumber for f64 {
    fn to_f64(&self) -> f64 {
        *self
    }
    fn from_f64(x: f64) -> Self {
        x
    }
}

/// One row of the table, as `help`, completion and the checks see it.
pub struct SettingSpec {
    pub id: SettingId,
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    /// A knob (`map cc`) or a voice may change it while music plays.
    pub live: bool,
    /// Each voice has its own value (else the session's one value is every voice's).
    pub voice: bool,
    /// It shapes how notes are drawn: `generate` takes it for one call.
    pub draw: bool,
}

impl SettingSpec {
    /// The default, as `set` would print it.
    pub fn default_value(&self) -> Value {
        Settings::default().get_id(self.id)
    }
}

/// Rows are `Id name: Type = default, kind, live|playing|fixed draw|voice|shared, "help";`.
/// `live` rows are numeric settings the player reads per note through [`Live`] (and knobs
/// can turn); `playing` ones are also obeyed while music plays but are not numbers (a
/// scale); `fixed` ones are read when a command runs. A `voice` setting has a value of its
/// own in each voice (`voice "bass"; set transpose -12`); a `draw` one too, and it shapes
/// how notes are drawn, so `generate` also takes it for one call (`generate 8 temperature
/// 0.5`); a `shared` one is the session's.
macro_rules! settings {
    ($($id:ident $name:ident : $ty:ty = $default:expr, $kind:expr, $live:ident $scope:ident, $help:literal;)*) => {
        /// The session's current settings, one typed field per row.
        #[derive(Clone, Debug, PartialEq)]
        pub struct Settings { $(pub $name: $ty,)* }

        impl Default for Settings {
            fn default() -> Self {
                Settings { $($name: $default,)* }
            }
        }

        /// Names every setting, so code that means one cannot misspell it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum SettingId { $($id,)* }

        /// Every setting, in the order `set` lists them.
        pub static SETTINGS: &[SettingSpec] = &[
            $(SettingSpec {
                id: SettingId::$id,
                name: stringify!($name),
                kind: $kind,
                help: $help,
                live: settings!(@is_live $live),
                voice: settings!(@is_voice $scope),
                draw: settings!(@is_draw $scope),
            },)*
        ];

        impl Settings {
            /// Checks a written value against the row and stores it, or says what is allowed.
            pub fn set(&mut self, id: SettingId, v: &Value) -> Result<(), ValueError> {
                let kind = id.spec().kind;
                let checked = kind.check(v)?;
                match id {
                    $(SettingId::$id => {
                        self.$name = <$ty as SettingType>::from_value(&checked)
                            .ok_or(ValueError::NotAllowed(kind))?;
                    })*
                }
                Ok(())
            }

            pub fn get_id(&self, id: SettingId) -> Value {
                match id {
                    $(SettingId::$id => SettingType::to_value(&self.$name),)*
                }
            }

            /// The value of the setting called `name`.
            pub fn get(&self, name: &str) -> Option<Value> {
                SettingId::from_name(name).map(|id| self.get_id(id))
            }
        }

        settings!(@live [] $($id $name $live,)*);
    };
    (@is_live live) => { true };
    (@is_live playing) => { true };
    (@is_live fixed) => { false };
    (@is_voice draw) => { true };
    (@is_voice voice) => { true };
    (@is_voice shared) => { false };
    (@is_draw draw) => { true };
    (@is_draw $other:ident) => { false };
    (@live [$($acc:ident $accn:ident,)*] $id:ident $name:ident live, $($rest:tt)*) => {
        settings!(@live [$($acc $accn,)* $id $name,] $($rest)*);
    };
    (@live [$($acc:ident $accn:ident,)*] $id:ident $name:ident $other:ident, $($rest:tt)*) => {
        settings!(@live [$($acc $accn,)*] $($rest)*);
    };
    (@live [$($acc:ident $accn:ident,)*]) => {
        /// The live settings: the index of each in the player's controls array.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Live { $($acc,)* }

        impl Live {
            pub const ALL: &'static [Live] = &[$(Live::$acc,)*];

            pub fn id(self) -> SettingId {
                match self { $(Live::$acc => SettingId::$acc,)* }
            }
        }

        impl SettingId {
            pub fn live(self) -> Option<Live> {
                match self {
                    $(SettingId::$acc => Some(Live::$acc),)*
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
        }

        impl Settings {
            pub fn live_value(&self, l: Live) -> f64 {
                match l { $(Live::$acc => LiveNumber::to_f64(&self.$accn),)* }
            }

            /// Takes back a value a knob set while music played.
            pub fn set_live(&mut self, l: Live, x: f64) {
                match l { $(Live::$acc => self.$accn = LiveNumber::from_f64(x),)* }
            }
        }
    };
}

use crate::model::SampleOptions;
use crate::model::{Head, Input, Keep, Objective, Optimizer, Precision, Rhythm};
use crate::music::abc::Accidentals;
use crate::music::meter::Quantize;

settings! {
    SeqLen seq_len: i64 = 32, Kind::Int { min: 1, max: 4096 }, fixed shared,
        "notes of context the model reads before predicting (window length)";
    Batch batch: i64 = 16, Kind::Int { min: 1, max: 65536 }, fixed shared,
        "windows per training step";
    Lr lr: f64 = 0.003, Kind::Float { min: 1e-9, max: 10.0 }, fixed shared,
        "learning rate";
    LrDecay lr_decay: f64 = 0.94, Kind::Float { min: 0.01, max: 1.0 }, fixed shared,
        "multiply the learning rate by this after every epoch (1 = constant)";
    Epochs epochs: i64 = 40, Kind::Int { min: 1, max: 100000 }, fixed shared,
        "epochs that `train` runs when no count is given";
    Optimizer optimizer: Optimizer = Optimizer::Adam, Kind::Choice(Optimizer::NAMES), fixed shared,
        "sgd (as the notebook) or adam";
    Hidden hidden: i64 = 384, Kind::Int { min: 1, max: 4096 }, fixed shared,
        "LSTM hidden units (takes effect at `model new`)";
    Layers layers: i64 = 1, Kind::Int { min: 1, max: 8 }, fixed shared,
        "stacked LSTM layers (takes effect at `model new`)";
    Embed embed: i64 = 32, Kind::Int { min: 1, max: 1024 }, fixed shared,
        "size of the learned pitch embedding when input is embed (at `model new`)";
    Input input: Input = Input::Embed, Kind::Choice(Input::NAMES), fixed shared,
        "embed: a learned pitch embedding; scalar: pitch/128 as in the notebook (at `model new`)";
    Head head: Head = Head::Softmax, Kind::Choice(Head::NAMES), fixed shared,
        "pitch output: softmax, or sigmoid as in the notebook (at `model new`)";
    Pointer pointer: Switch = Switch::On, Kind::Choice(Switch::NAMES), fixed shared,
        "a pointer that can copy pitches from earlier notes, mixed into a softmax head (at `model new`)";
    Position position: Switch = Switch::On, Kind::Choice(Switch::NAMES), fixed shared,
        "the network reads where each note falls in its bar and beat, from the tune's meter and bar lines (at `model new`)";
    Degree degree: Switch = Switch::Off, Kind::Choice(Switch::NAMES), fixed shared,
        "the network reads each note's scale degree above the tonic of the tune's key signature (ABC `K:`, else estimated from the primer) (at `model new`)";
    Rhythm rhythm: Rhythm = Rhythm::Grid, Kind::Choice(Rhythm::NAMES), fixed shared,
        "step and duration outputs: grid (distributions over multiples of 1/48 note), or regression as in the notebook (at `model new`)";
    Objective objective: Objective = Objective::Sequence, Kind::Choice(Objective::NAMES), fixed shared,
        "sequence: predict every next note of a window; window: only the note after it (notebook)";
    Clip clip: f64 = 1.0, Kind::Float { min: 0.0, max: 1e6 }, fixed shared,
        "gradient norm clipping (0 = off)";
    Dropout dropout: f64 = 0.0, Kind::Float { min: 0.0, max: 0.9 }, fixed shared,
        "dropout on the LSTM's input and output while training (0 = off, as the notebook)";
    Augment augment: i64 = 5, Kind::Int { min: 0, max: 24 }, fixed shared,
        "transpose each training window by a random number of semitones within ±N (0 = off)";
    Val val: f64 = 0.1, Kind::Float { min: 0.0, max: 0.9 }, fixed shared,
        "fraction of tunes held out for validation (seeded)";
    Keep keep: Keep = Keep::Best, Kind::Choice(Keep::NAMES), fixed shared,
        "after training keep the best validation epoch, or the last";
    CheckpointEvery checkpoint_every: i64 = 0, Kind::Int { min: 0, max: 100000 }, fixed shared,
        "write a checkpoint every N epochs (0 = off)";
    CheckpointDir checkpoint_dir: String = "checkpoints".into(), Kind::Text, fixed shared,
        "directory for checkpoints";
    AbcAccidentals abc_accidentals: Accidentals = Accidentals::Bar, Kind::Choice(Accidentals::NAMES), fixed shared,
        "ABC accidentals last to the end of the bar (ABC 2.1), or apply to their note only (Essen, music21)";
    Temperature temperature: f64 = 0.85, Kind::Float { min: 0.0, max: 10.0 }, live draw,
        "sampling temperature of pitch (0 = always the most likely, 1 = the model's own distribution)";
    RhythmTemperature rhythm_temperature: f64 = 0.6, Kind::Float { min: 0.0, max: 10.0 }, live draw,
        "sampling temperature of the rhythm, steps and durations, for a model with a grid rhythm head (0 = always the most likely, 1 = the model's own distribution)";
    TopK top_k: i64 = 0, Kind::Int { min: 0, max: 128 }, live draw,
        "sample only among the K most likely pitches (0 = all)";
    Scale scale: Option<Scale> = None, Kind::Scale, playing draw,
        "keep generated pitches in a scale, e.g. \"D yu\", \"A minor pentatonic\" (none = off)";
    Meter meter: Meter = Meter::default(), Kind::Meter, fixed shared,
        "the bar: beats per bar and the note that counts them, e.g. \"3/4\", \"6/8\" (notation bar lines)";
    Grid grid: GridChoice = GridChoice::Auto, Kind::Grid, playing draw,
        "generated steps and durations are whole multiples of this note value, e.g. \"1/16\", \"1/8t\", counted from the bar lines (auto = the value of the model's training data, off = free)";
    Precision precision: Precision = Precision::Int8, Kind::Choice(Precision::NAMES), fixed shared,
        "how generation steps the model: int8 (weights as bytes, about twice as fast, han2 NLL unchanged to 1e-4) or f32 (the trained numbers, as `evaluate` uses them)";
    MinDuration min_duration: f64 = 0.05, Kind::Float { min: 0.0, max: 10.0 }, live draw,
        "shortest generated note, seconds";
    Velocity velocity: i64 = 0, Kind::Int { min: 0, max: 127 }, live voice,
        "velocity for writing and playing (0 = each note's own)";
    Program program: i64 = 0, Kind::Program, live voice,
        "General MIDI program for writing, rendering and playing (number or name)";
    Tempo tempo: f64 = 120.0, Kind::Float { min: 10.0, max: 960.0 }, live shared,
        "beats per minute; melodies are stored at 120, so 60 plays them at half speed";
    Channel channel: i64 = 1, Kind::Int { min: 1, max: 16 }, live voice,
        "MIDI channel for writing and playing";
    Transpose transpose: i64 = 0, Kind::Int { min: -48, max: 48 }, live voice,
        "semitones added when writing, rendering and playing";
    Latency latency: f64 = 0.0, Kind::Float { min: 0.0, max: 2000.0 }, live shared,
        "milliseconds added to every MIDI deadline, to line up with other gear";
    Quantize quantize: Quantize = Quantize::Off, Kind::Choice(Quantize::NAMES), fixed shared,
        "`play` and `live on` wait for the next beat or bar (`meter`) of the clock that leads (off = start at once)";
}

impl SettingId {
    pub fn spec(self) -> &'static SettingSpec {
        // The table is generated in declaration order, so the id is the index.
        &SETTINGS[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The setting called `name` (lower case, as the parser normalises it).
    pub fn from_name(name: &str) -> Option<SettingId> {
        SETTINGS.iter().find(|s| s.name == name).map(|s| s.id)
    }

    /// Whether each voice has its own value of it (its row says `voice`).
    pub fn per_voice(self) -> bool {
        self.spec().voice
    }
}

/// The settings each voice has its own value of, in table order.
pub fn voice_settings() -> impl Iterator<Item = SettingId> {
    SETTINGS.iter().filter(|s| s.voice).map(|s| s.id)
}

/// The settings that shape how notes are drawn, which `generate` takes for one call.
pub fn draw_settings() -> impl Iterator<Item = &'static SettingSpec> {
    SETTINGS.iter().filter(|s| s.draw)
}

impl Live {
    pub fn name(self) -> &'static str {
        self.id().name()
    }

    pub fn spec(self) -> &'static SettingSpec {
        self.id().spec()
    }

    /// Whether each voice's player reads its own value (else one value is every voice's:
    /// the clock's tempo, the port's latency).
    pub fn per_voice(self) -> bool {
        self.spec().voice
    }

    /// Names of the settings a knob can drive, for messages and completion.
    pub fn names() -> impl Iterator<Item = &'static str> {
        Live::ALL.iter().map(|l| l.name())
    }
}

/// The sampling controls that live settings hold, read through `get`: the session's values
/// (`Settings::live_value`) or a voice's controls as the player has them, so that a knob
/// turned mid-phrase reaches the next note. The rest (scale, grid, bar lines) is the caller's.
pub fn sampling(get: impl Fn(Live) -> f64) -> SampleOptions {
    SampleOptions {
        temperature: get(Live::Temperature),
        rhythm_temperature: get(Live::RhythmTemperature),
        top_k: get(Live::TopK) as usize,
        min_duration: get(Live::MinDuration),
        ..SampleOptions::default()
    }
}

impl Settings {
    /// The sampling controls of these settings, with the scale's pitches and tonic.
    pub fn sample_options(&self) -> SampleOptions {
        SampleOptions {
            allowed: self.scale.map(|s| s.mask()),
            tonic: self.scale.map(|s| s.tonic),
            ..sampling(|l| self.live_value(l))
        }
    }
}

pub fn spec(name: &str) -> Option<&'static SettingSpec> {
    SettingId::from_name(name).map(SettingId::spec)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    SETTINGS.iter().map(|s| s.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_index_the_table() {
        for (i, s) in SETTINGS.iter().enumerate() {
            assert_eq!(s.id as usize, i, "{}", s.name);
            assert_eq!(SettingId::from_name(s.name), Some(s.id));
        }
    }

    #[test]
    fn defaults_pass_their_own_checks() {
        let s = Settings::default();
        for spec in SETTINGS {
            let v = s.get_id(spec.id);
            assert_eq!(spec.kind.check(&v), Ok(v.clone()), "{}", spec.name);
        }
    }

    #[test]
    fn live_settings_are_numeric_and_round_trip() {
        let mut s = Settings::default();
        for &l in Live::ALL {
            assert!(l.spec().live && l.spec().kind.is_numeric(), "{}", l.name());
            let (_, max) = l.spec().kind.range().unwrap();
            s.set_live(l, max);
            assert_eq!(s.live_value(l), max, "{}", l.name());
        }
        for spec in SETTINGS {
            if spec.id.live().is_some() {
                assert!(spec.live, "{}", spec.name);
            }
        }
    }

    #[test]
    fn checks_say_what_is_allowed() {
        let k = spec("optimizer").unwrap().kind;
        assert_eq!(
            k.check(&Value::Text("adamw".into()))
                .unwrap_err()
                .to_string(),
            "one of sgd, adam (did you mean `adam`?)"
        );
        let k = spec("seq_len").unwrap().kind;
        assert_eq!(
            k.check(&Value::Int(0)).unwrap_err().to_string(),
            "an integer from 1 to 4096"
        );
        let k = spec("lr").unwrap().kind;
        assert!(k.check(&Value::Text("abc".into())).is_err());
        assert_eq!(k.check(&Value::Int(1)), Ok(Value::Float(1.0)));
    }

    #[test]
    fn set_stores_typed_values() {
        let mut s = Settings::default();
        s.set(SettingId::Temperature, &Value::Float(0.5)).unwrap();
        assert_eq!(s.temperature, 0.5);
        s.set(SettingId::Optimizer, &Value::Text("SGD".into()))
            .unwrap();
        assert_eq!(s.optimizer, Optimizer::Sgd);
        s.set(SettingId::Scale, &Value::Text("d yu".into()))
            .unwrap();
        assert_eq!(s.get("scale"), Some(Value::Text("D yu".into())));
        assert!(s.set(SettingId::Optimizer, &Value::Int(3)).is_err());
        assert_eq!(
            s.optimizer,
            Optimizer::Sgd,
            "a refused value changes nothing"
        );
        assert_eq!(s.get("nope"), None);
    }

    #[test]
    fn values_are_shown_rounded_to_what_matters() {
        assert_eq!(Value::Float(0.9370078740157481).shown(), "0.937");
        assert_eq!(Value::Float(120.0).shown(), "120");
        assert_eq!(Value::Float(121.34567).shown(), "121.346");
        assert_eq!(Value::Float(0.0005).shown(), "0.0005");
        assert_eq!(Value::Float(0.003).shown(), "0.003");
        assert_eq!(Value::Int(7).shown(), "7");
        // `history` keeps the exact value.
        assert_eq!(
            Value::Float(0.9370078740157481).to_string(),
            "0.9370078740157481"
        );
    }
}
