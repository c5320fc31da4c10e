#!/usr/bin/env python3
"""Reads every tune of datasets/essen/han*.abc the way the reference toolchain does
(ABC -> music21 -> MIDI -> pretty_midi) and writes:

  datasets/essen-midi/hanN-XXXX.mid   one MIDI file per tune (the "real MIDI files" corpus
                                      for the load benchmark and the MIDI importer's tests)
  tests/golden/essen_music21.csv      source,pitch,start,duration of instruments[0].notes,
                                      the parity expectation of tests/abc_parity.rs

Run from the repository root with a Python that has music21 and pretty_midi
(e.g. /work/pytools/bin/python tests/golden/essen_to_midi.py). Only for regenerating
committed expectations; tms never runs Python.
"""
import copy
import csv
import glob
import io
import os
import sys
import warnings

import music21

warnings.filterwarnings("ignore")

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
# `--midi-only` (what `make essen-midi` runs): only the MIDI files, with music21 alone.
MIDI_ONLY = "--midi-only" in sys.argv
ROOT = ARGS[0] if ARGS else "."
OUT_MIDI = os.path.join(ROOT, "datasets", "essen-midi")
OUT_CSV = os.path.join(ROOT, "tests", "golden", "essen_music21.csv")


def tunes(path):
    parsed = music21.converter.parse(path, format="abc")
    if isinstance(parsed, music21.stream.Opus):
        return list(parsed.scores)
    return [parsed]


def share_no_time_signatures(score):
    """music21's ABC reader puts one TimeSignature object into several measures when a tune
    has irregular bars; its MIDI export then fails ("... is already found in this Stream").
    Giving each measure its own copy changes nothing musically and lets ~15% of the songs
    export."""
    seen = set()
    for m in score.recurse().getElementsByClass("Measure"):
        for ts in list(m.getElementsByClass("TimeSignature")):
            if id(ts) in seen:
                m.replace(ts, copy.deepcopy(ts))
            seen.add(id(ts))


def main():
    os.makedirs(OUT_MIDI, exist_ok=True)
    rows = []
    failed = 0
    for path in sorted(glob.glob(os.path.join(ROOT, "datasets", "essen", "han*.abc"))):
        rel = os.path.relpath(path, ROOT)
        stem = os.path.splitext(os.path.basename(path))[0]
        for score in tunes(path):
            x = score.metadata.number
            try:
                share_no_time_signatures(score)
                mf = music21.midi.translate.streamToMidiFile(score)
                data = mf.writestr()
                if not MIDI_ONLY:
                    import pretty_midi

                    pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
            except Exception as e:  # a tune music21 cannot export gets no rows
                print(f"{rel}#{x}: {e}", file=sys.stderr)
                failed += 1
                continue
            with open(os.path.join(OUT_MIDI, f"{stem}-{int(x):04d}.mid"), "wb") as f:
                f.write(data)
            if MIDI_ONLY:
                continue
            notes = pm.instruments[0].notes if pm.instruments else []
            for n in sorted(notes, key=lambda n: (n.start, n.pitch)):
                rows.append((f"{rel}#{x}", n.pitch, repr(float(n.start)), repr(float(n.end - n.start)), n.velocity))
    if MIDI_ONLY:
        print(f"wrote the MIDI files to {OUT_MIDI}; {failed} tunes failed", file=sys.stderr)
        return
    with open(OUT_CSV, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["source", "pitch", "start", "duration"])
        for r in rows:
            w.writerow(r[:4])
    vels = sorted({r[4] for r in rows})
    print(f"{len(rows)} notes, {failed} tunes failed, velocities {vels}", file=sys.stderr)


if __name__ == "__main__":
    main()
