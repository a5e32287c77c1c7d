"""One validation function per spec field, shared by EstimatorSpec and TPUEstimatorSpec.

Each function takes a `Checker`, records every problem it finds (it never
raises for bad input) and returns the normalised value, following upstream's
normalisations (``model_fn.py`` of tensorflow-estimator 2.15.0).
"""

from estimator_spec_compat._checker import is_tensor
from estimator_spec_compat._compat import (
    ExportOutput,
    ModeKeys,
    PredictOutput,
    in_function_graph,
    tf,
)

MODES = (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT)
DEFAULT_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
_Scaffold = tf.compat.v1.train.Scaffold
_SessionRunHook = tf.compat.v1.train.SessionRunHook
_PAIR_FIX = "return the (value, update_op) pair a tf.compat.v1.metrics function returned."
_MODE_FIX = (
    "pass one of tf.estimator.ModeKeys.TRAIN/EVAL/PREDICT, e.g. the `mode` model_fn received."
)


def check_mode(ck, mode):
    """``mode`` must be one of the three ModeKeys values (upstream never checked).

    Returns the key the other checks compare with: ``mode`` itself when it is a
    string, else None. A mode that cannot even be compared with a string (a
    Tensor, an array) is rejected in lenient mode too, where upstream crashed.
    """
    if isinstance(mode, str) and mode in MODES:
        return mode
    if not isinstance(mode, str) and not _compares_with_str(mode):
        ck.add("mode", mode, f"must be one of {list(MODES)}.", _MODE_FIX, kind="type")
    else:
        ck.add_strict("mode", mode, f"must be one of {list(MODES)}.", _MODE_FIX)
    return mode if isinstance(mode, str) else None


def _compares_with_str(value):
    try:
        return isinstance(value == ModeKeys.TRAIN, bool)
    except Exception:  # TF and NumPy raise assorted types here
        return False


def is_falsy(value):
    """``not value``, False where truthiness is undefined (arrays, graph tensors)."""
    try:
        return not value
    except Exception:  # numpy/tf raise assorted types for an ambiguous truth value
        return False


def check_loss(ck, loss, mode):
    """Loss: required in TRAIN and EVAL; a floating Tensor with one element."""
    if loss is None:
        if mode in (ModeKeys.TRAIN, ModeKeys.EVAL):
            ck.add("loss", loss, f"is required in mode {mode!r}.", "return the scalar loss Tensor.")
        return loss
    if not is_tensor(loss):
        ck.add(
            "loss",
            loss,
            "must be a Tensor.",
            "return a scalar Tensor, e.g. `tf.compat.v1.losses.mean_squared_error(...)`; "
            "a Python or NumPy number cannot be trained.",
            kind="type",
        )
        return loss
    if not loss.dtype.is_floating:
        ck.add_strict(
            "loss",
            loss,
            f"must have a floating dtype, not {loss.dtype.name}.",
            "cast it: `tf.cast(loss, tf.float32)`.",
            kind="type",
        )
    shape = loss.shape
    if shape.num_elements() not in (None, 1):
        ck.add(
            "loss",
            loss,
            f"must be scalar (or shape [1]), given shape {shape}.",
            "reduce it, e.g. `tf.reduce_mean(loss)`.",
        )
        return loss
    ck.check_graph("loss", loss)
    if not shape.is_compatible_with([]) and not ck.problems:
        loss = tf.reshape(loss, [])
    return loss


def check_train_op(ck, train_op, mode):
    """train_op: required in TRAIN; an Operation, Tensor or Variable."""
    if train_op is None:
        if mode == ModeKeys.TRAIN:
            ck.add(
                "train_op",
                train_op,
                "is required in mode 'train'.",
                "return `optimizer.minimize(loss, global_step=...)` as `train_op`.",
            )
        return train_op
    if not isinstance(train_op, tf.Operation) and not is_tensor(train_op):
        ck.add(
            "train_op",
            train_op,
            "must be an Operation, Tensor or Variable.",
            "pass the op returned by `optimizer.minimize(...)` (or `tf.group(...)`).",
            kind="type",
        )
        return train_op
    if isinstance(train_op, tf.Variable):
        # Upstream takes `.op`, which is undefined for an eager Variable; eagerly
        # its value stands in, in a graph it is a Variable from outside the graph.
        try:
            train_op = train_op.op
        except AttributeError:
            if not ck.eager:
                ck.check_graph("train_op", train_op)
                return train_op
            train_op = train_op.value()
    ck.check_graph("train_op", train_op)
    return train_op


def _check_tensor(ck, field, value, fix):
    if not is_tensor(value):
        ck.add(field, value, "must be a Tensor.", fix, kind="type")
        return False
    ck.check_graph(field, value)
    return True


def check_predictions(ck, predictions, mode, *, batch_major=False):
    """Predictions: required in PREDICT; a Tensor or a dict of string -> Tensor."""
    if predictions is None:
        if mode == ModeKeys.PREDICT:
            ck.add(
                "predictions",
                predictions,
                "is required in mode 'infer'.",
                "return a Tensor or a dict of Tensors as `predictions`.",
            )
        return {}
    fix = "convert it with `tf.convert_to_tensor` inside model_fn (NumPy values are rejected)."
    if isinstance(predictions, dict):
        tensors = []
        for key, value in predictions.items():
            field = f"predictions[{key!r}]"
            if not isinstance(key, str):
                ck.add_strict(field, key, "keys must be strings.", "use a string key.", kind="type")
            if _check_tensor(ck, field, value, fix):
                tensors.append((field, value))
        predictions = dict(predictions)
    else:
        tensors = (
            [("predictions", predictions)]
            if _check_tensor(ck, "predictions", predictions, fix)
            else []
        )
    if batch_major and mode == ModeKeys.PREDICT:
        check_batch_major(
            ck, "predictions", tensors, "TPU predictions are split and concatenated along axis 0"
        )
    return predictions


def check_batch_major(ck, field_name, named_tensors, why):
    """Each tensor rank >= 1 and, where static, one shared leading dimension (strict only).

    ``named_tensors`` are ``(element name, tensor)`` pairs of the field ``field_name``.
    """
    leading = {}
    for field, tensor in named_tensors:
        if not is_tensor(tensor):
            continue
        rank = tensor.shape.rank
        if rank == 0:
            ck.add_strict(
                field,
                tensor,
                f"must be batch-major (rank >= 1): {why}.",
                "pass a per-example tensor, or `tf.reshape(x, [1])` / `tf.tile` a scalar.",
            )
        elif rank is not None and tensor.shape[0] is not None:
            leading.setdefault(tensor.shape[0], field)
    if len(leading) > 1:
        sizes = ", ".join(f"{field}: {size}" for size, field in leading.items())
        ck.add_strict(
            field_name,
            sizes,
            f"tensors must share one leading (batch) dimension: {why}.",
            "give every tensor the batch size as its first dimension.",
        )


def _is_keras_metric(value):
    return (
        not isinstance(value, tuple)
        and callable(getattr(value, "update_state", None))
        and callable(getattr(value, "result", None))
    )


def _check_keras_metric(ck, field, metric, in_v1_graph):
    if not in_v1_graph:
        # Eagerly and in tf.function a Keras metric is stateful and needs no update op.
        return metric
    updates = getattr(metric, "updates", None)
    if not updates:
        ck.add(
            field,
            metric,
            "is a Keras metric with no update op in this graph.",
            f"call `update_state(...)` on the {getattr(metric, 'name', '')!r} metric inside model_fn.",
        )
        return metric
    for var in metric.variables:
        for collection in (
            tf.compat.v1.GraphKeys.LOCAL_VARIABLES,
            tf.compat.v1.GraphKeys.METRIC_VARIABLES,
        ):
            if var not in tf.compat.v1.get_collection(collection):
                tf.compat.v1.add_to_collection(collection, var)
    return (metric.result(), updates[0])


def _check_metric_pair(ck, field, pair):
    # Upstream checks the elements only through their graphs, so never eagerly;
    # eagerly `tf.no_op()` is None, a fine update_op.
    add = ck.add if not ck.eager else ck.add_strict
    metric_value, update_op = pair
    if is_tensor(metric_value):
        ck.check_graph(f"{field}[0]", metric_value)
    else:
        add(
            f"{field}[0]",
            metric_value,
            "the metric value must be a Tensor.",
            _PAIR_FIX,
            kind="type",
        )
    if isinstance(update_op, tf.Operation) or is_tensor(update_op):
        ck.check_graph(f"{field}[1]", update_op)
    elif not (update_op is None and ck.eager):
        add(
            f"{field}[1]",
            update_op,
            "the update_op must be an Operation or Tensor.",
            _PAIR_FIX,
            kind="type",
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
            result[key] = _check_keras_metric(ck, field, value, in_v1_graph)
            continue
        if not isinstance(value, tuple) or len(value) != 2:
            ck.add(
                field,
                value,
                "must be a (metric_value, update_op) tuple or a Keras Metric.",
                "return the pair a tf.compat.v1.metrics function returns (a tuple, not a list).",
                kind="type",
            )
        else:
            _check_metric_pair(ck, field, value)
        result[key] = value
    return result


def check_export_outputs(ck, export_outputs, predictions, mode):
    """Checked in every mode; in PREDICT completed with upstream's defaults."""
    if export_outputs is None:
        if mode != ModeKeys.PREDICT or ck.problems:
            return export_outputs
        try:
            return {DEFAULT_SIGNATURE: PredictOutput(predictions)}
        except (TypeError, ValueError) as error:
            ck.add(
                "predictions", predictions, f"cannot be exported: {error}", "fix the predictions."
            )
            return export_outputs
    add = ck.add if mode == ModeKeys.PREDICT else ck.add_strict
    if not isinstance(export_outputs, dict):
        add(
            "export_outputs",
            export_outputs,
            "must be a dict of signature name -> ExportOutput.",
            "e.g. `{'serving_default': tf.estimator.export.PredictOutput(predictions)}`.",
            kind="type",
        )
        return export_outputs
    for key, value in export_outputs.items():
        field = f"export_outputs[{key!r}]"
        if not isinstance(key, str):
            ck.add_strict(
                field, key, "keys must be strings.", "use a string signature name.", kind="type"
            )
        if not isinstance(value, ExportOutput):
            add(
                field,
                value,
                "must be an ExportOutput (PredictOutput, ClassificationOutput, RegressionOutput).",
                "wrap the tensors, e.g. `tf.estimator.export.PredictOutput({'y': y})`.",
                kind="type",
            )
    if not export_outputs and mode == ModeKeys.PREDICT:
        ck.add_strict(
            "export_outputs",
            export_outputs,
            "is empty, so an export would have no serving signature.",
            "leave it out (None gives a default PredictOutput of the predictions) or add outputs.",
        )
    if len(export_outputs) > 1 and DEFAULT_SIGNATURE not in export_outputs:
        add(
            "export_outputs",
            sorted(map(str, export_outputs)),
            f"several outputs were given but none is the default {DEFAULT_SIGNATURE!r}.",
            f"name one of them {DEFAULT_SIGNATURE!r} "
            "(tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY).",
        )
    if mode == ModeKeys.PREDICT and len(export_outputs) == 1:
        ((key, value),) = export_outputs.items()
        if key != DEFAULT_SIGNATURE:
            export_outputs = {key: value, DEFAULT_SIGNATURE: value}
    return export_outputs


def check_hooks(ck, field, hooks):
    """An iterable of SessionRunHook, normalised to a tuple."""
    if hooks is None or (not ck.strict and is_falsy(hooks)):
        return ()  # upstream: `tuple(hooks or [])`
    if isinstance(hooks, (_SessionRunHook, str, bytes)) or is_tensor(hooks):
        ck.add(
            field, hooks, "must be an iterable of SessionRunHook.", "wrap it in a list: `[hook]`."
        )
        return ()
    try:
        hooks = tuple(hooks)
    except Exception:  # not iterable, or iterating itself fails
        ck.add(
            field,
            hooks,
            "must be an iterable of SessionRunHook.",
            "pass a list of hooks.",
            kind="type",
        )
        return ()
    for index, hook in enumerate(hooks):
        if not isinstance(hook, _SessionRunHook):
            ck.add(
                f"{field}[{index}]",
                hook,
                "must be a tf.compat.v1.train.SessionRunHook.",
                "subclass SessionRunHook, or pass the hook to the training loop instead.",
                kind="type",
            )
    return hooks


def check_scaffold(ck, scaffold):
    """A Scaffold; None becomes a default Scaffold()."""
    if scaffold is None:
        return _Scaffold()
    if not isinstance(scaffold, _Scaffold):
        if not ck.strict and is_falsy(scaffold):
            return _Scaffold()  # upstream: `scaffold or Scaffold()`
        ck.add(
            "scaffold",
            scaffold,
            "must be a tf.compat.v1.train.Scaffold or None.",
            "pass `tf.compat.v1.train.Scaffold(...)` or leave it out.",
            kind="type",
        )
    return scaffold
