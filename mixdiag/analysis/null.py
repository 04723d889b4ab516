"""η² against structureless data: the k-means fit repeated on a fit sample whose features
were permuted independently across rows.

k-means cuts any cloud, so η² alone cannot say whether a hidden state is clustered: an
arbitrary 10-way cut of a few hundred points in thousands of dimensions also explains a
share of the variance. The null keeps every feature's marginal distribution (each column
is shuffled on its own) and destroys the joint structure, then measures η² exactly as for
the real sample: the same fit (:func:`~mixdiag.analysis.kmeans.fit_partition`), the same
assignment to the nearest centroid and the same float64 counting.

The null is counted on the fit sample it was fitted on, where the real η² counts all N
samples with centroids fitted on the sample: an in-sample η² is at least as high, so the
null errs on the high side (conservative). Column permutation keeps each column's values,
so the SST of the null sample equals that of the fit sample.
"""

from __future__ import annotations

import numpy as np

from .clusters import BlockClusters, accumulate_stats
from .kmeans import DEFAULT_BACKEND, DEFAULT_NITER, DEFAULT_NREDO, fit_partition

__all__ = ["null_eta2"]


def null_eta2(
    sample: np.ndarray,
    k: int,
    *,
    draws: int,
    seed: np.random.SeedSequence | int,
    shift: np.ndarray,
    niter: int = DEFAULT_NITER,
    nredo: int = DEFAULT_NREDO,
    backend: str = DEFAULT_BACKEND,
    device="cpu",
    name: str = "features",
) -> np.ndarray:
    """η² of ``draws`` column-permuted copies of ``sample``, float64 ``(draws,)``.

    Args:
        sample: ``(m, D)`` float32 fit sample; read, never modified. One permuted copy is
            held at a time.
        k: clusters.
        draws: permutations, each with its own k-means fit.
        seed: seeds the permutations and the fits.
        shift: ``(D,)`` float64 mean of ``sample`` (a permutation keeps it).
        niter, nredo, backend, device: as for :func:`~mixdiag.analysis.kmeans.fit_partition`.
        name: the hidden state, for error messages.
    """
    children = (seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)).spawn(draws)
    out = np.empty(draws)
    for i, child in enumerate(children):
        rng = np.random.default_rng(child)
        permuted = rng.permuted(np.asarray(sample), axis=0)  # each column shuffled on its own
        fit = fit_partition(
            permuted, k, shift=shift, seed=int(rng.integers(2**31)), niter=niter, nredo=nredo, backend=backend, device=device, name=name
        )
        clusters = {name: BlockClusters(name, shift, fit.centroids[None].astype(np.float64))}
        out[i] = accumulate_stats([{name: permuted}], clusters)[name][0].eta2()
    return out
