"""Validation of ``EstimatorSpec.eval_metric_ops`` (upstream: ``model_fn._validate_eval_metric_ops``).

A value is a ``(metric_value, update_op)`` tuple, as tf.compat.v1.metrics
functions return, or a Keras metric object. Upstream checks a tuple's parts only
through their graphs, after flattening: an Operation as the value
(``(tf.no_op(), loss)``) and nested tuples as the value are accepted, so they
are here, strict or lenient.
"""

from estimator_spec_compat._checker import is_tensor
from estimator_spec_compat._compat import in_function_graph, tf
from estimator_spec_compat._errors import given

_PAIR_FIX = "return the pair a tf.compat.v1.metrics function returns (a tuple, not a list)."
_METRIC_COLLECTIONS = (
    tf.compat.v1.GraphKeys.LOCAL_VARIABLES,
    tf.compat.v1.GraphKeys.METRIC_VARIABLES,
)


def _is_keras_metric(value):
    return (
        not isinstance(value, tuple)
        and callable(getattr(value, "update_state", None))
        and callable(getattr(value, "result", None))
    )


def _check_keras_metric(ck, key, field, metric, in_v1_graph):
    if not in_v1_graph:
        # Eagerly and in tf.function a Keras metric is stateful and needs no update op.
        return metric
    name = getattr(metric, "name", "")
    updates = list(getattr(metric, "updates", None) or ())
    if not updates:
        ck.add(
            field,
            metric,
            "is a Keras metric with no update op in this graph.",
            f"call `update_state(...)` on the {name!r} metric inside model_fn.",
            upstream=f'Please call update_state(...) on the "{name}" metric',
        )
        return metric
    for update in updates:
        if not ck.check_graph(field, update, "eval_metric_ops", key):
            return metric  # built in another graph: its result() cannot be read here
    result = metric.result()
    ck.check_graph(field, result, "eval_metric_ops", key)
    for var in metric.variables:
        for collection in _METRIC_COLLECTIONS:
            if var not in tf.compat.v1.get_collection(collection):
                tf.compat.v1.add_to_collection(collection, var)
    return (result, updates[0])


_PART_RULES = (
    "the metric value must be a Tensor (or a nested tuple of Tensors).",
    "the update_op must be an Operation or Tensor.",
)


def _check_pair(ck, key, field, pair):
    """Every leaf of the (possibly nested) pair: a Tensor or Operation of the default graph."""
    for index, part in enumerate(pair):
        try:
            leaves = tf.nest.flatten(part)
        except Exception as error:  # e.g. a dict with unsortable keys; upstream fails too
            ck.add(
                f"{field}[{index}]",
                part,
                f"{_PART_RULES[index]} It cannot be flattened: {error}",
                _PAIR_FIX,
                kind="type",
                upstream=given(error),
            )
            continue
        for leaf in leaves:
            if isinstance(leaf, tf.Operation) or is_tensor(leaf):
                ck.check_graph(field, leaf, "eval_metric_ops", key)
            elif ck.eager:
                # Upstream skips its graph checks eagerly, where `tf.no_op()` is None.
                if leaf is not None:
                    ck.add_strict(
                        f"{field}[{index}]", leaf, _PART_RULES[index], _PAIR_FIX, kind="type"
                    )
            else:
                ck.add(
                    f"{field}[{index}]",
                    leaf,
                    _PART_RULES[index],
                    _PAIR_FIX,
                    kind="type",
                    upstream=f"'{type(leaf).__name__}' object has no attribute 'graph'",
                )


def check_eval_metric_ops(ck, eval_metric_ops):
    """A dict of string -> (value, update_op) tuple or Keras Metric object."""
    if eval_metric_ops is None:
        return {}
    if not isinstance(eval_metric_ops, dict):
        ck.add(
            "eval_metric_ops",
            eval_metric_ops,
            "must be a dict of name -> (value, update_op) or Keras Metric.",
            "return a dict, e.g. `{'accuracy': tf.compat.v1.metrics.accuracy(labels, preds)}`.",
            kind="type",
            upstream=f"eval_metric_ops must be a dict, given: {given(eval_metric_ops)}",
        )
        return eval_metric_ops
    in_v1_graph = not ck.eager and not in_function_graph(ck.graph)
    result = {}
    for key, value in eval_metric_ops.items():
        field = f"eval_metric_ops[{key!r}]"
        if not isinstance(key, str):
            ck.add_strict(
                field, key, "keys must be strings.", "use a string metric name.", kind="type"
            )
        if _is_keras_metric(value):
            result[key] = _check_keras_metric(ck, key, field, value, in_v1_graph)
            continue
        if not isinstance(value, tuple) or len(value) != 2:
            ck.add(
                field,
                value,
                "must be a (metric_value, update_op) tuple or a Keras Metric.",
                _PAIR_FIX,
                kind="type",
                upstream="Values of eval_metric_ops must be (metric_value, update_op) tuples, "
                f"given: {given(value)} for key: {key}",
            )
        else:
            _check_pair(ck, key, field, value)
        result[key] = value
    return result
