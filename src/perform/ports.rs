//! Finding and opening MIDI ports. Ports come and go (synths start, cables are unplugged), so
//! every call rescans; a port is chosen by its number in the latest listing or by a
//! case-insensitive piece of its name.

use midir::{MidiInput, MidiInputConnection, MidiOutput, MidiOutputConnection};

use super::PerformError;

/// The ports `ports` shows: outputs we can play to, inputs we can listen to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortList {
    pub outputs: Vec<String>,
    pub inputs: Vec<String>,
}

/// How the user names a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortSel {
    /// 1-based, as `ports` lists them.
    Index(usize),
    /// A case-insensitive substring of the port's name (an exact match wins).
    Name(String),
}

/// Client names as other MIDI programs see us.
const CLIENT: &str = "tms";

/// Why there is no MIDI system, in words that say what to do, for the backend built in.
fn no_midi_system() -> PerformError {
    if cfg!(feature = "jack") {
        PerformError::NoMidiSystem(
            "no JACK server is running; start one (e.g. `jackd -d dummy -r 48000 -p 64 &`)".into(),
        )
    } else if std::path::Path::new("/dev/snd/seq").exists() {
        PerformError::NoMidiSystem(
            "the ALSA sequencer (/dev/snd/seq) cannot be opened; check its permissions".into(),
        )
    } else {
        PerformError::NoMidiSystem(
            "ALSA sequencer unavailable (/dev/snd/seq missing); start a JACK server and \
             build with `make build FEATURES=jack`"
                .into(),
        )
    }
}

/// Without a sequencer device, ALSA would print its own complaint to stderr on every try.
fn sequencer_missing() -> bool {
    !cfg!(feature = "jack") && !std::path::Path::new("/dev/snd/seq").exists()
}

pub(crate) fn midi_output() -> Result<MidiOutput, PerformError> {
    if sequencer_missing() {
        return Err(no_midi_system());
    }
    #[cfg(feature = "jack")]
    super::jack_log::route_messages();
    MidiOutput::new(CLIENT).map_err(|_| no_midi_system())
}

pub(crate) fn midi_input() -> Result<MidiInput, PerformError> {
    if sequencer_missing() {
        return Err(no_midi_system());
    }
    #[cfg(feature = "jack")]
    super::jack_log::route_messages();
    let mut input = MidiInput::new(CLIENT).map_err(|_| no_midi_system())?;
    // Notes, knobs and clock (for `clock in`); system exclusive and active sensing would
    // just wake the input thread.
    input.ignore(midir::Ignore::SysexAndActiveSense);
    Ok(input)
}

/// The current ports, rescanned on every call.
pub fn list_ports() -> Result<PortList, PerformError> {
    let out = midi_output()?;
    let outputs = out
        .ports()
        .iter()
        .filter_map(|p| out.port_name(p).ok())
        .collect();
    drop(out);
    let inp = midi_input()?;
    let inputs = inp
        .ports()
        .iter()
        .filter_map(|p| inp.port_name(p).ok())
        .collect();
    Ok(PortList { outputs, inputs })
}

/// Whether an output port of this name still exists (`None`: cannot tell). JACK accepts
/// messages for a port that is gone without complaint, so the player asks before it starts.
pub(crate) fn output_exists(name: &str) -> Option<bool> {
    let out = midi_output().ok()?;
    let found = out
        .ports()
        .iter()
        .any(|p| out.port_name(p).is_ok_and(|n| n == name));
    Some(found)
}

/// The index into `names` that `sel` picks, or the error listing what there is.
pub(crate) fn choose(sel: &PortSel, names: &[String]) -> Result<usize, PerformError> {
    let found = match sel {
        PortSel::Index(i) => i.checked_sub(1).filter(|i| *i < names.len()),
        PortSel::Name(want) => {
            let want = want.to_lowercase();
            names
                .iter()
                .position(|n| n.to_lowercase() == want)
                .or_else(|| names.iter().position(|n| n.to_lowercase().contains(&want)))
        }
    };
    found.ok_or_else(|| {
        let asked = match sel {
            PortSel::Index(i) => i.to_string(),
            PortSel::Name(n) => format!("\"{n}\""),
        };
        PerformError::NoSuchPort(asked, names.to_vec())
    })
}

/// Connects a new output client to the chosen port.
pub(crate) fn open_output(sel: &PortSel) -> Result<(MidiOutputConnection, String), PerformError> {
    let out = midi_output()?;
    let ports = out.ports();
    let names: Vec<String> = ports
        .iter()
        .map(|p| out.port_name(p).unwrap_or_default())
        .collect();
    let i = choose(sel, &names)?;
    let name = names[i].clone();
    let conn = out
        .connect(&ports[i], "out")
        .map_err(|e| PerformError::Connect(name.clone(), e.to_string()))?;
    Ok((conn, name))
}

/// Connects a new input client to the chosen port; `callback` gets every message.
pub(crate) fn open_input<F>(
    sel: &PortSel,
    callback: F,
) -> Result<(MidiInputConnection<()>, String), PerformError>
where
    F: FnMut(u64, &[u8], &mut ()) + Send + 'static,
{
    let inp = midi_input()?;
    let ports = inp.ports();
    let names: Vec<String> = ports
        .iter()
        .map(|p| inp.port_name(p).unwrap_or_default())
        .collect();
    let i = choose(sel, &names)?;
    let name = names[i].clone();
    let conn = inp
        .connect(&ports[i], "in", callback, ())
        .map_err(|e| PerformError::Connect(name.clone(), e.to_string()))?;
    Ok((conn, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec![
            "Midi Through:Midi Through Port-0".into(),
            "FLUID Synth:midi_00".into(),
            "fluid".into(),
        ]
    }

    #[test]
    fn choose_by_number_is_one_based() {
        assert_eq!(choose(&PortSel::Index(1), &names()).unwrap(), 0);
        assert_eq!(choose(&PortSel::Index(3), &names()).unwrap(), 2);
        assert!(matches!(
            choose(&PortSel::Index(0), &names()),
            Err(PerformError::NoSuchPort(..))
        ));
        assert!(matches!(
            choose(&PortSel::Index(4), &names()),
            Err(PerformError::NoSuchPort(..))
        ));
    }

    #[test]
    fn choose_by_name_prefers_exact_then_substring() {
        assert_eq!(choose(&PortSel::Name("FLUID".into()), &names()).unwrap(), 2);
        assert_eq!(choose(&PortSel::Name("synth".into()), &names()).unwrap(), 1);
        match choose(&PortSel::Name("yamaha".into()), &names()) {
            Err(PerformError::NoSuchPort(asked, avail)) => {
                assert_eq!(asked, "\"yamaha\"");
                assert_eq!(avail, names());
            }
            other => panic!("expected NoSuchPort, got {other:?}"),
        }
    }
}
