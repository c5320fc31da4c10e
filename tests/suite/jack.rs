//! The performer against a real JACK server (dummy driver) with real receiving and sending
//! clients: what a synth hears, how on time it is, and that nothing is left sounding.
#![cfg(feature = "jack")]

use crate::jack_support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jack_support::{controllers, eventually, notes, quantile, Heard, Jack, Sink, Source};
use tms::music::note::Note;
use tms::perform::{list_ports, Controls, NoteSource, PerformError, Performer, PortSel};
use tms::settings::Live;

/// A performer whose printed lines the test can read.
fn performer(controls: &Arc<Controls>) -> (Performer, Arc<Mutex<Vec<String>>>) {
    let printed = Arc::new(Mutex::new(Vec::new()));
    let p = printed.clone();
    let performer = Performer::new(
        controls.clone(),
        Box::new(move |line| p.lock().unwrap().push(line)),
    );
    (performer, printed)
}

fn connected(sink: &Sink) -> (Performer, Arc<Controls>, Arc<Mutex<Vec<String>>>) {
    let controls = Arc::new(Controls::default());
    let (mut p, printed) = performer(&controls);
    let name = p
        .connect_output(&PortSel::Name(sink.port.clone()))
        .expect("connect to the sink");
    assert_eq!(name, sink.port);
    (p, controls, printed)
}

/// About 40 notes of varied rhythm and loudness, one at a time, a repeated pitch included.
fn melody() -> Vec<Note> {
    let pitches = [
        60, 62, 64, 65, 67, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60,
    ];
    let steps = [0.125, 0.25, 0.1875, 0.125, 0.0625, 0.125];
    let mut t = 0.0;
    (0..40)
        .map(|i| {
            let step = steps[i % steps.len()];
            let n = Note {
                pitch: pitches[i % pitches.len()],
                start: t,
                duration: step * 0.75,
                velocity: 60 + ((i * 7) % 60) as u8,
            };
            t += step;
            n
        })
        .collect()
}

/// Overlapping long notes and a chord, so several sound at any moment.
fn sustained() -> Vec<Note> {
    (0..16)
        .flat_map(|i| {
            let start = i as f64 * 0.25;
            [
                Note {
                    pitch: 48 + i as u8,
                    start,
                    duration: 0.6,
                    velocity: 90,
                },
                Note {
                    pitch: 72 + i as u8,
                    start,
                    duration: 0.6,
                    velocity: 90,
                },
            ]
        })
        .collect()
}

/// Every note-on got its note-off.
fn assert_nothing_left_sounding(heard: &[Heard]) {
    let ns = notes(heard);
    assert!(!ns.is_empty(), "nothing was played");
    for n in &ns {
        assert!(n.off.is_some(), "stuck note: {n:?}");
    }
}

fn assert_all_notes_off_on_channel_1(heard: &[Heard]) {
    let ccs = controllers(heard);
    assert!(
        ccs.contains(&(0, 123, 0)),
        "no CC 123 (all notes off) on channel 1: {ccs:?}"
    );
    // CC 123 comes after the last note-on.
    let last_on = heard
        .iter()
        .rposition(|h| h.bytes.len() == 3 && h.bytes[0] & 0xF0 == 0x90 && h.bytes[2] > 0);
    let cc123 = heard.iter().rposition(|h| h.bytes[..] == [0xB0, 123, 0]);
    assert!(cc123 > last_on, "CC 123 must follow the last note-on");
}

#[test]
fn plays_a_melody_note_for_note_and_on_time() {
    let _jack = Jack::start();
    let sink = Sink::new("tms-test-sink");
    let ports = list_ports().expect("ports under JACK");
    assert!(ports.outputs.contains(&sink.port), "{ports:?}");
    let (mut p, _controls, printed) = connected(&sink);
    let tune = melody();
    let t_play = Instant::now();
    p.play(&tune, false).unwrap();
    assert!(p.is_playing());
    p.wait();
    assert!(!p.is_playing());

    let heard = notes(&sink.all_ended(tune.len()));
    assert_eq!(heard.len(), tune.len(), "note count");
    let mut offsets = Vec::new();
    let mut length_errors = Vec::new();
    for (h, n) in heard.iter().zip(&tune) {
        assert_eq!((h.ch, h.pitch, h.velocity), (0, n.pitch, n.velocity));
        let off = h.off.expect("every note ends");
        offsets.push(h.on.duration_since(t_play).as_secs_f64() - n.start);
        length_errors.push((off.duration_since(h.on).as_secs_f64() - n.duration).abs());
    }
    // Onset error: distance from the melody's own timing, after the constant delay
    // (scheduling headroom + one JACK period) is taken out.
    let mut sorted = offsets.clone();
    sorted.sort_by(f64::total_cmp);
    let delay = quantile(&sorted, 0.5);
    let mut errors: Vec<f64> = offsets.iter().map(|d| (d - delay).abs()).collect();
    errors.sort_by(f64::total_cmp);
    length_errors.sort_by(f64::total_cmp);
    let (p50, p99, max) = (
        quantile(&errors, 0.5),
        quantile(&errors, 0.99),
        quantile(&errors, 1.0),
    );
    let stats = p.stats();
    println!(
        "onset error over {} notes: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; constant delay \
         {:.3} ms; length error max {:.3} ms; player: {} events, {} late, max late {:.3} ms",
        errors.len(),
        p50 * 1e3,
        p99 * 1e3,
        max * 1e3,
        delay * 1e3,
        quantile(&length_errors, 1.0) * 1e3,
        stats.events,
        stats.late,
        stats.max_late * 1e3
    );
    assert_eq!(stats.events, 2 * tune.len() as u64);
    // A JACK period is 1.33 ms; the dummy driver and a shared 2-core machine add jitter,
    // so the bound is loose (the numbers above are what matters).
    assert!(p50 < 0.0034, "p50 onset error {p50}");
    assert!(p99 < 0.015, "p99 onset error {p99}");
    assert!(printed.lock().unwrap().is_empty());
}

#[test]
fn stop_mid_melody_ends_every_note() {
    let _jack = Jack::start();
    let sink = Sink::new("tms-test-sink");
    let (mut p, _controls, _) = connected(&sink);
    let tune = sustained();
    p.play(&tune, false).unwrap();
    std::thread::sleep(Duration::from_millis(700));
    p.stop();
    assert!(!p.is_playing());
    let stopped = Instant::now();
    let heard = sink.controller_seen(0, 123);
    let ns = notes(&heard);
    assert!(ns.len() < tune.len(), "stopped in the middle");
    assert!(ns.len() >= 4, "played something first");
    assert!(ns.iter().all(|n| n.on <= stopped), "no notes after stop");
    assert_nothing_left_sounding(&heard);
    assert_all_notes_off_on_channel_1(&heard);
}

#[test]
fn dropping_the_performer_mid_melody_ends_every_note() {
    let _jack = Jack::start();
    let sink = Sink::new("tms-test-sink");
    let (mut p, _controls, _) = connected(&sink);
    let tune = sustained();
    p.play(&tune, false).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    drop(p);
    let heard = sink.controller_seen(0, 123);
    assert!(notes(&heard).len() < tune.len());
    assert_nothing_left_sounding(&heard);
    assert_all_notes_off_on_channel_1(&heard);
}

#[test]
fn disconnect_mid_melody_ends_every_note_and_closes() {
    let _jack = Jack::start();
    let sink = Sink::new("tms-test-sink");
    let (mut p, _controls, _) = connected(&sink);
    p.play(&sustained(), false).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    p.disconnect();
    assert!(!p.is_playing());
    let heard = sink.controller_seen(0, 123);
    assert_nothing_left_sounding(&heard);
    assert_all_notes_off_on_channel_1(&heard);
    assert!(matches!(
        p.play(&melody(), false),
        Err(PerformError::NotConnected)
    ));
}

#[test]
fn panic_silences_every_channel() {
    let _jack = Jack::start();
    let sink = Sink::new("tms-test-sink");
    let (mut p, _controls, _) = connected(&sink);
    p.play(&sustained(), false).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    p.panic();
    let heard = sink.controller_seen(15, 120);
    assert_nothing_left_sounding(&heard);
    let ccs = controllers(&heard);
    for ch in 0..16 {
        assert!(ccs.contains(&(ch, 123, 0)), "CC 123 on channel {}", ch + 1);
        assert!(ccs.contains(&(ch, 120, 0)), "CC 120 on channel {}", ch + 1);
    }
}

#[test]
fn live_controls_shape_the_notes() {
    let _jack = Jack::start();
    let sink = Sink::new("tms-test-sink");
    let (mut p, controls, _) = connected(&sink);
    controls.set(Live::Transpose, 12.0);
    controls.set(Live::Velocity, 100.0);
    controls.set(Live::Channel, 3.0);
    controls.set(Live::Program, 5.0);
    let tune: Vec<Note> = melody().into_iter().take(3).collect();
    p.play(&tune, false).unwrap();
    p.wait();
    let heard = sink.all_ended(tune.len());
    assert_eq!(heard[0].bytes, vec![0xC2, 5], "program change first");
    let ns = notes(&heard);
    assert_eq!(ns.len(), 3);
    for (h, n) in ns.iter().zip(&tune) {
        assert_eq!((h.ch, h.pitch, h.velocity), (2, n.pitch + 12, 100));
    }
}

#[test]
fn a_loop_repeats_until_stopped_and_wait_does_not_hang() {
    let _jack = Jack::start();
    let sink = Sink::new("tms-test-sink");
    let (mut p, _controls, _) = connected(&sink);
    let tune: Vec<Note> = melody().into_iter().take(2).collect(); // 0.375 s long
    p.play(&tune, true).unwrap();
    let t0 = Instant::now();
    p.wait();
    assert!(
        t0.elapsed() < Duration::from_millis(100),
        "wait returns for a loop"
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert!(p.is_playing());
    p.stop();
    let heard = sink.controller_seen(0, 123);
    let ns = notes(&heard);
    assert!(ns.len() >= 5, "looped: {} notes", ns.len());
    assert!(ns
        .iter()
        .zip(tune.iter().cycle())
        .all(|(h, n)| h.pitch == n.pitch));
    assert_nothing_left_sounding(&heard);
}

#[test]
fn unknown_port_lists_what_there_is() {
    let _jack = Jack::start();
    let sink = Sink::new("tms-test-sink");
    let controls = Arc::new(Controls::default());
    let (mut p, _) = performer(&controls);
    match p.connect_output(&PortSel::Name("no such synth".into())) {
        Err(PerformError::NoSuchPort(asked, available)) => {
            assert_eq!(asked, "\"no such synth\"");
            assert!(available.contains(&sink.port));
        }
        other => panic!("expected NoSuchPort, got {other:?}"),
    }
    let ports = list_ports().unwrap();
    assert!(matches!(
        p.connect_output(&PortSel::Index(ports.outputs.len() + 1)),
        Err(PerformError::NoSuchPort(..))
    ));
    let i = ports.outputs.iter().position(|n| *n == sink.port).unwrap();
    assert_eq!(p.connect_output(&PortSel::Index(i + 1)).unwrap(), sink.port);
}

/// Plays (pitch, start, duration) through `source` in real time from `t0`.
fn perform_phrase(source: &mut Source, t0: Instant, phrase: &[(u8, f64, f64)]) {
    let mut events: Vec<(f64, [u8; 3])> = Vec::new();
    for &(pitch, start, duration) in phrase {
        events.push((start, [0x90, pitch, 80]));
        events.push((start + duration, [0x80, pitch, 0]));
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (at, m) in events {
        let due = t0 + Duration::from_secs_f64(at);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        source.send(&m);
    }
}

#[test]
fn listen_records_a_phrase() {
    let _jack = Jack::start();
    let mut source = Source::new("tms-test-kbd");
    let controls = Arc::new(Controls::default());
    let (mut p, _) = performer(&controls);
    let stop = AtomicBool::new(false);
    assert!(matches!(
        p.listen(None, Duration::from_millis(300), &stop),
        Err(PerformError::NoInput)
    ));
    let name = p
        .connect_input(&PortSel::Name("TMS-TEST-KBD".into()))
        .unwrap();
    assert_eq!(name, source.port);
    let phrase = [
        (60, 0.0, 0.1),
        (62, 0.15, 0.1),
        (64, 0.3, 0.2),
        (65, 0.55, 0.1),
    ];
    let player = std::thread::spawn(move || {
        let t0 = Instant::now() + Duration::from_millis(200);
        perform_phrase(&mut source, t0, &phrase);
        // Then three more notes for `listen 2`.
        let t1 = Instant::now() + Duration::from_millis(800);
        perform_phrase(
            &mut source,
            t1,
            &[(70, 0.0, 0.1), (71, 0.2, 0.1), (72, 0.4, 0.1)],
        );
        source
    });
    let started = Instant::now();
    let heard = p.listen(None, Duration::from_millis(300), &stop).unwrap();
    let took = started.elapsed();
    assert_eq!(heard.len(), phrase.len(), "{heard:?}");
    for (h, (pitch, start, duration)) in heard.iter().zip(phrase) {
        assert_eq!(h.pitch, pitch);
        assert_eq!(h.velocity, 80);
        assert!((h.start - start).abs() < 0.015, "{h:?} vs start {start}");
        assert!(
            (h.duration - duration).abs() < 0.015,
            "{h:?} vs length {duration}"
        );
    }
    // Ended by 300 ms of silence after the last note-off (at 0.85 s), well before the
    // next phrase.
    assert!(
        took > Duration::from_millis(1100) && took < Duration::from_millis(1500),
        "{took:?}"
    );

    let two = p.listen(Some(2), Duration::from_secs(5), &stop).unwrap();
    assert_eq!(
        two.iter().map(|n| n.pitch).collect::<Vec<_>>(),
        vec![70, 71]
    );
    assert!(
        two[0].start == 0.0 && (two[1].start - 0.2).abs() < 0.015,
        "{two:?}"
    );
    let _source = player.join().unwrap();

    // Ctrl-C ends a listen that hears nothing.
    let stop = AtomicBool::new(true);
    assert!(p
        .listen(None, Duration::from_secs(5), &stop)
        .unwrap()
        .is_empty());
}

#[test]
fn a_mapped_knob_moves_a_control() {
    let _jack = Jack::start();
    let mut source = Source::new("tms-test-knobs");
    let controls = Arc::new(Controls::default());
    let (mut p, _) = performer(&controls);
    p.connect_input(&PortSel::Name("tms-test-knobs".into()))
        .unwrap();
    p.map_cc(74, Live::Tempo, 60.0, 180.0);
    p.map_cc(71, Live::Temperature, 0.0, 2.0);
    assert_eq!(
        p.mappings(),
        vec![
            (71, Live::Temperature, 0.0, 2.0),
            (74, Live::Tempo, 60.0, 180.0)
        ]
    );
    source.send(&[0xB0, 74, 127]);
    assert!(eventually(Duration::from_secs(2), || controls
        .get(Live::Tempo)
        == 180.0));
    source.send(&[0xB5, 71, 0]); // any channel
    assert!(eventually(Duration::from_secs(2), || controls
        .get(Live::Temperature)
        == 0.0));
    let mut changes = p.take_knob_changes();
    changes.sort_by_key(|c| c.0.name());
    assert_eq!(
        changes,
        vec![(Live::Temperature, 0.0), (Live::Tempo, 180.0)]
    );
    // An unmapped controller changes nothing.
    assert!(p.unmap_cc(74));
    source.send(&[0xB0, 74, 0]);
    source.send(&[0xB0, 71, 127]); // still mapped: proves the first one was processed
    assert!(eventually(Duration::from_secs(2), || controls
        .get(Live::Temperature)
        == 2.0));
    assert_eq!(controls.get(Live::Tempo), 180.0);
}

/// A steady stream: a note every 0.1 s (at 120 BPM), counting how often it was asked.
struct Steady {
    n: u32,
    calls: Arc<AtomicUsize>,
}

impl NoteSource for Steady {
    fn next_note(&mut self, _controls: &Controls) -> Option<Note> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let n = self.n;
        self.n += 1;
        Some(Note {
            pitch: 60 + (n % 12) as u8,
            start: f64::from(n) * 0.1,
            duration: 0.05,
            velocity: 80,
        })
    }
}

fn median_gap(onsets: &[Instant]) -> f64 {
    let mut gaps: Vec<f64> = onsets
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).as_secs_f64())
        .collect();
    gaps.sort_by(f64::total_cmp);
    quantile(&gaps, 0.5)
}

#[test]
fn live_mode_follows_tempo_changes_and_stops_cleanly() {
    let _jack = Jack::start();
    let sink = Sink::new("tms-test-sink");
    let (mut p, controls, _) = connected(&sink);
    let calls = Arc::new(AtomicUsize::new(0));
    p.live(Box::new(Steady {
        n: 0,
        calls: calls.clone(),
    }))
    .unwrap();
    assert!(p.is_playing());
    let t0 = Instant::now();
    p.wait();
    assert!(
        t0.elapsed() < Duration::from_millis(100),
        "wait returns for live mode"
    );
    std::thread::sleep(Duration::from_millis(1000));
    controls.set(Live::Tempo, 240.0);
    let changed = Instant::now();
    std::thread::sleep(Duration::from_millis(1000));
    let before_stop = notes(&sink.messages()).len();
    // The generator runs a note or two ahead, never more.
    let asked = calls.load(Ordering::Relaxed);
    assert!(
        asked <= before_stop + 3,
        "asked {asked} for {before_stop} notes"
    );
    p.stop();
    assert!(!p.is_playing());
    let heard = sink.controller_seen(0, 123);
    let ns = notes(&heard);
    let slow: Vec<Instant> = ns.iter().map(|n| n.on).filter(|t| *t < changed).collect();
    let fast: Vec<Instant> = ns
        .iter()
        .map(|n| n.on)
        .filter(|t| *t > changed + Duration::from_millis(150))
        .collect();
    let (g1, g2) = (median_gap(&slow), median_gap(&fast));
    println!(
        "live inter-onset: {:.1} ms at 120 BPM, {:.1} ms at 240 BPM",
        g1 * 1e3,
        g2 * 1e3
    );
    assert!((g1 - 0.1).abs() < 0.01, "at 120 BPM {g1}");
    assert!((g2 - 0.05).abs() < 0.005, "at 240 BPM {g2}");
    assert!(slow.len() >= 8 && fast.len() >= 12);
    for (h, i) in ns.iter().zip(0..) {
        assert_eq!(h.pitch, 60 + (i % 12) as u8, "notes in order, none lost");
    }
    assert_nothing_left_sounding(&heard);
    assert_all_notes_off_on_channel_1(&heard);
}

/// Steady's notes, but the generator stalls once (a model swap, a page fault, the machine
/// busy): asked for note `stall_at`, it takes `stall` before answering.
struct Stalling {
    steady: Steady,
    stall_at: u32,
    stall: Duration,
}

impl NoteSource for Stalling {
    fn next_note(&mut self, controls: &Controls) -> Option<Note> {
        if self.steady.n == self.stall_at {
            std::thread::sleep(self.stall);
        }
        self.steady.next_note(controls)
    }
}

#[test]
fn a_live_voice_whose_generator_stalls_comes_back_on_its_beat() {
    let _jack = Jack::start();
    let sink = Sink::new("tms-test-stall");
    let (mut p, _controls, _) = connected(&sink);
    p.live(Box::new(Stalling {
        steady: Steady {
            n: 0,
            calls: Arc::new(AtomicUsize::new(0)),
        },
        stall_at: 12,
        stall: Duration::from_millis(400),
    }))
    .unwrap();
    std::thread::sleep(Duration::from_millis(3500));
    p.stop();
    let messages = sink.controller_seen(0, 123);
    let onsets: Vec<Instant> = notes(&messages).iter().map(|n| n.on).collect();
    assert!(onsets.len() >= 20, "{} notes", onsets.len());
    // A note every 0.1 s at 120 BPM: the stalled note comes late, and the voice goes on by
    // whole beats (0.5 s), so every later note is back on the same 0.1 s lattice (a move by
    // however late it was would put them 0.x s off it for good).
    let t0 = onsets[0];
    let off: Vec<String> = onsets
        .iter()
        .enumerate()
        .skip(14)
        .filter_map(|(i, t)| {
            let x = t.duration_since(t0).as_secs_f64() / 0.1;
            let err = (x - x.round()) * 0.1;
            (err.abs() > 0.002 + jack_support::PERIOD)
                .then(|| format!("note {i}: {:+.1} ms", err * 1e3))
        })
        .collect();
    assert!(off.is_empty(), "off the lattice after the stall: {off:?}");
    let gap = onsets
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).as_secs_f64())
        .fold(0.0, f64::max);
    assert!(
        gap > 0.3,
        "the stall was felt ({gap:.3} s): the test tests nothing"
    );
    assert_nothing_left_sounding(&messages);
}

#[test]
fn a_vanished_synth_is_waited_for_and_another_is_used_only_when_chosen() {
    let _jack = Jack::start();
    let sink = Sink::new("tms-test-gone");
    let (mut p, _controls, _) = connected(&sink);
    p.play(&sustained(), false).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(sink);
    // A `play` right after: the port is found gone at once, and the voice waits for it.
    p.play(&melody(), false).unwrap();
    assert_eq!(p.waiting_for_port().as_deref(), Some("tms-test-gone:in"));
    assert!(p.is_playing(), "the voice waits to play");
    p.stop();
    assert!(!p.is_playing());
    // A new synth: connect again and play.
    let sink = Sink::new("tms-test-back");
    p.connect_output(&PortSel::Name("tms-test-back".into()))
        .unwrap();
    p.play(&melody()[..2], false).unwrap();
    p.wait();
    assert_eq!(notes(&sink.all_ended(2)).len(), 2);
}

/// More messages at once than the output queue holds (a flood from a keyboard stand-in, a
/// server that missed periods): midir 0.10.4 desynchronised its queue, then wrote through a
/// null pointer and the process died of a SIGSEGV, and its input repeated the previous
/// message where an event could not be read. With `crates/midir` nothing crashes, a full
/// queue refuses a message until there is room, and what arrives is what was sent, in order,
/// never twice. (A receiver that overruns its period can still miss events: JACK rewrites
/// the buffer under it, so the count is not asserted.)
#[test]
fn a_burst_larger_than_the_output_queue_neither_crashes_nor_garbles() {
    let _jack = Jack::start();
    let sink = Sink::new("synth");
    let out = midir::MidiOutput::new("burst").expect("JACK client");
    let port = out
        .ports()
        .into_iter()
        .find(|p| out.port_name(p).is_ok_and(|n| n == sink.port))
        .expect("the sink's port");
    let mut conn = out.connect(&port, "out").expect("connect to the sink");
    // 4,000 distinct messages: more than the 2,047 the queue holds.
    let sent: Vec<[u8; 3]> = (0..4000u32)
        .map(|i| {
            [
                0x90 | (i % 16) as u8,
                (i / 16 % 128) as u8,
                1 + (i / 2048) as u8,
            ]
        })
        .collect();
    for m in &sent {
        let t0 = Instant::now();
        while let Err(e) = conn.send(m) {
            assert_eq!(e, midir::SendError::Other(midir::QUEUE_FULL));
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "the queue never drained"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let heard: Vec<[u8; 3]> = sink
        .messages()
        .into_iter()
        .map(|h| <[u8; 3]>::try_from(&h.bytes[..]).expect("a three-byte message"))
        .collect();
    let mut next = 0;
    for (i, h) in heard.iter().enumerate() {
        let Some(k) = sent[next..].iter().position(|s| s == h) else {
            panic!(
                "message {i} of {} ({h:?}) was not sent, or not in this order",
                heard.len()
            );
        };
        next += k + 1;
    }
    assert!(!heard.is_empty());
    println!("heard {} of {} messages", heard.len(), sent.len());
}
