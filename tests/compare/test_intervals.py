"""Δη² across seeds: mean, 95% interval and p-value per hidden state and per stage, checked against scipy."""

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402
from scipy import stats  # noqa: E402

import mixdiag  # noqa: E402
from mixdiag.analysis.intervals import welch  # noqa: E402
from mixdiag.cli.main import cli  # noqa: E402
from mixdiag.plots import plot_delta  # noqa: E402

MODULES = ["layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer2.2", "output"]


def write_outputs(root, seeds):
    """eta2 outputs of ERM, Mixup and Flow runs, {method: number of seeds}; η² differs by method, block and seed,
    with a much larger spread across seeds for flow than for erm (Welch's case)."""
    rng = np.random.default_rng(7)
    paths = []
    for m, (method, count) in enumerate(seeds.items()):
        spread = {"erm": 0.004, "mixup": 0.01, "flow": 0.03}[method]
        for seed in range(count):
            rows = [{"run": f"{method}-s{seed}", "method": method, "block": b, "module": module, "dim": 64, "n": 300, "k": 10,
                     "eta2": 0.3 + 0.02 * m * (b % 3) + 0.05 * b + spread * rng.standard_normal()} for b, module in enumerate(MODULES)]
            path = root / f"{method}-s{seed}"
            path.mkdir()
            pd.DataFrame(rows).to_csv(path / "eta2.csv", index=False)
            paths.append(path)
    return paths


def test_welch_matches_scipy_test_and_its_interval():
    rng = np.random.default_rng(0)
    for n_a, n_b, sd_a, sd_b in [(3, 3, 0.01, 0.03), (5, 2, 0.05, 0.005), (4, 7, 0.02, 0.02)]:
        a, b = 0.5 + sd_a * rng.standard_normal(n_a), 0.48 + sd_b * rng.standard_normal(n_b)
        got = welch(a, b)
        ref = stats.ttest_ind(a, b, equal_var=False)
        ci = ref.confidence_interval(0.95)
        assert got["p_value"] == pytest.approx(ref.pvalue, rel=1e-10)
        assert (got["ci_low"], got["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-10)
        assert got["delta_eta2"] == pytest.approx(a.mean() - b.mean(), rel=1e-12)


def test_welch_interval_by_hand():
    """The interval from its textbook formula: Satterthwaite df, t quantile, no scipy test involved."""
    a, b = np.array([0.52, 0.55, 0.53, 0.57]), np.array([0.40, 0.46, 0.41])
    va, vb = a.var(ddof=1) / 4, b.var(ddof=1) / 3
    df = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 2)
    half = stats.t.ppf(0.975, df) * np.sqrt(va + vb)
    got = welch(a, b)
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((a.mean() - b.mean() - half, a.mean() - b.mean() + half), rel=1e-12)


def test_compare_reports_per_hidden_state_and_per_stage_against_scipy(tmp_path):
    result = mixdiag.compare(write_outputs(tmp_path, {"erm": 3, "mixup": 3, "flow": 4}), baseline="ERM")
    curves = result.curves
    assert not result.notes
    blocks = result.blocks.set_index(["group", "module"])
    for method in ("mixup", "flow"):
        for module in MODULES:
            a = curves[(curves["method"] == method) & (curves["module"] == module)]["eta2"].to_numpy()
            b = curves[(curves["method"] == "erm") & (curves["module"] == module)]["eta2"].to_numpy()
            ref = stats.ttest_ind(a, b, equal_var=False)
            row = blocks.loc[(method, module)]
            assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
            assert (row["ci_low"], row["ci_high"]) == pytest.approx(tuple(ref.confidence_interval(0.95)), rel=1e-9)
            assert row["delta_eta2"] == pytest.approx(a.mean() - b.mean(), rel=1e-12)
            assert (row["n_runs"], row["n_baseline_runs"]) == (len(a), 3)
    # Stages: blocks averaged within each run first; the output is a stage of its own.
    stage = curves["module"].map(lambda m: m.split(".")[0])
    per_run = curves.assign(stage=stage).groupby(["method", "run", "stage"])["eta2"].mean()
    stages = result.stages.set_index(["group", "stage"])
    assert sorted(result.stages["stage"].unique()) == ["layer1", "layer2", "output"]
    for method in ("mixup", "flow"):
        for name in ("layer1", "layer2", "output"):
            a, b = per_run.loc[method, :, name].to_numpy(), per_run.loc["erm", :, name].to_numpy()
            ref = stats.ttest_ind(a, b, equal_var=False)
            assert stages.loc[(method, name), "p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
            assert stages.loc[(method, name), "ci_high"] == pytest.approx(ref.confidence_interval(0.95).high, rel=1e-9)
    assert (result.blocks["baseline"] == "erm").all()


def test_the_delta_figure_draws_the_intervals(tmp_path):
    result = mixdiag.compare(write_outputs(tmp_path, {"erm": 3, "mixup": 3}))
    fig = plot_delta(result.blocks)
    ax = fig.axes[0]
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 1
    segments = bars[0].lines[2][0].get_segments()
    spans = sorted((round(s[0][1], 9), round(s[1][1], 9)) for s in segments)
    assert spans == sorted((round(lo, 9), round(hi, 9)) for lo, hi in zip(result.blocks["ci_low"], result.blocks["ci_high"]))
    assert "95% interval" in ax.get_legend().get_title().get_text()
    plt.close(fig)


def test_one_seed_per_method_says_no_interval_and_leaves_nan(tmp_path):
    sources = write_outputs(tmp_path, {"erm": 1, "mixup": 1})
    result = mixdiag.compare(sources)
    assert result.blocks[["ci_low", "ci_high", "p_value"]].isna().all().all()
    assert result.blocks["delta_eta2"].notna().all()
    assert len(result.notes) == 1 and re.search(r"one run only for the baseline erm, mixup: no interval or p-value", result.notes[0])
    out = tmp_path / "cmp"
    done = CliRunner().invoke(cli, ["compare", *map(str, sources), "--out", str(out)])
    assert done.exit_code == 0 and "no interval or p-value can be given" in done.output
    table = pd.read_csv(out / "delta_blocks.csv")
    assert table["p_value"].isna().all() and len(table) == len(MODULES)
    assert (out / "delta_stages.csv").is_file() and (out / "delta.png").is_file()
