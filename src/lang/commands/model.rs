//! Commands on the model: creating, opening, saving, training, evaluating, generating, each
//! a type and its row beside its parser. The session's model carries them out.

use std::fmt;
use std::path::Path;

use super::{opt_on_off, setting_value, Args, CommandSpec, Num, Opt, Quoted, Replay, MIDI_ABC};
use super::{Arg, Misuse, Q};
use crate::error::{Error, ErrorKind};
use crate::fsio::Role;
use crate::ground::span::Spanned;
use crate::ground::text::quote;
use crate::lang::ast::BarRange;
use crate::lang::Command;
use crate::settings::{self, SettingId, Value};

/// `model new`, `model "FILE"`, or `model` alone: describes the current model.
#[derive(Clone, Debug, PartialEq)]
pub enum Model {
    New,
    Show,
    Open { path: Spanned<String> },
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Model::New => f.write_str("model new"),
            Model::Show => f.write_str("model"),
            Model::Open { path } => write!(f, "model {}", Q(path)),
        }
    }
}

impl Model {
    pub const ROW: CommandSpec = CommandSpec {
        name: "model",
        usage: "model new | model \"FILE\"",
        summary: "a fresh model from the current settings, or open a model file",
        details: "Opens tms's own .safetensors models and the original notebook's PyTorch state_dict (.pth). A MIDI or ABC file is named as such, with `prime` and `load` as the commands that read it.",
        example: "model \"models/folk.safetensors\"",
        words: &["new"],
        quoted: Quoted::Files(&[Role::ModelToOpen]),
        words_at: &[],
        history: Replay::WithArgs,
        parse: p_model,};
}

fn p_model(a: &mut Args) -> Result<Command, Error> {
    if a.keyword("new") {
        return a.finish(Model::New);
    }
    match a.opt_string() {
        Some(path) => a.finish(Model::Open { path }),
        None if a.at_end() => a.finish(Model::Show),
        None => Err(a.expected("`new` or a quoted model file")),
    }
}

/// `save "FILE"`.
#[derive(Clone, Debug, PartialEq)]
pub struct Save {
    pub path: Spanned<String>,
}

impl fmt::Display for Save {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "save {}", Q(&self.path))
    }
}

impl Save {
    pub const ROW: CommandSpec = CommandSpec {
        name: "save",
        usage: "save \"FILE\"",
        summary: "save the model with everything needed to use it again (a .safetensors file)",
        details: "A single safetensors file whose metadata holds the architecture, normalisation and training settings.",
        example: "save \"models/mine.safetensors\"",
        words: &[],
        quoted: Quoted::Files(&[Role::Model]),
        words_at: &[],
        history: Replay::Always,
        parse: p_save,};
}

fn p_save(a: &mut Args) -> Result<Command, Error> {
    let path = a.string("a quoted file name such as \"my.safetensors\"")?;
    // `model` opens .pth too, but tms writes only its own format: a `.pth` name would hold
    // safetensors bytes that PyTorch cannot read.
    if !Role::Model.names(Path::new(&path.value)) {
        return Err(a.error(path.span, Misuse::SaveExtension));
    }
    a.finish(Save { path })
}

/// `train [N] [background]`, or `train stop`: ends a background run after its current batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Train {
    Run {
        epochs: Option<usize>,
        /// `train N background`: on a thread of its own, the prompt stays usable.
        background: bool,
        /// `train N stop after K batches`: stops after the K-th batch of this run exactly as
        /// Ctrl-C there would, so `history` can replay an interrupted run.
        stop_after: Option<usize>,
    },
    Stop,
}

impl fmt::Display for Train {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let Train::Run {
            epochs,
            background,
            stop_after,
        } = self
        else {
            return f.write_str("train stop");
        };
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
}

impl Train {
    pub const ROW: CommandSpec = CommandSpec {
        name: "train",
        usage: "train [N] [background] | train stop | train",
        summary: "train N epochs (default: setting epochs); Ctrl-C stops after the current batch",
        details: "Prints one line per epoch with train and validation loss; `train` again continues with the optimizer state kept. \
                  `train N background` trains on a thread of its own: the prompt stays usable, the music keeps playing, and \
                  every live voice of this model switches to the new weights at each epoch's end, between two notes. While it \
                  runs, `train` alone shows its progress, `train stop` ends it after the current batch, `wait` waits for it, \
                  Ctrl-C leaves it running, and `quit` (or the end of a script) stops it and says so. \
                  `history` records a run Ctrl-C stopped as what it trained, `train N stop after K batches` (K batches of this run), which stops at that batch as Ctrl-C did, so replay writes the same model.",
        example: "train 5 background",
        words: &["background", "stop"],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::Always,
        parse: p_train,};
}

fn p_train(a: &mut Args) -> Result<Command, Error> {
    let epochs = a
        .opt_integer("an epoch count", 1, 1_000_000)?
        .map(|n| n as usize);
    let stop_after = match a.keyword("stop") {
        // `train stop` alone ends a background run.
        true if epochs.is_none() && a.at_end() => return a.finish(Train::Stop),
        true => Some(stop_after(a, "a batch count", &["batches", "batch"])?),
        false => None,
    };
    let background = a.keyword("background");
    a.finish(Train::Run {
        epochs,
        background,
        stop_after,
    })
}

/// The rest of `stop after K UNIT`, which `history` writes for a run Ctrl-C cut short.
fn stop_after(a: &mut Args, what: &str, units: &[&str]) -> Result<usize, Error> {
    a.expect_keyword("after")?;
    let k = a.integer(what, 1, u32::MAX as u64)?.value as usize;
    if !units.iter().any(|u| a.keyword(u)) {
        return Err(a.expected(&format!("`{}`", units[0])));
    }
    Ok(k)
}

/// `learn on|off`: fine-tune on each phrase heard on the input; `learn` alone reports.
#[derive(Clone, Debug, PartialEq)]
pub struct Learn {
    pub on: Option<bool>,
}

impl fmt::Display for Learn {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self.on {
            Some(true) => "learn on",
            Some(false) => "learn off",
            None => "learn",
        })
    }
}

impl Learn {
    pub const ROW: CommandSpec = CommandSpec {
        name: "learn",
        usage: "learn on | learn off | learn",
        summary: "learn from the performer: each phrase played on the input port joins the dataset and fine-tunes the model a little",
        details: "A phrase ends as `listen` ends one: 600 ms with no key down (between the notes' arrivals; a key \
                  held over 8 s counts as released). The model takes a few steps at a small \
                  learning rate on the phrase and a replay sample of the dataset (so it does not forget), on a thread of \
                  its own; the next notes every voice of the model generates come from the updated weights. `learn` alone \
                  says how many phrases were learned. `learn off` returns at once: a fine-tune still running is abandoned \
                  and its phrase dropped. `listen` and `respond on` are refused while learning (one reader \
                  of the input), and so are `train`, `model new`, `model \"FILE\"` and `device`.",
        example: "learn on",
        words: &["on", "off"],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::WithArgs,
        parse: p_learn,};
}

fn p_learn(a: &mut Args) -> Result<Command, Error> {
    let on = opt_on_off(a)?;
    a.finish(Learn { on })
}

/// `evaluate ["GLOB"]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluate {
    pub glob: Option<Spanned<String>>,
}

impl fmt::Display for Evaluate {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "evaluate{}", Arg(self.glob.as_deref().map(|g| Q(g))))
    }
}

impl Evaluate {
    pub const ROW: CommandSpec = CommandSpec {
        name: "evaluate",
        usage: "evaluate [\"GLOB\"]",
        summary: "next-note metrics on the validation split, or on the files of GLOB",
        details: "Prints `notes N pitch_nll X pitch_acc X step_mae X duration_mae X seq_len N` (nats, fraction, seconds; the context length it read). Shows progress on a terminal; Ctrl-C stops it.",
        example: "evaluate \"datasets/essen/han2.abc\"",
        words: &[],
        quoted: MIDI_ABC,
        words_at: &[],
        history: Replay::Always,
        parse: p_evaluate,};
}

fn p_evaluate(a: &mut Args) -> Result<Command, Error> {
    let glob = a.opt_string();
    a.finish(Evaluate { glob })
}

/// `generate N [bars] [SETTING VALUE]… [end tonic] [form "AABA" [vary X]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Generate {
    pub n: usize,
    /// `generate N bars`: N bars of the meter instead of N notes.
    pub bars: bool,
    /// Settings given for this call (`temperature 0.5`, `scale "D yu"`): the table's
    /// `draw` rows, checked, in table order.
    pub overrides: Vec<(SettingId, Spanned<Value>)>,
    /// `end tonic`: the melody's last note is the scale's tonic.
    pub end_tonic: bool,
    /// `stop after K notes`: stops after the K-th note exactly as Ctrl-C there would, so
    /// `history` can replay an interrupted `generate`.
    pub stop_after: Option<usize>,
    /// `form "AABA"` (with `bars`): the bars in phrases, one a letter.
    pub form: Option<crate::music::form::Form>,
    /// `vary X`: how much a returning phrase of the form changes (0 to 1).
    pub vary: Option<f64>,
}

impl fmt::Display for Generate {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "generate {}{}{}{}{}{}{}",
            self.n,
            if self.bars { " bars" } else { "" },
            Opt("form", &self.form.as_ref().map(|f| quote(&f.to_string()))),
            Opt("vary", &self.vary.map(Num)),
            self.overrides
                .iter()
                .map(|(id, v)| format!(" {} {}", id.name(), v.value))
                .collect::<String>(),
            if self.end_tonic { " end tonic" } else { "" },
            match self.stop_after {
                Some(1) => " stop after 1 note".to_string(),
                Some(k) => format!(" stop after {k} notes"),
                None => String::new(),
            },
        )
    }
}

impl Generate {
    pub const ROW: CommandSpec = CommandSpec {
        name: "generate",
        usage: "generate N [notes|bars] [temperature T] [top_k K] [scale \"SCALE\"] [grid \"1/16\"] [end tonic] [form \"AABA\" [vary X]]",
        summary: "continue the primer (or the previous melody) by N notes, or by N bars of the meter",
        details: "`generate 10 notes` is `generate 10`. Options override the settings for this call: any setting that shapes how notes are drawn (temperature, rhythm_temperature, top_k, min_duration, scale, grid), written as `set` writes it. Scales: major, minor, harmonic minor, the church modes, major/minor pentatonic, and gong, shang, jue, zhi, yu, each with a tonic (\"D yu\"). `bars`: the melody completes the bar it is in, then N whole bars of `meter` (bar lines where the melody has them: after its source's upbeat, else every bar from its first note); no note starts on or after the last bar line, and the note that reaches it is cut there. `end tonic`: the last note is the scale's tonic and lasts a beat or more (needs a scale). A grid counts from the bar lines, not from the last note. The scale used is the key `write` gives the melody. The melody is one line: a generated note ends by the next note's start (the next step is drawn before a note is handed out), and so does the note before the first one (the primer's last); the last note keeps its length. At a terminal a generate of 50000 notes or more shows a progress bar. Ctrl-C stops it after the note it is making; `history` records that as `generate N … stop after K notes`, which stops at the same note, so replay writes the same melody. `form \"AABA\"` (with `bars`; letters A to Z, at most 64): the N bars in phrases of equal length, one a letter, from the bar line after the melody (N must split evenly). A letter's first phrase is drawn new: the first phrase continues the melody, a later one is the most contrasting of 8 draws (the furthest, by edit distance of interval sequences, from the nearest earlier phrase). A letter that comes again is its first phrase moved there and varied once as `vary` varies bars: each note kept with probability 1 - X, else drawn by the model; X is 0.2 unless given, and `vary 0` brings the phrase back exactly. Every phrase ends on its closing bar line with a note of a beat or more: on the tonic when its letter is the form's last, else on the tonic or its fifth; the tonic is the scale's, else that of the key estimated from the melody so far. Ctrl-C leaves the melody as it was.",
        example: "generate 8 bars temperature 0.8 scale \"D yu\" end tonic",
        words: &["notes", "bars", "temperature", "rhythm_temperature", "top_k", "min_duration", "scale", "grid", "end", "tonic", "form", "vary"],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::Always,
        parse: p_generate,};
}

fn p_generate(a: &mut Args) -> Result<Command, Error> {
    let n = a.integer("a note count", 1, 10_000_000)?.value as usize;
    let bars = a.keyword("bars") || a.keyword("bar");
    // `generate 10 notes` reads as it is meant: notes are what N counts without `bars`.
    let _ = bars || a.keyword("notes") || a.keyword("note");
    let mut end_tonic = false;
    let (mut stop, mut form, mut vary) = (None, None, None);
    let mut overrides: Vec<(SettingId, Spanned<Value>)> = Vec::new();
    let mut names = vec!["end", "stop", "form", "vary"];
    names.extend(settings::draw_settings().map(|s| s.name));
    let follows = names.clone();
    a.options(&names, |name, a| {
        match name {
            "stop" => stop = Some(stop_after(a, "a note count", &["notes", "note"])?),
            "form" => {
                let s = a.string("a quoted form such as \"AABA\"")?;
                let f = crate::music::form::Form::parse(&s.value)
                    .map_err(|e| Error::new(s.span, ErrorKind::Form(e)))?;
                form = Some(Spanned::new(f, s.span));
            }
            "vary" => vary = Some(a.number("an amount", 0.0, 1.0)?),
            "end" => {
                let w = a.word("`tonic`")?;
                if !w.value.eq_ignore_ascii_case("tonic") {
                    return Err(Error::new(w.span, ErrorKind::EndNotTonic(w.value)));
                }
                end_tonic = true;
            }
            setting => {
                // Only the table's `draw` rows are among the names.
                let Some(spec) = settings::spec(setting) else {
                    return Err(a.expected("an option"));
                };
                overrides.push((spec.id, setting_value(a, spec, "", &follows)?));
            }
        }
        Ok(())
    })?;
    // In the table's order, so that a call prints one way however it was written.
    overrides.sort_by_key(|(id, _)| *id as usize);
    if let Some(v) = &vary {
        if form.is_none() {
            return Err(a.error(v.span, Misuse::VaryWithoutForm));
        }
    }
    if let Some(f) = &form {
        if !bars {
            return Err(a.error(f.span, Misuse::FormWithoutBars));
        }
        if stop.is_some() {
            // Ctrl-C leaves the melody as it was before a form, so nothing replays it.
            return Err(a.error(f.span, Misuse::FormStopAfter));
        }
        f.value
            .phrase_bars(n)
            .map_err(|e| Error::new(f.span, ErrorKind::Form(e)))?;
    }
    a.finish(Generate {
        n,
        bars,
        overrides,
        end_tonic,
        stop_after: stop,
        form: form.map(|f| f.value),
        vary: vary.map(|v| v.value),
    })
}

/// How many candidates `regenerate` and `vary` may draw.
pub const MAX_TRIES: u64 = 1000;

/// `regenerate bars 5-6 [tries K]`: the bars drawn again to lead into what follows.
#[derive(Clone, Debug, PartialEq)]
pub struct Regenerate {
    pub bars: Spanned<BarRange>,
    pub tries: Option<usize>,
}

impl fmt::Display for Regenerate {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "regenerate {}{}",
            self.bars.value,
            Opt("tries", &self.tries)
        )
    }
}

impl Regenerate {
    pub const ROW: CommandSpec = CommandSpec {
        name: "regenerate",
        usage: "regenerate bar N|bars A-B [tries K]",
        summary: "draw bars of the melody again, to lead into the notes after them; the rest stays",
        details: "Bars count from the melody's first bar line (an upbeat is bar 0, and is not drawn again) in `meter`. K candidates (8 unless given) are drawn as `generate` draws, with its settings (temperature, top_k, scale, grid), from the notes before the bars: the first new note starts on or after the bars' first bar line, no note starts on or after their last one, and the note that reaches it is cut there. The candidate chosen is the one after which the model finds the kept notes of the next 4 bars most likely (their pitches, and with a grid rhythm head their steps and durations; the first drawn wins a tie). A note from before that still sounds in the bars ends on their first bar line; every other note before and after the bars is kept as it was. The bars need a note before them for the model to read. A voice looping the melody (`play loop`) takes the new one at its next bar line.",
        example: "regenerate bars 5-6 tries 16",
        words: &["bar", "bars", "tries"],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::Always,
        parse: p_regenerate,};
}

fn p_regenerate(a: &mut Args) -> Result<Command, Error> {
    let bars = a.bar_range()?;
    let mut tries = None;
    a.options(&["tries"], |_, a| {
        tries = Some(a.integer("a number of tries", 1, MAX_TRIES)?.value as usize);
        Ok(())
    })?;
    a.finish(Regenerate { bars, tries })
}

/// `vary bar 3 [amount X] [tries K]`: the bars drawn again, keeping part of them.
#[derive(Clone, Debug, PartialEq)]
pub struct Vary {
    pub bars: Spanned<BarRange>,
    pub amount: Option<f64>,
    pub tries: Option<usize>,
}

impl fmt::Display for Vary {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "vary {}{}{}",
            self.bars.value,
            Opt("amount", &self.amount.map(Num)),
            Opt("tries", &self.tries)
        )
    }
}

impl Vary {
    pub const ROW: CommandSpec = CommandSpec {
        name: "vary",
        usage: "vary bar N|bars A-B [amount X] [tries K]",
        summary: "a variation of bars of the melody: part of their notes kept, the rest drawn again",
        details: "As `regenerate`, but while a candidate is drawn each of the bars' notes still ahead is kept as it was with probability 1 - X, and drawn by the model with probability X (after a drawn note, the notes it starts on or after are gone). X is from 0 (the bars unchanged) to 1 (drawn freely: `regenerate`'s very candidates); 0.3 unless given. Between the two, a candidate that kept every note, or whose drawn notes came out as the old ones, is drawn again (up to 16 times), so the bars change unless X is near 0. The candidate chosen is the one that leads best into the following notes, as for `regenerate`.",
        example: "vary bar 3 amount 0.5",
        words: &["bar", "bars", "amount", "tries"],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::Always,
        parse: p_vary,};
}

fn p_vary(a: &mut Args) -> Result<Command, Error> {
    let bars = a.bar_range()?;
    let (mut amount, mut tries) = (None, None);
    a.options(&["amount", "tries"], |name, a| {
        match name {
            "amount" => amount = Some(a.number("an amount", 0.0, 1.0)?.value),
            _ => tries = Some(a.integer("a number of tries", 1, MAX_TRIES)?.value as usize),
        }
        Ok(())
    })?;
    a.finish(Vary {
        bars,
        amount,
        tries,
    })
}
