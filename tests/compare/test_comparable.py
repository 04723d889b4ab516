"""compare refuses results measured differently, keeps runs trained differently apart, and never serves a stale result."""

import json
import os
import shutil

import pandas as pd
import pytest
from click.testing import CliRunner

import mixdiag
from mixdiag.analysis.report import eta2_result, write_eta2
from mixdiag.cli.main import cli
from mixdiag.errors import MixdiagError
from mixdiag.training.checkpoint import file_sha256

LIMIT = 150  # as in conftest.py: rows measured per run


def edited(source, target, csv=None, settings=None):
    """A copy of an eta2 output with its table and/or settings changed."""
    shutil.copytree(source, target)
    if csv is not None:
        table = pd.read_csv(target / "eta2.csv")
        csv(table).to_csv(target / "eta2.csv", index=False)
    if settings is not None:
        data = json.loads((target / "eta2.json").read_text())
        settings(data)
        (target / "eta2.json").write_text(json.dumps(data))
    return target


def set_config(key, value):
    return lambda s: s["config"].update({key: value})


@pytest.mark.parametrize("setting, other, shown", [
    ("k", dict(k=3), "k differs between the runs: 10 (digits-erm) vs 3 (digits-mixup)"),
    ("split", dict(split="test"), "split differs between the runs: train (digits-erm) vs test (digits-mixup)"),
    ("n", dict(limit=LIMIT - 30), f"n differs between the runs: {LIMIT} (digits-erm) vs {LIMIT - 30} (digits-mixup)"),
    ("pooled", dict(pooled=True), "pooled differs between the runs: False (digits-erm) vs True (digits-mixup)"),
    # The default fit sample (2000) holds all 150 rows: it counts as "all".
    ("sample_size", dict(sample_size=40), "sample_size differs between the runs: all (digits-erm) vs 40 (digits-mixup)"),
])
def test_measured_differently_is_refused_in_one_line_naming_setting_and_values(runs, measure, setting, other, shown):
    erm = measure(runs["erm"], "erm")
    mix = measure(runs["mixup"], f"mixup-{setting}", **other)
    with pytest.raises(MixdiagError) as info:
        mixdiag.compare([erm, mix])
    assert str(info.value).startswith(shown) and "\n" not in str(info.value)
    assert f"--allow-mixed {setting}" in str(info.value)


@pytest.mark.parametrize("setting, change, shown", [
    ("dataset", dict(settings=lambda s: s.update(dataset="mnist")), "dataset differs between the runs: digits (digits-erm) vs mnist"),
    ("dataset_options", dict(settings=set_config("dataset_options", {"limit": 500})),
     'dataset_options differs between the runs: {} (digits-erm) vs {"limit": 500}'),
    ("hidden_states", dict(csv=lambda t: t.assign(module=t["module"].str.replace("layer", "stage"))),
     "hidden_states differs between the runs: 10 hidden states (layer1.0 … output) (digits-erm) "
     "vs 10 hidden states (stage1.0 … output)"),
])
def test_other_data_or_hidden_states_are_refused(runs, measure, tmp_path, setting, change, shown):
    erm = measure(runs["erm"], "erm")
    other = edited(measure(runs["mixup"], "mixup"), tmp_path / "other", **change)
    with pytest.raises(MixdiagError) as info:
        mixdiag.compare([erm, other])
    assert str(info.value).startswith(shown)


def test_a_fit_sample_holding_every_row_is_the_same_as_all(runs, measure):
    result = mixdiag.compare([measure(runs["erm"], "erm"), measure(runs["mixup"], "mixup-all", sample_size="all")])
    assert result.settings["sample_size"] == "all"


def test_hidden_states_can_never_be_mixed(runs, measure, tmp_path):
    other = edited(measure(runs["mixup"], "mixup"), tmp_path / "other", csv=lambda t: t.assign(module=t["module"] + "x"))
    with pytest.raises(MixdiagError, match="is not a setting that can differ"):
        mixdiag.compare([measure(runs["erm"], "erm"), other], allow_mixed=["hidden_states"])


def test_allow_mixed_compares_and_shows_the_setting_per_run(runs, measure, tmp_path):
    erm = measure(runs["erm"], "erm")
    mix = measure(runs["mixup"], "mixup-k", k=3)
    result = mixdiag.compare([erm, mix], allow_mixed=["k"])
    assert result.mixed == ["k"] and "k" not in result.settings and result.settings["split"] == "train"
    assert dict(zip(result.delta["run"], result.delta["k"])) == {"digits-mixup": 3}
    assert set(result.delta["group"]) == {"mixup (k=3)"} and set(result.curves["group"]) == {"erm (k=10)", "mixup (k=3)"}
    out = tmp_path / "cmp"
    runner = CliRunner()
    done = runner.invoke(cli, ["compare", str(erm), str(mix), "--allow-mixed", "k", "--out", str(out)])
    assert done.exit_code == 0, done.output
    table = pd.read_csv(out / "compare.csv")
    assert {"split", "n", "k", "sample_size", "pooled", "dataset", "model", "epoch"} <= set(table.columns)
    assert (table["k"] == 3).all() and (table["split"] == "train").all() and (table["n"] == LIMIT).all()
    assert json.loads((out / "compare.json").read_text())["allowed_to_differ"] == ["k"]
    refused = runner.invoke(cli, ["compare", str(erm), str(mix), "--out", str(tmp_path / "no")])
    assert refused.exit_code == 1 and refused.output.startswith("Error: k differs") and not (tmp_path / "no").exists()


def test_figure_titles_carry_the_settings_that_make_runs_comparable(runs, measure, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.image import imread

    result = mixdiag.compare([measure(runs["erm"], "erm"), measure(runs["mixup"], "mixup")])
    title = mixdiag.plots.plot_compare(result.curves).axes[0].get_title()
    for shown in ("dataset=digits", "split=train", f"n={LIMIT}", "k=10", "sample_size=all", "model=preact-resnet20", "epochs=1"):
        assert shown in title
    out = tmp_path / "cmp"
    mixdiag.analysis.compare.write_compare(result, out)
    assert imread(out / "delta.png").shape[0] > 0
    delta_title = mixdiag.plots.plot_delta(result.blocks, caption="k=10, split=train").axes[0].get_title()
    assert delta_title.endswith("\nk=10, split=train") and "against erm" in delta_title


def test_runs_of_one_method_trained_differently_are_grouped_not_pooled(runs, measure):
    sources = [measure(runs["erm"], "erm"), measure(runs["erm-2ep"], "erm-2ep"), measure(runs["mixup"], "mixup")]
    with pytest.raises(MixdiagError, match=r"the erm runs were trained differently \(erm \(epoch=1, epochs=1\): digits-erm; "):
        mixdiag.compare(sources)
    result = mixdiag.compare(sources, baseline="ERM (epoch=1, epochs=1)")
    groups = dict(zip(result.curves["run"], result.curves["group"]))
    assert groups == {"digits-erm": "erm (epoch=1, epochs=1)", "digits-erm-2ep": "erm (epoch=2, epochs=2)",
                      "digits-mixup": "mixup (epoch=1, epochs=1)"}
    assert set(result.blocks["group"]) == {"erm (epoch=2, epochs=2)", "mixup (epoch=1, epochs=1)"}
    # Pooling them is a choice the user states; then epochs and epoch show per run.
    pooled = mixdiag.compare(sources, allow_mixed=["epochs", "epoch"])
    assert set(pooled.curves["group"]) == {"erm", "mixup"} and pooled.mixed == ["epoch", "epochs"]
    assert dict(zip(pooled.curves["run"], pooled.curves["epochs"])) == {"digits-erm": 1, "digits-erm-2ep": 2, "digits-mixup": 1}


def test_stale_result_after_resume_is_recomputed_for_a_run_directory_and_refused_when_named(runs, tmp_path, capfd):
    run = shutil.copytree(runs["erm"], tmp_path / "digits-erm")
    stored = run / "eta2-train"
    write_eta2(eta2_result(run / "checkpoints" / "last.pt", device="cpu"), stored)
    reused = mixdiag.compare([run, runs["mixup"]], device="cpu")
    assert "not using" not in capfd.readouterr().err
    pd.testing.assert_frame_equal(reused.curves[reused.curves["run"] == "digits-erm"][["module", "eta2"]].reset_index(drop=True),
                                  pd.read_csv(stored / "eta2.csv")[["module", "eta2"]])
    mixdiag.train(out=run, resume=True, epochs=2)
    recorded = json.loads((stored / "eta2.json").read_text())
    assert recorded["checkpoint_sha256"] != file_sha256(run / "checkpoints" / "last.pt")

    fresh = mixdiag.compare([run, runs["mixup"]], device="cpu", allow_mixed=["epoch", "epochs"])
    err = capfd.readouterr().err
    assert f"not using {stored}: it measured another version of" in err and "(epoch 1)" in err
    assert "mixdiag eta2 --ckpt" in err and "--force" in err
    expected = mixdiag.eta2(run / "checkpoints" / "last.pt", device="cpu")
    got = fresh.curves[fresh.curves["run"] == "digits-erm"]
    assert (got["epoch"] == 2).all()
    pd.testing.assert_series_equal(got["eta2"].reset_index(drop=True), expected["eta2"], check_names=False)

    refresh = r"mixdiag eta2 --ckpt .*last.pt --out .*eta2-train --force"
    with pytest.raises(MixdiagError, match=rf"eta2-train is stale: .*; refresh it with `{refresh}"):
        mixdiag.compare([stored, runs["mixup"]])


def test_staleness_is_the_hash_not_the_file_time(runs, measure, tmp_path):
    run = shutil.copytree(runs["erm"], tmp_path / "digits-erm")
    stored = run / "eta2-train"
    write_eta2(eta2_result(run / "checkpoints" / "last.pt", limit=LIMIT, device="cpu"), stored)
    ckpt = run / "checkpoints" / "last.pt"
    ckpt.write_bytes(ckpt.read_bytes())  # newer file time, same contents: still current
    mixdiag.compare([stored, measure(runs["mixup"], "mixup")])
    # Same file time, other contents: stale.
    times = ckpt.stat()
    ckpt.write_bytes((runs["erm-2ep"] / "checkpoints" / "last.pt").read_bytes())
    os.utime(ckpt, ns=(times.st_atime_ns, times.st_mtime_ns))
    with pytest.raises(MixdiagError, match="is stale"):
        mixdiag.compare([stored, measure(runs["mixup"], "mixup")])


def test_run_directory_result_measured_otherwise_is_not_reused(runs, tmp_path, capfd):
    run = shutil.copytree(runs["erm"], tmp_path / "digits-erm")
    write_eta2(eta2_result(run / "checkpoints" / "last.pt", k=3, limit=LIMIT, device="cpu"), run / "eta2-train")
    result = mixdiag.compare([run, runs["mixup"]], limit=LIMIT, device="cpu")
    assert "it was measured with k=3, not k=10" in capfd.readouterr().err
    assert (result.curves["k"] == 10).all()


def test_baseline_matches_methods_in_any_case_and_lists_runs_and_methods(runs, measure):
    sources = [measure(runs["erm"], "erm"), measure(runs["mixup"], "mixup")]
    assert set(mixdiag.compare(sources, baseline="ERM").delta["baseline"]) == {"erm"}
    assert set(mixdiag.compare(sources, baseline="Digits-Mixup").delta["run"]) == {"digits-erm"}
    listed = r"a method \(erm, mixup, any case\) or a run \(digits-erm, digits-mixup\)"
    with pytest.raises(MixdiagError, match=rf"no run or method named 'flow'.*{listed}"):
        mixdiag.compare(sources, baseline="flow")
