//! The command line as a user meets it: modes, exit codes, and error messages exactly as
//! printed.

use crate::support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{tms_c, tms_in};

#[test]
fn a_typo_in_a_setting_reads_like_the_contract() {
    let (_d, run) = tms_c("seed 1\nset temprature 0.8");
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "<command-line>:2:5: error: unknown setting `temprature` (did you mean `temperature`?)\n    set temprature 0.8\n        ^^^^^^^^^^\n"
    );
}

#[test]
fn values_outside_a_settings_range_say_what_is_allowed() {
    let (_d, run) = tms_c("set seq_len 0");
    assert_eq!(
        run.stderr,
        "<command-line>:1:13: error: invalid value `0` for `seq_len`: an integer from 1 to 4096\n    set seq_len 0\n                ^\n"
    );
    let (_d, run) = tms_c("set optimizer adamw");
    assert!(
        run.stderr.contains(
            "invalid value `adamw` for `optimizer`: one of sgd, adam (did you mean `adam`?)"
        ),
        "{}",
        run.stderr
    );
    let (_d, run) = tms_c("set lr abc");
    assert!(
        run.stderr
            .contains("invalid value `abc` for `lr`: a number from"),
        "{}",
        run.stderr
    );
}

#[test]
fn unknown_commands_suggest_the_closest() {
    let (_d, run) = tms_c("genrate 10");
    assert_eq!(
        run.stderr,
        "<command-line>:1:1: error: unknown command `genrate` (did you mean `generate`?)\n    genrate 10\n    ^^^^^^^\n"
    );
}

#[test]
fn check_reports_every_syntax_error_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.tms"),
        "seed 1\nsed 2\nset temprature 1\ngenerate\nload \"open\n",
    )
    .unwrap();
    let run = tms_in(dir.path(), &["check", "bad.tms"], "");
    assert_eq!(run.code, 1);
    let heads: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("bad.tms"))
        .collect();
    assert_eq!(
        heads,
        vec![
            "bad.tms:2:1: error: unknown command `sed` (did you mean `seed`?)",
            "bad.tms:3:5: error: unknown setting `temprature` (did you mean `temperature`?)",
            "bad.tms:4:9: error: missing a note count; usage: generate N [notes|bars] [temperature T] [top_k K] [scale \"SCALE\"] [grid \"1/16\"] [end tonic] [form \"AABA\" [vary X]]",
            "bad.tms:5:6: error: unterminated string (missing closing `\"`)",
            "bad.tms: 4 errors",
        ]
    );
    std::fs::write(dir.path().join("good.tms"), "seed 1; set lr 0.01\n# fine\n").unwrap();
    let run = tms_in(dir.path(), &["check", "good.tms"], "");
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "good.tms: ok (2 commands)\n")
    );
}

#[test]
fn run_stops_at_the_first_error_with_status_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.tms"),
        "set tempo 90\nsleep 0\nprime \"missing.mid\"\nset tempo 100\n",
    )
    .unwrap();
    let run = tms_in(dir.path(), &["run", "a.tms"], "");
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "tempo = 90\n");
    assert_eq!(
        run.stderr,
        "a.tms:3:7: error: cannot read `missing.mid`: no such file or directory\n    prime \"missing.mid\"\n          ^^^^^^^^^^^^^\n"
    );
    let run = tms_in(dir.path(), &["run", "nope.tms"], "");
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (
            1,
            "nope.tms: error: cannot read script: no such file or directory\n"
        )
    );
}

#[test]
fn nested_scripts_report_their_own_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("inner.tms"),
        "set tempo 90\nset channel 17\n",
    )
    .unwrap();
    let run = tms_in(dir.path(), &["-c", "run \"inner.tms\""], "");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .starts_with("inner.tms:2:13: error: invalid value `17` for `channel`"),
        "{}",
        run.stderr
    );
}

#[test]
fn version_names_libtorch_and_cuda() {
    let dir = tempfile::tempdir().unwrap();
    let run = tms_in(dir.path(), &["--version"], "");
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.starts_with(&format!(
            "tms {} (libtorch 2.11.0",
            env!("CARGO_PKG_VERSION")
        )),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("CUDA"), "{}", run.stdout);
}

#[test]
fn bad_arguments_exit_2_with_usage() {
    let dir = tempfile::tempdir().unwrap();
    let run = tms_in(dir.path(), &["--frobnicate"], "");
    assert_eq!(run.code, 2);
    assert!(run
        .stderr
        .starts_with("tms: unknown argument `--frobnicate`"));
}

#[test]
fn set_lists_every_setting_and_help_describes_each_command() {
    let (_d, run) = tms_c("set temperature 0.5; set");
    assert_eq!(run.code, 0, "{}", run.stderr);
    for s in tms::settings::SETTINGS {
        assert!(
            run.stdout.lines().any(|l| l.starts_with(s.name)),
            "missing {}",
            s.name
        );
    }
    assert!(
        run.stdout.contains("temperature      0.5"),
        "{}",
        run.stdout
    );
    let (_d, run) = tms_c("help generate");
    assert_eq!(
        run.stdout.lines().next(),
        Some("generate N [notes|bars] [temperature T] [top_k K] [scale \"SCALE\"] [grid \"1/16\"] [end tonic] [form \"AABA\" [vary X]]")
    );
    assert!(run
        .stdout
        .contains("example: generate 8 bars temperature 0.8 scale \"D yu\" end tonic"));
}

#[test]
fn history_saves_a_script_that_starts_with_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let run = tms_in(
        dir.path(),
        &["-c", "set lr 0.01; loss pitch 2; set; history \"h.tms\""],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let saved = std::fs::read_to_string(dir.path().join("h.tms")).unwrap();
    let lines: Vec<&str> = saved.lines().collect();
    assert!(lines[0].starts_with("seed "), "{saved}");
    assert_eq!(&lines[1..], ["set lr 0.01", "loss pitch 2"]);
    // The saved script replays without error.
    let run = tms_in(dir.path(), &["run", "h.tms"], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn the_prompt_survives_errors_and_quits_on_eof() {
    let dir = tempfile::tempdir().unwrap();
    let run = tms_in(
        dir.path(),
        &[],
        "set tempo 90\nset tempo 9000\nseed 5; history\n",
    );
    assert_eq!(
        run.code, 1,
        "piped input: a failed command shows in the status"
    );
    assert!(
        run.stdout.starts_with("tms "),
        "banner first: {}",
        run.stdout
    );
    assert!(run.stdout.contains("tempo = 90\n"));
    assert!(
        run.stdout.contains("seed 5\n"),
        "history printed: {}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("<prompt>:1:11: error: invalid value `9000` for `tempo`"),
        "{}",
        run.stderr
    );
}

#[test]
fn history_of_the_prompt_persists_across_sessions() {
    let dir = tempfile::tempdir().unwrap();
    tms_in(dir.path(), &[], "set tempo 91\n");
    let saved =
        std::fs::read_to_string(dir.path().join(".data/tms/history.txt")).unwrap_or_default();
    assert!(saved.contains("set tempo 91"), "history file: {saved:?}");
}

#[test]
fn output_is_plain_when_not_a_terminal() {
    let (_d, run) = tms_c("set nope 1");
    assert!(
        !run.stderr.contains('\u{1b}'),
        "escape codes in {:?}",
        run.stderr
    );
}

/// README's command and settings tables are the help tables, row for row. After changing
/// a table, `TMS_BLESS=1 cargo test readme` rewrites them in README.md.
#[test]
fn readme_tables_are_the_help_tables() {
    let path = support::root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let mut fixed = readme.clone();
    for table in [
        tms::lang::help::readme_commands(),
        tms::lang::help::readme_settings(),
    ] {
        let header = table.lines().next().unwrap();
        let start = fixed
            .find(header)
            .unwrap_or_else(|| panic!("README lacks the table headed {header}"));
        let len = fixed[start..]
            .lines()
            .take_while(|l| l.starts_with('|'))
            .map(|l| l.len() + 1)
            .sum::<usize>();
        fixed.replace_range(start..start + len, &table);
    }
    if fixed != readme && std::env::var_os("TMS_BLESS").is_some() {
        std::fs::write(&path, &fixed).unwrap();
        return;
    }
    assert!(
        fixed == readme,
        "README's tables differ from `help` (TMS_BLESS=1 cargo test readme rewrites them)"
    );
}

#[test]
fn piped_input_exits_1_when_a_command_failed() {
    let dir = tempfile::tempdir().unwrap();
    let run = tms_in(dir.path(), &[], "frob\n");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("unknown command `frob`"),
        "{}",
        run.stderr
    );
    let run = tms_in(dir.path(), &[], "set tempo 90\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn an_argument_that_is_not_utf8_exits_2_with_a_message() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tms"))
        .arg("-c")
        .arg(std::ffi::OsStr::from_bytes(b"help \xff"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "tms: argument 2 is not valid UTF-8: help \u{fffd}\n"
    );
}

/// Starts `tms ARGS` in `dir`, waits until its output shows `ready`, sends SIGINT (as
/// Ctrl-C does) and returns the exit status and stderr.
pub(crate) fn interrupt_when(
    dir: &std::path::Path,
    args: &[&str],
    ready: &str,
) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tms"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    while !seen.contains(ready) {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "tms ended before printing {ready:?}: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let end = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            child.kill().unwrap();
            panic!("tms did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ctrl_c_ends_a_script_with_status_130() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("long.tms"),
        "set tempo 90\nsleep 3600\nset tempo 100\n",
    )
    .unwrap();
    let (code, stderr) = interrupt_when(dir.path(), &["run", "long.tms"], "tempo = 90");
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.starts_with("long.tms:2:1: error: interrupted"),
        "{stderr}"
    );
    let (code, stderr) = interrupt_when(
        dir.path(),
        &["-c", "set tempo 90; sleep 3600"],
        "tempo = 90",
    );
    assert_eq!(code, Some(130), "{stderr}");
}

#[test]
fn a_script_may_start_with_a_byte_order_mark() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bom.tms"), "\u{feff}set tempo 90\n").unwrap();
    let run = tms_in(dir.path(), &["run", "bom.tms"], "");
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "tempo = 90\n"),
        "{}",
        run.stderr
    );
    let run = tms_in(dir.path(), &["check", "bom.tms"], "");
    assert_eq!(run.stdout, "bom.tms: ok (1 command)\n", "{}", run.stderr);
    let run = tms_in(dir.path(), &["-c", "run \"bom.tms\""], "");
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "tempo = 90\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn run_parses_every_file_first_and_shows_every_syntax_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.tms"), "set tempo 90\n").unwrap();
    std::fs::write(
        dir.path().join("a.tms"),
        "set tempo 91\nsed 1\nset temprature 1\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("b.tms"), "genrate 5\n").unwrap();
    let run = tms_in(dir.path(), &["run", "good.tms", "a.tms", "b.tms"], "");
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "", "nothing ran");
    let heads: Vec<&str> = run.stderr.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(
        heads,
        vec![
            "a.tms:2:1: error: unknown command `sed` (did you mean `seed`?)",
            "a.tms:3:5: error: unknown setting `temprature` (did you mean `temperature`?)",
            "a.tms: 2 errors",
            "b.tms:1:1: error: unknown command `genrate` (did you mean `generate`?)",
            "b.tms: 1 error",
        ]
    );
}

#[test]
fn control_characters_in_errors_are_shown_escaped() {
    let (_d, run) = tms_c("se\u{1b}[2Jt tempo 1");
    assert_eq!(run.code, 1);
    assert!(
        !run.stderr.contains('\u{1b}'),
        "raw escape in {:?}",
        run.stderr
    );
    assert!(
        run.stderr.starts_with(
            "<command-line>:1:3: error: unexpected character `\\x1b`\n    se\\x1b[2Jt tempo 1\n      ^^^^\n"
        ),
        "{}",
        run.stderr
    );
    let (_d, run) = tms_c("prime \"a\u{1b}[2J\u{202e}.mid\"");
    assert_eq!(
        run.stderr,
        "<command-line>:1:7: error: cannot read `a\\x1b[2J\\u{202e}.mid`: no such file or directory\n    prime \"a\\x1b[2J\\u{202e}.mid\"\n          ^^^^^^^^^^^^^^^^^^^^^^\n"
    );
}

#[test]
fn a_ten_megabyte_line_is_not_echoed_whole() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "x".repeat(10 * 1024 * 1024);
    std::fs::write(
        dir.path().join("long.tms"),
        format!("set tempo 90\nset tempo \"{huge}\"\n"),
    )
    .unwrap();
    let run = tms_in(dir.path(), &["run", "long.tms"], "");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.len() < 1000,
        "{} bytes of error",
        run.stderr.len()
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(
        lines[0].starts_with("long.tms:2:11: error: invalid value \"xxx"),
        "{}",
        run.stderr
    );
    assert!(lines[0].contains("x…x"), "the value is cut: {}", lines[0]);
    assert!(lines[1].starts_with("    set tempo \"xxx"), "{}", lines[1]);
    assert!(lines[1].ends_with("x…"), "{}", lines[1]);
    assert_eq!(lines[2].trim_start().len(), 120 - 10, "{}", lines[2]);
}
