"""Defaults of the analysis that the command line shows in ``--help``, importable without torch."""

from __future__ import annotations

import importlib.util

# Rows per hidden state in the k-means fit sample.
DEFAULT_SAMPLE_SIZE = 2000

BACKENDS = ("faiss", "torch")
# Whether FAISS is installed, asked without importing it (importing it costs a second).
DEFAULT_BACKEND = "faiss" if importlib.util.find_spec("faiss") is not None else "torch"
