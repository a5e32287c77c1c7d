"""Legacy model_fns with Keras metric objects and Scaffolds, for the runner's tests.

Loaded by path (`load`), also inside subprocesses; uses the data of ``_models.py``.
Every random initializer has its own op seed.
"""

import importlib.util
import os
import pathlib

import numpy as np
import tensorflow as tf

from estimator_spec_compat import ModeKeys
from estimator_spec_compat.spec import EstimatorSpec
from estimator_spec_compat.tpu_spec import TPUEstimatorSpec

v1 = tf.compat.v1
HERE = pathlib.Path(__file__).parent
N_FEATURES, N_CLASSES, HIDDEN = 6, 3, 8


def load(name):
    """Loads ``tests/runner/<name>.py`` by path (test modules cannot import each other)."""
    spec = importlib.util.spec_from_file_location(f"runner_test_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: Code that defines ``extra`` (this module) and ``models`` (``_models.py``) in a subprocess.
LOAD_CODE = f"""
import importlib.util as _util
_spec = _util.spec_from_file_location("runner_test__extra_models", {str(HERE / "_extra_models.py")!r})
extra = _util.module_from_spec(_spec)
_spec.loader.exec_module(extra)
models = extra.load("_models")
"""


# --- Keras metric objects in eval_metric_ops ---------------------------------------


def linear_logits(features):
    w = v1.get_variable("w", [N_FEATURES, N_CLASSES], initializer=v1.glorot_uniform_initializer(1))
    return tf.matmul(features["x"], w)


def keras_metrics_model_fn(features, labels, mode, params):
    """eval_metric_ops holds Keras metric objects the model_fn updated itself."""
    logits = linear_logits(features)
    classes = tf.argmax(logits, 1)
    probs = tf.nn.softmax(logits)
    if mode == ModeKeys.PREDICT:
        return EstimatorSpec(mode, predictions={"class": classes})
    loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
    step = v1.train.get_global_step()
    train_op = v1.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=step)
    mean_p0 = tf.keras.metrics.Mean(name="mean_p0")
    mean_p0.update_state(probs[:, 0])
    sparse_acc = tf.keras.metrics.SparseCategoricalAccuracy(name="sparse_acc")
    sparse_acc.update_state(labels, logits)
    acc = tf.keras.metrics.Accuracy(name="acc")
    acc.update_state(labels, classes)
    metrics = {"mean_p0": mean_p0, "sparse_acc": sparse_acc, "acc": acc}
    spec_class = EstimatorSpec
    if params.get("upstream_spec"):
        spec_class = tf.estimator.EstimatorSpec  # the estimator world only
    return spec_class(mode, loss=loss, train_op=train_op, eval_metric_ops=metrics)


def keras_metrics_tpu_model_fn(features, labels, mode, params):
    """TPU style: metric_fn returns Keras metric objects it updated."""
    logits = linear_logits(features)
    loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
    step = v1.train.get_global_step()
    train_op = v1.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=step)

    def metric_fn(labels, logits):
        mean_p0 = tf.keras.metrics.Mean(name="mean_p0")
        mean_p0.update_state(tf.nn.softmax(logits)[:, 0])
        sparse_acc = tf.keras.metrics.SparseCategoricalAccuracy(name="sparse_acc")
        sparse_acc.update_state(labels, logits)
        return {"mean_p0": mean_p0, "sparse_acc": sparse_acc}

    return TPUEstimatorSpec(
        mode, loss=loss, train_op=train_op, eval_metrics=(metric_fn, [labels, logits])
    )


def not_updated_model_fn(features, labels, mode):
    logits = linear_logits(features)
    loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
    step = v1.train.get_global_step()
    train_op = v1.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=step)
    metric = tf.keras.metrics.Mean(name="never_updated")
    return EstimatorSpec(mode, loss=loss, train_op=train_op, eval_metric_ops={"m": metric})


def expected_keras_metrics(w, x, y):
    """Every metric of keras_metrics_model_fn, by hand, for weights ``w`` (one pass)."""
    logits = x @ w
    shifted = logits - logits.max(1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    hits = (logits.argmax(1) == y).mean()
    loss = -log_probs[np.arange(len(y)), y].mean()
    return {"mean_p0": probs[:, 0].mean(), "sparse_acc": hits, "acc": hits, "loss": loss}


# --- Scaffold ----------------------------------------------------------------------

#: The source checkpoint's tensors: a warm start restores them into mlp/w0 and mlp/b0.
SOURCE = {
    "pretrained/w0": np.random.RandomState(11).randn(N_FEATURES, HIDDEN).astype("float32"),
    "pretrained/b0": np.random.RandomState(12).randn(HIDDEN).astype("float32"),
    "pretrained/unused": np.ones([2], "float32"),
}


class Calls(list):
    """The init_fn calls seen; shared, not copied, when Estimator deep-copies params."""

    def __deepcopy__(self, memo):
        return self


def write_source_checkpoint(folder):
    """Writes `SOURCE` as a name-based checkpoint; returns its prefix."""
    prefix = os.path.join(str(folder), "pretrained.ckpt")
    names = sorted(SOURCE)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(SOURCE[n]) for n in names],
    )
    return prefix


def _mlp(features):
    with v1.variable_scope("mlp"):
        w0 = v1.get_variable(
            "w0", [N_FEATURES, HIDDEN], initializer=v1.glorot_uniform_initializer(1)
        )
        b0 = v1.get_variable("b0", [HIDDEN], initializer=v1.zeros_initializer())
        h = tf.nn.relu(tf.matmul(features["x"], w0) + b0)
        w1 = v1.get_variable(
            "w1", [HIDDEN, N_CLASSES], initializer=v1.glorot_uniform_initializer(2)
        )
        return tf.matmul(h, w1), w0, b0


def _init_fn(kind, source, w0, b0, calls):
    """A warm-start init_fn, built in the model_fn as TF1 code built it."""
    if kind == "saver":
        saver = v1.train.Saver({"pretrained/w0": w0, "pretrained/b0": b0})

        def init_fn(scaffold, session):
            calls.append(scaffold)
            saver.restore(session, source)

        return init_fn
    reader = tf.train.load_checkpoint(source)
    assign_w0 = v1.assign(w0, reader.get_tensor("pretrained/w0"))
    value = v1.placeholder(tf.float32, [HIDDEN], name="b0_value")
    assign_b0 = b0.assign(value)

    def init_fn(scaffold, session):
        calls.append(scaffold)
        session.run(assign_w0)
        session.run([assign_b0], feed_dict={value: reader.get_tensor("pretrained/b0")})

    return init_fn


def scaffold_model_fn(features, labels, mode, params):
    """Warm-starts mlp/w0 and mlp/b0 from params['source'] in Scaffold.init_fn.

    params: ``kind`` ("saver": Saver.restore; "assign": assign ops, one fed), ``calls``
    (a list each init_fn call appends to), ``lr``, ``scaffold_modes`` (where to return
    the Scaffold; default all), ``max_to_keep`` (a Scaffold saver), ``tpu`` (a
    TPUEstimatorSpec with scaffold_fn).
    """
    logits, w0, b0 = _mlp(features)
    scaffold = None
    if mode in params.get("scaffold_modes", (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT)):
        init_fn = _init_fn(params["kind"], params["source"], w0, b0, params["calls"])
        saver = None
        if params.get("max_to_keep"):
            saver = v1.train.Saver(max_to_keep=params["max_to_keep"])
        scaffold = v1.train.Scaffold(init_fn=init_fn, saver=saver)
    predictions = {"probs": tf.nn.softmax(logits)}
    loss = train_op = None
    if mode != ModeKeys.PREDICT:
        loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
        optimizer = v1.train.GradientDescentOptimizer(params.get("lr", 0.1))
        train_op = optimizer.minimize(loss, global_step=v1.train.get_global_step())
    if params.get("tpu"):
        return TPUEstimatorSpec(
            mode,
            loss=loss,
            train_op=train_op,
            predictions=predictions,
            scaffold_fn=None if scaffold is None else (lambda: scaffold),
        )
    return EstimatorSpec(
        mode, loss=loss, train_op=train_op, predictions=predictions, scaffold=scaffold
    )


def ignored_fields_model_fn(features, labels, mode, params):
    """A Scaffold with fields the runner ignores (params['fields'] picks which)."""
    logits, _, _ = _mlp(features)
    loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
    train_op = v1.train.GradientDescentOptimizer(0.1).minimize(
        loss, global_step=v1.train.get_global_step()
    )
    fields = params["fields"]
    kwargs = {}
    if "init_op" in fields:
        kwargs["init_op"] = tf.no_op(name="custom_init_op")
    if "local_init_op" in fields:
        kwargs["local_init_op"] = v1.tables_initializer()
    if "keep_hours" in fields:
        kwargs["saver"] = v1.train.Saver(keep_checkpoint_every_n_hours=1.0)
    if "max_to_keep" in fields:
        kwargs["saver"] = v1.train.Saver(max_to_keep=3)
    return EstimatorSpec(mode, loss=loss, train_op=train_op, scaffold=v1.train.Scaffold(**kwargs))


def session_probe_model_fn(features, labels, mode, params):
    """An init_fn that uses the Session stand-in as params['probe'](scaffold, session)."""
    logits, w0, b0 = _mlp(features)
    loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
    train_op = v1.train.GradientDescentOptimizer(0.0).minimize(
        loss, global_step=v1.train.get_global_step()
    )
    v1.placeholder(tf.float32, [HIDDEN], name="b0_feed")
    tf.identity(w0, name="w0_value")
    scaffold = v1.train.Scaffold(init_fn=params["probe"])
    return EstimatorSpec(mode, loss=loss, train_op=train_op, scaffold=scaffold)
