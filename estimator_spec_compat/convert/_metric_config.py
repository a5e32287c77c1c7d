"""Turning a v1 metric call's configuration arguments into plain python values.

The arguments that shape a metric's variables (``num_classes``,
``thresholds``, ``k`` ...) must be known when the metric is built; v1 accepted
python values and, for a few, constant tensors. They are normalised here to
hashable python values so that two calls can be compared.
"""

import inspect

from estimator_spec_compat import _compat

tf = _compat.tf


def _static(v1_name, key, value):
    """``value`` as a python/numpy value; tensors must be constant."""
    if isinstance(value, tf.Tensor | tf.Variable):
        static = tf.get_static_value(value)
        if static is None:
            raise ValueError(
                f"`{key}` of `tf.compat.v1.metrics.{v1_name}` must be known when the metric "
                f"is built (a python value or a constant tensor), got {value!r}."
            )
        return static
    return value


def _as_int(v1_name, key, value, *, optional=False, minimum=None):
    if value is None and optional:
        return None
    value = _static(v1_name, key, value)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"`{key}` of `tf.compat.v1.metrics.{v1_name}` must be an integer, got {value!r}."
        ) from None
    if minimum is not None and number < minimum:
        raise ValueError(
            f"`{key}` of `tf.compat.v1.metrics.{v1_name}` ({number}) must be >= {minimum}."
        )
    return number


def _as_float(v1_name, key, value):
    value = _static(v1_name, key, value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"`{key}` of `tf.compat.v1.metrics.{v1_name}` must be a number, got {value!r}."
        ) from None


def _as_thresholds(v1_name, key, value):
    if value is None:
        if v1_name == "auc":
            return None
        raise ValueError(f"`thresholds` of `tf.compat.v1.metrics.{v1_name}` is required.")
    value = _static(v1_name, key, value)
    try:
        return tuple(float(t) for t in value)
    except (TypeError, ValueError):
        raise TypeError(
            f"`thresholds` of `tf.compat.v1.metrics.{v1_name}` must be a list of floats, "
            f"got {value!r}."
        ) from None


def _as_str(v1_name, key, value):
    if not isinstance(value, str):
        raise TypeError(
            f"`{key}` of `tf.compat.v1.metrics.{v1_name}` must be a string, got {value!r}."
        )
    return value


def _as_shape(v1_name, key, value):
    shape = tf.TensorShape(value)
    if not shape.is_fully_defined():
        raise ValueError(
            f"`tf.compat.v1.metrics.{v1_name}` needs `values` of a fully known static shape "
            f"(its state has that shape), got {shape}."
        )
    return tuple(shape.as_list())


_NORMALISERS = {
    "thresholds": _as_thresholds,
    "num_thresholds": lambda n, k, v: _as_int(n, k, v, minimum=2),
    "curve": _as_str,
    "summation_method": _as_str,
    "num_classes": lambda n, k, v: _as_int(n, k, v, minimum=1),
    "dim": _as_int,
    "k": lambda n, k, v: _as_int(n, k, v, optional=True, minimum=1),
    "class_id": lambda n, k, v: _as_int(n, k, v, optional=True),
    "threshold": _as_float,
    "specificity": _as_float,
    "sensitivity": _as_float,
    "shape": _as_shape,
}


def normalise(v1_name, config_args, arguments):
    """``{key: python value}`` for each of ``config_args`` taken from bound v1 ``arguments``.

    ``mean_tensor``'s ``shape`` comes from the static shape of ``values`` when
    ``arguments`` has no ``shape``.
    """
    config = {}
    for key in config_args:
        if key == "shape" and arguments.get("shape") is None:
            if arguments.get("values") is None:
                raise ValueError(f"`shape` is required for `{v1_name}` (the shape of `values`).")
            value = tf.convert_to_tensor(arguments["values"]).shape
        else:
            value = arguments.get(key)
        config[key] = _NORMALISERS[key](v1_name, key, value)
    return config


def bind(v1_function, v1_name, args, kwargs, *, partial=False):
    """v1's own argument binding: ``{name: value}`` with v1's defaults filled in."""
    signature = inspect.signature(v1_function)
    try:
        bound = (
            signature.bind_partial(*args, **kwargs) if partial else signature.bind(*args, **kwargs)
        )
    except TypeError as error:
        raise TypeError(f"`tf.compat.v1.metrics.{v1_name}`: {error}") from None
    arguments = {
        name: parameter.default
        for name, parameter in signature.parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    arguments.update(bound.arguments)
    return arguments
