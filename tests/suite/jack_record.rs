//! `record` through a real JACK server: what a synth on the other end received and what a
//! keyboard played into tms both land in the file, as tracks, at the times they happened;
//! neither the end of a script, Ctrl-C, a flood nor kill -9 loses it.
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

/// The note-ons (velocity above 0) among a track's messages: their keys, in order.
fn keys_pressed(messages: &[(u64, Vec<u8>)]) -> Vec<u8> {
    messages
        .iter()
        .filter(|(_, b)| b.len() == 3 && b[0] & 0xF0 == 0x90 && b[2] > 0)
        .map(|(_, b)| b[1])
        .collect()
}

/// What a reader makes of the file while tms appends to it (it may catch an append half
/// done, which MIDI readers accept): the keys pressed in its last track, or None while the
/// file is not there yet.
fn keys_so_far(path: &std::path::Path) -> Option<Vec<u8>> {
    let bytes = std::fs::read(path).ok()?;
    let smf = midly::Smf::parse(&bytes).expect("a readable MIDI file at every moment");
    let track = smf.tracks.last()?;
    Some(
        track
            .iter()
            .filter_map(|e| match e.kind {
                midly::TrackEventKind::Midi {
                    message: midly::MidiMessage::NoteOn { key, vel },
                    ..
                } if vel > 0 => Some(key.as_int()),
                _ => None,
            })
            .collect(),
    )
}

/// Plays `n` short notes, about 2,000 messages a second.
fn flood(keys: &mut Source, n: usize) {
    for i in 0..n {
        let key = 30 + (i * 7 % 61) as u8;
        keys.send(&[0x90, key, 100]);
        keys.send(&[0x80, key, 0]);
        if i % 4 == 3 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// The (channel, key) of note-ons with no note-off of that key and channel after them.
fn hanging(messages: &[(u64, Vec<u8>)]) -> Vec<(u8, u8)> {
    let mut down = std::collections::BTreeSet::new();
    for (_, b) in messages {
        match b[0] & 0xF0 {
            0x90 if b[2] > 0 => {
                down.insert((b[0] & 15, b[1]));
            }
            0x80 | 0x90 => {
                down.remove(&(b[0] & 15, b[1]));
            }
            _ => {}
        }
    }
    down.into_iter().collect()
}

/// Waits until the keys in the file stop changing for 2.5 s (the writer appends each
/// second), checking that no reading loses what an earlier one held; returns the last.
///
/// What was sent is not compared note for note: at thousands of messages a second on a
/// busy machine, JACK and midir lose and garble some on the way (a second listener on the
/// same port heard more note-ons than were sent, and others than tms heard). The file is
/// compared note for note with what was pushed in src/perform/record.rs's unit tests.
fn settled(file: &std::path::Path) -> Vec<u8> {
    let (mut last, mut since) = (Vec::new(), Instant::now());
    let done = eventually(Duration::from_secs(20), || {
        let now = keys_so_far(file).unwrap_or_default();
        assert!(now.starts_with(&last), "the file lost notes it held");
        if now.len() != last.len() {
            (last, since) = (now, Instant::now());
        }
        !last.is_empty() && since.elapsed() > Duration::from_millis(2500)
    });
    assert!(done, "the file kept changing for 20 s");
    last
}

#[test]
fn a_flooded_recording_stays_whole_and_counts_only_what_it_wrote() {
    let _jack = Jack::start();
    let mut keys = Source::new("keys");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flood.mid");
    let script = format!(
        "connect in \"keys\"; record \"{}\"; sleep 40; record stop",
        file.display()
    );
    let child = tms(&["-c", &script]).spawn().unwrap();
    // `record` creates the file at once, after `connect in`.
    assert!(
        eventually(Duration::from_secs(90), || file.exists()),
        "tms did not start recording"
    );
    // Malformed note-ons (cut short, a data byte of 128 or more) reach the input port too;
    // they cannot stand in a file, so they are neither written nor counted.
    keys.send(&[0x90, 61]);
    keys.send(&[0x90, 0x80, 100]);
    keys.send(&[0x90, 61, 0x80]);
    flood(&mut keys, 4000);
    // While recording, the file holds what was played up to the last second.
    let first = settled(&file);
    flood(&mut keys, 4000);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let tracks = crate::record_cli::well_formed(&std::fs::read(&file).unwrap());
    assert_eq!(tracks.len(), 2, "the conductor and the input track");
    assert_eq!(tracks[1].0, "input");
    let kept = keys_pressed(&tracks[1].1);
    println!(
        "record: a flood of 8,000 notes: the file holds {}, {} of them written while recording",
        kept.len(),
        first.len()
    );
    assert!(kept.starts_with(&first), "the final file lost notes");
    assert!(kept.len() > first.len(), "the second flood is missing");
    assert!(
        kept.len() > 4000,
        "most of the flood was lost: {}",
        kept.len()
    );
    assert!(
        stdout.contains(&format!("input {} notes", kept.len())),
        "{stdout}"
    );
    assert_eq!(hanging(&tracks[1].1), [], "every note ends");
}

#[test]
fn kill_9_mid_take_leaves_a_file_with_everything_but_the_last_second() {
    let _jack = Jack::start();
    let mut keys = Source::new("keys");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cut.mid");
    let script = format!(
        "connect in \"keys\"; record \"{}\"; sleep 120",
        file.display()
    );
    let mut child = tms(&["-c", &script]).spawn().unwrap();
    assert!(
        eventually(Duration::from_secs(90), || file.exists()),
        "tms did not start recording"
    );
    flood(&mut keys, 1000);
    let before = settled(&file);
    // Killed while notes keep coming in, and while one is held.
    keys.send(&[0x90, 100, 90]);
    flood(&mut keys, 3000);
    let _ = child.kill();
    let _ = child.wait();

    let bytes = std::fs::read(&file).unwrap();
    let smf = midly::Smf::parse(&bytes).expect("a readable MIDI file");
    assert_eq!(smf.tracks.len(), 2, "the conductor and the recording track");
    let kept = keys_so_far(&file).unwrap();
    assert!(
        kept.starts_with(&before),
        "notes written before the kill were lost"
    );
    println!(
        "record: kill -9 mid-take: the file holds {} notes, {} of them before the last burst",
        kept.len(),
        before.len()
    );
    // Unless the kill landed inside an append (microseconds of each second), the file is
    // whole by the strictest reading, every note ended.
    let declared = |b: &[u8]| {
        let mut at = 14;
        for _ in 0..2 {
            at += 8 + u32::from_be_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
        }
        at
    };
    if declared(&bytes) == bytes.len() {
        let tracks = crate::record_cli::well_formed(&bytes);
        assert_eq!(hanging(&tracks[1].1), [], "notes left hanging");
    }
}

/// Reads a recording back with music21 (a reader that is not tms's): per track its name and
/// events as (tick, kind, channel 1-16, key or program), kind being tempo (then the
/// microseconds per quarter), program, on or off.
const READ_BACK: &str = r#"
import json, sys
from music21 import midi
mf = midi.MidiFile()
mf.open(sys.argv[1]); mf.read(); mf.close()
tracks = []
for t in mf.tracks:
    tick, name, events = 0, "", []
    for e in t.events:
        if e.isDeltaTime():
            tick += e.time
            continue
        k = e.type
        if k == midi.MetaEvents.SEQUENCE_TRACK_NAME:
            name = e.data.decode()
        elif k == midi.MetaEvents.SET_TEMPO:
            events.append([tick, "tempo", 0, int.from_bytes(e.data, "big")])
        elif k == midi.MetaEvents.TIME_SIGNATURE:
            events.append([tick, "meter", 0, e.data[0]])
        elif k == midi.ChannelVoiceMessages.PROGRAM_CHANGE:
            events.append([tick, "program", e.channel, e.data])
        elif k == midi.ChannelVoiceMessages.NOTE_ON and e.velocity > 0:
            events.append([tick, "on", e.channel, e.pitch])
        elif k in (midi.ChannelVoiceMessages.NOTE_ON, midi.ChannelVoiceMessages.NOTE_OFF):
            events.append([tick, "off", e.channel, e.pitch])
    tracks.append((name, events))
print(json.dumps({"tpq": mf.ticksPerQuarterNote, "tracks": tracks}))
"#;

type ReadTrack = (String, Vec<(u64, String, u8, u32)>);

fn music21_reads(path: &std::path::Path) -> (u64, Vec<ReadTrack>) {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let python = if python.exists() {
        python
    } else {
        "/work/main/.venv/bin/python".into()
    };
    let out = std::process::Command::new(&python)
        .args(["-c", READ_BACK])
        .arg(path)
        .output()
        .expect("python with music21 runs");
    assert!(
        out.status.success(),
        "music21 cannot read the recording: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("music21's reading as JSON");
    let tracks = v["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let events = t[1]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e[0].as_u64().unwrap(),
                        e[1].as_str().unwrap().to_string(),
                        e[2].as_u64().unwrap() as u8,
                        e[3].as_u64().unwrap() as u32,
                    )
                })
                .collect();
            (t[0].as_str().unwrap().to_string(), events)
        })
        .collect();
    (v["tpq"].as_u64().unwrap(), tracks)
}

/// Three voices, a tempo change and a program change during the take, one voice already
/// sounding when `record` starts: a DAW reads the file as played — the tempo map follows
/// the change (a quarter note is a quarter note before and after it), each track carries
/// its program, and every note has a start and a later end.
#[test]
fn a_recording_of_three_voices_holds_the_tempo_map_and_programs_as_played() {
    let _jack = Jack::start();
    let synth = Sink::new("synth");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("set.mid");
    let script = format!(
        "prime notes \"C4 D4 E4 G4 A4 C5 A4 G4\"; set tempo 120; set program 5; connect \"synth\"; \
         play loop; sleep 1.2; record \"{}\"; \
         voice \"b\"; set channel 2; set program 33; play loop; voice \"c\"; set channel 3; play loop; \
         sleep 3; set tempo 140; voice \"b\"; set program 40; sleep 3; stop all; record stop",
        file.display()
    );
    let mut child = tms(&["-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (tpq, tracks) = music21_reads(&file);
    assert_eq!(tpq, 960);
    let mut names: Vec<&str> = tracks.iter().map(|t| t.0.as_str()).collect();
    names.sort();
    assert_eq!(names, ["", "b", "c", "main"], "{stdout}");
    // Tracks come in the order they first sounded in the take.
    let track = |name: &str| tracks.iter().position(|t| t.0 == name).unwrap();

    // The conductor: the meter, then the tempo at the start and where it changed.
    let conductor = &tracks[0].1;
    assert!(conductor
        .iter()
        .any(|e| (e.0, e.1.as_str(), e.3) == (0, "meter", 4)));
    let tempos: Vec<(u64, u32)> = conductor
        .iter()
        .filter(|e| e.1 == "tempo")
        .map(|e| (e.0, e.3))
        .collect();
    assert_eq!(tempos.len(), 2, "{tempos:?}");
    assert_eq!(tempos[0], (0, 500_000));
    assert_eq!(tempos[1].1, 428_571, "140 BPM");
    let change = tempos[1].0;

    for (name, events) in &tracks[1..] {
        // Every note-off ends a sounding note, later than it began; nothing hangs.
        let mut down = std::collections::HashMap::new();
        let mut onsets = Vec::new();
        for (tick, kind, ch, key) in events {
            match kind.as_str() {
                "on" => {
                    assert!(
                        down.insert((*ch, *key), *tick).is_none(),
                        "{name}: {key} twice"
                    );
                    onsets.push(*tick);
                }
                "off" => {
                    let on = down.remove(&(*ch, *key)).unwrap_or_else(|| {
                        panic!("{name}: a note-off at {tick} without its note-on")
                    });
                    assert!(tick > &on, "{name}: a zero-length note at {tick}");
                }
                _ => {}
            }
        }
        assert!(down.is_empty(), "{name}: notes hang: {down:?}");
        // The primer's notes are quarters: at either tempo a quarter is 960 ticks on the
        // file's grid (10 ms of scheduling either way allowed). Intervals across the change
        // are not whole quarters of either tempo.
        let quarters: Vec<u64> = onsets
            .windows(2)
            .filter(|w| w[1] <= change || w[0] >= change)
            .map(|w| w[1] - w[0])
            .collect();
        assert!(quarters.len() >= 6, "{name}: {onsets:?}");
        assert!(
            quarters.iter().all(|&q| q.abs_diff(960) <= 20),
            "{name}: quarters of {quarters:?} ticks (tempo change at {change})"
        );
    }

    let programs = |name: &str| -> Vec<(u64, u8, u32)> {
        tracks[track(name)]
            .1
            .iter()
            .filter(|e| e.1 == "program")
            .map(|e| (e.0, e.2, e.3))
            .collect()
    };
    // main's program was sent before `record`: its track starts with it all the same.
    assert_eq!(
        programs("main").first(),
        Some(&(0, 1, 5)),
        "{:?}",
        programs("main")
    );
    let b = programs("b");
    assert_eq!(b.first().map(|p| (p.1, p.2)), Some((2, 33)), "{b:?}");
    let first_b = tracks[track("b")].1.iter().find(|e| e.1 == "on").unwrap().0;
    assert!(b[0].0 <= first_b, "{b:?}");
    assert_eq!(b.last().map(|p| (p.1, p.2)), Some((2, 40)), "{b:?}");
    assert!(b.last().unwrap().0 > change, "{b:?}");
    // c began as a copy of b.
    assert_eq!(programs("c").first().map(|p| (p.1, p.2)), Some((3, 33)));

    // Against what the synth heard: b and c played only during the take. Every note the
    // synth heard is in the file. Once in a run with another JACK test beside it, the
    // file held one note more than the synth heard (a note struck as `stop all` came, sent
    // but not delivered): one is allowed.
    let heard = notes(&synth.messages());
    for (name, ch) in [("b", 1u8), ("c", 2)] {
        let kept = tracks[track(name)].1.iter().filter(|e| e.1 == "on").count();
        let got = heard.iter().filter(|n| n.ch == ch).count();
        assert!(
            (got..=got + 1).contains(&kept),
            "{name}: the synth heard {got} notes, the file holds {kept}"
        );
    }
}

/// `clock in` follows a drum machine that speeds up during the take: the tempo map holds
/// the tempo as followed, before and after the change.
#[test]
fn a_recording_follows_the_tempo_clock_in_follows() {
    let _jack = Jack::start();
    let peer = jack_support::ClockPeer::new("drums", 100.0);
    peer.start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("set.mid");
    let mut tms = crate::support::Prompt::start(tms(&[]));
    tms.type_line("connect in \"drums\"; clock in on");
    assert!(
        tms.wait_for("clock in: following", Duration::from_secs(90)),
        "{}",
        tms.printed()
    );
    // Two seconds for the follower to lock on (the goal is two beats).
    std::thread::sleep(Duration::from_secs(2));
    tms.type_line(&format!("record \"{}\"", file.display()));
    assert!(tms.wait_for("recording into", Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(1500));
    peer.set_bpm(130.0);
    // The follower eases into a new tempo: give it time to get there.
    std::thread::sleep(Duration::from_secs(6));
    tms.type_line("record stop");
    assert!(
        tms.wait_for("wrote", Duration::from_secs(10)),
        "{}",
        tms.printed()
    );
    tms.quit();
    let (_, tracks) = music21_reads(&file);
    let tempos: Vec<(u64, f64)> = tracks[0]
        .1
        .iter()
        .filter(|e| e.1 == "tempo")
        .map(|e| (e.0, 60e6 / f64::from(e.3)))
        .collect();
    println!("record: {} tempo events following clock in", tempos.len());
    let near = |bpm: f64, target: f64| (bpm - target).abs() / target < 0.01;
    // It starts at the tempo played, not at the `tempo` setting clock in overrides.
    assert!(tempos[0].0 == 0 && near(tempos[0].1, 100.0), "{tempos:?}");
    let fast = tempos
        .iter()
        .position(|t| near(t.1, 130.0))
        .unwrap_or_else(|| panic!("no tempo of 130 BPM: {tempos:?}"));
    assert!(
        tempos[..fast].iter().any(|t| near(t.1, 100.0)),
        "100 BPM before the change: {tempos:?}"
    );
    assert!(near(tempos.last().unwrap().1, 130.0), "{tempos:?}");
    // 100 BPM for about 1.5 s is about 2.5 beats, 2,400 ticks, before the change starts.
    let rising = tempos.iter().position(|t| t.1 > 101.5).unwrap();
    assert!(
        (1200..4800).contains(&tempos[rising].0),
        "the change at tick {}: {tempos:?}",
        tempos[rising].0
    );
}
