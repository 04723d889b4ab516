"""What the figures in the notebooks and the README promise: titles, labelled axes with units,
legends that name what is drawn, one colour per method everywhere, and the README's figure
script producing its PNG and the numbers behind it."""

import importlib.util
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

import mixdiag  # noqa: E402
from mixdiag.analysis.compare import delta_eta2  # noqa: E402
from mixdiag.plots import (  # noqa: E402
    plot_compare,
    plot_conflict_compare,
    plot_decoupling_auc,
    plot_delta,
    plot_eta2,
    plot_track,
    plot_trajectories,
)

MODULES = ["layer1.0", "layer1.1", "layer2.0", "layer2.1", "output"]
MAKE_FIGURES = Path(__file__).resolve().parents[2] / "docs" / "make_figures.py"


def curves(methods=("erm", "mixup", "flow"), seeds=(0, 1)) -> pd.DataFrame:
    """η² rows as mixdiag.compare returns them, with values that differ by method and seed."""
    rng = np.random.default_rng(0)
    rows = []
    for i, method in enumerate(methods):
        for seed in seeds:
            for block, module in enumerate(MODULES):
                rows.append({"run": f"{method}-s{seed}", "method": method, "block": block, "module": module, "k": 10,
                             "eta2": 0.3 + 0.1 * i + 0.05 * block + 0.01 * rng.random(), "eta2_std": 0.01})
    return pd.DataFrame(rows)


def tracks() -> pd.DataFrame:
    df = curves()
    return pd.concat([df.assign(epoch=e, eta2=df["eta2"] + 0.01 * e) for e in (2, 4, 6)], ignore_index=True)


def line_colours(ax) -> dict:
    """Legend label → colour of its line."""
    legend = ax.get_legend()
    return {t.get_text(): to_hex(h.get_color()) for t, h in zip(legend.get_texts(), legend.legend_handles)}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("draw", [
    lambda ax: plot_eta2(curves(seeds=(0,)).query("method == 'erm'"), ax=ax),
    lambda ax: plot_compare(curves(), ax=ax),
    lambda ax: plot_delta(delta_eta2(curves()), ax=ax),
    lambda ax: plot_trajectories(tracks(), ax=ax),
    lambda ax: plot_track(tracks().query("run == 'erm-s0'"), ax=ax),
], ids=["eta2", "compare", "delta", "trajectories", "track"])
def test_figures_draw_into_the_given_axes_with_title_labels_and_units(draw):
    fig, ax = plt.subplots()
    assert draw(ax) is fig
    assert ax.get_title()
    assert ax.get_xlabel() and ax.get_ylabel()
    assert any("unitless" in a.get_ylabel() for a in fig.axes)  # on the y axis, or on a heatmap's colour bar
    # One name per hidden state, the module name of the tables: not "2.1", which reads like a number.
    if ax.get_xlabel().startswith("hidden state"):
        assert [t.get_text() for t in ax.get_xticklabels()] == MODULES
    if ax.get_ylabel().startswith("hidden state"):
        assert [t.get_text() for t in ax.get_yticklabels()] == MODULES


def test_heatmap_colour_bar_names_its_quantity():
    fig = plot_track(tracks().query("run == 'erm-s0'"))
    assert "erm-s0" in fig.axes[0].get_title()
    assert any("η²" in a.get_ylabel() for a in fig.axes[1:])


@pytest.mark.parametrize("plot, data", [
    (plot_compare, curves),
    (lambda df: plot_delta(delta_eta2(df)), curves),
    (plot_trajectories, tracks),
], ids=["compare", "delta", "trajectories"])
def test_legends_name_every_method_and_the_band(plot, data):
    ax = plot(data()).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert set(labels) >= {"mixup", "flow"}
    assert "±1 s.d. over runs" in ax.get_legend().get_title().get_text()


def test_a_legend_speaks_of_a_band_only_when_there_is_one():
    ax = plot_compare(curves(seeds=(0,))).axes[0]
    assert ax.get_legend().get_title().get_text() == "method"


def test_a_method_has_one_colour_in_every_figure():
    compare = line_colours(plot_compare(curves()).axes[0])
    delta = line_colours(plot_delta(delta_eta2(curves())).axes[0])
    only_flow = line_colours(plot_compare(curves(methods=("flow",))).axes[0])
    assert compare["flow"] == delta["flow"] == only_flow["flow"]
    assert compare["mixup"] == delta["mixup"]
    assert len(set(compare.values())) == 3
    # The correlation-conflict figures use the same colours.
    conflict = curves(methods=("mixup", "flow")).assign(label_a="a", label_b="b", decoupling_auc=0.7)
    assert line_colours(plot_conflict_compare(conflict).axes[0]) == {m: compare[m] for m in ("mixup", "flow")}
    bars = plot_decoupling_auc(conflict).axes[0]
    bar_colours = {t.get_text(): to_hex(h.get_facecolor()) for t, h in zip(bars.get_legend().get_texts(), bars.get_legend().legend_handles)}
    assert bar_colours == {m: compare[m] for m in ("mixup", "flow")}


def test_overlaid_eta2_curves_keep_the_title_and_get_their_own_entries():
    erm = curves(seeds=(0,)).query("method == 'erm'")
    fig = plot_eta2(erm, title="train against test", label="train")
    plot_eta2(erm.assign(eta2=erm["eta2"] - 0.1), ax=fig.axes[0], label="test")
    ax = fig.axes[0]
    assert ax.get_title() == "train against test"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["train", "train: ±1 s.d. over k-means restarts", "test", "test: ±1 s.d. over k-means restarts"]


def test_a_single_clustering_draws_no_band():
    erm = curves(seeds=(0,)).query("method == 'erm'").assign(eta2_std=0.0)
    labels = [t.get_text() for t in plot_eta2(erm).axes[0].get_legend().get_texts()]
    assert labels == ["erm-s0"]


@pytest.mark.slow
def test_readme_figure_script_writes_the_png_and_its_numbers(tmp_path):
    spec = importlib.util.spec_from_file_location("make_figures", MAKE_FIGURES)
    make_figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_figures)

    table = make_figures.make_eta2_figure(tmp_path / "runs", tmp_path / "out", epochs=1, seeds=[0], model="preact-resnet20", limit=200)

    assert (tmp_path / "out" / "eta2_digits.png").stat().st_size > 10_000
    written = pd.read_csv(tmp_path / "out" / "eta2_digits.csv")
    assert list(dict.fromkeys(written["method"])) == ["erm", "mixup", "flow"]
    assert len(written) == len(table) == 3 * 10  # 9 residual blocks and the logits of PreAct-ResNet-20, per run
    # The numbers behind the figure are those mixdiag.eta2 gives for the same checkpoint and settings.
    again = mixdiag.eta2(tmp_path / "runs" / "digits-flow-s0" / "checkpoints" / "last.pt", k=10, limit=200, seed=0)
    np.testing.assert_allclose(written.query("method == 'flow'")["eta2"].to_numpy(), again["eta2"].to_numpy(), rtol=1e-9)
    accuracy = pd.read_json(tmp_path / "runs" / "digits-flow-s0" / "metrics.jsonl", lines=True)["test_accuracy"].iloc[-1]
    assert written.query("method == 'flow'")["test_accuracy"].eq(accuracy).all()
