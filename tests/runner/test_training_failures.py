"""Training that goes wrong stops loudly: a NaN loss, a global step that never moves.

Expectations come from the real Estimator (estimator world, same model_fn and data)
or from hand computation: the data put the NaN into batch ``NAN_BATCH``, so the
loss is NaN at exactly the step that reads it.
"""

import logging
import os

import numpy as np
import pytest

from estimator_spec_compat._compat import tf
from estimator_spec_compat.runner import Runner, RunnerConfig
from estimator_spec_compat.spec import EstimatorSpec

v1 = tf.compat.v1
NAN_BATCH = 9  # the 10th step (global step 9 -> 10) reads a batch holding NaN


def _input_fn(nan_batch=NAN_BATCH, batches=None):
    def input_fn():
        def batch(i):
            x = tf.fill([4, 2], tf.where(tf.equal(i, nan_batch), np.float32("nan"), 1.0))
            return {"x": x}, tf.fill([4], 2.0)

        ds = tf.data.Dataset.range(10**6).map(batch)
        return ds if batches is None else ds.take(batches)

    return input_fn


def _model_fn(global_step=True, every=1):
    def model_fn(features, labels, mode):
        w = v1.get_variable("w", [2, 1], initializer=v1.constant_initializer(0.5))
        loss = tf.reduce_mean((tf.squeeze(tf.matmul(features["x"], w), 1) - labels) ** 2)
        step = v1.train.get_or_create_global_step()
        optimizer = v1.train.GradientDescentOptimizer(0.01)
        if every == 1:
            train_op = optimizer.minimize(loss, global_step=step if global_step else None)
        else:  # the step moves every `every` steps (as under gradient accumulation)
            count = v1.get_variable("count", [], tf.int64, v1.zeros_initializer(), trainable=False)
            update = optimizer.minimize(loss)
            with tf.control_dependencies([update]):
                counted = count.assign_add(1)
            train_op = tf.cond(
                tf.equal(counted % every, 0), lambda: step.assign_add(1), lambda: step + 0
            ).op
        return EstimatorSpec(mode, loss=loss, train_op=train_op)

    return model_fn


def _runner(model_dir, model_fn=None, **config):
    config = {"steps_per_loop": 4, "save_checkpoints_steps": 4, **config}
    return Runner(
        model_fn=model_fn or _model_fn(), model_dir=str(model_dir), config=RunnerConfig(**config)
    )


def _saved_steps(model_dir):
    names = [n for n in os.listdir(model_dir) if n.startswith("model.ckpt-")]
    return sorted({int(n.split("-")[1].split(".")[0]) for n in names if n.endswith(".index")})


def _weights(prefix):
    return tf.train.load_checkpoint(prefix).get_tensor("w")


@pytest.mark.parametrize("hooked", [False, True], ids=["loops", "hooked-steps"])
def test_nan_loss_stops_at_that_step_and_saves_nothing_after(tmp_path, hooked):
    runner = _runner(tmp_path)
    hooks = [v1.train.StopAtStepHook(last_step=1000)] if hooked else None
    with pytest.raises(v1.train.NanLossDuringTrainingError) as raised:
        runner.train(_input_fn(), max_steps=40, hooks=hooks)
    assert str(raised.value) == "NaN loss during training."  # upstream's class and words
    assert "latest checkpoint is " + str(tmp_path / "model.ckpt-8") in raised.value.__notes__[0]
    # Stopped right after the NaN step, in the middle of the loop 8..12 (Estimator: 10 too).
    assert runner.get_variable_value("global_step") == NAN_BATCH + 1
    assert np.isnan(runner.get_variable_value("w")).all()
    assert _saved_steps(tmp_path) == [0, 4, 8]
    assert runner.latest_checkpoint().endswith("model.ckpt-8")
    assert np.isfinite(_weights(runner.latest_checkpoint())).all()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-ckpt")]


def test_a_save_due_at_the_nan_step_is_not_written(tmp_path):
    """The NaN step is global step 11 -> 12, where a save is due (Estimator wrote it)."""
    runner = _runner(tmp_path)
    with pytest.raises(v1.train.NanLossDuringTrainingError):
        runner.train(_input_fn(nan_batch=11), max_steps=40)
    assert _saved_steps(tmp_path) == [0, 4, 8]
    assert np.isfinite(_weights(runner.latest_checkpoint())).all()


def test_the_nan_check_can_be_turned_off(tmp_path):
    runner = _runner(tmp_path, stop_on_nan_loss=False)
    runner.train(_input_fn(), max_steps=16)
    assert runner.get_variable_value("global_step") == 16
    assert np.isnan(_weights(runner.latest_checkpoint())).all()


def test_nan_check_option_is_validated():
    with pytest.raises(TypeError, match="stop_on_nan_loss"):
        RunnerConfig(stop_on_nan_loss="no")


def _estimator(model_dir, model_fn=None, **config):
    config = tf.estimator.RunConfig(save_checkpoints_steps=4, **config)
    return tf.estimator.Estimator(model_fn or _model_fn(), str(model_dir), config=config)


@pytest.mark.estimator_world
def test_nan_loss_parity_with_estimator(tmp_path):
    estimator, runner = _estimator(tmp_path / "est"), _runner(tmp_path / "run")
    for trainer in (estimator, runner):
        with pytest.raises(v1.train.NanLossDuringTrainingError):
            trainer.train(_input_fn(), max_steps=40)
    assert _saved_steps(tmp_path / "run") == _saved_steps(tmp_path / "est") == [0, 4, 8]
    expected = _weights(tf.train.latest_checkpoint(str(tmp_path / "est")))
    np.testing.assert_allclose(_weights(runner.latest_checkpoint()), expected, rtol=1e-4)


@pytest.mark.estimator_world
def test_estimator_writes_a_save_due_at_the_nan_step(tmp_path):
    """The measured difference: Estimator's CheckpointSaverHook ran before its NanTensorHook."""
    with pytest.raises(v1.train.NanLossDuringTrainingError):
        _estimator(tmp_path).train(_input_fn(nan_batch=11), max_steps=40)
    assert _saved_steps(tmp_path) == [0, 4, 8, 12]
    assert np.isnan(_weights(tf.train.latest_checkpoint(str(tmp_path)))).all()


_FIX = r"global_step=tf\.compat\.v1\.train\.get_or_create_global_step\(\)"


@pytest.mark.parametrize("hooked", [False, True], ids=["loops", "hooked-steps"])
def test_a_train_op_that_never_moves_the_step_is_an_error(tmp_path, hooked):
    # A finite input: before the check, training ran to its end (with max_steps, forever).
    runner = _runner(tmp_path, _model_fn(global_step=False))
    hooks = [v1.train.StopAtStepHook(last_step=1000)] if hooked else None
    with pytest.raises(ValueError, match=f"has not moved for 100 training steps.*{_FIX}"):
        runner.train(_input_fn(nan_batch=-1, batches=150), max_steps=10, hooks=hooks)
    assert _saved_steps(tmp_path) == [0]


def test_a_long_loop_without_a_step_is_one_error(tmp_path):
    runner = _runner(tmp_path, _model_fn(global_step=False), steps_per_loop=250)
    with pytest.raises(ValueError, match="has not moved for 250 training steps"):
        runner.train(_input_fn(nan_batch=-1, batches=600))


def test_a_step_that_moves_every_few_steps_is_fine(tmp_path):
    runner = _runner(tmp_path, _model_fn(every=4), steps_per_loop=1, save_checkpoints_steps=None)
    runner.train(_input_fn(nan_batch=-1), max_steps=30)
    assert runner.get_variable_value("global_step") == 30
    assert runner.get_variable_value("count") == 120


@pytest.mark.estimator_world
def test_estimator_runs_on_forever_when_the_step_never_moves(tmp_path, caplog):
    """What the runner's error replaces: warnings, then no end (stopped here after 300 steps)."""

    class Stop(Exception):
        pass

    class StopAfter(v1.train.SessionRunHook):
        runs = 0

        def after_run(self, run_context, run_values):
            StopAfter.runs += 1
            if StopAfter.runs == 300:
                raise Stop

    estimator = _estimator(tmp_path, _model_fn(global_step=False), log_step_count_steps=1)
    with caplog.at_level(logging.WARNING), pytest.raises(Stop):
        estimator.train(_input_fn(nan_batch=-1), max_steps=10, hooks=[StopAfter()])
    assert "global step (tf.train.get_global_step) has not been increased" in caplog.text
