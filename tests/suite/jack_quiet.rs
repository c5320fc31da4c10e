//! With no JACK server running, tms says so in its own one error, and libjack's own lines
//! (seven of them) stay off the terminal unless `TMS_VERBOSE` asks for them.

use std::process::{Command, Stdio};

fn ports_without_a_server(verbose: bool) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_tms"));
    c.args(["-c", "ports"])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("NO_COLOR", "1")
        // A server name nothing runs under, and no server started on demand.
        .env(
            "JACK_DEFAULT_SERVER",
            format!("tms-nobody-{}", std::process::id()),
        )
        .env("JACK_NO_START_SERVER", "1")
        .env_remove("TMS_VERBOSE")
        .stdin(Stdio::null());
    if verbose {
        c.env("TMS_VERBOSE", "1");
    }
    let out = c.output().expect("tms runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn jack_without_a_server_prints_only_tms_own_error() {
    let (code, stderr) = ports_without_a_server(false);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        "<command-line>:1:1: error: no MIDI system: no JACK server is running; start one (e.g. `jackd -d dummy -r 48000 -p 64 &`)\n    ports\n    ^^^^^\n"
    );
    let (code, stderr) = ports_without_a_server(true);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("jack: Cannot connect to server"),
        "TMS_VERBOSE shows libjack's own lines:\n{stderr}"
    );
    assert!(stderr.contains("error: no MIDI system"), "{stderr}");
}
