//! Phrases that return: `generate N bars form "AABA"` lays the bars out in phrases, a
//! returning letter brings its phrase back (exactly at `vary 0`, mostly at the default), a
//! new letter brings other material, every phrase ends on a cadence on its bar line, and a
//! script replays to the same bytes. The melodies are the shipped model's, read back from
//! the MIDI files tms writes.

use crate::support;

use support::*;
use tms::music::midi::read_midi;
use tms::music::note::Note;

/// Two bars of primer in 4/4 at 120 bpm (bars of 2 s), then the form's eight bars.
fn script(form: &str) -> String {
    format!(
        "seed 7; model \"{}\"; prime notes \"D4 E4 G4 A4 B4*2 A4 G4\"; set meter \"4/4\"; generate 8 bars {form}; write \"a.mid\"; history \"h.tms\"",
        root().join("models/folk.safetensors").display()
    )
}

const FIRST: f64 = 4.0;
const PHRASE: f64 = 4.0;
const BEAT: f64 = 0.5;

fn ms(t: f64) -> i64 {
    (t * 1000.0).round() as i64
}

fn melody(dir: &std::path::Path) -> Vec<Note> {
    let mut notes: Vec<Note> =
        read_midi(&std::fs::read(dir.join("a.mid")).expect("written")).expect("tms reads it");
    notes.sort_by(|a, b| a.start.total_cmp(&b.start));
    notes
}

/// The four phrases as (pitch, start, end) in ms from the phrase's start.
fn phrases(dir: &std::path::Path) -> Vec<Vec<(u8, i64, i64)>> {
    phrases_from(&melody(dir), FIRST)
}

fn phrases_from(notes: &[Note], first: f64) -> Vec<Vec<(u8, i64, i64)>> {
    (0..4)
        .map(|i| {
            let from = first + i as f64 * PHRASE;
            notes
                .iter()
                .filter(|n| n.start >= from - 1e-6 && n.start < from + PHRASE - 1e-6)
                .map(|n| (n.pitch, ms(n.start - from), ms(n.end() - from)))
                .collect()
        })
        .collect()
}

fn run(text: &str) -> (tempfile::TempDir, String) {
    let (dir, run) = tms_c(text);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    (dir, run.stdout)
}

/// The pitch class of a note name the summary line gives (`G`, `F#`, `Bb`).
fn pitch_class(name: &str) -> u8 {
    tms::music::notes_text::parse_notes(&format!("{name}4"), 90).expect("a note name")[0].pitch % 12
}

/// The tonic and the fifth the summary names: "… the A phrases end on G, the others on G or D".
fn cadence_degrees(stdout: &str) -> (u8, u8) {
    let words = |key: &str| -> Vec<String> {
        let at = stdout
            .find(key)
            .unwrap_or_else(|| panic!("{key} in {stdout}"))
            + key.len();
        stdout[at..]
            .split([',', ' '])
            .take(3)
            .map(str::to_string)
            .collect()
    };
    let tonic = pitch_class(&words("phrases end on ")[0]);
    let others = words("the others on ");
    assert_eq!(pitch_class(&others[0]), tonic);
    assert_eq!(others[1], "or");
    (tonic, pitch_class(&others[2]))
}

/// Each phrase fills its bars up to the closing bar line with a note of a beat or more on
/// the tonic (the A phrases: the form ends with A) or on the tonic or the fifth (B).
fn ends_on_cadences(phrases: &[Vec<(u8, i64, i64)>], letters: &str, tonic: u8, fifth: u8) {
    for (p, letter) in phrases.iter().zip(letters.chars()) {
        let &(pitch, start, end) = p.last().expect("a phrase has notes");
        assert_eq!(end, ms(PHRASE), "{letter}: ends on its bar line: {p:?}");
        assert!(end - start >= ms(BEAT), "{letter}: a beat or more: {p:?}");
        let degree = pitch % 12;
        match letter {
            'A' => assert_eq!(degree, tonic, "{letter}: {p:?}"),
            _ => assert!(degree == tonic || degree == fifth, "{letter}: {p:?}"),
        }
        assert!(
            p.iter().all(|&(_, s, e)| s >= 0 && e <= ms(PHRASE)),
            "{letter}: inside its bars: {p:?}"
        );
    }
}

/// The share of `b`'s notes (pitch, onset, end) that `a` has at the same place.
fn shared(a: &[(u8, i64, i64)], b: &[(u8, i64, i64)]) -> f64 {
    let same = b.iter().filter(|n| a.contains(n)).count();
    same as f64 / a.len().max(b.len()) as f64
}

#[test]
fn vary_0_brings_the_a_phrase_back_exactly_and_b_is_other() {
    let (dir, stdout) = run(&script("form \"AABA\" vary 0"));
    assert!(
        stdout.contains("generated 8 bars of 4/4 in form AABA (phrases of 2 bars, returning ones varied 0): in "),
        "{stdout}"
    );
    let p = phrases(dir.path());
    assert_eq!(p[0], p[1]);
    assert_eq!(p[0], p[3]);
    assert_ne!(p[0], p[2]);
    assert!(shared(&p[0], &p[2]) < 0.5, "{p:?}");
    assert!(
        stdout.contains("new letters the most contrasting of 8 draws (B "),
        "{stdout}"
    );
    let (tonic, fifth) = cadence_degrees(&stdout);
    ends_on_cadences(&p, "AABA", tonic, fifth);
    let h = std::fs::read_to_string(dir.path().join("h.tms")).unwrap();
    assert!(h.contains("generate 8 bars form \"AABA\" vary 0\n"), "{h}");
}

#[test]
fn returning_phrases_are_alike_new_ones_differ_and_replay_to_the_same_bytes() {
    let text = script("form \"AABA\"");
    let (dir, stdout) = run(&text);
    assert!(stdout.contains("returning ones varied 0.2)"), "{stdout}");
    let p = phrases(dir.path());
    let (tonic, fifth) = cadence_degrees(&stdout);
    ends_on_cadences(&p, "AABA", tonic, fifth);
    // Varied, not copied: each A differs from the first, but keeps most of it.
    for a in [&p[1], &p[3]] {
        assert_ne!(&p[0], a);
        assert!(shared(&p[0], a) >= 0.6, "{:.2}: {p:?}", shared(&p[0], a));
        assert!(shared(&p[0], a) > shared(&p[0], &p[2]), "{p:?}");
    }
    let bytes = |d: &std::path::Path| std::fs::read(d.join("a.mid")).unwrap();
    let (again, _) = run(&text);
    assert!(
        bytes(dir.path()) == bytes(again.path()),
        "a second run differs"
    );
    let written = bytes(dir.path());
    let h = std::fs::read_to_string(dir.path().join("h.tms")).unwrap();
    assert!(h.contains("generate 8 bars form \"AABA\"\n"), "{h}");
    std::fs::remove_file(dir.path().join("a.mid")).unwrap();
    let replay = tms_in(dir.path(), &["run", "h.tms"], "");
    assert_eq!(replay.code, 0, "{}{}", replay.stdout, replay.stderr);
    assert!(bytes(dir.path()) == written, "replay wrote other bytes");
}

#[test]
fn other_forms_return_their_letters_and_inner_phrases_may_half_close() {
    for form in ["ABAB", "AABB", "ABAC"] {
        let (dir, stdout) = run(&script(&format!("form \"{form}\" vary 0")));
        let p = phrases(dir.path());
        let letters: Vec<char> = form.chars().collect();
        for i in 0..4 {
            for j in 0..i {
                if letters[i] == letters[j] {
                    assert_eq!(p[i], p[j], "{form}: {i} returns {j}");
                } else {
                    assert_ne!(p[i], p[j], "{form}: {i} is not {j}");
                }
            }
        }
        // The closing letter ends on the tonic; the others on the tonic or the fifth.
        let closing = *letters.last().unwrap();
        let (tonic, fifth) =
            cadence_degrees(&stdout.replace(&format!("the {closing} phrases"), "the A phrases"));
        let as_checked: String = letters
            .iter()
            .map(|&l| if l == closing { 'A' } else { 'B' })
            .collect();
        ends_on_cadences(&p, &as_checked, tonic, fifth);
    }
}

#[test]
fn a_melody_ending_inside_a_bar_completes_it_and_the_phrases_start_on_the_next_bar_line() {
    // Three beats of primer: the bar ends at 2 s, and the phrases run 2-6, 6-10 and 10-14 s.
    let text = script("form \"ABA\" vary 0")
        .replace(" A4 B4*2 A4 G4", "")
        .replace("8 bars", "6 bars");
    let (dir, stdout) = run(&text);
    assert!(stdout.contains("ending at 14.000 s"), "{stdout}");
    let notes = melody(dir.path());
    let lead_in: Vec<&Note> = notes
        .iter()
        .filter(|n| n.start >= 1.5 - 1e-6 && n.start < 2.0 - 1e-6)
        .collect();
    assert!(!lead_in.is_empty(), "{notes:?}");
    assert!(lead_in.iter().all(|n| n.end() <= 2.0 + 1e-6), "{lead_in:?}");
    let p = phrases_from(&notes, 2.0);
    assert_eq!(p[0], p[2]);
    assert_ne!(p[0], p[1]);
    let (tonic, fifth) = cadence_degrees(&stdout);
    ends_on_cadences(&p[..3], "ABA", tonic, fifth);
}

#[test]
fn a_scale_gives_the_cadences_tonic() {
    let (dir, stdout) = run(&script("form \"ABA\" scale \"D major\"").replace("8 bars", "6 bars"));
    assert!(
        stdout.contains("in D major the A phrases end on D, the others on D or A,"),
        "{stdout}"
    );
    let p = phrases(dir.path());
    assert_eq!(p[2].last().map(|n| n.0 % 12), Some(2), "{p:?}");
    assert_eq!(
        p[1].last().map(|n| n.0 % 12 == 2 || n.0 % 12 == 9),
        Some(true)
    );
}

#[test]
fn bad_forms_are_named() {
    for (options, message) in [
        (
            "form \"A-B\"",
            "a form is capital letters A to Z, one a phrase, such as \"AABA\": character 2 is `-`",
        ),
        ("form \"aaba\"", "character 1 is `a` (write `A`)"),
        ("form \"\"", "this one is empty"),
        (
            "form \"ABA\"",
            "8 bars do not split into 3 phrases of whole bars, one a letter: 6 or 9 bars would",
        ),
        (
            "vary 0.5",
            "`vary` is how much a returning phrase of a `form` changes",
        ),
        ("form \"AABA\" vary 2", "an amount must be from 0 to 1"),
    ] {
        let (dir, run) = tms_c(&script(options));
        assert_ne!(run.code, 0, "{options}");
        assert!(run.stderr.contains(message), "{options}: {}", run.stderr);
        assert!(
            !dir.path().join("a.mid").exists(),
            "{options}: nothing runs"
        );
    }
    let (_, run) = tms_c(&script("form \"AB\"").replace("8 bars", "8"));
    assert!(
        run.stderr.contains("a form splits bars into phrases"),
        "{}",
        run.stderr
    );
}
