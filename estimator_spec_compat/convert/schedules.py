"""v1 learning-rate decays (``tf.compat.v1.train.*_decay``) as Keras schedules.

Two ways in:

* :func:`to_keras_schedule` takes what a v1 decay function *returned*.  Under
  eager execution (TF2) ``tf.compat.v1.train.exponential_decay(...)`` returns
  ``functools.partial(schedule, global_step)`` where ``schedule`` is one of TF's
  own legacy schedule objects; its ``get_config()`` holds every decay
  parameter, so the conversion is exact.  In a graph (an Estimator model_fn) the
  decay returns a Tensor from which the parameters cannot be recovered
  faithfully: use the second way.
* :func:`keras_schedule_from_v1` takes the v1 decay *function* (or its name) and
  the keyword arguments you passed to it, checks them against the installed v1
  signature (same defaults) and builds the Keras schedule.

Global step vs ``optimizer.iterations``: a v1 decay reads ``global_step``
*before* ``apply_gradients(..., global_step=...)`` increments it, so training
step ``k`` (0-based) uses ``decay(k)``.  A Keras optimizer calls
``schedule(optimizer.iterations)`` and then increments ``iterations``, so step
``k`` uses ``schedule(k)`` as well: the two line up as long as
``optimizer.iterations`` starts where ``global_step`` stood (set it when you
resume from a v1 checkpoint; :func:`~estimator_spec_compat.convert.optimizers.transfer_slots`
does).  ``staircase`` / ``cycle`` keep their meaning (integer division of the
step by ``decay_steps``) because the Keras classes implement the same formulas.

Mapping (v1 function -> Keras class of the active ``tf.keras``):

=========================  ==========================================================
``exponential_decay``      ``ExponentialDecay(lr, decay_steps, decay_rate, staircase)``
``natural_exp_decay``      ``ExponentialDecay(lr, decay_steps, exp(-decay_rate), staircase)``
``inverse_time_decay``     ``InverseTimeDecay(lr, decay_steps, decay_rate, staircase)``
``polynomial_decay``       ``PolynomialDecay(lr, decay_steps, end_learning_rate, power, cycle)``
``piecewise_constant``     ``PiecewiseConstantDecay(boundaries, values)``
``cosine_decay``           ``CosineDecay(lr, decay_steps, alpha)``
``cosine_decay_restarts``  ``CosineDecayRestarts(lr, first_decay_steps, t_mul, m_mul, alpha)``
=========================  ==========================================================

``linear_cosine_decay`` and ``noisy_linear_cosine_decay`` have no Keras class:
they raise a ``ValueError`` that says so.
"""

import functools
import inspect
import math

from estimator_spec_compat import _compat

# v1 function name -> (Keras class name, {keras kwarg: v1 kwarg or callable(bound args)}).
_DECAYS = {
    "exponential_decay": (
        "ExponentialDecay",
        {
            "initial_learning_rate": "learning_rate",
            "decay_steps": "decay_steps",
            "decay_rate": "decay_rate",
            "staircase": "staircase",
        },
    ),
    "natural_exp_decay": (
        "ExponentialDecay",
        {
            "initial_learning_rate": "learning_rate",
            "decay_steps": "decay_steps",
            "decay_rate": lambda args: math.exp(-args["decay_rate"]),
            "staircase": "staircase",
        },
    ),
    "inverse_time_decay": (
        "InverseTimeDecay",
        {
            "initial_learning_rate": "learning_rate",
            "decay_steps": "decay_steps",
            "decay_rate": "decay_rate",
            "staircase": "staircase",
        },
    ),
    "polynomial_decay": (
        "PolynomialDecay",
        {
            "initial_learning_rate": "learning_rate",
            "decay_steps": "decay_steps",
            "end_learning_rate": "end_learning_rate",
            "power": "power",
            "cycle": "cycle",
        },
    ),
    "piecewise_constant": (
        "PiecewiseConstantDecay",
        {"boundaries": "boundaries", "values": "values"},
    ),
    "cosine_decay": (
        "CosineDecay",
        {"initial_learning_rate": "learning_rate", "decay_steps": "decay_steps", "alpha": "alpha"},
    ),
    "cosine_decay_restarts": (
        "CosineDecayRestarts",
        {
            "initial_learning_rate": "learning_rate",
            "first_decay_steps": "first_decay_steps",
            "t_mul": "t_mul",
            "m_mul": "m_mul",
            "alpha": "alpha",
        },
    ),
}
_NO_KERAS_EQUIVALENT = ("linear_cosine_decay", "noisy_linear_cosine_decay")
# The step argument of each v1 decay; ignored (Keras uses optimizer.iterations).
_STEP_ARGS = ("global_step", "x", "name")
# Legacy schedule class (what eager v1 decays wrap) -> Keras class, same config keys.
_LEGACY_CLASSES = (
    "ExponentialDecay",
    "InverseTimeDecay",
    "PolynomialDecay",
    "PiecewiseConstantDecay",
    "CosineDecay",
    "CosineDecayRestarts",
)


def keras_schedule_from_v1(decay, /, **v1_kwargs):
    """Builds the Keras schedule equivalent to a call of a v1 decay function.

    Args:
      decay: the v1 function (``tf.compat.v1.train.exponential_decay``) or its
        name (``"exponential_decay"``).
      **v1_kwargs: the keyword arguments you passed to the v1 function.
        ``global_step`` / ``x`` / ``name`` may be given and are ignored: the Keras
        schedule is driven by ``optimizer.iterations`` (see the module docstring).

    Returns:
      A ``tf.keras.optimizers.schedules.LearningRateSchedule`` of the active Keras.

    Raises:
      TypeError: ``decay`` is neither a v1 decay function nor its name, or the
        keyword arguments do not fit the v1 signature.
      ValueError: the decay has no Keras equivalent.

    Example:
      >>> schedule = keras_schedule_from_v1(
      ...     tf.compat.v1.train.exponential_decay,
      ...     learning_rate=0.1, global_step=step, decay_steps=100, decay_rate=0.96,
      ...     staircase=True)
      >>> optimizer = tf.keras.optimizers.SGD(learning_rate=schedule)
    """
    name = _decay_name(decay)
    if name in _NO_KERAS_EQUIVALENT:
        raise ValueError(
            f"`decay` ({name}) has no Keras learning-rate schedule. Keep computing it "
            "yourself: subclass `tf.keras.optimizers.schedules.LearningRateSchedule` "
            f"with `__call__(step)` returning `tf.compat.v1.train.{name}(..., global_step=step)()`."
        )
    v1_fn = getattr(_compat.tf.compat.v1.train, name)
    signature = inspect.signature(v1_fn)
    try:
        bound = signature.bind_partial(**v1_kwargs)
    except TypeError as error:
        raise TypeError(
            f"The keyword arguments {sorted(v1_kwargs)} do not fit "
            f"`tf.compat.v1.train.{name}{signature}`: {error}."
        ) from None
    bound.apply_defaults()
    args = bound.arguments
    missing = [
        param.name
        for param in signature.parameters.values()
        if param.name not in args and param.name not in _STEP_ARGS
    ]
    if missing:
        raise TypeError(
            f"`tf.compat.v1.train.{name}` needs {missing}; pass them as keyword arguments."
        )
    keras_class, mapping = _DECAYS[name]
    kwargs = {
        keras_arg: (v1_arg(args) if callable(v1_arg) else _to_python(args[v1_arg]))
        for keras_arg, v1_arg in mapping.items()
    }
    return getattr(_schedules_module(), keras_class)(**kwargs)


def to_keras_schedule(decayed_learning_rate):
    """Converts what an eager v1 decay returned into a Keras schedule.

    Args:
      decayed_learning_rate: the value of e.g.
        ``tf.compat.v1.train.exponential_decay(...)`` under eager execution (a
        ``functools.partial`` of a legacy schedule and the global step), a legacy
        schedule object itself, or a Keras schedule (returned as it is).

    Returns:
      A ``LearningRateSchedule`` of the active Keras.

    Raises:
      TypeError: the value is not a recognised v1 decay result, e.g. a graph
        Tensor (use :func:`keras_schedule_from_v1` with the v1 arguments).
      ValueError: the decay has no Keras equivalent.

    Example:
      >>> step = tf.Variable(0, dtype=tf.int64)
      >>> v1_lr = tf.compat.v1.train.exponential_decay(0.1, step, 100, 0.96)
      >>> schedule = to_keras_schedule(v1_lr)   # ExponentialDecay(0.1, 100, 0.96)
    """
    schedules = _schedules_module()
    if isinstance(decayed_learning_rate, schedules.LearningRateSchedule):
        return decayed_learning_rate
    legacy = decayed_learning_rate
    if isinstance(legacy, functools.partial) and len(legacy.args) == 1 and not legacy.keywords:
        legacy = legacy.func
    class_name = type(legacy).__name__
    if _is_legacy_schedule(legacy):
        if class_name not in _LEGACY_CLASSES:
            raise ValueError(
                f"`decayed_learning_rate` is a {class_name} schedule, which has no Keras "
                "equivalent; subclass `tf.keras.optimizers.schedules.LearningRateSchedule` "
                "and call the legacy schedule from `__call__(step)`."
            )
        config = {
            key: _to_python(value) for key, value in legacy.get_config().items() if key != "name"
        }
        return getattr(schedules, class_name)(**config)
    raise TypeError(
        f"`decayed_learning_rate` ({decayed_learning_rate!r}) is not the eager result of a "
        "`tf.compat.v1.train.*_decay` function. In a graph the decay is a Tensor whose "
        "parameters cannot be recovered: call `keras_schedule_from_v1(<v1 decay function>, "
        "**<its arguments>)` instead."
    )


def is_v1_decay_result(value):
    """Whether ``value`` is what an eager ``tf.compat.v1.train.*_decay`` returned."""
    return (
        isinstance(value, functools.partial)
        and len(value.args) == 1
        and not value.keywords
        and _is_legacy_schedule(value.func)
    )


def _is_legacy_schedule(obj):
    # TF ships its own copy of the Keras 2 schedules (tensorflow/python/keras/
    # optimizer_v2/learning_rate_schedule.py) that the v1 decays use; detect it by
    # behaviour and origin rather than by importing the private module.
    module = type(obj).__module__ or ""
    return (
        callable(obj)
        and hasattr(obj, "get_config")
        and module.startswith("tensorflow.python.keras.")
        and "learning_rate_schedule" in module
    )


def _decay_name(decay):
    name = decay if isinstance(decay, str) else getattr(decay, "__name__", None)
    if name in _DECAYS or name in _NO_KERAS_EQUIVALENT:
        return name
    known = sorted((*_DECAYS, *_NO_KERAS_EQUIVALENT))
    raise TypeError(
        f"`decay` ({decay!r}) is not a `tf.compat.v1.train` learning-rate decay; pass one "
        f"of {known} (the function or its name)."
    )


def _to_python(value):
    """Tensors and numpy scalars in a config -> Python numbers (lists kept as lists)."""
    if isinstance(value, (list, tuple)):
        return [_to_python(item) for item in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    static = _compat.tf.get_static_value(value)
    if static is None:
        raise TypeError(
            f"A decay parameter ({value!r}) is a Tensor without a constant value; pass a "
            "Python number."
        )
    return static.item() if hasattr(static, "item") else static


def _schedules_module():
    """``tf.keras.optimizers.schedules`` of whichever Keras is active, looked up now."""
    return _compat.tf.keras.optimizers.schedules
