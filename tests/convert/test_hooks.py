"""Hooks -> TF2 callbacks, checked against the real hooks in a MonitoredSession.

The same tiny model (fit ``w`` to a stream of points with SGD) is trained twice:
by v1 (graph, ``MonitoredSession`` with the hooks) and by a hand-written TF2
loop (``tf.function`` step; the hooks are built while tracing it, converted with
``to_callbacks`` and driven through ``CallbackList``).  What the hooks did —
steps run, log lines, summaries written, checkpoints and listener calls, the
NaN failure, final values — is the expectation for the callbacks.
"""

import logging
import os
import re

import numpy as np
import pytest

from estimator_spec_compat._compat import tf
from estimator_spec_compat.convert import hooks as hooks_lib

V1 = tf.compat.v1.train
STEPS = 12


def _data(nan_at=None):
    points = np.linspace(-1.0, 1.0, STEPS * 2, dtype=np.float32).reshape(STEPS, 2)
    if nan_at is not None:
        points[nan_at] = np.nan
    return points


def _run_v1(build_hooks, data, directory, initial_step=0):
    """Returns (steps run, the hooks) after a MonitoredSession run."""
    with tf.Graph().as_default():
        step = V1.get_or_create_global_step()
        # The global-step read the hooks fetch, ordered before the update as the
        # Estimator intends (otherwise v1's "stale" step races with the increment).
        step_read = step.read_value() + 0
        tf.compat.v1.add_to_collection("global_step_read_op_cache", step_read)
        w = tf.compat.v1.get_variable("w", initializer=[1.0, -1.0])
        x = tf.compat.v1.placeholder(tf.float32, [2])
        with tf.control_dependencies([step_read]):
            loss = tf.reduce_sum(tf.square(w - x))
            train_op = V1.GradientDescentOptimizer(0.1).minimize(loss, global_step=step)
        hooks = build_hooks(loss=loss, final_w=tf.identity(w), directory=directory)
        init_step = tf.compat.v1.assign(step, initial_step)
        scaffold = V1.Scaffold(local_init_op=init_step)
        runs = 0
        with V1.MonitoredSession(V1.ChiefSessionCreator(scaffold=scaffold), hooks=hooks) as session:
            while not session.should_stop() and runs < len(data):
                session.run(train_op, {x: data[runs]})
                runs += 1
        tf.compat.v1.summary.FileWriterCache.clear()  # closes (flushes) the hooks' writers
    return runs, hooks


def _run_tf2(build_hooks, data, directory, initial_step=0):
    """Returns (steps run, the CallbackList) after a TF2 loop run."""
    step = tf.Variable(initial_step, dtype=tf.int64)
    w = tf.Variable([1.0, -1.0])
    optimizer = tf.keras.optimizers.SGD(0.1)
    built = {}

    @tf.function(input_signature=[tf.TensorSpec([2], tf.float32)])
    def train_step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(w - x))
        optimizer.apply_gradients([(tape.gradient(loss, w), w)])
        step.assign_add(1)
        hooks = build_hooks(loss=loss, final_w=w.read_value(), directory=directory)
        # State lives in the callbacks of the first trace; fetches come from this
        # trace's hooks (keys are positional, so they line up after a retrace).
        current = hooks_lib.CallbackList(hooks_lib.to_callbacks(hooks))
        built.setdefault("callbacks", current)
        return current.fetches()

    train_step.get_concrete_function()  # builds the hooks before training starts
    callbacks = built["callbacks"]
    checkpoint = tf.train.Checkpoint(w=w, step=step)
    callbacks.on_train_begin(hooks_lib.TrainingContext(step=initial_step, checkpoint=checkpoint))
    runs, logs = 0, {}
    for point in data:
        logs = {key: value.numpy() for key, value in train_step(tf.constant(point)).items()}
        runs += 1
        if callbacks.on_step_end(int(step.numpy()), logs):
            break
    callbacks.on_train_end(int(step.numpy()), logs)
    return runs, callbacks


@pytest.fixture
def tf_log_lines():
    """INFO+ messages of TF's logger while the test runs."""
    logger = tf.get_logger()
    lines = []

    class _Handler(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    handler, level = _Handler(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def _both(build_hooks, tmp_path, data=None, initial_step=0):
    data = _data() if data is None else data
    v1 = _run_v1(build_hooks, data, str(tmp_path / "v1"), initial_step)
    tf2 = _run_tf2(build_hooks, data, str(tmp_path / "tf2"), initial_step)
    return v1, tf2


@pytest.mark.parametrize(
    "make_hook, initial_step",
    [
        pytest.param(lambda: V1.StopAtStepHook(num_steps=5), 3, id="num_steps"),
        pytest.param(lambda: V1.StopAtStepHook(last_step=7), 0, id="last_step"),
        pytest.param(lambda: V1.StopAtStepHook(last_step=9), 4, id="last_step_resumed"),
    ],
)
def test_stop_at_step(make_hook, initial_step, tmp_path):
    (v1_runs, _), (tf2_runs, callbacks) = _both(
        lambda **_: [make_hook()], tmp_path, initial_step=initial_step
    )
    assert tf2_runs == v1_runs < STEPS
    assert isinstance(callbacks.callbacks[0], hooks_lib.StopAtStepCallback)


def test_nan_loss_fails_like_the_hook(tmp_path):
    def build(loss, **_):
        return [V1.NanTensorHook(loss)]

    with pytest.raises(V1.NanLossDuringTrainingError):
        _run_v1(build, _data(nan_at=4), str(tmp_path))
    with pytest.raises(V1.NanLossDuringTrainingError, match="NaN loss during training"):
        _run_tf2(build, _data(nan_at=4), str(tmp_path))


def test_nan_loss_can_stop_instead(tmp_path):
    def build(loss, **_):
        return [V1.NanTensorHook(loss, fail_on_nan_loss=False)]

    (v1_runs, _), (tf2_runs, _) = _both(build, tmp_path, data=_data(nan_at=6))
    assert tf2_runs == v1_runs == 7


LOGGING_HOOKS = [
    pytest.param(
        lambda loss, w: V1.LoggingTensorHook({"loss": loss}, every_n_iter=5), id="every_5"
    ),
    pytest.param(
        lambda loss, w: V1.LoggingTensorHook(
            [tf.identity(loss, name="loss_value").name, "loss_value"], every_n_iter=4
        ),
        id="list_of_names",
    ),
    pytest.param(lambda loss, w: V1.LoggingTensorHook({"w": w}, at_end=True), id="only_at_end"),
    pytest.param(
        lambda loss, w: V1.LoggingTensorHook(
            {"b": loss, "a": loss * 2.0},
            every_n_iter=3,
            formatter=lambda values: f"a={values['a']:.4f} b={values['b']:.4f}",
        ),
        id="formatter",
    ),
]
_LOGGED = re.compile(r"^([\w/]+(:0)? = |a=)")


@pytest.mark.parametrize("make_hook", LOGGING_HOOKS)
def test_logging_tensor_lines_match(make_hook, tmp_path, tf_log_lines):
    def build(loss, final_w, **_):
        return [make_hook(loss, final_w)]

    _run_v1(build, _data(), str(tmp_path))
    v1_lines = [line for line in tf_log_lines if _LOGGED.match(line)]
    tf_log_lines.clear()
    _run_tf2(build, _data(), str(tmp_path))
    tf2_lines = [line for line in tf_log_lines if _LOGGED.match(line)]
    assert v1_lines
    # The elapsed seconds differ, naturally.
    v1_lines = [re.sub(r" \(\d+\.\d+ sec\)$", "", line) for line in v1_lines]
    tf2_lines = [re.sub(r" \(\d+\.\d+ sec\)$", "", line) for line in tf2_lines]
    assert tf2_lines == v1_lines


def _summaries(directory):
    """(step, tag, value) of the simple_value summaries in a directory's event files."""
    found = []
    for name in sorted(os.listdir(directory)):
        if not name.startswith("events."):
            continue
        for event in tf.compat.v1.train.summary_iterator(os.path.join(directory, name)):
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    found.append((event.step, value.tag, round(value.simple_value, 4)))
    return sorted(found)


@pytest.mark.filterwarnings("ignore:Cannot activate TF2 compatibility support")
def test_summary_saver_writes_the_same_summaries(tmp_path):
    def build(loss, directory, **_):
        summary = tf.compat.v1.summary.scalar("loss", loss)
        return [V1.SummarySaverHook(save_steps=4, output_dir=directory, summary_op=summary)]

    _both(build, tmp_path)
    expected = _summaries(tmp_path / "v1")
    assert [step for step, _, _ in expected] == [1, 5, 9]
    assert _summaries(tmp_path / "tf2") == expected


def test_step_counter_records_at_the_same_steps(tmp_path, tf_log_lines):
    def build(directory, **_):
        return [V1.StepCounterHook(every_n_steps=3, output_dir=directory)]

    _both(build, tmp_path)
    expected = _summaries(tmp_path / "v1")
    got = _summaries(tmp_path / "tf2")
    assert [(step, tag) for step, tag, _ in got] == [(step, tag) for step, tag, _ in expected]
    assert [step for step, _, _ in expected] == [4, 7, 10]
    assert all(value > 0 for _, _, value in got)
    assert sum(line.startswith("global_step/sec: ") for line in tf_log_lines) == 6


class _Recorder(V1.CheckpointSaverListener):
    def __init__(self, stop_at=None):
        self.calls = []
        self._stop_at = stop_at

    def begin(self):
        self.calls.append(("begin",))

    def before_save(self, session, global_step_value):
        self.calls.append(("before_save", int(global_step_value)))

    def after_save(self, session, global_step_value):
        self.calls.append(("after_save", int(global_step_value)))
        return self._stop_at is not None and global_step_value >= self._stop_at

    def end(self, session, global_step_value):
        self.calls.append(("end", int(global_step_value)))


def _checkpoint_steps(directory):
    state = tf.train.get_checkpoint_state(directory)
    return [int(path.rsplit("-", 1)[1]) for path in state.all_model_checkpoint_paths]


@pytest.mark.parametrize(
    "stop_at", [pytest.param(None, id="to_the_end"), pytest.param(6, id="stop")]
)
def test_checkpoint_saver_with_listeners(stop_at, tmp_path):
    recorders = {}

    def build(directory, **_):
        recorder = recorders.setdefault(directory, _Recorder(stop_at))  # first trace's
        return [
            V1.CheckpointSaverHook(
                directory, save_steps=3, listeners=[recorder], checkpoint_basename="m.ckpt"
            )
        ]

    (v1_runs, _), (tf2_runs, _) = _both(build, tmp_path, data=_data()[:10])
    v1_dir, tf2_dir = str(tmp_path / "v1"), str(tmp_path / "tf2")
    assert tf2_runs == v1_runs
    assert recorders[tf2_dir].calls == recorders[v1_dir].calls
    assert _checkpoint_steps(tf2_dir) == _checkpoint_steps(v1_dir)
    assert ("end", v1_runs) in recorders[v1_dir].calls
    restored_step = tf.Variable(0, dtype=tf.int64)
    tf.train.Checkpoint(step=restored_step).restore(
        tf.train.latest_checkpoint(tf2_dir)
    ).expect_partial()
    assert int(restored_step.numpy()) == v1_runs
    assert os.path.exists(os.path.join(tf2_dir, f"m.ckpt-{v1_runs}.index"))


@pytest.mark.parametrize(
    "final_ops",
    [
        pytest.param(lambda w: w, id="tensor"),
        pytest.param(lambda w: [w, w * 2.0], id="list"),
        pytest.param(lambda w: {"w": w, "sum": tf.reduce_sum(w)}, id="dict"),
    ],
)
def test_final_ops_values(final_ops, tmp_path):
    made = []

    def build(final_w, **_):
        made.append(V1.FinalOpsHook(final_ops(final_w)))
        return [made[-1]]

    _both(build, tmp_path)
    # made[0]: the v1 hook; made[1]: the hook of the first trace, whose callback
    # kept the state (a later retrace builds further hooks for fetching only).
    v1_hook, tf2_hook = made[0], made[1]
    assert v1_hook.final_ops_values is not None
    tf.nest.map_structure(
        lambda got, want: np.testing.assert_allclose(got, want, rtol=1e-6),
        tf2_hook.final_ops_values,
        v1_hook.final_ops_values,
    )


class _CustomHook(V1.SessionRunHook):
    pass


class _MyStopHook(V1.StopAtStepHook):
    pass


@pytest.mark.parametrize(
    "hook, match",
    [
        pytest.param(
            _CustomHook(), r"`hooks\[1\]`: The hook .*_CustomHook has no TF2 callback", id="custom"
        ),
        pytest.param(
            _MyStopHook(num_steps=1), r"_MyStopHook has no TF2 callback.*subclasses", id="subclass"
        ),
        pytest.param(
            V1.GlobalStepWaiterHook(3), r"GlobalStepWaiterHook.*TrainingCallback", id="waiter"
        ),
        pytest.param("hook", r"`hooks\[1\]`: `hook` \(builtins.str\) is not a", id="not_a_hook"),
    ],
)
def test_other_hooks_fail_naming_class_and_callback(hook, match):
    with pytest.raises(TypeError, match=match) as info:
        hooks_lib.to_callbacks([V1.StopAtStepHook(last_step=1), hook])
    if not isinstance(hook, str):
        assert "on_step_end(step, logs)" in str(info.value)


def test_callbacks_pass_through_and_feeds_are_refused():
    callback = hooks_lib.StopAtStepCallback(last_step=3)
    assert hooks_lib.to_callbacks([callback]) == [callback]
    with pytest.raises(ValueError, match=r"`final_ops_feed_dict`.*TF2 has no feeds"):
        hooks_lib.to_callback(V1.FinalOpsHook(tf.constant(1.0), final_ops_feed_dict={"x": 1}))


def test_checkpoint_saver_needs_the_loop_checkpoint(tmp_path):
    callback = hooks_lib.to_callback(V1.CheckpointSaverHook(str(tmp_path), save_steps=1))
    with pytest.raises(ValueError, match=r"`context.checkpoint` is None.*TrainingContext"):
        callback.on_train_begin(hooks_lib.TrainingContext(step=0))


@pytest.mark.parametrize(
    "make, match",
    [
        pytest.param(
            lambda: hooks_lib.StopAtStepCallback(), r"Exactly one of `num_steps`", id="stop"
        ),
        pytest.param(
            lambda: hooks_lib.LoggingTensorCallback({"a": "a:0"}, every_n_iter=0),
            r"`every_n_iter` \(0\) must be a positive integer",
            id="logging",
        ),
        pytest.param(
            lambda: hooks_lib.StepCounterCallback(every_n_steps=None),
            r"Exactly one of `every_n_steps` \(None\)",
            id="step_counter",
        ),
    ],
)
def test_bad_callback_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_tensor_names_resolve_in_the_traced_graph_only():
    callbacks = hooks_lib.CallbackList(
        [hooks_lib.LoggingTensorCallback(["doubled:0", "doubled"], every_n_iter=1)]
    )
    with pytest.raises(ValueError, match=r"'doubled:0' is a tensor name.*inside the traced"):
        callbacks.fetches()

    @tf.function
    def step(x):
        tf.identity(x * 2.0, name="doubled")
        return callbacks.fetches()

    assert {k: float(v) for k, v in step(tf.constant(1.5)).items()} == {
        "0/doubled:0": 3.0,
        "0/doubled": 3.0,
    }


def test_stop_at_step_needs_on_train_begin_for_num_steps():
    callback = hooks_lib.StopAtStepCallback(num_steps=2)
    with pytest.raises(ValueError, match=r"`on_train_begin\(context\)` was not called"):
        callback.on_step_end(1, {})
    callback.on_train_begin(hooks_lib.TrainingContext(step=5))
    assert (callback.last_step, callback.on_step_end(6, {}), callback.on_step_end(7, {})) == (
        7,
        False,
        True,
    )


def test_summary_saver_skips_empty_summaries(tmp_path):
    loss_summary = tf.compat.v1.Summary(
        value=[tf.compat.v1.Summary.Value(tag="loss", simple_value=2.5)]
    ).SerializeToString()
    callback = hooks_lib.SummarySaverCallback(
        ["loss", "skipped"], save_steps=1, output_dir=str(tmp_path)
    )
    callback.on_train_begin(hooks_lib.TrainingContext())
    callback.on_step_end(1, {"summary/0": loss_summary, "summary/1": b""})
    callback.on_step_end(2, {"summary/0": tf.constant(loss_summary), "summary/1": tf.constant(b"")})
    callback.on_train_end(2, {})
    assert _summaries(tmp_path) == [(1, "loss", 2.5), (2, "loss", 2.5)]
    events = [
        event
        for name in os.listdir(tmp_path)
        for event in tf.compat.v1.train.summary_iterator(os.path.join(tmp_path, name))
        if event.WhichOneof("what") == "summary"
    ]
    assert len(events) == 2  # an empty proto would have made an empty summary event
