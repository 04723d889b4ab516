"""The training loop and its run directory.

A run directory holds ``config.json``, ``metrics.jsonl`` (one JSON object per epoch),
``checkpoints/last.pt``, ``checkpoints/best.pt`` (the best epoch on the validation split;
none when the run has no validation split), ``corruption.npz`` when labels were corrupted,
and ``tensorboard/`` when asked for. Every random stream is re-derived from
``(seed, epoch, stream)`` at the start of each epoch, so a run resumed from the checkpoint
of epoch e replays epochs e+1, ... exactly as the uninterrupted run would have. The
checkpoint also stores the states those generators start epoch e+1 from, and a resume
refuses to go on when its own derivation disagrees (a checkpoint from a mixdiag that
derived seeds differently).

Each epoch ends with ``best.pt`` (when improved), then ``last.pt``, then the metrics line,
the η² track and the TensorBoard events; ``last.pt`` is the truth and everything else is
rebuilt from it on resume, so a kill between any two of these writes neither loses nor
duplicates an epoch.

Under ``torchrun`` every process runs :func:`train` with DistributedDataParallel. The
global batch (``batch_size``) is split evenly over the processes: each epoch's shuffled
order, the same on every process, is cut into global batches and each process takes its
contiguous share of every batch. Augmentation and mixing draw from streams of their own
per process (rank 0's are a single-process run's). BatchNorm normalises over each
process's share unless ``sync_bn``. All processes evaluate a share of the evaluation data;
rank 0 alone measures the tracked η² and writes the run directory.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import tempfile
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm  # a bar on terminals only (progress=None); no notebook widget needed

from .. import distributed
from .._progress import quiet as quiet_phases
from .._io import append_jsonl, atomic_path, check_writable, remove_stale_temps, write_json, write_jsonl
from ..data.augment import augment_batch
from ..distributed import World
from ..errors import CheckpointError, MixdiagError
from ..mixing import MixRandom, as_targets, create_method, criterion_for
from ..models.external import load_init
from ..models.mixable import as_mixable
from .build import AUGMENT, MIXING, PROBE, SHUFFLE, build_dataset, build_model, derive_seed, model_spec, with_mix_points
from .checkpoint import check_validation, load_checkpoint, restore_weights, save_checkpoint
from .config import TrainConfig
from .metrics import evaluate_epoch, headline
from .progress import EpochLog
from .tensorboard import TENSORBOARD_DIR, TensorBoardLog, require_tensorboard

# Stored inputs up to this size move to the accelerator once; larger ones go per batch.
_RESIDENT_BYTES = 2 * 1024**3


def prepare_run_dir(out: Path, resume: bool, force: bool) -> bool:
    """Refuse to touch an existing run unless asked; ``force`` replaces only a mixdiag run.

    Returns:
        True when ``out`` holds a run that ``force`` replaces; :func:`train` removes it only
        once everything else checked out, so a failing start leaves the old run as it was.
    """
    if resume and force:
        raise MixdiagError("--resume and --force contradict each other; give one of them")
    check_writable(out)
    # A run killed before its config.json was in place left at most a temporary file: no run.
    if not out.exists() or all(p.name.startswith(".") and p.name.endswith(".tmp") for p in out.iterdir()):
        if resume:
            raise MixdiagError(f"--resume given but {out} holds no run; drop --resume to start one")
        return False
    if resume:
        return False
    if not force:
        raise MixdiagError(f"{out} already holds a run; pass --resume to continue it, --force to replace it, or another --out")
    if not (out / "config.json").is_file():
        raise MixdiagError(f"{out} is not empty and is not a mixdiag run; refusing to delete it with --force, choose another --out")
    return True


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
    quiet: bool = False,
    tensorboard: bool = False,
    **settings,
) -> Path:
    """Train a model and write the run directory ``out``; return its path.

    Args:
        config: the run's settings; alternatively pass them as keyword arguments
            (``train(method="mixup", epochs=5, out="runs/mix")``).
        out: run directory. An existing run is never overwritten unless ``resume``
            (continue it, with its own saved settings) or ``force`` (replace it).
        progress: show a progress bar; default: only when stderr is a terminal.
        quiet: print no per-epoch lines and no closing summary on stderr
            (:mod:`mixdiag.training.progress`); the progress bar follows ``progress``.
        tensorboard: also write TensorBoard event files in ``out/tensorboard/``
            (:mod:`mixdiag.training.tensorboard`; needs ``pip install 'mixdiag[tensorboard]'``).

    Called in every process of a ``torchrun`` launch, it joins the process group (and
    leaves it joined, see :func:`mixdiag.distributed.teardown`) and trains them together;
    every process returns once rank 0 has written the run. Only rank 0 prints.

    Returns:
        The run directory.
    """
    started = time.perf_counter()
    out = Path(out)
    if config is not None and settings:
        raise MixdiagError("pass either a TrainConfig or keyword settings, not both")
    if tensorboard:
        require_tensorboard()
    replace = prepare_run_dir(out, resume, force)
    state = None
    if resume:
        config, state = _resume_state(out, config.to_dict() if config is not None else settings)
    else:
        config = config or TrainConfig(**settings)
    config.validate()

    world, device = distributed.setup(config.device)
    _check_world(config, world, device)
    ds = build_dataset(config)
    method = create_method(config.method, **config.method_options)
    model_name, model_kwargs, model = _build_model(config, ds, device, world, init=state is None)
    # What the mixing methods run: the model itself, or a model mixdiag did not write behind forward hooks.
    net = as_mixable(model, model_kwargs.get("mix_points"))
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    criterion = criterion_for(ds.multilabel)
    _preflight(net, method, ds, criterion, device)

    run = _Run(config, model_name, model_kwargs, ds.info.get("validation"), _selected_on(ds), world)
    done = _Progress()
    if state is not None:
        # Before anything is written: a checkpoint that does not belong here leaves the run as it was.
        _restore(out / "checkpoints" / "last.pt", state, run, model, optimizer)
        done = _Progress(list(state["history"]), list(state["track"]), float(state["best"]))
    # Rank 0 alone measures the probe: every process holds the same weights.
    tracker = _Tracker(ds, config, device) if config.track_eta2 and world.is_main else None
    # Every process has checked and read the old run before rank 0 changes it.
    distributed.barrier()
    board = None
    if world.is_main:
        _start_run_dir(out, replace, run, ds, done, tracker)
        board = TensorBoardLog(out, done.history, done.track) if tensorboard else None
    log = EpochLog(config.epochs, headline(ds), run.selected_on, enabled=world.is_main and not quiet)

    x_train, y_train = ds.x_train, ds.y_train
    if device.type != "cpu" and x_train.element_size() * x_train.nelement() <= _RESIDENT_BYTES:
        x_train, y_train = x_train.to(device), y_train.to(device)
    show = (sys.stderr.isatty() if progress is None else progress) and world.is_main
    first = len(done.history)

    for epoch in range(first, config.epochs):
        for group in optimizer.param_groups:
            group["lr"] = config.lr * _lr_factor(config, epoch)
        epoch_started = time.perf_counter()
        # A new DDP every epoch: after its first step DDP regroups the gradients it sums in one
        # collective, which with more than 2 processes changes the order gloo adds them in;
        # starting each epoch from the same grouping, a resumed run adds as the uninterrupted one.
        loss_of = _loss_module(net, method, criterion, world, device)
        train_loss = _train_epoch(loss_of, model, ds, x_train, y_train, optimizer, config, epoch, device, world, show)
        # DDP hands rank 0's buffers (BatchNorm statistics) to the others before each step;
        # once more now, and every process holds the weights rank 0 evaluates and saves.
        distributed.broadcast_tensors(model.buffers())
        _check_finite_weights(model, epoch)
        record = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"], "train_loss": train_loss}
        record.update(evaluate_epoch(net, ds, device, world=world))
        record["epoch_seconds"] = time.perf_counter() - epoch_started
        tracked = tracker is not None and ((epoch + 1) % config.track_eta2 == 0 or epoch + 1 == config.epochs)
        with quiet_phases(quiet):  # the tracked η²'s own phase lines
            track_rows = tracker.rows(model, epoch + 1) if tracked else []
        improved = done.add(record, track_rows, run.selected_on)
        if world.is_main:
            _write_epoch(out, _checkpoint(run, done, model, optimizer), improved, record, tracker if tracked else None, done.track)
            if board is not None:
                board.epoch(record, track_rows)
            log.epoch(record, improved)
    # No process returns before rank 0's files are complete.
    distributed.barrier()
    if board is not None:
        board.close()
    log.summary(done.history, config.epochs - first, time.perf_counter() - started, _output_paths(out, tracker, board))
    return out


def _build_model(config: TrainConfig, ds, device: torch.device, world: World, init: bool) -> tuple[str, dict, nn.Module]:
    """The run's model on ``device``: its name, its arguments (with an external model's mixing points) and the module.

    ``init``: load ``config.init`` (a resumed run takes its weights from its checkpoint instead).
    """
    model_name, model_kwargs = model_spec(config, ds)
    model = build_model(model_name, model_kwargs, config.seed)
    model_kwargs = with_mix_points(model_name, model_kwargs, model, config, ds)
    if init and config.init is not None:
        warning = load_init(model, config.init, config.init_strict)
        if warning and world.is_main:
            print(warning, file=sys.stderr)
    model = model.to(device)
    if device.type == "cuda" and ds.ndim == 2:
        model = model.to(memory_format=torch.channels_last)
    if config.sync_bn and world.size > 1:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model_name, model_kwargs, model


@dataclass(frozen=True)
class _Run:
    """What every checkpoint of a run repeats: its settings, model, validation split and processes."""

    config: TrainConfig
    model_name: str
    model_kwargs: dict
    validation: Optional[dict]  # the held-out split's record (Dataset.info["validation"]), None otherwise
    selected_on: Optional[str]  # the metric that picks best.pt; None without a validation split
    world: World


@dataclass
class _Progress:
    """The epochs done so far: their metrics, tracked η² rows and the best selection score."""

    history: list = field(default_factory=list)
    track: list = field(default_factory=list)
    best: float = -math.inf

    def add(self, record: dict, track_rows: list[dict], selected_on: Optional[str]) -> bool:
        """Append an epoch; True when it beats every earlier one on ``selected_on`` (and so becomes best.pt)."""
        self.history.append(record)
        self.track.extend(track_rows)
        score = record[selected_on] if selected_on else math.nan
        improved = not math.isnan(score) and score > self.best
        self.best = score if improved else self.best
        return improved


def _selected_on(ds) -> Optional[str]:
    """The metric that picks best.pt: the headline metric on the validation split; None without one.

    Never the test split: a model chosen on test data makes every number measured on it optimistic.
    """
    return f"val_{headline(ds)}" if ds.x_val is not None else None


def _checkpoint(run: _Run, done: _Progress, model, optimizer) -> dict:
    """The state a checkpoint saves after the last epoch of ``done``."""
    epoch = len(done.history)
    ckpt = {
        "config": run.config.to_dict(),
        "model_name": run.model_name,
        "model_kwargs": run.model_kwargs,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "history": done.history,
        "track": done.track,
        "best": done.best,
        "selected_on": run.selected_on,
        "validation": run.validation,
        "world_size": run.world.size,
        "rng": _random_state(_epoch_random(run.config.seed, epoch)),
    }
    if run.world.size > 1:
        ckpt["rng_other_ranks"] = [_random_state(_epoch_random(run.config.seed, epoch, r)) for r in range(1, run.world.size)]
    return ckpt


def _write_epoch(out: Path, ckpt: dict, improved: bool, record: dict, tracker: Optional["_Tracker"], track: list[dict]) -> None:
    """Write an epoch's files in the order that survives a kill between any two of them.

    best.pt before last.pt: a kill in between replays this epoch, which rewrites best.pt;
    the other order would leave a last.pt whose ``best`` no later epoch beats. ``tracker``
    is given on tracked epochs only.
    """
    if improved:
        save_checkpoint(out / "checkpoints" / "best.pt", ckpt)
    save_checkpoint(out / "checkpoints" / "last.pt", ckpt)
    append_jsonl(out / "metrics.jsonl", record)
    if tracker is not None:
        tracker.write(out, track)


def _output_paths(out: Path, tracker: Optional["_Tracker"], board) -> dict[str, Path]:
    """What the closing summary lists: label -> path of each output the run has."""
    paths = {"run": out, "metrics": out / "metrics.jsonl", "last.pt": out / "checkpoints" / "last.pt"}
    if (out / "checkpoints" / "best.pt").is_file():
        paths["best.pt"] = out / "checkpoints" / "best.pt"
    if tracker is not None:
        paths["η² track"] = out / tracker.file
    if board is not None:
        paths["tensorboard"] = out / TENSORBOARD_DIR
    return paths


def _check_world(config: TrainConfig, world: World, device: torch.device) -> None:
    """Refuse settings that do not fit the processes of the run."""
    if config.batch_size % world.size:
        raise MixdiagError(
            f"--batch-size {config.batch_size} does not split evenly over {world.size} processes; "
            f"give a multiple of {world.size} (it is the global batch, each process takes batch-size / {world.size})"
        )
    if config.batch_size // world.size < 2:
        raise MixdiagError(f"--batch-size {config.batch_size} leaves fewer than 2 samples per process; give at least {2 * world.size}")
    if config.sync_bn and world.size > 1 and device.type != "cuda":
        raise MixdiagError(
            "--sync-bn needs CUDA: torch's SyncBatchNorm does not run on the CPU; "
            "drop --sync-bn (each process then normalises over its own share of the batch)"
        )


class _Loss(nn.Module):
    """A training step's loss as one module call.

    Mixing methods run the model through the mixable interface (``forward_points``,
    ``forward_mixed``, ...; :mod:`mixdiag.models.mixable`), which DistributedDataParallel does not see; as the forward of this
    module, the whole loss is one DDP forward, so DDP syncs buffers before it and averages
    every gradient its backward produces.
    """

    def __init__(self, model: nn.Module, method, criterion):
        super().__init__()
        self.model, self.method, self.criterion = model, method, criterion

    def forward(self, x: torch.Tensor, targets: torch.Tensor, rnd: MixRandom) -> torch.Tensor:
        return self.method.loss(self.model, x, targets, self.criterion, rnd)


def _loss_module(model: nn.Module, method, criterion, world: World, device: torch.device) -> nn.Module:
    """``(x, targets, rnd) -> loss`` for ``model``, under DDP when the run has several processes."""
    if world.size == 1:
        return _Loss(model, method, criterion)
    # Every method runs every parameter in every step (manifold mixup splits the network at
    # its point, but runs all of it), so DDP needs no search for unused parameters.
    return DistributedDataParallel(_Loss(model, method, criterion), device_ids=[device.index] if device.type == "cuda" else None)


def _start_run_dir(out: Path, replace: bool, run: _Run, ds, done: _Progress, tracker) -> None:
    """Replace an old run if asked, clear a killed run's temporaries and write the run's
    settings, its corruption record and the metrics and track of the epochs done so far."""
    if replace:
        # Renamed first, so a kill while deleting leaves no half-deleted run at ``out``.
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        out.replace(old)
        shutil.rmtree(old)
    out.mkdir(parents=True, exist_ok=True)
    written = ["config.json", "metrics.jsonl", "corruption.npz", "checkpoints/last.pt", "checkpoints/best.pt"]
    for name in written + ([tracker.file] if tracker else []):
        remove_stale_temps(out / name)
    write_json(out / "config.json", {**run.config.to_dict(), **_recorded(run)})
    if ds.corrupted is not None:
        with atomic_path(out / "corruption.npz") as tmp, open(tmp, "wb") as f:  # a file object: numpy appends no suffix
            np.savez_compressed(f, corrupted=ds.corrupted.numpy(), y_train=ds.y_train.numpy())
    # The checkpoint's history is the truth: a kill between writing a checkpoint and
    # appending its metrics line must neither lose nor duplicate an epoch.
    write_jsonl(out / "metrics.jsonl", done.history)
    if tracker:
        tracker.write(out, done.track)


class _Tracker:
    """Per-block η² on a fixed probe of the training data (``--track-eta2``)."""

    def __init__(self, ds, config: TrainConfig, device: torch.device):
        # Imported here: training only reaches into the analysis when tracking is asked for.
        from ..analysis import track

        self._track = track
        self.x = ds.x_train[track.probe_indices(len(ds.x_train), config.track_probe_size, derive_seed(config.seed, PROBE))]
        self.transform, self.k, self.seed, self.device = ds.normalize, config.track_k, config.seed, device
        self.file = track.TRACK_FILE

    def rows(self, model, epoch: int) -> list[dict]:
        return self._track.track_rows(model, self.x, self.transform, k=self.k, seed=self.seed, epoch=epoch, device=self.device)

    def write(self, out: Path, rows: list[dict]) -> None:
        """Make the run's track file hold ``rows``; none left from a killed epoch when empty."""
        if rows:
            self._track.write_track(out, rows)
        else:
            (out / self.file).unlink(missing_ok=True)


def _resume_state(out: Path, requested: dict) -> tuple[TrainConfig, Optional[dict]]:
    """The saved config (with ``epochs`` raised if requested) and the last checkpoint, if any."""
    saved_path = out / "config.json"
    if not saved_path.is_file():
        raise MixdiagError(f"{out} has no config.json; it is not a mixdiag run, so it cannot be resumed")
    try:
        saved = json.loads(saved_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MixdiagError(f"{saved_path} is not valid JSON ({exc}); restore it or start a new run") from None
    if not isinstance(saved, dict):
        raise MixdiagError(f"{saved_path} does not hold a run's settings; restore it or start a new run")
    for key in _RECORDED_KEYS:
        saved.pop(key, None)
    config = TrainConfig.from_dict(saved).validate()
    current = config.to_dict()
    differ = [k for k, v in TrainConfig.from_dict(requested).to_dict().items() if k in requested and k != "epochs" and v != current[k]]
    if differ:
        raise MixdiagError(f"--resume continues {out} with its saved settings, but {', '.join(differ)} differ; drop them or start a new run")
    config.epochs = requested.get("epochs", config.epochs)
    last = out / "checkpoints" / "last.pt"
    return config, (load_checkpoint(last) if last.exists() else None)


def _restore(path: Path, state: dict, run: _Run, model, optimizer) -> None:
    """Load a resumed run's checkpoint into ``model`` and ``optimizer``, after checking it belongs to the run."""
    config, world = run.config, run.world
    own = {k: v for k, v in config.to_dict().items() if k != "epochs"}
    # Through TrainConfig, so settings added since the checkpoint was written take their defaults.
    theirs = {k: v for k, v in TrainConfig.from_dict(state["config"]).to_dict().items() if k != "epochs"}
    if theirs != own or (state["model_name"], state["model_kwargs"]) != (run.model_name, run.model_kwargs):
        raise CheckpointError(
            f"{path} was not written by the run in {path.parent.parent} (its settings or model differ); "
            "restore the run's own last.pt or start a new run"
        )
    check_validation(state, run.validation, path)
    trained_by = state.get("world_size", 1)  # checkpoints from before multi-process training lack it
    if trained_by != world.size:
        raise CheckpointError(
            f"{path} was trained by {_processes(trained_by)} and this resume runs {_processes(world.size)}; resume it with "
            f"{_processes(trained_by)} ({_launch(trained_by)}), since another number changes every batch and random stream"
        )
    needed = ("optimizer", "history", "track", "best", "rng") + (("rng_other_ranks",) if world.size > 1 else ())
    missing = [k for k in needed if k not in state]
    if missing or len(state["history"]) != state["epoch"]:
        raise CheckpointError(f"{path} lacks what resuming needs ({', '.join(missing) or 'a history of every epoch'}); start a new run")
    restore_weights(model, state, path)
    try:
        optimizer.load_state_dict(state["optimizer"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path} holds an optimizer state that does not fit the model; start a new run") from exc
    saved_rng = state["rng_other_ranks"][world.rank - 1] if world.rank else state["rng"]
    if not _same_state(saved_rng, _random_state(_epoch_random(config.seed, state["epoch"], world.rank))):
        raise CheckpointError(
            f"{path} holds random-generator states this mixdiag does not derive from seed {config.seed} for epoch {state['epoch'] + 1}, "
            "so the resumed run would differ from an uninterrupted one; resume with the mixdiag version that wrote it"
        )


@torch.no_grad()
def _preflight(model, method, ds, criterion, device: torch.device) -> None:
    """One loss on two samples, so method options that do not fit the model (an unknown
    mixing point, a weight per point too many) fail before the run directory is written.

    In eval mode and without gradients, and with its own generators, it changes no state.
    """
    model.eval()
    try:
        x = ds.normalize(ds.x_train[:2].to(device))
        with _autocast(device):
            method.loss(model, x, as_targets(ds.y_train[:2].to(device), ds.num_classes), criterion, MixRandom(0))
    finally:
        model.train()


# What config.json records beside the settings; a resume drops them before reading the settings.
_RECORDED_KEYS = ("model_resolved", "model_kwargs", "validation")


def _recorded(run: _Run) -> dict:
    """The resolved model and the held-out validation split, for config.json."""
    return dict(zip(_RECORDED_KEYS, (run.model_name, run.model_kwargs, run.validation)))


def _processes(n: int) -> str:
    return f"{n} process" + ("es" if n > 1 else "")


def _launch(n: int) -> str:
    """The command that starts ``n`` training processes on one machine."""
    return f"torchrun --nproc_per_node={n} --no-python mixdiag train ..." if n > 1 else "plain mixdiag train"


def _epoch_random(seed: int, epoch: int, rank: int = 0) -> dict:
    """The generators of (0-based) ``epoch`` on process ``rank``: data order (the same on
    every process), augmentation and mixing (each process its own)."""
    # Rank 0 derives a single-process run's streams, so those runs and their checkpoints stay as they were.
    own = (rank,) if rank else ()
    return {
        "shuffle": torch.Generator().manual_seed(derive_seed(seed, epoch, SHUFFLE)),
        "augment": torch.Generator().manual_seed(derive_seed(seed, epoch, AUGMENT, *own)),
        "mixing": MixRandom(derive_seed(seed, epoch, MIXING, *own)),
    }


def _random_state(random: dict) -> dict:
    """Plain-data states of :func:`_epoch_random`'s generators, as the checkpoint stores them."""
    return {name: g.state_dict() if isinstance(g, MixRandom) else g.get_state() for name, g in random.items()}


def _same_state(a, b) -> bool:
    """Equality of nested dicts of tensors and plain data."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return torch.equal(a, b)
    return type(a) is type(b) and a == b


def _check_finite_weights(model, epoch: int) -> None:
    """Refuse to checkpoint weights that a finite last loss still let turn NaN or Inf."""
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise MixdiagError(
                f"training diverged: {name} holds NaN or Inf after the last step of epoch {epoch + 1}; {_kept(epoch)}; "
                "lower --lr and start again with --force"
            )


def _kept(epoch: int) -> str:
    """What a run stopped in (0-based) ``epoch`` still has."""
    return f"checkpoints/last.pt keeps epoch {epoch}" if epoch else "no checkpoint was written"


def _shares(order: torch.Tensor, batch_size: int, world: World) -> list[torch.Tensor]:
    """This process's samples of every step: its contiguous share of each global batch of ``order``.

    All shares are the same size, so DDP's average of the processes' mean losses is the mean
    over the global batch: the last, short batch leaves out its remainder modulo the number
    of processes, and it is dropped whole when it would give a process fewer than 2 samples
    (BatchNorm cannot train on one and mixing needs a pair). The order is reshuffled every
    epoch, so no sample is left out for good; every process runs the same number of steps.
    """
    shares = []
    for start in range(0, len(order), batch_size):
        per_process = min(batch_size, len(order) - start) // world.size
        if per_process >= 2:
            first = start + world.rank * per_process
            shares.append(order[first : first + per_process])
    return shares


def _train_epoch(loss_of, model, ds, x_train, y_train, optimizer, config, epoch, device, world: World, show) -> float:
    """One pass over the shuffled training data; returns the mean training loss over all processes."""
    model.train()
    random = _epoch_random(config.seed, epoch, world.rank)
    order = torch.randperm(len(x_train), generator=random["shuffle"])
    aug_gen, rnd = random["augment"], random["mixing"]
    batches = _shares(order, config.batch_size, world)
    total, count = 0.0, 0.0
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
            loss = loss_of(x, targets, rnd)
        # Summed over the processes before the check, so all of them stop at the same step
        # rather than some waiting forever in the backward pass for one that stopped.
        summed = torch.tensor([float(loss.detach()) * len(idx), len(idx)], dtype=torch.float64, device=device)
        step_total, step_count = distributed.all_reduce_sum(summed).tolist()
        if not math.isfinite(step_total):
            raise MixdiagError(
                f"training diverged: the loss is {step_total / step_count} at epoch {epoch + 1}, step {step + 1} of {len(batches)}; "
                f"{_kept(epoch)}; lower --lr and start again with --force"
            )
        optimizer.zero_grad(set_to_none=True)
        with warnings.catch_warnings():
            # The weight gradients of 1x1 convolutions have strides that differ from their
            # parameters' only along size-1 dimensions (the same memory layout); DDP warns anyway.
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            loss.backward()
        optimizer.step()
        total += step_total
        count += step_count
    return total / count
