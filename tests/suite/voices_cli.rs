//! Voices at the prompt without a synth: `voice "NAME"` makes and switches voices, each with
//! its own settings, model and melody; `voices` lists them; wrong names are refused with a
//! caret. (Voices sounding together are tested through JACK in jack_voices.rs.)

use crate::support;

use support::{root, tms_c};

fn folk() -> String {
    root().join("models/folk.safetensors").display().to_string()
}

fn star() -> String {
    root().join("samples/little_star.mid").display().to_string()
}

/// The lines of `voices` (they begin with the current-voice mark or a space).
fn listing(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| (l.starts_with("* ") || l.starts_with("  ")) && l.contains("  ch "))
        .collect()
}

#[test]
fn a_new_voice_copies_the_current_one_then_keeps_its_own_settings() {
    let (_d, run) = tms_c(
        "set temperature 0.5; set channel 3; voice \"bass\"; set channel 2; \
         set temperature 0.9; set tempo 100; voice \"main\"; voices; \
         help temperature; help channel; help tempo",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("voice bass: new, a copy of main, on channel 3 (`set channel N` to move it)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("voice main on channel 3"),
        "{}",
        run.stdout
    );
    assert_eq!(
        listing(&run.stdout),
        [
            "* main  ch 3   silent   no model, 0 notes",
            "  bass  ch 2   silent   no model, 0 notes",
        ]
    );
    // main kept its temperature and channel; the tempo is shared by every voice.
    assert!(run.stdout.contains("  now: 0.5\n"), "{}", run.stdout);
    assert!(run.stdout.contains("  now: 3\n"), "{}", run.stdout);
    assert!(run.stdout.contains("  now: 100\n"), "{}", run.stdout);
}

#[test]
fn each_voice_has_its_own_model_and_melody() {
    let (_d, run) = tms_c(&format!(
        "seed 1; model \"{}\"; prime \"{}\" last 10; voice \"bass\"; generate 6; \
         voice \"drone\"; model new; voices",
        folk(),
        star()
    ));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        listing(&run.stdout),
        [
            "  main   ch 1   silent   LSTM 384x1, 40 epochs, 10 notes",
            "  bass   ch 1   silent   LSTM 384x1, 40 epochs, 16 notes",
            "* drone  ch 1   silent   LSTM 384x1, 0 epochs, 16 notes",
        ]
    );
}

#[test]
fn switching_to_the_current_voice_says_so() {
    let (_d, run) = tms_c("voice \"main\"; voices");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("voice main (already the current voice)\n"),
        "{}",
        run.stdout
    );
    assert_eq!(listing(&run.stdout).len(), 1);
}

#[test]
fn bad_voice_names_are_refused_with_a_caret() {
    for (script, message, caret) in [
        (
            "voice",
            "<command-line>:1:6: error: missing a quoted voice name such as \"bass\"; usage: voice \"NAME\"",
            "     ^",
        ),
        (
            "voice \"\"",
            "<command-line>:1:7: error: a voice name is 1 to 32 characters, without spaces at its ends; usage: voice \"NAME\"",
            "      ^^",
        ),
        (
            "voice \" bass\"",
            "<command-line>:1:7: error: a voice name is 1 to 32 characters, without spaces at its ends; usage: voice \"NAME\"",
            "      ^^^^^^^",
        ),
        (
            "voice bass",
            "<command-line>:1:7: error: expected a quoted voice name such as \"bass\", found `bass`; usage: voice \"NAME\"",
            "      ^^^^",
        ),
        (
            "stop everything",
            "<command-line>:1:6: error: unexpected `everything`; usage: stop [all]",
            "     ^^^^^^^^^^",
        ),
    ] {
        let (_d, run) = tms_c(script);
        assert_ne!(run.code, 0, "{script}");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.first(), Some(&message), "{script}: {}", run.stderr);
        assert_eq!(
            lines.get(2).map(|l| l.trim_end()),
            Some(format!("    {caret}").as_str()),
            "{script}: {}",
            run.stderr
        );
    }
}

#[test]
fn voice_and_stop_all_replay_from_history() {
    let (dir, run) =
        tms_c("voice \"bass\"; set channel 2; stop all; stop; voices; history \"h.tms\"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let history = std::fs::read_to_string(dir.path().join("h.tms")).unwrap();
    let lines: Vec<&str> = history.lines().skip(1).collect();
    assert_eq!(
        lines,
        ["voice \"bass\"", "set channel 2", "stop all", "stop"],
        "`voices` only shows, so it is not recorded"
    );
}
