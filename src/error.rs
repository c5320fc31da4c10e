//! Errors as data, and the one place that turns them into what a user reads.
//!
//! Every failure — a typo in a script, an unknown setting, a corrupt MIDI file named in a
//! command — becomes an [`Error`]: an optional span and a kind whose `Display` holds all the
//! wording. [`render`] adds `file:line:col: error:`, the source line and a caret, identically
//! for scripts, `tms -c` and the REPL. A module's own error (a SoundFont that will not load, a
//! glob that matches nothing) travels inside a kind as itself, converted by `From`, with
//! its `io::Error` or other cause still attached; only `Display` turns it into words.

use std::borrow::Cow;
use std::fmt;

use crate::ground::span::Span;

/// How many errors of one script `run` shows before [`ErrorKind::MoreErrors`].
pub const ERRORS_SHOWN: usize = 100;

#[derive(Debug)]
pub struct Error {
    pub span: Option<Span>,
    pub kind: ErrorKind,
}

#[derive(Debug)]
pub enum ErrorKind {
    /// Malformed text: strings, numbers, stray characters.
    Syntax(crate::lang::lexer::Syntax),
    UnknownCommand {
        name: String,
        suggestion: Option<String>,
    },
    /// A command got something other than what its syntax allows, with the command's
    /// usage line. Boxed: every `Result<_, Error>` is as large as the largest kind.
    Usage {
        misuse: Box<crate::lang::commands::Misuse>,
        usage: &'static str,
    },
    UnknownSetting {
        name: String,
        suggestion: Option<String>,
    },
    BadValue {
        setting: String,
        value: String,
        allowed: crate::settings::ValueError,
    },
    /// A value the settings refused as a command ran (the parser's own check is
    /// `BadValue`): shown as what the setting allows.
    Value(crate::settings::ValueError),
    /// The user interrupted a long-running command (Ctrl-C).
    Interrupted,
    /// `run`, `watch`, `tms run` or `tms check` could not read a script.
    ScriptUnreadable {
        path: String,
        reason: crate::fsio::ScriptReadError,
    },
    /// `watch` of a file that cannot be read; `ended` when a watched file stopped being
    /// readable (the watch ends with it).
    CannotWatch {
        path: String,
        reason: crate::fsio::ScriptReadError,
        ended: bool,
    },
    /// `voice` beyond [`crate::lang::commands::MAX_VOICES`].
    TooManyVoices(usize),
    /// `regenerate`/`vary` of a bar the melody does not have: `bar` 0 (before its first
    /// bar line), or past its last (`bars` of `meter`).
    NoSuchBar {
        bar: usize,
        bars: usize,
        meter: String,
    },
    /// `generate N bars form "…"`: not a form, or N bars do not split into its phrases.
    Form(crate::music::form::FormError),
    /// `record` could not start, or `record stop` could not write the final file; `kept`
    /// when the recording keeps running after a failed `record stop`, to be stopped again.
    Record {
        error: crate::perform::record::RecordError,
        kept: bool,
    },
    /// `load`: a glob that names no files, or a walk stopped by Ctrl-C.
    Glob(crate::music::dataset::GlobError),
    /// `prime "F"`, `load "F.abc#X"`: one tune that could not be read.
    Tune(crate::music::dataset::TuneError),
    /// `model "F"`: a file that is not a model tms can open. Boxed, as is `Watch`: every
    /// `Result<_, Error>` is as large as the largest kind.
    OpenModel(Box<crate::session::OpenModelError>),
    /// `render`, `write "F.wav"`.
    Render(crate::render::RenderError),
    /// `watch`: the watch itself could not start.
    Watch(Box<crate::session::WatchError>),

    // What a command needs first.
    /// `model` (to show it), `save`, `evaluate`, `generate`, `regenerate`, `vary`, `live on`,
    /// `respond on`, `learn on`: the voice has no model.
    NoModel,
    /// `train`, `dataset`, `export`: no dataset is loaded.
    NoDataset,
    /// `evaluate` with no files given and no dataset loaded: unlike [`ErrorKind::NoDataset`]
    /// it says that `evaluate` also takes files.
    NoDatasetToEvaluate,
    /// `generate`, `live on`: the voice has no melody to continue.
    NoPrimer,
    /// `show`, `write`, `play`, `regenerate`, `vary`: the voice has no melody.
    NoMelody,
    /// `generate … end tonic` with no scale set or given.
    NeedsScale,

    // The model: its file, its training, what it draws.
    /// `save "F"`: the model could not be written.
    CannotSave {
        path: String,
        reason: Box<crate::model::ModelError>,
    },
    /// `train`, `train stop`, `wait`: a training run that failed (boxed: a checkpoint's
    /// error holds a path and a model error).
    Train(Box<crate::model::TrainError>),
    /// `train N background`: the thread that trains could not be started.
    TrainingThread(std::io::Error),
    /// `train N background stop after B`: only a run Ctrl-C stopped at the prompt is
    /// replayed as batches.
    BackgroundStopAfter,
    /// `model new`, `model "F"`, `train`, `learn on`, `voice`, `device`, `set precision`
    /// while `learn on` fine-tunes the model; `before` names what was refused.
    LearningFromInput { before: &'static str },
    /// The same commands while `train N background` runs, at `epoch` of `epochs`.
    TrainingInBackground {
        epoch: usize,
        epochs: usize,
        before: &'static str,
    },
    /// `learn on` while it is already on.
    AlreadyLearning,
    /// `loss 0 0 0`.
    ZeroLossWeights,
    /// `evaluate`: the dataset's validation split holds no tune.
    EmptyValidation,
    /// `evaluate`: no tune is longer than the context.
    NothingToScore { seq_len: i64 },
    /// `generate N bars` (`bars`), `generate … form` (`None`: a phrase): the model's
    /// steps kept the melody from reaching the end in `notes` notes.
    StepsNearZero { notes: usize, bars: Option<usize> },
    /// `regenerate`, `vary`: the first bar has no note before it to draw on from.
    NothingBeforeBar { bar: usize },
    /// `device cuda` where libtorch finds no GPU.
    NoCuda,
    /// `device cuda:N` past the machine's `count` GPUs.
    NoSuchGpu {
        device: crate::model::cuda::DeviceChoice,
        count: usize,
    },

    // Melodies and files.
    /// `load "GLOB"` that kept no tune.
    NoTunesLoaded { glob: String },
    /// `load "GLOB" where FIELD ~ "TEXT"`: none of the `files` read matched.
    NoTunesMatched {
        files: usize,
        field: String,
        text: String,
    },
    /// `prime notes "…"`: notes that do not parse.
    Notes(crate::music::notes_text::NotesError),
    /// `write "F.abc"`, `write "F.musicxml"`: a melody notation cannot hold.
    Notation(crate::music::notation::NotationError),
    /// `write`, `export`, `history "F"`: the file could not be written.
    CannotWrite {
        path: String,
        reason: std::io::Error,
    },
    /// `write … program "NAME"`: no General MIDI program of that name.
    UnknownProgram {
        name: String,
        suggestion: Option<&'static str>,
    },
    /// `generate … end WORD` with a word other than `tonic`.
    EndNotTonic(String),

    // The stage: ports, the input, recording.
    /// `ports`, `connect`, `play`, `live on`, `listen`, `respond on`, `learn on`, `clock`:
    /// what the MIDI system or a port refused.
    Perform(crate::perform::PerformError),
    /// `listen` that heard nothing.
    HeardNoNotes,
    /// `unmap cc N` of a controller no knob is mapped to.
    CcNotMapped { cc: u8 },
    /// `link on` in a tms built without Ableton Link.
    LinkNotBuilt,
    /// `learn on` while `respond` takes the input's phrases.
    InputResponding,
    /// `listen`, `respond on` while `learn` takes the input's phrases; `before` names
    /// what was refused.
    InputLearning { before: &'static str },
    /// `record "F"` while a recording runs into `path`.
    AlreadyRecording { path: std::path::PathBuf },
    /// `record stop` with no recording.
    NotRecording,

    // Scripts.
    /// `run` nested this deep: a script that runs itself.
    RunTooDeep(usize),
    /// `watch` inside a file that is being watched.
    WatchInWatched,
    /// Ends a list of errors cut short: a broken script reports its first
    /// [`ERRORS_SHOWN`] errors, not a line for each of a million bad lines.
    MoreErrors(usize),
    /// An error inside a script that `run` ran: it is shown where it happened, in that
    /// script's own file and line.
    InScript(Box<ScriptError>),
}

/// Errors with the text they point into.
#[derive(Debug)]
pub struct ScriptError {
    pub file: String,
    pub source: std::sync::Arc<str>,
    /// Every syntax error of the script, or the one error that stopped it.
    pub errors: Vec<Error>,
}

/// The errors of a text that ran, on their way to whoever prints them: `Display` is
/// [`render`] of each, a line apart, in color or not as the session shows its errors.
#[derive(Debug)]
pub struct Report {
    pub script: ScriptError,
    pub color: bool,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let ScriptError {
            file,
            source,
            errors,
        } = &self.script;
        for (i, e) in errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(&render(e, file, source, self.color))?;
        }
        Ok(())
    }
}

impl std::error::Error for Report {}

/// `From` for each module error a kind carries as itself (or boxed).
macro_rules! kinds_from {
    ($($variant:ident($from:ty),)*) => {
        $(impl From<$from> for ErrorKind {
            fn from(e: $from) -> Self {
                ErrorKind::$variant(e.into())
            }
        })*
    };
}

kinds_from! {
    Value(crate::settings::ValueError),
    Glob(crate::music::dataset::GlobError),
    Tune(crate::music::dataset::TuneError),
    OpenModel(crate::session::OpenModelError),
    Render(crate::render::RenderError),
    Watch(crate::session::WatchError),
    Train(crate::model::TrainError),
    Notes(crate::music::notes_text::NotesError),
    Notation(crate::music::notation::NotationError),
    Perform(crate::perform::PerformError),
}

impl Error {
    pub fn new(span: Span, kind: ErrorKind) -> Self {
        Error {
            span: Some(span),
            kind,
        }
    }

    pub fn usage(span: Span, misuse: crate::lang::commands::Misuse, usage: &'static str) -> Self {
        let misuse = Box::new(misuse);
        Error::new(span, ErrorKind::Usage { misuse, usage })
    }
}

/// "8 bars of 4/4" (bars 1 to 8).
fn bar_count(bars: usize, meter: &str) -> String {
    match bars {
        0 => format!("no bar of {meter} after its first bar line"),
        1 => format!("1 bar of {meter} (bar 1)"),
        n => format!("{n} bars of {meter} (bars 1 to {n})"),
    }
}

pub(crate) fn did_you_mean(f: &mut fmt::Formatter, suggestion: &Option<String>) -> fmt::Result {
    match suggestion {
        Some(s) => write!(f, " (did you mean `{s}`?)"),
        None => Ok(()),
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ErrorKind::Syntax(s) => write!(f, "{s}"),
            ErrorKind::UnknownCommand { name, suggestion } => {
                write!(f, "unknown command `{name}`")?;
                did_you_mean(f, suggestion)?;
                if suggestion.is_none() {
                    write!(f, " (type `help` for the list)")?;
                }
                Ok(())
            }
            ErrorKind::Usage { misuse, usage } => write!(f, "{misuse}; usage: {usage}"),
            ErrorKind::UnknownSetting { name, suggestion } => {
                write!(f, "unknown setting `{name}`")?;
                did_you_mean(f, suggestion)?;
                if suggestion.is_none() {
                    write!(f, " (type `set` for the list)")?;
                }
                Ok(())
            }
            ErrorKind::BadValue {
                setting,
                value,
                allowed,
            } => write!(f, "invalid value {value} for `{setting}`: {allowed}"),
            ErrorKind::Interrupted => f.write_str("interrupted"),
            ErrorKind::ScriptUnreadable { path, reason } => {
                write!(f, "cannot read script `{path}`: {reason}")
            }
            ErrorKind::CannotWatch {
                path,
                reason,
                ended: false,
            } => write!(f, "cannot watch `{path}`: {reason}"),
            ErrorKind::CannotWatch { path, reason, .. } => {
                write!(f, "stopped watching `{path}`: {reason}")
            }
            ErrorKind::TooManyVoices(n) => write!(
                f,
                "a session holds at most {n} voices: `voices` lists them; a voice of the same name is switched to, not created"
            ),
            ErrorKind::NoSuchBar { bar: 0, bars, meter } => write!(
                f,
                "bars count from 1, the bar after the melody's first bar line (an upbeat is bar 0 and stays as it is): the melody has {}",
                bar_count(*bars, meter)
            ),
            ErrorKind::NoSuchBar { bar, bars, meter } => write!(
                f,
                "there is no bar {bar}: the melody has {}",
                bar_count(*bars, meter)
            ),
            ErrorKind::Value(e) => write!(f, "{e}"),
            ErrorKind::Form(e) => write!(f, "{e}"),
            ErrorKind::Record { error, kept: false } => write!(f, "{error}"),
            ErrorKind::Record { error, kept: true } => write!(
                f,
                "{error}; the recording is kept: make room, then `record stop` again"
            ),
            ErrorKind::Glob(e) => write!(f, "{e}"),
            ErrorKind::Tune(e) => write!(f, "{e}"),
            ErrorKind::OpenModel(e) => write!(f, "{e}"),
            ErrorKind::Render(e) => write!(f, "{e}"),
            ErrorKind::Watch(e) => write!(f, "{e}"),
            ErrorKind::NoModel => f.write_str("no model: use `model new` or `model \"FILE\"` first"),
            ErrorKind::NoDataset => f.write_str("no dataset: use `load \"GLOB\"` first"),
            ErrorKind::NoDatasetToEvaluate => {
                f.write_str("no dataset: `load` one, or give files: evaluate \"GLOB\"")
            }
            ErrorKind::NoPrimer => f.write_str(
                "no primer: use `prime \"FILE\"` or `prime notes \"C4 D4 E4\"` first",
            ),
            ErrorKind::NoMelody => f.write_str("no melody yet: use `prime` or `generate`"),
            ErrorKind::NeedsScale => f.write_str(
                "`end tonic` needs a scale: `set scale \"D yu\"`, or give `scale` to generate",
            ),
            ErrorKind::CannotSave { path, reason } => write!(f, "cannot save `{path}`: {reason}"),
            ErrorKind::Train(e) => write!(f, "{e}"),
            ErrorKind::TrainingThread(e) => write!(f, "cannot start a training thread: {e}"),
            ErrorKind::BackgroundStopAfter => f.write_str(
                "`stop after` replays a run Ctrl-C stopped at the prompt; a background run ends with `train stop`",
            ),
            ErrorKind::LearningFromInput { before } => write!(
                f,
                "the model is learning from the input: `learn off` before {before}"
            ),
            ErrorKind::TrainingInBackground {
                epoch,
                epochs,
                before,
            } => write!(
                f,
                "training runs in the background (epoch {epoch} of {epochs}): `train stop` or `wait` before {before}"
            ),
            ErrorKind::AlreadyLearning => f.write_str("already learning: `learn off` first"),
            ErrorKind::ZeroLossWeights => f.write_str(
                "all three loss weights would be 0: training would learn nothing (give at least one a positive weight)",
            ),
            ErrorKind::EmptyValidation => f.write_str(
                "the validation split is empty (set val above 0, or evaluate \"GLOB\")",
            ),
            ErrorKind::NothingToScore { seq_len } => write!(
                f,
                "nothing to score: no tune has more than seq_len ({seq_len}) notes"
            ),
            ErrorKind::StepsNearZero { notes, bars } => {
                write!(f, "the model's steps stayed near 0: {notes} notes did not reach the end of ")?;
                match bars {
                    Some(1) => f.write_str("1 bar"),
                    Some(n) => write!(f, "{n} bars"),
                    None => f.write_str("a phrase"),
                }
            }
            ErrorKind::NothingBeforeBar { bar } => write!(
                f,
                "the model draws bars on from the notes before them, and bar {bar} has none before it"
            ),
            ErrorKind::NoCuda => write!(
                f,
                "CUDA is not available here (libtorch {} found no GPU); use `device cpu` or `device auto`",
                env!("TMS_LIBTORCH_VERSION")
            ),
            ErrorKind::NoSuchGpu { device, count } => write!(
                f,
                "no GPU {device}: this machine has {count} (cuda:0 to cuda:{})",
                count.saturating_sub(1)
            ),
            ErrorKind::NoTunesLoaded { glob } => write!(f, "no tunes loaded from `{glob}`"),
            ErrorKind::NoTunesMatched { files, field, text } => write!(
                f,
                "no tunes loaded: none of {files} matched {field} ~ \"{text}\""
            ),
            ErrorKind::Notes(e) => write!(f, "{e}"),
            ErrorKind::Notation(e) => write!(f, "{e}"),
            ErrorKind::CannotWrite { path, reason } => write!(
                f,
                "cannot write `{path}`: {}",
                crate::fsio::io_reason(reason)
            ),
            ErrorKind::UnknownProgram { name, suggestion } => {
                write!(f, "unknown General MIDI program \"{name}\"")?;
                match suggestion {
                    Some(s) => write!(f, " (did you mean \"{s}\"?)"),
                    None => Ok(()),
                }
            }
            ErrorKind::EndNotTonic(word) => {
                write!(f, "a melody can end on `tonic`, not `{word}`")
            }
            ErrorKind::Perform(e) => write!(f, "{e}"),
            ErrorKind::HeardNoNotes => f.write_str("heard no notes"),
            ErrorKind::CcNotMapped { cc } => write!(f, "cc {cc} is not mapped"),
            ErrorKind::LinkNotBuilt => f.write_str(
                "this tms was built without Ableton Link: build it with `make build FEATURES=link` (Link is GPL-2.0-or-later, so that binary is too)",
            ),
            ErrorKind::InputResponding => f.write_str(
                "the input port's phrases go to `respond`: `respond off` before `learn on`",
            ),
            ErrorKind::InputLearning { before } => write!(
                f,
                "the input port's phrases go to `learn`: `learn off` before {before}"
            ),
            ErrorKind::AlreadyRecording { path } => write!(
                f,
                "already recording into {}: `record stop` first",
                path.display()
            ),
            ErrorKind::NotRecording => f.write_str("not recording: nothing to stop"),
            ErrorKind::RunTooDeep(depth) => {
                write!(f, "`run` nested {depth} deep: does a script run itself?")
            }
            ErrorKind::WatchInWatched => f.write_str(
                "`watch` inside a watched file would rerun itself: use `run` there",
            ),
            ErrorKind::MoreErrors(n) => write!(
                f,
                "{n} more {} not shown (`tms check FILE` lists every one)",
                if *n == 1 { "error" } else { "errors" }
            ),
            ErrorKind::InScript(inner) => match inner.errors.first() {
                Some(e) => write!(f, "{}: {e}", inner.file),
                None => write!(f, "{}: an error", inner.file),
            },
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl std::error::Error for Error {}

/// Source lines longer than this many characters are shown as a window around the caret.
const LINE_WINDOW: usize = 120;
/// Characters of the line kept before the caret when a long line is cut.
const LINE_CONTEXT: usize = 40;
/// Messages longer than this (a megabyte-long name in "unknown command") are cut in the middle.
const MESSAGE_MAX: usize = 300;

/// How a character is written in a message: as itself, or as a visible escape when a
/// terminal would act on it (`\x1b[31m` in a command name must not turn the screen red,
/// a bidi override must not reorder the line the user reads).
fn escaped_char(c: char) -> Option<String> {
    match c {
        '\n' => Some("\\n".into()),
        '\r' => Some("\\r".into()),
        '\t' => Some("\\t".into()),
        c if c.is_ascii_control() => Some(format!("\\x{:02x}", c as u32)),
        c if c.is_control() || is_invisible(c) => Some(c.escape_unicode().to_string()),
        _ => None,
    }
}

/// Characters that show nothing, or change how what follows them shows: zero-width spaces
/// and joiners, direction marks and overrides (U+202E turns the rest of a line around),
/// line and paragraph separators, soft hyphens, tags. A name holding one could look like
/// another name, or hide.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
        | '\u{180b}'..='\u{180f}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}'
        | '\u{3164}' | '\u{feff}' | '\u{ffa0}'
        | '\u{fff0}'..='\u{fffb}'
        | '\u{e0000}'..='\u{e007f}')
}

/// `text` with every control character written as a visible escape (see [`escaped_char`]).
pub fn escape_control(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| escaped_char(c).is_some()) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match escaped_char(c) {
            Some(e) => out.push_str(&e),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// An escaped message, cut in the middle when it is too long to read.
fn message(kind: &ErrorKind) -> String {
    let text = kind.to_string();
    let text = escape_control(&text);
    let count = text.chars().count();
    if count <= MESSAGE_MAX {
        return text.into_owned();
    }
    let head: String = text.chars().take(MESSAGE_MAX * 2 / 3).collect();
    let tail: String = text.chars().skip(count - MESSAGE_MAX / 3).collect();
    format!("{head}…{tail}")
}

/// `file:line:col: error: message`, then the source line indented four spaces and a caret
/// under the span. `color` paints the label and the caret. Control characters are escaped
/// everywhere, and a long line shows only the part around the caret, marked with `…`.
pub fn render(err: &Error, file: &str, source: &str, color: bool) -> String {
    use colored::Colorize;
    if let ErrorKind::InScript(inner) = &err.kind {
        let shown: Vec<String> = inner
            .errors
            .iter()
            .map(|e| render(e, &inner.file, &inner.source, color))
            .collect();
        return shown.join("\n");
    }
    let label = if color {
        "error:".red().bold().to_string()
    } else {
        "error:".to_string()
    };
    let file = escape_control(file);
    let Some(span) = err.span else {
        return format!("{file}: {label} {}", message(&err.kind));
    };
    let mut out = format!(
        "{file}:{}:{}: {label} {}",
        span.line,
        span.column,
        message(&err.kind)
    );
    // The line around the span's offset, found from the offset rather than by counting
    // lines from the top: `tms check` renders every error of a script, and counting made
    // 40,000 bad lines take 19 s.
    let at = span.offset.min(source.len());
    let line_text = match source.get(..at) {
        Some(before) => {
            let start = before.rfind('\n').map_or(0, |i| i + 1);
            let end = source[at..].find('\n').map_or(source.len(), |i| at + i);
            &source[start..end]
        }
        None => source
            .lines()
            .nth(span.line.saturating_sub(1))
            .unwrap_or(""),
    };
    let line: Vec<char> = line_text.trim_end_matches('\r').chars().collect();
    let start = (span.column.max(1) - 1).min(line.len());
    let width = source
        .get(span.offset..span.offset + span.len)
        .map_or(1, |s| s.chars().count())
        .max(1);
    let end = (start + width).min(line.len()).max(start + 1);
    // The shown window: the whole line, or LINE_WINDOW characters starting a little before
    // the caret.
    let (lo, hi) = if line.len() <= LINE_WINDOW {
        (0, line.len())
    } else {
        let lo = start.saturating_sub(LINE_CONTEXT);
        (lo, (lo + LINE_WINDOW).min(line.len()))
    };
    let mut shown = String::new();
    let mut indent = String::new();
    let mut caret_width = 0;
    if lo > 0 {
        shown.push('…');
        indent.push(' ');
    }
    for (i, &c) in line.iter().enumerate().take(hi).skip(lo) {
        // Tabs stay tabs in both lines so the caret lines up whatever the tab width.
        let (text, cols) = match c {
            '\t' => ("\t".to_string(), 1),
            c => match escaped_char(c) {
                Some(e) => {
                    let n = e.chars().count();
                    (e, n)
                }
                None => (c.to_string(), 1),
            },
        };
        if i < start {
            if c == '\t' {
                indent.push('\t');
            } else {
                indent.push_str(&" ".repeat(cols));
            }
        } else if i < end {
            caret_width += cols;
        }
        shown.push_str(&text);
    }
    if hi < line.len() {
        shown.push('…');
    }
    let caret = "^".repeat(caret_width.max(1));
    let caret = if color {
        caret.red().bold().to_string()
    } else {
        caret
    };
    out.push_str(&format!("\n    {shown}\n    {indent}{caret}"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_the_contract() {
        let src = "seed 1\nload \"x\"\nset temprature 0.8\n";
        let span = Span {
            offset: src.find("temprature").unwrap(),
            len: 10,
            line: 3,
            column: 5,
        };
        let err = Error::new(
            span,
            ErrorKind::UnknownSetting {
                name: "temprature".into(),
                suggestion: Some("temperature".into()),
            },
        );
        assert_eq!(
            render(&err, "demo.tms", src, false),
            "demo.tms:3:5: error: unknown setting `temprature` (did you mean `temperature`?)\n    set temprature 0.8\n        ^^^^^^^^^^"
        );
    }

    fn unknown_command_at(src: &str, name: &str) -> Error {
        let offset = src.find(name).unwrap();
        Error::new(
            Span {
                offset,
                len: name.len(),
                line: 1,
                column: src[..offset].chars().count() + 1,
            },
            ErrorKind::UnknownCommand {
                name: name.into(),
                suggestion: None,
            },
        )
    }

    #[test]
    fn control_characters_are_shown_escaped_and_the_caret_follows() {
        let src = "seed 1; r\u{1b}[31mx\u{7} 2";
        let err = unknown_command_at(src, "r\u{1b}[31mx\u{7}");
        assert_eq!(
            render(&err, "a\u{1b}b.tms", src, false),
            "a\\x1bb.tms:1:9: error: unknown command `r\\x1b[31mx\\x07` (type `help` for the list)\n    seed 1; r\\x1b[31mx\\x07 2\n            ^^^^^^^^^^^^^^"
        );
    }

    #[test]
    fn a_long_line_is_cut_around_the_caret() {
        let src = format!(
            "{}; frob; {}",
            "seed 1; ".repeat(1000),
            "seed 2; ".repeat(100_000)
        );
        let err = unknown_command_at(&src, "frob");
        let shown = render(&err, "long.tms", &src, false);
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("    …"), "{}", lines[1]);
        assert!(lines[1].ends_with('…'), "{}", lines[1]);
        assert_eq!(
            lines[1].chars().count(),
            4 + 1 + LINE_WINDOW + 1,
            "{}",
            lines[1]
        );
        let caret_col = lines[2].find('^').unwrap();
        assert_eq!(
            &lines[1][..]
                .chars()
                .skip(caret_col)
                .take(4)
                .collect::<String>(),
            "frob"
        );
    }

    #[test]
    fn kinds_read_as_the_messages_they_replace() {
        let stuck = |bars| ErrorKind::StepsNearZero { notes: 32, bars }.to_string();
        assert_eq!(
            stuck(Some(1)),
            "the model's steps stayed near 0: 32 notes did not reach the end of 1 bar"
        );
        assert_eq!(
            stuck(Some(4)),
            "the model's steps stayed near 0: 32 notes did not reach the end of 4 bars"
        );
        assert_eq!(
            stuck(None),
            "the model's steps stayed near 0: 32 notes did not reach the end of a phrase"
        );
        let gpu = ErrorKind::NoSuchGpu {
            device: crate::model::cuda::DeviceChoice::Cuda(3),
            count: 2,
        };
        assert_eq!(
            gpu.to_string(),
            "no GPU cuda:3: this machine has 2 (cuda:0 to cuda:1)"
        );
        let program = |suggestion| {
            let name = "Pianno".to_string();
            ErrorKind::UnknownProgram { name, suggestion }.to_string()
        };
        assert_eq!(program(None), "unknown General MIDI program \"Pianno\"");
        assert_eq!(
            program(Some("Acoustic Grand Piano")),
            "unknown General MIDI program \"Pianno\" (did you mean \"Acoustic Grand Piano\"?)"
        );
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let write = ErrorKind::CannotWrite {
            path: "out/x.mid".into(),
            reason: missing,
        };
        assert_eq!(
            write.to_string(),
            "cannot write `out/x.mid`: no such file or directory"
        );
    }

    #[test]
    fn an_error_stays_small() {
        // Every `Result<_, Error>` is as large as an `Error`: a large payload is boxed.
        assert!(
            std::mem::size_of::<Error>() <= 112,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

    #[test]
    fn a_huge_name_is_cut_in_the_message() {
        let name = "x".repeat(1_000_000);
        let src = format!("{name} 1");
        let err = unknown_command_at(&src, &name);
        let shown = render(&err, "big.tms", &src, false);
        assert!(shown.len() < 1000, "{} bytes", shown.len());
        assert!(shown.contains("(type `help` for the list)"), "{shown}");
    }
}
