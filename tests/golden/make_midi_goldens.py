#!/usr/bin/env python3
"""Writes the hand-made edge-case MIDI fixtures and the pretty_midi goldens for every fixture.

  tests/fixtures/midi/edge_*.mid   small files, raw bytes, each exercising one rule of how
                                   pretty_midi pairs notes, keys instruments or maps time
  tests/golden/midi/NAME.csv       pitch,start,duration,velocity of pretty_midi's
                                   instruments[0].notes, in pretty_midi's order (tms sorts by
                                   start then pitch; tests/midi_golden.rs sorts stably to compare)
  tests/golden/midi/NAME.error     instead of a CSV when pretty_midi refuses the file

The other fixtures (music21_*.mid) are real files from outside the project; see
tests/fixtures/midi/SOURCES.md. Run from the repository root with the Python that has
pretty_midi (e.g. /work/pytools/bin/python tests/golden/make_midi_goldens.py). Only for
regenerating committed expectations; tms never runs Python.
"""
import csv
import glob
import os
import struct
import sys
import warnings

import pretty_midi

warnings.filterwarnings("ignore")

ROOT = sys.argv[1] if len(sys.argv) > 1 else "."
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "midi")
GOLDEN = os.path.join(ROOT, "tests", "golden", "midi")


def vlq(n):
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def track(events, end=True):
    """events: (delta, raw bytes after the delta). Appends end-of-track unless told not to."""
    data = b"".join(vlq(d) + bytes(b) for d, b in events)
    if end:
        data += b"\x00\xff\x2f\x00"
    return b"MTrk" + struct.pack(">L", len(data)) + data


def smf(fmt, division, tracks):
    return b"MThd" + struct.pack(">Lhhh", 6, fmt, len(tracks), division) + b"".join(tracks)


def tempo(bpm):
    micros = round(60_000_000 / bpm)
    return [0xFF, 0x51, 3, micros >> 16, (micros >> 8) & 0xFF, micros & 0xFF]


def on(ch, pitch, vel):
    return [0x90 | ch, pitch, vel]


def off(ch, pitch, vel=64):
    return [0x80 | ch, pitch, vel]


def program(ch, prog):
    return [0xC0 | ch, prog]


TIME_SIG = [0xFF, 0x58, 4, 4, 2, 24, 8]
KEY_SIG = [0xFF, 0x59, 2, 0xFE, 1]  # two flats, minor
NAME = [0xFF, 0x03, 5] + list(b"Melod")

EDGE = {
    # Format 0, two channels: channel 1 (program 40) starts later but its note ends first, so
    # it is instruments[0]; channel 0's notes belong to another instrument.
    "edge_format0_first_closed.mid": smf(0, 480, [track([
        (0, TIME_SIG), (0, tempo(90)), (0, program(0, 0)), (0, program(1, 40)),
        (0, on(0, 60, 100)), (120, on(1, 72, 90)), (120, off(1, 72)), (0, on(1, 74, 91)),
        (240, off(0, 60)), (0, off(1, 74)), (0, on(0, 62, 80)), (480, off(0, 62)),
    ])]),
    # Format 1: tempo map in track 0 (several changes, one repeated value, two at one tick);
    # a set_tempo in track 2 that pretty_midi ignores; notes in tracks 1 and 2.
    "edge_format1_tempo_map.mid": smf(1, 96, [
        track([(0, tempo(100)), (0, TIME_SIG), (96, tempo(100)), (96, tempo(140)),
               (0, tempo(70)), (200, tempo(133.33)), (50, tempo(133.33))]),
        # A rising scale, one note every 48 ticks, across all the tempo changes.
        track([(0, NAME), (0, program(0, 73)), (0, on(0, 60, 60))]
              + [e for i in range(12) for e in ((48, off(0, 60 + i)), (0, on(0, 61 + i, 70 + i)))]
              + [(48, off(0, 72))]),
        track([(0, tempo(30)), (0, on(2, 50, 100)), (300, off(2, 50))]),
    ]),
    # Running status throughout, note-on velocity 0 as note-off, a sysex and meta events
    # in between (meta events keep running status in mido, sysex replaces it).
    "edge_running_status.mid": smf(0, 120, [track([
        (0, on(0, 64, 100)), (60, [64, 0]), (0, [65, 101]), (60, [65, 0]),
        (0, KEY_SIG), (0, [67, 102]), (60, [67, 0]), (0, [0xF0, 3, 0x7E, 0x01, 0xF7]),
        (0, on(0, 69, 103)), (60, [69, 0]), (0, [0xE0, 0, 64]), (0, on(0, 71, 104)),
        (60, [0xB0, 7, 100]), (0, [0x80, 71, 0]), (0, [72, 0]),
    ])]),
    # Overlapping notes of one pitch, a note-off and note-on on one tick (both orders),
    # a note-on and note-off on the same tick, and spurious note-offs.
    "edge_overlaps.mid": smf(1, 100, [
        track([(0, tempo(120))]),
        track([
            (0, on(0, 60, 100)), (50, on(0, 60, 90)), (50, off(0, 60)), (50, off(0, 60)),
            (0, on(0, 62, 80)), (100, off(0, 62)), (0, on(0, 62, 81)), (100, off(0, 62)),
            (0, on(0, 64, 70)), (100, on(0, 64, 71)), (0, off(0, 64)), (100, off(0, 64)),
            (0, on(0, 65, 60)), (0, off(0, 65)), (100, off(0, 65)),
            (0, on(0, 67, 50)), (10, on(0, 67, 51)), (10, on(0, 67, 52)), (10, off(0, 67)),
            (0, on(0, 67, 53)), (0, off(0, 67)), (30, off(0, 67)),
            (0, off(0, 99)),
        ]),
    ]),
    # Notes still sounding when their track ends are dropped, in both tracks.
    "edge_open_notes.mid": smf(1, 480, [
        track([(0, tempo(120)), (0, on(0, 40, 100)), (480, on(0, 41, 100))]),
        track([(0, on(0, 60, 100)), (480, off(0, 60)), (0, on(0, 62, 100)), (0, on(0, 64, 90)),
               (480, off(0, 64)), (0, on(0, 65, 90))]),
    ]),
    # The drum channel closes the first note, so instruments[0] is the drum kit.
    "edge_drums_first.mid": smf(1, 480, [
        track([(0, tempo(100))]),
        track([(0, program(0, 24)), (0, on(0, 55, 100)), (0, on(9, 36, 120)), (60, off(9, 36)),
               (0, on(9, 38, 110)), (60, off(9, 38)), (360, off(0, 55))]),
    ]),
    # A program change while a note sounds: the note belongs to the program at its note-off,
    # so later notes on program 0 form a second instrument and the first one is program 5.
    "edge_program_change.mid": smf(0, 480, [track([
        (0, on(0, 60, 100)), (240, program(0, 5)), (240, off(0, 60)), (0, on(0, 62, 90)),
        (480, off(0, 62)), (0, program(0, 0)), (0, on(0, 64, 80)), (480, off(0, 64)),
        (0, program(0, 5)), (0, on(0, 65, 70)), (480, off(0, 65)),
    ])]),
    # The same program on two channels of one track, and in a later track: separate instruments.
    "edge_multi_channel.mid": smf(1, 240, [
        track([(0, tempo(150))]),
        track([(0, on(3, 70, 100)), (0, on(2, 50, 100)), (240, off(2, 50)), (0, off(3, 70)),
               (0, on(2, 52, 90)), (240, off(2, 52)), (0, on(3, 72, 80)), (240, off(3, 72))]),
        track([(0, on(2, 40, 100)), (100, off(2, 40))]),
    ]),
    # Only meta events: no instruments at all.
    "edge_no_notes.mid": smf(1, 480, [track([(0, tempo(120)), (0, TIME_SIG)])]),
    # A header that promises 2 tracks but the second is cut off: pretty_midi refuses it.
    "edge_truncated.mid": smf(1, 480, [
        track([(0, tempo(120))]), track([(0, on(0, 60, 100)), (480, off(0, 60))]),
    ])[:-6],
}


def write_edge_fixtures():
    os.makedirs(FIXTURES, exist_ok=True)
    for name, data in EDGE.items():
        with open(os.path.join(FIXTURES, name), "wb") as f:
            f.write(data)


def write_goldens():
    os.makedirs(GOLDEN, exist_ok=True)
    for path in sorted(glob.glob(os.path.join(FIXTURES, "*.mid"))):
        stem = os.path.splitext(os.path.basename(path))[0]
        for ext in (".csv", ".error"):
            stale = os.path.join(GOLDEN, stem + ext)
            if os.path.exists(stale):
                os.remove(stale)
        try:
            pm = pretty_midi.PrettyMIDI(path)
        except Exception as e:  # noqa: BLE001 - any refusal is the expectation
            with open(os.path.join(GOLDEN, stem + ".error"), "w") as f:
                f.write(f"{type(e).__name__}: {e}\n")
            print(f"{stem}: pretty_midi refuses it ({type(e).__name__})")
            continue
        notes = pm.instruments[0].notes if pm.instruments else []
        with open(os.path.join(GOLDEN, stem + ".csv"), "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["pitch", "start", "duration", "velocity"])
            for n in notes:
                w.writerow([n.pitch, repr(float(n.start)), repr(float(n.end - n.start)),
                            n.velocity])
        print(f"{stem}: {len(notes)} notes")


if __name__ == "__main__":
    write_edge_fixtures()
    write_goldens()
