//! The clock commands as a user meets them without any MIDI gear: `clock` reports which
//! clock leads, `quantize` is a setting with three values, and `clock in`/`clock out` say
//! what to connect first. (Through a real JACK server: jack_clock.)

use crate::support;

use support::tms_c;

#[test]
fn clock_alone_shows_the_internal_clock_its_tempo_and_meter() {
    let (_dir, run) = tms_c("set tempo 90; set meter \"3/4\"; clock");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = run.stdout.lines().last().unwrap_or_default();
    assert!(
        line.starts_with("clock: internal clock at 90.00 BPM, bar 1 beat 1."),
        "{line}"
    );
    assert!(line.ends_with("(3/4); clock out off"), "{line}");
}

#[test]
fn quantize_is_off_beat_or_bar() {
    let (_dir, run) = tms_c("set quantize beat; set quantize bar; set quantize off");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        vec!["quantize = beat", "quantize = bar", "quantize = off"]
    );
    let (_dir, run) = tms_c("set quantize bars");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("one of off, beat, bar (did you mean `bar`?)"),
        "{}",
        run.stderr
    );
}

#[test]
fn clock_in_needs_an_input_port_and_says_how_to_connect_one() {
    let (_dir, run) = tms_c("clock in on");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.starts_with(
            "<command-line>:1:1: error: no input port connected: use `ports`, then `connect in N`"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn clock_words_are_checked_before_anything_runs() {
    let (_dir, run) = tms_c("clock out maybe");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("error: expected `on` or `off`, found `maybe`; usage: clock [in|out on|off]"),
        "{}",
        run.stderr
    );
    let (_dir, run) = tms_c("clock sideways");
    assert!(
        run.stderr.contains("expected `in` or `out`"),
        "{}",
        run.stderr
    );
}
