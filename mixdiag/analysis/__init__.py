"""Analysis of trained models: hidden-state capture, streaming statistics, k-means and η².

The core engine is :func:`compute_eta2`; its steps (:class:`FeatureCapture`,
:func:`fit_blocks`, :func:`accumulate_stats`, :func:`summarize`) are public for callers
that split the work, e.g. across processes.
"""

from .capture import OUTPUT, FeatureCapture, hidden_states
from .eta2 import DEFAULT_SAMPLE_SIZE, BlockClusters, accumulate_stats, compute_eta2, fit_blocks, summarize
from .kmeans import assign, fit_kmeans, sample_order
from .stats import ClusterStats, partition_eta2

__all__ = [
    "DEFAULT_SAMPLE_SIZE",
    "OUTPUT",
    "BlockClusters",
    "ClusterStats",
    "FeatureCapture",
    "accumulate_stats",
    "assign",
    "compute_eta2",
    "fit_blocks",
    "fit_kmeans",
    "hidden_states",
    "partition_eta2",
    "sample_order",
    "summarize",
]
