"""Construction + validation time of our spec classes against upstream's constructors.

Builds representative specs in a v1 graph, as ``tf.estimator.Estimator`` builds
them inside ``model_fn``: TRAIN (loss, train_op, predictions dict, hooks), EVAL
(``tf.compat.v1.metrics`` eval_metric_ops), PREDICT (export_outputs) and a
TPUEstimatorSpec (eval_metrics and host_call). Each repeat times a batch of
constructions of every case with ours and with upstream's class, in alternating
order, and prints the median time per construction and the median ratio
ours/upstream per case and over all. In the modern world (no
tensorflow-estimator) there is no upstream baseline: ours is timed alone.

Usage:
  python benchmarks/spec_construction.py [--repeats 101] [--window-ms 2] [--profile]

``--profile`` also runs cProfile over our constructors and prints the hot spots.
"""

import argparse
import cProfile
import gc
import os
import pstats
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

import tensorflow as tf

from estimator_spec_compat import (
    EstimatorSpec,
    ModeKeys,
    TPUEstimatorSpec,
    _compat,
)

TARGET_RATIO = 1.5


class _Hook(tf.compat.v1.train.SessionRunHook):
    pass


def _metric_fn(labels, predictions):
    return {"mae": tf.compat.v1.metrics.mean_absolute_error(labels, predictions)}


def _host_fn(step, loss):
    return [step, loss]


def _model(with_metrics):
    """The tensors a small linear model_fn builds, in the default graph."""
    features, labels = tf.ones([8, 3]), tf.ones([8, 1])
    preds = tf.matmul(features, tf.compat.v1.get_variable("w", [3, 1]))
    loss = tf.compat.v1.losses.mean_squared_error(labels, preds)
    step = tf.compat.v1.train.get_or_create_global_step()
    model = {
        "labels": labels,
        "preds": preds,
        "loss": loss,
        "step": step,
        "predictions": {"y": preds, "twice": 2.0 * preds},
    }
    if with_metrics:  # metric variables land in LOCAL_VARIABLES, as in an Estimator EVAL graph
        model["metrics"] = {
            "mae": tf.compat.v1.metrics.mean_absolute_error(labels, preds),
            "rmse": tf.compat.v1.metrics.root_mean_squared_error(labels, preds),
        }
    return model


def _train(spec_cls, tpu_spec_cls):
    m = _model(with_metrics=False)
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(m["loss"], m["step"])
    hooks = [_Hook(), _Hook()]
    return lambda: spec_cls(
        mode=ModeKeys.TRAIN,
        loss=m["loss"],
        train_op=train_op,
        predictions=m["predictions"],
        training_hooks=hooks,
        training_chief_hooks=hooks,
    )


def _eval(spec_cls, tpu_spec_cls):
    m = _model(with_metrics=True)
    return lambda: spec_cls(
        mode=ModeKeys.EVAL,
        loss=m["loss"],
        predictions=m["predictions"],
        eval_metric_ops=m["metrics"],
    )


def _predict(spec_cls, tpu_spec_cls):
    m = _model(with_metrics=False)
    export_outputs = {
        "serving_default": _compat.PredictOutput(m["predictions"]),
        "regression": _compat.RegressionOutput(m["preds"]),
    }
    return lambda: spec_cls(
        mode=ModeKeys.PREDICT, predictions=m["predictions"], export_outputs=export_outputs
    )


def _tpu_eval(spec_cls, tpu_spec_cls):
    m = _model(with_metrics=False)
    host_call = (_host_fn, [tf.reshape(m["step"], [1]), tf.reshape(m["loss"], [1])])
    eval_metrics = (_metric_fn, [m["labels"], m["preds"]])
    return lambda: tpu_spec_cls(
        mode=ModeKeys.EVAL,
        loss=m["loss"],
        predictions=m["predictions"],
        eval_metrics=eval_metrics,
        host_call=host_call,
    )


CASES = {
    "TRAIN loss+train_op+predictions+hooks": _train,
    "EVAL eval_metric_ops (v1 metrics)": _eval,
    "PREDICT export_outputs": _predict,
    "TPU EVAL eval_metrics+host_call": _tpu_eval,
}


def _make_cases(spec_cls, tpu_spec_cls):
    """``{case: (graph, constructor)}``: each case in its own graph, as Estimator builds one."""
    cases = {}
    for name, build in CASES.items():
        graph = tf.Graph()
        with graph.as_default():
            cases[name] = (graph, build(spec_cls, tpu_spec_cls))
    return cases


def _time_per_call(graph_and_fn, number):
    graph, fn = graph_and_fn
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with graph.as_default():
            start = time.perf_counter()
            for _ in range(number):
                fn()
            return (time.perf_counter() - start) / number
    finally:
        if gc_was_enabled:
            gc.enable()


def _calibrate(case, window):
    """How many constructions fill about ``window`` seconds (best of a few tries)."""
    per_call = min(_time_per_call(case, 20) for _ in range(5))
    return max(1, round(window / per_call))


def _measure(impls, repeats, window):
    """``{impl: {case: [seconds per construction, one per repeat]}}``, interleaved.

    Each sample times a short window (``window`` seconds of constructions): on a
    shared machine, long windows mostly measure preemption by other processes.
    """
    times = {impl: {case: [] for case in cases} for impl, cases in impls.items()}
    numbers = {
        impl: {name: _calibrate(case, window) for name, case in cases.items()}
        for impl, cases in impls.items()
    }
    order = list(impls)
    for repeat in range(repeats):
        for case in next(iter(impls.values())):
            for impl in order if repeat % 2 == 0 else reversed(order):
                sample = _time_per_call(impls[impl][case], numbers[impl][case])
                times[impl][case].append(sample)
    return times


def _us(seconds):
    return f"{seconds * 1e6:.1f}"


def _report(times):
    ours = times["ours"]
    upstream = times.get("upstream")
    width = max(map(len, ours)) + 2
    if upstream is None:
        print("No upstream baseline in this world (tensorflow-estimator is not usable).")
        print(f"{'case':<{width}}{'ours median (us)':>17}{'min':>8}")
        for case, samples in ours.items():
            print(f"{case:<{width}}{_us(statistics.median(samples)):>17}{_us(min(samples)):>8}")
        return
    print(
        f"{'case':<{width}}{'ours median (us)':>17}{'min':>8}"
        f"{'upstream median (us)':>22}{'min':>8}{'median ratio':>14}"
    )
    all_ratios = []
    for case, samples in ours.items():
        base = upstream[case]
        ratios = [o / u for o, u in zip(samples, base)]
        all_ratios += ratios
        print(
            f"{case:<{width}}{_us(statistics.median(samples)):>17}{_us(min(samples)):>8}"
            f"{_us(statistics.median(base)):>22}{_us(min(base)):>8}"
            f"{statistics.median(ratios):>13.2f}x"
        )
    overall = statistics.median(all_ratios)
    verdict = "within" if overall <= TARGET_RATIO else "ABOVE"
    print(
        f"overall median ratio ours/upstream: {overall:.2f}x ({verdict} the {TARGET_RATIO}x target)"
    )


def _profile(cases, number):
    profiler = cProfile.Profile()
    for graph, fn in cases.values():
        with graph.as_default():
            profiler.enable()
            for _ in range(number):
                fn()
            profiler.disable()
    stats = pstats.Stats(profiler).strip_dirs().sort_stats("cumulative")
    print("\ncProfile of our constructors (cumulative):")
    stats.print_stats(25)
    stats.sort_stats("tottime").print_stats(15)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=101, help="interleaved repeats")
    parser.add_argument(
        "--window-ms", type=float, default=2.0, help="milliseconds of constructions per sample"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile our constructors")
    args = parser.parse_args(argv)

    print(f"world: {_compat.WORLD}; TensorFlow {tf.__version__}; Python {sys.version.split()[0]}")
    print(
        f"{args.repeats} interleaved repeats of ~{args.window_ms} ms of constructions per case, "
        "each case in its own v1 graph"
    )
    impls = {"ours": _make_cases(EstimatorSpec, TPUEstimatorSpec)}
    if _compat.HAS_ESTIMATOR:
        impls["upstream"] = _make_cases(
            _compat.UPSTREAM_ESTIMATOR_SPEC, _compat.UPSTREAM_TPU_ESTIMATOR_SPEC
        )
    times = _measure(impls, args.repeats, args.window_ms / 1000)
    _report(times)
    if args.profile:
        _profile(impls["ours"], 500)


if __name__ == "__main__":
    main()
