"""``mixdiag train`` that stops for good at one chosen moment, so a test can SIGKILL it there.

    python paused_train.py POINT MARKER [train options...]

POINT is one of:

* ``step:N``: right after the N-th optimizer step of the run (mid-epoch);
* ``checkpoint-write:E``: half of epoch E's ``last.pt`` is in its temporary file;
* ``metrics-write:E``: epoch E's checkpoints are in place, its metrics line is not yet written.

On reaching it the process creates MARKER and sleeps. Until then nothing here changes what
training computes; the test compares the resumed run with an uninterrupted one.
"""

import io
import sys
import time
from pathlib import Path

import torch

import mixdiag.training.trainer as trainer
from mixdiag.cli.main import main

point, marker = sys.argv[1], Path(sys.argv[2])
kind, _, number = point.partition(":")
number = int(number)


def hold():
    marker.touch()
    time.sleep(3600)


if kind == "step":
    sgd_step, steps = torch.optim.SGD.step, [0]

    def step(self, *args, **kwargs):
        result = sgd_step(self, *args, **kwargs)
        steps[0] += 1
        if steps[0] == number:
            hold()
        return result

    torch.optim.SGD.step = step
elif kind == "checkpoint-write":
    torch_save = torch.save

    def save(obj, f, *args, **kwargs):
        if Path(f).name.startswith(".last.pt.") and obj.get("epoch") == number:
            buffer = io.BytesIO()
            torch_save(obj, buffer, *args, **kwargs)
            with open(f, "wb") as out:
                out.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            hold()
        return torch_save(obj, f, *args, **kwargs)

    torch.save = save
elif kind == "metrics-write":
    append_jsonl = trainer.append_jsonl

    def append(path, record):
        if record["epoch"] == number:
            hold()
        return append_jsonl(path, record)

    trainer.append_jsonl = append
else:
    raise SystemExit(f"unknown point {point!r}")

sys.argv = ["mixdiag", "train", *sys.argv[3:]]
main()
