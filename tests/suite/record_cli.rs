//! `record` as a user meets it without a MIDI server: which names it refuses and why, with
//! what to type instead. (Recording what is played is in jack_record.rs.) Also the strict
//! reading of a MIDI file that both use to say a recording is whole.

use crate::support;

use std::path::Path;

use support::{tms_in, Run};

/// A track's name and its channel messages, each with its absolute tick.
pub type Track = (String, Vec<(u64, Vec<u8>)>);

/// A file's tracks, checked
/// more strictly than MIDI readers check: the declared number of chunks, each exactly as
/// long as it says, every event whole, one end of track closing each track, nothing after
/// the last chunk.
pub fn well_formed(bytes: &[u8]) -> Vec<Track> {
    assert!(bytes.len() >= 14, "shorter than a header");
    assert_eq!(&bytes[..8], b"MThd\0\0\0\x06", "not a MIDI file");
    let count = u16::from_be_bytes([bytes[10], bytes[11]]);
    let mut at = 14;
    let mut tracks = Vec::new();
    for i in 0..count {
        assert_eq!(&bytes[at..at + 4], b"MTrk", "track {i}");
        let len = u32::from_be_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        assert!(at + 8 + len <= bytes.len(), "track {i} is cut");
        let mut iter = midly::EventIter::new(&bytes[at + 8..at + 8 + len]);
        let events: Vec<_> = iter
            .by_ref()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("track {i}: {e}"));
        assert!(iter.unread().is_empty(), "track {i} holds a cut event");
        let end = |e: &midly::TrackEvent| {
            matches!(
                e.kind,
                midly::TrackEventKind::Meta(midly::MetaMessage::EndOfTrack)
            )
        };
        assert!(events.last().is_some_and(end), "track {i} lacks its end");
        assert_eq!(events.iter().filter(|e| end(e)).count(), 1, "track {i}");
        let (mut name, mut tick, mut messages) = (String::new(), 0u64, Vec::new());
        for e in &events {
            tick += u64::from(e.delta.as_int());
            match e.kind {
                midly::TrackEventKind::Meta(midly::MetaMessage::TrackName(n)) => {
                    name = String::from_utf8_lossy(n).into_owned();
                }
                midly::TrackEventKind::Midi { channel, message } => {
                    let mut b = Vec::new();
                    midly::live::LiveEvent::Midi { channel, message }
                        .write_std(&mut b)
                        .unwrap();
                    messages.push((tick, b));
                }
                _ => {}
            }
        }
        tracks.push((name, messages));
        at += 8 + len;
    }
    assert_eq!(at, bytes.len(), "bytes after the last track");
    tracks
}

fn run(dir: &Path, script: &str) -> Run {
    tms_in(dir, &["-c", script], "")
}

#[test]
fn a_saved_model_survives_record_on_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let saved = run(dir.path(), "model new; save \"m.safetensors\"");
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    let model = std::fs::read(dir.path().join("m.safetensors")).unwrap();

    let refused = run(dir.path(), "record \"m.safetensors\"");
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        refused.stderr.contains(
            "error: `record` writes a standard MIDI file: its name must end in .mid or .midi, e.g. `record \"m.mid\"`"
        ),
        "{}",
        refused.stderr
    );
    assert_eq!(
        std::fs::read(dir.path().join("m.safetensors")).unwrap(),
        model
    );
    assert!(!dir.path().join("m.mid").exists());
    let opened = run(dir.path(), "model \"m.safetensors\"");
    assert_eq!(opened.code, 0, "{}", opened.stderr);
}

#[test]
fn an_existing_set_is_kept_unless_overwrite_is_typed() {
    let dir = tempfile::tempdir().unwrap();
    let first = run(dir.path(), "record \"set.mid\"; record stop");
    assert_eq!(first.code, 0, "{}", first.stderr);
    let set = dir.path().join("set.mid");
    // Stands for the first set's notes: the test has no MIDI server to play them.
    std::fs::write(&set, b"the first set").unwrap();

    let again = run(dir.path(), "record \"set.mid\"; record stop");
    assert_eq!(again.code, 1, "{}", again.stdout);
    assert!(
        again.stderr.contains(
            "error: `set.mid` already exists: `record \"set.mid\" overwrite` replaces it, or give another name"
        ),
        "{}",
        again.stderr
    );
    assert!(!again.stdout.contains("recording into"), "{}", again.stdout);
    assert_eq!(std::fs::read(&set).unwrap(), b"the first set");

    // What the error says to type works, and the name may be in capitals (`.MIDI`).
    let replaced = run(dir.path(), "record \"set.mid\" overwrite; record stop");
    assert_eq!(replaced.code, 0, "{}", replaced.stderr);
    assert!(
        replaced.stdout.contains("wrote set.mid"),
        "{}",
        replaced.stdout
    );
    // Nothing was played: the conductor track alone.
    assert_eq!(well_formed(&std::fs::read(&set).unwrap()).len(), 1);
    let upper = run(dir.path(), "record \"SET2.MIDI\"; record stop");
    assert_eq!(upper.code, 0, "{}", upper.stderr);

    // A dangling link counts as existing: writing through it creates a file elsewhere.
    std::os::unix::fs::symlink("elsewhere.mid", dir.path().join("link.mid")).unwrap();
    let linked = run(dir.path(), "record \"link.mid\"");
    assert!(
        linked.stderr.contains("`link.mid` already exists"),
        "{}",
        linked.stderr
    );
    assert!(!dir.path().join("elsewhere.mid").exists());
}

#[test]
fn special_files_are_refused_with_the_reason_write_gives() {
    let dir = tempfile::tempdir().unwrap();
    // The child's stdout is a pipe here, which `/dev/stdout` leads to through /proc.
    let stdout = run(dir.path(), "record \"/dev/stdout\"");
    assert_eq!(stdout.code, 1);
    assert!(
        stdout.stderr.contains(
            "error: cannot write recording `/dev/stdout`: a named pipe (FIFO), not a regular file (tms writes only regular files)"
        ),
        "{}",
        stdout.stderr
    );

    let fifo = dir.path().join("f.mid");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let recorded = run(dir.path(), "record \"f.mid\" overwrite");
    let written = run(dir.path(), "prime notes \"C4\"; write \"f.mid\"");
    let reason = |r: &Run| {
        r.stderr
            .lines()
            .find_map(|l| l.split_once("`f.mid`: ").map(|(_, why)| why.to_string()))
            .unwrap_or_else(|| panic!("no reason: {}", r.stderr))
    };
    assert_eq!(reason(&recorded), reason(&written));
    assert!(reason(&recorded).starts_with("a named pipe (FIFO)"));
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

/// `record` alone and `record stop` count the same take: from `record` to now, silence
/// included (the stop once said 0.0 s after `record` had said 0.7 s).
#[test]
fn record_stop_reports_the_take_as_long_as_record_counted_it() {
    let (_dir, run) = crate::support::tms_c(r#"record "t.mid"; sleep 0.7; record; record stop"#);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let secs = |prefix: &str| -> f64 {
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting {prefix:?}:\n{}", run.stdout));
        let at = line.find(" s").expect("seconds");
        let start = line[..at].rfind(' ').map_or(0, |i| i + 1);
        line[start..at].parse().expect("a number of seconds")
    };
    let counted = secs("recording into t.mid:");
    let written = secs("wrote t.mid:");
    assert!(counted >= 0.7, "{}", run.stdout);
    assert!(written >= counted, "{}", run.stdout);
}
