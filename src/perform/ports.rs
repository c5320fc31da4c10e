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

/// Whether a port is one of tms's own: its client is named `tms` (JACK numbers a second
/// client of a name `tms-01`, `tms-02`, …). Playing into our own input would answer our own
/// notes and follow our own clock, so these are never listed nor chosen.
pub(crate) fn is_own(port: &str) -> bool {
    let client = port.split(':').next().unwrap_or(port);
    match client.strip_prefix(CLIENT) {
        Some("") => true,
        Some(rest) => {
            rest.len() > 1 && rest.starts_with('-') && rest[1..].bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// The names of the output ports `out` can play to, tms's own left out.
fn output_names(out: &MidiOutput) -> Vec<(midir::MidiOutputPort, String)> {
    out.ports()
        .into_iter()
        .filter_map(|p| out.port_name(&p).ok().map(|n| (p, n)))
        .filter(|(_, n)| !is_own(n))
        .collect()
}

/// The names of the input ports `inp` can listen to, tms's own left out.
fn input_names(inp: &MidiInput) -> Vec<(midir::MidiInputPort, String)> {
    inp.ports()
        .into_iter()
        .filter_map(|p| inp.port_name(&p).ok().map(|n| (p, n)))
        .filter(|(_, n)| !is_own(n))
        .collect()
}

/// The current ports, rescanned on every call.
pub fn list_ports() -> Result<PortList, PerformError> {
    let out = midi_output()?;
    let outputs = output_names(&out).into_iter().map(|(_, n)| n).collect();
    drop(out);
    let inp = midi_input()?;
    let inputs = input_names(&inp).into_iter().map(|(_, n)| n).collect();
    Ok(PortList { outputs, inputs })
}

/// Whether an output port of this name still exists (`None`: cannot tell). JACK accepts
/// messages for a port that is gone without complaint, so the player asks before it starts.
pub(crate) fn output_exists(name: &str) -> Option<bool> {
    let out = midi_output().ok()?;
    Some(output_names(&out).iter().any(|(_, n)| n == name))
}

/// Clients kept open to look, several times a second, whether the connected ports are
/// still there (opening a client for every look would change the MIDI graph each time).
#[derive(Default)]
pub(crate) struct Lookout {
    out: Option<MidiOutput>,
    inp: Option<MidiInput>,
}

impl Lookout {
    /// Whether an output port of this name exists now (`None`: cannot tell).
    pub fn output_exists(&mut self, name: &str) -> Option<bool> {
        if self.out.is_none() {
            self.out = midi_output().ok();
        }
        let out = self.out.as_ref()?;
        Some(output_names(out).iter().any(|(_, n)| n == name))
    }

    /// Whether an input port of this name exists now (`None`: cannot tell).
    pub fn input_exists(&mut self, name: &str) -> Option<bool> {
        if self.inp.is_none() {
            self.inp = midi_input().ok();
        }
        let inp = self.inp.as_ref()?;
        Some(input_names(inp).iter().any(|(_, n)| n == name))
    }

    /// Lets the clients go while there is nothing to look after.
    pub fn close(&mut self) {
        self.out = None;
        self.inp = None;
    }
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
    let (ports, names): (Vec<_>, Vec<String>) = output_names(&out).into_iter().unzip();
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
    let (ports, names): (Vec<_>, Vec<String>) = input_names(&inp).into_iter().unzip();
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
    fn own_ports_are_the_tms_clients_and_no_others() {
        for own in ["tms:in", "tms-01:out", "tms-12:in", "tms:in 128:0"] {
            assert!(is_own(own), "{own}");
        }
        for other in [
            "tms-test-sink:in",
            "tmsynth:in",
            "tms-:in",
            "synth:tms",
            "FLUID:0",
        ] {
            assert!(!is_own(other), "{other}");
        }
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
