//! Ableton Link (`link on|off`). With the `link` feature two real `tms` processes on this
//! machine join one Link session and share its tempo (`make test` runs them as `cargo test
//! --features link --test suite link::`); without it, `link on` says how to get Link.

#[cfg(not(feature = "link"))]
#[test]
fn without_the_link_feature_link_on_says_how_to_build_it() {
    use super::support::tms_c;
    let (_dir, run) = tms_c("link on");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("built without Ableton Link")
            && run.stderr.contains("make build FEATURES=link")
            && run.stderr.contains("GPL-2.0-or-later"),
        "{}",
        run.stderr
    );
    // Scripts parse and run the same in every build: off is what it already is.
    let (_dir, run) = tms_c("link off; link");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("link: off\nlink: off ("),
        "{}",
        run.stdout
    );
}

#[cfg(feature = "link")]
mod peers {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Child, ChildStdin, Command, Stdio};
    use std::sync::mpsc::{channel, Receiver};
    use std::time::{Duration, Instant};

    /// Why two processes here may not see each other, for the failure message.
    const WHY: &str = "Link peers on one machine find each other by UDP multicast to \
        224.76.78.75:20808 on every interface, the loopback one included: a machine whose \
        interfaces have no MULTICAST flag (`ip link`) or whose firewall drops that traffic \
        keeps them apart";

    /// A `tms` prompt driven line by line through a pipe, as a musician types.
    struct Prompt {
        child: Child,
        stdin: Option<ChildStdin>,
        lines: Receiver<String>,
        _dir: tempfile::TempDir,
    }

    impl Prompt {
        fn start() -> Prompt {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut child = Command::new(env!("CARGO_BIN_EXE_tms"))
                .current_dir(dir.path())
                .env("HOME", dir.path())
                .env("XDG_DATA_HOME", dir.path().join(".data"))
                .env("NO_COLOR", "1")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("tms runs");
            let stdout = child.stdout.take().expect("stdout");
            let (tx, lines) = channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            let stdin = child.stdin.take();
            Prompt {
                child,
                stdin,
                lines,
                _dir: dir,
            }
        }

        fn type_line(&mut self, line: &str) {
            let stdin = self.stdin.as_mut().expect("the prompt is open");
            writeln!(stdin, "{line}").expect("tms reads its prompt");
        }

        /// The next line that starts with `start`, skipping the others.
        fn line_starting(&self, start: &str, within: Duration) -> String {
            let deadline = Instant::now() + within;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.lines.recv_timeout(left) {
                    Ok(line) if line.starts_with(start) => return line,
                    Ok(_) => {}
                    Err(_) => panic!("no line starting with {start:?} within {within:?}"),
                }
            }
        }

        /// Types `command` and returns the answer starting with `start`.
        fn ask(&mut self, command: &str, start: &str) -> String {
            self.type_line(command);
            // A debug build on a busy machine starts slowly (libtorch loads first).
            self.line_starting(start, Duration::from_secs(120))
        }

        /// Asks `link` until `ok` holds for the answer, or `within` passes.
        fn link_until(&mut self, within: Duration, ok: impl Fn(&str) -> bool) -> String {
            let deadline = Instant::now() + within;
            loop {
                let line = self.ask("link", "link: ");
                if ok(&line) || Instant::now() > deadline {
                    return line;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    impl Drop for Prompt {
        fn drop(&mut self) {
            // End of input quits the prompt, which leaves the Link session.
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

    #[test]
    fn two_processes_share_a_tempo_and_the_second_adopts_the_first() {
        let mut first = Prompt::start();
        first.ask("set tempo 97", "tempo = 97");
        let joined = first.ask("link on", "link: on");
        assert!(joined.contains("tempo 97,"), "{joined}");

        // Link keeps the older of two sessions; ones started within half a second of each
        // other are ordered by their random ids instead. A second more makes the first older.
        std::thread::sleep(Duration::from_secs(1));
        let mut second = Prompt::start();
        second.ask("set tempo 140", "tempo = 140");
        let asked = Instant::now();
        let joined = second.ask("link on", "link: on");
        let discovery = asked.elapsed();
        let seen = if joined.contains("1 peer,") {
            joined.clone()
        } else {
            second.link_until(Duration::from_secs(20), |l| l.contains("1 peer,"))
        };
        assert!(seen.contains("1 peer,"), "no peer: {seen}\n{WHY}");
        println!(
            "link: `link on` answered in {:.3} s, {}",
            discovery.as_secs_f64(),
            if joined.contains("1 peer,") {
                "with its peer found"
            } else {
                "before its peer was found"
            }
        );
        assert!(
            seen.contains("tempo 97,"),
            "the second process keeps its own tempo instead of adopting the session's: {seen}"
        );
        // The `tempo` setting itself follows the session, as `help tempo` shows.
        assert_eq!(second.ask("help tempo", "  now:"), "  now: 97");
        // The session's beat leads the player: quantized starts wait for Link's bar.
        let clock = second.ask("clock", "clock: ");
        assert!(clock.contains("Ableton Link at 97.00 BPM"), "{clock}");

        // `set tempo` changes the session's tempo for every peer.
        second.ask("set tempo 100", "tempo = 100");
        let heard = first.link_until(Duration::from_secs(20), |l| l.contains("tempo 100,"));
        assert!(heard.contains("tempo 100,"), "{heard}");
        assert_eq!(first.ask("help tempo", "  now:"), "  now: 100");

        // Bar phases agree: both put one moment at one place in the 4-beat bar.
        let phase = |p: &mut Prompt| -> f64 {
            let line = p.ask("link", "link: on");
            let before = line.split(" into a").next().expect("a phase");
            before
                .rsplit(' ')
                .next()
                .expect("a number")
                .parse()
                .expect("phase")
        };
        let start = Instant::now();
        let a = phase(&mut first);
        let b = phase(&mut second);
        // The second answer came between 0 and `window` beats after the first (the asks
        // take turns), so its phase is that much further on, modulo the bar.
        let window = start.elapsed().as_secs_f64() * 100.0 / 60.0;
        let ahead = (b - a).rem_euclid(4.0);
        assert!(
            ahead <= window + 0.05 || ahead >= 4.0 - 0.05,
            "phases {a} then {b} disagree (at most {window:.3} beats apart)"
        );

        second.ask("link off", "link: off");
        // The internal clock takes over at the tempo the session had.
        let clock = second.ask("clock", "clock: ");
        assert!(clock.contains("internal clock at 100.00 BPM"), "{clock}");
        let alone = first.link_until(Duration::from_secs(20), |l| l.contains("0 peers,"));
        assert!(alone.contains("0 peers,"), "{alone}");
    }
}
