"""A legacy Estimator model_fn, unchanged, trained and evaluated under TF2 by the Runner.

Run it (any TF world; no tensorflow-estimator needed)::

    python examples/legacy_mlp.py

and, in a world with tensorflow-estimator (TF <= 2.15), with the real Estimator::

    python examples/legacy_mlp.py --estimator

The only difference between the two runs is the line that builds ``est`` (see
``make_estimator``): ``model_fn`` and ``input_fn`` are the same TF1 code.

The runner's log (Estimator's ``loss = ..., step = ...`` lines; a progress line
on a terminal) is shown with the command line's setup, ``configure_logging``.
"""

import argparse
import tempfile
import time

import numpy as np
import tensorflow as tf

from estimator_spec_compat import HAS_ESTIMATOR, ModeKeys
from estimator_spec_compat.cli import configure_logging
from estimator_spec_compat.runner import Runner, RunnerConfig
from estimator_spec_compat.spec import EstimatorSpec

v1 = tf.compat.v1


def model_fn(features, labels, mode, params):
    """TF1-style: variable scopes, get_variable, v1 losses/metrics/optimizer, lr decay."""
    x = features["x"]
    for i, units in enumerate(params["hidden_units"]):
        with v1.variable_scope(f"layer{i}"):
            w = v1.get_variable("kernel", [x.shape[-1], units])
            b = v1.get_variable("bias", [units], initializer=v1.zeros_initializer())
            x = tf.nn.relu(tf.matmul(x, w) + b)
    with v1.variable_scope("logits"):
        w = v1.get_variable("kernel", [x.shape[-1], params["n_classes"]])
        logits = tf.matmul(x, w)
    predictions = {"class": tf.argmax(logits, 1), "probabilities": tf.nn.softmax(logits)}
    if mode == ModeKeys.PREDICT:
        return EstimatorSpec(mode, predictions=predictions)
    loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
    step = v1.train.get_global_step()
    lr = v1.train.exponential_decay(params["learning_rate"], step, 500, 0.9)
    train_op = v1.train.AdamOptimizer(lr).minimize(loss, global_step=step)
    metrics = {"accuracy": v1.metrics.accuracy(labels, predictions["class"])}
    return EstimatorSpec(
        mode, loss=loss, train_op=train_op, predictions=predictions, eval_metric_ops=metrics
    )


def make_data(n, seed):
    """Synthetic 4-class data: the class is the quadrant of the first two features."""
    rng = np.random.RandomState(seed)
    x = rng.randn(n, 16).astype("float32")
    y = (x[:, 0] > 0).astype("int64") * 2 + (x[:, 1] > 0).astype("int64")
    return x, y


def input_fn(mode, params):
    x, y = make_data(
        4096 if mode == ModeKeys.TRAIN else 1024, seed=0 if mode == ModeKeys.TRAIN else 1
    )
    dataset = tf.data.Dataset.from_tensor_slices(({"x": x}, y))
    if mode == ModeKeys.TRAIN:
        dataset = dataset.shuffle(4096, seed=0).repeat()
    return dataset.batch(64)


PARAMS = {"hidden_units": [64, 64], "n_classes": 4, "learning_rate": 0.01}
SEED = 42  # the same graph-level seed for both: same initial weights, same results


def make_estimator(use_estimator, model_dir):
    if use_estimator:  # before: the real Estimator (graph mode, Session)
        config = tf.estimator.RunConfig(tf_random_seed=SEED)
        return tf.estimator.Estimator(model_fn, model_dir=model_dir, params=PARAMS, config=config)
    # after: the one-line change
    return Runner(
        model_fn=model_fn,
        model_dir=model_dir,
        params=PARAMS,
        config=RunnerConfig(steps_per_loop=100, tf_random_seed=SEED),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimator", action="store_true", help="use tf.estimator.Estimator")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument(
        "--verbosity", default="info", choices=("debug", "info", "warning", "error")
    )
    args = parser.parse_args(argv)
    configure_logging(args.verbosity)
    if args.estimator and not HAS_ESTIMATOR:
        parser.error("--estimator needs tensorflow-estimator (TF <= 2.15); this world has none.")
    est = make_estimator(args.estimator, tempfile.mkdtemp(prefix="legacy_mlp_"))
    start = time.perf_counter()
    est.train(lambda mode, params: input_fn(ModeKeys.TRAIN, params), max_steps=args.steps)
    seconds = time.perf_counter() - start
    metrics = est.evaluate(lambda mode, params: input_fn(ModeKeys.EVAL, params))
    name = "tf.estimator.Estimator" if args.estimator else "estimator_spec_compat Runner"
    print(f"{name}: trained {args.steps} steps in {seconds:.1f} s")
    for key in sorted(metrics):
        print(f"  {key}: {metrics[key]}")
    return metrics


if __name__ == "__main__":
    main()
