"""mixdiag: train with mixed-sample augmentation, then see per block what mixing did to the features.

The Python API that the ``mixdiag`` command wraps::

    import mixdiag
    run_dir = mixdiag.train(dataset="digits", method="mixup", epochs=5, out="runs/mix")
    run = mixdiag.load(run_dir / "checkpoints" / "last.pt")
"""

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
    "create_method",
    "create_model",
    "list_datasets",
    "list_methods",
    "list_models",
    "load",
    "load_dataset",
    "train",
]
