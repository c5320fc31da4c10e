//! The bytes of standard MIDI file pieces (delta times, meta events, chunks, the conductor),
//! apart because both the take's appends and the final file are made of them.

use super::{micros, MAX_DELTA, TICKS_PER_QUARTER, TMS_ID};
use crate::music::meter::Meter;

pub(super) fn varlen(out: &mut Vec<u8>, v: u32) {
    let mut groups = [0u8; 4];
    let mut n = 0;
    let mut v = v & 0x0FFF_FFFF;
    loop {
        groups[n] = (v & 0x7F) as u8;
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out.push(groups[i] | if i > 0 { 0x80 } else { 0 });
    }
}

/// The delta time before an event; hours of silence at a fast tempo need more than one
/// delta can carry, and empty events bridge them.
pub(super) fn bridge(out: &mut Vec<u8>, mut delta: u64) {
    while delta > MAX_DELTA {
        meta(out, MAX_DELTA as u32, 0x7F, &[]);
        delta -= MAX_DELTA;
    }
    varlen(out, delta as u32);
}

pub(super) fn meta(out: &mut Vec<u8>, delta: u32, kind: u8, data: &[u8]) {
    varlen(out, delta);
    out.extend_from_slice(&[0xFF, kind]);
    varlen(out, data.len() as u32);
    out.extend_from_slice(data);
}

/// The sequencer-specific event that says whose messages follow.
pub(super) fn marker(out: &mut Vec<u8>, name: &str) {
    let mut data = vec![TMS_ID];
    data.extend_from_slice(name.as_bytes());
    meta(out, 0, 0x7F, &data);
}

pub(super) fn header(tracks: usize) -> Vec<u8> {
    let mut out = b"MThd\0\0\0\x06\0\x01".to_vec();
    out.extend_from_slice(&(tracks.min(0xFFFF) as u16).to_be_bytes());
    out.extend_from_slice(&TICKS_PER_QUARTER.to_be_bytes());
    out
}

pub(super) fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = b"MTrk".to_vec();
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// The start of the conductor track: tempo and meter.
pub(super) fn conductor_start(tempo: f64, meter: Meter) -> Vec<u8> {
    let denom_log2 = meter.unit.max(1).trailing_zeros() as u8;
    let mut data = Vec::new();
    meta(&mut data, 0, 0x51, &micros(tempo).to_be_bytes()[1..]);
    meta(
        &mut data,
        0,
        0x58,
        &[meter.beats.min(255) as u8, denom_log2, 24, 8],
    );
    data
}

/// The conductor track as recording starts: tempo and meter.
pub(super) fn conductor(tempo: f64, meter: Meter) -> Vec<u8> {
    let mut data = conductor_start(tempo, meter);
    meta(&mut data, 0, 0x2F, &[]);
    chunk(&data)
}
