"""Slot variables of Keras optimizers (Keras 2.15, tf_keras and Keras 3 alike).

Keras 2 (``keras.optimizers.Optimizer`` of 2.11+, and tf_keras) index their
per-variable state with ``_index_dict[_var_key(var)]``; Keras 3 with
``_get_variable_index(var)``.  Both keep one list attribute per kind of state
(``_momentums``, ``_velocities``, ...), which ``_optimizer_table`` names.
"""

import math

from estimator_spec_compat import _compat


def keras_slot(keras_optimizer, attr, variable):
    """The Keras optimizer's ``attr`` state for ``variable`` (a variable)."""
    if hasattr(keras_optimizer, "_get_variable_index"):  # Keras 3
        index = keras_optimizer._get_variable_index(variable)
    else:  # Keras 2.11+ / tf_keras
        index = keras_optimizer._index_dict[keras_optimizer._var_key(variable)]
    return getattr(keras_optimizer, attr)[index]


def ensure_built(keras_optimizer, var_list):
    """Builds ``keras_optimizer`` on ``var_list`` unless it is built already."""
    if not getattr(keras_optimizer, "built", False):
        keras_optimizer.build(list(var_list))


def set_initial_slots(keras_optimizer, var_list, initial_values):
    """Assigns ``{attr: value}`` to every variable's ``attr`` slot."""
    for attr, value in initial_values.items():
        for variable in var_list:
            slot = keras_slot(keras_optimizer, attr, variable)
            slot.assign(_compat.tf.fill(slot.shape, _compat.tf.cast(value, slot.dtype)))


def assign_slot(keras_optimizer, attr, variable, value, *, label):
    """Assigns ``value`` (array-like) to the ``attr`` slot of ``variable``, shape-checked."""
    slot = keras_slot(keras_optimizer, attr, variable)
    value = _compat.tf.convert_to_tensor(value)
    if tuple(value.shape) != tuple(slot.shape):
        raise ValueError(
            f"{label} has shape {tuple(value.shape)} but the Keras slot `{attr}` of "
            f"`{variable.name}` has shape {tuple(slot.shape)}; check that `var_list` and "
            "`v1_vars` are aligned."
        )
    slot.assign(_compat.tf.cast(value, slot.dtype))


def current_learning_rate(keras_optimizer):
    """The learning rate the next ``apply_gradients`` will use, as a float."""
    schedules = _compat.tf.keras.optimizers.schedules
    raw = getattr(keras_optimizer, "_learning_rate", None)
    if isinstance(raw, schedules.LearningRateSchedule):
        return float(raw(keras_optimizer.iterations))
    if callable(raw) and not hasattr(raw, "assign"):
        return float(raw())
    return float(_compat.tf.convert_to_tensor(keras_optimizer.learning_rate))


def steps_from_beta_powers(beta1_power, beta1, beta2_power, beta2):
    """How many Adam steps the v1 ``beta1_power`` / ``beta2_power`` stand for.

    v1 Adam starts ``beta1_power`` at ``beta1`` and multiplies it by ``beta1`` after
    each step, so after ``k`` steps it is ``beta1 ** (k + 1)`` (likewise beta2).
    ``beta1_power`` is used while it is a normal float32 (about 800 steps for
    0.9), then ``beta2_power``; a value that is no whole power raises.
    """
    for power, beta, name in ((beta1_power, beta1, "beta1"), (beta2_power, beta2, "beta2")):
        power = float(power)
        if not 0.0 < beta < 1.0 or power < 1e-30:
            continue
        steps = math.log(power) / math.log(beta) - 1.0
        if abs(steps - round(steps)) < 0.25:
            return int(round(steps))
        raise ValueError(
            f"`{name}_power` ({power}) is not a whole power of `{name}` ({beta}); pass "
            "`iterations` to `transfer_slots` explicitly."
        )
    raise ValueError(
        f"Cannot count Adam steps from `beta1_power` ({float(beta1_power)}) and "
        f"`beta2_power` ({float(beta2_power)}); pass `iterations` to `transfer_slots`."
    )
