"""Repeatable runs: the same seed and input give bit-identical variables (CPU).

Each run is a fresh process (seeds are process-wide), so what is compared is
what a user re-running a job gets. The model_fn uses ``tf.compat.v1.layers``
with unseeded initializers and dropout, seeded only through
``RunnerConfig(tf_random_seed=...)``, as Estimator programs were: Keras 2 draws
those seeds from Python's ``random`` outside graph mode (before the fix every
run started from other weights).
"""

import json

import pytest

from estimator_spec_compat import _compat

CODE = """
import json, sys, tempfile
import numpy as np
import tensorflow as tf
replicas = {replicas}
if replicas > 1:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
from estimator_spec_compat import EstimatorSpec
from estimator_spec_compat.runner import Runner, RunnerConfig

def model_fn(features, labels, mode):
    training = mode == "train"
    h = tf.compat.v1.layers.dense(features["x"], 8, activation=tf.nn.relu)
    h = tf.compat.v1.layers.dropout(h, 0.3, training=training)
    logits = tf.compat.v1.layers.dense(h, 1)
    loss = tf.compat.v1.losses.mean_squared_error(labels, logits)
    step = tf.compat.v1.train.get_global_step()
    train_op = tf.compat.v1.train.AdamOptimizer(0.01).minimize(loss, step)
    return EstimatorSpec(mode, loss=loss, train_op=train_op, predictions=logits)

def input_fn():
    x = np.random.RandomState(0).rand(64, 3).astype("float32")
    data = tf.data.Dataset.from_tensor_slices(({{"x": x}}, x.sum(1, keepdims=True)))
    return data.batch(16, drop_remainder=True).repeat()

strategy = "auto"
if replicas > 1:
    strategy = tf.distribute.MirroredStrategy([f"/cpu:{{i}}" for i in range(replicas)])
runner = Runner(model_fn=model_fn, model_dir=tempfile.mkdtemp(), strategy=strategy,
                config=RunnerConfig(steps_per_loop=4, tf_random_seed=11))
runner.train(input_fn, steps=12)
print(json.dumps({{n: runner.get_variable_value(n).tolist()
                  for n in runner.get_variable_names()}}))
"""


@pytest.mark.parametrize("replicas", [1, 2])
def test_two_runs_give_bit_identical_variables(replicas, python_subprocess):
    env = {} if _compat.HAS_ESTIMATOR else {"TF_USE_LEGACY_KERAS": "1"}
    code = CODE.format(replicas=replicas)
    first, second = (
        json.loads(python_subprocess(code, env=env).strip().splitlines()[-1]) for _ in range(2)
    )
    assert "dense/kernel" in first and "dense/kernel/Adam" in first
    assert first == second  # exact: float lists compared bit for bit
