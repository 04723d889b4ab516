import json

import numpy as np
import pytest
import torch

from mixdiag import MixdiagError, TrainConfig, load, train
from mixdiag.mixing import list_methods
from mixdiag.training.metrics import predict

FAST = dict(dataset="digits", model="preact-resnet20", epochs=1, batch_size=64, device="cpu")


def metrics(run):
    return [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]


@pytest.mark.parametrize("method", list_methods())
def test_one_epoch_per_method_on_digits(tmp_path, method):
    run = train(out=tmp_path / method, method=method, **FAST)
    (record,) = metrics(run)
    assert record["epoch"] == 1 and np.isfinite(record["train_loss"])
    assert 0.0 <= record["test_accuracy"] <= 1.0
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "checkpoints" / "best.pt").is_file()
    saved = json.loads((run / "config.json").read_text())
    assert saved["method"] == method and saved["model_resolved"] == "preact-resnet20"


def test_same_seed_same_metrics_and_weights(tmp_path):
    a = train(out=tmp_path / "a", method="mixup", seed=3, **FAST)
    b = train(out=tmp_path / "b", method="mixup", seed=3, **FAST)
    c = train(out=tmp_path / "c", method="mixup", seed=4, **FAST)
    assert metrics(a) == metrics(b) != metrics(c)
    wa, wb = (torch.load(r / "checkpoints" / "last.pt", weights_only=True)["model"] for r in (a, b))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_equals_uninterrupted_run(tmp_path):
    settings = dict(FAST, method="flow", epochs=2)
    full = train(out=tmp_path / "full", **settings)
    part = train(out=tmp_path / "part", **dict(settings, epochs=1))
    train(out=part, resume=True, epochs=2)
    assert metrics(full) == metrics(part)
    wf, wp = (torch.load(r / "checkpoints" / "last.pt", weights_only=True)["model"] for r in (full, part))
    assert all(torch.equal(wf[k], wp[k]) for k in wf)


def test_run_dir_is_never_overwritten_by_accident(tmp_path):
    run = train(out=tmp_path / "r", **FAST)
    before = (run / "metrics.jsonl").read_text()
    with pytest.raises(MixdiagError, match="already holds a run"):
        train(out=run, **FAST)
    assert (run / "metrics.jsonl").read_text() == before
    with pytest.raises(MixdiagError, match="settings, but method differ"):
        train(out=run, resume=True, method="mixup")
    train(out=run, force=True, **dict(FAST, seed=1))
    assert json.loads((run / "config.json").read_text())["seed"] == 1
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(MixdiagError, match="not a mixdiag run"):
        train(out=foreign, force=True, **FAST)
    assert (foreign / "thesis.tex").read_text() == "precious"


@pytest.mark.parametrize(
    "bad,match",
    [
        (dict(epochs=0), "--epochs"),
        (dict(batch_size=1), "--batch-size"),
        (dict(lr=-1.0), "--lr"),
        (dict(corrupt_rate=1.0), "--corrupt-rate"),
        (dict(method="cutmix"), "unknown mixing method"),
        (dict(dataset="imagenet"), "unknown dataset"),
        (dict(model="vgg"), "unknown model"),
        (dict(method_options={"alpha": -1}), "alpha"),
    ],
)
def test_bad_settings_are_named(tmp_path, bad, match):
    with pytest.raises(MixdiagError, match=match):
        train(out=tmp_path / "x", **{**FAST, **bad})
    assert not (tmp_path / "x" / "checkpoints").exists()


def test_checkpoint_alone_rebuilds_model_and_data(tmp_path):
    run = train(out=tmp_path / "r", **FAST)
    loaded = load(run / "checkpoints" / "last.pt", device="cpu")
    assert loaded.method == "erm" and loaded.epoch == 1 and loaded.name == "r"
    x, y = loaded.dataset.split("test")
    pred = predict(loaded.model, x, loaded.dataset.normalize, torch.device("cpu")).argmax(1)
    accuracy = float((pred.numpy() == y.numpy()).mean())
    assert accuracy == pytest.approx(metrics(run)[0]["test_accuracy"], abs=1e-12)


def test_a_loaded_run_prints_as_one_short_line(tmp_path):
    run = train(out=tmp_path / "r", quiet=True, **FAST)
    loaded = load(run / "checkpoints" / "last.pt", device="cpu")
    sizes = {split: len(loaded.dataset.split(split)[0]) for split in ("train", "val", "test")}
    assert sizes["train"] + sizes["val"] == 1438 and sizes["test"] == 359
    expected = f"train {sizes['train']}, val {sizes['val']}, test 359"
    assert repr(loaded) == f"LoadedRun(run='r', method='erm', model='preact-resnet20', epoch=1, data='digits: {expected}')"
    assert str(loaded) == repr(loaded)
    bare = load(run / "checkpoints" / "last.pt", device="cpu", with_data=False)
    assert repr(bare) == "LoadedRun(run='r', method='erm', model='preact-resnet20', epoch=1, data='not loaded')"


def test_multilabel_with_corruption_trains_and_records_it(tmp_path):
    run = train(
        out=tmp_path / "ml",
        dataset="synthetic-multilabel",
        dataset_options={"n_train": 256, "n_test": 128},
        model="preact-resnet20",
        method="flow",
        epochs=1,
        batch_size=64,
        corrupt_pos_neg=0.2,
        corrupt_neg_pos=0.05,
        device="cpu",
    )
    (record,) = metrics(run)
    for key in ("test_macro_auc", "test_micro_auc", "test_map", "test_micro_f1"):
        assert 0.0 <= record[key] <= 1.0
    saved = np.load(run / "corruption.npz")
    assert saved["corrupted"].shape == saved["y_train"].shape and saved["corrupted"].any()


def test_config_round_trip():
    c = TrainConfig(method="flow", method_options={"beta": 0.5}, milestones=(0.3, 0.6))
    assert TrainConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    with pytest.raises(MixdiagError, match="unknown settings"):
        TrainConfig.from_dict({"epochz": 3})
