"""What each v1 optimizer becomes in Keras: class, hyper-parameters and slots.

Read from the v1 optimizers' own attributes (``tensorflow/python/training/*.py``,
identical in TF 2.15 and 2.21) and checked against the Keras 2.15 / Keras 3 /
tf_keras update rules; see ``optimizers.py`` for the table in prose.
"""

import dataclasses
from collections.abc import Callable

from estimator_spec_compat import _compat


@dataclasses.dataclass(frozen=True)
class Slot:
    """One v1 slot and where its value lives in the Keras optimizer.

    Attributes:
      v1_name: the slot name for ``v1_optimizer.get_slot(var, v1_name)``.
      keras_attr: the list attribute of the Keras optimizer holding the slot per
        variable, or None where Keras keeps no such state (the slot is skipped).
      op_name_attr: the v1 attribute naming the slot variable in a checkpoint
        (Ftrl's ``accum_name``); None means the optimizer's ``name``.
      times_minus_lr: Keras stores ``-learning_rate * v1_value`` (Momentum).
    """

    v1_name: str
    keras_attr: str | None
    op_name_attr: str | None = None
    times_minus_lr: bool = False


@dataclasses.dataclass(frozen=True)
class Mapping:
    """How one v1 optimizer class maps to a Keras optimizer class.

    Attributes:
      keras_class: name in ``tf.keras.optimizers``.
      lr_attr: the v1 attribute holding the learning rate.
      hyper: v1 optimizer -> Keras constructor kwargs (learning rate excluded).
      slots: v1 optimizer -> its slots, in the v1 creation order.
      keras_init: v1 optimizer -> {keras_attr: value} for slots whose v1 initial
        value differs from Keras' (RMSProp's ``rms`` starts at 1, Keras' at 0).
      check: v1 optimizer -> None, or raises ValueError when it cannot be mapped.
    """

    keras_class: str
    lr_attr: str
    hyper: Callable
    slots: Callable
    keras_init: Callable = lambda opt: {}
    check: Callable = lambda opt: None


def number(opt, attr, v1_arg):
    """The v1 hyper-parameter ``attr`` as a Python float (constants and eager values only)."""
    value = getattr(opt, attr)
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if callable(value):
        raise ValueError(
            f"`{v1_arg}` of the v1 {type(opt).__name__} is a callable ({value!r}); Keras "
            f"takes a fixed number for `{v1_arg}`. Construct the v1 optimizer with a number."
        )
    static = _compat.tf.get_static_value(value)
    if static is None:
        raise ValueError(
            f"`{v1_arg}` of the v1 {type(opt).__name__} is a Tensor without a constant value "
            f"({value!r}); Keras takes a fixed number. Construct the v1 optimizer with a number."
        )
    return float(static)


def _proximal_check(opt):
    l1 = number(opt, "_l1_regularization_strength", "l1_regularization_strength")
    l2 = number(opt, "_l2_regularization_strength", "l2_regularization_strength")
    if l1 != 0.0 or l2 != 0.0:
        plain = "Adagrad" if "Adagrad" in type(opt).__name__ else "SGD"
        raise ValueError(
            f"The v1 {type(opt).__name__} has `l1_regularization_strength` ({l1}) / "
            f"`l2_regularization_strength` ({l2}); Keras has no proximal optimizer, so it "
            f"cannot be mapped faithfully. With both at 0.0 it is exactly Keras {plain}; "
            "otherwise keep the v1 optimizer or write a Keras optimizer subclass whose "
            "`update_step` applies the proximal step."
        )


def _ftrl_hyper(opt):
    return {
        "learning_rate_power": number(opt, "_learning_rate_power", "learning_rate_power"),
        "initial_accumulator_value": number(
            opt, "_initial_accumulator_value", "initial_accumulator_value"
        ),
        "l1_regularization_strength": number(
            opt, "_l1_regularization_strength", "l1_regularization_strength"
        ),
        "l2_regularization_strength": number(
            opt, "_l2_regularization_strength", "l2_regularization_strength"
        ),
        "l2_shrinkage_regularization_strength": number(
            opt, "_l2_shrinkage_regularization_strength", "l2_shrinkage_regularization_strength"
        ),
        "beta": number(opt, "_beta", "beta"),
    }


def _rmsprop_slots(opt):
    centered = bool(opt._centered)
    has_momentum = number(opt, "_momentum", "momentum") > 0
    return (
        Slot("rms", "_velocities"),
        *((Slot("mg", "_average_gradients"),) if centered else ()),
        # v1 always creates `momentum`; Keras only with momentum > 0 (with 0 the
        # slot holds the last step and is never read back).
        Slot("momentum", "_momentums" if has_momentum else None),
    )


def _adagrad_hyper(opt):
    # v1 Adagrad divides by sqrt(accumulator) with no epsilon; Keras by
    # sqrt(accumulator + epsilon): epsilon 0 is exact (the accumulator starts > 0).
    return {
        "initial_accumulator_value": number(
            opt, "_initial_accumulator_value", "initial_accumulator_value"
        ),
        "epsilon": 0.0,
    }


_ADAGRAD_SLOTS = (Slot("accumulator", "_accumulators"),)

#: v1 class name (in ``tf.compat.v1.train``) -> Mapping.
MAPPINGS = {
    "GradientDescentOptimizer": Mapping("SGD", "_learning_rate", lambda opt: {}, lambda opt: ()),
    "MomentumOptimizer": Mapping(
        "SGD",
        "_learning_rate",
        lambda opt: {
            "momentum": number(opt, "_momentum", "momentum"),
            "nesterov": bool(opt._use_nesterov),
        },
        lambda opt: (
            Slot(
                "momentum",
                "momentums" if number(opt, "_momentum", "momentum") != 0 else None,
                times_minus_lr=True,
            ),
        ),
    ),
    "AdamOptimizer": Mapping(
        "Adam",
        "_lr",
        lambda opt: {
            "beta_1": number(opt, "_beta1", "beta1"),
            "beta_2": number(opt, "_beta2", "beta2"),
            "epsilon": number(opt, "_epsilon", "epsilon"),
        },
        lambda opt: (Slot("m", "_momentums"), Slot("v", "_velocities")),
    ),
    "AdagradOptimizer": Mapping(
        "Adagrad", "_learning_rate", _adagrad_hyper, lambda opt: _ADAGRAD_SLOTS
    ),
    "AdadeltaOptimizer": Mapping(
        "Adadelta",
        "_lr",
        lambda opt: {
            "rho": number(opt, "_rho", "rho"),
            "epsilon": number(opt, "_epsilon", "epsilon"),
        },
        lambda opt: (
            Slot("accum", "_accumulated_grads"),
            Slot("accum_update", "_accumulated_delta_vars"),
        ),
    ),
    "RMSPropOptimizer": Mapping(
        "RMSprop",
        "_learning_rate",
        lambda opt: {
            "rho": number(opt, "_decay", "decay"),
            "momentum": number(opt, "_momentum", "momentum"),
            "epsilon": number(opt, "_epsilon", "epsilon"),
            "centered": bool(opt._centered),
        },
        _rmsprop_slots,
        keras_init=lambda opt: {"_velocities": 1.0},
    ),
    "FtrlOptimizer": Mapping(
        "Ftrl",
        "_learning_rate",
        _ftrl_hyper,
        lambda opt: (
            Slot("accum", "_accumulators", op_name_attr="_accum_name"),
            Slot("linear", "_linears", op_name_attr="_linear_name"),
        ),
    ),
    "ProximalAdagradOptimizer": Mapping(
        "Adagrad",
        "_learning_rate",
        _adagrad_hyper,
        lambda opt: _ADAGRAD_SLOTS,
        check=_proximal_check,
    ),
    "ProximalGradientDescentOptimizer": Mapping(
        "SGD", "_learning_rate", lambda opt: {}, lambda opt: (), check=_proximal_check
    ),
}


def lookup(v1_optimizer):
    """Returns the Mapping of ``v1_optimizer``'s exact class.

    Raises:
      TypeError: not one of the mapped v1 optimizer classes (subclasses
        included: their update rule is unknown).
      ValueError: a mapped class whose settings have no faithful Keras twin.
    """
    v1_train = _compat.tf.compat.v1.train
    for class_name, mapping in MAPPINGS.items():
        if type(v1_optimizer) is getattr(v1_train, class_name):
            mapping.check(v1_optimizer)
            return mapping
    kind = type(v1_optimizer)
    supported = ", ".join(f"tf.compat.v1.train.{name}" for name in MAPPINGS)
    if isinstance(v1_optimizer, v1_train.Optimizer):
        why = (
            "is a v1 optimizer without a known Keras equivalent (a subclass of a mapped "
            "class counts as unknown: its update rule may differ)"
        )
    else:
        why = "is not a v1 optimizer (`tf.compat.v1.train.Optimizer`)"
    raise TypeError(
        f"`v1_optimizer` ({kind.__module__}.{kind.__qualname__}) {why}. Supported: "
        f"{supported}. Otherwise build the Keras optimizer yourself, e.g. subclass "
        "`tf.keras.optimizers.Optimizer` and implement `build()` and `update_step()`."
    )
