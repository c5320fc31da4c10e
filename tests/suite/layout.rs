//! The house rules of the code's layout, checked on the source itself so that a change that
//! breaks one fails here, by name, instead of quietly growing a circle or a giant room.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The file's lines up to its tests, without comments.
fn code(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .take_while(|l| !l.starts_with("#[cfg(test)]"))
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .map(String::from)
        .collect()
}

/// Which of `floors` (module paths under `crate::`) the files under `dir` name.
fn reaches(dir: &str, floors: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for f in rust_files(&src().join(dir)) {
        for line in code(&f) {
            for floor in floors {
                if line.contains(&format!("crate::{floor}")) {
                    found.push(format!("{}: {line}", f.display()));
                }
            }
        }
    }
    found
}

#[test]
fn music_the_model_and_the_player_never_reach_up_into_the_language_or_the_session() {
    for dir in ["music", "model", "perform"] {
        let up = reaches(dir, &["lang", "session", "repl"]);
        assert!(up.is_empty(), "{dir} reaches up:\n{}", up.join("\n"));
    }
    let model_up = reaches("model", &["settings", "perform"]);
    assert!(
        model_up.is_empty(),
        "model reaches up:\n{}",
        model_up.join("\n")
    );
    let music_up = reaches("music", &["model", "settings", "perform"]);
    assert!(
        music_up.is_empty(),
        "music reaches up:\n{}",
        music_up.join("\n")
    );
}

#[test]
fn the_ground_floor_uses_nothing_of_tms() {
    let floors = [
        "lang", "session", "repl", "music", "model", "perform", "settings", "error", "fsio", "out",
        "render",
    ];
    let up = reaches("ground", &floors);
    assert!(up.is_empty(), "ground reaches up:\n{}", up.join("\n"));
}

#[test]
fn no_room_holds_more_than_900_lines_of_code() {
    let big: Vec<String> = rust_files(&src())
        .iter()
        .map(|f| (code(f).len(), f))
        .filter(|(n, _)| *n > 900)
        .map(|(n, f)| format!("{} has {n} lines of code", f.display()))
        .collect();
    assert!(big.is_empty(), "split along its seams:\n{}", big.join("\n"));
}

/// Names libtorch, as a path (`tch::…`) or an import.
fn names_libtorch(line: &str) -> bool {
    line.starts_with("use tch")
        || line.match_indices("tch::").any(|(i, _)| {
            i == 0
                || !line.as_bytes()[i - 1].is_ascii_alphanumeric() && line.as_bytes()[i - 1] != b'_'
        })
}

#[test]
fn only_the_training_side_of_the_model_names_libtorch() {
    // The stage (prompt, player, notation, files, generation) works on plain weights; what
    // needs tensors is these files of `model`, built only into the trainer process (README,
    // "Training in a process of its own"). Their libtorch code sits behind the `torch`
    // feature.
    let training = [
        "model/net.rs",
        "model/torch.rs",
        "model/train.rs",
        "model/finetune.rs",
        "model/scoring.rs",
        "model/batch.rs",
        "model/rhythm.rs",
        "model/cuda.rs",
        "model/serve.rs",
        "model/step_check.rs",
    ];
    let mut found = Vec::new();
    for f in rust_files(&src()) {
        let rel = f
            .strip_prefix(src())
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if training.contains(&rel.as_str()) {
            continue;
        }
        for line in code(&f) {
            if names_libtorch(&line) {
                found.push(format!("{rel}: {line}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "libtorch named outside training:\n{}",
        found.join("\n")
    );
    assert!(names_libtorch("let d = tch::Device::Cpu;"));
    assert!(!names_libtorch("Switch::On"));
}
