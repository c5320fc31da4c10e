//! Bars drawn again (`regenerate bars 5-6`, `vary bar 3`). The model only reads forward, so
//! it cannot be asked for bars that fit what comes after them; instead several candidates
//! are drawn forward from the notes before the bars, each filling them up to their last bar
//! line as `generate N bars` does, and the candidate after which the model finds the kept
//! notes that follow most likely is chosen. The notes after the bars are never changed:
//! they only judge.
//!
//! A variation keeps part of the bars: while a candidate is drawn, each of the original
//! notes still ahead is either kept (read into the model as it is, probability
//! 1 − `amount`) or drawn anew by the model (probability `amount`). So `amount` 0 gives the
//! bars back unchanged, and `amount` 1 draws them freely, exactly as `regenerate` does: the
//! same numbers are drawn from the generator, so the same seed chooses the same bars. In
//! between, a candidate that kept every note, or whose new notes came out as the old ones,
//! is drawn again (up to [`SAME_AGAIN`] times):
//! the original bars were drawn by the model too and lead well into what follows, so they
//! would often win, and a variation would give back what it was asked to vary.

use rand::Rng;
use rand_chacha::ChaCha20Rng;

use super::sample::{Ending, Generator, SampleOptions};
use crate::music::note::Note;

/// What to draw again, in seconds of the melody.
#[derive(Clone, Copy, Debug)]
pub struct Redraw<'a> {
    /// The first bar's first bar line: no new note starts before it.
    pub start: f64,
    /// The last bar's closing bar line: no new note starts on or after it, and the one that
    /// reaches it is cut there.
    pub end: f64,
    /// The melody's notes that start in the bars, in onset order.
    pub original: &'a [Note],
    /// The kept notes after the bars that judge a candidate, in onset order.
    pub after: &'a [Note],
    /// 1: every note drawn by the model; below 1 each original note is kept with
    /// probability 1 − `amount`; 0 keeps them all.
    pub amount: f64,
    /// At most this many notes a candidate (a model whose steps stay near 0 would never
    /// reach the bar line).
    pub max_notes: usize,
    /// Pitches a drawn last note may have, and how long it lasts at least: a phrase of a
    /// form ends on a cadence ([`Ending::last_pitches`], [`Ending::min_last`]).
    pub last_pitches: Option<[bool; 128]>,
    pub min_last: f64,
}

/// One way of filling the bars.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// In onset order: original notes it kept and notes drawn.
    pub notes: Vec<Note>,
    /// Where its first drawn note starts (None: every note kept, the bars as they were).
    pub first_drawn: Option<f64>,
    /// How many of `notes` the model drew.
    pub drawn: usize,
    /// The model's log-probability of `Redraw::after` following it, in nats.
    pub score: f64,
}

/// How many times a variation's candidate that is the original bars is drawn again.
pub const SAME_AGAIN: usize = 16;

/// `tries` candidates drawn from clones of `gen` (which has read the notes before the
/// bars), in the order drawn, each scored.
pub fn candidates(
    gen: &Generator,
    r: &Redraw,
    opts: &SampleOptions,
    tries: usize,
    rng: &mut ChaCha20Rng,
) -> Vec<Candidate> {
    (0..tries)
        .map(|_| {
            // Notes drawn anew can still come out as the ones they replace (the more so at a
            // low temperature): such a candidate is the original too.
            let same = |(notes, _, drawn): &(Vec<Note>, _, usize)| {
                *drawn == 0 || notes.as_slice() == r.original
            };
            let mut drawn_once = draw(gen, r, opts, rng);
            for _ in 0..SAME_AGAIN {
                if !same(&drawn_once) || r.amount <= 0.0 {
                    break;
                }
                drawn_once = draw(gen, r, opts, rng);
            }
            let (notes, first_drawn, drawn) = drawn_once;
            Candidate {
                score: score(gen, &notes, r.after),
                notes,
                first_drawn,
                drawn,
            }
        })
        .collect()
}

/// The bars as they are, scored as a candidate is: what the chosen one is compared with.
pub fn original(gen: &Generator, r: &Redraw) -> Candidate {
    Candidate {
        notes: r.original.to_vec(),
        first_drawn: None,
        drawn: 0,
        score: score(gen, r.original, r.after),
    }
}

/// The log-likelihood of `after` once `gen` has read `notes` as the melody will hold them
/// (drawn notes cut where the next starts; the model drew them with the length it drew).
fn score(gen: &Generator, notes: &[Note], after: &[Note]) -> f64 {
    let mut g = gen.clone();
    for n in notes {
        g.read(n);
    }
    g.log_likelihood(after)
}

/// The index of the best-scoring candidate: the first drawn of those that score highest.
pub fn best(candidates: &[Candidate]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, c) in candidates.iter().enumerate() {
        if best.is_none_or(|b| c.score > candidates[b].score) {
            best = Some(i);
        }
    }
    best
}

/// One candidate, with where its first drawn note starts and how many notes it drew.
fn draw(
    gen: &Generator,
    r: &Redraw,
    opts: &SampleOptions,
    rng: &mut ChaCha20Rng,
) -> (Vec<Note>, Option<f64>, usize) {
    let mut g = gen.clone();
    let mut notes: Vec<Note> = Vec::new();
    let mut first_drawn = None;
    let mut drawn = 0;
    // The first original note not yet kept or passed by a drawn one.
    let mut ahead = 0;
    let ending = Ending {
        at: Some(r.end),
        from: Some(r.start),
        last_pitches: r.last_pitches,
        min_last: r.min_last,
        ..Ending::default()
    };
    while notes.len() < r.max_notes {
        let keep = ahead < r.original.len()
            && match r.amount {
                a if a <= 0.0 => true,
                a if a >= 1.0 => false,
                a => rng.random::<f64>() >= a,
            };
        if keep {
            let kept = r.original[ahead];
            ahead += 1;
            // One line: a drawn note before it ends where it starts.
            super::end_by(&mut notes, kept.start);
            g.read(&kept);
            notes.push(kept);
            if ahead == r.original.len() {
                // The bars' last note, kept: what followed it was kept too.
                break;
            }
            continue;
        }
        let (note, last) = g.next_ending(opts, &ending, rng);
        super::end_by(&mut notes, note.start);
        first_drawn.get_or_insert(note.start);
        drawn += 1;
        // The original notes it starts on or after are drawn over.
        ahead = ahead.max(r.original.partition_point(|o| o.start <= note.start + 1e-9));
        notes.push(note);
        if last {
            break;
        }
    }
    (notes, first_drawn, drawn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Head, Input, Model, ModelConfig, Rhythm};
    use rand::SeedableRng;

    fn notes(text: &str) -> Vec<Note> {
        crate::music::notes_text::parse_notes(text, 90).expect("notes")
    }

    /// 3/4 with a quarter-note upbeat: no note's position is its 4/4 one.
    /// … in D major.
    fn clock() -> crate::model::position::Frame {
        let meter = crate::music::meter::Meter { beats: 3, unit: 4 };
        let bars = crate::music::meter::Bars {
            meter: Some(meter),
            upbeat: 0.5,
        };
        crate::model::position::Frame {
            clock: Some(crate::model::position::BarClock::new(meter, &bars)),
            tonic: Some(2),
        }
    }

    fn tiny(rhythm: Rhythm, seed: u64) -> Model {
        let config = ModelConfig {
            hidden: 8,
            layers: 1,
            input: Input::Embed,
            head: Head::Softmax,
            embed: 4,
            pointer: false,
            // Positions and degrees on: the score must follow the bars and the key as the
            // network reads them.
            position: true,
            degree: true,
            rhythm,
        };
        let mut m = Model::seeded(config, seed);
        // The network's own numbers: the stepper in f32, as the tensor network computes.
        m.set_precision(crate::model::Precision::F32);
        m
    }

    /// The score read independently: each kept note's probabilities from the tensor network
    /// reading everything before it from scratch.
    fn score_by_the_network(model: &Model, before: &[Note], after: &[Note]) -> f64 {
        let mut total = 0.0;
        let mut read = before.to_vec();
        for n in after {
            // One note scored alone is the first term of the sum: the network's prediction.
            total += Generator::new(model, &read, clock()).log_likelihood(std::slice::from_ref(n));
            read.push(*n);
        }
        total
    }

    #[test]
    fn the_score_is_the_log_likelihood_of_the_notes_after() {
        for rhythm in [Rhythm::Grid, Rhythm::Regression] {
            let model = tiny(rhythm, 5);
            let before = notes("C4 D4 E4 F4 G4*2 E4/2 D4/2");
            let after: Vec<Note> = notes("A4 G4 E4*2 D4 C4")
                .into_iter()
                .map(|n| Note {
                    start: n.start + 5.0,
                    ..n
                })
                .collect();
            let g = Generator::new(&model, &before, clock());
            let stepped = g.log_likelihood(&after);
            let network = score_by_the_network(&model, &before, &after);
            assert!(
                stepped < 0.0 && stepped.is_finite(),
                "{rhythm:?}: {stepped}"
            );
            assert!(
                (stepped - network).abs() < 1e-3,
                "{rhythm:?}: stepped {stepped}, network {network}"
            );
            assert_eq!(g.log_likelihood(&[]), 0.0);
        }
    }

    #[test]
    fn the_chosen_candidate_scores_best_and_fills_only_the_bars() {
        let model = tiny(Rhythm::Grid, 8);
        // Bars of 2 s: bar 3 (4 to 6 s) is drawn again, bar 4 judges.
        let melody = notes("C4 D4 E4 F4 G4 A4 G4 E4 D4 C4 D4 E4 F4 E4 D4 C4");
        let before: Vec<Note> = melody.iter().filter(|n| n.start < 4.0).copied().collect();
        let original: Vec<Note> = melody
            .iter()
            .filter(|n| (4.0..6.0).contains(&n.start))
            .copied()
            .collect();
        let after: Vec<Note> = melody.iter().filter(|n| n.start >= 6.0).copied().collect();
        let r = Redraw {
            start: 4.0,
            end: 6.0,
            original: &original,
            after: &after,
            amount: 1.0,
            max_notes: 256,
            last_pitches: None,
            min_last: 0.0,
        };
        let opts = SampleOptions {
            grid: crate::music::grid::Grid::parse_optional("1/16").unwrap(),
            ..SampleOptions::default()
        };
        let g = Generator::new(&model, &before, clock());
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let c = candidates(&g, &r, &opts, 8, &mut rng);
        assert_eq!(c.len(), 8);
        let scores: Vec<f64> = c.iter().map(|c| c.score).collect();
        let i = best(&c).expect("eight candidates");
        assert!(scores.iter().all(|&s| s <= scores[i]), "{i} of {scores:?}");
        assert!(
            scores.iter().any(|&s| s < scores[i]),
            "the candidates differ: {scores:?}"
        );
        for cand in &c {
            // Each score is what the model says of the kept notes after that candidate.
            let mut read = before.clone();
            read.extend(&cand.notes);
            let want = score_by_the_network(&model, &read, &after);
            assert!((cand.score - want).abs() < 1e-3, "{} vs {want}", cand.score);
            assert!(cand
                .notes
                .iter()
                .all(|n| n.start >= 4.0 - 1e-9 && n.end() <= 6.0 + 1e-9));
            assert_eq!(cand.first_drawn, Some(cand.notes[0].start));
        }
        // Ties go to the first drawn.
        let tied = vec![c[1].clone(), c[1].clone()];
        assert_eq!(best(&tied), Some(0));
        assert_eq!(best(&[]), None);
    }

    #[test]
    fn amount_zero_keeps_the_bars_and_one_draws_them_as_regenerate_does() {
        let model = tiny(Rhythm::Grid, 2);
        let melody = notes("C4 D4 E4 F4 G4*2 A4/2 B4/2 C5 D5 C5 A4 G4");
        let before: Vec<Note> = melody.iter().filter(|n| n.start < 2.0).copied().collect();
        let original: Vec<Note> = melody
            .iter()
            .filter(|n| (2.0..4.0).contains(&n.start))
            .copied()
            .collect();
        let after: Vec<Note> = melody.iter().filter(|n| n.start >= 4.0).copied().collect();
        let g = Generator::new(&model, &before, clock());
        let with = |amount: f64| {
            let r = Redraw {
                start: 2.0,
                end: 4.0,
                original: &original,
                after: &after,
                amount,
                max_notes: 256,
                last_pitches: None,
                min_last: 0.0,
            };
            let mut rng = ChaCha20Rng::seed_from_u64(1);
            candidates(&g, &r, &SampleOptions::default(), 4, &mut rng)
        };
        let kept = with(0.0);
        let r = Redraw {
            start: 2.0,
            end: 4.0,
            original: &original,
            after: &after,
            amount: 0.0,
            max_notes: 256,
            last_pitches: None,
            min_last: 0.0,
        };
        let unchanged = super::original(&g, &r);
        for c in &kept {
            assert_eq!(c.notes, original);
            assert_eq!(c.first_drawn, None);
            assert!((c.score - unchanged.score).abs() < 1e-9);
        }
        // Half: some notes kept, some drawn, in onset order and one line; never all kept.
        let half = with(0.5);
        assert!(half.iter().all(|c| c.drawn > 0));
        let originals = |c: &Candidate| c.notes.iter().filter(|n| original.contains(n)).count();
        assert!(half
            .iter()
            .any(|c| originals(c) > 0 && c.first_drawn.is_some()));
        for c in &half {
            assert!(c.notes.windows(2).all(|w| w[0].start < w[1].start));
            assert!(c.notes.windows(2).all(|w| w[0].end() <= w[1].start + 1e-9));
        }
        // Amount 1 never keeps a note: regenerate's candidates exactly.
        let free = with(1.0);
        assert!(free.iter().all(|c| c.first_drawn.is_some()));
        assert_ne!(free, kept);
        assert_eq!(free, with(1.0), "the same seed draws the same candidates");
    }
}
