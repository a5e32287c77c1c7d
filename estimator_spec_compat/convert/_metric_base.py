"""The base mixins of the ``V1*`` Keras metrics: v1 state summed in Keras variables."""

from estimator_spec_compat import _compat
from estimator_spec_compat.convert import _metric_math as math

tf = _compat.tf


class V1State:
    """Mixin: named state variables that ``update_state`` adds increments to.

    Subclasses define ``_state_spec()`` -> ``{name: (shape, dtype)}``, compute
    increments in ``update_state`` and pass them to ``_accumulate``, and read the
    state with ``_read(name)`` in ``result()``.
    """

    def __init__(self, *, name, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._state_names = []
        for var_name, (shape, var_dtype) in self._state_spec().items():
            variable = self.add_weight(
                name=var_name, shape=shape, initializer="zeros", dtype=var_dtype
            )
            setattr(self, "v1_" + var_name, variable)
            self._state_names.append(var_name)

    def _state_spec(self):
        raise NotImplementedError

    def get_config(self):
        """Keras config: name, dtype and the v1 arguments, so ``from_config`` rebuilds it."""
        config = super().get_config()
        config.update(dict(getattr(self, "_v1_args", {})))
        return config

    def _read(self, var_name):
        return tf.convert_to_tensor(getattr(self, "v1_" + var_name))

    def reset_state(self):
        for var_name in self._state_names:
            variable = getattr(self, "v1_" + var_name)
            variable.assign(tf.zeros(variable.shape, variable.dtype))

    def _accumulate(self, **increments):
        for var_name, increment in increments.items():
            variable = getattr(self, "v1_" + var_name)
            variable.assign_add(tf.cast(increment, variable.dtype))


class V1MeanBase(V1State):
    """Mixin: v1 ``mean`` (``total`` / ``count``) over per-element values."""

    def _state_spec(self):
        return {"total": ((), tf.float32), "count": ((), tf.float32)}

    def _add_values(self, values, weights):
        total, count = math.mean_increments(values, weights)
        self._accumulate(total=total, count=count)

    def result(self):
        return math.mean_value(self._read("total"), self._read("count"))
