"""mixdiag: train with mixed-sample augmentation, then see per block what mixing did to the features.

The Python API that the ``mixdiag`` command wraps::

    import mixdiag
    run_dir = mixdiag.train(dataset="digits", method="mixup", epochs=5, out="runs/mix")
    run = mixdiag.load(run_dir / "checkpoints" / "last.pt")
    df = mixdiag.eta2(run)                         # per-block η², a pandas DataFrame
    fig = mixdiag.plots.plot_eta2(df)              # a matplotlib Figure
    conflict = mixdiag.conflict(run, pairs=5)      # multi-label runs: correlation conflict per pair and block
"""

import os

# torch and FAISS each bring their own OpenMP runtime. With the default active wait, the
# idle threads of one spin on the cores the other needs: on 2 cores, k-means after a
# forward pass ran 4-7x slower. Passive waiting must be set before either runtime loads;
# a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .analysis.compare import compare  # noqa: E402
from .analysis.conflict import conflict  # noqa: E402
from .analysis.report import eta2  # noqa: E402
from .analysis.track import read_track  # noqa: E402
from .data import list_datasets, load_dataset  # noqa: E402
from .errors import CheckpointError, DataError, MixdiagError  # noqa: E402
from .mixing import create_method, list_methods  # noqa: E402
from .models import create_model, list_models  # noqa: E402
from .training import LoadedRun, TrainConfig, load, train  # noqa: E402

__all__ = [
    "CheckpointError",
    "DataError",
    "LoadedRun",
    "MixdiagError",
    "TrainConfig",
    "compare",
    "conflict",
    "create_method",
    "create_model",
    "eta2",
    "list_datasets",
    "list_methods",
    "list_models",
    "load",
    "load_dataset",
    "plots",
    "read_track",
    "train",
]


def __getattr__(name: str):
    # The plots pull in matplotlib and seaborn (about a second of imports): loaded on first
    # use, so `mixdiag train` and scripts that only compute do not pay for them.
    if name == "plots":
        import importlib

        return importlib.import_module(".plots", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
