//! Whole takes written and read back as a DAW would read them: apart from the parts, since
//! each test goes through the take, the read back and the final file together.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use midly::{MetaMessage, Smf, TrackEvent, TrackEventKind};

use super::{Manual, RecordError, Recording, Tape};
use crate::music::meter::Meter;

/// Checks what lenient readers let pass: the declared number of chunks, each exactly as
/// long as it says, each track's events whole and ending with its one end of track, and
/// nothing after the last chunk.
fn strictly_valid(bytes: &[u8]) {
    assert_eq!(&bytes[..8], b"MThd\0\0\0\x06");
    let tracks = u16::from_be_bytes([bytes[10], bytes[11]]);
    let mut at = 14;
    for _ in 0..tracks {
        assert_eq!(&bytes[at..at + 4], b"MTrk");
        let len = u32::from_be_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        let track = &bytes[at + 8..at + 8 + len];
        let mut iter = midly::EventIter::new(track);
        let events = iter
            .by_ref()
            .collect::<Result<Vec<_>, _>>()
            .expect("every event whole");
        assert!(iter.unread().is_empty(), "a cut event");
        let ends = events
            .iter()
            .filter(|e| matches!(e.kind, TrackEventKind::Meta(MetaMessage::EndOfTrack)))
            .count();
        assert_eq!(ends, 1);
        assert!(matches!(
            events.last().unwrap().kind,
            TrackEventKind::Meta(MetaMessage::EndOfTrack)
        ));
        at += 8 + len;
    }
    assert_eq!(at, bytes.len(), "bytes after the last chunk");
}

fn name(t: &[TrackEvent]) -> String {
    match t[0].kind {
        TrackEventKind::Meta(MetaMessage::TrackName(n)) => String::from_utf8_lossy(n).into_owned(),
        _ => String::new(),
    }
}

fn ticks(t: &[TrackEvent]) -> Vec<u32> {
    t.iter()
        .scan(0, |t, e| {
            *t += e.delta.as_int();
            Some(*t)
        })
        .collect()
}

fn manual(dir: &Path) -> (PathBuf, Manual) {
    let path = dir.join("set.mid");
    let m = Manual::start(&path, false, 120.0, Meter::parse("3/4").unwrap()).unwrap();
    (path, m)
}

#[test]
fn tracks_are_named_timed_and_every_note_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut m) = manual(dir.path());
    let (main, input): (Arc<str>, Arc<str>) = (Arc::from("main"), Arc::from("input"));
    // Pushed out of order, as two threads may; the held note never gets its note-off.
    m.push_at(&main, &[0x90, 60, 100], 0.5);
    m.push_at(&input, &[0x90, 64, 80], 0.25);
    m.save().unwrap();
    m.push_at(&main, &[0x80, 60, 0], 1.0);
    m.push_at(&input, &[0x80, 64, 0], 0.75);
    m.push_at(&main, &[0x91, 67, 90], 1.5);
    m.save().unwrap();
    let sum = m.finish().unwrap();
    assert_eq!(
        sum.tracks,
        [("input".to_string(), 1), ("main".to_string(), 2)]
    );
    let bytes = std::fs::read(&path).unwrap();
    strictly_valid(&bytes);
    let smf = Smf::parse(&bytes).unwrap();
    assert_eq!(smf.tracks.len(), 3);
    assert_eq!(name(&smf.tracks[1]), "input");
    assert_eq!(name(&smf.tracks[2]), "main");
    assert!(smf.tracks[0].iter().any(|e| matches!(
        e.kind,
        TrackEventKind::Meta(MetaMessage::TimeSignature(3, 2, _, _))
    )));
    // At 120 BPM and 960 ticks per quarter a second is 1,920 ticks.
    assert_eq!(ticks(&smf.tracks[2])[1..4], [960, 1920, 2880]);
    assert_eq!(ticks(&smf.tracks[1])[1..3], [480, 1440]);
    // The held note ends at the last message.
    let last = smf.tracks[2][smf.tracks[2].len() - 2].kind;
    assert!(matches!(
        last,
        TrackEventKind::Midi {
            message: midly::MidiMessage::NoteOff { .. },
            ..
        }
    ));
}

/// Checks a final track as a DAW needs it: every note-off ends a note that sounds,
/// later than it started, and nothing sounds at the end; returns the notes as
/// (start, end, key).
fn notes(t: &[TrackEvent]) -> Vec<(u32, u32, u8)> {
    let mut down: std::collections::HashMap<(u8, u8), u32> = Default::default();
    let mut out = Vec::new();
    for (tick, e) in ticks(t).into_iter().zip(t) {
        let TrackEventKind::Midi { channel, message } = e.kind else {
            continue;
        };
        let (key, on) = match message {
            midly::MidiMessage::NoteOn { key, vel } => (key.as_int(), vel > 0),
            midly::MidiMessage::NoteOff { key, .. } => (key.as_int(), false),
            _ => continue,
        };
        let k = (channel.as_int(), key);
        if on {
            assert!(down.insert(k, tick).is_none(), "key {key} struck twice");
        } else {
            let start = down
                .remove(&k)
                .unwrap_or_else(|| panic!("a note-off at {tick} for key {key}, which was not on"));
            assert!(tick > start, "a zero-length note: key {key} at {tick}");
            out.push((start, tick, key));
        }
    }
    assert!(down.is_empty(), "notes hang: {down:?}");
    out
}

fn tempos(t: &[TrackEvent]) -> Vec<(u32, u32)> {
    ticks(t)
        .into_iter()
        .zip(t)
        .filter_map(|(tick, e)| match e.kind {
            TrackEventKind::Meta(MetaMessage::Tempo(m)) => Some((tick, m.as_int())),
            _ => None,
        })
        .collect()
}

fn programs(t: &[TrackEvent]) -> Vec<(u32, u8)> {
    ticks(t)
        .into_iter()
        .zip(t)
        .filter_map(|(tick, e)| match e.kind {
            TrackEventKind::Midi {
                message: midly::MidiMessage::ProgramChange { program },
                ..
            } => Some((tick, program.as_int())),
            _ => None,
        })
        .collect()
}

#[test]
fn every_tempo_change_lands_in_the_conductor_at_its_time_and_ticks_follow_it() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut m) = manual(dir.path());
    let main: Arc<str> = Arc::from("main");
    m.push_at(&main, &[0x90, 60, 100], 0.5);
    m.push_at(&main, &[0x80, 60, 0], 0.75);
    // Half the speed after one second: a second then is 960 ticks, not 1,920; at 240
    // BPM it is 3,840.
    m.tempo_at(60.0, 1.0);
    m.save().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    strictly_valid(&bytes);
    m.push_at(&main, &[0x90, 62, 100], 2.0);
    m.push_at(&main, &[0x80, 62, 0], 2.5);
    m.tempo_at(240.0, 3.0);
    m.push_at(&main, &[0x90, 64, 100], 3.5);
    m.push_at(&main, &[0x80, 64, 0], 4.0);
    m.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    strictly_valid(&bytes);
    let smf = Smf::parse(&bytes).unwrap();
    assert_eq!(
        tempos(&smf.tracks[0]),
        [(0, 500_000), (1920, 1_000_000), (3840, 250_000)]
    );
    assert!(smf.tracks[0].iter().any(|e| matches!(
        e.kind,
        TrackEventKind::Meta(MetaMessage::TimeSignature(3, 2, _, _))
    )));
    assert_eq!(
        notes(&smf.tracks[1]),
        [(960, 1440, 60), (2880, 3360, 62), (5760, 7680, 64)]
    );
}

#[test]
fn each_track_starts_with_its_voices_program_and_keeps_its_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut m) = manual(dir.path());
    let (piano, bass): (Arc<str>, Arc<str>) = (Arc::from("piano"), Arc::from("bass"));
    m.programs(&[
        ("piano".to_string(), 0, 5),
        ("bass".to_string(), 1, 33),
        ("silent".to_string(), 2, 40),
    ]);
    m.push_at(&piano, &[0x90, 60, 100], 0.5);
    m.push_at(&bass, &[0x91, 40, 100], 0.5);
    m.push_at(&piano, &[0x80, 60, 0], 0.75);
    m.push_at(&bass, &[0x81, 40, 0], 0.75);
    // `set program 7` during the take: the player sends it before the next note.
    m.push_at(&piano, &[0xC0, 7], 1.0);
    m.push_at(&piano, &[0x90, 62, 100], 1.0);
    m.push_at(&piano, &[0x80, 62, 0], 1.25);
    let sum = m.finish().unwrap();
    assert_eq!(
        sum.tracks.len(),
        2,
        "a voice that never played has no track"
    );
    let bytes = std::fs::read(&path).unwrap();
    strictly_valid(&bytes);
    let smf = Smf::parse(&bytes).unwrap();
    assert_eq!(name(&smf.tracks[1]), "piano");
    assert_eq!(programs(&smf.tracks[1]), [(0, 5), (1920, 7)]);
    assert_eq!(name(&smf.tracks[2]), "bass");
    assert_eq!(programs(&smf.tracks[2]), [(0, 33)]);
    assert!(matches!(
        smf.tracks[2][1].kind,
        TrackEventKind::Midi { channel, .. } if channel.as_int() == 1
    ));
}

#[test]
fn a_note_off_for_a_note_struck_before_the_take_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut m) = manual(dir.path());
    let main: Arc<str> = Arc::from("main");
    // Key 60 sounded when `record` started; key 62 is another track's.
    m.push_at(&main, &[0x80, 60, 0], 0.1);
    m.push_at(&main, &[0x90, 64, 0], 0.2);
    m.push_at(&main, &[0x90, 62, 100], 0.5);
    m.push_at(&main, &[0x80, 62, 0], 1.0);
    m.push_at(&main, &[0x80, 62, 0], 1.1);
    m.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    strictly_valid(&bytes);
    let smf = Smf::parse(&bytes).unwrap();
    assert_eq!(notes(&smf.tracks[1]), [(960, 1920, 62)]);
}

#[test]
fn a_zero_length_note_ends_a_tick_later_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut m) = manual(dir.path());
    let main: Arc<str> = Arc::from("main");
    // Struck and released at once, then struck again at that same moment.
    m.push_at(&main, &[0x90, 60, 100], 0.5);
    m.push_at(&main, &[0x80, 60, 0], 0.5);
    m.push_at(&main, &[0x90, 64, 100], 0.5);
    m.push_at(&main, &[0x90, 64, 0], 0.5);
    m.push_at(&main, &[0x90, 64, 90], 0.5);
    m.push_at(&main, &[0x80, 64, 0], 1.0);
    // The last message: still sounding at the end, which is its own tick.
    m.push_at(&main, &[0x90, 67, 100], 1.5);
    let sum = m.finish().unwrap();
    assert_eq!(sum.tracks, [("main".to_string(), 4)]);
    let bytes = std::fs::read(&path).unwrap();
    strictly_valid(&bytes);
    let smf = Smf::parse(&bytes).unwrap();
    let mut got = notes(&smf.tracks[1]);
    got.sort_by_key(|n| (n.0, n.2));
    assert_eq!(
        got,
        [
            (960, 961, 60),
            (960, 961, 64),
            (961, 1920, 64),
            (2880, 2881, 67)
        ]
    );
}

#[test]
fn the_file_is_whole_after_every_second_and_holds_everything_so_far() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut m) = manual(dir.path());
    let (main, input): (Arc<str>, Arc<str>) = (Arc::from("main"), Arc::from("input"));
    let mut pressed = 0;
    // 40 "seconds"; 0..=40 keys held at once, so the tail's length passes 132 bytes.
    for second in 0..40u8 {
        for k in 0..=second {
            let t = f64::from(second) + f64::from(k) / 100.0;
            m.push_at(&main, &[0x90, 20 + k, 90], t);
            pressed += 1;
            if k % 3 == 0 {
                m.push_at(&input, &[0x91, 20 + k, 90], t);
                m.push_at(&input, &[0x81, 20 + k, 0], t + 0.001);
                pressed += 1;
            }
        }
        m.save().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        strictly_valid(&bytes);
        let smf = Smf::parse(&bytes).unwrap();
        assert_eq!(smf.tracks.len(), 2);
        assert_eq!(name(&smf.tracks[1]), "recording");
        let mut ons = 0;
        let mut down = [[false; 128]; 16];
        for e in &smf.tracks[1] {
            if let TrackEventKind::Midi { channel, message } = e.kind {
                let (ch, key) = match message {
                    midly::MidiMessage::NoteOn { key, vel } if vel > 0 => {
                        ons += 1;
                        down[usize::from(channel.as_int())][usize::from(key.as_int())] = true;
                        continue;
                    }
                    midly::MidiMessage::NoteOff { key, .. }
                    | midly::MidiMessage::NoteOn { key, .. } => (channel, key),
                    _ => continue,
                };
                down[usize::from(ch.as_int())][usize::from(key.as_int())] = false;
            }
        }
        assert_eq!(ons, pressed, "second {second}");
        assert!(down.iter().flatten().all(|d| !d), "a note hangs");
    }
    let sum = m.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    strictly_valid(&bytes);
    let smf = Smf::parse(&bytes).unwrap();
    let count = |t: &[TrackEvent]| {
        t.iter()
            .filter(|e| {
                matches!(e.kind, TrackEventKind::Midi { message: midly::MidiMessage::NoteOn { vel, .. }, .. } if vel > 0)
            })
            .count()
    };
    assert_eq!(count(&smf.tracks[1]) + count(&smf.tracks[2]), pressed);
    assert_eq!(sum.tracks[0].1 + sum.tracks[1].1, pressed);
}

#[test]
fn a_path_that_cannot_be_written_fails_at_the_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "a file, not a folder").unwrap();
    let path = dir.path().join("notes.txt/set.mid");
    let err = match Recording::start(&Tape::default(), &path, false, 120.0, Meter::default()) {
        Err(e) => e,
        Ok(_) => panic!("recording under a file started"),
    };
    assert!(matches!(err, RecordError::CannotWrite { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("cannot write recording"),
        "{err}"
    );
}
