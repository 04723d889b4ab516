"""A mixdiag model handed over as a plain module gives the table of its run; a module's conflict analysis takes given labels."""

import numpy as np
import pytest

import mixdiag
from mixdiag.analysis.conflict import compute_conflict, select_pairs
from mixdiag.errors import MixdiagError
from mixdiag.models import create_model

OPTIONS = dict(k=4, sample_size=150, limit=200, seed=1)


def test_a_run_and_its_model_as_a_plain_module_give_the_same_table(tiny_runs):
    run = mixdiag.load(tiny_runs["erm"], device="cpu")
    from_run = mixdiag.eta2(run, **OPTIONS)
    x, _ = run.dataset.split("train")
    from_module = mixdiag.eta2(run.model, x, transform=run.dataset.normalize, name="mine", **OPTIONS)
    np.testing.assert_allclose(from_module["eta2"], from_run["eta2"], rtol=1e-9)
    assert list(from_module["module"]) == list(from_run["module"]) == [*run.model.block_names, "output"]
    assert set(from_module["run"]) == {"mine"} and from_module.attrs["model_source"] == "module"
    assert "blocks_from" not in from_module.attrs  # declared blocks, as for the run


def test_runs_take_no_data_and_modules_need_theirs(tiny_runs):
    run = mixdiag.load(tiny_runs["erm"], device="cpu")
    with pytest.raises(MixdiagError, match="a run is measured on its own dataset: pick split= instead"):
        mixdiag.eta2(run, run.dataset.x_train)
    with pytest.raises(MixdiagError, match="needs the labels of its data: pass labels="):
        mixdiag.conflict(run.model, run.dataset.x_train)


def test_conflict_of_a_module_with_given_labels():
    ds = mixdiag.load_dataset("synthetic-multilabel", n_train=200, n_test=20, rho=0.8)
    model = create_model("preact-resnet20", in_channels=ds.in_channels, num_classes=ds.num_classes, input_size=ds.input_shape[1:]).eval()
    x, y = ds.split("train")
    y = y.numpy()
    names = [f"finding {i}" for i in range(y.shape[1])]
    table = mixdiag.conflict(model, x, y, pairs=2, null=4, transform=ds.normalize, label_names=names, blocks=["layer3.*"])
    pairs = select_pairs(y.astype(np.int64), y.astype(np.int64), 2, 10)
    direct = compute_conflict(model, x, y, pairs, ds.normalize, null=4, device="cpu")
    direct = direct[direct["module"].isin(["layer3.0", "layer3.1", "layer3.2", "output"])]
    np.testing.assert_allclose(table["eta2"], direct["eta2"], rtol=1e-9)
    assert table["label_a"].iloc[0] == names[pairs[0].a] and table.attrs["labels"] == "given"
    with pytest.raises(MixdiagError, match="label_names has 2 names for 6 labels"):
        mixdiag.conflict(model, x, y, label_names=["a", "b"], transform=ds.normalize)
