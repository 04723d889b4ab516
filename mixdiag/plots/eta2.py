"""Figures of per-block η²: one run's curve, several runs overlaid, and training-time heatmaps.

Every function takes a DataFrame as :func:`mixdiag.eta2` or :func:`mixdiag.compare`
return it, accepts ``ax=`` to draw into an existing figure, returns the Figure and never
calls ``plt.show()``.
"""

from __future__ import annotations

import textwrap

from typing import Optional

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from ..errors import MixdiagError


def _axes(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        return fig, ax
    return ax.figure, ax


def block_labels(modules: list[str]) -> list[str]:
    """Tick labels of hidden states: their module names, as in the tables (``layer2.3``, ``output``).

    One name everywhere a person reads it; a shortened ``2.3`` reads like a number.
    """
    return [str(m) for m in modules]


# What every per-block axis says it shows.
BLOCK_AXIS = "hidden state (module name; output = logits)"


def settings_caption(df: pd.DataFrame) -> str:
    """The settings that make a figure comparable with another, as one line.

    Read from ``df.attrs`` (the settings :func:`mixdiag.eta2` and :func:`mixdiag.conflict`
    attach to their tables) and, where those are missing, from columns holding one value:
    dataset and split, n, k, the checkpoint's epoch, pooled features, k-means restarts.
    """
    known = {c: df[c].iloc[0] for c in ("dataset", "split", "n", "k", "epoch") if c in df.columns and df[c].nunique() == 1}
    known.update({key: value for key, value in df.attrs.items() if value is not None})
    parts = []
    where = " ".join(str(known[key]) for key in ("dataset", "split") if key in known)
    if where:
        parts.append(f"{where} split" if "split" in known else where)
    parts += [f"{label}{known[key]:,}" for key, label in (("n", "n="), ("k", "k=")) if key in known]
    if "epoch" in known:
        parts.append(f"epoch {known['epoch']}")
    if known.get("pooled"):
        parts.append("pooled features")
    if known.get("restarts", 1) > 1:
        parts.append(f"{known['restarts']} k-means restarts")
    return ", ".join(parts)


def _who(df: pd.DataFrame) -> str:
    """``run (method)`` of a one-run table, else how many runs it holds."""
    runs = df["run"].unique() if "run" in df.columns else []
    if len(runs) != 1:
        return f"{len(runs)} runs" if len(runs) else "one run"
    method = df["method"].iloc[0] if "method" in df.columns else df.attrs.get("method")
    # A network measured outside mixdiag's training has no method of its own: its name stands for both.
    return f"{runs[0]} ({method})" if method and method != runs[0] else str(runs[0])


def titled(headline: str, df: pd.DataFrame) -> str:
    """``headline`` over the settings caption of ``df`` (when there is one)."""
    caption = settings_caption(df)
    return f"{headline}\n{caption}" if caption else headline


# Every figure gives a method the same colour, whichever subset of methods it shows; the
# order goes from unmixed to mixing at the input, at one random point, at every point.
METHOD_ORDER = ("erm", "mixup", "manifold", "flow", "flow-consistency")


def _hue_style(df: pd.DataFrame, hue: str) -> dict:
    """``hue_order`` and ``palette`` for seaborn: fixed colours for methods, first-seen order otherwise."""
    values = list(dict.fromkeys(df[hue]))
    if hue != "method":
        return {"hue_order": values}
    ranked = list(METHOD_ORDER) + sorted(v for v in values if v not in METHOD_ORDER)
    return {"hue_order": [m for m in ranked if m in values], "palette": {m: f"C{i % 10}" for i, m in enumerate(ranked)}}


def _block_ticks(ax, modules: list[str]) -> None:
    """Module names under the x axis: level while they fit side by side (up to about 10), else slanted."""
    level = len(modules) <= 10
    ax.set_xticks(range(len(modules)), block_labels(modules), rotation=0 if level else 45, ha="center" if level else "right", fontsize=8)


def _name_band(ax, df: pd.DataFrame, hue: str) -> None:
    """Say in the legend what the curves and bands are: seaborn gives the band no entry."""
    legend = ax.get_legend()
    if legend is None:
        return
    several = "run" in df.columns and df.groupby(hue)["run"].nunique().max() > 1
    legend.set_title(f"{hue}: mean over runs\n(band: ±1 s.d. over runs)" if several else hue)
    legend.get_title().set_fontsize(8)


def _null_band(ax, df: pd.DataFrame, x) -> None:
    """The structureless null's mean (dashed) and ±2 s.d. (grey band) per hidden state, when
    it was drawn; several runs' nulls are averaged."""
    if "eta2_null" not in df.columns or not df["eta2_null"].notna().any():
        return
    per_module = df.groupby("module", sort=False)[["eta2_null", "eta2_null_sd"]].mean()
    null, spread = per_module["eta2_null"].to_numpy(), per_module["eta2_null_sd"].fillna(0).to_numpy()
    ax.plot(x, null, color="0.45", lw=1, ls="--", label="structureless null (mean)")
    ax.fill_between(x, null - 2 * spread, null + 2 * spread, color="0.6", alpha=0.25, linewidth=0, label="null ±2 s.d.")


def _require(df: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise MixdiagError(f"{what} needs columns {', '.join(missing)}; pass the DataFrame mixdiag.eta2 returns")


def plot_eta2(df: pd.DataFrame, ax=None, title: Optional[str] = None, label: Optional[str] = None):
    """η² of every hidden state of one run, in network order, with ±1 s.d. across restarts
    and, when it was drawn, the structureless null's mean with a band of ±2 s.d.

    Args:
        df: rows of one run (columns ``module``, ``eta2``, ``eta2_std``; ``k`` for the title).
        ax: axes to draw into; a new figure when None. Calling again with the same ``ax``
            overlays curves, each with its own legend entry.
        title: figure title; default names the run and method and, below, the settings
            that make it comparable (:func:`settings_caption`).
        label: legend label of the curve; default the run name.

    Returns:
        The matplotlib Figure.
    """
    _require(df, ["module", "eta2", "eta2_std"], "plot_eta2")
    fig, ax = _axes(ax, (max(6.0, 0.28 * len(df) + 2), 3.6))
    x = np.arange(len(df))
    y, err = df["eta2"].to_numpy(), df["eta2_std"].fillna(0).to_numpy()
    if label is None:
        label = str(df["run"].iloc[0]) if "run" in df.columns else "η²"
    line = ax.plot(x, y, marker="o", ms=4, label=label)[0]
    if err.any():
        # Only a measured spread gets a band (and a legend entry saying what it is).
        band = f"{label}: ±1 s.d. over k-means restarts"
        ax.fill_between(x, y - err, y + err, color=line.get_color(), alpha=0.2, linewidth=0, label=band)
    _null_band(ax, df, x)
    _block_ticks(ax, list(df["module"]))
    ax.set_xlabel(BLOCK_AXIS)
    ax.set_ylabel("η² = 1 − SSI/SST (unitless)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    if title is None and not ax.get_title():  # an overlay keeps the title the axes already has
        title = titled(f"Per-block η² of {_who(df)}, k-means", df)
    if title is not None:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


# Settings a reader needs to know two curves are comparable, as compare's tables carry them.
CAPTION_SETTINGS = ("dataset", "split", "n", "k", "sample_size", "pooled", "model", "epochs", "epoch")


def shared_settings_caption(df: pd.DataFrame) -> str:
    """``dataset=digits, split=train, n=1438, k=10, ...``: the settings every row of ``df`` shares."""
    parts = []
    for column in CAPTION_SETTINGS:
        if column in df.columns and df[column].nunique(dropna=False) == 1:
            value = df[column].iloc[0]
            if not (pd.isna(value) or value == "not recorded"):
                parts.append(f"{column}={value}")
    return ", ".join(parts)


def _titled(ax, title: str, df: pd.DataFrame, caption: Optional[str] = None) -> None:
    caption = shared_settings_caption(df) if caption is None else caption
    # Wrapped to the axes' width (about 7 points a character at 8 pt), so that the captions of
    # two axes side by side do not run into each other.
    width = max(30, int(ax.get_position().width * ax.figure.get_figwidth() * 72 / 5))
    caption = textwrap.fill(caption, width) if caption else caption
    ax.set_title(f"{title}\n{caption}" if caption else title, fontsize=10)


def group_hue(df: pd.DataFrame, hue: str = "method") -> str:
    """Runs of a method trained (or measured) differently are drawn apart: by ``group`` when there is one."""
    return "group" if hue == "method" and "group" in df.columns and (df["group"] != df["method"]).any() else hue


def plot_compare(df: pd.DataFrame, ax=None, hue: str = "method", title: Optional[str] = None):
    """Overlay per-block η² curves of several runs, one colour per ``hue`` value.

    Runs sharing a ``hue`` value (e.g. seeds of one method) are averaged, with a band of
    ±1 s.d. across them; a single run shows its restarts' ``eta2_std`` instead. Runs of a
    method that :func:`mixdiag.compare` put in different groups (other epochs, alpha, ...)
    get a curve each. The title's second line lists the settings all runs share.
    """
    _require(df, ["run", "module", "eta2", hue], "plot_compare")
    hue = group_hue(df, hue)
    fig, ax = _axes(ax, (max(7.0, 0.3 * df["module"].nunique() + 3), 4.0))
    order = list(dict.fromkeys(df["module"]))
    pos = {m: i for i, m in enumerate(order)}
    data = df.assign(position=df["module"].map(pos))
    _null_band(ax, data, np.arange(len(order)))  # drawn first: under the curves, and seaborn's legend takes it up
    sns.lineplot(data=data, x="position", y="eta2", hue=hue, marker="o", errorbar="sd", ax=ax, **_hue_style(data, hue))
    _name_band(ax, data, hue)
    _block_ticks(ax, order)
    ax.set_xlabel(BLOCK_AXIS)
    ax.set_ylabel("η² = 1 − SSI/SST (unitless)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    _titled(ax, title or f"Per-block η² by {hue}", df)
    return fig


def plot_delta(df: pd.DataFrame, ax=None, title: Optional[str] = None, caption: Optional[str] = None):
    """Δη² per block against the baseline, one line per method (or training group).

    Given :attr:`Comparison.blocks <mixdiag.analysis.compare.Comparison>` (columns ``ci_low``,
    ``ci_high``), it draws each group's mean Δη² over its seeds with its 95% interval as
    error bars (none where one seed gives no interval). Given ``compare.csv`` rows (one per
    run), it averages the runs with a band of ±1 s.d. ``caption`` (default: the settings
    all rows share) is the title's second line.
    """
    _require(df, ["module", "delta_eta2", "method", "baseline"], "plot_delta")
    hue = group_hue(df, "method")
    fig, ax = _axes(ax, (max(7.0, 0.3 * df["module"].nunique() + 3), 4.0))
    order = list(dict.fromkeys(df["module"]))
    data = df.assign(position=df["module"].map({m: i for i, m in enumerate(order)}))
    style = _hue_style(data, hue)
    if "ci_low" in data.columns:
        _draw_intervals(ax, data, hue, style)
    else:
        sns.lineplot(data=data, x="position", y="delta_eta2", hue=hue, marker="o", errorbar="sd", ax=ax, **style)
        _name_band(ax, data, hue)
    ax.axhline(0, color="black", lw=0.8)
    _block_ticks(ax, order)
    ax.set_xlabel(BLOCK_AXIS)
    ax.set_ylabel("Δη² against baseline (unitless)")
    ax.grid(alpha=0.3)
    _titled(ax, title or f"Change of per-block η² against {df['baseline'].iloc[0]}", df, caption)
    return fig


def _draw_intervals(ax, data: pd.DataFrame, hue: str, style: dict) -> None:
    """Mean Δη² per group with its 95% interval as error bars; a legend saying what the bars are."""
    palette = style.get("palette") or {}
    offsets = np.linspace(-0.15, 0.15, len(style["hue_order"])) if len(style["hue_order"]) > 1 else [0.0]
    for i, (name, offset) in enumerate(zip(style["hue_order"], offsets)):
        rows = data[data[hue] == name]
        # Side by side, so the bars of several groups at one block do not hide each other.
        x = rows["position"].to_numpy() + offset
        y = rows["delta_eta2"].to_numpy()
        err = np.vstack([y - rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy() - y])
        colour = palette.get(name, f"C{i % 10}")
        ax.plot(x, y, marker="o", ms=4, color=colour, label=str(name))
        if np.isfinite(err).any():
            ax.errorbar(x, y, yerr=err, fmt="none", ecolor=colour, elinewidth=1, capsize=2)
    seeds = data["n_runs"].min() >= 2 and data["n_baseline_runs"].min() >= 2
    what = "bars: 95% interval across seeds (Welch)" if seeds else "one run on a side: no interval"
    ax.legend(title=f"{hue}: mean over runs\n({what})", fontsize=8, title_fontsize=8)


def plot_track(df: pd.DataFrame, ax=None, title: Optional[str] = None):
    """Heatmap of η² per block (rows) and epoch (columns) from training-time tracking.

    The colour scale spans the data's own range (given on the colour bar), so changes of a
    few hundredths between epochs stay visible; cells carry their values while they fit.
    """
    _require(df, ["epoch", "module", "eta2"], "plot_track")
    order = list(dict.fromkeys(df["module"]))
    table = df.pivot_table(index="module", columns="epoch", values="eta2").reindex(order)
    fig, ax = _axes(ax, (max(5.0, 0.45 * table.shape[1] + 3), max(3.5, 0.22 * len(order) + 1.5)))
    low, high = float(np.nanmin(table.to_numpy())), float(np.nanmax(table.to_numpy()))
    if high - low < 1e-3:  # a flat table still needs a scale
        low, high = low - 5e-4, high + 5e-4
    digits = 3 if high - low < 0.1 else 2
    sns.heatmap(table, ax=ax, vmin=low, vmax=high, cmap="viridis", annot=table.size <= 120, fmt=f".{digits}f",
                annot_kws={"fontsize": 6}, cbar_kws={"label": f"η² (unitless), colour scale {low:.3f} to {high:.3f}"},
                yticklabels=block_labels(order))
    ax.set_xlabel("epoch")
    ax.set_ylabel(BLOCK_AXIS)
    ax.tick_params(axis="y", labelrotation=0)  # seaborn turns the block names upright
    ax.set_title(title or titled(f"η² during training of {_who(df)}", df), fontsize=10)
    return fig


def plot_trajectories(df: pd.DataFrame, ax=None, hue: str = "method", title: Optional[str] = None):
    """η² against epoch of every hidden state (thin lines) and the mean over residual blocks
    (thick, ±1 s.d. across runs), one colour per ``hue`` value."""
    _require(df, ["run", "epoch", "module", "eta2", hue], "plot_trajectories")
    fig, ax = _axes(ax, (7.0, 4.2))
    style = _hue_style(df, hue)
    colours = style.get("palette") or {value: f"C{i % 10}" for i, value in enumerate(style["hue_order"])}
    for (_, value, _), rows in df.sort_values("epoch").groupby(["run", hue, "module"], sort=False):
        ax.plot(rows["epoch"], rows["eta2"], color=colours[value], lw=0.7, alpha=0.35, label="_hidden state")
    blocks = df[df["module"] != "output"]
    mean = blocks.groupby(["run", hue, "epoch"], as_index=False)["eta2"].mean()
    sns.lineplot(data=mean, x="epoch", y="eta2", hue=hue, marker="o", lw=2.2, errorbar="sd", ax=ax, **style)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _name_band(ax, mean, hue)
    ax.set_xlabel("epoch")
    ax.set_ylabel("η² (unitless): thin, each hidden state;\nthick, mean over residual blocks", fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(title or titled("η² during training", df), fontsize=10)
    return fig
