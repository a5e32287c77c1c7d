"""``RunnerConfig(optimizer="keras")``: the model_fn's v1 optimizer applied as a Keras optimizer.

Expected values always come from the v1 optimizer itself: the runner's default
mode (``optimizer="model_fn"``, the train_op as the model_fn wrote it) or the real
Estimator. Tolerances are those of ``tests/convert/test_optimizers.py``.
"""

import numpy as np
import pytest

from estimator_spec_compat import ModeKeys, _compat
from estimator_spec_compat._compat import tf
from estimator_spec_compat.runner import Runner, RunnerConfig
from estimator_spec_compat.spec import EstimatorSpec

v1 = tf.compat.v1
RTOL, ATOL = 1e-5, 1e-6
MODEL_VARS = ("global_step", "hidden/b", "hidden/w", "out/w")
OPTIMIZERS = {
    "sgd": lambda lr: v1.train.GradientDescentOptimizer(lr),
    "momentum": lambda lr: v1.train.MomentumOptimizer(lr, momentum=0.9),
    "adam": lambda lr: v1.train.AdamOptimizer(lr),  # epsilon 1e-8, kept by the conversion
    "rmsprop": lambda lr: v1.train.RMSPropOptimizer(lr, momentum=0.5),
    "proximal_l1": lambda lr: v1.train.ProximalAdagradOptimizer(lr, l1_regularization_strength=0.1),
    "subclass": lambda lr: type("MyAdam", (v1.train.AdamOptimizer,), {})(lr),
}


def _init(seed, shape):
    return np.random.RandomState(seed).normal(scale=0.5, size=shape).astype(np.float32)


def model_fn(features, labels, mode, params):
    """TF1 style: get_variable, a v1 optimizer, ``minimize(global_step=...)``; the
    train_op is built in every mode (Estimator fetched it only in TRAIN)."""
    with v1.variable_scope("hidden"):
        w = v1.get_variable("w", initializer=_init(0, [4, 8]))
        b = v1.get_variable("b", [8], initializer=v1.zeros_initializer())
    with v1.variable_scope("out"):
        w_out = v1.get_variable("w", initializer=_init(1, [8, 1]))
    prediction = tf.matmul(tf.tanh(tf.matmul(features, w) + b), w_out)[:, 0]
    if mode == ModeKeys.PREDICT:
        return EstimatorSpec(mode, predictions=prediction)
    loss = v1.losses.mean_squared_error(labels, prediction)
    step = v1.train.get_global_step()
    lr = params.get("lr", 0.02)
    if params.get("decay") == "exponential":
        lr = v1.train.exponential_decay(lr, step, decay_steps=3, decay_rate=0.8)
    elif params.get("decay") == "graph_tensor":
        lr = lr / (1.0 + tf.cast(step, tf.float32))  # no v1 decay function: not recoverable
    optimizer = OPTIMIZERS[params["optimizer"]](lr)
    if params.get("two_optimizers"):  # GAN style: each optimizer trains some variables
        first = OPTIMIZERS["sgd"](lr).minimize(loss, var_list=[w])
        train_op = tf.group(first, optimizer.minimize(loss, step, var_list=[b, w_out]))
    else:
        train_op = optimizer.minimize(loss, global_step=step)
    return EstimatorSpec(mode, loss=loss, train_op=train_op)


def input_fn():
    rng = np.random.RandomState(7)
    x = rng.normal(size=(48, 4)).astype(np.float32)
    y = (np.sin(x[:, 0]) + x[:, 1] * x[:, 2]).astype(np.float32)
    return tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(8)


def _runner(model_dir, mode, **params):
    config = RunnerConfig(steps_per_loop=5, optimizer=mode, save_summary_steps=None)
    return Runner(model_fn=model_fn, model_dir=str(model_dir), params=params, config=config)


def _assert_same_model(got, expected, initial):
    for name in MODEL_VARS:
        want = expected(name)
        if name != "global_step":
            assert not np.allclose(want, initial(name)), f"{name} did not move"
        np.testing.assert_allclose(got(name), want, rtol=RTOL, atol=ATOL, err_msg=name)


CASES = [
    pytest.param({"optimizer": "sgd"}, id="gradient_descent"),
    pytest.param({"optimizer": "momentum"}, id="momentum"),
    pytest.param({"optimizer": "adam"}, id="adam"),
    pytest.param({"optimizer": "rmsprop"}, id="rmsprop_momentum"),
    pytest.param({"optimizer": "adam", "decay": "exponential"}, id="adam_exponential_decay"),
]


@pytest.mark.parametrize("params", CASES)
def test_keras_option_trains_as_the_v1_optimizer(tmp_path, params):
    expected = _runner(tmp_path / "v1", "model_fn", **params).train(input_fn, steps=12)
    keras = _runner(tmp_path / "keras", "keras", **params).train(input_fn, steps=12)
    _assert_same_model(keras.get_variable_value, expected.get_variable_value, _initial_value)
    assert keras.get_variable_names() == sorted(MODEL_VARS)  # no v1 slot was made
    reader = tf.train.load_checkpoint(keras.latest_checkpoint())
    assert int(reader.get_tensor("global_step")) == 12
    assert int(reader.get_tensor("keras_optimizer/iterations")) == 12
    assert v1.train.Optimizer.apply_gradients is _V1_APPLY  # the patch is gone
    assert v1.train.exponential_decay is _V1_DECAY
    # EVAL builds the train_op too; it is not run, and it makes no v1 slot.
    assert keras.evaluate(input_fn, steps=2)["global_step"] == 12
    assert keras.get_variable_names() == sorted(MODEL_VARS)
    converted = keras._programs.optimizer.keras_optimizer
    keras.train(input_fn, steps=1)  # restores its own checkpoint: the Keras state by name
    assert keras._programs.optimizer.keras_optimizer is converted  # converted once
    assert int(converted.iterations.numpy()) == 13


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"optimizer": "momentum"}, id="momentum"),
        pytest.param({"optimizer": "adam", "decay": "exponential"}, id="adam_exponential_decay"),
        pytest.param({"optimizer": "rmsprop"}, id="rmsprop_momentum"),
    ],
)
def test_resume_from_a_v1_optimizer_checkpoint_transfers_its_slots(tmp_path, params):
    """6 steps with the v1 optimizer, then 3 + 3 with the Keras one (a new Runner each
    time: v1 slots transferred, then the Keras state restored by name)."""
    expected = _runner(tmp_path / "v1", "model_fn", **params)
    for steps in (6, 3, 3):  # the input restarts with each call, in both runs
        expected.train(input_fn, steps=steps)
    _runner(tmp_path / "mixed", "model_fn", **params).train(input_fn, steps=6)
    _runner(tmp_path / "mixed", "keras", **params).train(input_fn, steps=3)
    resumed = _runner(tmp_path / "mixed", "keras", **params).train(input_fn, steps=3)
    _assert_same_model(resumed.get_variable_value, expected.get_variable_value, _initial_value)
    reader = tf.train.load_checkpoint(resumed.latest_checkpoint())
    assert int(reader.get_tensor("keras_optimizer/iterations")) == 12


@pytest.mark.estimator_world
def test_resume_from_an_estimator_checkpoint(tmp_path):
    """Estimator (v1 Adam, exponential decay) 6 steps, then the runner's Keras Adam 6 more,
    equals Estimator run 6 + 6 steps."""
    params = {"optimizer": "adam", "decay": "exponential"}
    estimator = tf.estimator.Estimator(model_fn, str(tmp_path / "est"), params=params)
    estimator.train(input_fn, steps=6).train(input_fn, steps=6)
    tf.estimator.Estimator(model_fn, str(tmp_path / "mixed"), params=params).train(
        input_fn, steps=6
    )
    resumed = _runner(tmp_path / "mixed", "keras", **params).train(input_fn, steps=6)
    _assert_same_model(resumed.get_variable_value, estimator.get_variable_value, _initial_value)


MIRRORED = """
import tempfile
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
{load_models}
from estimator_spec_compat.runner import Runner, RunnerConfig

def run(strategy, optimizer):
    runner = Runner(
        model_fn=models.mlp_model_fn, model_dir=tempfile.mkdtemp(),
        params={{"optimizer": "adam", "learning_rate": 0.02}}, strategy=strategy, train_batch_size=16,
        config=RunnerConfig(steps_per_loop=5, tf_random_seed=3, optimizer=optimizer),
    )
    return runner.train(models.input_fn(repeat=True, drop_remainder=True), steps=10)

mirrored = run(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), "keras")
one = run(tf.distribute.OneDeviceStrategy("/cpu:0"), "keras")
v1_one = run(tf.distribute.OneDeviceStrategy("/cpu:0"), "model_fn")
assert mirrored.num_replicas == 2
names = mirrored.get_variable_names()
assert names == one.get_variable_names() == ["global_step", "mlp/b0", "mlp/w0", "mlp/w1"], names
for name in names:
    got = mirrored.get_variable_value(name)
    np.testing.assert_allclose(got, one.get_variable_value(name), rtol={rtol}, atol={atol})
    np.testing.assert_allclose(got, v1_one.get_variable_value(name), rtol={rtol}, atol={atol})
reader = tf.train.load_checkpoint(mirrored.latest_checkpoint())
print("iterations", reader.get_tensor("keras_optimizer/iterations"))
"""


def test_mirrored_two_replicas_equal_one_device(python_subprocess, load_models_code):
    code = MIRRORED.format(load_models=load_models_code, rtol=RTOL, atol=ATOL)
    assert "iterations 10" in python_subprocess(code)


@pytest.mark.parametrize(
    "mode", [pytest.param("model_fn", id="v1"), pytest.param("keras", id="keras")]
)
def test_mirrored_over_one_device_applies_each_gradient_once(tmp_path, mode):
    """A MirroredStrategy's component variables must not reach TRAINABLE_VARIABLES next
    to the MirroredVariable (wrap_function's creator listed them: trained twice)."""

    def run(name, strategy):
        config = RunnerConfig(steps_per_loop=5, optimizer=mode, save_summary_steps=None)
        runner = Runner(
            model_fn=model_fn,
            model_dir=str(tmp_path / name),
            params={"optimizer": "sgd"},
            config=config,
            strategy=strategy,
        )
        return runner.train(input_fn, steps=4)

    mirrored = run("mirrored", tf.distribute.MirroredStrategy(["/cpu:0"]))
    one = run("one", tf.distribute.OneDeviceStrategy("/cpu:0"))
    _assert_same_model(mirrored.get_variable_value, one.get_variable_value, _initial_value)


LAYERS = """
import tempfile
import numpy as np
import tensorflow as tf
{load_models}
from estimator_spec_compat.runner import Runner, RunnerConfig

def run(optimizer, hooks=None):
    runner = Runner(
        model_fn=models.layers_model_fn, model_dir=tempfile.mkdtemp(),
        params={{"optimizer": "momentum", "learning_rate": 0.02, "dropout": 0.0}},
        config=RunnerConfig(steps_per_loop=5, tf_random_seed=3, optimizer=optimizer),
        train_batch_size=16,
    )
    return runner.train(models.input_fn(repeat=True), steps=8, hooks=hooks)

expected = run("model_fn")
for hooks in (None, [tf.compat.v1.train.StopAtStepHook(last_step=8)]):
    keras = run("keras", hooks)
    names = keras.get_variable_names()
    assert names == [n for n in expected.get_variable_names() if "Momentum" not in n], names
    for name in names:
        want = expected.get_variable_value(name)
        np.testing.assert_allclose(keras.get_variable_value(name), want, rtol={rtol}, atol={atol})
    assert not np.allclose(keras.get_variable_value("batch_normalization/moving_mean"), 0.0)
    print("ok", "hooks" if hooks else "loops", keras.get_variable_value("global_step"))
"""


def test_layers_update_ops_and_hooks(python_subprocess, load_models_code):
    """tf.compat.v1.layers with batch-norm UPDATE_OPS as the train_op's control inputs,
    in the compiled loop and in the one-step-per-call hooks path (legacy Keras)."""
    code = LAYERS.format(load_models=load_models_code, rtol=RTOL, atol=ATOL)
    legacy = {} if _compat.HAS_ESTIMATOR else {"TF_USE_LEGACY_KERAS": "1"}  # Keras 2 for v1 layers
    out = python_subprocess(code, env=legacy)
    assert "ok loops 8" in out and "ok hooks 8" in out


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        pytest.param(
            {"optimizer": "proximal_l1"},
            ValueError,
            r"optimizer.*cannot be converted.*l1_regularization_strength.*optimizer='model_fn'",
            id="proximal_with_l1",
        ),
        pytest.param(
            {"optimizer": "subclass"},
            TypeError,
            r"cannot be converted.*MyAdam.*without a known Keras equivalent",
            id="unknown_subclass",
        ),
        pytest.param(
            {"optimizer": "sgd", "decay": "graph_tensor"},
            ValueError,
            r"learning rate .*GradientDescentOptimizer is a Tensor computed in its graph.*"
            r"tf.compat.v1.train.\*_decay",
            id="learning_rate_graph_tensor",
        ),
        pytest.param(
            {"optimizer": "adam", "two_optimizers": True},
            ValueError,
            r"supports one v1 optimizer per model_fn.*converted GradientDescentOptimizer on 1 "
            r"variable\(s\) and now sees AdamOptimizer on 2",
            id="two_optimizers",
        ),
    ],
)
def test_unconvertible_optimizer_is_a_clear_error(tmp_path, params, error, match):
    with pytest.raises(error, match=match):
        _runner(tmp_path, "keras", **params).train(input_fn, steps=1)
    assert v1.train.Optimizer.apply_gradients is _V1_APPLY
    _runner(tmp_path / "v1", "model_fn", **params).train(input_fn, steps=1)  # runs as written


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        pytest.param("adam", ValueError, r"`optimizer` \('adam'\) must be one of", id="unknown"),
        pytest.param(None, TypeError, r"`optimizer` \(None\) must be a string", id="not_str"),
    ],
)
def test_config_validates_optimizer(value, error, match):
    with pytest.raises(error, match=match):
        RunnerConfig(optimizer=value)
    assert RunnerConfig().optimizer == "model_fn"


_V1_APPLY = v1.train.Optimizer.apply_gradients
_V1_DECAY = v1.train.exponential_decay


def _initial_value(name):
    return {
        "hidden/w": _init(0, [4, 8]),
        "hidden/b": np.zeros([8], np.float32),
        "out/w": _init(1, [8, 1]),
    }[name]
