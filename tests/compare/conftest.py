"""Runs and stored results shared by the compare tests, made once per session."""

import shutil

import pytest

import mixdiag
from mixdiag.analysis.report import eta2_result, write_eta2

LIMIT = 150  # rows measured per run: enough for k=10, fast on a shared CPU (test_comparable.py repeats it)


@pytest.fixture(scope="session")
def runs(tiny_runs, tmp_path_factory):
    """Copies of the one-epoch ERM and Mixup digits runs, and the ERM run resumed to two epochs."""
    root = tmp_path_factory.mktemp("compare-runs")
    out = {m: shutil.copytree(d, root / d.name) for m, d in tiny_runs.items()}
    out["erm-2ep"] = shutil.copytree(tiny_runs["erm"], root / "digits-erm-2ep")
    mixdiag.train(out=out["erm-2ep"], resume=True, epochs=2)
    return out


@pytest.fixture(scope="session")
def measure(tmp_path_factory):
    """``measure(run_dir, name, **options)``: an eta2 output of the run's last.pt, written once per name."""
    root = tmp_path_factory.mktemp("eta2-outputs")
    made = {}

    def make(run_dir, name, **options):
        if name not in made:
            options = {"limit": LIMIT, "device": "cpu", **options}
            made[name] = root / name
            write_eta2(eta2_result(run_dir / "checkpoints" / "last.pt", **options), made[name])
        return made[name]

    return make
