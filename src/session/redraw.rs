//! `regenerate bars 5-6` and `vary bar 3`: bars of the melody drawn again in place. The
//! candidates and how one is chosen are the model's business (`model::redraw`); here the
//! bars are found from the melody's bar lines, the melody is rebuilt around the chosen
//! candidate, and a voice that loops it hears the change from its next bar line.

use crate::say;

use super::Session;
use crate::error::{Error, ErrorKind};
use crate::ground::span::{Span, Spanned};
use crate::lang::ast::BarRange;
use crate::model::redraw::{self, Redraw};
use crate::model::{end_by, Generator, SampleOptions};
use crate::music::note::Note;

/// How many candidates are drawn unless `tries` says.
pub(super) const DEFAULT_TRIES: usize = 8;
/// `vary`'s amount unless given: most of the bars stay.
pub(super) const DEFAULT_AMOUNT: f64 = 0.3;
/// Bars of kept notes after the redrawn ones that judge a candidate: enough to hear where
/// the bars lead, few enough that the bars are judged by their neighbours, not the tune.
const SCORED_BARS: f64 = 4.0;
/// Times closer than this (seconds) are one time.
const SAME_TIME: f64 = 1e-6;

impl Session {
    /// Draws `bars` again: freely (`amount` 1, `regenerate`) or keeping each of their notes
    /// with probability 1 − `amount` (`vary`); the best of `tries` candidates is kept.
    pub(super) fn redraw_bars(
        &mut self,
        bars: &Spanned<BarRange>,
        amount: f64,
        tries: usize,
        span: Span,
    ) -> Result<(), Error> {
        self.need_model(span)?;
        self.need_melody(span)?;
        let meter = self.settings.meter;
        let bar = meter.bar_seconds();
        let first_line = self.voice.bars.upbeat_in(meter);
        let end = self.voice.melody.iter().map(Note::end).fold(0.0, f64::max);
        let count = (((end - first_line) / bar) - SAME_TIME).ceil().max(0.0) as usize;
        let BarRange { first, last } = bars.value;
        let no_such = |bar| {
            let kind = ErrorKind::NoSuchBar {
                bar,
                bars: count,
                meter: meter.to_string(),
            };
            Error::new(bars.span, kind)
        };
        if first == 0 {
            return Err(no_such(0));
        }
        if last > count {
            return Err(no_such(last));
        }
        let start = first_line + (first - 1) as f64 * bar;
        let stop = first_line + last as f64 * bar;
        let mut notes = self.voice.melody.clone();
        notes.sort_by(|a, b| a.start.total_cmp(&b.start));
        let before_end = notes.partition_point(|n| n.start < start - SAME_TIME);
        let after_start = notes.partition_point(|n| n.start < stop - SAME_TIME);
        let (before, rest) = notes.split_at(before_end);
        let (original, after) = rest.split_at(after_start - before_end);
        if before.is_empty() {
            let kind = ErrorKind::NothingBeforeBar { bar: first };
            return Err(Error::new(bars.span, kind));
        }
        let judged_end = after.partition_point(|n| n.start < stop + SCORED_BARS * bar - SAME_TIME);
        let judged = &after[..judged_end];
        // The model reads what the melody will hold before the bars: a note that sounds into
        // them ends on their first bar line.
        let mut read = before.to_vec();
        end_by(&mut read, start);
        let opts = SampleOptions {
            grid: self.grid(),
            bar_lines: self.bar_lines(),
            ..self.settings.sample_options()
        };
        let gen = Generator::new(self.need_model(span)?, &read, self.frame());
        let r = Redraw {
            start,
            end: stop,
            original,
            after: judged,
            amount,
            max_notes: (last - first + 1) * super::learn::MAX_NOTES_PER_BAR,
            last_pitches: None,
            min_last: 0.0,
        };
        let candidates = redraw::candidates(&gen, &r, &opts, tries, &mut self.rng);
        let was = redraw::original(&gen, &r);
        let chosen = redraw::best(&candidates)
            .map(|i| candidates[i].clone())
            .expect("tries is at least 1");
        let drawn = chosen.drawn;
        let mut melody = match chosen.first_drawn {
            Some(_) => read,
            None => before.to_vec(),
        };
        melody.extend(&chosen.notes);
        melody.extend(after);
        self.voice.primer_len = self.voice.primer_len.min(before.len());
        let scale = self.settings.scale;
        if drawn > 0 && scale.is_some() {
            self.voice.melody_scale = scale;
        }
        self.voice.melody = melody;
        self.melody_changed();
        let verb = if amount >= 1.0 {
            "regenerated"
        } else {
            "varied"
        };
        let kept = chosen.notes.len() - drawn;
        let judged_by = match judged.len() {
            0 => "no notes follow them to choose by: the first drawn".to_string(),
            n => format!(
                "the next {} score {:.2} nats after them ({:.2} after the bars as they were)",
                super::data::count(n, "note"),
                chosen.score,
                was.score
            ),
        };
        let end = self.voice.melody.iter().map(Note::end).fold(0.0, f64::max);
        say!(
            self,
            "{verb} {} of {meter}, the best of {}: {} drawn, {kept} kept; {judged_by}: melody is {}, {end:.1} s",
            bars.value,
            if tries == 1 { "1 try".to_string() } else { format!("{tries} tries") },
            super::data::count(drawn, "note"),
            super::data::count(self.voice.melody.len(), "note"),
        );
        self.loop_the_new_melody(first_line);
        Ok(())
    }

    /// A voice looping the melody (`play loop`) takes the new one at its next bar line.
    fn loop_the_new_melody(&mut self, first_line: f64) {
        let Some(p) = self.stage.performer.as_mut() else {
            return;
        };
        let bar = self.settings.meter.bar_seconds();
        if p.reloop(&self.voice.melody, first_line, bar) {
            say!(self, "the loop plays it from its next bar line");
        }
    }
}
