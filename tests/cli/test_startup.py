"""Start-up: help and listings import no torch; the package loads its names on first use.

The timing goals are measured by bench/startup.py; these tests check the behaviours the
times rest on, and that the CLI's static listing names exactly what is registered.
"""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import mixdiag
from mixdiag.cli import _catalog
from mixdiag.data._base import _LOADERS

HEAVY = ("torch", "sklearn", "faiss", "pandas", "matplotlib")


def modules_loaded_by(code: str) -> set[str]:
    """The heavy modules a fresh interpreter has imported after running ``code`` (which may print to stdout)."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(done.stderr.split())


@pytest.mark.parametrize("args", [["--help"], ["eta2", "--help"], ["train", "--help"], ["conflict", "--help"], ["compare", "--help"],
                                  ["plot-track", "--help"], ["list", "datasets"], ["list", "models"]])
def test_help_and_list_import_no_heavy_module(args):
    code = f"from mixdiag.cli.main import cli\ntry:\n    cli({args!r}, prog_name='mixdiag')\nexcept SystemExit as e:\n    assert not e.code"
    assert modules_loaded_by(code) == set()


def test_import_mixdiag_loads_nothing_heavy_until_a_name_is_used():
    assert modules_loaded_by("import mixdiag, mixdiag.analysis, mixdiag.training") == set()
    assert "torch" in modules_loaded_by("import mixdiag\nmixdiag.load")


@pytest.mark.parametrize("package", ["mixdiag", "mixdiag.analysis", "mixdiag.training"])
def test_every_public_name_resolves(package):
    module = __import__(package, fromlist=["_"])
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        module.nope


def test_public_names_are_the_defining_objects():
    from mixdiag.analysis.compare import compare
    from mixdiag.analysis.report import eta2
    from mixdiag.training.trainer import train

    assert mixdiag.compare is compare and mixdiag.eta2 is eta2 and mixdiag.train is train
    assert inspect.ismodule(mixdiag.plots) and mixdiag.plots.__name__ == "mixdiag.plots"


def test_static_listing_equals_the_registries():
    assert list(_catalog.MODELS) == mixdiag.list_models()
    assert list(_catalog.METHODS) == mixdiag.list_methods()
    assert sorted(_catalog.DATASETS) == mixdiag.list_datasets()


@pytest.mark.parametrize("name", sorted(_LOADERS))
def test_listed_dataset_options_are_the_loaders_options(name):
    taken = [p for p in inspect.signature(_LOADERS[name]).parameters if p not in ("data_dir", "seed")]
    assert list(_catalog.DATASETS[name].options) == taken


def test_default_backend_shown_in_help_is_the_analysis_default():
    from mixdiag.analysis import kmeans

    assert kmeans.DEFAULT_BACKEND == ("faiss" if kmeans.faiss is not None else "torch")
