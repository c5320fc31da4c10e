//! Session commands about melodies and files: load, dataset, export, prime, show, write,
//! render.

use crate::{say, say_raw};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::Session;
use crate::error::{Error, ErrorKind};
use crate::fsio;
use crate::ground::span::{Span, Spanned};
use crate::lang::commands::{data as cmd, Handle};
use crate::music::abc::Accidentals;
use crate::music::dataset::{self, Filter, TuneError};
use crate::music::grid::Grid;
use crate::music::midi::{write_midi, WriteOptions};
use crate::music::note::{Note, Tune};
use crate::music::{notation, notes_text, pianoroll, stats};

/// The dataset: what `load` read, and what training and evaluation hold to while it stays.
#[derive(Default)]
pub(super) struct State {
    pub tunes: Vec<Tune>,
    /// Seed of the validation split, drawn when the dataset is loaded, so that every `train`
    /// and `evaluate` on that dataset holds out the same tunes.
    pub split_seed: u64,
    /// The grid of the dataset ([`crate::music::grid::of_data`]): what a model trained on
    /// it records, and what `grid auto` uses for a model that records none.
    pub grid: Option<Grid>,
}

impl Handle<cmd::Load> for Session {
    fn handle(&mut self, cmd: &cmd::Load, _: Span) -> Result<(), Error> {
        let cmd::Load {
            glob,
            limit,
            filter,
        } = cmd;
        let filter = filter.as_ref().map(|f| Filter {
            field: &f.field.value,
            text: &f.text,
        });
        let report = self.load_glob(&glob.value, *limit, filter.as_ref(), glob.span)?;
        if report.tunes.is_empty() {
            let kind = match filter {
                Some(f) => ErrorKind::NoTunesMatched {
                    files: report.files,
                    field: f.field.into(),
                    text: f.text.into(),
                },
                None => ErrorKind::NoTunesLoaded {
                    glob: glob.value.clone(),
                },
            };
            return Err(Error::new(glob.span, kind));
        }
        self.data.tunes = report.tunes;
        self.dataset_changed();
        Ok(())
    }
}

impl Handle<cmd::Dataset> for Session {
    fn handle(&mut self, _: &cmd::Dataset, span: Span) -> Result<(), Error> {
        if self.data.tunes.is_empty() {
            return Err(Error::new(span, ErrorKind::NoDataset));
        }
        say_raw!(
            self,
            "{}",
            stats::summary(&self.data.tunes, self.color, crate::out::term_width())
        );
        Ok(())
    }
}

impl Handle<cmd::Export> for Session {
    fn handle(&mut self, cmd: &cmd::Export, span: Span) -> Result<(), Error> {
        let cmd::Export { path, positions } = cmd;
        if self.data.tunes.is_empty() {
            return Err(Error::new(span, ErrorKind::NoDataset));
        }
        let csv = if *positions {
            let classes: Vec<Vec<i64>> = self
                .data
                .tunes
                .iter()
                .map(|t| {
                    crate::model::position::Frame::of_tune(t)
                        .classes(&t.notes)
                        .0
                })
                .collect();
            dataset::to_csv_with(&self.data.tunes, Some(("position", &classes)))
        } else {
            dataset::to_csv(&self.data.tunes)
        };
        fsio::write(Path::new(&path.value), csv.as_bytes())
            .map_err(|reason| cannot_write(path, reason))?;
        let notes: usize = self.data.tunes.iter().map(|t| t.notes.len()).sum();
        say!(
            self,
            "wrote {} of {} to {}",
            count(notes, "note"),
            count(self.data.tunes.len(), "tune"),
            path.value
        );
        Ok(())
    }
}

impl Handle<cmd::Prime> for Session {
    fn handle(&mut self, cmd: &cmd::Prime, _: Span) -> Result<(), Error> {
        match cmd {
            cmd::Prime::File { path, last } => {
                let tune = read_one_tune(&path.value, self.settings.abc_accidentals)
                    .map_err(|e| Error::new(path.span, e.into()))?;
                let n = last.unwrap_or(self.settings.seq_len as usize);
                let skip = tune.notes.len().saturating_sub(n);
                let t0 = tune.notes.get(skip).map_or(0.0, |n| n.start);
                let notes = shift_to_zero(&tune.notes[skip..]);
                // The tune's meter is the one to continue and write it in.
                let mut said = Vec::new();
                if let Some(m) = tune.bars.meter.filter(|&m| m != self.settings.meter) {
                    self.settings.meter = m;
                    self.stage_setting_changed(crate::settings::SettingId::Meter);
                    said.push(format!("meter {m} from the tune"));
                }
                let bars = tune.bars.from(t0, self.settings.meter);
                if bars.upbeat > 0.0 {
                    said.push(format!("upbeat {}", note_value(bars.upbeat)));
                }
                say!(
                    self,
                    "primer: {} from {} ({:.1} s{})",
                    count(notes.len(), "note"),
                    tune.source,
                    notes.last().map_or(0.0, Note::end),
                    said.iter().map(|s| format!("; {s}")).collect::<String>()
                );
                self.set_melody(notes);
                self.voice.bars = bars;
                self.sync_live_shape();
                Ok(())
            }
            cmd::Prime::Notes { notes } => {
                // Never empty: a text of no notes is `NotesProblem::NoNotes`.
                let parsed = notes_text::parse_notes(&notes.value, 100)
                    .map_err(|e| Error::new(notes.span, e.into()))?;
                say!(self, "primer: {}", count(parsed.len(), "note"));
                self.set_melody(parsed);
                Ok(())
            }
        }
    }
}

impl Handle<cmd::Show> for Session {
    fn handle(&mut self, _: &cmd::Show, span: Span) -> Result<(), Error> {
        self.need_melody(span)?;
        let color = self.color && std::io::stdout().is_terminal();
        say_raw!(
            self,
            "{}",
            pianoroll::render(
                &self.voice.melody,
                self.voice.primer_len,
                crate::out::term_width(),
                color
            )
        );
        Ok(())
    }
}

impl Handle<cmd::Write> for Session {
    fn handle(&mut self, cmd: &cmd::Write, span: Span) -> Result<(), Error> {
        let cmd::Write {
            path,
            program,
            tempo,
        } = cmd;
        self.need_melody(span)?;
        let is_wav = Path::new(&path.value)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
        if is_wav {
            let opts = crate::render::RenderOptions {
                soundfont: None,
                rate: 44_100,
                program: program.unwrap_or(self.settings.program as u8),
                velocity: self.velocity_override(),
                transpose: self.settings.transpose as i32,
                tempo_bpm: tempo.unwrap_or(self.settings.tempo),
            };
            return self.render(&path.value, &opts, path.span);
        }
        let opts = WriteOptions {
            program: program.unwrap_or(self.settings.program as u8),
            tempo_bpm: tempo.unwrap_or(self.settings.tempo),
            channel: (self.settings.channel - 1) as u8,
            velocity: self.velocity_override(),
            transpose: self.settings.transpose as i32,
            meter: self.settings.meter,
            upbeat: self.voice.bars.upbeat_in(self.settings.meter),
            ..WriteOptions::default()
        };
        let notation = notation::Format::of_path(&path.value).map(|format| {
            let nopts = notation::Options {
                title: file_stem(&path.value),
                meter: self.settings.meter,
                upbeat: self.voice.bars.upbeat_in(self.settings.meter),
                // The scale the notes were generated in is their key.
                scale: self.voice.melody_scale.or(self.settings.scale),
                tempo_bpm: opts.tempo_bpm,
                transpose: opts.transpose,
                velocity: opts.velocity,
                program: opts.program,
                channel: opts.channel,
            };
            notation::write(format, &self.voice.melody, &nopts)
                .map_err(|e| Error::new(span, e.into()))
        });
        let notation = notation.transpose()?;
        let bytes = match &notation {
            Some(w) => w.text.clone().into_bytes(),
            None => write_midi(&self.voice.melody, &opts),
        };
        fsio::write(Path::new(&path.value), &bytes).map_err(|reason| cannot_write(path, reason))?;
        match notation {
            Some(w) => say!(
                self,
                "wrote {} to {} ({}{}, {}, {} BPM){}",
                count(w.notes, "note"),
                path.value,
                w.key.name(),
                if w.estimated { " (estimated)" } else { "" },
                self.settings.meter,
                opts.tempo_bpm,
                w.merged_report()
                    .map_or(String::new(), |m| format!("; {m}"))
            ),
            None => say!(
                self,
                "wrote {} to {} ({}, {} BPM)",
                count(self.voice.melody.len(), "note"),
                path.value,
                crate::music::gm::GM_PROGRAMS[opts.program as usize],
                opts.tempo_bpm
            ),
        }
        Ok(())
    }
}

impl Handle<cmd::Render> for Session {
    fn handle(&mut self, cmd: &cmd::Render, span: Span) -> Result<(), Error> {
        let cmd::Render {
            path,
            soundfont,
            rate,
        } = cmd;
        self.need_melody(span)?;
        let opts = crate::render::RenderOptions {
            soundfont: soundfont.as_ref().map(|s| PathBuf::from(&s.value)),
            rate: rate.unwrap_or(44_100),
            program: self.settings.program as u8,
            velocity: self.velocity_override(),
            transpose: self.settings.transpose as i32,
            tempo_bpm: self.settings.tempo,
        };
        let at = soundfont.as_ref().map_or(path.span, |s| s.span);
        self.render(&path.value, &opts, at)
    }
}

impl Session {
    /// `render`, and `write` to a .wav name.
    fn render(
        &mut self,
        path: &str,
        opts: &crate::render::RenderOptions,
        at: Span,
    ) -> Result<(), Error> {
        let report = crate::render::render_wav_until(
            &self.voice.melody,
            Path::new(path),
            opts,
            &self.interrupt,
        )
        .map_err(|e| Error::new(at, e.into()))?;
        say!(self, "rendered {path} with {report}");
        Ok(())
    }

    pub(super) fn need_melody(&self, span: Span) -> Result<(), Error> {
        if self.voice.melody.is_empty() {
            Err(Error::new(span, ErrorKind::NoMelody))
        } else {
            Ok(())
        }
    }

    fn velocity_override(&self) -> Option<u8> {
        (self.settings.velocity > 0).then_some(self.settings.velocity as u8)
    }

    /// Replaces the melody with a new primer; generation starts afresh from it.
    pub(super) fn set_melody(&mut self, notes: Vec<Note>) {
        self.voice.primer_len = notes.len();
        self.voice.melody = notes;
        // Bars from its first note until its source says otherwise; no scale yet.
        self.voice.bars = Default::default();
        self.voice.melody_scale = None;
        self.sync_live_shape();
        self.melody_changed();
    }

    /// Loads a glob with a progress bar on a terminal, prints the summary and skipped files.
    pub(super) fn load_glob(
        &mut self,
        pattern: &str,
        limit: Option<usize>,
        filter: Option<&Filter>,
        span: Span,
    ) -> Result<dataset::LoadReport, Error> {
        let bar = (std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template("loading {bar:30} {pos}/{len} files")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        // `load "songs.abc#3"`: one tune of an ABC file, as `prime` takes it.
        let one_tune = pattern
            .rsplit_once('#')
            .filter(|(f, x)| dataset::is_abc(f) && !x.is_empty() && !x.contains(['*', '?', '[']));
        let report = match one_tune {
            Some(_) => {
                let t0 = Instant::now();
                let tune = read_one_tune(pattern, self.settings.abc_accidentals)
                    .map_err(|e| Error::new(span, e.into()))?;
                dataset::LoadReport {
                    tunes: vec![tune],
                    files: 1,
                    skipped: Vec::new(),
                    filtered_out: 0,
                    seconds: t0.elapsed().as_secs_f64(),
                }
            }
            None => dataset::load(
                pattern,
                limit,
                filter,
                self.settings.abc_accidentals,
                &self.interrupt,
                |i, n| {
                    if let Some(b) = &bar {
                        if n >= 50 {
                            b.set_length(n as u64);
                            b.set_position(i as u64);
                        }
                    }
                },
            )
            .map_err(|e| Error::new(span, e.into()))?,
        };
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        for (path, reason) in &report.skipped {
            let label = if self.color {
                colored::Colorize::yellow("skipped").to_string()
            } else {
                "skipped".into()
            };
            say!(self, "{label} {path}: {reason}");
        }
        let mut line = format!(
            "loaded {}, {}, {} in {:.2} s",
            count(report.files, "file"),
            count(report.tunes.len(), "tune"),
            count(report.notes(), "note"),
            report.seconds
        );
        if report.filtered_out > 0 {
            line.push_str(&format!(
                " ({} did not match `where`)",
                count(report.filtered_out, "tune")
            ));
        }
        if !report.skipped.is_empty() {
            line.push_str(&format!(", {} skipped", report.skipped.len()));
        }
        // Nothing loaded is the caller's one error line, not a summary of zeros before it.
        if !report.tunes.is_empty() {
            say!(self, "{line}");
        }
        Ok(report)
    }

    pub(super) fn melody(&self) -> &[Note] {
        &self.voice.melody
    }

    pub(super) fn tunes(&self) -> &[Tune] {
        &self.data.tunes
    }
}

/// One tune of a file: `file.abc#X` picks tune X of an ABC file, otherwise the first.
pub fn read_one_tune(path: &str, abc: Accidentals) -> Result<Tune, TuneError> {
    let (file, wanted) = match path.rsplit_once('#') {
        Some((f, x)) if dataset::is_abc(f) => (f, Some(x)),
        _ => (path, None),
    };
    let (tunes, _) = dataset::read_file(file, abc).map_err(|reason| TuneError::Read {
        file: file.to_string(),
        reason,
    })?;
    let tune = match wanted {
        None => tunes.into_iter().next(),
        Some(x) => tunes
            .into_iter()
            .find(|t| t.source.rsplit_once('#').is_some_and(|(_, n)| n == x) || t.source == path),
    };
    tune.ok_or_else(|| TuneError::NoTune(path.to_string()))
}

/// `1 note`, `2 notes`: what the one-line reports print.
pub(super) fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// A file `write` or `export` named that could not be written, said at its name.
fn cannot_write(path: &Spanned<String>, reason: std::io::Error) -> Error {
    let kind = ErrorKind::CannotWrite {
        path: path.value.clone(),
        reason,
    };
    Error::new(path.span, kind)
}

/// A file's name without folder and extension: the title of a written tune.
fn file_stem(path: &str) -> String {
    Path::new(path)
        .file_stem()
        .map_or_else(|| "tms melody".into(), |s| s.to_string_lossy().into_owned())
}

/// Seconds at 120 BPM as the note value they last (`1/4`, `3/16`), or in seconds when
/// notation's 1/48 grid does not hold them.
fn note_value(seconds: f64) -> String {
    let units = seconds * 24.0;
    let k = units.round();
    if (units - k).abs() > 1e-6 || k <= 0.0 {
        return format!("{seconds:.3} s");
    }
    let (mut n, mut d) = (k as u64, 48u64);
    while n % 2 == 0 && d % 2 == 0 {
        n /= 2;
        d /= 2;
    }
    while n % 3 == 0 && d % 3 == 0 {
        n /= 3;
        d /= 3;
    }
    if d == 1 {
        n.to_string()
    } else {
        format!("{n}/{d}")
    }
}

fn shift_to_zero(notes: &[Note]) -> Vec<Note> {
    let t0 = notes.first().map_or(0.0, |n| n.start);
    notes
        .iter()
        .map(|n| Note {
            start: n.start - t0,
            ..*n
        })
        .collect()
}
