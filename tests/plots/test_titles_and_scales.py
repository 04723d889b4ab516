"""Figures say the settings that make them comparable, name hidden states as the tables do,
and scale the training heatmap to its data."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import mixdiag  # noqa: E402
from mixdiag.plots import plot_eta2, plot_track, plot_trajectories  # noqa: E402
from mixdiag.plots.eta2 import settings_caption  # noqa: E402

MODULES = ["layer1.0", "layer1.1", "layer2.0", "output"]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def track(runs=(("erm-s0", "erm"), ("mixup-s0", "mixup")), epochs=(1, 2, 3)) -> pd.DataFrame:
    rows = [dict(run=run, method=method, epoch=e, block=b, module=m, n=300, k=10, eta2=0.60 + 0.01 * b + 0.004 * e + 0.02 * i)
            for i, (run, method) in enumerate(runs) for e in epochs for b, m in enumerate(MODULES)]
    return pd.DataFrame(rows)


def test_eta2_figure_of_a_measured_run_names_split_k_n_epoch_dataset_and_method(tiny_runs):
    df = mixdiag.eta2(tiny_runs["mixup"], split="test", limit=200, device="cpu")
    title = plot_eta2(df).axes[0].get_title()
    assert f"{tiny_runs['mixup'].name} (mixup)" in title
    assert "digits test split, n=200, k=10, epoch 1" in title
    ticks = [t.get_text() for t in plot_eta2(df).axes[0].get_xticklabels()]
    assert ticks == list(df["module"])


def test_caption_reads_the_columns_when_a_table_has_no_settings_attached():
    df = pd.DataFrame(dict(run="r", method="erm", module=MODULES, k=8, n=1234, eta2=0.5, eta2_std=np.nan))
    assert settings_caption(df) == "n=1,234, k=8"
    df.attrs.update(dataset="cifar10", split="val", epoch=30, pooled=True, restarts=5)
    assert settings_caption(df) == "cifar10 val split, n=1,234, k=8, epoch 30, pooled features, 5 k-means restarts"


def test_track_heatmap_scales_its_colours_to_the_data_and_says_the_range():
    df = track(runs=(("erm-s0", "erm"),))
    fig = plot_track(df)
    heat, bar = fig.axes
    mesh = heat.collections[0]
    assert mesh.get_clim() == pytest.approx((df["eta2"].min(), df["eta2"].max()))
    assert f"{df['eta2'].min():.3f} to {df['eta2'].max():.3f}" in bar.get_ylabel()
    assert [t.get_text() for t in heat.get_yticklabels()] == MODULES
    assert "erm-s0 (erm)" in heat.get_title() and "n=300, k=10" in heat.get_title()


def test_trajectories_draw_every_hidden_state_and_the_mean():
    df = track()
    ax = plot_trajectories(df).axes[0]
    thin = [line for line in ax.get_lines() if line.get_label() == "_hidden state"]
    assert len(thin) == df.groupby(["run", "module"]).ngroups
    first = df.query("run == 'erm-s0' and module == 'layer2.0'").sort_values("epoch")
    assert any(np.allclose(line.get_ydata(), first["eta2"]) for line in thin)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["erm", "mixup"]


def test_eta2_figure_draws_the_null_only_when_it_was_drawn():
    df = pd.DataFrame(dict(run="r", method="erm", module=MODULES, k=8, n=500, eta2=[0.5, 0.4, 0.3, 0.9], eta2_std=np.nan,
                           eta2_null=np.nan, eta2_null_sd=np.nan))
    labels = [t.get_text() for t in plot_eta2(df).axes[0].get_legend().get_texts()]
    assert not any("null" in label for label in labels) and not any("restarts" in label for label in labels)
    with_null = df.assign(eta2_null=[0.1, 0.1, 0.08, 0.6], eta2_null_sd=0.01)
    ax = plot_eta2(with_null).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "structureless null (mean)" in labels and "null ±2 s.d." in labels
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"][0]
    np.testing.assert_allclose(dashed.get_ydata(), with_null["eta2_null"])
