"""Defaults of the analysis that the command line shows in ``--help``, importable without torch."""

from __future__ import annotations

import importlib.util

# Rows per hidden state in the k-means fit sample.
DEFAULT_SAMPLE_SIZE = 2000

BACKENDS = ("faiss", "torch")
# Whether FAISS is installed, asked without importing it (importing it costs a second).
DEFAULT_BACKEND = "faiss" if importlib.util.find_spec("faiss") is not None else "torch"

# Conflict analysis. With n = n_a + n_b samples the label-η² null's mean is 1/(n − 1): at
# least 10 per group keeps it at or below 1/19 ≈ 0.05, where 2 per group gave 0.33 (see
# mixdiag.analysis.conflict).
DEFAULT_MIN_GROUP = 10
# Relabellings of the permutation null: p-values resolve down to 1/201 ≈ 0.005.
DEFAULT_NULL = 200
