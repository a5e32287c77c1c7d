"""Legacy model_fns with partitioned variables, written as TF1 code was.

Loaded by path (``conftest``), also inside subprocesses. ``params`` choose the
partitioner (``PARTITIONERS``), the optimizer and the body (``BODIES``): an
embedding looked up with ``tf.nn.embedding_lookup`` or
``tf.compat.v1.nn.embedding_lookup_sparse``, or ``tf.compat.v1.feature_column``'s
``input_layer`` (embedding column), ``linear_model``, or shared embedding columns.
Every random initializer has an op seed.
"""

import numpy as np
import tensorflow as tf

from estimator_spec_compat import ModeKeys
from estimator_spec_compat.spec import EstimatorSpec

v1 = tf.compat.v1
VOCAB, N_DENSE, N_CLASSES, DIM = 10, 4, 3, 3

PARTITIONERS = {
    "fixed": lambda: v1.fixed_size_partitioner(3),
    # [10, 3] float32 is 120 bytes: 3 parts of at least 16 bytes.
    "min_max": lambda: v1.min_max_variable_partitioner(max_partitions=3, min_slice_size=16),
    # at most 40 bytes (3 rows of [10, 3]) per part: 4 parts.
    "axis_size": lambda: v1.variable_axis_size_partitioner(max_shard_bytes=40),
    # the canned estimators' default without parameter servers: one part.
    "one_part": lambda: v1.min_max_variable_partitioner(max_partitions=1, min_slice_size=64 << 20),
    "none": lambda: None,  # the same model unpartitioned
}

OPTIMIZERS = {
    "sgd": lambda lr: v1.train.GradientDescentOptimizer(lr),
    "momentum": lambda lr: v1.train.MomentumOptimizer(lr, momentum=0.9),
    "adam": lambda lr: v1.train.AdamOptimizer(lr),
    "adagrad": lambda lr: v1.train.AdagradOptimizer(lr),  # the canned DNN's default
    "ftrl": lambda lr: v1.train.FtrlOptimizer(lr),  # the canned linear model's default
}


def data(n=48, seed=1):
    """Dense ``x`` [n, 4], ids ``a`` and ``b`` [n] and ``pair`` [n, 2] in [0, 10), labels [n]."""
    rng = np.random.RandomState(seed)
    x = rng.randn(n, N_DENSE).astype("float32")
    a, b = rng.randint(0, VOCAB, n), rng.randint(0, VOCAB, n)
    pair = rng.randint(0, VOCAB, (n, 2))
    y = ((a % 3 + (x[:, 0] > 0)) % N_CLASSES).astype("int64")
    return {"x": x, "a": a, "b": b, "pair": pair}, y


def input_fn(batch_size=8, repeat=False):
    """An input_fn taking ``params``."""

    def fn(params):
        features, y = data()
        ds = tf.data.Dataset.from_tensor_slices((features, y))
        ds = ds.repeat() if repeat else ds
        return ds.batch(params.get("batch_size", batch_size), drop_remainder=True)

    return fn


def _embedding():
    init = v1.truncated_normal_initializer(stddev=0.5, seed=11)
    return v1.get_variable("embedding", [VOCAB, DIM], initializer=init)


def _lookup(features):
    return tf.nn.embedding_lookup(_embedding(), features["a"])


def _lookup_sparse(features):
    ids = tf.sparse.from_dense(features["pair"] + 1)  # every id kept (none is 0)
    ids = tf.SparseTensor(ids.indices, ids.values - 1, ids.dense_shape)
    return v1.nn.embedding_lookup_sparse(_embedding(), ids, None, combiner="mean")


def _columns():
    return [v1.feature_column.categorical_column_with_identity(k, VOCAB) for k in ("a", "b")]


def _input_layer(features):
    init = v1.truncated_normal_initializer(stddev=0.5, seed=12)
    columns = [v1.feature_column.embedding_column(c, DIM, initializer=init) for c in _columns()]
    return v1.feature_column.input_layer(features, columns)


def _shared(features):
    init = v1.truncated_normal_initializer(stddev=0.5, seed=13)
    columns = v1.feature_column.shared_embedding_columns(_columns(), DIM, initializer=init)
    return v1.feature_column.input_layer(features, columns)


BODIES = {
    "lookup": _lookup,
    "lookup_sparse": _lookup_sparse,
    "input_layer": _input_layer,
    "shared": _shared,
}


def model_fn(features, labels, mode, params):
    """An embedding (``params['body']``) and dense ``x`` under a partitioned scope, then a
    partitioned softmax layer; ``linear_model`` adds partitioned linear logits."""
    partitioner = PARTITIONERS[params["partitioner"]]()
    with v1.variable_scope("model", partitioner=partitioner):
        hidden = tf.concat([BODIES[params["body"]](features), features["x"]], 1)
        init = v1.glorot_uniform_initializer(seed=14)
        width = hidden.shape[1]
        kernel = v1.get_variable("kernel", [width, N_CLASSES], initializer=init)
        bias = v1.get_variable("bias", [N_CLASSES], initializer=v1.zeros_initializer())
        logits = tf.matmul(hidden, kernel)
        logits += bias
    if params.get("linear"):
        with v1.variable_scope("linear", partitioner=partitioner):
            columns = _columns() + [v1.feature_column.numeric_column("x", shape=[N_DENSE])]
            logits += v1.feature_column.linear_model(features, columns, units=N_CLASSES)
    predictions = {"probabilities": tf.nn.softmax(logits), "class": tf.argmax(logits, 1)}
    if mode == ModeKeys.PREDICT:
        return EstimatorSpec(mode, predictions=predictions)
    loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
    step = v1.train.get_or_create_global_step()
    if params.get("init_from"):  # {checkpoint name in the source: scope or variable here}
        v1.train.init_from_checkpoint(params["init_from"], params["assignment_map"])
    optimizer = OPTIMIZERS[params.get("optimizer", "sgd")](params.get("learning_rate", 0.05))
    train_op = optimizer.minimize(loss, global_step=step)
    metrics = {"accuracy": v1.metrics.accuracy(labels, predictions["class"])}
    return EstimatorSpec(
        mode, loss=loss, train_op=train_op, predictions=predictions, eval_metric_ops=metrics
    )
