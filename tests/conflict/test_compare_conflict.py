"""compare on conflict outputs: outputs measured differently or of a changed checkpoint are refused."""

import shutil

import pytest

import mixdiag
from mixdiag.analysis.conflict import conflict_result, write_conflict
from mixdiag.errors import MixdiagError


def test_conflict_outputs_measured_differently_or_stale_are_refused(ml_runs, tmp_path):
    mixup = shutil.copytree(ml_runs["mixup"], tmp_path / "ml-mixup")
    outs = {}
    for name, run, split in [("erm", ml_runs["erm"], "test"), ("mixup", mixup, "test"), ("mixup-train", mixup, "train")]:
        outs[name] = tmp_path / name
        write_conflict(conflict_result(run / "checkpoints" / "last.pt", pairs=1, split=split, device="cpu"), outs[name])
    with pytest.raises(MixdiagError, match=r"^split differs between the runs: test \(ml-erm\) vs train \(ml-mixup\)"):
        mixdiag.compare([outs["erm"], outs["mixup-train"]])
    result = mixdiag.compare([outs["erm"], outs["mixup-train"]], allow_mixed=["split", "n"])
    assert dict(result.rows.drop_duplicates("run")[["run", "split"]].to_numpy()) == {"ml-erm": "test", "ml-mixup": "train"}
    mixdiag.compare([outs["erm"], outs["mixup"]])  # current: accepted
    mixdiag.train(out=mixup, resume=True, epochs=2)
    refresh = (r"mixdiag conflict --ckpt .*ml-mixup/checkpoints/last.pt --out .*mixup --force --split test --min-group 10 "
               r"--pairs 1 --null 200 --seed 0")
    with pytest.raises(MixdiagError, match=rf"mixup is stale: it measured another version of .*\(epoch 1\); refresh it with `{refresh}`"):
        mixdiag.compare([outs["erm"], outs["mixup"]])
