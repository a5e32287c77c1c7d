"""SIGINT / SIGTERM during ``Runner.train``: stop after the loop, save, raise `TrainingInterrupted`.

Expected steps come from the loop arithmetic (``steps_per_loop``), checkpoints
from ``model_dir`` itself. The command line's handling, in a real subprocess, is
in tests/test_cli_interrupt.py.
"""

import os
import signal
import threading

import pytest

from estimator_spec_compat._compat import ModeKeys, tf
from estimator_spec_compat.runner import Runner, RunnerConfig, TrainingInterrupted, _interrupt


def test_first_signal_asks_second_aborts_handlers_restored():
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with _interrupt.watching():
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        assert not _interrupt.requested()
        os.kill(os.getpid(), signal.SIGINT)
        assert _interrupt.requested() and _interrupt.received() == signal.SIGINT
        with pytest.raises(KeyboardInterrupt) as raised:
            os.kill(os.getpid(), signal.SIGINT)
        assert type(raised.value) is KeyboardInterrupt  # Python's own, at once
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_sigterm_is_asked_then_back_to_its_default():
    with _interrupt.watching():
        os.kill(os.getpid(), signal.SIGTERM)
        assert _interrupt.received() == signal.SIGTERM
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # a second one ends the process
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_users_handlers_ignored_signals_other_threads_and_disabled_are_left_alone():
    def mine(signum, frame):
        del signum, frame

    old = signal.signal(signal.SIGINT, mine)
    old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with _interrupt.watching():
            assert signal.getsignal(signal.SIGINT) is mine
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, old)
        signal.signal(signal.SIGTERM, old_term)
    with _interrupt.watching(enabled=False):
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    seen = []

    def in_thread():
        with _interrupt.watching():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert seen == [signal.default_int_handler]


def test_exception_line_and_exit_codes():
    error = TrainingInterrupted(signal.SIGTERM, 40, "/m/model.ckpt-40")
    assert isinstance(error, KeyboardInterrupt) and not isinstance(error, Exception)
    assert (error.exit_code, error.step, error.checkpoint) == (143, 40, "/m/model.ckpt-40")
    assert str(error) == (
        "Training interrupted by SIGTERM at global step 40: saved /m/model.ckpt-40; "
        "train again with the same model_dir to resume."
    )
    assert TrainingInterrupted(signal.SIGINT, 0, None).exit_code == 130


def _signalling(models, at_step, signal_number):
    """mlp_model_fn whose TRAIN step sends ``signal_number`` to this process at ``at_step``,
    from inside the running loop (a TF thread, as a real signal arrives during a loop)."""

    def send(step):
        if int(step) == at_step:
            os.kill(os.getpid(), signal_number)
        return step

    def model_fn(features, labels, mode, params):
        spec = models.mlp_model_fn(features, labels, mode, params)
        if mode != ModeKeys.TRAIN:
            return spec
        with tf.control_dependencies([spec.train_op]):  # the step after this one's increment
            step = tf.compat.v1.train.get_global_step().read_value()
        return spec._replace(train_op=tf.py_function(send, [step], tf.int64).op)

    return model_fn


@pytest.mark.parametrize("with_hooks", [False, True], ids=["loops", "hooked"])
@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_train_stops_after_the_loop_saves_and_resumes(models, tmp_path, signal_number, with_hooks):
    config = RunnerConfig(steps_per_loop=4, tf_random_seed=3, save_checkpoints_steps=1000)
    runner = Runner(
        model_fn=_signalling(models, 5, signal_number), model_dir=str(tmp_path), config=config
    )
    hooks = [tf.compat.v1.train.StopAtStepHook(last_step=1000)] if with_hooks else None
    with pytest.raises(TrainingInterrupted) as raised:
        runner.train(models.input_fn(repeat=True), steps=100, hooks=hooks)
    # The signal came at the end of step 5, inside the loop of steps 5-8, which ends; with
    # hooks one step runs per call.
    expected = 5 if with_hooks else 8
    assert (raised.value.signal_number, raised.value.step) == (signal_number, expected)
    assert raised.value.checkpoint == os.path.join(str(tmp_path), f"model.ckpt-{expected}")
    assert runner.latest_checkpoint() == raised.value.checkpoint
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    again = Runner(model_fn=models.mlp_model_fn, model_dir=str(tmp_path), config=config)
    again.train(models.input_fn(repeat=True), steps=2)
    assert again.latest_checkpoint().endswith(f"model.ckpt-{expected + 2}")
