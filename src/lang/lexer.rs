//! Stage one of the language: text to tokens with spans. Lexing never stops at the first
//! problem — a bad token is reported and the rest of its line skipped — so that `tms check`
//! can list every error of a script in one go.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, digit0, digit1, one_of};
use nom::combinator::{opt, recognize};
use nom::{IResult, Input as _, Parser};
use nom_locate::LocatedSpan;

use crate::error::{Error, ErrorKind};
use crate::ground::span::Span;

type Input<'a> = LocatedSpan<&'a str>;

#[derive(Clone, Debug, PartialEq)]
pub enum TokenKind {
    /// A bare word: command names, setting names, option names, enum values (`cuda:0`).
    Word(String),
    /// A double-quoted string, unescaped.
    Str(String),
    /// A number and its text as written (kept so integers can be told from decimals).
    Num(f64, String),
    /// `~`, as in `where title ~ "moon"`.
    Tilde,
    /// `;` or the end of a line: both end a command.
    End,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

impl Token {
    /// How the token reads in a message: `set`, `"x.mid"`, `3`.
    pub fn describe(&self) -> String {
        match &self.kind {
            TokenKind::Word(w) => format!("`{w}`"),
            TokenKind::Str(s) => format!("\"{s}\""),
            TokenKind::Num(_, t) => format!("`{t}`"),
            TokenKind::Tilde => "`~`".into(),
            TokenKind::End => "end of command".into(),
        }
    }
}

fn span_of(start: &Input, end: &Input) -> Span {
    Span {
        offset: start.location_offset(),
        len: end.location_offset() - start.location_offset(),
        line: start.location_line() as usize,
        column: 0,
    }
}

/// Character columns of byte offsets. nom_locate's `get_utf8_column` counts from the start
/// of the line on every call, which made a long line quadratic (100k commands on one line
/// took 25 s); the lexer asks in source order, so counting on from the last answer keeps
/// the whole pass linear.
struct Columns<'a> {
    src: &'a str,
    offset: usize,
    column: usize,
}

impl Columns<'_> {
    fn column(&mut self, offset: usize) -> usize {
        if offset < self.offset {
            // Never happens in source order; recount from the line's start to stay correct.
            let line_start = self.src[..offset].rfind('\n').map_or(0, |i| i + 1);
            self.offset = line_start;
            self.column = 1;
        }
        let between = &self.src[self.offset..offset];
        match between.rfind('\n') {
            Some(i) => self.column = 1 + between[i + 1..].chars().count(),
            None => self.column += between.chars().count(),
        }
        self.offset = offset;
        self.column
    }

    fn fill(&mut self, mut span: Span) -> Span {
        span.column = self.column(span.offset);
        span
    }
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-' | '#')
}

fn word(i: Input) -> IResult<Input, TokenKind> {
    let (rest, w) = recognize((take_while1(is_word_start), take_while(is_word_char))).parse(i)?;
    Ok((rest, TokenKind::Word(w.fragment().to_string())))
}

fn number(i: Input) -> IResult<Input, TokenKind> {
    let mantissa = alt((
        recognize((digit1, opt((char('.'), digit0)))),
        recognize((char('.'), digit1)),
    ));
    let exponent = opt((one_of("eE"), opt(one_of("+-")), digit1));
    let (rest, text) = recognize((opt(one_of("+-")), mantissa, exponent)).parse(i)?;
    // A number glued to letters (`12abc`) is one bad token, not a number and a word.
    if rest
        .fragment()
        .starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
    {
        return Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::Digit,
        )));
    }
    let value = text.fragment().parse::<f64>().unwrap_or(f64::NAN);
    Ok((rest, TokenKind::Num(value, text.fragment().to_string())))
}

enum StrError {
    Unterminated,
    BadEscape(char, Span),
}

/// A string literal; the error says which way it is broken.
fn string(i: Input) -> Result<(Input, TokenKind), (Input, StrError)> {
    let mut out = String::new();
    let mut chars = i.fragment().char_indices().skip(1);
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => {
                let (rest, _) = i.take_split(at + 1);
                return Ok((rest, TokenKind::Str(out)));
            }
            '\\' => match chars.next() {
                Some((_, e @ ('"' | '\\'))) => out.push(e),
                Some((eat, e)) if e != '\n' => {
                    let s = span_of(&i.take_split(at).0, &i.take_split(eat + e.len_utf8()).0);
                    return Err((i, StrError::BadEscape(e, s)));
                }
                _ => return Err((i, StrError::Unterminated)),
            },
            '\n' => return Err((i, StrError::Unterminated)),
            c => out.push(c),
        }
    }
    Err((i, StrError::Unterminated))
}

/// What the lexer produces next: a token, or an error (after which the lexer has already
/// skipped what it could not read).
#[derive(Debug)]
pub enum Lexed {
    Token(Token),
    Error(Error),
}

/// Splits source text into tokens, one at a time. A line break or `;` after a command
/// becomes an `End` token, so a parser can recover at the next command. Streaming keeps
/// memory small however long the script is: the parser holds one command's tokens at a
/// time, never the whole file's (a 16 MB script of `seed 1;` was 2.4 million tokens, 1 GB).
pub struct Lexer<'a> {
    i: Input<'a>,
    columns: Columns<'a>,
    /// Whether the last token was an `End` (or nothing came yet): a run of command ends is
    /// one, since empty commands mean nothing.
    after_end: bool,
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Lexer<'a> {
        Lexer {
            i: Input::new(src),
            columns: Columns {
                src,
                offset: 0,
                column: 1,
            },
            after_end: true,
        }
    }

    fn error(&mut self, mut e: Error) -> Option<Lexed> {
        // Errors come in source order too, except that a bad escape points inside its
        // string: `Columns` recounts from the line's start then, which stays correct.
        if let Some(sp) = e.span {
            e.span = Some(self.columns.fill(sp));
        }
        Some(Lexed::Error(e))
    }

    /// The next token or error; None at the end of the text.
    pub fn next_item(&mut self) -> Option<Lexed> {
        loop {
            let (rest, _) = take_while::<_, _, nom::error::Error<Input>>(|c: char| {
                c == ' ' || c == '\t' || c == '\r'
            })
            .parse(self.i)
            .unwrap_or((self.i, self.i));
            self.i = rest;
            let i = self.i;
            let c = i.fragment().chars().next()?;
            let start = i;
            let kind = match c {
                '#' => {
                    let (rest, _) = take_while::<_, _, nom::error::Error<Input>>(|c| c != '\n')
                        .parse(i)
                        .unwrap_or((i, i));
                    self.i = rest;
                    continue;
                }
                '\n' | ';' => {
                    let (rest, _) = i.take_split(1);
                    self.i = rest;
                    TokenKind::End
                }
                '~' => {
                    let (rest, _) = tag::<_, _, nom::error::Error<Input>>("~")
                        .parse(i)
                        .unwrap_or((i, i));
                    self.i = rest;
                    TokenKind::Tilde
                }
                '"' => match string(i) {
                    Ok((rest, k)) => {
                        self.i = rest;
                        k
                    }
                    Err((_, e)) => {
                        let line_end = i.fragment().find('\n').unwrap_or(i.fragment().len());
                        let (rest, _) = i.take_split(line_end);
                        self.i = rest;
                        let err = match e {
                            StrError::Unterminated => Error::new(
                                span_of(&start, &rest),
                                ErrorKind::Syntax(Syntax::UnterminatedString),
                            ),
                            StrError::BadEscape(c, s) => {
                                Error::new(s, ErrorKind::Syntax(Syntax::UnknownEscape(c)))
                            }
                        };
                        return self.error(err);
                    }
                },
                c if c.is_ascii_digit() || matches!(c, '-' | '+' | '.') => match number(i) {
                    Ok((rest, k)) => {
                        self.i = rest;
                        k
                    }
                    Err(_) => {
                        let (rest, bad) =
                            take_while::<_, _, nom::error::Error<Input>>(|c: char| {
                                !c.is_whitespace() && c != ';'
                            })
                            .parse(i)
                            .unwrap_or((i, i));
                        let (rest, bad) = if bad.fragment().is_empty() {
                            i.take_split(c.len_utf8())
                        } else {
                            (rest, bad)
                        };
                        self.i = rest;
                        let err = Error::new(
                            span_of(&start, &rest),
                            ErrorKind::Syntax(Syntax::InvalidNumber(bad.fragment().to_string())),
                        );
                        return self.error(err);
                    }
                },
                c if is_word_start(c) => {
                    let (rest, k) = word(i).unwrap_or_else(|_| {
                        let (r, w) = i.take_split(c.len_utf8());
                        (r, TokenKind::Word(w.fragment().to_string()))
                    });
                    self.i = rest;
                    k
                }
                other => {
                    let (rest, _) = i.take_split(other.len_utf8());
                    self.i = rest;
                    let err = Error::new(
                        span_of(&start, &rest),
                        ErrorKind::Syntax(Syntax::UnexpectedChar(other)),
                    );
                    return self.error(err);
                }
            };
            let end = kind == TokenKind::End;
            if end && self.after_end {
                continue;
            }
            self.after_end = end;
            let span = self.columns.fill(span_of(&start, &self.i));
            return Some(Lexed::Token(Token { kind, span }));
        }
    }
}

/// The whole text's tokens and errors at once (for tests and small texts).
pub fn lex(src: &str) -> (Vec<Token>, Vec<Error>) {
    let mut lexer = Lexer::new(src);
    let (mut tokens, mut errors) = (Vec::new(), Vec::new());
    while let Some(item) = lexer.next_item() {
        match item {
            Lexed::Token(t) => tokens.push(t),
            Lexed::Error(e) => errors.push(e),
        }
    }
    (tokens, errors)
}

/// A setting's value that must be quoted, as typed: the unexpected character, the command up
/// to the setting's name, and the value.
#[derive(Debug)]
pub struct Unquoted {
    pub ch: char,
    pub setting: &'static str,
    pub command: String,
    pub value: String,
}

/// What is wrong with the text itself, before any command reads it.
#[derive(Debug)]
pub enum Syntax {
    UnterminatedString,
    /// A backslash before anything but `"` and `\`.
    UnknownEscape(char),
    InvalidNumber(String),
    UnexpectedChar(char),
    /// An unexpected character inside the value of a setting written in quotes (`set meter
    /// 3/4`), with the quoted spelling. Boxed: every error is as large as its largest kind.
    UnquotedValue(Box<Unquoted>),
    /// A statement that starts with something else than a word.
    NotACommand(String),
}

impl std::fmt::Display for Syntax {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Syntax::UnterminatedString => f.write_str("unterminated string (missing closing `\"`)"),
            Syntax::UnknownEscape(c) => write!(
                f,
                "unknown escape `\\{c}` in string (only `\\\"` and `\\\\` are allowed)"
            ),
            Syntax::InvalidNumber(text) => write!(f, "invalid number `{text}`"),
            // What people type from other languages, with what tms writes.
            Syntax::UnexpectedChar('=') => f.write_str(
                "unexpected character `=`: a filter is `where FIELD ~ \"TEXT\"`, a setting `set NAME VALUE`",
            ),
            Syntax::UnexpectedChar('\'') => {
                f.write_str("unexpected character `'`: strings take double quotes (\"D yu\")")
            }
            Syntax::UnexpectedChar(c) => write!(f, "unexpected character `{c}`"),
            Syntax::UnquotedValue(u) => write!(
                f,
                "{}: a {} value is written in quotes: {} \"{}\"",
                Syntax::UnexpectedChar(u.ch),
                u.setting,
                u.command,
                u.value
            ),
            Syntax::NotACommand(found) => write!(f, "expected a command name, found {found}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind> {
        let (t, e) = lex(src);
        assert!(e.is_empty(), "{e:?}");
        t.into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn words_strings_numbers() {
        use TokenKind::*;
        assert_eq!(
            kinds(r#"set lr 1e-3; load "a \"b\".mid" limit 3 # c"#),
            vec![
                Word("set".into()),
                Word("lr".into()),
                Num(0.001, "1e-3".into()),
                End,
                Word("load".into()),
                Str("a \"b\".mid".into()),
                Word("limit".into()),
                Num(3.0, "3".into()),
            ]
        );
        assert_eq!(
            kinds("device cuda:1\nset transpose -3"),
            vec![
                Word("device".into()),
                Word("cuda:1".into()),
                End,
                Word("set".into()),
                Word("transpose".into()),
                Num(-3.0, "-3".into()),
            ]
        );
    }

    #[test]
    fn spans_count_lines_and_characters() {
        let (t, _) = lex("seed 1\n  set «x» 2");
        let s = t.last().unwrap().span;
        assert_eq!(
            (s.line, s.column),
            (2, 11),
            "columns count characters, not bytes"
        );
        let (t, e) = lex("\"é\" x");
        assert!(e.is_empty());
        assert_eq!(t[1].span.column, 5);
    }

    #[test]
    fn errors_are_collected_per_line() {
        let (_, e) = lex("set x \"abc\nset y 12abc\nset z \"a\\q\"\n@");
        let lines: Vec<_> = e.iter().map(|e| e.span.unwrap().line).collect();
        assert_eq!(lines, vec![1, 2, 3, 4]);
    }
}
