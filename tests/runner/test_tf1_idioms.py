"""Model code written as TF1 projects wrote it runs as written (issue: real legacy model_fns).

One model_fn with the idioms found in public TF1 code: ``tf.compat.v1.layers``
with a kernel regularizer and ``get_regularization_loss()``, batch normalization
whose UPDATE_OPS the train_op depends on, dropout with ``training=``, a
``tf.compat.v1.keras.layers`` layer, a custom collection, an ``assign_add`` side
effect grouped into the train_op, and ``tf.compat.v1.summary`` calls. Expected
values: the same model_fn run in a TF1 Session (both worlds; in the modern world
with tf-keras, as ``tf.compat.v1.layers`` needs) and the real Estimator
(estimator world).
"""

import pytest

from estimator_spec_compat import _compat

MODEL = """
import numpy as np
import tensorflow as tf
from estimator_spec_compat import EstimatorSpec

STEPS, BATCH = 9, 8
X = np.random.RandomState(5).rand(STEPS * BATCH, 4).astype("float32")
Y = (X @ np.array([[1.0], [-1.0], [0.5], [2.0]], "float32")).astype("float32")

def model_fn(features, labels, mode):
    training = mode == "train"
    init = lambda seed: tf.compat.v1.glorot_uniform_initializer(seed=seed)
    h = tf.compat.v1.layers.dense(
        features["x"], 6, activation=tf.nn.relu, kernel_initializer=init(1),
        kernel_regularizer=lambda w: 0.01 * tf.reduce_sum(tf.square(w)))
    h = tf.compat.v1.layers.batch_normalization(h, training=training)
    h = tf.compat.v1.layers.dropout(h, 0.25, training=training, seed=2)
    h = tf.compat.v1.keras.layers.Dense(3, kernel_initializer=init(3), name="keras_dense")(h)
    logits = tf.compat.v1.layers.dense(h, 1, kernel_initializer=init(4))
    tf.compat.v1.add_to_collection("my_outputs", logits)
    assert tf.compat.v1.get_collection("my_outputs") == [logits]
    if mode == "infer":
        return EstimatorSpec(mode, predictions=logits)
    loss = tf.compat.v1.losses.mean_squared_error(labels, logits)
    loss += tf.compat.v1.losses.get_regularization_loss()
    tf.compat.v1.summary.scalar("total_loss", loss)
    counter = tf.compat.v1.get_variable(
        "counter", [], tf.int64, initializer=tf.compat.v1.zeros_initializer(), trainable=False)
    step = tf.compat.v1.train.get_global_step()
    optimizer = tf.compat.v1.train.MomentumOptimizer(0.05, 0.9)
    with tf.control_dependencies(tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)):
        minimize = optimizer.minimize(loss, step)
    train_op = tf.group(minimize, tf.compat.v1.assign_add(counter, 1))
    return EstimatorSpec(mode, loss=loss, train_op=train_op, predictions=logits,
                         eval_metric_ops={"mae": tf.compat.v1.metrics.mean_absolute_error(labels, logits)})

def input_fn():
    return tf.data.Dataset.from_tensor_slices(({"x": X}, Y)).batch(BATCH)

def train_input_fn():
    # Repeated, stopped by max_steps: at the end of a finite input Estimator's last
    # Session.run fails in the iterator after running ops that do not read the input
    # (the counter's assign_add), so it counted one step more than it trained.
    return input_fn().repeat()

def session_reference():
    with tf.Graph().as_default():
        tf.compat.v1.train.get_or_create_global_step()
        x = tf.compat.v1.placeholder(tf.float32, [None, 4])
        y = tf.compat.v1.placeholder(tf.float32, [None, 1])
        spec = model_fn({"x": x}, y, "train")
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            for i in range(STEPS):
                rows = slice(i * BATCH, (i + 1) * BATCH)
                session.run(spec.train_op, {x: X[rows], y: Y[rows]})
            return {v.op.name: session.run(v) for v in tf.compat.v1.global_variables()}
"""

SESSION_VS_RUNNER = (
    MODEL
    + """
import tempfile
from estimator_spec_compat.runner import Runner, RunnerConfig
expected = session_reference()
runner = Runner(model_fn=model_fn, model_dir=tempfile.mkdtemp(),
                config=RunnerConfig(steps_per_loop=4, save_summary_steps=4))
runner.train(input_fn)
assert sorted(runner.get_variable_names()) == sorted(expected), (
    sorted(runner.get_variable_names()), sorted(expected))
for name, value in expected.items():
    np.testing.assert_allclose(runner.get_variable_value(name), value, rtol=1e-5, atol=1e-6,
                               err_msg=name)
assert expected["counter"] == STEPS
tags = set()
for path in tf.io.gfile.glob(runner.model_dir + "/events.out.tfevents.*"):
    for event in tf.compat.v1.train.summary_iterator(path):
        tags.update(v.tag for v in event.summary.value)
assert "total_loss" in tags, tags
print("OK", len(expected))
"""
)


def test_tf1_idioms_train_as_in_a_session(python_subprocess):
    env = {} if _compat.HAS_ESTIMATOR else {"TF_USE_LEGACY_KERAS": "1"}
    out = python_subprocess(SESSION_VS_RUNNER, env=env)
    assert out.strip().splitlines()[-1].startswith("OK ")


@pytest.mark.estimator_world
def test_tf1_idioms_equal_the_estimator(tmp_path):
    import numpy as np

    from estimator_spec_compat._compat import tf
    from estimator_spec_compat.runner import Runner, RunnerConfig

    namespace = {}
    exec(MODEL, namespace)  # the same source the subprocess test runs
    model_fn, input_fn = namespace["model_fn"], namespace["input_fn"]
    results = []
    for est in (
        tf.estimator.Estimator(model_fn, str(tmp_path / "est")),
        Runner(model_fn=model_fn, model_dir=str(tmp_path / "runner"), config=RunnerConfig()),
    ):
        est.train(namespace["train_input_fn"], max_steps=namespace["STEPS"])
        variables = {n: est.get_variable_value(n) for n in est.get_variable_names()}
        results.append((variables, est.evaluate(input_fn), list(est.predict(input_fn))))
    (exp_vars, exp_metrics, exp_preds), (got_vars, got_metrics, got_preds) = results
    assert sorted(got_vars) == sorted(exp_vars)
    for name in exp_vars:
        np.testing.assert_allclose(
            got_vars[name], exp_vars[name], rtol=1e-4, atol=1e-6, err_msg=name
        )
    assert sorted(got_metrics) == sorted(exp_metrics) == ["global_step", "loss", "mae"]
    for name in exp_metrics:
        np.testing.assert_allclose(got_metrics[name], exp_metrics[name], rtol=1e-4)
    np.testing.assert_allclose(got_preds, exp_preds, rtol=1e-4, atol=1e-6)
