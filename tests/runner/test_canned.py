"""The canned estimators' own model_fns under the runner, equal to the canned estimator.

Estimator world only (the canned estimators live in tensorflow-estimator). Each
canned estimator trains first; its ``model.ckpt-0`` (its own random initial
values) starts the runner, so both train from the same weights on the same
batches. Expected values are the canned estimator's: every variable (slots
included) after training, evaluation metrics, predictions, and the exported
signatures. A second check starts the runner from an empty ``model_dir``: the
same variable names, metric and prediction keys as the canned estimator.
"""

import os
import shutil

import numpy as np
import pytest

from estimator_spec_compat._compat import tf
from estimator_spec_compat.runner import Runner, RunnerConfig

pytestmark = pytest.mark.estimator_world

STEPS, BATCH, ROWS, RTOL = 12, 16, 64, 1e-4


def _data():
    rs = np.random.RandomState(0)
    features = {
        "age": (rs.rand(ROWS, 1) * 80).astype("float32"),
        "h": rs.rand(ROWS, 1).astype("float32"),
        "color": rs.choice([b"red", b"green", b"blue"], ROWS).reshape(ROWS, 1),
        "city": rs.choice([b"a", b"b", b"c", b"d"], ROWS).reshape(ROWS, 1),
    }
    labels = (features["h"][:, 0] + (features["color"][:, 0] == b"red") > 0.8).astype("int64")
    return features, labels


def _columns():
    fc = tf.compat.v1.feature_column
    age = fc.numeric_column("age", normalizer_fn=lambda x: x / 80.0)
    h = fc.numeric_column("h")
    age_buckets = fc.bucketized_column(age, [0.25, 0.5, 0.75])
    color = fc.categorical_column_with_vocabulary_list("color", ["red", "green", "blue"])
    city = fc.categorical_column_with_hash_bucket("city", 10)
    cross = fc.crossed_column([age_buckets, "city"], 20)
    linear = [age, h, age_buckets, color, city, cross]
    dnn = [h, age_buckets, fc.indicator_column(color), fc.embedding_column(city, 3)]
    return linear, dnn


def _canned(kind, model_dir, optimizer):
    """A canned estimator; ``optimizer`` "default" keeps its defaults (Adagrad, Ftrl)."""
    linear, dnn = _columns()
    est = tf.compat.v1.estimator
    dnn_args = {"hidden_units": [4], "feature_columns": dnn}
    make, args, optimizer_args = {
        "dnn": (est.DNNClassifier, dnn_args, ["optimizer"]),
        "dnn_regressor": (est.DNNRegressor, dnn_args, ["optimizer"]),
        "linear": (est.LinearClassifier, {"feature_columns": linear}, ["optimizer"]),
        "linear_regressor": (est.LinearRegressor, {"feature_columns": linear}, ["optimizer"]),
        "dnn_linear": (
            est.DNNLinearCombinedClassifier,
            {
                "linear_feature_columns": linear,
                "dnn_feature_columns": dnn,
                "dnn_hidden_units": [4],
            },
            ["linear_optimizer", "dnn_optimizer"],
        ),
        "baseline": (est.BaselineClassifier, {}, ["optimizer"]),
    }[kind]
    if optimizer != "default":
        args = {**args, **dict.fromkeys(optimizer_args, optimizer)}
    config = tf.estimator.RunConfig(model_dir=model_dir, save_checkpoints_steps=STEPS)
    return make(config=config, **args)


def _train_input_fn():
    features, labels = _data()
    return tf.data.Dataset.from_tensor_slices((features, labels)).batch(BATCH).repeat()


def _eval_input_fn():
    features, labels = _data()
    return tf.data.Dataset.from_tensor_slices((features, labels)).batch(BATCH)


def _predict_input_fn():
    return tf.data.Dataset.from_tensor_slices(_data()[0]).batch(BATCH)


def _serving_fn():
    linear, dnn = _columns()
    spec = tf.compat.v1.feature_column.make_parse_example_spec(linear + dnn)
    return tf.estimator.export.build_parsing_serving_input_receiver_fn(spec)


def _copy_checkpoint(prefix, model_dir):
    os.makedirs(model_dir)
    for name in os.listdir(os.path.dirname(prefix)):
        if name.startswith(os.path.basename(prefix) + "."):
            shutil.copy(os.path.join(os.path.dirname(prefix), name), model_dir)
    copied = os.path.join(model_dir, os.path.basename(prefix))
    tf.compat.v1.train.update_checkpoint_state(model_dir, copied)


def _results(est):
    names = est.get_variable_names()
    variables = {n: est.get_variable_value(n) for n in names}
    metrics = est.evaluate(_eval_input_fn)
    predictions = list(est.predict(_predict_input_fn))
    return variables, metrics, predictions


def _signatures(export_dir):
    loaded = tf.saved_model.load(export_dir.decode())
    return {key: sorted(fn.structured_outputs) for key, fn in loaded.signatures.items()}


KINDS = ["dnn", "dnn_regressor", "linear", "linear_regressor", "dnn_linear", "baseline"]


@pytest.mark.parametrize("optimizer", ["default", "SGD"])
@pytest.mark.parametrize("kind", KINDS)
def test_canned_model_fn_equals_the_canned_estimator(kind, optimizer, tmp_path):
    canned = _canned(kind, str(tmp_path / "canned"), optimizer)
    canned.train(_train_input_fn, max_steps=STEPS)
    expected = _results(canned)
    _copy_checkpoint(str(tmp_path / "canned" / "model.ckpt-0"), str(tmp_path / "runner"))

    runner = Runner(
        model_fn=canned.model_fn,
        model_dir=str(tmp_path / "runner"),
        config=RunnerConfig(steps_per_loop=5, save_checkpoints_steps=STEPS),
    )
    runner.train(_train_input_fn, max_steps=STEPS)
    variables, metrics, predictions = _results(runner)

    exp_vars, exp_metrics, exp_preds = expected
    assert sorted(variables) == sorted(exp_vars)
    for name, value in exp_vars.items():
        np.testing.assert_allclose(variables[name], value, rtol=RTOL, atol=1e-6, err_msg=name)
    assert sorted(metrics) == sorted(exp_metrics)
    for name, value in exp_metrics.items():
        np.testing.assert_allclose(metrics[name], value, rtol=RTOL, atol=1e-6, err_msg=name)
    assert len(predictions) == len(exp_preds) == ROWS
    for got, exp in zip(predictions, exp_preds):
        assert sorted(got) == sorted(exp)
        for key in exp:
            if exp[key].dtype.kind in "OSU":
                np.testing.assert_array_equal(got[key], exp[key])
            else:
                np.testing.assert_allclose(got[key], exp[key], rtol=RTOL, atol=1e-6)
    assert runner.latest_checkpoint().endswith(f"model.ckpt-{STEPS}")
    signatures = _signatures(runner.export_saved_model(str(tmp_path / "x1"), _serving_fn()))
    expected_signatures = _signatures(
        canned.export_saved_model(str(tmp_path / "x2"), _serving_fn())
    )
    assert signatures == expected_signatures


@pytest.mark.parametrize("kind", ["dnn", "linear", "dnn_linear"])
def test_canned_model_fn_from_an_empty_model_dir(kind, tmp_path):
    canned = _canned(kind, str(tmp_path / "canned"), "default")
    canned.train(_train_input_fn, max_steps=2)
    runner = Runner(
        model_fn=canned.model_fn,
        model_dir=str(tmp_path / "runner"),
        config=RunnerConfig(steps_per_loop=5),
    )
    runner.train(_train_input_fn, max_steps=STEPS)
    assert runner.get_variable_names() == canned.get_variable_names()
    metrics = runner.evaluate(_eval_input_fn)
    assert sorted(metrics) == sorted(canned.evaluate(_eval_input_fn))
    assert metrics["global_step"] == STEPS and np.isfinite(metrics["loss"])
    row = next(iter(runner.predict(_predict_input_fn)))
    assert sorted(row) == sorted(next(iter(canned.predict(_predict_input_fn))))
    # The canned estimator resumes from the runner's checkpoint and continues.
    canned_again = _canned(kind, str(tmp_path / "runner"), "default")
    canned_again.train(_train_input_fn, max_steps=STEPS + 2)
    assert canned_again.get_variable_value("global_step") == STEPS + 2
