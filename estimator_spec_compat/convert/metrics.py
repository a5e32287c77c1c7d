"""Running a legacy ``metric_fn`` (``tf.compat.v1.metrics.*``) in TF2, on Keras metrics.

``tf.compat.v1.metrics.*`` build graph-collection variables and raise
``RuntimeError`` when executed eagerly; inside ``tf.function`` they would create
new variables on every trace. :class:`LegacyMetrics` serves those calls from
Keras metric objects it owns, with v1's numerics, eagerly, inside
``tf.function`` and under a ``tf.distribute`` strategy. :func:`to_keras_metric`
is the explicit mapping for code that is being rewritten.

Example (one loop of evaluation)::

    def metric_fn(labels, probabilities):
        return {
            "auc": tf.compat.v1.metrics.auc(labels, probabilities),
            "acc": tf.compat.v1.metrics.accuracy(labels, probabilities > 0.5),
        }

    legacy = LegacyMetrics()

    @tf.function
    def eval_step(labels, probabilities):
        return legacy.run_metric_fn(metric_fn, [labels, probabilities])

    for labels, probabilities in batches:
        eval_step(labels, probabilities)
    print(legacy.results())   # {"auc": 0.87..., "acc": 0.81...}
    legacy.reset()            # before the next evaluation

Thread safety: :meth:`LegacyMetrics.scope` replaces the functions on the
process-wide ``tf.compat.v1.metrics`` module while it is open (restored in
``finally``). One ``LegacyMetrics`` object may have its scope open at a time in
the process; it may be entered again by any thread (replica threads of
``MirroredStrategy`` do), and each thread counts its own calls. Opening the
scope of a second object while the first one's is open raises ``ValueError``.
Code that bound a v1 function before the scope opened
(``from tensorflow.compat.v1.metrics import auc``) is not redirected.
"""

import contextlib
import threading

from estimator_spec_compat import _compat
from estimator_spec_compat.convert import _metric_config, _metric_patch, _metric_table
from estimator_spec_compat.convert._metric_mapping import supported_v1_metrics, to_keras_metric

tf = _compat.tf

__all__ = ["LegacyMetrics", "to_keras_metric", "supported_v1_metrics"]


def _read(metric):
    return tf.convert_to_tensor(metric.result())


def _is_keras_metric(value):
    return all(hasattr(value, attr) for attr in ("update_state", "result", "reset_state"))


class _CallLog:
    """One scope entry on one thread: its call counts and the values it handed out.

    Calls are counted per graph: each ``tf.function`` trace (its own FuncGraph)
    starts again at position 0, also when the scope was opened outside the
    function; eager calls share one count.
    """

    def __init__(self):
        self.calls = {}  # graph (None when eager) -> calls made so far
        self.values = {}  # id(value) -> (value, index); the value is kept alive

    def next_index(self):
        graph = None if tf.executing_eagerly() else tf.compat.v1.get_default_graph()
        index = self.calls.get(graph, 0)
        self.calls[graph] = index + 1
        return index


class LegacyMetrics:
    """Serves ``tf.compat.v1.metrics.*`` calls from Keras metric objects it owns.

    Every supported v1 call becomes one Keras metric (stock Keras where its
    numerics are v1's, a ``V1*`` class otherwise; see :func:`to_keras_metric`).
    Values equal the v1 metric's over the same batches, with the same weights.

    Example::

        legacy = LegacyMetrics()
        with legacy.scope():
            value, update_op = tf.compat.v1.metrics.mean(x, weights=w)
        legacy.results()  # {0: <mean so far>}
    """

    def __init__(self):
        self._metrics = []  # Keras metrics, in creation order
        self._signatures = []  # (v1_name, config items, name) per position
        self._keys = {}  # eval_metric_ops key -> position
        self._passthrough = {}  # eval_metric_ops key -> user's Keras metric
        self._local = threading.local()
        self._lock = threading.RLock()

    # -- the scope --------------------------------------------------------------------

    @contextlib.contextmanager
    def scope(self):
        """Context manager inside which ``tf.compat.v1.metrics.<name>(...)`` is served here.

        Each call returns ``(value, update_op)`` like v1: the metric is updated
        first and ``value`` read after the update (inside ``tf.function`` the value
        of a step includes its batch; the last step's values are the final ones).
        ``update_op`` is a tensor that depends on the update. The n-th call made
        in a scope (per thread, and per ``tf.function`` trace) reuses the n-th
        metric created at the first entry, so a step may be traced many times
        without new variables; a different v1 function or configuration at the
        same position raises ``ValueError``. Open the scope once per step (as
        :meth:`run_metric_fn` does): eager calls in one open scope keep counting.

        Under a ``tf.distribute`` strategy, metrics are created in the strategy's
        scope; in replica context (``strategy.run``) each replica adds its batch and
        the value is aggregated over replicas; in cross-replica context the whole
        batch is added once. In a TF1 graph (``tf.compat.v1.Session``) the real v1
        function runs instead. ``metrics_collections`` / ``updates_collections``
        receive the value / update op, as in v1.

        Yields:
          This object.

        Raises:
          ValueError: if another ``LegacyMetrics`` has its scope open.
        """
        _metric_patch.open_patch(self)
        logs = self._logs()
        logs.append(_CallLog())
        try:
            yield self
        finally:
            logs.pop()
            _metric_patch.close_patch(self)

    def _logs(self):
        if not hasattr(self._local, "logs"):
            self._local.logs = []
        return self._local.logs

    def _current_log(self):
        logs = self._logs()
        if not logs:  # a thread (a replica) that did not open the scope itself
            logs.append(_CallLog())
        return logs[-1]

    # -- serving one call ---------------------------------------------------------------

    def _serve(self, v1_name, arguments):
        entry = _metric_table.ENTRIES[v1_name]
        config = _metric_config.normalise(v1_name, entry.config_args, arguments)
        name = arguments.get("name") or v1_name
        log = self._current_log()
        index = log.next_index()
        metric = self._metric_at(index, (v1_name, tuple(sorted(config.items())), name), entry)
        value = _update_and_read(metric, entry, arguments)
        update_op = tf.identity(value)
        log.values[id(value)] = (value, index)
        if arguments.get("metrics_collections"):
            tf.compat.v1.add_to_collections(arguments["metrics_collections"], value)
        if arguments.get("updates_collections"):
            tf.compat.v1.add_to_collections(arguments["updates_collections"], update_op)
        return value, update_op

    def _metric_at(self, index, signature, entry):
        """The metric at ``index``, created (once, in cross-replica context) if new."""
        if index >= len(self._metrics):
            replica_context = tf.distribute.get_replica_context()
            if tf.distribute.has_strategy() and replica_context is not None:
                replica_context.merge_call(
                    _no_autograph(lambda strategy: self._create(index, signature, entry))
                )
            else:
                self._create(index, signature, entry)
        if self._signatures[index] != signature:
            raise ValueError(
                f"Legacy metric call #{index} in this scope is {_describe(signature)}, but the "
                f"metric created at that position serves {_describe(self._signatures[index])}. "
                "A metric_fn must make the same v1 metric calls, in the same order, every time."
            )
        return self._metrics[index]

    def _create(self, index, signature, entry):
        with self._lock:
            if index < len(self._metrics):
                return
            v1_name, config_items, name = signature
            strategy = tf.distribute.get_strategy() if tf.distribute.has_strategy() else None
            with tf.init_scope():
                with strategy.scope() if strategy is not None else contextlib.nullcontext():
                    metric = entry.build(dict(config_items), name)
            self._metrics.append(metric)
            self._signatures.append(signature)

    # -- metric_fn --------------------------------------------------------------------

    @tf.autograph.experimental.do_not_convert
    def run_metric_fn(self, metric_fn, tensors):
        """Calls a TPUEstimatorSpec-style ``metric_fn`` inside :meth:`scope`.

        ``metric_fn`` runs as graph code, as under Estimator: AutoGraph does not
        convert it (nor this bridge), also inside ``tf.function``.

        Args:
          metric_fn: callable returning an ``eval_metric_ops`` dict of
            ``(value, update_op)`` pairs (from ``tf.compat.v1.metrics``) or Keras
            metric objects (already updated by ``metric_fn``; passed through).
          tensors: list/tuple (positional arguments) or dict (keyword arguments).

        Returns:
          The ``eval_metric_ops`` dict ``metric_fn`` returned.

        Raises:
          TypeError: if ``metric_fn`` is not callable, ``tensors`` is not a
            list/tuple/dict, or ``metric_fn`` does not return a dict of pairs or
            Keras metrics.

        Example::

            legacy.run_metric_fn(metric_fn, {"labels": y, "logits": logits})
        """
        if not callable(metric_fn):
            raise TypeError(f"`metric_fn` ({metric_fn!r}) must be callable.")
        if not isinstance(tensors, list | tuple | dict):
            raise TypeError(
                f"`tensors` ({type(tensors).__name__}) must be a list/tuple (positional "
                "arguments of metric_fn) or a dict (keyword arguments)."
            )
        with self.scope():
            ops = metric_fn(**tensors) if isinstance(tensors, dict) else metric_fn(*tensors)
            if not isinstance(ops, dict):
                raise TypeError(
                    f"`metric_fn` must return a dict of eval_metric_ops, got {type(ops).__name__}."
                )
            self.track(ops)
        return ops

    @tf.autograph.experimental.do_not_convert
    def track(self, eval_metric_ops):
        """Keys :meth:`results` by an ``eval_metric_ops`` dict built in the open scope.

        :meth:`run_metric_fn` does this itself; call it for a ``model_fn`` whose
        ``EstimatorSpec.eval_metric_ops`` came from v1 calls made in this scope.

        Args:
          eval_metric_ops: dict of ``(value, update_op)`` pairs or Keras metrics.

        Returns:
          ``eval_metric_ops``, unchanged.

        Raises:
          ValueError: if this thread has no open :meth:`scope`.
          TypeError: if ``eval_metric_ops`` is not such a dict.

        Example::

            with legacy.scope():
                spec = model_fn(features, labels, mode="eval", params=params)
                legacy.track(spec.eval_metric_ops)
        """
        if not self._logs():
            raise ValueError(
                "`track` must be called inside `scope()` (on the thread that made the calls)."
            )
        if not isinstance(eval_metric_ops, dict):
            raise TypeError(f"`eval_metric_ops` ({type(eval_metric_ops).__name__}) must be a dict.")
        log = self._current_log()
        for key, op in eval_metric_ops.items():
            if _is_keras_metric(op):
                self._passthrough[key] = op
            elif isinstance(op, tuple) and len(op) == 2:
                found = log.values.get(id(op[0]))
                if found is not None and found[0] is op[0]:
                    self._keys[key] = found[1]
            else:
                raise TypeError(
                    f"eval_metric_ops[{key!r}] ({op!r}) must be a (value, update_op) tuple "
                    "or a Keras metric object."
                )
        return eval_metric_ops

    # -- reading and resetting ----------------------------------------------------------

    def results(self):
        """Current values: ``{eval_metric_ops key or call position: value}``.

        Keys come from :meth:`run_metric_fn` (a metric whose value the metric_fn
        returned unchanged, and passed-through Keras metrics); other metrics are
        listed under their call position (int). Values are numpy when executing
        eagerly (read them after the loop, outside ``tf.function``), tensors
        otherwise.
        """
        values = {}
        for key, index in self._keys.items():
            values[key] = _read(self._metrics[index])
        for key, metric in self._passthrough.items():
            values[key] = _read(metric)
        named = set(self._keys.values())
        for index, metric in enumerate(self._metrics):
            if index not in named:
                values[index] = _read(metric)
        if tf.executing_eagerly():
            values = {key: value.numpy() for key, value in values.items()}
        return values

    def reset(self):
        """Resets every owned metric and every passed-through Keras metric to zero."""
        for metric in [*self._metrics, *self._passthrough.values()]:
            metric.reset_state()

    @property
    def metrics(self):
        """The Keras metric objects this object owns, in creation order."""
        return list(self._metrics)


def _describe(signature):
    v1_name, config_items, name = signature
    options = ", ".join(f"{key}={value!r}" for key, value in config_items)
    return f"tf.compat.v1.metrics.{v1_name}({options}) named {name!r}"


def _update_and_read(metric, entry, arguments):
    """Adds one v1 call's batch to ``metric``; returns its value after the update."""
    if not tf.distribute.has_strategy():
        metric.update_state(**entry.update_kwargs(arguments, None))
        return _read(metric)
    strategy = tf.distribute.get_strategy()
    if tf.distribute.in_cross_replica_context():
        # Sync-on-read variables take updates in replica context only: every
        # replica runs the update, all but the first with zero weights.
        def replica_update():
            replica_id = tf.distribute.get_replica_context().replica_id_in_sync_group
            mask = tf.cast(tf.equal(replica_id, 0), tf.float32)
            metric.update_state(**entry.update_kwargs(arguments, mask))

        strategy.run(_no_autograph(replica_update))
        return _read(metric)
    metric.update_state(**entry.update_kwargs(arguments, None))
    return tf.distribute.get_replica_context().merge_call(_no_autograph(lambda _: _read(metric)))


def _no_autograph(function):
    """``function`` as AutoGraph should take it: plain python, nothing to convert."""
    return tf.autograph.experimental.do_not_convert(function)
