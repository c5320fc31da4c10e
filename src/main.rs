//! The `tms` binary: reads the arguments, picks a mode (REPL, scripts, `-c`, `check`) and
//! turns the outcome into an exit status. Everything else lives in the library.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tms::session::{Session, Source};

const USAGE: &str = "\
tms — live-coding neural melodies

usage:
  tms                       interactive prompt
  tms run FILE.tms [FILE...] run scripts top to bottom; stop at the first error
  tms -c 'CMD; CMD; ...'    run the given commands
  tms check FILE.tms [...]  parse only; report every syntax error
  tms --version             versions of tms and libtorch, and whether CUDA is available
  tms --help                this text

Inside tms, `help` lists the commands.";

fn color_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

fn version() -> String {
    let cuda = if tch::Cuda::is_available() {
        format!("CUDA available ({} GPU)", tch::Cuda::device_count())
    } else {
        "CUDA not available".to_string()
    };
    format!(
        "tms {} (libtorch {}, {cuda})",
        env!("CARGO_PKG_VERSION"),
        env!("TMS_LIBTORCH_VERSION")
    )
}

/// Ctrl-C and SIGTERM set a flag that long commands poll (training stops after the batch,
/// playing stops with note-offs); a second one while the first is still pending forces an
/// exit, for a command that does not answer.
fn install_interrupt() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let _ = ctrlc::set_handler(move || {
        if f.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    flag
}

/// Silences the synth and picks the exit status: 130 after Ctrl-C, 1 after an error.
fn failure(session: &mut Session) -> ExitCode {
    session.stage_shutdown();
    ExitCode::from(if session.interrupted() { 130 } else { 1 })
}

fn run_scripts(files: &[String], color: bool) -> ExitCode {
    if files.is_empty() {
        eprintln!("tms run: give at least one script\n\n{USAGE}");
        return ExitCode::from(2);
    }
    let mut session = Session::new(None, install_interrupt(), color);
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!(
                    "{file}: error: cannot read script: {}",
                    tms::fsio::io_reason(&e)
                );
                return ExitCode::from(1);
            }
        };
        if let Err(msg) = session.run_source(&Source {
            name: file,
            text: &text,
        }) {
            eprintln!("{msg}");
            session.stage_shutdown();
            return ExitCode::from(1);
        }
        if session.wants_quit() {
            break;
        }
    }
    session.finish_script();
    ExitCode::SUCCESS
}

fn run_command_line(text: &str, color: bool) -> ExitCode {
    let mut session = Session::new(None, install_interrupt(), color);
    let result = session.run_source(&Source {
        name: "<command-line>",
        text,
    });
    match result {
        Ok(()) => {
            session.finish_script();
            ExitCode::SUCCESS
        }
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
    let mut failed = false;
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!(
                    "{file}: error: cannot read script: {}",
                    tms::fsio::io_reason(&e)
                );
                failed = true;
                continue;
            }
        };
        let parsed = tms::lang::parse(&text);
        for e in &parsed.errors {
            eprintln!("{}", tms::error::render(e, file, &text, color));
        }
        if parsed.errors.is_empty() {
            println!("{file}: ok ({} commands)", parsed.stmts.len());
        } else {
            eprintln!("{file}: {} errors", parsed.errors.len());
            failed = true;
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = tms::model::cuda::load() {
        eprintln!("warning: {e}; running on the CPU");
    }
    let color = color_wanted();
    colored::control::set_override(color);
    match args.first().map(String::as_str) {
        None => tms::repl::run(install_interrupt(), color, version()),
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
        Some(file) if file.ends_with(".tms") => run_scripts(&args, color),
        Some(other) => {
            eprintln!("tms: unknown argument `{other}`\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
