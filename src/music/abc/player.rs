//! Playing elements against a clock. An element says "a note of two units"; what tms needs
//! is notes in seconds, and getting there takes state that changes as the tune goes on: the
//! unit length, meter and tempo (`L:`, `M:`, `Q:`, inline too), the key and the accidentals
//! carried through the bar, pending ties and tuplets, the voice kept. [`Player`] holds that
//! state in one place, along with where the bar lines fall (and so the upbeat), which is only
//! known once the music is timed.

use std::collections::HashMap;

use crate::music::meter::{Bars, Meter};
use crate::music::note::Note;

use super::grammar::{Elem, Head};
use super::key::{parse_key, Propagation};
use super::{MAX_LEN, VELOCITY};

pub(super) struct Player {
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
    pub(super) notes: Vec<Note>,
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
    pub(super) bar_lines: Vec<f64>,
    /// The meter and seconds per whole note where the first of them was drawn.
    first_bar: Option<(Option<(u32, u32)>, f64)>,
    /// The meter the header declares.
    header_meter: Option<(u32, u32)>,
}

impl Player {
    pub(super) fn new(header: &[(char, String)], propagate: Propagation) -> Self {
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
    pub(super) fn bars(&self) -> Bars {
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

    pub(super) fn play(&mut self, e: &Elem) {
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

#[cfg(test)]
mod tests {
    use super::parse_meter;
    use crate::music::abc::tests::{one, pitches};
    use crate::music::abc::{bar_lines, parse_abc, signature_fifths};

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
    fn chords_keep_the_top_note() {
        assert_eq!(one("[CEG]2 [c'E]"), [(67, 0.0, 0.5), (84, 0.5, 0.25)]);
        // The chord's length is its first note's length times the outer length.
        assert_eq!(one("[C2E2]3 D"), [(64, 0.0, 1.5), (62, 1.5, 0.25)]);
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
    fn only_the_first_voice_is_kept() {
        assert_eq!(pitches("V:1\nC D\nV:2\nE F\nV:1\nG"), [60, 62, 67]);
        let text = "X:1\nV:1\nV:2\nK:C\nV:1\nC\nV:2\nE\n";
        let notes = &parse_abc(text, "v.abc").0[0].notes;
        assert_eq!(notes.iter().map(|n| n.pitch).collect::<Vec<_>>(), [60]);
    }

    #[test]
    fn out_of_range_pitches_are_dropped_but_keep_time() {
        let n = one("c'''''' C");
        assert_eq!(n, [(60, 0.25, 0.25)]);
    }
}
