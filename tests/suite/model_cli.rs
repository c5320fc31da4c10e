//! The model as a user drives it: train, evaluate, save, open, generate, and the guarantees
//! around them (same script → same bytes, Ctrl-C keeps the model, a kill never corrupts a
//! checkpoint, a NaN restores good weights). The corpus is the primers in samples/, so these
//! tests need no download.

use crate::support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;
use tms::model::Model;

/// A small, fast model on the five primer tunes.
fn small_setup() -> String {
    format!(
        "load \"{}/samples/*.mid\"; set val 0.2; set hidden 32; set embed 8; set seq_len 16; set batch 8",
        root().display()
    )
}

fn little_star() -> String {
    format!("{}/samples/little_star.mid", root().display())
}

/// stdout without the parts that measure time.
fn untimed(s: &str) -> String {
    s.lines()
        .map(|l| match l.rfind("  ") {
            Some(i) if l.starts_with("epoch ") && l.ends_with(" s") => &l[..i],
            _ if l.starts_with("loaded ") => l.split(" in ").next().unwrap_or(l),
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn session_script() -> String {
    format!(
        "seed 11\ndevice cpu\n{}\nmodel new\ntrain 2\nprime \"{}\" last 10\ngenerate 64 temperature 0.9\nwrite \"out.mid\"\nsave \"m.safetensors\"\n",
        small_setup().replace("; ", "\n"),
        little_star()
    )
}

#[test]
fn the_same_script_writes_the_same_bytes() {
    let mut outputs = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s.tms"), session_script()).unwrap();
        let run = tms_in(dir.path(), &["run", "s.tms"], "");
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        assert!(
            run.stdout
                .contains("generated 64 notes: melody is 74 notes"),
            "{}",
            run.stdout
        );
        outputs.push((
            untimed(&run.stdout),
            read(dir.path(), "out.mid"),
            read(dir.path(), "m.safetensors"),
        ));
    }
    assert_eq!(outputs[0].0, outputs[1].0, "losses differ run to run");
    assert!(outputs[0].1 == outputs[1].1, "MIDI bytes differ run to run");
    assert!(outputs[0].2 == outputs[1].2, "weights differ run to run");
}

#[test]
fn each_precision_writes_its_own_melody_the_same_every_time() {
    // The shipped model: int8 (the default) and f32 steps sample from nearly the same
    // distributions, so the melodies agree for a while and then part; each is reproducible.
    let script = |precision: &str| {
        format!(
            "seed 7; model \"{}/models/folk.safetensors\"; set precision {precision}; prime \"{}\" last 10; generate 300; write \"{precision}.mid\"",
            root().display(),
            little_star()
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let mut written = Vec::new();
    for precision in ["int8", "f32", "int8", "f32"] {
        let run = tms_in(dir.path(), &["-c", &script(precision)], "");
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        assert!(
            run.stdout.contains(&format!("precision = {precision}")),
            "{}",
            run.stdout
        );
        written.push(read(dir.path(), &format!("{precision}.mid")));
    }
    assert!(
        written[0] == written[2],
        "int8 steps wrote other bytes the second time"
    );
    assert!(
        written[1] == written[3],
        "f32 steps wrote other bytes the second time"
    );
    assert!(written[0] != written[1], "`set precision` changed nothing");
}

#[test]
fn history_replays_a_session_to_the_same_bytes() {
    // No `seed` command: the session draws one, and history must record it.
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}; model new; train 1; prime \"{}\" last 10; generate 40; write \"a.mid\"; history \"h.tms\"",
        small_setup(),
        little_star()
    );
    let first = tms_in(dir.path(), &["-c", &text], "");
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    let script = String::from_utf8(read(dir.path(), "h.tms")).unwrap();
    assert!(script.starts_with("seed "), "{script}");
    let original = read(dir.path(), "a.mid");
    std::fs::remove_file(dir.path().join("a.mid")).unwrap();
    let replay = tms_in(dir.path(), &["run", "h.tms"], "");
    assert_eq!(replay.code, 0, "{}{}", replay.stdout, replay.stderr);
    assert!(
        read(dir.path(), "a.mid") == original,
        "replay wrote other bytes"
    );
}

#[test]
fn generating_twice_continues_one_melody() {
    let dir = tempfile::tempdir().unwrap();
    let base = format!(
        "seed 5; {}; model new; prime \"{}\" last 10",
        small_setup(),
        little_star()
    );
    let run = tms_in(
        dir.path(),
        &[
            "-c",
            &format!("{base}; generate 20; generate 20; write \"two.mid\""),
        ],
        "",
    );
    assert!(
        run.stdout
            .contains("generated 20 notes: melody is 30 notes"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("generated 20 notes: melody is 50 notes"),
        "{}",
        run.stdout
    );
    let run = tms_in(
        dir.path(),
        &["-c", &format!("{base}; generate 40; write \"one.mid\"")],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(read(dir.path(), "two.mid") == read(dir.path(), "one.mid"));
}

#[test]
fn a_saved_model_opens_and_scores_exactly_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let glob = format!("{}/samples/*.mid", root().display());
    let run = tms_in(
        dir.path(),
        &[
            "-c",
            &format!(
                "seed 2; {}; model new; train 1; save \"m.safetensors\"; evaluate \"{glob}\"",
                small_setup()
            ),
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let scores = |out: &str| {
        out.lines()
            .find(|l| l.starts_with("notes "))
            .map(str::to_string)
    };
    let before = scores(&run.stdout).expect("evaluate line");
    let run = tms_in(
        dir.path(),
        &[
            "-c",
            &format!("set seq_len 16; model \"m.safetensors\"; evaluate \"{glob}\""),
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("model: LSTM hidden 32 layers 1, input embed 8 with positions in the bar, head softmax with pointer, rhythm grid of 1/48 notes, 25115 parameters, 1 epoch trained, on cpu (opened)"),
        "{}",
        run.stdout
    );
    assert_eq!(scores(&run.stdout).expect("evaluate line"), before);
}

#[test]
fn save_and_open_round_trip_every_weight_and_setting() {
    use tms::model::{Head, Input, ModelConfig, Rhythm};
    let dir = tempfile::tempdir().unwrap();
    for config in [
        ModelConfig {
            hidden: 24,
            layers: 2,
            input: Input::Embed,
            head: Head::Softmax,
            embed: 6,
            pointer: true,
            position: true,
            degree: true,
            rhythm: Rhythm::Grid,
        },
        ModelConfig {
            hidden: 16,
            layers: 1,
            input: Input::Scalar,
            head: Head::Sigmoid,
            embed: 32,
            pointer: false,
            position: false,
            degree: false,
            rhythm: Rhythm::Regression,
        },
    ] {
        let m = tms::model::remote::new_model(config, tms::model::Device::Cpu, 9).unwrap();
        let path = dir.path().join("m.safetensors");
        m.save(&path).unwrap();
        let back = Model::open(&path, tms::model::Device::Cpu).unwrap();
        assert_eq!(back.config(), config);
        let notes = [(60, 0.0, 0.5), (62, 0.5, 0.5), (64, 0.5, 1.0)];
        assert_eq!(back.predict_next(&notes), m.predict_next(&notes));
    }
}

#[test]
fn files_that_are_not_models_get_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("notes.txt"), "C4 D4 E4\n").unwrap();
    let ok = tms_in(
        d,
        &[
            "-c",
            "set hidden 8; set embed 4; model new; save \"m.safetensors\"",
        ],
        "",
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let good = read(d, "m.safetensors");
    std::fs::write(d.join("cut.safetensors"), &good[..good.len() / 2]).unwrap();
    // The same file claiming another size: every tensor is now the wrong shape.
    let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(good[8..8 + header_len].to_vec()).unwrap();
    let resized = header.replace("\"hidden\":\"8\"", "\"hidden\":\"9\"");
    assert_ne!(resized, header, "{header}");
    let mut other = good.clone();
    other[8..8 + header_len].copy_from_slice(resized.as_bytes());
    std::fs::write(d.join("other.safetensors"), other).unwrap();
    let cases = [
        ("notes.txt", "cannot open model `notes.txt`: not a model file"),
        ("cut.safetensors", "cannot open model `cut.safetensors`: not a model file"),
        ("missing.safetensors", "cannot read `missing.safetensors`: no such file or directory"),
        (
            "other.safetensors",
            "cannot open model `other.safetensors`: tensor `lstm.weight_ih_l0`: shape [32, 14], expected [36, 14]",
        ),
    ];
    for (file, message) in cases {
        let run = tms_in(d, &["-c", &format!("model \"{file}\"")], "");
        assert_eq!(run.code, 1, "{file}");
        assert!(run.stderr.contains(message), "{file}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
}

#[test]
fn the_notebooks_pth_opens_as_the_notebooks_model_and_generates() {
    let pth = format!("{}/tests/fixtures/pth/notebook_zip.pth", root().display());
    let (dir, run) = tms_c(&format!(
        "seed 1; model \"{pth}\"; prime \"{}\" last 10; generate 16; write \"nb.mid\"",
        little_star()
    ));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "model: LSTM hidden 128 layers 1, input scalar, head sigmoid, 84866 parameters"
        ),
        "{}",
        run.stdout
    );
    assert!(dir.path().join("nb.mid").exists());
}

#[test]
fn keep_best_ends_with_the_best_validation_epoch() {
    // A large learning rate on four tunes overfits within a few epochs.
    let (_dir, run) = tms_c(&format!(
        "seed 3; {}; set hidden 64; set batch 4; set lr 0.01; model new; train 8; evaluate",
        small_setup()
    ));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let epochs: Vec<(usize, f64, String)> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("epoch "))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (
                w[1].parse().unwrap(),
                w[5].parse().unwrap(),
                w[8].to_string(),
            )
        })
        .collect();
    assert_eq!(epochs.len(), 8, "{}", run.stdout);
    let best = epochs
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("epochs");
    assert_ne!(best.0, 8, "the run should overfit:\n{}", run.stdout);
    assert!(
        run.stdout
            .contains(&format!("kept epoch {}, the best on validation", best.0)),
        "{}",
        run.stdout
    );
    // evaluate on the same validation split scores the kept weights.
    assert!(
        run.stdout.contains(&format!("pitch_nll {} ", best.2)),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("val loss "), "sparkline missing");
}

#[test]
fn train_again_continues_counting_epochs() {
    let (_dir, run) = tms_c(&format!(
        "seed 4; {}; model new; train 1; train 1",
        small_setup()
    ));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("\nepoch 1  train "), "{}", run.stdout);
    assert!(run.stdout.contains("\nepoch 2  train "), "{}", run.stdout);
}

#[test]
fn an_exploding_loss_restores_the_last_good_weights() {
    // The regression heads' squared error is what overflows (a cross-entropy grows slowly).
    let (_dir, run) = tms_c(&format!(
        "seed 3; {}; set rhythm regression; set optimizer sgd; set lr 10; set clip 0; loss step 1000000; model new; train 3; evaluate",
        small_setup()
    ));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("the loss became infinite or NaN at batch")
            && run
                .stdout
                .contains("restored the weights from before this epoch and stopped"),
        "{}",
        run.stdout
    );
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("notes "))
        .expect("evaluate");
    assert!(!line.contains("NaN") && !line.contains("inf"), "{line}");
}

#[test]
fn training_without_data_or_model_says_what_to_do() {
    let (_dir, run) = tms_c("train 1");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no dataset: use `load \"GLOB\"` first"),
        "{}",
        run.stderr
    );
    let (_dir, run) = tms_c("generate 4");
    assert!(
        run.stderr
            .contains("no model: use `model new` or `model \"FILE\"` first"),
        "{}",
        run.stderr
    );
}

/// Reads the child's stdout on a thread, so the test can wait for a line.
fn lines_of(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for(rx: &std::sync::mpsc::Receiver<String>, what: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            let hit = line.contains(what);
            seen.push(line);
            if hit {
                return;
            }
        }
    }
    panic!("no `{what}` in:\n{}", seen.join("\n"));
}

fn signal(child: &std::process::Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill -{sig}");
}

/// Ctrl-C once training runs: `train` stops after the batch it is in and the model keeps
/// what it learned. The signal is sent as epoch 1's line arrives; when the scheduler lets it
/// land before the trainer looks again (between two epochs, also correct: "interrupted
/// after epoch 1"), the test tries again, up to five times, for the mid-epoch case.
#[test]
fn ctrl_c_stops_training_after_the_batch_and_keeps_the_model() {
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tms"))
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path().join(".data"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tms runs");
        let mut stdin = child.stdin.take().unwrap();
        let rx = lines_of(&mut child);
        writeln!(
            stdin,
            "seed 8; {}; set batch 1; model new; train 1000",
            small_setup()
        )
        .unwrap();
        let mut seen = Vec::new();
        wait_for(&rx, "epoch 1  train", &mut seen);
        signal(&child, "INT");
        wait_for(&rx, "interrupted after ", &mut seen);
        writeln!(stdin, "save \"kept.safetensors\"\nquit").unwrap();
        drop(stdin);
        let status = child.wait().unwrap();
        assert!(status.success(), "{status:?}\n{}", seen.join("\n"));
        let m = Model::open(
            &dir.path().join("kept.safetensors"),
            tms::model::Device::Cpu,
        )
        .expect("kept model opens");
        assert!(m.epochs() >= 1, "{}", m.epochs());
        let said = seen.last().cloned().unwrap_or_default();
        if said.contains("interrupted after batch") {
            return;
        }
        assert!(said.contains("interrupted after epoch 1;"), "{said}");
        outcomes.push(said);
    }
    panic!("Ctrl-C never landed mid-epoch in five runs: {outcomes:?}");
}

#[test]
fn a_kill_at_any_moment_leaves_the_last_checkpoint_whole() {
    // A large model on a tiny corpus spends most of its time writing checkpoints, so the
    // kills land inside writes as well as between them.
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "seed 6; {}; set val 0; set hidden 640; set checkpoint_every 1; set checkpoint_dir \"ck\"; model new; train 100000",
        small_setup()
    );
    let latest = dir.path().join("ck/latest.safetensors");
    for (round, delay_ms) in [0u64, 37, 80, 130, 210].into_iter().enumerate() {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tms"))
            .args(["-c", &script])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tms runs");
        let deadline = Instant::now() + Duration::from_secs(300);
        let before = std::fs::metadata(&latest).and_then(|m| m.modified()).ok();
        // Wait for this run's first checkpoint, then kill it a little later.
        while std::fs::metadata(&latest).and_then(|m| m.modified()).ok() == before {
            assert!(Instant::now() < deadline, "no checkpoint in round {round}");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        signal(&child, "KILL");
        child.wait().unwrap();
        let m = Model::open(&latest, tms::model::Device::Cpu)
            .unwrap_or_else(|e| panic!("round {round}: latest checkpoint broken: {e}"));
        assert!(m.epochs() >= 1);
        for entry in std::fs::read_dir(dir.path().join("ck")).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "safetensors") {
                Model::open(&p, tms::model::Device::Cpu)
                    .unwrap_or_else(|e| panic!("round {round}: {} broken: {e}", p.display()));
            }
        }
    }
}

/// The far-key melody after `primer` in F# gong at `seed` and `precision`: the 64
/// generated pitches.
fn f_sharp_gong_after_d(seed: u64, precision: &str) -> Vec<u8> {
    let primer = "D4 E4 F#4 A4 B4 D5 B4 A4 F#4 E4 D4 E4";
    let (dir, run) = tms_c(&format!(
        "seed {seed}; model \"{}\"; set precision {precision}; prime notes \"{primer}\"; generate 64 scale \"F# gong\"; write \"out.mid\"",
        root().join("models/folk.safetensors").display()
    ));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "the model continues in the key it read; to fit the scale its notes sound 4 semitones higher\n"
        ),
        "{}",
        run.stdout
    );
    let notes = tms::music::midi::read_midi(&read(dir.path(), "out.mid")).unwrap();
    let generated: Vec<u8> = notes[12..].iter().map(|n| n.pitch).collect();
    assert_eq!(generated.len(), 64);
    let f_sharp_gong = tms::music::scale::Scale::parse("F# gong").unwrap().mask();
    assert!(
        generated.iter().all(|&p| f_sharp_gong[usize::from(p)]),
        "seed {seed}: a pitch outside F# gong in {generated:?}"
    );
    let distinct: std::collections::BTreeSet<u8> = generated.iter().copied().collect();
    assert!(
        distinct.len() >= 4,
        "seed {seed}: only {distinct:?} in {generated:?}"
    );
    generated
}

/// The longest run of one pitch.
fn longest_run(pitches: &[u8]) -> usize {
    pitches
        .chunk_by(|a, b| a == b)
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0)
}

/// Issue #14: a scale far from the primer's key used to leave the shipped model one pitch
/// to repeat (F# gong after a D pentatonic primer: one pitch 64 times, whatever the seed).
/// The model now continues in the primer's key and its notes are carried into the scale.
/// The check, seeds 1–3, on the model's own f32 numbers: many pitches, and no run of
/// one pitch longer than the held-out songs have (below). Since the rhythm has a
/// temperature of its own (0.6), seed 3 holds one pitch for 9 notes inside a melody of 8
/// pitches; seeds 1 and 2 repeat none more than 4 times.
#[test]
fn a_scale_far_from_the_primers_key_gets_a_varied_melody_in_that_scale() {
    let runs: Vec<usize> = (1..=3)
        .map(|seed| longest_run(&f_sharp_gong_after_d(seed, "f32")))
        .collect();
    assert!(
        runs.iter().all(|&r| r <= 12) && runs.iter().filter(|&&r| r > 4).count() <= 1,
        "one pitch repeated too often: longest runs {runs:?}"
    );
}

/// … and with the default int8 steps over twenty seeds. The model repeats a note five times
/// or more in about one 64-note melody in ten, as the held-out songs do (67 of han2's 670
/// tunes have such a run; their longest runs are 9, 9, 10 and 12 notes): never in more than
/// 3 of these 20, never longer than the corpus's longest, and never the drone the issue
/// found. (The model that reads positions makes one run of 9, at seed 20.)
#[test]
fn far_key_melodies_stay_varied_with_the_default_int8_steps() {
    let runs: Vec<usize> = (1..=20)
        .map(|seed| longest_run(&f_sharp_gong_after_d(seed, "int8")))
        .collect();
    let long = runs.iter().filter(|&&r| r > 4).count();
    assert!(
        long <= 3,
        "runs over 4 notes in {long} of 20 melodies: {runs:?}"
    );
    assert!(runs.iter().all(|&r| r <= 12), "{runs:?}");
}

/// Ctrl-C in the middle of `train 50` and of `generate 10000000`, then more work: `history`
/// records what the interrupted commands really did (`train 50 stop after K batches`,
/// `generate 10000000 stop after N notes`), and replaying it in a fresh directory writes
/// the same model, MIDI and ABC bytes.
#[test]
fn history_after_ctrl_c_replays_to_the_same_bytes() {
    let long = Duration::from_secs(300);
    let mut tms = Prompt::in_temp_dir_collecting_errors();
    tms.type_line(&format!(
        "{}; set batch 1; model new; train 50",
        small_setup()
    ));
    tms.line_starting("epoch 2  train", long);
    tms.signal("INT");
    // Mid-epoch 3 as a rule; after epoch 2 when the signal lands as its line is written.
    let stopped = loop {
        let line = tms.line_starting("", long);
        if line.contains("interrupted after ") {
            break line;
        }
    };
    tms.type_line(&format!(
        "prime \"{}\" last 10; set tempo 92; generate 10000000",
        little_star()
    ));
    tms.line_starting("tempo = 92", long);
    tms.signal("INT");
    let generated = tms.line_starting("generated ", long);
    let made: usize = generated
        .strip_prefix("generated ")
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{generated}"));
    assert!(
        generated.contains(" of 10000000 notes before Ctrl-C"),
        "{generated}"
    );
    tms.type_line(
        "train 1; generate 20; write \"live.mid\"; write \"live.abc\"; save \"live.safetensors\"; history \"h.tms\"",
    );
    while !tms
        .line_starting("wrote ", long)
        .ends_with("commands to h.tms")
    {}
    let files = ["live.safetensors", "live.mid", "live.abc"];
    let written: Vec<Vec<u8>> = files.iter().map(|f| read(tms.dir(), f)).collect();
    let script = String::from_utf8(read(tms.dir(), "h.tms")).unwrap();
    let errors = tms.quit();
    assert_eq!(errors.matches("error: interrupted").count(), 2, "{errors}");

    // Epochs 1 and 2 whole, then the batches of epoch 3 (an epoch's batch count varies
    // with the augmentation drawn for it).
    let in_third: usize = match stopped.strip_prefix("epoch 3: interrupted after batch ") {
        Some(s) => s
            .split('/')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{stopped}")),
        None => 0,
    };
    let recorded: usize = script
        .lines()
        .find_map(|l| l.strip_prefix("train 50 stop after "))
        .and_then(|s| s.strip_suffix(" batches"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `train 50 stop after K batches`:\n{script}"));
    assert!(recorded > in_third + 2, "{stopped}\n{script}");
    if made > 0 {
        assert!(
            script.contains(&format!("\ngenerate 10000000 stop after {made} notes\n")),
            "{script}"
        );
    }

    let replay = tempfile::tempdir().unwrap();
    std::fs::write(replay.path().join("h.tms"), &script).unwrap();
    let run = tms_in(replay.path(), &["run", "h.tms"], "");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for (file, bytes) in files.iter().zip(&written) {
        assert!(
            read(replay.path(), file) == *bytes,
            "replay wrote other bytes to {file}:\n{script}"
        );
    }
}
