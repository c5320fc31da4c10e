"""Writes the PyTorch state_dict fixtures that tests/pth.rs reads.

Run with the project's PyTorch (2.11):
    .venv/bin/python tests/golden/make_pth.py
It defines the original notebook's model class verbatim, seeds torch, saves the
state_dict the way the notebook did (zip format) and the pre-1.6 legacy way, plus a
float64 copy and one whose tensors are non-contiguous views, and records what PyTorch
itself computes for a fixed input window so the Rust side can check its reading against
an independent forward pass.
"""

import json
import os

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "pth")


class SimpleRNNMusicGeneratorModel(torch.nn.Module):
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


def floats(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(1234)
    model = SimpleRNNMusicGeneratorModel()
    model.eval()
    sd = model.state_dict()

    torch.save(sd, os.path.join(OUT, "notebook_zip.pth"))
    torch.save(
        sd,
        os.path.join(OUT, "notebook_legacy.pth"),
        _use_new_zipfile_serialization=False,
    )

    # float64: the reader must convert to f32 exactly as PyTorch's .float() would. The
    # largest matrix is left out to keep the fixture small.
    sd64 = {k: v.double() for k, v in sd.items() if k != "lstm.weight_hh_l0"}
    torch.save(sd64, os.path.join(OUT, "notebook_f64.pth"))

    # Non-contiguous views: a transposed matrix, a strided slice and an offset slice of
    # one shared storage, in both formats.
    base = torch.arange(60, dtype=torch.float32).reshape(6, 10) / 7.0
    views = {
        "t": base.t(),  # shape (10, 6), stride (1, 10)
        "every_other": base[:, ::2],  # shape (6, 5), stride (10, 2)
        "row_tail": base[2, 3:],  # offset 23, shape (7,)
        "half": base[1:3].half(),  # its own float16 storage
        "bf": base[0].bfloat16(),  # bfloat16 storage
        "scalar": base[4, 4].clone(),  # 0-d tensor
    }
    torch.save(views, os.path.join(OUT, "views_zip.pth"))
    torch.save(
        views,
        os.path.join(OUT, "views_legacy.pth"),
        _use_new_zipfile_serialization=False,
    )

    # A fixed window like the notebook's inputs: (pitch/128, step, duration).
    g = torch.Generator().manual_seed(99)
    pitches = torch.randint(48, 80, (25,), generator=g).float() / 128.0
    steps = torch.rand(25, generator=g) * 0.5
    durs = torch.rand(25, generator=g) * 0.8 + 0.1
    x = torch.stack([pitches, steps, durs], dim=1).unsqueeze(0)  # (1, 25, 3)
    with torch.no_grad():
        y = model(x)

    expected = {
        "seed": 1234,
        "input": [[floats(row) for row in x[0]]],
        "pitch": floats(y["pitch"][0]),
        "step": float(y["step"][0, 0]),
        "duration": float(y["duration"][0, 0]),
        "tensors": [
            {
                "name": k,
                "shape": list(v.shape),
                "numel": v.numel(),
                "first": floats(v.reshape(-1)[:5]),
                "last": floats(v.reshape(-1)[-5:]),
                # Sum in float64 so the Rust test can check every value, not just ends.
                "sum": float(v.double().sum()),
            }
            for k, v in sd.items()
        ],
        "views": [
            {"name": k, "shape": list(v.shape), "values": floats(v.float())}
            for k, v in views.items()
        ],
    }
    with open(os.path.join(OUT, "notebook_expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
