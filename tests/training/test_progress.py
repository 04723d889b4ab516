"""Per-epoch lines and the closing summary of ``mixdiag train``, without a terminal."""

import json
import re

import pytest

from mixdiag import load, train
from mixdiag.training.progress import best_epoch, format_duration
from cli_support import run_cli

FAST = dict(dataset="digits", model="preact-resnet20", batch_size=64, device="cpu")
LINE = re.compile(
    r"epoch (\d+)/(\d+)  lr (\S+)  train loss (\S+)  val acc (\S+)  test acc (\S+)  (\d+\.\d s|\d+m \d\ds)(  \*best)?"
)


def history(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_one_line_per_epoch_and_a_summary_on_stderr(tmp_path, capsys):
    run = train(out=tmp_path / "r", epochs=3, seed=1, track_eta2=2, track_probe_size=100, **FAST)
    lines = capsys.readouterr().err.splitlines()
    # The tracked η² reports its phases in lines of its own, between the epochs' lines.
    assert any(line.startswith("η² ") for line in lines)
    err = [line for line in lines if not line.startswith("η² ")]
    records = history(run)
    lines = [LINE.fullmatch(line) for line in err[:3]]
    assert all(lines), err
    running_best = -1.0
    for match, record in zip(lines, records):
        assert (int(match[1]), int(match[2])) == (record["epoch"], 3)
        assert float(match[3]) == pytest.approx(record["lr"], rel=1e-3)
        assert float(match[4]) == pytest.approx(record["train_loss"], abs=5e-5)
        assert float(match[5]) == pytest.approx(record["val_accuracy"], abs=5e-5)
        assert float(match[6]) == pytest.approx(record["test_accuracy"], abs=5e-5)
        assert bool(match[8]) == (record["val_accuracy"] > running_best)
        running_best = max(running_best, record["val_accuracy"])
    summary = "\n".join(err[3:])
    assert re.match(r"trained 3 epochs in \d", summary)
    best = max(records, key=lambda r: (r["val_accuracy"], -r["epoch"]))
    assert f"last: epoch 3  val acc {records[-1]['val_accuracy']:.4f}  test acc {records[-1]['test_accuracy']:.4f}" in summary
    assert f"best: epoch {best['epoch']}  val acc {best['val_accuracy']:.4f}" in summary
    assert load(run / "checkpoints" / "best.pt", with_data=False).epoch == best["epoch"]
    for path in ("metrics.jsonl", "checkpoints/last.pt", "checkpoints/best.pt", "eta2_track.csv"):
        assert str(run / path) in summary


def test_quiet_prints_nothing_and_a_resume_says_where_it_started(tmp_path, capsys):
    # Tracking η² runs an analysis whose phases report too: quiet silences them as well.
    run = train(out=tmp_path / "r", epochs=1, quiet=True, track_eta2=1, **FAST)
    assert capsys.readouterr().err == ""
    train(out=run, resume=True, epochs=2)
    err = "\n".join(line for line in capsys.readouterr().err.splitlines() if not line.startswith("η² "))
    assert err.startswith("epoch 2/2") and "trained 1 epoch in" in err and "resumed after epoch 1" in err


def test_best_epoch_is_the_first_of_the_highest_and_skips_nan():
    history = [{"epoch": 1, "v": float("nan")}, {"epoch": 2, "v": 0.5}, {"epoch": 3, "v": 0.7}, {"epoch": 4, "v": 0.7}]
    assert best_epoch(history, "v")["epoch"] == 3
    assert best_epoch(history[:1], "v") is None and best_epoch(history, None) is None
    assert [format_duration(s) for s in (4.24, 185, 7260)] == ["4.2 s", "3m 05s", "2h 01m"]


def test_cli_prints_epoch_lines_without_a_terminal_and_quiet_silences_them(tmp_path):
    out = tmp_path / "run"
    loud = run_cli("train", "--model", "preact-resnet20", "--epochs", "2", "--val-fraction", "0", "--out", out, "--device", "cpu")
    assert loud.code == 0, loud.stderr
    lines = loud.stderr.splitlines()
    assert [line.split("  ")[0] for line in lines[:2]] == ["epoch 1/2", "epoch 2/2"]
    assert "val acc" not in lines[0] and "test acc" in lines[0] and "no best.pt (no validation split)" in loud.stdout
    quiet = run_cli("train", "--model", "preact-resnet20", "--epochs", "1", "--out", tmp_path / "q", "--device", "cpu", "--quiet")
    assert quiet.code == 0 and quiet.stderr == "" and "run written to" in quiet.stdout
