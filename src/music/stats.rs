//! `dataset`: what was loaded, at a glance. Before training, a musician wants to see whether
//! the pitch range, rhythm and tune lengths look like the music they meant to load (a wrong
//! glob or a file full of drums shows up here first).

use crate::music::note::Tune;
use colored::Colorize;
use std::fmt::Write;

pub use crate::music::pitch::note_name;

/// Linear interpolation between closest ranks (numpy's default). `sorted` must be sorted.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

fn percentiles_line(label: &str, mut values: Vec<f64>) -> String {
    if values.is_empty() {
        return format!("{label:<14}-\n");
    }
    values.sort_by(f64::total_cmp);
    let mut line = format!("{label:<14}");
    for p in [5.0, 25.0, 50.0, 75.0, 95.0] {
        let _ = write!(line, "p{p:<2} {:.3}  ", percentile(&values, p));
    }
    format!("{}\n", line.trim_end())
}

/// Counts as every other line of tms writes them: plain digits, no thousands separators,
/// so `load` and `dataset` agree (`43506`) and scripts can read them back.
fn count(n: usize) -> String {
    n.to_string()
}

/// The file part of a tune's source: multi-tune ABC files give `path#X` per tune.
fn file_of(source: &str) -> &str {
    match source.rsplit_once('#') {
        Some((file, x)) if !x.is_empty() && x.chars().all(|c| c.is_ascii_digit()) => file,
        _ => source,
    }
}

/// The `dataset` report. `width` is the terminal width the histogram bars are scaled to.
pub fn summary(tunes: &[Tune], color: bool, width: usize) -> String {
    let paint = |s: &str, f: fn(&str) -> colored::ColoredString| {
        if color {
            f(s).to_string()
        } else {
            s.to_string()
        }
    };
    let total: usize = tunes.iter().map(|t| t.notes.len()).sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} tunes, {} notes",
        paint(&count(tunes.len()), |s| s.bold()),
        paint(&count(total), |s| s.bold())
    );
    if total == 0 {
        return out;
    }

    let mut hist = [0usize; 128];
    for n in tunes.iter().flat_map(|t| &t.notes) {
        hist[n.pitch as usize & 127] += 1;
    }
    let lo = hist.iter().position(|&c| c > 0).unwrap_or(0);
    let hi = hist.iter().rposition(|&c| c > 0).unwrap_or(0);
    let _ = writeln!(
        out,
        "pitch range   {lo}–{hi} ({}–{})",
        note_name(lo as u8),
        note_name(hi as u8)
    );

    // One bar per pitch present, highest on top like a keyboard stood on end.
    let max = hist.iter().copied().max().unwrap_or(1).max(1);
    let count_w = count(max).len();
    let bar_room = width.saturating_sub(4 + 1 + 1 + count_w + 2).max(10);
    let _ = writeln!(out, "pitches");
    for p in (lo..=hi).rev().filter(|&p| hist[p] > 0) {
        let c = hist[p];
        let len = ((c as f64 / max as f64) * bar_room as f64).round().max(1.0) as usize;
        let label = format!("{:>4}", note_name(p as u8));
        let (label, bar) = if color {
            let bar = "█".repeat(len);
            let bar = if p.is_multiple_of(12) {
                bar.cyan()
            } else {
                bar.blue()
            };
            let label = if p.is_multiple_of(12) {
                label.bold()
            } else {
                label.normal()
            };
            (label.to_string(), bar.to_string())
        } else {
            (label, "#".repeat(len))
        };
        let _ = writeln!(out, "  {label} {bar} {}", count(c));
    }

    let mut steps = Vec::new();
    let mut durations = Vec::new();
    for t in tunes {
        // A tune's first note has no real step; counting it as 0 would skew the low end.
        for w in t.notes.windows(2) {
            steps.push(w[1].start - w[0].start);
        }
        durations.extend(t.notes.iter().map(|n| n.duration));
    }
    out.push_str(&percentiles_line("step (s)", steps));
    out.push_str(&percentiles_line("duration (s)", durations));

    let mut lens: Vec<usize> = tunes.iter().map(|t| t.notes.len()).collect();
    lens.sort_unstable();
    let _ = writeln!(
        out,
        "notes per tune min {}  median {}  max {}",
        lens[0],
        lens[lens.len() / 2],
        lens[lens.len() - 1]
    );

    let mut files: Vec<(&str, usize)> = Vec::new();
    for t in tunes {
        let f = file_of(&t.source);
        match files.iter_mut().find(|(g, _)| *g == f) {
            Some((_, n)) => *n += 1,
            None => files.push((f, 1)),
        }
    }
    let shown: Vec<String> = files
        .iter()
        .take(5)
        .map(|(f, n)| {
            if *n == 1 {
                f.to_string()
            } else {
                format!("{f} ({} tunes)", count(*n))
            }
        })
        .collect();
    let more = if files.len() > 5 {
        format!(" … and {} more", count(files.len() - 5))
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{} {}{more}",
        if files.len() == 1 { "file " } else { "files" },
        shown.join(", ")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::music::note::Note;

    fn tune(source: &str, pitches: &[u8], step: f64) -> Tune {
        Tune {
            source: source.into(),
            notes: pitches
                .iter()
                .enumerate()
                .map(|(i, &p)| Note {
                    pitch: p,
                    start: i as f64 * step,
                    duration: step / 2.0,
                    velocity: 100,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn names() {
        assert_eq!(note_name(60), "C4");
        assert_eq!(note_name(0), "C-1");
        assert_eq!(note_name(127), "G9");
        assert_eq!(note_name(78), "F#5");
        assert_eq!(note_name(69), "A4");
    }

    #[test]
    fn percentiles_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        // numpy.percentile([1,2,3,4], [5,25,50,75,95]) = 1.15, 1.75, 2.5, 3.25, 3.85
        for (p, want) in [
            (5.0, 1.15),
            (25.0, 1.75),
            (50.0, 2.5),
            (75.0, 3.25),
            (95.0, 3.85),
        ] {
            assert!((percentile(&v, p) - want).abs() < 1e-12, "p{p}");
        }
        assert_eq!(percentile(&[7.0], 50.0), 7.0);
    }

    #[test]
    fn plain_summary() {
        let tunes = vec![
            tune("han1.abc#1", &[60, 62, 64, 60], 0.5),
            tune("han1.abc#2", &[67, 60], 0.25),
            tune("a.mid", &[72], 1.0),
        ];
        let s = summary(&tunes, false, 40);
        let want = "\
3 tunes, 7 notes
pitch range   60–72 (C4–C5)
pitches
    C5 ########## 1
    G4 ########## 1
    E4 ########## 1
    D4 ########## 1
    C4 ############################### 3
step (s)      p5  0.287  p25 0.438  p50 0.500  p75 0.500  p95 0.500
duration (s)  p5  0.125  p25 0.188  p50 0.250  p75 0.250  p95 0.425
notes per tune min 1  median 2  max 4
files han1.abc (2 tunes), a.mid
";
        assert_eq!(s, want);
    }

    #[test]
    fn many_sources_and_empty() {
        let tunes: Vec<Tune> = (0..8)
            .map(|i| tune(&format!("f{i}.mid"), &[60], 1.0))
            .collect();
        let s = summary(&tunes, false, 80);
        assert!(s.ends_with("files f0.mid, f1.mid, f2.mid, f3.mid, f4.mid … and 3 more\n"));
        assert!(s.contains("step (s)      -\n"));
        assert_eq!(summary(&[], false, 80), "0 tunes, 0 notes\n");
        assert_eq!(count(59860), "59860");
        assert_eq!(count(999), "999");
    }

    #[test]
    fn colour_only_when_asked() {
        let tunes = vec![tune("a.mid", &[60, 61], 0.5)];
        assert!(!summary(&tunes, false, 80).contains('\x1b'));
        colored::control::set_override(true);
        assert!(summary(&tunes, true, 80).contains('\x1b'));
    }
}
