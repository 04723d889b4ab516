"""Plot functions: take DataFrames, accept ``ax=``, return a Figure, never ``plt.show()``."""

from .conflict import plot_conflict, plot_conflict_compare, plot_decoupling_auc
from .eta2 import block_labels, plot_compare, plot_delta, plot_eta2, plot_track, plot_trajectories

__all__ = [
    "block_labels",
    "plot_compare",
    "plot_conflict",
    "plot_conflict_compare",
    "plot_decoupling_auc",
    "plot_delta",
    "plot_eta2",
    "plot_track",
    "plot_trajectories",
]
