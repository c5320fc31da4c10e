#!/usr/bin/env python3
"""The shape of generated tunes (`BENCH_ONLY=shape make bench`; BENCHMARKS.md, "The shape of
generated tunes"): 64-note continuations of held-out primers, by tms and by a Markov chain,
compared feature by feature with the real continuations, MGEval-style (Yang & Lerch 2018).

benches/run.sh drives it in three steps, tms running between them:

  prepare   from tms's CSV export of han2 (`export`), picks TUNES tunes of at least
            PRIMER + NOTES notes (seeded), writes each one's first PRIMER notes as an ABC
            file of its own (the tune's header and its body cut after the PRIMER-th note, so
            that meter, key, upbeat and bar lines come with the primer), and a tms script that
            primes from each, generates NOTES notes at the default settings with a seed of its
            own, and writes the melody as MIDI.
  report    reads tms's melodies back (tms's own `export` of the MIDI files), checks that
            each one starts with its primer, continues the same primers with a 2nd-order
            Markov chain trained on han1, and prints the per-feature table.
  selftest  the feature code on small inputs whose answers are known by hand.

Notes are rows of tms's CSV export: (pitch, start s, duration s); the Essen ABC has no Q:,
so a quarter note is 0.5 s everywhere here.

Features of a continuation (its NOTES notes; the repetition share also reads the primer):
  pitch count       distinct pitches
  pitch range       highest minus lowest pitch, semitones
  pitch classes     12-bin histogram of pitch classes, normalised
  intervals         histogram of the intervals between successive notes (the first from
                    the primer's last note), clamped to ±12 semitones: 25 bins, normalised
  scale fit         share of notes in the best of the 12 major pentatonic scales (the five
                    Chinese modes share them; a diatonic scale fits nearly anything here)
  IOI               histogram of inter-onset intervals in log2 quarter notes, bins 0.5 wide
                    centred on whole powers of two, so that 1/16, 1/8., 1/8, 1/4., 1/4 ...
                    fall apart (13 bins, 1/64 to 4 whole notes, clamped), normalised
  durations         the same histogram of note durations
  repetition share  of the continuation's interval trigrams (3 successive intervals, 4
                    notes, one trigram ending at each continuation note), the share that
                    occurred earlier in the tune (primer + continuation so far)

MGEval: per feature, the intra-set distances of the real continuations (every pair of
tunes, Euclidean distance of the feature vectors) and the inter-set distances of a set
against them (every generated tune against every real one); each distance sample is
smoothed into a density (Gaussian KDE, Scott's bandwidth), and the table gives the overlap
area of the two densities (1 = the generated set sits among the real tunes as they sit among
each other) and KL(intra ‖ inter) in nats. A reference row does the same for the real
continuations of other real tunes (han1), which is what a perfect generator would score.

Standard library and numpy only.
"""
import argparse
import csv
import json
import math
import os
import random
import re
import sys
from collections import Counter, defaultdict

import numpy as np

QUARTER = 0.5  # seconds at the ABC default of 120 quarter notes a minute
EPS = 1e-6


# ---- reading ---------------------------------------------------------------------------------
def read_tunes(path):
    """tms's CSV export → {source: [(pitch, start, duration), ...]} in file order."""
    tunes = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            tunes.setdefault(row["source"], []).append(
                (int(row["pitch"]), float(row["start"]), float(row["duration"])))
    return tunes


def abc_tunes(path):
    """{X number: text} of a multi-tune ABC file (tunes are separated by blank lines)."""
    out = {}
    with open(path) as f:
        for block in re.split(r"\n\s*\n", f.read()):
            m = re.search(r"^X:\s*(\d+)", block, re.M)
            if m:
                out[int(m.group(1))] = block.strip("\n") + "\n"
    return out


NOTE = re.compile(r"[=^_]*[a-gA-G][,']*\d*(?:/\d*)?")
SKIP = re.compile(r"z\d*(?:/\d*)?|\s+|\|+|:|\[|\]|-")  # a tie after a rest ties nothing


def abc_first_notes(text, n):
    """The ABC tune cut after its n-th note (ties join notes, as tms reads them). The Essen
    bodies hold notes, rests, ties, bar lines and nothing else; anything more is refused."""
    lines = text.split("\n")
    k_at = min(i for i, l in enumerate(lines) if re.match(r"^K:", l))
    head = lines[:k_at + 1]
    body = "\n".join(lines[k_at + 1:])
    i, count, tied, cut = 0, 0, False, None
    while i < len(body):
        m = NOTE.match(body, i)
        if m:
            if not tied:
                count += 1
                if count > n:
                    break
            i = m.end()
            cut = i
            tied = body.startswith("-", i)
            if tied:
                i += 1
            continue
        m = SKIP.match(body, i)
        if not m:
            raise ValueError(f"unexpected ABC at {body[i:i + 10]!r}")
        i = m.end()
    if count < n:
        raise ValueError(f"only {count} notes")
    return "\n".join(head) + "\n" + body[:cut].rstrip() + "\n"


# ---- features ----------------------------------------------------------------------------------
PENTATONIC = (0, 2, 4, 7, 9)


def log2_hist(values):
    """Histogram of log2(value / quarter note) in bins 0.5 wide, centred on -4, -3.5, ... 4
    (1/64 note to 4 whole notes; the outer bins take everything beyond): 17 bins, normalised.
    1/16, 1/8, 1/8., 1/4, 1/4., 1/2 land in bins 4, 6, 7, 8, 9, 10; an 1/8 triplet in 5."""
    x = np.log2(np.maximum(np.asarray(values, float), EPS) / QUARTER)
    idx = np.clip(np.round(x * 2).astype(int), -8, 8) + 8
    h = np.bincount(idx, minlength=17).astype(float)
    return h / max(h.sum(), 1)


def intervals_of(pitches):
    return [b - a for a, b in zip(pitches, pitches[1:])]


def repetition_share(pitches, first):
    """Of the interval trigrams that end at notes first.. (one per note, each reading the 4
    notes up to it), the share already seen ending at an earlier note."""
    iv = intervals_of(pitches)  # iv[j-1] is the interval into note j
    seen, hits, total = set(), 0, 0
    for j in range(3, len(pitches)):
        tri = (iv[j - 3], iv[j - 2], iv[j - 1])
        if j >= first:
            total += 1
            hits += tri in seen
        seen.add(tri)
    return hits / total if total else 0.0


def overlaps(notes, first):
    """Notes from index first-1 on (the primer's last note included) that outlast the next
    note's start."""
    return sum(1 for a, b in zip(notes[first - 1:], notes[first:]) if a[1] + a[2] > b[1] + EPS)


def features(notes, first):
    """The feature vectors of the continuation notes[first:] (notes[:first] is the primer)."""
    cont = notes[first:]
    p = [n[0] for n in cont]
    pc = np.bincount(np.array(p) % 12, minlength=12).astype(float)
    iv = np.clip(np.array(intervals_of([notes[first - 1][0]] + p)), -12, 12) + 12
    ivh = np.bincount(iv, minlength=25).astype(float)
    fit = max(sum(pc[(t + d) % 12] for d in PENTATONIC) for t in range(12)) / len(p)
    ioi = [b[1] - a[1] for a, b in zip(notes[first - 1:], notes[first:])]
    return {
        "pitch count": np.array([len(set(p))], float),
        "pitch range": np.array([max(p) - min(p)], float),
        "pitch classes": pc / pc.sum(),
        "intervals": ivh / ivh.sum(),
        "scale fit": np.array([fit]),
        "IOI": log2_hist(ioi),
        "durations": log2_hist([n[2] for n in cont]),
        "repetition share": np.array([repetition_share([n[0] for n in notes], first)]),
    }


FEATURES = ["pitch count", "pitch range", "pitch classes", "intervals", "scale fit", "IOI",
            "durations", "repetition share"]


# ---- MGEval ----------------------------------------------------------------------------------
def intra_distances(xs):
    x = np.stack(xs)
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    return d[np.triu_indices(len(xs), 1)]


def inter_distances(xs, ys):
    x, y = np.stack(xs), np.stack(ys)
    return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)).ravel()


def scott(d):
    s = d.std(ddof=1)
    return max(s * len(d) ** (-1 / 5), 1e-3)


def kde(d, grid):
    """A Gaussian KDE (Scott's bandwidth) of the sample d on an even grid, by linear binning
    onto the grid and a convolution with the kernel: exact to the grid's resolution."""
    h = grid[1] - grid[0]
    pos = (d - grid[0]) / h
    lo = np.clip(np.floor(pos).astype(int), 0, len(grid) - 2)
    w = pos - lo
    mass = np.bincount(lo, 1 - w, len(grid)) + np.bincount(lo + 1, w, len(grid))
    bw = scott(d)
    r = int(math.ceil(5 * bw / h))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) * h / bw) ** 2)
    pdf = np.convolve(mass, k, mode="full")[r:r + len(grid)]
    return pdf / (pdf.sum() * h)


def compare(intra, inter, points=4096):
    """Overlap area and KL(intra ‖ inter) of the two distance samples' densities."""
    reach = 6 * max(scott(intra), scott(inter))
    grid = np.linspace(min(intra.min(), inter.min()) - reach,
                       max(intra.max(), inter.max()) + reach, points)
    h = grid[1] - grid[0]
    p, q = kde(intra, grid), kde(inter, grid)
    oa = float(np.minimum(p, q).sum() * h)
    pp, qq = np.maximum(p, 1e-12), np.maximum(q, 1e-12)
    kl = float((pp * np.log(pp / qq)).sum() * h)
    return oa, kl


# ---- the Markov baseline -----------------------------------------------------------------------
def tokens(notes):
    """(interval from the previous note, step, duration) per note after the first; times in
    milliseconds, whole numbers."""
    return [(b[0] - a[0], round((b[1] - a[1]) * 1000), round(b[2] * 1000))
            for a, b in zip(notes, notes[1:])]


class Markov:
    """A 2nd-order Markov chain over (interval, step, duration) tokens, backing off to the
    1st order and to the tokens' overall counts where a context was never seen; pitches are
    kept within the training tunes' range (a token that would leave it is not drawn)."""

    def __init__(self, tunes):
        self.c2, self.c1, self.c0 = defaultdict(Counter), defaultdict(Counter), Counter()
        lo, hi = 127, 0
        for notes in tunes:
            t = tokens(notes)
            lo, hi = min([lo] + [n[0] for n in notes]), max([hi] + [n[0] for n in notes])
            for i, tok in enumerate(t):
                self.c0[tok] += 1
                if i >= 1:
                    self.c1[t[i - 1]][tok] += 1
                if i >= 2:
                    self.c2[(t[i - 2], t[i - 1])][tok] += 1
        self.lo, self.hi = lo, hi
        self.backoffs = Counter()

    def draw(self, rng, ctx, pitch):
        for order, table in ((2, self.c2.get(tuple(ctx[-2:]))), (1, self.c1.get(ctx[-1])),
                             (0, self.c0)):
            if not table:
                continue
            toks = [t for t in sorted(table) if self.lo <= pitch + t[0] <= self.hi]
            if toks:
                self.backoffs[order] += 1
                w = np.array([table[t] for t in toks], float)
                return toks[rng.choice(len(toks), p=w / w.sum())]
        raise RuntimeError("no token fits")

    def continue_(self, primer, n, seed):
        rng = np.random.default_rng(seed)
        notes = list(primer)
        ctx = tokens(primer)
        for _ in range(n):
            iv, step, dur = self.draw(rng, ctx, notes[-1][0])
            notes.append((notes[-1][0] + iv, notes[-1][1] + step / 1000, dur / 1000))
            ctx.append((iv, step, dur))
        return notes


# ---- the steps ----------------------------------------------------------------------------------
def pick(tunes, k, need, seed):
    ok = [s for s, n in tunes.items() if len(n) >= need]
    if len(ok) < k:
        sys.exit(f"only {len(ok)} tunes of at least {need} notes; {k} wanted")
    return sorted(random.Random(seed).sample(ok, k), key=lambda s: int(s.rsplit("#", 1)[1]))


def prepare(a):
    tunes = read_tunes(a.csv)
    texts = abc_tunes(a.abc)
    chosen = pick(tunes, a.tunes, a.primer + a.notes, a.seed)
    os.makedirs(os.path.join(a.dir, "primers"), exist_ok=True)
    os.makedirs(os.path.join(a.dir, "gen"), exist_ok=True)
    lines = [f'# {len(chosen)} primers of {a.primer} notes from {a.abc}, each continued by {a.notes}',
             "set abc_accidentals note", f'model "{a.model}"']
    if a.settings:
        lines.append(a.settings)
    for i, src in enumerate(chosen):
        x = int(src.rsplit("#", 1)[1])
        primer = os.path.join(a.dir, "primers", f"{i:03d}.abc")
        with open(primer, "w") as f:
            f.write(abc_first_notes(texts[x], a.primer))
        lines.append(f'seed {a.seed * 1000 + i}; prime "{primer}" last {a.primer}; '
                     f'generate {a.notes}; write "{os.path.join(a.dir, "gen", f"{i:03d}.mid")}"')
    with open(os.path.join(a.dir, "gen.tms"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(a.dir, "chosen.json"), "w") as f:
        json.dump({"csv": a.csv, "chosen": chosen, "primer": a.primer, "notes": a.notes,
                   "seed": a.seed}, f)
    print(f"prepare: {len(chosen)} of {sum(len(n) >= a.primer + a.notes for n in tunes.values())} "
          f"han2 tunes of >= {a.primer + a.notes} notes (seed {a.seed}); primers and "
          f"{os.path.join(a.dir, 'gen.tms')} written")


def by_index(tunes):
    """{i: notes} of files named NNN.ext."""
    return {int(re.search(r"(\d+)\.\w+$", s).group(1)): n for s, n in tunes.items()}


def same(a, b, cut_last=False):
    """Notes equal to 1e-5 s, times counted from each one's first note (a MIDI file starts
    at its first note, an ABC tune may start with a rest); with cut_last, the last note of a
    may be shorter in b."""
    if len(a) != len(b) or not a:
        return False
    for i, (x, y) in enumerate(zip(a, b)):
        if x[0] != y[0] or abs((x[1] - a[0][1]) - (y[1] - b[0][1])) > 1e-5:
            return False
        if abs(x[2] - y[2]) > 1e-5 and not (cut_last and i == len(a) - 1 and y[2] < x[2]):
            return False
    return True


def report(a):
    cfg = json.load(open(os.path.join(a.dir, "chosen.json")))
    P, N = cfg["primer"], cfg["notes"]
    han2 = read_tunes(cfg["csv"])
    real = [han2[s][:P + N] for s in cfg["chosen"]]
    primers = by_index(read_tunes(a.primers_csv))
    bad = [i for i, r in enumerate(real) if not same(r[:P], primers.get(i, []))]
    if bad:
        sys.exit(f"{len(bad)} primer files do not read back as their tune's first {P} notes: {bad[:10]}")
    gen = by_index(read_tunes(a.gen_csv))
    tms = [gen.get(i, []) for i in range(len(real))]
    bad = [i for i, (r, g) in enumerate(zip(real, tms)) if len(g) != P + N or not same(r[:P], g[:P], True)]
    if bad:
        sys.exit(f"{len(bad)} tms melodies are not their primer + {N} notes: {bad[:10]}")

    han1 = read_tunes(a.train_csv)
    chain = Markov(han1.values())
    markov = [chain.continue_(r[:P], N, cfg["seed"] * 1000 + i) for i, r in enumerate(real)]
    back = chain.backoffs
    print(f"markov: 2nd order over (interval, step, duration), {len(chain.c0)} tokens, "
          f"{len(chain.c2)} contexts from {len(han1)} han1 tunes; draws by order "
          f"2/1/0: {back[2]}/{back[1]}/{back[0]}")
    ref = [han1[s][:P + N] for s in pick(han1, len(real), P + N, cfg["seed"])]

    sets = {"han2 (real)": real, "tms": tms, "markov": markov, "han1 (real, other tunes)": ref}
    feats = {k: [features(n, P) for n in v] for k, v in sets.items()}
    print(f"\n{len(real)} han2 primers of {P} notes, continued by {N}; "
          f"means per continuation:")
    print(f"{'set':<26} {'distinct pitches':>16} {'range':>6} {'repetition':>10} "
          f"{'scale fit':>9} {'overlaps':>8}")
    stats = {}
    for k, v in sets.items():
        m = {f: float(np.mean([x[f][0] for x in feats[k]]))
             for f in ("pitch count", "pitch range", "repetition share", "scale fit")}
        m["overlaps"] = sum(overlaps(n, P) for n in v)
        stats[k] = m
        print(f"{k:<26} {m['pitch count']:16.2f} {m['pitch range']:6.2f} "
              f"{m['repetition share']:10.3f} {m['scale fit']:9.3f} {m['overlaps']:8d}")

    print(f"\nMGEval: overlap area / KL(intra ‖ inter) against the real continuations' intra-set distances")
    others = [k for k in sets if k != "han2 (real)"]
    print(f"{'feature':<17} " + " ".join(f"{k:>24}" for k in others))
    mean = {k: [] for k in others}
    for f in FEATURES:
        intra = intra_distances([x[f] for x in feats["han2 (real)"]])
        cells = []
        for k in others:
            oa, kl = compare(intra, inter_distances([x[f] for x in feats[k]],
                                                    [x[f] for x in feats["han2 (real)"]]))
            mean[k].append(oa)
            cells.append(f"{oa:.3f} / {kl:.3f}")
        print(f"{f:<17} " + " ".join(f"{c:>24}" for c in cells))
    print(f"{'mean overlap':<17} " + " ".join(f"{np.mean(mean[k]):>24.3f}" for k in others))

    r2, rt = stats["han2 (real)"]["repetition share"], stats["tms"]["repetition share"]
    print(f"\ngoals: tms repetition share {rt:.3f} = {rt / r2:.0%} of the corpus's {r2:.3f} "
          f"(goal >= 85%: {'met' if rt >= 0.85 * r2 else 'not met'}); mean overlap "
          f"{np.mean(mean['tms']):.3f} (goal >= 0.95: "
          f"{'met' if np.mean(mean['tms']) >= 0.95 else 'not met'}); tms overlapping notes "
          f"{stats['tms']['overlaps']} (goal 0)")
    # one line for benches/run.sh's table
    print("summary " + " ".join(
        f"{k.split()[0]}_{what} {v:.3f}" for k in ("han2 (real)", "tms", "markov")
        for what, v in (("repetition", stats[k]["repetition share"]),
                        ("pitches", stats[k]["pitch count"]),
                        ("overlaps", stats[k]["overlaps"]))) + " " + " ".join(
        f"{k}_mean_overlap {np.mean(mean[k]):.3f}" for k in ("tms", "markov")))


# ---- the self-test -------------------------------------------------------------------------
def selftest(_):
    # repetition: a tune that repeats its first 4 notes
    p = [60, 62, 64, 60, 62, 64, 60]
    # trigrams end at notes 3..6: (2,2,-4) (2,-4,2) (-4,2,2) (2,2,-4): from note 4 on, one of 3 seen
    assert repetition_share(p, 4) == 1 / 3, repetition_share(p, 4)
    assert repetition_share(p, 3) == 1 / 4
    n = [(60, 0.0, 0.5), (62, 0.5, 0.75), (64, 1.0, 0.25), (65, 1.5, 0.5)]
    assert overlaps(n, 1) == 1 and overlaps(n, 2) == 1 and overlaps(n, 3) == 0
    f = features([(48, 0.0, 0.25), (60, 0.25, 0.25), (62, 0.5, 0.5), (67, 1.0, 0.75), (73, 2.0, 1.0)], 1)
    assert f["pitch count"][0] == 4 and f["pitch range"][0] == 13
    assert f["scale fit"][0] == 0.75  # C D G in C major pentatonic, C# not
    assert f["intervals"][24] == 0.25 and f["intervals"][12 + 2] == 0.25  # 48→60 clamped to +12
    # IOIs 1/8 1/8 1/4 1/2 (0.25 0.25 0.5 1 s); durations 1/8 1/4 1/4. 1/2
    assert list(f["IOI"][[6, 8, 10]]) == [0.5, 0.25, 0.25], f["IOI"]
    assert list(f["durations"][[6, 8, 9, 10]]) == [0.25] * 4, f["durations"]
    assert abs(f["pitch classes"].sum() - 1) < 1e-12
    # MGEval: a set against itself overlaps fully; against a shifted copy, less
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=3) for _ in range(60)]
    intra = intra_distances(xs)
    oa, kl = compare(intra, intra)
    assert oa > 0.999 and abs(kl) < 1e-6, (oa, kl)
    oa2, kl2 = compare(intra, inter_distances([x + 3 for x in xs], xs))
    assert oa2 < 0.5 and kl2 > 0.5, (oa2, kl2)
    # the KDE is a density and matches a normal sample's spread
    g = np.linspace(-8, 8, 2001)
    d = kde(rng.normal(size=5000), g)
    assert abs(d.sum() * (g[1] - g[0]) - 1) < 1e-9 and abs(d.max() - 0.3989) < 0.03
    # ABC: ties join notes; the cut keeps header, bar lines and the 3rd note's length
    t = "X:1\nT: t\nM:2/4\nL:1/16\nK:G\ne2e-e2 | ^f4 g2 | a4\nb4\n"
    assert abc_first_notes(t, 2) == "X:1\nT: t\nM:2/4\nL:1/16\nK:G\ne2e-e2\n"
    assert abc_first_notes(t, 4) == "X:1\nT: t\nM:2/4\nL:1/16\nK:G\ne2e-e2 | ^f4 g2\n"
    assert abc_first_notes(t, 5).endswith("| a4\n")
    # Markov: a chain trained on one tune, continued from its own start, follows it
    tune = [(60 + (i % 4), i * 0.25, 0.25) for i in range(16)]
    m = Markov([tune])
    out = m.continue_(tune[:4], 8, 1)
    assert [x[0] for x in out] == [60 + (i % 4) for i in range(12)], out
    print("shape.py selftest: ok")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--csv", required=True, help="tms export of han2")
    p.add_argument("--abc", required=True, help="han2.abc")
    p.add_argument("--dir", required=True)
    p.add_argument("--model", default="models/folk.safetensors")
    p.add_argument("--tunes", type=int, default=150)
    p.add_argument("--primer", type=int, default=8)
    p.add_argument("--notes", type=int, default=64)
    p.add_argument("--seed", type=int, default=21)
    p.add_argument("--settings", default="",
                   help="tms commands after the model is read, e.g. 'set temperature 0.8'")
    p.set_defaults(fn=prepare)
    r = sub.add_parser("report")
    r.add_argument("--dir", required=True)
    r.add_argument("--primers-csv", required=True, help="tms export of the primer files")
    r.add_argument("--gen-csv", required=True, help="tms export of tms's melodies")
    r.add_argument("--train-csv", required=True, help="tms export of han1")
    r.set_defaults(fn=report)
    s = sub.add_parser("selftest")
    s.set_defaults(fn=selftest)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
