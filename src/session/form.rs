//! `generate N bars form "AABA"`: a tune in phrases that return. The model only continues
//! a melody, so the form is laid over it from outside, phrase by phrase, each drawn from
//! everything before it:
//!
//! - a letter's first phrase is drawn new. The form's first phrase simply continues the
//!   melody; a later new letter should contrast, so [`CONTRAST_TRIES`] candidates are drawn
//!   and the one whose interval sequence is furthest (edit distance,
//!   [`crate::music::form::contrast`]) from the nearest earlier phrase is kept, the first
//!   drawn on a tie. Every candidate is the model's own continuation at the session's
//!   temperature, so choosing among them trades nothing the model would not play;
//! - a letter that comes again is its first phrase moved to the new place and varied as
//!   `vary` varies bars ([`crate::model::redraw`]): each note kept with probability
//!   1 − `vary`, else drawn by the model from what precedes it. Nothing follows it yet for
//!   `vary`'s choice by what comes after, so one variation is drawn and kept. `vary 0` is the
//!   phrase again exactly;
//! - every phrase ends on a cadence: its last note lasts a beat or more and ends on the
//!   phrase's closing bar line, on the tonic when the phrase's letter is the one the form
//!   ends with (the tune closes there, so that phrase closes the same wherever it comes,
//!   and a returning phrase can come back unchanged), else on the tonic or its fifth (a
//!   half close), the two degrees folk phrases end on. The tonic is the scale's, else the
//!   key estimated from the melody before the form as `write` estimates one.
//!
//! A melody that ends inside a bar first completes it, as `generate N bars` does; the
//! phrases start on the bar line after. Ctrl-C between phrases leaves the melody as it was,
//! so the form is never half there and `history` has nothing to replay.

use crate::say;

use super::Session;
use crate::error::{Error, ErrorKind};
use crate::ground::span::Span;
use crate::model::redraw::{self, Redraw};
use crate::model::{end_by, Ending, Generator, SampleOptions};
use crate::music::form::{most_contrasting, Form};
use crate::music::notation::Key;
use crate::music::note::Note;
use crate::music::scale::Scale;

/// `vary` unless given: a returning phrase is recognisably the same, with a few notes new.
pub(super) const DEFAULT_VARY: f64 = 0.2;
/// Candidates drawn for a new letter after the first, to choose the most contrasting.
pub(super) const CONTRAST_TRIES: usize = 8;

const PITCH_CLASS: [&str; 12] = [
    "C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
];

impl Session {
    /// Draws `bars` bars after the melody in the phrases of `form`; `vary` is how much a
    /// returning phrase changes. Says how many notes it made.
    pub(super) fn generate_form(
        &mut self,
        bars: usize,
        form: &Form,
        vary: f64,
        opts: &SampleOptions,
        scale: Option<Scale>,
        span: Span,
    ) -> Result<usize, Error> {
        self.need_model(span)?;
        if self.voice.melody.is_empty() {
            return Err(Error::new(span, ErrorKind::NoPrimer));
        }
        let phrase_bars = form
            .phrase_bars(bars)
            .map_err(|e| Error::new(span, ErrorKind::Form(e)))?;
        let mut gen = match self.voice.generator.take() {
            Some(g) => g,
            None => Generator::new(self.need_model(span)?, &self.voice.melody, self.frame()),
        };
        let meter = self.settings.meter;
        let (bar, beat) = (meter.bar_seconds(), meter.beat_seconds());
        let mut melody = self.voice.melody.clone();
        melody.sort_by(|a, b| a.start.total_cmp(&b.start));
        let (tonic, key) = match scale {
            Some(s) => (s.tonic % 12, s.name()),
            None => {
                let k = Key::estimate_notes(&melody);
                (k.tonic_pitch_class(), format!("{} (estimated)", k.name()))
            }
        };
        let fifth = (tonic + 7) % 12;
        let closing = pitch_classes(&[tonic]);
        let half = pitch_classes(&[tonic, fifth]);
        let end_before = melody.iter().map(Note::end).fold(0.0, f64::max);
        let first = self.voice.bars.next_bar_line(end_before, meter);
        let max_notes = phrase_bars * super::learn::MAX_NOTES_PER_BAR;
        let stuck = || {
            let kind = ErrorKind::StepsNearZero {
                notes: max_notes,
                bars: None,
            };
            Error::new(span, kind)
        };
        let mut made = 0;
        if first > end_before + 1e-6 {
            let ending = Ending {
                at: Some(first),
                ..Ending::default()
            };
            let lead_in =
                draw(&mut gen, opts, &ending, max_notes, &mut self.rng).ok_or_else(stuck)?;
            made += lead_in.len();
            join(&mut melody, &lead_in);
        }
        let length = phrase_bars as f64 * bar;
        let mut phrases: Vec<Vec<Note>> = Vec::new();
        // "B 0.83": how far each new letter after the first is from the phrases before it.
        let mut contrasts: Vec<String> = Vec::new();
        for (i, &letter) in form.letters().iter().enumerate() {
            if self.interrupted() {
                self.voice.generator = None;
                return Err(Error::new(span, ErrorKind::Interrupted));
            }
            let start = first + i as f64 * length;
            let end = start + length;
            let cadence = if form.is_closing(i) { closing } else { half };
            let notes = match form.earlier(i) {
                Some(j) => {
                    let moved: Vec<Note> = phrases[j]
                        .iter()
                        .map(|n| Note {
                            start: n.start + (start - (first + j as f64 * length)),
                            ..*n
                        })
                        .collect();
                    let r = Redraw {
                        start,
                        end,
                        original: &moved,
                        after: &[],
                        amount: vary,
                        max_notes,
                        last_pitches: Some(cadence),
                        min_last: beat,
                    };
                    let mut c = redraw::candidates(&gen, &r, opts, 1, &mut self.rng);
                    c.swap_remove(0).notes
                }
                None => {
                    let ending = Ending {
                        at: Some(end),
                        from: Some(start),
                        last_pitches: Some(cadence),
                        min_last: beat,
                        last: false,
                    };
                    let tries = if phrases.is_empty() {
                        1
                    } else {
                        CONTRAST_TRIES
                    };
                    let mut drawn = Vec::with_capacity(tries);
                    for _ in 0..tries {
                        let mut g = gen.clone();
                        drawn.push(
                            draw(&mut g, opts, &ending, max_notes, &mut self.rng)
                                .ok_or_else(stuck)?,
                        );
                    }
                    let chosen = match most_contrasting(&drawn, &phrases) {
                        Some((i, apart)) if !phrases.is_empty() => {
                            contrasts.push(format!("{} {apart:.2}", letter as char));
                            i
                        }
                        _ => 0,
                    };
                    drawn.swap_remove(chosen)
                }
            };
            for n in &notes {
                gen.read(n);
            }
            made += notes.len();
            join(&mut melody, &notes);
            phrases.push(notes);
        }
        self.voice.melody = melody;
        self.voice.generator = Some(gen);
        let end = first + bars as f64 * bar;
        let degrees = match form
            .letters()
            .iter()
            .all(|&l| Some(&l) == form.letters().last())
        {
            true => String::new(),
            false => format!(
                "the others on {} or {}, ",
                PITCH_CLASS[usize::from(tonic)],
                PITCH_CLASS[usize::from(fifth)]
            ),
        };
        let contrast = match contrasts.is_empty() {
            true => String::new(),
            false => format!(
                "new letters the most contrasting of {CONTRAST_TRIES} draws ({}); ",
                contrasts.join(", ")
            ),
        };
        say!(
            self,
            "generated {bars} bar{} of {meter} in form {form} (phrases of {}, returning ones varied {}): in {key} the {} phrases end on {}, {degrees}each on a note of a beat or more; {contrast}{made} notes, ending at {end:.3} s: melody is {}, {:.1} s",
            if bars == 1 { "" } else { "s" },
            super::data::count(phrase_bars, "bar"),
            crate::ground::text::fmt_number(vary),
            form.letters().last().map_or('A', |&l| l as char),
            PITCH_CLASS[usize::from(tonic)],
            super::data::count(self.voice.melody.len(), "note"),
            end
        );
        Ok(made)
    }
}

/// Every pitch of the pitch classes `pcs`.
fn pitch_classes(pcs: &[u8]) -> [bool; 128] {
    std::array::from_fn(|p| pcs.contains(&((p % 12) as u8)))
}

/// Notes drawn by `gen` until one ends the melody under `ending`, one line; None when
/// `max_notes` did not get there.
fn draw(
    gen: &mut Generator,
    opts: &SampleOptions,
    ending: &Ending,
    max_notes: usize,
    rng: &mut rand_chacha::ChaCha20Rng,
) -> Option<Vec<Note>> {
    let mut notes: Vec<Note> = Vec::new();
    while notes.len() < max_notes {
        let (note, last) = gen.next_ending(opts, ending, rng);
        end_by(&mut notes, note.start);
        notes.push(note);
        if last {
            return Some(notes);
        }
    }
    None
}

/// Appends `notes` to `melody`, whose last note ends by the first one's start.
fn join(melody: &mut Vec<Note>, notes: &[Note]) {
    if let Some(n) = notes.first() {
        end_by(melody, n.start);
    }
    melody.extend_from_slice(notes);
}
