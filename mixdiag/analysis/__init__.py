"""Analysis of trained models: hidden-state capture, streaming statistics, k-means and η².

The core engine is :func:`compute_eta2`; its steps (:class:`FeatureCapture`,
:func:`fit_blocks`, :func:`accumulate_stats`, :func:`summarize`) are public for callers
that split the work, e.g. across processes. Names load on first use (see :mod:`mixdiag._lazy`).
"""

from .._lazy import lazy_exports

_WHERE = {
    "DEFAULT_SAMPLE_SIZE": "._defaults",
    "OUTPUT": ".capture",
    "BlockClusters": ".clusters",
    "ClusterStats": ".stats",
    "FeatureCapture": ".capture",
    "accumulate_stats": ".clusters",
    "as_source": ".sources",
    "assign": ".kmeans",
    "compute_eta2": ".eta2",
    "fit_blocks": ".clusters",
    "fit_kmeans": ".kmeans",
    "hidden_states": ".capture",
    "partition_eta2": ".stats",
    "sample_order": ".kmeans",
    "summarize": ".clusters",
    "taps_for": ".capture",
}

__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
