"""Tiny multi-label runs shared by the conflict tests, trained once per session."""

import pytest

import mixdiag

# rho=0.8: the three designed pairs are the most correlated, and still have "a only" and "b only" samples.
DATA = {"n_train": 240, "n_test": 160, "rho": 0.8}
# val_fraction=0: the tests rebuild the clean training labels with load_dataset, which holds no validation split out.
TINY = dict(dataset="synthetic-multilabel", dataset_options=DATA, model="preact-resnet20", epochs=1, batch_size=64, device="cpu", seed=3,
            val_fraction=0.0)


@pytest.fixture(scope="session")
def ml_runs(tmp_path_factory):
    """ERM with corrupted labels and Mixup on clean labels, same data: {method: run directory}."""
    root = tmp_path_factory.mktemp("ml-runs")
    return {
        "erm": mixdiag.train(out=root / "ml-erm", method="erm", corrupt_pos_neg=0.3, corrupt_neg_pos=0.2, **TINY),
        "mixup": mixdiag.train(out=root / "ml-mixup", method="mixup", **TINY),
    }


@pytest.fixture(scope="session")
def erm_run(ml_runs):
    return mixdiag.load(ml_runs["erm"] / "checkpoints" / "last.pt", device="cpu")
