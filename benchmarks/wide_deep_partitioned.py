"""Benchmark: a wide-and-deep model_fn with partitioned embeddings, Estimator vs the Runner.

The model is written as canned ``DNNLinearCombinedClassifier`` code was: 4 hashed
categorical features (1,000 buckets each) and 2 numeric ones; the deep part looks up
16-dimensional ``embedding_column``s through ``tf.compat.v1.feature_column.input_layer``
under ``fixed_size_partitioner(4)``, then 64-32 ReLU layers; the wide part is
``linear_model`` over the same categorical columns, also partitioned. Optimizers:
``--deep`` and ``--wide``, by default the canned estimators' Adagrad and Ftrl (on
partitioned variables their slots are slices, tests/runner/test_partitioned_parity.py).
Batch 64, ``--steps`` steps.

Each contender (``tf.estimator.Estimator.train`` with its defaults; the Runner with
``steps_per_loop=100`` and its Estimator-like defaults) runs ``--repeats`` times,
round-robin, each in a fresh process; the time is that of the one ``train`` call
(graph building and tracing included, TF import excluded). Estimator needs the
estimator world (TF 2.15).

    python benchmarks/wide_deep_partitioned.py --steps 2000 --repeats 3
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

BATCH, BUCKETS, DIM = 64, 1000, 16
CATEGORICAL, NUMERIC = ("c0", "c1", "c2", "c3"), ("n0", "n1")


def _input_fn(params=None):
    import numpy as np
    import tensorflow as tf

    rng = np.random.RandomState(0)
    n = BATCH * 50
    features = {k: rng.randint(0, 10 * BUCKETS, n).astype("int64") for k in CATEGORICAL}
    features.update({k: rng.randn(n).astype("float32") for k in NUMERIC})
    labels = (features["n0"] + (features["c0"] % 7 > 3) > 0.5).astype("int64")
    return tf.data.Dataset.from_tensor_slices((features, labels)).repeat().batch(BATCH)


def _optimizer(name):
    import tensorflow as tf

    v1 = tf.compat.v1
    return {
        "adagrad": lambda: v1.train.AdagradOptimizer(0.05),
        "ftrl": lambda: v1.train.FtrlOptimizer(0.05),
        "adam": lambda: v1.train.AdamOptimizer(0.001),
        "sgd": lambda: v1.train.GradientDescentOptimizer(0.05),
    }[name]()


def _model_fn(features, labels, mode, params):
    import tensorflow as tf

    from estimator_spec_compat.spec import EstimatorSpec

    v1, fc = tf.compat.v1, tf.compat.v1.feature_column
    hashed = [
        fc.categorical_column_with_hash_bucket(k, BUCKETS, dtype=tf.int64) for k in CATEGORICAL
    ]
    numeric = [fc.numeric_column(k) for k in NUMERIC]
    partitioner = v1.fixed_size_partitioner(4)
    with v1.variable_scope("dnn", partitioner=partitioner):
        net = fc.input_layer(features, [fc.embedding_column(c, DIM) for c in hashed] + numeric)
        for i, units in enumerate((64, 32)):
            net = tf.nn.relu(tf.matmul(net, v1.get_variable(f"w{i}", [net.shape[1], units])))
        deep = tf.matmul(net, v1.get_variable("logits", [32, 1]))
    with v1.variable_scope("linear", partitioner=partitioner):
        wide = fc.linear_model(features, hashed + numeric)
    logits = deep + wide
    loss = v1.losses.sigmoid_cross_entropy(tf.reshape(labels, [-1, 1]), logits)
    step = v1.train.get_global_step()
    deep_vars = v1.get_collection(v1.GraphKeys.TRAINABLE_VARIABLES, "dnn")
    wide_vars = v1.get_collection(v1.GraphKeys.TRAINABLE_VARIABLES, "linear")
    train_op = tf.group(
        _optimizer(params["deep"]).minimize(loss, var_list=deep_vars),
        _optimizer(params["wide"]).minimize(loss, var_list=wide_vars),
        v1.assign_add(step, 1),
    )
    return EstimatorSpec(mode, loss=loss, train_op=train_op)


def _one(name, steps, params):
    import time

    import tensorflow as tf

    model_dir = tempfile.mkdtemp()
    if name == "estimator":
        est = tf.estimator.Estimator(_model_fn, model_dir=model_dir, params=params)
    else:
        from estimator_spec_compat.runner import Runner, RunnerConfig

        config = RunnerConfig(steps_per_loop=100)
        est = Runner(model_fn=_model_fn, model_dir=model_dir, params=params, config=config)
    start = time.perf_counter()
    est.train(_input_fn, max_steps=steps)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--deep", default="adagrad")
    parser.add_argument("--wide", default="ftrl")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    params = {"deep": args.deep, "wide": args.wide}
    if args.child:
        print(json.dumps(_one(args.child, args.steps, params)))
        return
    times = {"estimator": [], "runner": []}
    for _ in range(args.repeats):
        for name in times:
            command = [sys.executable, __file__, "--child", name, "--steps", str(args.steps)]
            command += ["--deep", args.deep, "--wide", args.wide]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            times[name].append(json.loads(out.strip().splitlines()[-1]))
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(
        f"wide & deep, partitioned embeddings, {args.steps} steps, batch {BATCH}, "
        f"deep {args.deep}, wide {args.wide}:"
    )
    for name, median in medians.items():
        print(f"  {name:10s} {median:7.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times[name])})")
    print(f"  Estimator / runner: {medians['estimator'] / medians['runner']:.2f}x")


if __name__ == "__main__":
    main()
