"""Figures of the correlation-conflict analysis: label η² per block, and runs side by side.

Every function takes a DataFrame as :func:`mixdiag.conflict` returns it (rows of one or
several runs), accepts ``ax=``, returns the Figure and never calls ``plt.show()``.
"""

from __future__ import annotations

from typing import Optional

import pandas as pd
import seaborn as sns

from .eta2 import BLOCK_AXIS, _axes, _hue_style, _require, _who, block_labels, titled


def _pair_names(df: pd.DataFrame) -> pd.Series:
    return df["label_a"].astype(str) + " vs " + df["label_b"].astype(str)


def _positions(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    order = list(dict.fromkeys(df.sort_values("block", kind="stable")["module"]))
    return df.assign(position=df["module"].map({m: i for i, m in enumerate(order)})), order


def _block_axis(ax, order: list[str]) -> None:
    ax.set_xticks(range(len(order)), block_labels(order), rotation=90, fontsize=8)
    ax.set_xlabel(BLOCK_AXIS)
    ax.set_ylabel("label η² of 'a only' vs 'b only' (unitless)")
    # Not pinned to 1: flattened block outputs often give small label η², whose differences must stay visible.
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)


def plot_conflict(df: pd.DataFrame, ax=None, title: Optional[str] = None):
    """Label η² of every pair at every hidden state, one line per pair (legend: phi, decoupling AUC).

    Rows of several runs of one pair are averaged, with a band of ±1 s.d. across runs.
    """
    _require(df, ["label_a", "label_b", "phi", "block", "module", "eta2", "decoupling_auc"], "plot_conflict")
    fig, ax = _axes(ax, (max(7.0, 0.3 * df["module"].nunique() + 3), 4.0))
    data, order = _positions(df)
    auc = data.groupby(["label_a", "label_b"], sort=False)["decoupling_auc"].mean()
    pairs = data[["label_a", "label_b", "phi"]].drop_duplicates(["label_a", "label_b"])
    legend = {(a, b): f"{a} vs {b} (φ={phi:.2f}, AUC={auc[a, b]:.2f})" for a, b, phi in pairs.itertuples(index=False)}
    data = data.assign(pair=[legend[a, b] for a, b in zip(data["label_a"], data["label_b"])])
    sns.lineplot(data=data, x="position", y="eta2", hue="pair", marker="o", errorbar="sd", ax=ax)
    _block_axis(ax, order)
    ax.legend(title="pair (phi on clean train labels, decoupling AUC)", fontsize=7, title_fontsize=7)
    if title is None:
        title = titled(f"Correlation conflict of {_who(df)}: label η² per block", df)
    ax.set_title(title)
    return fig


def plot_decoupling_auc(df: pd.DataFrame, ax=None, hue: str = "method", title: str = "Decoupling AUC per label pair"):
    """Decoupling AUC of every pair, one bar per ``hue`` value (runs sharing it are averaged, ±1 s.d.)."""
    _require(df, ["label_a", "label_b", "decoupling_auc", hue], "plot_decoupling_auc")
    per_pair = df.drop_duplicates(["run", "label_a", "label_b"]) if "run" in df.columns else df
    data = per_pair.assign(pair=_pair_names(per_pair))
    fig, ax = _axes(ax, (max(6.0, 1.2 * data["pair"].nunique() + 3), 4.0))
    # The same colour per method as in the η² figures (seaborn would desaturate bars).
    sns.barplot(data=data, x="pair", y="decoupling_auc", hue=hue, errorbar="sd", ax=ax, saturation=1, **_hue_style(data, hue))
    ax.axhline(0.5, color="black", lw=0.8, ls="--")
    ax.set_xlabel("label pair (a vs b)")
    ax.set_ylabel("AUC of σ(z_a) − σ(z_b), 'a only' vs 'b only'")
    ax.set_ylim(0, 1.02)
    ax.tick_params(axis="x", labelrotation=30)
    ax.grid(alpha=0.3, axis="y")
    ax.set_title(title)
    return fig


def plot_conflict_compare(df: pd.DataFrame, ax=None, hue: str = "method", title: str = "Mean label η² over pairs per block"):
    """Mean over pairs of the label η² at every hidden state, one line per ``hue`` value (±1 s.d. across runs)."""
    _require(df, ["run", "block", "module", "eta2", hue], "plot_conflict_compare")
    mean = df.groupby(["run", hue, "block", "module"], as_index=False)["eta2"].mean()
    data, order = _positions(mean)
    fig, ax = _axes(ax, (max(7.0, 0.3 * len(order) + 3), 4.0))
    sns.lineplot(data=data, x="position", y="eta2", hue=hue, marker="o", errorbar="sd", ax=ax, **_hue_style(data, hue))
    _block_axis(ax, order)
    ax.set_ylabel("mean label η² over pairs (unitless)")
    ax.set_title(title)
    return fig
