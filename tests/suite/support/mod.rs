//! Running the real `tms` binary the way a user does, and reading what they would see.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

fn finish(out: Output) -> Run {
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

pub fn tms_in(dir: &Path, args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tms"))
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join(".data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tms runs");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    finish(child.wait_with_output().expect("tms finishes"))
}

/// Runs `tms -c TEXT` in a fresh temporary directory.
pub fn tms_c(text: &str) -> (tempfile::TempDir, Run) {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = tms_in(dir.path(), &["-c", text], "");
    (dir, run)
}

/// The repository root, for scripts and data the tests use.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}
