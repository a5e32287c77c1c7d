"""``tf.compat.v1.summary.*`` calls inside a model_fn reach ``model_dir``, as under Estimator.

Estimator's SummarySaverHook fetched ``merge_all()`` every ``save_summary_steps``;
the runner fetches it on the last step of each loop whose summaries are due and
writes it with its ``loss`` summary. Each batch here is filled with its own
index, so the value a summary must hold at a step is known by hand.
"""

import numpy as np
import pytest

from estimator_spec_compat import EstimatorSpec
from estimator_spec_compat._compat import tf
from estimator_spec_compat.runner import Runner, RunnerConfig

BATCH, STEPS = 4, 12


def _model_fn(features, labels, mode):
    w = tf.compat.v1.get_variable("w", [1], initializer=tf.compat.v1.zeros_initializer())
    x = features["x"]
    loss = tf.reduce_mean(tf.square(x * w - labels))
    tf.compat.v1.summary.scalar("batch_value", tf.reduce_mean(x))
    tf.compat.v1.summary.histogram("batch_hist", x)
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.0).minimize(
        loss, tf.compat.v1.train.get_global_step()
    )
    return EstimatorSpec(mode, loss=loss, train_op=train_op, predictions=x)


def _input_fn():
    x = np.repeat(np.arange(STEPS, dtype="float32"), BATCH).reshape(-1, 1)  # batch i holds i
    return tf.data.Dataset.from_tensor_slices(({"x": x}, x)).batch(BATCH)


def _events(model_dir):
    """{tag: {step: value}} of every scalar, and {step} of histograms, in model_dir."""
    scalars, histograms = {}, set()
    for path in tf.io.gfile.glob(f"{model_dir}/events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.HasField("histo"):
                    histograms.add((value.tag, event.step))
                elif value.HasField("simple_value"):
                    scalars.setdefault(value.tag, {})[event.step] = value.simple_value
    return scalars, histograms


def test_model_fn_summaries_are_written_on_the_summary_steps(tmp_path):
    runner = Runner(
        model_fn=_model_fn,
        model_dir=str(tmp_path),
        config=RunnerConfig(steps_per_loop=3, save_summary_steps=6),
    )
    runner.train(_input_fn)
    scalars, histograms = _events(tmp_path)
    # Due at steps 6 and 12, computed on those steps: batches 5 and 11 (0-based).
    assert scalars["batch_value"] == {6: 5.0, 12: 11.0}
    assert histograms == {("batch_hist", 6), ("batch_hist", 12)}
    assert sorted(scalars["loss"]) == [6, 12]


def test_model_fn_summaries_with_hooks(tmp_path):
    """With hooks one step runs per call; summaries come on the due steps all the same."""
    runner = Runner(
        model_fn=_model_fn,
        model_dir=str(tmp_path),
        config=RunnerConfig(steps_per_loop=3, save_summary_steps=5),
    )
    runner.train(_input_fn, hooks=[tf.compat.v1.train.StopAtStepHook(last_step=STEPS)])
    scalars, histograms = _events(tmp_path)
    assert scalars["batch_value"] == {5: 4.0, 10: 9.0}
    assert histograms == {("batch_hist", 5), ("batch_hist", 10)}


def test_no_summary_steps_without_save_summary_steps(tmp_path):
    runner = Runner(
        model_fn=_model_fn,
        model_dir=str(tmp_path),
        config=RunnerConfig(steps_per_loop=5, save_summary_steps=None),
    )
    runner.train(_input_fn)
    assert runner.get_variable_value("global_step") == STEPS
    assert _events(tmp_path) == ({}, set())


@pytest.mark.estimator_world
def test_the_same_tags_as_estimator(tmp_path):
    config = tf.estimator.RunConfig(save_summary_steps=6)
    estimator = tf.estimator.Estimator(_model_fn, str(tmp_path / "est"), config=config)
    estimator.train(_input_fn)
    runner = Runner(
        model_fn=_model_fn,
        model_dir=str(tmp_path / "runner"),
        config=RunnerConfig(steps_per_loop=3, save_summary_steps=6),
    )
    runner.train(_input_fn)
    expected_scalars, expected_histograms = _events(tmp_path / "est")
    scalars, histograms = _events(tmp_path / "runner")
    # (Estimator's global_step/sec came every log_step_count_steps: 100, none here.)
    assert sorted(expected_scalars) == ["batch_value", "loss"]
    assert set(scalars) == {"batch_value", "loss", "global_step/sec"}
    assert {tag for tag, _ in histograms} == {tag for tag, _ in expected_histograms}
    # Estimator wrote on the first step and 6 steps later: batches 0 and 6 (the step
    # numbers it logged them under come from a racy read of the global step).
    assert sorted(expected_scalars["batch_value"].values()) == [0.0, 6.0]


def test_image_audio_and_text_summaries(tmp_path):
    def model_fn(features, labels, mode):
        spec = _model_fn(features, labels, mode)
        x = features["x"]
        tf.compat.v1.summary.image("picture", tf.reshape(tf.tile(x, [1, 4]), [-1, 2, 2, 1]))
        tf.compat.v1.summary.audio("sound", tf.tile(x, [1, 8]) / STEPS, sample_rate=8000)
        tf.compat.v1.summary.text("note", tf.strings.as_string(tf.reduce_sum(x)))
        return spec

    runner = Runner(
        model_fn=model_fn,
        model_dir=str(tmp_path),
        config=RunnerConfig(steps_per_loop=4, save_summary_steps=4),
    )
    runner.train(_input_fn)
    found = {}
    for path in tf.io.gfile.glob(f"{tmp_path}/events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                found.setdefault(value.tag.split("/")[0], set()).add(event.step)
    assert found["picture"] == found["sound"] == found["note"] == {4, 8, 12}
