"""Keras layers inside a legacy model_fn, trained by a v1 optimizer's ``minimize``.

Keras creates a layer's weights inside ``tf.init_scope()``; a v1 optimizer finds
them only in the model_fn graph's TRAINABLE_VARIABLES (before the fix: "No
variables to optimize."). The expected numbers come from the same model_fn run
in a TF1 ``tf.compat.v1.Session``, the way Estimator ran it.
"""

import numpy as np
import pytest

from estimator_spec_compat import EstimatorSpec
from estimator_spec_compat._compat import tf
from estimator_spec_compat.runner import Runner, RunnerConfig

STEPS, BATCH = 8, 8
_X = np.random.RandomState(3).rand(BATCH * STEPS, 3).astype("float32")
_Y = (_X @ np.array([[1.0], [-2.0], [0.5]], "float32")).astype("float32")
_KERNEL = [[0.1], [0.2], [-0.3]]


def _layer(kind):
    init = tf.compat.v1.constant_initializer(_KERNEL)
    if kind == "compat_v1_keras":
        return tf.compat.v1.keras.layers.Dense(1, kernel_initializer=init, name="d")
    return tf.compat.v1.layers.Dense(1, kernel_initializer=init, name="d")


def _model_fn(kind):
    def model_fn(features, labels, mode):
        logits = _layer(kind)(features["x"])
        loss = tf.compat.v1.losses.mean_squared_error(labels, logits)
        step = tf.compat.v1.train.get_global_step()
        train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss, step)
        return EstimatorSpec(mode, loss=loss, train_op=train_op, predictions=logits)

    return model_fn


def _input_fn():
    return tf.data.Dataset.from_tensor_slices(({"x": _X}, _Y)).batch(BATCH)


def _session_reference(model_fn):
    """Variables after one pass over the data, in a TF1 graph and Session."""
    with tf.Graph().as_default():
        tf.compat.v1.train.get_or_create_global_step()
        x = tf.compat.v1.placeholder(tf.float32, [None, 3])
        y = tf.compat.v1.placeholder(tf.float32, [None, 1])
        spec = model_fn({"x": x}, y, "train")
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            for i in range(STEPS):
                rows = slice(i * BATCH, (i + 1) * BATCH)
                session.run(spec.train_op, {x: _X[rows], y: _Y[rows]})
            return {
                v.op.name: session.run(v)
                for v in tf.compat.v1.global_variables()
                if v.op.name != "global_step"
            }


@pytest.mark.parametrize("kind", ["compat_v1_keras", "compat_v1_layers"])
def test_keras_layer_weights_train_as_in_a_session(kind, tmp_path):
    if kind == "compat_v1_layers":
        try:
            tf.compat.v1.layers.Dense  # noqa: B018 (Keras 3 without tf-keras has none)
        except AttributeError:
            pytest.skip("tf.compat.v1.layers needs tf-keras + TF_USE_LEGACY_KERAS=1 here")
    model_fn = _model_fn(kind)
    expected = _session_reference(model_fn)
    runner = Runner(
        model_fn=model_fn, model_dir=str(tmp_path), config=RunnerConfig(steps_per_loop=3)
    )
    runner.train(_input_fn)
    assert runner.get_variable_value("global_step") == STEPS
    assert sorted(expected) == ["d/bias", "d/kernel"]
    for name, value in expected.items():
        np.testing.assert_allclose(runner.get_variable_value(name), value, rtol=1e-5)
