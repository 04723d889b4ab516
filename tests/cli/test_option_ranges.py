"""Every integer option of every command refuses values out of its range in one line, without a traceback.

Options checked by click (``IntRange``) exit with 2, those checked by the Python API with 1;
either way nothing is written.
"""

from __future__ import annotations

import pytest

from cli_support import error_line, invoke

T = "--device cpu --out {tmp}/out"
E = "--out {tmp}/out"

CASES = [
    # arguments, exit code, what the error line must say
    (f"train --epochs 0 {T}", 1, "--epochs must be at least 1"),
    (f"train --batch-size 1 {T}", 1, "--batch-size must be at least 2"),
    (f"train --batch-size -4 {T}", 1, "--batch-size must be at least 2"),
    (f"train --seed -1 {T}", 1, "--seed must be non-negative"),
    (f"train --track-eta2 -1 {T}", 1, "--track-eta2 must be 0 (off) or a positive number"),
    (f"train --track-probe-size 1 {T}", 1, "--track-probe-size must be at least 2"),
    (f"train --track-k 0 {T}", 1, "--track-k must be at least 2"),
    (f"train --dataset fashion-mnist --dataset-option limit=0 {T}", 1, "limit must be a positive number"),
    (f"train --dataset synthetic-multilabel --dataset-option n_train=0 {T}", 1, "n_train must be an integer of at least 1"),
    (f"eta2 --ckpt {{run}} --batch-size 0 {E}", 2, "0 is not in the range x>=1"),
    (f"eta2 --ckpt {{run}} --batch-size -3 {E}", 2, "-3 is not in the range x>=1"),
    (f"eta2 --ckpt {{run}} --seed -1 {E}", 2, "-1 is not in the range x>=0"),
    (f"eta2 --ckpt {{run}} --null -1 {E}", 2, "-1 is not in the range x>=0"),
    (f"eta2 --ckpt {{run}} --k 0 {E}", 1, "needs at least 2 clusters"),
    (f"eta2 --ckpt {{run}} --restarts 0 {E}", 1, "restarts must be at least 1"),
    (f"eta2 --ckpt {{run}} --limit 0 {E}", 1, "--limit must be at least 2"),
    (f"eta2 --ckpt {{run}} --sample-size 0 {E}", 1, "sample_size must be 'all' or an integer >= k=10"),
    (f"eta2 --ckpt {{run}} --sample-size -5 {E}", 1, "sample_size must be 'all' or an integer >= k=10"),
    (f"eta2 --ckpt {{run}} --max-memory 0 {E}", 2, "must be positive"),
    (f"conflict --ckpt {{run}} --pairs 0 {E}", 2, "0 is not in the range x>=1"),
    (f"conflict --ckpt {{run}} --min-group 0 {E}", 2, "0 is not in the range x>=1"),
    (f"conflict --ckpt {{run}} --null -1 {E}", 2, "-1 is not in the range x>=0"),
    (f"conflict --ckpt {{run}} --seed -1 {E}", 2, "-1 is not in the range x>=0"),
    (f"conflict --ckpt {{run}} --batch-size 0 {E}", 2, "0 is not in the range x>=1"),
    (f"compare {{run}} {{run}} --k 1 {E}", 1, "needs at least 2 clusters"),
]


@pytest.mark.parametrize("args,code,needle", CASES, ids=[c[0].split(" --out")[0] for c in CASES])
def test_out_of_range_integer_is_one_line(tiny_runs, tmp_path, args, code, needle):
    outcome = invoke(*args.format(run=tiny_runs["erm"], tmp=tmp_path).split())
    assert outcome.code == code, outcome.stderr
    assert needle in error_line(outcome)
    assert not (tmp_path / "out").exists()


def test_every_integer_option_has_a_case():
    from click import IntRange

    from mixdiag.cli.main import cli

    covered = {(args.split()[0], word) for args, _, _ in CASES for word in args.split() if word.startswith("--")}
    for name, command in cli.commands.items():
        for param in command.params:
            if isinstance(param.type, IntRange) or param.type.name in ("integer", "N|all"):
                assert (name, param.opts[-1]) in covered, f"no out-of-range case for {name} {param.opts[-1]}"
