//! The `jack` build of the real binary playing into a real JACK server, with a receiving
//! client on the other end: what arrives is what the file holds, and no way of stopping
//! leaves a note sounding.
#![cfg(feature = "jack")]

use crate::jack_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use jack_support::{controllers, notes, Jack, Sink};

pub(crate) use crate::support::tms_at_root as tms;

pub(crate) fn assert_silent_at_the_end(heard: &[jack_support::Heard]) {
    let open: Vec<_> = notes(heard)
        .into_iter()
        .filter(|n| n.off.is_none())
        .collect();
    assert!(open.is_empty(), "notes left sounding: {open:?}");
    assert!(
        controllers(heard)
            .iter()
            .any(|&(ch, cc, _)| ch == 0 && cc == 123),
        "all-notes-off (CC 123) on the channel used"
    );
}

#[test]
fn a_played_file_arrives_note_for_note() {
    let _jack = Jack::start();
    let sink = Sink::new("synth");
    let out = tms(&[
        "-c",
        "prime \"samples/zang-456.mid\" last 1000; set tempo 480; connect \"synth\"; play; wait",
    ])
    .output()
    .expect("tms runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read("samples/zang-456.mid").unwrap();
    let file = tms::music::midi::read_midi(&bytes).unwrap();
    let heard = notes(&sink.messages());
    let pitches: Vec<u8> = heard.iter().map(|n| n.pitch).collect();
    let expected: Vec<u8> = file.iter().map(|n| n.pitch).collect();
    assert_eq!(pitches, expected);
    assert!(heard
        .iter()
        .zip(&file)
        .all(|(h, f)| h.velocity == f.velocity));
    // At 480 BPM the 6.1 s tune takes a quarter of the time: onsets follow the file's.
    let t0 = heard[0].on;
    for (h, f) in heard.iter().zip(&file) {
        let got = (h.on - t0).as_secs_f64();
        let want = f.start / 4.0;
        assert!(
            (got - want).abs() < 0.05,
            "onset {got:.4} s, file says {want:.4} s"
        );
    }
    assert_silent_at_the_end(&sink.messages());
}

#[test]
fn ctrl_c_in_mid_melody_leaves_no_note_sounding() {
    let _jack = Jack::start();
    let sink = Sink::new("synth");
    let child = tms(&[
        "-c",
        "prime \"samples/zang-353.mid\" last 1000; connect \"synth\"; play; sleep 30",
    ])
    .spawn()
    .expect("tms runs");
    assert!(
        jack_support::eventually(Duration::from_secs(10), || notes(&sink.messages()).len()
            >= 3),
        "playing started"
    );
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("error: interrupted"));
    let heard = sink.controller_seen(0, 123);
    assert!(notes(&heard).len() < 72, "stopped before the end");
    assert_silent_at_the_end(&heard);
}

#[test]
fn stop_in_a_script_silences_and_the_script_goes_on() {
    let _jack = Jack::start();
    let sink = Sink::new("synth");
    let out = tms(&[
        "-c",
        "prime \"samples/zang-353.mid\" last 1000; connect \"synth\"; play; sleep 0.8; stop; set tempo 90",
    ])
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("tempo = 90"));
    let heard = sink.messages();
    assert!(!notes(&heard).is_empty() && notes(&heard).len() < 72);
    assert_silent_at_the_end(&heard);
}

#[test]
fn connecting_to_a_missing_port_names_the_ports_there_are() {
    let _jack = Jack::start();
    let _sink = Sink::new("synth");
    let out = tms(&["-c", "connect \"nosuch\""]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("<command-line>:1:9: error: no port matches \"nosuch\""),
        "{err}"
    );
    assert!(err.contains("synth:in"), "{err}");
}

/// The folk model performing live: settings typed at the prompt reach the next notes, and
/// `quit` in mid-performance leaves nothing sounding.
#[test]
fn live_mode_follows_the_prompt_and_quit_silences() {
    use std::io::Write;
    use std::time::Instant;
    let _jack = Jack::start();
    let sink = Sink::new("synth");
    let mut child = tms(&[]).stdin(Stdio::piped()).spawn().expect("tms runs");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(
        stdin,
        "seed 3; model \"models/folk.safetensors\"; prime \"samples/little_star.mid\" last 10; set tempo 480; connect \"synth\"; live on"
    )
    .unwrap();
    assert!(
        jack_support::eventually(Duration::from_secs(20), || notes(&sink.messages()).len()
            >= 12),
        "live mode plays"
    );
    // Only the black keys from here on: a scale the folk model would never choose.
    writeln!(
        stdin,
        "set scale \"F# major pentatonic\"; set temperature 0.5"
    )
    .unwrap();
    let changed = Instant::now();
    let before = notes(&sink.messages()).len();
    assert!(
        jack_support::eventually(Duration::from_secs(20), || notes(&sink.messages()).len()
            >= before + 16),
        "live mode goes on"
    );
    writeln!(stdin, "quit").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let heard = sink.all_ended(1);
    let ns = notes(&heard);
    let black = |p: u8| matches!(p % 12, 1 | 3 | 6 | 8 | 10);
    let early: Vec<u8> = ns
        .iter()
        .filter(|n| n.on < changed)
        .map(|n| n.pitch)
        .collect();
    assert!(early.iter().any(|&p| !black(p)), "before: {early:?}");
    // The generator runs at most a couple of notes ahead of the clock.
    let late: Vec<u8> = ns
        .iter()
        .filter(|n| n.on > changed)
        .skip(3)
        .map(|n| n.pitch)
        .collect();
    assert!(late.len() >= 10, "{late:?}");
    assert!(
        late.iter().all(|&p| black(p)),
        "after the scale change: {late:?}"
    );
    assert_silent_at_the_end(&heard);
}

/// `wait` with endless music (a loop on one voice, live on another) cannot wait for its
/// end: it says at once what keeps playing, and the script goes on to its `stop all`.
#[test]
fn wait_with_endless_music_says_what_plays_and_the_script_goes_on() {
    let _jack = jack_support::Jack::start();
    let sink = Sink::new("synth");
    let child = tms(&[
        "-c",
        "seed 3; model \"models/folk.safetensors\"; prime \"samples/little_star.mid\" last 10; \
         connect \"synth\"; play loop; voice \"bass\"; set channel 2; live on; wait; \
         set tempo 100; stop all",
    ])
    .spawn()
    .expect("tms runs");
    let out = watchdog(child, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            "wait: voice main loops and bass plays live: they play until stopped (`stop all` ends them)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("tempo = 100"), "{stdout}");
    let heard = sink.controller_seen(1, 123);
    assert!(notes(&heard).iter().any(|n| n.ch == 0), "main played");
    assert_silent_at_the_end(&heard);
}

/// A script that ends while a voice plays live does not end silently: it says that the
/// music goes on until Ctrl-C, and Ctrl-C ends it with nothing left sounding.
#[test]
fn a_script_ending_in_live_music_says_so_and_plays_until_ctrl_c() {
    let _jack = jack_support::Jack::start();
    let sink = Sink::new("synth");
    let mut tms = crate::support::Prompt::start(tms(&[
        "-c",
        "seed 3; model \"models/folk.safetensors\"; prime \"samples/little_star.mid\" last 10; \
         connect \"synth\"; live on",
    ]));
    let line = "the script has ended; voice main plays live: it plays until Ctrl-C";
    assert!(
        tms.wait_for(line, Duration::from_secs(60)),
        "{}",
        tms.printed()
    );
    let before = notes(&sink.messages()).len();
    assert!(
        jack_support::eventually(Duration::from_secs(30), || notes(&sink.messages()).len()
            > before + 4),
        "still playing after the script's end"
    );
    tms.signal("INT");
    assert_eq!(tms.exit_code(Duration::from_secs(30)), Some(130));
    assert_silent_at_the_end(&sink.controller_seen(0, 123));
}

/// Waits for `child`, killing it (and failing) if it has not ended within `limit`.
fn watchdog(mut child: std::process::Child, limit: Duration) -> std::process::Output {
    let end = std::time::Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > end {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "tms did not end within {limit:?}:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The value `set` lists for a setting.
fn listed(tms: &mut crate::support::Prompt, setting: &str) -> String {
    let line = tms.ask("set", &format!("{setting} "));
    line.split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// tms's own ports (`tms:in` while it listens, `tms-01:out` while it plays) are neither
/// listed nor chosen: with no synth, `play` says so instead of playing into tms's input.
#[test]
fn tms_never_lists_or_plays_into_its_own_ports() {
    let _jack = Jack::start();
    let _keys = jack_support::Source::new("keys");
    let mut tms = crate::support::Prompt::start(tms(&[]));
    tms.ask("connect in \"keys\"", "connected input keys:out");
    tms.type_line("ports");
    tms.line_starting("outputs:", Duration::from_secs(30));
    let none = tms.line_starting("  ", Duration::from_secs(5));
    tms.line_starting("inputs:", Duration::from_secs(5));
    let input = tms.line_starting("  ", Duration::from_secs(5));
    let refused = tms.ask("prime notes \"C4 D4\"; play", "not playing");
    tms.type_line("connect \"tms\"");
    std::thread::sleep(Duration::from_millis(300));
    let printed = tms.printed();
    tms.type_line("quit");
    // The refused `connect` was an error: a session with errors exits 1.
    assert_eq!(tms.exit_code(Duration::from_secs(20)), Some(1));
    println!("{none}\n{input}\n{refused}");
    assert_eq!(
        none.trim(),
        "(none)",
        "tms's own input is not an output to play to"
    );
    assert_eq!(input.trim(), "1  keys:out");
    assert!(refused.contains("no MIDI output port"), "{refused}");
    assert!(!printed.contains("connected output"), "{printed}");
}

/// A typo in `connect in` changes nothing: `respond` still answers the port that works.
/// A successful `connect in` says what goes on with the new port, and it does: phrases
/// played there are answered and its knob turns the mapped setting.
#[test]
fn a_failed_connect_in_changes_nothing_and_a_new_port_keeps_respond_and_knobs() {
    let _jack = Jack::start();
    let synth = Sink::new("synth");
    let mut keys = jack_support::Source::new("keys");
    let mut other = jack_support::Source::new("other-keys");
    let mut tms = crate::support::Prompt::in_temp_dir();
    let model = crate::support::root().join("models/folk.safetensors");
    tms.ask(
        &format!(
            "model \"{}\"; connect \"synth\"; connect in \"keys\"; map cc 7 tempo 60 180; \
             respond on notes 4",
            model.display()
        ),
        "answering each phrase",
    );
    tms.type_line("connect in \"keybord\"");
    let still = tms.ask("respond", "respond");
    let phrase = |src: &mut jack_support::Source| {
        for key in [60u8, 62, 64] {
            src.send(&[0x90, key, 80]);
            std::thread::sleep(Duration::from_millis(120));
            src.send(&[0x80, key, 0]);
        }
    };
    phrase(&mut keys);
    let answered = |n: usize| {
        jack_support::eventually(Duration::from_secs(20), || {
            notes(&synth.messages()).len() >= n
        })
    };
    assert!(answered(4), "the phrase on the working port was answered");
    let switched = tms.ask("connect in \"other-keys\"", "connected input");
    phrase(&mut other);
    assert!(answered(8), "the phrase on the new port was answered");
    other.send(&[0xB0, 7, 127]);
    std::thread::sleep(Duration::from_millis(300));
    let tempo = listed(&mut tms, "tempo");
    tms.type_line("quit");
    // The typo was reported as an error: a session with errors exits 1.
    assert_eq!(tms.exit_code(Duration::from_secs(20)), Some(1));
    println!("{still}\n{switched}\ntempo {tempo}");
    assert!(still.starts_with("responding:"), "{still}");
    assert_eq!(
        switched,
        "connected input other-keys:out; respond, 1 mapped knob go on with it"
    );
    assert_eq!(tempo, "180", "the knob on the new port turned tempo");
}
