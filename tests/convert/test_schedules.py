"""v1 learning-rate decays vs their Keras schedules, step by step.

Expected values come from calling the real ``tf.compat.v1.train.*_decay`` with
the global step at each value.
"""

import numpy as np
import pytest

from estimator_spec_compat._compat import tf
from estimator_spec_compat.convert import schedules

V1 = tf.compat.v1.train

DECAYS = [
    pytest.param(
        "exponential_decay",
        dict(learning_rate=0.1, decay_steps=7, decay_rate=0.5, staircase=True),
        "ExponentialDecay",
        id="exponential_staircase",
    ),
    pytest.param(
        "exponential_decay",
        dict(learning_rate=0.1, decay_steps=7, decay_rate=0.5),
        "ExponentialDecay",
        id="exponential",
    ),
    pytest.param(
        "natural_exp_decay",
        dict(learning_rate=0.1, decay_steps=5, decay_rate=0.3, staircase=True),
        "ExponentialDecay",
        id="natural_exp",
    ),
    pytest.param(
        "inverse_time_decay",
        dict(learning_rate=0.2, decay_steps=4, decay_rate=0.5),
        "InverseTimeDecay",
        id="inverse_time",
    ),
    pytest.param(
        "polynomial_decay",
        dict(learning_rate=0.1, decay_steps=20, end_learning_rate=0.01, power=2.0, cycle=True),
        "PolynomialDecay",
        id="polynomial_cycle",
    ),
    pytest.param(
        "polynomial_decay",
        dict(learning_rate=0.1, decay_steps=20),
        "PolynomialDecay",
        id="polynomial_v1_defaults",
    ),
    pytest.param(
        "piecewise_constant",
        dict(boundaries=[10, 30], values=[0.1, 0.05, 0.01]),
        "PiecewiseConstantDecay",
        id="piecewise",
    ),
    pytest.param(
        "cosine_decay",
        dict(learning_rate=0.1, decay_steps=40, alpha=0.1),
        "CosineDecay",
        id="cosine",
    ),
    pytest.param(
        "cosine_decay_restarts",
        dict(learning_rate=0.1, first_decay_steps=10, t_mul=1.5, m_mul=0.8, alpha=0.05),
        "CosineDecayRestarts",
        id="cosine_restarts",
    ),
]
STEPS = range(0, 61, 3)


def _v1_values(name, kwargs):
    step = tf.Variable(0, dtype=tf.int64)
    step_arg = {"x": step} if name == "piecewise_constant" else {"global_step": step}
    decayed = getattr(V1, name)(**kwargs, **step_arg)
    values = []
    for value in STEPS:
        step.assign(value)
        values.append(float(decayed()))
    return decayed, np.array(values)


def _keras_values(schedule):
    return np.array([float(schedule(step)) for step in STEPS])


@pytest.mark.parametrize("name, kwargs, keras_class", DECAYS)
def test_eager_v1_result_converts_exactly(name, kwargs, keras_class):
    decayed, expected = _v1_values(name, kwargs)
    schedule = schedules.to_keras_schedule(decayed)
    assert type(schedule).__name__ == keras_class
    assert isinstance(schedule, tf.keras.optimizers.schedules.LearningRateSchedule)
    np.testing.assert_allclose(_keras_values(schedule), expected, rtol=1e-6)
    assert len(set(expected.round(8))) > 1, "the decay did not change the rate"


@pytest.mark.parametrize("name, kwargs, keras_class", DECAYS)
def test_from_v1_arguments(name, kwargs, keras_class):
    _, expected = _v1_values(name, kwargs)
    by_function = schedules.keras_schedule_from_v1(getattr(V1, name), **kwargs)
    step_arg = {"x": None} if name == "piecewise_constant" else {"global_step": None}
    by_name = schedules.keras_schedule_from_v1(name, **step_arg, **kwargs)
    assert type(by_function).__name__ == type(by_name).__name__ == keras_class
    np.testing.assert_allclose(_keras_values(by_function), expected, rtol=1e-6)
    np.testing.assert_allclose(_keras_values(by_name), expected, rtol=1e-6)


def test_a_keras_schedule_is_returned_as_it_is():
    schedule = tf.keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    assert schedules.to_keras_schedule(schedule) is schedule


@pytest.mark.parametrize("name", ["linear_cosine_decay", "noisy_linear_cosine_decay"])
def test_decays_without_keras_twin_fail_clearly(name):
    step = tf.Variable(0, dtype=tf.int64)
    with pytest.raises(ValueError, match=rf"{name}.*no Keras learning-rate schedule"):
        schedules.keras_schedule_from_v1(name, learning_rate=0.1, decay_steps=10)
    decayed = getattr(V1, name)(0.1, step, 10)
    with pytest.raises(ValueError, match=r"LinearCosineDecay schedule, which has no Keras"):
        schedules.to_keras_schedule(decayed)


@pytest.mark.parametrize(
    "decay, kwargs, match",
    [
        pytest.param("step_decay", {}, r"`decay` \('step_decay'\) is not a", id="unknown_name"),
        pytest.param(len, {}, r"is not a `tf.compat.v1.train` learning-rate decay", id="function"),
        pytest.param(
            "exponential_decay",
            dict(learning_rate=0.1, decay_steps=7, decay_rate=0.5, stair=True),
            r"do not fit `tf.compat.v1.train.exponential_decay",
            id="misspelt_argument",
        ),
        pytest.param(
            "exponential_decay",
            dict(learning_rate=0.1, decay_steps=7),
            r"exponential_decay` needs \['decay_rate'\]",
            id="missing_argument",
        ),
    ],
)
def test_bad_from_v1_arguments(decay, kwargs, match):
    with pytest.raises(TypeError, match=match):
        schedules.keras_schedule_from_v1(decay, **kwargs)


def test_a_graph_tensor_cannot_be_converted():
    with tf.Graph().as_default():
        decayed = V1.exponential_decay(0.1, V1.get_or_create_global_step(), 10, 0.5)
    with pytest.raises(TypeError, match=r"not the eager result.*keras_schedule_from_v1"):
        schedules.to_keras_schedule(decayed)
