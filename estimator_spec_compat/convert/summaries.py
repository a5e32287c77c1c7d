"""A legacy TPUEstimator ``host_call`` run TF2-style, writing ``tf.summary`` events.

On TPU, ``host_call = (fn, tensors)`` ran on the host every step: each tensor
was concatenated along axis 0 across the replicas, then ``fn`` was called with
them (a list gives positional arguments, a dict keyword arguments).  In TF2
the summaries ``fn`` writes need a default writer and an explicit step.
:func:`run_host_call` gives both, with the same concatenation, eagerly or
inside a ``tf.function``, for one device or a ``tf.distribute`` strategy.

What works inside ``fn``:

* ``tf.summary.*`` / ``tf.compat.v2.summary.*`` (the TF2 API), with the step
  given here or an explicit ``step=`` argument. Bodies that open their own
  writer with ``create_file_writer(...).as_default()`` work eagerly; inside a
  ``tf.function`` TF2 destroys such a writer when the trace ends, so there
  drop that line and pass ``writer=`` instead;
* ``tf.compat.v1.summary.scalar/histogram/image/audio/text``: TF itself writes
  them through the default writer when one is set with a step, which this
  function does;
* other v1 summary ops that only return a serialized ``Summary`` and add it to
  the ``summaries`` collection (e.g. ``tf.compat.v1.summary.tensor_summary``):
  this function writes them with ``tf.summary.experimental.write_raw_pb``.

``tf.compat.v1.summary.merge_all()`` raises eagerly (TF's RuntimeError); it
is not needed here, since every summary is written when it is made.  In TF >=
2.16, ``tf.summary.scalar`` and the other plugin summaries (and TF's v1 bridge)
need the ``tensorboard`` package; ``tf.summary.write`` and v1 ``tensor_summary``
do not.
"""

import collections
import contextlib
import inspect

from estimator_spec_compat._compat import tf
from estimator_spec_compat._errors import short_repr
from estimator_spec_compat.tpu_spec import call_host_fn

_SUMMARIES = tf.compat.v1.GraphKeys.SUMMARIES


def run_host_call(host_call, *, step, writer=None, strategy=None):
    """Runs a ``(fn, tensors)`` host_call with TPU semantics and TF2 summaries.

    Each tensor that is a per-replica value (returned by ``strategy.run``) is
    concatenated along axis 0 across replicas (``strategy.gather``); every
    tensor must therefore be batch-major (rank >= 1), as on TPU. Then ``fn``
    is called with them (list -> positional, dict -> keyword arguments) inside
    ``writer.as_default(step=step)``.  Call it in cross-replica context
    (outside ``strategy.run``), eagerly or inside a ``tf.function``.

    Example:
        >>> def host_fn(gs, loss):
        ...     tf.summary.scalar("loss", tf.reduce_mean(loss), step=gs[0])
        >>> writer = tf.summary.create_file_writer(model_dir)
        >>> loss = strategy.run(step_fn, (batch,))         # per-replica, shape [n]
        >>> run_host_call((host_fn, [tf.reshape(gs, [1]), loss]), step=gs, writer=writer,
        ...               strategy=strategy)

    Args:
      host_call: a ``(fn, tensors)`` pair (``TPUEstimatorSpec.host_call``),
        tensors a list/tuple or a dict; or None (nothing is done).
      step: the summary step (int, int64 tensor or variable); required.
      writer: a ``tf.summary.SummaryWriter``, or None to use the caller's
        default writer (without one, ``tf.summary`` writes nothing).
      strategy: the ``tf.distribute.Strategy`` that made the per-replica
        values; default: the current one (``tf.distribute.get_strategy()``).

    Returns:
      Whatever ``fn`` returns (None for None).

    Raises:
      TypeError: if ``host_call`` is not a (callable, list/tuple/dict) pair,
        its tensors do not fit ``fn``'s arguments, or ``writer`` is no writer.
      ValueError: if ``step`` is None, a tensor has rank 0, per-replica values
        come without their strategy, or it is called inside ``strategy.run``.
    """
    if host_call is None:
        return None
    fn, tensors = _check_host_call(host_call)
    if step is None:
        raise ValueError(
            "`step` (None) must be given: TF2 summaries need an explicit step. Pass the "
            "global step (a variable or int)."
        )
    if writer is not None and not isinstance(writer, tf.summary.SummaryWriter):
        raise TypeError(
            f"`writer` ({short_repr(writer)}) must be a tf.summary.SummaryWriter (from "
            "tf.summary.create_file_writer) or None."
        )
    strategy = _check_strategy(strategy)
    tensors = _concatenated(tensors, strategy)
    with _summary_context(writer, step):
        graph = tf.compat.v1.get_default_graph()
        collected = graph.get_collection_ref(_SUMMARIES)
        start = len(collected)
        result = call_host_fn("host_call", (fn, tensors))
        _write_v1_summaries(collected, start, step)
    return result


def _check_host_call(host_call):
    if not isinstance(host_call, tuple | list) or len(host_call) != 2:
        raise TypeError(
            f"`host_call` ({short_repr(host_call)}) must be a (fn, tensors) pair, e.g. "
            "(host_fn, [loss]) or (host_fn, {'loss': loss})."
        )
    fn, tensors = host_call
    if not callable(fn):
        raise TypeError(f"`host_call[0]` ({short_repr(fn)}) must be callable.")
    if not isinstance(tensors, tuple | list | collections.abc.Mapping):
        raise TypeError(
            f"`host_call[1]` ({short_repr(tensors)}) must be a list/tuple (positional arguments) "
            "or a dict (keyword arguments) of tensors."
        )
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have no signature
        return fn, tensors
    try:
        if isinstance(tensors, collections.abc.Mapping):
            signature.bind(**tensors)
        else:
            signature.bind(*tensors)
    except TypeError as error:
        raise TypeError(
            f"`host_call[1]` ({short_repr(tensors)}) does not fit the arguments of "
            f"`{getattr(fn, '__name__', fn)}{signature}`: {error}. Pass one tensor per argument "
            "(list) or one per argument name (dict)."
        ) from None
    return fn, tensors


def _check_strategy(strategy):
    if strategy is None:
        strategy = tf.distribute.get_strategy()
    elif not isinstance(strategy, tf.distribute.Strategy):
        raise TypeError(
            f"`strategy` ({short_repr(strategy)}) must be a tf.distribute.Strategy or None."
        )
    if tf.distribute.has_strategy() and not tf.distribute.in_cross_replica_context():
        raise ValueError(
            "run_host_call was called inside `strategy.run` (replica context). Call it "
            "outside, on the per-replica values `strategy.run` returns, as TPUEstimator did "
            "on the host."
        )
    return strategy


def _concatenated(tensors, strategy):
    """The tensors with per-replica values concatenated along axis 0."""
    items = tensors.items() if isinstance(tensors, collections.abc.Mapping) else enumerate(tensors)
    problems, result = [], {}
    default = strategy is tf.distribute.get_strategy() and not tf.distribute.has_strategy()
    for key, value in items:
        where = f"host_call[1][{key!r}]"
        if isinstance(value, tf.distribute.DistributedValues):
            if default:
                raise ValueError(
                    f"`{where}` is a per-replica value but no strategy is given. Pass "
                    "`strategy=` (the one whose `run` made it) or call inside `strategy.scope()`."
                )
            parts = strategy.experimental_local_results(value)
            rank = parts[0].shape.rank
            value = strategy.gather(value, axis=0) if rank else value
        else:
            value = tf.convert_to_tensor(value)
            rank = value.shape.rank
        if rank == 0:
            problems.append(f"`{where}` has rank 0")
        result[key] = value
    if problems:
        raise ValueError(
            f"{'; '.join(problems)}. host_call tensors are concatenated along axis 0 across "
            "replicas (TPU semantics), so each needs a batch dimension: reshape scalars, e.g. "
            "`tf.reshape(loss, [1])`."
        )
    if isinstance(tensors, collections.abc.Mapping):
        return result
    return [result[i] for i in range(len(tensors))]


@contextlib.contextmanager
def _summary_context(writer, step):
    if writer is not None:
        with writer.as_default(step=step):
            yield
        return
    previous = tf.summary.experimental.get_step()
    tf.summary.experimental.set_step(step)
    try:
        yield
    finally:
        tf.summary.experimental.set_step(previous)


def _write_v1_summaries(collected, start, step):
    """Writes v1 Summary protos that ``fn`` added to the collection, then drops them."""
    made = list(collected[start:])
    if not made:
        return
    del collected[start:]
    serialized = tf.stack([tf.reshape(s, []) for s in made])
    tf.summary.experimental.write_raw_pb(serialized, step=step)
