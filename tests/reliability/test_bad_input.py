"""Bad input to every command: one ``Error:`` line naming the problem, exit code 1 (2 for
malformed options), no traceback, and nothing written or changed.

One case per command runs the installed script (``process``); the others run the same click
command in-process, which checks the same message and exit code without the few seconds of
interpreter start-up per case.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cli_support import error_line, invoke, run_cli, snapshot

P = "process"
T = "--device cpu --out {work}/out"  # train: CPU, output in the scratch folder
E = "--out {work}/out"  # analysis output in the scratch folder

CASES = [
    # id, mode, arguments, exit code, what the error line must say
    ("train-negative-lr", "", f"train --lr -1 {T}", 1, "--lr must be positive, got -1.0"),
    ("train-batch-size-not-a-number", "", f"train --batch-size abc {T}", 2, "'abc' is not a valid integer"),
    ("train-momentum-out-of-range", "", f"train --momentum 1 {T}", 1, "--momentum must be in [0, 1)"),
    ("train-unknown-schedule", "", f"train --schedule linear {T}", 2, "'linear' is not one of"),
    ("train-mnist-empty-dir", P, f"train --dataset mnist --data-dir {{work}}/empty {T}", 1, "train-images-idx3-ubyte (or train-images-idx3-ubyte.gz) is missing from"),
    ("train-fashion-truncated-file", "", f"train --dataset fashion-mnist --data-dir {{files}}/fashion-truncated {T}", 1, "is truncated"),
    ("train-missing-data-dir", "", f"train --dataset mnist --data-dir {{work}}/nowhere {T}", 1, "does not exist"),
    ("train-unknown-dataset-option", "", f"train --dataset-option rho=0.9 {T}", 1, "has no option rho"),
    ("train-out-is-a-file", "", "train --device cpu --out {files}/a-file", 2, "is a file"),
    ("train-out-under-a-file", "", "train --device cpu --out {files}/a-file/run", 1, "a-file: it is a file, not a directory"),
    ("train-resume-nothing", "", "train --resume --out {work}/empty", 1, "holds no run"),
    ("train-resume-truncated-checkpoint", P, "train --resume --out {files}/run-truncated", 1, "truncated or not a PyTorch file"),
    ("train-resume-other-model", "", "train --resume --out {files}/run-other-model", 1, "was not written by the run"),
    ("train-resume-damaged-config", "", "train --resume --out {files}/run-bad-config", 1, "is not valid JSON"),
    ("train-resume-and-force", "", "train --resume --force --out {files}/run-bad-config", 1, "contradict each other"),
    ("train-force-keeps-the-old-run-on-failure", "", "train --force --dataset mnist --data-dir {work}/empty --device cpu --out {files}/run-truncated", 1, "is missing from"),
    ("train-unknown-mixing-point", "", f"train --method manifold --mix-points layer9 {T}", 1, "unknown mixing point 'layer9'"),
    ("train-weights-per-point", "", f"train --method flow --mix-points input,layer1,layer2 --weights 1,2 {T}", 1, "2 weights given for 3 mixing points"),
    ("train-weights-not-numbers", "", f"train --method flow --weights a,b {T}", 1, "cannot read 'a,b'"),
    ("train-track-k-below-2", "", f"train --track-k 1 {T}", 1, "--track-k must be at least 2"),
    ("train-negative-seed", "", f"train --seed -1 {T}", 1, "--seed must be non-negative"),
    ("train-val-fraction-out-of-range", "", f"train --val-fraction 1 {T}", 1, "--val-fraction must be in [0, 1)"),
    ("train-val-fraction-leaves-no-sample", "", f"train --val-fraction 0.0001 {T}", 1, "--val-fraction 0.0001 leaves 0 validation"),
    ("eta2-missing-checkpoint", "", f"eta2 --ckpt {{work}}/missing.pt {E}", 1, "does not exist"),
    ("eta2-text-file-checkpoint", "", f"eta2 --ckpt {{files}}/text.pt {E}", 1, "truncated or not a PyTorch file"),
    ("eta2-truncated-checkpoint", "", f"eta2 --ckpt {{files}}/truncated.pt {E}", 1, "truncated or not a PyTorch file"),
    ("eta2-empty-checkpoint", "", f"eta2 --ckpt {{files}}/empty.pt {E}", 1, "truncated or not a PyTorch file"),
    ("eta2-bare-state-dict", "", f"eta2 --ckpt {{files}}/state-dict.pt {E}", 1, "is not a mixdiag checkpoint"),
    ("eta2-checkpoint-of-another-model", P, f"eta2 --ckpt {{files}}/other-model.pt {E}", 1, "does not fit model preact-resnet32"),
    ("eta2-k-larger-than-data", "", f"eta2 --ckpt {{ckpt}} --k 5000 --limit 100 {E}", 1, "k=5000 clusters but the data has only 100 samples"),
    ("eta2-k-below-2", "", f"eta2 --ckpt {{ckpt}} --k 1 {E}", 1, "needs at least 2 clusters"),
    ("eta2-k-not-a-number", "", f"eta2 --ckpt {{ckpt}} --k abc {E}", 2, "'abc' is not a valid integer"),
    ("eta2-no-validation-split", "", f"eta2 --ckpt {{files}}/no-val.pt --split val {E}", 1, "has no validation split"),
    ("eta2-limit-below-2", "", f"eta2 --ckpt {{ckpt}} --limit 1 {E}", 1, "--limit must be at least 2"),
    ("eta2-no-restarts", "", f"eta2 --ckpt {{ckpt}} --restarts 0 {E}", 1, "restarts must be at least 1"),
    ("eta2-zero-memory", "", f"eta2 --ckpt {{ckpt}} --max-memory 0 {E}", 2, "must be positive"),
    ("eta2-sample-size-below-k", "", f"eta2 --ckpt {{ckpt}} --sample-size 3 {E}", 1, "sample_size must be 'all' or an integer >= k=10"),
    ("eta2-sample-size-not-a-number", "", f"eta2 --ckpt {{ckpt}} --sample-size many {E}", 2, "neither a number of rows nor 'all'"),
    ("eta2-out-exists", "", "eta2 --ckpt {ckpt} --out {work}/existing", 1, "already exists; pass --force"),
    ("eta2-out-under-a-file", "", "eta2 --ckpt {ckpt} --out {files}/a-file/out", 1, "a-file: it is a file, not a directory"),
    ("eta2-nan-features", "", f"eta2 --ckpt {{files}}/nan.pt --limit 200 {E}", 1, "NaN or infinite features"),
    ("eta2-constant-features", "", f"eta2 --ckpt {{files}}/constant.pt --limit 200 {E}", 1, "constant features"),
    ("eta2-checkpoint-is-a-directory", "", f"eta2 --ckpt {{files}} {E}", 2, "is a directory"),
    ("compare-one-source", "", f"compare {{files}}/eta2-erm {E}", 1, "needs at least two runs"),
    ("compare-unknown-baseline", P, f"compare {{files}}/eta2-erm {{files}}/eta2-mixup --baseline nope {E}", 1, "no run or method named 'nope'"),
    ("compare-missing-source", "", f"compare {{work}}/missing {{files}}/eta2-erm {E}", 2, "does not exist"),
    ("compare-directory-without-results", "", f"compare {{files}}/empty-dir {{files}}/eta2-erm {E}", 1, "neither an eta2 output directory"),
    ("compare-damaged-table", "", f"compare {{files}}/eta2-damaged {{files}}/eta2-erm {E}", 1, "is not a readable table"),
    ("compare-foreign-table", "", f"compare {{files}}/foreign.csv {{files}}/eta2-erm {E}", 1, "lacks columns run, method, block, module, eta2"),
    ("compare-out-exists", "", "compare {files}/eta2-erm {files}/eta2-mixup --out {work}/existing", 1, "already exists; pass --force"),
    ("compare-truncated-checkpoint", "", f"compare {{files}}/truncated.pt {{files}}/eta2-erm {E}", 1, "truncated or not a PyTorch file"),
    ("compare-k-below-2", "", f"compare {{ckpt}} {{files}}/eta2-erm --k 1 {E}", 1, "needs at least 2 clusters"),
    ("plot-track-untracked-run", P, "plot-track {run} --out {work}/track.png", 1, "has no eta2_track.csv"),
    ("plot-track-missing-run", "", "plot-track {work}/missing", 2, "does not exist"),
    ("plot-track-unknown-image-type", "", "plot-track {files}/track-ok --out {work}/track.xyz", 1, "does not end in an image type"),
    ("plot-track-damaged-track", "", "plot-track {files}/track-damaged --out {work}/track.png", 1, "eta2_track.csv"),
    ("plot-track-out-under-a-file", "", "plot-track {files}/track-ok --out {files}/a-file/track.png", 1, "a-file: it is a file, not a directory"),
    ("plot-track-out-is-a-directory", "", "plot-track {files}/track-ok --out {work}/existing", 2, "is a directory"),
    ("list-unknown-kind", P, "list things", 2, "'things' is not one of"),
    ("list-nothing", "", "list", 2, "Missing argument"),
    ("list-extra-argument", "", "list models extra", 2, "unexpected extra argument"),
]


@pytest.fixture
def work(tmp_path) -> Path:
    """A scratch folder holding an empty directory and a non-empty one."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "existing").mkdir()
    (tmp_path / "existing" / "keep.txt").write_text("mine")
    return tmp_path


@pytest.mark.parametrize("mode,args,code,needle", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_in_one_line_and_writes_nothing(run, ckpt, files, work, mode, args, code, needle):
    argv = [a.format(run=run, ckpt=ckpt, files=files, work=work) for a in args.split()]
    before = snapshot(work, files, run)
    outcome = run_cli(*argv) if mode == P else invoke(*argv)
    assert outcome.code == code, outcome.stderr
    assert needle in error_line(outcome)
    assert snapshot(work, files, run) == before, "the refused command wrote or changed files"
    assert not (files / "PWNED").exists()


def test_there_are_enough_cases_across_all_commands():
    commands = {args.split()[0] for _, _, args, _, _ in CASES}
    assert len(CASES) >= 30 and commands == {"train", "eta2", "compare", "plot-track", "list"}


AS_ROOT = pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes whatever the permissions, so chmod cannot lock it out")


@AS_ROOT
def test_unreadable_checkpoint(ckpt, tmp_path):
    unreadable = tmp_path / "last.pt"
    shutil.copy(ckpt, unreadable)
    unreadable.chmod(0)
    try:
        outcome = run_cli("eta2", "--ckpt", unreadable, "--out", tmp_path / "out")
    finally:
        unreadable.chmod(0o600)
    assert outcome.code == 1 and "permission denied" in error_line(outcome)
    assert not (tmp_path / "out").exists()


@AS_ROOT
def test_unwritable_output_directory(ckpt, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        outcome = invoke("eta2", "--ckpt", ckpt, "--out", locked / "out")
    finally:
        locked.chmod(0o755)
    assert outcome.code == 1 and "permission denied" in error_line(outcome)
    assert list(locked.iterdir()) == []
