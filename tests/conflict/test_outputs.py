"""`mixdiag conflict` files and command, the conflict plots, and `mixdiag compare` on conflict outputs."""

import json

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import mixdiag
from mixdiag.analysis.compare import ConflictComparison, write_compare
from mixdiag.analysis.conflict import conflict_result, write_conflict
from mixdiag.cli.main import cli
from mixdiag.errors import MixdiagError
from mixdiag.plots import plot_conflict, plot_conflict_compare, plot_decoupling_auc

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def outputs(ml_runs, tmp_path_factory):
    """`mixdiag conflict` run on both runs through the command line: {method: output directory}."""
    root = tmp_path_factory.mktemp("conflict-out")
    out = {}
    for method, run in ml_runs.items():
        out[method] = root / method
        result = CliRunner().invoke(cli, ["conflict", "--ckpt", str(run / "checkpoints" / "last.pt"), "--pairs", "2",
                                          "--split", "test", "--device", "cpu", "--out", str(out[method])])
        assert result.exit_code == 0, result.output
        assert str(out[method]) in result.output
    return out


def test_conflict_command_writes_csv_json_png(outputs, ml_runs):
    out = outputs["erm"]
    assert sorted(p.name for p in out.iterdir()) == ["conflict.csv", "conflict.json", "conflict.png"]
    df = pd.read_csv(out / "conflict.csv")
    expected = mixdiag.conflict(ml_runs["erm"] / "checkpoints" / "last.pt", pairs=2, split="test", device="cpu")
    pd.testing.assert_frame_equal(df, expected, check_dtype=False)
    settings = json.loads((out / "conflict.json").read_text())
    assert settings["split"] == "test" and settings["labels"] == "clean" and settings["pairs_requested"] == 2
    assert settings["corrupted_train_labels"] > 0 and len(settings["pairs"]) == 2
    assert [p["label_a"] for p in settings["pairs"]] == list(df.drop_duplicates("pair")["label_a"])


def test_conflict_command_keeps_existing_output_and_reports_errors_in_one_line(outputs, ml_runs, tiny_runs, tmp_path):
    before = (outputs["erm"] / "conflict.csv").read_text()
    ckpt = str(ml_runs["erm"] / "checkpoints" / "last.pt")
    again = CliRunner().invoke(cli, ["conflict", "--ckpt", ckpt, "--out", str(outputs["erm"])])
    assert again.exit_code == 1 and "--force" in again.output
    assert (outputs["erm"] / "conflict.csv").read_text() == before
    digits = str(tiny_runs["erm"] / "checkpoints" / "last.pt")
    single = CliRunner().invoke(cli, ["conflict", "--ckpt", digits, "--out", str(tmp_path / "s")])
    assert single.exit_code == 1 and single.output.strip().count("\n") == 0
    assert single.output.startswith("Error: conflict analysis needs multi-label data")
    bad = CliRunner().invoke(cli, ["conflict", "--ckpt", ckpt, "--pair", "grating-0deg", "--out", str(tmp_path / "b")])
    assert bad.exit_code == 2 and "LABEL_A,LABEL_B" in bad.output
    assert not (tmp_path / "s").exists() and not (tmp_path / "b").exists()


def test_conflict_command_default_out_and_explicit_pairs(ml_runs):
    ckpt = ml_runs["mixup"] / "checkpoints" / "last.pt"
    result = CliRunner().invoke(cli, ["conflict", "--ckpt", str(ckpt), "--pair", "grating-0deg,grating-30deg", "--pair", "2,3",
                                      "--min-group", "1", "--pooled", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    df = pd.read_csv(ml_runs["mixup"] / "conflict-train" / "conflict.csv")
    assert list(df.drop_duplicates("pair")["label_b"]) == ["grating-30deg", "grating-90deg"]
    assert (df[df["module"] == "layer3.2"]["dim"] == 64).all()  # pooled: channels only


def test_write_conflict_is_all_or_nothing(ml_runs, tmp_path):
    result = conflict_result(ml_runs["erm"] / "checkpoints" / "last.pt", pairs=1, device="cpu")
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(MixdiagError, match="already exists"):
        write_conflict(result, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_plots_are_titled_labelled_and_draw_into_given_axes(outputs):
    df = pd.concat([pd.read_csv(outputs[m] / "conflict.csv") for m in ("erm", "mixup")], ignore_index=True)
    one = df[df["method"] == "erm"]
    fig = plot_conflict(one)
    ax = fig.axes[0]
    assert "erm" in ax.get_title() and "η²" in ax.get_ylabel() and ax.get_xlabel()
    assert len(ax.get_legend().get_texts()) == one["pair"].nunique()
    assert f"AUC={one['decoupling_auc'].iloc[0]:.2f}" in ax.get_legend().get_texts()[0].get_text()
    plt.close(fig)
    fig, axes = plt.subplots(1, 2)
    assert plot_decoupling_auc(df, ax=axes[0]) is fig and plot_conflict_compare(df, ax=axes[1]) is fig
    # One bar per (pair, method): its height is that run's decoupling AUC.
    heights = sorted(round(p.get_height(), 9) for p in axes[0].patches if p.get_height() > 0)
    assert heights == sorted(round(v, 9) for v in df.drop_duplicates(["run", "pair"])["decoupling_auc"])
    for ax in axes:
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    plt.close(fig)
    with pytest.raises(MixdiagError, match="plot_conflict needs columns decoupling_auc"):
        plot_conflict(df.drop(columns="decoupling_auc"))


def test_compare_puts_conflict_outputs_side_by_side(outputs, tmp_path):
    result = mixdiag.compare([outputs["erm"], outputs["mixup"] / "conflict.csv"])
    assert isinstance(result, ConflictComparison)
    erm, mix = (pd.read_csv(outputs[m] / "conflict.csv") for m in ("erm", "mixup"))
    assert list(result.auc.columns) == ["label_a", "label_b", "ml-erm", "ml-mixup"]
    for name, df in (("ml-erm", erm), ("ml-mixup", mix)):
        per_pair = df.drop_duplicates("pair").set_index(["label_a", "label_b"])["decoupling_auc"]
        got = result.auc.set_index(["label_a", "label_b"])[name]
        pd.testing.assert_series_equal(got.loc[per_pair.index], per_pair, check_names=False)
    shared = set(zip(erm["label_a"], erm["label_b"])) & set(zip(mix["label_a"], mix["label_b"]))
    assert sorted(map(tuple, result.shared_pairs)) == sorted(shared) and shared
    for name, df in (("ml-erm", erm), ("ml-mixup", mix)):
        keep = [p in shared for p in zip(df["label_a"], df["label_b"])]
        mean = df[keep].groupby("module", sort=False)["eta2"].mean()
        np.testing.assert_allclose(result.eta2.set_index("module").loc[mean.index, name], mean, rtol=1e-12)
    out = tmp_path / "cmp"
    written = write_compare(result, out)
    expected = ["compare.json", "conflict_auc.csv", "conflict_auc.png", "conflict_eta2.csv", "conflict_eta2.png", "conflict_rows.csv"]
    assert sorted(p.name for p in written) == expected


def test_compare_command_on_conflict_outputs_and_mixed_sources(outputs, tiny_runs, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(cli, ["compare", str(outputs["erm"]), str(outputs["mixup"]), "--out", str(tmp_path / "c")])
    assert ok.exit_code == 0, ok.output
    assert "2 runs side by side" in ok.output and (tmp_path / "c" / "conflict_auc.csv").is_file()
    mixed = runner.invoke(cli, ["compare", str(outputs["erm"]), str(tiny_runs["erm"]), "--out", str(tmp_path / "m")])
    assert mixed.exit_code == 1 and "either conflict outputs or eta2 sources" in mixed.output
    assert not (tmp_path / "m").exists()
    with pytest.raises(MixdiagError, match="at least two runs"):
        mixdiag.compare([outputs["erm"]])
