//! The one-note generation step of tms's LSTM in plain Rust, and the arithmetic under it.
//!
//! A crate of its own so that it is compiled optimized even in debug builds
//! (`[profile.dev.package.tms-step]` in the root Cargo.toml): tms's tests run debug
//! binaries that play, answer phrases and generate in real time, and an unoptimized step is
//! about ten times slower. It needs no libtorch: tms builds a [`step::Stepper`] from its tch
//! network's weights.

pub mod kernels;
pub mod quant;
pub mod step;

/// Pitch classes of the softmax head (MIDI 0..=127).
pub const PITCHES: usize = 128;
/// What a pitch is divided by when it is an input feature (as the notebook scaled it).
pub const PITCH_SCALE: f32 = 128.0;
/// Classes of a note's position in its bar: 12 beats of 13 places each (twelve twelfths of
/// the beat, and "between them"), and one for "bars not known".
pub const POSITIONS: usize = 12 * 13 + 1;
/// The position class of a note whose bars are not known.
pub const UNKNOWN_POSITION: usize = POSITIONS - 1;
/// Classes of a note's scale degree: its pitch class above the key's tonic, and one for
/// "key not known".
pub const DEGREES: usize = 13;
/// The degree class of a note whose key is not known.
pub const UNKNOWN_DEGREE: usize = DEGREES - 1;
