//! Parity of the MIDI reader with pretty_midi, the library the original notebook used: every
//! file under tests/fixtures/midi must give the notes pretty_midi's `instruments[0]` holds
//! (tests/golden/midi/NAME.csv, written by tests/golden/make_midi_goldens.py), or fail where
//! pretty_midi fails (NAME.error). Plus write -> read round trips of `write_midi`.

use std::path::{Path, PathBuf};

use tms::music::midi::{read_midi, write_midi, WriteOptions};
use tms::music::note::{sort_notes, Note};

fn dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(sub)
}

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir("fixtures/midi"))
        .expect("tests/fixtures/midi exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "mid"))
        .collect();
    files.sort();
    files
}

/// The golden notes in pretty_midi's order, then sorted the way tms orders notes (stable, so
/// notes equal in start and pitch keep pretty_midi's order).
fn golden(csv: &str) -> Vec<Note> {
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("pitch,start,duration,velocity"));
    let mut notes: Vec<Note> = lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 4, "golden row {line:?}");
            Note {
                pitch: f[0].parse().expect("pitch"),
                start: f[1].parse().expect("start"),
                duration: f[2].parse().expect("duration"),
                velocity: f[3].parse().expect("velocity"),
            }
        })
        .collect();
    sort_notes(&mut notes);
    notes
}

#[test]
fn every_fixture_matches_pretty_midi() {
    let files = fixtures();
    assert!(files.len() >= 20, "fixtures missing: {files:?}");
    let mut compared_notes = 0;
    for path in &files {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name");
        let bytes = std::fs::read(path).expect("fixture readable");
        let csv_path = dir("golden/midi").join(format!("{stem}.csv"));
        let err_path = dir("golden/midi").join(format!("{stem}.error"));
        if err_path.exists() {
            assert!(
                read_midi(&bytes).is_err(),
                "{stem}: pretty_midi refuses this file, tms read it"
            );
            continue;
        }
        let csv = std::fs::read_to_string(&csv_path)
            .unwrap_or_else(|e| panic!("{stem}: no golden {}: {e}", csv_path.display()));
        let want = golden(&csv);
        let got = read_midi(&bytes).unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert_eq!(got.len(), want.len(), "{stem}: note count");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                (g.pitch, g.velocity),
                (w.pitch, w.velocity),
                "{stem} note {i}"
            );
            assert!(
                (g.start - w.start).abs() <= 1e-6,
                "{stem} note {i}: start {} vs {}",
                g.start,
                w.start
            );
            assert!(
                (g.duration - w.duration).abs() <= 1e-6,
                "{stem} note {i}: duration {} vs {}",
                g.duration,
                w.duration
            );
        }
        compared_notes += got.len();
    }
    assert!(
        compared_notes > 3000,
        "only {compared_notes} notes compared"
    );
}

fn melody() -> Vec<Note> {
    // A little phrase with a chord, a rest, repeated pitches and varied velocities; times on
    // the 1/960 s grid that 480 ticks per quarter at 120 BPM can hold exactly.
    let raw = [
        (62, 0, 480, 90),
        (66, 0, 480, 80),
        (69, 0, 960, 70),
        (62, 480, 240, 100),
        (62, 720, 240, 101),
        (64, 1440, 120, 60),
        (66, 1560, 1, 127),
        (71, 1920, 2880, 40),
    ];
    raw.iter()
        .map(|&(pitch, start, dur, velocity)| Note {
            pitch,
            start: f64::from(start) / 960.0,
            duration: f64::from(dur) / 960.0,
            velocity,
        })
        .collect()
}

#[test]
fn round_trip_keeps_notes_to_tick_resolution() {
    let notes = melody();
    let back = read_midi(&write_midi(&notes, &WriteOptions::default())).expect("reads back");
    assert_eq!(back.len(), notes.len());
    for (b, n) in back.iter().zip(&notes) {
        assert_eq!((b.pitch, b.velocity), (n.pitch, n.velocity));
        assert!((b.start - n.start).abs() < 0.5 / 960.0, "{b:?} vs {n:?}");
        assert!(
            (b.duration - n.duration).abs() < 0.5 / 960.0,
            "{b:?} vs {n:?}"
        );
    }
}

#[test]
fn off_grid_times_round_to_the_nearest_tick() {
    let notes = [Note {
        pitch: 60,
        start: 0.3337,
        duration: 0.0001,
        velocity: 64,
    }];
    let back = read_midi(&write_midi(&notes, &WriteOptions::default())).expect("reads back");
    assert_eq!(back.len(), 1);
    assert!((back[0].start - 0.3337).abs() <= 0.5 / 960.0);
    // Shorter than a tick, still one tick long.
    assert!((back[0].duration - 1.0 / 960.0).abs() < 1e-12);
}

#[test]
fn options_reach_the_file() {
    use midly::{MetaMessage, MidiMessage, Timing, TrackEventKind};
    let opts = WriteOptions {
        program: 73,
        tempo_bpm: 60.0,
        channel: 4,
        velocity: Some(55),
        transpose: 12,
        ticks_per_quarter: 96,
        meter: tms::music::meter::Meter::parse("3/4").unwrap(),
        upbeat: 0.5,
    };
    let bytes = write_midi(&melody(), &opts);
    let smf = midly::Smf::parse(&bytes).expect("midly reads it");
    assert_eq!(smf.header.format, midly::Format::Parallel);
    assert_eq!(smf.header.timing, Timing::Metrical(96.into()));
    assert_eq!(smf.tracks.len(), 2);
    let meta: Vec<_> = smf.tracks[0].iter().map(|e| e.kind).collect();
    assert!(meta.contains(&TrackEventKind::Meta(MetaMessage::Tempo(1_000_000.into()))));
    // A quarter-note upbeat is a bar of 1/4, then 3/4 from its end (a quarter: 96 ticks).
    let signatures: Vec<(u32, _)> = smf.tracks[0]
        .iter()
        .filter(|e| matches!(e.kind, TrackEventKind::Meta(MetaMessage::TimeSignature(..))))
        .map(|e| (e.delta.as_int(), e.kind))
        .collect();
    assert_eq!(
        signatures,
        vec![
            (
                0,
                TrackEventKind::Meta(MetaMessage::TimeSignature(1, 2, 24, 8))
            ),
            (
                96,
                TrackEventKind::Meta(MetaMessage::TimeSignature(3, 2, 24, 8))
            ),
        ]
    );
    let mut programs = Vec::new();
    let mut ons = 0;
    for e in &smf.tracks[1] {
        if let TrackEventKind::Midi { channel, message } = e.kind {
            assert_eq!(channel.as_int(), 4);
            match message {
                MidiMessage::ProgramChange { program } => programs.push(program.as_int()),
                MidiMessage::NoteOn { vel, .. } => {
                    assert_eq!(vel.as_int(), 55);
                    ons += 1;
                }
                _ => {}
            }
        }
    }
    assert_eq!(programs, vec![73]);
    assert_eq!(ons, melody().len());

    // At 60 BPM the same notes play at half speed, transposed up an octave.
    let back = read_midi(&bytes).expect("reads back");
    for (b, n) in back.iter().zip(&melody()) {
        assert_eq!(b.pitch, n.pitch + 12);
        assert!((b.start - 2.0 * n.start).abs() < 1e-9, "{b:?} vs {n:?}");
    }
}

#[test]
fn pitches_clamp_at_the_ends_of_the_keyboard() {
    let notes = [
        Note {
            pitch: 120,
            start: 0.0,
            duration: 0.5,
            velocity: 80,
        },
        Note {
            pitch: 5,
            start: 0.5,
            duration: 0.5,
            velocity: 80,
        },
    ];
    let up = read_midi(&write_midi(
        &notes,
        &WriteOptions {
            transpose: 24,
            ..WriteOptions::default()
        },
    ))
    .expect("reads back");
    assert_eq!(up.iter().map(|n| n.pitch).collect::<Vec<_>>(), [127, 29]);
    let down = read_midi(&write_midi(
        &notes,
        &WriteOptions {
            transpose: -24,
            ..WriteOptions::default()
        },
    ))
    .expect("reads back");
    assert_eq!(down.iter().map(|n| n.pitch).collect::<Vec<_>>(), [96, 0]);
}
