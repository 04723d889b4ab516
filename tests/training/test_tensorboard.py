"""``--tensorboard``: event files read back with tensorboard's own reader, across resumes."""

import builtins
import json

import pytest
from extras import require

from mixdiag import MixdiagError, train

# The tensorboard extra: skipped without it (the README's install has only [dev]), required in CI.
EventAccumulator = require("tensorboard.backend.event_processing.event_accumulator").EventAccumulator
from mixdiag.analysis.track import read_track

FAST = dict(dataset="digits", model="preact-resnet20", batch_size=64, device="cpu", quiet=True)


def curves(run) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def history(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


TAGS = [("train/loss", "train_loss"), ("val/accuracy", "val_accuracy"), ("val/loss", "val_loss"), ("test/accuracy", "test_accuracy"),
        ("test/loss", "test_loss"), ("lr", "lr"), ("epoch_seconds", "epoch_seconds")]


def assert_curves_are_the_history(run):
    """Every epoch of metrics.jsonl once per tag, in order, with its value (float32 in the events)."""
    got, records = curves(run), history(run)
    assert sorted(t for t in got if not t.startswith("eta2/")) == sorted(tag for tag, _ in TAGS)
    for tag, key in TAGS:
        assert [step for step, _ in got[tag]] == [r["epoch"] for r in records], tag
        assert [value for _, value in got[tag]] == pytest.approx([r[key] for r in records], rel=1e-6), tag


def test_events_hold_every_epoch_metric_lr_and_tracked_eta2(tmp_path):
    run = train(out=tmp_path / "r", epochs=2, track_eta2=2, track_probe_size=100, tensorboard=True, **FAST)
    assert_curves_are_the_history(run)
    got, track = curves(run), read_track(run)
    eta2_tags = sorted(t for t in got if t.startswith("eta2/"))
    assert eta2_tags == sorted(f"eta2/{m}" for m in track["module"].unique()) and len(eta2_tags) == 10
    for module, rows in track.groupby("module"):
        assert [step for step, _ in got[f"eta2/{module}"]] == [2]
        assert [value for _, value in got[f"eta2/{module}"]] == pytest.approx(list(rows["eta2"]), rel=1e-6)


def test_a_resumed_run_continues_the_curves_without_duplicate_steps(tmp_path):
    run = train(out=tmp_path / "r", epochs=1, tensorboard=True, **FAST)
    train(out=run, resume=True, epochs=2, tensorboard=True)
    assert_curves_are_the_history(run)
    # A kill after last.pt but before the epoch's events: here epoch 3 runs without --tensorboard.
    train(out=run, resume=True, epochs=3)
    assert [step for step, _ in curves(run)["train/loss"]] == [1, 2]
    train(out=run, resume=True, epochs=4, tensorboard=True)
    assert [r["epoch"] for r in history(run)] == [1, 2, 3, 4]
    assert_curves_are_the_history(run)


def test_missing_tensorboard_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def without_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard") or name.startswith("tensorboard"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_tensorboard)
    with pytest.raises(MixdiagError, match=r"--tensorboard needs the tensorboard package: pip install 'mixdiag\[tensorboard\]'"):
        train(out=tmp_path / "r", epochs=1, tensorboard=True, **FAST)
    assert not (tmp_path / "r").exists()
