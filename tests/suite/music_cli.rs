//! The music commands as a user meets them through the real binary: `load` (globs with bad
//! files among good ones, `limit`, `where`), `export` (the CSV contract, checked against
//! values computed here by hand), `write`/`load`/`prime` round trips, `show`, `render` with a
//! real SoundFont, `dataset` on the real Essen corpus, and bad input that must end in one clear
//! line and never a panic.
//!
//! The Essen songs (datasets/essen/han1.abc, han2.abc, fetched by
//! tests/golden/fetch_essen.sh) are optional: without them those tests print a note and pass,
//! unless TMS_REQUIRE_ESSEN is set. The same holds for the SoundFonts in /usr/share/sounds/sf2.

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use support::*;

const FIXTURES: &str = "tests/fixtures/midi";

/// An Essen file, or None (with a note) when the corpus has not been fetched.
fn essen(name: &str) -> Option<PathBuf> {
    let path = root().join("datasets/essen").join(name);
    if path.is_file() {
        return Some(path);
    }
    if std::env::var_os("TMS_REQUIRE_ESSEN").is_some() {
        panic!(
            "{} is missing and TMS_REQUIRE_ESSEN is set (run tests/golden/fetch_essen.sh)",
            path.display()
        );
    }
    eprintln!(
        "skipped: {} is missing (run tests/golden/fetch_essen.sh)",
        path.display()
    );
    None
}

fn soundfont(name: &str) -> Option<PathBuf> {
    let path = Path::new("/usr/share/sounds/sf2").join(name);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!("skipped: {} is not installed", path.display());
        None
    }
}

fn fixture(name: &str) -> PathBuf {
    root().join(FIXTURES).join(name)
}

fn s(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

/// Nothing the user sees may be a Rust panic.
fn no_panic(run: &Run) {
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains("panicked") && !text.contains("RUST_BACKTRACE"),
            "a panic reached the user:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
}

fn ok(run: &Run) {
    no_panic(run);
    assert_eq!(
        run.code, 0,
        "tms failed:\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
}

/// The LANGUAGE.md error shape for `tms -c TEXT`, the span being the first occurrence of
/// `what` in TEXT (which must be a single line).
fn error_at(text: &str, what: &str, message: &str) -> String {
    let byte = text.find(what).expect("span in the command");
    let col = text[..byte].chars().count();
    format!(
        "<command-line>:1:{}: error: {message}\n    {text}\n    {}{}\n",
        col + 1,
        " ".repeat(col),
        "^".repeat(what.chars().count())
    )
}

/// The load summary without its timing: `loaded …, N notes in T s…` must have a number of
/// seconds where T is; returns the line with T replaced by `T`.
fn summary_line(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("loaded "))
        .unwrap_or_else(|| panic!("no `loaded` summary in:\n{stdout}"));
    let (head, rest) = line.split_once(" in ").expect("` in ` before the time");
    let (secs, tail) = rest.split_once(" s").expect("seconds");
    let secs: f64 = secs
        .parse()
        .unwrap_or_else(|_| panic!("time `{secs}` in {line:?}"));
    assert!((0.0..600.0).contains(&secs), "{line}");
    assert!(
        rest.starts_with(&format!("{secs:.2}")),
        "two decimals: {line}"
    );
    format!("{head} in T s{tail}")
}

#[derive(Debug, Clone, PartialEq)]
struct Row {
    source: String,
    pitch: u8,
    start: f64,
    step: f64,
    duration: f64,
    velocity: u8,
}

/// Parses an exported CSV, checking the header and that every time has at least 6 decimals.
fn read_csv(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("source,pitch,start,step,duration,velocity")
    );
    lines
        .map(|line| {
            // The source may be quoted; the five numbers never contain commas.
            let cols: Vec<&str> = line.rsplitn(6, ',').collect();
            assert_eq!(cols.len(), 6, "{line}");
            for t in &cols[1..4] {
                let decimals = t.split_once('.').map_or(0, |(_, d)| d.len());
                assert!(decimals >= 6, "`{t}` has fewer than 6 decimals in {line}");
            }
            Row {
                source: cols[5].to_string(),
                pitch: cols[4].parse().expect("pitch"),
                start: cols[3].parse().expect("start"),
                step: cols[2].parse().expect("step"),
                duration: cols[1].parse().expect("duration"),
                velocity: cols[0].parse().expect("velocity"),
            }
        })
        .collect()
}

/// The step column recomputed from the start column: 0 for a tune's first note.
fn check_steps(rows: &[Row]) {
    for (i, r) in rows.iter().enumerate() {
        let want = match i.checked_sub(1).map(|j| &rows[j]) {
            Some(p) if p.source == r.source => r.start - p.start,
            _ => 0.0,
        };
        // Each printed value is rounded to 1e-6 on its own.
        assert!(
            (r.step - want).abs() <= 1.5e-6,
            "row {}: step {} but start − previous start = {want}",
            i + 1,
            r.step
        );
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

// ---------------------------------------------------------------------------------------
// A MIDI file written byte by byte, so its notes are known without any reader.

fn vlq(mut v: u32, out: &mut Vec<u8>) {
    let mut bytes = vec![(v & 0x7f) as u8];
    v >>= 7;
    while v > 0 {
        bytes.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    bytes.reverse();
    out.extend(bytes);
}

fn track(events: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut now = 0;
    for (tick, bytes) in events {
        vlq(tick - now, &mut body);
        now = *tick;
        body.extend(bytes);
    }
    body.extend([0x00, 0xff, 0x2f, 0x00]);
    let mut out = b"MTrk".to_vec();
    out.extend((body.len() as u32).to_be_bytes());
    out.extend(body);
    out
}

const TPQ: u32 = 96;
/// (tick, microseconds per quarter) of the hand-made file's tempo map.
const TEMPOS: [(u32, u32); 2] = [(0, 500_000), (192, 1_000_000)];
/// (on tick, off tick, pitch, velocity); written in this order, the chord's top note first.
const HAND_NOTES: [(u32, u32, u8, u8); 5] = [
    (0, 96, 60, 100),
    (96, 192, 67, 80),
    (96, 192, 64, 81),
    (192, 224, 72, 90),
    (240, 288, 71, 77),
];

/// Seconds at a tick under TEMPOS, computed segment by segment.
fn hand_seconds(tick: u32) -> f64 {
    let mut secs = 0.0;
    for (k, &(at, us)) in TEMPOS.iter().enumerate() {
        let until = TEMPOS.get(k + 1).map_or(u32::MAX, |t| t.0).min(tick);
        if until > at {
            secs += f64::from(until - at) * f64::from(us) / 1e6 / f64::from(TPQ);
        }
    }
    secs
}

/// A format-1 file: track 0 the tempo map, track 1 the notes (offs as note-on velocity 0
/// for the last note, as many writers do).
fn hand_midi() -> Vec<u8> {
    let tempo: Vec<(u32, Vec<u8>)> = TEMPOS
        .iter()
        .map(|&(t, us)| {
            let b = us.to_be_bytes();
            (t, vec![0xff, 0x51, 0x03, b[1], b[2], b[3]])
        })
        .collect();
    let mut events: Vec<(u32, u8, Vec<u8>)> = Vec::new();
    for (k, &(on, off, p, v)) in HAND_NOTES.iter().enumerate() {
        events.push((on, 1, vec![0x90, p, v]));
        let off_msg = if k == HAND_NOTES.len() - 1 {
            vec![0x90, p, 0]
        } else {
            vec![0x80, p, 64]
        };
        events.push((off, 0, off_msg));
    }
    events.sort_by_key(|e| (e.0, e.1));
    let notes: Vec<(u32, Vec<u8>)> = events.into_iter().map(|(t, _, m)| (t, m)).collect();
    let mut out = b"MThd".to_vec();
    out.extend(6u32.to_be_bytes());
    out.extend(1u16.to_be_bytes());
    out.extend(2u16.to_be_bytes());
    out.extend((TPQ as u16).to_be_bytes());
    out.extend(track(&tempo));
    out.extend(track(&notes));
    out
}

/// Two tunes in ABC, with their notes worked out by hand below.
const HAND_ABC: &str = "\
X:3
T:One
M:2/4
L:1/8
Q:1/4=90
K:D
D2 F A | d>c B2 |]

X:5
T:Two
M:4/4
L:1/4
K:F
B c z ^c c | =B2 B |]
";

/// (source, pitch, start, duration) of HAND_ABC then hand.mid, in seconds.
fn hand_expected() -> Vec<(&'static str, u8, f64, f64)> {
    // X:3 — an eighth at Q:1/4=90 lasts 1/3 s; K:D sharpens F and C; `d>c` is 3/2 + 1/2.
    let e = 1.0 / 3.0;
    let mut rows = vec![
        ("songs/a.abc#3", 62, 0.0, 2.0 * e),
        ("songs/a.abc#3", 66, 2.0 * e, e),
        ("songs/a.abc#3", 69, 3.0 * e, e),
        ("songs/a.abc#3", 74, 4.0 * e, 1.5 * e),
        ("songs/a.abc#3", 73, 5.5 * e, 0.5 * e),
        ("songs/a.abc#3", 71, 6.0 * e, 2.0 * e),
    ];
    // X:5 — no Q: means 120 quarters per minute; K:F flattens B; `^c` lasts to the bar line
    // (ABC 2.1), and so does `=B` in the next bar; `z` is a quarter rest.
    let q = 0.5;
    rows.extend([
        ("songs/a.abc#5", 70, 0.0, q),
        ("songs/a.abc#5", 72, q, q),
        ("songs/a.abc#5", 73, 3.0 * q, q),
        ("songs/a.abc#5", 73, 4.0 * q, q),
        ("songs/a.abc#5", 71, 5.0 * q, 2.0 * q),
        ("songs/a.abc#5", 71, 7.0 * q, q),
    ]);
    // hand.mid — sorted by start then pitch, so the chord comes out 64 before 67.
    let mut midi: Vec<_> = HAND_NOTES
        .iter()
        .map(|&(on, off, p, _)| {
            (
                "songs/b.mid",
                p,
                hand_seconds(on),
                hand_seconds(off) - hand_seconds(on),
            )
        })
        .collect();
    midi.sort_by(|a, b| a.2.total_cmp(&b.2).then(a.1.cmp(&b.1)));
    rows.extend(midi);
    rows
}

// ---------------------------------------------------------------------------------------
// 1. load

#[test]
fn load_of_a_glob_reports_each_bad_file_and_loads_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let songs = dir.path().join("songs");
    std::fs::create_dir(&songs).unwrap();
    for name in [
        "music21_test01.mid",
        "music21_test02.mid",
        "music21_test07.mid",
        "edge_truncated.mid",
    ] {
        std::fs::copy(fixture(name), songs.join(name)).unwrap();
    }
    std::fs::write(songs.join("broken.mid"), b"RIFF this is not a MIDI file").unwrap();
    // Tune 2 never closes its chord: that tune is skipped, tunes 1 and 3 load.
    std::fs::write(
        songs.join("folk.abc"),
        "X:1\nT:a\nK:C\nCDEF|\n\nX:2\nT:b\nK:C\nC[EG|\n\nX:3\nT:c\nK:G\nGAB|\n",
    )
    .unwrap();

    let run = tms_c_in(dir.path(), "load \"songs/*\"; export \"all.csv\"");
    ok(&run);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "skipped songs/broken.mid: not a MIDI file (no MThd header)",
            "skipped songs/edge_truncated.mid: truncated track 2",
            "skipped songs/folk.abc: tune 2, line 9: unterminated chord",
        ],
        "{}",
        run.stdout
    );
    // Notes: pretty_midi's counts for the three music21 files (tests/golden/midi) + 4 + 3.
    let golden: usize = ["music21_test01", "music21_test02", "music21_test07"]
        .iter()
        .map(|n| {
            let csv = root().join(format!("tests/golden/midi/{n}.csv"));
            std::fs::read_to_string(csv).unwrap().lines().count() - 1
        })
        .sum();
    assert_eq!(golden, 18 + 36 + 318);
    assert_eq!(
        summary_line(&run.stdout),
        format!(
            "loaded 6 files, 5 tunes, {} notes in T s, 3 skipped",
            golden + 7
        )
    );
    assert_eq!(
        lines[4],
        format!("wrote {} notes of 5 tunes to all.csv", golden + 7)
    );
    assert_eq!(lines.len(), 5, "{}", run.stdout);

    // The good ones are the dataset, in sorted file order.
    let rows = read_csv(&dir.path().join("all.csv"));
    let mut sources: Vec<String> = rows.iter().map(|r| r.source.clone()).collect();
    sources.dedup();
    assert_eq!(
        sources,
        [
            "songs/folk.abc#1",
            "songs/folk.abc#3",
            "songs/music21_test01.mid",
            "songs/music21_test02.mid",
            "songs/music21_test07.mid",
        ]
    );
}

#[test]
fn load_limit_keeps_the_first_tunes() {
    // MIDI: the limit counts tunes, so a bad file before the good ones does not use it up.
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "music21_test01.mid",
        "music21_test02.mid",
        "music21_test08.mid",
    ] {
        std::fs::copy(fixture(name), dir.path().join(name)).unwrap();
    }
    std::fs::write(dir.path().join("a_bad.mid"), b"").unwrap();
    let run = tms_c_in(dir.path(), "load \"*.mid\" limit 2; export \"l.csv\"");
    ok(&run);
    assert!(
        run.stdout
            .starts_with("skipped a_bad.mid: not a MIDI file (no MThd header)\n"),
        "{}",
        run.stdout
    );
    assert_eq!(
        summary_line(&run.stdout),
        "loaded 3 files, 2 tunes, 54 notes in T s, 1 skipped"
    );
    let rows = read_csv(&dir.path().join("l.csv"));
    assert_eq!(rows.len(), 18 + 36);
    assert_eq!(rows.last().unwrap().source, "music21_test02.mid");

    // ABC: the first 5 tunes of han1, note for note the start of the whole file's export.
    let Some(han1) = essen("han1.abc") else {
        return;
    };
    let han1 = s(&han1);
    let run = tms_c_in(
        dir.path(),
        &format!(
            "load \"{han1}\" limit 5; export \"five.csv\"; load \"{han1}\"; export \"all.csv\""
        ),
    );
    ok(&run);
    // 64 + 57 + 24 + 41 + 24 notes: music21's reading of tunes 1–5 (tests/golden/essen_music21.csv).
    assert_eq!(
        summary_line(&run.stdout),
        "loaded 1 file, 5 tunes, 210 notes in T s"
    );
    let five = read_csv(&dir.path().join("five.csv"));
    let all = read_csv(&dir.path().join("all.csv"));
    assert_eq!(five.len(), 210);
    assert_eq!(five[..], all[..210]);
    assert_eq!(five.last().unwrap().source, format!("{han1}#5"));
    assert_eq!(all[210].source, format!("{han1}#6"));
}

#[test]
fn load_where_notes_zang_finds_the_tibetan_songs() {
    let (Some(han1), Some(han2)) = (essen("han1.abc"), essen("han2.abc")) else {
        return;
    };
    // Counted here from the files themselves: tunes, and those whose N: field says Zang.
    let mut tunes = 0;
    let mut zang = Vec::new();
    for (name, path) in [("han1.abc", &han1), ("han2.abc", &han2)] {
        let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
        let mut x = String::new();
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("X:") {
                tunes += 1;
                x = v.trim().to_string();
            } else if line.starts_with("N:") && line.to_lowercase().contains("zang") {
                zang.push(format!("{name}#{x}"));
            }
        }
    }
    assert_eq!(zang, ["han2.abc#345", "han2.abc#353", "han2.abc#456"]);

    let dir = tempfile::tempdir().unwrap();
    let glob = s(&root().join("datasets/essen/han*.abc"));
    for text in ["Zang", "zANG"] {
        let run = tms_c_in(
            dir.path(),
            &format!("load \"{glob}\" where notes ~ \"{text}\"; export \"z.csv\""),
        );
        ok(&run);
        // 55 + 72 + 35 notes, as music21 reads those three songs.
        assert_eq!(
            summary_line(&run.stdout),
            format!(
                "loaded 2 files, 3 tunes, 162 notes in T s ({} tunes did not match `where`)",
                tunes - 3
            )
        );
        let rows = read_csv(&dir.path().join("z.csv"));
        let mut sources: Vec<String> = rows.iter().map(|r| r.source.clone()).collect();
        sources.dedup();
        assert_eq!(
            sources,
            ["#345", "#353", "#456"].map(|x| format!("{}{x}", s(&han2)))
        );
    }

    // A filter nothing matches is an error, not an empty dataset.
    let cmd = format!("load \"{glob}\" where notes ~ \"Atlantis\"");
    let run = tms_c_in(dir.path(), &cmd);
    no_panic(&run);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(&format!(
            "error: no tunes loaded: none of 2 matched notes ~ \"Atlantis\"\n    {cmd}\n"
        )),
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------------------
// 2. export

#[test]
fn export_writes_the_csv_of_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let songs = dir.path().join("songs");
    std::fs::create_dir(&songs).unwrap();
    std::fs::write(songs.join("a.abc"), HAND_ABC).unwrap();
    std::fs::write(songs.join("b.mid"), hand_midi()).unwrap();

    let run = tms_c_in(dir.path(), "load \"songs/*\"; export \"out/x.csv\"");
    ok(&run);
    assert_eq!(
        summary_line(&run.stdout),
        "loaded 2 files, 3 tunes, 17 notes in T s"
    );
    assert!(
        run.stdout
            .ends_with("\nwrote 17 notes of 3 tunes to out/x.csv\n"),
        "{}",
        run.stdout
    );

    let path = dir.path().join("out/x.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("source,pitch,start,step,duration,velocity\n"));
    let rows = read_csv(&path);
    let want = hand_expected();
    assert_eq!(rows.len(), want.len(), "{text}");
    for (k, (row, (source, pitch, start, duration))) in rows.iter().zip(&want).enumerate() {
        let line = k + 2;
        assert_eq!(row.source, *source, "line {line}");
        assert_eq!(row.pitch, *pitch, "line {line}");
        assert!(
            close(row.start, *start, 1e-6),
            "line {line}: {row:?} vs {start}"
        );
        assert!(
            close(row.duration, *duration, 1e-6),
            "line {line}: {row:?} vs {duration}"
        );
    }
    check_steps(&rows);
    // Steps reset at every tune; the chord's second note has step 0.
    let firsts: Vec<f64> = [0, 6, 12].iter().map(|&i| rows[i].step).collect();
    assert_eq!(firsts, [0.0, 0.0, 0.0]);
    assert_eq!((rows[14].pitch, rows[14].step), (67, 0.0));
    // ABC notes carry music21's velocity 90; MIDI notes their own.
    assert!(rows[..12].iter().all(|r| r.velocity == 90));
    let vel: Vec<u8> = rows[12..].iter().map(|r| r.velocity).collect();
    assert_eq!(vel, [100, 81, 80, 90, 77]);
    // A few lines exactly as written, 6 decimals.
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "songs/a.abc#3,62,0.000000,0.000000,0.666667,90");
    assert_eq!(lines[5], "songs/a.abc#3,73,1.833333,0.500000,0.166667,90");
    assert_eq!(lines[16], "songs/b.mid,72,1.000000,0.500000,0.333333,90");
}

// ---------------------------------------------------------------------------------------
// 3. write, then load and prime

#[test]
fn write_with_program_flute_and_tempo_90_loads_back_the_same_notes() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("music21_test07.mid"); // 318 notes, tempo changes, music21's writer
    let src = s(&src);
    let run = tms_c_in(
        dir.path(),
        &format!(
            "load \"{src}\"; export \"a.csv\"\n\
             prime \"{src}\" last 1000\n\
             write \"x.mid\" program \"Flute\" tempo 90\n\
             load \"x.mid\"; export \"b.csv\"\n\
             prime \"x.mid\" last 1000\n\
             write \"y.mid\"\n\
             load \"y.mid\"; export \"c.csv\""
        ),
    );
    ok(&run);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[2], format!("primer: 318 notes from {src} (58.8 s)"));
    assert_eq!(lines[3], "wrote 318 notes to x.mid (Flute, 90 BPM)");
    assert_eq!(lines[6], "primer: 318 notes from x.mid (78.4 s)");
    assert_eq!(
        lines[7],
        "wrote 318 notes to y.mid (Acoustic Grand Piano, 120 BPM)"
    );

    // The file says Flute (GM program 74, byte 73) and 90 BPM (666667 µs per quarter).
    let x = std::fs::read(dir.path().join("x.mid")).unwrap();
    assert!(x.windows(2).any(|w| w == [0xc0, 73]), "no program change");
    assert!(x.windows(6).any(|w| w == [0xff, 0x51, 3, 0x0a, 0x2c, 0x2b]));

    let a = read_csv(&dir.path().join("a.csv"));
    let b = read_csv(&dir.path().join("b.csv"));
    let c = read_csv(&dir.path().join("c.csv"));
    assert_eq!(a.len(), 318);
    // Melodies are kept at 120 BPM, so at 90 every time stretches by 120/90. The file holds
    // 480 ticks per quarter: starts are within half a tick, durations (two roundings) a tick.
    let tick90 = 60.0 / 90.0 / 480.0;
    let same = |from: &[Row], to: &[Row], scale: f64, tick: f64| {
        assert_eq!(from.len(), to.len());
        for (k, (p, q)) in from.iter().zip(to).enumerate() {
            assert_eq!(p.pitch, q.pitch, "note {k}");
            assert_eq!(p.velocity, q.velocity, "note {k}");
            assert!(
                close(p.start * scale, q.start, tick / 2.0 + 2e-6),
                "note {k}: {p:?} vs {q:?}"
            );
            assert!(
                close(p.duration * scale, q.duration, tick + 2e-6),
                "note {k}: {p:?} vs {q:?}"
            );
        }
    };
    same(&a, &b, 120.0 / 90.0, tick90);
    // `prime "x.mid"` holds x.mid's notes: written at 120 BPM they come back unchanged.
    same(&b, &c, 1.0, 60.0 / 120.0 / 480.0);
    check_steps(&b);
    // Not trivially equal: the stretch really happened.
    assert!(b.last().unwrap().start > a.last().unwrap().start * 1.3);
}

#[test]
fn program_names_are_case_insensitive_and_a_typo_suggests_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let run = tms_c_in(
        dir.path(),
        "prime notes \"C4 E4\"; write \"a.mid\" program \"fLuTe\"; write \"b.mid\" program \"acoustic grand piano\"",
    );
    ok(&run);
    assert!(run
        .stdout
        .contains("wrote 2 notes to a.mid (Flute, 120 BPM)\n"));
    assert!(run
        .stdout
        .contains("wrote 2 notes to b.mid (Acoustic Grand Piano, 120 BPM)\n"));
    let a = std::fs::read(dir.path().join("a.mid")).unwrap();
    assert!(a.windows(2).any(|w| w == [0xc0, 73]));

    let cmd = "prime notes \"C4 E4\"; write \"c.mid\" program \"Flutte\"";
    let run = tms_c_in(dir.path(), cmd);
    no_panic(&run);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        error_at(
            cmd,
            "\"Flutte\"",
            "unknown General MIDI program \"Flutte\" (did you mean \"Flute\"?)"
        )
    );
    // The script is checked before it runs: nothing was primed or written.
    assert_eq!(run.stdout, "");
    assert!(!dir.path().join("c.mid").exists());
}

// ---------------------------------------------------------------------------------------
// 4. prime and show

#[test]
fn show_prints_a_plain_ascii_piano_roll_when_not_a_terminal() {
    let (_d, run) = tms_c("prime notes \"C4 D4/2 E4*2 r G4\"; show");
    ok(&run);
    // C4 a quarter (0.5 s), D4 an eighth, E4 a half, a quarter rest, G4 a quarter: 2.75 s at
    // 1/16 s a column: onsets at columns 0, 8, 12 and 36.
    let roll = |col: usize, len: usize| format!("{}#{}", " ".repeat(col), "=".repeat(len - 1));
    let expected = [
        "primer: 4 notes".to_string(),
        "4 notes (4 primer), 2.8 s, 1 column = 0.0625 s".into(),
        format!("  G4 {}", roll(36, 8)),
        " F#4".into(),
        "  F4".into(),
        format!("  E4 {}", roll(12, 16)),
        " D#4".into(),
        format!("  D4 {}", roll(8, 4)),
        " C#4".into(),
        // C rows are dotted across the melody, to read the octave.
        format!("  C4 {}{}", roll(0, 8), ".".repeat(44 - 8)),
    ];
    let got: Vec<&str> = run.stdout.lines().map(str::trim_end).collect();
    assert_eq!(got, expected, "\n{}", run.stdout);
    assert!(
        !run.stdout.contains('\u{1b}'),
        "escape codes: {:?}",
        run.stdout
    );
}

#[test]
fn prime_last_10_of_little_star_takes_its_last_10_notes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("samples")).unwrap();
    std::fs::copy(
        root().join("samples/little_star.mid"),
        dir.path().join("samples/little_star.mid"),
    )
    .unwrap();
    let run = tms_c_in(
        dir.path(),
        "load \"samples/little_star.mid\"; export \"all.csv\"\n\
         prime \"samples/little_star.mid\" last 10\n\
         write \"p.mid\"; load \"p.mid\"; export \"p.csv\"",
    );
    ok(&run);
    let all = read_csv(&dir.path().join("all.csv"));
    assert!(all.len() > 10, "little_star has {} notes", all.len());
    let last = &all[all.len() - 10..];
    let t0 = last[0].start;
    let end = last
        .iter()
        .map(|r| r.start + r.duration)
        .fold(0.0, f64::max);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("primer:"))
        .unwrap();
    assert_eq!(
        line,
        format!(
            "primer: 10 notes from samples/little_star.mid ({:.1} s)",
            end - t0
        )
    );
    // The primer is those 10 notes, moved to start at 0.
    let primer = read_csv(&dir.path().join("p.csv"));
    assert_eq!(primer.len(), 10);
    let tick = 0.5 / 480.0;
    for (p, q) in last.iter().zip(&primer) {
        assert_eq!(p.pitch, q.pitch);
        assert!(close(p.start - t0, q.start, tick), "{p:?} vs {q:?}");
        assert!(close(p.duration, q.duration, tick), "{p:?} vs {q:?}");
    }
}

// ---------------------------------------------------------------------------------------
// 5. render

/// Peak of a 16-bit WAV (1.0 = full scale) between two times, and its length in seconds.
fn wav_peak(path: &Path, from: f64, to: f64) -> (f64, f64) {
    let mut reader = hound::WavReader::open(path).expect("a WAV file");
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.bits_per_sample), (2, 16));
    let rate = f64::from(spec.sample_rate);
    let frames = f64::from(reader.duration());
    let (a, b) = ((from * rate) as usize * 2, (to * rate) as usize * 2);
    let peak = reader
        .samples::<i16>()
        .enumerate()
        .filter(|(i, _)| (a..b).contains(i))
        .map(|(_, s)| f64::from(s.unwrap().unsigned_abs()) / 32768.0)
        .fold(0.0, f64::max);
    (peak, frames / rate)
}

#[test]
fn render_writes_an_audible_wav_as_long_as_the_melody() {
    let Some(_) = soundfont("FluidR3_GM.sf2").or_else(|| soundfont("TimGM6mb.sf2")) else {
        return;
    };
    let (dir, run) =
        tms_c("prime notes \"C4 D4/2 E4*2 r G4\"; render \"out/x.wav\"; set tempo 60; render \"slow.wav\" rate 22050");
    ok(&run);
    let found = if Path::new("/usr/share/sounds/sf2/FluidR3_GM.sf2").is_file() {
        "FluidR3_GM.sf2"
    } else {
        "TimGM6mb.sf2"
    };
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[1].starts_with(&format!("rendered out/x.wav with {found}, 3.8 s, peak -")),
        "{}",
        run.stdout
    );
    assert!(lines[1].ends_with(" dBFS"), "{}", run.stdout);

    // The melody lasts 2.75 s. The file must hold all of it plus a release tail: at least the
    // melody, at most 1.5 s more. (tms adds 1 s so the last note and the reverb ring out; 1.5 s
    // allows a longer tail but still catches a wrong tempo, which would be off by seconds.)
    let melody = 2.75;
    let wav = dir.path().join("out/x.wav");
    let (peak, secs) = wav_peak(&wav, 0.0, 100.0);
    assert!(
        (melody..=melody + 1.5).contains(&secs),
        "{secs} s of audio for a {melody} s melody"
    );
    // Not silent: -40 dBFS is far above dither or rounding noise, far below a played note.
    assert!(peak > 0.01, "peak {peak}");
    // The last note (G4, 2.25–2.75 s) sounds too: the melody was rendered to its end.
    let (last, _) = wav_peak(&wav, 2.3, 2.7);
    assert!(last > 0.01, "G4 peak {last}");

    // At 60 BPM the same melody lasts twice as long.
    let (_, slow) = wav_peak(&dir.path().join("slow.wav"), 0.0, 0.0);
    assert!(
        (2.0 * melody..=2.0 * melody + 1.5).contains(&slow),
        "{slow} s at 60 BPM"
    );
    assert_eq!(
        hound::WavReader::open(dir.path().join("slow.wav"))
            .unwrap()
            .spec()
            .sample_rate,
        22050
    );
}

#[test]
fn render_with_a_missing_soundfont_names_the_file() {
    let cmd = "prime notes \"C4\"; render \"x.wav\" soundfont \"missing.sf2\"";
    let (dir, run) = tms_c(cmd);
    no_panic(&run);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        error_at(
            cmd,
            "\"missing.sf2\"",
            "cannot read SoundFont `missing.sf2`: no such file or directory"
        )
    );
    assert!(!dir.path().join("x.wav").exists());

    // A file that is not a SoundFont at all.
    std::fs::write(dir.path().join("fake.sf2"), "RIFF....WAVE").unwrap();
    let cmd = "prime notes \"C4\"; render \"x.wav\" soundfont \"fake.sf2\"";
    let run = tms_c_in(dir.path(), cmd);
    no_panic(&run);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        error_at(
            cmd,
            "\"fake.sf2\"",
            "fake.sf2 is not a usable SoundFont: not a SoundFont 2 file (no RIFF sfbk header)"
        )
    );
    assert!(!dir.path().join("x.wav").exists());
}

// ---------------------------------------------------------------------------------------
// 6. dataset

#[test]
fn dataset_after_loading_han1_prints_tunes_notes_and_pitch_range() {
    let Some(han1) = essen("han1.abc") else {
        return;
    };
    let han1 = s(&han1);
    // What music21 reads from han1.abc (tests/golden/essen_music21.csv): per-tune counts and
    // the lowest and highest pitch.
    let golden = std::fs::read_to_string(root().join("tests/golden/essen_music21.csv")).unwrap();
    let mut per_tune: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut lo, mut hi) = (u8::MAX, 0u8);
    for line in golden.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        if cols[0].starts_with("datasets/essen/han1.abc#") {
            *per_tune.entry(cols[0]).or_default() += 1;
            let p: u8 = cols[1].parse().unwrap();
            (lo, hi) = (lo.min(p), hi.max(p));
        }
    }
    let notes: usize = per_tune.values().sum();
    assert_eq!((per_tune.len(), notes, lo, hi), (554, 43_506, 52, 85));

    let (_d, run) = tms_c(&format!("load \"{han1}\"; dataset"));
    ok(&run);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        summary_line(&run.stdout),
        "loaded 1 file, 554 tunes, 43506 notes in T s"
    );
    assert_eq!(lines[1], "554 tunes, 43506 notes");
    assert_eq!(lines[2], "pitch range   52–85 (E3–C#6)");
    assert_eq!(lines[3], "pitches");
    // One histogram row per pitch from C#6 down to E3, with its count.
    assert!(lines[4].starts_with("   C#6 "), "{}", lines[4]);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("    A4 ") && l.ends_with(" 6305")),
        "{}",
        run.stdout
    );
    let (min, max) = (
        per_tune.values().min().unwrap(),
        per_tune.values().max().unwrap(),
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("notes per tune min {min} "))
                && l.ends_with(&format!(" max {max}"))),
        "{}",
        run.stdout
    );
    assert!(lines.iter().any(|l| l.starts_with("step (s) ")));
    assert!(lines.iter().any(|l| l.starts_with("duration (s) ")));
    assert_eq!(*lines.last().unwrap(), format!("file  {han1} (554 tunes)"));
}

#[test]
fn dataset_before_load_says_what_to_do() {
    let (_d, run) = tms_c("dataset");
    no_panic(&run);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        error_at(
            "dataset",
            "dataset",
            "no dataset: use `load \"GLOB\"` first"
        )
    );
}

// ---------------------------------------------------------------------------------------
// 7. bad input: one clear line naming the file, exit status 1, never a panic

/// Runs a failing single command in a directory holding `files`; returns its stdout.
fn fails(files: &[(&str, &[u8])], cmd: &str, what: &str, message: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let run = tms_c_in(dir.path(), cmd);
    no_panic(&run);
    assert_eq!(run.code, 1, "{cmd}: {}{}", run.stdout, run.stderr);
    assert_eq!(run.stderr, error_at(cmd, what, message), "{cmd}");
    run.stdout
}

#[test]
fn load_of_only_a_corrupt_midi_file_names_it_and_fails() {
    let stdout = fails(
        &[("some corrupt.mid", b"MThd\0\0\0\x06\0\x01".as_slice())],
        "load \"some corrupt.mid\"",
        "\"some corrupt.mid\"",
        "no tunes loaded from `some corrupt.mid`",
    );
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some("skipped some corrupt.mid: truncated MIDI header")
    );
    // Nothing loaded is said once, by the error: no `loaded … 0 tunes` line before it.
    assert_eq!(lines.next(), None, "{stdout}");
}

#[test]
fn prime_of_a_nonexistent_file_names_it() {
    let stdout = fails(
        &[],
        "prime \"nonexistent.mid\"",
        "\"nonexistent.mid\"",
        "cannot read `nonexistent.mid`: no such file or directory",
    );
    assert_eq!(stdout, "");
    fails(
        &[],
        "load \"nonexistent*.mid\"",
        "\"nonexistent*.mid\"",
        "no files match `nonexistent*.mid`",
    );
}

#[test]
fn an_empty_file_is_named_with_the_reason() {
    fails(
        &[("empty.mid", b"".as_slice())],
        "prime \"empty.mid\"",
        "\"empty.mid\"",
        "cannot read `empty.mid`: not a MIDI file (no MThd header)",
    );
    let stdout = fails(
        &[("empty.abc", b"".as_slice())],
        "load \"empty.abc\"",
        "\"empty.abc\"",
        "no tunes loaded from `empty.abc`",
    );
    assert!(
        stdout.starts_with("skipped empty.abc: no tunes (no X: field)\n"),
        "{stdout}"
    );
    fails(
        &[("empty.abc", b"".as_slice())],
        "prime \"empty.abc\"",
        "\"empty.abc\"",
        "cannot read `empty.abc`: no tunes (no X: field)",
    );
}

#[test]
fn a_truncated_midi_file_is_named_with_the_reason() {
    let truncated = std::fs::read(fixture("edge_truncated.mid")).unwrap();
    fails(
        &[("cut.mid", truncated.as_slice())],
        "prime \"cut.mid\"",
        "\"cut.mid\"",
        "cannot read `cut.mid`: truncated track 2",
    );
    // A real file cut in the middle of its only notes track.
    let whole = std::fs::read(fixture("music21_test07.mid")).unwrap();
    let half = &whole[..whole.len() / 2];
    let stdout = fails(
        &[("half.mid", half)],
        "load \"half.mid\"",
        "\"half.mid\"",
        "no tunes loaded from `half.mid`",
    );
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("skipped half.mid: ") && first.contains("track"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
}
