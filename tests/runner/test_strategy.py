"""Tests for estimator_spec_compat.runner.strategy (choice logic injected; no TPU/GPU needed)."""

import json
import logging
import re
import socket
import threading

import pytest

from estimator_spec_compat._compat import tf
from estimator_spec_compat.runner import strategy as strategy_lib

_TPU_ENV = ("TPU_NAME", "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS", "TPU_CONFIG", "TF_CONFIG")
_TF_CONFIG = json.dumps(
    {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 1}}
)
_REACHED = ("grpc://10.0.0.2:8470", "$TPU_NAME")


@pytest.fixture
def no_tpu_env(monkeypatch):
    """No TPU in the environment, a GCE metadata server that refuses at once, a fresh log."""
    for name in _TPU_ENV:
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as sock:  # a port nobody listens on: connection refused, no DNS wait.
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{port}")
    monkeypatch.setattr(strategy_lib, "_LOGGED", set())
    if tf.config.list_physical_devices("GPU") or strategy_lib._find_tpu(None) is not None:
        pytest.skip("checks the CPU-only machine; this one has a GPU or a TPU")


def choose(request, *, tpu_target=None, tpu_error=None, gpus=(), tf_config=None, fallback=True):
    return strategy_lib._choose(
        request,
        tpu_target=tpu_target,
        tpu_error=tpu_error,
        gpus=gpus,
        tf_config=tf_config,
        fallback=fallback,
    )


# --- _choose: the decision, with the machine injected -----------------------------------------

_GPU1 = ("/physical_device:GPU:0",)
_GPU2 = ("/physical_device:GPU:0", "/physical_device:GPU:1")


@pytest.mark.parametrize(
    ("request_", "kwargs", "kind", "is_fallback", "reason"),
    [
        pytest.param("auto", {"tpu_target": _REACHED, "gpus": _GPU2}, "tpu", False,
                     r"TPU .*grpc://10\.0\.0\.2:8470.*\$TPU_NAME.* reached", id="auto-tpu-beats-gpus"),
        pytest.param("auto", {}, "default", False, r"no TPU and no GPU", id="auto-cpu"),
        pytest.param("auto", {"gpus": _GPU1}, "one_device", False, r"one GPU",
                     id="auto-one-gpu"),
        pytest.param("auto", {"gpus": _GPU2}, "mirrored", False, r"2 GPUs", id="auto-two-gpus"),
        pytest.param("auto", {"tpu_target": _REACHED, "tpu_error": "URLError: boom"}, "default",
                     True, r"could not be reached: URLError: boom\. Falling back: no TPU",
                     id="auto-unreachable-tpu-falls-back-to-cpu"),
        pytest.param("tpu", {"gpus": _GPU2}, "mirrored", True,
                     r"no TPU was found.*Falling back: 2 GPUs", id="tpu-missing-falls-back-to-gpus"),
        pytest.param("tpu", {"tpu_target": ("local", "a Cloud TPU VM")}, "tpu", False,
                     r"'local'.*Cloud TPU VM", id="tpu-vm"),
        pytest.param("gpu", {"tpu_target": _REACHED, "gpus": _GPU1}, "one_device", False,
                     r"one GPU", id="gpu-ignores-tpu"),
        pytest.param("gpu", {}, "default", True, r"no GPU is visible.*Falling back",
                     id="gpu-missing-falls-back-to-cpu"),
        pytest.param("mirrored", {"gpus": _GPU1}, "mirrored", False, r"one GPU",
                     id="mirrored-one-gpu"),
        pytest.param("mirrored", {}, "mirrored", False, r"logical CPU devices",
                     id="mirrored-on-cpus"),
        pytest.param("default", {"tpu_target": _REACHED, "gpus": _GPU2}, "default", False,
                     r"asked for the default", id="cpu-ignores-accelerators"),
        pytest.param("multi_worker", {"tf_config": _TF_CONFIG}, "multi_worker", False,
                     r"2 workers and this is worker 1", id="multi-worker"),
    ],
)  # fmt: skip
def test_choose_picks(request_, kwargs, kind, is_fallback, reason):
    plan = choose(request_, **kwargs)
    assert plan.kind == kind
    assert plan.fallback is is_fallback
    assert plan.reason == plan.reason.strip() and plan.reason
    assert re.search(reason, plan.reason), plan.reason


@pytest.mark.parametrize(
    ("request_", "kwargs", "match"),
    [
        pytest.param("auto", {"tpu_target": ("nonexistent", "the `tpu` argument"),
                              "tpu_error": "URLError: no host", "gpus": _GPU2},
                     r"^The TPU 'nonexistent' \(from the `tpu` argument\) could not be reached: "
                     r"URLError: no host\. Fix: .*grpc://.*fallback=True", id="auto-unreachable"),
        pytest.param("tpu", {}, r"^No TPU was found.*TPU_NAME.*Fix: .*fallback=True",
                     id="tpu-missing"),
        pytest.param("gpu", {}, r"^No GPU is visible.*Fix: .*CUDA_VISIBLE_DEVICES",
                     id="gpu-missing"),
    ],
)  # fmt: skip
def test_choose_refuses_without_fallback(request_, kwargs, match):
    with pytest.raises(ValueError, match=match):
        choose(request_, fallback=False, **kwargs)


@pytest.mark.parametrize(
    ("tf_config", "match"),
    [
        pytest.param(None, r"`TF_CONFIG` is not set.*\"cluster\"", id="unset"),
        pytest.param("{not json", r"`TF_CONFIG` \('\{not json'\) is not valid JSON", id="not-json"),
        pytest.param('{"cluster": {}}', r"is incomplete.*`task`", id="no-task"),
        pytest.param('["worker"]', r"is incomplete", id="not-a-dict"),
    ],
)
@pytest.mark.parametrize("fallback", [True, False], ids=["fallback", "no-fallback"])
def test_multi_worker_needs_tf_config_even_with_fallback(tf_config, match, fallback):
    # A worker that silently trained alone would be worse than an error.
    with pytest.raises(ValueError, match=match):
        choose("multi_worker", tf_config=tf_config, fallback=fallback)


# --- _find_tpu: cheap local detection ---------------------------------------------------------


def _pci_device(root, name, vendor, device):
    path = root / name
    path.mkdir(parents=True)
    (path / "vendor").write_text(vendor + "\n")
    (path / "device").write_text(device + "\n")


@pytest.mark.parametrize(
    ("tpu", "environ", "layout", "expected"),
    [
        pytest.param(None, {}, {}, None, id="nothing"),
        pytest.param("my-tpu", {"TPU_NAME": "other"}, {"accel": True}, ("my-tpu", "the `tpu` argument"),
                     id="argument-first"),
        pytest.param(None, {"TPU_NAME": "env-tpu"}, {}, ("env-tpu", "$TPU_NAME"), id="tpu-name"),
        pytest.param(None, {"TPU_NAME": "b", "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS": "grpc://a:8470"}, {},
                     ("grpc://a:8470", "$KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS"), id="gke-before-tpu-name"),
        pytest.param(None, {"TPU_CONFIG": '{"tpu_node_name": "n"}'}, {}, (None, "$TPU_CONFIG"),
                     id="tpu-config-left-to-tf"),
        pytest.param(None, {}, {"accel": True}, ("local", "a Cloud TPU VM (<dev>/accel0)"),
                     id="tpu-vm-accel"),
        pytest.param(None, {}, {"pci": ("0x1ae0", "0x0063")}, ("local", "a Cloud TPU VM (TPU PCI device under <pci>)"),
                     id="tpu-vm-v5e-pci"),
        pytest.param(None, {}, {"pci": ("0x1ae0", "0x1234")}, None, id="other-google-pci-device"),
        pytest.param(None, {}, {"pci": ("0x10de", "0x0063")}, None, id="other-vendor"),
        pytest.param(None, {"TPU_NAME": ""}, {}, None, id="empty-tpu-name"),
    ],
)  # fmt: skip
def test_find_tpu(tmp_path, tpu, environ, layout, expected):
    dev_root, pci_root = tmp_path / "dev", tmp_path / "pci"
    dev_root.mkdir()
    pci_root.mkdir()
    if layout.get("accel"):
        (dev_root / "accel0").touch()
    if "pci" in layout:
        _pci_device(pci_root, "0000:00:04.0", *layout["pci"])
    found = strategy_lib._find_tpu(
        tpu, environ=environ, dev_root=str(dev_root), pci_root=str(pci_root)
    )
    if expected is not None:
        source = expected[1].replace("<dev>", str(dev_root)).replace("<pci>", str(pci_root))
        expected = (expected[0], source)
    assert found == expected


# --- resolve_strategy on this (CPU-only) machine ---------------------------------------------


def test_auto_on_cpu_gives_the_default_strategy(no_tpu_env):
    strategy, reason = strategy_lib.resolve_strategy()
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1
    assert reason == "no TPU and no GPU: the default strategy (CPU)."


@pytest.mark.parametrize("name", ["cpu", "default", " CPU "])
def test_cpu_names_give_the_default_strategy(no_tpu_env, name):
    strategy, _ = strategy_lib.resolve_strategy(name)
    assert strategy is tf.distribute.get_strategy()


def test_given_strategy_is_returned_as_is(no_tpu_env):
    given = tf.distribute.OneDeviceStrategy("/cpu:0")
    strategy, reason = strategy_lib.resolve_strategy(given)
    assert strategy is given
    assert "OneDeviceStrategy" in reason


def test_explicit_unreachable_tpu_without_fallback_raises(no_tpu_env):
    with pytest.raises(
        ValueError, match=r"^The TPU 'nonexistent' .*could not be reached: URLError"
    ):
        strategy_lib.resolve_strategy(tpu="nonexistent", fallback=False, timeout_s=30)


@pytest.mark.parametrize("request_", ["auto", "tpu"])
def test_explicit_unreachable_tpu_with_fallback_logs_why(no_tpu_env, caplog, request_):
    caplog.set_level(logging.INFO, logger="estimator_spec_compat")
    strategy, reason = strategy_lib.resolve_strategy(request_, tpu="nonexistent", timeout_s=30)
    assert strategy is tf.distribute.get_strategy()
    assert "'nonexistent'" in reason and "Falling back" in reason
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        f"Distribution strategy: _DefaultDistributionStrategy, because {reason}"
    ]


def test_a_hanging_tpu_connection_is_abandoned_after_timeout(no_tpu_env, monkeypatch):
    release, finished = threading.Event(), threading.Event()

    def hanging_resolver(tpu=None):
        release.wait(60)  # stands for a metadata server or TPU that never answers.
        finished.set()
        raise OSError("released")

    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", hanging_resolver)
    try:
        with pytest.raises(ValueError, match=r"'grpc://10\.0\.0\.2:8470'.*no answer within 0\.5 s"):
            strategy_lib.resolve_strategy(tpu="grpc://10.0.0.2:8470", fallback=False, timeout_s=0.5)
        # Causal, not timed: resolve_strategy returned while the connection still hung.
        assert not finished.is_set()
    finally:
        release.set()


def test_the_choice_is_logged_once_per_reason(no_tpu_env, caplog):
    caplog.set_level(logging.INFO, logger="estimator_spec_compat")
    for _ in range(3):
        strategy_lib.resolve_strategy()
    strategy_lib.resolve_strategy("cpu")
    messages = [r.getMessage() for r in caplog.records if r.name == strategy_lib.__name__]
    assert messages == [
        "Distribution strategy: _DefaultDistributionStrategy, because no TPU and no GPU: "
        "the default strategy (CPU).",
        "Distribution strategy: _DefaultDistributionStrategy, because the caller asked for "
        "the default strategy (CPU).",
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == strategy_lib.__name__)


def test_multi_worker_without_tf_config_raises(no_tpu_env):
    with pytest.raises(ValueError, match=r"`TF_CONFIG` is not set; strategy 'multi_worker'"):
        strategy_lib.resolve_strategy("multi_worker")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        pytest.param({"strategy": 3}, TypeError, r"`strategy` \(3\) must be a tf\.distribute\.Strategy",
                     id="strategy-type"),
        pytest.param({"strategy": "bogus"}, ValueError, r"`strategy` \('bogus'\) is not a known",
                     id="strategy-name"),
        pytest.param({"tpu": 5}, TypeError, r"`tpu` \(5\) must be a string", id="tpu-type"),
        pytest.param({"timeout_s": 0}, ValueError, r"`timeout_s` \(0\) must be a positive",
                     id="timeout-zero"),
        pytest.param({"timeout_s": True}, ValueError, r"`timeout_s` \(True\)", id="timeout-bool"),
    ],
)  # fmt: skip
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        strategy_lib.resolve_strategy(**kwargs)


# --- two logical CPU devices, in a fresh process ---------------------------------------------

_TWO_CPUS = """
import os
for name in ("TPU_NAME", "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS", "TPU_CONFIG", "TF_CONFIG"):
    os.environ.pop(name, None)
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
from estimator_spec_compat.runner.strategy import resolve_strategy
given = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
passed, _ = resolve_strategy(given)
auto, auto_reason = resolve_strategy("auto")
mirrored, _ = resolve_strategy("mirrored")
print("passed-through", passed is given, passed.num_replicas_in_sync)
print("auto", auto is tf.distribute.get_strategy(), auto.num_replicas_in_sync, auto_reason)
print("mirrored", type(mirrored).__name__, mirrored.num_replicas_in_sync)
"""


def test_two_logical_cpus(python_subprocess):
    lines = python_subprocess(_TWO_CPUS).strip().splitlines()
    assert lines == [
        "passed-through True 2",
        "auto True 1 no TPU and no GPU: the default strategy (CPU).",
        "mirrored MirroredStrategy 2",
    ]
