//! MIDI clock and quantized starts through a real JACK server, against clients tms did not
//! write: a drum machine stand-in sending clock (`ClockPeer`) and a synth stand-in recording
//! notes and ticks (`Sink`). The numbers printed here are the ones in BENCHMARKS.md.
#![cfg(feature = "jack")]

use crate::jack_support;
use crate::support::{tms_at_root as tms, Prompt};

use std::sync::Arc;
use std::time::{Duration, Instant};

use jack_support::{
    eventually, notes, quantile, ticks, transport, ClockPeer, Heard, Jack, Sink, PERIOD,
};
use tms::music::note::Note;
use tms::perform::{Controls, NoteSource, Performer, PortSel};

fn secs(from: Instant, to: Instant) -> f64 {
    if to >= from {
        (to - from).as_secs_f64()
    } else {
        -(from - to).as_secs_f64()
    }
}

/// Interval statistics against the interval wanted (seconds): the mean interval as the
/// least-squares slope of arrival time over tick number (the plain mean is the first and
/// last arrivals' difference, so one late endpoint would swing it), and the p95 and max
/// distance of single intervals.
struct Steadiness {
    n: usize,
    mean: f64,
    p95: f64,
    max: f64,
}

fn steadiness(intervals: &[f64], want: f64) -> Steadiness {
    let mut dev: Vec<f64> = intervals.iter().map(|d| (d - want).abs()).collect();
    dev.sort_by(f64::total_cmp);
    // Arrival times relative to the first, from the intervals.
    let times: Vec<f64> = std::iter::once(0.0)
        .chain(intervals.iter().scan(0.0, |t, d| {
            *t += d;
            Some(*t)
        }))
        .collect();
    let n = times.len() as f64;
    let mk = (n - 1.0) / 2.0;
    let mt = times.iter().sum::<f64>() / n;
    let (sxy, sxx) = times
        .iter()
        .enumerate()
        .fold((0.0, 0.0), |(sxy, sxx), (k, t)| {
            let dk = k as f64 - mk;
            (sxy + dk * (t - mt), sxx + dk * dk)
        });
    Steadiness {
        n: intervals.len(),
        mean: sxy / sxx,
        p95: quantile(&dev, 0.95),
        max: quantile(&dev, 1.0),
    }
}

fn report(label: &str, s: &Steadiness, want: f64) {
    println!(
        "{label}: {} intervals, mean {:.4} ms (want {:.4}), p95 deviation {:.3} ms, max {:.3} ms",
        s.n,
        s.mean * 1e3,
        want * 1e3,
        s.p95 * 1e3,
        s.max * 1e3
    );
}

/// The bound on tick jitter: 2 ms plus one JACK period at the 95th percentile; the
/// mean over a few seconds must be the tempo's interval.
fn assert_steady(label: &str, intervals: &[f64], want: f64) {
    let s = steadiness(intervals, want);
    report(label, &s, want);
    assert!(s.n >= 60, "{label}: too few ticks ({})", s.n);
    assert!(
        s.p95 < 0.002 + PERIOD,
        "{label}: p95 deviation {:.3} ms",
        s.p95 * 1e3
    );
    assert!(
        (s.mean - want).abs() < 0.00005,
        "{label}: mean interval {:.4} ms, want {:.4} ms",
        s.mean * 1e3,
        want * 1e3
    );
}

#[test]
fn clock_out_is_steady_at_two_tempi_and_across_a_tempo_change() {
    let _jack = Jack::start();
    let sink = Sink::new("synth");
    let peer = ClockPeer::new("refclock", 100.0);
    let reference = Sink::listening_to("refsink", &peer.port);
    let out = tms(&[
        "-c",
        "set tempo 100; connect \"synth\"; clock out on; sleep 3; set tempo 140; sleep 3; clock out off",
    ])
    .output()
    .expect("tms runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("clock out: on"), "{stdout}");
    let heard = sink.heard_once(|h| transport(h).last() == Some(&vec![0xFC]));
    let t = ticks(&heard);
    let intervals: Vec<f64> = t.windows(2).map(|w| secs(w[0], w[1])).collect();
    let (slow, fast) = (60.0 / 100.0 / 24.0, 60.0 / 140.0 / 24.0);
    // The change: where a run of fast intervals begins. Every interval before it is slow
    // and every one after it fast: the tempo changed at one tick, once.
    let mid = (slow + fast) / 2.0;
    let switch = (0..intervals.len())
        .find(|&i| intervals[i..].iter().take(5).all(|&d| d < mid))
        .expect("the tempo changed");
    let before = &intervals[..switch];
    let after = &intervals[switch..];
    println!(
        "clock out: {} ticks; tempo change after tick {switch}",
        t.len()
    );
    // The same JACK server carried a drum machine stand-in's clock meanwhile: its jitter is
    // the test machine's share of the numbers (printed, for BENCHMARKS.md).
    let reference: Vec<f64> = ticks(&reference.messages())
        .windows(2)
        .filter(|w| w[0] >= t[0] && w[1] <= t[t.len() - 1])
        .map(|w| secs(w[0], w[1]))
        .collect();
    report(
        "reference clock (test peer, same server)",
        &steadiness(&reference, slow),
        slow,
    );
    assert_steady("100 BPM", before, slow);
    assert_steady("140 BPM", after, fast);
    let all_dev: Vec<f64> = intervals
        .iter()
        .enumerate()
        .map(|(i, d)| (d - if i < switch { slow } else { fast }).abs())
        .collect();
    let mut sorted = all_dev.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "across the change: p95 deviation {:.3} ms, max {:.3} ms",
        quantile(&sorted, 0.95) * 1e3,
        quantile(&sorted, 1.0) * 1e3
    );
    assert!(quantile(&sorted, 0.95) < 0.002 + PERIOD);
    // Start once, before the ticks of the song; Stop at `clock out off`.
    assert_eq!(transport(&heard), vec![vec![0xFA], vec![0xFC]]);
}

/// Eight quarter notes, one per beat.
const EIGHT: &str = "prime notes \"C4 D4 E4 F4 G4 A4 B4 C5\"";

#[test]
fn clock_in_locks_eight_notes_to_an_external_100_bpm_clock_from_the_next_bar() {
    let _jack = Jack::start();
    let sink = Sink::new("synth");
    let peer = ClockPeer::new("drums", 100.0);
    let mut tms = Prompt::start(tms(&[]));
    tms.type_line(&format!(
        "connect in \"drums\"; connect \"synth\"; clock in on; set quantize bar; {EIGHT}"
    ));
    assert!(
        tms.wait_for("notes", Duration::from_secs(10)),
        "{}",
        tms.printed()
    );
    assert!(tms
        .printed()
        .contains("clock in: following MIDI clock on drums:out"));
    std::thread::sleep(Duration::from_millis(500));
    peer.start();
    // `play` in the middle of the second bar (beat 5.5 of a 4/4 song).
    assert!(eventually(Duration::from_secs(10), || peer
        .ticks_since_start()
        >= 24 * 5 + 12));
    let issued = Instant::now();
    tms.type_line("play");
    assert!(
        eventually(Duration::from_secs(15), || notes(&sink.messages())
            .iter()
            .filter(|n| n.off.is_some())
            .count()
            >= 8),
        "eight notes played"
    );
    let beats = peer.beats();
    assert!(
        beats[5] < issued && issued < beats[7],
        "play was typed mid-bar"
    );
    let heard = notes(&sink.messages());
    assert_eq!(heard.len(), 8, "{heard:?}");
    // Beat 8 is the next bar line after `play`.
    let errors: Vec<f64> = heard
        .iter()
        .zip(&beats[8..])
        .map(|(n, b)| secs(*b, n.on))
        .collect();
    let gaps: Vec<f64> = heard.windows(2).map(|w| secs(w[0].on, w[1].on)).collect();
    let worst = errors.iter().fold(0.0f64, |m, e| m.max(e.abs()));
    println!(
        "clock in at 100 BPM: note onsets minus the external beat: {}; worst {:.2} ms; \
         intervals {} ms",
        errors
            .iter()
            .map(|e| format!("{:.2}", e * 1e3))
            .collect::<Vec<_>>()
            .join(", "),
        worst * 1e3,
        gaps.iter()
            .map(|g| format!("{:.1}", g * 1e3))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(
        worst < 0.010,
        "a note was {:.2} ms off its beat",
        worst * 1e3
    );
    for g in &gaps {
        assert!((g - 0.6).abs() < 0.010, "interval {:.2} ms", g * 1e3);
    }
    tms.quit();
}

/// The onsets' distances to the nearest beat the peer sent (seconds, signed).
fn to_nearest_beat(onsets: &[Instant], beats: &[Instant]) -> Vec<f64> {
    onsets
        .iter()
        .map(|on| {
            beats
                .iter()
                .map(|b| secs(*b, *on))
                .min_by(|a, b| a.abs().total_cmp(&b.abs()))
                .unwrap_or(f64::INFINITY)
        })
        .collect()
}

#[test]
fn clock_in_follows_a_tempo_change_and_keeps_the_tempo_when_ticks_stop() {
    let _jack = Jack::start();
    let sink = Sink::new("synth");
    let peer = ClockPeer::new("drums", 100.0);
    let mut tms = Prompt::start(tms(&[]));
    tms.type_line(
        "connect in \"drums\"; connect \"synth\"; clock in on; set quantize beat; prime notes \"C4 E4 G4 C5\"",
    );
    assert!(tms.wait_for("notes", Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(300));
    peer.start();
    assert!(eventually(Duration::from_secs(10), || peer
        .ticks_since_start()
        >= 24));
    tms.type_line("play loop");
    assert!(eventually(Duration::from_secs(10), || peer
        .ticks_since_start()
        >= 24 * 7));
    peer.set_bpm(120.0);
    let changed = Instant::now();
    assert!(eventually(Duration::from_secs(15), || peer
        .ticks_since_start()
        >= 24 * 20));
    tms.type_line("set");
    assert!(tms.wait_for("tempo ", Duration::from_secs(5)));
    peer.pause(true);
    let paused = Instant::now();
    assert!(
        tms.wait_for("no ticks for a second", Duration::from_secs(5)),
        "{}",
        tms.printed()
    );
    std::thread::sleep(Duration::from_millis(1500));
    tms.type_line("stop");
    let printed = tms.printed();
    tms.quit();

    // `set` listed the followed tempo.
    let tempo_line = printed
        .lines()
        .find(|l| l.starts_with("tempo "))
        .expect("tempo listed");
    let shown: f64 = tempo_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    println!("`set` shows tempo {shown} after the change to 120 BPM");
    assert!((shown - 120.0).abs() < 0.5, "{tempo_line}");
    let notice = printed
        .lines()
        .find(|l| l.contains("no ticks for a second"))
        .unwrap();
    let kept: f64 = notice
        .split("keeping ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|bpm| bpm.parse().ok())
        .expect("the notice names the tempo kept");
    assert!((kept - 120.0).abs() < 0.5, "{notice}");

    let heard: Vec<Heard> = sink.messages();
    let onsets: Vec<Instant> = notes(&heard).iter().map(|n| n.on).collect();
    let beats = peer.beats();
    let settle = Duration::from_millis(1500); // three beats at 120 BPM
    let slow: Vec<Instant> = onsets.iter().copied().filter(|t| *t < changed).collect();
    let fast: Vec<Instant> = onsets
        .iter()
        .copied()
        .filter(|t| *t > changed + settle && *t < paused)
        .collect();
    let free: Vec<Instant> = onsets
        .iter()
        .copied()
        .filter(|t| *t > paused + Duration::from_millis(100))
        .collect();
    let worst = |errs: &[f64]| errs.iter().fold(0.0f64, |m, e| m.max(e.abs()));
    let (e_slow, e_fast) = (
        to_nearest_beat(&slow, &beats),
        to_nearest_beat(&fast, &beats),
    );
    let gap = |ts: &[Instant]| -> Vec<f64> { ts.windows(2).map(|w| secs(w[0], w[1])).collect() };
    let free_gaps = gap(&free);
    let ms = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{:.2}", x * 1e3))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "clock in follow error (onset minus nearest external beat): at 100 BPM {} ms; after \
         the change to 120 BPM {} ms; free running after the ticks stopped: intervals {} ms",
        ms(&e_slow),
        ms(&e_fast),
        ms(&free_gaps)
    );
    assert!(slow.len() >= 4 && fast.len() >= 8, "{slow:?} {fast:?}");
    assert!(worst(&e_slow) < 0.010);
    assert!(worst(&e_fast) < 0.010);
    for g in gap(&fast).iter().chain(&free_gaps) {
        assert!((g - 0.5).abs() < 0.010, "interval {:.2} ms", g * 1e3);
    }
    assert!(free.len() >= 3, "playing went on at the last tempo");
}

#[test]
fn a_quantized_play_issued_mid_bar_starts_on_the_next_bar_line() {
    let _jack = Jack::start();
    let sink = Sink::new("synth");
    let mut tms = Prompt::start(tms(&[]));
    tms.type_line(&format!(
        "set tempo 120; set quantize bar; connect \"synth\"; clock out on; {EIGHT}"
    ));
    let ticks_after_start = |h: &[Heard]| -> usize {
        h.iter()
            .position(|m| m.bytes[..] == [0xFA])
            .map_or(0, |i| ticks(&h[i..]).len())
    };
    assert!(eventually(Duration::from_secs(10), || ticks_after_start(
        &sink.messages()
    ) >= 96 + 40));
    let issued = Instant::now();
    tms.type_line("play");
    assert!(eventually(Duration::from_secs(15), || notes(
        &sink.messages()
    )
    .iter()
    .filter(|n| n.off.is_some())
    .count()
        >= 8));
    tms.quit();
    let heard = sink.messages();
    // Bar lines are where clock out's Start put song position 0, then every 96 ticks (2 s
    // at 120 BPM); a tick's position is counted by its time, so a tick JACK dropped on a
    // busy machine cannot shift the count.
    let i_start = heard.iter().position(|m| m.bytes[..] == [0xFA]).unwrap();
    let song = ticks(&heard[i_start..]);
    let position = |t: Instant| (secs(song[0], t) / (0.5 / 24.0)).round() as i64;
    let next_bar = *song
        .iter()
        .find(|t| **t > issued && position(**t) % 96 == 0)
        .expect("a bar line after play");
    let first = notes(&heard)[0].on;
    let error = secs(next_bar, first);
    println!(
        "quantized play: issued {:.1} ms before the bar line, first note {:.3} ms from it",
        secs(issued, next_bar) * 1e3,
        error * 1e3
    );
    assert!(
        secs(issued, next_bar) > 0.2,
        "play was typed well before the bar line"
    );
    assert!(
        error.abs() < 0.003 + PERIOD,
        "first note {:.3} ms off the bar line",
        error * 1e3
    );
}

/// A note every quarter note (at 120 BPM), for live mode.
struct Quarters(u32);

impl NoteSource for Quarters {
    fn next_note(&mut self, _: &Controls) -> Option<Note> {
        self.0 += 1;
        Some(Note {
            pitch: 60 + (self.0 % 12) as u8,
            start: f64::from(self.0) * 0.5,
            duration: 0.25,
            velocity: 80,
        })
    }
}

#[test]
fn clock_out_sends_start_stop_and_continues_live_mode_from_the_song_position() {
    let _jack = Jack::start();
    let sink = Sink::new("synth");
    let mut p = Performer::new(Arc::new(Controls::default()), Box::new(|_| {}));
    assert!(
        p.clock_out(true).is_err(),
        "no clock out without an output port"
    );
    p.connect_output(&PortSel::Name("synth".into())).unwrap();
    p.set_quantize(None, 4.0);
    p.clock_out(true).unwrap();
    let started = sink.heard_once(|h| transport(h).len() == 1);
    assert_eq!(transport(&started), vec![vec![0xFA]]);
    std::thread::sleep(Duration::from_millis(700));
    // Already running: `play` sends no second Start.
    p.play(
        &[Note {
            pitch: 60,
            start: 0.0,
            duration: 0.2,
            velocity: 90,
        }],
        false,
    )
    .unwrap();
    p.wait();
    p.stop();
    let stopped = sink.heard_once(|h| transport(h).len() == 2);
    assert_eq!(transport(&stopped), vec![vec![0xFA], vec![0xFC]]);
    let i_start = stopped.iter().position(|h| h.bytes[..] == [0xFA]).unwrap();
    let i_stop = stopped.iter().position(|h| h.bytes[..] == [0xFC]).unwrap();
    let song_ticks = ticks(&stopped[i_start..i_stop]).len();
    std::thread::sleep(Duration::from_millis(300));
    p.live(Box::new(Quarters(0))).unwrap();
    let resumed = sink.heard_once(|h| transport(h).len() == 4 && notes(h).len() >= 3);
    p.clock_out(false).unwrap();
    let sixteenths = song_ticks / 6;
    let spp = vec![0xF2, (sixteenths & 127) as u8, (sixteenths >> 7) as u8];
    println!("clock out: {song_ticks} ticks between Start and Stop; Continue from sixteenth {sixteenths}");
    assert_eq!(
        transport(&resumed),
        vec![vec![0xFA], vec![0xFC], spp, vec![0xFB]]
    );
    // Continue goes out just before a tick on a sixteenth, and live mode's first note
    // sounds with it.
    let i_cont = resumed.iter().position(|h| h.bytes[..] == [0xFB]).unwrap();
    assert_eq!(resumed[i_cont + 1].bytes, vec![0xF8]);
    let first_live = notes(&resumed[i_cont..])[0].on;
    assert!(
        secs(resumed[i_cont + 1].at, first_live).abs() < 0.003 + PERIOD,
        "live mode starts with the song"
    );
    let end = sink.heard_once(|h| transport(h).len() == 5);
    assert_eq!(transport(&end).last(), Some(&vec![0xFC]));
    drop(p);
}

/// Gear clocked by tms follows the gear tms follows: with clock in from the drum machine
/// and clock out to the synth, the drum machine's Start, Stop and Continue reach the synth,
/// each just before the tick it belongs to, and the Continue with the song position the
/// drum machine stopped at.
#[test]
fn clock_in_passes_start_stop_and_continue_on_to_clock_out() {
    let _jack = Jack::start();
    let sink = Sink::new("synth");
    let peer = ClockPeer::new("drums", 120.0);
    let mut tms = Prompt::start(tms(&[]));
    tms.type_line("connect in \"drums\"; connect \"synth\"; clock in on; clock out on");
    assert!(
        tms.wait_for("clock out: on", Duration::from_secs(30)),
        "{}",
        tms.printed()
    );
    // Before the drum machine starts, clock out starts the synth on its own (at tms's next
    // bar line, the drum machine's ticks running free); from here on only what the drum
    // machine does counts.
    assert!(
        eventually(Duration::from_secs(30), || !transport(&sink.messages())
            .is_empty()),
        "clock out sent no Start"
    );
    assert_eq!(transport(&sink.messages()), vec![vec![0xFA]]);
    let before = 1;
    let seen = |n: usize| {
        let heard = sink.heard_once(|h| transport(h).len() >= before + n);
        transport(&heard)[before..].to_vec()
    };
    peer.start();
    assert_eq!(seen(1), vec![vec![0xFA]], "the Start");
    assert!(eventually(Duration::from_secs(10), || peer
        .ticks_since_start()
        >= 24 * 3 + 7));
    peer.stop();
    assert_eq!(seen(2)[1], vec![0xFC], "the Stop");
    let sent = peer.ticks_since_start();
    std::thread::sleep(Duration::from_millis(400));
    peer.resume();
    let after = seen(4);
    // The song position in sixteenths: where the drum machine stopped, up to the next
    // sixteenth (a Continue starts on one).
    let spp = &after[2];
    assert_eq!(spp[0], 0xF2, "{after:?}");
    let sixteenths = usize::from(spp[1]) | usize::from(spp[2]) << 7;
    assert!(
        sixteenths * 6 >= sent && sixteenths * 6 <= sent + 12,
        "Continue from sixteenth {sixteenths} after {sent} ticks"
    );
    assert_eq!(after[3], vec![0xFB], "the Continue");
    std::thread::sleep(Duration::from_millis(400));
    peer.start();
    assert_eq!(seen(5)[4], vec![0xFA], "a Start again");
    // Each one just before a tick.
    let heard = sink.messages();
    let from = heard
        .iter()
        .enumerate()
        .filter(|(_, h)| matches!(h.bytes[..], [0xFA] | [0xFB]))
        .map(|(i, _)| i)
        .collect::<Vec<_>>();
    for i in from.iter().rev().take(3) {
        assert_eq!(heard.get(i + 1).map(|h| &h.bytes[..]), Some(&[0xF8][..]));
    }
    println!(
        "clock in to clock out: Start, Stop, Song Position {sixteenths} ({sent} ticks sent before the Stop), Continue, Start"
    );
    tms.quit();
}

#[test]
fn clock_in_without_an_input_port_says_to_connect_one() {
    let _jack = Jack::start();
    let _sink = Sink::new("synth");
    let out = tms(&["-c", "clock in on"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: no input port connected: use `ports`, then `connect in N`"),
        "{err}"
    );
}

/// A drum machine jumps: Start, 4 s of ticks, Stop, Song Position Pointer 1024 (beat 256),
/// Continue. The loop goes on from the new position; the notes whose time was jumped over
/// are skipped, not sent at once.
#[test]
fn a_jump_of_the_incoming_clock_skips_the_notes_it_passed_over() {
    let _jack = Jack::start();
    let sink = Sink::new("synth");
    let peer = ClockPeer::new("drums", 120.0);
    let mut tms = Prompt::start(tms(&[]));
    tms.type_line(
        "connect in \"drums\"; connect \"synth\"; clock in on; prime notes \"C4/2 D4/2 E4/2 F4/2\"",
    );
    assert!(
        tms.wait_for("notes", Duration::from_secs(10)),
        "{}",
        tms.printed()
    );
    std::thread::sleep(Duration::from_millis(300));
    peer.start();
    assert!(eventually(Duration::from_secs(10), || peer
        .ticks_since_start()
        >= 24));
    tms.type_line("play loop");
    assert!(eventually(Duration::from_secs(15), || peer
        .ticks_since_start()
        >= 24 * 9));
    peer.stop();
    assert!(eventually(Duration::from_secs(5), || peer
        .last_sent(0xFC)
        .is_some()));
    let before = notes(&sink.messages()).len();
    assert!(
        before >= 8,
        "the loop played before the jump: {before} notes"
    );
    std::thread::sleep(Duration::from_millis(300));
    peer.song_position(1024);
    peer.resume();
    assert!(eventually(Duration::from_secs(5), || peer
        .last_sent(0xFB)
        .is_some()));
    let resumed = peer.last_sent(0xFB).unwrap();
    let after = |h: &[Heard]| -> Vec<Instant> {
        notes(h)
            .iter()
            .map(|n| n.on)
            .filter(|on| *on >= resumed)
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(10), || after(&sink.messages()).len()
            >= 6),
        "the loop goes on after the Continue"
    );
    tms.quit();
    let onsets = after(&sink.messages());
    let burst = onsets
        .iter()
        .filter(|on| secs(resumed, **on) < 0.050)
        .count();
    let gaps: Vec<f64> = onsets.windows(2).map(|w| secs(w[0], w[1])).collect();
    println!(
        "clock jump to song position 1024: {burst} notes in the first 50 ms after Continue; \
         then intervals {} ms",
        gaps.iter()
            .map(|g| format!("{:.1}", g * 1e3))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // Eighth notes at 120 BPM are 250 ms apart: at most one is due in any 50 ms.
    assert!(
        burst <= 1,
        "{burst} notes went out within 50 ms of the Continue"
    );
    for g in gaps.iter().take(4) {
        assert!((g - 0.25).abs() < 0.020, "interval {:.1} ms", g * 1e3);
    }
}

/// The beat of a `clock` line: bar and beat of the 4/4 default meter, counted from 0.
fn shown_beat(line: &str) -> f64 {
    let bar: f64 = line
        .split(", bar ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|b| b.parse().ok())
        .unwrap_or_else(|| panic!("a bar in {line}"));
    let beat: f64 = line
        .split(" beat ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|b| b.parse().ok())
        .unwrap_or_else(|| panic!("a beat in {line}"));
    (bar - 1.0) * 4.0 + beat - 1.0
}

/// Ticks at 10 kHz (25,000 BPM): `tempo` is clamped to 960, and the beat `clock` counts
/// and clock out's ticks follow that, not the sender.
#[test]
fn ticks_faster_than_960_bpm_count_beats_at_the_tempo_shown_and_clock_out_keeps_to_it() {
    let _jack = Jack::start();
    let sink = Sink::new("synth");
    let peer = ClockPeer::new("drums", 25_000.0);
    let mut tms = Prompt::start(tms(&[]));
    tms.type_line("connect in \"drums\"; connect \"synth\"; clock in on; clock out on");
    assert!(
        tms.wait_for("clock out: on", Duration::from_secs(30)),
        "{}",
        tms.printed()
    );
    std::thread::sleep(Duration::from_secs(1));
    // Each reading happens between the typing and the seeing of its line, so the time
    // between two readings lies between these bounds whatever the machine's load.
    let read = |tms: &mut Prompt, k: usize| -> (Instant, Instant, String) {
        let typed = Instant::now();
        tms.type_line("clock");
        assert!(eventually(Duration::from_secs(10), || tms
            .printed()
            .lines()
            .filter(|l| l.starts_with("clock: "))
            .count()
            >= k));
        let seen = Instant::now();
        let printed = tms.printed();
        let line = printed
            .lines()
            .filter(|l| l.starts_with("clock: "))
            .nth(k - 1)
            .unwrap()
            .to_string();
        (typed, seen, line)
    };
    let (typed1, seen1, first) = read(&mut tms, 1);
    std::thread::sleep(Duration::from_secs(2));
    let (typed2, seen2, second) = read(&mut tms, 2);
    tms.type_line("clock out off");
    let heard = sink.heard_once(|h| transport(h).last() == Some(&vec![0xFC]));
    tms.quit();
    let sent = peer.sent.lock().unwrap().len();
    drop(peer);
    let tempo = |line: &str| -> f64 {
        line.split(" at ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("a tempo in {line}"))
    };
    let shown = [tempo(&first), tempo(&second)];
    let moved = shown_beat(&second) - shown_beat(&first);
    let (least, most) = (secs(seen1, typed2), secs(typed1, seen2));
    let slowest = shown[0].min(shown[1]);
    let t = ticks(&heard);
    // Clock out's rate over its steady part (from a second after its first tick).
    let steady: Vec<Instant> = t.iter().copied().filter(|x| secs(t[0], *x) > 1.0).collect();
    let rate = (steady.len() - 1) as f64 / secs(steady[0], steady[steady.len() - 1]);
    println!(
        "10 kHz clock in ({sent} ticks sent): tempo shown {shown:?}, {moved:.1} beats counted \
         in {least:.2}–{most:.2} s; clock out {rate:.0} ticks a second"
    );
    assert!(sent > 20_000, "the sender ran at 10 kHz: {sent} ticks");
    for s in shown {
        assert!(s <= 960.0 && s > 800.0, "{first}\n{second}");
    }
    // A beat or two of slack for the line's estimate moving between the readings.
    assert!(
        moved <= 960.0 / 60.0 * most + 2.0,
        "{moved} beats in at most {most:.2} s:\n{first}\n{second}"
    );
    assert!(
        moved >= slowest / 60.0 * least - 2.0,
        "{moved} beats in at least {least:.2} s:\n{first}\n{second}"
    );
    assert!(
        rate < 960.0 / 60.0 * 24.0 * 1.02,
        "clock out sent {rate:.0} ticks a second"
    );
}

/// The tempo of the `tempo` line that `set` lists, and the line.
fn listed_tempo(tms: &mut Prompt) -> (Option<f64>, String) {
    let line = tms.ask("set", "tempo ");
    let value = line.split_whitespace().nth(1).and_then(|v| v.parse().ok());
    (value, line)
}

/// Waits until the peer sent `n` ticks since its last Start.
fn ticks_since_start(peer: &ClockPeer, n: usize) {
    assert!(
        eventually(Duration::from_secs(20), || peer.ticks_since_start() >= n),
        "the peer sent {} of {n} ticks",
        peer.ticks_since_start()
    );
}

/// A drummer stops the drum machine and starts it again, both ways drum machines do it:
/// ticks going on through the stop, and ticks stopping with the transport for half a
/// second. A quantized `play loop` typed 1.3 s after the new Start (beat 1.95 at 90 BPM)
/// begins on the bar line at beat 4 and every note falls on the master's beat; `set` shows
/// the master's tempo within 0.1 %.
#[test]
fn clock_in_relocks_when_the_master_stops_and_starts_again() {
    let _jack = Jack::start();
    for ticks_through_stop in [true, false] {
        let sink = Sink::new("synth");
        let peer = ClockPeer::new("drums", 90.0);
        let mut tms = Prompt::start(tms(&[]));
        tms.type_line(
            "connect in \"drums\"; connect \"synth\"; clock in on; set quantize bar; prime notes \"C4 D4 E4 F4\"",
        );
        assert!(
            tms.wait_for("notes", Duration::from_secs(10)),
            "{}",
            tms.printed()
        );
        peer.start();
        ticks_since_start(&peer, 24 * 3);
        tms.type_line("play loop");
        ticks_since_start(&peer, 24 * 9);
        peer.stop();
        assert!(eventually(Duration::from_secs(5), || peer
            .last_sent(0xFC)
            .is_some()));
        if !ticks_through_stop {
            peer.pause(true);
        }
        std::thread::sleep(Duration::from_millis(500));
        tms.type_line("stop");
        std::thread::sleep(Duration::from_millis(200));
        let stopped = peer.last_sent(0xFC).unwrap();
        peer.start();
        peer.pause(false);
        assert!(eventually(Duration::from_secs(5), || peer
            .last_sent(0xFA)
            .is_some_and(|t| t > stopped)));
        // 1.3 s after the new Start: 47 ticks at 90 BPM.
        ticks_since_start(&peer, 47);
        let issued = Instant::now();
        tms.type_line("play loop");
        let restarted = peer.last_sent(0xFA).unwrap();
        let after = |h: &[Heard]| -> Vec<Instant> {
            notes(h)
                .iter()
                .map(|n| n.on)
                .filter(|on| *on > issued)
                .collect()
        };
        assert!(
            eventually(Duration::from_secs(20), || after(&sink.messages()).len()
                >= 8),
            "the loop played after the restart"
        );
        let (tempo, line) = listed_tempo(&mut tms);
        tms.quit();
        let beats = peer.beats();
        let onsets = after(&sink.messages());
        let first = secs(beats[4], onsets[0]);
        let errors: Vec<f64> = onsets
            .iter()
            .zip(&beats[4..])
            .map(|(on, b)| secs(*b, *on))
            .collect();
        let worst = errors.iter().fold(0.0f64, |m, e| m.max(e.abs()));
        println!(
            "restart ({}): play typed {:.2} s after Start; first note {:.2} ms from beat 4; \
             worst onset {:.2} ms; {line}",
            if ticks_through_stop {
                "ticks go on"
            } else {
                "ticks stop"
            },
            secs(restarted, issued),
            first * 1e3,
            worst * 1e3
        );
        assert!(
            beats[1] < issued && issued < beats[3],
            "play was typed in beat 2"
        );
        assert!(
            first.abs() < 0.010,
            "the loop began {:.1} ms from the bar line at beat 4",
            first * 1e3
        );
        assert!(
            worst < 0.010,
            "a note was {:.2} ms off its beat",
            worst * 1e3
        );
        let tempo = tempo.unwrap_or_else(|| panic!("a tempo in {line}"));
        assert!((tempo - 90.0).abs() <= 0.09, "{line}");
    }
}

/// The master changes tempo: two beats later `clock` shows the new tempo within 0.1 %.
/// Before any tick arrives, `clock in on` and `set` say there is no tempo yet, not the
/// tempo of an earlier run.
#[test]
fn clock_in_tempo_is_within_a_thousandth_two_beats_after_a_change_and_never_stale() {
    let _jack = Jack::start();
    let peer = ClockPeer::new("drums", 100.0);
    let mut tms = Prompt::start(tms(&[]));
    tms.type_line("connect in \"drums\"; clock in on");
    tms.line_starting("clock in: following", Duration::from_secs(30));
    peer.start();
    ticks_since_start(&peer, 24 * 4);
    peer.set_bpm(120.0);
    let changed = peer.ticks_since_start();
    ticks_since_start(&peer, changed + 48 + 2);
    let line = tms.ask("clock", "clock: ");
    let shown: f64 = line
        .split(" at ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("a tempo in {line}"));
    println!("two beats after 100 → 120 BPM: {line}");
    assert!((shown - 120.0).abs() <= 0.12, "{line}");
    // The master goes away; a new run of clock in waits for ticks and says so.
    peer.pause(true);
    tms.line_starting("clock in: no ticks for a second", Duration::from_secs(10));
    let off = tms.ask("clock in off", "clock in: off");
    let on = tms.ask("clock in on", "clock in: ");
    let (tempo, set_line) = listed_tempo(&mut tms);
    let clock = tms.ask("clock", "clock: ");
    tms.quit();
    println!("{off}\n{on}\n{set_line}\n{clock}");
    assert!(on.contains("no ticks yet"), "{on}");
    assert!(
        tempo.is_none() && set_line.contains("no ticks yet"),
        "{set_line}"
    );
    assert!(clock.contains("no ticks yet"), "{clock}");
}

/// A second master replaces the first: the first drum machine goes away, `connect in`
/// picks another at another tempo, and the notes follow the new one from its Start.
#[test]
fn clock_in_follows_a_second_master_from_its_start() {
    let _jack = Jack::start();
    let sink = Sink::new("synth");
    let first = ClockPeer::new("drums", 120.0);
    let mut tms = Prompt::start(tms(&[]));
    tms.type_line(
        "connect in \"drums\"; connect \"synth\"; clock in on; set quantize beat; prime notes \"C4 E4 G4 C5\"",
    );
    assert!(
        tms.wait_for("notes", Duration::from_secs(10)),
        "{}",
        tms.printed()
    );
    first.start();
    ticks_since_start(&first, 24 * 2);
    tms.type_line("play loop");
    ticks_since_start(&first, 24 * 8);
    first.stop();
    first.pause(true);
    let second = ClockPeer::new("sequencer", 95.0);
    second.pause(true);
    let switched = tms.ask("connect in \"sequencer\"", "connected input");
    std::thread::sleep(Duration::from_millis(700));
    second.start();
    second.pause(false);
    let started = Instant::now();
    let after = |h: &[Heard]| -> Vec<Instant> {
        notes(h)
            .iter()
            .map(|n| n.on)
            .filter(|on| *on > started)
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(20), || after(&sink.messages()).len()
            >= 10),
        "the loop plays to the second master"
    );
    tms.quit();
    let onsets = after(&sink.messages());
    let beats = second.beats();
    let errors = to_nearest_beat(&onsets, &beats);
    let worst = errors.iter().fold(0.0f64, |m, e| m.max(e.abs()));
    let gaps: Vec<f64> = onsets.windows(2).map(|w| secs(w[0], w[1])).collect();
    println!(
        "{switched}\nsecond master: onsets minus its nearest beat {} ms; worst {:.2} ms",
        errors
            .iter()
            .map(|e| format!("{:.2}", e * 1e3))
            .collect::<Vec<_>>()
            .join(", "),
        worst * 1e3
    );
    assert!(
        worst < 0.010,
        "a note was {:.2} ms off the new master's beat",
        worst * 1e3
    );
    for g in &gaps {
        assert!(
            (g - 60.0 / 95.0).abs() < 0.010,
            "interval {:.2} ms",
            g * 1e3
        );
    }
}

/// Spins one thread per core at normal priority until dropped: both cores busy.
struct Busy {
    quit: Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Busy {
    fn start() -> Busy {
        let quit = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = (0..cores)
            .map(|_| {
                let q = quit.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !q.load(std::sync::atomic::Ordering::Relaxed) {
                        x = std::hint::black_box(x.wrapping_mul(6364136223846793005) + 1);
                    }
                })
            })
            .collect();
        Busy { quit, threads }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.quit.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The benchmark of `make bench` (`BENCH_ONLY=clock`): a drum machine stopped and started
/// again `TMS_CLOCK_RUNS` times (20 unless given), at 90 and 120 BPM in turn, its ticks
/// going on through the stop or stopping with it in turn, with every core busy; after each
/// Start a quantized `play loop` typed 1.3 s in must begin on the bar line at beat 4 and
/// stay on the beat. Prints each run's worst onset error and the worst of all (the goal:
/// 2 ms plus one JACK period).
#[test]
#[ignore = "a benchmark: make bench BENCH_ONLY=clock"]
fn bench_clock_in_relock_worst_onset_error() {
    let runs: usize = std::env::var("TMS_CLOCK_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let jack = Jack::start();
    let sink = Sink::new("synth");
    let peer = ClockPeer::new("drums", 90.0);
    let mut tms = Prompt::start(tms(&[]));
    tms.type_line(
        "connect in \"drums\"; connect \"synth\"; clock in on; set quantize bar; prime notes \"C4 D4 E4 F4\"",
    );
    assert!(
        tms.wait_for("notes", Duration::from_secs(30)),
        "{}",
        tms.printed()
    );
    let _busy = Busy::start();
    let mut xruns = jack.xruns();
    let mut lost = 0;
    // After the harness's "test … " on the same line.
    println!();
    let mut worsts = Vec::new();
    for run in 0..runs {
        let bpm = if run % 2 == 0 { 90.0 } else { 120.0 };
        let ticks_stop = run % 4 >= 2;
        tms.type_line("stop");
        peer.stop();
        assert!(eventually(Duration::from_secs(5), || peer
            .last_sent(0xFC)
            .is_some_and(|t| peer.last_sent(0xFA).is_none_or(|s| t > s))));
        let stopped = peer.last_sent(0xFC).unwrap();
        if ticks_stop {
            peer.pause(true);
        }
        std::thread::sleep(Duration::from_millis(500));
        peer.set_bpm(bpm);
        peer.start();
        peer.pause(false);
        assert!(eventually(Duration::from_secs(5), || peer
            .last_sent(0xFA)
            .is_some_and(|t| t > stopped)));
        // 1.3 s into the song.
        ticks_since_start(&peer, (1.3 * bpm / 60.0 * 24.0) as usize);
        let issued = Instant::now();
        tms.type_line("play loop");
        let after = |h: &[Heard]| -> Vec<Instant> {
            notes(h)
                .iter()
                .map(|n| n.on)
                .filter(|on| *on > issued)
                .collect()
        };
        assert!(
            eventually(Duration::from_secs(30), || after(&sink.messages()).len()
                >= 8),
            "run {run}: the loop played"
        );
        let beats = peer.beats();
        let ideal = ideal_beats(&peer);
        let onsets: Vec<Instant> = after(&sink.messages()).into_iter().take(8).collect();
        // Each onset against the beat it belongs to, counted from the bar line at beat 4:
        // a note the machine lost (an xrun of the JACK server drops that cycle's MIDI)
        // leaves a beat without a note rather than move the others a beat.
        let on_beat = |on: &Instant| {
            let b = secs(beats[4], *on) * bpm / 60.0;
            4 + b.round().max(0.0) as usize
        };
        let expected = on_beat(&onsets[onsets.len() - 1]) - 3;
        // The first note belongs on the bar line at beat 4, wherever it fell.
        let worst_of = |grid: &[Instant]| {
            onsets
                .iter()
                .enumerate()
                .map(|(k, on)| {
                    let b = if k == 0 { 4 } else { on_beat(on) };
                    secs(grid[b.min(grid.len() - 1)], *on).abs()
                })
                .fold(0.0f64, f64::max)
        };
        let xruns_now = jack.xruns();
        let missing = expected.saturating_sub(onsets.len());
        lost += missing;
        let (worst, worst_ideal) = (worst_of(&beats), worst_of(&ideal));
        let peer_late = beats[4..]
            .iter()
            .zip(&ideal[4..])
            .take(expected)
            .map(|(sent, due)| secs(*due, *sent))
            .fold(0.0f64, f64::max);
        println!(
            "run {:2}: {bpm} BPM, ticks {} the stop: worst onset {:.2} ms from the beat as \
             sent, {:.2} ms from the master's grid (its beat ticks up to {:.2} ms late); \
             {missing} of {expected} notes not heard, {} xruns reported by the server",
            run + 1,
            if ticks_stop {
                "stop with"
            } else {
                "go on through"
            },
            worst * 1e3,
            worst_ideal * 1e3,
            peer_late * 1e3,
            xruns_now - xruns
        );
        xruns = xruns_now;
        if worst > 0.002 + PERIOD {
            let heard = notes(&sink.messages());
            let detail: Vec<String> = heard
                .iter()
                .filter(|n| n.on > issued)
                .take(8)
                .map(|n| {
                    let b = (secs(beats[0], n.on) * bpm / 60.0 * 100.0).round() / 100.0;
                    format!("{} at beat {b}", n.pitch)
                })
                .collect();
            println!(
                "        typed at beat {:.2}: {}",
                secs(beats[0], issued) * bpm / 60.0,
                detail.join(", ")
            );
        }
        worsts.push((worst, worst_ideal));
    }
    tms.quit();
    let sorted = |f: fn(&(f64, f64)) -> f64| {
        let mut v: Vec<f64> = worsts.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (sent, grid) = (sorted(|w| w.0), sorted(|w| w.1));
    println!(
        "clock in re-lock, {runs} restarts with every core busy: worst onset error {:.2} ms \
         from the beat as sent, {:.2} ms from the master's grid (medians of the runs' worst \
         {:.2} and {:.2} ms; goal {:.2} ms = 2 ms + one period); {lost} notes not heard, \
         {} xruns reported by the server",
        sent[sent.len() - 1] * 1e3,
        grid[grid.len() - 1] * 1e3,
        quantile(&sent, 0.5) * 1e3,
        quantile(&grid, 0.5) * 1e3,
        (0.002 + PERIOD) * 1e3,
        jack.xruns()
    );
}

/// Where the peer meant its beats to fall since its last Start: a least-squares line
/// through the times it sent its ticks (a tick the machine delayed moves the line by a
/// fraction of the delay), beat j on tick 24j.
fn ideal_beats(peer: &ClockPeer) -> Vec<Instant> {
    let sent = peer.sent.lock().unwrap().clone();
    let from = sent.iter().rposition(|m| m.1 == 0xFA).map_or(0, |i| i + 1);
    let ticks: Vec<Instant> = sent[from..]
        .iter()
        .filter(|m| m.1 == 0xF8)
        .map(|m| m.0)
        .collect();
    let t0 = ticks[0];
    let n = ticks.len() as f64;
    let xs: Vec<f64> = (0..ticks.len()).map(|k| k as f64).collect();
    let ys: Vec<f64> = ticks.iter().map(|t| secs(t0, *t)).collect();
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    let slope = sxy / sxx;
    // The line through the earliest ticks: ticks are sent late, never early.
    let lowest = xs
        .iter()
        .zip(&ys)
        .map(|(x, y)| y - slope * x)
        .fold(f64::INFINITY, f64::min);
    (0..ticks.len() / 24 + 1)
        .map(|j| t0 + Duration::from_secs_f64((lowest + slope * 24.0 * j as f64).max(0.0)))
        .collect()
}
