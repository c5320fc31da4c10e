# Where the bars of ABC or MusicXML tunes fall, as music21 reads them: for each tune one line
#   X:<number> M:<meter> pickup <quarters> bars <offset> <offset> ... crossings <count>
# `pickup` is the first measure's length when it is shorter than the meter's bar (else 0);
# `bars` are the offsets (quarter notes) of the bar lines between the measures; `crossings`
# counts how often a note (ties joined) sounds across one of those bar lines.
# tests/golden/upbeat_music21.txt is this script's output for
# tests/fixtures/abc/essen_upbeats.abc; tests/suite/upbeat.rs compares it with what tms writes
# (and, where music21 is installed, with this script's reading of tms's files).
# Usage: python upbeat_music21.py FILE...
import sys

import music21


def q(x):
    x = float(x)
    return str(int(x)) if x == int(x) else repr(x)


def scores(path):
    parsed = music21.converter.parse(path)
    if isinstance(parsed, music21.stream.Opus):
        return list(parsed.scores)
    return [parsed]


for path in sys.argv[1:]:
    for s in scores(path):
        part = s.parts[0] if s.parts else s
        measures = list(part.getElementsByClass("Measure"))
        ts = measures[0].timeSignature or measures[0].getContextByClass("TimeSignature")
        bar = ts.barDuration.quarterLength
        first = measures[0].duration.quarterLength
        pickup = first if first < bar else 0
        lines = [float(m.offset) for m in measures[1:]]
        crossings = 0
        for n in part.stripTies().flatten().notes:
            start, end = float(n.offset), float(n.offset + n.quarterLength)
            crossings += sum(1 for b in lines if start < b < end)
        number = s.metadata.number if s.metadata is not None else None
        print(
            f"X:{number} M:{ts.ratioString} pickup {q(pickup)} bars "
            + " ".join(q(b) for b in lines)
            + f" crossings {crossings}"
        )
