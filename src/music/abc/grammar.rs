//! The grammar of a tune body: nom parsers from one music line to [`Elem`]s. It stands apart
//! from everything that gives the elements meaning because ABC text is forgiving and messy
//! (Essen files, hand-typed tunes, fuzzed input) while timing rules are not: the parsers' one
//! promise is to never fail and never loop on any text (anything unknown is one skipped
//! character; an unclosed chord, string, grace group or inline field is an [`Unterminated`]
//! element for the tune reader to report), so the later stages work on clean elements, never
//! on text.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_till, take_while, take_while1};
use nom::character::complete::{char, digit1, one_of, satisfy};
use nom::combinator::{map, opt, recognize, value};
use nom::multi::{many0, many0_count, many1_count};
use nom::sequence::{pair, preceded};
use nom::{IResult, Parser};

use super::MAX_LEN;

/// One note head: `acc` is an explicit accidental in semitones (`Some(0)` for `=`).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Head {
    pub(super) acc: Option<i8>,
    /// 0..7 for C D E F G A B.
    pub(super) letter: usize,
    /// 0 for `C`..`B` (middle C octave), 1 for `c`..`b`, moved by `'` and `,`.
    pub(super) octave: i32,
    /// In unit note lengths.
    pub(super) len: f64,
    pub(super) tie: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BarKind {
    Plain,
    /// `||`, `|]`, `[|`: the end of a section.
    Double,
    RepeatStart,
    RepeatEnd,
    RepeatBoth,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Elem {
    /// A note or a chord; `len` is the chord's own length factor (1 for a single note) and
    /// `mult` the broken-rhythm factor.
    Note {
        heads: Vec<Head>,
        len: f64,
        mult: f64,
        tie: bool,
    },
    /// `z`, `x` (len in units) or `Z`, `X` (len in bars).
    Rest {
        len: f64,
        mult: f64,
        bars: bool,
    },
    Bar(BarKind),
    /// A first/second... ending; bit n set for ending n.
    Ending(u32),
    /// `>` (positive count) or `<` (negative count).
    Broken(i32),
    Tuplet {
        p: u32,
        q: Option<u32>,
        r: Option<u32>,
    },
    Field(char, String),
    /// A `-` not attached to a note (Essen puts some at the start of the next line): it ties
    /// the previous note.
    Tie,
    /// Decorations, grace notes, chord symbols, slurs, spaces, unknown characters.
    Skip,
    Unterminated(Unterminated),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Unterminated {
    Chord,
    Grace,
    String,
    Field,
}

type Res<'a, T> = IResult<&'a str, T>;

fn number(i: &str) -> Res<'_, u32> {
    map(digit1, |d: &str| {
        d.bytes().fold(0u32, |n, b| {
            n.saturating_mul(10)
                .saturating_add(u32::from(b - b'0'))
                .min(1_000_000)
        })
    })
    .parse(i)
}

/// A length suffix: `2`, `/2`, `3/2`, `/`, `//`, `3/`; absent means 1.
fn length(i: &str) -> Res<'_, f64> {
    map(
        pair(opt(number), many0(preceded(char('/'), opt(number)))),
        |(num, dens)| {
            let mut l = f64::from(num.unwrap_or(1));
            for d in dens {
                l /= f64::from(d.unwrap_or(2).max(1));
            }
            l.min(MAX_LEN)
        },
    )
    .parse(i)
}

pub(super) fn accidental(i: &str) -> Res<'_, i8> {
    alt((
        value(2, tag("^^")),
        value(1, tag("^")),
        value(-2, tag("__")),
        value(-1, tag("_")),
        value(0, tag("=")),
    ))
    .parse(i)
}

pub(super) fn letter_index(c: char) -> usize {
    crate::music::pitch::letter_index(c).unwrap_or(6)
}

fn head(i: &str) -> Res<'_, Head> {
    let (i, acc) = opt(accidental).parse(i)?;
    let (i, l) = satisfy(|c| matches!(c, 'A'..='G' | 'a'..='g')).parse(i)?;
    let (i, marks) = take_while(|c| c == '\'' || c == ',').parse(i)?;
    let (i, len) = length(i)?;
    let (i, tie) = opt(alt((tag("-"), tag(".-")))).parse(i)?;
    let up = marks.chars().filter(|&c| c == '\'').count() as i32;
    let down = marks.len() as i32 - up;
    Ok((
        i,
        Head {
            acc,
            letter: letter_index(l),
            octave: i32::from(l.is_ascii_lowercase()) + up - down,
            len,
            tie: tie.is_some(),
        },
    ))
}

fn note(i: &str) -> Res<'_, Elem> {
    map(head, |h| Elem::Note {
        heads: vec![h],
        len: 1.0,
        mult: 1.0,
        tie: false,
    })
    .parse(i)
}

/// Decorations inside a chord (`[!f!CE]`) are skipped like anywhere else.
fn chord_inner(i: &str) -> Res<'_, Option<Head>> {
    alt((
        map(head, Some),
        value(None, one_of(" \t.~HLMOPSTuv")),
        value(None, (char('!'), take_till(|c| c == '!'), char('!'))),
    ))
    .parse(i)
}

fn chord(i: &str) -> Res<'_, Elem> {
    let (rest, _) = char('[').parse(i)?;
    let (rest, heads) = many0(chord_inner).parse(rest)?;
    match char::<&str, nom::error::Error<&str>>(']').parse(rest) {
        Ok((rest, _)) => {
            let (rest, len) = length(rest)?;
            let (rest, tie) = opt(alt((tag("-"), tag(".-")))).parse(rest)?;
            let heads: Vec<Head> = heads.into_iter().flatten().collect();
            if heads.is_empty() {
                return Ok((rest, Elem::Skip));
            }
            Ok((
                rest,
                Elem::Note {
                    heads,
                    len,
                    mult: 1.0,
                    tie: tie.is_some(),
                },
            ))
        }
        Err(_) => Ok(("", Elem::Unterminated(Unterminated::Chord))),
    }
}

fn rest(i: &str) -> Res<'_, Elem> {
    map(pair(one_of("zxZX"), length), |(c, len)| Elem::Rest {
        len,
        mult: 1.0,
        bars: c.is_ascii_uppercase(),
    })
    .parse(i)
}

/// Ending numbers after a bar or `[`: `1`, `2`, `1,3`, `1-3`.
fn ending_list(i: &str) -> Res<'_, u32> {
    let (i, first) = number(i)?;
    let (i, more) = many0(pair(one_of(",-"), number)).parse(i)?;
    let mut mask = bit(first);
    let mut prev = first;
    for (sep, n) in more {
        if sep == '-' {
            for k in prev.min(n)..=n.min(31) {
                mask |= bit(k);
            }
        } else {
            mask |= bit(n);
        }
        prev = n;
    }
    Ok((i, mask))
}

pub(super) fn bit(n: u32) -> u32 {
    if n < 32 {
        1 << n
    } else {
        0
    }
}

/// Bar lines, repeats and endings. Returns up to two elements (the bar and its ending).
fn bar(i: &str) -> Res<'_, Vec<Elem>> {
    let (i, sym) = alt((
        recognize((tag("[|"), many0_count(char(':')))),
        recognize((
            many0_count(char(':')),
            many1_count(char('|')),
            opt(char(']')),
            many0_count(char(':')),
        )),
        tag("::"),
    ))
    .parse(i)?;
    let starts = sym.ends_with(':');
    let ends = sym.starts_with(':');
    let kind = match (ends, starts) {
        (true, true) => BarKind::RepeatBoth,
        (true, false) => BarKind::RepeatEnd,
        (false, true) => BarKind::RepeatStart,
        _ if sym == "|" => BarKind::Plain,
        _ => BarKind::Double,
    };
    let (i, ending) = opt(preceded(opt(char('[')), ending_list)).parse(i)?;
    let mut v = vec![Elem::Bar(kind)];
    if let Some(m) = ending {
        v.push(Elem::Ending(m));
    }
    Ok((i, v))
}

fn inline_field(i: &str) -> Res<'_, Elem> {
    let (rest, (_, f, _)) =
        (char('['), satisfy(|c| c.is_ascii_alphabetic()), char(':')).parse(i)?;
    match rest.find(']') {
        Some(end) => Ok((
            &rest[end + 1..],
            Elem::Field(f, rest[..end].trim().to_string()),
        )),
        None => Ok(("", Elem::Unterminated(Unterminated::Field))),
    }
}

/// `"..."`, `{...}`, `!...!`, `+...+`: delimited things a melody does not need.
fn delimited_skip(i: &str) -> Res<'_, Elem> {
    let (rest, open) = one_of("\"{!+").parse(i)?;
    let close = if open == '{' { '}' } else { open };
    match rest.find(close) {
        Some(end) => Ok((&rest[end + 1..], Elem::Skip)),
        None => match open {
            '"' => Ok(("", Elem::Unterminated(Unterminated::String))),
            '{' => Ok(("", Elem::Unterminated(Unterminated::Grace))),
            // A lone `!` or `+` is an old line-break mark or a stray symbol, not an error.
            _ => Ok((rest, Elem::Skip)),
        },
    }
}

fn tuplet(i: &str) -> Res<'_, Elem> {
    map(
        (
            char('('),
            number,
            opt(preceded(char(':'), opt(number))),
            opt(preceded(char(':'), opt(number))),
        ),
        |(_, p, q, r)| Elem::Tuplet {
            p,
            q: q.flatten(),
            r: r.flatten(),
        },
    )
    .parse(i)
}

fn broken(i: &str) -> Res<'_, Elem> {
    alt((
        map(take_while1(|c| c == '>'), |s: &str| {
            Elem::Broken(s.len().min(3) as i32)
        }),
        map(take_while1(|c| c == '<'), |s: &str| {
            Elem::Broken(-(s.len().min(3) as i32))
        }),
    ))
    .parse(i)
}

/// One element of a music line. Never fails on non-empty input: anything unknown is one
/// skipped character.
fn element(i: &str) -> Res<'_, Vec<Elem>> {
    alt((
        map(note, |e| vec![e]),
        map(rest, |e| vec![e]),
        bar,
        map(preceded(char('['), ending_list), |m| vec![Elem::Ending(m)]),
        map(inline_field, |e| vec![e]),
        map(chord, |e| vec![e]),
        map(tuplet, |e| vec![e]),
        map(broken, |e| vec![e]),
        value(vec![Elem::Tie], char('-')),
        map(delimited_skip, |e| vec![e]),
        map(satisfy(|_| true), |_| vec![Elem::Skip]),
    ))
    .parse(i)
}

/// The elements of one music line (comment already removed), each with its line number.
pub(super) fn music_line(mut s: &str, line: usize, out: &mut Vec<(Elem, usize)>) {
    while !s.is_empty() {
        match element(s) {
            Ok((rest, elems)) => {
                out.extend(
                    elems
                        .into_iter()
                        .filter(|e| *e != Elem::Skip)
                        .map(|e| (e, line)),
                );
                // Every element consumes input; this guard only makes termination obvious.
                if rest.len() >= s.len() {
                    break;
                }
                s = rest;
            }
            Err(_) => break,
        }
    }
}

pub(super) fn strip_comment(l: &str) -> &str {
    let b = l.as_bytes();
    for (k, &c) in b.iter().enumerate() {
        if c == b'%' && (k == 0 || b[k - 1] != b'\\') {
            return &l[..k];
        }
    }
    l
}

/// `X:`-style field at the start of a line (but not `|:` or the like).
pub(super) fn field_line(l: &str) -> Option<(char, &str)> {
    let mut cs = l.chars();
    let f = cs.next()?;
    if f.is_ascii_alphabetic() && cs.next() == Some(':') {
        Some((f, l[2..].trim()))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::music::abc::parse_abc;
    use crate::music::abc::tests::{one, pitches};

    #[test]
    fn pitches_and_octaves() {
        assert_eq!(pitches("C D E F G A B c"), [60, 62, 64, 65, 67, 69, 71, 72]);
        assert_eq!(pitches("C, C,, c' c''"), [48, 36, 84, 96]);
    }

    #[test]
    fn lengths() {
        // L:1/8 at quarter = 120: an eighth lasts 0.25 s.
        let n = one("C2 D/2 E3/2 F/ G// A3/ B");
        let d: Vec<f64> = n.iter().map(|n| n.2).collect();
        assert_eq!(d, [0.5, 0.125, 0.375, 0.125, 0.0625, 0.375, 0.25]);
        assert_eq!(n[1].1, 0.5);
    }

    #[test]
    fn explicit_accidentals() {
        assert_eq!(pitches("^C ^^C _C __C =C"), [61, 62, 59, 58, 60]);
    }

    #[test]
    fn long_runs_stay_fast() {
        // Quadratic behaviour here would take minutes; linear takes milliseconds.
        for junk in ["><", "[", "!", "{", "\"", ":|", "|:", "(3", "-", "+"] {
            let body = junk.repeat(50_000);
            let _ = parse_abc(&format!("X:1\nK:C\nC{body}D\n"), "j.abc");
        }
    }

    #[test]
    fn tuplets() {
        let n = one("(3CDE F");
        assert!((n[1].1 - 0.25 * 2.0 / 3.0).abs() < 1e-12);
        assert!((n[3].1 - 0.5).abs() < 1e-12);
        let n = one("(3:2:4CDEF G");
        assert!((n[4].1 - 4.0 * 0.25 * 2.0 / 3.0).abs() < 1e-12);
        let n = one("(2CD E");
        assert!((n[2].1 - 0.75).abs() < 1e-12);
    }

    #[test]
    fn grace_notes_decorations_and_symbols_are_skipped() {
        assert_eq!(
            pitches("{ag}C !trill!D .E ~F HG \"Am\"A \"^text\"B +fermata+c uTvLMOPS d"),
            [60, 62, 64, 65, 67, 69, 71, 72, 74]
        );
    }

    #[test]
    fn inline_fields() {
        let n = one("C [K:D] F [L:1/4] C [M:3/4] [Q:1/4=60] C");
        assert_eq!(n[1].0, 66);
        assert_eq!(n[2].2, 0.5);
        assert_eq!(n[3].2, 1.0);
        assert_eq!(n[3].1, 1.0);
    }
}
