"""Progress of long analyses without a terminal: plain phase lines on stderr, silenced by --quiet."""

from __future__ import annotations

import re

import pandas as pd
import pytest

import mixdiag
from mixdiag import _progress
from mixdiag._progress import iterate, quiet

from cli_support import invoke

PHASES = ("η² fit-sample pass", "η² k-means fits", "η² streaming pass")


def test_a_phase_says_when_it_starts_and_ends(capsys):
    assert list(iterate(range(5), "counting", total=10, size=lambda i: 2)) == [0, 1, 2, 3, 4]
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "counting: 10 rows ..."
    assert re.fullmatch(r"counting: 10 of 10 rows in \d+\.\d s, \d+ rows/s", err[-1]), err
    assert len(err) == 2


def test_a_long_phase_reports_rate_and_time_left(capsys, monkeypatch):
    monkeypatch.setattr(_progress, "EVERY", 0.0)
    list(iterate(range(4), "fits", total=4, unit="fits"))
    middle = capsys.readouterr().err.splitlines()[1:-1]
    assert [line.split(",")[0] for line in middle] == ["fits: 1 of 4 fits", "fits: 2 of 4 fits", "fits: 3 of 4 fits"]
    assert all(re.search(r"\d+ fits/s, about \d+\.\d s left$", line) for line in middle), middle


def test_quiet_and_other_ranks_print_nothing(capsys, monkeypatch):
    with quiet():
        list(iterate(range(3), "silent", total=3))
    monkeypatch.setenv("RANK", "1")
    list(iterate(range(3), "rank one", total=3))
    assert capsys.readouterr().err == ""


def test_an_unfinished_phase_still_closes(capsys):
    for i in iterate(range(10), "stopped", total=10):
        if i == 2:
            break
    assert capsys.readouterr().err.splitlines()[-1].startswith("stopped: 2 of 10 rows in")  # the item in hand when it stopped is not done


def test_eta2_reports_each_phase_and_ends_with_the_block_table(tiny_runs, tmp_path):
    outcome = invoke("eta2", "--ckpt", tiny_runs["erm"], "--sample-size", "300", "--device", "cpu", "--out", tmp_path / "e")
    assert outcome.code == 0, outcome.stderr
    for phase in PHASES:
        assert re.search(rf"^{phase}: (\d+) of \1 (rows|fits) in", outcome.stderr, re.M), outcome.stderr
    assert "η² streaming pass: 995 of 995 rows in" in outcome.stderr  # 1,295 training images (the rest is validation), 300 in the fit sample
    table = pd.read_csv(tmp_path / "e" / "eta2.csv")
    printed = outcome.stdout.splitlines()[-len(table):]
    assert [line.split()[0] for line in printed] == list(table["module"])
    assert [float(line.split()[2]) for line in printed] == pytest.approx(list(table["eta2"]), abs=5e-4)


def test_eta2_quiet_prints_no_progress(tiny_runs, tmp_path):
    outcome = invoke("eta2", "--ckpt", tiny_runs["erm"], "--sample-size", "300", "--device", "cpu", "--out", tmp_path / "e", "--quiet")
    assert outcome.code == 0 and outcome.stderr == ""
    assert "written to" in outcome.stdout


@pytest.mark.parametrize("flag", [(), ("--quiet",)])
def test_compare_of_checkpoints_reports_their_phases_unless_quiet(tiny_runs, tmp_path, flag):
    outcome = invoke("compare", tiny_runs["erm"], tiny_runs["mixup"], "--device", "cpu", "--out", tmp_path / "c", *flag)
    assert outcome.code == 0, outcome.stderr
    lines = [line for line in outcome.stderr.splitlines() if line.startswith("η² k-means fits") and " in " in line]
    assert len(lines) == (0 if flag else 2), outcome.stderr


def test_tracked_eta2_reports_its_phases_during_training(tmp_path, capsys):
    mixdiag.train(out=tmp_path / "r", dataset="digits", model="preact-resnet20", epochs=1, device="cpu", track_eta2=1, track_probe_size=200)
    err = capsys.readouterr().err
    assert "η² fit-sample pass: 200 of 200 rows in" in err and "η² k-means fits: " in err
