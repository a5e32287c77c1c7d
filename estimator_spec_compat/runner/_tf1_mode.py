"""The runner under TF1 mode switches (``tf.compat.v1.disable_v2_behavior()`` and kin).

Legacy programs often start with ``import tensorflow.compat.v1 as tf;
tf.disable_v2_behavior()``. Of what that switches off, only eager execution
stops the runner (it traces into ``tf.function`` graphs and keeps eager
variables); the model_fn itself is traced into v1 graphs anyway, where v1
control flow, v1 tensor shapes and reference variables are what TF1 had. So
every public `Runner` method runs with eager execution switched back on for
its thread (`eager_methods`), and the process-wide setting is left as the user
set it. Measured (tests/runner/test_tf1_mode_switches.py): the same numbers as
without the switch under ``disable_v2_behavior`` (which also switches off
control flow v2 and tensor equality), ``disable_eager_execution``,
``disable_v2_tensorshape`` and ``disable_resource_variables``.
"""

import contextlib
import functools
import inspect

from estimator_spec_compat._compat import eager_mode, tf

_REFUSAL = (
    "The runner needs eager execution while it works, and "
    "`tf.compat.v1.disable_eager_execution()` (or `disable_v2_behavior()`) switched it "
    "off, which this TensorFlow cannot undo for a thread. Remove that call: the runner "
    "still calls the model_fn in TF1 graphs."
)


def eager_execution():
    """A context in which the calling thread executes eagerly (as TF2 does by default).

    Raises:
      RuntimeError: if eager execution is off and cannot be switched on here.
    """
    if tf.executing_eagerly():
        return contextlib.nullcontext()
    if eager_mode is None:  # pragma: no cover - a future TF without it
        raise RuntimeError(_REFUSAL)
    return eager_mode()


def eager_methods(*names):
    """A class decorator: the named methods run under `eager_execution` (generators per item)."""

    def decorate(cls):
        for name in names:
            setattr(cls, name, _eager(getattr(cls, name)))
        return cls

    return decorate


def _eager(method):
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def generator(*args, **kwargs):
            items = method(*args, **kwargs)
            while True:
                with eager_execution():
                    try:
                        item = next(items)
                    except StopIteration:
                        return
                yield item

        return generator

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with eager_execution():
            return method(*args, **kwargs)

    return wrapper
