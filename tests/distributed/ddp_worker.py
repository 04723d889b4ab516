"""Run in every process of a ``torchrun`` launch by ``test_train_ddp.py``:

    python ddp_worker.py OUT

Calls :func:`mixdiag.train` inside the launched processes, as a user's script would:

* for every mixing method, one DDP step's gradients against the mean of the gradients each
  process gets from the plain model on its own batch, and one epoch in ``OUT/<method>``;
* the two-epoch run ``OUT/full`` (the settings of the test's ``SYNTHETIC`` command line);
* settings that must stop every process.

Each process writes what it saw to ``OUT/rank<R>.json``.
"""

import copy
import json
import sys
from pathlib import Path

import torch

import mixdiag
from mixdiag import distributed
from mixdiag.mixing import MixRandom, as_targets, create_method, criterion_for, list_methods
from mixdiag.training.build import build_model
from mixdiag.training.trainer import _loss_module

out = Path(sys.argv[1])
world, device = distributed.setup("cpu")
TINY = dict(dataset="synthetic-multilabel", dataset_options={"n_train": 64, "n_test": 32, "image_size": 8},
            model="preact-resnet20", epochs=1, batch_size=16, device="cpu")
FULL = dict(dataset="synthetic-multilabel", dataset_options={"n_train": 251, "n_test": 64, "image_size": 8}, model="preact-resnet20",
            method="flow", batch_size=32, corrupt_rate=0.1, track_eta2=1, track_probe_size=64, track_k=4, seed=5, device="cpu", epochs=2)
seen = {"world": [world.rank, world.size], "gradients": {}, "runs": {}, "errors": {}}

criterion = criterion_for(False)
for name in list_methods():
    method = create_method(name)
    model = build_model("preact-resnet20", {"in_channels": 1, "num_classes": 4, "input_size": [8, 8]}, seed=0)
    reference = copy.deepcopy(model)
    g = torch.Generator().manual_seed(100 + world.rank)
    x, targets = torch.randn(8, 1, 8, 8, generator=g), as_targets(torch.randint(4, (8,), generator=g), 4)

    plain_loss = method.loss(reference, x, targets, criterion, MixRandom(7 + world.rank))
    plain_loss.backward()
    per_process = distributed.all_gather_objects([p.grad for p in reference.parameters()])
    expected = [torch.stack(grads).mean(0) for grads in zip(*per_process)]

    loss_of = _loss_module(model, method, criterion, world, device)  # DDP's hooks live as long as it does
    loss = loss_of(x, targets, MixRandom(7 + world.rank))
    loss.backward()
    seen["gradients"][name] = {
        "same_loss": bool(torch.equal(loss, plain_loss)),
        "all_gradients": all(p.grad is not None for p in model.parameters()),
        # The processes' batches differ, so DDP has something to average.
        "own_differs": max(float((p.grad - e).abs().max()) for p, e in zip(reference.parameters(), expected)) > 1e-3,
        "max_error": max(float((p.grad - e).abs().max() / e.abs().max().clamp_min(1e-12)) for p, e in zip(model.parameters(), expected)),
    }

    seen["runs"][name] = str(mixdiag.train(out=out / name, method=name, **TINY))

seen["runs"]["full"] = str(mixdiag.train(out=out / "full", **FULL))

for case, settings in {
    "batch": dict(TINY, batch_size=15),
    "sync_bn": dict(TINY, sync_bn=True),
    "diverged": dict(TINY, lr=1e30, schedule="constant"),
}.items():
    try:
        mixdiag.train(out=out / f"bad-{case}", **settings)
        seen["errors"][case] = None
    except mixdiag.MixdiagError as exc:
        seen["errors"][case] = str(exc)

(out / f"rank{world.rank}.json").write_text(json.dumps(seen))
distributed.teardown()
