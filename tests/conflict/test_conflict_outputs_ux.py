"""mixdiag conflict as a person reads it: progress of its pass on stderr (unless --quiet), a figure that names its settings."""

from __future__ import annotations

import re

import matplotlib
import pytest

import mixdiag

from cli_support import invoke


@pytest.mark.parametrize("flag", [(), ("--quiet",)])
def test_conflict_reports_its_pass_unless_quiet(ml_runs, tmp_path, flag):
    outcome = invoke("conflict", "--ckpt", ml_runs["erm"], "--pairs", "2", "--device", "cpu", "--out", tmp_path / "c", *flag)
    assert outcome.code == 0, outcome.stderr
    done = re.findall(r"^conflict pass: (\d+) of (\d+) rows in", outcome.stderr, re.M)
    if flag:
        assert outcome.stderr == ""
    else:
        assert len(done) == 1 and done[0][0] == done[0][1] and int(done[0][0]) > 0, outcome.stderr


def test_conflict_figure_names_its_settings(ml_runs):
    matplotlib.use("Agg")
    from mixdiag.plots import plot_conflict

    df = mixdiag.conflict(ml_runs["mixup"], pairs=2, split="test", device="cpu")
    title = plot_conflict(df).axes[0].get_title()
    assert "(mixup)" in title and "synthetic-multilabel test split, n=160" in title and "epoch 1" in title
    assert [t.get_text() for t in plot_conflict(df).axes[0].get_xticklabels()] == list(dict.fromkeys(df["module"]))
