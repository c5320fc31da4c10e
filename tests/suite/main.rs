//! Every integration test in one binary, so libtorch is linked once (each test binary used
//! to link it again). Modules read like what a user sees: the command line, the prompt on a
//! pseudo-terminal, the readers against golden files, the model, hostile input, and a real
//! JACK server (`--features jack`; `make test` runs them as `cargo test --features jack
//! --test suite jack`) and Ableton Link peers (`--features link`, run as `cargo test
//! --features link --test suite link::`).

mod support;

mod abc_parity;
mod background_cli;
mod cli;
mod clock_cli;
mod form_cli;
mod hostile;
mod hostile_notation;
mod hostile_scripts;
mod language_fuzz;
mod layout;
mod link;
mod midi_golden;
mod model_cli;
mod music_cli;
mod no_midi_system;
mod notation;
mod position;
mod prompt_cli;
mod pth;
mod reader_fuzz;
mod record_cli;
mod redraw_cli;
mod repl_pty;
mod rhythm_cli;
mod settings_cli;
mod trainer;
mod upbeat;
mod voices_cli;
mod watch;

#[cfg(feature = "jack")]
mod jack_support;

#[cfg(feature = "jack")]
mod jack;
#[cfg(feature = "jack")]
mod jack_cli;
#[cfg(feature = "jack")]
mod jack_clock;
mod jack_hotplug;
#[cfg(feature = "jack")]
mod jack_quiet;
#[cfg(feature = "jack")]
mod jack_record;
#[cfg(feature = "jack")]
mod jack_respond;
#[cfg(feature = "jack")]
mod jack_soak;
#[cfg(feature = "jack")]
mod jack_train;
#[cfg(feature = "jack")]
mod jack_voices;
