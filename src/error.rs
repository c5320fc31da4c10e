//! Errors as data, and the one place that turns them into what a user reads.
//!
//! Every failure — a typo in a script, an unknown setting, a corrupt MIDI file named in a
//! command — becomes an [`Error`]: an optional span and a kind whose `Display` holds all the
//! wording. [`render`] adds `file:line:col: error:`, the source line and a caret, identically
//! for scripts, `tms -c` and the REPL.

use std::fmt;

use crate::lang::span::Span;

#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub span: Option<Span>,
    pub kind: ErrorKind,
}

#[derive(Debug, Clone, PartialEq)]
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
        allowed: String,
    },
    /// Anything that went wrong while running a command; the message names what and where.
    Failed(String),
    /// The user interrupted a long-running command (Ctrl-C).
    Interrupted,
    /// An error inside a script that `run` ran: it is shown where it happened, in that
    /// script's own file and line.
    InScript(Box<ScriptError>),
}

/// An error with the text it points into.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptError {
    pub file: String,
    pub source: std::sync::Arc<str>,
    pub error: Error,
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
            ErrorKind::InScript(inner) => write!(f, "{}: {}", inner.file, inner.error),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl std::error::Error for Error {}

/// The closest candidate by edit distance, if it is close enough to be a plausible typo.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(1) && *d < lower.chars().count().max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

/// `file:line:col: error: message`, then the source line indented four spaces and a caret
/// under the span. `color` paints the label and the caret.
pub fn render(err: &Error, file: &str, source: &str, color: bool) -> String {
    use colored::Colorize;
    if let ErrorKind::InScript(inner) = &err.kind {
        return render(&inner.error, &inner.file, &inner.source, color);
    }
    let label = if color {
        "error:".red().bold().to_string()
    } else {
        "error:".to_string()
    };
    let Some(span) = err.span else {
        return format!("{file}: {label} {}", err.kind);
    };
    let mut out = format!("{file}:{}:{}: {label} {}", span.line, span.column, err.kind);
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
    let line_text = line_text.trim_end_matches('\r');
    let start_col = span.column.max(1) - 1;
    let rest_chars = line_text.chars().count().saturating_sub(start_col);
    let width = source
        .get(span.offset..span.offset + span.len)
        .map_or(1, |s| s.chars().count())
        .clamp(1, rest_chars.max(1));
    let indent: String = line_text
        .chars()
        .take(start_col)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let caret = "^".repeat(width);
    let caret = if color {
        caret.red().bold().to_string()
    } else {
        caret
    };
    out.push_str(&format!("\n    {line_text}\n    {indent}{caret}"));
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

    #[test]
    fn suggestions_need_to_be_close() {
        let names = ["temperature", "tempo", "top_k"];
        assert_eq!(suggest("temprature", names).as_deref(), Some("temperature"));
        assert_eq!(suggest("tempi", names).as_deref(), Some("tempo"));
        assert_eq!(suggest("zzzzzz", names), None);
    }
}
