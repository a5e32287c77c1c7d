"""Ctrl-C and SIGTERM during ``estimator-spec-compat run``, in a real subprocess.

The process trains for ever; once its first checkpoint is on disk it gets the
signal, must stop after the loop in progress with a checkpoint of that step, one
line on stderr (no traceback) and the shell's status; a second run resumes there.
"""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from estimator_spec_compat import cli

_MODEL = """
import tensorflow as tf

from estimator_spec_compat import EstimatorSpec


def input_fn(params):
    x = tf.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    y = tf.constant([[1.0], [0.0], [1.0], [0.0]])
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(2).repeat()


def eval_input_fn(params):
    return input_fn(params).take(2)


def model_fn(features, labels, mode, params):
    w = tf.compat.v1.get_variable("w", [2, 1], initializer=tf.compat.v1.zeros_initializer())
    logits = tf.matmul(features, w)
    loss = tf.compat.v1.losses.mean_squared_error(labels, logits)
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.001).minimize(
        loss, global_step=tf.compat.v1.train.get_global_step())
    return EstimatorSpec(mode, loss=loss, train_op=train_op)
"""

_PER_LOOP = 50


def _run(tmp_path, steps):
    argv = [sys.executable, "-m", "estimator_spec_compat", "run", "interrupt_model:model_fn",
            "--input-fn", "interrupt_model:input_fn", "--eval-input-fn",
            "interrupt_model:eval_input_fn", "--model-dir", str(tmp_path / "model"),
            "--steps", str(steps), "--steps-per-loop", str(_PER_LOOP), "--strategy", "cpu"]  # fmt: skip
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _checkpoint_steps(model_dir):
    names = os.listdir(model_dir) if model_dir.exists() else []
    return sorted(
        int(m[1]) for m in (re.match(r"model\.ckpt-(\d+)\.index$", n) for n in names) if m
    )


@pytest.mark.parametrize(
    ("signal_number", "code", "name"),
    [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")],
    ids=["sigint", "sigterm"],
)
def test_signal_saves_stops_with_one_line_and_resumes(tmp_path, signal_number, code, name):
    (tmp_path / "interrupt_model.py").write_text(_MODEL)
    model_dir = tmp_path / "model"
    proc = _run(tmp_path, 10**9)
    deadline = time.monotonic() + 120
    while not _checkpoint_steps(model_dir) and proc.poll() is None:
        assert time.monotonic() < deadline, "no first checkpoint within 120 s"
        time.sleep(0.05)
    time.sleep(0.5)  # some loops run
    proc.send_signal(signal_number)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("estimator-spec-compat run:")]
    assert len(lines) == 1, err
    match = re.fullmatch(
        rf"estimator-spec-compat run: Training interrupted by {name} at global step (\d+): "
        rf"saved (\S+); train again with the same model_dir to resume\.",
        lines[0],
    )
    assert match, lines[0]
    step = int(match[1])
    assert step > 0 and step % _PER_LOOP == 0  # stopped after a whole loop
    assert match[2] == str(model_dir / f"model.ckpt-{step}")
    assert _checkpoint_steps(model_dir)[-1] == step
    assert "checkpoint" in os.listdir(model_dir)
    assert "metrics:" not in out  # no evaluation after an interrupt

    resumed = _run(tmp_path, 10)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert re.search(rf"^  global_step: {step + 10}$", out, re.MULTILINE), out


def test_ctrl_c_outside_training_is_one_line_and_130(tmp_path, monkeypatch, capsys):
    (tmp_path / "interrupt_model2.py").write_text(
        _MODEL + "\n\ndef pressed_input_fn(params):\n    raise KeyboardInterrupt\n"
    )
    monkeypatch.chdir(tmp_path)
    argv = ["run", "interrupt_model2:model_fn", "--input-fn", "interrupt_model2:pressed_input_fn",
            "--model-dir", str(tmp_path / "model"), "--strategy", "cpu"]  # fmt: skip
    assert cli.main(argv) == 130
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "estimator-spec-compat run: aborted by Ctrl-C."
    assert "Traceback" not in err
