//! `watch`: a script open in an editor reruns on every save, whichever way the editor saves,
//! once per save, while tms keeps going.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use crate::support::tms_c;

/// A running tms whose output lines (stdout and stderr) arrive as they are written.
struct Live {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Live {
    fn start(dir: &Path, args: &[&str]) -> Live {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tms"))
            .args(args)
            .current_dir(dir)
            .env("HOME", dir)
            .env("XDG_DATA_HOME", dir.join(".data"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tms runs");
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx2.send(line);
            }
        });
        let stdin = child.stdin.take();
        Live {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (up to 10 s) for a line containing `text`.
    fn expect(&mut self, text: &str) {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(50)) {
                self.seen.push(line.clone());
                if line.contains(text) {
                    return;
                }
            }
        }
        panic!(
            "no line with `{text}` within 10 s; saw:\n{}",
            self.seen.join("\n")
        );
    }

    /// Everything said in the next `quiet` of time.
    fn drain(&mut self, quiet: Duration) -> Vec<String> {
        let mut got = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(quiet) {
            self.seen.push(line.clone());
            got.push(line);
        }
        got
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("tms reads its input");
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runs(lines: &[String]) -> usize {
    lines
        .iter()
        .filter(|l| l.contains("saved: running it"))
        .count()
}

/// Lets the debounce settle and says how many runs the last save caused.
fn runs_after_save(tms: &mut Live, expect: &str) -> usize {
    tms.expect(expect);
    let before = tms.seen.clone();
    let later = tms.drain(Duration::from_millis(800));
    // The announcement comes before the output it announces.
    let from = before
        .iter()
        .rposition(|l| l.contains("saved: running it"))
        .unwrap_or(before.len());
    runs(&before[from..]) + runs(&later)
}

#[test]
fn every_kind_of_save_reruns_the_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("live.tms");
    std::fs::write(&file, "set tempo 101\n").unwrap();
    let mut tms = Live::start(dir.path(), &["-c", "watch \"live.tms\""]);
    tms.expect("tempo = 101");
    tms.expect("watching live.tms until Ctrl-C");

    // Truncate and write in place.
    std::fs::write(&file, "set tempo 102\n").unwrap();
    assert_eq!(
        runs_after_save(&mut tms, "tempo = 102"),
        1,
        "{:#?}",
        tms.seen
    );

    // Append.
    let mut f = OpenOptions::new().append(true).open(&file).unwrap();
    f.write_all(b"set tempo 103\n").unwrap();
    drop(f);
    assert_eq!(
        runs_after_save(&mut tms, "tempo = 103"),
        1,
        "{:#?}",
        tms.seen
    );

    // Write a new file beside it and rename it over the old one (vim, VS Code).
    let tmp = dir.path().join(".live.tms.swp");
    std::fs::write(&tmp, "set tempo 104\n").unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    assert_eq!(
        runs_after_save(&mut tms, "tempo = 104"),
        1,
        "{:#?}",
        tms.seen
    );

    // A mistake is shown with its place, and the next save runs again.
    std::fs::write(&file, "set tempo 105\nset tempo fast\n").unwrap();
    tms.expect("live.tms:2:11: error: invalid value `fast` for `tempo`");
    tms.expect("^^^^");
    std::fs::write(&file, "set tempo 106\n").unwrap();
    tms.expect("tempo = 106");
    assert!(
        tms.child.try_wait().unwrap().is_none(),
        "tms must keep watching after an error"
    );
}

#[test]
fn the_prompt_stays_usable_and_unwatch_ends_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("live.tms");
    std::fs::write(&file, "set tempo 90\n").unwrap();
    let mut tms = Live::start(dir.path(), &[]);
    tms.type_line("watch \"live.tms\"");
    tms.expect("tempo = 90");
    std::fs::write(&file, "set tempo 91\n").unwrap();
    tms.expect("tempo = 91");
    tms.type_line("set velocity 77");
    tms.expect("velocity = 77");
    tms.type_line("watch");
    tms.expect("watching live.tms");
    tms.type_line("unwatch");
    tms.expect("stopped watching live.tms");
    std::fs::write(&file, "set tempo 92\n").unwrap();
    let later = tms.drain(Duration::from_millis(800));
    assert_eq!(runs(&later), 0, "{later:#?}");
    tms.type_line("quit");
    let status = tms.child.wait().unwrap();
    assert!(status.success());
}

#[test]
fn watching_a_missing_file_or_itself_is_refused() {
    let (_dir, run) = tms_c("watch \"nowhere.tms\"");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("cannot watch `nowhere.tms`: no such file"),
        "{}",
        run.stderr
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("self.tms"), "watch \"self.tms\"\n").unwrap();
    let run = crate::support::tms_in(dir.path(), &["-c", "watch \"self.tms\""], "");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("self.tms:1:1: error: `watch` inside a watched file would rerun itself"),
        "{}",
        run.stderr
    );
}
