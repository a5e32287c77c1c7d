"""SessionRunHooks as TF2 training-loop callbacks.

A ``SessionRunHook`` talks to a ``tf.compat.v1.Session``: it asks for tensors in
``before_run``, reads them in ``after_run`` and stops training through
``run_context.request_stop()``.  A TF2 loop has no session, so each standard hook
becomes a :class:`TrainingCallback` with the same behaviour:

=============================  ==============================================================
``StopAtStepHook``             :class:`StopAtStepCallback` (``num_steps`` / ``last_step``)
``NanTensorHook``              :class:`NanLossCallback` (raises
                               ``tf.compat.v1.train.NanLossDuringTrainingError`` or stops)
``LoggingTensorHook``          :class:`LoggingTensorCallback` (every_n_iter / every_n_secs /
                               at_end / formatter, same log lines)
``StepCounterHook``            :class:`StepCounterCallback` (``global_step/sec`` summary + log)
``SummarySaverHook``           :class:`SummarySaverCallback` (the serialized v1 summaries,
                               written with a ``tf.summary`` file writer)
``CheckpointSaverHook``        :class:`CheckpointSaverCallback` (save_steps / save_secs,
                               ``CheckpointSaverListener`` begin/before_save/after_save/end)
``FinalOpsHook``               :class:`FinalOpsCallback` (``final_ops_values``)
=============================  ==============================================================

Any other hook raises a ``TypeError`` that names its class and says how to write
the callback.

Why a protocol of our own rather than ``tf.keras.callbacks.Callback``: a Keras
callback is driven by ``Model.fit`` (it expects ``self.model``, stops through
``model.stop_training`` and only sees the metrics Keras computed), and its API
differs between Keras 2 and Keras 3.  Hooks need to ask the loop for *their own*
tensors (the loss a NanTensorHook watches, a summary op) and to stop the loop
without a model; a five-method protocol that any hand-written loop can drive
says exactly that.

How a loop drives callbacks (see :class:`CallbackList`)::

    callbacks = CallbackList(to_callbacks(spec.training_hooks))
    callbacks.on_train_begin(TrainingContext(step=int(step), checkpoint=ckpt))
    while True:
        logs = train_step()               # also returns callbacks.fetches(), evaluated
        if callbacks.on_step_end(int(step), logs):
            break
    callbacks.on_train_end(int(step), logs)

``step`` is the global step *after* the step's update (v1's ``after_run`` saw
the same value).  ``fetches()`` are the hooks' own tensors (or tensor names):
a loop that runs the model_fn inside ``tf.function`` converts the hooks where it
traces the model_fn and returns the fetched tensors from the step function.  Keep
the ``CallbackList`` of the first trace (it holds the state); if the function is
traced again, return the fetches of a ``CallbackList`` of *that* trace's hooks
(keys are positional, so they line up with the first one's).  Do not set a
default ``tf.summary`` writer around the step: v1 summary ops would then write
themselves every step (TF's TF1-summary bridge), besides the SummarySaverHook.
``on_train_end`` gets the last step's values: where v1 ran ``end`` fetches in one
more ``session.run`` after the last step (``FinalOpsHook``, ``LoggingTensorHook``
with ``at_end``), build those tensors after the train op so they read the
updated state.  In TF2 there is no session: listeners get ``session=None``.
"""

import dataclasses

from estimator_spec_compat import _compat
from estimator_spec_compat.convert._hook_callbacks import (
    FinalOpsCallback,
    LoggingTensorCallback,
    NanLossCallback,
    StopAtStepCallback,
    TrainingCallback,
    TrainingContext,
)
from estimator_spec_compat.convert._hook_writers import (
    CheckpointSaverCallback,
    StepCounterCallback,
    SummarySaverCallback,
)

__all__ = [
    "CallbackList",
    "CheckpointSaverCallback",
    "FinalOpsCallback",
    "LoggingTensorCallback",
    "NanLossCallback",
    "StepCounterCallback",
    "StopAtStepCallback",
    "SummarySaverCallback",
    "TrainingCallback",
    "TrainingContext",
    "to_callback",
    "to_callbacks",
]

# v1 hook class name (tf.compat.v1.train) -> callback class.
_CALLBACKS = {
    "StopAtStepHook": StopAtStepCallback,
    "NanTensorHook": NanLossCallback,
    "LoggingTensorHook": LoggingTensorCallback,
    "StepCounterHook": StepCounterCallback,
    "SummarySaverHook": SummarySaverCallback,
    "CheckpointSaverHook": CheckpointSaverCallback,
    "FinalOpsHook": FinalOpsCallback,
}

_HOW_TO_WRITE = (
    "subclass `estimator_spec_compat.convert.hooks.TrainingCallback`: move the tensors "
    "`before_run` asked for to `fetches()`, `after_run` to `on_step_end(step, logs)` "
    "(return True where it called `run_context.request_stop()`), `begin` / "
    "`after_create_session` to `on_train_begin(context)` and `end` to "
    "`on_train_end(step, logs)`."
)


def to_callback(hook):
    """Returns the TF2 callback that does what ``hook`` did.

    Args:
      hook: one of the standard ``tf.compat.v1.train`` hooks listed in the module
        docstring (exact class), or a :class:`TrainingCallback` (returned as is).

    Returns:
      A :class:`TrainingCallback`.

    Raises:
      TypeError: ``hook`` is another SessionRunHook (the message names its class
        and the callback to write) or not a hook at all.

    Example:
      >>> hook = tf.compat.v1.train.StopAtStepHook(last_step=1000)
      >>> to_callback(hook)   # StopAtStepCallback(last_step=1000)
    """
    if isinstance(hook, TrainingCallback):
        return hook
    v1_train = _compat.tf.compat.v1.train
    for class_name, callback_class in _CALLBACKS.items():
        if type(hook) is getattr(v1_train, class_name):
            return callback_class.from_hook(hook)
    kind = type(hook)
    what = f"{kind.__module__}.{kind.__qualname__}"
    if isinstance(hook, v1_train.SessionRunHook):
        raise TypeError(
            f"The hook {what} has no TF2 callback here (mapped: "
            f"{', '.join(_CALLBACKS)}; subclasses count as other hooks). Write one: "
            + _HOW_TO_WRITE
        )
    raise TypeError(
        f"`hook` ({what}) is not a `tf.compat.v1.train.SessionRunHook` nor a `TrainingCallback`."
    )


def to_callbacks(hooks):
    """Converts every hook of ``hooks`` (e.g. ``spec.training_hooks``) with :func:`to_callback`.

    Args:
      hooks: an iterable of hooks or callbacks; None means none.

    Returns:
      A list of :class:`TrainingCallback`.

    Raises:
      TypeError: for the first hook that cannot be converted; the message says
        which position it holds.

    Example:
      >>> callbacks = to_callbacks(spec.training_hooks)
    """
    callbacks = []
    for index, hook in enumerate(hooks or ()):
        try:
            callbacks.append(to_callback(hook))
        except TypeError as error:
            raise TypeError(f"`hooks[{index}]`: {error}") from None
    return callbacks


@dataclasses.dataclass(frozen=True)
class _Named:
    index: int
    callback: TrainingCallback


class CallbackList(TrainingCallback):
    """Drives several callbacks as one: merged fetches, every callback called.

    Fetch keys are prefixed with the callback's position (``"0/loss"``) so two
    callbacks may fetch under the same key.  ``on_step_end`` calls every callback
    (as v1 called every hook's ``after_run``) and asks to stop if any did.

    Example:
      >>> callbacks = CallbackList(to_callbacks(hooks))
      >>> fetches = callbacks.fetches()      # {"0/loss": <tensor>, ...}
    """

    def __init__(self, callbacks):
        self._callbacks = [_Named(index, to_callback(cb)) for index, cb in enumerate(callbacks)]

    @property
    def callbacks(self):
        """The callbacks, in order."""
        return [named.callback for named in self._callbacks]

    def fetches(self):
        """All callbacks' fetches; tensor names are looked up in the current graph.

        Call it where the model_fn's tensors live (inside the traced step
        function), as v1 looked names up in the session's graph.
        """
        return {
            f"{named.index}/{key}": _resolve(value)
            for named in self._callbacks
            for key, value in named.callback.fetches().items()
        }

    def _logs_of(self, named, logs):
        prefix = f"{named.index}/"
        return {key[len(prefix) :]: value for key, value in logs.items() if key.startswith(prefix)}

    def on_train_begin(self, context):
        for named in self._callbacks:
            named.callback.on_train_begin(context)

    def on_step_end(self, step, logs):
        stops = [
            named.callback.on_step_end(step, self._logs_of(named, logs))
            for named in self._callbacks
        ]
        return any(stops)

    def on_train_end(self, step, logs):
        for named in self._callbacks:
            named.callback.on_train_end(step, self._logs_of(named, logs))


def _resolve(fetch):
    """A tensor name ("loss:0", or an op name for its only output) -> the tensor."""
    if not isinstance(fetch, str):
        return fetch
    if _compat.tf.executing_eagerly():
        raise ValueError(
            f"The fetch {fetch!r} is a tensor name, which means nothing under eager "
            "execution; call `fetches()` inside the traced step function (or fetch the "
            "tensor itself)."
        )
    graph = _compat.tf.compat.v1.get_default_graph()
    try:
        if ":" in fetch:
            return graph.get_tensor_by_name(fetch)
        outputs = graph.get_operation_by_name(fetch).outputs
    except (KeyError, ValueError) as error:
        raise ValueError(
            f"The fetch {fetch!r} names no tensor of the current graph: {error}"
        ) from None
    if len(outputs) != 1:
        raise ValueError(
            f"The fetch {fetch!r} names an operation with {len(outputs)} outputs; name one "
            "tensor (e.g. 'op:0')."
        )
    return outputs[0]
