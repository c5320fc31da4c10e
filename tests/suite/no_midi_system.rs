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
