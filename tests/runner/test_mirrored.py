"""MirroredStrategy over 2 and 4 logical CPU devices (standing in for TPU cores).

Each case runs in a fresh process (logical devices are process-wide). Expected
values are the same runner's results on one device, same global batch: under
TPU semantics several replicas must give one device's results.
"""

import pytest

CODE = """
import sys, tempfile
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * {n})
{load_models}
from estimator_spec_compat.runner import Runner, RunnerConfig

mirrored = tf.distribute.MirroredStrategy([f"/cpu:{{i}}" for i in range({n})])
one = tf.distribute.OneDeviceStrategy("/cpu:0")
seen = []

def run(strategy, model_fn, params):
    def recording_model_fn(features, labels, mode, params):
        seen.append((strategy is mirrored, mode, params["batch_size"]))
        return model_fn(features, labels, mode, params)
    runner = Runner(
        model_fn=recording_model_fn, model_dir=tempfile.mkdtemp(), params=params,
        strategy=strategy, config=RunnerConfig(steps_per_loop=5, tf_random_seed=3),
        train_batch_size=16, eval_batch_size=16, predict_batch_size=24,
    )
    runner.train(models.input_fn(repeat=True, drop_remainder=True), steps=10)
    metrics = runner.evaluate(models.input_fn(drop_remainder=True))
    preds = list(runner.predict(models.input_fn(labels=False)))  # 24, 24, 16: padded last batch
    return runner, metrics, preds

for name, model_fn, params in [
    ("mlp", models.mlp_model_fn, {{"optimizer": "momentum"}}),
    ("tpu", models.tpu_model_fn, {{"optimizer": "sgd"}}),
]:
    r1, m1, p1 = run(one, model_fn, params)
    r2, m2, p2 = run(mirrored, model_fn, params)
    assert r2.num_replicas == {n}
    assert r2.get_variable_names() == r1.get_variable_names()
    for var in r1.get_variable_names():
        np.testing.assert_allclose(r2.get_variable_value(var), r1.get_variable_value(var),
                                   rtol=1e-4, atol=1e-6, err_msg=var)
    assert sorted(m2) == sorted(m1)
    for key in m1:
        np.testing.assert_allclose(m2[key], m1[key], rtol=1e-4, err_msg=key)
    assert len(p1) == len(p2) == 64
    for a, b in zip(p1, p2):
        for key in a:
            np.testing.assert_allclose(b[key], a[key], rtol=1e-4, atol=1e-6)
    print(name, "train", r2._programs.train_tracing_count)

try:
    Runner(model_fn=models.mlp_model_fn, strategy=mirrored, train_batch_size=16).train(
        models.input_fn(repeat=True), steps=1)
except ValueError as error:
    print("static:", error)
print("batch sizes:", sorted(set(seen)))
"""


@pytest.mark.parametrize("n", [pytest.param(2, id="2-replicas"), pytest.param(4, id="4-replicas")])
def test_mirrored_equals_one_device(python_subprocess, load_models_code, n):
    out = python_subprocess(CODE.format(n=n, load_models=load_models_code))
    assert "mlp train 1" in out and "tpu train 1" in out
    assert f"static: With {n} replicas, train needs batches of a static size" in out
    assert "drop_remainder=True" in out
    # TPUEstimator semantics: model_fn sees the per-replica batch, one device the global one.
    per_replica = 16 // n
    assert f"(True, 'train', {per_replica})" in out and "(False, 'train', 16)" in out
    assert f"(True, 'infer', {24 // n})" in out


HOOKS_CODE = """
import tempfile
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
{load_models}
from estimator_spec_compat.convert.hooks import TrainingCallback
from estimator_spec_compat.runner import Runner, RunnerConfig
v1 = tf.compat.v1


class Record(TrainingCallback):
    def __init__(self, name="seen_labels:0"):
        self.seen, self.name = [], name

    def fetches(self):
        return {{"value": self.name}}

    def on_step_end(self, step, logs):
        value = logs["value"]
        self.seen.append((step, value.tolist() if "labels" in self.name else value))
        return False


def run(strategy):
    host_total = tf.Variable(0.0)

    def model_fn(features, labels, mode, params):
        spec = models.tpu_model_fn(features, labels, mode, params)
        if labels is not None:
            tf.identity(labels, name="seen_labels")
        tf.identity(features["x"], name="seen_x")
        if mode != "train":
            return spec
        v1.metrics.mean(spec.loss, name="never_fetched")  # built, not fetched: must not run
        host_fn = lambda x: host_total.assign_add(tf.reduce_sum(x))
        return spec._replace(host_call=(host_fn, [features["x"]]))

    runner = Runner(model_fn=model_fn, model_dir=tempfile.mkdtemp(), strategy=strategy,
                    config=RunnerConfig(steps_per_loop=5, tf_random_seed=3), train_batch_size=16,
                    eval_batch_size=16, predict_batch_size=16)
    record = Record()
    hooks = [record, v1.train.StopAtStepHook(num_steps=3)]
    runner.train(models.input_fn(repeat=True, drop_remainder=True), steps=10, hooks=hooks)
    in_eval = Record()
    runner.evaluate(models.input_fn(drop_remainder=True), hooks=[in_eval])
    assert [s for s, _ in in_eval.seen] == [3] * 4, in_eval.seen  # 4 batches at global step 3
    in_predict = Record("seen_x:0")
    assert len(list(runner.predict(models.input_fn(labels=False), hooks=[in_predict]))) == 64
    x, _ = models.data()
    rows = 16 // runner.num_replicas  # the first replica's rows of each batch of 16
    expected_x = [(3, x[16 * b: 16 * b + rows].tolist()) for b in range(4)]
    assert [(s, v.tolist()) for s, v in in_predict.seen] == expected_x, in_predict.seen
    return runner, record.seen + in_eval.seen[1:2], host_total.numpy()


x, y = models.data()
one, seen_one, host_one = run(tf.distribute.OneDeviceStrategy("/cpu:0"))
two, seen_two, host_two = run(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
assert two.num_replicas == 2
# Hooks see the first replica's tensors (Estimator took hooks from the first device).
# ... in training (steps 1-3), then in evaluation (its second batch, at global step 3).
assert seen_one == [(s, y[16 * (b - 1): 16 * b].tolist()) for s, b in ((1, 1), (2, 2), (3, 3), (3, 2))]
assert seen_two == [
    (s, y[16 * (b - 1): 16 * (b - 1) + 8].tolist()) for s, b in ((1, 1), (2, 2), (3, 3), (3, 2))
]
# host_call gets every replica's tensors; the metric the step never fetched never ran.
np.testing.assert_allclose([host_one, host_two], x[:48].sum(), rtol=1e-5)
for runner in (one, two):
    assert runner.evaluate(models.input_fn(drop_remainder=True))["global_step"] == 3
    assert runner.get_variable_value("never_fetched/count") == 0
for var in one.get_variable_names():
    np.testing.assert_allclose(two.get_variable_value(var), one.get_variable_value(var),
                               rtol=1e-4, atol=1e-6, err_msg=var)
print("ok")
"""


def test_replicated_train_step_is_pruned_and_feeds_train_and_eval_hooks_and_host_call(
    python_subprocess, load_models_code
):
    out = python_subprocess(HOOKS_CODE.format(load_models=load_models_code))
    assert out.strip().endswith("ok")
