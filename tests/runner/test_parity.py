"""Parity: the same model_fn, data and seeds under the runner and the real Estimator.

Expected values come from ``tf.estimator.Estimator`` / ``TPUEstimator(use_tpu=False)``
run in this very process (estimator world only).
"""

import os

import numpy as np
import pytest

from estimator_spec_compat import _compat
from estimator_spec_compat._compat import tf
from estimator_spec_compat.runner import Runner, RunnerConfig

pytestmark = pytest.mark.estimator_world

SEED, STEPS, BATCH, RTOL = 7, 20, 16, 1e-4


def _estimator(model_fn, model_dir, params, tpu):
    if tpu:
        config = tf.compat.v1.estimator.tpu.RunConfig(tf_random_seed=SEED, model_dir=model_dir)
        return tf.compat.v1.estimator.tpu.TPUEstimator(
            model_fn=model_fn,
            config=config,
            params=params,
            use_tpu=False,
            train_batch_size=BATCH,
            eval_batch_size=BATCH,
            predict_batch_size=BATCH,
        )
    config = tf.estimator.RunConfig(tf_random_seed=SEED)
    return tf.estimator.Estimator(model_fn, model_dir=model_dir, params=params, config=config)


def _runner(model_fn, model_dir, params, tpu):
    sizes = dict(train_batch_size=BATCH, eval_batch_size=BATCH, predict_batch_size=BATCH)
    return Runner(
        model_fn=model_fn,
        model_dir=model_dir,
        params=params,
        config=RunnerConfig(tf_random_seed=SEED, steps_per_loop=6),
        **(sizes if tpu else {}),
    )


def _run(make, model_fn, tmp_path, params, train_fn, eval_fn, tpu=False):
    est = make(model_fn, str(tmp_path), dict(params), tpu)
    est.train(train_fn, max_steps=STEPS)
    variables = {n: est.get_variable_value(n) for n in est.get_variable_names()}
    metrics = est.evaluate(eval_fn)
    predictions = list(est.predict(eval_fn))
    return variables, metrics, predictions


def _assert_same(expected, got):
    exp_vars, exp_metrics, exp_preds = expected
    got_vars, got_metrics, got_preds = got
    assert sorted(got_vars) == sorted(exp_vars)
    for name in exp_vars:
        np.testing.assert_allclose(
            got_vars[name], exp_vars[name], rtol=RTOL, atol=1e-6, err_msg=name
        )
    assert sorted(got_metrics) == sorted(exp_metrics)
    for name in exp_metrics:
        np.testing.assert_allclose(got_metrics[name], exp_metrics[name], rtol=RTOL, err_msg=name)
    assert len(got_preds) == len(exp_preds)
    for exp, got_row in zip(exp_preds, got_preds):
        assert sorted(got_row) == sorted(exp)
        for key in exp:
            np.testing.assert_allclose(got_row[key], exp[key], rtol=RTOL, atol=1e-6)


def _both(models, tmp_path, model_fn, params, train_fn, eval_fn, tpu=False):
    expected = _run(_estimator, model_fn, tmp_path / "est", params, train_fn, eval_fn, tpu)
    got = _run(_runner, model_fn, tmp_path / "runner", params, train_fn, eval_fn, tpu)
    _assert_same(expected, got)
    return expected, got


@pytest.mark.parametrize(
    "optimizer",
    [pytest.param(name, id=name) for name in ("sgd", "momentum", "adam", "adagrad", "rmsprop")],
)
def test_mlp_get_variable_each_v1_optimizer_with_decay(models, tmp_path, optimizer):
    expected, _ = _both(
        models,
        tmp_path,
        models.mlp_model_fn,
        {"optimizer": optimizer},
        models.input_fn(repeat=True),
        models.input_fn(),
    )
    assert expected[1]["global_step"] == STEPS


def test_layers_dense_dropout_batch_norm_update_ops(models, tmp_path):
    expected, got = _both(
        models,
        tmp_path,
        models.layers_model_fn,
        {"optimizer": "momentum"},
        models.input_fn(repeat=True),
        models.input_fn(),
    )
    moving = "batch_normalization/moving_mean"
    assert not np.allclose(expected[0][moving], 0.0)  # UPDATE_OPS did run


def test_tpu_estimator_spec_eval_metrics_and_batch_size(models, tmp_path):
    expected, _ = _both(
        models,
        tmp_path,
        models.tpu_model_fn,
        {"optimizer": "rmsprop"},
        models.input_fn(repeat=True, drop_remainder=True),
        models.input_fn(drop_remainder=True),
        tpu=True,
    )
    assert set(expected[1]) == {"accuracy", "recall_0", "loss", "global_step"}


def test_feature_column_input_layer(models, tmp_path):
    def train_fn(params):
        return models.feature_column_input_fn(params).repeat()

    _both(
        models,
        tmp_path,
        models.feature_column_model_fn,
        {"optimizer": "adagrad"},
        train_fn,
        models.feature_column_input_fn,
    )


def test_estimator_checkpoint_restores_into_the_runner(models, tmp_path):
    est = _estimator(models.mlp_model_fn, str(tmp_path), {}, tpu=False)
    est.train(models.input_fn(repeat=True), max_steps=STEPS)
    expected = est.evaluate(models.input_fn())
    runner = _runner(models.mlp_model_fn, str(tmp_path), {}, tpu=False)
    got = runner.evaluate(models.input_fn())
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=RTOL, err_msg=name)
    runner.train(models.input_fn(repeat=True), steps=5)  # resumes with the Estimator's slots
    assert runner.evaluate(models.input_fn())["global_step"] == STEPS + 5
    assert _compat.HAS_ESTIMATOR


def test_export_saved_model_matches_estimator_export(models, tmp_path):
    from estimator_spec_compat.convert.serving import build_raw_serving_input_receiver_fn

    receiver_fn = build_raw_serving_input_receiver_fn({"x": tf.zeros([1, models.N_FEATURES])})
    est = _estimator(models.mlp_model_fn, str(tmp_path), {}, tpu=False)
    est.train(models.input_fn(repeat=True), max_steps=STEPS)
    est_path = est.export_saved_model(str(tmp_path / "est_export"), receiver_fn)
    runner = _runner(models.mlp_model_fn, str(tmp_path), {}, tpu=False)
    path = runner.export_saved_model(str(tmp_path / "runner_export"), receiver_fn)
    assert type(path) is type(est_path) is bytes
    est_path, path = est_path.decode(), path.decode()
    x = tf.constant(models.data()[0])
    expected = tf.saved_model.load(est_path).signatures["serving_default"](x=x)
    got = tf.saved_model.load(path).signatures["serving_default"](x=x)
    assert sorted(got) == sorted(expected)
    for key in expected:
        np.testing.assert_allclose(got[key].numpy(), expected[key].numpy(), rtol=RTOL, atol=1e-6)


def test_export_listing_with_assets_extra_and_as_text_matches_estimators(models, tmp_path):
    from estimator_spec_compat.convert.serving import build_raw_serving_input_receiver_fn

    (tmp_path / "extra.txt").write_text("warmup")
    receiver_fn = build_raw_serving_input_receiver_fn({"x": tf.zeros([1, models.N_FEATURES])})
    options = {"assets_extra": {"a/b.txt": str(tmp_path / "extra.txt")}, "as_text": True}
    est = _estimator(models.mlp_model_fn, str(tmp_path / "model"), {}, tpu=False)
    est.train(models.input_fn(repeat=True), max_steps=STEPS)
    runner = _runner(models.mlp_model_fn, str(tmp_path / "model"), {}, tpu=False)
    listings = []
    for name, exporter in (("est", est), ("runner", runner)):
        path = exporter.export_saved_model(str(tmp_path / name), receiver_fn, **options).decode()
        listings.append(
            sorted(
                os.path.relpath(os.path.join(root, f), path)
                for root, _, files in os.walk(path)
                for f in files
                if not f.startswith("variables.data")  # shard counts may differ
            )
        )
    assert [f for f in listings[1] if f != "fingerprint.pb"] == listings[0]  # TF2's writer adds it
