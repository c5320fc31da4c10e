//! `train N background` as a user drives it: the prompt stays usable while the model trains,
//! `train` shows progress, `train stop` and `quit` leave a whole model, Ctrl-C at the prompt
//! leaves the run alone, and a script that waits for its run saves the same bytes as one
//! that trained in the foreground.

use crate::support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use support::*;
use tms::model::Model;
use tms::session::{Session, Source};

/// The five primer tunes and a small, fast model.
fn small_setup() -> String {
    format!(
        "seed 4; load \"{}/samples/*.mid\"; set val 0.2; set hidden 32; set embed 8; set seq_len 16; set batch 8; model new",
        root().display()
    )
}

/// As `small_setup`, with one window a batch: an epoch of many batches, so a run that is
/// stopped is stopped in the middle of one.
fn slow_setup() -> String {
    small_setup().replace("set batch 8", "set batch 1")
}

fn saved(dir: &std::path::Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn a_script_that_waits_for_background_training_saves_the_same_bytes_as_train() {
    let (fg_dir, fg) = tms_c(&format!(
        "{}; train 3; save \"m.safetensors\"",
        small_setup()
    ));
    assert_eq!(fg.code, 0, "{}", fg.stderr);
    let (bg_dir, bg) = tms_c(&format!(
        "{}; train 3 background; wait; save \"m.safetensors\"",
        small_setup()
    ));
    assert_eq!(bg.code, 0, "{}", bg.stderr);
    assert!(
        bg.stdout.contains("training 3 epochs in the background (`train` shows progress, `train stop` ends it, `wait` waits for it)"),
        "{}",
        bg.stdout
    );
    // The run's own lines are said too, once it is waited for.
    assert!(bg.stdout.contains("\nepoch 3  train "), "{}", bg.stdout);
    assert!(
        bg.stdout
            .contains("background training done; 3 of 3 epochs in "),
        "{}",
        bg.stdout
    );
    assert_eq!(
        saved(fg_dir.path(), "m.safetensors"),
        saved(bg_dir.path(), "m.safetensors")
    );
}

#[test]
fn train_alone_shows_progress_and_train_stop_keeps_a_whole_model() {
    let (dir, run) = tms_c(&format!(
        "{}; train 100000 background; sleep 1; train; train stop; save \"m.safetensors\"; history \"h.tms\"",
        slow_setup()
    ));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("training in the background: epoch "),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(" of 100000), batch "), "{}", run.stdout);
    // Where the stop lands is the scheduler's choice: mid-epoch (after a batch) or between
    // two epochs (the validation and the epoch's line take a good part of these short
    // epochs). Either way the run ends on whole weights and says where.
    assert!(
        run.stdout
            .contains("train stop: background training stopped in epoch ")
            || run
                .stdout
                .contains("train stop: background training stopped after epoch "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("keeps what it learned"),
        "{}",
        run.stdout
    );
    let model = Model::open(&dir.path().join("m.safetensors"), tms::model::Device::Cpu)
        .expect("a whole model file");
    assert!(model.describe().contains("epoch"), "{}", model.describe());
    // Showing progress changes nothing, so replaying the session does not train again.
    let history = std::fs::read_to_string(dir.path().join("h.tms")).unwrap();
    assert!(
        history.contains("train 100000 background\nsleep 1\ntrain stop\n"),
        "{history}"
    );
}

#[test]
fn the_prompt_stays_usable_and_quitting_stops_the_run() {
    let (_dir, run) = tms_c(&format!(
        "{}; train 100000 background; prime \"{}/samples/little_star.mid\"; generate 8; model new; quit",
        slow_setup(),
        root().display()
    ));
    assert!(run.stdout.contains("generated 8 notes"), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("training runs in the background (epoch "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("`train stop` or `wait` before a new model"),
        "{}",
        run.stderr
    );
    // The failed `model new` ends the script, which stops the run and says so.
    assert!(
        run.stdout.contains("quitting: background training stopped"),
        "{}",
        run.stdout
    );

    let (_dir, run) = tms_c(&format!(
        "{}; train 100000 background; sleep 0.5; quit",
        slow_setup()
    ));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("quitting: background training stopped"),
        "{}",
        run.stdout
    );
}

#[test]
fn ctrl_c_at_the_prompt_leaves_background_training_running() {
    let interrupt = Arc::new(AtomicBool::new(false));
    let mut session = Session::new(Some(4), interrupt.clone(), false);
    let (out, said) = tms::out::Out::buffer();
    session.out = out;
    let run = |s: &mut Session, text: &str| {
        s.run_source(&Source {
            name: "<prompt>",
            text,
        })
    };
    run(
        &mut session,
        &format!("{}; train 100000 background", slow_setup()),
    )
    .unwrap();
    // What Ctrl-C does: the flag the running command polls.
    interrupt.store(true, Ordering::SeqCst);
    assert!(run(&mut session, "sleep 5").is_err());
    session.clear_interrupt();
    run(&mut session, "sleep 0.5; train").unwrap();
    let text = String::from_utf8_lossy(&said.lock().unwrap()).into_owned();
    assert!(
        text.contains("training in the background: epoch "),
        "{text}"
    );
    run(&mut session, "train stop").unwrap();
    let text = String::from_utf8_lossy(&said.lock().unwrap()).into_owned();
    assert!(
        text.contains("train stop: background training stopped"),
        "{text}"
    );
}

#[test]
fn learn_needs_an_input_port_and_says_how_many_phrases_it_learned() {
    let (_dir, run) = tms_c(&format!(
        "model \"{}\"; learn; learn off; learn on",
        root().join("models/folk.safetensors").display()
    ));
    assert!(
        run.stdout
            .contains("not learning (`learn on` starts): 0 phrases learned\nwas not learning\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("no input port connected: use `ports`, then `connect in N`"),
        "{}",
        run.stderr
    );
    // The model is still there after `learn on` failed.
    let mut session = Session::new(Some(1), Arc::new(AtomicBool::new(false)), false);
    let (out, said) = tms::out::Out::buffer();
    session.out = out;
    let model = root().join("models/folk.safetensors");
    let text = format!("model \"{}\"", model.display());
    for line in [text.as_str(), "learn on", "model"] {
        let _ = session.run_source(&Source {
            name: "<prompt>",
            text: line,
        });
    }
    let text = String::from_utf8_lossy(&said.lock().unwrap()).into_owned();
    assert_eq!(text.matches("model: LSTM hidden ").count(), 2, "{text}");
    let (_dir, run) = tms_c("learn on");
    assert!(run.stderr.contains("no model"), "{}", run.stderr);
}
