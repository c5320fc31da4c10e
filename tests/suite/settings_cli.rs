//! The settings table as a user meets it: `set`, `help SETTING`, `map`, and the commands that
//! describe the current state when given no arguments.

use crate::support;

use support::{tms_c, tms_in};
use tms::settings::SETTINGS;

/// `tms check` accepts exactly what `tms run` accepts: a knob on a setting that cannot be
/// turned live is refused by both, with the same caret. The whole table is checked
/// in-process (both commands parse with `tms::lang::parse` before anything runs); the binary
/// is run for one setting of each kind.
#[test]
fn check_and_run_agree_on_map_for_every_setting() {
    for s in SETTINGS {
        let script = format!("map cc 1 {} 0 1", s.name);
        let parsed = tms::lang::parse(&script);
        assert_eq!(
            parsed.errors.is_empty(),
            s.id.live().is_some(),
            "{script}: {:?}",
            parsed.errors
        );
    }
    let dir = tempfile::tempdir().unwrap();
    for (setting, ok) in [("lr", false), ("tempo", true)] {
        let script = format!("map cc 1 {setting} 0 1\n");
        std::fs::write(dir.path().join("k.tms"), &script).unwrap();
        let check = tms_in(dir.path(), &["check", "k.tms"], "");
        let run = tms_in(dir.path(), &["run", "k.tms"], "");
        assert_eq!(check.code == 0, ok, "{script}{}", check.stderr);
        assert_eq!(run.code == 0, ok, "{script}{}", run.stderr);
        if !ok {
            // `check` adds a count of errors after the same message.
            assert!(check.stderr.starts_with(&run.stderr), "{script}");
            assert!(
                run.stderr.starts_with(&format!(
                    "k.tms:1:10: error: `{setting}` cannot be turned by a knob; a knob can drive the live settings: temperature, rhythm_temperature, top_k,"
                )),
                "{}",
                run.stderr
            );
        }
    }
}

#[test]
fn help_for_a_setting_shows_its_range_default_and_value() {
    let (_d, run) = tms_c("set temperature 0.5; help temperature");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "temperature = 0.5
set temperature VALUE
  sampling temperature of pitch (0 = always the most likely, 1 = the model's own distribution)
  allowed: a number from 0 to 10
  default: 0.85
  now: 0.5
  changes take effect while music plays
  each voice has its own; `generate` also takes it for one call: generate 8 temperature 0.85
  example: set temperature 0.85
"
    );
    let (_d, run) = tms_c("help temprature");
    assert!(
        run.stderr.contains("(did you mean `temperature`?)"),
        "{}",
        run.stderr
    );
}

#[test]
fn bare_loss_device_and_model_describe_the_current_state() {
    let (_d, run) = tms_c("loss step 20; loss");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "loss weights: pitch 1 step 20 duration 0.2\nloss weights: pitch 1 step 20 duration 0.2\n"
    );
    let (_d, run) = tms_c("device");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("device auto (cpu); CUDA "),
        "{}",
        run.stdout
    );
    let (_d, run) = tms_c("model");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no model: use `model new`"),
        "{}",
        run.stderr
    );
    let (_d, run) = tms_c("set hidden 8; set embed 4; model new; model");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[3], lines[2], "`model` repeats what `model new` said");
    assert!(
        lines[3].contains("head softmax with pointer"),
        "{}",
        lines[3]
    );
    let (_d, run) = tms_c("set pointer off; set hidden 8; model new");
    assert!(run.stdout.contains("head softmax,"), "{}", run.stdout);
}

#[test]
fn all_zero_loss_weights_are_refused() {
    let (_d, run) = tms_c("loss pitch 0 step 0 duration 0");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("all three loss weights would be 0"),
        "{}",
        run.stderr
    );
    let (_d, run) = tms_c("loss step 0 duration 0; loss pitch 0");
    assert_eq!(run.code, 1, "the third zero is refused too");
}

#[test]
fn bare_queries_stay_out_of_history() {
    let (_d, run) = tms_c("set tempo 90; set; loss; device; map; history");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let history: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("seed "))
        .collect();
    assert_eq!(history[1..], ["set tempo 90"]);
}

#[test]
fn an_error_in_a_nested_script_points_into_that_script() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("inner.tms"), "seed 1\nset tempo 9000\n").unwrap();
    std::fs::write(dir.path().join("outer.tms"), "run \"inner.tms\"\n").unwrap();
    let run = tms_in(dir.path(), &["run", "outer.tms"], "");
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "inner.tms:2:11: error: invalid value `9000` for `tempo`: a number from 10 to 960
    set tempo 9000
              ^^^^
"
    );
}

/// Opening a model and saving it again keeps everything it was opened with, the record of
/// how it was trained included: the bytes are the same.
#[test]
fn a_resaved_model_keeps_everything() {
    let shipped = support::root().join("models/folk.safetensors");
    let (dir, run) = tms_c(&format!(
        "model \"{}\"; save \"again.safetensors\"",
        shipped.display()
    ));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let again = std::fs::read(dir.path().join("again.safetensors")).unwrap();
    assert!(
        again == std::fs::read(&shipped).unwrap(),
        "the bytes differ"
    );
}

#[test]
fn small_mistakes_get_clear_messages() {
    let (_d, run) = tms_c("prime notes \"C4 D4\"; generate 10 temp 0.5");
    assert!(
        run.stderr
            .contains("unknown option `temp` (did you mean `temperature`?)"),
        "{}",
        run.stderr
    );
    let (_d, run) = tms_c("prime notes \"C4 D4\"; render \"x.mp3\"");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("render writes WAV audio: give the file a .wav name"),
        "{}",
        run.stderr
    );
    let (_d, run) = tms_c("prime notes \"C4*0 D4\"");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("a note of length zero (use `r` for a rest)"),
        "{}",
        run.stderr
    );
    let (_d, run) = tms_c("load \"*.abc\" limit 0");
    assert!(run.stderr.contains("a tune count"), "{}", run.stderr);
}

#[test]
fn history_writes_programs_by_name() {
    let (_d, run) = tms_c("prime notes \"C4\"; write \"a.mid\" program \"shakuhachi\"; history");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("write \"a.mid\" program \"Shakuhachi\"\n"),
        "{}",
        run.stdout
    );
}

/// `evaluate`'s score depends on the context it reads, so its line says which.
#[test]
fn evaluate_names_its_context_length() {
    let samples = support::root().join("samples");
    let (_d, run) = tms_c(&format!(
        "set hidden 8; set embed 4; set seq_len 4; model new; evaluate \"{}/*.mid\"",
        samples.display()
    ));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("notes "))
        .unwrap();
    assert!(line.ends_with(" seq_len 4"), "{line}");
}

#[test]
fn part_of_a_program_name_suggests_the_whole_name() {
    for (typed, meant) in [
        ("Acoustic Grand", "Acoustic Grand Piano"),
        ("Piano", "Acoustic Grand Piano"),
    ] {
        let (_d, run) = tms_c(&format!("set program \"{typed}\""));
        assert_eq!(run.code, 1);
        assert!(
            run.stderr.contains(&format!("(did you mean \"{meant}\"?)")),
            "{typed}: {}",
            run.stderr
        );
    }
}

#[test]
fn unquoted_values_and_equals_signs_get_a_hint() {
    let (_d, run) = tms_c("set scale D yu");
    assert_eq!(
        run.stderr,
        "<command-line>:1:13: error: a value of several words is quoted: set scale \"D yu\"; usage: set [NAME [VALUE]]
    set scale D yu
                ^^
"
    );
    let (_d, run) = tms_c("load \"x/*.abc\" where notes = \"Zang\"");
    assert!(
        run.stderr.contains("a filter is `where FIELD ~ \"TEXT\"`"),
        "{}",
        run.stderr
    );
}

#[test]
fn load_takes_one_abc_tune_and_explains_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("two.abc"),
        "X:1\nT:One\nK:C\nCDEF|\n\nX:2\nT:Two\nK:C\nGABc|cBAG|\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("songs")).unwrap();
    let run = tms_in(
        dir.path(),
        &[
            "-c",
            "load \"two.abc#2\"; export \"two.csv\"; load \"songs\"",
        ],
        "",
    );
    assert!(
        run.stdout.starts_with("loaded 1 file, 1 tune, 8 notes"),
        "{}",
        run.stdout
    );
    let csv = std::fs::read_to_string(dir.path().join("two.csv")).unwrap();
    assert!(
        csv.lines().skip(1).all(|l| l.starts_with("two.abc#2,")),
        "{csv}"
    );
    assert!(
        run.stderr
            .contains("`songs` is a folder: load the files in it, e.g. \"songs/*.mid\""),
        "{}",
        run.stderr
    );
}

/// A validation split too short to score is said as such, never as a perfect 0.0000.
#[test]
fn an_unscorable_validation_split_says_so() {
    let samples = support::root().join("samples");
    let (_d, run) = tms_c(&format!(
        "seed 1; load \"{}/*.mid\"; set seq_len 1000; set hidden 8; set embed 4; set val 0.5; model new; train 1",
        samples.display()
    ));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "val pitch_nll not scored (no validation tune has more than seq_len 1000 notes; lower seq_len)"
        ),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("pitch_nll 0.0000"), "{}", run.stdout);
}

/// Output to a reader that went away (`tms -c '…' | head -c 10`) neither panics nor skips
/// the commands after it: the model is still saved.
#[test]
fn a_closed_stdout_does_not_stop_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tms"))
        .args([
            "-c",
            "help; help settings; set hidden 8; set embed 4; model new; set; save \"x.safetensors\"",
        ])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("x.safetensors").exists());
}

/// Ctrl-C between epochs stops training even when an epoch is a single batch.
#[test]
fn ctrl_c_stops_training_between_single_batch_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let samples = support::root().join("samples");
    let script = format!(
        "seed 1; load \"{}/*.mid\"; set batch 65536; set hidden 8; set embed 4; set val 0; model new; train 100000",
        samples.display()
    );
    let (code, stderr) = crate::cli::interrupt_when(dir.path(), &["-c", &script], "epoch 1 ");
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("error: interrupted"), "{stderr}");
}

/// A script run by `run` is parsed as a whole too: every syntax error in it is shown, in its
/// own file and line.
#[test]
fn a_nested_script_shows_every_syntax_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("inner.tms"),
        "sed 1\nset tempo 90\nset temprature 1\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("outer.tms"), "run \"inner.tms\"\n").unwrap();
    let run = tms_in(dir.path(), &["run", "outer.tms"], "");
    assert_eq!(run.code, 1);
    assert!(run.stdout.is_empty(), "nothing ran: {}", run.stdout);
    assert!(
        run.stderr
            .starts_with("inner.tms:1:1: error: unknown command `sed`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("\ninner.tms:3:5: error: unknown setting `temprature`"),
        "{}",
        run.stderr
    );
}
