"""mixdiag: train with mixed-sample augmentation, then see per block what mixing did to the features.

The Python API that the ``mixdiag`` command wraps::

    import mixdiag
    run_dir = mixdiag.train(dataset="digits", method="mixup", epochs=5, out="runs/mix")
    run = mixdiag.load(run_dir / "checkpoints" / "last.pt")
    df = mixdiag.eta2(run)                         # per-block η², a pandas DataFrame
    fig = mixdiag.plots.plot_eta2(df)              # a matplotlib Figure
"""

from . import plots
from .analysis.compare import compare
from .analysis.report import eta2
from .analysis.track import read_track
from .data import list_datasets, load_dataset
from .errors import CheckpointError, DataError, MixdiagError
from .mixing import create_method, list_methods
from .models import create_model, list_models
from .training import LoadedRun, TrainConfig, load, train

__all__ = [
    "CheckpointError",
    "DataError",
    "LoadedRun",
    "MixdiagError",
    "TrainConfig",
    "compare",
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
