"""Benchmark: the Runner against Estimator, TPUEstimator and a hand-written TF2 loop.

A 3-layer MLP (64-128-128-10), batch 32, GradientDescent, trained for ``--steps``
steps (20,000 by default) by:

* ``tf.estimator.Estimator.train`` (estimator world only),
* ``TPUEstimator(use_tpu=False, iterations_per_loop=100)`` (estimator world only),
* a hand-written TF2 loop: ``tf.function`` running 100 steps per call
  (``for _ in tf.range(100)``), ``tf.Variable`` weights, ``tf.GradientTape`` and
  ``tf.keras.optimizers.SGD`` (the baseline the targets refer to: what a TF2 port
  of the model_fn looks like),
* the same loop with raw ``assign_sub`` updates (``handwritten_raw``: the floor),
* the Runner with ``steps_per_loop=100`` and the legacy model_fn: ``runner`` with
  summaries and step logs off (like the hand-written loops), ``runner_defaults``
  with RunnerConfig's Estimator-like defaults (both every 100 steps), the fair
  match for Estimator, which ran with its defaults.

Each contender runs ``--repeats`` times, round-robin, each time in a fresh
process (so their memory does not mix); the time is that of the training call alone, tracing and
graph building included, TF import excluded: one ``train`` call, or for the
hand-written loops everything from making the variables and the iterator on.
Prints medians, ratios, and the Runner's RSS (sampled every 20 ms by a thread)
at a quarter of its training time and at the end.

    python benchmarks/runner_vs_estimator.py                 # full size
    python benchmarks/runner_vs_estimator.py --steps 2000 --repeats 1
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

LOOP = 100
SIZES = (64, 128, 128, 10)
BATCH = 32


def _data():
    import numpy as np

    rng = np.random.RandomState(0)
    x = rng.randn(BATCH * 100, SIZES[0]).astype("float32")
    y = rng.randint(0, SIZES[-1], size=len(x)).astype("int64")
    return x, y


def _input_fn(params=None):
    import tensorflow as tf

    x, y = _data()
    return tf.data.Dataset.from_tensor_slices(({"x": x}, y)).repeat().batch(BATCH)


def _model_fn(features, labels, mode, params=None):
    import tensorflow as tf

    from estimator_spec_compat import ModeKeys
    from estimator_spec_compat.spec import EstimatorSpec
    from estimator_spec_compat.tpu_spec import TPUEstimatorSpec

    v1 = tf.compat.v1
    net = features["x"]
    for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        with v1.variable_scope(f"dense{i}"):
            w = v1.get_variable("kernel", [n_in, n_out])
            b = v1.get_variable("bias", [n_out], initializer=v1.zeros_initializer())
            net = tf.matmul(net, w) + b
            net = tf.nn.relu(net) if i < len(SIZES) - 2 else net
    loss = v1.losses.sparse_softmax_cross_entropy(labels, net)
    optimizer = v1.train.GradientDescentOptimizer(0.01)
    train_op = optimizer.minimize(loss, global_step=v1.train.get_global_step())
    spec = TPUEstimatorSpec if params and "use_tpu" in params else EstimatorSpec
    return spec(ModeKeys.TRAIN if mode is None else mode, loss=loss, train_op=train_op)


def _rss_mb():
    """The current RSS of this process in MiB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def _sample_rss(fn, every=0.02):
    """Runs ``fn()`` while a thread samples RSS; returns ``[(seconds, MiB), ...]``."""
    import threading
    import time

    samples, done = [], threading.Event()
    start = time.perf_counter()

    def sample():
        while not done.is_set():
            samples.append((time.perf_counter() - start, _rss_mb()))
            done.wait(every)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        fn()
    finally:
        done.set()
        thread.join()
    samples.append((time.perf_counter() - start, _rss_mb()))
    return samples


def _time(fn):
    import time

    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_estimator(steps, tpu):
    import tensorflow as tf

    model_dir = tempfile.mkdtemp()
    if tpu:
        config = tf.compat.v1.estimator.tpu.RunConfig(
            model_dir=model_dir,
            save_checkpoints_steps=None,
            save_checkpoints_secs=10**6,
            tpu_config=tf.compat.v1.estimator.tpu.TPUConfig(iterations_per_loop=LOOP),
        )
        est = tf.compat.v1.estimator.tpu.TPUEstimator(
            model_fn=_model_fn, config=config, use_tpu=False, train_batch_size=BATCH
        )
    else:
        config = tf.estimator.RunConfig(save_checkpoints_secs=10**6)
        est = tf.estimator.Estimator(_model_fn, model_dir=model_dir, config=config)
    return {"seconds": _time(lambda: est.train(_input_fn, max_steps=steps))}


def run_handwritten(steps, keras_optimizer=True):
    import tensorflow as tf

    def train():  # timed from the variables and the iterator on, as a train call is
        init = tf.keras.initializers.GlorotUniform(seed=0)
        weights = []
        for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
            weights += [tf.Variable(init([n_in, n_out])), tf.Variable(tf.zeros([n_out]))]
        iterator = iter(_input_fn())
        optimizer = tf.keras.optimizers.SGD(0.01)

        def step(features, labels):
            with tf.GradientTape() as tape:
                net = features["x"]
                for i in range(0, len(weights), 2):
                    net = tf.matmul(net, weights[i]) + weights[i + 1]
                    net = tf.nn.relu(net) if i < len(weights) - 2 else net
                loss = tf.reduce_mean(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=net)
                )
            grads = tape.gradient(loss, weights)
            if keras_optimizer:  # what a TF2 port writes; it also counts iterations
                optimizer.apply_gradients(zip(grads, weights))
            else:  # the floor: raw variable updates, nothing else
                for w, g in zip(weights, grads):
                    w.assign_sub(0.01 * g)
            return loss

        @tf.function
        def loop(n):
            for _ in tf.range(n):
                step(*next(iterator))

        for _ in range(steps // LOOP):
            loop(tf.constant(LOOP))
        return iterator, loop  # kept alive past the clock, as a Runner keeps its state

    kept = []
    return {"seconds": _time(lambda: kept.append(train()))}


def run_runner(steps, defaults=False):
    from estimator_spec_compat.runner import Runner, RunnerConfig

    config = RunnerConfig(steps_per_loop=LOOP)
    if not defaults:
        config = RunnerConfig(
            steps_per_loop=LOOP, save_summary_steps=None, log_step_count_steps=10**9
        )
    runner = Runner(model_fn=_model_fn, model_dir=tempfile.mkdtemp(), config=config)
    seconds = []
    samples = _sample_rss(
        lambda: seconds.append(_time(lambda: runner.train(_input_fn, max_steps=steps)))
    )
    quarter = max(t for t, _ in samples) / 4
    return {
        "seconds": seconds[0],
        "rss_quarter": [s[1] for s in samples if s[0] <= quarter][-1],
        "rss_end": samples[-1][1],
        "rss_peak_quarter": max(s[1] for s in samples if s[0] <= quarter),
        "rss_peak_end": max(s[1] for s in samples),
    }


def _child(name, steps):
    runs = {
        "estimator": lambda: run_estimator(steps, tpu=False),
        "tpu_estimator": lambda: run_estimator(steps, tpu=True),
        "handwritten": lambda: run_handwritten(steps),
        "handwritten_raw": lambda: run_handwritten(steps, keras_optimizer=False),
        "runner": lambda: run_runner(steps),
        "runner_defaults": lambda: run_runner(steps, defaults=True),
    }
    print("RESULT " + json.dumps(runs[name]()))


def _spawn(name, steps):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, __file__, "--child", name, "--steps", str(steps)],
        capture_output=True,
        text=True,
        env=env,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args.child, args.steps)
    from estimator_spec_compat import HAS_ESTIMATOR

    names = ["handwritten", "handwritten_raw", "runner", "runner_defaults"]
    if HAS_ESTIMATOR:
        names = ["estimator", "tpu_estimator", *names]
    results = {name: [] for name in names}
    for _ in range(args.repeats):  # round-robin, so load on the machine hits all alike
        for name in names:
            results[name].append(_spawn(name, args.steps))
    medians = {n: statistics.median(r["seconds"] for r in rs) for n, rs in results.items()}
    print(
        f"{args.steps} steps, batch {BATCH}, MLP {'-'.join(map(str, SIZES))}, "
        f"median of {args.repeats} (seconds, training call only):"
    )
    for name, seconds in medians.items():
        print(f"  {name:15s} {seconds:8.2f} s   {args.steps / seconds:9.0f} steps/s")
    runner = medians["runner"]
    print(f"runner / handwritten: {runner / medians['handwritten']:.2f}x (target <= 1.10x)")
    print(f"runner / handwritten_raw: {runner / medians['handwritten_raw']:.2f}x (no target)")
    for name in ("estimator", "tpu_estimator"):
        if name in medians:
            for ours in ("runner", "runner_defaults"):
                print(
                    f"{name} / {ours}: {medians[name] / medians[ours]:.2f}x faster (target >= 2.5x)"
                )
    for name in ("runner", "runner_defaults"):
        last = results[name][-1]
        print(
            f"{name} RSS at a quarter of its training time: {last['rss_quarter']:.0f} MiB "
            f"(peak {last['rss_peak_quarter']:.0f} MiB); at the end: {last['rss_end']:.0f} MiB "
            f"(peak {last['rss_peak_end']:.0f} MiB); peak growth "
            f"{100 * (last['rss_peak_end'] / last['rss_peak_quarter'] - 1):+.1f}% "
            "(target within 5%)"
        )


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main()
