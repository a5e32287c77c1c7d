"""Hooks in every mode, ``checkpoint_path`` and Estimator's argument order.

Expected values come from the data (labels of each batch), from other calls of
the same runner (a checkpoint evaluated right after it was written), or from
upstream's signatures (estimator world).
"""

import inspect

import numpy as np
import pytest

from estimator_spec_compat._compat import ModeKeys, tf
from estimator_spec_compat.convert.hooks import TrainingCallback
from estimator_spec_compat.runner import Runner, RunnerConfig


def _runner(models, tmp_path, model_fn=None):
    config = RunnerConfig(steps_per_loop=4, tf_random_seed=3)
    return Runner(model_fn=model_fn or models.mlp_model_fn, model_dir=str(tmp_path), config=config)


class Record(TrainingCallback):
    """Records a named tensor after each step; asks to stop after ``stop_after`` steps."""

    def __init__(self, name, stop_after=None):
        self.name, self.stop_after, self.seen, self.ended = name, stop_after, [], False

    def fetches(self):
        return {"value": self.name}

    def on_step_end(self, step, logs):
        self.seen.append((step, logs["value"]))
        return self.stop_after is not None and len(self.seen) >= self.stop_after

    def on_train_end(self, step, logs):
        self.ended = True


def _labels_named(models):
    def model_fn(features, labels, mode, params):
        if labels is not None:
            tf.identity(labels, name="seen_labels")
        tf.identity(features["x"], name="seen_x")
        return models.mlp_model_fn(features, labels, mode, params)

    return model_fn


def test_training_chief_hooks_run_on_the_chief(models, tmp_path):
    def model_fn(features, labels, mode, params):
        spec = models.mlp_model_fn(features, labels, mode, params)
        if mode != ModeKeys.TRAIN:
            return spec
        stop = tf.compat.v1.train.StopAtStepHook(num_steps=3)
        return spec._replace(training_chief_hooks=[stop])

    runner = _runner(models, tmp_path, model_fn)
    runner.train(models.input_fn(repeat=True), steps=10)
    assert runner.evaluate(models.input_fn())["global_step"] == 3  # one process: the chief


def test_evaluation_hooks_see_every_batch_and_can_stop(models, tmp_path):
    runner = _runner(models, tmp_path, _labels_named(models))
    runner.train(models.input_fn(repeat=True), steps=4)
    _, y = models.data()
    record = Record("seen_labels:0")
    full = runner.evaluate(models.input_fn(), hooks=[record])
    assert record.ended and [s for s, _ in record.seen] == [4] * 4  # global step, 4 batches
    for i, (_, labels) in enumerate(record.seen):
        np.testing.assert_array_equal(labels, y[16 * i : 16 * (i + 1)])
    assert full == pytest.approx(runner.evaluate(models.input_fn()))  # hooks change nothing
    stopped = runner.evaluate(models.input_fn(), hooks=[Record("seen_labels:0", stop_after=2)])
    assert stopped == pytest.approx(runner.evaluate(models.input_fn(), steps=2))


def test_spec_evaluation_hooks_run(models, tmp_path):
    final = {}

    def model_fn(features, labels, mode, params):
        spec = models.mlp_model_fn(features, labels, mode, params)
        if mode != ModeKeys.EVAL:
            return spec
        final["hook"] = tf.compat.v1.train.FinalOpsHook(spec.loss)
        return spec._replace(evaluation_hooks=[final["hook"]])

    runner = _runner(models, tmp_path, model_fn)
    runner.train(models.input_fn(repeat=True), steps=4)
    runner.evaluate(models.input_fn(batch_size=64))  # one batch: its loss is the last
    _, y = models.data()
    probs = np.stack([p["probs"] for p in runner.predict(models.input_fn(labels=False))])
    w0 = runner.get_variable_value("mlp/w0")
    expected = -np.log(probs[np.arange(len(y)), y]).mean() + 1e-3 * (w0**2).sum() / 2
    assert final["hook"].final_ops_values == pytest.approx(expected, rel=1e-5)


def test_prediction_hooks_see_every_batch_and_can_stop(models, tmp_path):
    runner = _runner(models, tmp_path, _labels_named(models))
    runner.train(models.input_fn(repeat=True), steps=4)
    x, _ = models.data()
    record = Record("seen_x:0")
    preds = list(runner.predict(models.input_fn(labels=False), hooks=[record]))
    assert len(preds) == 64 and record.ended and len(record.seen) == 4
    np.testing.assert_array_equal(np.concatenate([v for _, v in record.seen]), x)
    stop = Record("seen_x:0", stop_after=2)
    assert len(list(runner.predict(models.input_fn(labels=False), hooks=[stop]))) == 32


def test_checkpoint_path_evaluates_and_predicts_an_older_checkpoint(models, tmp_path):
    runner = _runner(models, tmp_path)
    runner.train(models.input_fn(repeat=True), steps=4)
    at_4 = runner.latest_checkpoint()
    metrics_4 = runner.evaluate(models.input_fn())
    probs_4 = [p["probs"] for p in runner.predict(models.input_fn(labels=False))]
    runner.train(models.input_fn(repeat=True), steps=4)
    assert runner.evaluate(models.input_fn())["global_step"] == 8
    assert runner.evaluate(models.input_fn(), checkpoint_path=at_4) == pytest.approx(metrics_4)
    old = runner.predict(models.input_fn(labels=False), checkpoint_path=at_4)
    np.testing.assert_allclose([p["probs"] for p in old], probs_4, rtol=1e-6)
    by_dir = runner.evaluate(models.input_fn(), checkpoint_path=str(tmp_path))
    assert by_dir["global_step"] == 8


@pytest.mark.parametrize(
    "path", [pytest.param("missing/model.ckpt-1", id="prefix"), pytest.param("", id="empty-dir")]
)
def test_checkpoint_path_without_a_checkpoint_is_a_clear_error(models, tmp_path, path):
    runner = _runner(models, tmp_path / "model")
    runner.train(models.input_fn(repeat=True), steps=1)
    (tmp_path / "empty").mkdir()
    bad = str(tmp_path / (path or "empty"))
    with pytest.raises(ValueError, match=r"`checkpoint_path` .* is neither a checkpoint prefix"):
        runner.evaluate(models.input_fn(), checkpoint_path=bad)


@pytest.mark.estimator_world
@pytest.mark.parametrize("method", ["train", "evaluate", "predict", "export_saved_model"])
def test_arguments_are_in_estimators_order(method):
    ours = list(inspect.signature(getattr(Runner, method)).parameters)
    theirs = list(inspect.signature(getattr(tf.estimator.Estimator, method)).parameters)
    assert ours == theirs[: len(ours)], (ours, theirs)


class Listener(tf.compat.v1.train.CheckpointSaverListener):
    """Records its calls; asks to stop after saving ``stop_at``."""

    def __init__(self, stop_at=None):
        self.calls, self.stop_at = [], stop_at

    def begin(self):
        self.calls.append("begin")

    def before_save(self, session, global_step_value):
        self.calls.append(f"before {global_step_value}")

    def after_save(self, session, global_step_value):
        self.calls.append(f"after {global_step_value}")
        return global_step_value == self.stop_at

    def end(self, session, global_step_value):
        self.calls.append(f"end {global_step_value}")


def _saves(calls):
    return ["begin", *[f"{w} {s}" for s in calls for w in ("before", "after")], f"end {calls[-1]}"]


@pytest.mark.parametrize(
    "stop_at, saved",
    [pytest.param(None, [0, 2, 4, 6], id="to-the-end"), pytest.param(4, [0, 2, 4], id="stop-at-4")],
)
def test_saving_listeners_around_every_save(models, tmp_path, stop_at, saved):
    config = RunnerConfig(steps_per_loop=2, save_checkpoints_steps=2, keep_checkpoint_max=10)
    runner = Runner(model_fn=models.mlp_model_fn, model_dir=str(tmp_path), config=config)
    listener = Listener(stop_at)
    runner.train(models.input_fn(repeat=True), steps=6, saving_listeners=[listener])
    assert listener.calls == _saves(saved)
    state = tf.train.get_checkpoint_state(str(tmp_path))
    assert [int(p.rsplit("-", 1)[1]) for p in state.all_model_checkpoint_paths] == saved


def test_a_saving_listener_must_be_one(models, tmp_path):
    with pytest.raises(TypeError, match="is not a tf.compat.v1.train.CheckpointSaverListener"):
        _runner(models, tmp_path).train(models.input_fn(repeat=True), steps=1, saving_listeners=[1])


@pytest.mark.estimator_world
def test_checkpoints_and_listener_calls_equal_estimators(models, tmp_path):
    listeners, states = [], []
    for name in ("estimator", "runner"):
        listener = Listener()
        model_dir = str(tmp_path / name)
        if name == "estimator":
            config = tf.estimator.RunConfig(save_checkpoints_steps=2, keep_checkpoint_max=10)
            est = tf.estimator.Estimator(models.mlp_model_fn, model_dir=model_dir, config=config)
        else:
            config = RunnerConfig(
                steps_per_loop=2, save_checkpoints_steps=2, keep_checkpoint_max=10
            )
            est = Runner(model_fn=models.mlp_model_fn, model_dir=model_dir, config=config)
        est.train(models.input_fn(repeat=True), steps=6, saving_listeners=[listener])
        est.train(models.input_fn(repeat=True), steps=3, saving_listeners=[listener])
        listeners.append(listener.calls)
        state = tf.train.get_checkpoint_state(model_dir)
        states.append([p.rsplit("/", 1)[1] for p in state.all_model_checkpoint_paths])
    assert listeners[1] == listeners[0]
    assert states[1] == states[0]
