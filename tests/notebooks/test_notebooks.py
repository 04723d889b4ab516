"""Every notebook in notebooks/ runs top to bottom in a real Jupyter kernel.

The notebooks read ``MIXDIAG_NOTEBOOK_SMOKE=1`` and shrink their settings, so the four
together run in a few minutes on 2 CPU cores. A cell that raises fails the test with the
cell's traceback.
"""

import sys
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

import mixdiag
from extras import require

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
EXPECTED = ["01_quickstart.ipynb", "02_distribution_shift.ipynb", "03_correlation_conflict.ipynb", "04_your_own_model.ipynb"]
# What each notebook leaves under runs/: the first three train runs; the fourth measures networks from elsewhere.
WRITES = {name: "*/*/checkpoints/last.pt" for name in EXPECTED[:3]} | {"04_your_own_model.ipynb": "*/*/eta2/eta2.csv"}
NEEDS = {"04_your_own_model.ipynb": "torchvision"}
KERNEL = "mixdiag-test"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory) -> KernelSpecManager:
    """A kernel spec naming this interpreter, and a manager that sees only it.

    The stock ``python3`` spec starts whatever ``python`` a user-level or system spec names;
    this one runs ``sys.executable``, so the kernel imports the mixdiag under test.
    """
    kernels = tmp_path_factory.mktemp("kernels")
    write_kernel_spec(kernels / KERNEL)
    return KernelSpecManager(kernel_dirs=[str(kernels)])


def run_notebook(path: Path, cwd: Path, specs: KernelSpecManager, monkeypatch) -> nbformat.NotebookNode:
    """Execute a notebook in smoke mode with ``cwd`` as the kernel's working directory."""
    monkeypatch.setenv("MIXDIAG_NOTEBOOK_SMOKE", "1")  # the kernel inherits this process's environment
    nb = nbformat.read(path, as_version=4)
    # Where the kernel's interpreter and mixdiag come from, checked after the notebook's own cells.
    nb.cells.append(nbformat.v4.new_code_cell("import sys, mixdiag\nprint(sys.executable)\nprint(mixdiag.__file__)"))
    km = AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)
    NotebookClient(nb, km=km, timeout=600, resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def outputs(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def test_the_notebooks_are_there():
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb")) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_is_committed_without_outputs(name):
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{name} has no code cells"
    stale = [i for i, c in enumerate(code) if c.outputs or c.execution_count is not None]
    assert not stale, f"{name}: code cells {stale} carry outputs; strip them before committing"


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs_in_a_real_kernel(name, tmp_path, kernel_specs, monkeypatch):
    if name in NEEDS:
        require(NEEDS[name])
    nb = run_notebook(NOTEBOOK_DIR / name, tmp_path, kernel_specs, monkeypatch)

    executable, module = outputs(nb.cells[-1]).split()
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    assert Path(module).resolve() == Path(mixdiag.__file__).resolve()

    # Runs land under the kernel's working directory (here tmp_path), not next to the notebook.
    runs = list((tmp_path / "runs").glob(WRITES[name]))
    assert runs, f"{name} wrote no {WRITES[name]} under {tmp_path / 'runs'}"

    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, f"{name} showed no figure"
