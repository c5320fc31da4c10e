//! The prompt on a real pseudo-terminal (through util-linux `script`): tab completion,
//! colour, and errors that do not end the session.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Types each chunk into the prompt with a pause (as a person would), returns the screen
/// text with escape sequences removed, and whether the raw text had colour.
fn type_into_prompt(chunks: &[&str]) -> Option<(String, bool)> {
    let dir = tempfile::tempdir().ok()?;
    let cmd = format!("{} ; echo EXIT=$?", env!("CARGO_BIN_EXE_tms"));
    let mut child = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .current_dir(dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    std::thread::sleep(Duration::from_millis(1500));
    for c in chunks {
        stdin.write_all(c.as_bytes()).ok()?;
        stdin.flush().ok()?;
        std::thread::sleep(Duration::from_millis(400));
    }
    drop(stdin);
    let out = child.wait_with_output().ok()?;
    let raw = String::from_utf8_lossy(&out.stdout).into_owned();
    let colored = raw.contains("\u{1b}[");
    let mut plain = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else if c != '\r' {
            plain.push(c);
        }
    }
    Some((plain, colored))
}

#[test]
fn tab_completes_a_setting_and_errors_keep_the_prompt() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipping: util-linux `script` is not installed");
        return;
    }
    let (screen, colored) =
        type_into_prompt(&["set tempe\t 90\n", "set tempo 90\n", "\u{4}"]).expect("pty session");
    assert!(colored, "a terminal gets colour");
    assert!(screen.contains("tms 0.1.0"), "banner: {screen}");
    assert!(
        screen.contains(
            "<prompt>:1:17: error: invalid value `90` for `temperature`: a number from 0 to 10"
        ),
        "tab completed `tempe` to `temperature`: {screen}"
    );
    assert!(screen.contains("tempo = 90"), "{screen}");
    assert!(screen.contains("EXIT=0"), "Ctrl-D quits cleanly: {screen}");
}
