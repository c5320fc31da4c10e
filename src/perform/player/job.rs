//! What a voice plays, in musical time and without a clock or a port: melodies, loops that
//! change at a bar line, live generation. Apart, so that it can be reasoned about and tested
//! without starting a thread.

use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};

use crate::music::note::Note;
use crate::perform::{Controls, NoteEvent, NoteSource};

/// A loop shorter than this would flood the port.
const MIN_LOOP: f64 = 0.05;
/// How many steps of zero length in a row a live source may give before the player paces
/// it by note length (a buggy source must not flood the port).
const MAX_CHORD: u32 = 16;

/// The event that plays note `n` at `at`: an audible velocity, a length that is a number.
fn event(at: f64, n: &Note) -> NoteEvent {
    NoteEvent {
        at,
        pitch: n.pitch.min(127),
        velocity: n.velocity.clamp(1, 127),
        duration: if n.duration.is_finite() {
            n.duration.max(0.0)
        } else {
            0.0
        },
        channel: 0,
    }
}

/// The melody as player events: from its first onset on, bad values dropped or clamped.
pub(super) fn to_events(notes: &[Note]) -> Vec<NoteEvent> {
    let first = notes
        .iter()
        .map(|n| n.start)
        .filter(|s| s.is_finite())
        .fold(f64::INFINITY, f64::min);
    let mut events: Vec<NoteEvent> = notes
        .iter()
        .filter(|n| n.start.is_finite() && n.pitch < 128)
        .map(|n| event(n.start - first, n))
        .collect();
    events.sort_by(|a, b| a.at.total_cmp(&b.at).then(a.pitch.cmp(&b.pitch)));
    events
}

/// The live thread: asks the source for notes and hands them over as (step, note), blocking
/// while the player already holds enough.
pub(super) fn generate(
    source: &mut dyn NoteSource,
    controls: &Controls,
    out: &SyncSender<(f64, Note)>,
) {
    let mut prev: Option<f64> = None;
    let mut chord = 0;
    while let Some(note) = source.next_note(controls) {
        let mut step = prev.map_or(0.0, |p| note.start - p);
        if !step.is_finite() || step < 0.0 {
            step = 0.0;
        }
        prev = Some(note.start);
        if step == 0.0 && prev.is_some() {
            chord += 1;
            if chord > MAX_CHORD {
                step = note.duration.clamp(MIN_LOOP, 4.0);
                chord = 0;
            }
        } else {
            chord = 0;
        }
        if out.send((step, note)).is_err() {
            return;
        }
    }
}

/// How long a loop of `events` lasts: to the end of its last note.
pub(super) fn loop_length(events: &[NoteEvent]) -> f64 {
    events
        .iter()
        .map(|e| e.at + e.duration)
        .fold(0.0, f64::max)
        .max(MIN_LOOP)
}

/// The melody a loop changes to ([`Performer::reloop`]), and where.
///
/// [`Performer::reloop`]: super::Performer::reloop
pub(super) struct NextLoop {
    pub(super) events: Vec<NoteEvent>,
    pub(super) length: f64,
    /// Bar lines of the melody, in its events' time: `phase` + whole `bar`s.
    pub(super) phase: f64,
    pub(super) bar: f64,
    /// The loop's time of the change, once the loop has it.
    pub(super) at: Option<f64>,
}

pub(super) enum Job {
    Play {
        events: Vec<NoteEvent>,
        next: usize,
        looped: bool,
        /// Added to event times: the loop's repetitions.
        base: f64,
        length: f64,
        gen: u64,
        /// The melody a loop changes to at a bar line.
        then: Option<Box<NextLoop>>,
    },
    Live {
        notes: Receiver<(f64, Note)>,
        /// The note waiting for its deadline, with its musical time.
        held: Option<(f64, Note)>,
        /// Musical time of the last note-on.
        last: f64,
        ended: bool,
        gen: u64,
    },
}

impl Job {
    pub(super) fn gen(&self) -> u64 {
        match self {
            Job::Play { gen, .. } | Job::Live { gen, .. } => *gen,
        }
    }

    /// The next note-on as (musical time, pitch, velocity, duration, channel 0 = control),
    /// fetching from the generator if needed; `Err(true)` when the job has no more notes,
    /// `Err(false)` when live mode is waiting for the generator.
    pub(super) fn peek(&mut self) -> Result<(f64, NoteEvent), bool> {
        match self {
            Job::Play {
                events,
                next,
                looped,
                base,
                length,
                then,
                ..
            } => {
                if then.is_some() {
                    change_loop(events, next, base, length, then);
                }
                if *next >= events.len() {
                    if !*looped || events.is_empty() {
                        return Err(true);
                    }
                    *next = 0;
                    *base += *length;
                }
                let e = events[*next];
                Ok((*base + e.at, e))
            }
            Job::Live {
                notes,
                held,
                last,
                ended,
                ..
            } => {
                if held.is_none() && !*ended {
                    match notes.try_recv() {
                        Ok((step, n)) => *held = Some((*last + step, n)),
                        Err(TryRecvError::Empty) => {}
                        Err(TryRecvError::Disconnected) => *ended = true,
                    }
                }
                match held {
                    Some((at, n)) => Ok((*at, event(*at, n))),
                    None => Err(*ended),
                }
            }
        }
    }

    /// A loop that is to change melody and jumps (a seek, a MIDI Start) changes at once:
    /// there is no bar to finish.
    fn change_now(&mut self) {
        if let Job::Play {
            events,
            length,
            then,
            ..
        } = self
        {
            if let Some(t) = then.take() {
                *events = t.events;
                *length = t.length;
            }
        }
    }

    /// Back to the beginning (a MIDI Start): a melody from its first note; live mode goes
    /// on with the note it holds, now first.
    pub(super) fn rewind(&mut self) {
        self.change_now();
        match self {
            Job::Play { next, base, .. } => {
                *next = 0;
                *base = 0.0;
            }
            Job::Live { held, last, .. } => {
                if let Some((at, _)) = held.as_mut() {
                    *at -= *last;
                }
                *last = 0.0;
            }
        }
    }

    /// A melody goes on from musical time `m`: the notes before it are skipped (a loop
    /// from the repetition that holds `m`). Live mode is moved by its origin instead.
    pub(super) fn seek(&mut self, m: f64) {
        self.change_now();
        if let Job::Play {
            events,
            next,
            looped,
            base,
            length,
            ..
        } = self
        {
            if !m.is_finite() {
                return;
            }
            *base = match *looped {
                true => (m / *length).floor() * *length,
                false => 0.0,
            };
            let b = *base;
            *next = events.partition_point(|e| b + e.at < m);
        }
    }

    pub(super) fn advance(&mut self, at: f64) {
        match self {
            Job::Play { next, .. } => *next += 1,
            Job::Live { held, last, .. } => {
                *held = None;
                *last = at;
            }
        }
    }
}

/// A loop's change of melody ([`Performer::reloop`]), when its time has come: the change is
/// placed, when first seen, at the first bar line at or after the next note not yet sent
/// (the end of the pass when no bar line is left in it), and made as soon as no note of the
/// old melody before that time is left to send. The new melody goes on from its first note
/// at or after that time of the pass, and its passes follow at its own length.
///
/// [`Performer::reloop`]: super::Performer::reloop
fn change_loop(
    events: &mut Vec<NoteEvent>,
    next: &mut usize,
    base: &mut f64,
    length: &mut f64,
    then: &mut Option<Box<NextLoop>>,
) {
    let Some(t) = then.as_mut() else {
        return;
    };
    // The next old note's time in this pass; the pass's end when none is left.
    let due = events.get(*next).map_or(*length, |e| e.at);
    let at = *t.at.get_or_insert_with(|| {
        let k = ((due - t.phase) / t.bar - 1e-9).ceil();
        let line = t.phase + k * t.bar;
        if t.bar > 0.0 && line.is_finite() && line < *length - 1e-9 {
            line
        } else {
            *length
        }
    });
    if due < at - 1e-9 {
        return;
    }
    let t = then.take().expect("checked above");
    if at >= *length - 1e-9 {
        // At the pass's end: the next pass is the new melody's.
        *base += *length;
        *next = 0;
    } else {
        *next = t.events.partition_point(|e| e.at < at - 1e-9);
    }
    *events = t.events;
    *length = t.length;
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    fn note(pitch: u8, start: f64, duration: f64) -> Note {
        Note {
            pitch,
            start,
            duration,
            velocity: 0,
        }
    }

    #[test]
    fn events_start_at_first_onset_and_drop_bad_values() {
        let ev = to_events(&[
            note(62, 2.5, 0.5),
            note(60, 2.0, f64::NAN),
            note(61, f64::NAN, 1.0),
            note(64, 3.0, -1.0),
        ]);
        assert_eq!(ev.len(), 3);
        assert_eq!((ev[0].pitch, ev[0].at, ev[0].duration), (60, 0.0, 0.0));
        assert_eq!((ev[1].pitch, ev[1].at), (62, 0.5));
        assert_eq!((ev[2].pitch, ev[2].duration), (64, 0.0));
        assert!(ev.iter().all(|e| e.velocity >= 1));
    }

    fn melody(looped: bool) -> Job {
        let notes: Vec<Note> = (0..4)
            .map(|k| note(60 + k, f64::from(k) * 0.25, 0.25))
            .collect();
        Job::Play {
            events: to_events(&notes),
            next: 0,
            looped,
            base: 0.0,
            length: 1.0,
            gen: 0,
            then: None,
        }
    }

    fn next_at(job: &mut Job) -> Option<f64> {
        job.peek().ok().map(|(at, _)| at)
    }

    #[test]
    fn a_loop_seeks_into_the_repetition_that_holds_the_time() {
        let mut job = melody(true);
        job.seek(5.6);
        assert_eq!(
            next_at(&mut job),
            Some(5.75),
            "notes before 5.6 are skipped"
        );
        job.advance(5.75);
        assert_eq!(next_at(&mut job), Some(6.0), "and the loop goes on");
        job.seek(5.0);
        assert_eq!(
            next_at(&mut job),
            Some(5.0),
            "a note at the time itself plays"
        );
    }

    /// Notes of `pitch` on every quarter of `bars` bars of 4/4 (a bar is 2 s).
    fn quarters(pitch: u8, bars: u32) -> Vec<Note> {
        (0..4 * bars)
            .map(|k| note(pitch, f64::from(k) * 0.5, 0.5))
            .collect()
    }

    /// The (time, pitch) of the next `n` notes a job plays.
    fn played(job: &mut Job, n: usize) -> Vec<(f64, u8)> {
        (0..n)
            .map(|_| {
                let (at, e) = job.peek().expect("a loop never ends");
                job.advance(at);
                (at, e.pitch)
            })
            .collect()
    }

    fn next_loop(notes: &[Note], phase: f64) -> Box<NextLoop> {
        let events = to_events(notes);
        Box::new(NextLoop {
            length: loop_length(&events),
            events,
            phase,
            bar: 2.0,
            at: None,
        })
    }

    fn looping(notes: &[Note]) -> Job {
        let events = to_events(notes);
        Job::Play {
            length: loop_length(&events),
            events,
            next: 0,
            looped: true,
            base: 0.0,
            gen: 0,
            then: None,
        }
    }

    #[test]
    fn a_loop_takes_a_new_melody_at_its_next_bar_line() {
        // Two bars of C4; a third of a bar has played when the loop is told to change.
        let mut job = looping(&quarters(60, 2));
        assert_eq!(played(&mut job, 2), [(0.0, 60), (0.5, 60)]);
        if let Job::Play { then, .. } = &mut job {
            *then = Some(next_loop(&quarters(72, 2), 0.0));
        }
        let next = played(&mut job, 10);
        let want: Vec<(f64, u8)> = [(1.0, 60), (1.5, 60)]
            .into_iter()
            .chain((4..12).map(|k| (f64::from(k) * 0.5, 72)))
            .collect();
        assert_eq!(
            next, want,
            "bar 1 ends as it was, bar 2 and the next pass are new"
        );
        // Bar lines off the loop's start (an upbeat of a quarter): the change waits for one.
        let mut job = looping(&quarters(60, 2));
        played(&mut job, 1);
        if let Job::Play { then, .. } = &mut job {
            *then = Some(next_loop(&quarters(72, 2), 0.5));
        }
        assert_eq!(played(&mut job, 2), [(0.5, 72), (1.0, 72)]);
        // Told during the last bar: the next pass is the new melody, from its start.
        let mut job = looping(&quarters(60, 2));
        played(&mut job, 6);
        if let Job::Play { then, .. } = &mut job {
            *then = Some(next_loop(&quarters(72, 1), 0.0));
        }
        assert_eq!(
            played(&mut job, 4),
            [(3.0, 60), (3.5, 60), (4.0, 72), (4.5, 72)]
        );
        assert_eq!(
            played(&mut job, 3),
            [(5.0, 72), (5.5, 72), (6.0, 72)],
            "its own length"
        );
        // A seek changes it at once.
        let mut job = looping(&quarters(60, 2));
        if let Job::Play { then, .. } = &mut job {
            *then = Some(next_loop(&quarters(72, 2), 0.0));
        }
        job.seek(4.2);
        assert_eq!(played(&mut job, 1), [(4.5, 72)]);
    }

    #[test]
    fn a_melody_seeks_past_its_end_to_nothing() {
        let mut job = melody(false);
        job.seek(0.3);
        assert_eq!(next_at(&mut job), Some(0.5));
        job.seek(2.0);
        assert!(matches!(job.peek(), Err(true)), "nothing left to play");
    }

    struct Counter(u8);
    impl NoteSource for Counter {
        fn next_note(&mut self, _c: &Controls) -> Option<Note> {
            self.0 = self.0.checked_add(1)?;
            Some(note(60, 0.0, 0.5)) // never advances: must be paced
        }
    }

    #[test]
    fn a_source_that_never_advances_is_paced() {
        let (tx, rx) = mpsc::sync_channel(1);
        let t = std::thread::spawn(move || {
            generate(&mut Counter(0), &Controls::default(), &tx);
        });
        let steps: Vec<f64> = rx.iter().map(|(s, _)| s).collect();
        t.join().unwrap();
        assert_eq!(steps.len(), 255);
        assert!(steps.iter().filter(|s| **s > 0.0).count() >= 255 / (MAX_CHORD as usize + 1));
    }
}
