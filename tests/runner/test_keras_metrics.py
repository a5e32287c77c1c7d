"""Keras metric objects in eval_metric_ops (and TPU metric_fn) under the runner.

Estimator accepted a ``tf.keras.metrics.Metric`` the model_fn had updated. Expected
values are computed by hand with numpy from the trained weights, and in the
estimator world also by ``tf.estimator.Estimator.evaluate`` on the same checkpoint.
Keras 3 (modern ``tf.keras``), Keras 2 (estimator world) and tf-keras with
``TF_USE_LEGACY_KERAS=1`` (a subprocess) are all covered.
"""

import importlib.util
import pathlib

import numpy as np
import pytest

from estimator_spec_compat._compat import tf
from estimator_spec_compat.runner import Runner, RunnerConfig
from estimator_spec_compat.spec import EstimatorSpec

_spec = importlib.util.spec_from_file_location(
    "runner_test__extra_models", pathlib.Path(__file__).with_name("_extra_models.py")
)
extra = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(extra)
models = extra.load("_models")

TRAIN_STEPS = 5


def _trained(tmp_path, model_fn, params=None, **kwargs):
    runner = Runner(
        model_fn=model_fn,
        model_dir=str(tmp_path),
        params=params,
        config=RunnerConfig(tf_random_seed=3, steps_per_loop=5),
        **kwargs,
    )
    runner.train(models.input_fn(repeat=True, drop_remainder=True), steps=TRAIN_STEPS)
    return runner


def _assert_close(got, expected, keys):
    for key in keys:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, err_msg=key)


def test_keras_metric_objects_evaluate_to_the_numbers_by_hand(tmp_path):
    runner = _trained(tmp_path, extra.keras_metrics_model_fn)
    got = runner.evaluate(models.input_fn())
    x, y = models.data()
    expected = extra.expected_keras_metrics(runner.get_variable_value("w"), x, y)
    assert sorted(got) == sorted([*expected, "global_step"])
    _assert_close(got, expected, expected)
    again = runner.evaluate(models.input_fn())  # metric variables start afresh each time
    _assert_close(again, expected, expected)
    # Local variables, as under Estimator: neither checkpointed nor restored.
    saved = {name for name, _ in tf.train.list_variables(str(tmp_path))}
    assert saved == {"global_step", "w"}


def test_keras_metric_objects_from_a_tpu_metric_fn(tmp_path):
    sizes = dict(train_batch_size=16, eval_batch_size=16)
    runner = _trained(tmp_path, extra.keras_metrics_tpu_model_fn, **sizes)
    got = runner.evaluate(models.input_fn(drop_remainder=True))
    x, y = models.data()
    expected = extra.expected_keras_metrics(runner.get_variable_value("w"), x, y)
    _assert_close(got, expected, ["mean_p0", "sparse_acc", "loss"])


def test_model_fn_sees_tensors_hashable_by_identity_as_in_estimator_graphs(tmp_path):
    seen = []

    def model_fn(features, labels, mode):
        logits = extra.linear_logits(features)
        seen.append({logits: "key"}[logits] == "key" and (logits == logits) is True)
        loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
        step = tf.compat.v1.train.get_global_step()
        return EstimatorSpec(mode, loss=loss, train_op=step.assign_add(1))

    runner = Runner(model_fn=model_fn, model_dir=str(tmp_path))
    runner.train(models.input_fn(repeat=True), steps=1)
    assert seen == [True]

    @tf.function
    def hash_a_tensor():
        return {tf.identity(1.0): 1}

    with pytest.raises(TypeError, match="unhashable"):  # TF2 behaviour again afterwards
        hash_a_tensor()


def test_a_keras_metric_the_model_fn_did_not_update_is_an_error(tmp_path):
    runner = _trained(tmp_path, extra.not_updated_model_fn)
    with pytest.raises(ValueError, match=r"'never_updated'.*did not update.*update_state"):
        runner.evaluate(models.input_fn())


@pytest.mark.estimator_world
@pytest.mark.parametrize(
    "upstream_spec",
    [pytest.param(False, id="our-spec"), pytest.param(True, id="tf.estimator.EstimatorSpec")],
)
def test_keras_metric_objects_match_estimator_evaluate(tmp_path, upstream_spec):
    params = {"upstream_spec": upstream_spec}
    runner = _trained(tmp_path, extra.keras_metrics_model_fn, params)
    got = runner.evaluate(models.input_fn())
    estimator = tf.estimator.Estimator(
        extra.keras_metrics_model_fn, model_dir=str(tmp_path), params=params
    )
    expected = estimator.evaluate(models.input_fn())  # the runner's checkpoint
    assert sorted(got) == sorted(expected)
    _assert_close(got, expected, expected)


LEGACY_KERAS = """
import numpy as np
import tensorflow as tf
{load}
import tempfile
from estimator_spec_compat.runner import Runner, RunnerConfig
runner = Runner(model_fn=extra.keras_metrics_model_fn, model_dir=tempfile.mkdtemp(),
                config=RunnerConfig(tf_random_seed=3))
runner.train(models.input_fn(repeat=True), steps=5)
got = runner.evaluate(models.input_fn())
x, y = models.data()
expected = extra.expected_keras_metrics(runner.get_variable_value("w"), x, y)
for key in expected:
    np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, err_msg=key)
print("legacy keras metrics ok", type(tf.keras.metrics.Mean()).__module__)
"""


@pytest.mark.modern_world
def test_tf_keras_metric_objects_with_legacy_keras(python_subprocess):
    out = python_subprocess(
        LEGACY_KERAS.format(load=extra.LOAD_CODE), env={"TF_USE_LEGACY_KERAS": "1"}
    )
    assert "legacy keras metrics ok tf_keras" in out


MIRRORED = """
import tempfile
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
{load}
from estimator_spec_compat.runner import Runner, RunnerConfig

def evaluate(strategy):
    runner = Runner(model_fn=extra.keras_metrics_model_fn, model_dir=tempfile.mkdtemp(),
                    strategy=strategy, config=RunnerConfig(tf_random_seed=3),
                    train_batch_size=16, eval_batch_size=16)
    runner.train(models.input_fn(repeat=True, drop_remainder=True), steps=5)
    return runner, runner.evaluate(models.input_fn(drop_remainder=True))

one, got_one = evaluate(tf.distribute.OneDeviceStrategy("/cpu:0"))
two, got_two = evaluate(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
assert two.num_replicas == 2
x, y = models.data()
expected = extra.expected_keras_metrics(two.get_variable_value("w"), x, y)
for key in expected:
    np.testing.assert_allclose(got_two[key], got_one[key], rtol=1e-5, err_msg=key)
    np.testing.assert_allclose(got_two[key], expected[key], rtol=1e-5, err_msg=key)
print("mirrored keras metrics ok", sorted(got_two))
"""


def test_keras_metric_objects_under_mirrored_equal_one_device(python_subprocess):
    out = python_subprocess(MIRRORED.format(load=extra.LOAD_CODE))
    assert "mirrored keras metrics ok" in out and "'sparse_acc'" in out
