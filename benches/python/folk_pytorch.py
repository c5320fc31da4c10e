#!/usr/bin/env python3
"""tms's default model and training, written directly in PyTorch: the quality-versus-time
baseline for `make bench` (benches/run.sh runs tms's side with the same settings).

Model (tms's defaults): a learned pitch embedding of 32 concatenated with (step, duration)
→ LSTM(34, 256, batch_first) → a softmax pitch head (128 logits) and linear step and
duration heads at every position. PyTorch's default initialisation is the one tms uses
(uniform ±1/√256 for the LSTM and heads, N(0, 1) for the embedding).

Training (tms's defaults): the sequence objective — each tune is tiled into windows of up
to 32 inputs from a random offset drawn afresh each epoch (tms's tiling, so every next note
is predicted once per epoch), windows shuffled, batches of 64 padded at the end; loss =
cross-entropy on the pitch logits + mse-with-positive-pressure (mean((y−ŷ)² + 10·relu(−ŷ)))
of step + the same of duration, each averaged over the scored positions, weights 1, 1, 1;
Adam at lr 0.003; gradient norm clipped to 1.0.

Data: the notes as tms reads them (`export` from `tms -c 'set abc_accidentals note; load
...'`), so both sides see identical notes. Trained on han1.abc — by default on 90% of its
tunes (`--val 0.1`, a seeded split), the amount of data tms trains on with its default `val
0.1`; the held-out tunes are not used — and scored on han2.abc after every epoch by
LANGUAGE.md's evaluation protocol: every note with at least 32 notes before it in its tune is
predicted from exactly those 32 notes, from a fresh state; mean NLL in nats.

Timing: the cumulative wall time of the training epochs (window tiling, batching, forward,
backward, step); evaluation is not counted. tms's own `epoch N ... S s` also includes its
validation pass over the held-out tunes.

Usage: python folk_pytorch.py [--max-epochs 30] [--target 1.52] [--tms target/release/tms]
       python folk_pytorch.py --train-csv han1.csv --eval-csv han2.csv
Prints per epoch `epoch E train_seconds CUM han2_pitch_nll X pitch_acc A loss L`, then
`reached NLL<=T epoch E train_seconds S` or `not reached NLL<=T best B epochs E
train_seconds S`.
"""
import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

SEQ_LEN = 32
BATCH = 64
LR = 0.003
CLIP = 1.0
HIDDEN = 256
EMBED = 32


def threads():
    """The thread count tms uses: TMS_THREADS, else the machine's cores (at most 8)."""
    n = int(os.environ.get("TMS_THREADS", "0") or 0)
    return n if n > 0 else min(os.cpu_count() or 1, 8)


def export_with_tms(tms, abc, csv_path):
    cmd = f'set abc_accidentals note; load "{abc}"; export "{csv_path}"'
    r = subprocess.run([tms, "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if r.returncode != 0:
        sys.exit(f"{tms} -c '{cmd}' failed:\n{r.stdout}")


def read_tunes(path):
    """Tunes in file order: (pitch int64, step float32, duration float32) arrays."""
    groups, order = {}, []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            src = row["source"]
            if src not in groups:
                groups[src] = []
                order.append(src)
            groups[src].append((int(row["pitch"]), float(row["step"]), float(row["duration"])))
    tunes = []
    for src in order:
        a = groups[src]
        tunes.append((
            np.array([n[0] for n in a], dtype=np.int64),
            np.array([n[1] for n in a], dtype=np.float32),
            np.array([n[2] for n in a], dtype=np.float32),
        ))
    return tunes


class FolkModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(128, EMBED)
        self.lstm = torch.nn.LSTM(EMBED + 2, HIDDEN, batch_first=True)
        self.fc_pitch = torch.nn.Linear(HIDDEN, 128)
        self.fc_step = torch.nn.Linear(HIDDEN, 1)
        self.fc_duration = torch.nn.Linear(HIDDEN, 1)

    def forward(self, pitch, timing):
        x = torch.cat([self.embed(pitch), timing], dim=2)
        out, _ = self.lstm(x)
        return self.fc_pitch(out), self.fc_step(out).squeeze(2), self.fc_duration(out).squeeze(2)


def tile(tunes, rng):
    """tms's sequence-objective windows: (tune, start, length incl. the last target)."""
    out = []
    for i, (p, _, _) in enumerate(tunes):
        n = len(p)
        if n < 2:
            continue
        offset = rng.randrange(min(SEQ_LEN, n - 1))
        cuts, s = [0], offset
        while s < n - 1:
            if s > 0:
                cuts.append(s)
            s += SEQ_LEN
        for k, s in enumerate(cuts):
            end = min(cuts[k + 1] + 1 if k + 1 < len(cuts) else n, s + SEQ_LEN + 1)
            if end - s >= 2:
                out.append((i, s, end - s))
    rng.shuffle(out)
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
    for r, (i, s, n) in enumerate(ws):
        p, st, du = tunes[i]
        k = n - 1
        pitch[r, :k] = p[s:s + k]
        timing[r, :k, 0] = st[s:s + k]
        timing[r, :k, 1] = du[s:s + k]
        tp[r, :k] = p[s + 1:s + n]
        ts[r, :k] = st[s + 1:s + n]
        td[r, :k] = du[s + 1:s + n]
        mask[r, :k] = 1.0
    return [torch.from_numpy(a) for a in (pitch, timing, tp, ts, td, mask)]


def loss_fn(out, tp, ts, td, mask):
    logits, step, duration = out
    ce = F.cross_entropy(logits.reshape(-1, 128), tp.reshape(-1), ignore_index=-100)
    n = mask.sum()

    def pressure(pred, y):
        return (((pred - y) ** 2 + 10.0 * torch.relu(-pred)) * mask).sum() / n

    return ce + pressure(step, ts) + pressure(duration, td)


def eval_set(tunes):
    """Every note with >= SEQ_LEN notes before it, as (inputs, target pitch)."""
    ps, ts, ys = [], [], []
    for p, st, du in tunes:
        for target in range(SEQ_LEN, len(p)):
            s = target - SEQ_LEN
            ps.append(p[s:target])
            ts.append(np.stack([st[s:target], du[s:target]], axis=1))
            ys.append(p[target])
    return (torch.from_numpy(np.array(ps, dtype=np.int64)),
            torch.from_numpy(np.array(ts, dtype=np.float32)),
            torch.from_numpy(np.array(ys, dtype=np.int64)))


@torch.no_grad()
def evaluate(model, data):
    model.eval()
    pitch, timing, y = data
    nll, hits = 0.0, 0
    for i in range(0, len(y), 1024):
        logits, _, _ = model(pitch[i:i + 1024], timing[i:i + 1024])
        last = logits[:, -1, :]
        logp = torch.log_softmax(last, dim=-1)
        nll -= logp.gather(1, y[i:i + 1024].unsqueeze(1)).double().sum().item()
        hits += (last.argmax(1) == y[i:i + 1024]).sum().item()
    model.train()
    return nll / len(y), hits / len(y)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-abc", default="datasets/essen/han1.abc")
    ap.add_argument("--eval-abc", default="datasets/essen/han2.abc")
    ap.add_argument("--train-csv", help="tms export of the training tunes (else made with --tms)")
    ap.add_argument("--eval-csv", help="tms export of the evaluation tunes (else made with --tms)")
    ap.add_argument("--tms", default="target/release/tms")
    ap.add_argument("--max-epochs", type=int, default=30)
    ap.add_argument("--target", type=float, default=1.52)
    ap.add_argument("--val", type=float, default=0.1, help="fraction of training tunes left out")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    torch.set_num_threads(threads())
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        train_csv = args.train_csv or os.path.join(tmp, "train.csv")
        eval_csv = args.eval_csv or os.path.join(tmp, "eval.csv")
        if not args.train_csv:
            export_with_tms(args.tms, args.train_abc, train_csv)
        if not args.eval_csv:
            export_with_tms(args.tms, args.eval_abc, eval_csv)
        tunes = read_tunes(train_csv)
        held = read_tunes(eval_csv)

    n = len(tunes)
    k = min(max(round(args.val * n), 1), n - 1) if args.val > 0 and n >= 2 else 0
    idx = list(range(n))
    rng.shuffle(idx)
    train = [tunes[i] for i in sorted(idx[k:])]
    data = eval_set(held)
    print(f"train tunes {len(train)} notes {sum(len(t[0]) for t in train)} (left out {k}) "
          f"eval tunes {len(held)} scored notes {len(data[2])} threads {torch.get_num_threads()}",
          flush=True)

    model = FolkModel()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    model.train()
    total, best = 0.0, float("inf")
    for epoch in range(1, args.max_epochs + 1):
        t0 = time.perf_counter()
        ws = tile(train, rng)
        loss_sum, scored = 0.0, 0
        for i in range(0, len(ws), BATCH):
            pitch, timing, tp, ts, td, mask = batch(train, ws[i:i + BATCH])
            loss = loss_fn(model(pitch, timing), tp, ts, td, mask)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
            opt.step()
            m = int(mask.sum().item())
            loss_sum += loss.item() * m
            scored += m
        total += time.perf_counter() - t0
        nll, acc = evaluate(model, data)
        best = min(best, nll)
        print(f"epoch {epoch} train_seconds {total:.2f} han2_pitch_nll {nll:.4f} "
              f"pitch_acc {acc:.4f} loss {loss_sum / max(scored, 1):.4f}", flush=True)
        if nll <= args.target:
            print(f"reached NLL<={args.target} epoch {epoch} train_seconds {total:.2f}")
            return
    print(f"not reached NLL<={args.target} best {best:.4f} epochs {args.max_epochs} "
          f"train_seconds {total:.2f}")


if __name__ == "__main__":
    main()
