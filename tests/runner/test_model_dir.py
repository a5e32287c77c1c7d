"""One writer per model_dir, what interrupted saves leave, and the checkpoint state file.

The second writer is a real second process; a kill is a real SIGKILL.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from estimator_spec_compat._compat import tf
from estimator_spec_compat.runner import Runner, RunnerConfig, _checkpoint

# A process that trains into sys.argv[1] and, at its first save, says so and waits.
_HOLDER = """
import os, sys, time
{load_models}
from estimator_spec_compat.runner import Runner, RunnerConfig

class Wait:
    def begin(self): pass
    def before_save(self, session, step): pass
    def after_save(self, session, step):
        open(sys.argv[2], "w").close()
        while True:
            time.sleep(0.05)
    def end(self, session, step): pass

runner = Runner(model_fn=models.mlp_model_fn, model_dir=sys.argv[1])
runner.train(models.input_fn(repeat=True), steps=2, saving_listeners=[Wait()])
"""


def _runner(models, model_dir, **config):
    config = RunnerConfig(steps_per_loop=2, tf_random_seed=3, **config)
    return Runner(model_fn=models.mlp_model_fn, model_dir=str(model_dir), config=config)


def _start_holder(load_models_code, model_dir, ready):
    code = textwrap.dedent(_HOLDER).format(load_models=load_models_code)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(model_dir), str(ready)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the holder process did not start: {proc.stderr.read().decode()[-3000:]}")
        time.sleep(0.05)
    return proc


def test_a_second_live_writer_is_refused_and_a_killed_one_leaves_no_lock(
    models, load_models_code, tmp_path
):
    model_dir = tmp_path / "model"
    holder = _start_holder(load_models_code, model_dir, tmp_path / "ready")
    try:
        live_temp = model_dir / ".tmp-ckpt-live"  # as if the holder were saving right now
        live_temp.mkdir()
        with pytest.raises(RuntimeError, match=rf"in use: process {holder.pid} on .*another"):
            _runner(models, model_dir).train(models.input_fn(repeat=True), steps=2)
        assert live_temp.is_dir()  # the live writer's temporary folder is left alone
        assert _checkpoint.latest(str(model_dir)).endswith("model.ckpt-0")  # the holder's
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    runner = _runner(models, model_dir)  # the killed process's lock is gone with it
    runner.train(models.input_fn(repeat=True), steps=2)
    assert runner.get_variable_value("global_step") == 2
    assert not live_temp.exists()  # stale now: removed


def test_readers_and_non_chief_workers_take_no_lock(models, tmp_path):
    from estimator_spec_compat.runner import _lock

    runner = _runner(models, tmp_path)
    runner.train(models.input_fn(repeat=True), steps=2)
    with _lock.exclusive_writer(str(tmp_path)):  # as if another process trained now
        assert runner.evaluate(models.input_fn())["global_step"] == 2
        list(runner.predict(models.input_fn(labels=False)))
        runner.config = RunnerConfig(model_dir=str(tmp_path), is_chief=False)
        runner.train(models.input_fn(repeat=True), steps=2)  # writes nothing, locks nothing


def test_stale_temp_leftovers_are_removed_on_start(models, tmp_path):
    runner = _runner(models, tmp_path)
    runner.train(models.input_fn(repeat=True), steps=2)
    # What a SIGKILL during a save leaves: a temp folder with a partial bundle, and a
    # half-written state file of the checkpoint state writer.
    stale = tmp_path / ".tmp-ckpt-k1ll3d"
    stale.mkdir()
    (stale / "model.ckpt.data-00000-of-00001").write_bytes(b"\0" * 1024)
    (tmp_path / "checkpoint.tmp0123abcd").write_text("model_checkpoint_pa")
    _runner(models, tmp_path).train(models.input_fn(repeat=True), steps=2)
    assert sorted(n for n in os.listdir(tmp_path) if "tmp" in n) == []
    assert _checkpoint.latest(str(tmp_path)).endswith("model.ckpt-4")


def test_cleanup_tolerates_checkpoint_files_already_gone(models, tmp_path, monkeypatch):
    real_glob = tf.io.gfile.glob

    def glob_with_a_ghost(pattern):  # another writer removed this file just after the glob
        return [*real_glob(pattern), pattern.replace("*", "data-00000-of-00001-ghost")]

    monkeypatch.setattr(tf.io.gfile, "glob", glob_with_a_ghost)
    runner = _runner(models, tmp_path, save_checkpoints_steps=2, keep_checkpoint_max=1)
    runner.train(models.input_fn(repeat=True), steps=6)
    state = tf.train.get_checkpoint_state(str(tmp_path))
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == ["model.ckpt-6"]


@pytest.mark.parametrize("keep", [None, 0], ids=["None", "0"])
def test_keep_checkpoint_max_none_or_zero_keeps_all(models, tmp_path, keep):
    runner = _runner(models, tmp_path, save_checkpoints_steps=2, keep_checkpoint_max=keep)
    runner.train(models.input_fn(repeat=True), steps=14)
    state = tf.train.get_checkpoint_state(str(tmp_path))
    expected = [f"model.ckpt-{s}" for s in range(0, 15, 2)]  # 8 > RunConfig's default 5
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == expected
    assert all(os.path.exists(str(tmp_path / f"{name}.index")) for name in expected)


@pytest.mark.parametrize("keep", [-1, 1.5, True], ids=["negative", "float", "bool"])
def test_keep_checkpoint_max_must_be_a_count(keep):
    with pytest.raises((TypeError, ValueError), match="keep_checkpoint_max"):
        RunnerConfig(keep_checkpoint_max=keep)


def test_state_file_names_checkpoints_relative_to_model_dir_as_estimator(models, tmp_path):
    """Estimator's Saver wrote ``model_checkpoint_path: "model.ckpt-10"`` (measured), so a
    moved model_dir still restores."""
    _runner(models, tmp_path / "a", save_checkpoints_steps=2).train(
        models.input_fn(repeat=True), steps=4
    )
    text = (tmp_path / "a" / "checkpoint").read_text()
    assert text.splitlines() == [
        'model_checkpoint_path: "model.ckpt-4"',
        'all_model_checkpoint_paths: "model.ckpt-0"',
        'all_model_checkpoint_paths: "model.ckpt-2"',
        'all_model_checkpoint_paths: "model.ckpt-4"',
    ]
    os.rename(tmp_path / "a", tmp_path / "b")
    moved = _runner(models, tmp_path / "b")
    assert moved.evaluate(models.input_fn())["global_step"] == 4


@pytest.mark.estimator_world
def test_estimator_reads_the_runner_state_file_and_continues_it(models, tmp_path):
    _runner(models, tmp_path, save_checkpoints_steps=2).train(models.input_fn(repeat=True), steps=4)
    config = tf.estimator.RunConfig(save_checkpoints_steps=2, tf_random_seed=3)
    estimator = tf.estimator.Estimator(models.mlp_model_fn, str(tmp_path), config=config)
    estimator.train(models.input_fn(repeat=True), steps=2)
    state = tf.train.get_checkpoint_state(str(tmp_path))
    names = [os.path.basename(p) for p in state.all_model_checkpoint_paths]
    assert names == ["model.ckpt-0", "model.ckpt-2", "model.ckpt-4", "model.ckpt-6"]
    runner = _runner(models, tmp_path, save_checkpoints_steps=2)
    runner.train(models.input_fn(repeat=True), steps=2)
    np.testing.assert_equal(runner.get_variable_value("global_step"), 8)


def test_model_dir_that_is_a_file_is_refused_at_construction(models, tmp_path):
    path = tmp_path / "model"
    path.write_text("not a folder")
    with pytest.raises(ValueError, match=r"`model_dir` \(.*model'\) is an existing file"):
        Runner(model_fn=models.mlp_model_fn, model_dir=str(path))
    with pytest.raises(ValueError, match="is an existing file"):
        Runner(model_fn=models.mlp_model_fn, config=RunnerConfig(model_dir=str(path)))
