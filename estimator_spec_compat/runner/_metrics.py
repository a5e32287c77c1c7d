"""Evaluation under the runner: Estimator's eval_metric_ops and TPUEstimator's eval_metrics.

The model_fn's ``tf.compat.v1.metrics`` run as written, in a pruned v1 graph
(`_v1_graph`); their variables live in the runner's store (local, plain — not
distributed — reset at each ``evaluate``). Update ops run every step; values are
read once at the end, as Estimator did after its last update (some v1 metrics,
e.g. ``recall``, read their variables before updating them in the same run).
Keras metric objects (``tf.keras.metrics.Mean`` ...) updated in the model_fn
work too: their variables are local like v1 metrics' (see `_store`), and the
graph's ops on those variables are their update ops.
"""

from estimator_spec_compat._compat import ModeKeys, tf
from estimator_spec_compat._host_fn import call_host_fn
from estimator_spec_compat.runner import _v1_graph

#: Variable scope of the runner's own mean-of-loss metric (Estimator's ``loss``).
LOSS_METRIC_SCOPE = "runner_eval_loss"


def _is_keras_metric(value):
    return hasattr(value, "update_state") and hasattr(value, "result")


def split_metric_ops(metric_ops, where):
    """``(values, update_ops)`` of an eval_metric_ops dict, read as Estimator read it.

    Call it inside the v1 graph the metrics were built in. A Keras metric object
    (updated inside the model_fn, as Estimator allowed) gives its ``result()``
    and, as update ops, the ops of this graph that use its variables: its
    ``update_state`` ops, which the model_fn rarely keeps (Estimator found them
    in ``Metric.updates``, which TF2 Keras no longer fills).

    Raises:
      ValueError: if a metric is named ``loss`` (reserved, as in Estimator), or a
        Keras metric was not updated in this graph (as Estimator).
    """
    values, updates = {}, []
    for name, metric in (metric_ops or {}).items():
        if name == "loss":
            raise ValueError(
                f"`{where}` has a metric named 'loss', which is reserved for the mean loss "
                "(as in Estimator). Rename it."
            )
        if _is_keras_metric(metric):
            updates.extend(_keras_metric_updates(metric, f"{where}[{name!r}]"))
            values[name] = metric.result()
        else:
            value, update = metric
            values[name] = value
            updates.append(update)
    return values, updates


def _keras_metric_updates(metric, where):
    graph = tf.compat.v1.get_default_graph()
    handles = {id(v.handle) for v in metric.variables}
    inside = {id(inner) for outer, inner in graph.captures if id(outer) in handles}
    ops = [op for op in graph.get_operations() if any(id(t) in inside for t in op.inputs)]
    if not ops:
        raise ValueError(
            f"`{where}` is a Keras metric ({getattr(metric, 'name', metric)!r}) that the "
            "model_fn did not update: call `update_state(...)` on it inside the model_fn, "
            "before returning it (as Estimator required)."
        )
    return ops


def _gathered_spec(tensor, replicas):
    dims = tensor.shape.as_list()
    if dims and dims[0] is not None:
        dims[0] *= replicas
    return tf.TensorSpec(dims, tensor.dtype)


class EvalFunctions:
    """The eval step's traced functions, built (and variables created) on construction.

    Args:
      trace: ``(mode, spec, has_labels, fetches_of) -> V1Function`` of the model_fn.
      spec: the per-replica element spec.
      has_labels: whether elements are (features, labels).
      replicas: the number of replicas.
      store: the runner's variable store.
      hook_fetches: the model spec -> hooks' tensors to fetch each step, or None.
    """

    def __init__(self, trace, spec, has_labels, replicas, store, hook_fetches=None):
        self._replicas = replicas
        self._metric_fn = None
        self._hook_fetches = hook_fetches
        self._values = {}  # the model_fn's metric values, in its v1 graph
        self.model = trace(ModeKeys.EVAL, spec, has_labels, self._model_fetches)
        result = self.model.result
        values = self._values
        self._model_values = self.model.prune_without_inputs(values) if values else dict
        tpu_spec = ()
        if result.eval_metrics is not None:
            tpu_spec = tf.nest.map_structure(
                lambda t: _gathered_spec(t, replicas), result.eval_metrics[1]
            )
        loss_spec = tf.TensorSpec([], result.loss.dtype)
        self.metrics = _v1_graph.trace(
            self._metric_graph,
            {"loss": loss_spec, "tpu": tpu_spec},
            lambda out: out[1],
            store.creator_scope,
        )
        self._metric_values = self.metrics.prune_without_inputs(self.metrics.result[0])

    def _model_fetches(self, spec):
        if spec.loss is None:
            raise ValueError("In EVAL mode the model_fn must return `loss` (as EstimatorSpec).")
        self._values, updates = split_metric_ops(spec.eval_metric_ops, "eval_metric_ops")
        with tf.control_dependencies(updates):  # unused outputs would be pruned away
            fetches = {"loss": tf.identity(spec.loss)}
        if updates:
            # Fetched as an operation, the updates are the pruned function's control
            # outputs: a call (inlined into the eval loop) ends only after them, so the
            # loop's automatic control dependencies order the replicas' updates of the
            # shared metric variables (Keras 3 updates by read-then-assign).
            fetches["updates"] = tf.group(*updates)
        if spec.eval_metrics is not None:
            self._metric_fn, fetches["tpu"] = spec.eval_metrics
        if self._hook_fetches is not None:
            fetches["hooks"] = self._hook_fetches(spec)
        return fetches

    def _metric_graph(self, inputs):
        values, updates = {}, []
        if self._metric_fn is not None:
            metric_ops = call_host_fn("eval_metrics", (self._metric_fn, inputs["tpu"]))
            values, updates = split_metric_ops(metric_ops, "eval_metrics")
        value, update = tf.compat.v1.metrics.mean(inputs["loss"], name=LOSS_METRIC_SCOPE)
        values["loss"] = value
        return values, tf.group(*updates, update)

    def body(self, strategy, element):
        """One eval step (in a loop, outside replica context).

        Returns:
          The hooks' tensors of the first replica (``hook_fetches``), or None.
        """
        out = strategy.run(self._run_model, (element,))
        loss = strategy.reduce(tf.distribute.ReduceOp.MEAN, out["loss"], axis=None)
        tpu = out.get("tpu", ())
        if self._replicas > 1:
            tpu = tf.nest.map_structure(lambda t: strategy.gather(t, axis=0), tpu)
        self.metrics.run(loss, *tf.nest.flatten(tpu))
        if "hooks" not in out:
            return None
        return tf.nest.map_structure(
            lambda v: strategy.experimental_local_results(v)[0], out["hooks"]
        )

    def _run_model(self, element):
        out = self.model.run(*tf.nest.flatten(element))
        return {k: v for k, v in out.items() if v is not None}  # operations give None

    def values(self):
        """Every metric's value (and the mean loss), read after the last update."""
        return {**self._model_values(), **self._metric_values()}
