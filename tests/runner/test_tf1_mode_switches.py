"""The runner under TF1 mode switches, each in its own process, against the same run without it.

Legacy programs start with ``tf.disable_v2_behavior()`` (or one of its parts); the
runner must give the numbers it gives without the switch: variables after training,
evaluation, predictions and the exported model's serving outputs.
"""

import json

import numpy as np
import pytest

from estimator_spec_compat._compat import tf

SWITCHES = [
    "disable_v2_behavior",
    "disable_eager_execution",
    "disable_v2_tensorshape",
    "disable_resource_variables",  # disable_v2_behavior covers control flow v2 and equality too
]

CODE = """
import json, sys, tempfile
import numpy as np
import tensorflow.compat.v1 as tf
if {switch!r}:
    getattr(tf, {switch!r})()
{load_models}
from estimator_spec_compat.convert.serving import build_raw_serving_input_receiver_fn
from estimator_spec_compat.runner import Runner, RunnerConfig

x, y = models.data()


def one_shot_input_fn():  # a TF1 input_fn as such programs have them
    ds = tf.data.Dataset.from_tensor_slices(({{"x": x}}, y)).repeat(2).batch(16)
    return tf.data.make_one_shot_iterator(ds).get_next()


runner = Runner(
    model_fn=models.mlp_model_fn,
    model_dir=tempfile.mkdtemp(),
    params={{"optimizer": "adam"}},
    config=RunnerConfig(tf_random_seed=5, steps_per_loop=3),
)
runner.train(one_shot_input_fn, steps=100)
runner.train(models.input_fn(repeat=True), steps=4)
variables = {{n: runner.get_variable_value(n).tolist() for n in runner.get_variable_names()}}
metrics = {{k: float(v) for k, v in runner.evaluate(models.input_fn()).items()}}
probs = [p["probs"].tolist() for p in runner.predict(models.input_fn(labels=False))]
receiver_fn = build_raw_serving_input_receiver_fn({{"x": tf.zeros([1, models.N_FEATURES])}})
export = runner.export_saved_model(tempfile.mkdtemp(), receiver_fn).decode()
print("RESULT" + json.dumps(dict(variables=variables, metrics=metrics, probs=probs, export=export)))
"""


def _run(python_subprocess, load_models_code, switch):
    out = python_subprocess(CODE.format(switch=switch, load_models=load_models_code))
    return json.loads(out.split("RESULT", 1)[1])


_WITHOUT = {}  # the run without any switch, made once for all cases


@pytest.mark.parametrize("switch", SWITCHES)
def test_same_numbers_as_without_the_switch(python_subprocess, load_models_code, switch):
    if not _WITHOUT:
        _WITHOUT.update(_run(python_subprocess, load_models_code, ""))
    expected = _WITHOUT
    got = _run(python_subprocess, load_models_code, switch)
    assert expected["metrics"]["global_step"] == 12  # 8 one-shot batches, then 4 more
    assert sorted(got["variables"]) == sorted(expected["variables"])
    for name, value in expected["variables"].items():
        np.testing.assert_allclose(got["variables"][name], value, rtol=1e-6, err_msg=name)
    assert got["metrics"] == pytest.approx(expected["metrics"], rel=1e-6)
    np.testing.assert_allclose(got["probs"], expected["probs"], rtol=1e-6, atol=1e-7)
    x = tf.constant(np.array(expected["probs"], np.float32)[:, :1].repeat(6, axis=1))
    served = [
        tf.saved_model.load(run["export"]).signatures["serving_default"](x=x)["probs"].numpy()
        for run in (expected, got)
    ]
    np.testing.assert_allclose(served[1], served[0], rtol=1e-6)


MIRRORED = """
import json, sys, tempfile
import tensorflow as tf2
import tensorflow.compat.v1 as tf
if {switch!r}:
    tf.disable_v2_behavior()
cpu = tf2.config.list_physical_devices("CPU")[0]
tf2.config.set_logical_device_configuration(cpu, [tf2.config.LogicalDeviceConfiguration()] * 2)
{load_models}
from estimator_spec_compat.runner import Runner, RunnerConfig

runner = Runner(
    model_fn=models.mlp_model_fn,
    model_dir=tempfile.mkdtemp(),
    params={{"optimizer": "adam"}},
    config=RunnerConfig(tf_random_seed=5, steps_per_loop=3),
    strategy=tf2.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]),
    train_batch_size=16,
    eval_batch_size=16,
)
hooks = [tf.train.StopAtStepHook(last_step=5)]  # hooks: one step per call
runner.train(models.input_fn(repeat=True, drop_remainder=True), steps=6, hooks=hooks)
metrics = runner.evaluate(models.input_fn(drop_remainder=True))
print("RESULT" + json.dumps(dict(
    w1=runner.get_variable_value("mlp/w1").tolist(),
    metrics={{k: float(v) for k, v in metrics.items()}},
)))
"""


def test_two_replicas_and_hooks_under_disable_v2_behavior(python_subprocess, load_models_code):
    runs = [
        json.loads(
            python_subprocess(MIRRORED.format(switch=switch, load_models=load_models_code)).split(
                "RESULT", 1
            )[1]
        )
        for switch in ("", "disable_v2_behavior")
    ]
    assert runs[0]["metrics"]["global_step"] == 5
    np.testing.assert_allclose(runs[1]["w1"], runs[0]["w1"], rtol=1e-6)
    assert runs[1]["metrics"] == pytest.approx(runs[0]["metrics"], rel=1e-6)
