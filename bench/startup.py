"""Start-up of the command line and of ``import mixdiag``, measured in one run.

Every case runs in a fresh interpreter, round-robin over ``--rounds`` rounds, and reports
the median wall time. Goals (issue 14): ``mixdiag --help``, ``mixdiag <cmd> --help`` and
``mixdiag list ...`` import no torch and finish in under 0.5 s; ``import mixdiag`` costs at
most 0.5 s more than ``import torch``. Also printed, for information: the first use of the
whole Python API (every public name loaded), which pays for torch, scikit-learn, pandas and
FAISS, and bare interpreter start-up as the floor the CLI times sit on.

    python bench/startup.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

CLI_BUDGET = 0.5
IMPORT_BUDGET = 0.5

# Runs the CLI as the console script does, then says whether torch got imported.
_CLI = (
    "import sys; from mixdiag.cli.main import cli\n"
    "try:\n    cli(sys.argv[1:], prog_name='mixdiag')\nexcept SystemExit:\n    pass\n"
    "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)"
)
CLI_CASES = [
    ["--help"],
    ["train", "--help"],
    ["eta2", "--help"],
    ["conflict", "--help"],
    ["compare", "--help"],
    ["plot-track", "--help"],
    ["list", "models"],
    ["list", "datasets"],
    ["list", "methods"],
]
PYTHON_CASES = {
    "python (bare start-up)": "pass",
    "import torch": "import torch",
    "import mixdiag": "import mixdiag",
    "import mixdiag + whole API": "import mixdiag\nfor name in mixdiag.__all__: getattr(mixdiag, name)",
}


def timed(argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr}")
    return elapsed, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    python = sys.executable
    script = shutil.which("mixdiag", path=os.path.dirname(python))
    argvs = {name: [python, "-c", code] for name, code in PYTHON_CASES.items()}
    argvs.update({"mixdiag " + " ".join(case): [python, "-c", _CLI, *case] for case in CLI_CASES})
    if script:
        argvs["mixdiag --help (the console script)"] = [script, "--help"]
    times: dict[str, list[float]] = {name: [] for name in argvs}
    imports_torch: dict[str, bool] = {}
    for _ in range(rounds):
        for name, argv in argvs.items():
            elapsed, stderr = timed(argv)
            times[name].append(elapsed)
            if "TORCH" in stderr:
                imports_torch[name] = "NO-TORCH" not in stderr
    median = {name: statistics.median(t) for name, t in times.items()}

    print(f"median wall time of {rounds} fresh interpreters per case (machine load varies; read the differences)")
    for name in PYTHON_CASES:
        print(f"  {name:<36} {median[name]:6.3f} s")
    cli_ok = True
    for name in argvs:
        if name in PYTHON_CASES:
            continue
        torch_note = {True: "imports torch", False: "no torch", None: ""}[imports_torch.get(name)]
        fast = median[name] < CLI_BUDGET
        cli_ok &= fast and imports_torch.get(name) is not True
        print(f"  {name:<36} {median[name]:6.3f} s  {torch_note}")
    extra = median["import mixdiag"] - median["import torch"]
    api_extra = median["import mixdiag + whole API"] - median["import torch"]
    print(f"import mixdiag − import torch: {extra:+.3f} s (goal ≤ {IMPORT_BUDGET} s): {'met' if extra <= IMPORT_BUDGET else 'NOT met'}")
    print(f"import mixdiag + whole API − import torch: {api_extra:+.3f} s (for information: scikit-learn, pandas, FAISS, matplotlib)")
    print(f"CLI help and list without torch, under {CLI_BUDGET} s: {'met' if cli_ok else 'NOT met'}")


if __name__ == "__main__":
    main()
