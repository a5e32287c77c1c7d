"""TF1 input_fns that return tensors (iterators' ``get_next()``, constants), as Estimator took them.

Per-step semantics are checked by hand (a model_fn that sums what each step
sees), and in the estimator world against the real Estimator on the same
model_fn and input_fn.
"""

import itertools

import numpy as np
import pytest

from estimator_spec_compat._compat import ModeKeys, tf
from estimator_spec_compat.runner import Runner, RunnerConfig
from estimator_spec_compat.spec import EstimatorSpec

v1 = tf.compat.v1
X = np.arange(10, dtype=np.float32)  # 10 rows, batches of 3: 3 + 3 + 3 + 1


def _dataset():
    return tf.data.Dataset.from_tensor_slices(({"x": X}, X.astype(np.int64))).batch(3)


def one_shot_input_fn():
    return v1.data.make_one_shot_iterator(_dataset()).get_next()


def initializable_input_fn():
    return v1.data.make_initializable_iterator(_dataset()).get_next()


def mapped_input_fn(params, mode, config, input_context):  # every argument Estimator passed
    features, labels = v1.data.make_one_shot_iterator(_dataset()).get_next()
    return {"x": features["x"] * 2.0}, labels + 1


def constant_input_fn():
    return {"x": tf.constant([1.0, 2.0])}, tf.constant([0, 1], tf.int64)


def sum_model_fn(features, labels, mode):
    """Sums every x a TRAIN step sees into ``total``; counts labels in ``label_total``."""
    total = v1.get_variable("total", [], initializer=v1.zeros_initializer())
    label_total = v1.get_variable("label_total", [], tf.int64, v1.zeros_initializer())
    x = features["x"]
    step = v1.train.get_or_create_global_step()
    train_op = tf.group(
        total.assign_add(tf.reduce_sum(x)),
        label_total.assign_add(tf.reduce_sum(labels)) if labels is not None else tf.no_op(),
        step.assign_add(1),
    )
    return EstimatorSpec(mode, loss=tf.reduce_sum(x) * 0.0, train_op=train_op, predictions={"x": x})


def _runner(tmp_path, model_fn=sum_model_fn, **kwargs):
    config = RunnerConfig(steps_per_loop=2, tf_random_seed=1)
    return Runner(model_fn=model_fn, model_dir=str(tmp_path), config=config, **kwargs)


@pytest.mark.parametrize(
    "input_fn, total, label_total",
    [
        pytest.param(one_shot_input_fn, X.sum(), X.sum(), id="one_shot"),
        pytest.param(initializable_input_fn, X.sum(), X.sum(), id="initializable"),
        pytest.param(mapped_input_fn, 2 * X.sum(), X.sum() + 10, id="mapped_all_args"),
    ],
)
def test_iterator_input_ends_when_its_dataset_ends(tmp_path, input_fn, total, label_total):
    runner = _runner(tmp_path)
    runner.train(input_fn, steps=100)
    assert runner.get_variable_value("global_step") == 4  # 10 rows in batches of 3
    assert runner.get_variable_value("total") == pytest.approx(total)
    assert runner.get_variable_value("label_total") == label_total
    runner.train(input_fn, steps=100)  # a new train call: a new iterator, from the start
    assert runner.get_variable_value("global_step") == 8


def test_iterator_predictions_come_in_dataset_order(tmp_path):
    runner = _runner(tmp_path)
    runner.train(constant_input_fn, steps=1)
    rows = [p["x"] for p in runner.predict(one_shot_input_fn)]
    np.testing.assert_array_equal(rows, X)


def test_constant_tensors_are_the_same_batch_every_step_forever(tmp_path):
    runner = _runner(tmp_path)
    runner.train(constant_input_fn, steps=7)
    assert runner.get_variable_value("global_step") == 7
    assert runner.get_variable_value("total") == pytest.approx(7 * 3.0)
    batches = itertools.islice(runner.predict(constant_input_fn, yield_single_examples=False), 5)
    np.testing.assert_array_equal([b["x"] for b in batches], [[1.0, 2.0]] * 5)


def test_random_tensors_are_drawn_anew_every_step(tmp_path):
    def random_input_fn():
        return {"x": tf.random.uniform([4], seed=3)}, tf.zeros([4], tf.int64)

    runner = _runner(tmp_path)
    runner.train(random_input_fn, steps=1)
    batches = itertools.islice(runner.predict(random_input_fn, yield_single_examples=False), 3)
    first, second, third = (b["x"] for b in batches)
    assert not np.array_equal(first, second) and not np.array_equal(second, third)


def test_two_iterators_zipped_step_by_step(tmp_path):
    def two_iterators():
        features = v1.data.make_one_shot_iterator(tf.data.Dataset.from_tensor_slices(X).batch(3))
        labels = v1.data.make_one_shot_iterator(
            tf.data.Dataset.from_tensor_slices(X.astype(np.int64)).batch(3).take(2)
        )
        return {"x": features.get_next()}, labels.get_next()

    runner = _runner(tmp_path)
    runner.train(two_iterators, steps=100)
    assert runner.get_variable_value("global_step") == 2  # the shorter one ends the input
    assert runner.get_variable_value("total") == pytest.approx(X[:6].sum())


@pytest.mark.parametrize(
    "input_fn, message",
    [
        pytest.param(
            lambda: v1.train.shuffle_batch(
                [tf.constant(1.0)], batch_size=2, capacity=10, min_after_dequeue=2
            ),
            r"queues.*\.shuffle\(min_after_dequeue\)\.batch\(batch_size\)",
            id="shuffle_batch",
        ),
        pytest.param(
            lambda: v1.train.batch(
                [v1.TFRecordReader().read(v1.train.string_input_producer(["f"]))[1]], 2
            ),
            r"queues.*from_tensor_slices\(files\).*TFRecordDataset",
            id="string_input_producer",
        ),
        pytest.param(
            lambda: {"x": v1.placeholder(tf.float32, [2])},
            r"need fed placeholders \(\['Placeholder'\]\).*Dataset",
            id="placeholder",
        ),
        pytest.param(
            lambda: one_shot_input_fn() + (tf.constant(0),),
            r"returned a 3-tuple",
            id="three_tuple",
        ),
        pytest.param(
            lambda: {"x": np.zeros(3)},
            r"must return a tf.data.Dataset, or tensors",
            id="numpy",
        ),
    ],
)
def test_unservable_input_is_refused_with_the_replacement(tmp_path, input_fn, message):
    runner = _runner(tmp_path)
    with pytest.raises((ValueError, TypeError), match=message):
        runner.train(input_fn, steps=1)
    assert runner.latest_checkpoint() is None  # refused before any work


def test_get_next_twice_on_one_iterator_is_refused(tmp_path):
    def twice():
        iterator = v1.data.make_one_shot_iterator(_dataset())
        return {"x": iterator.get_next()[0]["x"]}, iterator.get_next()[1]

    with pytest.raises(ValueError, match=r"`get_next\(\)` more than once on one iterator"):
        _runner(tmp_path).train(twice, steps=1)


def test_graph_only_input_fn_returning_a_dataset(tmp_path):
    def graph_only():
        if tf.executing_eagerly():  # as graph-only TF1 APIs do
            raise RuntimeError("not supported when eager execution is enabled")
        return _dataset()

    runner = _runner(tmp_path)
    runner.train(graph_only, steps=100)
    assert runner.get_variable_value("global_step") == 4
    assert runner.get_variable_value("total") == pytest.approx(X.sum())


def test_input_fn_arguments_as_estimator_passed_them(tmp_path):
    seen = {}

    def input_fn(mode, params, config, input_context):
        seen.update(mode=mode, params=params, config=config, context=input_context)
        return constant_input_fn()

    runner = _runner(tmp_path, params={"a": 1})
    runner.train(input_fn, steps=1)
    assert seen["mode"] == ModeKeys.TRAIN and seen["params"] == {"a": 1}
    assert seen["config"] is runner.config
    assert seen["context"].num_replicas_in_sync == 1


# --- parity with the real Estimator --------------------------------------------------------


def _mlp_inputs(models, repeat):
    x, y = models.data()

    def dataset():
        ds = tf.data.Dataset.from_tensor_slices(({"x": x}, y))
        return (ds.repeat(repeat) if repeat else ds).batch(16)

    def one_shot():
        return v1.data.make_one_shot_iterator(dataset()).get_next()

    def initializable():  # registered so that Estimator's Scaffold ran the initializer
        iterator = v1.data.make_initializable_iterator(dataset())
        v1.add_to_collection(v1.GraphKeys.TABLE_INITIALIZERS, iterator.initializer)
        return iterator.get_next()

    def mapped(params):
        features, labels = v1.data.make_one_shot_iterator(dataset()).get_next()
        return {"x": features["x"] * 0.5 + 0.1}, labels

    def constant():
        return {"x": tf.constant(x[:16])}, tf.constant(y[:16])

    return {
        "one_shot": one_shot,
        "initializable": initializable,
        "mapped": mapped,
        "constant": constant,
    }


def _run(est, train_fn, eval_fn, finite):
    est.train(train_fn, steps=200 if finite else 12)  # constant input never ends: bound it
    variables = {n: est.get_variable_value(n) for n in est.get_variable_names()}
    metrics = est.evaluate(eval_fn, steps=None if finite else 3)
    predictions = list(itertools.islice(est.predict(eval_fn), 40))
    return variables, metrics, predictions


@pytest.mark.estimator_world
@pytest.mark.parametrize("kind", ["one_shot", "initializable", "mapped", "constant"])
def test_parity_with_estimator(models, tmp_path, kind):
    finite = kind != "constant"
    train_fn = _mlp_inputs(models, repeat=3)[kind]  # 64 rows x 3 in batches of 16: 12 steps
    eval_fn = _mlp_inputs(models, repeat=None)[kind]
    params = {"optimizer": "adam"}
    config = tf.estimator.RunConfig(tf_random_seed=7)
    est = tf.estimator.Estimator(models.mlp_model_fn, str(tmp_path / "est"), config, dict(params))
    expected = _run(est, train_fn, eval_fn, finite)
    runner = Runner(
        model_fn=models.mlp_model_fn,
        model_dir=str(tmp_path / "runner"),
        params=dict(params),
        config=RunnerConfig(tf_random_seed=7, steps_per_loop=5),
    )
    got = _run(runner, train_fn, eval_fn, finite)
    assert expected[1]["global_step"] == 12
    assert sorted(got[0]) == sorted(expected[0])
    for name, value in expected[0].items():
        np.testing.assert_allclose(got[0][name], value, rtol=1e-4, atol=1e-6, err_msg=name)
    assert sorted(got[1]) == sorted(expected[1])
    for name, value in expected[1].items():
        np.testing.assert_allclose(got[1][name], value, rtol=1e-4, err_msg=name)
    assert len(got[2]) == len(expected[2]) == 40
    for row, expected_row in zip(got[2], expected[2]):
        np.testing.assert_allclose(row["probs"], expected_row["probs"], rtol=1e-4, atol=1e-6)


MIRRORED = """
import tempfile
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
{load_models}
from estimator_spec_compat.runner import Runner, RunnerConfig


def one_shot(params):
    ds = models.input_fn(repeat=True, drop_remainder=True)(params)
    return tf.compat.v1.data.make_one_shot_iterator(ds).get_next()


def run(input_fn):
    runner = Runner(
        model_fn=models.mlp_model_fn,
        model_dir=tempfile.mkdtemp(),
        config=RunnerConfig(tf_random_seed=2, steps_per_loop=4),
        strategy=tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]),
        train_batch_size=16,
    )
    runner.train(input_fn, steps=8)
    return {{n: runner.get_variable_value(n) for n in runner.get_variable_names()}}


expected = run(models.input_fn(repeat=True, drop_remainder=True))
got = run(one_shot)
for name, value in expected.items():
    np.testing.assert_array_equal(got[name], value, err_msg=name)
print("ok", int(got["global_step"]))
"""


def test_iterator_input_under_two_replicas_equals_its_dataset(python_subprocess, load_models_code):
    out = python_subprocess(MIRRORED.format(load_models=load_models_code))
    assert out.strip().endswith("ok 8")
