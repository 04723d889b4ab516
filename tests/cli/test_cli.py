"""The command line: thin wrappers, one-line errors, no tracebacks, nothing overwritten."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from mixdiag.cli.main import cli

MIXDIAG = shutil.which("mixdiag", path=os.path.dirname(sys.executable)) or shutil.which("mixdiag")


def run_cli(*args, cwd=None):
    """Run the installed console script as a user would."""
    assert MIXDIAG, "the mixdiag console script is not installed: pip install -e ."
    return subprocess.run([MIXDIAG, *args], capture_output=True, text=True, cwd=cwd)


def test_help_documents_every_option_with_defaults():
    result = CliRunner().invoke(cli, ["train", "--help"])
    assert result.exit_code == 0
    for option in ["--dataset", "--data-dir", "--model", "--method", "--alpha", "--epochs", "--batch-size", "--seed",
                   "--corrupt-rate", "--out", "--resume", "--force"]:
        assert option in result.output
    assert "default: digits" in result.output and "default: erm" in result.output


def test_list_commands():
    result = CliRunner().invoke(cli, ["list", "methods"])
    assert result.output.split() == ["erm", "flow", "flow-consistency", "manifold", "mixup"]


def test_train_writes_a_run_and_says_where(tmp_path):
    out = tmp_path / "run"
    result = run_cli("train", "--model", "preact-resnet20", "--epochs", "1", "--method", "flow", "--beta", "0.5", "--out", str(out), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    config = json.loads((out / "config.json").read_text())
    assert config["method_options"] == {"beta": 0.5}
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1


@pytest.mark.parametrize(
    "args,needle,code",
    [
        (["train", "--epochs", "0"], "--epochs must be at least 1", 1),
        (["train", "--epochs", "two"], "'two' is not a valid integer", 2),
        (["train", "--method", "cutmix"], "unknown mixing method 'cutmix'", 1),
        (["train", "--dataset", "mnist"], "--data-dir", 1),
        (["train", "--method", "mixup", "--gamma", "1"], "does not take gamma", 1),
        (["train", "--corrupt-rate", "1.5"], "--corrupt-rate must be in [0, 1)", 1),
        (["train", "--dataset-option", "rho"], "is not KEY=VALUE", 2),
        (["train", "--device", "cuda:7"], "CUDA is not available", 1),
    ],
)
def test_bad_input_is_one_line_without_traceback(tmp_path, args, needle, code):
    result = run_cli(*args, "--out", str(tmp_path / "r"))
    assert result.returncode == code
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert not (tmp_path / "r").exists()


def test_existing_run_needs_resume_or_force(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "config.json").write_text("{}")
    result = run_cli("train", "--out", str(out))
    assert result.returncode == 1 and "--resume" in result.stderr and "--force" in result.stderr
    assert (out / "config.json").read_text() == "{}"
