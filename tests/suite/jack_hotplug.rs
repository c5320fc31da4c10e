//! Ports that come and go at a gig: a synth closed or unplugged, a keyboard replugged. tms
//! says so at once, ends what sounded, waits for the port, connects again when a port of
//! the same name returns and plays on on the beat; it never moves to another device on its
//! own. Through a real JACK server with peers tms did not write.
#![cfg(feature = "jack")]

use crate::jack_cli::tms;
use crate::jack_support;
use crate::support::Prompt;

use std::time::{Duration, Instant};

use jack_support::{eventually, notes, Jack, Sink, Source};

fn secs(from: Instant, to: Instant) -> f64 {
    if to >= from {
        (to - from).as_secs_f64()
    } else {
        -(from - to).as_secs_f64()
    }
}

#[test]
fn a_vanished_synth_is_told_waited_for_and_reconnected_by_name_on_the_beat() {
    let _jack = Jack::start();
    let synth = Sink::new("synth");
    // Another device the whole time: tms must never move there by itself.
    let another = Sink::new("another");
    let mut tms = Prompt::start(tms(&[]));
    tms.ask(
        "set quantize beat; connect \"synth\"; prime notes \"C4 D4 E4 F4\"; play loop",
        "connected output synth:in",
    );
    assert!(
        eventually(Duration::from_secs(20), || notes(&synth.messages()).len()
            >= 4),
        "the loop plays"
    );
    let before = notes(&synth.messages());
    let gone = Instant::now();
    drop(synth);
    let told = tms.line_starting("output port `synth:in` vanished", Duration::from_secs(10));
    let told_after = gone.elapsed();
    let voices = tms.ask("voices", "* main");
    // Asked again while the port is gone: tms waits for it, and picks no other.
    tms.ask("play loop", "waiting for output port `synth:in`");
    std::thread::sleep(Duration::from_millis(500));
    let synth = Sink::new("synth");
    let back = Instant::now();
    let again = tms.line_starting("output port `synth:in` is back", Duration::from_secs(10));
    let back_after = back.elapsed();
    assert!(
        eventually(Duration::from_secs(20), || notes(&synth.messages()).len()
            >= 6),
        "playing goes on"
    );
    tms.quit();
    let after = notes(&synth.messages());
    // On the grid: quarter notes at 120 BPM, counted from the first note before the port
    // went away.
    let off_grid: Vec<f64> = after
        .iter()
        .map(|n| {
            let t = secs(before[0].on, n.on);
            t - (t / 0.5).round() * 0.5
        })
        .collect();
    println!(
        "{told} (told {:.0} ms after)\n{voices}\n{again} ({:.0} ms after the port returned)\n\
         onsets after it came back, off the old grid: {} ms",
        told_after.as_secs_f64() * 1e3,
        back_after.as_secs_f64() * 1e3,
        off_grid
            .iter()
            .map(|e| format!("{:.2}", e * 1e3))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(told.contains("voice main waits for it"), "{told}");
    assert!(voices.contains("waiting for port `synth:in`"), "{voices}");
    assert!(
        back_after < Duration::from_secs(2),
        "reconnected after {back_after:?}"
    );
    for e in &off_grid {
        assert!(e.abs() < 0.010, "a note {:.2} ms off the grid", e * 1e3);
    }
    assert!(
        another.messages().is_empty(),
        "tms played into another device: {:?}",
        another.messages()
    );
    crate::jack_cli::assert_silent_at_the_end(&synth.messages());
}

#[test]
fn a_vanished_keyboard_is_told_and_listened_to_again_when_it_returns() {
    let _jack = Jack::start();
    let keys = Source::new("keys");
    let mut tms = Prompt::start(tms(&[]));
    tms.ask("connect in \"keys\"", "connected input keys:out");
    drop(keys);
    let told = tms.line_starting("input port `keys:out` vanished", Duration::from_secs(10));
    let mut keys = Source::new("keys");
    let again = tms.line_starting("input port `keys:out` is back", Duration::from_secs(10));
    tms.type_line("listen 2");
    std::thread::sleep(Duration::from_millis(500));
    for key in [60u8, 67] {
        keys.send(&[0x90, key, 90]);
        std::thread::sleep(Duration::from_millis(100));
        keys.send(&[0x80, key, 0]);
    }
    let heard = tms.line_starting("heard 2 notes", Duration::from_secs(10));
    tms.quit();
    println!("{told}\n{again}\n{heard}");
    assert!(heard.contains("C4") && heard.contains("G4"), "{heard}");
}
