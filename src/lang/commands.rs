//! The command table: one row per command with its syntax, help, example, what completes
//! after it, and the function that turns its tokens into a typed [`Command`]. The parser's
//! dispatch, `help`, tab completion and did-you-mean all read this table, so a command added
//! here is complete everywhere at once.

use std::path::Path;

use super::ast::{
    BarRange, Command, Core, Data, Filter, Learn, PortArg, RecordArg, RespondArg, Stage,
};
use super::lexer::{Token, TokenKind};
use crate::error::{Error, ErrorKind};
use crate::ground::span::{Span, Spanned};
use crate::ground::text::suggest;
use crate::model::cuda::DeviceChoice;
use crate::music::scale::Scale;
use crate::settings::{self, Live, SettingId, Value};

/// What tab completion offers inside a command's quoted argument.
#[derive(Clone, Copy, Debug)]
pub enum Files {
    None,
    /// Paths whose extension is one of these (directories always).
    Ext(&'static [&'static str]),
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
    pub files: Files,
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
    let (Some(at), ErrorKind::Syntax(msg)) = (e.span, &e.kind) else {
        return e;
    };
    if !msg.starts_with("unexpected character") {
        return e;
    }
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
        ErrorKind::Syntax(format!(
            "{msg}: a {} value is written in quotes: {command} \"{value}\"",
            spec.name
        )),
    )
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
    a.finish(Core::Help { topic })
}

fn p_seed(a: &mut Args) -> Result<Command, Error> {
    let seed = a.integer("a seed", 0, u64::MAX)?.value;
    a.finish(Core::Seed { seed })
}

fn p_device(a: &mut Args) -> Result<Command, Error> {
    if a.at_end() {
        return a.finish(Core::Device { device: None });
    }
    let d = a.word("auto, cpu, cuda or cuda:N")?;
    let Some(device) = DeviceChoice::parse(&d.value) else {
        let hint = match suggest(&d.value, ["auto", "cpu", "cuda"]) {
            Some(s) => format!(" (did you mean `{s}`?)"),
            None => String::new(),
        };
        return Err(a.error(d.span, format!("unknown device `{}`{hint}", d.value)));
    };
    a.finish(Core::Device {
        device: Some(Spanned::new(device, d.span)),
    })
}

fn p_set(a: &mut Args) -> Result<Command, Error> {
    if a.at_end() {
        return Ok(Core::SetList.into());
    }
    let name = setting_name(a)?;
    if a.at_end() {
        return Ok(Core::SetShow { name }.into());
    }
    let spec = name.value.spec();
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
        return Err(a.error(
            *more_span,
            format!(
                "a value of several words is quoted: set {} \"{first} {more}\"",
                spec.name
            ),
        ));
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
    a.finish(Core::Set {
        name,
        value: Spanned::new(value, span),
    })
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
    a.finish(Core::Loss {
        pitch,
        step,
        duration,
    })
}

fn p_load(a: &mut Args) -> Result<Command, Error> {
    let glob = a.string("a quoted file pattern such as \"data/*.mid\"")?;
    let (mut limit, mut filter) = (None, None);
    a.options(&["limit", "where"], |name, a| {
        if name == "limit" {
            limit = Some(a.integer("a tune count", 1, u32::MAX as u64)?.value as usize);
        } else {
            let field = a.word("a field name")?;
            let lower = field.value.to_lowercase();
            if !crate::music::note::TuneFields::NAMES.contains(&lower.as_str()) {
                let hint = match suggest(&lower, crate::music::note::TuneFields::NAMES) {
                    Some(s) => format!(" (did you mean `{s}`?)"),
                    None => String::new(),
                };
                return Err(a.error(
                    field.span,
                    format!(
                        "unknown field `{}`{hint}; fields: {}",
                        field.value,
                        crate::music::note::TuneFields::NAMES.join(", ")
                    ),
                ));
            }
            if !matches!(a.peek().map(|t| &t.kind), Some(TokenKind::Tilde)) {
                return Err(a.expected(
                    "`~` (`where FIELD ~ \"TEXT\"` keeps tunes whose FIELD contains TEXT)",
                ));
            }
            a.tilde()?;
            let text = a.string("a quoted text to look for")?.value;
            filter = Some(Filter {
                field: Spanned::new(lower, field.span),
                text,
            });
        }
        Ok(())
    })?;
    a.finish(Data::Load {
        glob,
        limit,
        filter,
    })
}

fn p_path(
    a: &mut Args,
    make: fn(Spanned<String>) -> Command,
    what: &str,
) -> Result<Command, Error> {
    let path = a.string(what)?;
    a.finish(make(path))
}

fn p_export(a: &mut Args) -> Result<Command, Error> {
    let path = a.string("a quoted file name such as \"notes.csv\"")?;
    let positions = a.keyword("positions");
    a.finish(Command::from(Data::Export { path, positions }))
}

fn p_model(a: &mut Args) -> Result<Command, Error> {
    if a.keyword("new") {
        return a.finish(Learn::ModelNew);
    }
    match a.opt_string() {
        Some(path) => a.finish(Learn::ModelOpen { path }),
        None if a.at_end() => a.finish(Learn::ModelShow),
        None => Err(a.expected("`new` or a quoted model file")),
    }
}

fn p_save(a: &mut Args) -> Result<Command, Error> {
    let path = a.string("a quoted file name such as \"my.safetensors\"")?;
    // `model` opens .pth too, but tms writes only its own format: a `.pth` name would hold
    // safetensors bytes that PyTorch cannot read.
    if extension(&path.value).as_deref() != Some("safetensors") {
        return Err(a.error(
            path.span,
            "save writes a safetensors model: give the file a .safetensors name",
        ));
    }
    a.finish(Learn::Save { path })
}

/// A file name's extension, lower-case.
fn extension(path: &str) -> Option<String> {
    Path::new(path)
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
}

/// What `write` makes of each extension it accepts: MIDI, notation, or audio.
pub const WRITE_EXTENSIONS: &[&str] = &["mid", "midi", "abc", "musicxml", "xml", "wav"];

fn p_train(a: &mut Args) -> Result<Command, Error> {
    let epochs = a
        .opt_integer("an epoch count", 1, 1_000_000)?
        .map(|n| n as usize);
    let stop_after = match a.keyword("stop") {
        // `train stop` alone ends a background run.
        true if epochs.is_none() && a.at_end() => return a.finish(Learn::TrainStop),
        true => Some(stop_after(a, "a batch count", &["batches", "batch"])?),
        false => None,
    };
    let background = a.keyword("background");
    a.finish(Learn::Train {
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

fn p_learn(a: &mut Args) -> Result<Command, Error> {
    let on = opt_on_off(a)?;
    a.finish(Learn::LearnMode { on })
}

fn p_evaluate(a: &mut Args) -> Result<Command, Error> {
    let glob = a.opt_string();
    a.finish(Learn::Evaluate { glob })
}

fn p_prime(a: &mut Args) -> Result<Command, Error> {
    if a.keyword("notes") {
        let notes = a.string("quoted notes such as \"C4 D4/2 E4*2 r G4\"")?;
        if let Err(e) = crate::music::notes_text::parse_notes(&notes.value, 100) {
            // Point into the string: one past the opening quote, counted in characters.
            let start = notes.value.chars().take(e.span.start).count();
            let len = notes
                .value
                .chars()
                .skip(e.span.start)
                .take(e.span.len().max(1))
                .count();
            let byte_start: usize = notes.value.chars().take(start).map(char::len_utf8).sum();
            let span = Span {
                offset: notes.span.offset + 1 + byte_start,
                len: len.max(1),
                line: notes.span.line,
                column: notes.span.column + 1 + start,
            };
            return Err(Error::failed(span, e.to_string()));
        }
        return a.finish(Data::PrimeNotes { notes });
    }
    let path = a.string("a quoted MIDI or ABC file, or `notes`")?;
    let mut last = None;
    a.options(&["last"], |_, a| {
        last = Some(a.integer("a note count", 1, u32::MAX as u64)?.value as usize);
        Ok(())
    })?;
    a.finish(Data::PrimeFile { path, last })
}

fn scale_arg(s: Spanned<String>) -> Result<Spanned<Option<Scale>>, Error> {
    crate::music::scale::parse_optional(&s.value)
        .map(|scale| Spanned::new(scale, s.span))
        .map_err(|e| Error::failed(s.span, e.to_string()))
}

fn p_generate(a: &mut Args) -> Result<Command, Error> {
    let n = a.integer("a note count", 1, 10_000_000)?.value as usize;
    let bars = a.keyword("bars") || a.keyword("bar");
    // `generate 10 notes` reads as it is meant: notes are what N counts without `bars`.
    let _ = bars || a.keyword("notes") || a.keyword("note");
    let (mut temperature, mut top_k, mut scale, mut grid) = (None, None, None, None);
    let mut end_tonic = false;
    let (mut stop, mut form, mut vary) = (None, None, None);
    a.options(
        &[
            "temperature",
            "top_k",
            "scale",
            "grid",
            "end",
            "stop",
            "form",
            "vary",
        ],
        |name, a| {
            match name {
                "stop" => stop = Some(stop_after(a, "a note count", &["notes", "note"])?),
                "form" => {
                    let s = a.string("a quoted form such as \"AABA\"")?;
                    let f = crate::music::form::Form::parse(&s.value)
                        .map_err(|e| Error::new(s.span, ErrorKind::Form(e)))?;
                    form = Some(Spanned::new(f, s.span));
                }
                "vary" => vary = Some(a.number("an amount", 0.0, 1.0)?),
                "temperature" => temperature = Some(a.number("a temperature", 0.0, 10.0)?.value),
                "top_k" => top_k = Some(a.integer("a pitch count", 0, 128)?.value as usize),
                "grid" => {
                    let what = "a quoted note value such as \"1/16\" or \"1/8t\", or off";
                    let g = match a.opt_string() {
                        Some(s) => s,
                        None => a.word(what)?,
                    };
                    let parsed = crate::music::grid::Grid::parse_optional(&g.value)
                        .map_err(|e| Error::failed(g.span, e.to_string()))?;
                    grid = Some(parsed);
                }
                "end" => {
                    let w = a.word("`tonic`")?;
                    if !w.value.eq_ignore_ascii_case("tonic") {
                        return Err(Error::failed(
                            w.span,
                            format!("a melody can end on `tonic`, not `{}`", w.value),
                        ));
                    }
                    end_tonic = true;
                }
                _ => {
                    let s = a.string("a quoted scale such as \"D yu\"")?;
                    scale = Some(scale_arg(s)?);
                }
            }
            Ok(())
        },
    )?;
    if let Some(v) = &vary {
        if form.is_none() {
            return Err(a.error(
                v.span,
                "`vary` is how much a returning phrase of a `form` changes: give `form` too",
            ));
        }
    }
    if let Some(f) = &form {
        if !bars {
            return Err(a.error(
                f.span,
                "a form splits bars into phrases: `generate N bars form \"AABA\"`",
            ));
        }
        if stop.is_some() {
            // Ctrl-C leaves the melody as it was before a form, so nothing replays it.
            return Err(a.error(f.span, "`stop after` cannot cut a form short"));
        }
        f.value
            .phrase_bars(n)
            .map_err(|e| Error::new(f.span, ErrorKind::Form(e)))?;
    }
    a.finish(Learn::Generate {
        n,
        bars,
        temperature,
        top_k,
        scale,
        grid,
        end_tonic,
        stop_after: stop,
        form: form.map(|f| f.value),
        vary: vary.map(|v| v.value),
    })
}

/// How many candidates `regenerate` and `vary` may draw.
pub const MAX_TRIES: u64 = 1000;

fn p_regenerate(a: &mut Args) -> Result<Command, Error> {
    let bars = a.bar_range()?;
    let mut tries = None;
    a.options(&["tries"], |_, a| {
        tries = Some(a.integer("a number of tries", 1, MAX_TRIES)?.value as usize);
        Ok(())
    })?;
    a.finish(Learn::Regenerate { bars, tries })
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
    a.finish(Learn::Vary {
        bars,
        amount,
        tries,
    })
}

fn program_arg(a: &mut Args) -> Result<u8, Error> {
    if let Some(name) = a.opt_string() {
        return crate::music::gm::program_by_name(&name).map_err(|s| {
            let hint = match s {
                Some(s) => format!(" (did you mean \"{s}\"?)"),
                None => String::new(),
            };
            Error::failed(
                name.span,
                format!("unknown General MIDI program \"{}\"{hint}", name.value),
            )
        });
    }
    Ok(
        a.integer("a program number 0–127 or a quoted name", 0, 127)?
            .value as u8,
    )
}

fn p_write(a: &mut Args) -> Result<Command, Error> {
    let path = a.string("a quoted file name such as \"out.mid\"")?;
    // The name says the format: MIDI bytes in `tune.wav` or `x.txt` mislead every program
    // that opens it.
    let ext = extension(&path.value);
    if !ext
        .as_deref()
        .is_some_and(|e| WRITE_EXTENSIONS.contains(&e))
    {
        let list: Vec<String> = WRITE_EXTENSIONS.iter().map(|e| format!(".{e}")).collect();
        return Err(a.error(
            path.span,
            format!(
                "write chooses the format by the file's extension: {} (MIDI, ABC, MusicXML, WAV audio)",
                list.join(", ")
            ),
        ));
    }
    let (mut program, mut tempo) = (None, None);
    a.options(&["program", "tempo"], |name, a| {
        match name {
            "program" => program = Some(program_arg(a)?),
            _ => tempo = Some(a.number("a tempo in BPM", 10.0, 960.0)?.value),
        }
        Ok(())
    })?;
    a.finish(Data::Write {
        path,
        program,
        tempo,
    })
}

fn p_render(a: &mut Args) -> Result<Command, Error> {
    let path = a.string("a quoted file name such as \"out.wav\"")?;
    // tms writes WAV only: a `.mp3` name would hold WAV bytes and mislead every player.
    if extension(&path.value).as_deref() != Some("wav") {
        return Err(a.error(
            path.span,
            "render writes WAV audio: give the file a .wav name (convert it afterwards for other formats)",
        ));
    }
    let (mut soundfont, mut rate) = (None, None);
    a.options(&["soundfont", "rate"], |name, a| {
        match name {
            "soundfont" => soundfont = Some(a.string("a quoted .sf2 file")?),
            _ => rate = Some(a.integer("a sample rate", 8000, 192_000)?.value as u32),
        }
        Ok(())
    })?;
    a.finish(Data::Render {
        path,
        soundfont,
        rate,
    })
}

fn p_connect(a: &mut Args) -> Result<Command, Error> {
    let input = a.keyword("in");
    let port = if let Some(name) = a.opt_string() {
        Spanned::new(PortArg::Name(name.value), name.span)
    } else {
        let n = a.integer("a port number or a quoted name", 0, u32::MAX as u64)?;
        if n.value == 0 {
            return Err(a.error(n.span, "ports are numbered from 1 (`ports` lists them)"));
        }
        Spanned::new(PortArg::Index(n.value as usize), n.span)
    };
    a.finish(Stage::Connect { input, port })
}

fn p_play(a: &mut Args) -> Result<Command, Error> {
    let looped = a.keyword("loop");
    a.finish(Stage::Play { looped })
}

/// `on` or `off`.
fn on_off(a: &mut Args) -> Result<bool, Error> {
    if a.keyword("on") {
        Ok(true)
    } else if a.keyword("off") {
        Ok(false)
    } else {
        Err(a.expected("`on` or `off`"))
    }
}

fn p_live(a: &mut Args) -> Result<Command, Error> {
    let on = on_off(a)?;
    a.finish(Stage::Live { on })
}

fn p_clock(a: &mut Args) -> Result<Command, Error> {
    if a.at_end() {
        return Ok(Stage::ClockShow.into());
    }
    let input = if a.keyword("in") {
        true
    } else if a.keyword("out") {
        false
    } else {
        return Err(a.expected("`in` or `out`"));
    };
    let on = on_off(a)?;
    a.finish(Stage::Clock { input, on })
}

fn p_link(a: &mut Args) -> Result<Command, Error> {
    let on = opt_on_off(a)?;
    a.finish(Stage::Link { on })
}

fn p_stop(a: &mut Args) -> Result<Command, Error> {
    let all = a.keyword("all");
    a.finish(Stage::Stop { all })
}

/// The longest voice name: it shows in the prompt and names a MIDI track.
pub const VOICE_NAME_MAX: usize = 32;
/// The most voices a session holds. Each holds a model of its own (the folk model costs
/// about 3.5 MB a voice) and a share of the one player thread; 64 is four times what 16
/// MIDI channels can tell apart, and a thousand voices ran the process out of memory.
pub const MAX_VOICES: usize = 64;

fn p_voice(a: &mut Args) -> Result<Command, Error> {
    let name = a.string("a quoted voice name such as \"bass\"")?;
    let n = name.value.chars().count();
    if n == 0 || n > VOICE_NAME_MAX || name.value.trim() != name.value {
        return Err(a.error(
            name.span,
            format!("a voice name is 1 to {VOICE_NAME_MAX} characters, without spaces at its ends"),
        ));
    }
    if let Some(c) = name
        .value
        .chars()
        .find(|&c| c.is_control() || crate::error::is_invisible(c))
    {
        return Err(a.error(
            name.span,
            format!(
                "a voice name cannot hold control or invisible characters (it holds U+{:04X})",
                c as u32
            ),
        ));
    }
    a.finish(Stage::Voice { name })
}

fn p_listen(a: &mut Args) -> Result<Command, Error> {
    let n = a
        .opt_integer("a note count", 1, 100_000)?
        .map(|n| n as usize);
    a.finish(Stage::Listen { n })
}

fn p_respond(a: &mut Args) -> Result<Command, Error> {
    if a.at_end() {
        return Ok(Stage::Respond(None).into());
    }
    if a.keyword("off") {
        return a.finish(Stage::Respond(Some(RespondArg::Off)));
    }
    if !a.keyword("on") {
        return Err(a.expected("`on` or `off`"));
    }
    let mut notes = None;
    a.options(&["notes"], |_, a| {
        notes = Some(a.integer("a note count", 1, 10_000)?.value as usize);
        Ok(())
    })?;
    a.finish(Stage::Respond(Some(RespondArg::On { notes })))
}

fn p_record(a: &mut Args) -> Result<Command, Error> {
    if a.keyword("stop") {
        return a.finish(Stage::Record(Some(RecordArg::Stop)));
    }
    let Some(path) = a.opt_string() else {
        return a.finish(Stage::Record(None));
    };
    let overwrite = a.keyword("overwrite");
    a.finish(Stage::Record(Some(RecordArg::Into { path, overwrite })))
}

fn p_map(a: &mut Args) -> Result<Command, Error> {
    if a.at_end() {
        return Ok(Stage::MapList.into());
    }
    a.expect_keyword("cc")?;
    let cc = a.integer("a controller number", 0, 127)?.value as u8;
    let setting = setting_name(a)?;
    // Checked here, not when the command runs, so that `tms check` accepts exactly what
    // `tms run` accepts.
    let Some(live) = setting.value.live() else {
        let names: Vec<&str> = Live::names().collect();
        return Err(a.error(
            setting.span,
            format!(
                "`{}` cannot be turned by a knob; a knob can drive the live settings: {}",
                setting.value.name(),
                names.join(", ")
            ),
        ));
    };
    let setting = Spanned::new(live, setting.span);
    let min = a.number("a minimum", f64::MIN, f64::MAX)?.value;
    let max = a.number("a maximum", f64::MIN, f64::MAX)?.value;
    a.finish(Stage::Map {
        cc,
        setting,
        min,
        max,
    })
}

fn p_unmap(a: &mut Args) -> Result<Command, Error> {
    a.expect_keyword("cc")?;
    let cc = a.integer("a controller number", 0, 127)?.value as u8;
    a.finish(Stage::Unmap { cc })
}

fn p_sleep(a: &mut Args) -> Result<Command, Error> {
    let seconds = a.number("seconds", 0.0, 86_400.0)?.value;
    a.finish(Core::Sleep { seconds })
}

fn p_run(a: &mut Args) -> Result<Command, Error> {
    p_path(
        a,
        |path| Core::Run { path }.into(),
        "a quoted script such as \"demo.tms\"",
    )
}

fn p_watch(a: &mut Args) -> Result<Command, Error> {
    let path = a.opt_string();
    a.finish(Core::Watch { path })
}

fn p_history(a: &mut Args) -> Result<Command, Error> {
    let path = a.opt_string();
    a.finish(Core::History { path })
}

macro_rules! bare {
    ($name:ident, $variant:expr) => {
        fn $name(a: &mut Args) -> Result<Command, Error> {
            a.finish($variant)
        }
    };
}
bare!(p_dataset, Data::Dataset);
bare!(p_show, Data::Show);
bare!(p_ports, Stage::Ports);
bare!(p_disconnect, Stage::Disconnect);
bare!(p_voices, Stage::Voices);
bare!(p_panic, Stage::Panic);
bare!(p_wait, Stage::Wait);
bare!(p_quit, Core::Quit);
bare!(p_unwatch, Core::Unwatch);

const MIDI_ABC: Files = Files::Ext(&["mid", "midi", "abc"]);

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "help",
        usage: "help [COMMAND|SETTING]",
        summary: "list commands, or show one command's syntax, options and an example",
        details: "`help settings` lists every setting with its range and default; `help SETTING` shows one with its current value.",
        example: "help generate",
        words: &["settings"],
        files: Files::None,
        history: History::Never,
        parse: p_help,
    },
    CommandSpec {
        name: "seed",
        usage: "seed N",
        summary: "seed every random choice: weights, shuffling, validation split, sampling",
        details: "A session that never runs `seed` draws one at start and shows it in the banner; `history` records it, so a saved session replays exactly.",
        example: "seed 42",
        words: &[],
        files: Files::None,
        history: History::Always,
        parse: p_seed,
    },
    CommandSpec {
        name: "device",
        usage: "device [auto|cpu|cuda|cuda:N]",
        summary: "where tensors live; auto picks CUDA when available; alone, shows it",
        details: "Moves the current model too. Training on CPU is deterministic for a given seed.",
        example: "device cpu",
        words: &["auto", "cpu", "cuda"],
        files: Files::None,
        history: History::WithArgs,
        parse: p_device,
    },
    CommandSpec {
        name: "set",
        usage: "set [NAME [VALUE]]",
        summary: "change a setting; `set NAME` alone shows one (value, range, default), `set` alone lists them all",
        details: "Values are checked against each setting's type and range (`help settings`). A value with spaces or `/` is quoted (`set meter \"3/4\"`, `set scale \"D yu\"`): the error says so. A chord symbol as a scale gets its scale as a suggestion (`Dm`: \"D minor\"). Values a knob or a followed clock set are shown rounded (`0.937`); `history` keeps them exact.",
        example: "set temperature 0.8",
        words: &[],
        files: Files::None,
        history: History::WithArgs,
        parse: p_set,
    },
    CommandSpec {
        name: "loss",
        usage: "loss [pitch W] [step W] [duration W]",
        summary: "loss weights of the three heads, any subset (default pitch 1 step 0.2 duration 0.2; the notebook used 0.1, 20, 1)",
        details: "`loss` alone shows them. The rhythm terms weigh less than pitch by default: the three cross-entropies share one LSTM, and with rhythm at 0.3 instead of 1 the held-out pitch NLL fell 0.013 nats while the step and duration NLLs rose 0.045 and 0.011 (README, \"The shipped model\"). `loss` weights are saved with the model's training settings.",
        example: "loss pitch 1 step 20 duration 1",
        words: &["pitch", "step", "duration"],
        files: Files::None,
        history: History::WithArgs,
        parse: p_loss,
    },
    CommandSpec {
        name: "load",
        usage: "load \"GLOB\" [limit N] [where FIELD ~ \"TEXT\"]",
        summary: "read .mid/.midi/.abc files into the dataset (replacing it)",
        details: "MIDI files give the notes of their first instrument, as pretty_midi reads them. Each X: tune of an ABC file is one tune. `where` keeps ABC tunes whose header field (title, origin, notes, rhythm, key, meter) contains TEXT, case-insensitive. Bad files are reported one line each; the rest still load. `FILE.abc#X` loads the one tune numbered X.",
        example: "load \"datasets/essen/han*.abc\" where notes ~ \"Zang\"",
        words: &["limit", "where", "title", "origin", "notes", "rhythm", "key", "meter"],
        files: MIDI_ABC,
        history: History::Always,
        parse: p_load,
    },
    CommandSpec {
        name: "dataset",
        usage: "dataset",
        summary: "summary of the loaded data: tunes, notes, pitch histogram, step/duration stats",
        details: "",
        example: "dataset",
        words: &[],
        files: Files::None,
        history: History::Never,
        parse: p_dataset,
    },
    CommandSpec {
        name: "export",
        usage: "export \"FILE.csv\" [positions]",
        summary: "write the dataset's notes as CSV (source,pitch,start,step,duration,velocity)",
        details: "One row per note, tune by tune, notes sorted by start then pitch; times in seconds. `positions` adds a column `position`: each note's place in its bar as a model with `position on` reads it (beat × 13 + twelfth of the beat; 12 for off the twelfths; 156 where the tune has no meter).",
        example: "export \"notes.csv\"",
        words: &["positions"],
        files: Files::Ext(&["csv"]),
        history: History::Always,
        parse: p_export,
    },
    CommandSpec {
        name: "model",
        usage: "model new | model \"FILE\"",
        summary: "a fresh model from the current settings, or open a model file",
        details: "Opens tms's own .safetensors models and the original notebook's PyTorch state_dict (.pth). A MIDI or ABC file is named as such, with `prime` and `load` as the commands that read it.",
        example: "model \"models/folk.safetensors\"",
        words: &["new"],
        files: Files::Ext(&["safetensors", "pth", "pt"]),
        history: History::WithArgs,
        parse: p_model,
    },
    CommandSpec {
        name: "save",
        usage: "save \"FILE\"",
        summary: "save the model with everything needed to use it again (a .safetensors file)",
        details: "A single safetensors file whose metadata holds the architecture, normalisation and training settings.",
        example: "save \"models/mine.safetensors\"",
        words: &[],
        files: Files::Ext(&["safetensors"]),
        history: History::Always,
        parse: p_save,
    },
    CommandSpec {
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
        files: Files::None,
        history: History::Always,
        parse: p_train,
    },
    CommandSpec {
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
        files: Files::None,
        history: History::WithArgs,
        parse: p_learn,
    },
    CommandSpec {
        name: "evaluate",
        usage: "evaluate [\"GLOB\"]",
        summary: "next-note metrics on the validation split, or on the files of GLOB",
        details: "Prints `notes N pitch_nll X pitch_acc X step_mae X duration_mae X seq_len N` (nats, fraction, seconds; the context length it read). Shows progress on a terminal; Ctrl-C stops it.",
        example: "evaluate \"datasets/essen/han2.abc\"",
        words: &[],
        files: MIDI_ABC,
        history: History::Always,
        parse: p_evaluate,
    },
    CommandSpec {
        name: "prime",
        usage: "prime \"FILE\" [last N] | prime notes \"NOTES\"",
        summary: "the primer melody: the last N notes of a file, or notes written inline",
        details: "Inline notes: names with octave (C4 = middle C), `/n` and `*n` scale a quarter note, `r` is a rest; a note or rest lasts at most 64 quarter notes (`*64`). N defaults to seq_len. A file's bars come with it: its meter (ABC `M:`, a MIDI time signature) becomes `meter`, and its bar lines stay where they were, so a tune with an upbeat, or a primer cut mid-bar, starts with the rest of its first bar.",
        example: "prime notes \"C4 D4/2 E4*2 r G4\"",
        words: &["notes", "last"],
        files: MIDI_ABC,
        history: History::Always,
        parse: p_prime,
    },
    CommandSpec {
        name: "generate",
        usage: "generate N [notes|bars] [temperature T] [top_k K] [scale \"SCALE\"] [grid \"1/16\"] [end tonic] [form \"AABA\" [vary X]]",
        summary: "continue the primer (or the previous melody) by N notes, or by N bars of the meter",
        details: "`generate 10 notes` is `generate 10`. Options override the settings for this call. Scales: major, minor, harmonic minor, the church modes, major/minor pentatonic, and gong, shang, jue, zhi, yu, each with a tonic (\"D yu\"). `bars`: the melody completes the bar it is in, then N whole bars of `meter` (bar lines where the melody has them: after its source's upbeat, else every bar from its first note); no note starts on or after the last bar line, and the note that reaches it is cut there. `end tonic`: the last note is the scale's tonic and lasts a beat or more (needs a scale). A grid counts from the bar lines, not from the last note. The scale used is the key `write` gives the melody. The melody is one line: a generated note ends by the next note's start (the next step is drawn before a note is handed out), and so does the note before the first one (the primer's last); the last note keeps its length. At a terminal a generate of 50000 notes or more shows a progress bar. Ctrl-C stops it after the note it is making; `history` records that as `generate N … stop after K notes`, which stops at the same note, so replay writes the same melody. `form \"AABA\"` (with `bars`; letters A to Z, at most 64): the N bars in phrases of equal length, one a letter, from the bar line after the melody (N must split evenly). A letter's first phrase is drawn new: the first phrase continues the melody, a later one is the most contrasting of 8 draws (the furthest, by edit distance of interval sequences, from the nearest earlier phrase). A letter that comes again is its first phrase moved there and varied once as `vary` varies bars: each note kept with probability 1 - X, else drawn by the model; X is 0.2 unless given, and `vary 0` brings the phrase back exactly. Every phrase ends on its closing bar line with a note of a beat or more: on the tonic when its letter is the form's last, else on the tonic or its fifth; the tonic is the scale's, else that of the key estimated from the melody so far. Ctrl-C leaves the melody as it was.",
        example: "generate 8 bars temperature 0.8 scale \"D yu\" end tonic",
        words: &["notes", "bars", "temperature", "top_k", "scale", "grid", "end", "tonic", "form", "vary"],
        files: Files::None,
        history: History::Always,
        parse: p_generate,
    },
    CommandSpec {
        name: "regenerate",
        usage: "regenerate bar N|bars A-B [tries K]",
        summary: "draw bars of the melody again, to lead into the notes after them; the rest stays",
        details: "Bars count from the melody's first bar line (an upbeat is bar 0, and is not drawn again) in `meter`. K candidates (8 unless given) are drawn as `generate` draws, with its settings (temperature, top_k, scale, grid), from the notes before the bars: the first new note starts on or after the bars' first bar line, no note starts on or after their last one, and the note that reaches it is cut there. The candidate chosen is the one after which the model finds the kept notes of the next 4 bars most likely (their pitches, and with a grid rhythm head their steps and durations; the first drawn wins a tie). A note from before that still sounds in the bars ends on their first bar line; every other note before and after the bars is kept as it was. The bars need a note before them for the model to read. A voice looping the melody (`play loop`) takes the new one at its next bar line.",
        example: "regenerate bars 5-6 tries 16",
        words: &["bar", "bars", "tries"],
        files: Files::None,
        history: History::Always,
        parse: p_regenerate,
    },
    CommandSpec {
        name: "vary",
        usage: "vary bar N|bars A-B [amount X] [tries K]",
        summary: "a variation of bars of the melody: part of their notes kept, the rest drawn again",
        details: "As `regenerate`, but while a candidate is drawn each of the bars' notes still ahead is kept as it was with probability 1 - X, and drawn by the model with probability X (after a drawn note, the notes it starts on or after are gone). X is from 0 (the bars unchanged) to 1 (drawn freely: `regenerate`'s very candidates); 0.3 unless given. Between the two, a candidate that kept every note, or whose drawn notes came out as the old ones, is drawn again (up to 16 times), so the bars change unless X is near 0. The candidate chosen is the one that leads best into the following notes, as for `regenerate`.",
        example: "vary bar 3 amount 0.5",
        words: &["bar", "bars", "amount", "tries"],
        files: Files::None,
        history: History::Always,
        parse: p_vary,
    },
    CommandSpec {
        name: "show",
        usage: "show",
        summary: "the current melody as a piano roll",
        details: "",
        example: "show",
        words: &[],
        files: Files::None,
        history: History::Never,
        parse: p_show,
    },
    CommandSpec {
        name: "write",
        usage: "write \"FILE.mid\" [program NAME|N] [tempo BPM]",
        summary: "write the current melody; the extension picks the format: .mid/.midi MIDI, .abc or .musicxml/.xml notation, .wav audio",
        details: "A .wav is rendered as `render` does, with the default SoundFont; any other extension is refused. Program names are the 128 General MIDI names, case-insensitive. Notation has bars of `meter` where the melody has them (an upbeat is a short first bar), the key of the scale its notes were generated in, else of `scale`, else estimated, times on a 1/48-note grid, and one line: of notes starting together on the grid, the one that sounds longest (then the highest, the top of a chord); the report names the notes merged away. Notation holds notes of at most 64 quarter notes and at most 1000 bars; MIDI has no such limit. MIDI holds `meter` as its time signature, an upbeat as a short first one.",
        example: "write \"out/tune.mid\" program \"Acoustic Grand Piano\"",
        words: &["program", "tempo"],
        files: Files::Ext(WRITE_EXTENSIONS),
        history: History::Always,
        parse: p_write,
    },
    CommandSpec {
        name: "render",
        usage: "render \"FILE.wav\" [soundfont \"FILE.sf2\"] [rate HZ]",
        summary: "audio of the current melody through a SoundFont",
        details: "Without `soundfont`, looks in /usr/share/sounds/sf2 (FluidR3_GM, then TimGM6mb).",
        example: "render \"out/tune.wav\"",
        words: &["soundfont", "rate"],
        files: Files::Ext(&["wav", "sf2"]),
        history: History::Always,
        parse: p_render,
    },
    CommandSpec {
        name: "ports",
        usage: "ports",
        summary: "numbered MIDI output and input ports (tms's own are left out)",
        details: "",
        example: "ports",
        words: &[],
        files: Files::None,
        history: History::Never,
        parse: p_ports,
    },
    CommandSpec {
        name: "connect",
        usage: "connect [in] N|\"NAME\"",
        summary: "connect the output (or with `in` the input) to a port, by number or part of its name",
        details: "A port that cannot be opened changes nothing. `connect in` to another port keeps `respond`, `learn`, `clock in` and the knobs working on it, and says so. A connected port that vanishes is said at once; tms connects again when a port of the same name returns, and never moves to another port by itself.",
        example: "connect \"synth\"",
        words: &["in"],
        files: Files::None,
        history: History::Always,
        parse: p_connect,
    },
    CommandSpec {
        name: "disconnect",
        usage: "disconnect",
        summary: "close the connections, silencing every sounding note first",
        details: "",
        example: "disconnect",
        words: &[],
        files: Files::None,
        history: History::Always,
        parse: p_disconnect,
    },
    CommandSpec {
        name: "play",
        usage: "play [loop]",
        summary: "play the current melody through the output port; returns at once",
        details: "Says what it plays: `playing 40 notes (20.0 s) on channel 1` (`looping …` with `loop`), with `, from the next bar` (or beat) while `quantize` waits for the clock.",
        example: "play loop",
        words: &["loop"],
        files: Files::None,
        history: History::Always,
        parse: p_play,
    },
    CommandSpec {
        name: "live",
        usage: "live on|off",
        summary: "endless performance: generate and play note by note",
        details: "Settings changed meanwhile (temperature, top_k, scale, tempo, transpose, velocity) take effect within one note.",
        example: "live on",
        words: &["on", "off"],
        files: Files::None,
        history: History::Always,
        parse: p_live,
    },
    CommandSpec {
        name: "clock",
        usage: "clock [in|out on|off]",
        summary: "MIDI clock: send it on the output port, or follow it from the input port; `clock` alone shows which clock leads",
        details: "`clock out on` sends 24 ticks per quarter note following `tempo`, Start at the next bar line (or when `play` starts while stopped), Stop on `stop`, Song Position and Continue on `live on`. `clock in on` follows the ticks on the input port: tempo from the last two beats of ticks, the beat locked to them, Start/Stop/Continue obeyed and, with clock out on too, passed on to the gear tms clocks; `tempo` then shows the followed tempo, and `set tempo` says so in one line and changes nothing. With `set quantize beat|bar`, `play` and `live on` wait for the next beat or bar of the clock that leads.",
        example: "clock in on",
        words: &["in", "out", "on", "off"],
        files: Files::None,
        history: History::WithArgs,
        parse: p_clock,
    },
    CommandSpec {
        name: "stop",
        usage: "stop [all]",
        summary: "stop the current voice (`stop all`: every voice); sounding notes get their note-off",
        details: "",
        example: "stop all",
        words: &["all"],
        files: Files::None,
        history: History::Always,
        parse: p_stop,
    },
    CommandSpec {
        name: "voice",
        usage: "voice \"NAME\"",
        summary: "switch to voice NAME, creating it from the current voice: its own model, primer, melody, channel and performance settings",
        details: "Every voice plays at once on the one output port and follows the one clock; `play`, `live on`, `stop`, `generate`, `model`, `respond` and the voice's settings (temperature, rhythm_temperature, top_k, min_duration, scale, grid, velocity, program, transpose, channel) act on the current voice, shown in the prompt. A new voice starts as a copy of the current one (its model weights, melody and settings); the first voice is \"main\". A session holds at most 64 voices; a name is 1 to 32 visible characters. tempo, latency, meter, quantize and the training settings are shared.",
        example: "voice \"bass\"",
        words: &[],
        files: Files::None,
        history: History::Always,
        parse: p_voice,
    },
    CommandSpec {
        name: "voices",
        usage: "voices",
        summary: "list the voices, one line each within 80 columns: channel, what each is doing, model, melody, and which one answers the input (`respond`) or learns from it (`learn`)",
        details: "",
        example: "voices",
        words: &[],
        files: Files::None,
        history: History::Never,
        parse: p_voices,
    },
    CommandSpec {
        name: "panic",
        usage: "panic",
        summary: "all notes off on every channel",
        details: "Says `panic: all notes off on 16 channels`, or that no output is connected.",
        example: "panic",
        words: &[],
        files: Files::None,
        history: History::Always,
        parse: p_panic,
    },
    CommandSpec {
        name: "listen",
        usage: "listen [N]",
        summary: "record a phrase from the input port as the primer (N notes, or until 600 ms of silence between the notes' arrivals; a key held over 8 s counts as released)",
        details: "It says what it heard as note names on the grid (`set grid`, or 1/48 notes when it is off): \
                  `heard 4 notes: D4/2 E4/2 r/2 F#4*3/2`, every onset and end rounded to the grid, which \
                  `prime notes` reads back as that. The primer is the phrase as played.",
        example: "listen 8",
        words: &[],
        files: Files::None,
        history: History::Always,
        parse: p_listen,
    },
    CommandSpec {
        name: "respond",
        usage: "respond on [notes N] | respond off | respond",
        summary: "call and response: answer each phrase played on the input port with N generated notes (16 unless given)",
        details: "A phrase ends as `listen` ends one: 600 ms with no key down (between the notes' arrivals; a key \
                  held over 8 s counts as released), and is answered once. The answer is primed with the phrase \
                  and starts at once, with the live settings of the moment (temperature, top_k, scale, …); knobs keep \
                  working. Once the answer has started, the phrase is shown as `listen` shows it (`heard 3 notes: \
                  C4/2 E4/2 G4`, on the grid of the moment). `respond` alone says how many phrases were answered. \
                  `listen` waits for `respond off`.",
        example: "respond on notes 12",
        words: &["on", "off", "notes"],
        files: Files::None,
        history: History::Always,
        parse: p_respond,
    },
    CommandSpec {
        name: "record",
        usage: "record \"FILE.mid\" [overwrite] | record stop | record",
        summary: "capture everything played and heard into a multi-track MIDI file; `record stop` writes it whole",
        details: "A track per voice, named after it and starting with its program, and one for the input port, \
                  at the times they happened, with the meter and the tempo as played (every `set tempo` during \
                  the take, at its time). The name must end in .mid or .midi; an existing file is refused \
                  unless `overwrite` follows the name. While recording, each second's messages are appended \
                  to the file (one track, every note ended), so a crash loses at most a second; `record stop`, \
                  `quit`, the end of a script and a second Ctrl-C write the tracks.",
        example: "record \"set.mid\"",
        words: &["stop", "overwrite"],
        files: Files::Ext(&["mid", "midi"]),
        history: History::Never,
        parse: p_record,
    },
    CommandSpec {
        name: "map",
        usage: "map [cc N SETTING MIN MAX]",
        summary: "a hardware knob drives a numeric setting live; `map` alone lists the mappings",
        details: "With no input port connected the mapping is kept and a warning says no knob can turn it yet.",
        example: "map cc 1 temperature 0.2 1.5",
        words: &["cc"],
        files: Files::None,
        history: History::WithArgs,
        parse: p_map,
    },
    CommandSpec {
        name: "unmap",
        usage: "unmap cc N",
        summary: "remove a knob mapping",
        details: "",
        example: "unmap cc 1",
        words: &["cc"],
        files: Files::None,
        history: History::Always,
        parse: p_unmap,
    },
    CommandSpec {
        name: "link",
        usage: "link [on|off]",
        summary: "share tempo and beat phase with Ableton Link peers on the local network; `link` alone shows the session",
        details: "While Link is on, `tempo` follows the session's tempo (joining a session adopts it) and `set tempo` changes it for every peer; the meter's bar is Link's quantum. Needs a build with the `link` feature: `make build FEATURES=link` (that binary is GPL-2.0-or-later, as Link is).",
        example: "link on",
        words: &["on", "off"],
        files: Files::None,
        history: History::WithArgs,
        parse: p_link,
    },
    CommandSpec {
        name: "wait",
        usage: "wait",
        summary: "block until playing has finished",
        details: "Waits for background training and for melodies played once. Endless music (a live voice, `play loop`) has no end to wait for: \
                  `wait` says at once what keeps playing (`wait: voice main loops and bass plays live: they play until stopped`) and the script goes on.",
        example: "wait",
        words: &[],
        files: Files::None,
        history: History::Always,
        parse: p_wait,
    },
    CommandSpec {
        name: "sleep",
        usage: "sleep SECONDS",
        summary: "pause a script",
        details: "",
        example: "sleep 0.5",
        words: &[],
        files: Files::None,
        history: History::Always,
        parse: p_sleep,
    },
    CommandSpec {
        name: "run",
        usage: "run \"FILE.tms\"",
        summary: "run another script (paths in it are relative to the current directory)",
        details: "",
        example: "run \"scripts/demo.tms\"",
        words: &[],
        files: Files::Ext(&["tms"]),
        history: History::Never,
        parse: p_run,
    },
    CommandSpec {
        name: "watch",
        usage: "watch [\"FILE.tms\"]",
        summary: "run a script now and again each time an editor saves it; `watch` alone shows what is watched",
        details: "Every kind of save reruns it once: rename-over (vim, VS Code), truncate-and-write, append. \
                  An error in it is shown with its caret and the music keeps playing; the prompt stays usable. \
                  At the end of `tms run` or `tms -c`, tms keeps watching until Ctrl-C.",
        example: "watch \"live.tms\"",
        words: &[],
        files: Files::Ext(&["tms"]),
        history: History::Never,
        parse: p_watch,
    },
    CommandSpec {
        name: "unwatch",
        usage: "unwatch",
        summary: "stop watching the file given to `watch` (what it started keeps playing)",
        details: "",
        example: "unwatch",
        words: &[],
        files: Files::None,
        history: History::Never,
        parse: p_unwatch,
    },
    CommandSpec {
        name: "history",
        usage: "history [\"FILE.tms\"]",
        summary: "print this session's successful commands, or save them as a replayable script",
        details: "The saved script starts with the session's seed, so it reproduces the session: a `train` or `generate` that Ctrl-C stopped is recorded as what it did (`train 50 stop after 494 batches`), so the replay writes the same bytes.",
        example: "history \"session.tms\"",
        words: &[],
        files: Files::Ext(&["tms"]),
        history: History::Never,
        parse: p_history,
    },
    CommandSpec {
        name: "quit",
        usage: "quit",
        summary: "leave (silencing every sounding note first)",
        details: "",
        example: "quit",
        words: &[],
        files: Files::None,
        history: History::Never,
        parse: p_quit,
    },
];

pub fn lookup(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    COMMANDS.iter().map(|c| c.name)
}
