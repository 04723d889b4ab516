"""Δη² across seeds: the mean difference, its 95% interval and a p-value, per hidden state and per stage.

A method's runs with different seeds and the baseline's runs are two independent samples of
η² at each hidden state. :func:`welch` compares them with Welch's t-test: the difference of
the means, its standard error sqrt(s₁²/n₁ + s₀²/n₀), Welch–Satterthwaite degrees of freedom,
a two-sided p-value and the 95% interval ``Δ ± t(0.975, df)·se``.

Why Welch and not a permutation test over seeds: with three seeds per method, the seeds of
two methods can be relabelled in only C(6, 3) = 20 ways, so a permutation test can never give
p < 2/20 = 0.1 and yields no interval at all; Welch's test gives both from the seed spreads,
does not assume the two methods spread alike (mixing often changes the spread across seeds),
and assumes only that η² varies roughly normally across seeds. It does not pair runs by seed,
since runs of different methods need not share seeds. With fewer than two runs on either
side there is no spread to test against: every statistic but the mean difference is NaN.

Stages group the blocks of a network by their module name without the trailing block
index (``layer2.0``, ``layer2.1`` → ``layer2``); the model output is a stage of its own. A
stage's η² per run is the mean over its blocks, and the test runs on those per-run means.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.95
STAT_COLUMNS = ["n_runs", "n_baseline_runs", "eta2_mean", "baseline_eta2_mean", "delta_eta2", "ci_low", "ci_high", "p_value"]


def stage_of(module: str) -> str:
    """``layer2.3`` → ``layer2``; a name without a trailing block index (``output``) is its own stage."""
    return re.sub(r"\.\d+$", "", module)


def welch(values: Sequence[float], baseline: Sequence[float], level: float = LEVEL) -> dict:
    """Mean of ``values`` minus mean of ``baseline``, with Welch's interval and two-sided p-value.

    Returns:
        ``n_runs``, ``n_baseline_runs``, ``eta2_mean``, ``baseline_eta2_mean``, ``delta_eta2``,
        ``ci_low``, ``ci_high`` and ``p_value``; the last three NaN with fewer than two values
        on either side or no spread at all.

    >>> r = welch([0.52, 0.55, 0.53], [0.40, 0.42, 0.41])
    >>> round(r["delta_eta2"], 3), r["ci_low"] > 0, r["p_value"] < 0.01
    (0.123, True, True)
    """
    a, b = np.asarray(values, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    out = {"n_runs": len(a), "n_baseline_runs": len(b), "eta2_mean": a.mean(), "baseline_eta2_mean": b.mean(),
           "delta_eta2": a.mean() - b.mean(), "ci_low": math.nan, "ci_high": math.nan, "p_value": math.nan}
    if min(len(a), len(b)) < 2:
        return out
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return out
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(0.5 + level / 2, df) * se
    out.update(ci_low=out["delta_eta2"] - half, ci_high=out["delta_eta2"] + half,
               p_value=float(2 * stats.t.sf(abs(out["delta_eta2"]) / se, df)))
    return out


def seed_statistics(rows: pd.DataFrame, baseline_runs: Sequence[str], keys: Sequence[str], value: str = "eta2") -> pd.DataFrame:
    """:func:`welch` of every non-baseline group against the baseline runs, per ``keys``.

    Args:
        rows: one row per run and key, with ``run``, ``method``, ``group``, ``keys`` and ``value``.
        baseline_runs: the runs that form the baseline.
        keys: what a comparison is made at: ``["block", "module"]`` or ``["stage"]``.

    Returns:
        One row per (group, key): ``group``, ``method``, the keys and :data:`STAT_COLUMNS`.
    """
    base = rows[rows["run"].isin(set(baseline_runs))]
    base_values = {key: g[value].to_numpy() for key, g in base.groupby(list(keys), sort=False)}
    out = []
    for (group, method), runs in rows[~rows["run"].isin(set(baseline_runs))].groupby(["group", "method"], sort=False):
        for key, g in runs.groupby(list(keys), sort=False):
            named = dict(zip(keys, key))
            out.append({"group": group, "method": method, **named, **welch(g[value].to_numpy(), base_values[key])})
    return pd.DataFrame(out, columns=["group", "method", *keys, *STAT_COLUMNS])


def stage_means(curves: pd.DataFrame) -> pd.DataFrame:
    """Per run, the mean η² over the blocks of each stage (``stage`` column), stages in network order."""
    staged = curves.assign(stage=curves["module"].map(stage_of))
    return staged.groupby(["run", "method", "group", "stage"], sort=False, as_index=False)["eta2"].mean()
