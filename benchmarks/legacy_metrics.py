"""Benchmark: a legacy metric_fn served by LegacyMetrics against v1 and hand-written Keras.

One metric_fn with six v1 metrics (accuracy, auc, mean, precision,
mean_squared_error, mean_iou), batches of ``--batch`` examples, ``--steps`` steps
per evaluation, run by:

* v1: the real ``tf.compat.v1.metrics`` in a ``tf.Graph`` + ``Session`` (graph
  built once, one ``session.run`` of the update ops per step: what Estimator did),
* bridge: ``LegacyMetrics.run_metric_fn`` inside a ``tf.function`` step,
* keras: the same six metrics written by hand with ``tf.keras.metrics`` in a
  ``tf.function`` step (the rewrite the bridge saves).

Each contender runs ``--repeats`` evaluations (metrics reset in between); the first
one, which includes tracing / graph building, is reported apart. Prints the
median steady-state time per step and the ratios bridge/v1 and bridge/keras.

    python benchmarks/legacy_metrics.py                 # defaults: 200 steps, 5 repeats
    python benchmarks/legacy_metrics.py --steps 50 --repeats 3
"""

import argparse
import statistics
import time

import numpy as np


def _batches(steps, batch):
    rng = np.random.RandomState(0)
    return [
        {
            "labels": rng.randint(0, 2, batch).astype(np.int64),
            "probs": rng.rand(batch).astype(np.float32),
            "weights": rng.rand(batch).astype(np.float32),
        }
        for _ in range(steps)
    ]


def metric_fn(labels, probs, weights):
    import tensorflow as tf

    m = tf.compat.v1.metrics
    predicted = tf.cast(probs > 0.5, tf.int64)
    return {
        "accuracy": m.accuracy(labels, predicted, weights=weights),
        "auc": m.auc(labels, probs, weights=weights),
        "mean": m.mean(probs, weights=weights),
        "precision": m.precision(labels, predicted, weights=weights),
        "mse": m.mean_squared_error(tf.cast(labels, tf.float32), probs, weights=weights),
        "iou": m.mean_iou(labels, predicted, 2, weights=weights),
    }


def _time_v1(batches, repeats):
    import tensorflow as tf

    times = []
    graph = tf.Graph()
    start = time.perf_counter()
    with graph.as_default():
        feeds = {
            k: tf.compat.v1.placeholder(tf.as_dtype(v.dtype), v.shape)
            for k, v in batches[0].items()
        }
        ops = metric_fn(**feeds)
        updates = [op[1] for op in ops.values()]
        init = tf.compat.v1.local_variables_initializer()
        with tf.compat.v1.Session(graph=graph) as session:
            for _ in range(repeats):
                session.run(init)
                for b in batches:
                    session.run(updates, {feeds[k]: v for k, v in b.items()})
                session.run({k: op[0] for k, op in ops.items()})
                times.append(time.perf_counter() - start)
                start = time.perf_counter()
    return times


def _time_bridge(batches, repeats):
    import tensorflow as tf

    from estimator_spec_compat.convert.metrics import LegacyMetrics

    legacy = LegacyMetrics()
    step = tf.function(lambda b: legacy.run_metric_fn(metric_fn, b))
    return _time_tf2(step, legacy.results, legacy.reset, batches, repeats)


def _time_keras(batches, repeats):
    import tensorflow as tf

    k = tf.keras.metrics
    metrics = {
        "accuracy": k.Accuracy(),
        "auc": k.AUC(num_thresholds=200),
        "mean": k.Mean(),
        "precision": k.Precision(),
        "mse": k.MeanSquaredError(),
        "iou": k.MeanIoU(num_classes=2),
    }

    @tf.function
    def step(b):
        predicted = tf.cast(b["probs"] > 0.5, tf.int64)
        labels_f = tf.cast(b["labels"], tf.float32)
        w = b["weights"]
        metrics["accuracy"].update_state(b["labels"], predicted, sample_weight=w)
        metrics["auc"].update_state(b["labels"], b["probs"], sample_weight=w)
        metrics["mean"].update_state(b["probs"], sample_weight=w)
        metrics["precision"].update_state(b["labels"], predicted, sample_weight=w)
        metrics["mse"].update_state(labels_f[:, None], b["probs"][:, None], sample_weight=w)
        metrics["iou"].update_state(b["labels"], predicted, sample_weight=w)

    def results():
        return {name: m.result().numpy() for name, m in metrics.items()}

    def reset():
        for m in metrics.values():
            m.reset_state()

    return _time_tf2(step, results, reset, batches, repeats)


def _time_tf2(step, results, reset, batches, repeats):
    times = []
    for _ in range(repeats):
        reset()
        start = time.perf_counter()
        for b in batches:
            step(b)
        results()
        times.append(time.perf_counter() - start)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import tensorflow as tf

    batches = _batches(args.steps, args.batch)
    tensor_batches = [{k: tf.constant(v) for k, v in b.items()} for b in batches]
    timings = {
        "v1": _time_v1(batches, args.repeats + 1),
        "bridge": _time_bridge(tensor_batches, args.repeats + 1),
        "keras": _time_keras(tensor_batches, args.repeats + 1),
    }
    print(f"TF {tf.__version__}, {args.steps} steps x batch {args.batch}, {args.repeats} repeats")
    per_step = {}
    for name, times in timings.items():
        per_step[name] = statistics.median(times[1:]) / args.steps
        print(
            f"{name:7s} first evaluation {times[0]:7.3f} s   "
            f"median per step {per_step[name] * 1e3:7.3f} ms"
        )
    print(f"ratio bridge/v1    {per_step['bridge'] / per_step['v1']:.2f}")
    print(f"ratio bridge/keras {per_step['bridge'] / per_step['keras']:.2f}")


if __name__ == "__main__":
    main()
