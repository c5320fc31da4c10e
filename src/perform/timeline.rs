//! The shared musical timeline: one trait for whatever says where the beat is (the internal
//! tempo, MIDI clock from another device, an Ableton Link session), so the player and the
//! quantizer follow any of them the same way.

/// A musical timeline that other gear may share: where the beat is and when a beat falls.
pub trait BeatSource: Send + Sync {
    /// Tempo in quarter notes per minute.
    fn tempo(&self) -> f64;
    /// The beat (in quarter notes, fractional) at wall time `t`.
    fn beat_at(&self, t: std::time::Instant) -> f64;
    /// The wall time at which beat `b` falls.
    fn time_at(&self, b: f64) -> std::time::Instant;
    /// Whether the transport runs (MIDI clock Stop halts it; internal and Link always run).
    fn running(&self) -> bool {
        true
    }
}
