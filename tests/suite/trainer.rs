//! libtorch off the stage: `tms` never maps libtorch, what needs it runs in `tms-trainer`,
//! and a trainer that dies (killed, out of memory, an abort inside libtorch) costs one line,
//! never the session, the model's last whole epoch or the next `train`.

use crate::support;

use std::path::Path;
use std::time::Duration;

use support::*;
use tms::model::Model;

/// The shared libraries a process has mapped.
fn mapped(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default()
}

/// The live `tms-trainer` processes started by `pid`.
pub(crate) fn trainers_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for task in tasks.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for child in children
            .split_whitespace()
            .filter_map(|c| c.parse::<u32>().ok())
        {
            let comm = std::fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default();
            // A killed one nobody has asked anything of since is a zombie until then.
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit(')')
                .next()
                .is_some_and(|s| s.trim_start().starts_with('Z'));
            if comm.trim() == "tms-trainer" && !zombie {
                found.push(child);
            }
        }
    }
    found
}

/// The epochs a `model` line says the model has trained.
pub(crate) fn epochs_shown(line: &str) -> usize {
    line.split(" epoch")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no epochs in {line}"))
}

#[test]
fn the_stage_maps_no_libtorch_while_it_generates_plays_and_writes() {
    let mut tms = Prompt::in_temp_dir();
    let model = root().join("models/folk.safetensors");
    tms.ask(&format!("model \"{}\"", model.display()), "model: ");
    tms.ask("prime notes \"D4 E4 G4 A4\"", "primer");
    tms.ask("generate 64", "generated");
    tms.ask("write \"tune.mid\"", "wrote");
    tms.ask("write \"tune.abc\"", "wrote");
    let maps = mapped(tms.pid());
    assert!(maps.contains("[stack]"), "the maps of tms are readable");
    for lib in ["libtorch", "libc10"] {
        assert!(
            !maps.contains(lib),
            "{lib} is mapped by the stage:\n{}",
            maps.lines()
                .filter(|l| l.contains(lib))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert!(
        trainers_of(tms.pid()).is_empty(),
        "nothing asked for a trainer"
    );
    assert!(tms.dir().join("tune.mid").exists());
    tms.quit();
}

#[test]
fn a_trainer_killed_mid_run_costs_one_line_and_the_next_train_starts_another() {
    let mut tms = Prompt::in_temp_dir_collecting_errors();
    tms.ask(
        &format!(
            "seed 4; load \"{}/samples/*.mid\"; set val 0.2; set hidden 32; set embed 8; set seq_len 16; set batch 1",
            root().display()
        ),
        "loaded",
    );
    tms.ask("model new", "model: ");
    tms.type_line("train 400 background");
    tms.line_starting("epoch 2 ", Duration::from_secs(120));
    let pid = tms.pid();
    let trainers = trainers_of(pid);
    assert!(!trainers.is_empty(), "a trainer runs the training");
    for t in &trainers {
        signal(*t, "KILL");
    }
    // The run's end is told at the next command after the relay noticed it.
    let told = eventually(Duration::from_secs(60), || {
        tms.type_line("set tempo 100");
        std::thread::sleep(Duration::from_millis(200));
        tms.printed().contains("background training stopped: ")
    });
    assert!(told, "{}", tms.printed());
    let gone = tms.line_starting("background training stopped: ", Duration::from_secs(5));
    assert!(
        gone.contains("the trainer process was killed by signal 9"),
        "{gone}"
    );
    // The session goes on, with the epochs that reached it whole.
    let shown = tms.ask("model", "model: ");
    let epochs = epochs_shown(&shown);
    assert!(epochs >= 2, "{shown}");
    tms.ask("set batch 8", "batch");
    tms.type_line("train 1");
    tms.line_starting(&format!("epoch {} ", epochs + 1), Duration::from_secs(120));
    tms.ask("save \"m.safetensors\"", "saved");
    let saved = Model::open(&tms.dir().join("m.safetensors"), tms::model::Device::Cpu)
        .expect("a whole model");
    assert_eq!(saved.epochs(), epochs + 1);
    let replaced = trainers_of(pid);
    assert!(
        replaced.iter().all(|t| !trainers.contains(t)),
        "a new trainer, not the killed one"
    );
    tms.quit();
}

#[test]
fn tms_reports_a_missing_trainer_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tms"))
        .args(["-c", "set hidden 8; model new"])
        .env("TMS_TRAINER", "/nonexistent/tms-trainer")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot start the trainer `/nonexistent/tms-trainer`"),
        "{stderr}"
    );
    assert!(!Path::new("/nonexistent").exists());
}
