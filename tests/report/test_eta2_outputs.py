"""The eta2 API, its files, compare and training-time tracking, checked against independent computations."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import calinski_harabasz_score

import mixdiag
from mixdiag.analysis.report import COLUMNS, eta2_result, write_eta2

MIXDIAG = shutil.which("mixdiag", path=os.path.dirname(sys.executable))


def test_eta2_table_in_network_order_with_run_and_method(tiny_runs):
    run = mixdiag.load(tiny_runs["erm"] / "checkpoints" / "last.pt", device="cpu")
    df = mixdiag.eta2(run, limit=300)
    assert list(df.columns) == COLUMNS
    assert list(df["module"]) == list(run.model.block_names) + ["output"]
    assert list(df["block"]) == list(range(len(df)))
    assert set(df["run"]) == {"digits-erm"} and set(df["method"]) == {"erm"}
    assert (df["n"] == 300).all() and (df["k"] == 10).all()
    assert ((df["eta2"] > 0) & (df["eta2"] < 1)).all()


def test_assignments_reproduce_the_reported_eta2(tiny_runs):
    """η² from the saved partition and independently captured features, via Calinski-Harabasz."""
    run = mixdiag.load(tiny_runs["erm"] / "checkpoints" / "last.pt", device="cpu")
    result = eta2_result(run, limit=400, save_assignments=True)
    x, _ = run.dataset.split("train")
    x = run.dataset.normalize(x[:400])
    import torch

    with torch.no_grad():
        feats = {"layer2.1": None, "output": run.model(x).numpy().astype(np.float64)}
        captured = {}
        handle = run.model.get_submodule("layer2.1").register_forward_hook(lambda m, i, o: captured.update(f=o.clone()))
        run.model(x)
        handle.remove()
        feats["layer2.1"] = captured["f"].flatten(1).numpy().astype(np.float64)
    table = result.table.set_index("module")
    for name, f in feats.items():
        labels = result.assignments[name]
        k, n = len(np.unique(labels)), len(labels)
        ch = calinski_harabasz_score(f, labels)
        expected = ch * (k - 1) / (ch * (k - 1) + n - k)
        assert table.loc[name, "eta2"] == pytest.approx(expected, rel=1e-6)


def test_eta2_cli_writes_all_outputs_once(tiny_runs, tmp_path):
    ckpt = tiny_runs["erm"] / "checkpoints" / "last.pt"
    out = tmp_path / "e"
    r = subprocess.run([MIXDIAG, "eta2", "--ckpt", str(ckpt), "--out", str(out), "--limit", "200", "--restarts", "2", "--save-assignments", "--device", "cpu",
                        "--null", "2"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["assignments.npz", "eta2.csv", "eta2.json", "eta2.png"]
    settings = json.loads((out / "eta2.json").read_text())
    assert settings["checkpoint_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    df = pd.read_csv(out / "eta2.csv")
    assert (df["eta2_std"] >= 0).all() and len(df) == len(np.load(out / "assignments.npz").files)
    # The null and the partition's quality are recorded with every hidden state.
    assert settings["null"] == 2 and df["eta2_null"].between(0, 1).all() and (df["eta2_null_sd"] >= 0).all()
    assert set(settings["partition_quality"]) == set(df["module"])
    assert all(q["fit_candidates"] >= 1 and q["fit_ssi_spread"] >= 0 for q in settings["partition_quality"].values())
    assert "null (s.d.)" in r.stdout
    before = (out / "eta2.csv").read_text()
    again = subprocess.run([MIXDIAG, "eta2", "--ckpt", str(ckpt), "--out", str(out)], capture_output=True, text=True)
    assert again.returncode == 1 and "--force" in again.stderr and "Traceback" not in again.stderr
    assert (out / "eta2.csv").read_text() == before


def test_write_eta2_refuses_existing_output(tiny_runs, tmp_path):
    result = eta2_result(tiny_runs["erm"] / "checkpoints" / "last.pt", limit=100, device="cpu")
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(mixdiag.MixdiagError, match="already exists"):
        write_eta2(result, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_compare_delta_against_erm(tiny_runs, tmp_path):
    outs = {}
    for method, run in tiny_runs.items():
        outs[method] = tmp_path / method
        write_eta2(eta2_result(run / "checkpoints" / "last.pt", limit=200, device="cpu"), outs[method])
    r = subprocess.run([MIXDIAG, "compare", str(outs["mixup"]), str(outs["erm"]), "--out", str(tmp_path / "cmp")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    delta = pd.read_csv(tmp_path / "cmp" / "compare.csv")
    erm = pd.read_csv(outs["erm"] / "eta2.csv")
    mix = pd.read_csv(outs["mixup"] / "eta2.csv")
    assert set(delta["run"]) == {"digits-mixup"} and set(delta["baseline"]) == {"erm"}
    for _, row in delta.iterrows():
        expected = mix.loc[mix["module"] == row["module"], "eta2"].item() - erm.loc[erm["module"] == row["module"], "eta2"].item()
        assert row["delta_eta2"] == pytest.approx(expected, abs=1e-12)
    assert {"compare.png", "delta.png", "curves.csv"} <= {p.name for p in (tmp_path / "cmp").iterdir()}
    with pytest.raises(mixdiag.MixdiagError, match="no run or method named 'flow'"):
        mixdiag.compare([outs["erm"], outs["mixup"]], baseline="flow")


def test_tracking_records_every_epoch_and_survives_resume(tmp_path):
    settings = dict(dataset="digits", model="preact-resnet20", batch_size=64, device="cpu", track_eta2=1, track_probe_size=150)
    full = mixdiag.train(out=tmp_path / "full", epochs=2, **settings)
    part = mixdiag.train(out=tmp_path / "part", epochs=1, **settings)
    mixdiag.train(out=part, resume=True, epochs=2)
    tracks = [mixdiag.read_track(r) for r in (full, part)]
    assert sorted(tracks[0]["epoch"].unique()) == [1, 2]
    assert len(tracks[0]) == 2 * 10 and (tracks[0]["n"] == 150).all()
    pd.testing.assert_frame_equal(tracks[0].drop(columns="run"), tracks[1].drop(columns="run"))
    r = subprocess.run([MIXDIAG, "plot-track", str(full)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr and (full / "eta2_track.png").is_file()


def test_tracked_eta2_matches_a_fresh_measurement(tmp_path):
    """The last tracked epoch equals η² of the final weights on the same probe, by CH identity."""
    from mixdiag.analysis.track import probe_indices
    from mixdiag.training.build import PROBE, derive_seed

    run_dir = mixdiag.train(out=tmp_path / "t", dataset="digits", model="preact-resnet20", epochs=1, batch_size=64, device="cpu", track_eta2=1, track_probe_size=120)
    track = mixdiag.read_track(run_dir).set_index("module")
    run = mixdiag.load(run_dir / "checkpoints" / "last.pt", device="cpu")
    idx = probe_indices(len(run.dataset.x_train), 120, derive_seed(0, PROBE))
    from mixdiag.analysis import compute_eta2

    fresh, labels = compute_eta2(run.model, run.dataset.x_train[idx], run.dataset.normalize, k=10, sample_size="all", seed=0, return_assignments=True)
    fresh = fresh.set_index("module")
    np.testing.assert_allclose(track["eta2"], fresh["eta2"], rtol=1e-9)
    import torch

    with torch.no_grad():
        logits = run.model(run.dataset.normalize(run.dataset.x_train[idx])).numpy().astype(np.float64)
    ch = calinski_harabasz_score(logits, labels["output"])
    k, n = len(np.unique(labels["output"])), len(idx)
    assert track.loc["output", "eta2"] == pytest.approx(ch * (k - 1) / (ch * (k - 1) + n - k), rel=1e-6)
