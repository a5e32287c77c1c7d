"""One validation function per spec field, shared by EstimatorSpec and TPUEstimatorSpec.

Each function takes a `Checker`, records every problem it finds (it never
raises for bad input) and returns the normalised value, following upstream's
normalisations (``model_fn.py`` of tensorflow-estimator 2.15.0).
"""

import warnings

from estimator_spec_compat._checker import is_tensor
from estimator_spec_compat._compat import ModeKeys, tf
from estimator_spec_compat._errors import given

MODES = (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT)
_Scaffold = tf.compat.v1.train.Scaffold
_SessionRunHook = tf.compat.v1.train.SessionRunHook
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
    """Whether ``if mode == ModeKeys.X:`` works, as upstream's checks evaluate it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NumPy warns on the truth of an empty array
            return all(isinstance(bool(value == key), bool) for key in MODES)
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
            ck.add(
                "loss",
                loss,
                f"is required in mode {mode!r}.",
                "return the scalar loss Tensor.",
                upstream="Missing loss.",
            )
        return loss
    if not is_tensor(loss):
        ck.add(
            "loss",
            loss,
            "must be a Tensor.",
            "return a scalar Tensor, e.g. `tf.compat.v1.losses.mean_squared_error(...)`; "
            "a Python or NumPy number cannot be trained.",
            kind="type",
            upstream=f"loss must be Tensor, given: {given(loss)}",
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
            upstream=f"Loss must be scalar, given: {given(loss)}",
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
                upstream="Missing train_op.",
            )
        return train_op
    if not isinstance(train_op, tf.Operation) and not is_tensor(train_op):
        ck.add(
            "train_op",
            train_op,
            "must be an Operation, Tensor or Variable.",
            "pass the op returned by `optimizer.minimize(...)` (or `tf.group(...)`).",
            kind="type",
            upstream=f"train_op must be Operation or Tensor, given: {given(train_op)}",
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


def _check_tensor(ck, field, value, fix, *, upstream_field, key=None):
    if not is_tensor(value):
        upstream = f"{upstream_field} must be Tensor, given: {given(value)}"
        ck.add(field, value, "must be a Tensor.", fix, kind="type", upstream=upstream)
        return False
    ck.check_graph(field, value, "prediction values", key)
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
                upstream="Missing predictions.",
            )
        return {}
    fix = "convert it with `tf.convert_to_tensor` inside model_fn (NumPy values are rejected)."
    if isinstance(predictions, dict):
        tensors = []
        for key, value in predictions.items():
            field = f"predictions[{key!r}]"
            if not isinstance(key, str):
                ck.add_strict(field, key, "keys must be strings.", "use a string key.", kind="type")
            if _check_tensor(ck, field, value, fix, upstream_field=f"predictions[{key}]", key=key):
                tensors.append((field, value))
        predictions = dict(predictions)
    else:
        tensors = (
            [("predictions", predictions)]
            if _check_tensor(ck, "predictions", predictions, fix, upstream_field="predictions")
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
        elif rank is not None:
            # An int under either TensorShape behaviour (`disable_v2_tensorshape()`
            # makes `shape[0]` an unhashable Dimension).
            size = tf.compat.dimension_value(tensor.shape[0])
            if size is not None:
                leading.setdefault(size, field)
    if len(leading) > 1:
        sizes = ", ".join(f"{field}: {size}" for size, field in leading.items())
        ck.add_strict(
            field_name,
            sizes,
            f"tensors must share one leading (batch) dimension: {why}.",
            "give every tensor the batch size as its first dimension.",
        )


def check_hooks(ck, field, hooks):
    """An iterable of SessionRunHook, normalised to a tuple."""
    if hooks is None:
        return ()
    if is_falsy(hooks) and not isinstance(hooks, (list, tuple)):
        # Upstream takes `tuple(hooks or [])`: any falsy value ('', 0, False) is no hooks.
        ck.add_strict(field, hooks, "must be an iterable of SessionRunHook.", "pass `[]` or None.")
        return ()
    if isinstance(hooks, (_SessionRunHook, str, bytes)) or is_tensor(hooks):
        ck.add(
            field,
            hooks,
            "must be an iterable of SessionRunHook.",
            "wrap it in a list: `[hook]`.",
            upstream=_upstream_hooks_message(hooks),
        )
        return ()
    try:
        hooks = tuple(hooks)
    except Exception as error:  # not iterable, or iterating itself fails
        ck.add(
            field,
            hooks,
            "must be an iterable of SessionRunHook.",
            "pass a list of hooks.",
            kind="type",
            upstream=given(error),
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
                upstream=f"All hooks must be SessionRunHook instances, given: {given(hook)}",
            )
    return hooks


def _upstream_hooks_message(hooks):
    """What upstream's ``tuple(hooks or [])`` and its loop said of a non-list ``hooks``."""
    if isinstance(hooks, (str, bytes)):  # iterated: its first element is no hook
        return f"All hooks must be SessionRunHook instances, given: {given(hooks[0])}"
    if isinstance(hooks, _SessionRunHook):
        return f"'{type(hooks).__name__}' object is not iterable"
    return ""  # a tensor: upstream's error depends on the context


def check_scaffold(ck, scaffold):
    """A Scaffold; None becomes a default Scaffold()."""
    if scaffold is None:
        return _Scaffold()
    if isinstance(scaffold, _Scaffold):
        return scaffold
    rule = "must be a tf.compat.v1.train.Scaffold or None."
    fix = "pass `tf.compat.v1.train.Scaffold(...)` or leave it out."
    if is_falsy(scaffold):  # upstream: `scaffold or Scaffold()`
        ck.add_strict("scaffold", scaffold, rule, fix, kind="type")
        return _Scaffold() if not ck.strict else scaffold
    ck.add(
        "scaffold",
        scaffold,
        rule,
        fix,
        kind="type",
        upstream=f"scaffold must be tf.train.Scaffold. Given: {given(scaffold)}",
    )
    return scaffold
