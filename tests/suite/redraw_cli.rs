//! Bars you can redo: `regenerate bars A-B` and `vary bar N` change the notes of those bars
//! only, replay to the same bytes, and name the melody's bars when asked for one it lacks.
//! The melodies are the shipped model's, read back from the MIDI files tms writes.

use crate::support;

use support::*;
use tms::music::midi::read_midi;
use tms::music::note::Note;

/// Two bars of primer in 4/4, then eight generated bars: a melody of ten bars, 20 s.
fn setup() -> String {
    format!(
        "seed 7; model \"{}\"; prime notes \"D4 E4 G4 A4 B4*2 A4 G4\"; set meter \"4/4\"; generate 8 bars; write \"a.mid\"",
        root().join("models/folk.safetensors").display()
    )
}

fn notes(dir: &std::path::Path, file: &str) -> Vec<Note> {
    let bytes = std::fs::read(dir.join(file)).expect("written");
    read_midi(&bytes).expect("tms reads its own MIDI")
}

fn run(text: &str) -> (tempfile::TempDir, String) {
    let (dir, run) = tms_c(text);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    (dir, run.stdout)
}

/// (pitch, start, end) of `notes` starting in `from..to` seconds, ends capped at `cap`.
fn between(notes: &[Note], from: f64, to: f64, cap: f64) -> Vec<(u8, i64, i64)> {
    let ms = |t: f64| (t * 1000.0).round() as i64;
    notes
        .iter()
        .filter(|n| n.start >= from - 1e-6 && n.start < to - 1e-6)
        .map(|n| (n.pitch, ms(n.start), ms(n.end().min(cap))))
        .collect()
}

/// Asserts `b` is `a` outside `from..to` seconds (a note sounding into it ends at `from`),
/// that its notes inside lie inside, and that they changed.
fn changed_only_inside(a: &[Note], b: &[Note], from: f64, to: f64) {
    assert_eq!(
        between(a, 0.0, from, from),
        between(b, 0.0, from, from),
        "the notes before"
    );
    assert!(
        b.iter()
            .filter(|n| n.start < from - 1e-6)
            .all(|n| n.end() <= from + 1e-6),
        "a note from before ends on the bars' first bar line"
    );
    assert_eq!(
        between(a, to, 1e9, 1e9),
        between(b, to, 1e9, 1e9),
        "the notes after"
    );
    let inside = between(b, from, to, 1e9);
    assert!(!inside.is_empty());
    assert!(
        inside
            .iter()
            .all(|&(_, _, end)| end <= (to * 1000.0).round() as i64),
        "{inside:?}"
    );
    assert_ne!(
        between(a, from, to, 1e9),
        inside,
        "the bars were drawn again"
    );
}

#[test]
fn regenerate_changes_only_the_bars_and_replays_to_the_same_bytes() {
    let text = format!(
        "{}; regenerate bars 3-4; write \"b.mid\"; history \"h.tms\"",
        setup()
    );
    let (dir, stdout) = run(&text);
    assert!(
        stdout.contains("regenerated bars 3-4 of 4/4, the best of 8 tries: "),
        "{stdout}"
    );
    assert!(stdout.contains("after the bars as they were)"), "{stdout}");
    let (a, b) = (notes(dir.path(), "a.mid"), notes(dir.path(), "b.mid"));
    // Bars 3-4 of 4/4 from the first note: 4 to 8 s.
    changed_only_inside(&a, &b, 4.0, 8.0);
    // The same script writes the same bytes; so does its history.
    let (again, _) = run(&text);
    let bytes = |d: &std::path::Path| std::fs::read(d.join("b.mid")).unwrap();
    assert!(
        bytes(dir.path()) == bytes(again.path()),
        "a second run differs"
    );
    let script = std::fs::read_to_string(dir.path().join("h.tms")).unwrap();
    assert!(script.contains("regenerate bars 3-4\n"), "{script}");
    let written = bytes(dir.path());
    std::fs::remove_file(dir.path().join("b.mid")).unwrap();
    let replay = tms_in(dir.path(), &["run", "h.tms"], "");
    assert_eq!(replay.code, 0, "{}{}", replay.stdout, replay.stderr);
    assert!(bytes(dir.path()) == written, "replay wrote other bytes");
}

#[test]
fn vary_keeps_the_bar_at_amount_0_and_is_regenerate_at_1() {
    let (dir, stdout) = run(&format!(
        "{}; vary bar 3 amount 0; write \"same.mid\"; vary bar 3; write \"varied.mid\"",
        setup()
    ));
    assert!(
        stdout.contains("varied bar 3 of 4/4, the best of 8 tries: 0 notes drawn"),
        "{stdout}"
    );
    let read = |f: &str| std::fs::read(dir.path().join(f)).unwrap();
    assert!(
        read("a.mid") == read("same.mid"),
        "amount 0 changed the melody"
    );
    let (a, varied) = (notes(dir.path(), "a.mid"), notes(dir.path(), "varied.mid"));
    changed_only_inside(&a, &varied, 4.0, 6.0);
    // Amount 0.3 keeps some of the bar's notes.
    let kept = between(&varied, 4.0, 6.0, 1e9)
        .iter()
        .filter(|n| between(&a, 4.0, 6.0, 1e9).contains(n))
        .count();
    assert!(kept > 0, "{stdout}");
    // Amount 1 draws what regenerate draws.
    let (one, _) = run(&format!(
        "{}; vary bar 3 amount 1 tries 4; write \"b.mid\"",
        setup()
    ));
    let (re, _) = run(&format!(
        "{}; regenerate bar 3 tries 4; write \"b.mid\"",
        setup()
    ));
    let bytes = |d: &std::path::Path| std::fs::read(d.join("b.mid")).unwrap();
    assert!(bytes(one.path()) == bytes(re.path()));
}

#[test]
fn bars_the_melody_lacks_are_named() {
    for (command, message) in [
        (
            "regenerate bar 0",
            "bars count from 1, the bar after the melody's first bar line (an upbeat is bar 0 and stays as it is): the melody has 10 bars of 4/4 (bars 1 to 10)",
        ),
        (
            "regenerate bars 9-11",
            "there is no bar 11: the melody has 10 bars of 4/4 (bars 1 to 10)",
        ),
        (
            "vary bar 12",
            "there is no bar 12: the melody has 10 bars of 4/4 (bars 1 to 10)",
        ),
        (
            "regenerate bar 1",
            "the model draws bars on from the notes before them, and bar 1 has none before it",
        ),
        (
            "regenerate bars 6-5",
            "bars 6-5 run backwards: the first bar comes first",
        ),
        (
            "regenerate bars 5 -6",
            "a range of bars is written with no spaces: `bars 5-6`",
        ),
        ("vary bar 3 amount 2", "an amount must be from 0 to 1"),
    ] {
        let (dir, run) = tms_c(&format!("{}; {command}; write \"b.mid\"", setup()));
        assert_ne!(run.code, 0, "{command}");
        assert!(run.stderr.contains(message), "{command}: {}", run.stderr);
        assert!(
            !dir.path().join("b.mid").exists(),
            "{command}: the script stops there"
        );
    }
}

#[test]
fn an_upbeat_is_bar_0_and_bar_1_starts_after_it() {
    // Irish Essen X:13 in 2/4 starts with an upbeat of an eighth (0.25 s): bar 1 is 0.25 to
    // 1.25 s.
    let src = root().join("tests/fixtures/abc/essen_upbeats.abc");
    let (dir, stdout) = run(&format!(
        "seed 3; model \"{}\"; prime \"{}#13\" last 1000; write \"a.mid\"; regenerate bar 1; write \"b.mid\"",
        root().join("models/folk.safetensors").display(),
        src.display()
    ));
    assert!(stdout.contains("regenerated bar 1 of 2/4"), "{stdout}");
    let (a, b) = (notes(dir.path(), "a.mid"), notes(dir.path(), "b.mid"));
    changed_only_inside(&a, &b, 0.25, 1.25);
}
