"""What multi-process training added, seen from a single process: nothing changes."""

import json

import torch

from mixdiag import train
from mixdiag.training.checkpoint import load_checkpoint, save_checkpoint

TINY = dict(dataset="synthetic-multilabel", dataset_options={"n_train": 64, "n_test": 32, "image_size": 8},
            model="preact-resnet20", method="mixup", batch_size=16, device="cpu")


def weights(run):
    return load_checkpoint(run / "checkpoints" / "last.pt")["model"]


def history(run):
    return [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in load_checkpoint(run / "checkpoints" / "last.pt")["history"]]


def test_sync_bn_changes_nothing_in_one_process(tmp_path):
    plain = train(out=tmp_path / "plain", epochs=1, **TINY)
    synced = train(out=tmp_path / "synced", epochs=1, sync_bn=True, **TINY)
    assert history(plain) == history(synced)
    assert all(torch.equal(a, b) for a, b in zip(weights(plain).values(), weights(synced).values()))
    assert json.loads((synced / "config.json").read_text())["sync_bn"] is True


def test_a_run_from_before_multi_process_training_resumes_as_if_uninterrupted(tmp_path):
    """Its config.json and checkpoint lack ``sync_bn`` and ``world_size``."""
    full = train(out=tmp_path / "full", epochs=2, **TINY)
    old = train(out=tmp_path / "old", epochs=1, **TINY)
    config = json.loads((old / "config.json").read_text())
    del config["sync_bn"]
    (old / "config.json").write_text(json.dumps(config))
    state = load_checkpoint(old / "checkpoints" / "last.pt")
    del state["world_size"], state["config"]["sync_bn"]
    save_checkpoint(old / "checkpoints" / "last.pt", state)

    train(out=old, resume=True, epochs=2)
    assert history(old) == history(full)
    assert all(torch.equal(a, b) for a, b in zip(weights(old).values(), weights(full).values()))
