"""η² of a torchvision ResNet against an independent computation, and the same table from every kind of input."""

import numpy as np
import pytest
import torch
from sklearn.metrics import calinski_harabasz_score
from torch.utils.data import DataLoader, Dataset, TensorDataset

import mixdiag
from extras import require, seeded
from mixdiag.analysis.eta2 import compute_eta2
from mixdiag.errors import MixdiagError

tv = require("torchvision").models
OPTIONS = dict(k=4, sample_size=60, seed=3)


@pytest.fixture(scope="module")
def resnet():
    return seeded(lambda: tv.resnet18(weights=None, num_classes=5), 0).eval()


@pytest.fixture(scope="module")
def images():
    return torch.randn(150, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def own_features(model, x, names):
    """Every sample's flattened block outputs and logits, from hooks of this test's own."""
    kept = {name: [] for name in names}
    handles = [model.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: kept[n].append(o.flatten(1).double().clone()))
               for n in names]
    try:
        with torch.no_grad():
            logits = torch.cat([model(x[i : i + 64]) for i in range(0, len(x), 64)])
    finally:
        for h in handles:
            h.remove()
    return {**{n: torch.cat(v).numpy() for n, v in kept.items()}, "output": logits.double().numpy()}


def ratio(x, labels):
    """1 − SSI/SST of a partition, straight from its definition."""
    sst = ((x - x.mean(axis=0)) ** 2).sum()
    ssi = sum(((x[labels == c] - x[labels == c].mean(axis=0)) ** 2).sum() for c in np.unique(labels))
    return 1 - ssi / sst


def test_eta2_of_a_torchvision_resnet_matches_a_two_pass_computation(resnet, images):
    table, labels = compute_eta2(resnet, images, return_assignments=True, **OPTIONS)
    blocks = [f"layer{s}.{b}" for s in range(1, 5) for b in range(2)]
    assert list(table["module"]) == blocks + ["output"]
    feats = own_features(resnet, images, blocks)
    n = len(images)
    for row in table.itertuples():
        x, part = feats[row.module], labels[row.module]
        assert row.dim == x.shape[1] and row.n == n
        assert row.eta2 == pytest.approx(ratio(x, part), rel=1e-6, abs=1e-9)
        # The same number through scikit-learn: CH = (SSB/(k−1)) / (SSW/(N−k)) and η² = SSB/(SSB + SSW),
        # so η² = 1 / (1 + (N−k) / ((k−1)·CH)), k the number of non-empty clusters.
        k = len(np.unique(part))
        ch = calinski_harabasz_score(x, part)
        assert row.eta2 == pytest.approx(1 / (1 + (n - k) / ((k - 1) * ch)), rel=1e-6)


class CountingDataset(Dataset):
    """A Dataset of (x, y) items that counts every item read, as a reader of files from disk would."""

    def __init__(self, x):
        self.x, self.reads = x, 0

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        self.reads += 1
        return self.x[i], 0


def test_array_dataset_and_loader_give_the_tensor_table(resnet, images):
    expected = mixdiag.eta2(resnet, images, **OPTIONS)
    dataset = CountingDataset(images)
    inputs = {
        "numpy": images.numpy(),
        "dataset": dataset,
        "loader of x": DataLoader(images, batch_size=32),
        "loader of (x, y)": DataLoader(TensorDataset(images, torch.zeros(len(images))), batch_size=50),
    }
    for kind, data in inputs.items():
        got = mixdiag.eta2(resnet, data, **OPTIONS)
        np.testing.assert_allclose(got["eta2"], expected["eta2"], rtol=1e-6, err_msg=kind)
        assert list(got["module"]) == list(expected["module"])
    # Item by item: the fit sample and the other rows are read once each, plus the probe passes' first item.
    assert len(images) <= dataset.reads <= len(images) + 3


def test_limit_and_blocks_work_on_any_source(resnet, images):
    df = mixdiag.eta2(resnet, DataLoader(images, batch_size=40), limit=90, blocks=["layer4.*"], pooled=True, **OPTIONS)
    assert list(df["module"]) == ["layer4.0", "layer4.1", "output"]
    assert set(df["n"]) == {90} and set(df["dim"]) == {512, 5}
    assert df.attrs["blocks_from"] == "given" and df.attrs["model_source"] == "module" and df.attrs["run"] == "ResNet"


def test_bad_inputs_are_refused_clearly(resnet, images):
    with pytest.raises(MixdiagError, match="shuffle=False"):
        mixdiag.eta2(resnet, DataLoader(images, batch_size=32, shuffle=True), **OPTIONS)
    with pytest.raises(MixdiagError, match="yields single samples; give it a batch_size"):
        mixdiag.eta2(resnet, DataLoader(images, batch_size=None), **OPTIONS)
    with pytest.raises(MixdiagError, match="needs its inputs: pass data="):
        mixdiag.eta2(resnet)
    with pytest.raises(MixdiagError, match="cannot read inputs from a int"):
        mixdiag.eta2(resnet, 5)


def test_compare_takes_modules_on_data(resnet, images):
    other = seeded(lambda: tv.resnet18(weights=None, num_classes=5), 5).eval()
    result = mixdiag.compare({"erm": resnet, "mixup": other}, data=images, blocks=["layer4.*"], **OPTIONS)
    assert list(result.delta["run"].unique()) == ["mixup"]
    assert list(result.delta["module"]) == ["layer4.0", "layer4.1", "output"]
