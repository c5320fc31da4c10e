//! What the stage reads and how it ends, tried as an unfriendly user would: scripts that are
//! FIFOs, devices, directories or far too large, a script of a million bad lines, voices
//! without end and names that hide, signals at an idle prompt and during `watch`. Every case
//! must end at once with a clear line, never hang, never read without bound.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{self, tms_in, Prompt, Run};

/// `tms ARGS` in `dir` under a watchdog: a hang fails the test instead of blocking the suite.
fn tms_args(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new("timeout")
        .arg("120")
        .arg(env!("CARGO_BIN_EXE_tms"))
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("timeout runs tms");
    let run = Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    };
    assert_ne!(run.code, 124, "tms hung on {args:?}:\n{}", run.stderr);
    assert_ne!(run.code, 101, "tms panicked on {args:?}:\n{}", run.stderr);
    run
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

/// Peak resident memory (KB) of `tms ARGS`, measured by a Python parent that runs nothing
/// else (getrusage of its children), with the exit code.
fn peak_kb(dir: &Path, args: &[&str]) -> (u64, i32) {
    let out = Command::new("python3")
        .args([
            "-c",
            "import resource,subprocess,sys\n\
             r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)\n\
             print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)",
            env!("CARGO_BIN_EXE_tms"),
        ])
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    let kb = words.next().and_then(|w| w.parse().ok()).expect("peak");
    let code = words.next().and_then(|w| w.parse().ok()).expect("code");
    (kb, code)
}

#[test]
fn scripts_that_are_not_regular_files_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    mkfifo(&d.join("f.tms"));
    std::fs::create_dir(d.join("folder.tms")).unwrap();
    let fifo = "a named pipe (FIFO), not a regular file (tms reads only regular files)";

    let run = tms_args(d, &["run", "f.tms"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        format!("f.tms: error: cannot read script: {fifo}\n")
    );

    let run = tms_args(d, &["check", "/dev/zero"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("/dev/zero: error: cannot read script: a character device"),
        "{}",
        run.stderr
    );

    let run = tms_args(d, &["-c", r#"run "f.tms""#]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(&format!(
            "<command-line>:1:5: error: cannot read script `f.tms`: {fifo}"
        )),
        "{}",
        run.stderr
    );

    let run = tms_args(d, &["-c", r#"run "/dev/zero""#]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("a character device"), "{}", run.stderr);

    let run = tms_args(d, &["-c", r#"watch "/dev/zero""#]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("cannot watch `/dev/zero`: a character device, not a regular file"),
        "{}",
        run.stderr
    );

    // A directory is not watched: the error ends the script, and nothing stays armed.
    let run = tms_in(d, &[], "watch \"folder.tms\"\nwatch\n");
    assert!(
        run.stderr.contains(
            "<prompt>:1:1: error: cannot watch `folder.tms`: a directory, not a regular file"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("watching nothing"),
        "the watch stayed armed:\n{}",
        run.stdout
    );
}

#[test]
fn a_script_over_the_limit_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let big = std::fs::File::create(dir.path().join("big.tms")).unwrap();
    // Sparse: 600 MB claimed, nothing written.
    big.set_len(600 << 20).unwrap();
    let run = tms_args(dir.path(), &["check", "big.tms"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "big.tms: error: cannot read script: it is 600 MB, over the 16 MB a script may hold\n"
    );
    let run = tms_args(dir.path(), &["-c", r#"run "big.tms""#]);
    assert!(
        run.stderr
            .contains("cannot read script `big.tms`: it is 600 MB, over the 16 MB"),
        "{}",
        run.stderr
    );
    std::fs::write(dir.path().join("latin1.tms"), b"seed 1\n# caf\xe9\n").unwrap();
    let run = tms_args(dir.path(), &["run", "latin1.tms"]);
    assert_eq!(
        run.stderr,
        "latin1.tms: error: cannot read script: not UTF-8 text (an invalid byte on line 2)\n"
    );
}

#[test]
fn checking_and_running_a_long_script_costs_memory_for_its_text() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("one.tms"), "seed 1\n").unwrap();
    // Just under the limit, as one line of short commands: the tokens and commands of it
    // held at once took 66 times its size.
    let size = (16 << 20) - 64;
    let text = "seed 1;".repeat(size / 7);
    std::fs::write(d.join("long.tms"), &text).unwrap();
    let (base, code) = peak_kb(d, &["check", "one.tms"]);
    assert_eq!(code, 0);
    let (peak, code) = peak_kb(d, &["check", "long.tms"]);
    assert_eq!(code, 0);
    let allowed = (10 * text.len() as u64 + (50 << 20)) / 1024;
    assert!(
        peak - base <= allowed,
        "checking {} bytes took {} KB over an empty script's {base} KB (allowed {allowed} KB)",
        text.len(),
        peak - base
    );

    // Running one: 150,000 commands, each parsed as it runs.
    let text = "set temperature 0.9\n".repeat(150_000);
    std::fs::write(d.join("run.tms"), &text).unwrap();
    let (peak, code) = peak_kb(d, &["run", "run.tms"]);
    assert_eq!(code, 0);
    let allowed = (10 * text.len() as u64 + (50 << 20)) / 1024;
    assert!(
        peak - base <= allowed,
        "running {} bytes took {} KB more (allowed {allowed} KB)",
        text.len(),
        peak - base
    );
}

#[test]
fn a_broken_script_shows_its_first_hundred_errors_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.tms"), "sed 1\n".repeat(250)).unwrap();
    let run = tms_args(dir.path(), &["run", "bad.tms"]);
    assert_eq!(run.code, 1);
    let shown = run.stderr.matches("unknown command `sed`").count();
    assert_eq!(shown, 100, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "bad.tms: error: 150 more errors not shown (`tms check FILE` lists every one)\nbad.tms: 250 errors\n"
        ),
        "{}",
        run.stderr
    );
    // `check` is the one that lists every error.
    let run = tms_args(dir.path(), &["check", "bad.tms"]);
    assert_eq!(run.stderr.matches("unknown command `sed`").count(), 250);

    // And `run` inside a session: the same cut.
    let run = tms_args(dir.path(), &["-c", r#"run "bad.tms""#]);
    assert_eq!(run.stderr.matches("unknown command `sed`").count(), 100);
    assert!(
        run.stderr.contains("150 more errors not shown"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_session_holds_at_most_64_voices_and_says_so() {
    let script: Vec<String> = (1..=64).map(|i| format!("voice \"v{i}\"")).collect();
    let (_dir, run) = support::tms_c(&script.join("; "));
    assert_eq!(run.code, 1, "{}", run.stderr);
    // "main" and v1..v63 are 64 voices; v64 would be the 65th.
    assert!(run.stdout.contains("voice v63: new"), "{}", run.stdout);
    assert!(!run.stdout.contains("voice v64: new"), "{}", run.stdout);
    assert!(
        run.stderr.contains(
            "error: a session holds at most 64 voices: `voices` lists them; a voice of the same name is switched to, not created"
        ),
        "{}",
        run.stderr
    );
    let (_dir, run) = support::tms_c("help voice");
    assert!(run.stdout.contains("at most 64 voices"), "{}", run.stdout);
}

#[test]
fn voice_names_that_hide_or_turn_text_around_are_refused() {
    for (name, code) in [
        ("bass\u{202e}", "U+202E"),
        ("ba\u{2028}ss", "U+2028"),
        ("\u{200b}", "U+200B"),
        ("lead\u{2066}", "U+2066"),
    ] {
        let (_dir, run) = support::tms_c(&format!("voice \"{name}\""));
        assert_eq!(run.code, 1, "{name:?}: {}", run.stdout);
        assert!(
            run.stderr.contains(&format!(
                "a voice name cannot hold control or invisible characters (it holds {code})"
            )),
            "{name:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn sigterm_at_an_idle_prompt_ends_tms_with_130_and_writes_the_recording() {
    let mut tms = Prompt::in_temp_dir_collecting_errors();
    tms.ask("set tempo 99", "tempo = 99");
    tms.ask(r#"record "take.mid""#, "recording into take.mid");
    tms.signal("TERM");
    assert_eq!(tms.exit_code(Duration::from_secs(20)), Some(130));
    assert!(
        tms.printed().contains("wrote take.mid"),
        "{}",
        tms.printed()
    );
    let take = std::fs::read(tms.dir().join("take.mid")).expect("the recording is written");
    assert!(take.starts_with(b"MThd"), "{take:?}");
}

#[test]
fn an_interrupt_at_an_idle_prompt_does_not_cut_the_next_command_short() {
    let mut tms = Prompt::in_temp_dir_collecting_errors();
    tms.ask("set tempo 99", "tempo = 99");
    // The answer is printed before the command returns: a signal right after it can still
    // land inside `set tempo 99` on a loaded machine. Wait until the prompt is idle.
    std::thread::sleep(Duration::from_millis(300));
    // Nothing runs: this interrupts nothing, and must not linger for the next command.
    tms.signal("INT");
    std::thread::sleep(Duration::from_millis(300));
    tms.type_line("sleep 1");
    tms.ask("set tempo 98", "tempo = 98");
    let errors = tms.quit();
    assert!(
        !errors.contains("interrupted"),
        "a signal sent while idle cut `sleep 1` short:\n{errors}"
    );
}

/// `tms -c 'watch "w.tms"'` waiting for saves, then `signal`: 130, as everywhere.
fn watch_then(signal: &str) -> i32 {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("w.tms"), "seed 1\n").unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tms"));
    command
        .args(["-c", r#"watch "w.tms""#])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped());
    let mut tms = Prompt::start(command);
    assert!(
        tms.wait_for("watching w.tms until Ctrl-C", Duration::from_secs(120)),
        "{}",
        tms.printed()
    );
    tms.signal(signal);
    tms.exit_code(Duration::from_secs(20)).expect("tms ends")
}

#[test]
fn watch_ends_with_130_on_ctrl_c_and_on_sigterm() {
    assert_eq!(watch_then("INT"), 130);
    assert_eq!(watch_then("TERM"), 130);
}

#[test]
fn a_watched_file_replaced_by_a_fifo_ends_the_watch_and_the_prompt_answers() {
    let mut tms = Prompt::in_temp_dir_collecting_errors();
    let w = tms.dir().join("w.tms");
    std::fs::write(&w, "set tempo 91\n").unwrap();
    tms.ask(r#"watch "w.tms""#, "tempo = 91");
    std::fs::remove_file(&w).unwrap();
    mkfifo(&w);
    // The FIFO's creation is a save: it must be refused, not read (which would block).
    std::thread::sleep(Duration::from_millis(600));
    tms.ask("set tempo 92", "tempo = 92");
    tms.ask("watch", "watching nothing");
    let errors = tms.quit();
    assert!(
        errors.contains(
            "w.tms: error: stopped watching `w.tms`: a named pipe (FIFO), not a regular file (tms reads only regular files)"
        ),
        "{errors}"
    );
    assert!(!errors.contains(":0:0:"), "{errors}");
}

/// On a terminal rustyline holds the line in raw mode: SIGTERM there must end tms with 130
/// and give the terminal back in its ordinary (canonical, echoing) mode. Python's `pty`
/// plays the terminal; it prints the exit code and whether the mode was restored.
#[test]
fn sigterm_at_a_prompt_on_a_terminal_ends_tms_and_restores_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            r#"
import os, pty, select, signal, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1]])
seen, t0 = b"", time.time()
def read(until, limit):
    global seen
    end = time.time() + limit
    while until not in seen and time.time() < end:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                return
read(b"tms> ", 120)
os.write(fd, b"set tempo 9")
read(b"9", 10)
os.kill(pid, signal.SIGTERM)
_, status = os.waitpid(pid, 0)
lflag = termios.tcgetattr(fd)[3]
print(os.waitstatus_to_exitcode(status), bool(lflag & termios.ICANON), bool(lflag & termios.ECHO))
"#,
            env!("CARGO_BIN_EXE_tms"),
        ])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("TERM", "xterm")
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        "130 True True",
        "exit code, canonical mode, echo:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn writing_to_stdout_when_it_is_a_pipe_is_refused_with_the_reason() {
    // `history` takes any name (`write` wants an extension it knows).
    let (_dir, run) = support::tms_c(r#"seed 1; history "/dev/stdout""#);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("a named pipe (FIFO), not a regular file (tms writes only regular files)"),
        "{}",
        run.stderr
    );
}
