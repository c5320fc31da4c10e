//! ABC notation reader. ABC is how most folk-song corpora are published (the Essen
//! collection that tms trains on among them), so tms reads it directly instead of asking users
//! to convert to MIDI first.
//!
//! The reader covers ABC 2.1 as far as a monophonic melody needs it: header fields, keys with
//! modes and explicit accidentals, bar-long accidentals, octaves, lengths, rests, ties, broken
//! rhythm, tuplets, repeats and endings (expanded as a player plays them), inline fields and
//! the first voice. What a melody model cannot use is skipped: decorations, grace notes,
//! chord symbols, annotations, lyrics.
//!
//! Where the standard leaves room, the reading follows music21 (whose MIDI export is the
//! parity reference in `tests/abc_parity.rs`):
//! - a chord `[CEG]` keeps only its top note (the melody), lasting the chord's length;
//! - velocity is music21's default, [`VELOCITY`];
//! - `Q:120` (no note length) means 120 quarter notes per minute; no `Q:` means 120 too;
//! - accidentals last to the end of the bar, same letter and octave, as ABC 2.1 says
//!   ([`Accidentals::Bar`], the default). [`Accidentals::Note`] (`set abc_accidentals note`)
//!   applies each to its own note only: that is how music21 reads ABC and how collections
//!   converted from EsAC, the Essen songs among them, were written (every altered note is
//!   marked). A file's own `%%propagate-accidentals not|octave|pitch` wins over both.
//!
//! Parsing is two-stage: nom parsers turn each music line into [`Elem`]s, then the elements
//! are expanded (repeats) and played against a clock to produce notes in seconds.

use std::collections::HashMap;

use nom::branch::alt;
use nom::bytes::complete::{tag, take_till, take_while, take_while1};
use nom::character::complete::{char, digit1, one_of, satisfy};
use nom::combinator::{map, opt, recognize, value};
use nom::multi::{many0, many0_count, many1_count};
use nom::sequence::{pair, preceded};
use nom::{IResult, Parser};

use crate::music::meter::{Bars, Meter};
use crate::music::note::{sort_notes, Note, Tune, TuneFields};

/// The velocity music21 gives every note it exports (it has no dynamics from ABC).
pub const VELOCITY: u8 = 90;

/// At most this many elements are played per tune after repeat expansion; a pathological
/// repeat structure is cut there (and reported) instead of growing without bound.
const MAX_PLAYED: usize = 200_000;

/// Note lengths are clamped to this many whole notes, so a length like `A99999999` cannot
/// push times to infinity.
const MAX_LEN: f64 = 4096.0;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbcError {
    #[error("tune {tune}, line {line}: unterminated chord")]
    UnterminatedChord { tune: String, line: usize },
    #[error("tune {tune}, line {line}: unterminated grace notes")]
    UnterminatedGrace { tune: String, line: usize },
    #[error("tune {tune}, line {line}: unterminated string")]
    UnterminatedString { tune: String, line: usize },
    #[error("tune {tune}, line {line}: unterminated inline field")]
    UnterminatedField { tune: String, line: usize },
    #[error("tune {tune}, line {line}: repeats expand to more than {MAX_PLAYED} elements")]
    RepeatTooLong { tune: String, line: usize },
    #[error("tune {tune}, line {line}: no notes")]
    NoNotes { tune: String, line: usize },
    #[error("line {line}: no tunes (no X: field)")]
    NoTunes { line: usize },
}

crate::choice! {
    /// How long an accidental lasts in files that do not say (`%%propagate-accidentals`).
    #[derive(Default)]
    pub enum Accidentals {
        /// To the end of the bar, for the same letter and octave: the ABC 2.1 standard.
        #[default]
        Bar = "bar",
        /// Only on the note that carries it: how music21 reads ABC, and how collections
        /// converted from EsAC (the Essen Folksong Collection) were written, with every
        /// altered note marked.
        Note = "note",
    }
}

/// Every tune of an ABC file, read as ABC 2.1 (accidentals last to the end of the bar).
pub fn parse_abc(text: &str, path: &str) -> (Vec<Tune>, Vec<AbcError>) {
    parse_abc_with(text, path, Accidentals::Bar)
}

/// Every tune of an ABC file. `path` is the file path as loaded; each tune's source is `path#X`
/// (X = its X: number; when a file holds exactly one tune, the source is just `path`).
/// A broken tune is reported in the error list and skipped; the other tunes still load.
pub fn parse_abc_with(text: &str, path: &str, mode: Accidentals) -> (Vec<Tune>, Vec<AbcError>) {
    let (tunes, errors) = parse_tunes(text, path, mode);
    (tunes.into_iter().map(|(t, _)| t).collect(), errors)
}

type ReadTunes = (Vec<(Tune, Vec<f64>)>, Vec<AbcError>);

/// [`parse_abc_with`], each tune with its bar lines' times.
fn parse_tunes(text: &str, path: &str, mode: Accidentals) -> ReadTunes {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let starts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("X:"))
        .map(|(i, _)| i)
        .collect();
    let mut errors = Vec::new();
    if starts.is_empty() {
        if lines.iter().any(|l| !l.trim().is_empty()) {
            errors.push(AbcError::NoTunes { line: 1 });
        }
        return (Vec::new(), errors);
    }
    let propagate = propagation(&lines[..starts[0]], mode);
    let single = starts.len() == 1;
    let mut tunes = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(lines.len());
        let x = lines[s][2..].trim().to_string();
        let source = if single {
            path.to_string()
        } else {
            format!("{path}#{x}")
        };
        match read_tune(&lines[s..end], s + 1, &x, propagate) {
            Ok(r) => tunes.push((
                Tune {
                    source,
                    notes: r.notes,
                    fields: r.fields,
                    bars: r.bars,
                },
                r.bar_lines,
            )),
            Err(e) => errors.push(e),
        }
    }
    (tunes, errors)
}

/// The times (seconds) of every bar line of every tune of an ABC file, after the tune's start
/// and in the order played: where its bars fall, as tests compare them with other readers'.
pub fn bar_lines(text: &str) -> Vec<Vec<f64>> {
    parse_tunes(text, "", Accidentals::Bar)
        .0
        .into_iter()
        .map(|(_, lines)| lines)
        .collect()
}

/// How long an accidental lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Propagation {
    /// Only its own note (ABC 1.x, music21's reading of undeclared files).
    Not,
    /// To the end of the bar, same letter and octave (ABC 2.1).
    Octave,
    /// To the end of the bar, same letter in any octave.
    Pitch,
}

/// The file's own `%%propagate-accidentals` directive wins over the caller's default.
fn propagation(file_header: &[&str], mode: Accidentals) -> Propagation {
    let mut p = match mode {
        Accidentals::Bar => Propagation::Octave,
        Accidentals::Note => Propagation::Not,
    };
    for l in file_header {
        if let Some(v) = l.strip_prefix("%%propagate-accidentals") {
            p = match v.trim() {
                "pitch" => Propagation::Pitch,
                "octave" => Propagation::Octave,
                _ => Propagation::Not,
            };
        }
    }
    p
}

// ---------------------------------------------------------------------------------------
// Elements of a tune body

/// One note head: `acc` is an explicit accidental in semitones (`Some(0)` for `=`).
#[derive(Clone, Debug, PartialEq)]
struct Head {
    acc: Option<i8>,
    /// 0..7 for C D E F G A B.
    letter: usize,
    /// 0 for `C`..`B` (middle C octave), 1 for `c`..`b`, moved by `'` and `,`.
    octave: i32,
    /// In unit note lengths.
    len: f64,
    tie: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BarKind {
    Plain,
    /// `||`, `|]`, `[|`: the end of a section.
    Double,
    RepeatStart,
    RepeatEnd,
    RepeatBoth,
}

#[derive(Clone, Debug, PartialEq)]
enum Elem {
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
enum Unterminated {
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

fn accidental(i: &str) -> Res<'_, i8> {
    alt((
        value(2, tag("^^")),
        value(1, tag("^")),
        value(-2, tag("__")),
        value(-1, tag("_")),
        value(0, tag("=")),
    ))
    .parse(i)
}

fn letter_index(c: char) -> usize {
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

fn bit(n: u32) -> u32 {
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
fn music_line(mut s: &str, line: usize, out: &mut Vec<(Elem, usize)>) {
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

fn strip_comment(l: &str) -> &str {
    let b = l.as_bytes();
    for (k, &c) in b.iter().enumerate() {
        if c == b'%' && (k == 0 || b[k - 1] != b'\\') {
            return &l[..k];
        }
    }
    l
}

/// `X:`-style field at the start of a line (but not `|:` or the like).
fn field_line(l: &str) -> Option<(char, &str)> {
    let mut cs = l.chars();
    let f = cs.next()?;
    if f.is_ascii_alphabetic() && cs.next() == Some(':') {
        Some((f, l[2..].trim()))
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------
// Reading a tune

fn read_tune(
    lines: &[&str],
    first_line: usize,
    x: &str,
    propagate: Propagation,
) -> Result<Read, AbcError> {
    let mut fields = TuneFields::default();
    let mut titles = Vec::new();
    let mut notes_text = Vec::new();
    let mut header: Vec<(char, String)> = Vec::new();
    let mut elems: Vec<(Elem, usize)> = Vec::new();
    let mut in_body = false;
    for (k, raw) in lines.iter().enumerate().skip(1) {
        let line = first_line + k;
        let l = strip_comment(raw);
        if !in_body {
            if raw.trim().is_empty() {
                // A blank line inside the header ends a tune that has no body.
                break;
            }
            if let Some((f, v)) = field_line(l) {
                match f {
                    'T' => titles.push(v.to_string()),
                    'N' => notes_text.push(v.to_string()),
                    'O' => fields.origin = join(&fields.origin, v),
                    'R' => fields.rhythm = v.to_string(),
                    'M' => fields.meter = v.to_string(),
                    'K' => {
                        fields.key = v.to_string();
                        in_body = true;
                    }
                    _ => {}
                }
                header.push((f, v.to_string()));
                continue;
            }
            if l.trim().is_empty() {
                continue;
            }
            // Music before K: — read it as music in C, as lenient readers do.
            in_body = true;
        }
        if raw.trim().is_empty() {
            // ABC 2.1: a blank line ends the tune; what follows is free text.
            break;
        }
        if let Some((f, v)) = field_line(l) {
            elems.push((Elem::Field(f, v.to_string()), line));
            continue;
        }
        let l = l.trim_end();
        let l = l.strip_suffix('\\').unwrap_or(l);
        music_line(l, line, &mut elems);
    }
    fields.title = titles.join(" / ");
    fields.notes = notes_text.join(" / ");

    let err_at = |u: Unterminated, line: usize| {
        let tune = x.to_string();
        match u {
            Unterminated::Chord => AbcError::UnterminatedChord { tune, line },
            Unterminated::Grace => AbcError::UnterminatedGrace { tune, line },
            Unterminated::String => AbcError::UnterminatedString { tune, line },
            Unterminated::Field => AbcError::UnterminatedField { tune, line },
        }
    };
    if let Some((Elem::Unterminated(u), line)) = elems
        .iter()
        .find(|(e, _)| matches!(e, Elem::Unterminated(_)))
    {
        return Err(err_at(*u, *line));
    }
    apply_broken_rhythm(&mut elems);
    let order = match expand_repeats(&elems) {
        Some(o) => o,
        None => {
            return Err(AbcError::RepeatTooLong {
                tune: x.to_string(),
                line: first_line,
            })
        }
    };
    let mut player = Player::new(&header, propagate);
    for &k in &order {
        player.play(&elems[k].0);
    }
    let bars = player.bars();
    let mut notes = player.notes;
    if notes.is_empty() {
        return Err(AbcError::NoNotes {
            tune: x.to_string(),
            line: first_line,
        });
    }
    sort_notes(&mut notes);
    Ok(Read {
        notes,
        fields,
        bars,
        bar_lines: player.bar_lines,
    })
}

/// One tune as read, with the times of its bar lines.
struct Read {
    notes: Vec<Note>,
    fields: TuneFields,
    bars: Bars,
    bar_lines: Vec<f64>,
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a} / {b}")
    }
}

/// `a>b` makes a one and a half times as long and b half as long (`>>`: 7/4 and 1/4, ...);
/// `<` the other way round. Resolved before expansion, as it binds neighbouring elements.
fn apply_broken_rhythm(elems: &mut [(Elem, usize)]) {
    let is_timed = |e: &Elem| matches!(e, Elem::Note { .. } | Elem::Rest { bars: false, .. });
    for k in 0..elems.len() {
        let Elem::Broken(n) = elems[k].0 else {
            continue;
        };
        // Only direct neighbours count (skipped symbols are already gone), which also keeps a
        // run like `><><><` linear.
        let (Some(p), q) = (k.checked_sub(1), k + 1) else {
            continue;
        };
        if q >= elems.len() {
            continue;
        }
        if !is_timed(&elems[p].0) || !is_timed(&elems[q].0) {
            continue;
        }
        let short = 0.5f64.powi(n.abs());
        let long = 2.0 - short;
        let (a, b) = if n > 0 { (long, short) } else { (short, long) };
        scale(&mut elems[p].0, a);
        scale(&mut elems[q].0, b);
    }
}

fn scale(e: &mut Elem, f: f64) {
    if let Elem::Note { mult, .. } | Elem::Rest { mult, .. } = e {
        *mult *= f;
    }
}

/// The order in which a player visits the elements: `|: A :|` plays A twice, `[1`/`[2`
/// endings pick their pass. `None` when the expansion exceeds [`MAX_PLAYED`].
fn expand_repeats(elems: &[(Elem, usize)]) -> Option<Vec<usize>> {
    let mut order = Vec::with_capacity(elems.len());
    let mut start = 0; // where a `:|` jumps back to
    let mut pass = 1u32; // which time through the current repeated section
    let mut skipping = false; // inside an ending that this pass does not play
    let mut k = 0;
    // Every backward jump moves `start` forward, so this terminates; the step cap also bounds
    // the time spent scanning skipped endings.
    let mut steps = 0usize;
    while k < elems.len() {
        steps += 1;
        if order.len() > MAX_PLAYED || steps > 10 * MAX_PLAYED {
            return None;
        }
        let e = &elems[k].0;
        if skipping {
            match e {
                Elem::Ending(m) if m & bit(pass) != 0 => skipping = false,
                Elem::Bar(BarKind::RepeatEnd | BarKind::RepeatBoth) => {
                    // The skipped ending ends at its repeat sign; play on after it.
                    skipping = false;
                    if matches!(e, Elem::Bar(BarKind::RepeatBoth)) {
                        start = k + 1;
                        pass = 1;
                    }
                }
                Elem::Bar(BarKind::RepeatStart) => {
                    skipping = false;
                    start = k + 1;
                    pass = 1;
                }
                Elem::Bar(BarKind::Double) => skipping = false,
                _ => {}
            }
            k += 1;
            continue;
        }
        match e {
            Elem::Bar(BarKind::RepeatStart) => {
                start = k + 1;
                pass = 1;
            }
            Elem::Bar(BarKind::RepeatEnd | BarKind::RepeatBoth) => {
                order.push(k);
                if pass == 1 {
                    pass = 2;
                    k = start;
                    continue;
                }
                pass = 1;
                start = k + 1;
                k += 1;
                continue;
            }
            Elem::Bar(BarKind::Double) if pass > 1 => {
                pass = 1;
                start = k + 1;
            }
            Elem::Ending(m) if m & bit(pass) == 0 => {
                skipping = true;
                k += 1;
                continue;
            }
            _ => {}
        }
        order.push(k);
        k += 1;
    }
    Some(order)
}

// ---------------------------------------------------------------------------------------
// Playing elements against a clock

struct Player {
    /// Unit note length in whole notes.
    unit: f64,
    unit_set: bool,
    /// Meter as a fraction of a whole note, None for free meter.
    meter: Option<(u32, u32)>,
    sec_per_whole: f64,
    /// Semitone offset per letter from the key signature.
    key: [i8; 7],
    bar_acc: HashMap<(usize, i32), i8>,
    propagate: Propagation,
    t: f64,
    notes: Vec<Note>,
    /// Notes whose tie waits for the next note: (pitch, index in `notes`).
    ties: Vec<(u8, usize)>,
    /// The note just played, for a detached `-`.
    last: Option<(u8, usize)>,
    tuplet_left: u32,
    tuplet_factor: f64,
    /// Voice kept (the first one named); notes of other voices are skipped.
    voice: Option<String>,
    in_voice: bool,
    /// Times of the kept voice's bar lines after its start, in seconds.
    bar_lines: Vec<f64>,
    /// The meter and seconds per whole note where the first of them was drawn.
    first_bar: Option<(Option<(u32, u32)>, f64)>,
    /// The meter the header declares.
    header_meter: Option<(u32, u32)>,
}

impl Player {
    fn new(header: &[(char, String)], propagate: Propagation) -> Self {
        let mut p = Player {
            unit: 0.125,
            unit_set: false,
            meter: Some((4, 4)),
            sec_per_whole: 2.0,
            key: [0; 7],
            bar_acc: HashMap::new(),
            propagate,
            t: 0.0,
            notes: Vec::new(),
            ties: Vec::new(),
            last: None,
            tuplet_left: 0,
            tuplet_factor: 1.0,
            voice: None,
            in_voice: true,
            bar_lines: Vec::new(),
            first_bar: None,
            header_meter: None,
        };
        let mut meter_seen = false;
        for (f, v) in header {
            if *f == 'M' {
                meter_seen = true;
            }
            p.field(*f, v);
        }
        if !meter_seen {
            p.meter = None;
        }
        p.header_meter = p.meter;
        // A header may declare several voices; the body's first `V:` picks the kept one.
        p.in_voice = true;
        if !p.unit_set {
            // ABC 2.1: the default unit is 1/16 for meters below 3/4, else 1/8.
            p.unit = match p.meter {
                Some((n, d)) if f64::from(n) / f64::from(d) < 0.75 => 0.0625,
                _ => 0.125,
            };
        }
        p
    }

    fn field(&mut self, f: char, v: &str) {
        match f {
            'K' => {
                self.key = parse_key(v);
                self.bar_acc.clear();
            }
            'M' => self.meter = parse_meter(v),
            'L' => {
                if let Some(l) = parse_fraction(v) {
                    self.unit = l;
                    self.unit_set = true;
                }
            }
            'Q' => {
                if let Some(s) = parse_tempo(v, self.unit) {
                    self.sec_per_whole = s;
                }
            }
            'V' => {
                let id = v.split_whitespace().next().unwrap_or("").to_string();
                match &self.voice {
                    None => {
                        self.voice = Some(id);
                        self.in_voice = true;
                    }
                    Some(first) => self.in_voice = *first == id,
                }
            }
            _ => {}
        }
    }

    /// Where the tune's bars fall: the meter where its first bar line is drawn, and the
    /// upbeat before that line (the first bar when it is shorter than the meter's).
    fn bars(&self) -> Bars {
        let header_meter = self.header_meter.and_then(meter_of);
        match self.first_bar {
            // An upbeat counts in bars of a meter tms can count in.
            Some((Some((n, d)), sec_per_whole)) if meter_of((n, d)).is_some() => {
                Bars::first_line_at(
                    meter_of((n, d)),
                    self.bar_lines[0],
                    f64::from(n) / f64::from(d) * sec_per_whole,
                )
            }
            _ => Bars {
                meter: header_meter,
                upbeat: 0.0,
            },
        }
    }

    fn take_tuplet(&mut self) -> f64 {
        if self.tuplet_left > 0 {
            self.tuplet_left -= 1;
            self.tuplet_factor
        } else {
            1.0
        }
    }

    fn play(&mut self, e: &Elem) {
        if let Elem::Field(f, v) = e {
            self.field(*f, v);
            return;
        }
        if !self.in_voice {
            return;
        }
        match e {
            Elem::Note {
                heads,
                len,
                mult,
                tie,
            } => {
                let first_len = heads.first().map_or(1.0, |h| h.len);
                let whole = first_len * len * mult * self.unit * self.take_tuplet();
                let dur = whole * self.sec_per_whole;
                let mut top: Option<u8> = None;
                let mut tied = *tie;
                for h in heads {
                    if let Some(p) = self.pitch(h) {
                        top = Some(top.map_or(p, |t: u8| t.max(p)));
                    }
                    tied |= h.tie;
                }
                let pending = std::mem::take(&mut self.ties);
                self.last = None;
                if let (Some(p), true) = (top, dur > 0.0) {
                    let joined = pending.iter().find(|(tp, idx)| {
                        *tp == p && (self.notes[*idx].end() - self.t).abs() < 1e-9
                    });
                    let idx = match joined {
                        Some(&(_, idx)) => {
                            self.notes[idx].duration = self.t + dur - self.notes[idx].start;
                            idx
                        }
                        None => {
                            self.notes.push(Note {
                                pitch: p,
                                start: self.t,
                                duration: dur,
                                velocity: VELOCITY,
                            });
                            self.notes.len() - 1
                        }
                    };
                    if tied {
                        self.ties.push((p, idx));
                    }
                    self.last = Some((p, idx));
                }
                self.t += dur.max(0.0);
            }
            Elem::Rest { len, mult, bars } => {
                let whole = if *bars {
                    let bar = self
                        .meter
                        .map_or(1.0, |(n, d)| f64::from(n) / f64::from(d.max(1)));
                    len * bar
                } else {
                    len * mult * self.unit * self.take_tuplet()
                };
                self.ties.clear();
                self.last = None;
                self.t += (whole * self.sec_per_whole).max(0.0);
            }
            Elem::Bar(_) => {
                self.bar_acc.clear();
                // A bar line before any music (`| A2 B2 |`) opens the first bar, it ends none.
                if self.t > 1e-9 && self.bar_lines.last() != Some(&self.t) {
                    self.bar_lines.push(self.t);
                    self.first_bar
                        .get_or_insert((self.meter, self.sec_per_whole));
                }
            }
            Elem::Ending(_) => self.bar_acc.clear(),
            Elem::Tie => {
                if let Some(l) = self.last {
                    if !self.ties.contains(&l) {
                        self.ties.push(l);
                    }
                }
            }
            Elem::Tuplet { p, q, r } => {
                let p = (*p).clamp(1, 64);
                let compound = matches!(self.meter, Some((n, _)) if n % 3 == 0 && n > 3);
                let q = q.unwrap_or(match p {
                    2 | 4 | 8 => 3,
                    3 | 6 => 2,
                    _ if compound => 3,
                    _ => 2,
                });
                self.tuplet_factor = f64::from(q.clamp(1, 64)) / f64::from(p);
                self.tuplet_left = r.unwrap_or(p).min(64);
            }
            Elem::Broken(_) | Elem::Field(..) | Elem::Skip | Elem::Unterminated(_) => {}
        }
    }

    /// The MIDI pitch of a head under the key and the bar's accidentals; None out of range.
    fn pitch(&mut self, h: &Head) -> Option<u8> {
        let slot = match self.propagate {
            Propagation::Pitch => (h.letter, 0),
            _ => (h.letter, h.octave),
        };
        let acc = match h.acc {
            Some(a) => {
                if self.propagate != Propagation::Not {
                    self.bar_acc.insert(slot, a);
                }
                a
            }
            None => self
                .bar_acc
                .get(&slot)
                .copied()
                .unwrap_or(self.key[h.letter]),
        };
        let p = 60
            + 12 * i64::from(h.octave)
            + i64::from(crate::music::pitch::LETTERS[h.letter].1)
            + i64::from(acc);
        u8::try_from(p).ok().filter(|&p| p <= 127)
    }
}

/// A meter as tms counts bars, when it can (units of 1 to 1/16).
fn meter_of((n, d): (u32, u32)) -> Option<Meter> {
    Meter::parse(&format!("{n}/{d}")).ok()
}

/// `1/16` → 0.0625; `1` → 1.
fn parse_fraction(v: &str) -> Option<f64> {
    let v = v.trim();
    let (n, d) = match v.split_once('/') {
        Some((n, d)) => (n.trim().parse::<f64>().ok()?, d.trim().parse::<f64>().ok()?),
        None => (v.parse::<f64>().ok()?, 1.0),
    };
    let f = n / d;
    (f.is_finite() && f > 0.0 && f <= MAX_LEN).then_some(f)
}

/// `2/4`, `C` (4/4), `C|` (2/2), `(2+3)/8`; `none` or anything unreadable is free meter.
fn parse_meter(v: &str) -> Option<(u32, u32)> {
    let v = v.trim();
    match v {
        "C" => return Some((4, 4)),
        "C|" => return Some((2, 2)),
        _ => {}
    }
    let (n, d) = v.split_once('/')?;
    let num: u32 = n
        .trim_matches(|c: char| c == '(' || c == ')' || c.is_whitespace())
        .split('+')
        .map(|s| s.trim().parse::<u32>().ok())
        .sum::<Option<u32>>()?;
    let den: u32 = d.trim().parse().ok()?;
    (num > 0 && den > 0 && num <= 1000 && den <= 1000).then_some((num, den))
}

/// Seconds per whole note from a `Q:` field: `1/4=120`, `120` (quarter notes per minute),
/// `"Allegro" 1/4=120`, `1/4 3/8=40`, `C=120` (C is the unit note length).
fn parse_tempo(v: &str, unit: f64) -> Option<f64> {
    // Drop quoted text.
    let mut plain = String::new();
    let mut in_q = false;
    for c in v.chars() {
        if c == '"' {
            in_q = !in_q;
        } else if !in_q {
            plain.push(c);
        }
    }
    let plain = plain.trim();
    let (beat, bpm) = match plain.split_once('=') {
        Some((beats, bpm)) => {
            let mut beat = 0.0;
            for b in beats.split_whitespace() {
                beat += match b {
                    "C" | "L" => unit,
                    _ => parse_fraction(b)?,
                };
            }
            (beat, bpm.trim().parse::<f64>().ok()?)
        }
        None => (0.25, plain.parse::<f64>().ok()?),
    };
    let s = 60.0 / (bpm * beat);
    (s.is_finite() && s > 0.0 && bpm >= 1.0).then_some(s)
}

/// The key signature as a semitone offset per letter (C D E F G A B).
/// The signature of a `K:` value in fifths (sharps positive, flats negative), None where
/// it names no tonic (`K:none`, `K:`, a percussion clef only): what a model with `degree
/// on` reads the tune's pitches against.
pub fn signature_fifths(v: &str) -> Option<i32> {
    let first = v.trim().chars().next()?;
    if !matches!(first.to_ascii_uppercase(), 'A'..='G') {
        return None;
    }
    Some(parse_key(v).iter().map(|&a| i32::from(a)).sum())
}

fn parse_key(v: &str) -> [i8; 7] {
    let mut key = [0i8; 7];
    let v = v.trim();
    let mut chars = v.char_indices().peekable();
    let mut fifths: i32 = 0;
    let mut rest = v;
    let mut bagpipe_mix = false;
    if let Some(&(_, c)) = chars.peek() {
        let tonic = match c.to_ascii_uppercase() {
            'C' => Some(0),
            'G' => Some(1),
            'D' => Some(2),
            'A' => Some(3),
            'E' => Some(4),
            'B' => Some(5),
            'F' => Some(-1),
            _ => None,
        };
        if let Some(t) = tonic {
            fifths = t;
            rest = &v[c.len_utf8()..];
            if let Some(r) = rest.strip_prefix('#') {
                fifths += 7;
                rest = r;
            } else if let Some(r) = rest.strip_prefix('b') {
                fifths -= 7;
                rest = r;
            }
            let r = rest.trim_start();
            let word: String = r.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
            let w = word.to_ascii_lowercase();
            let mode = if w == "m" || w.starts_with("min") || w.starts_with("aeo") {
                Some(-3)
            } else if w.starts_with("maj") || w.starts_with("ion") {
                Some(0)
            } else if w.starts_with("mix") {
                Some(-1)
            } else if w.starts_with("dor") {
                Some(-2)
            } else if w.starts_with("phr") {
                Some(-4)
            } else if w.starts_with("lyd") {
                Some(1)
            } else if w.starts_with("loc") {
                Some(-5)
            } else {
                None
            };
            if let Some(m) = mode {
                fifths += m;
                rest = &r[word.len()..];
            }
        } else if let Some(r) = v.strip_prefix("Hp") {
            bagpipe_mix = true;
            rest = r;
        } else if let Some(r) = v.strip_prefix("HP") {
            rest = r;
        }
    }
    if bagpipe_mix {
        key[3] = 1; // F#
        key[0] = 1; // C#
    } else {
        const SHARPS: [usize; 7] = [3, 0, 4, 1, 5, 2, 6]; // F C G D A E B
        let fifths = fifths.clamp(-7, 7);
        if fifths > 0 {
            for &l in &SHARPS[..fifths as usize] {
                key[l] = 1;
            }
        } else {
            for &l in SHARPS.iter().rev().take((-fifths) as usize) {
                key[l] = -1;
            }
        }
    }
    for tok in rest.split_whitespace() {
        if tok.eq_ignore_ascii_case("exp") {
            key = [0; 7];
            continue;
        }
        if let Ok((r, a)) = accidental(tok) {
            let mut cs = r.chars();
            if let (Some(l @ ('a'..='g' | 'A'..='G')), None) = (cs.next(), cs.next()) {
                key[letter_index(l)] = a;
            }
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(body: &str) -> Vec<(u8, f64, f64)> {
        let text = format!("X:1\nT:t\nM:4/4\nL:1/8\nK:C\n{body}\n");
        let (tunes, errors) = parse_abc(&text, "t.abc");
        assert!(errors.is_empty(), "{errors:?}");
        tunes[0]
            .notes
            .iter()
            .map(|n| (n.pitch, n.start, n.duration))
            .collect()
    }

    fn pitches(body: &str) -> Vec<u8> {
        one(body).into_iter().map(|n| n.0).collect()
    }

    fn per_note(body: &str) -> Vec<u8> {
        let text = format!("X:1\nL:1/8\nK:C\n{body}\n");
        let (tunes, _) = parse_abc_with(&text, "t.abc", Accidentals::Note);
        tunes[0].notes.iter().map(|n| n.pitch).collect()
    }

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
    fn rests_advance_time() {
        let n = one("C z2 D x E");
        assert_eq!(n.len(), 3);
        assert_eq!(n[1].1, 0.75);
        assert_eq!(n[2].1, 1.25);
        // Z: whole bars (4/4 = 2 s).
        assert_eq!(one("Z2 C")[0].1, 4.0);
    }

    #[test]
    fn key_signatures() {
        let k = |k: &str| {
            let text = format!("X:1\nL:1/8\nK:{k}\nCDEFGAB\n");
            let (t, _) = parse_abc(&text, "t.abc");
            t[0].notes.iter().map(|n| n.pitch).collect::<Vec<u8>>()
        };
        assert_eq!(k("D"), [61, 62, 64, 66, 67, 69, 71]);
        assert_eq!(k("Bb"), [60, 62, 63, 65, 67, 69, 70]);
        assert_eq!(k("Am"), [60, 62, 64, 65, 67, 69, 71]);
        assert_eq!(k("D dor"), [60, 62, 64, 65, 67, 69, 71]);
        assert_eq!(k("Amix"), [61, 62, 64, 66, 67, 69, 71]);
        assert_eq!(k("E phr"), [60, 62, 64, 65, 67, 69, 71]);
        assert_eq!(k("F lyd"), [60, 62, 64, 65, 67, 69, 71]);
        assert_eq!(k("C ^f _b"), [60, 62, 64, 66, 67, 69, 70]);
        assert_eq!(k("D exp _b"), [60, 62, 64, 65, 67, 69, 70]);
        assert_eq!(k("none"), [60, 62, 64, 65, 67, 69, 71]);
        assert_eq!(k("HP"), [60, 62, 64, 65, 67, 69, 71]);
        assert_eq!(k("Hp"), [61, 62, 64, 66, 67, 69, 71]);
        assert_eq!(k("F# clef=treble"), [61, 63, 65, 66, 68, 70, 71]);
    }

    #[test]
    fn explicit_accidentals() {
        assert_eq!(pitches("^C ^^C _C __C =C"), [61, 62, 59, 58, 60]);
    }

    #[test]
    fn accidentals_last_to_the_bar() {
        // Same letter and octave keeps the accidental; another octave or a new bar does not.
        assert_eq!(pitches("^F F f | F"), [66, 66, 77, 65]);
        assert_eq!(pitches("^F =F F"), [66, 65, 65]);
        // Per-note reading (music21, EsAC-derived collections): the accidental is the note's own.
        assert_eq!(per_note("^F F f | F"), [66, 65, 77, 65]);
        let text = "%%propagate-accidentals not\nX:1\nK:C\n^F F|\n";
        assert_eq!(parse_abc(text, "n.abc").0[0].notes[1].pitch, 65);
        let text = "%%propagate-accidentals pitch\nX:1\nK:C\n^F f|\n";
        let t = parse_abc(text, "p.abc").0;
        assert_eq!(t[0].notes[1].pitch, 78);
    }

    #[test]
    fn ties_merge_same_pitch() {
        let n = one("C2- C2 D- | D E- F");
        assert_eq!(
            n,
            [
                (60, 0.0, 1.0),
                (62, 1.0, 0.5),
                (64, 1.5, 0.25),
                (65, 1.75, 0.25)
            ]
        );
    }

    #[test]
    fn detached_tie_at_line_start_ties_the_previous_note() {
        assert_eq!(
            one("C D2 |\n-D2 E"),
            [(60, 0.0, 0.25), (62, 0.25, 1.0), (64, 1.25, 0.25)]
        );
        // A rest in between breaks it.
        assert_eq!(one("C z -C").len(), 2);
    }

    #[test]
    fn broken_rhythm() {
        let d = |b: &str| one(b).iter().map(|n| n.2).collect::<Vec<f64>>();
        assert_eq!(d("C>D"), [0.375, 0.125]);
        assert_eq!(d("C<D"), [0.125, 0.375]);
        assert_eq!(d("C>>D"), [0.4375, 0.0625]);
        assert_eq!(d("C2<<D2"), [0.125, 0.875]);
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
    fn chords_keep_the_top_note() {
        assert_eq!(one("[CEG]2 [c'E]"), [(67, 0.0, 0.5), (84, 0.5, 0.25)]);
        // The chord's length is its first note's length times the outer length.
        assert_eq!(one("[C2E2]3 D"), [(64, 0.0, 1.5), (62, 1.5, 0.25)]);
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

    #[test]
    fn body_field_lines() {
        assert_eq!(one("C\nK:G\nF\nL:1/4\nF")[2].2, 0.5);
    }

    #[test]
    fn comments_and_continuations() {
        assert_eq!(pitches("C D % E F\nG \\\nA"), [60, 62, 67, 69]);
    }

    #[test]
    fn tempo_forms() {
        let first = |q: &str| {
            let text = format!("X:1\nL:1/4\n{q}\nK:C\nC D\n");
            let (t, _) = parse_abc(&text, "t.abc");
            t[0].notes[1].start
        };
        assert_eq!(first("T:no tempo"), 0.5);
        assert_eq!(first("Q:1/4=120"), 0.5);
        assert_eq!(first("Q:60"), 1.0);
        assert_eq!(first("Q: \"Allegro\" 1/4=240"), 0.25);
        assert_eq!(first("Q:1/2=30"), 1.0);
        assert_eq!(first("Q:3/8=40"), 1.0);
        assert_eq!(first("Q:\"Andante\""), 0.5);
    }

    #[test]
    fn default_unit_length_from_meter() {
        let d = |h: &str| {
            let text = format!("X:1\n{h}\nK:C\nC\n");
            parse_abc(&text, "t.abc").0[0].notes[0].duration
        };
        assert_eq!(d("M:2/4"), 0.125);
        assert_eq!(d("M:3/4"), 0.25);
        assert_eq!(d("M:C"), 0.25);
        assert_eq!(d("M:C|"), 0.25);
        assert_eq!(d("T:no meter"), 0.25);
        assert_eq!(d("M:none"), 0.25);
        assert_eq!(d("M:2/4\nL:1/4"), 0.5);
    }

    #[test]
    fn the_first_bar_line_gives_the_upbeat() {
        let bars = |body: &str| {
            let (t, e) = parse_abc(&format!("X:1\nT:t\n{body}\n"), "t.abc");
            assert!(e.is_empty(), "{e:?}");
            (t[0].bars.meter.map(|m| m.to_string()), t[0].bars.upbeat)
        };
        // Irish Essen X:3: `F2G2 |` is a quarter-note upbeat to 3/4 bars.
        assert_eq!(
            bars("M:3/4\nL:1/16\nK:F\nF2G2 | A4f4e3c | d4e4A3=B |"),
            (Some("3/4".into()), 0.5)
        );
        // A bar line before the music opens the first bar.
        assert_eq!(
            bars("M:2/4\nL:1/8\nK:A\n | A2GE | D2DD |"),
            (Some("2/4".into()), 0.0)
        );
        assert_eq!(
            bars("M:6/8\nK:G\nGAB | c3 d3 |"),
            (Some("6/8".into()), 0.75)
        );
        // No bar lines, or no meter: bars from the first note; a meter tms cannot count in.
        assert_eq!(bars("M:2/4\nK:C\nC D E"), (Some("2/4".into()), 0.0));
        assert_eq!(bars("K:C\nC | D E"), (None, 0.0));
        assert_eq!(bars("M:3/5\nK:C\nC | D E"), (None, 0.0));
        assert_eq!(
            bar_lines("X:1\nM:3/4\nL:1/4\nK:C\n|C|DEF|G3|]\n\nX:2\nK:C\nC4|\n"),
            vec![vec![0.5, 2.0, 3.5], vec![1.0]]
        );
    }

    #[test]
    fn meters() {
        assert_eq!(parse_meter("C"), Some((4, 4)));
        assert_eq!(parse_meter("C|"), Some((2, 2)));
        assert_eq!(parse_meter("(2+3)/8"), Some((5, 8)));
        assert_eq!(parse_meter("none"), None);
        assert_eq!(signature_fifths("D"), Some(2));
        assert_eq!(signature_fifths(" Bb"), Some(-2));
        assert_eq!(signature_fifths("Am"), Some(0));
        assert_eq!(signature_fifths("Ador"), Some(1));
        assert_eq!(signature_fifths("none"), None);
        assert_eq!(signature_fifths(""), None);
        assert_eq!(one("M:C|\nZ C")[0].1, 2.0);
    }

    #[test]
    fn repeats_and_endings() {
        assert_eq!(pitches("|: C D :| E"), [60, 62, 60, 62, 64]);
        assert_eq!(pitches("C :| D"), [60, 60, 62]);
        assert_eq!(pitches("|: C |1 D :|2 E |]"), [60, 62, 60, 64]);
        assert_eq!(pitches("|: C [1 D :| [2 E ||"), [60, 62, 60, 64]);
        assert_eq!(pitches("|: C :: D :|"), [60, 60, 62, 62]);
        assert_eq!(pitches("|: C |1 D :|2 E || F :|"), [60, 62, 60, 64, 65, 65]);
        assert_eq!(pitches("|: C |1 D :| E"), [60, 62, 60, 64]);
        assert_eq!(pitches("[| C || D |]"), [60, 62]);
        // Time runs on through the repeat.
        assert_eq!(one("|: C :|")[1].1, 0.25);
    }

    #[test]
    fn titles_and_fields() {
        let text = "X:7\nT:One\nT:Two\nO:China, Han\nN:a\nN:b\nR:Shange\nM:2/4\nL:1/16\nK:D dor\nC\n\nX:8\nK:C\nD\n";
        let (t, e) = parse_abc(text, "f.abc");
        assert!(e.is_empty());
        assert_eq!(t[0].source, "f.abc#7");
        assert_eq!(t[1].source, "f.abc#8");
        let f = &t[0].fields;
        assert_eq!(f.title, "One / Two");
        assert_eq!(f.origin, "China, Han");
        assert_eq!(f.notes, "a / b");
        assert_eq!(f.rhythm, "Shange");
        assert_eq!(f.meter, "2/4");
        assert_eq!(f.key, "D dor");
        let (t, _) = parse_abc("X:3\nK:C\nC\n", "one.abc");
        assert_eq!(t[0].source, "one.abc");
    }

    #[test]
    fn broken_tunes_are_reported_and_skipped() {
        let text = "X:1\nK:C\nC\n\nX:12\nK:C\nC D\n[CE\n\nX:13\nK:C\n\"Am C\n\nX:14\nK:C\n{g C\n\nX:15\nK:C\n[K:D C\n\nX:16\nK:C\nz4\n\nX:17\nK:C\nD\n";
        let (t, e) = parse_abc(text, "b.abc");
        assert_eq!(t.len(), 2);
        let msgs: Vec<String> = e.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs,
            [
                "tune 12, line 8: unterminated chord",
                "tune 13, line 12: unterminated string",
                "tune 14, line 16: unterminated grace notes",
                "tune 15, line 20: unterminated inline field",
                "tune 16, line 22: no notes",
            ]
        );
        assert_eq!(
            parse_abc("just text\n", "n.abc").1[0].to_string(),
            "line 1: no tunes (no X: field)"
        );
    }

    #[test]
    fn byte_order_mark_and_crlf() {
        let (t, e) = parse_abc("\u{feff}X:1\r\nL:1/4\r\nK:G\r\nF2 G\r\n", "w.abc");
        assert!(e.is_empty());
        let n: Vec<(u8, f64)> = t[0].notes.iter().map(|n| (n.pitch, n.duration)).collect();
        assert_eq!(n, [(66, 1.0), (67, 0.5)]);
    }

    #[test]
    fn only_the_first_voice_is_kept() {
        assert_eq!(pitches("V:1\nC D\nV:2\nE F\nV:1\nG"), [60, 62, 67]);
        let text = "X:1\nV:1\nV:2\nK:C\nV:1\nC\nV:2\nE\n";
        let notes = &parse_abc(text, "v.abc").0[0].notes;
        assert_eq!(notes.iter().map(|n| n.pitch).collect::<Vec<_>>(), [60]);
    }

    #[test]
    fn repeat_expansion_is_capped() {
        let body = format!("|: {} :|", "C ".repeat(MAX_PLAYED / 2 + 10));
        let (t, e) = parse_abc(&format!("X:5\nK:C\n{body}\n"), "big.abc");
        assert!(t.is_empty());
        assert_eq!(
            e[0].to_string(),
            format!("tune 5, line 1: repeats expand to more than {MAX_PLAYED} elements")
        );
    }

    #[test]
    fn velocity_is_music21s() {
        assert!(one_note_velocity() == VELOCITY && VELOCITY == 90);
    }

    fn one_note_velocity() -> u8 {
        parse_abc("X:1\nK:C\nC\n", "v.abc").0[0].notes[0].velocity
    }

    #[test]
    fn nested_repeats_are_bounded() {
        // Each `::` doubles nothing by itself, but a long run of sections must stay linear.
        let body = "|: C :: ".repeat(5000);
        let t = parse_abc(&format!("X:1\nK:C\n{body}\n"), "r.abc");
        assert_eq!(t.0[0].notes.len(), 10000);
    }

    #[test]
    fn out_of_range_pitches_are_dropped_but_keep_time() {
        let n = one("c'''''' C");
        assert_eq!(n, [(60, 0.25, 0.25)]);
    }

    const ESSEN_LIKE: &str = "X:1\nT: Renmin\nN: C0002\nO: China, Shaanxi\nM: 2/4\nL: 1/16\nK: C\nd4A2c2 | d4d4 | A3cd2g2 | c2A2G4\nG2^F2G4 | G3Ac2d2 | e2B2d2e2- | e8 z2\n|: (3cde [CE]2 {g}f>e :|1 d2 :|2 c4 |]\n";

    fn check_invariants(text: &str) {
        let (tunes, _) = parse_abc(text, "fuzz.abc");
        for t in tunes {
            for n in &t.notes {
                assert!(n.pitch <= 127);
                assert!(n.start.is_finite() && n.start >= 0.0);
                assert!(n.duration.is_finite() && n.duration > 0.0);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases.max(2000), ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_text_never_panics(s in ".{0,400}") {
            check_invariants(&s);
            check_invariants(&format!("X:1\nK:C\n{s}\n"));
        }

        #[test]
        fn abc_alphabet_never_panics(s in "[A-Ga-gzZxX0-9/<>(:|\\[\\]{}!\"^_=,'~.\\- \nKLMQ%\\\\]{0,300}") {
            check_invariants(&format!("X:1\nM:2/4\nL:1/16\nK:G\n{s}\n"));
        }

        #[test]
        fn mutated_essen_never_panics(edits in prop::collection::vec((0usize..400, prop::sample::select(vec!["", "[", "]", "|:", ":|", "(3", "{", "\"", "-", ">", "9999999", "/0", "^", "K:", "\n", "[1", "::"])), 1..8)) {
            let mut s = ESSEN_LIKE.to_string();
            for (pos, ins) in edits {
                let mut p = pos.min(s.len());
                while !s.is_char_boundary(p) {
                    p -= 1;
                }
                s.insert_str(p, ins);
            }
            check_invariants(&s);
        }
    }
}
