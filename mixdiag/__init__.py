"""mixdiag: train with mixed-sample augmentation, then see per block what mixing did to the features.

The Python API that the ``mixdiag`` command wraps::

    import mixdiag
    run_dir = mixdiag.train(dataset="digits", method="mixup", epochs=5, out="runs/mix")
    run = mixdiag.load(run_dir / "checkpoints" / "last.pt")
    df = mixdiag.eta2(run)                         # per-block η², a pandas DataFrame
    fig = mixdiag.plots.plot_eta2(df)              # a matplotlib Figure
    conflict = mixdiag.conflict(run, pairs=5)      # multi-label runs: correlation conflict per pair and block
    mixdiag.find_blocks(torchvision_resnet)        # any network: its residual blocks, in forward order

Names are loaded on first use: ``import mixdiag`` alone imports neither torch nor
scikit-learn, so the command line starts at once.
"""

import os

from ._lazy import lazy_exports

# torch and FAISS each bring their own OpenMP runtime. With the default active wait, the
# idle threads of one spin on the cores the other needs: on 2 cores, k-means after a
# forward pass ran 4-7x slower. Passive waiting must be set before either runtime loads;
# a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_WHERE = {
    "CheckpointError": ".errors",
    "DataError": ".errors",
    "LoadedRun": ".training",
    "MixdiagError": ".errors",
    "TrainConfig": ".training",
    "compare": ".analysis.compare",
    "conflict": ".analysis.conflict",
    "create_method": ".mixing",
    "create_model": ".models",
    "eta2": ".analysis.report",
    "find_blocks": ".models.find_blocks",
    "list_datasets": ".data",
    "list_methods": ".mixing",
    "list_models": ".models",
    "load": ".training",
    "load_dataset": ".data",
    "load_model": ".analysis.subject",
    "plots": None,
    "quiet": "._progress",
    "read_track": ".analysis.track",
    "train": ".training",
}

__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
