import numpy as np
import pytest

from mixdiag.analysis._shard import share, together
from mixdiag.distributed import World
from mixdiag.errors import MixdiagError


@pytest.mark.parametrize("n,batch,size", [(10, 3, 2), (450, 64, 2), (10, 64, 2), (5, 1, 3), (0, 4, 2), (100, 7, 4)])
def test_shares_are_whole_batches_in_rank_order_covering_every_row(n, batch, size):
    parts = [share(n, batch, World(rank, size)) for rank in range(size)]
    assert np.array_equal(np.concatenate([np.arange(n)[p] for p in parts]), np.arange(n))
    # Every batch of a process is one of the single-process sequence.
    assert all(p.start % batch == 0 for p in parts if p.stop > p.start)
    batches = [-(-(p.stop - p.start) // batch) for p in parts]
    assert max(batches) - min(batches) <= 1 and batches == sorted(batches, reverse=True)


def test_together_alone_raises_the_original_error():
    error = MixdiagError("bad")
    with pytest.raises(MixdiagError) as raised, together(World()):
        raise error
    assert raised.value is error
