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
    Syntax(String),
    UnknownCommand {
        name: String,
        suggestion: Option<String>,
    },
    /// A command got something other than what its syntax allows.
    Usage { message: String, usage: String },
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
    /// Anything that went wrong while running a command; the message names what and where.
    Failed(String),
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
}

impl Error {
    pub fn new(span: Span, kind: ErrorKind) -> Self {
        Error {
            span: Some(span),
            kind,
        }
    }

    pub fn failed(span: Span, message: impl Into<String>) -> Self {
        Error::new(span, ErrorKind::Failed(message.into()))
    }

    pub fn usage(span: Span, message: impl Into<String>, usage: &str) -> Self {
        Error::new(
            span,
            ErrorKind::Usage {
                message: message.into(),
                usage: usage.to_string(),
            },
        )
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

fn did_you_mean(f: &mut fmt::Formatter, suggestion: &Option<String>) -> fmt::Result {
    match suggestion {
        Some(s) => write!(f, " (did you mean `{s}`?)"),
        None => Ok(()),
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ErrorKind::Syntax(m) | ErrorKind::Failed(m) => f.write_str(m),
            ErrorKind::UnknownCommand { name, suggestion } => {
                write!(f, "unknown command `{name}`")?;
                did_you_mean(f, suggestion)?;
                if suggestion.is_none() {
                    write!(f, " (type `help` for the list)")?;
                }
                Ok(())
            }
            ErrorKind::Usage { message, usage } => write!(f, "{message}; usage: {usage}"),
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
    fn a_huge_name_is_cut_in_the_message() {
        let name = "x".repeat(1_000_000);
        let src = format!("{name} 1");
        let err = unknown_command_at(&src, &name);
        let shown = render(&err, "big.tms", &src, false);
        assert!(shown.len() < 1000, "{} bytes", shown.len());
        assert!(shown.contains("(type `help` for the list)"), "{shown}");
    }
}
