#!/usr/bin/env python3
"""The original notebook's training pipeline, as the baseline for tms's training benchmark
(benches/notebook_epoch.tms runs the same configuration in tms).

What the notebook did, kept here: pretty_midi notes of `instruments[0]` per file, sorted by
start, as (pitch, step, duration) rows with pitch divided by 128; a torch `Dataset` whose
items are (window of 25 notes, label dict of the next note) built from numpy slices and
collated by the default `DataLoader` collate; the `SimpleRNNMusicGeneratorModel` (LSTM(3,128,
batch_first) → sigmoid pitch head, step and duration heads on the last position); its
`CustomLoss` (CrossEntropyLoss applied to the sigmoid outputs, mse-with-positive-pressure on
step and duration, weights 0.1, 20, 1); SGD at lr 0.001; batch 256.

Two deliberate differences, so that both sides do the same work:
- Windows never cross a file boundary. The notebook concatenated every file's notes and cut
  windows through the whole array (len(notes) - 25 of them, some spanning two songs); tms
  cuts windows inside one tune, so here each file contributes len(file) - 25 windows and
  the window count equals the one tms prints.
- The loader shuffles (tms shuffles its windows every epoch; the notebook's DataLoader did
  not). `--no-shuffle` gives the notebook's order.
One notebook detail is kept although it is a bug: the step and duration predictions are
[B, 1] and their targets [B], so `(y - pred) ** 2` broadcasts to a [B, B] matrix whose mean
is the loss (tms scores each prediction against its own target). `--fixed-mse` compares
[B] with [B] instead; the cost difference is negligible either way.

Only the epoch loop is timed (data loading and model construction are not).

Usage: python notebook_pipeline.py 'datasets/essen-midi/*.mid' [--epochs 1] [--limit N]
Prints, per epoch: `epoch E windows W seconds S windows_per_second R loss L`.
"""
import argparse
import glob
import os
import time
import warnings

import numpy as np
import torch
from pretty_midi import PrettyMIDI
from torch.utils.data import DataLoader, Dataset

warnings.filterwarnings("ignore")


def threads():
    """The thread count tms uses: TMS_THREADS (benches/run.sh sets it to the cores, at most 8)."""
    n = int(os.environ.get("TMS_THREADS", "0") or 0)
    return n if n > 0 else min(os.cpu_count() or 1, 8)


def GetNoteSequence(instrument) -> np.ndarray:
    sorted_notes = sorted(instrument.notes, key=lambda x: x.start)
    assert len(sorted_notes) > 0
    notes = []
    prev_start = sorted_notes[0].start
    for note in sorted_notes:
        notes.append([note.pitch, note.start - prev_start, note.end - note.start])
        prev_start = note.start
    return np.array(notes)


class SimpleRNNMusicGeneratorModel(torch.nn.Module):
    """The notebook's model, its layer names included."""

    def __init__(self):
        super(SimpleRNNMusicGeneratorModel, self).__init__()
        self.lstm = torch.nn.LSTM(3, 128, num_layers=1, batch_first=True)
        self.pitch_linear = torch.nn.Linear(128, 128)
        self.pitch_sigmoid = torch.nn.Sigmoid()
        self.step_linear = torch.nn.Linear(128, 1)
        self.duration_linear = torch.nn.Linear(128, 1)

    def forward(self, x):
        x, _ = self.lstm(x)
        pitch = self.pitch_sigmoid(self.pitch_linear(x[:, -1]))
        step = self.step_linear(x[:, -1])
        duration = self.duration_linear(x[:, -1])
        return {"pitch": pitch, "step": step, "duration": duration}


class CustomLoss(torch.nn.Module):
    def __init__(self, weight, fixed_mse=False):
        super().__init__()
        self.weight = torch.Tensor(weight)
        self.pitch_loss = torch.nn.CrossEntropyLoss()
        self.fixed_mse = fixed_mse

    @staticmethod
    def mse_with_positive_pressure(pred, y):
        mse = (y - pred) ** 2
        positive_pressure = 10 * torch.maximum(-pred, torch.tensor(0))
        return torch.mean(mse + positive_pressure)

    def forward(self, pred, y):
        step, duration = pred["step"], pred["duration"]
        if self.fixed_mse:
            step, duration = step.squeeze(1), duration.squeeze(1)
        a = self.pitch_loss(pred["pitch"], y["pitch"])
        b = self.mse_with_positive_pressure(step, y["step"])
        c = self.mse_with_positive_pressure(duration, y["duration"])
        return a * self.weight[0] + b * self.weight[1] + c * self.weight[2]


class MusicDataset(Dataset):
    """The notebook's dataset, with windows kept inside each file (see the module doc)."""

    def __init__(self, files, seq_len, max_file_num=None):
        filenames = sorted(glob.glob(files))
        if max_file_num is not None:
            filenames = filenames[:max_file_num]
        parts, starts, offset, skipped = [], [], 0, 0
        for f in filenames:
            try:
                pm = PrettyMIDI(f)
                new_notes = GetNoteSequence(pm.instruments[0])
            except Exception:  # noqa: BLE001 - no instrument or no notes: tms skips it too
                skipped += 1
                continue
            new_notes /= [128.0, 1.0, 1.0]
            parts.append(new_notes)
            # Every window that ends (label included) inside this file.
            starts.extend(range(offset, offset + len(new_notes) - seq_len))
            offset += len(new_notes)
        self.files = len(parts)
        self.skipped = skipped
        self.seq_len = seq_len
        self.notes = np.array(np.concatenate(parts), dtype=np.float32)
        self.starts = starts

    def __len__(self):
        return len(self.starts)

    def __getitem__(self, i):
        idx = self.starts[i]
        label_note = self.notes[idx + self.seq_len]
        label = {
            "pitch": (label_note[0] * 128).astype(np.int64),
            "step": label_note[1],
            "duration": label_note[2],
        }
        return self.notes[idx : idx + self.seq_len], label


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("glob")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--limit", type=int, default=None, help="first N files only")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--no-shuffle", action="store_true")
    ap.add_argument("--fixed-mse", action="store_true")
    args = ap.parse_args()

    torch.set_num_threads(threads())
    torch.manual_seed(args.seed)
    batch_size = 256
    sequence_lenth = 25
    learning_rate = 0.001
    loss_weight = [0.1, 20.0, 1.0]
    device = "cpu"

    data = MusicDataset(args.glob, sequence_lenth, max_file_num=args.limit)
    print(f"files {data.files} skipped {data.skipped} notes {len(data.notes)} "
          f"windows {len(data)} threads {torch.get_num_threads()}", flush=True)
    loader = DataLoader(data, batch_size=batch_size, shuffle=not args.no_shuffle)
    model = SimpleRNNMusicGeneratorModel().to(device)
    loss_fn = CustomLoss(loss_weight, fixed_mse=args.fixed_mse).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)

    for t in range(args.epochs):
        t0 = time.perf_counter()
        model.train()
        avg_loss = 0.0
        for X, y in loader:
            X = X.to(device)
            for feat in y.keys():
                y[feat] = y[feat].to(device)
            pred = model(X)
            loss = loss_fn(pred, y)
            avg_loss = avg_loss + loss.item()

            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        avg_loss /= len(loader)
        elapsed = time.perf_counter() - t0
        print(f"epoch {t + 1} windows {len(data)} seconds {elapsed:.3f} "
              f"windows_per_second {len(data) / elapsed:.0f} loss {avg_loss:.4f}", flush=True)


if __name__ == "__main__":
    main()
