"""Two local workers train one model under MultiWorkerMirroredStrategy: via the Runner and by hand."""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import estimator_spec_compat
from estimator_spec_compat._compat import tf

_DEADLINE_S = 80  # the whole test stays under 90 s; workers still running then are killed.

_WORKER = """
import json
import sys

import tensorflow as tf

from estimator_spec_compat import EstimatorSpec
from estimator_spec_compat.runner import Runner, RunnerConfig
from estimator_spec_compat.runner.strategy import resolve_strategy


def input_fn(params):
    # Identical examples: every shard of the data gives the same gradient, so
    # the expected weights do not depend on how the workers split the input.
    x = tf.constant([[1.0, 2.0]] * 8)
    y = tf.constant([[1.0]] * 8)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).repeat()
    return dataset.batch(params["batch_size"], drop_remainder=True)


seen_config = []


def model_fn(features, labels, mode, params, config):
    seen_config.append([config.is_chief, config.task_type, config.task_id, config.num_worker_replicas])
    w = tf.compat.v1.get_variable("w", [2, 1], initializer=tf.compat.v1.zeros_initializer())
    pred = tf.matmul(features, w)
    loss = tf.compat.v1.losses.mean_squared_error(labels, pred)
    train_op = tf.compat.v1.train.GradientDescentOptimizer(LEARNING_RATE).minimize(
        loss, global_step=tf.compat.v1.train.get_global_step()
    )
    return EstimatorSpec(mode, loss=loss, train_op=train_op, predictions={"y": pred})


strategy, reason = resolve_strategy("multi_worker")
runner = Runner(
    model_fn=model_fn,
    model_dir=sys.argv[1],
    strategy=strategy,
    config=RunnerConfig(steps_per_loop=2),
    train_batch_size=4,
)
runner.train(input_fn, steps=STEPS // 2)
runner.train(input_fn, steps=STEPS - STEPS // 2)  # restores the chief's checkpoint first
result = {
    "config": seen_config[-1],
    "checkpoint": tf.train.latest_checkpoint(sys.argv[1]),
    "multi_worker": isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy),
    "replicas": strategy.num_replicas_in_sync,
    "w": runner.get_variable_value("w").ravel().tolist(),
    "global_step": int(runner.get_variable_value("global_step")),
}
print("RESULT " + json.dumps(result))
"""

_HAND_WRITTEN_WORKER = """
import json

import tensorflow as tf

from estimator_spec_compat.runner.strategy import resolve_strategy

strategy, reason = resolve_strategy("multi_worker")
with strategy.scope():
    w = tf.Variable(tf.zeros([2]), aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)


@tf.function
def train_step(x, y):
    def replica_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((tf.linalg.matvec(x, w) - y) ** 2)
        grad = tf.distribute.get_replica_context().all_reduce("mean", tape.gradient(loss, w))
        w.assign_sub(LEARNING_RATE * grad)

    strategy.run(replica_step, (x, y))


for _ in range(STEPS):
    train_step(tf.constant([[1.0, 2.0]] * 2), tf.constant([1.0] * 2))
result = {
    "multi_worker": isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy),
    "replicas": strategy.num_replicas_in_sync,
    "w": w.numpy().tolist(),
    "global_step": STEPS,
}
print("RESULT " + json.dumps(result))
"""

_LEARNING_RATE = 0.05
_STEPS = 4


def _free_ports(count):
    """Ports free on 127.0.0.1 (all held open together, so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _expected_weights():
    """Plain gradient descent by hand: the mean gradient of one example, as one process would."""
    x, y, w = np.array([1.0, 2.0]), 1.0, np.zeros(2)
    for _ in range(_STEPS):
        w = w - _LEARNING_RATE * 2.0 * (x @ w - y) * x
    return w


def _start_workers(tmp_path, script):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(estimator_spec_compat.__file__)))
    procs = []
    for index in range(2):
        env = dict(os.environ)
        env.update(
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            TF_CPP_MIN_LOG_LEVEL="2",
            PYTHONPATH=os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")])),
        )
        log = open(tmp_path / f"worker{index}.log", "w")  # a file: a full pipe cannot block it
        procs.append(
            subprocess.Popen(
                [sys.executable, str(script), str(tmp_path / "model_dir")],  # shared, as on GCS
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        log.close()
    return procs


def _wait(procs, deadline):
    for proc in procs:
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
    return True


def _run_workers(tmp_path, worker_code):
    """Runs ``worker_code`` in two worker processes; returns each one's RESULT dict."""
    script = tmp_path / "worker.py"
    script.write_text(worker_code)
    deadline = time.monotonic() + _DEADLINE_S
    procs = []
    try:
        procs = _start_workers(tmp_path, script)
        finished = _wait(procs, deadline)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    logs = [(tmp_path / f"worker{i}.log").read_text() for i in range(2)]
    if not finished:
        pytest.fail(f"the workers did not finish within {_DEADLINE_S} s:\n" + _tails(logs))
    assert [proc.returncode for proc in procs] == [0, 0], _tails(logs)
    return [json.loads(log.split("RESULT ", 1)[1].splitlines()[0]) for log in logs]


@pytest.mark.parametrize(
    "worker",
    [
        pytest.param(_WORKER, id="runner"),
        pytest.param(_HAND_WRITTEN_WORKER, id="hand-written-tf2-step"),
    ],
)
def test_two_workers_train_in_sync(tmp_path, worker):
    code = worker.replace("LEARNING_RATE", repr(_LEARNING_RATE)).replace("STEPS", str(_STEPS))
    results = _run_workers(tmp_path, code)
    expected = _expected_weights()
    for result in results:
        assert result["multi_worker"] is True
        assert result["replicas"] == 2
        assert result["global_step"] == _STEPS
        np.testing.assert_allclose(result["w"], expected, rtol=1e-5)
    if worker is _WORKER:
        # RunConfig's cluster view; worker 0 is the chief (no "chief" job), as in Estimator.
        assert [r["config"] for r in results] == [[True, "worker", 0, 2], [False, "worker", 1, 2]]
        # Only the chief wrote checkpoints into the shared model_dir: one series, no clashes.
        prefix = str(tmp_path / "model_dir" / f"model.ckpt-{_STEPS}")
        assert [r["checkpoint"] for r in results] == [prefix, prefix]
        reader = tf.train.load_checkpoint(prefix)
        np.testing.assert_allclose(reader.get_tensor("w").ravel(), expected, rtol=1e-5)


def _tails(logs):
    return "\n".join(f"--- worker {i}\n{log[-3000:]}" for i, log in enumerate(logs))
