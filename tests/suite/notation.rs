//! Notation out: `write "F.abc"` and `write "F.musicxml"` read back — by tms itself, by
//! abc2midi and by music21 — to the same notes as `write "F.mid"`.
//!
//! "The same notes" are the melody on the notation grid (1/48 of a whole note) reduced to one
//! line (`notation::quantized_melody`): same pitches, onsets and durations. For a melody
//! already on the grid that is exactly what its MIDI file holds, and every case below checks
//! that too. abc2midi (Debian `abcmidi`) and music21 are golden tools for the tests only; when
//! one is missing its round trip is skipped with the reason printed (`make test` installs
//! both). music21 is found through `TMS_MUSIC21_PYTHON`, else the repository's `.venv`.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use tms::music::abc::parse_abc;
use tms::music::meter::Meter;
use tms::music::midi::{read_midi, write_midi, WriteOptions};
use tms::music::notation::{self, quantized_melody, Format, Options};
use tms::music::note::Note;
use tms::music::scale::Scale;

/// (pitch, onset, duration) in quarter notes.
pub(crate) type Q = (u8, f64, f64);

/// A melody written in quarter notes, stored as tms stores it (a quarter is 0.5 s).
fn melody(spec: &[Q]) -> Vec<Note> {
    spec.iter()
        .map(|&(pitch, start, duration)| Note {
            pitch,
            start: start / 2.0,
            duration: duration / 2.0,
            velocity: 80,
        })
        .collect()
}

/// Notes in quarter notes, given seconds at `bpm`.
pub(crate) fn quarters(notes: &[Note], bpm: f64) -> Vec<Q> {
    let q = bpm / 60.0;
    notes
        .iter()
        .map(|n| (n.pitch, n.start * q, n.duration * q))
        .collect()
}

/// Times agree to a millionth (MIDI stores the tempo in whole microseconds per quarter).
const CLOSE: f64 = 1e-6;

/// abc2midi starts every note one tick late (at 480 ticks per quarter) and ends it on time,
/// so that a note-off never shares a tick with the next note-on. One tick is far below the
/// grid (40 ticks), so allowing it hides no written length.
const ABC2MIDI_TICK: f64 = 1.0 / 480.0;

fn same(what: &str, got: &[Q], want: &[Q], file: &str) {
    same_within(what, got, want, file, 0.0);
}

/// `got` equals `want` note for note; onsets may be up to `late` quarters late, ends agree.
fn same_within(what: &str, got: &[Q], want: &[Q], file: &str, late: f64) {
    let close = |a: f64, b: f64, slack: f64| (a - b).abs() <= slack + CLOSE * (1.0 + b.abs());
    let first_difference = got.iter().zip(want).position(|(a, b)| {
        a.0 != b.0
            || !(a.1 >= b.1 - CLOSE * (1.0 + b.1.abs()) && close(a.1, b.1, late))
            || !close(a.1 + a.2, b.1 + b.2, 0.0)
    });
    if got.len() != want.len() || first_difference.is_some() {
        let k = first_difference.unwrap_or(got.len().min(want.len()));
        panic!(
            "{what}: {} notes read back, {} written; first difference at note {k}: \
             read {:?}, written {:?}\n--- file ---\n{file}",
            got.len(),
            want.len(),
            got.get(k),
            want.get(k)
        );
    }
}

fn abc2midi() -> Result<(), String> {
    match Command::new("abc2midi").arg("-ver").output() {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "abc2midi not runnable ({e}): apt-get install abcmidi"
        )),
    }
}

pub(crate) fn music21_python() -> Result<PathBuf, String> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let python = std::env::var_os("TMS_MUSIC21_PYTHON")
                .map(PathBuf::from)
                .unwrap_or_else(|| support::root().join(".venv/bin/python"));
            match Command::new(&python)
                .args(["-c", "import music21"])
                .output()
            {
                Ok(o) if o.status.success() => Ok(python),
                Ok(_) => Err(format!(
                    "{} has no music21 (make setup-test installs it)",
                    python.display()
                )),
                Err(e) => Err(format!("no Python at {} ({e})", python.display())),
            }
        })
        .clone()
}

/// music21's reading of files (one Python start for all), in quarter notes.
fn read_music21(python: &Path, files: &[&Path]) -> Vec<Vec<Q>> {
    let script = support::root().join("tests/golden/notation_music21.py");
    let out = Command::new(python)
        .arg(&script)
        .args(files)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "music21 could not read {files:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut read: Vec<Vec<Q>> = Vec::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        if l.starts_with("# ") {
            read.push(Vec::new());
            continue;
        }
        let f: Vec<&str> = l.split_whitespace().collect();
        read.last_mut().expect("a file header first").push((
            f[0].parse().expect("pitch"),
            f[1].parse().expect("offset"),
            f[2].parse().expect("duration"),
        ));
    }
    assert_eq!(read.len(), files.len(), "music21 read every file");
    read
}

/// Writes `notes` as ABC, MusicXML and MIDI and checks that every reader gets the same notes
/// back. `on_grid`: the melody is already on the grid, so the MIDI file must agree too.
fn round_trip(name: &str, notes: &[Note], opts: &Options, on_grid: bool) -> (String, String) {
    let want = quarters(
        &quantized_melody(notes, opts.transpose, opts.velocity),
        120.0,
    );
    let midi_opts = WriteOptions {
        tempo_bpm: opts.tempo_bpm,
        transpose: opts.transpose,
        ..WriteOptions::default()
    };
    let midi = read_midi(&write_midi(notes, &midi_opts)).expect("tms reads its MIDI");
    if on_grid {
        same(
            &format!("{name}: MIDI"),
            &quarters(&midi, opts.tempo_bpm),
            &want,
            "",
        );
    }

    let abc = notation::write(Format::Abc, notes, opts).unwrap().text;
    let xml = notation::write(Format::MusicXml, notes, opts).unwrap().text;
    let (tunes, errors) = parse_abc(&abc, "written.abc");
    assert!(errors.is_empty(), "{name}: {errors:?}\n{abc}");
    same(
        &format!("{name}: ABC read by tms"),
        &quarters(&tunes[0].notes, opts.tempo_bpm),
        &want,
        &abc,
    );

    golden(&[Written {
        name: name.to_string(),
        abc: abc.clone(),
        xml: xml.clone(),
        want,
        tempo: opts.tempo_bpm,
    }]);
    (abc, xml)
}

/// A melody as written, and the notes it must read back to (quarter notes).
pub(crate) struct Written {
    pub name: String,
    pub abc: String,
    pub xml: String,
    pub want: Vec<Q>,
    pub tempo: f64,
}

/// The golden readers: abc2midi reads each ABC file, music21 every ABC and MusicXML file (in
/// one Python start). Each is skipped, with the reason printed, when it is not installed.
pub(crate) fn golden(written: &[Written]) {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for w in written {
        let abc_path = dir.path().join(format!("{}.abc", w.name));
        let xml_path = dir.path().join(format!("{}.musicxml", w.name));
        std::fs::write(&abc_path, &w.abc).unwrap();
        std::fs::write(&xml_path, &w.xml).unwrap();
        files.push((abc_path, xml_path));
    }

    match abc2midi() {
        Ok(()) => {
            for (w, (abc_path, _)) in written.iter().zip(&files) {
                let mid = dir.path().join(format!("{}.mid", w.name));
                let out = Command::new("abc2midi")
                    .arg(abc_path)
                    .arg("-o")
                    .arg(&mid)
                    .output()
                    .expect("abc2midi runs");
                let log = String::from_utf8_lossy(&out.stdout).into_owned();
                assert!(
                    out.status.success() && !log.contains("Error") && !log.contains("Warning"),
                    "{}: abc2midi complained:\n{log}\n{}",
                    w.name,
                    w.abc
                );
                let notes =
                    read_midi(&std::fs::read(&mid).unwrap()).expect("abc2midi's MIDI reads");
                same_within(
                    &format!("{}: ABC read by abc2midi", w.name),
                    &quarters(&notes, w.tempo),
                    &w.want,
                    &w.abc,
                    ABC2MIDI_TICK,
                );
            }
        }
        Err(why) => eprintln!("skipped the abc2midi round trips: {why}"),
    }

    match music21_python() {
        Ok(python) => {
            let paths: Vec<&Path> = files
                .iter()
                .flat_map(|(a, x)| [a.as_path(), x.as_path()])
                .collect();
            let read = read_music21(&python, &paths);
            for (w, r) in written.iter().zip(read.chunks(2)) {
                same(
                    &format!("{}: ABC read by music21", w.name),
                    &r[0],
                    &w.want,
                    &w.abc,
                );
                same(
                    &format!("{}: MusicXML read by music21", w.name),
                    &r[1],
                    &w.want,
                    &w.xml,
                );
            }
        }
        Err(why) => eprintln!("skipped the music21 round trips: {why}"),
    }
}

fn in_key(scale: &str) -> Options {
    Options {
        scale: Some(Scale::parse(scale).unwrap()),
        ..Options::default()
    }
}

/// The body of an ABC tune: everything after `K:`.
fn body(abc: &str) -> String {
    abc.lines()
        .skip_while(|l| !l.starts_with("K:"))
        .skip(1)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_melody_on_the_sixteenth_grid() {
    let notes = melody(&[
        (62, 0.0, 0.25),
        (64, 0.25, 0.25),
        (66, 0.5, 0.5),
        (67, 1.0, 0.75),
        (69, 1.75, 0.25),
        (71, 2.0, 1.0),
        (69, 3.0, 0.5),
        (66, 3.5, 0.5),
        (67, 4.0, 0.25),
        (66, 4.25, 0.25),
        (64, 4.5, 0.25),
        (62, 4.75, 1.25),
        (62, 6.0, 2.0),
    ]);
    let (abc, xml) = round_trip("sixteenths", &notes, &in_key("D major"), true);
    assert_eq!(
        body(&abc),
        "D/2E/2F G3/2A/2 B2 AF | G/2F/2E/2D/2- D2 D4 |]",
        "{abc}"
    );
    assert!(xml.contains("<type>16th</type>"));
}

#[test]
fn triplets() {
    let t = 1.0 / 3.0;
    let notes = melody(&[
        // Triplet eighths, a plain quarter, a triplet quarter and eighth, a half.
        (72, 0.0, t),
        (71, t, t),
        (69, 2.0 * t, t),
        (67, 1.0, 1.0),
        (64, 2.0, 2.0 * t),
        (65, 2.0 + 2.0 * t, t),
        (67, 3.0, 2.0),
        // Triplet sixteenths inside a beat with a plain eighth.
        (69, 5.0, t / 2.0),
        (71, 5.0 + t / 2.0, t / 2.0),
        (72, 5.0 + t, t / 2.0),
        (74, 5.5, 0.5),
        (72, 6.0, 2.0),
    ]);
    let (abc, xml) = round_trip("triplets", &notes, &in_key("C major"), true);
    assert_eq!(
        body(&abc),
        "(3:2:3cBA G2 (3:2:2E2F G2- | G2 (3:2:4A/2B/2c/2d3/2 c4 |]"
    );
    assert!(xml.contains("<actual-notes>3</actual-notes><normal-notes>2</normal-notes>"));
}

#[test]
fn notes_tied_across_bar_lines() {
    let notes = melody(&[
        (67, 0.0, 3.0),
        (69, 3.0, 2.0), // over the first bar line
        (71, 5.0, 7.5), // over the second, through the third bar
        (72, 12.5, 0.5),
        (74, 13.0, 3.0),
    ]);
    let (abc, xml) = round_trip("ties", &notes, &in_key("G major"), true);
    assert_eq!(body(&abc), "G6 A2- | A2 B6- | B8- | Bc d6 |]", "{abc}");
    assert_eq!(xml.matches("<tie type=\"start\"/>").count(), 3);
}

#[test]
fn a_six_eight_tune() {
    let notes = melody(&[
        (67, 0.0, 1.0),
        (69, 1.0, 0.5),
        (71, 1.5, 0.75),
        (72, 2.25, 0.25),
        (71, 2.5, 1.0), // tied into the second bar
        (69, 3.5, 1.0),
        (67, 4.5, 1.5),
    ]);
    let opts = Options {
        meter: Meter::parse("6/8").unwrap(),
        ..in_key("G major")
    };
    let (abc, xml) = round_trip("six_eight", &notes, &opts, true);
    assert!(abc.contains("\nM:6/8\n"));
    assert_eq!(body(&abc), "G2A B3/2c/2B- | B A2 G3 |]");
    assert!(xml.contains("<time><beats>6</beats><beat-type>8</beat-type></time>"));
}

#[test]
fn rests() {
    let notes = melody(&[
        (64, 1.0, 0.5), // after a rest of a quarter
        (67, 2.0, 0.5),
        (64, 2.0 + 2.0 / 3.0, 1.0 / 3.0), // a rest inside a triplet beat
        (60, 6.0, 1.0),
    ]);
    let (abc, _) = round_trip("rests", &notes, &in_key("C major"), true);
    assert_eq!(body(&abc), "z2 Ez (3:2:3G3/2z/2E z2 | z4 C2 z2 |]");
}

#[test]
fn keys_with_sharps_and_flats() {
    // E major, four sharps: F#, C#, G#, D# come from the key.
    let e_major = melody(&[
        (64, 0.0, 1.0),
        (66, 1.0, 1.0),
        (68, 2.0, 1.0),
        (69, 3.0, 1.0),
        (71, 4.0, 1.0),
        (73, 5.0, 1.0),
        (75, 6.0, 1.0),
        (76, 7.0, 1.0),
    ]);
    let (abc, xml) = round_trip("e_major", &e_major, &in_key("E major"), true);
    assert!(abc.contains("\nK:E % E major, from scale\n"));
    assert_eq!(body(&abc), "E2 F2 G2 A2 | B2 c2 d2 e2 |]");
    assert!(xml.contains("<fifths>4</fifths>"));
    assert!(!xml.contains("<accidental>"));

    // C yu (the gong is Eb): three flats, written as C minor.
    let c_yu = melody(&[
        (60, 0.0, 1.0),
        (63, 1.0, 1.0),
        (65, 2.0, 0.5),
        (67, 2.5, 0.5),
        (70, 3.0, 1.0),
        (72, 4.0, 2.0),
        (67, 6.0, 1.0),
        (60, 7.0, 1.0),
    ]);
    let (abc, xml) = round_trip("c_yu", &c_yu, &in_key("C yu"), true);
    assert!(abc.contains("\nK:Cm % C yu, from scale\n"));
    assert_eq!(body(&abc), "C2 E2 FG B2 | c4 G2 C2 |]");
    assert!(xml.contains("<key><fifths>-3</fifths><mode>minor</mode></key>"));

    // Without a scale the key is estimated: Bb major, two flats.
    let bb = melody(&[
        (70, 0.0, 1.0),
        (72, 1.0, 1.0),
        (74, 2.0, 1.0),
        (75, 3.0, 1.0),
        (77, 4.0, 1.0),
        (74, 5.0, 1.0),
        (70, 6.0, 2.0),
    ]);
    let (abc, _) = round_trip("estimated", &bb, &Options::default(), true);
    assert!(abc.contains("\nK:Bb % Bb major, estimated\n"), "{abc}");
    assert_eq!(body(&abc), "B2 c2 d2 e2 | f2 d2 B4 |]");
}

#[test]
fn accidentals_outside_the_key() {
    // G major (F#): F natural then F# again in one bar, C# in two octaves, a G# tied over the
    // bar line, and a natural after it.
    let notes = melody(&[
        (65, 0.0, 1.0),
        (66, 1.0, 1.0),
        (73, 2.0, 0.5),
        (61, 2.5, 0.5),
        (68, 3.0, 2.0),
        (67, 5.0, 1.0),
        (65, 6.0, 1.0),
        (77, 7.0, 1.0),
    ]);
    let (abc, xml) = round_trip("accidentals", &notes, &in_key("G major"), true);
    assert_eq!(body(&abc), "=F2 ^F2 ^c^C ^G2- | ^G2 =G2 =F2 =f2 |]");
    // MusicXML shows accidentals as engravers do: where the bar does not already imply them,
    // not on the tied-over G#.
    assert_eq!(xml.matches("<accidental>").count(), 7, "{xml}");
    assert_eq!(
        xml.matches("<accidental print-object=\"no\">sharp</accidental>")
            .count(),
        1
    );
}

#[test]
fn low_and_high_notes_tempo_transpose_and_velocity() {
    let notes = melody(&[
        (36, 0.0, 1.0),
        (43, 1.0, 1.0),
        (48, 2.0, 1.0),
        (84, 3.0, 0.5),
        (96, 3.5, 0.5),
    ]);
    let opts = Options {
        tempo_bpm: 90.5,
        transpose: 2,
        velocity: Some(100),
        ..in_key("C major")
    };
    let (abc, xml) = round_trip("range", &notes, &opts, true);
    // abc2midi reads a whole count only: 90.5 quarters a minute are 181 eighths.
    assert!(abc.contains("\nQ:1/8=181\n"));
    // Transposed by a whole tone, the C major scale moves to D major.
    assert!(abc.contains("\nK:D % D major, from scale\n"));
    assert_eq!(body(&abc), "D,,2 A,,2 D,2 d'd'' |]");
    assert!(xml.contains("<sign>G</sign><line>2</line>"));
    // A low melody is written in the bass clef.
    let low = notation::write(Format::MusicXml, &notes[..3], &opts)
        .unwrap()
        .text;
    assert!(low.contains("<sign>F</sign><line>4</line>"));
    assert!(xml.contains("<note dynamics=\"111.11\">"));
}

#[test]
fn a_melody_off_the_grid_with_a_chord() {
    // As the model writes: times anywhere, one chord, one note overlapping the next.
    let notes = vec![
        Note {
            pitch: 60,
            start: 0.013,
            duration: 0.47,
            velocity: 70,
        },
        Note {
            pitch: 64,
            start: 0.52,
            duration: 0.3,
            velocity: 70,
        },
        Note {
            pitch: 67,
            start: 0.51,
            duration: 0.2,
            velocity: 70,
        },
        Note {
            pitch: 65,
            start: 0.6,
            duration: 0.7,
            velocity: 70,
        },
        Note {
            pitch: 62,
            start: 1.31,
            duration: 0.333,
            velocity: 70,
        },
    ];
    let grid = quantized_melody(&notes, 0, None);
    // Every time lands on the nearest 1/48 note (1/24 s); the chord keeps its top note, G,
    // cut where F starts.
    let got: Vec<(u8, f64, f64)> = grid
        .iter()
        .map(|n| (n.pitch, n.start * 24.0, n.duration * 24.0))
        .collect();
    let want = [
        (60, 0.0, 12.0),
        (67, 12.0, 2.0),
        (65, 14.0, 17.0),
        (62, 31.0, 8.0),
    ];
    for (g, w) in got.iter().zip(&want) {
        assert!(
            g.0 == w.0 && (g.1 - w.1).abs() < 1e-9 && (g.2 - w.2).abs() < 1e-9,
            "{got:?}"
        );
    }
    assert_eq!(got.len(), want.len());
    round_trip("off_grid", &notes, &in_key("C major"), false);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// Any one-line melody on the grid, in any meter and key, reads back from ABC (by tms) to
    /// what its MIDI file holds: gaps and lengths of any number of 1/48 notes exercise every
    /// written value, triplet and tie.
    #[test]
    fn any_melody_on_the_grid_reads_back_from_abc(
        steps in proptest::collection::vec((1u64..40, 0u64..40, 30u8..100), 1..40),
        meter in proptest::sample::select(vec!["4/4", "3/4", "2/4", "6/8", "9/8", "2/2", "5/4", "3/8", "7/16"]),
        scale in proptest::sample::select(vec!["", "C major", "F# gong", "Bb minor", "E yu", "Db shang"]),
    ) {
        let unit = 2.0 / 48.0;
        let onsets: Vec<u64> = steps
            .iter()
            .scan(0, |t, (gap, _, _)| {
                *t += gap;
                Some(*t)
            })
            .collect();
        // Each note ends by the next onset: one line, as notation writes it.
        let notes: Vec<Note> = steps
            .iter()
            .enumerate()
            .map(|(i, &(_, len, pitch))| {
                let room = onsets.get(i + 1).map_or(u64::MAX, |next| next - onsets[i]);
                Note {
                    pitch,
                    start: onsets[i] as f64 * unit,
                    duration: len.clamp(1, room) as f64 * unit,
                    velocity: 80,
                }
            })
            .collect();
        let opts = Options {
            meter: Meter::parse(meter).unwrap(),
            scale: tms::music::scale::parse_optional(scale).unwrap(),
            ..Options::default()
        };
        let want = quarters(&read_midi(&write_midi(&notes, &WriteOptions::default())).unwrap(), 120.0);
        let abc = notation::write(Format::Abc, &notes, &opts).unwrap().text;
        let (tunes, errors) = parse_abc(&abc, "any.abc");
        proptest::prop_assert!(errors.is_empty(), "{:?}", errors);
        same("any melody: ABC read by tms", &quarters(&tunes[0].notes, 120.0), &want, &abc);
    }
}

/// Seeded melodies with every kind of length (any number of 1/48 notes, rests between),
/// through the golden readers too.
#[test]
fn random_melodies_read_back_through_every_reader() {
    let mut seed: u64 = 0x5eed_0f70_1c00;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let meters = ["4/4", "3/4", "6/8", "2/2", "5/4", "9/8"];
    let scales = ["", "D gong", "A minor", "Eb major", "F# yu", "G zhi"];
    let unit = 2.0 / 48.0;
    let mut written = Vec::new();
    for k in 0..16 {
        let mut t = next(12);
        let mut notes = Vec::new();
        for _ in 0..24 {
            let len = 1 + next(30);
            notes.push(Note {
                pitch: 45 + next(40) as u8,
                start: t as f64 * unit,
                duration: len as f64 * unit,
                velocity: 80,
            });
            t += len + if next(4) == 0 { 1 + next(10) } else { 0 };
        }
        let opts = Options {
            meter: Meter::parse(meters[k % meters.len()]).unwrap(),
            scale: tms::music::scale::parse_optional(scales[k % scales.len()]).unwrap(),
            ..Options::default()
        };
        let want = quarters(
            &read_midi(&write_midi(&notes, &WriteOptions::default())).unwrap(),
            120.0,
        );
        written.push(Written {
            name: format!("random{k}"),
            abc: notation::write(Format::Abc, &notes, &opts).unwrap().text,
            xml: notation::write(Format::MusicXml, &notes, &opts)
                .unwrap()
                .text,
            want,
            tempo: 120.0,
        });
    }
    for w in &written {
        let (tunes, _) = parse_abc(&w.abc, "random.abc");
        same(
            &format!("{}: ABC read by tms", w.name),
            &quarters(&tunes[0].notes, 120.0),
            &w.want,
            &w.abc,
        );
    }
    golden(&written);
}

#[test]
fn write_picks_the_format_from_the_file_name() {
    let (dir, run) = support::tms_c(
        "prime notes \"D4 E4 F#4/2 G4/2 A4*2 | B4*3 r\"; set scale \"D major\"; \
         set meter \"3/4\"; write \"t.abc\"; write \"t.musicxml\"; write \"t.mid\" tempo 100; \
         write \"t.abc\" tempo 100",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("wrote 6 notes to t.musicxml (D major, 3/4, 120 BPM)"),
        "{}",
        run.stdout
    );
    let abc = std::fs::read_to_string(dir.path().join("t.abc")).unwrap();
    assert!(
        abc.starts_with("X:1\nT:t\nM:3/4\nL:1/8\nQ:1/4=100\nK:D"),
        "{abc}"
    );
    let (tunes, _) = parse_abc(&abc, "t.abc");
    let midi = read_midi(&std::fs::read(dir.path().join("t.mid")).unwrap()).unwrap();
    same(
        "t.abc against t.mid",
        &quarters(&tunes[0].notes, 100.0),
        &quarters(&midi, 100.0),
        &abc,
    );
    let xml = std::fs::read_to_string(dir.path().join("t.musicxml")).unwrap();
    assert!(xml.contains("<score-partwise version=\"4.0\">"));

    let (_d, run) = support::tms_c("set meter \"3/5\"");
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("a meter's unit is 1, 2, 4, 8 or 16, not 5"),
        "{}",
        run.stderr
    );
}
