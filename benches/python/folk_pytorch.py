#!/usr/bin/env python3
"""tms's default model and training, written directly in PyTorch: the quality-versus-time
baseline for `make bench` (benches/run.sh runs tms's side with the same settings first and
passes its best han2 pitch NLL here as --target).

Model (tms's defaults, src/model/net.rs): a learned pitch embedding [128, 32] and a learned
interval embedding [50, 32] of the interval from the previous pitch, clamped to ±24
semitones (index interval+24; index 49 = "no previous note", for the first note of every
window: the LSTM state, the previous pitch and the pointer's memory start fresh at each
window), concatenated with (step, duration) → dropout → LSTM(66, 384, batch_first) →
dropout → `out`; from `out`, a softmax pitch head (128 logits) mixed with a pointer, and
categorical step and duration heads (`rhythm grid`, src/model/rhythm.rs: 97 logits each, for
0..=96 quanta of 1/48 whole note = 1/24 s at 120 BPM), at every position. Dropout (tms's `dropout`, 0 by default since `position on`) on the LSTM's input and
on its output, while training only.

The pointer (net.rs, struct Pointer and fn mix; tms's `pointer on`): query = out·Wq^T and
key = out·Wk^T, both of width 64, no bias. The key at position i proposes the pitch that
followed note i (pitch[i+1]); the query at position j attends to keys i < j only (strictly
earlier notes, whose follower it has read), scores q·k/√64, plus a null slot of score 0,
softmax over them all. copy = attention over the keys · one_hot(follower pitches); gate
g = sigmoid(out·w_g + b_g); p = softmax(pitch logits)·(1 − g + g·attn_null) + g·copy. The
model's pitch "logits" are log(max(p, 1e-12)); the cross-entropy loss (and evaluation's
log-softmax) takes them as logits, as tms does.

PyTorch's default initialisation is the one tms uses: uniform ±1/√384 for every tensor but
the embeddings (the LSTM, the heads, and the pointer's query [64, 384], key [64, 384],
gate_weight [1, 384] and gate_bias [1]), N(0, 1) for both embeddings. The variables carry
tms's names (`lstm.weight_ih_l0`, `pointer.query`, ...), so a tms model file loads with
load_state_dict. 403,907 parameters, as tms's `model new` says.

Training (tms's defaults, src/model/train.rs, data.rs, src/lang/settings.rs): the sequence
objective — each tune is tiled into windows of up to 32 inputs from a random offset drawn
afresh each epoch (tms's tiling, so every next note is predicted once per epoch), windows
shuffled, batches of 16 padded at the end with a mask; loss = 1·cross-entropy on the pitch
logits (padding ignored) + 0.2·cross-entropy of the step logits against the nearest class of the
true step (round(step / quantum), clamped to 0..=96) + 0.2·the same of duration (classes
1..=96: a note always has a length), each averaged over the scored positions; Adam (β 0.9, 0.999, eps
1e-8) at lr 0.003 × lr_decay^(epoch−1) with lr_decay 0.94 (tms: lr·lr_decay^k in the k-th
epoch, from 0, of a `train` run); gradient norm clipped to 1.0; 40 epochs (tms's `epochs`). Each
training window is transposed by a random number of semitones within ±5 (tms's `augment 5`),
pitches clamped to 0..=127.

Validation (tms's `val 0.1`, `keep best`): a seeded 10% of han1's tunes is held out (the
same count as tms; the tunes themselves differ, tms draws them with ChaCha20) and not
trained on. After each epoch, as tms does inside its epoch, the validation loss (the same
loss over the held-out tunes' windows from offset 0, in chunks of 512, no dropout) and the
held-out pitch NLL (the protocol below) are computed; both are printed, and the epoch with
the lowest validation loss is the one `keep best` would keep at the end of a `train N`.
(benches/run.sh runs tms as `set lr X; train 1` per epoch, X the lr that `train N` uses in
that epoch, so there keep best never restores.)

Evaluation: scored on han2.abc after every epoch by LANGUAGE.md's evaluation protocol:
every note with at least 32 notes before it in its tune is predicted from exactly those 32
notes, from a fresh state; mean NLL in nats. Data: the notes as tms reads them (`export`
from `tms -c 'set abc_accidentals note; load ...'`), so both sides see identical notes.

Timing: the cumulative wall time of the epochs as tms times them: window tiling, batching,
forward, backward, step and the validation pass; the han2 evaluation is not counted (tms's
`evaluate` is a separate command, outside its epoch time).

Check (--check-tms-model FILE, no training): loads a tms model file (safetensors, parsed
here) into this model and prints its han2 metrics by the protocol above in tms's format,
`notes N pitch_nll X pitch_acc A step_mae S duration_mae D step_nll X duration_nll X` (step and
duration MAE of each distribution's median): the same figures that `tms -c
'set abc_accidentals note; model "FILE"; evaluate "datasets/essen/han2.abc"'` prints
(models/folk.safetensors: notes 25668 pitch_nll 1.5109 pitch_acc 0.4366).

Usage: python folk_pytorch.py --target NLL [--max-epochs 16] [--tms target/release/tms]
       python folk_pytorch.py --train-csv han1.csv --eval-csv han2.csv --target NLL
       python folk_pytorch.py --check-tms-model models/folk.safetensors [--eval-csv han2.csv]
Prints per epoch `epoch E train_seconds CUM han2_pitch_nll X pitch_acc A loss L val V
val_pitch_nll N`, then `reached NLL<=T epoch E train_seconds S` (the first epoch whose han2
NLL, to 4 decimals as printed, is <= T) or `not reached NLL<=T best B epochs E train_seconds
S`.
"""
import argparse
import csv
import json
import math
import os
import random
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

# tms's defaults (src/lang/settings.rs, src/session/mod.rs for the loss weights).
SEQ_LEN = 32
BATCH = 16
LR = 0.003
LR_DECAY = 0.94
EPOCHS = 40
CLIP = 1.0
DROPOUT = 0.0
AUGMENT = 5
HIDDEN = 384
EMBED = 32
PITCHES = 128
W_PITCH, W_STEP, W_DURATION = 1.0, 0.2, 0.2
# src/model/net.rs: intervals clamped to ±24; one more index for "no previous note".
INTERVAL_RANGE = 24
INTERVALS = 2 * INTERVAL_RANGE + 2
# src/model/net.rs: the pointer's query and key width.
POINTER_DIM = 64
# src/model/rhythm.rs: rhythm classes are 0..=MAX_QUANTA quanta of 1/48 whole note.
QUANTUM = 2.0 / 48.0
MAX_QUANTA = 96
CLASSES = MAX_QUANTA + 1
# what tms's `model new` reports for these settings
TMS_PARAMETERS = 873475
# src/model/position.rs (tms's `position on`): each note's place in its bar, 12 beats of
# 13 places and one class for "bars not known", embedded like the pitch; its input columns
# follow step and duration. While training, a tenth of the windows are read without their
# bars (src/model/data.rs, HIDE_BARS).
POSITIONS = 12 * 13 + 1
UNKNOWN_POSITION = POSITIONS - 1
HIDE_BARS = 0.1
# --position sets this: the model reads positions (`export "..." positions` gives them).
POSITION = False


def threads():
    """The thread count tms uses: TMS_THREADS (benches/run.sh sets it to the cores, at most 8)."""
    n = int(os.environ.get("TMS_THREADS", "0") or 0)
    return n if n > 0 else min(os.cpu_count() or 1, 8)


def export_with_tms(tms, abc, csv_path):
    cmd = f'set abc_accidentals note; load "{abc}"; export "{csv_path}" positions'
    r = subprocess.run([tms, "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if r.returncode != 0:
        sys.exit(f"{tms} -c '{cmd}' failed:\n{r.stdout}")


def read_tunes(path):
    """Tunes in file order: (pitch int64, step float32, duration float32, position int64)
    arrays; positions unknown where the file has no `position` column."""
    groups, order = {}, []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            src = row["source"]
            if src not in groups:
                groups[src] = []
                order.append(src)
            groups[src].append((int(row["pitch"]), float(row["step"]), float(row["duration"]),
                                int(row.get("position") or UNKNOWN_POSITION)))
    tunes = []
    for src in order:
        a = groups[src]
        tunes.append((
            np.array([n[0] for n in a], dtype=np.int64),
            np.array([n[1] for n in a], dtype=np.float32),
            np.array([n[2] for n in a], dtype=np.float32),
            np.array([n[3] for n in a], dtype=np.int64),
        ))
    return tunes


class Pointer(torch.nn.Module):
    """tms's pointer (src/model/net.rs, struct Pointer, fn mix) over the notes of a window
    read so far; the variables are named as in tms's model files (`pointer.query`, ...)."""

    def __init__(self):
        super().__init__()
        bound = 1.0 / math.sqrt(HIDDEN)  # tms's Net::new: uniform ±1/√hidden
        u = lambda *shape: torch.nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))
        self.query = u(POINTER_DIM, HIDDEN)
        self.key = u(POINTER_DIM, HIDDEN)
        self.gate_weight = u(1, HIDDEN)
        self.gate_bias = u(1)

    def forward(self, out, logits, pitch):
        """The log of the mixed pitch distribution at every position; out [B, T, H] (the
        LSTM output after dropout), logits [B, T, 128], pitch [B, T] (the inputs)."""
        t = pitch.shape[1]
        # Key i proposes the pitch that followed note i (pitch[i + 1]), known for i < t − 1;
        # the query at position j may look at keys i < j.
        keys = F.linear(out, self.key)[:, :t - 1]
        query = F.linear(out, self.query)
        scores = query @ keys.transpose(1, 2) / math.sqrt(POINTER_DIM)
        i = torch.arange(t - 1, device=out.device).view(1, t - 1)
        j = torch.arange(t, device=out.device).view(t, 1)
        scores = scores.masked_fill((i >= j).unsqueeze(0), float("-inf"))
        # A null slot (score 0) lets the pointer abstain when nothing fits.
        null = scores.new_zeros(scores.shape[0], t, 1)
        attn = torch.softmax(torch.cat([scores, null], dim=2), dim=-1)
        followers = F.one_hot(pitch[:, 1:], PITCHES).float()
        copy = attn[:, :, :t - 1] @ followers
        abstain = attn[:, :, t - 1:]
        gate = torch.sigmoid(F.linear(out, self.gate_weight, self.gate_bias))
        p = torch.softmax(logits, dim=-1) * ((1 - gate) + gate * abstain) + gate * copy
        return p.clamp_min(1e-12).log()


class FolkModel(torch.nn.Module):
    def __init__(self, dropout=DROPOUT):
        super().__init__()
        self.dropout = dropout
        self.embed = torch.nn.Embedding(PITCHES, EMBED)
        self.embed_interval = torch.nn.Embedding(INTERVALS, EMBED)
        if POSITION:
            self.embed_position = torch.nn.Embedding(POSITIONS, EMBED)
        self.lstm = torch.nn.LSTM((3 if POSITION else 2) * EMBED + 2, HIDDEN, batch_first=True)
        self.fc_pitch = torch.nn.Linear(HIDDEN, PITCHES)
        self.fc_step = torch.nn.Linear(HIDDEN, CLASSES)
        self.fc_duration = torch.nn.Linear(HIDDEN, CLASSES)
        self.pointer = Pointer()

    def forward(self, pitch, timing, position):
        """pitch [B, T] int64, timing [B, T, 2], position [B, T] int64 (read with
        --position); every row starts fresh (zero LSTM state, no previous pitch)."""
        prev = torch.cat([torch.full_like(pitch[:, :1], -1), pitch[:, :-1]], dim=1)
        iv = (pitch - prev).clamp(-INTERVAL_RANGE, INTERVAL_RANGE) + INTERVAL_RANGE
        iv = torch.where(prev >= 0, iv, torch.full_like(iv, INTERVALS - 1))
        parts = [self.embed(pitch), self.embed_interval(iv), timing]
        if POSITION:
            parts.append(self.embed_position(position))
        x = torch.cat(parts, dim=2)
        x = F.dropout(x, self.dropout, self.training)
        out, _ = self.lstm(x)
        out = F.dropout(out, self.dropout, self.training)
        logits = self.pointer(out, self.fc_pitch(out), pitch)
        return logits, self.fc_step(out), self.fc_duration(out)


def load_tms_model(model, path):
    """Loads a tms model file (safetensors: an 8-byte little-endian header length, a JSON
    header, raw little-endian data) into `model`; every variable must match by name and
    shape. Returns the file's metadata."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    want = {"hidden": str(HIDDEN), "layers": "1", "embed": str(EMBED), "input": "embed",
            "head": "softmax", "pointer": "on", "rhythm": "grid",
            "position": "on" if POSITION else None}
    for k, v in want.items():
        if meta.get(k) != v:
            sys.exit(f"{path}: {k} is {meta.get(k)!r}, this model has {v!r}")
    data = raw[8 + n:]
    state = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            sys.exit(f"{path}: {name} is {t['dtype']}, expected F32")
        lo, hi = t["data_offsets"]
        a = np.frombuffer(data[lo:hi], dtype="<f4").reshape(t["shape"])
        state[name] = torch.from_numpy(a.copy())
    model.load_state_dict(state, strict=True)
    return meta


def tile(tunes, rng, augment=0):
    """tms's sequence-objective windows: (tune, start, length incl. the last target). With
    rng, from a random offset per tune and shuffled; without, from offset 0 in order (as
    tms's validation windows)."""
    out = []
    for i, (p, _, _, _) in enumerate(tunes):
        n = len(p)
        if n < 2:
            continue
        offset = rng.randrange(min(SEQ_LEN, n - 1)) if rng else 0
        cuts, s = [0], offset
        while s < n - 1:
            if s > 0:
                cuts.append(s)
            s += SEQ_LEN
        for k, s in enumerate(cuts):
            end = min(cuts[k + 1] + 1 if k + 1 < len(cuts) else n, s + SEQ_LEN + 1)
            if end - s >= 2:
                out.append((i, s, end - s, 0, False))
    if rng:
        if augment > 0:
            # tms's transposition augmentation: each window moved by a random number of
            # semitones within ±augment, pitches clamped to 0..=127.
            out = [(i, s, n, rng.randint(-augment, augment), h) for (i, s, n, _, h) in out]
        rng.shuffle(out)
        if POSITION:
            # tms draws these from a stream of their own; the share is what matters.
            out = [(i, s, n, a, rng.random() < HIDE_BARS) for (i, s, n, a, _) in out]
    return out


def batch(tunes, ws):
    t = max(w[2] for w in ws) - 1
    b = len(ws)
    pitch = np.zeros((b, t), dtype=np.int64)
    timing = np.zeros((b, t, 2), dtype=np.float32)
    tp = np.full((b, t), -100, dtype=np.int64)
    ts = np.zeros((b, t), dtype=np.float32)
    td = np.zeros((b, t), dtype=np.float32)
    mask = np.zeros((b, t), dtype=np.float32)
    position = np.full((b, t), UNKNOWN_POSITION, dtype=np.int64)
    for r, (i, s, n, shift, hidden) in enumerate(ws):
        p, st, du, pos = tunes[i]
        if shift:
            p = np.clip(np.asarray(p, dtype=np.int64) + shift, 0, PITCHES - 1)
        k = n - 1
        pitch[r, :k] = p[s:s + k]
        timing[r, :k, 0] = st[s:s + k]
        timing[r, :k, 1] = du[s:s + k]
        tp[r, :k] = p[s + 1:s + n]
        ts[r, :k] = st[s + 1:s + n]
        td[r, :k] = du[s + 1:s + n]
        mask[r, :k] = 1.0
        if not hidden:
            position[r, :k] = pos[s:s + k]
    return [torch.from_numpy(a) for a in (pitch, timing, tp, ts, td, mask, position)]


def target_classes(seconds, mask, least):
    """tms's rhythm::target_classes: the nearest class, -100 where not scored."""
    k = torch.round(seconds.double() / QUANTUM).clamp(least, MAX_QUANTA).long()
    return torch.where(mask > 0, k, torch.full_like(k, -100))


def rhythm_ce(logits, seconds, mask, least):
    return F.cross_entropy(logits.reshape(-1, CLASSES),
                           target_classes(seconds, mask, least).reshape(-1), ignore_index=-100)


def loss_fn(out, tp, ts, td, mask):
    logits, step, duration = out
    ce = F.cross_entropy(logits.reshape(-1, PITCHES), tp.reshape(-1), ignore_index=-100)
    return (ce * W_PITCH + rhythm_ce(step, ts, mask, 0) * W_STEP
            + rhythm_ce(duration, td, mask, 1) * W_DURATION)


def median_seconds(logits):
    """tms's rhythm::median_seconds: where each distribution's mass reaches one half."""
    below = (torch.softmax(logits, dim=-1).cumsum(-1) < 0.5).sum(-1).float()
    return below.clamp_max(MAX_QUANTA) * QUANTUM


@torch.no_grad()
def validation_loss(model, tunes, ws):
    """tms's validation loss: mean over scored positions, chunks of 512, no dropout."""
    model.eval()
    total, n = 0.0, 0
    for i in range(0, len(ws), 512):
        pitch, timing, tp, ts, td, mask, position = batch(tunes, ws[i:i + 512])
        m = int(mask.sum().item())
        total += loss_fn(model(pitch, timing, position), tp, ts, td, mask).item() * m
        n += m
    model.train()
    return total / max(n, 1)


def eval_set(tunes):
    """Every note with >= SEQ_LEN notes before it, as (inputs, target pitch, target step
    and duration)."""
    ps, ts, ys, yt, qs = [], [], [], [], []
    for p, st, du, pos in tunes:
        for target in range(SEQ_LEN, len(p)):
            s = target - SEQ_LEN
            ps.append(p[s:target])
            qs.append(pos[s:target])
            ts.append(np.stack([st[s:target], du[s:target]], axis=1))
            ys.append(p[target])
            yt.append((st[target], du[target]))
    return (torch.from_numpy(np.array(ps, dtype=np.int64).reshape(-1, SEQ_LEN)),
            torch.from_numpy(np.array(ts, dtype=np.float32).reshape(-1, SEQ_LEN, 2)),
            torch.from_numpy(np.array(ys, dtype=np.int64)),
            torch.from_numpy(np.array(yt, dtype=np.float32).reshape(-1, 2)),
            torch.from_numpy(np.array(qs, dtype=np.int64).reshape(-1, SEQ_LEN)))


@torch.no_grad()
def evaluate(model, data, timing_mae=False):
    """LANGUAGE.md's protocol: each window from a fresh state, the last position scored.
    Returns (pitch NLL, pitch accuracy), and with timing_mae also the step and duration
    mean absolute errors (of each distribution's median) and NLLs."""
    model.eval()
    pitch, timing, y, y_timing, position = data
    nll, hits, mae, rnll = 0.0, 0, [0.0, 0.0], [0.0, 0.0]
    for i in range(0, len(y), 1024):
        logits, step, duration = model(pitch[i:i + 1024], timing[i:i + 1024],
                                       position[i:i + 1024])
        last = logits[:, -1, :]
        logp = torch.log_softmax(last, dim=-1)
        nll -= logp.gather(1, y[i:i + 1024].unsqueeze(1)).double().sum().item()
        hits += (last.argmax(1) == y[i:i + 1024]).sum().item()
        for k, pred in enumerate((step, duration)):
            truth = y_timing[i:i + 1024, k]
            err = median_seconds(pred[:, -1]) - truth
            mae[k] += err.abs().double().sum().item()
            target = target_classes(truth, torch.ones_like(truth), k)
            lp = torch.log_softmax(pred[:, -1], dim=-1)
            rnll[k] -= lp.gather(1, target.unsqueeze(1)).double().sum().item()
    model.train()
    n = max(len(y), 1)
    if timing_mae:
        return nll / n, hits / n, mae[0] / n, mae[1] / n, rnll[0] / n, rnll[1] / n
    return nll / n, hits / n


def check_tms_model(path, held):
    """Loads a tms model file and prints its metrics on the evaluation tunes in tms's
    `evaluate` format."""
    model = FolkModel()
    params = sum(p.numel() for p in model.parameters())
    if params != TMS_PARAMETERS:
        sys.exit(f"the model has {params} parameters, tms's default {TMS_PARAMETERS}")
    meta = load_tms_model(model, path)
    print(f"loaded {path}: {params} parameters, {meta.get('epochs', '?')} epochs trained; "
          f"threads {torch.get_num_threads()}", flush=True)
    data = eval_set(held)
    nll, acc, step_mae, duration_mae, step_nll, duration_nll = evaluate(
        model, data, timing_mae=True)
    print(f"notes {len(data[2])} pitch_nll {nll:.4f} pitch_acc {acc:.4f} "
          f"step_mae {step_mae:.4f} duration_mae {duration_mae:.4f} "
          f"step_nll {step_nll:.4f} duration_nll {duration_nll:.4f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-abc", default="datasets/essen/han1.abc")
    ap.add_argument("--eval-abc", default="datasets/essen/han2.abc")
    ap.add_argument("--train-csv", help="tms export of the training tunes (else made with --tms)")
    ap.add_argument("--eval-csv", help="tms export of the evaluation tunes (else made with --tms)")
    ap.add_argument("--tms", default="target/release/tms")
    ap.add_argument("--max-epochs", type=int, default=EPOCHS)
    ap.add_argument("--target", type=float,
                    help="han2 pitch NLL to reach (benches/run.sh: tms's best); required "
                         "unless --check-tms-model")
    ap.add_argument("--check-tms-model", metavar="PATH",
                    help="no training: load this tms model file (e.g. models/folk.safetensors) "
                         "and print its han2 metrics, to compare with tms's `evaluate`")
    ap.add_argument("--val", type=float, default=0.1, help="fraction of training tunes held out")
    ap.add_argument("--lr-decay", type=float, default=LR_DECAY,
                    help="lr multiplied by this after every epoch (tms's lr_decay)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--augment", type=int, default=AUGMENT,
                    help="transpose each training window within ±N semitones (tms's augment)")
    ap.add_argument("--dropout", type=float, default=DROPOUT, help="tms's dropout")
    ap.add_argument("--position", action="store_true",
                    help="the model reads each note's place in its bar (tms's `position on`)")
    args = ap.parse_args()
    global POSITION, TMS_PARAMETERS
    POSITION = args.position
    if POSITION:
        TMS_PARAMETERS += POSITIONS * EMBED + 4 * HIDDEN * EMBED
    if args.target is None and not args.check_tms_model:
        ap.error("--target is required (unless --check-tms-model)")

    torch.set_num_threads(threads())
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        train_csv = args.train_csv or os.path.join(tmp, "train.csv")
        eval_csv = args.eval_csv or os.path.join(tmp, "eval.csv")
        if not args.eval_csv:
            export_with_tms(args.tms, args.eval_abc, eval_csv)
        held = read_tunes(eval_csv)
        if args.check_tms_model:
            check_tms_model(args.check_tms_model, held)
            return
        if not args.train_csv:
            export_with_tms(args.tms, args.train_abc, train_csv)
        tunes = read_tunes(train_csv)

    # tms's split_validation: round(val·n) tunes, at least 1 and at most n−1 when val > 0.
    n = len(tunes)
    k = min(max(round(args.val * n), 1), n - 1) if args.val > 0 and n >= 2 else 0
    idx = list(range(n))
    rng.shuffle(idx)
    train = [tunes[i] for i in sorted(idx[k:])]
    val = [tunes[i] for i in sorted(idx[:k])]
    val_windows = tile(val, None)
    val_data = eval_set(val)
    data = eval_set(held)

    model = FolkModel(args.dropout)
    params = sum(p.numel() for p in model.parameters())
    if params != TMS_PARAMETERS:
        sys.exit(f"the model has {params} parameters, tms's default {TMS_PARAMETERS}")
    print(f"training on {len(train)} tunes ({sum(len(t[0]) for t in train)} notes, "
          f"{len(tile(train, None))} sequence windows of {SEQ_LEN}, batch {BATCH}, adam lr {LR} "
          f"decay {args.lr_decay}, dropout {args.dropout}, augment {args.augment}, pointer"
          f"{', position' if POSITION else ''}), validating on {k}; eval tunes "
          f"{len(held)} scored notes {len(data[2])}; {params} parameters; threads "
          f"{torch.get_num_threads()}", flush=True)

    opt = torch.optim.Adam(model.parameters(), lr=LR)
    model.train()
    total, best, best_val = 0.0, float("inf"), None
    for epoch in range(1, args.max_epochs + 1):
        for g in opt.param_groups:
            g["lr"] = LR * args.lr_decay ** (epoch - 1)
        t0 = time.perf_counter()
        ws = tile(train, rng, args.augment)
        loss_sum, scored = 0.0, 0
        for i in range(0, len(ws), BATCH):
            pitch, timing, tp, ts, td, mask, position = batch(train, ws[i:i + BATCH])
            loss = loss_fn(model(pitch, timing, position), tp, ts, td, mask)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
            opt.step()
            m = int(mask.sum().item())
            loss_sum += loss.item() * m
            scored += m
        vloss = vnll = None
        if val_windows:
            vloss = validation_loss(model, val, val_windows)
            vnll, _ = evaluate(model, val_data)
        total += time.perf_counter() - t0
        if vloss is not None and (best_val is None or vloss < best_val[0]):
            best_val = (vloss, epoch)
        nll, acc = evaluate(model, data)
        nll = round(nll, 4)
        best = min(best, nll)
        line = (f"epoch {epoch} train_seconds {total:.2f} han2_pitch_nll {nll:.4f} "
                f"pitch_acc {acc:.4f} loss {loss_sum / max(scored, 1):.4f}")
        if vloss is not None:
            line += f" val {vloss:.4f} val_pitch_nll {vnll:.4f}"
        print(line, flush=True)
        if nll <= args.target:
            print(f"reached NLL<={args.target} epoch {epoch} train_seconds {total:.2f}")
            return
    kept = f" best_val_epoch {best_val[1]}" if best_val else ""
    print(f"not reached NLL<={args.target} best {best:.4f} epochs {args.max_epochs} "
          f"train_seconds {total:.2f}{kept}")


if __name__ == "__main__":
    main()
