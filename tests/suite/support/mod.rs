//! Running the real `tms` binary the way a user does, and reading what they would see.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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

/// `tms -c TEXT` in `dir`.
pub fn tms_c_in(dir: &Path, text: &str) -> Run {
    tms_in(dir, &["-c", text], "")
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

/// The `tms` binary run from the repository root (where `models/` and `samples/` are), its
/// stdin closed and its output captured.
pub fn tms_at_root(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tms"));
    c.args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Polls `f` every 5 ms until it holds or `limit` passes; whether it held.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    f()
}

/// Collects what a pipe carries, line by line, as it comes.
fn collect(pipe: impl Read + Send + 'static) -> (Arc<Mutex<String>>, JoinHandle<()>) {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut t = sink.lock().unwrap();
            t.push_str(&line);
            t.push('\n');
        }
    });
    (text, reader)
}

/// `tms` at its prompt, typed into line by line through a pipe as a musician types (no
/// terminal: repl_pty.rs drives one); what it prints is collected as it comes. Dropping it
/// closes its input, which quits the prompt, and kills it if it has not gone in 20 s.
pub struct Prompt {
    child: Child,
    stdin: Option<ChildStdin>,
    printed: Arc<Mutex<String>>,
    /// stderr when `command` piped it.
    errors: Option<(Arc<Mutex<String>>, JoinHandle<()>)>,
    reader: Option<JoinHandle<()>>,
    /// How much of `printed` `line_starting` has read.
    read_to: usize,
    _dir: Option<tempfile::TempDir>,
}

impl Prompt {
    /// Starts `command` (a `tms` command line: its directory, environment and stderr as
    /// it sets them) with its stdin and stdout piped here.
    pub fn start(mut command: Command) -> Prompt {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("tms runs");
        let stdin = child.stdin.take();
        let (printed, reader) = collect(child.stdout.take().expect("stdout"));
        let errors = child.stderr.take().map(collect);
        Prompt {
            child,
            stdin,
            printed,
            errors,
            reader: Some(reader),
            read_to: 0,
            _dir: None,
        }
    }

    /// `tms` in a fresh temporary directory of its own (HOME too, so no history or
    /// settings of the machine's user), without colour, stderr shown with the test's.
    pub fn in_temp_dir() -> Prompt {
        Prompt::in_temp_dir_with(Stdio::inherit())
    }

    /// [`Prompt::in_temp_dir`], with stderr collected for [`Prompt::quit`] to return.
    pub fn in_temp_dir_collecting_errors() -> Prompt {
        Prompt::in_temp_dir_with(Stdio::piped())
    }

    fn in_temp_dir_with(stderr: Stdio) -> Prompt {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut command = Command::new(env!("CARGO_BIN_EXE_tms"));
        command
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path().join(".data"))
            .env("NO_COLOR", "1")
            .stderr(stderr);
        let mut prompt = Prompt::start(command);
        prompt._dir = Some(dir);
        prompt
    }

    /// The temporary directory tms runs in ([`Prompt::in_temp_dir`]).
    pub fn dir(&self) -> &Path {
        self._dir
            .as_ref()
            .expect("a prompt in a temporary directory")
            .path()
    }

    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("the prompt is open");
        writeln!(stdin, "{line}").expect("tms reads its prompt");
        stdin.flush().expect("tms reads its prompt");
    }

    /// Everything printed so far.
    pub fn printed(&self) -> String {
        self.printed.lock().unwrap().clone()
    }

    /// Waits until tms printed something containing `text`.
    pub fn wait_for(&self, text: &str, limit: Duration) -> bool {
        eventually(limit, || self.printed().contains(text))
    }

    /// The next whole line not read yet that starts with `start`, skipping the others.
    pub fn line_starting(&mut self, start: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let printed = self.printed();
            let unread = &printed[self.read_to..];
            let mut at = 0;
            for line in unread.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
                at += line.len();
                if line.starts_with(start) {
                    self.read_to += at;
                    return line.trim_end_matches('\n').to_string();
                }
            }
            self.read_to += at;
            assert!(
                Instant::now() < deadline,
                "no line starting with {start:?} within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Types `command` and returns the answer starting with `start` (two minutes: a debug
    /// build on a busy machine starts slowly, libtorch loading first).
    pub fn ask(&mut self, command: &str, start: &str) -> String {
        self.type_line(command);
        self.line_starting(start, Duration::from_secs(120))
    }

    /// `quit`: tms must exit cleanly. Returns what it printed on stderr, when piped.
    pub fn quit(mut self) -> String {
        self.type_line("quit");
        drop(self.stdin.take());
        let status = self.child.wait().expect("tms exits");
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let errors = match self.errors.take() {
            Some((text, reader)) => {
                let _ = reader.join();
                let text = text.lock().unwrap().clone();
                text
            }
            None => String::new(),
        };
        assert!(status.success(), "tms exited with {status}: {errors}");
        errors
    }
}

impl Prompt {
    /// tms's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends the signal (`TERM`, `INT`, …) to tms.
    pub fn signal(&self, name: &str) {
        signal(self.child.id(), name);
    }

    /// Waits for tms to exit by itself; its exit code, or None if it is still running
    /// after `limit`.
    pub fn exit_code(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// `kill -s NAME PID`.
pub fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill -s {name} {pid}");
}

impl Drop for Prompt {
    fn drop(&mut self) {
        // End of input quits the prompt (and leaves a Link session, stops playing).
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
