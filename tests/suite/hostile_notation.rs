//! Notation attacked with lengths, as a user meets it: inline notes far too long, a MIDI file
//! holding a note of hours or a melody of hours, and a grace note that the notation grid puts
//! on a long note's onset. Each runs the real binary under a memory limit and a watchdog: no
//! abort or panic, one line naming the note and the limit, no notation file left behind, and
//! MIDI still written. What is written reads back (tms, abc2midi, music21) with every note
//! that sounds.

use crate::notation::{golden, quarters, Written};
use crate::support;

use std::path::Path;

use crate::hostile::tms_limited;
use tms::music::abc::parse_abc;
use tms::music::midi::{read_midi, write_midi, WriteOptions};
use tms::music::note::Note;

/// Well above what tms needs (libtorch's mappings included), far below what the endless note
/// once tried to allocate (6.7 GB).
const LIMIT_MB: u64 = 1024;

/// The error tms prints for `script`, which fails on its last command.
fn error_of(dir: &Path, script: &str) -> String {
    let run = tms_limited(dir, script, LIMIT_MB);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    run.stderr
}

fn note(pitch: u8, start: f64, duration: f64) -> Note {
    Note {
        pitch,
        start,
        duration,
        velocity: 80,
    }
}

#[test]
fn an_endless_inline_note_is_refused_where_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    for (script, at, carets, what) in [
        (
            r#"prime notes "C4*99999999999999999999"; write "x.abc""#,
            16,
            21,
            "note",
        ),
        (
            r#"prime notes "C4 E4+G4*65"; write "x.musicxml""#,
            22,
            3,
            "note",
        ),
        (r#"prime notes "r*64.5 C4"; write "x.abc""#, 15, 5, "rest"),
    ] {
        let line = format!(
            "<command-line>:1:{at}: error: {what} too long: a {what} lasts at most 64 quarter \
             notes (`*64`)\n    {script}\n    {}{}\n",
            " ".repeat(at - 1),
            "^".repeat(carets)
        );
        assert_eq!(error_of(dir.path(), script), line);
    }
    assert!(!dir.path().join("x.abc").exists());
    assert!(!dir.path().join("x.musicxml").exists());
}

#[test]
fn the_longest_inline_note_is_written_as_sixteen_tied_bars() {
    let dir = tempfile::tempdir().unwrap();
    let run = tms_limited(
        dir.path(),
        r#"prime notes "C4*64"; write "long.abc""#,
        LIMIT_MB,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let abc = std::fs::read_to_string(dir.path().join("long.abc")).unwrap();
    let bars = "C8- | C8- | C8- | C8- |\n".repeat(4);
    let body = abc.split_once("estimated\n").unwrap().1;
    assert_eq!(body, format!("{}C8 |]\n", &bars[..bars.len() - 6]), "{abc}");
    let (tunes, errors) = parse_abc(&abc, "long.abc");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(quarters(&tunes[0].notes, 120.0), vec![(60, 0.0, 64.0)]);
}

#[test]
fn a_melody_of_long_rests_is_refused_at_its_1001st_bar() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{}C4", "r*64 ".repeat(63));
    let script = format!("prime notes \"{text}\"; write \"rests.abc\"");
    let err = error_of(dir.path(), &script);
    assert!(
        err.starts_with("<command-line>:1:")
            && err.contains(
                ": error: cannot write notation: the melody is too long, C4 at 2016 s ends in bar \
             1009 of 4/4; notation writes at most 1000 bars\n"
            ),
        "{err}"
    );
    assert!(!dir.path().join("rests.abc").exists());
}

/// A MIDI file of `notes`, as another program could write it.
fn midi_file(dir: &Path, name: &str, notes: &[Note]) {
    std::fs::write(dir.join(name), write_midi(notes, &WriteOptions::default())).unwrap();
}

#[test]
fn a_four_hour_note_from_a_midi_file_is_refused_as_notation_but_written_as_midi() {
    let dir = tempfile::tempdir().unwrap();
    midi_file(
        dir.path(),
        "drone.mid",
        &[note(62, 0.0, 1.0), note(60, 1.0, 4.0 * 3600.0)],
    );
    for file in ["drone.abc", "drone.musicxml"] {
        let run = tms_limited(
            dir.path(),
            &format!(r#"prime "drone.mid"; write "copy.mid"; write "{file}""#),
            LIMIT_MB,
        );
        assert_eq!(run.code, 1);
        assert!(
            run.stdout.contains("wrote 2 notes to copy.mid"),
            "{}",
            run.stdout
        );
        let first = run.stderr.lines().next().unwrap();
        assert!(
            first.ends_with(
                "error: cannot write notation: C4 at 1 s lasts 28800 quarter notes; notation \
                 writes notes of at most 64 quarter notes"
            ),
            "{}",
            run.stderr
        );
        assert!(!dir.path().join(file).exists());
    }
    let copy = read_midi(&std::fs::read(dir.path().join("copy.mid")).unwrap()).unwrap();
    assert_eq!(copy.len(), 2);
    assert!((copy[1].duration - 4.0 * 3600.0).abs() < 0.01, "{copy:?}");
}

#[test]
fn a_melody_of_hours_from_a_midi_file_is_refused_naming_the_note_past_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    midi_file(
        dir.path(),
        "hours.mid",
        &[note(62, 0.0, 1.0), note(64, 7200.0, 0.5)],
    );
    let err = error_of(dir.path(), r#"prime "hours.mid"; write "hours.musicxml""#);
    assert!(
        err.lines().next().unwrap().ends_with(
            "error: cannot write notation: the melody is too long, E4 at 7200 s ends in bar \
             3601 of 4/4; notation writes at most 1000 bars"
        ),
        "{err}"
    );
}

#[test]
fn a_grace_note_on_a_long_notes_onset_is_merged_into_it_and_said() {
    let dir = tempfile::tempdir().unwrap();
    let run = tms_limited(
        dir.path(),
        r#"prime notes "D4 G4/50 E4*4 F4"; write "g.abc"; write "g.musicxml"; write "g.mid""#,
        LIMIT_MB,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    for file in ["g.abc", "g.musicxml"] {
        let line = format!(
            "wrote 3 notes to {file} (E jue (estimated), 4/4, 120 BPM); merged away G4 at 0.5 s: \
             it starts on the same 1/48 note as E4 at 0.51 s, which sounds longer (notation \
             writes one line)\n"
        );
        assert!(run.stdout.contains(&line), "{}", run.stdout);
    }

    // D4, the two-second E4 and F4, in quarter notes, as every notation reader must read them.
    let want = vec![(62, 0.0, 1.0), (64, 1.0, 4.0), (65, 5.0, 1.0)];
    let abc = std::fs::read_to_string(dir.path().join("g.abc")).unwrap();
    assert!(abc.ends_with("D2 E6- | E2 F2 z4 |]\n"), "{abc}");
    let (tunes, errors) = parse_abc(&abc, "g.abc");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(quarters(&tunes[0].notes, 120.0), want);

    // The MIDI file keeps the grace note; without it, it holds the notation's notes, each
    // within half a grid unit (1/96 of a whole note, 1/24 of a quarter) of where it is written.
    let midi = read_midi(&std::fs::read(dir.path().join("g.mid")).unwrap()).unwrap();
    let midi = quarters(&midi, 120.0);
    assert_eq!(midi.len(), 4, "{midi:?}");
    assert_eq!(
        midi[1].0, 67,
        "the grace note G4 is in the MIDI file: {midi:?}"
    );
    let rest: Vec<_> = [midi[0], midi[2], midi[3]].to_vec();
    for (m, w) in rest.iter().zip(&want) {
        assert_eq!(m.0, w.0, "{midi:?}");
        assert!((m.1 - w.1).abs() <= 1.0 / 24.0, "{m:?} against {w:?}");
        assert!((m.2 - w.2).abs() <= 1.0 / 12.0, "{m:?} against {w:?}");
    }

    let xml = std::fs::read_to_string(dir.path().join("g.musicxml")).unwrap();
    golden(&[Written {
        name: "grace".into(),
        abc,
        xml,
        want,
        tempo: 120.0,
    }]);
}

#[test]
fn help_states_the_limits() {
    let (_dir, run) = support::tms_c("help prime; help write");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("at most 64 quarter notes"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("at most 1000 bars"), "{}", run.stdout);
}
