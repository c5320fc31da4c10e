//! `respond` through a real JACK server: a phrase played into tms is answered by the model
//! at once, and knobs keep working while it listens.
#![cfg(feature = "jack")]

use crate::jack_cli::tms;
use crate::jack_support;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use jack_support::{eventually, notes, Jack, Sink, Source};

/// Plays a phrase (pitch, milliseconds held) and returns when its last key went up.
fn play_phrase(keys: &mut Source, phrase: &[(u8, u64)]) -> Instant {
    let mut last_up = Instant::now();
    for &(key, ms) in phrase {
        keys.send(&[0x90, key, 80]);
        std::thread::sleep(Duration::from_millis(ms));
        keys.send(&[0x80, key, 0]);
        last_up = Instant::now();
        std::thread::sleep(Duration::from_millis(40));
    }
    last_up
}

#[test]
fn each_phrase_is_answered_at_once_and_knobs_keep_working() {
    let _jack = Jack::start();
    let synth = Sink::new("synth");
    let mut keys = Source::new("keys");
    let mut child = tms(&[
        "-c",
        "model \"models/folk.safetensors\"; connect \"synth\"; connect in \"keys\"; \
         map cc 7 velocity 1 127; respond on notes 6; voices; sleep 20",
    ])
    .spawn()
    .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, said) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let t0 = Instant::now();
    loop {
        let line = said
            .recv_timeout(Duration::from_secs(30))
            .expect("tms says it responds");
        // `voices` names the voice that answers.
        if line.starts_with("* main") {
            assert!(line.ends_with(", answering the input"), "{line}");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30));
    }

    let phrase = [(62u8, 150), (64, 150), (66, 150), (69, 300)];
    let ended = play_phrase(&mut keys, &phrase);
    assert!(eventually(Duration::from_secs(10), || notes(
        &synth.messages()
    )
    .len()
        >= 6));
    let first = notes(&synth.messages());
    // The phrase is judged ended 600 ms after its last key went up.
    let answered_after = (first[0].on - ended).as_secs_f64() - 0.6;
    println!(
        "respond: first answering note {:.1} ms after the phrase was judged ended",
        answered_after * 1e3
    );
    assert!(
        answered_after < 0.1,
        "the answer began {answered_after:.3} s after the phrase ended"
    );
    assert!(eventually(Duration::from_secs(10), || notes(
        &synth.messages()
    )
    .iter()
    .filter(|n| n.off.is_some())
    .count()
        >= 6));
    assert_eq!(
        notes(&synth.messages()).len(),
        6,
        "one phrase, one answer of 6 notes"
    );

    // A knob turned between phrases shapes the next answer.
    keys.send(&[0xB0, 7, 127]);
    std::thread::sleep(Duration::from_millis(100));
    play_phrase(&mut keys, &phrase);
    assert!(eventually(Duration::from_secs(10), || notes(
        &synth.messages()
    )
    .len()
        >= 12));
    let second = &notes(&synth.messages())[6..];
    assert!(
        second.iter().all(|n| n.velocity == 127),
        "velocity knob ignored: {second:?}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn respond_needs_a_model_and_an_input_port() {
    let _jack = Jack::start();
    let _synth = Sink::new("synth");
    let out = tms(&["-c", "connect \"synth\"; respond on"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no model"), "{err}");
    let out = tms(&[
        "-c",
        "model \"models/folk.safetensors\"; connect \"synth\"; respond on",
    ])
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no input port connected"), "{err}");
}
