"""Generated multi-label images whose label co-occurrence is set by one parameter, ``rho``.

Label ``k`` is drawn as a sinusoidal grating of period :data:`PERIOD` pixels at orientation
``180° * k / num_labels``, with a random phase per image; an image is the sum of the
gratings of its positive labels plus Gaussian noise. Because the phase is random a label
has no position, so random crops keep every label (``augment="crop"``); a horizontal flip
would turn orientation ``θ`` into ``180° - θ``, i.e. into another label, so there is none.

Labels come in pairs ``(0, 1), (2, 3), ...`` (an odd last label stands alone). Every label
is positive with probability ``prevalence``. Within a pair, with probability ``rho`` both
labels copy one shared Bernoulli draw, otherwise they are drawn independently; the phi
coefficient (Pearson correlation) of the pair is then exactly ``rho``, and labels of
different pairs are independent.
"""

from __future__ import annotations

from numbers import Real
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ._base import Dataset, register_dataset
from ._cache import channel_stats

__all__ = ["PERIOD", "load_synthetic_multilabel", "sample_labels"]

PERIOD = 4.0


@register_dataset("synthetic-multilabel")
def load_synthetic_multilabel(
    data_dir: Path | None,
    *,
    seed: int = 0,
    n_train: int = 4000,
    n_test: int = 1000,
    num_labels: int = 6,
    rho: float = 0.5,
    prevalence: float = 0.3,
    image_size: int = 16,
    noise: float = 0.5,
) -> Dataset:
    """Generate the dataset; the same options and seed give the same tensors.

    Args:
        data_dir: must be None: the data are generated.
        seed: seeds the one generator that draws labels, phases and noise.
        n_train, n_test: number of training and test images.
        num_labels: number of labels ``L``.
        rho: phi correlation of the two labels of a pair, in ``[0, 1)``.
        prevalence: probability that a label is positive, in ``(0, 1)``.
        image_size: side of the square single-channel images.
        noise: standard deviation of the Gaussian pixel noise (a grating has amplitude 1).

    Returns:
        A multi-label :class:`Dataset` of ``float32 (N, 1, image_size, image_size)``
        images and ``float32 (N, num_labels)`` 0/1 labels.
    """
    if data_dir is not None:
        raise DataError(f"synthetic-multilabel is generated and reads no files; drop --data-dir {data_dir}")
    counts = (("n_train", n_train, 1), ("n_test", n_test, 1), ("num_labels", num_labels, 1), ("image_size", image_size, 4))
    for option, value, lowest in counts:
        if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
            raise DataError(f"synthetic-multilabel: {option} must be an integer of at least {lowest}, got {value!r}")
    for option, value in (("rho", rho), ("prevalence", prevalence), ("noise", noise)):
        if isinstance(value, bool) or not isinstance(value, Real):
            raise DataError(f"synthetic-multilabel: {option} must be a number, got {value!r}")
    if not 0 <= rho < 1:
        raise DataError(f"synthetic-multilabel: rho must be in [0, 1), got {rho!r}")
    if not 0 < prevalence < 1:
        raise DataError(f"synthetic-multilabel: prevalence must be in (0, 1), got {prevalence!r}")
    if not noise >= 0:
        raise DataError(f"synthetic-multilabel: noise must be non-negative, got {noise!r}")

    rng = np.random.default_rng(seed)
    gratings = _gratings(num_labels, image_size)
    x, y = {}, {}
    for split, n in (("train", n_train), ("test", n_test)):
        y[split] = sample_labels(n, num_labels, rho, prevalence, rng)
        x[split] = _render(y[split], gratings, image_size, noise, rng)

    mean, std = channel_stats(x["train"])
    return Dataset(
        name="synthetic-multilabel",
        x_train=torch.from_numpy(x["train"]),
        y_train=torch.from_numpy(y["train"]),
        x_test=torch.from_numpy(x["test"]),
        y_test=torch.from_numpy(y["test"]),
        num_classes=num_labels,
        class_names=[f"grating-{round(180 * k / num_labels)}deg" for k in range(num_labels)],
        mean=mean,
        std=std,
        augment="crop",
        multilabel=True,
        info={
            "generated": True,
            "seed": seed,
            "rho": rho,
            "prevalence": prevalence,
            "noise": noise,
            "pairs": [[k, k + 1] for k in range(0, num_labels - 1, 2)],
            "sizes": {"train": n_train, "test": n_test},
        },
    )


def sample_labels(n: int, num_labels: int, rho: float, prevalence: float, rng: np.random.Generator) -> np.ndarray:
    """Draw 0/1 labels with pairwise phi correlation ``rho`` within the pairs ``(0, 1), (2, 3), ...``.

    Args:
        n: number of samples.
        num_labels: number of labels.
        rho: probability that a pair copies one shared draw, which is its phi coefficient.
        prevalence: probability of each label being positive.
        rng: the generator to draw from.

    Returns:
        ``float32 (n, num_labels)`` array of 0s and 1s.
    """
    labels = rng.random((n, num_labels)) < prevalence
    shared = rng.random((n, num_labels // 2)) < prevalence
    copies = rng.random((n, num_labels // 2)) < rho
    first = np.arange(0, 2 * (num_labels // 2), 2)
    for member in (first, first + 1):
        labels[:, member] = np.where(copies, shared, labels[:, member])
    return labels.astype(np.float32)


def _gratings(num_labels: int, size: int) -> np.ndarray:
    """Spatial phase of each label's grating at each pixel, ``(num_labels, size * size)``."""
    angles = np.pi * np.arange(num_labels) / num_labels
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    along = np.cos(angles)[:, None, None] * cols + np.sin(angles)[:, None, None] * rows
    return (2 * np.pi / PERIOD * along).reshape(num_labels, -1)


def _render(labels: np.ndarray, gratings: np.ndarray, size: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Images ``float32 (N, 1, size, size)``: the labels' gratings at random phases plus noise."""
    phase = rng.uniform(0, 2 * np.pi, size=labels.shape)
    # sin(g + p) = sin(g) cos(p) + cos(g) sin(p): two matrix products instead of an (N, L, H*W) tensor.
    images = (labels * np.cos(phase)) @ np.sin(gratings) + (labels * np.sin(phase)) @ np.cos(gratings)
    images += noise * rng.standard_normal(images.shape)
    return images.reshape(len(labels), 1, size, size).astype(np.float32)
