//! The command table: one row per command with its syntax, help, example, what completes
//! after it, and the function that turns its tokens into a typed [`Command`]. The parser's
//! dispatch, `help`, tab completion and did-you-mean all read this table, so a command added
//! to it is complete everywhere at once.
//!
//! A command is its type and its row, side by side in the file of its family (session,
//! data, model, stage): the type holds its arguments and prints them back as they parse
//! (`history` writes that text), the row its syntax, help and parser. [`commands!`] lists
//! the types in `help`'s order and makes of them the [`Command`] enum and [`COMMANDS`]; the
//! session carries each out by its [`Handle`]. This file holds what the families share: the
//! row's type, the [`Args`] cursor, and the checks of more than one family.

use std::fmt;
use std::path::Path;

use super::ast::BarRange;
use super::lexer::{Syntax, Token, TokenKind, Unquoted};
use crate::error::{Error, ErrorKind};
use crate::fsio::Role;
use crate::ground::span::{Span, Spanned};
use crate::ground::text::{fmt_number, quote, suggest};
use crate::settings::{self, SettingId, SettingSpec, Value};

// The type of a command that takes no arguments, printed as its name; defined before the
// families, which use it. Its row's parser is `|a| a.finish(Type)`.
macro_rules! bare {
    ($(#[$doc:meta])* $ty:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $ty;

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(Self::ROW.name)
            }
        }
    };
}

pub mod data;
mod misuse;
pub mod model;
pub mod session;
pub mod stage;

pub use misuse::Misuse;
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
pub enum Replay {
    /// It changes state: replaying the session needs it.
    Always,
    /// It only shows or leaves (`help`, `show`, `quit`), or runs other commands that are
    /// recorded themselves (`run`).
    Never,
    /// Recorded with arguments (`set tempo 90`), not bare (`set` lists).
    WithArgs,
}

impl Replay {
    pub fn records(self, has_args: bool) -> bool {
        match self {
            Replay::Always => true,
            Replay::Never => false,
            Replay::WithArgs => has_args,
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
    pub history: Replay,
    /// Turns the tokens after the name into the command's type.
    pub parse: fn(&mut Args) -> Result<Command, Error>,
}

/// What carries a command out: implemented once per command type by the part of the
/// program that owns what the command changes (the session, for every command; `lang`
/// never names it). [`Command::run`] asks for all of them, so a command without a handler
/// does not compile, and coherence allows no second one.
pub trait Handle<C> {
    fn handle(&mut self, cmd: &C, span: Span) -> Result<(), Error>;
}

/// The command types in the order `help` lists them, each `family::Type` with its row at
/// `Type::ROW`: makes [`Command`] (a variant per type, named after it), its printing and
/// its dispatch to the handlers, and [`COMMANDS`].
macro_rules! commands {
    ($($family:ident::$ty:ident,)*) => {
        /// A command: one variant per row of [`COMMANDS`], holding the type that sits beside
        /// the row. Printing it (`Display`) gives text that parses back to the same command:
        /// `history` relies on it to write replayable scripts.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Command {
            $($ty($family::$ty),)*
        }

        $(impl From<$family::$ty> for Command {
            fn from(c: $family::$ty) -> Command {
                Command::$ty(c)
            }
        })*

        impl Command {
            /// The name of the row that parses it.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Command::$ty(_) => $family::$ty::ROW.name,)*
                }
            }

            /// Carries the command out by its handler on `on`.
            pub fn run<S>(&self, on: &mut S, span: Span) -> Result<(), Error>
            where
                $(S: Handle<$family::$ty>,)*
            {
                match self {
                    $(Command::$ty(c) => on.handle(c, span),)*
                }
            }
        }

        impl fmt::Display for Command {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                match self {
                    $(Command::$ty(c) => c.fmt(f),)*
                }
            }
        }

        /// Every command, in the order `help` lists them and README's table shows them.
        pub static COMMANDS: &[CommandSpec] = &[$($family::$ty::ROW,)*];
    };
}

commands! {
    session::Help,
    session::Seed,
    session::Device,
    session::Set,
    session::Loss,
    data::Load,
    data::Dataset,
    data::Export,
    model::Model,
    model::Save,
    model::Train,
    model::Learn,
    model::Evaluate,
    data::Prime,
    model::Generate,
    model::Regenerate,
    model::Vary,
    data::Show,
    data::Write,
    data::Render,
    stage::Ports,
    stage::Connect,
    stage::Disconnect,
    stage::Play,
    stage::Live,
    stage::Clock,
    stage::Stop,
    stage::Voice,
    stage::Voices,
    stage::Panic,
    stage::Listen,
    stage::Respond,
    stage::Record,
    stage::Map,
    stage::Unmap,
    stage::Link,
    stage::Wait,
    session::Sleep,
    session::Run,
    session::Watch,
    session::Unwatch,
    session::History,
    session::Quit,
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

    fn error(&self, span: Span, misuse: Misuse) -> Error {
        Error::usage(span, misuse, self.spec.usage)
    }

    fn expected(&self, what: &str) -> Error {
        match self.peek() {
            Some(t) => {
                let (what, found) = (what.to_string(), t.describe());
                self.error(t.span, Misuse::Expected { what, found })
            }
            None => self.error(self.end_span(), Misuse::Missing(what.to_string())),
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
                    let what = what.to_string();
                    return Err(self.error(*span, Misuse::OutOfRange { what, min, max }));
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
                    Ok(_) => {
                        let what = what.to_string();
                        Err(self.error(*span, Misuse::IntegerOutOfRange { what, min, max }))
                    }
                    Err(_) => {
                        let (what, text) = (what.to_string(), text.clone());
                        Err(self.error(*span, Misuse::NotWhole { what, text }))
                    }
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
                return Err(self.error(tok.span, Misuse::Unexpected(tok.describe())));
            };
            let lower = w.to_lowercase();
            let Some(name) = names.iter().find(|n| **n == lower) else {
                let suggestion = suggest(w, names.iter().copied());
                let name = w.clone();
                return Err(self.error(tok.span, Misuse::UnknownOption { name, suggestion }));
            };
            if seen.iter().any(|s| s == name) {
                return Err(self.error(tok.span, Misuse::OptionTwice(name.to_string())));
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
                    _ => return Err(self.error(*next, Misuse::SpacedBarRange)),
                }
            }
        }
        if last < first.value {
            let first = first.value;
            return Err(self.error(span, Misuse::BackwardBars { first, last }));
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
            Some(t) => Err(self.error(t.span, Misuse::Unexpected(t.describe()))),
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

/// What printing a command shares: ` NAME VALUE` for an option that is given.
pub(crate) struct Opt<'a, T>(pub &'a str, pub &'a Option<T>);

impl<T: fmt::Display> fmt::Display for Opt<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.1 {
            Some(v) => write!(f, " {} {v}", self.0),
            None => Ok(()),
        }
    }
}

/// What printing a command shares: ` VALUE` for an argument that is given.
pub(crate) struct Arg<T>(pub Option<T>);

impl<T: fmt::Display> fmt::Display for Arg<T> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match &self.0 {
            Some(v) => write!(f, " {v}"),
            None => Ok(()),
        }
    }
}

/// A number as `set` shows it: `0.5`, `90`.
pub(crate) struct Num(pub f64);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&fmt_number(self.0))
    }
}

/// A string in quotes, escaped so that it lexes back.
pub(crate) struct Q<'a>(pub &'a str);

impl fmt::Display for Q<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&quote(self.0))
    }
}

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
    lead: &'static str,
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
            let misuse = Misuse::UnquotedWords {
                lead,
                setting: spec.name,
                first: first.clone(),
                more: more.clone(),
            };
            return Err(a.error(*more_span, misuse));
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

#[cfg(test)]
mod tests {
    use super::{lookup, Command, COMMANDS};
    use crate::lang::parse;

    fn one(src: &str) -> Command {
        let p = parse(src);
        assert!(p.errors.is_empty(), "`{src}`: {:?}", p.errors);
        assert_eq!(p.stmts.len(), 1, "`{src}`");
        p.stmts[0].cmd.clone()
    }

    /// A command is its row and its type: each row's parser builds its own type (the
    /// variant named by the row), which prints back as text that parses to it again. Every
    /// form of every command is here, beside the rows' examples; the handlers are checked
    /// by the compiler (`Command::run` asks the session for every type).
    #[test]
    fn every_row_parses_to_its_own_type_and_prints_back() {
        let forms = [
            "help",
            "device",
            "set",
            "set tempo",
            "loss",
            "loss step 2",
            "dataset",
            "export \"a.csv\" positions",
            "model new",
            "model",
            "train",
            "train stop",
            "train 3 stop after 2 batches",
            "learn",
            "learn off",
            "evaluate",
            "prime \"a.mid\"",
            "prime \"a.abc\" last 4",
            "generate 4",
            "generate 8 bars form \"AABA\" vary 0.5",
            "generate 5 stop after 1 note",
            "regenerate bar 2",
            "vary bars 1-2 tries 3",
            "write \"a.mid\" program 77 tempo 90",
            "render \"a.wav\" soundfont \"s.sf2\" rate 8000",
            "connect 2",
            "connect in \"x\"",
            "play",
            "live off",
            "clock",
            "clock out off",
            "stop",
            "listen",
            "respond",
            "respond on",
            "respond off",
            "record",
            "record stop",
            "record \"a.mid\" overwrite",
            "map",
            "link",
            "link off",
            "watch",
            "history",
        ];
        let examples = COMMANDS.iter().map(|c| c.example);
        let mut seen = Vec::new();
        for src in examples.chain(forms) {
            let cmd = one(src);
            let row = lookup(src.split(' ').next().unwrap()).unwrap();
            assert_eq!(cmd.name(), row.name, "`{src}` built another command's type");
            let printed = cmd.to_string();
            assert_eq!(one(&printed), cmd, "`{src}` printed as `{printed}`");
            seen.push(row.name);
        }
        for c in COMMANDS {
            assert!(
                std::ptr::eq(lookup(c.name).unwrap(), c),
                "`{}` twice",
                c.name
            );
            assert!(seen.contains(&c.name));
        }
    }
}
