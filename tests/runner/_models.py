"""Legacy model_fns and input_fns for the runner's tests, written as TF1 code was.

Loaded by path (``conftest.load_models``), also inside subprocesses. Every random
initializer has its own op seed, so the runner and the real Estimator start from
the same weights under the same ``tf_random_seed``.
"""

import numpy as np
import tensorflow as tf

from estimator_spec_compat import ModeKeys
from estimator_spec_compat.spec import EstimatorSpec
from estimator_spec_compat.tpu_spec import TPUEstimatorSpec

v1 = tf.compat.v1
N_FEATURES, N_CLASSES = 6, 3

OPTIMIZERS = {
    "sgd": lambda lr: v1.train.GradientDescentOptimizer(lr),
    "momentum": lambda lr: v1.train.MomentumOptimizer(lr, momentum=0.9),
    "adam": lambda lr: v1.train.AdamOptimizer(lr),
    "adagrad": lambda lr: v1.train.AdagradOptimizer(lr),
    "rmsprop": lambda lr: v1.train.RMSPropOptimizer(lr),
}


def data(n=64, seed=0):
    """A small 3-class problem: (x [n, 6] float32, y [n] int64)."""
    rng = np.random.RandomState(seed)
    x = rng.randn(n, N_FEATURES).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] + x[:, 2] > 0.5).astype("int64")
    return x, y


def input_fn(batch_size=16, repeat=False, dict_features=True, labels=True, drop_remainder=False):
    """An input_fn taking ``params``; params['batch_size'] wins when present."""

    def fn(params):
        x, y = data()
        feats = {"x": x} if dict_features else x
        ds = tf.data.Dataset.from_tensor_slices((feats, y) if labels else feats)
        ds = ds.repeat() if repeat else ds
        return ds.batch(params.get("batch_size", batch_size), drop_remainder=drop_remainder)

    return fn


def _train_op(loss, params, decay=True):
    step = v1.train.get_global_step()
    lr = params.get("learning_rate", 0.05)
    if decay:
        lr = v1.train.exponential_decay(lr, step, decay_steps=5, decay_rate=0.9)
    optimizer = OPTIMIZERS[params.get("optimizer", "adam")](lr)
    return optimizer.minimize(loss, global_step=step)


def mlp_model_fn(features, labels, mode, params):
    """get_variable + variable scopes + v1 optimizer + exponential decay; builds the
    train_op in every mode (Estimator never ran it outside TRAIN)."""
    x = features["x"] if isinstance(features, dict) else features
    with v1.variable_scope("mlp"):
        w0 = v1.get_variable("w0", [N_FEATURES, 16], initializer=v1.glorot_uniform_initializer(1))
        b0 = v1.get_variable("b0", [16], initializer=v1.zeros_initializer())
        h = tf.nn.relu(tf.matmul(x, w0) + b0)
        w1 = v1.get_variable("w1", [16, N_CLASSES], initializer=v1.glorot_uniform_initializer(2))
        logits = tf.matmul(h, w1, name="logits")
    predictions = {"class": tf.argmax(logits, 1), "probs": tf.nn.softmax(logits)}
    if mode == ModeKeys.PREDICT:
        return EstimatorSpec(mode, predictions=predictions)
    v1.add_to_collection(v1.GraphKeys.REGULARIZATION_LOSSES, 1e-3 * tf.nn.l2_loss(w0))
    loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
    loss += v1.losses.get_regularization_loss()
    metrics = {
        "accuracy": v1.metrics.accuracy(labels, predictions["class"]),
        "mean_p0": v1.metrics.mean(predictions["probs"][:, 0]),
    }
    return EstimatorSpec(
        mode,
        loss=loss,
        train_op=_train_op(loss, params),
        predictions=predictions,
        eval_metric_ops=metrics,
    )


def layers_model_fn(features, labels, mode, params):
    """tf.compat.v1.layers: dense (with a kernel regularizer), dropout, batch_normalization
    with UPDATE_OPS."""
    training = mode == ModeKeys.TRAIN
    x = features["x"]
    h = v1.layers.dense(
        x,
        16,
        activation=tf.nn.relu,
        kernel_initializer=v1.glorot_uniform_initializer(3),
        kernel_regularizer=lambda w: 0.01 * tf.nn.l2_loss(w),
    )
    h = v1.layers.batch_normalization(h, training=training)
    h = v1.layers.dropout(h, rate=params.get("dropout", 0.2), training=training, seed=5)
    logits = v1.layers.dense(h, N_CLASSES, kernel_initializer=v1.glorot_uniform_initializer(4))
    predictions = {"class": tf.argmax(logits, 1)}
    if mode == ModeKeys.PREDICT:
        return EstimatorSpec(mode, predictions=predictions)
    loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
    loss += v1.losses.get_regularization_loss()  # the dense kernel's L2 term
    with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
        train_op = _train_op(loss, params, decay=False)
    metrics = {"accuracy": v1.metrics.accuracy(labels, predictions["class"])}
    return EstimatorSpec(
        mode, loss=loss, train_op=train_op, predictions=predictions, eval_metric_ops=metrics
    )


def tpu_model_fn(features, labels, mode, params):
    """TPU style: TPUEstimatorSpec, eval_metrics (fn, tensors), params['batch_size']."""
    x = tf.reshape(features["x"], [params["batch_size"], N_FEATURES])  # static batch, as on TPU
    w = v1.get_variable("w", [N_FEATURES, N_CLASSES], initializer=v1.glorot_uniform_initializer(6))
    b = v1.get_variable("b", [N_CLASSES], initializer=v1.zeros_initializer())
    logits = tf.matmul(x, w) + b
    if mode == ModeKeys.PREDICT:
        return TPUEstimatorSpec(mode, predictions={"logits": logits})
    loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
    optimizer = OPTIMIZERS[params.get("optimizer", "sgd")](0.1)
    train_op = optimizer.minimize(loss, global_step=v1.train.get_global_step())

    def metric_fn(labels, logits):
        classes = tf.argmax(logits, 1)
        return {
            "accuracy": v1.metrics.accuracy(labels, classes),
            "recall_0": v1.metrics.recall(tf.equal(labels, 0), tf.equal(classes, 0)),
        }

    return TPUEstimatorSpec(
        mode, loss=loss, train_op=train_op, eval_metrics=(metric_fn, [labels, logits])
    )


def feature_column_model_fn(features, labels, mode, params):
    """Dict features through tf.compat.v1.feature_column.input_layer."""
    columns = [
        tf.feature_column.numeric_column("x", shape=[N_FEATURES]),
        tf.feature_column.bucketized_column(
            tf.feature_column.numeric_column("z"), boundaries=[-0.5, 0.0, 0.5]
        ),
    ]
    net = v1.feature_column.input_layer(features, columns)
    logits = v1.layers.dense(net, N_CLASSES, kernel_initializer=v1.glorot_uniform_initializer(8))
    predictions = {"class": tf.argmax(logits, 1)}
    if mode == ModeKeys.PREDICT:
        return EstimatorSpec(mode, predictions=predictions)
    loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
    return EstimatorSpec(
        mode,
        loss=loss,
        train_op=_train_op(loss, params),
        predictions=predictions,
        eval_metric_ops={"accuracy": v1.metrics.accuracy(labels, predictions["class"])},
    )


def feature_column_input_fn(params):
    x, y = data()
    ds = tf.data.Dataset.from_tensor_slices(({"x": x, "z": x[:, 3]}, y))
    return ds.batch(params.get("batch_size", 16))
