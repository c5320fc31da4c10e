//! The prompt on a real pseudo-terminal (through util-linux `script`), typed into as a
//! person would: tab completion, colour, errors that do not end the session, Ctrl-C that
//! stops a running command and gives the prompt back, and lines typed while a command runs.
//!
//! Every wait is for something to appear on the screen, with a deadline far longer than the
//! thing should take; no test sleeps to let something happen.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long any one expected thing may take to appear before the test fails.
const DEADLINE: Duration = Duration::from_secs(60);

/// `tms` running on a pseudo-terminal, with everything it has written so far.
struct Terminal {
    child: Child,
    keys: Option<ChildStdin>,
    screen: Arc<Mutex<Vec<u8>>>,
    _dir: tempfile::TempDir,
}

fn script_available() -> bool {
    let ok = Command::new("script").arg("--version").output().is_ok();
    if !ok {
        eprintln!("skipping: util-linux `script` is not installed");
    }
    ok
}

impl Terminal {
    fn start() -> Terminal {
        Terminal::start_with(&[("TERM", "xterm")])
    }

    /// Starts tms with these environment variables set (NO_COLOR is removed unless given).
    fn start_with(env: &[(&str, &str)]) -> Terminal {
        let dir = tempfile::tempdir().expect("tempdir");
        // `exec` makes tms itself the terminal's foreground process, so Ctrl-C reaches only
        // it, and `script -e` exits with its status.
        let cmd = format!("exec {}", env!("CARGO_BIN_EXE_tms"));
        let mut child = Command::new("script")
            .args(["-qfec", &cmd, "/dev/null"])
            .current_dir(dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .env("TMS_THREADS", "1")
            .env_remove("NO_COLOR")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("script starts");
        let keys = child.stdin.take();
        let mut out = child.stdout.take().expect("stdout");
        let screen = Arc::new(Mutex::new(Vec::new()));
        let sink = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let mut t = Terminal {
            child,
            keys,
            screen,
            _dir: dir,
        };
        t.wait_for("tms> ");
        t
    }

    fn raw(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    /// The screen without escape sequences and carriage returns.
    fn text(&self) -> String {
        plain(&self.raw())
    }

    fn press(&mut self, keys: &str) {
        let k = self.keys.as_mut().expect("terminal open");
        k.write_all(keys.as_bytes()).expect("type");
        k.flush().expect("type");
    }

    /// Waits until `what` appears on the screen; panics with the screen at the deadline.
    fn wait_for(&mut self, what: &str) {
        let end = Instant::now() + DEADLINE;
        while !self.text().contains(what) {
            if Instant::now() > end {
                panic!("`{what}` did not appear; screen:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ctrl-D at an empty prompt, then the exit status.
    fn quit(mut self) -> (String, Option<i32>) {
        self.press("\u{4}");
        drop(self.keys.take());
        let end = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s.code();
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!("tms did not quit on Ctrl-D; screen:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (self.text(), status)
    }
}

fn plain(raw: &str) -> String {
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
    plain
}

/// Ctrl-C while `start` (ending in a command that would run for minutes) is running: the
/// prompt comes back saying "interrupted", and the session goes on.
fn interrupt_after(start: &str, running: &str) {
    let mut t = Terminal::start();
    t.press(start);
    t.wait_for(running);
    t.press("\u{3}");
    t.wait_for("error: interrupted");
    t.press("set tempo 93\n");
    t.wait_for("tempo = 93");
    let (screen, status) = t.quit();
    assert_eq!(status, Some(0), "{screen}");
}

#[test]
fn tab_completes_a_setting_and_errors_keep_the_prompt() {
    if !script_available() {
        return;
    }
    let mut t = Terminal::start();
    t.press("set tempe\t 90\n");
    t.wait_for("error: invalid value");
    t.press("set tempo 90\n");
    t.wait_for("tempo = 90");
    let colored = has_colour(&t.raw());
    let (screen, status) = t.quit();
    assert!(colored, "a terminal gets colour");
    assert!(screen.contains("tms 0.1.0"), "banner: {screen}");
    assert!(
        screen.contains(
            "<prompt>:1:17: error: invalid value `90` for `temperature`: a number from 0 to 10"
        ),
        "tab completed `tempe` to `temperature`: {screen}"
    );
    assert_eq!(status, Some(0), "Ctrl-D quits cleanly: {screen}");
}

/// Tab into a folder lists what it holds; a completed file name closes its quote, so Enter
/// runs the command; `voice "` completes the session's voices, not file names.
#[test]
fn tab_enters_folders_closes_quotes_and_knows_the_voices() {
    if !script_available() {
        return;
    }
    let mut t = Terminal::start();
    let data = t._dir.path().join("datasets");
    std::fs::create_dir(&data).unwrap();
    for (file, title) in [("tune1.abc", "One"), ("tune2.abc", "Two")] {
        std::fs::write(
            data.join(file),
            format!("X:1\nT:{title}\nM:4/4\nL:1/4\nK:C\nCDEF|\n"),
        )
        .unwrap();
    }
    std::fs::write(t._dir.path().join("BENCHMARKS.md"), "not a voice").unwrap();
    t.press("load \"datas\t");
    t.wait_for("load \"datasets/");
    // The next Tab completes as far as the two files agree and lists them.
    t.press("\t");
    t.wait_for("tune1.abc  tune2.abc");
    t.wait_for("load \"datasets/tune");
    t.press("2\t\n");
    t.wait_for("loaded 1 file, 1 tune, 4 notes");
    t.press("voice \"bass\"\n");
    t.wait_for("tms:bass> ");
    t.press("voice \"m\t\n");
    t.wait_for("voice main on channel 1");
    let (screen, status) = t.quit();
    assert!(!screen.contains("error"), "{screen}");
    assert_eq!(status, Some(0), "{screen}");
}

#[test]
fn the_prompt_names_the_current_voice() {
    if !script_available() {
        return;
    }
    let mut t = Terminal::start();
    t.press("voice \"bass\"\n");
    t.wait_for("tms:bass> ");
    t.press("voice \"main\"\n");
    t.wait_for("voice main on channel 1");
    t.press("voices\n");
    t.wait_for("* main");
    let (screen, status) = t.quit();
    assert_eq!(status, Some(0), "{screen}");
    // The first voice is the plain prompt again.
    assert!(screen.trim_end().ends_with("tms>"), "{screen}");
}

#[test]
fn ctrl_c_stops_a_sleep() {
    if script_available() {
        interrupt_after("set tempo 91; sleep 3600\n", "tempo = 91");
    }
}

#[test]
fn ctrl_c_stops_training_after_the_current_batch() {
    if !script_available() {
        return;
    }
    let midi = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/zang-*.mid");
    interrupt_after(
        &format!(
            "load \"{midi}\"; set hidden 8; set seq_len 4; set batch 1; model new; train 100000\n"
        ),
        "training on",
    );
}

#[test]
fn ctrl_c_stops_a_long_generation() {
    if script_available() {
        interrupt_after(
            "set hidden 8; model new; prime notes \"C4 D4 E4\"; set tempo 92; generate 10000000\n",
            "tempo = 92",
        );
    }
}

#[test]
fn ctrl_c_at_an_idle_prompt_clears_the_line() {
    if !script_available() {
        return;
    }
    let mut t = Terminal::start();
    t.press("set tempo 95");
    t.wait_for("set tempo 95");
    t.press("\u{3}");
    t.wait_for("^C");
    t.press("set tempo 96\n");
    t.wait_for("tempo = 96");
    let (screen, status) = t.quit();
    assert!(!screen.contains("tempo = 95"), "{screen}");
    assert!(!screen.contains("error"), "{screen}");
    assert_eq!(status, Some(0), "{screen}");
}

#[test]
fn lines_typed_while_a_command_runs_run_in_order() {
    if !script_available() {
        return;
    }
    let mut t = Terminal::start();
    t.press("set tempo 90; sleep 5\n");
    t.wait_for("tempo = 90");
    // Typed during the sleep: two whole lines and the start of a third.
    t.press("set tempo 91\nset tempo 92\nset tem");
    t.wait_for("tempo = 92");
    t.press("po 93\n");
    t.wait_for("tempo = 93");
    let (screen, status) = t.quit();
    let at = |s: &str| screen.find(s).unwrap_or_else(|| panic!("no {s}: {screen}"));
    assert!(at("tempo = 91") < at("tempo = 92"), "{screen}");
    assert!(at("tempo = 92") < at("tempo = 93"), "{screen}");
    assert!(!screen.contains("error"), "{screen}");
    assert_eq!(status, Some(0), "{screen}");
}

/// Whether the text has a colour escape (`ESC [ … m`); cursor movement does not count.
fn has_colour(raw: &str) -> bool {
    raw.split('\u{1b}').skip(1).any(|esc| {
        esc.strip_prefix('[').is_some_and(|rest| {
            rest.chars()
                .find(|c| !c.is_ascii_digit() && *c != ';')
                .is_some_and(|c| c == 'm')
        })
    })
}

#[test]
fn no_colour_on_a_dumb_terminal_or_with_no_color() {
    if !script_available() {
        return;
    }
    for env in [
        [("TERM", "dumb"), ("X", "")],
        [("TERM", "xterm"), ("NO_COLOR", "1")],
    ] {
        let mut t = Terminal::start_with(&env);
        t.press("set tempo 90\n");
        t.wait_for("tempo = 90");
        t.press("sset\n");
        t.wait_for("error: unknown command `sset`");
        let raw = t.raw();
        let (screen, status) = t.quit();
        assert!(!has_colour(&raw), "{env:?}: {raw:?}");
        assert_eq!(status, Some(0), "{screen}");
    }
}

/// `watch` at the prompt: a save reruns the file while a line is half typed, the prompt is
/// written again below the run's output with the half line kept, and `unwatch` ends it.
#[test]
fn a_watched_file_reruns_while_a_line_is_half_typed() {
    if !script_available() {
        return;
    }
    let mut t = Terminal::start();
    let file = t._dir.path().join("live.tms");
    std::fs::write(&file, "set tempo 101\n").unwrap();
    t.press("watch \"live.tms\"\n");
    t.wait_for("tempo = 101");
    t.press("set temp");
    std::fs::write(&file, "set tempo 102\n").unwrap();
    t.wait_for("tempo = 102");
    t.press("o 90\n");
    t.wait_for("tempo = 90");
    t.press("unwatch\n");
    t.wait_for("stopped watching live.tms");
    std::fs::write(&file, "set tempo 103\n").unwrap();
    // A save after `unwatch` runs nothing: the next command's answer comes first and alone.
    t.press("set tempo 104\n");
    t.wait_for("tempo = 104");
    let (screen, status) = t.quit();
    assert!(!screen.contains("tempo = 103"), "{screen}");
    assert!(!screen.contains("error"), "{screen}");
    assert_eq!(status, Some(0), "{screen}");
}

/// Lines typed while a long `generate` runs are not lost to the Ctrl-C that stops it: they
/// run after it, in order, and a half-typed line is still there to finish at the prompt.
#[test]
fn lines_typed_ahead_run_after_ctrl_c_stops_the_command() {
    if !script_available() {
        return;
    }
    let mut t = Terminal::start();
    t.press("set hidden 8; model new; prime notes \"C4 D4 E4\"; set tempo 92; generate 10000000\n");
    t.wait_for("tempo = 92");
    t.press("set tempo 77\nset velocity 50\nset top_");
    // The terminal echoes what it holds: all of it has reached tms's input.
    t.wait_for("set top_");
    t.press("\u{3}");
    t.wait_for("error: interrupted");
    t.wait_for("velocity = 50");
    t.press("k 7\n");
    t.wait_for("top_k = 7");
    let (screen, status) = t.quit();
    let at = |s: &str| screen.find(s).unwrap_or_else(|| panic!("no {s}: {screen}"));
    assert!(at("error: interrupted") < at("tempo = 77"), "{screen}");
    assert!(at("tempo = 77") < at("velocity = 50"), "{screen}");
    assert_eq!(status, Some(0), "{screen}");
}
