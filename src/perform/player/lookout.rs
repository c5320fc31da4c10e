//! Watching the ports is polling the MIDI system, which takes its time: the lookout runs on a
//! thread of its own, so that neither the player's deadlines nor the prompt wait on it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Cmd, Shared};
use crate::perform::input::Input;
use crate::perform::{ports, say, PortSel, Printer};

/// How often the lookout looks whether the connected ports are still there: a vanished
/// port is told at once and one that returns is connected again within a second.
const LOOK: Duration = Duration::from_millis(200);

/// What the lookout thread looks after.
#[derive(Default)]
pub(super) struct Watched {
    pub(super) input: Mutex<Option<std::sync::Weak<Input>>>,
    pub(super) quit: AtomicBool,
}

/// The lookout thread: notices a connected port that vanished (the synth was closed, the
/// cable pulled) and connects again when a port of the same name returns. It never picks
/// another port: moving to another device is the user's choice (`connect`).
pub(super) fn look_after_ports(
    shared: Arc<Shared>,
    watched: Arc<Watched>,
    tx: Sender<Cmd>,
    printer: Printer,
) {
    let mut lookout = ports::Lookout::default();
    while !watched.quit.load(Ordering::Relaxed) {
        // Parked, so that dropping the performer wakes it at once.
        std::thread::park_timeout(LOOK);
        if watched.quit.load(Ordering::Relaxed) {
            return;
        }
        let output = shared.output();
        let input = watched
            .input
            .lock()
            .ok()
            .and_then(|i| i.as_ref().and_then(|w| w.upgrade()));
        if output.is_none() && input.is_none() {
            lookout.close();
            continue;
        }
        if let Some(name) = output {
            match lookout.output_exists(&name) {
                Some(false) if !shared.gone.swap(true, Ordering::Relaxed) => {
                    let _ = tx.send(Cmd::OutputGone);
                }
                Some(true) if shared.gone() => {
                    if let Ok((conn, name)) = ports::open_output(&PortSel::Name(name)) {
                        let _ = tx.send(Cmd::Reattach(conn, name));
                    }
                }
                _ => {}
            }
        }
        if let Some(input) = input {
            let name = input.name();
            match lookout.input_exists(&name) {
                Some(false) if !input.gone.swap(true, Ordering::Relaxed) => say(
                    &printer,
                    format!(
                        "input port `{name}` vanished; tms listens again when it returns \
                         (`connect in` picks another port)"
                    ),
                ),
                Some(true)
                    if input.gone.load(Ordering::Relaxed)
                        && input.switch(&PortSel::Name(name.clone())).is_ok() =>
                {
                    say(
                        &printer,
                        format!("input port `{name}` is back: listening to it again"),
                    );
                }
                _ => {}
            }
        }
    }
}
