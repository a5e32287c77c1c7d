"""Replacing the functions of ``tf.compat.v1.metrics`` while a LegacyMetrics scope is open.

The module is process-wide, so is the patch: one owner at a time, entered any
number of times from any thread (MirroredStrategy's replica threads enter it
too), restored when the last entry closes. In a TF1 graph the patched function
calls the real one, which works there.
"""

import threading

from estimator_spec_compat import _compat
from estimator_spec_compat.convert import _metric_config, _metric_table

tf = _compat.tf

_PATCH_LOCK = threading.RLock()
_PATCH = {"owner": None, "depth": 0, "originals": {}}


def original(v1_name):
    """The real ``tf.compat.v1.metrics.<v1_name>``, also while it is patched."""
    return _PATCH["originals"].get(v1_name) or getattr(tf.compat.v1.metrics, v1_name)


def _patched(v1_name, original):
    """The stand-in for ``tf.compat.v1.metrics.<v1_name>`` (v1's signature and doc)."""

    def serve(*args, **kwargs):
        if not tf.executing_eagerly() and not _compat.in_function_graph():
            return original(*args, **kwargs)  # a TF1 graph: v1 itself works there
        owner = _PATCH["owner"]
        if v1_name not in _metric_table.ENTRIES or owner is None:
            raise ValueError(_metric_table.unsupported_message(v1_name))
        arguments = _metric_config.bind(original, v1_name, args, kwargs)
        return owner._serve(v1_name, arguments)

    serve = tf.autograph.experimental.do_not_convert(serve)  # AutoGraph has nothing to do here
    serve.__name__ = serve.__qualname__ = v1_name
    serve.__doc__ = original.__doc__
    serve.__wrapped__ = original
    return serve


def open_patch(owner):
    """Enters the patch for ``owner``; patches the module on the first entry.

    Raises:
      ValueError: if another owner holds the patch.
    """
    with _PATCH_LOCK:
        if _PATCH["owner"] is not None and _PATCH["owner"] is not owner:
            raise ValueError(
                "Another LegacyMetrics has its scope() open; tf.compat.v1.metrics is patched "
                "process-wide, so only one LegacyMetrics may serve it at a time. Close the "
                "other scope first, or use one LegacyMetrics object."
            )
        if _PATCH["depth"] == 0:
            module = tf.compat.v1.metrics
            names = [*_metric_table.ENTRIES, *_metric_table.UNSUPPORTED]
            originals = {name: getattr(module, name) for name in names if hasattr(module, name)}
            for name, function in originals.items():
                setattr(module, name, _patched(name, function))
            _PATCH["originals"] = originals
            _PATCH["owner"] = owner
        _PATCH["depth"] += 1


def close_patch(owner):
    """Leaves one entry of ``owner``; restores the module on the last one."""
    with _PATCH_LOCK:
        assert _PATCH["owner"] is owner, "close_patch without open_patch"
        _PATCH["depth"] -= 1
        if _PATCH["depth"] == 0:
            module = tf.compat.v1.metrics
            for name, function in _PATCH["originals"].items():
                setattr(module, name, function)
            _PATCH["originals"] = {}
            _PATCH["owner"] = None
