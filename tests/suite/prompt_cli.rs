//! The slips a musician makes at the prompt, through `tms -c`: files that are what their
//! names say, values shown and hinted, the usual misspellings answered with a suggestion, and
//! one line of feedback for every command that acts.

use crate::support;

use support::tms_c;

fn first_bytes(path: &std::path::Path, n: usize) -> Vec<u8> {
    let mut b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    b.truncate(n);
    b
}

#[test]
fn write_picks_the_format_by_extension_and_refuses_others() {
    let (dir, run) = tms_c(
        "prime notes \"C4 D4 E4\"; write \"a.mid\"; write \"b.MIDI\"; write \"c.abc\"; write \"d.musicxml\"; write \"e.xml\"",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(first_bytes(&dir.path().join("a.mid"), 4), b"MThd");
    assert_eq!(first_bytes(&dir.path().join("b.MIDI"), 4), b"MThd");
    assert_eq!(first_bytes(&dir.path().join("c.abc"), 2), b"X:");
    assert_eq!(first_bytes(&dir.path().join("d.musicxml"), 5), b"<?xml");
    assert_eq!(first_bytes(&dir.path().join("e.xml"), 5), b"<?xml");

    for name in ["x.txt", "tune", "song.mp3"] {
        let (dir, run) = tms_c(&format!("prime notes \"C4\"; write \"{name}\""));
        assert_eq!(run.code, 1, "{name}");
        assert!(
            run.stderr.contains(
                "error: write chooses the format by the file's extension: .mid, .midi, .abc, .musicxml, .xml, .wav (MIDI, ABC, MusicXML, WAV audio)"
            ),
            "{name}: {}",
            run.stderr
        );
        assert!(!dir.path().join(name).exists(), "{name} was written");
    }
}

#[test]
fn write_to_a_wav_name_renders_audio() {
    if tms::render::find_soundfont().is_none() {
        eprintln!("skipping: no SoundFont installed");
        return;
    }
    let (dir, run) = tms_c("prime notes \"C4 D4\"; write \"tune.wav\" program \"flute\"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("rendered tune.wav with "),
        "{}",
        run.stdout
    );
    let head = first_bytes(&dir.path().join("tune.wav"), 12);
    assert_eq!(&head[..4], b"RIFF");
    assert_eq!(&head[8..12], b"WAVE");
}

#[test]
fn save_writes_only_safetensors_names() {
    let (dir, run) = tms_c("set hidden 4; model new; save \"m.pth\"");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("error: save writes a safetensors model: give the file a .safetensors name"),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("m.pth").exists());
}

#[test]
fn set_with_a_name_alone_shows_the_setting_and_is_not_history() {
    let (_dir, run) = tms_c("set temperature 0.5; set temperature; history");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "set temperature VALUE\n  sampling temperature of pitch (0 = always the most likely, 1 = the model's own distribution)\n  allowed: a number from 0 to 10\n  default: 0.85\n  now: 0.5\n"
        ),
        "{}",
        run.stdout
    );
    let history: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("set temperature"))
        .collect();
    assert_eq!(history, ["set temperature VALUE", "set temperature 0.5"]);
}

#[test]
fn values_with_a_slash_are_hinted_with_their_quotes() {
    for (line, caret_col, hint) in [
        (
            "set meter 3/4",
            12,
            "a meter value is written in quotes: set meter \"3/4\"",
        ),
        (
            "generate 8 grid 1/16",
            18,
            "a grid value is written in quotes: generate 8 grid \"1/16\"",
        ),
        (
            "set checkpoint_dir out/x",
            23,
            "a checkpoint_dir value is written in quotes: set checkpoint_dir \"out/x\"",
        ),
    ] {
        let (_dir, run) = tms_c(line);
        assert_eq!(run.code, 1, "{line}");
        assert!(
            run.stderr.starts_with(&format!(
                "<command-line>:1:{caret_col}: error: unexpected character `/`: {hint}\n"
            )),
            "{line}: {}",
            run.stderr
        );
    }
}

#[test]
fn generate_counts_notes_with_or_without_the_word() {
    let (_dir, run) = tms_c(
        "seed 1; set hidden 4; model new; prime notes \"C4 D4\"; generate 10 notes; generate 1 note",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("generated 10 notes: melody is 12 notes"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("generated 1 note: melody is 13 notes"),
        "{}",
        run.stdout
    );
}

#[test]
fn chord_symbols_and_lone_tonics_suggest_a_scale() {
    for (value, says) in [
        (
            "\"Dm\"",
            "`Dm` is a chord symbol, not a scale (did you mean \"D minor\"?)",
        ),
        (
            "Dm",
            "`Dm` is a chord symbol, not a scale (did you mean \"D minor\"?)",
        ),
        (
            "\"F#\"",
            "missing scale mode after `F#` (did you mean \"F# major\"?",
        ),
    ] {
        let (_dir, run) = tms_c(&format!("set scale {value}"));
        assert_eq!(run.code, 1, "{value}");
        assert!(run.stderr.contains(says), "{value}: {}", run.stderr);
    }
}

#[test]
fn a_midi_file_given_to_model_is_named_as_one() {
    let (_dir, run) = tms_c("prime notes \"C4\"; write \"t1.mid\"; model \"t1.mid\"");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(
            "error: cannot open model `t1.mid`: a MIDI file, not a model: use `prime` for a primer or `load` for a dataset"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn panic_and_a_knob_without_input_say_what_they_did() {
    let (_dir, run) = tms_c("panic; map cc 1 temperature 0.2 1.5");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "panic: no output connected, nothing sounds\n\
         cc 1 → temperature (0.2 to 1.5)\n\
         warning: no input port connected, so no knob can turn it yet (`ports`, then `connect in N`)\n"
    );
}

#[test]
fn a_where_that_matches_nothing_is_one_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.abc"),
        "X:1\nT:One\nM:4/4\nL:1/4\nK:C\nCDEF|\n",
    )
    .unwrap();
    let run = support::tms_in(
        dir.path(),
        &["-c", "load \"a.abc\" where title ~ \"Two\""],
        "",
    );
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "", "no summary of zeros before the error");
    assert!(
        run.stderr
            .contains("error: no tunes loaded: none of 1 matched title ~ \"Two\""),
        "{}",
        run.stderr
    );
}

#[test]
fn voices_fit_80_columns() {
    let (_dir, run) = tms_c(&format!(
        "model \"{}\"; voice \"bass\"; voices",
        support::root().join("models/folk.safetensors").display()
    ));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().filter(|l| l.contains("  ch ")).collect();
    assert_eq!(
        lines,
        [
            "  main  ch 1   silent   LSTM 384x1, 40 epochs, 0 notes",
            "* bass  ch 1   silent   LSTM 384x1, 40 epochs, 0 notes",
        ]
    );
    assert!(lines.iter().all(|l| l.chars().count() <= 80));
}

/// Against a real JACK server: `play` says what it plays and that it waits for the bar, and
/// `set tempo` while clock in leads says so once and leaves the tempo alone.
#[cfg(feature = "jack")]
#[test]
fn jack_play_says_what_it_plays_and_set_tempo_defers_to_clock_in() {
    use crate::jack_support::{ClockPeer, Jack, Sink};
    use std::time::Duration;
    let _jack = Jack::start();
    let _sink = Sink::new("synth");
    let _peer = ClockPeer::new("drums", 100.0);
    let mut tms = support::Prompt::start(support::tms_at_root(&[]));
    tms.type_line(
        "connect in \"drums\"; connect \"synth\"; clock in on; set quantize bar; prime notes \"C4 D4 E4 F4\"; play; set tempo 150; set tempo",
    );
    assert!(
        tms.wait_for("  now:", Duration::from_secs(20)),
        "{}",
        tms.printed()
    );
    let out = tms.printed();
    tms.quit();
    let playing: Vec<&str> = out.lines().filter(|l| l.starts_with("playing ")).collect();
    assert_eq!(playing.len(), 1, "{out}");
    assert!(
        playing[0].starts_with("playing 4 notes (")
            && playing[0].ends_with(" s) on channel 1, from the next bar"),
        "{out}"
    );
    // One line about the tempo, naming the followed tempo that `set tempo` then shows.
    let stays: Vec<&str> = out.lines().filter(|l| l.contains("tempo")).collect();
    let line = stays
        .iter()
        .find(|l| l.starts_with("tempo stays "))
        .unwrap_or_else(|| panic!("{out}"));
    let bpm = line
        .strip_prefix("tempo stays ")
        .and_then(|r| {
            r.split_once(" BPM: it follows MIDI clock in (`clock in off` to set it here)")
        })
        .map(|(b, _)| b)
        .unwrap_or_else(|| panic!("{line}"));
    assert_ne!(bpm, "150", "{out}");
    assert!(!out.contains("tempo = 150"), "{out}");
    assert!(out.contains("  now: "), "{out}");
}

#[test]
fn tms_help_lines_up_its_descriptions() {
    let dir = tempfile::tempdir().unwrap();
    let run = support::tms_in(dir.path(), &["--help"], "");
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("  tms"))
        .collect();
    assert_eq!(lines.len(), 6, "{}", run.stdout);
    // Every description starts in the same column, after at least two spaces.
    let column = |l: &str| {
        l.find("  ").and_then(|_| {
            let rest = &l[2..];
            rest.find("  ")
                .map(|i| 2 + i + rest[i..].len() - rest[i..].trim_start().len())
        })
    };
    let first = column(lines[0]).expect("a description column");
    for l in &lines {
        assert_eq!(column(l), Some(first), "{l:?} in\n{}", run.stdout);
    }
}

/// `help` on a terminal 60 columns wide: lines end at the edge, between words.
#[test]
fn help_on_a_narrow_terminal_wraps_between_words() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            r#"
import fcntl, os, pty, select, struct, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1]])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 60, 0, 0))
seen = b""
def read(until, limit):
    global seen
    end = time.time() + limit
    while until not in seen and time.time() < end:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                return
read(b"tms> ", 120)
start = len(seen)
os.write(fd, b"help voice\r")
read(b"example: voice", 30)
read(b"tms> ", 5)
os.write(fd, b"quit\r")
os.waitpid(pid, 0)
sys.stdout.write(seen[start:].decode("utf-8", "replace"))
"#,
            env!("CARGO_BIN_EXE_tms"),
        ])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("TERM", "dumb")
        .env("NO_COLOR", "1")
        .output()
        .expect("python3 runs");
    let screen = String::from_utf8_lossy(&out.stdout);
    let help: Vec<&str> = screen
        .split("\r\n")
        .skip_while(|l| !l.starts_with("voice \"NAME\""))
        .take_while(|l| !l.contains("example:"))
        .collect();
    assert!(help.len() > 3, "{screen}");
    for l in &help {
        assert!(
            l.chars().count() <= 60,
            "{l:?} is wider than the terminal:\n{screen}"
        );
    }
    let text = help
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        text.contains("output port and follows the one clock"),
        "a word was split: {text}"
    );
}

/// A long `generate` at a terminal shows how far it is; Ctrl-C stops it there.
#[test]
fn a_long_generate_shows_its_progress_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let model = support::root().join("models/folk.safetensors");
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            r#"
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1]])
seen = b""
def read(until, limit):
    global seen
    end = time.time() + limit
    while until not in seen and time.time() < end:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                return
read(b"tms> ", 120)
os.write(fd, ('model "%s"; prime notes "D4 E4 G4 A4"; generate 5000000\r' % sys.argv[2]).encode())
read(b"/5000000 notes, ", 120)
os.write(fd, b"\x03")
read(b"before Ctrl-C", 60)
read(b"tms> ", 10)
os.write(fd, b"quit\r")
os.waitpid(pid, 0)
sys.stdout.write(seen.decode("utf-8", "replace"))
"#,
            env!("CARGO_BIN_EXE_tms"),
            model.to_str().unwrap(),
        ])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .output()
        .expect("python3 runs");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        screen.contains("generating "),
        "no progress shown:\n{screen}"
    );
    assert!(screen.contains("/5000000 notes, "), "{screen}");
    assert!(screen.contains("before Ctrl-C"), "{screen}");
}
