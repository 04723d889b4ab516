"""compare on conflict outputs: outputs measured differently or of a changed checkpoint are refused."""

import json

import pytest

import mixdiag
from mixdiag.analysis.conflict import conflict_result, write_conflict
from mixdiag.errors import MixdiagError


def test_conflict_outputs_measured_differently_or_stale_are_refused(ml_runs, tmp_path):
    outs = {}
    for name, run, split in [("erm", "erm", "test"), ("mixup", "mixup", "test"), ("mixup-train", "mixup", "train")]:
        outs[name] = tmp_path / name
        write_conflict(conflict_result(ml_runs[run] / "checkpoints" / "last.pt", pairs=1, split=split, device="cpu"), outs[name])
    with pytest.raises(MixdiagError, match=r"^split differs between the runs: test \(ml-erm\) vs train \(ml-mixup\)"):
        mixdiag.compare([outs["erm"], outs["mixup-train"]])
    result = mixdiag.compare([outs["erm"], outs["mixup-train"]], allow_mixed=["split", "n"])
    assert dict(result.rows.drop_duplicates("run")[["run", "split"]].to_numpy()) == {"ml-erm": "test", "ml-mixup": "train"}
    settings = json.loads((outs["mixup"] / "conflict.json").read_text())
    settings["checkpoint_sha256"] = "0" * 64
    (outs["mixup"] / "conflict.json").write_text(json.dumps(settings))
    with pytest.raises(MixdiagError, match=r"is stale: .*refresh it with `mixdiag conflict --ckpt .*--force --split test --min-group \d+ --pairs 1 --null 200 --seed 0`"):
        mixdiag.compare([outs["erm"], outs["mixup"]])
