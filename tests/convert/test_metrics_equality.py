"""Every supported v1 metric, served by LegacyMetrics, equals the real v1 metric.

The reference is the real ``tf.compat.v1.metrics`` function run in a
``tf.Graph`` + ``tf.compat.v1.Session`` over the same three weighted batches.
The bridge runs the same calls eagerly, inside ``tf.function``, and (in a fresh
process with two logical CPUs) under ``MirroredStrategy`` in replica and in
cross-replica context. All calls of a mode share one metric_fn, so each mode
costs one pass over the batches.
"""

import json
import pathlib

import numpy as np
import pytest

from estimator_spec_compat import _compat
from estimator_spec_compat.convert.metrics import LegacyMetrics

tf = _compat.tf

NUM_BATCHES = 3
BATCH = 8
V1 = "tf.compat.v1.metrics"


def make_batches(seed=0):
    """Three batches of every input the cases use (numpy, batch-major)."""
    rng = np.random.RandomState(seed)
    batches = []
    for _ in range(NUM_BATCHES):
        unit_a = rng.randn(BATCH, 3)
        unit_b = rng.randn(BATCH, 3)
        normalizer = rng.rand(BATCH) + 0.5
        normalizer[::3] = 0.0
        batches.append(
            {
                "y": rng.randint(0, 2, BATCH).astype(np.int64),
                "p": rng.rand(BATCH).astype(np.float32),
                "w": rng.rand(BATCH).astype(np.float32),
                "wcol": rng.rand(BATCH, 1).astype(np.float32),
                "yc": rng.randint(0, 4, BATCH).astype(np.int64),
                "pc": rng.randint(0, 4, BATCH).astype(np.int64),
                "logits": rng.randn(BATCH, 5).astype(np.float32),
                "ymulti": rng.randint(0, 5, (BATCH, 2)).astype(np.int64),
                "r": rng.randn(BATCH).astype(np.float32),
                "rp": rng.randn(BATCH).astype(np.float32),
                "m": rng.randn(BATCH, 3).astype(np.float32),
                "u": (unit_a / np.linalg.norm(unit_a, axis=1, keepdims=True)).astype(np.float32),
                "v": (unit_b / np.linalg.norm(unit_b, axis=1, keepdims=True)).astype(np.float32),
                "norm": normalizer.astype(np.float32),
            }
        )
    return batches


def _m():
    return tf.compat.v1.metrics


# (id, call(d) -> (value, update_op), rtol). ``d`` maps the names above to tensors.
CASES = [
    ("accuracy", lambda d: _m().accuracy(d["yc"], d["pc"], weights=d["w"]), 1e-6),
    ("accuracy_squeezed_labels", lambda d: _m().accuracy(d["yc"][:, None], d["pc"]), 1e-6),
    ("mean", lambda d: _m().mean(d["p"]), 1e-6),
    ("mean_broadcast_weights", lambda d: _m().mean(d["m"], weights=d["wcol"]), 1e-6),
    ("auc_roc", lambda d: _m().auc(d["y"], d["p"], weights=d["w"], num_thresholds=50), 1e-6),
    (
        "auc_pr_careful_interpolation",
        lambda d: _m().auc(
            d["y"],
            d["p"],
            weights=d["w"],
            curve="PR",
            summation_method="careful_interpolation",
            num_thresholds=30,
        ),
        1e-6,
    ),
    ("auc_pr_trapezoidal", lambda d: _m().auc(d["y"], d["p"], curve="PR"), 1e-6),
    (
        "auc_roc_minoring",
        lambda d: _m().auc(d["y"], d["p"], weights=d["w"], summation_method="minoring"),
        1e-6,
    ),
    (
        "auc_pr_majoring",
        lambda d: _m().auc(d["y"], d["p"], curve="PR", summation_method="majoring"),
        1e-6,
    ),
    (
        "auc_given_thresholds",
        lambda d: _m().auc(d["y"], d["p"], weights=d["w"], thresholds=[0.7, 0.2, 0.5]),
        1e-6,
    ),
    ("precision", lambda d: _m().precision(d["y"], d["p"] > 0.5, weights=d["w"]), 1e-6),
    ("precision_raw_scores_cast_to_bool", lambda d: _m().precision(d["y"], d["p"] - 0.3), 1e-6),
    ("recall", lambda d: _m().recall(d["y"], d["p"] > 0.5, weights=d["w"]), 1e-6),
    (
        "precision_at_thresholds",
        lambda d: _m().precision_at_thresholds(d["y"], d["p"], [0.2, 0.5, 0.8], weights=d["w"]),
        1e-6,
    ),
    (
        "recall_at_thresholds",
        lambda d: _m().recall_at_thresholds(d["y"], d["p"], [0.8, 0.2], weights=d["w"]),
        1e-6,
    ),
    ("true_positives", lambda d: _m().true_positives(d["y"], d["p"] > 0.4, weights=d["w"]), 1e-6),
    ("false_positives", lambda d: _m().false_positives(d["y"], d["p"] > 0.4, weights=d["w"]), 1e-6),
    ("true_negatives", lambda d: _m().true_negatives(d["y"], d["p"] > 0.4, weights=d["w"]), 1e-6),
    ("false_negatives", lambda d: _m().false_negatives(d["y"], d["p"] > 0.4), 1e-6),
    (
        "true_positives_at_thresholds",
        lambda d: _m().true_positives_at_thresholds(d["y"], d["p"], [0.3, 0.6], weights=d["w"]),
        1e-6,
    ),
    (
        "false_positives_at_thresholds",
        lambda d: _m().false_positives_at_thresholds(d["y"], d["p"], [0.3, 0.6], weights=d["w"]),
        1e-6,
    ),
    (
        "true_negatives_at_thresholds",
        lambda d: _m().true_negatives_at_thresholds(d["y"], d["p"], [0.3, 0.6]),
        1e-6,
    ),
    (
        "false_negatives_at_thresholds",
        lambda d: _m().false_negatives_at_thresholds(d["y"], d["p"], [0.3, 0.6], weights=d["w"]),
        1e-6,
    ),
    (
        "mean_squared_error",
        lambda d: _m().mean_squared_error(d["r"], d["rp"], weights=d["w"]),
        1e-6,
    ),
    (
        "root_mean_squared_error",
        lambda d: _m().root_mean_squared_error(d["r"], d["rp"], weights=d["w"]),
        1e-6,
    ),
    (
        "mean_absolute_error",
        lambda d: _m().mean_absolute_error(d["r"], d["rp"], weights=d["w"]),
        1e-6,
    ),
    (
        "mean_relative_error",
        lambda d: _m().mean_relative_error(d["r"], d["rp"], d["norm"], weights=d["w"]),
        1e-6,
    ),
    ("mean_iou", lambda d: _m().mean_iou(d["yc"], d["pc"], 4, weights=d["w"]), 1e-6),
    (
        "mean_per_class_accuracy",
        lambda d: _m().mean_per_class_accuracy(d["yc"], d["pc"], 4, weights=d["w"]),
        1e-6,
    ),
    (
        "mean_cosine_distance",
        lambda d: _m().mean_cosine_distance(d["u"], d["v"], dim=1, weights=d["wcol"]),
        1e-6,
    ),
    ("percentage_below", lambda d: _m().percentage_below(d["r"], 0.1, weights=d["w"]), 1e-6),
    ("recall_at_k", lambda d: _m().recall_at_k(d["yc"], d["logits"], k=2, weights=d["w"]), 1e-6),
    ("precision_at_k_multilabel", lambda d: _m().precision_at_k(d["ymulti"], d["logits"], 3), 1e-6),
    (
        "recall_at_k_class_id",
        lambda d: _m().recall_at_k(d["ymulti"], d["logits"], k=2, class_id=1),
        1e-6,
    ),
    (
        "precision_at_top_k",
        lambda d: _m().precision_at_top_k(
            d["yc"], tf.math.top_k(d["logits"], 2)[1], weights=d["w"]
        ),
        1e-6,
    ),
    (
        "recall_at_top_k",
        lambda d: _m().recall_at_top_k(d["ymulti"], tf.math.top_k(d["logits"], 3)[1], k=3),
        1e-6,
    ),
    ("mean_tensor", lambda d: _m().mean_tensor(d["m"], weights=d["wcol"]), 1e-6),
    (
        "sensitivity_at_specificity",
        lambda d: _m().sensitivity_at_specificity(
            d["y"], d["p"], 0.6, weights=d["w"], num_thresholds=40
        ),
        1e-6,
    ),
    (
        "specificity_at_sensitivity",
        lambda d: _m().specificity_at_sensitivity(d["y"], d["p"], sensitivity=0.7),
        1e-6,
    ),
    (
        "average_precision_at_k",
        lambda d: _m().average_precision_at_k(d["ymulti"], d["logits"], 3, weights=d["w"]),
        1e-6,
    ),
    (
        "sparse_average_precision_at_k",
        lambda d: _m().sparse_average_precision_at_k(d["yc"], d["logits"], k=2),
        1e-6,
    ),
]
CASE_IDS = [case[0] for case in CASES]
#: mean_tensor's state has the batch shape, so per-replica batches cannot match a global one.
NOT_DISTRIBUTED = {"mean_tensor"}
#: Cross-replica context adds the whole batch through the same update functions as
#: replica context (masked on all but one replica); one case per update path keeps
#: the traced graph small.
CROSS_REPLICA_CASES = {
    "accuracy",
    "mean_broadcast_weights",
    "auc_pr_careful_interpolation",
    "precision",
    "true_positives_at_thresholds",
    "mean_squared_error",
    "root_mean_squared_error",
    "mean_relative_error",
    "mean_iou",
    "mean_per_class_accuracy",
    "mean_cosine_distance",
    "percentage_below",
    "recall_at_k",
    "precision_at_top_k",
    "specificity_at_sensitivity",
    "average_precision_at_k",
}
#: Eager strategy.run is slow; a few cases show the eager replica path (and the
#: tf.range loop of steps).
EAGER_REPLICA_CASES = {"accuracy", "auc_roc", "mean_iou", "recall_at_k"}
#: replicas sum in another order than one device: a few ulp.
DISTRIBUTED_RTOL = 1e-5


def metric_fn(**d):
    """All cases as one metric_fn, keyed by case id."""
    return {case_id: call(d) for case_id, call, _ in CASES}


def v1_reference(batches):
    """The real v1 metrics in a TF1 graph and session over ``batches``."""
    graph = tf.Graph()
    with graph.as_default():
        feeds = {
            key: tf.compat.v1.placeholder(tf.as_dtype(value.dtype), value.shape, name=key)
            for key, value in batches[0].items()
        }
        ops = metric_fn(**feeds)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.local_variables_initializer())
            for batch in batches:
                session.run(
                    {key: op[1] for key, op in ops.items()},
                    {feeds[key]: value for key, value in batch.items()},
                )
            return session.run({key: op[0] for key, op in ops.items()})


@pytest.fixture(scope="module")
def batches():
    return make_batches()


@pytest.fixture(scope="module")
def reference(batches):
    return v1_reference(batches)


@pytest.fixture(scope="module")
def eager_results(batches):
    legacy = LegacyMetrics()
    for batch in batches:
        legacy.run_metric_fn(metric_fn, batch)
    return legacy.results(), len(legacy.metrics)


@pytest.fixture(scope="module")
def function_results(batches):
    legacy = LegacyMetrics()
    # AutoGraph would only re-parse this file for every case lambda (they have no
    # control flow); test_metrics_api covers the bridge under AutoGraph.
    step = tf.function(lambda batch: legacy.run_metric_fn(metric_fn, batch), autograph=False)
    last = None
    for batch in batches:
        last = step(batch)
    last_values = {key: pair[0].numpy() for key, pair in last.items()}
    return legacy.results(), last_values, len(legacy.metrics)


def _check(case_id, got, reference, rtol, *, check_dtype=True):
    want = reference[case_id]
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 1e-1, err_msg=case_id)
    assert np.shape(got) == np.shape(want), case_id
    if check_dtype:
        assert np.asarray(got).dtype == np.asarray(want).dtype, case_id


@pytest.mark.parametrize("case_id,rtol", [pytest.param(c[0], c[2], id=c[0]) for c in CASES])
def test_eager_equals_v1(case_id, rtol, eager_results, reference):
    results, _ = eager_results
    _check(case_id, results[case_id], reference, rtol)


@pytest.mark.parametrize("case_id,rtol", [pytest.param(c[0], c[2], id=c[0]) for c in CASES])
def test_tf_function_equals_v1(case_id, rtol, function_results, reference):
    results, last_step_values, _ = function_results
    _check(case_id, results[case_id], reference, rtol)
    # The value a step returns is read after that step's update.
    _check(case_id, last_step_values[case_id], reference, rtol)


def test_one_metric_per_call_and_no_variables_on_retrace(eager_results, function_results):
    assert eager_results[1] == len(CASES)
    assert function_results[2] == len(CASES)


_DISTRIBUTED_SCRIPT = """
import importlib.util, json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
spec = importlib.util.spec_from_file_location("cases", {path!r})
cases = importlib.util.module_from_spec(spec)
sys.modules["cases"] = cases  # lets AutoGraph find the module of the case lambdas
spec.loader.exec_module(cases)
print("RESULT " + json.dumps(cases.distributed_results()))
"""


def _cases_fn(case_ids):
    def fn(**d):
        return {case_id: call(d) for case_id, call, _ in CASES if case_id in case_ids}

    return fn


def distributed_results():
    """In a process with two logical CPUs: the bridge under MirroredStrategy.

    Returns ``{context: {case_id: value as list}}`` for replica context (batches
    split over the replicas: in tf.function; eagerly and in a ``tf.range`` loop of
    steps for a few cases; with the scope opened outside the step), cross-replica
    context (whole batches), and both again after ``reset()`` and a second pass.
    """
    from estimator_spec_compat.convert.metrics import LegacyMetrics as Bridge

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    fn = _cases_fn(set(CASE_IDS) - NOT_DISTRIBUTED)
    cross_fn = _cases_fn(CROSS_REPLICA_CASES)
    eager_fn = _cases_fn(EAGER_REPLICA_CASES)
    replica, cross, eager = Bridge(), Bridge(), Bridge()

    def split(batch):
        def per_replica(context):
            start = context.replica_id_in_sync_group * (BATCH // 2)
            return {
                key: tf.convert_to_tensor(value)[start : start + BATCH // 2]
                for key, value in batch.items()
            }

        return strategy.experimental_distribute_values_from_function(per_replica)

    @tf.function(autograph=False)
    def replica_step(batch):
        strategy.run(lambda b: replica.run_metric_fn(fn, b), args=(split(batch),))

    @tf.function(autograph=False)
    def cross_step(batch):
        return cross.run_metric_fn(cross_fn, batch)

    as_lists = lambda results: {k: np.asarray(v).tolist() for k, v in results.items()}  # noqa: E731
    out = {}
    for run in ("", "_after_reset"):
        for batch in make_batches():
            replica_step(batch)
            with strategy.scope():
                cross_step(batch)
        out["replica" + run] = as_lists(replica.results())
        out["cross_replica" + run] = as_lists(cross.results())
        replica.reset()
        cross.reset()
    for batch in make_batches():
        strategy.run(lambda b: eager.run_metric_fn(eager_fn, b), args=(split(batch),))
    out["replica_eager"] = as_lists(eager.results())

    # Many steps per tf.function call: strategy.run inside a tf.range loop.
    looped = Bridge()
    stacked = {key: np.stack([b[key] for b in make_batches()]) for key in make_batches()[0]}

    @tf.function
    def loop(stacked):
        for i in tf.range(NUM_BATCHES):
            batch = {key: value[i] for key, value in stacked.items()}
            strategy.run(lambda b: looped.run_metric_fn(eager_fn, b), args=(split(batch),))

    loop(stacked)
    out["replica_tf_range_loop"] = as_lists(looped.results())

    # The scope opened once, outside the step; replicas call v1 directly.
    outside = Bridge()

    @tf.function(autograph=False)
    def outside_step(batch):
        strategy.run(lambda b: tf.compat.v1.metrics.mean(b["p"]), args=(split(batch),))

    with outside.scope():
        for batch in make_batches():
            outside_step(batch)
    out["scope_outside"] = {"mean": as_lists(outside.results())[0]}
    out["scope_outside_metrics"] = len(outside.metrics)
    return out


def test_mirrored_strategy_equals_v1(python_subprocess, reference):
    """Replica context (batch split over 2 replicas) and cross-replica context (whole batch)."""
    out = python_subprocess(_DISTRIBUTED_SCRIPT.format(path=str(pathlib.Path(__file__).resolve())))
    line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")][-1]
    distributed = json.loads(line[len("RESULT ") :])
    expected_ids = sorted(case_id for case_id in CASE_IDS if case_id not in NOT_DISTRIBUTED)
    problems = []
    for context, case_ids in [
        ("replica", expected_ids),
        ("cross_replica", sorted(CROSS_REPLICA_CASES)),
        ("replica_after_reset", expected_ids),
        ("cross_replica_after_reset", sorted(CROSS_REPLICA_CASES)),
        ("replica_eager", sorted(EAGER_REPLICA_CASES)),
        ("scope_outside", ["mean"]),
        ("replica_tf_range_loop", sorted(EAGER_REPLICA_CASES)),
    ]:
        results = distributed[context]
        assert sorted(results) == case_ids, context
        for case_id in case_ids:
            try:
                _check(case_id, results[case_id], reference, DISTRIBUTED_RTOL, check_dtype=False)
            except AssertionError as error:
                problems.append(f"{context}: {error}")
    assert not problems, "\n".join(problems)
    assert distributed["scope_outside_metrics"] == 1
