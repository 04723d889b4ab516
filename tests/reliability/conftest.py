"""Fixtures of the reliability tests: a trained run and crafted bad inputs, made once per session."""

from __future__ import annotations

import gzip
import pickle
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from mixdiag.training.checkpoint import load_checkpoint, save_checkpoint

from cli_support import Payload


@pytest.fixture(scope="session")
def run(tiny_runs) -> Path:
    """A one-epoch digits run (ERM, PreAct-ResNet-20); tests copy it before changing anything."""
    return tiny_runs["erm"]


@pytest.fixture(scope="session")
def ckpt(run) -> Path:
    return run / "checkpoints" / "last.pt"


@pytest.fixture(scope="session")
def files(tmp_path_factory, run, ckpt) -> Path:
    """Bad inputs, made once: hostile, damaged and foreign checkpoints, bad tables, bad datasets."""
    d = tmp_path_factory.mktemp("bad-inputs")
    good = ckpt.read_bytes()
    state = load_checkpoint(ckpt)

    # Hostile: a checkpoint that runs code when unpickled, in torch's zip format and as a bare pickle.
    torch.save({**state, "extra": Payload(d / "PWNED")}, d / "evil.pt")
    (d / "evil-raw.pt").write_bytes(pickle.dumps({"format": state["format"], "extra": Payload(d / "PWNED")}, protocol=2, fix_imports=False))

    # Damaged and foreign.
    (d / "text.pt").write_text("this is not a checkpoint\n")
    (d / "truncated.pt").write_bytes(good[: len(good) // 2])
    (d / "empty.pt").write_bytes(b"")
    torch.save(state["model"], d / "state-dict.pt")
    save_checkpoint(d / "other-model.pt", {**state, "model_name": "preact-resnet32"})
    weights = dict(state["model"])
    stem = next(k for k in weights if weights[k].dim() == 4)  # the first convolution
    weights[stem] = torch.full_like(weights[stem], float("nan"))
    save_checkpoint(d / "nan.pt", {**state, "model": weights})
    # A zero stem makes every sample's features the same: η² is undefined everywhere.
    save_checkpoint(d / "constant.pt", {**state, "model": {**state["model"], stem: torch.zeros_like(weights[stem])}})
    # The same weights as if trained with --val-fraction 0: its data has no validation split.
    save_checkpoint(d / "no-val.pt", {**state, "config": {**state["config"], "val_fraction": 0.0}, "validation": None})

    # Tables: two valid eta2 outputs, a damaged one and a foreign one.
    for name, method in [("eta2-erm", "erm"), ("eta2-mixup", "mixup")]:
        (d / name).mkdir()
        rows = [dict(run=name, method=method, block=b, module=f"layer{b}", dim=4, n=10, k=2, eta2=0.5 + b / 10) for b in range(3)]
        pd.DataFrame(rows).to_csv(d / name / "eta2.csv", index=False)
    (d / "eta2-damaged").mkdir()
    (d / "eta2-damaged" / "eta2.csv").write_bytes(b"\xff\xfe\x00garbage\x00\x81" * 50)
    pd.DataFrame({"x": [1, 2]}).to_csv(d / "foreign.csv", index=False)
    (d / "empty-dir").mkdir()

    # Runs for plot-track: one whose track is damaged, one whose track is fine.
    for name, content in [("track-damaged", "epoch,block\n1,0,extra,fields\n\"unclosed"), ("track-ok", None)]:
        (d / name).mkdir()
        shutil.copy(run / "config.json", d / name / "config.json")
        track = pd.DataFrame([dict(epoch=e, block=b, module=f"layer{b}", eta2=0.1 * e) for e in (1, 2) for b in range(2)])
        (d / name / "eta2_track.csv").write_text(content if content is not None else track.to_csv(index=False))

    # Datasets in the wrong layout: Fashion-MNIST with a truncated image file.
    fashion = d / "fashion-truncated"
    fashion.mkdir()
    for stem, n, shape in [("train-images-idx3-ubyte", 20, (28, 28)), ("train-labels-idx1-ubyte", 20, ()),
                           ("t10k-images-idx3-ubyte", 10, (28, 28)), ("t10k-labels-idx1-ubyte", 10, ())]:
        dims = (n, *shape)
        header = bytes([0, 0, 8, len(dims)]) + b"".join(x.to_bytes(4, "big") for x in dims)
        body = bytes(int(torch.tensor(dims).prod()) if shape else n)
        (fashion / f"{stem}.gz").write_bytes(gzip.compress(header + body))
    raw = gzip.decompress((fashion / "train-images-idx3-ubyte.gz").read_bytes())
    (fashion / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw[: len(raw) // 3]))

    # Runs that cannot be resumed: a damaged checkpoint, a checkpoint of another model, damaged settings.
    for name in ("run-truncated", "run-other-model", "run-bad-config"):
        shutil.copytree(run, d / name)
    shutil.copy(d / "truncated.pt", d / "run-truncated" / "checkpoints" / "last.pt")
    shutil.copy(d / "other-model.pt", d / "run-other-model" / "checkpoints" / "last.pt")
    (d / "run-bad-config" / "config.json").write_text('{"dataset": "digits", "epochs": ')

    (d / "a-file").write_text("an ordinary file where a directory is expected\n")
    return d
