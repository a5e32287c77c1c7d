"""v1 optimizers (``tf.compat.v1.train.*Optimizer``) as Keras optimizers, slots included.

:func:`to_keras_optimizer` reads a v1 optimizer's hyper-parameters and builds the
Keras optimizer (of whichever ``tf.keras`` is active: Keras 2.15, tf_keras or
Keras 3) that applies the same update.  :func:`transfer_slots` copies the v1
slot variables (from the live v1 optimizer or from a v1 ``Saver`` checkpoint as
an Estimator writes it: ``dense/kernel/Adam``, ``dense/kernel/Adam_1``,
``beta1_power``, ``global_step``) into the Keras optimizer so training goes on
where it stopped.

Mapping (v1 argument -> Keras argument; the v1 defaults are kept, so e.g. Adam's
``epsilon`` stays 1e-8 where Keras would default to 1e-7):

======================================  ============================================================
``GradientDescentOptimizer(lr)``        ``SGD(lr)``
``MomentumOptimizer(lr, momentum,``     ``SGD(lr, momentum, nesterov=use_nesterov)``; slot
``use_nesterov)``                       ``momentum`` -> ``momentums`` times ``-lr`` (Keras stores the
                                        step, v1 the raw accumulation: exact for a constant lr only)
``AdamOptimizer(lr, beta1, beta2,``     ``Adam(lr, beta_1, beta_2, epsilon)``; ``m`` -> ``_momentums``,
``epsilon=1e-8)``                       ``v`` -> ``_velocities``, ``beta1_power`` -> ``iterations``
``AdagradOptimizer(lr,``                ``Adagrad(lr, initial_accumulator_value, epsilon=0.0)`` (v1 has
``initial_accumulator_value=0.1)``      no epsilon); ``accumulator`` -> ``_accumulators``
``AdadeltaOptimizer(lr, rho,``          ``Adadelta(lr, rho, epsilon)``; ``accum`` ->
``epsilon=1e-8)``                       ``_accumulated_grads``, ``accum_update`` -> ``_accumulated_delta_vars``
``RMSPropOptimizer(lr, decay,``         ``RMSprop(lr, rho=decay, momentum, epsilon, centered)``; ``rms``
``momentum, epsilon=1e-10, centered)``  -> ``_velocities`` (v1 starts it at 1.0, Keras at 0.0: needs
                                        ``var_list``), ``mg`` -> ``_average_gradients``,
                                        ``momentum`` -> ``_momentums``
``FtrlOptimizer(lr,``                   ``Ftrl`` with the same six arguments (``beta`` None -> 0.0);
``learning_rate_power, ...)``           ``accum`` -> ``_accumulators``, ``linear`` -> ``_linears``
``ProximalAdagradOptimizer``            ``Adagrad`` when l1 = l2 = 0 (then identical), else ValueError
``ProximalGradientDescentOptimizer``    ``SGD`` when l1 = l2 = 0, else ValueError
======================================  ============================================================

Sparse gradients (``tf.IndexedSlices``, e.g. from an embedding lookup): v1's
sparse kernels of Momentum, Adadelta, RMSProp and Ftrl touch only the rows in the
gradient, while Keras (2 and 3) decays the slots of every row (and Ftrl
re-solves every row), so these four differ from v1 on embeddings; GradientDescent,
Adam (whose v1 sparse update is dense-equivalent) and Adagrad match exactly.
Densify such gradients (``tf.convert_to_tensor``) on both sides, or keep the v1
optimizer, where the lazy update matters.

The learning rate may be a number, a constant Tensor, the eager result of a
``tf.compat.v1.train.*_decay`` (converted by
:func:`~estimator_spec_compat.convert.schedules.to_keras_schedule`), or any
zero-argument callable (Keras calls it each step, as v1 did); an eager
``tf.Variable`` is read once.  A graph Tensor
(a decay built inside a model_fn) cannot be read back: pass
``learning_rate=keras_schedule_from_v1(...)``.  ``use_locking`` and ``name`` have
no Keras meaning (``name`` only names checkpoint slots, which
:func:`transfer_slots` takes into account).
"""

import os
import warnings

from estimator_spec_compat import _compat
from estimator_spec_compat.convert import _keras_slots, _optimizer_table, schedules


def to_keras_optimizer(v1_optimizer, *, learning_rate=None, var_list=None):
    """Builds the Keras optimizer that applies the same updates as ``v1_optimizer``.

    Args:
      v1_optimizer: an instance of one of the mapped ``tf.compat.v1.train``
        optimizer classes (exact class; see the module docstring).
      learning_rate: overrides the v1 learning rate (a number or a Keras
        schedule), e.g. ``keras_schedule_from_v1(...)`` when the v1 rate is a
        graph Tensor.
      var_list: the variables to train.  When given, the Keras optimizer is built
        on them and its slots start where v1's start; required for RMSProp
        (whose ``rms`` slot v1 starts at 1.0 and Keras at 0.0).

    Returns:
      A ``tf.keras.optimizers.Optimizer`` of the active Keras.

    Raises:
      TypeError: ``v1_optimizer`` is not a mapped v1 optimizer, or its learning
        rate cannot be read back.
      ValueError: a hyper-parameter has no faithful Keras form (proximal
        regularisation, a callable ``beta1``), or RMSProp without ``var_list``.

    Example:
      >>> v1 = tf.compat.v1.train.AdamOptimizer(0.01)       # epsilon 1e-8
      >>> keras_opt = to_keras_optimizer(v1)                # Adam(0.01, epsilon=1e-8)
      >>> keras_opt.apply_gradients(zip(grads, variables))
    """
    mapping = _optimizer_table.lookup(v1_optimizer)
    rate = _keras_learning_rate(v1_optimizer, mapping, learning_rate)
    kwargs = mapping.hyper(v1_optimizer)
    initial_slots = mapping.keras_init(v1_optimizer)
    if initial_slots and var_list is None:
        raise ValueError(
            f"`var_list` is None, but the v1 {type(v1_optimizer).__name__} starts its slots "
            f"{sorted(initial_slots)} at {sorted(set(initial_slots.values()))} where Keras "
            "starts them at 0. Pass `var_list=<the variables to train>` so the Keras "
            "optimizer is built with v1's initial values."
        )
    if (
        mapping.keras_class == "SGD"
        and kwargs.get("momentum")
        and not isinstance(rate, (int, float))
    ):
        warnings.warn(
            "v1 MomentumOptimizer accumulates raw gradients and scales by the current "
            "learning rate, Keras SGD accumulates already-scaled steps: with a learning rate "
            "that changes over time the two differ.",
            stacklevel=2,
        )
    keras_class = getattr(_compat.tf.keras.optimizers, mapping.keras_class)
    keras_optimizer = keras_class(learning_rate=rate, **kwargs)
    if var_list is not None:
        var_list = _as_var_list(var_list)
        _keras_slots.ensure_built(keras_optimizer, var_list)
        _keras_slots.set_initial_slots(keras_optimizer, var_list, initial_slots)
    return keras_optimizer


def transfer_slots(
    v1_optimizer, keras_optimizer, var_list, *, checkpoint=None, v1_vars=None, iterations=None
):
    """Copies v1 optimizer state into ``keras_optimizer`` so training can go on.

    Args:
      v1_optimizer: the v1 optimizer (its class, ``name`` and settings tell which
        slots exist and how they are named). With ``checkpoint=None`` its own
        eager slot variables are read, so it must have been applied eagerly.
      keras_optimizer: the Keras optimizer, e.g. from :func:`to_keras_optimizer`
        (built on ``var_list`` here if not built yet).
      var_list: the variables the Keras optimizer trains.
      checkpoint: a v1 ``Saver`` checkpoint (path prefix, a directory holding
        one, or a ``tf.train.load_checkpoint`` reader) to read the slots from.
      v1_vars: the v1 side of ``var_list``, aligned with it: variables (eager
        source) or checkpoint names like ``"dense/kernel"`` (checkpoint source).
        Default: ``var_list`` itself / each variable's name without ``:0``.
      iterations: the step to set ``keras_optimizer.iterations`` to. Default: the
        checkpoint's ``global_step`` and/or the step counted from Adam's
        ``beta1_power`` (they must agree); unchanged when neither exists.

    Returns:
      The step ``keras_optimizer.iterations`` now holds.

    Raises:
      TypeError: not a mapped v1 optimizer, or a bad ``checkpoint``.
      ValueError: a slot is missing or has another shape, or the step counts
        disagree.

    Example:
      >>> v1 = tf.compat.v1.train.AdamOptimizer(0.01)       # as in the model_fn
      >>> keras_opt = to_keras_optimizer(v1, var_list=model.trainable_variables)
      >>> transfer_slots(v1, keras_opt, model.trainable_variables,
      ...                checkpoint=estimator.latest_checkpoint(),
      ...                v1_vars=["dense/kernel", "dense/bias"])
    """
    mapping = _optimizer_table.lookup(v1_optimizer)
    var_list = _as_var_list(var_list)
    if checkpoint is None:
        source = _EagerSource(v1_optimizer, list(v1_vars) if v1_vars is not None else var_list)
    else:
        source = _CheckpointSource(v1_optimizer, checkpoint, v1_vars, var_list)
    if len(source.v1_vars) != len(var_list):
        raise ValueError(
            f"`v1_vars` has {len(source.v1_vars)} entries but `var_list` has {len(var_list)}; "
            "they must be aligned one to one."
        )
    _keras_slots.ensure_built(keras_optimizer, var_list)
    step = iterations if iterations is not None else source.step(mapping)
    if step is not None:
        keras_optimizer.iterations.assign(int(step))
    slots = mapping.slots(v1_optimizer)
    for index, variable in enumerate(var_list):
        for position, slot in enumerate(slots):
            if slot.keras_attr is None:
                continue
            value, label = source.slot_value(index, slots, position)
            if slot.times_minus_lr:
                value = -_keras_slots.current_learning_rate(keras_optimizer) * value
            _keras_slots.assign_slot(keras_optimizer, slot.keras_attr, variable, value, label=label)
    return int(keras_optimizer.iterations.numpy())


class _EagerSource:
    """Slots read from a v1 optimizer applied eagerly."""

    def __init__(self, v1_optimizer, v1_vars):
        self.optimizer = v1_optimizer
        self.v1_vars = v1_vars

    def slot_value(self, index, slots, position):
        variable, name = self.v1_vars[index], slots[position].v1_name
        slot = self.optimizer.get_slot(variable, name)
        if slot is None:
            raise ValueError(
                f"The v1 {type(self.optimizer).__name__} has no `{name}` slot for "
                f"`{variable.name}`: apply it to that variable first, or pass `checkpoint`."
            )
        return slot.numpy(), f"v1 slot `{name}` of `{variable.name}`"

    def step(self, mapping):
        if mapping.keras_class != "Adam":
            return None
        beta1_power, beta2_power = self.optimizer._get_beta_accumulators()
        return _adam_steps(self.optimizer, beta1_power.numpy(), beta2_power.numpy())


class _CheckpointSource:
    """Slots read from a v1 Saver checkpoint (names as the v1 graph made them)."""

    def __init__(self, v1_optimizer, checkpoint, v1_vars, var_list):
        self.optimizer = v1_optimizer
        self.reader = _reader(checkpoint)
        if v1_vars is None:
            v1_vars = [getattr(v, "path", None) or v.name.split(":")[0] for v in var_list]
        self.v1_vars = [str(name) for name in v1_vars]

    def slot_value(self, index, slots, position):
        key = _slot_key(self.optimizer, self.v1_vars[index], slots, position)
        return self._get(key), f"checkpoint tensor `{key}`"

    def step(self, mapping):
        global_step = None
        if self.reader.has_tensor("global_step"):
            global_step = int(self.reader.get_tensor("global_step"))
        if mapping.keras_class != "Adam":
            return global_step
        prefix = "" if self.reader.has_tensor("beta1_power") else f"{self.optimizer.get_name()}/"
        adam_step = _adam_steps(
            self.optimizer,
            self._get(prefix + "beta1_power"),
            self._get(prefix + "beta2_power"),
        )
        if global_step is not None and global_step != adam_step:
            raise ValueError(
                f"The checkpoint's `global_step` ({global_step}) and the Adam step counted "
                f"from `beta1_power` ({adam_step}) disagree (was `global_step` passed to "
                "`minimize`?); Keras uses one counter for both. Pass `iterations` explicitly."
            )
        return adam_step

    def _get(self, key):
        if not self.reader.has_tensor(key):
            names = sorted(self.reader.get_variable_to_shape_map())
            raise ValueError(
                f"The checkpoint has no tensor `{key}` (it has {names[:20]}"
                f"{' ...' if len(names) > 20 else ''}). Check `v1_vars` and that "
                "`v1_optimizer` has the class, `name` and settings used for training."
            )
        return self.reader.get_tensor(key)


def _slot_key(v1_optimizer, var_name, slots, position):
    """``var/OpName`` for a slot; the graph uniquifies repeats as ``OpName_1``, ..."""
    counts = {}
    for slot in slots[: position + 1]:
        op_name = getattr(v1_optimizer, slot.op_name_attr, None) if slot.op_name_attr else None
        op_name = op_name or v1_optimizer.get_name()
        seen = counts.get(op_name, 0)
        counts[op_name] = seen + 1
    return f"{var_name}/{op_name}" if seen == 0 else f"{var_name}/{op_name}_{seen}"


def _adam_steps(v1_optimizer, beta1_power, beta2_power):
    beta1 = _optimizer_table.number(v1_optimizer, "_beta1", "beta1")
    beta2 = _optimizer_table.number(v1_optimizer, "_beta2", "beta2")
    return _keras_slots.steps_from_beta_powers(beta1_power, beta1, beta2_power, beta2)


def _reader(checkpoint):
    if hasattr(checkpoint, "get_tensor") and hasattr(checkpoint, "has_tensor"):
        return checkpoint
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(
            f"`checkpoint` ({checkpoint!r}) must be a checkpoint path, a directory holding "
            "one, or a `tf.train.load_checkpoint` reader."
        )
    path = os.fspath(checkpoint)
    if os.path.isdir(path):
        latest = _compat.tf.train.latest_checkpoint(path)
        if latest is None:
            raise ValueError(f"`checkpoint` ({path!r}) is a directory without a checkpoint.")
        path = latest
    return _compat.tf.train.load_checkpoint(path)


def _keras_learning_rate(v1_optimizer, mapping, override):
    if override is not None:
        return override
    value = getattr(v1_optimizer, mapping.lr_attr)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if schedules.is_v1_decay_result(value):
        return schedules.to_keras_schedule(value)
    if isinstance(value, _compat.tf.keras.optimizers.schedules.LearningRateSchedule):
        return value
    if _compat.tf.is_tensor(value) or isinstance(value, _compat.tf.Variable):
        static = _compat.tf.get_static_value(value)
        if static is None and _compat.tf.executing_eagerly() and hasattr(value, "numpy"):
            static = value.numpy()
        if static is not None:
            return float(static)
    elif callable(value):
        return value
    raise TypeError(
        f"The learning rate of the v1 {type(v1_optimizer).__name__} ({value!r}) cannot be "
        "read back (a graph Tensor, e.g. a decay built in a model_fn). Pass "
        "`learning_rate=keras_schedule_from_v1(tf.compat.v1.train.<decay>, **<its args>)`."
    )


def _as_var_list(var_list):
    if isinstance(var_list, (str, bytes)) or not hasattr(var_list, "__iter__"):
        raise TypeError(f"`var_list` ({var_list!r}) must be a list of variables.")
    var_list = list(var_list)
    if not var_list:
        raise ValueError("`var_list` is empty; pass the variables the optimizer trains.")
    return var_list
