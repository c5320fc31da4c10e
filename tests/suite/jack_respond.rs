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
            assert!(line.ends_with(", answers the input"), "{line}");
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

/// A key whose note-off was lost (a pulled cable) counts as released after the hold limit:
/// the phrase it began is answered then, and the phrases after it are answered as usual.
#[test]
fn a_key_never_released_does_not_silence_respond() {
    let _jack = Jack::start();
    let synth = Sink::new("synth");
    let mut keys = Source::new("keys");
    let mut child = tms(&[
        "-c",
        "model \"models/folk.safetensors\"; connect \"synth\"; connect in \"keys\"; \
         respond on notes 6; voices; sleep 60",
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
    loop {
        let line = said
            .recv_timeout(Duration::from_secs(30))
            .expect("tms says it responds");
        if line.starts_with("* main") {
            break;
        }
    }
    // Key 48 goes down and never comes up; a phrase is played over it.
    keys.send(&[0x90, 48, 80]);
    let down = Instant::now();
    play_phrase(&mut keys, &[(62, 150), (64, 150), (66, 150)]);
    assert!(
        eventually(Duration::from_secs(30), || notes(&synth.messages()).len()
            >= 6),
        "the phrase with the stuck key was answered"
    );
    let first = notes(&synth.messages())[0].on;
    println!(
        "respond: the phrase over a stuck key was answered {:.2} s after the key went down",
        (first - down).as_secs_f64()
    );
    assert!(
        first - down >= Duration::from_secs(8),
        "the held key kept the phrase open until the hold limit"
    );
    assert!(eventually(Duration::from_secs(10), || notes(
        &synth.messages()
    )
    .iter()
    .all(|n| n.off.is_some())));
    // The next phrase is answered at once, as any phrase is.
    play_phrase(&mut keys, &[(69, 150), (67, 150), (65, 300)]);
    assert!(
        eventually(Duration::from_secs(10), || notes(&synth.messages()).len()
            >= 12),
        "a later phrase was answered"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// Notes played while the reader is busy (answering, or learning: here an answer that
/// takes 1.5 s) wait with their arrival times: a phrase of 2,000 notes played meanwhile is
/// read whole, once, not as a run of one-note fragments.
#[test]
fn a_long_phrase_played_while_the_reader_is_busy_is_read_whole() {
    use std::sync::{Arc, Mutex};
    use tms::perform::{Controls, Performer, PortSel};
    let _jack = Jack::start();
    let _synth = Sink::new("synth");
    let mut keys = Source::new("keys");
    let mut p = Performer::new(Arc::new(Controls::default()), Box::new(|_| {}));
    p.connect_output(&PortSel::Name("synth".into())).unwrap();
    p.connect_input(&PortSel::Name("keys".into())).unwrap();
    let phrases = Arc::new(Mutex::new(Vec::new()));
    let seen = phrases.clone();
    p.respond(
        Duration::from_millis(600),
        Box::new(move |phrase| {
            seen.lock().unwrap().push(phrase.len());
            std::thread::sleep(Duration::from_millis(1500));
            Vec::new()
        }),
        None,
    )
    .unwrap();
    let count = || phrases.lock().unwrap().len();
    play_phrase(&mut keys, &[(60, 100), (62, 100), (64, 100)]);
    assert!(eventually(Duration::from_secs(10), || count() == 1));
    // The reader is busy with the first phrase for 1.5 s: the second begins now.
    for k in 0..2000u32 {
        let key = 40 + (k % 40) as u8;
        keys.send(&[0x90, key, 80]);
        std::thread::sleep(Duration::from_micros(700));
        keys.send(&[0x80, key, 0]);
        std::thread::sleep(Duration::from_micros(300));
    }
    assert!(eventually(Duration::from_secs(15), || count() >= 2));
    // Long enough for any fragment a stale reading would make to show up.
    std::thread::sleep(Duration::from_secs(3));
    let read = phrases.lock().unwrap().clone();
    println!("phrases read: {read:?}");
    assert_eq!(read, vec![3, 2000]);
    drop(p);
}
