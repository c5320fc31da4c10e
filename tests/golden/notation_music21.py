# Reads ABC or MusicXML files with music21 and prints their notes: for each file a line
# "# FILE", then one line per note, "MIDI_PITCH OFFSET DURATION" in quarter notes, tied notes
# joined. tests/notation.rs compares them with the notes tms wrote.
# Usage: python notation_music21.py FILE...
import sys

import music21

for path in sys.argv[1:]:
    print("#", path)
    score = music21.converter.parse(path)
    for n in score.stripTies().flatten().notes:
        for p in n.pitches:
            print(p.midi, float(n.offset), float(n.quarterLength))
