"""The training loop and its run directory.

A run directory holds ``config.json``, ``metrics.jsonl`` (one JSON object per epoch),
``checkpoints/last.pt`` and ``checkpoints/best.pt``, and ``corruption.npz`` when labels
were corrupted. Every random stream is re-derived from ``(seed, epoch, stream)`` at the
start of each epoch, so a run resumed from the checkpoint of epoch e replays epochs
e+1, ... exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from .._device import resolve_device
from .._io import append_jsonl, write_json
from ..data.augment import augment_batch
from ..errors import MixdiagError
from ..mixing import MixRandom, as_targets, create_method, criterion_for
from .build import AUGMENT, MIXING, PROBE, SHUFFLE, build_dataset, build_model, derive_seed, model_spec
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .metrics import evaluate, headline

# Stored inputs up to this size move to the accelerator once; larger ones go per batch.
_RESIDENT_BYTES = 2 * 1024**3


def prepare_run_dir(out: Path, resume: bool, force: bool) -> None:
    """Refuse to touch an existing run unless asked; ``force`` clears only a mixdiag run."""
    if resume and force:
        raise MixdiagError("--resume and --force contradict each other; give one of them")
    if not out.exists() or not any(out.iterdir()):
        if resume:
            raise MixdiagError(f"--resume given but {out} holds no run; drop --resume to start one")
        return
    if resume:
        return
    if not force:
        raise MixdiagError(f"{out} already holds a run; pass --resume to continue it, --force to replace it, or another --out")
    if not (out / "config.json").is_file():
        raise MixdiagError(f"{out} is not empty and is not a mixdiag run; refusing to delete it with --force, choose another --out")
    shutil.rmtree(out)


def _lr_factor(config: TrainConfig, epoch: int) -> float:
    """Learning-rate multiplier for (0-based) ``epoch``."""
    if config.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * epoch / config.epochs))
    if config.schedule == "step":
        return 0.1 ** sum(epoch >= m * config.epochs for m in config.milestones)
    return 1.0


def _autocast(device: torch.device):
    # Mixed precision on CUDA only, in bf16 so no loss scaling is needed.
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def train(
    config: Optional[TrainConfig] = None,
    out: str | Path = "runs/run",
    *,
    resume: bool = False,
    force: bool = False,
    progress: Optional[bool] = None,
    **settings,
) -> Path:
    """Train a model and write the run directory ``out``; return its path.

    Args:
        config: the run's settings; alternatively pass them as keyword arguments
            (``train(method="mixup", epochs=5, out="runs/mix")``).
        out: run directory. An existing run is never overwritten unless ``resume``
            (continue it, with its own saved settings) or ``force`` (replace it).
        progress: show a progress bar; default: only when stderr is a terminal.

    Returns:
        The run directory.
    """
    out = Path(out)
    if config is not None and settings:
        raise MixdiagError("pass either a TrainConfig or keyword settings, not both")
    prepare_run_dir(out, resume, force)
    state = None
    if resume:
        config, state = _resume_state(out, config.to_dict() if config is not None else settings)
    else:
        config = config or TrainConfig(**settings)
    config.validate()

    device = resolve_device(config.device)
    ds = build_dataset(config)
    method = create_method(config.method, **config.method_options)
    model_name, model_kwargs = model_spec(config, ds)
    model = build_model(model_name, model_kwargs, config.seed).to(device)
    if device.type == "cuda" and ds.ndim == 2:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)

    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", {**config.to_dict(), "model_resolved": model_name, "model_kwargs": model_kwargs})
    if ds.corrupted is not None:
        np.savez_compressed(out / "corruption.npz", corrupted=ds.corrupted.numpy(), y_train=ds.y_train.numpy())

    history, track, best = [], [], -math.inf
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history, track, best = list(state["history"]), list(state.get("track", [])), float(state["best"])
    # The checkpoint's history is the truth: a kill between writing a checkpoint and
    # appending its metrics line must neither lose nor duplicate an epoch.
    (out / "metrics.jsonl").unlink(missing_ok=True)
    for record in history:
        append_jsonl(out / "metrics.jsonl", record)
    tracker = _Tracker(ds, config, device) if config.track_eta2 else None
    if tracker and track:
        tracker.write(out, track)

    x_train, y_train = ds.x_train, ds.y_train
    if device.type != "cpu" and x_train.element_size() * x_train.nelement() <= _RESIDENT_BYTES:
        x_train, y_train = x_train.to(device), y_train.to(device)
    criterion = criterion_for(ds.multilabel)
    key = headline(ds)
    select_split = "val" if ds.x_val is not None else "test"
    show = sys.stderr.isatty() if progress is None else progress

    for epoch in range(len(history), config.epochs):
        for group in optimizer.param_groups:
            group["lr"] = config.lr * _lr_factor(config, epoch)
        started = time.perf_counter()
        train_loss = _train_epoch(model, method, ds, x_train, y_train, criterion, optimizer, config, epoch, device, show)
        record = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"], "train_loss": train_loss}
        if ds.x_val is not None:
            record.update(evaluate(model, ds, "val", device))
        record.update(evaluate(model, ds, "test", device))
        record["epoch_seconds"] = time.perf_counter() - started
        history.append(record)
        if tracker and ((epoch + 1) % config.track_eta2 == 0 or epoch + 1 == config.epochs):
            track.extend(tracker.rows(model, epoch + 1))
            tracker.write(out, track)
        score = record[f"{select_split}_{key}"]
        improved = not math.isnan(score) and score > best
        best = max(best, score) if improved else best
        ckpt = {
            "config": config.to_dict(),
            "model_name": model_name,
            "model_kwargs": model_kwargs,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": epoch + 1,
            "history": history,
            "track": track,
            "best": best,
            "selected_on": f"{select_split}_{key}",
        }
        save_checkpoint(out / "checkpoints" / "last.pt", ckpt)
        if improved:
            save_checkpoint(out / "checkpoints" / "best.pt", ckpt)
        append_jsonl(out / "metrics.jsonl", record)
    return out


class _Tracker:
    """Per-block η² on a fixed probe of the training data (``--track-eta2``)."""

    def __init__(self, ds, config: TrainConfig, device: torch.device):
        # Imported here: training only reaches into the analysis when tracking is asked for.
        from ..analysis import track

        self._track = track
        self.x = ds.x_train[track.probe_indices(len(ds.x_train), config.track_probe_size, derive_seed(config.seed, PROBE))]
        self.transform, self.k, self.seed, self.device = ds.normalize, config.track_k, config.seed, device

    def rows(self, model, epoch: int) -> list[dict]:
        return self._track.track_rows(model, self.x, self.transform, k=self.k, seed=self.seed, epoch=epoch, device=self.device)

    def write(self, out: Path, rows: list[dict]) -> None:
        self._track.write_track(out, rows)


def _resume_state(out: Path, requested: dict) -> tuple[TrainConfig, Optional[dict]]:
    """The saved config (with ``epochs`` raised if requested) and the last checkpoint, if any."""
    saved_path = out / "config.json"
    if not saved_path.is_file():
        raise MixdiagError(f"{out} has no config.json; it is not a mixdiag run, so it cannot be resumed")
    saved = json.loads(saved_path.read_text())
    saved.pop("model_resolved", None)
    saved.pop("model_kwargs", None)
    config = TrainConfig.from_dict(saved)
    current = config.to_dict()
    differ = [k for k, v in TrainConfig.from_dict(requested).to_dict().items() if k in requested and k != "epochs" and v != current[k]]
    if differ:
        raise MixdiagError(f"--resume continues {out} with its saved settings, but {', '.join(differ)} differ; drop them or start a new run")
    config.epochs = requested.get("epochs", config.epochs)
    last = out / "checkpoints" / "last.pt"
    return config, (load_checkpoint(last) if last.exists() else None)


def _train_epoch(model, method, ds, x_train, y_train, criterion, optimizer, config, epoch, device, show) -> float:
    """One pass over the shuffled training data; returns the mean training loss."""
    model.train()
    n = len(x_train)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed(config.seed, epoch, SHUFFLE)))
    aug_gen = torch.Generator().manual_seed(derive_seed(config.seed, epoch, AUGMENT))
    rnd = MixRandom(derive_seed(config.seed, epoch, MIXING))
    # Drop a last batch of one sample: BatchNorm cannot train on it and mixing needs a pair.
    batches = [order[i : i + config.batch_size] for i in range(0, n, config.batch_size) if n - i >= 2]
    total, count = 0.0, 0
    channels_last = device.type == "cuda" and ds.ndim == 2
    for step, idx in enumerate(tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not show, leave=False)):
        idx = idx.to(x_train.device)
        x = ds.normalize(x_train[idx].to(device, non_blocking=True))
        if config.augment:
            x = augment_batch(x, ds.augment, aug_gen)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        targets = as_targets(y_train[idx].to(device), ds.num_classes)
        with _autocast(device):
            loss = method.loss(model, x, targets, criterion, rnd)
        if not torch.isfinite(loss):
            raise MixdiagError(
                f"training diverged: loss is {loss.item()} at epoch {epoch + 1}, step {step + 1}; "
                f"lower --lr; the last good checkpoint is kept"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(idx)
        count += len(idx)
    return total / count
