"""transfer_slots: v1 training continued by the Keras optimizer gives v1's variables.

Two sources: a v1 optimizer applied eagerly, and a v1 ``Saver`` checkpoint written
from a graph the way an Estimator writes it (``dense/kernel/Adam``,
``beta1_power``, ``global_step``).  Expectations come from the v1 optimizer
continuing on its own.
"""

import numpy as np
import pytest

from estimator_spec_compat._compat import tf
from estimator_spec_compat.convert import optimizers
from estimator_spec_compat.convert.schedules import keras_schedule_from_v1

V1 = tf.compat.v1.train
NAMES = ["dense/kernel", "dense/bias", "scale"]
SHAPES = [(4, 5), (5,), ()]
BEFORE, AFTER = 10, 20

WITH_SLOTS = [
    pytest.param(lambda: V1.MomentumOptimizer(0.05, 0.9), id="momentum"),
    pytest.param(lambda: V1.MomentumOptimizer(0.05, 0.8, use_nesterov=True), id="nesterov"),
    pytest.param(lambda: V1.AdamOptimizer(0.02, 0.8, 0.95), id="adam"),
    pytest.param(lambda: V1.AdagradOptimizer(0.1, 0.2), id="adagrad"),
    pytest.param(lambda: V1.AdadeltaOptimizer(1.0, 0.9, 1e-6), id="adadelta"),
    pytest.param(lambda: V1.RMSPropOptimizer(0.01), id="rmsprop"),
    pytest.param(lambda: V1.RMSPropOptimizer(0.01, 0.8, 0.5, centered=True), id="rmsprop_centered"),
    pytest.param(lambda: V1.FtrlOptimizer(0.1, l1_regularization_strength=0.01), id="ftrl"),
    pytest.param(
        lambda: V1.FtrlOptimizer(0.1, accum_name="acc", linear_name="lin"), id="ftrl_named_slots"
    ),
    pytest.param(lambda: V1.AdamOptimizer(0.01, name="MyAdam"), id="adam_renamed"),
]


def _problem():
    rng = np.random.default_rng(1)
    inits = [rng.normal(size=shape).astype(np.float32) for shape in SHAPES]
    grads = [
        [rng.normal(size=shape).astype(np.float32) for shape in SHAPES]
        for _ in range(BEFORE + AFTER)
    ]
    return inits, grads


def _keras_steps(keras_opt, variables, grads):
    for step_grads in grads:
        keras_opt.apply_gradients(zip(map(tf.constant, step_grads), variables))


def _assert_close(actual_vars, expected_values):
    for actual, expected in zip(actual_vars, expected_values):
        np.testing.assert_allclose(actual.numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make_v1", WITH_SLOTS)
def test_eager_v1_state_carries_over(make_v1):
    inits, grads = _problem()
    v1_opt = make_v1()
    v1_vars = [tf.Variable(x) for x in inits]
    for step_grads in grads[:BEFORE]:
        v1_opt.apply_gradients(zip(map(tf.constant, step_grads), v1_vars))
    keras_vars = [tf.Variable(v.numpy()) for v in v1_vars]
    fresh_vars = [tf.Variable(v.numpy()) for v in v1_vars]
    keras_opt = optimizers.to_keras_optimizer(v1_opt, var_list=keras_vars)
    step = optimizers.transfer_slots(v1_opt, keras_opt, keras_vars, v1_vars=v1_vars)
    assert step == (BEFORE if "Adam" in type(v1_opt).__name__ else 0)
    fresh_opt = optimizers.to_keras_optimizer(v1_opt, var_list=fresh_vars)
    for step_grads in grads[BEFORE:]:
        v1_opt.apply_gradients(zip(map(tf.constant, step_grads), v1_vars))
    _keras_steps(keras_opt, keras_vars, grads[BEFORE:])
    _keras_steps(fresh_opt, fresh_vars, grads[BEFORE:])
    expected = [v.numpy() for v in v1_vars]
    _assert_close(keras_vars, expected)
    # Without the transfer the continuation differs: the test can fail.
    assert not all(np.allclose(f.numpy(), e, rtol=1e-4) for f, e in zip(fresh_vars, expected))


def _train_v1_graph(make_v1, inits, grads, checkpoint_dir):
    """Estimator-style: v1 graph, global step, Saver; saves after BEFORE steps."""
    with tf.Graph().as_default():
        variables = []
        for name, init in zip(NAMES, inits):
            scope, _, short = name.rpartition("/")
            with tf.compat.v1.variable_scope(scope or tf.compat.v1.get_variable_scope()):
                variables.append(tf.compat.v1.get_variable(short, initializer=init))
        global_step = V1.get_or_create_global_step()
        feeds = [tf.compat.v1.placeholder(tf.float32, shape) for shape in SHAPES]
        train_op = make_v1(global_step).apply_gradients(
            zip(feeds, variables), global_step=global_step
        )
        saver = V1.Saver()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            for index, step_grads in enumerate(grads):
                if index == BEFORE:
                    path = saver.save(session, f"{checkpoint_dir}/model.ckpt", global_step)
                session.run(train_op, dict(zip(feeds, step_grads)))
            return path, session.run(variables)


@pytest.mark.parametrize("make_v1", WITH_SLOTS)
def test_v1_saver_checkpoint_carries_over(make_v1, tmp_path):
    inits, grads = _problem()
    path, expected = _train_v1_graph(lambda step: make_v1(), inits, grads, tmp_path)
    reader = tf.train.load_checkpoint(path)
    keras_vars = [tf.Variable(reader.get_tensor(name), name=name) for name in NAMES]
    v1_opt = make_v1()  # the same constructor call the model_fn makes
    keras_opt = optimizers.to_keras_optimizer(v1_opt, var_list=keras_vars)
    assert optimizers.transfer_slots(v1_opt, keras_opt, keras_vars, checkpoint=tmp_path) == BEFORE
    _keras_steps(keras_opt, keras_vars, grads[BEFORE:])
    _assert_close(keras_vars, expected)


def test_checkpoint_with_a_graph_decay_and_keras_layer_names(tmp_path):
    inits, grads = _problem()

    def make_v1(step):
        return V1.AdamOptimizer(V1.exponential_decay(0.05, step, 7, 0.5, staircase=True))

    path, expected = _train_v1_graph(make_v1, inits, grads, tmp_path)
    reader = tf.train.load_checkpoint(path)
    keras_vars = [tf.Variable(reader.get_tensor(name)) for name in NAMES]  # names differ
    schedule = keras_schedule_from_v1(
        V1.exponential_decay, learning_rate=0.05, decay_steps=7, decay_rate=0.5, staircase=True
    )
    v1_opt = V1.AdamOptimizer(0.05)
    keras_opt = optimizers.to_keras_optimizer(v1_opt, learning_rate=schedule, var_list=keras_vars)
    step = optimizers.transfer_slots(
        v1_opt, keras_opt, keras_vars, checkpoint=reader, v1_vars=NAMES
    )
    assert step == BEFORE
    _keras_steps(keras_opt, keras_vars, grads[BEFORE:])
    _assert_close(keras_vars, expected)


def test_adam_step_counters_that_disagree_need_explicit_iterations(tmp_path):
    inits, grads = _problem()
    with tf.Graph().as_default():
        variable = tf.compat.v1.get_variable("scale", initializer=inits[2])
        V1.get_or_create_global_step()  # saved, but never incremented
        feed = tf.compat.v1.placeholder(tf.float32, ())
        v1_graph_opt = V1.AdamOptimizer(0.01)
        train_op = v1_graph_opt.apply_gradients([(feed, variable)])
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            for step_grads in grads[:3]:
                session.run(train_op, {feed: step_grads[2]})
            V1.Saver().save(session, f"{tmp_path}/model.ckpt")
    keras_var = tf.Variable(inits[2])
    keras_opt = optimizers.to_keras_optimizer(V1.AdamOptimizer(0.01), var_list=[keras_var])
    with pytest.raises(ValueError, match=r"`global_step` \(0\).*beta1_power` \(3\) disagree"):
        optimizers.transfer_slots(
            V1.AdamOptimizer(0.01), keras_opt, [keras_var], checkpoint=tmp_path, v1_vars=["scale"]
        )
    step = optimizers.transfer_slots(
        V1.AdamOptimizer(0.01),
        keras_opt,
        [keras_var],
        checkpoint=tmp_path,
        v1_vars=["scale"],
        iterations=3,
    )
    assert step == 3


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        pytest.param(
            {"v1_vars": ["nope/kernel", "dense/bias", "scale"]},
            ValueError,
            r"no tensor `nope/kernel/Adam`.*dense/kernel/Adam",
            id="unknown_name",
        ),
        pytest.param(
            {"v1_vars": ["dense/bias", "dense/kernel", "scale"]},
            ValueError,
            r"`dense/bias/Adam` has shape \(5,\) but the Keras slot `_momentums`.*\(4, 5\)",
            id="misaligned",
        ),
        pytest.param({"v1_vars": ["scale"]}, ValueError, r"`v1_vars` has 1 entries", id="short"),
    ],
)
def test_checkpoint_errors(kwargs, error, match, tmp_path):
    inits, grads = _problem()
    _train_v1_graph(lambda step: V1.AdamOptimizer(0.01), inits, grads[: BEFORE + 1], tmp_path)
    keras_vars = [tf.Variable(x) for x in inits]
    keras_opt = optimizers.to_keras_optimizer(V1.AdamOptimizer(0.01), var_list=keras_vars)
    with pytest.raises(error, match=match):
        optimizers.transfer_slots(
            V1.AdamOptimizer(0.01), keras_opt, keras_vars, checkpoint=tmp_path, **kwargs
        )


@pytest.mark.parametrize(
    "checkpoint, error, match",
    [
        pytest.param(42, TypeError, r"`checkpoint` \(42\) must be a checkpoint path", id="int"),
        pytest.param("EMPTY", ValueError, r"is a directory without a checkpoint", id="empty_dir"),
    ],
)
def test_bad_checkpoint_argument(checkpoint, error, match, tmp_path):
    variable = tf.Variable(1.0)
    keras_opt = optimizers.to_keras_optimizer(V1.AdagradOptimizer(0.1), var_list=[variable])
    checkpoint = str(tmp_path) if checkpoint == "EMPTY" else checkpoint
    with pytest.raises(error, match=match):
        optimizers.transfer_slots(
            V1.AdagradOptimizer(0.1), keras_opt, [variable], checkpoint=checkpoint
        )


def test_eager_source_needs_an_applied_optimizer():
    variable = tf.Variable([1.0, 2.0])
    v1_opt = V1.AdagradOptimizer(0.1)
    keras_opt = optimizers.to_keras_optimizer(v1_opt, var_list=[variable])
    with pytest.raises(ValueError, match=r"no `accumulator` slot for `Variable:0`"):
        optimizers.transfer_slots(v1_opt, keras_opt, [variable])


@pytest.mark.estimator_world
@pytest.mark.parametrize(
    "make_v1",
    [
        pytest.param(lambda: V1.AdamOptimizer(0.05), id="adam"),
        pytest.param(lambda: V1.RMSPropOptimizer(0.01, momentum=0.5), id="rmsprop"),
    ],
)
def test_real_estimator_checkpoint_carries_over(make_v1, tmp_path):
    rng = np.random.default_rng(7)
    features = rng.normal(size=(BEFORE + AFTER, 4, 3)).astype(np.float32)
    labels = rng.normal(size=(BEFORE + AFTER, 4, 1)).astype(np.float32)

    def model_fn(features, labels, mode):
        with tf.compat.v1.variable_scope("dense"):
            kernel = tf.compat.v1.get_variable("kernel", initializer=tf.ones([3, 1]) * 0.5)
            bias = tf.compat.v1.get_variable("bias", initializer=tf.zeros([1]))
        loss = tf.reduce_mean(tf.square(tf.matmul(features, kernel) + bias - labels))
        train_op = make_v1().minimize(loss, global_step=V1.get_global_step())
        return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

    def input_fn(start, stop):
        return lambda: tf.data.Dataset.from_tensor_slices(
            (features[start:stop], labels[start:stop])
        )

    estimator = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
    estimator.train(input_fn(0, BEFORE), steps=BEFORE)
    checkpoint = estimator.latest_checkpoint()

    reader = tf.train.load_checkpoint(checkpoint)
    names = ["dense/kernel", "dense/bias"]
    keras_vars = [tf.Variable(reader.get_tensor(name)) for name in names]
    keras_opt = optimizers.to_keras_optimizer(make_v1(), var_list=keras_vars)
    step = optimizers.transfer_slots(
        make_v1(), keras_opt, keras_vars, checkpoint=checkpoint, v1_vars=names
    )
    assert step == BEFORE
    for x, y in zip(features[BEFORE:], labels[BEFORE:]):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(tf.matmul(x, keras_vars[0]) + keras_vars[1] - y))
        keras_opt.apply_gradients(zip(tape.gradient(loss, keras_vars), keras_vars))

    estimator.train(input_fn(BEFORE, BEFORE + AFTER), steps=AFTER)
    expected = [estimator.get_variable_value(name) for name in names]
    assert not np.allclose(expected[0], reader.get_tensor("dense/kernel"))
    _assert_close(keras_vars, expected)
