"""η² during training: per-block η² on a fixed probe subset of the training data.

The probe is drawn once per run from the run's seed, so every epoch measures the same
samples and a resumed run measures what the uninterrupted run would have. The fit uses
every probe sample (``sample_size="all"``); the probe is small, so this is exact k-means
on the probe rather than a subsample of it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .._io import atomic_path, read_csv
from ..errors import MixdiagError
from .eta2 import compute_eta2

TRACK_FILE = "eta2_track.csv"


def probe_indices(n: int, size: int, seed: int) -> torch.Tensor:
    """Sorted indices of ``min(size, n)`` training samples, fixed by ``seed``."""
    rng = np.random.default_rng(seed)
    return torch.from_numpy(np.sort(rng.choice(n, size=min(size, n), replace=False)))


def track_rows(model, x_probe: torch.Tensor, transform, *, k: int, seed: int, epoch: int, device) -> list[dict]:
    """One row per hidden state: ``epoch, block, module, dim, n, k, eta2, ssi, sst``."""
    # Unsharded: under several training processes this process measures the small probe
    # alone, whether one rank or all of them call, and never waits for the others.
    table = compute_eta2(model, x_probe, transform, k=min(k, len(x_probe)), sample_size="all", seed=seed, device=device, batch_size=256,
                         shard=False)
    table.insert(0, "epoch", epoch)
    return table.drop(columns=["eta2_std"]).to_dict("records")


def write_track(run_dir: str | Path, rows: list[dict]) -> None:
    with atomic_path(Path(run_dir) / TRACK_FILE) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)


def read_track(run_dir: str | Path) -> pd.DataFrame:
    """The tracked η² of a run directory, with ``run`` and ``method`` columns."""
    run_dir = Path(run_dir)
    path = run_dir / TRACK_FILE
    if not path.is_file():
        raise MixdiagError(f"{run_dir} has no {TRACK_FILE}; train it with --track-eta2 EVERY to record η² during training")
    config = json.loads((run_dir / "config.json").read_text()) if (run_dir / "config.json").is_file() else {}
    df = read_csv(path, ["epoch", "block", "module", "eta2"], "mixdiag train --track-eta2")
    df.insert(0, "method", config.get("method", "unknown"))
    df.insert(0, "run", run_dir.name)
    # Said by the figures: the probe is a fixed subset of the training split.
    df.attrs.update(dataset=config.get("dataset"), split="train")
    return df
