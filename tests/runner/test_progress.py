"""The runner's progress: Estimator's log lines, progress records, and their console display.

Expected lines come from Estimator's own hooks (LoggingTensorHook, StepCounterHook,
its evaluation hook) in the estimator world, and from hand-written strings.
"""

import io
import logging
import re

import pytest

from estimator_spec_compat._cli.logs import ConsoleHandler, configured
from estimator_spec_compat._compat import tf
from estimator_spec_compat.runner import Runner, RunnerConfig
from estimator_spec_compat.runner._progress import ProgressUpdate


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def records():
    """Every record of this package and of TF's logger, at DEBUG, without printing."""
    handler = Records()
    loggers = [logging.getLogger(n) for n in ("estimator_spec_compat", "tensorflow")]
    saved = [(lg.level, lg.propagate) for lg in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
    yield handler.records
    for logger, (level, propagate) in zip(loggers, saved):
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def _runner(models, tmp_path, per_loop=2, log_every=2):
    config = RunnerConfig(steps_per_loop=per_loop, log_step_count_steps=log_every, tf_random_seed=3)
    return Runner(model_fn=models.mlp_model_fn, model_dir=str(tmp_path), config=config)


def _shape(message):
    """A log line with its numbers masked."""
    return re.sub(r"-?\d+(\.\d+)?(e[-+]\d+)?", "N", message)


def test_train_log_lines_are_estimators_every_log_step_count_steps(models, tmp_path, records):
    _runner(models, tmp_path).train(models.input_fn(repeat=True), steps=6)
    lines = [r.getMessage() for r in records if getattr(r, "progress_line", False)]
    assert [_shape(line) for line in lines] == [
        "loss = N, step = N",
        "global_step/sec: N",
        "loss = N, step = N (N sec)",
        "global_step/sec: N",
        "loss = N, step = N (N sec)",
    ]
    assert [int(re.search(r"step = (\d+)", line)[1]) for line in lines if "loss" in line] == [
        2, 4, 6
    ]  # fmt: skip
    loss = re.search(r"loss = (\S+),", lines[0])[1]
    assert len(loss.split(".")[1]) <= 9  # float32's shortest repr, as Estimator printed it
    assert re.fullmatch(r"loss = \S+, step = 4 \(\d+\.\d{3} sec\)", lines[2])


@pytest.mark.estimator_world
def test_line_shapes_equal_estimators(models, tmp_path, records):
    config = tf.estimator.RunConfig(log_step_count_steps=2, tf_random_seed=3)
    est = tf.estimator.Estimator(models.mlp_model_fn, str(tmp_path / "est"), config=config)
    est.train(models.input_fn(repeat=True), steps=6)
    theirs = [r.getMessage() for r in records if r.name == "tensorflow"]
    theirs = [_shape(m) for m in theirs if m.startswith(("loss =", "global_step/sec"))]
    records.clear()
    _runner(models, tmp_path / "runner").train(models.input_fn(repeat=True), steps=6)
    ours = [_shape(r.getMessage()) for r in records if getattr(r, "progress_line", False)]
    assert ours == theirs


def test_progress_records_for_train_eval_predict(models, tmp_path, records):
    runner = _runner(models, tmp_path)
    runner.train(models.input_fn(repeat=True), steps=6)
    runner.evaluate(models.input_fn(), steps=3)
    list(runner.predict(models.input_fn(labels=False)))
    updates = [r.progress for r in records if hasattr(r, "progress")]
    finals = [u for u in updates if u.final]
    assert [(u.mode, u.done, u.total) for u in finals] == [
        ("train", 6, 6),
        ("eval", 3, 3),
        ("predict", 4, 4),  # 64 examples in batches of 16: tf.data knows the count
    ]
    first = updates[0]
    assert (first.mode, first.done, first.total, first.final) == ("train", 2, 6, False)
    assert first.loss is not None
    evals = [r.getMessage() for r in records if r.getMessage().startswith("Evaluation")]
    assert evals == ["Evaluation [2/3]", "Evaluation [3/3]"]  # a tenth of 3 is 1: every loop


def test_update_text_and_eta():
    update = ProgressUpdate("train", 1200, 5000, 0.12345, 400.0, 3.0)
    assert update.eta == pytest.approx(9.5)
    assert str(update) == "train: step 1200/5000, loss 0.1235, 400 steps/sec, ETA 0:10"
    done = ProgressUpdate("eval", 30, None, None, 12.5, 61.0, final=True)
    assert (done.eta, str(done)) == (None, "eval: batch 30, 12.5 batches/sec, done in 1:01")


def _record(message, **extra):
    record = logging.LogRecord(
        "estimator_spec_compat.runner", logging.INFO, "", 0, message, (), None
    )
    record.__dict__.update(extra)
    return record


@pytest.mark.parametrize("live", [True, False], ids=["terminal", "pipe"])
def test_console_handler(live):
    stream = io.StringIO()
    handler = ConsoleHandler(stream, live=live)
    running = ProgressUpdate("train", 2, 4, 0.5, None, 0.1)
    handler.handle(_record("p", progress=running))
    handler.handle(_record("loss = 0.5, step = 2", progress_line=True))
    handler.handle(_record("Saving dict"))
    handler.handle(_record("p", progress=ProgressUpdate("train", 4, 4, 0.25, 2.0, 1.0, True)))
    if live:
        assert stream.getvalue() == (
            "\r\x1b[Ktrain: step 2/4, loss 0.5"
            "\r\x1b[KINFO:estimator_spec_compat.runner:Saving dict\ntrain: step 2/4, loss 0.5"
            "\r\x1b[Ktrain: step 4/4, loss 0.25, 2 steps/sec, done in 0:01\n"
        )
    else:
        assert stream.getvalue() == (
            "INFO:estimator_spec_compat.runner:loss = 0.5, step = 2\n"
            "INFO:estimator_spec_compat.runner:Saving dict\n"
        )


def test_configured_restores_logging_and_nothing_is_configured_on_import(python_subprocess):
    package = logging.getLogger("estimator_spec_compat")
    before = (list(package.handlers), package.level, package.propagate)
    with configured("debug", stream=io.StringIO()) as handler:
        assert package.handlers[-1] is handler and package.level == logging.DEBUG
        assert not package.propagate
    assert (list(package.handlers), package.level, package.propagate) == before
    out = python_subprocess(
        """
        import logging
        import estimator_spec_compat, estimator_spec_compat.runner, estimator_spec_compat.cli
        package = logging.getLogger("estimator_spec_compat")
        print(logging.getLogger().handlers, package.handlers, package.level, package.propagate)
        """
    )
    assert out.split()[-4:] == ["[]", "[]", "0", "True"]
