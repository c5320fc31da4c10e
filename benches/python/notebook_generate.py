#!/usr/bin/env python3
"""The original notebook's generation loop, as the baseline for tms's generation benchmark
(benches/generate.rs, model `notebook`).

As the notebook did: the primer is the last `sequence_lenth` notes of samples/little_star.mid
as (pitch/128, step, duration) rows; for every new note the whole window goes through the
model again from a fresh LSTM state (`PredictNextNote`: `model.eval()`, `torch.no_grad()`,
a new tensor from the numpy window), the pitch is drawn by `WeightedRandom` from the
sigmoid outputs (normalised by their sum, in integer steps of 1e-5), step and duration are
clamped at 0, and the window slides by one with `np.append`. The notebook used a window of
10 notes at generation (its `sequence_lenth = 10` in the Predict section, the primer length),
not the 25 it trained with; `--window 25` runs the longer window. `np.squeeze` of the
model's output is still a torch tensor, so `WeightedRandom` loops over 128 zero-dimensional
tensors twice per note, which costs more than the model itself; `--numpy` converts the pitch
outputs to numpy first (the obvious fix, not in the notebook) to show the loop without that
cost. The notebook also appended the raw pitch (0–127) to a window of pitch/128 values: a
bug, kept here since it changes nothing in the cost. The weights are a fresh seeded model:
speed does not depend on their values. The notebook's tqdm progress bar is left out.

Usage: python notebook_generate.py [--notes 20000] [--window 10] [--numpy]
Prints: `generate notes N window W numpy 0|1 seconds S notes_per_second R`.
"""
import argparse
import random
import time
import warnings

import numpy as np
import torch
from pretty_midi import PrettyMIDI

# The notebook's model and note extraction, shared with the training benchmark.
from notebook_pipeline import GetNoteSequence, SimpleRNNMusicGeneratorModel, threads

warnings.filterwarnings("ignore")


def WeightedRandom(weight, k=100000) -> int:
    sum = int(0)
    for w in weight:
        sum += int(k * w)
    x = random.randint(1, sum)
    sum = 0
    for id, w in enumerate(weight):
        sum += int(k * w)
        if sum >= x:
            return id
    return


def PredictNextNote(model, input: np.ndarray, to_numpy=False):
    model.eval()
    with torch.no_grad():
        input = torch.tensor(input, dtype=torch.float32).unsqueeze(0)
        pred = model(input)
        # --numpy is not in the notebook
        weights = pred["pitch"].numpy() if to_numpy else pred["pitch"]
        pitch = WeightedRandom(np.squeeze(weights, axis=0))
        step = np.maximum(np.squeeze(pred["step"], axis=0), 0)
        duration = np.maximum(np.squeeze(pred["duration"], axis=0), 0)
    return pitch, float(step), float(duration)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--notes", type=int, default=20000)
    ap.add_argument("--window", type=int, default=10)
    ap.add_argument("--primer", default="samples/little_star.mid")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--numpy", action="store_true",
                    help="sample from numpy arrays (not in the notebook)")
    args = ap.parse_args()

    torch.set_num_threads(threads())
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    model = SimpleRNNMusicGeneratorModel()

    notes = GetNoteSequence(PrettyMIDI(args.primer).instruments[0]) / [128.0, 1.0, 1.0]
    notes = np.array(notes, dtype=np.float32)
    if len(notes) < args.window:  # a short primer is repeated to fill the window
        notes = np.concatenate([notes] * (args.window // len(notes) + 1))
    cur = notes[-args.window :]

    for _ in range(50):  # untimed warm-up, as in benches/generate.rs
        PredictNextNote(model, cur, args.numpy)
    res = []
    prev_start = 0
    t0 = time.perf_counter()
    for i in range(args.notes):
        pitch, step, duration = PredictNextNote(model, cur, args.numpy)
        res.append([pitch, step, duration])
        cur = cur[1:]
        cur = np.append(cur, [[pitch, step, duration]], axis=0)
        prev_start += step
    elapsed = time.perf_counter() - t0
    print(f"generate notes {args.notes} window {args.window} numpy {int(args.numpy)} "
          f"seconds {elapsed:.3f} "
          f"notes_per_second {args.notes / elapsed:.0f}")


if __name__ == "__main__":
    main()
