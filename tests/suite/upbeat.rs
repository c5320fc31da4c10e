//! Tunes that begin with an upbeat keep their bars. Most European folk tunes start with one;
//! written from their first note as if it began a bar, every bar line shifts and notes get
//! tied across bar lines the source never had (round 2: 14 of 15 Irish Essen tunes).
//!
//! The tunes are 20 Essen tunes with an upbeat (`tests/fixtures/abc/essen_upbeats.abc`: 15
//! Irish, 5 German children's songs; 2/4 to 9/8). Golden: music21's reading of them
//! (`tests/golden/upbeat_music21.txt`, made by `tests/golden/upbeat_music21.py`): the pickup,
//! the bar lines' offsets and how often a note crosses a bar line. tms must find the same
//! pickup, write bar lines at the same offsets, and tie across no other bar line; where
//! music21 is installed, its reading of tms's ABC and MusicXML must be the golden line itself.

use crate::support::{root, tms_in};

use tms::music::abc::{bar_lines, parse_abc};
use tms::music::notation::{self, Format, Options};
use tms::music::note::Tune;

const FIXTURE: &str = "tests/fixtures/abc/essen_upbeats.abc";
const GOLDEN: &str = "tests/golden/upbeat_music21.txt";

/// One line of the golden file.
struct Golden {
    line: String,
    meter: String,
    pickup: f64,
    bars: Vec<f64>,
    crossings: usize,
}

fn golden() -> Vec<Golden> {
    let text = std::fs::read_to_string(root().join(GOLDEN)).expect("golden file");
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let at = |word: &str| f.iter().position(|w| *w == word).expect(word);
            let (b, c) = (at("bars"), at("crossings"));
            Golden {
                line: l.to_string(),
                meter: f[1].trim_start_matches("M:").to_string(),
                pickup: f[at("pickup") + 1].parse().expect("pickup"),
                bars: f[b + 1..c]
                    .iter()
                    .map(|x| x.parse().expect("bar"))
                    .collect(),
                crossings: f[c + 1].parse().expect("crossings"),
            }
        })
        .collect()
}

fn tunes() -> Vec<Tune> {
    let text = std::fs::read_to_string(root().join(FIXTURE)).expect("fixture");
    let (tunes, errors) = parse_abc(&text, FIXTURE);
    assert!(errors.is_empty(), "{errors:?}");
    tunes
}

/// The tune written as `format` in its own meter and with its own upbeat.
fn write(tune: &Tune, format: Format) -> String {
    let opts = Options {
        title: tune.fields.title.clone(),
        meter: tune.bars.meter.expect("every fixture tune has a meter"),
        upbeat: tune.bars.upbeat,
        ..Options::default()
    };
    notation::write(format, &tune.notes, &opts)
        .expect("writes")
        .text
}

/// Offsets in quarter notes as the golden file writes them (sums of seconds drift a little).
fn quarters(seconds: &[f64]) -> Vec<f64> {
    seconds
        .iter()
        .map(|t| (t * 2.0 * 1e6).round() / 1e6)
        .collect()
}

/// Ties written across a bar line (`d2- | d2`); ties inside a bar keep its beats visible.
fn ties_across_bar_lines(abc: &str) -> usize {
    let body: String = abc
        .lines()
        .skip_while(|l| !l.starts_with("K:"))
        .skip(1)
        .collect::<Vec<_>>()
        .join(" ");
    let chars: Vec<char> = body.chars().filter(|c| !c.is_whitespace()).collect();
    chars.windows(2).filter(|w| w == &['-', '|']).count()
}

#[test]
fn essen_upbeat_tunes_are_written_with_the_source_s_bar_lines() {
    let tunes = tunes();
    let golden = golden();
    assert_eq!(tunes.len(), golden.len());
    for (tune, g) in tunes.iter().zip(&golden) {
        let name = &tune.source;
        let meter = tune.bars.meter.map(|m| m.to_string());
        assert_eq!(meter.as_deref(), Some(g.meter.as_str()), "{name}");
        // Seconds at 120 BPM are half quarter notes.
        assert_eq!(tune.bars.upbeat * 2.0, g.pickup, "{name}: the pickup");
        let abc = write(tune, Format::Abc);
        let written = quarters(&bar_lines(&abc)[0]);
        // The written tune may end its last bar with a rest, so it has one more bar line.
        assert_eq!(
            written[..g.bars.len().min(written.len())],
            g.bars[..],
            "{name}: bar lines written (quarters)\n{abc}"
        );
        assert_eq!(written.len(), g.bars.len() + 1, "{name}\n{abc}");
        assert_eq!(
            ties_across_bar_lines(&abc),
            g.crossings,
            "{name}: ties across bar lines\n{abc}"
        );
    }
}

#[test]
fn without_its_upbeat_a_tune_s_bar_lines_shift() {
    // What tms wrote before melodies knew their bars: the check above would fail.
    let tunes = tunes();
    let golden = golden();
    let shifted = tunes
        .iter()
        .zip(&golden)
        .filter(|(tune, g)| {
            let flat = Tune {
                bars: tms::music::meter::Bars {
                    upbeat: 0.0,
                    ..tune.bars
                },
                ..(*tune).clone()
            };
            let abc = write(&flat, Format::Abc);
            let written = quarters(&bar_lines(&abc)[0]);
            written[..g.bars.len().min(written.len())] != g.bars[..]
        })
        .count();
    assert_eq!(shifted, tunes.len());
}

#[test]
fn music21_reads_tms_s_abc_and_musicxml_with_the_source_s_bars() {
    let python = match crate::notation::music21_python() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let tunes = tunes();
    let mut files = Vec::new();
    for (k, tune) in tunes.iter().enumerate() {
        for (format, ext) in [(Format::Abc, "abc"), (Format::MusicXml, "musicxml")] {
            let path = dir.path().join(format!("{k}.{ext}"));
            std::fs::write(&path, write(tune, format)).unwrap();
            files.push(path);
        }
    }
    let out = std::process::Command::new(python)
        .arg(root().join("tests/golden/upbeat_music21.py"))
        .args(&files)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = String::from_utf8_lossy(&out.stdout).into_owned();
    let read: Vec<&str> = read.lines().collect();
    assert_eq!(read.len(), files.len());
    // Everything after the tune's number: tms numbers each file's tune 1 (ABC) or not at all.
    let rest = |l: &str| {
        l.split_once(' ')
            .map_or(String::new(), |(_, r)| r.to_string())
    };
    for (k, g) in golden().iter().enumerate() {
        for (j, what) in ["ABC", "MusicXML"].iter().enumerate() {
            assert_eq!(
                rest(read[2 * k + j]),
                rest(&g.line),
                "{what} of {}: music21 reads other bars",
                tunes[k].source
            );
        }
    }
}

#[test]
fn prime_takes_the_tune_s_meter_and_upbeat_and_write_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let src = root().join(FIXTURE);
    // X:3: 3/4 with a quarter-note upbeat (`F2G2 | A4f4e3c | d4e4A3=B |`).
    let run = tms_in(
        dir.path(),
        &[
            "-c",
            &format!(
                "prime \"{}#3\" last 1000; write \"a.abc\"; prime \"{}#3\" last 10; write \"b.abc\"",
                src.display(),
                src.display()
            ),
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].ends_with("; meter 3/4 from the tune; upbeat 1/4)"),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[1],
        "wrote 76 notes to a.abc (F gong (estimated), 3/4, 120 BPM)"
    );
    let a = std::fs::read_to_string(dir.path().join("a.abc")).unwrap();
    assert!(a.contains("\nM:3/4\n"), "{a}");
    let body = a
        .lines()
        .skip_while(|l| !l.starts_with("K:"))
        .nth(1)
        .unwrap();
    assert!(
        body.starts_with("FG | A2 f2 e3/2c/2 | d2 e2 A3/2=B/2 |"),
        "{a}"
    );
    // The last 10 notes start mid-bar: the primer's first bar is the rest of that bar.
    let b = std::fs::read_to_string(dir.path().join("b.abc")).unwrap();
    let first = quarters(&bar_lines(&b)[0])[0];
    let tune = &tunes()[1];
    let t0 = tune.notes[tune.notes.len() - 10].start * 2.0;
    let source_next = golden()[1]
        .bars
        .iter()
        .copied()
        .find(|&b| b > t0 + 1e-9)
        .unwrap();
    assert!((first - (source_next - t0)).abs() < 1e-6, "{first} {b}");
}
