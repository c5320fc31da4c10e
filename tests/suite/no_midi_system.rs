//! Without a MIDI system (no ALSA sequencer, as in CI sandboxes) every port operation says
//! so clearly instead of failing obscurely.
#![cfg(not(feature = "jack"))]

use std::sync::Arc;

use tms::perform::{list_ports, Controls, PerformError, Performer, PortSel};

fn no_sequencer() -> bool {
    !std::path::Path::new("/dev/snd/seq").exists()
}

#[test]
fn list_ports_says_there_is_no_midi_system() {
    if !no_sequencer() {
        eprintln!("skipped: this machine has an ALSA sequencer");
        return;
    }
    let err = list_ports().unwrap_err();
    assert!(matches!(err, PerformError::NoMidiSystem(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "no MIDI system: ALSA sequencer unavailable (/dev/snd/seq missing); start a JACK \
         server and build with `make build FEATURES=jack`"
    );
}

#[test]
fn connect_says_there_is_no_midi_system() {
    if !no_sequencer() {
        eprintln!("skipped: this machine has an ALSA sequencer");
        return;
    }
    let mut p = Performer::new(Arc::new(Controls::default()), Box::new(|_| {}));
    for sel in [PortSel::Index(1), PortSel::Name("synth".into())] {
        let err = p.connect_output(&sel).unwrap_err();
        assert!(matches!(err, PerformError::NoMidiSystem(_)), "{err:?}");
        let err = p.connect_input(&sel).unwrap_err();
        assert!(matches!(err, PerformError::NoMidiSystem(_)), "{err:?}");
    }
    assert!(matches!(
        p.play(&[], false),
        Err(PerformError::NotConnected)
    ));
}

/// `play` and `live on` agree: with no MIDI system each says so in one line and the script
/// goes on (a demo runs on a machine without a synth); a port number 0 is explained.
#[test]
fn play_and_live_agree_without_a_midi_system() {
    if !no_sequencer() {
        eprintln!("skipped: this machine has an ALSA sequencer");
        return;
    }
    let (_d, run) = crate::support::tms_c(
        "set hidden 8; set embed 4; model new; prime notes \"C4 D4 E4\"; play; live on; live off",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout.matches("not playing: no MIDI system").count(),
        2,
        "{}",
        run.stdout
    );
    let (_d, run) = crate::support::tms_c("connect 0");
    assert!(
        run.stderr
            .contains("ports are numbered from 1 (`ports` lists them)"),
        "{}",
        run.stderr
    );
}
