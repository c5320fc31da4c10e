//! `show`: the current melody as a piano roll in the terminal, so a musician can see the
//! contour, range and rhythm of what the model produced without leaving the prompt. The whole
//! melody always fits the given width: the time per column doubles until it does.

use crate::music::note::Note;
use crate::music::stats::note_name;
use colored::Colorize;
use std::fmt::Write;

/// Label column: `C#-1` is the widest name, then a space.
const LABEL: usize = 5;
/// Finest resolution: a 32nd note at the reference 120 BPM.
const FINEST: f64 = 0.0625;

#[derive(Clone, Copy, PartialEq)]
enum Cell {
    Empty,
    /// (primer, loud, onset)
    Note(bool, bool, bool),
}

/// Draws `notes` (seconds) in at most `width` columns. Notes before index `split` are the
/// primer; `color` paints them apart (primer cyan, generated yellow, quiet notes dimmed),
/// otherwise plain ASCII: `#` where a note starts, `=` while it sounds, `.` along C rows, and
/// a `^` under the first generated note.
pub fn render(notes: &[Note], split: usize, width: usize, color: bool) -> String {
    if notes.is_empty() {
        return "no notes\n".into();
    }
    let t0 = notes.iter().map(|n| n.start).fold(0.0f64, f64::min);
    let end = notes.iter().map(Note::end).fold(t0, f64::max);
    let total = if (end - t0).is_finite() {
        end - t0
    } else {
        0.0
    };
    let cols = width.saturating_sub(LABEL).max(8);
    let mut col = FINEST;
    for _ in 0..80 {
        if (total / col).ceil() <= cols as f64 {
            break;
        }
        col *= 2.0;
    }
    let used = ((total / col).ceil() as usize).clamp(1, cols);
    let to_col = |t: f64| (((t - t0) / col).max(0.0) as usize).min(used);

    let lo = notes.iter().map(|n| n.pitch.min(127)).min().unwrap_or(60);
    let hi = notes.iter().map(|n| n.pitch.min(127)).max().unwrap_or(60);
    let mut grid = vec![vec![Cell::Empty; used]; (hi - lo) as usize + 1];
    // Draw in time order so a later onset is never hidden under an earlier note's tail.
    let mut order: Vec<usize> = (0..notes.len()).collect();
    order.sort_by(|&a, &b| notes[a].start.total_cmp(&notes[b].start));
    for i in order {
        let n = &notes[i];
        let row = &mut grid[(hi - n.pitch.min(127)) as usize];
        let c0 = to_col(n.start).min(used - 1);
        let c1 = ((((n.end() - t0) / col) - 1e-9).ceil().max(0.0) as usize).clamp(c0 + 1, used);
        for (c, cell) in row.iter_mut().enumerate().take(c1).skip(c0) {
            *cell = Cell::Note(i < split, n.velocity >= 64, c == c0);
        }
    }

    let mut out = String::new();
    let primer = split.min(notes.len());
    let plural = if notes.len() == 1 { "" } else { "s" };
    let _ = write!(out, "{} note{plural}", notes.len());
    if primer > 0 {
        let _ = write!(out, " ({primer} primer)");
    }
    let _ = writeln!(out, ", {total:.1} s, 1 column = {col} s");
    for (r, row) in grid.iter().enumerate() {
        let pitch = hi - r as u8;
        let is_c = pitch.is_multiple_of(12);
        let label = format!("{:>4} ", note_name(pitch));
        let mut line = if color && is_c {
            label.bold().to_string()
        } else if color {
            label.dimmed().to_string()
        } else {
            label
        };
        let mut body = String::new();
        let mut run: Option<(Cell, String)> = None;
        for &cell in row {
            let ch = match (cell, color) {
                (Cell::Empty, _) if !is_c => ' ',
                (Cell::Empty, false) => '.',
                (Cell::Empty, true) => '·',
                (Cell::Note(_, _, true), false) => '#',
                (Cell::Note(_, _, false), false) => '=',
                (Cell::Note(_, _, true), true) => '▐',
                (Cell::Note(_, _, false), true) => '█',
            };
            if !color {
                body.push(ch);
                continue;
            }
            // Group equal cells so each run gets one colour escape.
            let key = match cell {
                Cell::Note(p, l, _) => Cell::Note(p, l, false),
                e => e,
            };
            match &mut run {
                Some((k, s)) if *k == key => s.push(ch),
                _ => {
                    if let Some((k, s)) = run.take() {
                        body.push_str(&paint(k, &s));
                    }
                    run = Some((key, ch.to_string()));
                }
            }
        }
        if let Some((k, s)) = run {
            body.push_str(&paint(k, &s));
        }
        line.push_str(&body);
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if primer > 0 && primer < notes.len() {
        let c = to_col(notes[primer].start).min(used - 1);
        let marker = format!("{}^ generated", " ".repeat(LABEL + c));
        let _ = writeln!(
            out,
            "{}",
            if color {
                marker.dimmed().to_string()
            } else {
                marker
            }
        );
    }
    out
}

fn paint(cell: Cell, s: &str) -> String {
    match cell {
        Cell::Empty => s.dimmed().to_string(),
        Cell::Note(true, true, _) => s.bright_cyan().to_string(),
        Cell::Note(true, false, _) => s.cyan().dimmed().to_string(),
        Cell::Note(false, true, _) => s.bright_yellow().to_string(),
        Cell::Note(false, false, _) => s.yellow().dimmed().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(pitch: u8, start: f64, duration: f64) -> Note {
        Note {
            pitch,
            start,
            duration,
            velocity: 100,
        }
    }

    fn melody() -> Vec<Note> {
        vec![
            n(60, 0.0, 0.5),
            n(62, 0.5, 0.25),
            n(64, 0.75, 0.75),
            n(62, 1.5, 0.5),
            n(60, 2.0, 0.5),
            n(60, 2.5, 1.0),
        ]
    }

    #[test]
    fn small_melody_ascii() {
        let got = render(&melody(), 2, 80, false);
        let want = "\
6 notes (2 primer), 3.5 s, 1 column = 0.0625 s
  E4             #===========
 D#4
  D4         #===            #=======
 C#4
  C4 #=======........................#=======#===============
                 ^ generated
";
        assert_eq!(got, want, "\n{got}");
    }

    #[test]
    fn long_melodies_fit_the_width() {
        let long: Vec<Note> = (0..128)
            .map(|i| n(60 + (i % 13) as u8, i as f64 * 0.25, 0.25))
            .collect();
        let got = render(&long, 0, 40, false);
        let mut lines = got.lines();
        assert_eq!(lines.next(), Some("128 notes, 32.0 s, 1 column = 1 s"));
        for l in lines {
            assert!(l.chars().count() <= 40, "{l:?}");
        }
        assert_eq!(got.lines().count(), 1 + 13);
        // The top row is C5, then B4 ... down to C4.
        assert!(got.lines().nth(1).unwrap().starts_with("  C5 "));
        assert!(got.lines().last().unwrap().starts_with("  C4 "));
    }

    #[test]
    fn edge_cases_do_not_panic() {
        assert_eq!(render(&[], 0, 80, false), "no notes\n");
        let odd = [n(127, 0.0, 0.0), n(0, 1e9, f64::INFINITY), n(5, -3.0, 1.0)];
        let _ = render(&odd, 9, 0, false);
        let _ = render(&odd, 1, 3, true);
        let got = render(&[n(69, 0.0, 0.01)], 1, 10, false);
        assert_eq!(
            got,
            "1 note (1 primer), 0.0 s, 1 column = 0.0625 s\n  A4 #\n"
        );
    }

    #[test]
    fn colour_marks_primer_and_generated_apart() {
        colored::control::set_override(true);
        let got = render(&melody(), 2, 80, true);
        assert!(got.contains('▐') && got.contains('█'));
        assert!(got.contains("\x1b[96m"), "primer in bright cyan");
        assert!(got.contains("\x1b[93m"), "generated in bright yellow");
        assert!(!render(&melody(), 2, 80, false).contains('\x1b'));
    }
}
