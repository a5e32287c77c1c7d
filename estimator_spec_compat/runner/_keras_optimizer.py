"""``RunnerConfig(optimizer="keras")``: the model_fn's v1 optimizer applied as a Keras optimizer.

While the runner traces a model_fn (`Programs.scope`), ``tf.compat.v1.train.Optimizer
.apply_gradients`` (which ``minimize`` calls) is patched, and restored on the way out:

* TRAIN: the v1 optimizer is converted ONCE, in the build trace, with
  `convert.optimizers.to_keras_optimizer` (its variables made eagerly under the
  strategy's scope, outside the variable store); every trace then applies the
  gradients the v1 ``compute_gradients`` made (Estimator's loss scaling included)
  with that Keras optimizer, and increments ``global_step`` after the update, as
  ``minimize(global_step=...)`` did. On one replica the update is one nested
  ``tf.function`` call (the pruned v1 graph runs all of it); under several
  replicas Keras all-reduces the gradients (a sum, as v1 did) in replica context.
* EVAL / PREDICT: a ``train_op`` built there is a ``tf.no_op`` (Estimator never
  ran it), so no v1 slot is made.
* A learning rate that is a ``tf.compat.v1.train.*_decay`` of the global step,
  built in the model_fn, is recognised (the decays are patched too, recording
  their arguments) and mapped with `convert.schedules.keras_schedule_from_v1`;
  Keras drives it with ``iterations``, kept equal to ``global_step``.

Checkpoints hold the Keras state as ``keras_optimizer/iterations`` and
``keras_optimizer/<variable>/<slot>`` (e.g. ``keras_optimizer/mlp/w0/momentums``).
A checkpoint without them (v1 optimizer: the runner's default mode or Estimator)
gets its v1 slots copied in with `convert.optimizers.transfer_slots`.
"""

import contextlib
import functools
import inspect
import threading

from estimator_spec_compat._compat import ModeKeys, tf
from estimator_spec_compat.convert import _keras_slots, _optimizer_table, optimizers, schedules

_PREFIX = "keras_optimizer"
_DECAYS = (
    "exponential_decay",
    "natural_exp_decay",
    "inverse_time_decay",
    "polynomial_decay",
    "piecewise_constant",
    "cosine_decay",
    "cosine_decay_restarts",
    "linear_cosine_decay",
    "noisy_linear_cosine_decay",
)
_PATCH_LOCK = threading.Lock()


class KerasOptimizerSwap:
    """Applies the model_fn's v1 optimizer as a Keras optimizer (``enabled``) or stays out.

    Args:
      enabled: ``RunnerConfig.optimizer == "keras"``.
      store: the runner's `VariableStore` (names of the trained variables).
      strategy: the runner's strategy (the Keras optimizer's variables live in its scope).
    """

    def __init__(self, *, enabled, store, strategy):
        self.enabled = enabled
        self._store = store
        self._strategy = strategy
        self._v1 = self._keras = None
        self._var_list = []
        self._decays = {}  # id(decay tensor) -> (tensor, v1 function name, bound arguments)
        self._depth = 0
        #: The mode of the model_fn being traced (set by `Programs` before each call).
        self.mode = None

    @property
    def keras_optimizer(self):
        """The Keras optimizer (None before the first TRAIN build or when not enabled)."""
        return self._keras

    @contextlib.contextmanager
    def intercept(self):
        """Patches v1 ``apply_gradients`` and the v1 decays while active (re-entrant)."""
        if not self.enabled:
            yield
            return
        with _PATCH_LOCK:
            self._depth += 1
            if self._depth == 1:
                self._saved = self._install()
        try:
            yield
        finally:
            with _PATCH_LOCK:
                self._depth -= 1
                if self._depth == 0:
                    self._uninstall(self._saved)

    def _install(self):
        v1_train = tf.compat.v1.train
        saved = {"apply_gradients": v1_train.Optimizer.apply_gradients}
        swap = self

        def apply_gradients(v1_optimizer, grads_and_vars, global_step=None, name=None):
            return swap._apply(v1_optimizer, list(grads_and_vars), global_step)

        v1_train.Optimizer.apply_gradients = apply_gradients
        for decay in _DECAYS:
            saved[decay] = getattr(v1_train, decay)
            setattr(v1_train, decay, self._recording(decay, saved[decay]))
        return saved

    def _uninstall(self, saved):
        self._decays.clear()  # the traced graphs' tensors, needed only while tracing
        v1_train = tf.compat.v1.train
        v1_train.Optimizer.apply_gradients = saved.pop("apply_gradients")
        for decay, original in saved.items():
            setattr(v1_train, decay, original)

    def _recording(self, decay, original):
        signature = inspect.signature(original)

        @functools.wraps(original)
        def decay_fn(*args, **kwargs):
            result = original(*args, **kwargs)
            if tf.is_tensor(result):
                bound = signature.bind(*args, **kwargs)
                self._decays[id(result)] = (result, decay, dict(bound.arguments))
            return result

        return decay_fn

    # --- the update -----------------------------------------------------------------

    def _apply(self, v1_optimizer, grads_and_vars, global_step):
        if self.mode != ModeKeys.TRAIN:
            return tf.no_op(name="train_op_not_run")  # Estimator fetched no train_op here
        grads_and_vars = [(g, v) for g, v in grads_and_vars if g is not None]
        if not grads_and_vars:
            raise ValueError("No gradients provided for any variable (v1 `apply_gradients`).")
        keras = self._keras_for(v1_optimizer, [v for _, v in grads_and_vars])
        replicas = self._strategy.num_replicas_in_sync
        if replicas > 1 and not tf.distribute.has_strategy():
            return tf.no_op(name="build_only")  # the build trace outside replicas: never run
        if replicas == 1:  # a pruned v1 graph: one call op that runs every update
            update = tf.group(_apply_function(keras)(grads_and_vars))
        else:  # replica context of the replicated v1 graph: group what the apply wrote
            graph = tf.compat.v1.get_default_graph()
            start = len(graph.get_operations())
            keras.apply_gradients(grads_and_vars)
            written = [v for _, v in grads_and_vars] + list(keras.variables)
            update = tf.group(*_writes_since(graph, start, written, self._strategy))
        if global_step is None:
            return update
        with tf.control_dependencies([update]):
            return _increment(global_step)

    def _keras_for(self, v1_optimizer, var_list):
        if self._keras is not None:
            same_vars = [id(v) for v in var_list] == [id(v) for v in self._var_list]
            if type(v1_optimizer) is not type(self._v1) or not same_vars:
                raise ValueError(
                    "`RunnerConfig.optimizer` is 'keras', which supports one v1 optimizer per "
                    f"model_fn, applied to the same variables in every call; the runner converted "
                    f"{type(self._v1).__name__} on {len(self._var_list)} variable(s) and now "
                    f"sees {type(v1_optimizer).__name__} on {len(var_list)}. Keep "
                    "`optimizer='model_fn'` for such a model_fn (e.g. two optimizers)."
                )
            return self._keras
        learning_rate = self._learning_rate(v1_optimizer)
        try:
            with tf.init_scope(), self._store.passthrough(), self._strategy.scope():
                keras = optimizers.to_keras_optimizer(
                    v1_optimizer, learning_rate=learning_rate, var_list=var_list
                )
        except (TypeError, ValueError) as error:
            raise type(error)(
                "`RunnerConfig.optimizer` is 'keras', but the model_fn's v1 optimizer "
                f"cannot be converted: {error} Or keep `optimizer='model_fn'` (the default), "
                "which runs the v1 optimizer as the model_fn wrote it."
            ) from error
        self._v1, self._keras, self._var_list = v1_optimizer, keras, list(var_list)
        return keras

    def _learning_rate(self, v1_optimizer):
        """None (let `to_keras_optimizer` read it) or a Keras schedule for a graph decay."""
        mapping = _optimizer_table.MAPPINGS.get(type(v1_optimizer).__name__)
        value = getattr(v1_optimizer, mapping.lr_attr, None) if mapping else None
        if not tf.is_tensor(value) or tf.get_static_value(value) is not None:
            return None
        record = self._decays.get(id(value))
        if record is None or record[0] is not value:
            raise ValueError(
                f"`RunnerConfig.optimizer` is 'keras', but the learning rate of the model_fn's "
                f"{type(v1_optimizer).__name__} is a Tensor computed in its graph "
                f"({value.name}) that the runner cannot map to a Keras schedule. Give the v1 "
                "optimizer a Python number, or a `tf.compat.v1.train.*_decay(..., "
                "global_step=tf.compat.v1.train.get_global_step())` with constant arguments "
                "(called through `tf.compat.v1.train`), or keep `optimizer='model_fn'`."
            )
        _, decay, arguments = record
        step = arguments.get("x" if decay == "piecewise_constant" else "global_step")
        if step is not tf.compat.v1.train.get_global_step():
            raise ValueError(
                f"`RunnerConfig.optimizer` is 'keras', but the model_fn's `{decay}` is driven "
                f"by {step!r}, not the global step; the Keras schedule follows the optimizer's "
                "iterations (= global step). Pass `tf.compat.v1.train.get_global_step()`, or "
                "keep `optimizer='model_fn'`."
            )
        try:
            return schedules.keras_schedule_from_v1(decay, **arguments)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"`RunnerConfig.optimizer` is 'keras', but the model_fn's `{decay}` learning "
                f"rate has no Keras schedule: {error} Or keep `optimizer='model_fn'`."
            ) from error

    # --- checkpoints ----------------------------------------------------------------

    def checkpoint_variables(self):
        """Name -> variable of the Keras optimizer's state (empty before it exists)."""
        if self._keras is None:
            return {}
        names = {id(v): n for n, v in self._store.variables.items()}
        out = {f"{_PREFIX}/iterations": _tf_variable(self._keras.iterations)}
        for slot in _optimizer_table.lookup(self._v1).slots(self._v1):
            if slot.keras_attr is None:
                continue
            for variable in self._var_list:
                key = f"{_PREFIX}/{names[id(variable)]}/{slot.keras_attr.lstrip('_')}"
                value = _keras_slots.keras_slot(self._keras, slot.keras_attr, variable)
                out[key] = _tf_variable(value)
        return out

    def restore(self, prefix, restore_fn):
        """Restores the Keras state from checkpoint ``prefix``, or transfers v1 slots from it.

        Args:
          prefix: a checkpoint prefix, or None (a fresh start: nothing to do).
          restore_fn: ``(prefix, {name: variable})`` restoring by name (`_checkpoint.restore`).
        """
        if self._keras is None or prefix is None:
            return
        reader = tf.train.load_checkpoint(prefix)
        if reader.has_tensor(f"{_PREFIX}/iterations"):
            restore_fn(prefix, self.checkpoint_variables())
            return
        names = {id(v): n for n, v in self._store.variables.items()}
        optimizers.transfer_slots(
            self._v1,
            self._keras,
            self._var_list,
            checkpoint=reader,
            v1_vars=[names[id(v)] for v in self._var_list],
        )


def _apply_function(keras):
    @tf.function(autograph=False)
    def apply(grads_and_vars):
        keras.apply_gradients(grads_and_vars)
        return tf.constant(True)

    return apply


def _increment(global_step):
    """``global_step += 1`` as the v1 optimizer did it (``extended.update`` under a strategy)."""

    def increment(variable):
        return variable.assign_add(1, read_value=False)

    if not tf.distribute.has_strategy():
        return increment(global_step)
    context = tf.distribute.get_replica_context()
    if context is None:
        return tf.distribute.get_strategy().extended.update(global_step, increment)
    return context.merge_call(lambda s: s.extended.update(global_step, increment))


def _tf_variable(variable):
    """A Keras 3 variable's ``tf.Variable`` (checkpoint code reads TF shapes); others as is."""
    return variable if isinstance(variable, tf.Variable) else getattr(variable, "_value", variable)


def _writes_since(graph, start, variables, strategy):
    """The ops made in ``graph`` since op number ``start`` that use ``variables``, ordered.

    A Keras apply in replica context updates in a ``merge_call`` and relies on
    automatic control dependencies (Keras 3 returns no op depending on its
    updates; Keras 2 keeps a scheduled learning rate in a variable of its own,
    assigned and then read); a v1 graph has neither. So the ops made since
    ``start`` run in the order they were made on each resource they use (as
    tf.function orders them), and those using ``variables`` are returned for the
    caller to group. Other replicas' model_fn ops are made in that window too
    (their threads run while this one waits in the merge): their reads of the
    model's variables are ordered before its update, as in tf.function.
    """
    handles = set()
    for variable in variables:
        for component in strategy.experimental_local_results(_tf_variable(variable)):
            handles.add(id(_tf_variable(component).handle))
    written = {id(i) for e, i in graph.captures if id(e) in handles}
    last, used = {}, []
    for op in graph.get_operations()[start:]:
        resources = [id(t) for t in op.inputs if t.dtype == tf.resource]
        for key in resources:
            if key in last and last[key] is not op:
                op._add_control_input(last[key])  # pylint: disable=protected-access
            last[key] = op
        if written.intersection(resources):
            used.append(op)
    return used
