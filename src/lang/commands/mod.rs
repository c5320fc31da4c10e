//! The command table: one row per command with its syntax, help, example, what completes
//! after it, and the function that turns its tokens into a typed [`Command`]. The parser's
//! dispatch, `help`, tab completion and did-you-mean all read this table, so a command added
//! to it is complete everywhere at once. Each row sits beside its parser in the file of its
//! family, the part of [`Command`] it builds (session, data, model, stage), and [`COMMANDS`]
//! sets their order; this file holds what the families share: the row's type, the [`Args`]
//! cursor, and the checks of more than one family.

use std::path::Path;

use super::ast::{BarRange, Command};
use super::lexer::{Syntax, Token, TokenKind, Unquoted};
use crate::error::{Error, ErrorKind};
use crate::fsio::Role;
use crate::ground::span::{Span, Spanned};
use crate::ground::text::suggest;
use crate::settings::{self, SettingId, SettingSpec, Value};

// A command that takes no arguments; defined before the families, which use it.
macro_rules! bare {
    ($name:ident, $variant:expr) => {
        fn $name(a: &mut Args) -> Result<Command, Error> {
            a.finish($variant)
        }
    };
}

mod data;
mod model;
mod session;
mod stage;

pub use model::MAX_TRIES;
pub use stage::{MAX_VOICES, VOICE_NAME_MAX};

/// The names a bare argument may take, for completion.
#[derive(Clone, Copy, Debug)]
pub enum Pool {
    /// Every setting.
    Settings,
    /// What `help` explains: commands, settings and `settings`.
    Topics,
    /// The settings a knob can turn.
    LiveSettings,
}

/// What a command's quoted argument names: what tab completion offers inside its quotes.
#[derive(Clone, Copy, Debug)]
pub enum Quoted {
    /// Any path.
    Paths,
    /// Files in one of these roles (directories always).
    Files(&'static [Role]),
    /// A MIDI port of the moment: an input after `in`, else an output.
    Ports,
    /// One of the session's voices.
    Voices,
}

/// Whether a successful command goes into `history`, the replayable script of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum History {
    /// It changes state: replaying the session needs it.
    Always,
    /// It only shows or leaves (`help`, `show`, `quit`), or runs other commands that are
    /// recorded themselves (`run`).
    Never,
    /// Recorded with arguments (`set tempo 90`), not bare (`set` lists).
    WithArgs,
}

impl History {
    pub fn records(self, has_args: bool) -> bool {
        match self {
            History::Always => true,
            History::Never => false,
            History::WithArgs => has_args,
        }
    }
}

pub struct CommandSpec {
    pub name: &'static str,
    pub usage: &'static str,
    pub summary: &'static str,
    pub details: &'static str,
    pub example: &'static str,
    /// Words that may follow the name (keywords and option names), for completion.
    pub words: &'static [&'static str],
    /// What its quoted argument names, for completion.
    pub quoted: Quoted,
    /// Names a bare word may be at an argument's position (1 is the first after the
    /// command's name), where they are not `words`: `set NAME`, `help TOPIC`.
    pub words_at: &'static [(usize, Pool)],
    pub history: History,
    pub parse: fn(&mut Args) -> Result<Command, Error>,
}

/// A cursor over one command's argument tokens, with the checks every command shares.
pub struct Args<'a> {
    pub spec: &'static CommandSpec,
    name: Span,
    toks: &'a [Token],
    pos: usize,
}

impl<'a> Args<'a> {
    pub fn new(spec: &'static CommandSpec, name: Span, toks: &'a [Token]) -> Self {
        Args {
            spec,
            name,
            toks,
            pos: 0,
        }
    }

    fn peek(&self) -> Option<&'a Token> {
        self.toks.get(self.pos)
    }

    /// Where a missing argument would go: just after the last token.
    fn end_span(&self) -> Span {
        let last = self.toks.last().map_or(self.name, |t| t.span);
        Span {
            offset: last.offset + last.len,
            len: 1,
            line: last.line,
            column: last.column + last.len.max(1),
        }
    }

    fn error(&self, span: Span, message: impl Into<String>) -> Error {
        Error::usage(span, message, self.spec.usage)
    }

    fn expected(&self, what: &str) -> Error {
        match self.peek() {
            Some(t) => self.error(t.span, format!("expected {what}, found {}", t.describe())),
            None => self.error(self.end_span(), format!("missing {what}")),
        }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    pub fn string(&mut self, what: &str) -> Result<Spanned<String>, Error> {
        match self.peek() {
            Some(Token {
                kind: TokenKind::Str(s),
                span,
            }) => {
                self.pos += 1;
                Ok(Spanned::new(s.clone(), *span))
            }
            _ => Err(self.expected(what)),
        }
    }

    pub fn opt_string(&mut self) -> Option<Spanned<String>> {
        match self.peek() {
            Some(Token {
                kind: TokenKind::Str(_),
                ..
            }) => self.string("").ok(),
            _ => None,
        }
    }

    pub fn number(&mut self, what: &str, min: f64, max: f64) -> Result<Spanned<f64>, Error> {
        match self.peek() {
            Some(Token {
                kind: TokenKind::Num(x, _),
                span,
            }) => {
                if !(x.is_finite() && (min..=max).contains(x)) {
                    return Err(self.error(
                        *span,
                        format!(
                            "{what} must be from {} to {}",
                            crate::ground::text::fmt_number(min),
                            crate::ground::text::fmt_number(max)
                        ),
                    ));
                }
                self.pos += 1;
                Ok(Spanned::new(*x, *span))
            }
            _ => Err(self.expected(what)),
        }
    }

    pub fn integer(&mut self, what: &str, min: u64, max: u64) -> Result<Spanned<u64>, Error> {
        match self.peek() {
            Some(Token {
                kind: TokenKind::Num(_, text),
                span,
            }) => {
                let value = text.strip_prefix('+').unwrap_or(text).parse::<u64>();
                match value {
                    Ok(v) if (min..=max).contains(&v) => {
                        self.pos += 1;
                        Ok(Spanned::new(v, *span))
                    }
                    Ok(_) => Err(self.error(
                        *span,
                        format!("{what} must be an integer from {min} to {max}"),
                    )),
                    Err(_) => Err(self.error(
                        *span,
                        format!("{what} must be a whole number, found `{text}`"),
                    )),
                }
            }
            _ => Err(self.expected(what)),
        }
    }

    pub fn opt_integer(&mut self, what: &str, min: u64, max: u64) -> Result<Option<u64>, Error> {
        match self.peek() {
            Some(Token {
                kind: TokenKind::Num(..),
                ..
            }) => Ok(Some(self.integer(what, min, max)?.value)),
            _ => Ok(None),
        }
    }

    /// A bare word, returned as written.
    pub fn word(&mut self, what: &str) -> Result<Spanned<String>, Error> {
        match self.peek() {
            Some(Token {
                kind: TokenKind::Word(w),
                span,
            }) => {
                self.pos += 1;
                Ok(Spanned::new(w.clone(), *span))
            }
            _ => Err(self.expected(what)),
        }
    }

    /// Consumes the keyword if it is next.
    pub fn keyword(&mut self, kw: &str) -> bool {
        match self.peek() {
            Some(Token {
                kind: TokenKind::Word(w),
                ..
            }) if w.eq_ignore_ascii_case(kw) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    pub fn expect_keyword(&mut self, kw: &str) -> Result<(), Error> {
        if self.keyword(kw) {
            Ok(())
        } else {
            Err(self.expected(&format!("`{kw}`")))
        }
    }

    pub fn tilde(&mut self) -> Result<(), Error> {
        match self.peek() {
            Some(Token {
                kind: TokenKind::Tilde,
                ..
            }) => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(self.expected("`~`")),
        }
    }

    /// `name value` pairs in any order, each at most once; `f` parses the value of one.
    pub fn options(
        &mut self,
        names: &[&str],
        mut f: impl FnMut(&str, &mut Self) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut seen: Vec<String> = Vec::new();
        while let Some(tok) = self.peek() {
            let TokenKind::Word(w) = &tok.kind else {
                return Err(self.error(tok.span, format!("unexpected {}", tok.describe())));
            };
            let lower = w.to_lowercase();
            let Some(name) = names.iter().find(|n| **n == lower) else {
                let hint = match suggest(w, names.iter().copied()) {
                    Some(s) => format!(" (did you mean `{s}`?)"),
                    None => String::new(),
                };
                return Err(self.error(tok.span, format!("unknown option `{w}`{hint}")));
            };
            if seen.iter().any(|s| s == name) {
                return Err(self.error(tok.span, format!("option `{name}` given twice")));
            }
            seen.push(name.to_string());
            self.pos += 1;
            f(name, self)?;
        }
        Ok(())
    }

    /// `bar N`, or `bars A-B` (`bars 5` is bar 5), with the span of the numbers. The lexer
    /// reads `5-6` as the numbers 5 and -6, so the second must follow the first with no
    /// space between.
    pub fn bar_range(&mut self) -> Result<Spanned<BarRange>, Error> {
        if !(self.keyword("bars") || self.keyword("bar")) {
            return Err(self.expected("`bar N` or `bars A-B`"));
        }
        let first = self.integer("a bar number", 0, u32::MAX as u64)?;
        let mut span = first.span;
        let mut last = first.value;
        if let Some(Token {
            kind: TokenKind::Num(_, text),
            span: next,
        }) = self.peek()
        {
            if let Some(digits) = text.strip_prefix('-') {
                let glued = next.offset == span.offset + span.len;
                match digits.parse::<u64>() {
                    Ok(v) if glued => {
                        last = v;
                        span = span.to(*next);
                        self.pos += 1;
                    }
                    _ => {
                        return Err(self.error(
                            *next,
                            "a range of bars is written with no spaces: `bars 5-6`",
                        ))
                    }
                }
            }
        }
        if last < first.value {
            return Err(self.error(
                span,
                format!(
                    "bars {}-{last} run backwards: the first bar comes first",
                    first.value
                ),
            ));
        }
        let range = BarRange {
            first: first.value as usize,
            last: last as usize,
        };
        Ok(Spanned::new(range, span))
    }

    /// Fails on any token left over.
    pub fn finish(&self, cmd: impl Into<Command>) -> Result<Command, Error> {
        match self.peek() {
            None => Ok(cmd.into()),
            Some(t) => Err(self.error(t.span, format!("unexpected {}", t.describe()))),
        }
    }
}

fn setting_name(a: &mut Args) -> Result<Spanned<SettingId>, Error> {
    let name = a.word("a setting name")?;
    match SettingId::from_name(&name.value.to_lowercase()) {
        Some(id) => Ok(Spanned::new(id, name.span)),
        None => Err(Error::new(
            name.span,
            ErrorKind::UnknownSetting {
                suggestion: suggest(&name.value, settings::names()),
                name: name.value,
            },
        )),
    }
}

/// `set meter 3/4`, `generate 8 grid 1/16`: a character the lexer stops at, inside a value
/// of a setting that is written in quotes, gets the quoted spelling as its hint.
pub fn unquoted_value(group: &[Token], e: Error, src: &str) -> Error {
    let (Some(at), ErrorKind::Syntax(Syntax::UnexpectedChar(ch))) = (e.span, &e.kind) else {
        return e;
    };
    let ch = *ch;
    // The setting named by the word before the value (the command itself never counts).
    let named = group
        .iter()
        .enumerate()
        .skip(1)
        .rev()
        .find_map(|(i, t)| match &t.kind {
            TokenKind::Word(w) => settings::spec(&w.to_lowercase()).map(|s| (i, s)),
            _ => None,
        });
    let Some((i, spec)) = named else {
        return e;
    };
    let start = match group.get(i + 1) {
        Some(v) if i + 2 == group.len() => v.span.offset,
        None => at.offset,
        Some(_) => return e,
    };
    let name = &group[i].span;
    let end = src[at.offset..]
        .find(|c: char| c.is_whitespace() || c == ';')
        .map_or(src.len(), |n| at.offset + n);
    let (Some(command), Some(value)) = (
        src.get(group[0].span.offset..name.offset + name.len),
        src.get(start..end),
    ) else {
        return e;
    };
    Error::new(
        at,
        ErrorKind::Syntax(Syntax::UnquotedValue(Box::new(Unquoted {
            ch,
            setting: spec.name,
            command: command.to_string(),
            value: value.to_string(),
        }))),
    )
}

/// A file name's extension, lower-case.
fn extension(path: &str) -> Option<String> {
    Path::new(path)
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
}

/// `on`, `off`, or nothing (the command alone reports).
fn opt_on_off(a: &mut Args) -> Result<Option<bool>, Error> {
    if a.keyword("on") {
        Ok(Some(true))
    } else if a.keyword("off") {
        Ok(Some(false))
    } else if a.at_end() {
        Ok(None)
    } else {
        Err(a.expected("`on` or `off`"))
    }
}

const MIDI_ABC: Quoted = Quoted::Files(&[Role::Melody]);

/// Every command, in the order `help` lists them and README's table shows them.
pub static COMMANDS: &[CommandSpec] = &[
    session::HELP,
    session::SEED,
    session::DEVICE,
    session::SET,
    session::LOSS,
    data::LOAD,
    data::DATASET,
    data::EXPORT,
    model::MODEL,
    model::SAVE,
    model::TRAIN,
    model::LEARN,
    model::EVALUATE,
    data::PRIME,
    model::GENERATE,
    model::REGENERATE,
    model::VARY,
    data::SHOW,
    data::WRITE,
    data::RENDER,
    stage::PORTS,
    stage::CONNECT,
    stage::DISCONNECT,
    stage::PLAY,
    stage::LIVE,
    stage::CLOCK,
    stage::STOP,
    stage::VOICE,
    stage::VOICES,
    stage::PANIC,
    stage::LISTEN,
    stage::RESPOND,
    stage::RECORD,
    stage::MAP,
    stage::UNMAP,
    stage::LINK,
    stage::WAIT,
    session::SLEEP,
    session::RUN,
    session::WATCH,
    session::UNWATCH,
    session::HISTORY,
    session::QUIT,
];

pub fn lookup(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    COMMANDS.iter().map(|c| c.name)
}

/// A value for the setting `spec`, checked against its row: a number, a word or a quoted
/// string, as `set` and the options of `generate` read it. `lead` is what the command
/// writes before the setting's name, for the hint on an unquoted value of several words;
/// a word in `follows` (the command's next option) is not taken for such a word.
pub(super) fn setting_value(
    a: &mut Args,
    spec: &SettingSpec,
    lead: &str,
    follows: &[&str],
) -> Result<Spanned<Value>, Error> {
    let tok = a.peek().cloned();
    let (raw, span) = match &tok {
        Some(Token {
            kind: TokenKind::Num(x, text),
            span,
        }) => {
            let is_int = !text.contains(['.', 'e', 'E']);
            let v = match text.strip_prefix('+').unwrap_or(text).parse::<i64>() {
                Ok(i) if is_int => Value::Int(i),
                _ => Value::Float(*x),
            };
            (v, *span)
        }
        Some(Token {
            kind: TokenKind::Str(s) | TokenKind::Word(s),
            span,
        }) => (Value::Text(s.clone()), *span),
        _ => return Err(a.expected(&format!("a value for `{}`", spec.name))),
    };
    a.pos += 1;
    // `set scale D yu`: a value of several words must be quoted; say so rather than
    // "unexpected word".
    if let (
        Value::Text(first),
        Some(Token {
            kind: TokenKind::Word(more),
            span: more_span,
        }),
    ) = (&raw, a.peek())
    {
        if !follows.iter().any(|f| more.eq_ignore_ascii_case(f)) {
            return Err(a.error(
                *more_span,
                format!(
                    "a value of several words is quoted: {lead}{} \"{first} {more}\"",
                    spec.name
                ),
            ));
        }
    }
    let value = spec.kind.check(&raw).map_err(|allowed| {
        Error::new(
            span,
            ErrorKind::BadValue {
                setting: spec.name.to_string(),
                value: match &tok {
                    Some(t) => t.describe(),
                    None => raw.to_string(),
                },
                allowed,
            },
        )
    })?;
    Ok(Spanned::new(value, span))
}
