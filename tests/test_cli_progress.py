"""``estimator-spec-compat run``'s output: a progress line on a real terminal, Estimator's
INFO lines in a pipe, ``--verbosity`` / ``--quiet``, ``--save-checkpoints-*``."""

import os
import pty
import re
import subprocess
import sys

import pytest

_MODEL = """
import time

import tensorflow as tf

from estimator_spec_compat import EstimatorSpec


def input_fn(params):
    x = tf.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    y = tf.constant([[1.0], [0.0], [1.0], [0.0]])
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(2).repeat()


def eval_input_fn(params):
    return input_fn(params).take(4)


def model_fn(features, labels, mode, params):
    w = tf.compat.v1.get_variable("w", [2, 1], initializer=tf.compat.v1.zeros_initializer())
    logits = tf.matmul(features, w)
    loss = tf.compat.v1.losses.mean_squared_error(labels, logits)
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.001).minimize(
        loss, global_step=tf.compat.v1.train.get_global_step())
    return EstimatorSpec(mode, loss=loss, train_op=train_op)


def slow_model_fn(features, labels, mode, params):
    spec = model_fn(features, labels, mode, params)
    if mode != "train":
        return spec
    sleep = tf.py_function(lambda: time.sleep(0.004) or 0, [], tf.int32)  # ~250 steps/sec
    return spec._replace(train_op=tf.group(spec.train_op, sleep))
"""


@pytest.fixture
def argv(tmp_path):
    (tmp_path / "progress_model.py").write_text(_MODEL)
    return [sys.executable, "-m", "estimator_spec_compat", "run", "progress_model:model_fn",
            "--input-fn", "progress_model:input_fn", "--eval-input-fn",
            "progress_model:eval_input_fn", "--model-dir", str(tmp_path / "model"),
            "--steps-per-loop", "100", "--strategy", "cpu"]  # fmt: skip


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="default")


def _in_pipe(argv, cwd):
    proc = subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, proc.stderr


def _on_terminal(argv, cwd):
    """Runs ``argv`` with stdout and stderr on a new pseudo-terminal; returns what it showed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: its stdio is the terminal
        os.chdir(cwd)
        os.execve(argv[0], argv, _env())
    shown = b""
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        shown += data
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, shown.decode(errors="replace")
    return shown.decode()


def test_terminal_shows_a_progress_line_redrawn_in_place(argv, tmp_path):
    argv[4] = "progress_model:slow_model_fn"
    shown = _on_terminal([*argv, "--steps", "500", "--steps-per-loop", "20"], tmp_path)
    draws = re.findall(r"\r\x1b\[K([^\r\n]*)", shown)
    train = [d for d in draws if d.startswith("train: ")]
    assert len(train) >= 2, shown  # drawn more than once, in place
    assert re.fullmatch(r"train: step \d+/500, loss \S+, \S+ steps/sec, ETA \d+:\d\d", train[-2])
    assert re.fullmatch(
        r"train: step 500/500, loss \S+, \S+ steps/sec, done in \d+:\d\d", train[-1]
    )
    assert any(re.fullmatch(r"eval: batch 4/4, .*done in \d+:\d\d", d) for d in draws), draws
    assert not re.search(r"loss = \S+, step = |global_step/sec:", shown)  # the line says it
    assert "Saving dict for global step 500" in shown  # other INFO lines stay


def test_pipe_gets_estimators_lines(argv, tmp_path, deprecations):
    out, err = _in_pipe([*argv, "--steps", "300"], tmp_path)
    assert "\x1b[K" not in err and "\r" not in err
    assert deprecations(err) == []
    lines = [
        line for line in err.splitlines() if line.startswith("INFO:estimator_spec_compat.runner:")
    ]
    body = [line.split(":", 2)[2] for line in lines]
    assert re.fullmatch(r"loss = \S+, step = 100", body[0])
    assert re.fullmatch(r"global_step/sec: \S+", body[1])
    assert re.fullmatch(r"loss = \S+, step = 200 \(\d+\.\d{3} sec\)", body[2])
    assert "Evaluation [4/4]" in body
    assert re.search(r"^  global_step: 300$", out, re.MULTILINE)


@pytest.mark.parametrize(
    "flags", [["--quiet"], ["--verbosity", "warning"]], ids=["quiet", "warning"]
)
def test_quiet_and_verbosity(argv, tmp_path, flags):
    out, err = _in_pipe([*argv, "--steps", "200", *flags], tmp_path)
    assert "INFO:" not in err
    assert re.search(r"^  global_step: 200$", out, re.MULTILINE)


def test_save_checkpoints_flags(argv, tmp_path):
    _in_pipe([*argv, "--steps", "400", "--save-checkpoints-steps", "200"], tmp_path)
    steps = sorted(
        int(m[1])
        for m in (
            re.fullmatch(r"model\.ckpt-(\d+)\.index", n) for n in os.listdir(tmp_path / "model")
        )
        if m
    )
    assert steps == [0, 200, 400]
    proc = subprocess.run(
        [*argv, "--save-checkpoints-steps", "2", "--save-checkpoints-secs", "2"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "not allowed with argument" in proc.stderr
