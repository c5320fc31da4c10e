#!/usr/bin/env python3
"""The original notebook's MIDI loading, as the baseline for tms's `load` benchmark.

For every file matching GLOB: `pretty_midi.PrettyMIDI(path)`, then the notebook's
`midi_to_notes` (instrument 0, notes sorted by start; columns pitch, start, end, step,
duration). The notebook built a pandas DataFrame; pandas is used when installed, otherwise a
numpy array with the same columns. Files pretty_midi refuses are counted and skipped.

Usage: python pretty_midi_load.py 'GLOB'
Prints: files, skipped files, total notes, elapsed seconds, notes per second.
"""
import collections
import glob
import sys
import time
import warnings

import numpy as np
import pretty_midi

try:
    import pandas as pd
except ImportError:  # the notebook had pandas; numpy keeps the same work without it
    pd = None

warnings.filterwarnings("ignore")


def midi_to_notes(midi_file):
    pm = pretty_midi.PrettyMIDI(midi_file)
    instrument = pm.instruments[0]
    notes = collections.defaultdict(list)
    sorted_notes = sorted(instrument.notes, key=lambda note: note.start)
    prev_start = sorted_notes[0].start if sorted_notes else 0.0
    for note in sorted_notes:
        start = note.start
        end = note.end
        notes["pitch"].append(note.pitch)
        notes["start"].append(start)
        notes["end"].append(end)
        notes["step"].append(start - prev_start)
        notes["duration"].append(end - start)
        prev_start = start
    columns = ["pitch", "start", "end", "step", "duration"]
    if pd is not None:
        return pd.DataFrame({name: np.array(notes[name]) for name in columns})
    return np.array([notes[name] for name in columns], dtype=float).T.reshape(-1, 5)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: pretty_midi_load.py 'GLOB'")
    files = sorted(glob.glob(sys.argv[1], recursive=True))
    total = 0
    skipped = 0
    t0 = time.perf_counter()
    for path in files:
        try:
            total += len(midi_to_notes(path))
        except Exception:  # noqa: BLE001 - a file pretty_midi cannot read is skipped
            skipped += 1
    elapsed = time.perf_counter() - t0
    rate = total / elapsed if elapsed > 0 else float("inf")
    print(f"files {len(files)} skipped {skipped} notes {total} "
          f"seconds {elapsed:.3f} notes_per_second {rate:.0f}")


if __name__ == "__main__":
    main()
