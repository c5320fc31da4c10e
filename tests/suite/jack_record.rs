//! `record` through a real JACK server: what a synth on the other end received and what a
//! keyboard played into tms both land in the file, as tracks, at the times they happened;
//! neither the end of a script nor Ctrl-C loses it.
#![cfg(feature = "jack")]

use crate::jack_cli::tms;
use crate::jack_support;

use std::io::Read;
use std::time::{Duration, Instant};

use jack_support::{eventually, notes, Jack, Sink, Source};

/// (seconds from the file's start, status, key, velocity)
type Event = (f64, u8, u8, u8);

/// (track name, its note events) per track after the conductor track.
fn tracks(path: &std::path::Path) -> Vec<(String, Vec<Event>)> {
    let bytes = std::fs::read(path).expect("the recording was written");
    let smf = midly::Smf::parse(&bytes).expect("a valid MIDI file");
    let midly::Timing::Metrical(tpq) = smf.header.timing else {
        panic!("metrical timing")
    };
    let mut tempo = 500_000.0;
    for e in &smf.tracks[0] {
        if let midly::TrackEventKind::Meta(midly::MetaMessage::Tempo(t)) = e.kind {
            tempo = f64::from(t.as_int());
        }
    }
    let secs_per_tick = tempo / 1e6 / f64::from(tpq.as_int());
    smf.tracks[1..]
        .iter()
        .map(|t| {
            let mut name = String::new();
            let mut tick = 0u64;
            let mut events = Vec::new();
            for e in t {
                tick += u64::from(e.delta.as_int());
                match e.kind {
                    midly::TrackEventKind::Meta(midly::MetaMessage::TrackName(n)) => {
                        name = String::from_utf8_lossy(n).into_owned()
                    }
                    midly::TrackEventKind::Midi { channel, message } => {
                        let (status, key, vel) = match message {
                            midly::MidiMessage::NoteOn { key, vel } => {
                                (0x90, key.as_int(), vel.as_int())
                            }
                            midly::MidiMessage::NoteOff { key, vel } => {
                                (0x80, key.as_int(), vel.as_int())
                            }
                            _ => continue,
                        };
                        events.push((
                            tick as f64 * secs_per_tick,
                            status | channel.as_int(),
                            key,
                            vel,
                        ));
                    }
                    _ => {}
                }
            }
            (name, events)
        })
        .collect()
}

fn onsets(events: &[Event]) -> Vec<(f64, u8)> {
    events
        .iter()
        .filter(|e| e.1 & 0xF0 == 0x90 && e.3 > 0)
        .map(|e| (e.0, e.2))
        .collect()
}

/// Largest difference between two onset lists after aligning their first onsets.
fn worst_offset(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| ((x - a[0]) - (y - b[0])).abs())
        .fold(0.0, f64::max)
}

#[test]
fn record_keeps_both_sides_note_for_note_and_on_time() {
    let _jack = Jack::start();
    let synth = Sink::new("synth");
    let mut keys = Source::new("keys");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("set.mid");
    let script = format!(
        "prime notes \"C4 D4 E4 G4 A4 C5 A4 G4\"; set tempo 150; connect \"synth\"; connect in \"keys\"; \
         record \"{}\"; play; wait; sleep 4; record stop",
        file.display()
    );
    let mut child = tms(&["-c", &script]).spawn().unwrap();
    // The keyboard plays once tms has played its melody (it is then in `sleep`). A debug
    // build on a busy machine takes a while to load libtorch, hence the long wait.
    let played = eventually(Duration::from_secs(90), || {
        notes(&synth.messages())
            .iter()
            .filter(|n| n.off.is_some())
            .count()
            >= 8
    });
    if !played {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!(
            "tms did not play its 8 notes: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut sent = Vec::new();
    for (i, key) in [60u8, 64, 67, 72].into_iter().enumerate() {
        let at = Instant::now();
        keys.send(&[0x90, key, 90]);
        sent.push((at, key));
        std::thread::sleep(Duration::from_millis(120 + 40 * i as u64));
        keys.send(&[0x80, key, 0]);
        std::thread::sleep(Duration::from_millis(60));
    }
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{stdout}");
    assert!(stdout.contains("main 8 notes, input 4 notes"), "{stdout}");

    let recorded = tracks(&file);
    let names: Vec<&str> = recorded.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(names, ["main", "input"]);

    let heard = notes(&synth.messages());
    let played = onsets(&recorded[0].1);
    assert_eq!(
        played.iter().map(|o| o.1).collect::<Vec<_>>(),
        heard.iter().map(|n| n.pitch).collect::<Vec<_>>()
    );
    let t0 = heard[0].on;
    let heard_at: Vec<f64> = heard.iter().map(|n| (n.on - t0).as_secs_f64()).collect();
    let file_at: Vec<f64> = played.iter().map(|o| o.0).collect();
    let worst = worst_offset(&file_at, &heard_at);
    println!(
        "record: played onsets within {:.3} ms of what the synth received",
        worst * 1e3
    );
    assert!(
        worst < 0.003,
        "recorded times differ by {worst} s from what the synth heard"
    );

    let input = onsets(&recorded[1].1);
    assert_eq!(
        input.iter().map(|o| o.1).collect::<Vec<_>>(),
        sent.iter().map(|s| s.1).collect::<Vec<_>>()
    );
    let sent_at: Vec<f64> = sent
        .iter()
        .map(|s| (s.0 - sent[0].0).as_secs_f64())
        .collect();
    let in_at: Vec<f64> = input.iter().map(|o| o.0).collect();
    let worst_in = worst_offset(&in_at, &sent_at);
    println!(
        "record: input onsets within {:.3} ms of when the keyboard sent them",
        worst_in * 1e3
    );
    assert!(worst_in < 0.003, "input times differ by {worst_in} s");
    // Every recorded note ends.
    for (name, events) in &recorded {
        let ons = events
            .iter()
            .filter(|e| e.1 & 0xF0 == 0x90 && e.3 > 0)
            .count();
        let offs = events
            .iter()
            .filter(|e| e.1 & 0xF0 == 0x80 || e.3 == 0)
            .count();
        assert!(offs >= ons, "{name}: {ons} note-ons, {offs} note-offs");
    }
}

#[test]
fn a_recording_survives_the_end_of_a_script_and_ctrl_c() {
    let _jack = Jack::start();
    let synth = Sink::new("synth");
    let dir = tempfile::tempdir().unwrap();

    // No `record stop`: the end of the script writes it.
    let ended = dir.path().join("ended.mid");
    let out = tms(&[
        "-c",
        &format!(
            "prime notes \"C4 E4 G4\"; set tempo 300; connect \"synth\"; record \"{}\"; play",
            ended.display()
        ),
    ])
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("main 3 notes"));
    assert_eq!(onsets(&tracks(&ended)[0].1).len(), 3);

    // Ctrl-C while a long melody plays: the notes played so far are in the file, ended.
    let cut = dir.path().join("cut.mid");
    let (code, said) = crate::cli::interrupt_when(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
        &[
            "-c",
            &format!(
                "prime \"samples/zang-456.mid\"; connect \"synth\"; record \"{}\"; play; sleep 1.5; set velocity 99; wait",
                cut.display()
            ),
        ],
        "velocity = 99",
    );
    assert_eq!(code, Some(130), "{said}");
    let recorded = tracks(&cut);
    let played = onsets(&recorded[0].1);
    let heard = notes(&synth.messages());
    assert!(!played.is_empty(), "nothing recorded before Ctrl-C: {said}");
    let offs = recorded[0]
        .1
        .iter()
        .filter(|e| e.1 & 0xF0 == 0x80 || e.3 == 0)
        .count();
    assert!(offs >= played.len(), "a note was left hanging in the file");
    assert!(heard.len() >= played.len());
}
