"""The runner on its own, in both worlds: train, evaluate, predict, checkpoints, errors.

Expectations come from the data and TF1 semantics (global step counts, what a
Session would not have run), never from the runner's own output.
"""

import os

import numpy as np
import pytest

from estimator_spec_compat._compat import ModeKeys, tf
from estimator_spec_compat.runner import Runner, RunnerConfig


def _runner(models, tmp_path, model_fn=None, **kwargs):
    kwargs.setdefault("config", RunnerConfig(steps_per_loop=4, tf_random_seed=3))
    return Runner(model_fn=model_fn or models.mlp_model_fn, model_dir=str(tmp_path), **kwargs)


def test_trains_loss_falls_and_metrics_are_sensible(models, tmp_path):
    runner = _runner(models, tmp_path)
    runner.train(models.input_fn(repeat=True), steps=4)
    before = runner.evaluate(models.input_fn())
    runner.train(models.input_fn(repeat=True), steps=36)
    after = runner.evaluate(models.input_fn())
    assert after["loss"] < 0.8 * before["loss"]
    assert after["accuracy"] > 0.75
    assert after["global_step"] == 40
    assert 0.0 < after["mean_p0"] < 1.0
    assert set(after) == {"loss", "accuracy", "mean_p0", "global_step"}


def test_evaluate_runs_only_what_a_session_would_fetch(models, tmp_path):
    # mlp_model_fn builds its train_op in EVAL too; Estimator never ran it there.
    runner = _runner(models, tmp_path)
    runner.train(models.input_fn(repeat=True), steps=8)
    weights = runner.get_variable_value("mlp/w0")
    first = runner.evaluate(models.input_fn())
    second = runner.evaluate(models.input_fn())
    assert first["global_step"] == second["global_step"] == 8
    np.testing.assert_array_equal(runner.get_variable_value("mlp/w0"), weights)
    assert first == pytest.approx(second)  # metric variables reset per evaluate


def test_accuracy_equals_the_one_computed_by_hand(models, tmp_path):
    runner = _runner(models, tmp_path)
    runner.train(models.input_fn(repeat=True), steps=12)
    x, y = models.data()
    classes = np.array([p["class"] for p in runner.predict(models.input_fn(labels=False))])
    metrics = runner.evaluate(models.input_fn(batch_size=24))  # 24, 24, 16: partial last batch
    assert metrics["accuracy"] == pytest.approx(np.mean(classes == y), abs=1e-6)
    assert len(classes) == len(x)


def test_variables_keep_their_tf1_names(models, tmp_path):
    runner = _runner(models, tmp_path)
    runner.train(models.input_fn(repeat=True), steps=2)
    assert runner.get_variable_names() == sorted(
        ["global_step", "beta1_power", "beta2_power"]
        + [f"mlp/{v}{s}" for v in ("w0", "b0", "w1") for s in ("", "/Adam", "/Adam_1")]
    )


def test_steps_per_loop_never_retraces(models, tmp_path):
    runner = _runner(models, tmp_path, config=RunnerConfig(steps_per_loop=3))
    runner.train(models.input_fn(repeat=True), steps=10)  # loops of 3, 3, 3, 1
    runner.train(models.input_fn(repeat=True), steps=5)
    assert runner._programs.train_tracing_count == 1
    assert runner.evaluate(models.input_fn())["global_step"] == 15
    runner.evaluate(models.input_fn(batch_size=8))  # 8 batches: loops of 3, 3, 2
    assert runner._programs._loops["eval"].experimental_get_tracing_count() == 1


def test_finite_input_stops_training_at_its_end(models, tmp_path):
    runner = _runner(models, tmp_path)
    runner.train(models.input_fn(batch_size=16), steps=100)  # 64 examples: 4 batches
    assert runner.evaluate(models.input_fn())["global_step"] == 4


def test_max_steps_and_resume_from_model_dir(models, tmp_path):
    _runner(models, tmp_path).train(models.input_fn(repeat=True), max_steps=6)
    again = _runner(models, tmp_path)
    again.train(models.input_fn(repeat=True), max_steps=6)  # already there: nothing runs
    assert again.evaluate(models.input_fn())["global_step"] == 6
    again.train(models.input_fn(repeat=True), max_steps=9)
    assert tf.train.load_checkpoint(str(tmp_path)).get_tensor("global_step") == 9


def test_checkpoints_every_n_steps_keep_max(models, tmp_path):
    config = RunnerConfig(steps_per_loop=2, save_checkpoints_steps=2, keep_checkpoint_max=2)
    _runner(models, tmp_path, config=config).train(models.input_fn(repeat=True), steps=8)
    state = tf.train.get_checkpoint_state(str(tmp_path))
    kept = [os.path.basename(p) for p in state.all_model_checkpoint_paths]
    assert kept == ["model.ckpt-6", "model.ckpt-8"]
    assert not any(name.startswith(".tmp-ckpt") for name in os.listdir(tmp_path))


@pytest.mark.parametrize(
    "config, steps, secs",
    [
        pytest.param({}, None, 600, id="default-600s-as-RunConfig"),
        pytest.param({"save_checkpoints_steps": 5}, 5, None, id="steps-only"),
        pytest.param({"save_checkpoints_secs": 30}, None, 30, id="secs"),
        pytest.param({"save_checkpoints_secs": None}, None, None, id="at-the-end-only"),
    ],
)
def test_checkpoint_schedule_defaults_like_runconfig(config, steps, secs):
    config = RunnerConfig(**config)
    assert (config.save_checkpoints_steps, config.save_checkpoints_secs) == (steps, secs)


@pytest.mark.parametrize(
    "secs, kept",
    [
        pytest.param(
            60, ["model.ckpt-0", "model.ckpt-2", "model.ckpt-4", "model.ckpt-6"], id="60s"
        ),
        pytest.param(None, ["model.ckpt-0", "model.ckpt-6"], id="none"),  # start and end
    ],
)
def test_checkpoints_every_n_seconds(models, tmp_path, monkeypatch, secs, kept):
    from estimator_spec_compat.runner import _reporting

    clock = iter(range(0, 10**6, 61))  # each reading of the clock: 61 s later
    monkeypatch.setattr(_reporting.time, "perf_counter", lambda: next(clock))
    config = RunnerConfig(steps_per_loop=2, save_checkpoints_secs=secs)
    _runner(models, tmp_path, config=config).train(models.input_fn(repeat=True), steps=6)
    state = tf.train.get_checkpoint_state(str(tmp_path))
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == kept


def test_a_failed_save_leaves_the_previous_checkpoint_latest(models, tmp_path, monkeypatch):
    runner = _runner(models, tmp_path)
    runner.train(models.input_fn(repeat=True), steps=4)
    real_replace = os.replace

    def fail_on_index(src, dst):
        if dst.endswith(".index"):
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", fail_on_index)
    with pytest.raises(OSError, match="disk full"):
        runner.train(models.input_fn(repeat=True), steps=4)
    monkeypatch.undo()
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("model.ckpt-4")
    fresh = _runner(models, tmp_path)
    assert fresh.evaluate(models.input_fn())["global_step"] == 4


@pytest.mark.parametrize(
    "single, keys",
    [
        pytest.param(True, None, id="per-example-all-keys"),
        pytest.param(False, ["class"], id="per-batch-one-key"),
    ],
)
def test_predict_shapes_and_keys(models, tmp_path, single, keys):
    runner = _runner(models, tmp_path)
    runner.train(models.input_fn(repeat=True), steps=2)
    out = list(runner.predict(models.input_fn(batch_size=24), keys, yield_single_examples=single))
    if single:
        assert len(out) == 64 and set(out[0]) == {"class", "probs"}
        assert out[0]["probs"].shape == (models.N_CLASSES,)
    else:
        assert [len(b["class"]) for b in out] == [24, 24, 16] and set(out[0]) == {"class"}


def test_batch_sizes_reach_input_fn_and_model_fn_as_params(models, tmp_path):
    seen = []

    def model_fn(features, labels, mode, params):
        seen.append(("model_fn", mode, params["batch_size"], params["use_tpu"]))
        return models.mlp_model_fn(features, labels, mode, params)

    def input_fn(params, input_context, mode, config):
        seen.append(("input_fn", mode, params["batch_size"], input_context.num_replicas_in_sync))
        assert isinstance(config, RunnerConfig)
        return models.input_fn()(params)

    runner = _runner(models, tmp_path, model_fn, train_batch_size=8, eval_batch_size=32)
    runner.train(input_fn, steps=1)
    runner.evaluate(input_fn)
    assert ("input_fn", ModeKeys.TRAIN, 8, 1) in seen and (
        "model_fn",
        ModeKeys.TRAIN,
        8,
        False,
    ) in seen
    assert ("input_fn", ModeKeys.EVAL, 32, 1) in seen and (
        "model_fn",
        ModeKeys.EVAL,
        32,
        False,
    ) in seen


def test_tensor_features_and_features_only_input(models, tmp_path):
    runner = _runner(models, tmp_path)
    runner.train(models.input_fn(repeat=True, dict_features=False), steps=2)
    preds = list(runner.predict(models.input_fn(dict_features=False, labels=False)))
    assert len(preds) == 64


def test_tpu_spec_eval_metrics_single_replica(models, tmp_path):
    runner = _runner(
        models,
        tmp_path,
        models.tpu_model_fn,
        train_batch_size=16,
        eval_batch_size=16,
        predict_batch_size=16,
    )
    runner.train(models.input_fn(repeat=True, drop_remainder=True), steps=20)
    metrics = runner.evaluate(models.input_fn(drop_remainder=True))
    assert set(metrics) == {"accuracy", "recall_0", "loss", "global_step"}
    _, y = models.data()
    logits = np.stack([p["logits"] for p in runner.predict(models.input_fn(drop_remainder=True))])
    classes = logits.argmax(1)
    assert metrics["accuracy"] == pytest.approx(np.mean(classes == y), abs=1e-6)
    assert metrics["recall_0"] == pytest.approx(np.mean(classes[y == 0] == 0), abs=1e-6)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        pytest.param({"steps": 0}, ValueError, r"`steps` \(0\) must be a positive", id="steps-0"),
        pytest.param({"steps": 1, "max_steps": 2}, ValueError, "not both", id="both"),
        pytest.param(
            {"steps": 1, "hooks": [object()]},
            TypeError,
            "not a `tf.compat.v1.train.Session",
            id="hooks",
        ),
    ],
)
def test_train_argument_errors(models, tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        _runner(models, tmp_path).train(models.input_fn(repeat=True), **kwargs)


@pytest.mark.parametrize(
    "build, error, match",
    [
        pytest.param(
            lambda m: RunnerConfig(steps_per_loop=0),
            ValueError,
            r"`steps_per_loop` \(0\) must be a positive integer",
            id="config",
        ),
        pytest.param(
            lambda m: RunnerConfig(save_checkpoints_steps=10, save_checkpoints_secs=60),
            ValueError,
            r"`save_checkpoints_steps` \(10\) and `save_checkpoints_secs` \(60\): give at most one",
            id="config-save-both",
        ),
        pytest.param(
            lambda m: Runner(model_fn=lambda x: x),
            ValueError,
            "must take an argument named `features`",
            id="model_fn-args",
        ),
        pytest.param(
            lambda m: Runner(model_fn=m.mlp_model_fn, params={"batch_size": 2}, train_batch_size=4),
            ValueError,
            "batch_size",
            id="params",
        ),
        pytest.param(
            lambda m: Runner(model_fn=m.mlp_model_fn, config={}),
            TypeError,
            "RunnerConfig",
            id="config-type",
        ),
    ],
)
def test_constructor_errors(models, build, error, match):
    with pytest.raises(error, match=match):
        build(models)


def test_evaluate_without_checkpoint_fails_like_estimator(models, tmp_path):
    with pytest.raises(ValueError, match="Could not find trained model"):
        _runner(models, tmp_path).evaluate(models.input_fn())


def test_input_fn_must_return_a_dataset(models, tmp_path):
    with pytest.raises(TypeError, match="must return a tf.data.Dataset"):
        _runner(models, tmp_path).train(lambda: ({"x": 1.0}, 2), steps=1)


def test_export_saved_model_serves_what_predict_gives(models, tmp_path):
    from estimator_spec_compat.convert.serving import build_raw_serving_input_receiver_fn

    runner = _runner(models, tmp_path)
    runner.train(models.input_fn(repeat=True), steps=8)
    receiver_fn = build_raw_serving_input_receiver_fn({"x": tf.zeros([1, models.N_FEATURES])})
    path = runner.export_saved_model(str(tmp_path / "export"), receiver_fn)
    assert isinstance(path, bytes)  # as Estimator.export_saved_model returns it
    assert path.decode().startswith(str(tmp_path / "export"))
    x, _ = models.data()
    served = tf.saved_model.load(path).signatures["serving_default"](x=tf.constant(x))
    predicted = list(runner.predict(models.input_fn(labels=False), yield_single_examples=False))
    np.testing.assert_allclose(
        served["probs"].numpy(), np.concatenate([b["probs"] for b in predicted]), rtol=1e-6
    )


def test_export_of_an_older_checkpoint_as_text_with_extra_assets(models, tmp_path):
    from estimator_spec_compat.convert.serving import build_raw_serving_input_receiver_fn

    runner = _runner(models, tmp_path)
    runner.train(models.input_fn(repeat=True), steps=4)
    at_4 = runner.latest_checkpoint()
    probs_4 = [p["probs"] for p in runner.predict(models.input_fn(labels=False))]
    runner.train(models.input_fn(repeat=True), steps=4)
    (tmp_path / "vocab.txt").write_text("a\nb\n")
    receiver_fn = build_raw_serving_input_receiver_fn({"x": tf.zeros([1, models.N_FEATURES])})
    path = runner.export_saved_model(
        str(tmp_path / "export"),
        receiver_fn,
        assets_extra={"tf_serving_warmup/vocab.txt": str(tmp_path / "vocab.txt")},
        as_text=True,
        checkpoint_path=at_4,
    ).decode()
    listing = os.listdir(path)
    assert "saved_model.pbtxt" in listing and "saved_model.pb" not in listing
    with open(os.path.join(path, "assets.extra", "tf_serving_warmup", "vocab.txt")) as f:
        assert f.read() == "a\nb\n"
    x, _ = models.data()
    served = tf.saved_model.load(path).signatures["serving_default"](x=tf.constant(x))
    np.testing.assert_allclose(served["probs"].numpy(), probs_4, rtol=1e-6)


def test_export_without_checkpoint_fails_like_estimator(models, tmp_path):
    with pytest.raises(ValueError, match="Couldn't find trained model"):
        _runner(models, tmp_path).export_saved_model(str(tmp_path / "e"), lambda: None)


def test_model_fn_without_labels_argument(models, tmp_path):
    def model_fn(features, mode, params):
        return models.mlp_model_fn(features, None, mode, params)

    runner = _runner(models, tmp_path, model_fn)
    with pytest.raises(ValueError, match="does not take `labels`"):
        runner.train(models.input_fn(repeat=True), steps=1)


def test_loss_summaries_every_save_summary_steps(models, tmp_path):
    config = RunnerConfig(steps_per_loop=2, save_summary_steps=4)
    runner = _runner(models, tmp_path, config=config)
    runner.train(models.input_fn(repeat=True), steps=8)
    steps_by_tag = {}
    for path in tf.io.gfile.glob(str(tmp_path / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                steps_by_tag.setdefault(value.tag, []).append(event.step)
    assert steps_by_tag == {"loss": [4, 8], "global_step/sec": [4, 8]}
    results = runner.evaluate(models.input_fn(), name="holdout")
    written = {}
    for path in tf.io.gfile.glob(str(tmp_path / "eval_holdout" / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                written[value.tag] = (event.step, tf.make_ndarray(value.tensor))
    assert written == {
        key: (8, pytest.approx(np.float32(results[key]))) for key in ("loss", "accuracy", "mean_p0")
    }


def test_tpu_host_call_runs_every_step_on_the_batch(models, tmp_path):
    total = tf.Variable(0.0)

    def model_fn(features, labels, mode, params):
        spec = models.tpu_model_fn(features, labels, mode, params)
        host_fn = lambda x: total.assign_add(tf.reduce_sum(x))  # noqa: E731
        return spec._replace(host_call=(host_fn, [features["x"]])) if mode == "train" else spec

    runner = _runner(models, tmp_path, model_fn, train_batch_size=16)
    runner.train(models.input_fn(drop_remainder=True), steps=10)  # 4 batches: the whole data
    x, _ = models.data()
    assert total.numpy() == pytest.approx(x.sum(), rel=1e-5)


def _duck_spec(spec):
    fields = ("mode", "predictions", "loss", "train_op", "eval_metric_ops", "export_outputs")
    duck = __import__("collections").namedtuple("DuckSpec", fields)
    return duck(*(getattr(spec, f) for f in fields))


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(_duck_spec, id="duck-typed"),
        pytest.param(
            lambda s: (
                tf.estimator.EstimatorSpec(
                    s.mode,
                    predictions=s.predictions,
                    loss=s.loss,
                    train_op=s.train_op,
                    eval_metric_ops=s.eval_metric_ops,
                )
                if s.mode != ModeKeys.PREDICT
                else tf.estimator.EstimatorSpec(s.mode, predictions=s.predictions)
            ),
            id="upstream",
            marks=pytest.mark.estimator_world,
        ),
    ],
)
def test_any_spec_with_the_fields_works(models, tmp_path, wrap):
    def model_fn(features, labels, mode, params):
        return wrap(models.mlp_model_fn(features, labels, mode, params))

    runner = _runner(models, tmp_path, model_fn)
    runner.train(models.input_fn(repeat=True), steps=4)
    assert runner.evaluate(models.input_fn())["global_step"] == 4
    assert len(list(runner.predict(models.input_fn(labels=False)))) == 64


def test_stop_at_step_hook_stops_training(models, tmp_path):
    runner = _runner(models, tmp_path)
    hook = tf.compat.v1.train.StopAtStepHook(num_steps=3)
    runner.train(models.input_fn(repeat=True), steps=10, hooks=[hook])
    assert runner.evaluate(models.input_fn())["global_step"] == 3


def test_hook_fetches_model_tensors_by_name_every_step(models, tmp_path):
    from estimator_spec_compat.convert.hooks import TrainingCallback

    class Record(TrainingCallback):
        seen = []

        def fetches(self):
            return {"logits": "mlp/logits:0"}

        def on_step_end(self, step, logs):
            self.seen.append((step, logs["logits"].shape))
            return False

    runner = _runner(models, tmp_path)
    runner.train(models.input_fn(repeat=True), steps=4, hooks=[Record()])
    assert Record.seen == [(s, (16, models.N_CLASSES)) for s in (1, 2, 3, 4)]


def test_nan_tensor_hook_in_spec_fails_like_estimator(models, tmp_path):
    def model_fn(features, labels, mode, params):
        spec = models.mlp_model_fn(features, labels, mode, params)
        if mode != ModeKeys.TRAIN:
            return spec
        loss = spec.loss * float("nan")
        hook = tf.compat.v1.train.NanTensorHook(loss)
        return spec._replace(loss=loss, training_hooks=[hook])

    runner = _runner(models, tmp_path, model_fn)
    with pytest.raises(tf.compat.v1.train.NanLossDuringTrainingError):
        runner.train(models.input_fn(repeat=True), steps=3)


def test_evaluate_steps_reads_only_that_many_batches(models, tmp_path):
    runner = _runner(models, tmp_path)
    runner.train(models.input_fn(repeat=True), steps=6)
    _, y = models.data()
    classes = np.array([p["class"] for p in runner.predict(models.input_fn(labels=False))])
    metrics = runner.evaluate(models.input_fn(batch_size=8), steps=5)  # 5 < steps_per_loop + 1
    assert metrics["accuracy"] == pytest.approx(np.mean(classes[:40] == y[:40]), abs=1e-6)


def test_new_input_shapes_retrace_with_the_same_variables(models, tmp_path):
    runner = _runner(models, tmp_path)
    runner.train(models.input_fn(repeat=True, drop_remainder=True), steps=4)  # [16, 6]
    names = runner.get_variable_names()
    runner.train(models.input_fn(batch_size=8, repeat=True, drop_remainder=True), steps=4)
    runner.train(models.input_fn(repeat=True, dict_features=False), steps=4)  # a Tensor
    assert runner.get_variable_names() == names
    assert runner.evaluate(models.input_fn(drop_remainder=True))["global_step"] == 12
    assert runner.evaluate(models.input_fn(batch_size=32))["global_step"] == 12


def test_init_from_checkpoint_warm_starts_a_fresh_model_dir(models, tmp_path):
    source = _runner(models, tmp_path / "source")
    source.train(models.input_fn(repeat=True), steps=8)

    def model_fn(features, labels, mode, params):
        spec = models.mlp_model_fn(features, labels, mode, params)
        tf.compat.v1.train.init_from_checkpoint(str(tmp_path / "source"), {"mlp/w0": "mlp/w0"})
        return spec

    target = _runner(models, tmp_path / "target", model_fn)
    preds = list(target.predict(models.input_fn(labels=False)))  # no checkpoint: initial values
    np.testing.assert_array_equal(
        target.get_variable_value("mlp/w0"), source.get_variable_value("mlp/w0")
    )
    assert not np.array_equal(
        target.get_variable_value("mlp/w1"), source.get_variable_value("mlp/w1")
    )
    assert len(preds) == 64
    target.train(models.input_fn(repeat=True), steps=1)  # from the warm start, then its own
    resumed = _runner(models, tmp_path / "target", model_fn)
    resumed.train(models.input_fn(repeat=True), steps=1)  # a checkpoint now: no warm start
    assert resumed.evaluate(models.input_fn())["global_step"] == 2


def test_tpu_scaffold_fn_init_from_checkpoint(models, tmp_path):
    source = _runner(models, tmp_path / "source", models.tpu_model_fn, train_batch_size=16)
    source.train(models.input_fn(repeat=True, drop_remainder=True), steps=4)

    def model_fn(features, labels, mode, params):
        spec = models.tpu_model_fn(features, labels, mode, params)

        def scaffold_fn():  # the BERT pattern
            tf.compat.v1.train.init_from_checkpoint(str(tmp_path / "source"), {"w": "w"})
            return tf.compat.v1.train.Scaffold()

        return spec._replace(scaffold_fn=scaffold_fn)

    target = _runner(models, tmp_path / "target", model_fn, predict_batch_size=16)
    assert len(list(target.predict(models.input_fn(labels=False)))) == 64  # fresh: warm start
    np.testing.assert_array_equal(target.get_variable_value("w"), source.get_variable_value("w"))
    assert not np.array_equal(target.get_variable_value("b"), source.get_variable_value("b"))


def test_model_fn_config_answers_like_run_config(models, tmp_path):
    seen = {}

    def model_fn(features, labels, mode, params, config):
        seen.update(
            model_dir=config.model_dir, chief=config.is_chief, workers=config.num_worker_replicas
        )
        return models.mlp_model_fn(features, labels, mode, params)

    _runner(models, tmp_path, model_fn).train(models.input_fn(repeat=True), steps=1)
    assert seen == {"model_dir": str(tmp_path), "chief": True, "workers": 1}
    with pytest.raises(ValueError, match="differ"):
        Runner(model_fn=model_fn, model_dir="/a", config=RunnerConfig(model_dir="/b"))


def test_a_scaffold_built_from_initializer_ops_trains_as_without_it(models, tmp_path):
    """TF1 code builds global/local/tables initializers in the model_fn (Scaffold init_op,
    local_init_op); the runner initializes variables itself, so they change nothing."""

    def model_fn(features, labels, mode, params):
        spec = models.mlp_model_fn(features, labels, mode, params)
        v1 = tf.compat.v1
        scaffold = v1.train.Scaffold(
            init_op=v1.global_variables_initializer(),
            local_init_op=tf.group(v1.local_variables_initializer(), v1.tables_initializer()),
        )
        return spec._replace(scaffold=scaffold)

    results = []
    for name, fn in (("plain", None), ("scaffold", model_fn)):
        runner = _runner(models, tmp_path / name, fn)
        runner.train(models.input_fn(repeat=True), steps=4)
        results.append(runner.evaluate(models.input_fn()))
    assert results[1] == pytest.approx(results[0])


def test_train_without_train_op_is_a_clear_error(models, tmp_path):
    def model_fn(features, labels, mode, params):  # duck-typed: our spec classes refuse it earlier
        return _duck_spec(models.mlp_model_fn(features, labels, mode, params))._replace(
            train_op=None
        )

    with pytest.raises(ValueError, match=r"In TRAIN mode the model_fn must return `loss` and"):
        _runner(models, tmp_path, model_fn).train(models.input_fn(repeat=True), steps=1)
