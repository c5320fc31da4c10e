//! Commands on melodies and datasets: loading, primers, viewing, writing files, each a
//! type and its row beside its parser. The session's dataset and melody carry them out.

use std::fmt;
use std::path::Path;

use super::{extension, Args, CommandSpec, Misuse, Num, Opt, Quoted, Replay, MIDI_ABC, Q};
use crate::error::{Error, ErrorKind};
use crate::fsio::Role;
use crate::ground::span::{Span, Spanned};
use crate::ground::text::{quote, suggest};
use crate::lang::lexer::TokenKind;
use crate::lang::Command;

/// `load "GLOB" [limit N] [where FIELD ~ "TEXT"]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Load {
    pub glob: Spanned<String>,
    pub limit: Option<usize>,
    pub filter: Option<Filter>,
}

/// `load ... where FIELD ~ "TEXT"`.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub field: Spanned<String>,
    pub text: String,
}

impl fmt::Display for Load {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "load {}{}", Q(&self.glob), Opt("limit", &self.limit))?;
        if let Some(flt) = &self.filter {
            write!(f, " where {} ~ {}", flt.field.value, Q(&flt.text))?;
        }
        Ok(())
    }
}

impl Load {
    pub const ROW: CommandSpec = CommandSpec {
        name: "load",
        usage: "load \"GLOB\" [limit N] [where FIELD ~ \"TEXT\"]",
        summary: "read .mid/.midi/.abc files into the dataset (replacing it)",
        details: "MIDI files give the notes of their first instrument, as pretty_midi reads them. Each X: tune of an ABC file is one tune. `where` keeps ABC tunes whose header field (title, origin, notes, rhythm, key, meter) contains TEXT, case-insensitive. Bad files are reported one line each; the rest still load. `FILE.abc#X` loads the one tune numbered X.",
        example: "load \"datasets/essen/han*.abc\" where notes ~ \"Zang\"",
        words: &["limit", "where", "title", "origin", "notes", "rhythm", "key", "meter"],
        quoted: MIDI_ABC,
        words_at: &[],
        history: Replay::Always,
        parse: p_load,};
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
                let suggestion = suggest(&lower, crate::music::note::TuneFields::NAMES);
                let name = field.value;
                return Err(a.error(field.span, Misuse::UnknownField { name, suggestion }));
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
    a.finish(Load {
        glob,
        limit,
        filter,
    })
}

bare!(
    /// `dataset`
    Dataset
);

impl Dataset {
    pub const ROW: CommandSpec = CommandSpec {
        name: "dataset",
        usage: "dataset",
        summary: "summary of the loaded data: tunes, notes, pitch histogram, step/duration stats",
        details: "",
        example: "dataset",
        words: &[],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::Never,
        parse: |a| a.finish(Dataset),
    };
}

/// `export "FILE.csv" [positions]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Export {
    pub path: Spanned<String>,
    /// A seventh column, `position`: each note's place in its bar as a model with
    /// `position on` reads it (the PyTorch twin reads it from here).
    pub positions: bool,
}

impl fmt::Display for Export {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "export {}", Q(&self.path))?;
        if self.positions {
            write!(f, " positions")?;
        }
        Ok(())
    }
}

impl Export {
    pub const ROW: CommandSpec = CommandSpec {
        name: "export",
        usage: "export \"FILE.csv\" [positions]",
        summary: "write the dataset's notes as CSV (source,pitch,start,step,duration,velocity)",
        details: "One row per note, tune by tune, notes sorted by start then pitch; times in seconds. `positions` adds a column `position`: each note's place in its bar as a model with `position on` reads it (beat × 13 + twelfth of the beat; 12 for off the twelfths; 156 where the tune has no meter).",
        example: "export \"notes.csv\"",
        words: &["positions"],
        quoted: Quoted::Files(&[Role::Table]),
        words_at: &[],
        history: Replay::Always,
        parse: p_export,};
}

fn p_export(a: &mut Args) -> Result<Command, Error> {
    let path = a.string("a quoted file name such as \"notes.csv\"")?;
    let positions = a.keyword("positions");
    a.finish(Export { path, positions })
}

/// `prime "FILE" [last N]` or `prime notes "NOTES"`.
#[derive(Clone, Debug, PartialEq)]
pub enum Prime {
    File {
        path: Spanned<String>,
        last: Option<usize>,
    },
    Notes {
        notes: Spanned<String>,
    },
}

impl fmt::Display for Prime {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Prime::File { path, last } => write!(f, "prime {}{}", Q(path), Opt("last", last)),
            Prime::Notes { notes } => write!(f, "prime notes {}", Q(notes)),
        }
    }
}

impl Prime {
    pub const ROW: CommandSpec = CommandSpec {
        name: "prime",
        usage: "prime \"FILE\" [last N] | prime notes \"NOTES\"",
        summary: "the primer melody: the last N notes of a file, or notes written inline",
        details: "Inline notes: names with octave (C4 = middle C), `/n` and `*n` scale a quarter note, `r` is a rest; a note or rest lasts at most 64 quarter notes (`*64`). N defaults to seq_len. A file's bars come with it: its meter (ABC `M:`, a MIDI time signature) becomes `meter`, and its bar lines stay where they were, so a tune with an upbeat, or a primer cut mid-bar, starts with the rest of its first bar.",
        example: "prime notes \"C4 D4/2 E4*2 r G4\"",
        words: &["notes", "last"],
        quoted: MIDI_ABC,
        words_at: &[],
        history: Replay::Always,
        parse: p_prime,};
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
            return Err(Error::new(span, e.into()));
        }
        return a.finish(Prime::Notes { notes });
    }
    let path = a.string("a quoted MIDI or ABC file, or `notes`")?;
    let mut last = None;
    a.options(&["last"], |_, a| {
        last = Some(a.integer("a note count", 1, u32::MAX as u64)?.value as usize);
        Ok(())
    })?;
    a.finish(Prime::File { path, last })
}

bare!(
    /// `show`
    Show
);

impl Show {
    pub const ROW: CommandSpec = CommandSpec {
        name: "show",
        usage: "show",
        summary: "the current melody as a piano roll",
        details: "",
        example: "show",
        words: &[],
        quoted: Quoted::Paths,
        words_at: &[],
        history: Replay::Never,
        parse: |a| a.finish(Show),
    };
}

fn program_arg(a: &mut Args) -> Result<u8, Error> {
    if let Some(name) = a.opt_string() {
        return crate::music::gm::program_by_name(&name).map_err(|suggestion| {
            let kind = ErrorKind::UnknownProgram {
                name: name.value.clone(),
                suggestion,
            };
            Error::new(name.span, kind)
        });
    }
    Ok(
        a.integer("a program number 0–127 or a quoted name", 0, 127)?
            .value as u8,
    )
}

/// `write "FILE" [program NAME|N] [tempo BPM]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Write {
    pub path: Spanned<String>,
    pub program: Option<u8>,
    pub tempo: Option<f64>,
}

impl fmt::Display for Write {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        // The program by name, as musicians write it: `program "Shakuhachi"`, not `program 77`.
        let program = self
            .program
            .map(|p| quote(crate::music::gm::GM_PROGRAMS[usize::from(p)]));
        write!(
            f,
            "write {}{}{}",
            Q(&self.path),
            Opt("program", &program),
            Opt("tempo", &self.tempo.map(Num))
        )
    }
}

impl Write {
    pub const ROW: CommandSpec = CommandSpec {
        name: "write",
        usage: "write \"FILE.mid\" [program NAME|N] [tempo BPM]",
        summary: "write the current melody; the extension picks the format: .mid/.midi MIDI, .abc or .musicxml/.xml notation, .wav audio",
        details: "A .wav is rendered as `render` does, with the default SoundFont; any other extension is refused. Program names are the 128 General MIDI names, case-insensitive. Notation has bars of `meter` where the melody has them (an upbeat is a short first bar), the key of the scale its notes were generated in, else of `scale`, else estimated, times on a 1/48-note grid, and one line: of notes starting together on the grid, the one that sounds longest (then the highest, the top of a chord); the report names the notes merged away. Notation holds notes of at most 64 quarter notes and at most 1000 bars; MIDI has no such limit. MIDI holds `meter` as its time signature, an upbeat as a short first one.",
        example: "write \"out/tune.mid\" program \"Acoustic Grand Piano\"",
        words: &["program", "tempo"],
        quoted: Quoted::Files(&[Role::Written]),
        words_at: &[],
        history: Replay::Always,
        parse: p_write,};
}

fn p_write(a: &mut Args) -> Result<Command, Error> {
    let path = a.string("a quoted file name such as \"out.mid\"")?;
    // The name says the format: MIDI bytes in `tune.wav` or `x.txt` mislead every program
    // that opens it.
    let ext = extension(&path.value);
    if !ext
        .as_deref()
        .is_some_and(|e| Role::Written.extensions().contains(&e))
    {
        return Err(a.error(path.span, Misuse::WriteExtension));
    }
    let (mut program, mut tempo) = (None, None);
    a.options(&["program", "tempo"], |name, a| {
        match name {
            "program" => program = Some(program_arg(a)?),
            _ => tempo = Some(a.number("a tempo in BPM", 10.0, 960.0)?.value),
        }
        Ok(())
    })?;
    a.finish(Write {
        path,
        program,
        tempo,
    })
}

/// `render "FILE.wav" [soundfont "FILE.sf2"] [rate HZ]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Render {
    pub path: Spanned<String>,
    pub soundfont: Option<Spanned<String>>,
    pub rate: Option<u32>,
}

impl fmt::Display for Render {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "render {}{}{}",
            Q(&self.path),
            Opt("soundfont", &self.soundfont.as_ref().map(|s| quote(s))),
            Opt("rate", &self.rate)
        )
    }
}

impl Render {
    pub const ROW: CommandSpec = CommandSpec {
        name: "render",
        usage: "render \"FILE.wav\" [soundfont \"FILE.sf2\"] [rate HZ]",
        summary: "audio of the current melody through a SoundFont",
        details: "Without `soundfont`, looks in /usr/share/sounds/sf2 (FluidR3_GM, then TimGM6mb).",
        example: "render \"out/tune.wav\"",
        words: &["soundfont", "rate"],
        quoted: Quoted::Files(&[Role::Audio, Role::SoundFont]),
        words_at: &[],
        history: Replay::Always,
        parse: p_render,
    };
}

fn p_render(a: &mut Args) -> Result<Command, Error> {
    let path = a.string("a quoted file name such as \"out.wav\"")?;
    // tms writes WAV only: a `.mp3` name would hold WAV bytes and mislead every player.
    if !Role::Audio.names(Path::new(&path.value)) {
        return Err(a.error(path.span, Misuse::RenderExtension));
    }
    let (mut soundfont, mut rate) = (None, None);
    a.options(&["soundfont", "rate"], |name, a| {
        match name {
            "soundfont" => soundfont = Some(a.string("a quoted .sf2 file")?),
            _ => rate = Some(a.integer("a sample rate", 8000, 192_000)?.value as u32),
        }
        Ok(())
    })?;
    a.finish(Render {
        path,
        soundfont,
        rate,
    })
}
