//! The `tms` binary: reads the arguments, picks a mode (REPL, scripts, `-c`, `check`) and
//! turns the outcome into an exit status. Everything else lives in the library.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::process::ExitCode;

use tms::session::{Session, Source};

const USAGE: &str = "\
tms — live-coding neural melodies

usage:
  tms                         interactive prompt
  tms run FILE.tms [FILE...]  run scripts top to bottom; stop at the first error
  tms -c 'CMD; CMD; ...'      run the given commands
  tms check FILE.tms [...]    parse only; report every syntax error
  tms --version               versions of tms and libtorch, and whether CUDA is available
  tms --help                  this text

Inside tms, `help` lists the commands.";

/// Colour only on a terminal that can show it, and never when NO_COLOR is set.
fn color_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none()
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        && std::io::stdout().is_terminal()
}

fn version() -> String {
    // Read without loading libtorch (the trainer loads it): `device` asks the trainer.
    let cuda = match tms::model::cuda::driver_present() {
        true => "NVIDIA driver found, CUDA for training",
        false => "CUDA not available: no NVIDIA driver",
    };
    format!(
        "tms {} (libtorch {}, {cuda})",
        env!("CARGO_PKG_VERSION"),
        env!("TMS_LIBTORCH_VERSION")
    )
}

/// Silences the synth and picks the exit status: 130 after Ctrl-C, 1 after an error.
fn failure(session: &mut Session) -> ExitCode {
    session.stage_shutdown();
    ExitCode::from(if session.interrupted() { 130 } else { 1 })
}

/// Reads every script and parses it, reporting every unreadable file and the syntax errors
/// of all of them; the texts come back only when all are clean. `check` reports every error
/// and a line per good file; `run` shows the first hundred errors of a file and counts the
/// rest. Errors are printed as they are found, so a long broken file costs no memory for them.
fn read_and_parse(files: &[String], color: bool, check: bool) -> Option<Vec<String>> {
    let mut texts = Vec::with_capacity(files.len());
    let mut failed = false;
    for file in files {
        let shown = tms::error::escape_control(file);
        let text = match tms::fsio::read_script(std::path::Path::new(file)) {
            Ok(t) => t,
            Err(reason) => {
                eprintln!("{shown}: error: cannot read script: {reason}");
                failed = true;
                continue;
            }
        };
        let (mut commands, mut errors) = (0usize, 0usize);
        for item in tms::lang::Statements::new(&text) {
            match item {
                Ok(_) => commands += 1,
                Err(e) => {
                    errors += 1;
                    if check || errors <= tms::error::ERRORS_SHOWN {
                        eprintln!("{}", tms::error::render(&e, file, &text, color));
                    }
                }
            }
        }
        if errors > tms::error::ERRORS_SHOWN && !check {
            let more = tms::error::Error {
                span: None,
                kind: tms::error::ErrorKind::MoreErrors(errors - tms::error::ERRORS_SHOWN),
            };
            eprintln!("{}", tms::error::render(&more, file, &text, color));
        }
        match errors {
            0 if check => println!("{shown}: ok ({})", count(commands, "command")),
            0 => {}
            n => {
                eprintln!("{shown}: {}", count(n, "error"));
                failed = true;
            }
        }
        texts.push(text);
    }
    (!failed).then_some(texts)
}

/// "1 error", "2 errors".
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Runs scripts one after another in one session. All are parsed first, so a typo in the
/// last file is reported before the first one trains for an hour.
fn run_scripts(files: &[String], color: bool) -> ExitCode {
    if files.is_empty() {
        eprintln!("tms run: give at least one script\n\n{USAGE}");
        return ExitCode::from(2);
    }
    let Some(texts) = read_and_parse(files, color, false) else {
        return ExitCode::from(1);
    };
    let mut session = Session::new(None, tms::repl::install_interrupt(), color);
    for (file, text) in files.iter().zip(&texts) {
        if let Err(msg) = session.run_source(&Source { name: file, text }) {
            eprintln!("{msg}");
            return failure(&mut session);
        }
        if session.wants_quit() {
            break;
        }
    }
    finished(&mut session)
}

/// The end of a script that ran to its last line: it may still wait for the music or watch
/// a file, and Ctrl-C or SIGTERM there ends it with 130 as anywhere else.
fn finished(session: &mut Session) -> ExitCode {
    session.finish_script();
    if session.interrupted() {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    }
}

fn run_command_line(text: &str, color: bool) -> ExitCode {
    let name = "<command-line>";
    let parsed = tms::lang::parse(text);
    if !parsed.errors.is_empty() {
        for e in &parsed.errors {
            eprintln!("{}", tms::error::render(e, name, text, color));
        }
        return ExitCode::from(1);
    }
    let mut session = Session::new(None, tms::repl::install_interrupt(), color);
    match session.run_source(&Source { name, text }) {
        Ok(()) => finished(&mut session),
        Err(msg) => {
            eprintln!("{msg}");
            failure(&mut session)
        }
    }
}

fn check(files: &[String], color: bool) -> ExitCode {
    if files.is_empty() {
        eprintln!("tms check: give at least one script\n\n{USAGE}");
        return ExitCode::from(2);
    }
    match read_and_parse(files, color, true) {
        Some(_) => ExitCode::SUCCESS,
        None => ExitCode::from(1),
    }
}

/// An argument that is not UTF-8 (a mangled file name), counted from 1; shown escaped.
#[derive(Debug, thiserror::Error)]
#[error(
    "tms: argument {number} is not valid UTF-8: {}",
    tms::error::escape_control(&.arg.to_string_lossy())
)]
struct NotUtf8 {
    number: usize,
    arg: OsString,
}

/// The arguments as text.
fn utf8_args() -> Result<Vec<String>, NotUtf8> {
    std::env::args_os()
        .skip(1)
        .enumerate()
        .map(|(i, a)| {
            a.into_string()
                .map_err(|arg| NotUtf8 { number: i + 1, arg })
        })
        .collect()
}

fn main() -> ExitCode {
    let args = match utf8_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let color = color_wanted();
    colored::control::set_override(color);
    match args.first().map(String::as_str) {
        None => tms::repl::run(color, version()),
        Some("--version" | "-V") => {
            println!("{}", version());
            ExitCode::SUCCESS
        }
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("run") => run_scripts(&args[1..], color),
        Some("check") => check(&args[1..], color),
        Some("-c") => match args.get(1) {
            Some(text) if args.len() == 2 => run_command_line(text, color),
            _ => {
                eprintln!("tms -c: give the commands as one argument, e.g. tms -c 'help; set'");
                ExitCode::from(2)
            }
        },
        Some(file) if tms::fsio::Role::Script.names(std::path::Path::new(file)) => {
            run_scripts(&args, color)
        }
        Some(other) => {
            eprintln!("tms: unknown argument `{other}`\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
