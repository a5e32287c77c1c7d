"""The training loop's cost-saving paths keep their promises (no timings here)."""

import gc
import weakref

from estimator_spec_compat._compat import tf
from estimator_spec_compat.runner import _data


def test_release_in_background_drops_the_only_reference():
    iterator = iter(tf.data.Dataset.range(10).repeat())
    next(iterator)
    alive = weakref.ref(iterator)
    box = [iterator]
    del iterator
    _data.release_in_background(box).result(timeout=60)
    gc.collect()
    assert box == []
    assert alive() is None
