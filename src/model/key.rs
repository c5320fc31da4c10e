//! Generation in any key. The folk model learned mostly from tunes in a few keys, so with a
//! scale far from the primer's key its probability mass stays on the primer's pitches, the
//! scale mask removes nearly all of them, and one survivor repeats (a drone). Instead the
//! model keeps continuing in the key of what it has read, and its notes are transposed by
//! the whole number of semitones that best carries that key onto the scale: the mask is
//! moved into the model's key, the sampled pitch moved back out. The melody (primer
//! included) is untouched; only the model's view of it is in one consistent key.
//!
//! The shift is chosen when the scale changes (live mode may change it between two notes)
//! and kept otherwise, so a melody does not jump register while the scale stays put.

use std::collections::VecDeque;

/// Notes of the model's recent view whose pitch classes decide the shift.
const MEMORY: usize = 64;

/// Weights of a scale's profile: its tonic, its fifth, its other tones, the tones outside
/// (notation's key estimator uses them for the pentatonic modes).
use crate::music::notation::key::{correlation, PENTATONIC as PROFILE};

/// Semitones between the model's view and the real melody, and what decides them.
#[derive(Clone)]
pub(super) struct KeyView {
    /// Real pitch = view pitch + shift.
    shift: i32,
    /// The (mask, tonic) the shift was chosen for.
    chosen_for: Option<([bool; 128], Option<u8>)>,
    /// (view pitch, duration) of the notes read last.
    recent: VecDeque<(u8, f64)>,
}

impl KeyView {
    /// A view of the primer as it is (shift 0).
    pub fn new(primer: &[crate::music::note::Note]) -> KeyView {
        let from = primer.len().saturating_sub(MEMORY);
        KeyView {
            shift: 0,
            chosen_for: None,
            recent: primer[from..]
                .iter()
                .map(|n| (n.pitch, n.duration))
                .collect(),
        }
    }

    pub fn shift(&self) -> i32 {
        self.shift
    }

    /// The mask in the model's view, for a scale mask `allowed` with tonic `tonic` (None:
    /// align by the pitch set alone). Re-chooses the shift when the scale changed. With no
    /// scale the shift stays, so the melody goes on where it was; the mask then only keeps
    /// real pitches inside 0..=127.
    pub fn view_mask(
        &mut self,
        allowed: Option<&[bool; 128]>,
        tonic: Option<u8>,
    ) -> Option<[bool; 128]> {
        if let Some(mask) = allowed {
            if mask.iter().any(|&a| a) && self.chosen_for != Some((*mask, tonic)) {
                self.shift = best_shift(&self.histogram(), mask, tonic, self.shift);
                self.chosen_for = Some((*mask, tonic));
            }
        }
        if allowed.is_none() && self.shift == 0 {
            return None;
        }
        let mut view = [false; 128];
        for (v, out) in view.iter_mut().enumerate() {
            let real = v as i32 + self.shift;
            *out = (0..128).contains(&real) && allowed.is_none_or(|m| m[real as usize]);
        }
        Some(view)
    }

    /// A real-pitch mask in the model's view under the current shift (not re-chosen): how
    /// the last note of `end tonic` is asked for in the key the melody is in.
    pub fn in_view(&self, real: &[bool; 128]) -> [bool; 128] {
        let mut view = [false; 128];
        for (v, out) in view.iter_mut().enumerate() {
            let r = v as i32 + self.shift;
            *out = (0..128).contains(&r) && real[r as usize];
        }
        view
    }

    /// Records a note the model read (in its view).
    pub fn read(&mut self, view_pitch: u8, duration: f64) {
        if self.recent.len() == MEMORY {
            self.recent.pop_front();
        }
        self.recent.push_back((view_pitch, duration));
    }

    /// The view pitch of a real one (a note the model did not draw), kept in 0..=127.
    pub fn view(&self, real: u8) -> u8 {
        (i32::from(real) - self.shift).clamp(0, 127) as u8
    }

    /// The real pitch of a view pitch (in range: `view_mask` only allows such).
    pub fn real(&self, view_pitch: u8) -> u8 {
        (i32::from(view_pitch) + self.shift).clamp(0, 127) as u8
    }

    /// Duration-weighted pitch classes of the recent view; every note counts a little, so
    /// zero-length notes still count.
    fn histogram(&self) -> [f64; 12] {
        let mut h = [0.0; 12];
        for &(p, d) in &self.recent {
            h[usize::from(p % 12)] += d.max(0.0) + 0.01;
        }
        h
    }
}

/// The shift in −6..=6 under which the view's pitch classes best fit the scale's profile
/// (correlation, as Krumhansl–Schmuckler key finding); ties keep the current shift, then
/// the smaller move.
fn best_shift(hist: &[f64; 12], mask: &[bool; 128], tonic: Option<u8>, current: i32) -> i32 {
    let (t, fifth, tone, outside) = PROFILE;
    let in_scale = |pc: usize| mask.iter().skip(pc).step_by(12).any(|&a| a);
    let profile: Vec<f64> = (0..12)
        .map(
            |pc| match tonic.map(|t| (pc + 12 - usize::from(t % 12)) % 12) {
                Some(0) => t,
                Some(7) if in_scale(pc) => fifth,
                _ if in_scale(pc) => tone,
                _ => outside,
            },
        )
        .collect();
    let mut candidates: Vec<i32> = (-6..=6).collect();
    candidates.sort_by_key(|&s| (s != current, s.abs(), s < 0));
    let mut best = (f64::NEG_INFINITY, current);
    for s in candidates {
        // The view's pitch class pc sounds as pc + s.
        let shifted: Vec<f64> = (0..12)
            .map(|pc| hist[(pc + 24 - s) as usize % 12])
            .collect();
        let r = correlation(&shifted, &profile);
        if r > best.0 + 1e-9 {
            best = (r, s);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::music::note::Note;
    use crate::music::scale::Scale;

    fn notes(pitches: &[u8]) -> Vec<Note> {
        pitches
            .iter()
            .enumerate()
            .map(|(i, &pitch)| Note {
                pitch,
                start: i as f64 * 0.5,
                duration: 0.5,
                velocity: 90,
            })
            .collect()
    }

    const D_PENTATONIC: [u8; 12] = [62, 64, 66, 69, 71, 74, 71, 69, 66, 64, 62, 64];

    fn shift_for(primer: &[u8], scale: &str) -> i32 {
        let s = Scale::parse(scale).unwrap();
        let mut k = KeyView::new(&notes(primer));
        k.view_mask(Some(&s.mask()), Some(s.tonic));
        k.shift()
    }

    #[test]
    fn a_scale_in_the_primers_key_moves_nothing() {
        assert_eq!(shift_for(&D_PENTATONIC, "D gong"), 0);
        assert_eq!(shift_for(&D_PENTATONIC, "D major"), 0);
    }

    #[test]
    fn a_far_scale_carries_the_primers_tonic_onto_its_own() {
        assert_eq!(shift_for(&D_PENTATONIC, "F# gong"), 4);
        assert_eq!(shift_for(&D_PENTATONIC, "Ab major"), 6);
        // F# major holds both D+4 (F# gong) and D−1 (C# gong): the tonic decides.
        assert_eq!(shift_for(&D_PENTATONIC, "F# major"), 4);
        assert_eq!(shift_for(&D_PENTATONIC, "B gong"), -3);
    }

    #[test]
    fn the_view_mask_is_the_scale_moved_into_the_models_key() {
        let s = Scale::parse("F# gong").unwrap();
        let mut k = KeyView::new(&notes(&D_PENTATONIC));
        let view = k.view_mask(Some(&s.mask()), Some(s.tonic)).unwrap();
        let d_gong = Scale::parse("D gong").unwrap().mask();
        assert_eq!(view[..124], d_gong[..124]);
        // The top four view pitches would sound above 127.
        assert!(view[124..].iter().all(|&a| !a));
        assert_eq!(k.real(62), 66);
    }

    #[test]
    fn the_shift_stays_while_the_scale_stays_and_without_a_scale() {
        let s = Scale::parse("F# gong").unwrap();
        let mut k = KeyView::new(&notes(&D_PENTATONIC));
        k.view_mask(Some(&s.mask()), Some(s.tonic));
        for _ in 0..100 {
            k.read(61, 0.5);
        }
        k.view_mask(Some(&s.mask()), Some(s.tonic));
        assert_eq!(k.shift(), 4);
        assert!(k.view_mask(None, None).is_some());
        assert_eq!(k.shift(), 4);
    }

    #[test]
    fn no_scale_and_no_shift_is_no_mask() {
        let mut k = KeyView::new(&notes(&D_PENTATONIC));
        assert_eq!(k.view_mask(None, None), None);
    }
}
