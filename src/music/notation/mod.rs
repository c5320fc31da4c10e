//! Notation output: `write "F.abc"` and `write "F.musicxml"`. Folk musicians read ABC and
//! staff notation, not MIDI, so a melody has to come out as bars of written note values in a
//! key.
//!
//! Melodies are notes in seconds at 120 BPM and may lie anywhere in time (the model's rhythm is
//! free), while notation can only write values built from halves of halves and triplets. So
//! both writers first put the melody on one grid and reduce it to one line; what they write is
//! then exactly [`quantized_melody`] — "the same notes" as `write "F.mid"` means these notes:
//!
//! - **Grid**: every onset and every end is rounded to the nearest 1/48 of a whole note
//!   ([`GRID`]: sixteenths are 3 units, triplet eighths 4, triplet sixteenths 2). A note that
//!   rounds to nothing keeps one unit. A melody already on this grid is unchanged, so its
//!   notation reads back to the same notes as its MIDI file.
//! - **One line**: of notes that start on the same grid unit, the one that sounds longest (up to
//!   the next onset) is written, and of those as long the highest (the melody, as tms reads an
//!   ABC chord: its top note). The others are merged away and named in the write report
//!   ([`Written::merged`]): a long note that a grace note beside it rounds onto is never lost
//!   to the grace note. A note still sounding when the next one starts is cut there. Gaps
//!   become rests.
//! - **Lengths**: a note longer than [`MAX_NOTE_QUARTERS`] or a melody past [`MAX_BARS`] bars
//!   is refused ([`NotationError`]) before anything is laid out; MIDI files have no such limit.
//! - Transposition and the velocity setting apply as `write "F.mid"` applies them; ABC has no
//!   velocities (readers give every note their default), MusicXML keeps them as `dynamics`.
//!
//! Layout ([`layout`]) then cuts the line into bars of the meter, tying notes across bar lines,
//! and writes each beat either plainly (everything on sixteenths) or as one triplet (3 in the
//! time of 2) when something in it falls between sixteenths. A melody with an upbeat
//! ([`Options::upbeat`]) starts with it as its own short bar (ABC readers and music21 take a
//! short first bar as a pickup; MusicXML numbers it 0, `implicit`), so the bar lines fall
//! where its source has them and nothing is tied across a bar line the source did not cross.

pub mod abc;
pub mod key;
pub mod musicxml;

use std::collections::HashMap;

use crate::music::meter::Meter;
use crate::music::note::Note;
use crate::music::pitch::note_name;
use crate::music::scale::Scale;
pub use key::Key;

/// Grid units per whole note.
pub const GRID: u64 = 48;

/// Seconds per grid unit at the 120 BPM melodies are stored at (a whole note lasts 2 s).
const UNIT_SECONDS: f64 = 2.0 / GRID as f64;

/// The latest grid unit a time is put on: about 13 years of music, so that no sum of units
/// overflows before [`MAX_BARS`] refuses the melody.
const MAX_UNIT: f64 = 1e10;

/// Written lengths count in ticks of 1/96 of a whole note: a plain grid unit is 2 ticks, a
/// grid unit inside a triplet is written as 3 (three written in the time of two). MusicXML
/// uses the same ticks as its divisions (24 per quarter).
pub const TICKS_PER_WHOLE: u32 = 96;

/// Which notation a file name asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Abc,
    MusicXml,
}

impl Format {
    /// `.abc` is ABC, `.musicxml` and `.xml` are MusicXML (any case); anything else is not
    /// notation (the caller writes MIDI).
    pub fn of_path(path: &str) -> Option<Format> {
        let ext = std::path::Path::new(path).extension()?.to_str()?;
        match ext.to_ascii_lowercase().as_str() {
            "abc" => Some(Format::Abc),
            "musicxml" | "xml" => Some(Format::MusicXml),
            _ => None,
        }
    }
}

/// What the writers need besides the notes.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The tune's title (`T:`, `<work-title>`).
    pub title: String,
    pub meter: Meter,
    /// Seconds before the first bar line: an upbeat, written as a short first bar (taken
    /// less whole bars of `meter`; 0 = the melody starts on a bar line).
    pub upbeat: f64,
    /// The key: the `scale` setting when set, else estimated from the melody.
    pub scale: Option<Scale>,
    /// Quarter notes per minute (`Q:`, `<sound tempo>`).
    pub tempo_bpm: f64,
    /// Semitones added to every pitch (clamped to 0..=127), as `write "F.mid"` does.
    pub transpose: i32,
    /// One velocity for every note, or None for each note's own.
    pub velocity: Option<u8>,
    /// General MIDI program, 0-based.
    pub program: u8,
    /// MIDI channel, 0-based.
    pub channel: u8,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            title: "tms melody".into(),
            meter: Meter::default(),
            upbeat: 0.0,
            scale: None,
            tempo_bpm: 120.0,
            transpose: 0,
            velocity: None,
            program: 0,
            channel: 0,
        }
    }
}

/// A written file and what went into it, for the one-line report.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    pub text: String,
    /// Notes written (after reduction to one line).
    pub notes: usize,
    pub key: Key,
    /// Whether the key was estimated rather than taken from `scale`.
    pub estimated: bool,
    /// Notes of the melody that are not written: each started on the same grid unit as a note
    /// that sounds longer (or as long and higher), in the melody's order.
    pub merged: Vec<Merged>,
}

impl Written {
    /// What the write report adds about merged notes, if any were (see [`merged_report`]).
    pub fn merged_report(&self) -> Option<String> {
        merged_report(&self.merged)
    }
}

/// The longest note notation writes, in quarter notes (16 bars of 4/4 tied together): a
/// melody's note, not a stuck key or a drone. Inline notes (`*n`) stop here too, so every
/// note typed can be written.
pub const MAX_NOTE_QUARTERS: u32 = 64;

/// The most bars a notation file holds: a tune, not a recording of an evening (33 minutes of
/// 4/4 at 120 BPM). music21 reads ABC in time that grows faster than its length: 1,000 bars
/// of whole notes took 4 s, 2,000 took 19 s, and a 4-hour note's 7,200 tied bars more than
/// a minute (the layout once tried to allocate bars for 13 years of music).
pub const MAX_BARS: u64 = 1_000;

/// Why a melody cannot be written as notation. Checked on the grid, before any bar is laid
/// out, so the answer costs nothing however long the melody claims to be.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum NotationError {
    /// One note lasts longer than [`MAX_NOTE_QUARTERS`] after it is put on the grid.
    #[error(
        "cannot write notation: {} at {} s lasts {} quarter notes; notation writes notes of at \
         most {MAX_NOTE_QUARTERS} quarter notes",
        note_name(*pitch),
        seconds(*start),
        seconds(*quarters)
    )]
    NoteTooLong {
        /// The melody's pitch (before transposition) and onset in seconds.
        pitch: u8,
        start: f64,
        quarters: f64,
    },
    /// The melody ends after [`MAX_BARS`] bars; `pitch` and `start` name the first note that
    /// reaches past them.
    #[error(
        "cannot write notation: the melody is too long, {} at {} s ends in bar {bar} of \
         {meter}; notation writes at most {MAX_BARS} bars",
        note_name(*pitch),
        seconds(*start)
    )]
    MelodyTooLong {
        pitch: u8,
        start: f64,
        bar: u64,
        meter: Meter,
    },
}

/// Seconds (or quarters) as a message shows them: at most three decimals, no needless zeros.
fn seconds(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

/// Writes `notes` in `format`, or says why they cannot be notation.
pub fn write(format: Format, notes: &[Note], opts: &Options) -> Result<Written, NotationError> {
    let (placed, merged) = one_line(notes, opts.transpose, opts.velocity);
    let pickup = pickup_units(opts.upbeat, opts.meter);
    check_lengths(&placed, notes, opts.meter, pickup)?;
    let line: Vec<GridNote> = placed.iter().map(|p| p.note).collect();
    let (key, estimated) = match &opts.scale {
        Some(s) => (Key::from_scale(s, opts.transpose), false),
        None => (Key::estimate(&line), true),
    };
    let bars = layout(&line, opts.meter, pickup);
    let text = match format {
        Format::Abc => abc::render(&bars, &key, estimated, opts),
        Format::MusicXml => musicxml::render(&bars, &key, &line, opts),
    };
    Ok(Written {
        text,
        notes: line.len(),
        key,
        estimated,
        merged,
    })
}

/// The upbeat on the grid, less whole bars of `meter`: the pickup bar's length (0 = none).
pub fn pickup_units(upbeat: f64, meter: Meter) -> u64 {
    let bar_len = GRID * u64::from(meter.beats) / u64::from(meter.unit);
    let units = if upbeat.is_finite() && upbeat > 0.0 {
        to_units(upbeat)
    } else {
        0
    };
    units % bar_len
}

/// Refuses a line with a note longer than [`MAX_NOTE_QUARTERS`] or an end past [`MAX_BARS`]
/// bars of `meter` (an upbeat of `pickup` units is a bar of its own), naming the first such
/// note.
fn check_lengths(
    line: &[Placed],
    notes: &[Note],
    meter: Meter,
    pickup: u64,
) -> Result<(), NotationError> {
    let bar_len = GRID * u64::from(meter.beats) / u64::from(meter.unit);
    let longest = u64::from(MAX_NOTE_QUARTERS) * GRID / 4;
    for p in line {
        let source = &notes[p.index];
        if p.note.len > longest {
            // A note that ran into the end of the grid is told as long as it is.
            let quarters = if p.note.end() as f64 >= MAX_UNIT {
                source.duration / UNIT_SECONDS * 4.0 / GRID as f64
            } else {
                p.note.len as f64 * 4.0 / GRID as f64
            };
            return Err(NotationError::NoteTooLong {
                pitch: source.pitch,
                start: source.start,
                quarters,
            });
        }
        let bar = bar_count(p.note.end(), bar_len, pickup);
        if bar > MAX_BARS {
            return Err(NotationError::MelodyTooLong {
                pitch: source.pitch,
                start: source.start,
                bar,
                meter,
            });
        }
    }
    Ok(())
}

/// How many bars hold music up to `end` units: a pickup bar of `pickup` units (when not 0),
/// then whole bars; at least one.
fn bar_count(end: u64, bar_len: u64, pickup: u64) -> u64 {
    match pickup {
        0 => end.div_ceil(bar_len).max(1),
        p if end <= p => 1,
        p => 1 + (end - p).div_ceil(bar_len),
    }
}

/// A note of the one-line melody, on the grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridNote {
    pub pitch: u8,
    /// Onset in grid units.
    pub start: u64,
    /// Length in grid units, at least 1.
    pub len: u64,
    pub velocity: u8,
}

impl GridNote {
    fn end(&self) -> u64 {
        self.start + self.len
    }
}

/// A note of the melody that notation does not write, and the note written in its place.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Merged {
    /// The melody's pitch (before transposition) and onset in seconds.
    pub pitch: u8,
    pub start: f64,
    /// The note written instead: it starts on the same grid unit.
    pub into_pitch: u8,
    pub into_start: f64,
    pub why: MergeReason,
}

/// Why the written note was kept rather than the merged one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeReason {
    /// It sounds longer (up to the next onset).
    Longer,
    /// It sounds as long and is higher: a chord's top note, as tms reads an ABC chord.
    Higher,
    /// The same pitch, as long: a doubled note.
    Same,
}

impl MergeReason {
    fn text(self) -> &'static str {
        match self {
            MergeReason::Longer => "which sounds longer",
            MergeReason::Higher => "which is as long and higher",
            MergeReason::Same => "the same note as long",
        }
    }
}

/// The write report's words about merged notes: the note and the one written in its place
/// when one was merged, else how many, the first three and how many more.
pub fn merged_report(merged: &[Merged]) -> Option<String> {
    const LISTED: usize = 3;
    match merged {
        [] => None,
        [m] => Some(format!(
            "merged away {} at {} s: it starts on the same 1/{GRID} note as {} at {} s, {} \
             (notation writes one line)",
            note_name(m.pitch),
            seconds(m.start),
            note_name(m.into_pitch),
            seconds(m.into_start),
            m.why.text()
        )),
        _ => {
            let mut listed: Vec<String> = merged
                .iter()
                .take(LISTED)
                .map(|m| {
                    format!(
                        "{} at {} s into {}",
                        note_name(m.pitch),
                        seconds(m.start),
                        note_name(m.into_pitch)
                    )
                })
                .collect();
            if merged.len() > LISTED {
                listed.push(format!("and {} more", merged.len() - LISTED));
            }
            Some(format!(
                "merged away {} notes that start on the same 1/{GRID} note as one that sounds \
                 longer, or as long and higher (notation writes one line): {}",
                merged.len(),
                listed.join(", ")
            ))
        }
    }
}

fn to_units(seconds: f64) -> u64 {
    let u = (seconds / UNIT_SECONDS).round();
    if u.is_nan() {
        0
    } else {
        u.clamp(0.0, MAX_UNIT) as u64
    }
}

/// A note of the line and the index of the melody's note it comes from.
#[derive(Clone, Copy, Debug)]
struct Placed {
    note: GridNote,
    index: usize,
}

/// The melody on the grid as one line, with the notes merged away (see the module
/// documentation for the rules).
fn one_line(notes: &[Note], transpose: i32, velocity: Option<u8>) -> (Vec<Placed>, Vec<Merged>) {
    let mut all: Vec<Placed> = notes
        .iter()
        .enumerate()
        .map(|(index, n)| {
            let start = to_units(n.start);
            let end = to_units(n.start + n.duration).max(start + 1);
            let (pitch, velocity) = n.shaped(i64::from(transpose), velocity);
            Placed {
                note: GridNote {
                    pitch,
                    start,
                    len: end - start,
                    velocity,
                },
                index,
            }
        })
        .collect();
    // Stable: notes with one onset stay in the melody's order, so reports follow it.
    all.sort_by_key(|p| p.note.start);
    let mut line: Vec<Placed> = Vec::with_capacity(all.len());
    let mut merged = Vec::new();
    let mut i = 0;
    while i < all.len() {
        let start = all[i].note.start;
        let j = all[i..]
            .iter()
            .position(|p| p.note.start != start)
            .map_or(all.len(), |k| i + k);
        // What a note sounds in one line: up to the next onset.
        let next = all.get(j).map(|p| p.note.start);
        let sounds = |n: &GridNote| next.map_or(n.len, |t| n.len.min(t - n.start));
        let kept = (i..j)
            .max_by_key(|&k| {
                (
                    sounds(&all[k].note),
                    all[k].note.pitch,
                    std::cmp::Reverse(k),
                )
            })
            .unwrap_or(i);
        let (k, kn) = (&notes[all[kept].index], all[kept].note);
        for p in all[i..j].iter().filter(|p| p.index != all[kept].index) {
            let n = &notes[p.index];
            let why = if sounds(&kn) > sounds(&p.note) {
                MergeReason::Longer
            } else if kn.pitch > p.note.pitch {
                MergeReason::Higher
            } else {
                MergeReason::Same
            };
            merged.push(Merged {
                pitch: n.pitch,
                start: n.start,
                into_pitch: k.pitch,
                into_start: k.start,
                why,
            });
        }
        line.push(all[kept]);
        i = j;
    }
    for i in 1..line.len() {
        let next = line[i].note.start;
        let prev = &mut line[i - 1].note;
        if prev.end() > next {
            prev.len = next - prev.start;
        }
    }
    merged.sort_by(|a, b| a.start.total_cmp(&b.start));
    (line, merged)
}

/// The melody on the grid as one line (see the module documentation for the rules).
pub fn quantize(notes: &[Note], transpose: i32, velocity: Option<u8>) -> Vec<GridNote> {
    one_line(notes, transpose, velocity)
        .0
        .into_iter()
        .map(|p| p.note)
        .collect()
}

/// The notes a notation file of `notes` holds, in seconds at 120 BPM: what ABC and MusicXML
/// read back to, and what a MIDI file of a melody already on the grid holds.
pub fn quantized_melody(notes: &[Note], transpose: i32, velocity: Option<u8>) -> Vec<Note> {
    quantize(notes, transpose, velocity)
        .iter()
        .map(|n| Note {
            pitch: n.pitch,
            start: n.start as f64 * UNIT_SECONDS,
            duration: n.len as f64 * UNIT_SECONDS,
            velocity: n.velocity,
        })
        .collect()
}

/// A note or a rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sym {
    Note { pitch: u8, velocity: u8 },
    Rest,
}

/// One written symbol: a single plain or dotted value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Glyph {
    pub sym: Sym,
    /// Written length in ticks ([`TICKS_PER_WHOLE`]).
    pub written: u32,
    /// Sounding length in ticks: `written`, or two thirds of it inside a triplet.
    pub sounding: u32,
    /// Tied to the next glyph.
    pub tie: bool,
    /// The tie from the previous glyph ends here.
    pub tied_from: bool,
    /// Where it starts, in grid units from the bar line.
    pub at: u64,
}

/// A plain glyph, or a triplet group that fills one beat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Plain(Glyph),
    Triplet(Vec<Glyph>),
}

/// One bar: its items, and how long a beat (a beat group in compound meter) is in grid
/// units, for beaming.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bar {
    pub items: Vec<Item>,
    pub beat: u64,
    /// An upbeat: a short first bar, its items placed at the end of a whole one.
    pub pickup: bool,
}

/// Written values, longest first, in ticks: dotted whole, whole, dotted half, half, dotted
/// quarter, quarter, dotted eighth, eighth, dotted sixteenth, sixteenth, thirty-second.
const VALUES: [u32; 11] = [144, 96, 72, 48, 36, 24, 18, 12, 9, 6, 3];

/// A written value's base type name (MusicXML's) and dots.
pub fn value_name(ticks: u32) -> (&'static str, u32) {
    match ticks {
        144 => ("whole", 1),
        96 => ("whole", 0),
        72 => ("half", 1),
        48 => ("half", 0),
        36 => ("quarter", 1),
        24 => ("quarter", 0),
        18 => ("eighth", 1),
        12 => ("eighth", 0),
        9 => ("16th", 1),
        6 => ("16th", 0),
        _ => ("32nd", 0),
    }
}

/// Splits a written length (a multiple of 3 ticks) into values, longest first.
fn values(mut ticks: u32) -> Vec<u32> {
    let mut out = Vec::new();
    while ticks >= 3 {
        let v = VALUES.iter().copied().find(|&v| v <= ticks).unwrap_or(3);
        out.push(v);
        ticks -= v;
    }
    out
}

/// A stretch of one symbol inside a bar, in grid units from the bar line.
#[derive(Clone, Copy, Debug)]
struct Piece {
    sym: Sym,
    start: u64,
    end: u64,
    tied_from: bool,
    tie: bool,
}

/// The line as bars of `meter` after an upbeat of `pickup` units (0 = none; less than a bar):
/// rests fill the gaps and the last bar, notes crossing a bar line or a triplet beat's edge
/// are tied, and every stretch is spelled in written values.
pub fn layout(line: &[GridNote], meter: Meter, pickup: u64) -> Vec<Bar> {
    let bar_len = GRID * u64::from(meter.beats) / u64::from(meter.unit);
    let beat = GRID / u64::from(meter.unit);
    // Beats are felt in threes in compound meters: 6/8 is two dotted quarters.
    let group = if meter.is_compound() { 3 * beat } else { beat };
    let end = line.last().map_or(0, GridNote::end);
    let pickup = pickup % bar_len;
    let bars = bar_count(end, bar_len, pickup);
    // Bar b spans [b0, b1): the pickup bar first, when there is one.
    let span = |b: u64| match (pickup, b) {
        (0, b) => (b * bar_len, (b + 1) * bar_len),
        (p, 0) => (0, p),
        (p, b) => (p + (b - 1) * bar_len, p + b * bar_len),
    };
    let last = span(bars - 1).1;

    // The whole timeline as pieces, rests included.
    let mut timeline = Vec::with_capacity(line.len() * 2 + 1);
    let mut t = 0;
    for n in line {
        if n.start > t {
            timeline.push((Sym::Rest, t, n.start));
        }
        let sym = Sym::Note {
            pitch: n.pitch,
            velocity: n.velocity,
        };
        timeline.push((sym, n.start, n.end()));
        t = n.end();
    }
    if last > t {
        timeline.push((Sym::Rest, t, last));
    }

    let mut out = Vec::with_capacity(bars as usize);
    let mut k = 0;
    for b in 0..bars {
        let (b0, b1) = span(b);
        // A pickup bar is laid out as the end of a whole bar, so its beats are the meter's.
        let pad = bar_len - (b1 - b0);
        let mut pieces = Vec::new();
        while k < timeline.len() && timeline[k].1 < b1 {
            let (sym, s, e) = timeline[k];
            let is_note = sym != Sym::Rest;
            pieces.push(Piece {
                sym,
                start: s.max(b0) - b0 + pad,
                end: e.min(b1) - b0 + pad,
                tied_from: is_note && s < b0,
                tie: is_note && e > b1,
            });
            if e > b1 {
                break;
            }
            k += 1;
        }
        let mut bar = lay_bar(&pieces, bar_len, beat, group);
        bar.pickup = pad > 0;
        out.push(bar);
    }
    out
}

/// One bar's pieces as items: beats with anything off the sixteenth grid become triplets, and
/// a note that starts off the beat is tied at the next beat (or beat group in compound meter)
/// so the beat stays visible.
fn lay_bar(pieces: &[Piece], bar_len: u64, beat: u64, felt: u64) -> Bar {
    let beats = (bar_len / beat) as usize;
    let mut triplet = vec![false; beats];
    for p in pieces {
        for edge in [p.start, p.end] {
            if edge % 3 != 0 && edge < bar_len {
                triplet[(edge / beat) as usize] = true;
            }
        }
    }
    let mut items: Vec<Item> = Vec::new();
    let mut group: Vec<Glyph> = Vec::new();
    let mut group_beat = usize::MAX;
    for p in pieces {
        // Cut at the edges of triplet beats, so a stretch is wholly inside one or outside all.
        let mut cuts = vec![p.start];
        for (i, _) in triplet.iter().enumerate().filter(|(_, t)| **t) {
            for edge in [i as u64 * beat, (i as u64 + 1) * beat] {
                if edge > p.start && edge < p.end {
                    cuts.push(edge);
                }
            }
        }
        let next_group = p.start.next_multiple_of(felt);
        if next_group > p.start && next_group < p.end {
            cuts.push(next_group);
        }
        cuts.sort_unstable();
        cuts.dedup();
        cuts.push(p.end);
        let is_note = p.sym != Sym::Rest;
        for (j, w) in cuts.windows(2).enumerate() {
            let (s, e) = (w[0], w[1]);
            let first = j == 0;
            let last = j + 2 == cuts.len();
            let b = (s / beat) as usize;
            let in_triplet = triplet[b];
            let written = if in_triplet { 3 * (e - s) } else { 2 * (e - s) };
            let vs = values(written as u32);
            let mut at = s;
            for (m, &v) in vs.iter().enumerate() {
                let sounding = if in_triplet { v * 2 / 3 } else { v };
                let g = Glyph {
                    sym: p.sym,
                    written: v,
                    sounding,
                    tie: is_note && (m + 1 < vs.len() || !last || p.tie),
                    tied_from: is_note && (m > 0 || !first || p.tied_from),
                    at,
                };
                at += u64::from(sounding) / 2;
                if in_triplet {
                    if group_beat != b && !group.is_empty() {
                        items.push(Item::Triplet(std::mem::take(&mut group)));
                    }
                    group_beat = b;
                    group.push(g);
                } else {
                    if !group.is_empty() {
                        items.push(Item::Triplet(std::mem::take(&mut group)));
                    }
                    items.push(Item::Plain(g));
                }
            }
        }
    }
    if !group.is_empty() {
        items.push(Item::Triplet(group));
    }
    Bar {
        items,
        beat: felt,
        pickup: false,
    }
}

/// A pitch as written: letter (0 = C … 6 = B), alteration in semitones, octave (4 holds
/// middle C).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spelled {
    pub letter: usize,
    pub alter: i8,
    pub octave: i32,
}

/// The letter of a spelled note (`Spelled::letter` indexes C to B).
pub fn letter(index: usize) -> char {
    crate::music::pitch::LETTERS[index].0
}

/// Which accidentals a bar has shown so far, to decide where the next one is needed.
pub struct BarAccidentals {
    key: [i8; 7],
    /// The last accidental per letter and octave, as standard notation and ABC 2.1 count.
    shown: HashMap<(usize, i32), i8>,
    /// The last accidental per letter in any octave, as abc2midi counts.
    shown_letter: HashMap<usize, i8>,
}

impl BarAccidentals {
    pub fn new(key: &Key) -> Self {
        BarAccidentals {
            key: key.signature(),
            shown: HashMap::new(),
            shown_letter: HashMap::new(),
        }
    }

    /// A bar line: accidentals end.
    pub fn bar(&mut self) {
        self.shown.clear();
        self.shown_letter.clear();
    }

    /// The accidental to show on `s`, if any. Standard notation shows one where the
    /// alteration differs from what the key and the bar's earlier accidentals (same letter and
    /// octave) imply. `for_every_reader` shows more, so that ABC readers that disagree read the
    /// same pitch: one on every note outside the key (music21 and the Essen collection apply
    /// an accidental to its own note only) and one wherever an accidental earlier in the bar
    /// on the same letter in another octave would change it (abc2midi carries accidentals
    /// across octaves).
    pub fn show(&mut self, s: &Spelled, for_every_reader: bool) -> Option<i8> {
        let key = self.key[s.letter];
        let implied = self
            .shown
            .get(&(s.letter, s.octave))
            .copied()
            .unwrap_or(key);
        let any_octave = self.shown_letter.get(&s.letter).copied().unwrap_or(key);
        let needed =
            s.alter != implied || (for_every_reader && (s.alter != key || s.alter != any_octave));
        if needed {
            self.mark(s);
            Some(s.alter)
        } else {
            None
        }
    }

    /// `s` is shown with its accidental whether or not it was needed.
    pub fn mark(&mut self, s: &Spelled) {
        self.shown.insert((s.letter, s.octave), s.alter);
        self.shown_letter.insert(s.letter, s.alter);
    }
}

/// Seconds per whole note to written tempo: the tempo as text, without a needless `.0`.
pub fn tempo_text(bpm: f64) -> String {
    let bpm = if bpm.is_finite() && bpm > 0.0 {
        bpm
    } else {
        120.0
    };
    crate::ground::text::fmt_number(bpm)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(pitch: u8, start: f64, duration: f64) -> Note {
        Note {
            pitch,
            start,
            duration,
            velocity: 80,
        }
    }

    #[test]
    fn formats_by_extension() {
        assert_eq!(Format::of_path("out/a.abc"), Some(Format::Abc));
        assert_eq!(Format::of_path("A.ABC"), Some(Format::Abc));
        assert_eq!(Format::of_path("a.musicxml"), Some(Format::MusicXml));
        assert_eq!(Format::of_path("a.xml"), Some(Format::MusicXml));
        assert_eq!(Format::of_path("a.mid"), None);
        assert_eq!(Format::of_path("abc"), None);
    }

    #[test]
    fn quantize_rounds_to_the_grid_and_keeps_one_line() {
        let unit = 2.0 / 48.0;
        let notes = [
            note(60, 0.01, 0.49),  // a quarter, slightly off
            note(64, 0.5, 0.5),    // chord: the top note stays
            note(67, 0.5, 0.25),   //
            note(62, 0.75, 0.5),   // cuts the chord's top note at 0.75
            note(65, 2.0, 0.0001), // too short: one unit
        ];
        let line = quantize(&notes, 0, None);
        let got: Vec<(u8, u64, u64)> = line.iter().map(|n| (n.pitch, n.start, n.len)).collect();
        assert_eq!(
            got,
            vec![(60, 0, 12), (67, 12, 6), (62, 18, 12), (65, 48, 1)]
        );
        let q = quantized_melody(&notes, 2, Some(100));
        assert_eq!(q[0].pitch, 62);
        assert_eq!(q[0].velocity, 100);
        assert!((q[3].duration - unit).abs() < 1e-12);
    }

    #[test]
    fn a_shared_onset_keeps_the_note_that_sounds_longest() {
        // D4 G4/50 E4*4 F4: the grace-like G4 and the long E4 both round to unit 12.
        let notes = [
            note(62, 0.0, 0.5),
            note(67, 0.5, 0.01),
            note(64, 0.51, 2.0),
            note(65, 2.51, 0.5),
        ];
        let got: Vec<(u8, u64, u64)> = quantize(&notes, 0, None)
            .iter()
            .map(|n| (n.pitch, n.start, n.len))
            .collect();
        assert_eq!(got, vec![(62, 0, 12), (64, 12, 48), (65, 60, 12)]);
        let w = write(Format::Abc, &notes, &Options::default()).unwrap();
        assert_eq!(w.notes, 3);
        assert_eq!(
            w.merged,
            vec![Merged {
                pitch: 67,
                start: 0.5,
                into_pitch: 64,
                into_start: 0.51,
                why: MergeReason::Longer,
            }]
        );
        assert_eq!(
            w.merged_report().unwrap(),
            "merged away G4 at 0.5 s: it starts on the same 1/48 note as E4 at 0.51 s, which \
             sounds longer (notation writes one line)"
        );
        // Transposition writes other pitches; the report names the melody's own.
        let up = write(
            Format::Abc,
            &notes,
            &Options {
                transpose: 12,
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(up.merged[0].pitch, 67);
    }

    #[test]
    fn chords_keep_the_longest_then_the_highest_and_say_so() {
        // C4+E4+G4, then D4*2+F4 (D sounds longer), then a doubled A4.
        let notes = [
            note(60, 0.0, 0.5),
            note(64, 0.0, 0.5),
            note(67, 0.0, 0.5),
            note(62, 0.5, 1.0),
            note(65, 0.5, 0.5),
            note(69, 1.5, 0.5),
            note(69, 1.5, 0.5),
            note(71, 2.0, 0.5),
            note(72, 2.0, 0.5),
        ];
        let got: Vec<(u8, u64)> = quantize(&notes, 0, None)
            .iter()
            .map(|n| (n.pitch, n.len))
            .collect();
        assert_eq!(got, vec![(67, 12), (62, 24), (69, 12), (72, 12)]);
        let w = write(Format::MusicXml, &notes, &Options::default()).unwrap();
        let why: Vec<(u8, MergeReason)> = w.merged.iter().map(|m| (m.pitch, m.why)).collect();
        assert_eq!(
            why,
            vec![
                (60, MergeReason::Higher),
                (64, MergeReason::Higher),
                (65, MergeReason::Longer),
                (69, MergeReason::Same),
                (71, MergeReason::Higher),
            ]
        );
        assert_eq!(
            w.merged_report().unwrap(),
            "merged away 5 notes that start on the same 1/48 note as one that sounds longer, \
             or as long and higher (notation writes one line): C4 at 0 s into G4, E4 at 0 s \
             into G4, F4 at 0.5 s into D4, and 2 more"
        );
        assert_eq!(merged_report(&[]), None);
    }

    #[test]
    fn what_sounds_is_measured_up_to_the_next_onset() {
        // Both notes at unit 0 are cut at unit 6 by the next note: as long, so the higher stays.
        let notes = [note(60, 0.0, 2.0), note(64, 0.0, 0.5), note(62, 0.25, 0.5)];
        let w = write(Format::Abc, &notes, &Options::default()).unwrap();
        assert_eq!(w.merged[0].pitch, 60);
        assert_eq!(w.merged[0].why, MergeReason::Higher);
    }

    #[test]
    fn notes_longer_than_64_quarters_are_refused_before_layout() {
        let opts = Options::default();
        // 64 quarter notes (32 s) are written: 16 tied bars.
        let w = write(Format::Abc, &[note(60, 0.0, 32.0)], &opts).unwrap();
        assert_eq!(w.text.matches('|').count(), 16, "{}", w.text);
        let refused = |notes: &[Note]| write(Format::MusicXml, notes, &opts).unwrap_err();
        assert_eq!(
            refused(&[note(62, 0.0, 0.5), note(60, 0.5, 32.5)]).to_string(),
            "cannot write notation: C4 at 0.5 s lasts 65 quarter notes; notation writes notes \
             of at most 64 quarter notes"
        );
        // A 4-hour note, and one as long as f64 allows: no bars are allocated for either.
        for long in [4.0 * 3600.0, f64::MAX, f64::INFINITY] {
            assert!(matches!(
                refused(&[note(67, 1.0, long)]),
                NotationError::NoteTooLong {
                    pitch: 67,
                    start: 1.0,
                    ..
                }
            ));
        }
        // A long note cut short by the next one is written as what sounds.
        let cut = [note(60, 0.0, 100.0), note(62, 1.0, 0.5)];
        assert_eq!(write(Format::Abc, &cut, &opts).unwrap().notes, 2);
    }

    #[test]
    fn melodies_past_1000_bars_are_refused_naming_the_note() {
        let opts = Options::default();
        // The last note of bar 1000 of 4/4 (a bar is 2 s) is written; one after it is not.
        let last = [note(60, 0.0, 0.5), note(64, 1998.0, 2.0)];
        assert!(write(Format::Abc, &last, &opts).is_ok());
        let past = [
            note(60, 0.0, 0.5),
            note(64, 1999.0, 1.0),
            note(65, 2000.0, 0.5),
        ];
        assert_eq!(
            write(Format::Abc, &past, &opts).unwrap_err().to_string(),
            "cannot write notation: the melody is too long, F4 at 2000 s ends in bar 1001 of \
             4/4; notation writes at most 1000 bars"
        );
        // Bars are the meter's: 3/8 bars are 0.75 s.
        let eighths = Options {
            meter: Meter::parse("3/8").unwrap(),
            ..Options::default()
        };
        let far = [note(72, 1e6, 0.5)];
        assert_eq!(
            write(Format::Abc, &far, &eighths).unwrap_err(),
            NotationError::MelodyTooLong {
                pitch: 72,
                start: 1e6,
                bar: 1333334,
                meter: eighths.meter,
            }
        );
    }

    fn lengths(bar: &Bar) -> Vec<String> {
        let one = |g: &Glyph| {
            let s = match g.sym {
                Sym::Rest => "z".to_string(),
                Sym::Note { pitch, .. } => pitch.to_string(),
            };
            format!("{s}:{}{}", g.written, if g.tie { "-" } else { "" })
        };
        bar.items
            .iter()
            .map(|i| match i {
                Item::Plain(g) => one(g),
                Item::Triplet(gs) => {
                    format!("3({})", gs.iter().map(one).collect::<Vec<_>>().join(" "))
                }
            })
            .collect()
    }

    #[test]
    fn bars_ties_and_rests() {
        // 4/4: a dotted half, then a half tied over the bar line, then a rest to the end.
        let line = [
            GridNote {
                pitch: 60,
                start: 0,
                len: 36,
                velocity: 90,
            },
            GridNote {
                pitch: 62,
                start: 36,
                len: 24,
                velocity: 90,
            },
        ];
        let bars = layout(&line, Meter::default(), 0);
        assert_eq!(bars.len(), 2);
        assert_eq!(lengths(&bars[0]), vec!["60:72", "62:24-"]);
        assert_eq!(lengths(&bars[1]), vec!["62:24", "z:72"]);
    }

    #[test]
    fn triplets_fill_their_beat_only() {
        // Three triplet eighths, then a quarter and a half.
        let mut line = Vec::new();
        for (i, p) in [60, 62, 64].iter().enumerate() {
            line.push(GridNote {
                pitch: *p,
                start: 4 * i as u64,
                len: 4,
                velocity: 90,
            });
        }
        line.push(GridNote {
            pitch: 65,
            start: 12,
            len: 36,
            velocity: 90,
        });
        let bars = layout(&line, Meter::default(), 0);
        assert_eq!(lengths(&bars[0]), vec!["3(60:12 62:12 64:12)", "65:72"]);
        // A note from inside a triplet beat into the next is cut at the beat and tied.
        let line = [
            GridNote {
                pitch: 60,
                start: 0,
                len: 8,
                velocity: 90,
            },
            GridNote {
                pitch: 62,
                start: 8,
                len: 16,
                velocity: 90,
            },
        ];
        let bars = layout(&line, Meter::default(), 0);
        assert_eq!(lengths(&bars[0]), vec!["3(60:24 62:12-)", "62:24", "z:48"]);
    }

    #[test]
    fn an_upbeat_is_a_short_first_bar_at_the_end_of_a_whole_one() {
        // 3/4 with a quarter upbeat: C4 | E4*2 G4 | E4*3, nothing tied.
        let line: Vec<GridNote> = [(60, 0, 12), (64, 12, 24), (67, 36, 12), (64, 48, 36)]
            .iter()
            .map(|&(pitch, start, len)| GridNote {
                pitch,
                start,
                len,
                velocity: 90,
            })
            .collect();
        let three = Meter::parse("3/4").unwrap();
        let bars = layout(&line, three, 12);
        assert_eq!(bars.len(), 3);
        assert!(bars[0].pickup && !bars[1].pickup);
        assert_eq!(lengths(&bars[0]), vec!["60:24"]);
        let Item::Plain(upbeat) = &bars[0].items[0] else {
            panic!("a plain quarter")
        };
        assert_eq!(upbeat.at, 24, "the upbeat sits on the bar's third beat");
        assert_eq!(lengths(&bars[1]), vec!["64:48", "67:24"]);
        assert_eq!(lengths(&bars[2]), vec!["64:72"]);
        // Without the upbeat every note after the first crosses a bar line.
        let flat = layout(&line, three, 0);
        assert_eq!(lengths(&flat[0]), vec!["60:24", "64:48"]);
        assert_eq!(lengths(&flat[1]), vec!["67:24", "64:48-"]);
        // An upbeat of whole bars and a quarter is the same quarter.
        assert_eq!(pickup_units(0.5 + 1.5, three), 12);
        assert_eq!(pickup_units(1.5, three), 0);
        let w = write(
            Format::MusicXml,
            &quantized_melody(&[note(60, 0.0, 0.5), note(64, 0.5, 1.0)], 0, None),
            &Options {
                meter: three,
                upbeat: 0.5,
                ..Options::default()
            },
        )
        .unwrap();
        assert!(w.text.contains("<measure number=\"0\" implicit=\"yes\">"));
        assert!(w.text.contains("<measure number=\"1\">"));
    }

    #[test]
    fn compound_meter_bars() {
        let line = [GridNote {
            pitch: 67,
            start: 0,
            len: 36,
            velocity: 90,
        }];
        let bars = layout(&line, Meter::parse("6/8").unwrap(), 0);
        assert_eq!(bars.len(), 1);
        assert_eq!(lengths(&bars[0]), vec!["67:72"]);
    }

    #[test]
    fn accidentals_against_key_and_bar() {
        let key = Key::from_scale(&Scale::parse("D major").unwrap(), 0);
        let mut acc = BarAccidentals::new(&key);
        let f = |alter| Spelled {
            letter: 3,
            alter,
            octave: 4,
        };
        assert_eq!(acc.show(&f(1), false), None); // F# is in the key
        assert_eq!(acc.show(&f(0), false), Some(0)); // F natural
        assert_eq!(acc.show(&f(0), false), None); // still natural in this bar
        assert_eq!(acc.show(&f(0), true), Some(0)); // repeated for every reader
        assert_eq!(acc.show(&f(1), false), Some(1)); // back to F#
        acc.bar();
        assert_eq!(acc.show(&f(1), true), None);
        // F natural in octave 5 does not change F in octave 4 for standard readers, but an
        // ABC reader that carries it across octaves needs F# marked again.
        let f5 = Spelled {
            letter: 3,
            alter: 0,
            octave: 5,
        };
        assert_eq!(acc.show(&f5, true), Some(0));
        assert_eq!(acc.show(&f(1), false), None);
        assert_eq!(acc.show(&f(1), true), Some(1));
    }
}
