//! Voices through a real JACK server, typed at tms's prompt, heard by a client tms did not
//! write (`Sink`): two voices on two channels sound at once, a setting changed on one leaves
//! the other alone, `stop` stops only the current voice and `stop all` every voice with
//! nothing left sounding; and eight voices of the shipped model live at once, on time (the
//! numbers printed here are the ones in BENCHMARKS.md, "Eight voices").
#![cfg(feature = "jack")]

use crate::jack_support;
use crate::support::Prompt;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jack_support::{
    controllers, eventually, lattice_offsets, notes, print_off_the_goal, quantile, HeardNote, Jack,
    Sink, PERIOD,
};
use tms::music::note::Note;
use tms::perform::{Activity, Controls, Performer, PortSel};
use tms::settings::Live;

/// Enough for anything here to happen, on a busy 2-core machine.
const LIMIT: Duration = Duration::from_secs(30);

/// Types `line`, then waits until what it printed since has `n` lines containing every
/// one of `words`.
fn type_and_wait(tms: &mut Prompt, line: &str, words: &[&str], n: usize) {
    let before = tms.printed().len();
    tms.type_line(line);
    let seen = || {
        tms.printed()[before..]
            .lines()
            .filter(|l| words.iter().all(|w| l.contains(w)))
            .count()
            >= n
    };
    assert!(
        eventually(LIMIT, seen),
        "`{line}` did not print {n} lines with {words:?}:\n{}",
        tms.printed()
    );
}

/// The folk model primed with a tune, connected to the synth stand-in.
const SETUP: &str = "seed 3; model \"models/folk.safetensors\"; \
    prime \"samples/little_star.mid\" last 10; connect \"synth\"";

fn on_channel(heard: &[HeardNote], ch: u8) -> Vec<HeardNote> {
    heard.iter().filter(|n| n.ch == ch).cloned().collect()
}

fn count_on(sink: &Sink, ch: u8, after: Instant) -> usize {
    notes(&sink.messages())
        .iter()
        .filter(|n| n.ch == ch && n.on > after)
        .count()
}

fn assert_nothing_left_sounding(heard: &[HeardNote]) {
    assert!(!heard.is_empty(), "nothing was played");
    for n in heard {
        assert!(n.off.is_some(), "stuck note: {n:?}");
    }
}

#[test]
fn two_voices_sound_at_once_and_a_setting_on_one_leaves_the_other_alone() {
    let _jack = Jack::start();
    let sink = Sink::new("synth");
    let mut tms = Prompt::start(crate::jack_cli::tms(&[]));
    let dir = tempfile::tempdir().unwrap();
    let duo = dir.path().join("duo.mid");
    let start = Instant::now();
    type_and_wait(
        &mut tms,
        &format!(
            "{SETUP}; record \"{}\"; set tempo 240; set velocity 40; live on",
            duo.display()
        ),
        &["live: on"],
        1,
    );
    // The new voice starts as a copy of main (velocity 40), then moves to channel 2.
    type_and_wait(
        &mut tms,
        "voice \"bass\"; set channel 2; set transpose -12; live on",
        &["live: on"],
        1,
    );
    assert!(
        eventually(LIMIT, || count_on(&sink, 0, start) >= 8
            && count_on(&sink, 1, start) >= 8),
        "both voices play: {:?}",
        notes(&sink.messages())
    );
    type_and_wait(&mut tms, "set velocity 127", &["velocity = 127"], 1);
    let changed = Instant::now();
    assert!(
        eventually(LIMIT, || count_on(&sink, 0, changed) >= 8
            && count_on(&sink, 1, changed) >= 8),
        "both voices go on"
    );
    type_and_wait(&mut tms, "stop; voices", &["bass", "silent"], 1);
    let stopped = Instant::now();
    assert!(
        eventually(LIMIT, || count_on(&sink, 0, stopped) >= 6),
        "main plays on after `stop` on bass"
    );
    type_and_wait(&mut tms, "stop all; voices", &["silent"], 2);
    let all_stopped = Instant::now();
    // Every note-off `stop all` sent has arrived (on a loaded machine that can take a while).
    let heard = notes(&sink.heard_once(|h| notes(h).iter().all(|n| n.off.is_some())));
    type_and_wait(&mut tms, "record stop", &["wrote"], 1);
    let printed = tms.printed();
    tms.quit();

    let (main, bass) = (on_channel(&heard, 0), on_channel(&heard, 1));
    // At once: each voice has notes between two notes of the other.
    let during = |a: &[HeardNote], b: &[HeardNote]| {
        a.iter()
            .filter(|n| n.on > b[0].on && n.on < b[b.len() - 1].on)
            .count()
    };
    assert!(during(&main, &bass) >= 4, "main {main:?}\nbass {bass:?}");
    assert!(during(&bass, &main) >= 4, "main {main:?}\nbass {bass:?}");
    assert!(
        main.iter().all(|n| n.velocity == 40),
        "main keeps velocity 40: {:?}",
        main.iter().map(|n| n.velocity).collect::<Vec<_>>()
    );
    // bass went from 40 to 127 once, between two of its notes, and stayed there.
    let velocities: Vec<u8> = bass.iter().map(|n| n.velocity).collect();
    let switch = velocities
        .iter()
        .position(|&v| v == 127)
        .expect("bass took velocity 127");
    assert!(
        velocities[..switch].iter().all(|&v| v == 40),
        "{velocities:?}"
    );
    assert!(
        velocities[switch..].iter().all(|&v| v == 127),
        "{velocities:?}"
    );
    assert!(bass.iter().filter(|n| n.on > changed).count() >= 8);
    assert!(
        bass.iter().all(|n| n.on < stopped),
        "bass is silent after `stop`"
    );
    assert!(
        heard.iter().all(|n| n.on < all_stopped),
        "nothing after `stop all`"
    );
    assert_nothing_left_sounding(&heard);
    // Each voice's notes went on a track named after it.
    let wrote = printed
        .lines()
        .find(|l| l.starts_with("wrote"))
        .expect("record stop wrote the file");
    let tracks = format!("main {} notes, bass {} notes", main.len(), bass.len());
    assert!(wrote.ends_with(&tracks), "{wrote} (heard {tracks})");
}

/// `count` notes of `pitch` and up, `step` seconds apart, each held `held` seconds.
fn run_of(pitch: u8, count: usize, step: f64, held: f64) -> Vec<Note> {
    (0..count)
        .map(|i| Note {
            pitch: pitch + (i % 12) as u8,
            start: i as f64 * step,
            duration: held,
            velocity: 90,
        })
        .collect()
}

/// Two voices on one channel through the `Performer` API: stopping one ends its notes but
/// leaves the other's sounding (no all-notes-off on the shared channel while it plays);
/// `panic` then ends everything.
#[test]
fn stopping_one_voice_on_a_shared_channel_leaves_the_other_sounding() {
    let _jack = Jack::start();
    let sink = Sink::new("synth");
    let main = Arc::new(Controls::default());
    let mut p = Performer::new(main.clone(), Box::new(|_| {}));
    p.connect_output(&PortSel::Name(sink.port.clone())).unwrap();
    // main: long notes, one every 0.2 s, each held 0.5 s, on channel 1.
    p.play(&run_of(48, 40, 0.2, 0.5), false).unwrap();
    let echo = Arc::new(Controls::default());
    echo.set(Live::Velocity, 50.0);
    assert!(p.select_voice("echo", echo.clone()), "a new voice");
    assert_eq!(p.voice(), "echo");
    p.play(&run_of(72, 40, 0.1, 0.05), false).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        p.voices(),
        [
            ("main".to_string(), Activity::Playing),
            ("echo".to_string(), Activity::Playing)
        ]
    );
    p.stop();
    let stopped = Instant::now();
    assert!(!p.is_playing() && p.any_playing(), "only echo stopped");
    std::thread::sleep(Duration::from_millis(600));
    let heard = sink.messages();
    let ns = notes(&heard);
    let (low, high): (Vec<_>, Vec<_>) = ns.iter().partition(|n| n.pitch < 72);
    assert!(high.iter().all(|n| n.velocity == 50), "echo's own velocity");
    assert!(low.iter().all(|n| n.velocity == 90), "main's own velocity");
    assert!(high.len() >= 4 && high.iter().all(|n| n.on < stopped));
    assert!(high.iter().all(|n| n.off.is_some()), "echo's notes ended");
    assert!(
        low.iter().filter(|n| n.on > stopped).count() >= 2,
        "main plays on"
    );
    assert!(
        !controllers(&heard).contains(&(0, 123, 0)),
        "no all-notes-off on the channel main is sounding on"
    );
    // main's notes that sounded across the stop were ended by main, not cut by echo.
    assert!(
        low.iter()
            .any(|n| n.on < stopped && n.off.is_some_and(|off| off > stopped)),
        "{low:?}"
    );
    p.select_voice("main", main);
    assert_eq!(p.voice(), "main");
    p.panic();
    assert!(!p.any_playing());
    let heard = sink.controller_seen(15, 120);
    let ns = notes(&heard);
    assert!(ns.iter().all(|n| n.off.is_some()), "stuck after panic");
}

/// Distances of onsets from the nearest line of a lattice of period `p` (seconds), after
/// the lattice's phase (the constant delay: scheduling headroom and one JACK period) is
/// taken out as the median offset.
fn lattice_errors(onsets: &[Instant], p: f64) -> Vec<f64> {
    let mut errors = lattice_offsets(onsets, p)
        .into_iter()
        .map(f64::abs)
        .collect::<Vec<_>>();
    errors.sort_by(f64::total_cmp);
    errors
}

/// How long each measurement listens.
const WINDOW: Duration = Duration::from_secs(12);

/// Eight voices live, measured for [`WINDOW`] after a second to settle; returns the notes
/// heard in the window. Every voice generates on the 1/16 grid and starts on a beat, so
/// every deadline is a line of one 125 ms lattice (120 BPM).
fn eight_live(tms: &mut Prompt, sink: &Sink) -> Vec<HeardNote> {
    let all: Vec<String> = std::iter::once("main".to_string())
        .chain((2..=8).map(|k| format!("v{k}")))
        .map(|v| format!("voice \"{v}\"; live on"))
        .collect();
    type_and_wait(tms, &all.join("; "), &["live: on"], 8);
    std::thread::sleep(Duration::from_secs(1));
    let from = Instant::now();
    std::thread::sleep(WINDOW);
    let to = Instant::now();
    type_and_wait(tms, "stop all; voices", &["silent"], 8);
    notes(&sink.messages())
        .into_iter()
        .filter(|n| n.on >= from && n.on < to)
        .collect()
}

/// p50, p99 and max onset error in ms, printed; the p99.
fn report(label: &str, heard: &[HeardNote]) -> f64 {
    let onsets: Vec<Instant> = heard.iter().map(|n| n.on).collect();
    let errors = lattice_errors(&onsets, 0.125);
    let channels = (0..16u8)
        .filter(|&c| heard.iter().any(|n| n.ch == c))
        .count();
    let (p50, p99, max) = (
        quantile(&errors, 0.5),
        quantile(&errors, 0.99),
        quantile(&errors, 1.0),
    );
    println!(
        "eight voices live, {label}: {} notes on {channels} channels in {} s; onset error \
         p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (goal p99 < 2 ms + one period = {:.2} ms)",
        heard.len(),
        WINDOW.as_secs(),
        p50 * 1e3,
        p99 * 1e3,
        max * 1e3,
        (0.002 + PERIOD) * 1e3
    );
    // Which voices the notes off by more than the goal came from, and by how much.
    let signed = lattice_offsets(&onsets, 0.125);
    print_off_the_goal(
        heard
            .iter()
            .zip(&signed)
            .map(|(n, e)| (format!("ch{}", n.ch + 1), *e)),
        0.002 + PERIOD,
    );
    assert_eq!(channels, 8, "every voice played");
    p99
}

#[test]
fn eight_voices_of_the_shipped_model_play_live_on_time_idle_and_with_both_cores_busy() {
    let _jack = Jack::start();
    let sink = Sink::new("synth");
    let mut tms = Prompt::start(crate::jack_cli::tms(&[]));
    let voices: Vec<String> = (2..=8)
        .map(|k| format!("voice \"v{k}\"; set channel {k}"))
        .collect();
    type_and_wait(
        &mut tms,
        &format!(
            "{SETUP}; set grid \"1/16\"; set quantize beat; {}; voices",
            voices.join("; ")
        ),
        &["ch ", "silent"],
        8,
    );
    let idle = eight_live(&mut tms, &sink);
    // Both cores busy with something else: two `yes` processes, as a DAW or a build
    // would keep them.
    let mut hogs: Vec<Child> = (0..2)
        .map(|_| {
            Command::new("yes")
                .stdout(Stdio::null())
                .spawn()
                .expect("yes runs")
        })
        .collect();
    let busy = eight_live(&mut tms, &sink);
    for h in &mut hogs {
        let _ = h.kill();
        let _ = h.wait();
    }
    tms.quit();
    let p99_idle = report("idle", &idle);
    let p99_busy = report("both cores busy (yes x2)", &busy);
    // The goal, 2 ms + one period, is asserted for the release build, where it holds on
    // the busy 2-core machine (the player thread is real-time where allowed, and the
    // generators are fast). A debug build's unoptimized generator, given a share of a
    // loaded machine, can fall behind and its voice then goes on from where it is, off the
    // others' grid by however far behind it was: there the numbers are printed, not held
    // to a bound (and errors are folded into ±62.5 ms by the lattice anyway).
    let goal = 0.002 + PERIOD;
    if cfg!(debug_assertions) {
        println!("debug build: onset errors printed, not asserted (build with --release)");
    } else {
        assert!(p99_idle < goal, "p99 onset error idle {p99_idle}");
        assert!(p99_busy < goal, "p99 onset error busy {p99_busy}");
    }
    assert_nothing_left_sounding(&notes(&sink.messages()));
}
