"""Picking a `tf.distribute.Strategy`: TPU, then GPUs, then the CPU, in bounded time.

`resolve_strategy` is the one entry point. It gathers what the machine offers
(a TPU name, GPUs, ``TF_CONFIG``) with cheap local checks, connects to a TPU in a
worker thread under a time limit, and hands the facts to `_choose`, a pure
function that makes the decision and states the reason, so the decision is
testable without the hardware.

How a TPU is found (TF itself does no detection: in open-source TF
``tpu_cluster_resolver.is_running_in_gce()`` always returns True, and
``TPUClusterResolver(tpu=None)`` only reads ``KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS``,
``TPU_NAME`` and ``TPU_CONFIG``, then asks the GCE metadata server, with no
time limit, for the project and zone):

1. the ``tpu`` argument;
2. the environment: ``KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS`` (GKE), ``TPU_NAME``,
   then ``TPU_CONFIG`` (the same order as TF's Cloud TPU client);
3. a Cloud TPU VM, where the chips are attached to this host: ``/dev/accel*``
   (TPU v2-v4) or a PCI device of Google's vendor id with a TPU device id
   (v5e and later expose ``/dev/vfio/*`` instead). The target is then
   ``"local"``, as in TF's TPU VM guide.

Without any of these, no network call is made at all. TPUStrategy selection is
not tested on real TPUs; the decision logic is, by injection.
"""

import dataclasses
import glob
import json
import logging
import os
import threading

from estimator_spec_compat import _compat
from estimator_spec_compat._compat import tf

_LOG = logging.getLogger(__name__)

#: Seconds a TPU connection (metadata lookup, connect, initialise) may take.
DEFAULT_TIMEOUT_S = 120.0

_TPU_ENV_VARS = ("KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS", "TPU_NAME")
_GOOGLE_PCI_VENDOR = "0x1ae0"
# TPU PCI device ids (v2/v3, unnamed, v4, v5p, v5e, v6e), as listed by JAX's hardware_utils.
_TPU_PCI_DEVICES = frozenset({"0x0027", "0x0056", "0x005e", "0x0062", "0x0063", "0x006f"})

_TPU_FIX = (
    "check the TPU's name or pass its grpc:// address or 'local' as `tpu` (TF looks a TPU "
    "given by name up through the GCE metadata server and the Cloud TPU API, which only "
    "answer inside Google Cloud)"
)

_ALIASES = {
    "auto": "auto",
    "tpu": "tpu",
    "gpu": "gpu",
    "mirrored": "mirrored",
    "cpu": "default",
    "default": "default",
    "multi_worker": "multi_worker",
}

_LOGGED = set()
_LOGGED_LOCK = threading.Lock()
_TPU_RESOLVERS = {}  # target -> connected TPUClusterResolver; initialising twice wipes the TPU.


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What `_choose` decided: a strategy kind, its devices, and why."""

    kind: str  # "given", "tpu", "mirrored", "one_device", "default" or "multi_worker".
    reason: str
    devices: tuple = ()
    fallback: bool = False


def resolve_strategy(strategy="auto", *, tpu=None, fallback=True, timeout_s=DEFAULT_TIMEOUT_S):
    """Returns a `tf.distribute.Strategy` for this machine, and the reason for it.

    The choice and its reason are logged once per process (INFO; WARNING when it
    is a fallback).

    Example:
      >>> strategy, reason = resolve_strategy()  # TPU, else GPUs, else the CPU.
      >>> with strategy.scope():
      ...     ...

    Args:
      strategy: a `tf.distribute.Strategy` (returned as is) or one of
        ``"auto"`` (a reachable TPU, else GPUs: `MirroredStrategy`, or
        `OneDeviceStrategy` for one GPU, else the default strategy),
        ``"tpu"``, ``"gpu"`` (as auto, without the TPU), ``"mirrored"``
        (`MirroredStrategy` over the GPUs, or over the logical CPU devices where
        there is no GPU), ``"cpu"`` / ``"default"`` (the default strategy) or
        ``"multi_worker"`` (`MultiWorkerMirroredStrategy` from ``TF_CONFIG``).
      tpu: the TPU to use: a name, a ``grpc://`` address or ``"local"``.
        Default: discovered from the environment (see the module docstring).
      fallback: where the requested accelerator is absent or unreachable, fall
        back to the next best choice (and log why) instead of raising.
      timeout_s: the most seconds spent reaching a TPU.

    Returns:
      ``(strategy, reason)``, reason a sentence saying why this strategy.

    Raises:
      TypeError: `strategy` is neither a string nor a `tf.distribute.Strategy`;
        `tpu` is not a string.
      ValueError: `strategy` is an unknown name; `timeout_s` is not positive;
        the requested accelerator is absent or unreachable and `fallback` is
        False; ``"multi_worker"`` without a usable ``TF_CONFIG``.
    """
    request = _check_arguments(strategy, tpu, timeout_s)
    if request == "given":
        plan = _Plan("given", f"the caller passed {type(strategy).__name__}.")
        _log_once(type(strategy).__name__, plan)
        return strategy, plan.reason
    tpu_target, tpu_error = None, None
    if request in ("auto", "tpu"):
        tpu_target = _find_tpu(tpu)
        if tpu_target is not None:
            tpu_error = _connect_tpu(tpu_target[0], timeout_s)
    plan = _choose(
        request,
        tpu_target=tpu_target,
        tpu_error=tpu_error,
        gpus=tuple(d.name for d in tf.config.list_physical_devices("GPU")),
        tf_config=os.environ.get("TF_CONFIG"),
        fallback=fallback,
    )
    built = _build(plan, tpu_target)
    _log_once(type(built).__name__, plan)
    return built, plan.reason


def _check_arguments(strategy, tpu, timeout_s):
    """Returns the canonical request name, or ``"given"`` for a strategy instance."""
    if isinstance(strategy, tf.distribute.Strategy):
        return "given"
    if not isinstance(strategy, str):
        raise TypeError(
            f"`strategy` ({strategy!r}) must be a tf.distribute.Strategy or one of "
            f"{sorted(_ALIASES)}. Pass a TF2 strategy instance or one of those names."
        )
    request = _ALIASES.get(strategy.strip().lower())
    if request is None:
        raise ValueError(
            f"`strategy` ({strategy!r}) is not a known strategy name. Use one of "
            f"{sorted(_ALIASES)}, or pass a tf.distribute.Strategy instance."
        )
    if tpu is not None and not isinstance(tpu, str):
        raise TypeError(
            f"`tpu` ({tpu!r}) must be a string: a TPU name, a grpc:// address or 'local'."
        )
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or timeout_s <= 0:
        raise ValueError(f"`timeout_s` ({timeout_s!r}) must be a positive number of seconds.")
    return request


def _find_tpu(tpu, *, environ=None, dev_root="/dev", pci_root="/sys/bus/pci/devices"):
    """Returns ``(target, source)`` of the TPU to try, or None; makes no network call."""
    environ = os.environ if environ is None else environ
    if tpu:
        return tpu, "the `tpu` argument"
    for name in _TPU_ENV_VARS:
        if environ.get(name):
            return environ[name], f"${name}"
    if environ.get("TPU_CONFIG"):
        return None, "$TPU_CONFIG"  # TPUClusterResolver(tpu=None) reads it.
    accel = sorted(glob.glob(os.path.join(dev_root, "accel*")))
    if accel:
        return "local", f"a Cloud TPU VM ({accel[0]})"
    if _tpu_on_pci(pci_root):
        return "local", f"a Cloud TPU VM (TPU PCI device under {pci_root})"
    return None


def _tpu_on_pci(pci_root):
    """Whether a TPU chip of Google's PCI vendor id sits on this host's PCI bus."""
    for device_dir in glob.glob(os.path.join(pci_root, "*")):
        try:
            with open(os.path.join(device_dir, "vendor"), encoding="ascii") as vendor_file:
                vendor = vendor_file.read().strip()
            with open(os.path.join(device_dir, "device"), encoding="ascii") as device_file:
                device = device_file.read().strip()
        except OSError:
            continue
        if vendor == _GOOGLE_PCI_VENDOR and device in _TPU_PCI_DEVICES:
            return True
    return False


def _connect_tpu(target, timeout_s):
    """Connects to and initialises the TPU ``target``; returns None, or why it failed."""
    if target in _TPU_RESOLVERS:
        return None

    def connect():
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=target)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return resolver

    resolver, error = _run_bounded(connect, timeout_s)
    if error is None:
        _TPU_RESOLVERS[target] = resolver
    return error


def _run_bounded(fn, timeout_s):
    """Runs ``fn()`` in a daemon thread; returns ``(result, None)`` or ``(None, why)``.

    A call still running after ``timeout_s`` is abandoned (a daemon thread never
    keeps the process alive), so the caller never waits longer than that.
    """
    outcome = {}

    def target():
        try:
            outcome["result"] = fn()
        except Exception as error:  # reported to the caller as text
            outcome["error"] = f"{type(error).__name__}: {error}"

    thread = threading.Thread(target=target, name="estimator_spec_compat-tpu", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        return None, f"no answer within {timeout_s:g} s"
    if "error" in outcome:
        return None, outcome["error"]
    return outcome["result"], None


def _choose(request, *, tpu_target, tpu_error, gpus, tf_config, fallback):
    """Decides the strategy from what the machine offers; pure, for testing.

    Args:
      request: the canonical request: "auto", "tpu", "gpu", "mirrored",
        "default" or "multi_worker".
      tpu_target: ``(target, source)`` of the TPU found, or None.
      tpu_error: why connecting to that TPU failed, or None if it worked.
      gpus: names of the visible GPUs.
      tf_config: the ``TF_CONFIG`` environment variable, or None.
      fallback: whether a missing or unreachable accelerator falls back.

    Returns:
      A `_Plan`.

    Raises:
      ValueError: the requested accelerator is missing or unreachable and
        `fallback` is False; ``"multi_worker"`` without a usable `tf_config`.
    """
    if request == "default":
        return _Plan("default", "the caller asked for the default strategy (CPU).")
    if request == "multi_worker":
        return _plan_multi_worker(tf_config)
    if request == "mirrored":
        if gpus:
            return _Plan("mirrored", f"the caller asked for MirroredStrategy; {_gpus(gpus)}.")
        return _Plan(
            "mirrored",
            "the caller asked for MirroredStrategy; no GPU is visible, so it spans the "
            "logical CPU devices.",
            devices=("CPU",),
        )
    skipped = []
    if request in ("auto", "tpu"):
        if tpu_target is not None and tpu_error is None:
            return _Plan("tpu", f"a TPU ({tpu_target[0]!r}, from {tpu_target[1]}) was reached.")
        if tpu_target is not None:
            skipped.append(
                f"the TPU {tpu_target[0]!r} (from {tpu_target[1]}) could not be reached: "
                f"{tpu_error}."
            )
        elif request == "tpu":
            skipped.append(
                "no TPU was found: no `tpu` argument, no $TPU_NAME, "
                "$KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS or $TPU_CONFIG, and this is not a Cloud TPU VM."
            )
        _refuse_unless(fallback, skipped, _TPU_FIX)
    plan = _plan_local(request, gpus)
    if request == "gpu" and not gpus:
        skipped.append("no GPU is visible to TensorFlow.")
        _refuse_unless(fallback, skipped, "check the CUDA install and CUDA_VISIBLE_DEVICES")
    if skipped:
        reason = " ".join(skipped) + f" Falling back: {plan.reason}"
        return dataclasses.replace(plan, reason=reason, fallback=True)
    return plan


def _refuse_unless(fallback, skipped, fix):
    if skipped and not fallback:
        problem = " ".join(skipped)
        raise ValueError(
            f"{problem[0].upper()}{problem[1:]} Fix: {fix}, or pass `fallback=True` to use the next best "
            "strategy instead."
        )


def _gpus(gpus):
    return f"it spans the {len(gpus)} visible GPUs" if len(gpus) > 1 else "one GPU is visible"


def _plan_local(request, gpus):
    """GPUs if any (MirroredStrategy, OneDeviceStrategy for one), else the CPU."""
    if len(gpus) > 1:
        return _Plan("mirrored", f"{len(gpus)} GPUs are visible: MirroredStrategy spans them.")
    if gpus:
        return _Plan("one_device", "one GPU is visible: OneDeviceStrategy on it.")
    if request == "auto":
        return _Plan("default", "no TPU and no GPU: the default strategy (CPU).")
    return _Plan("default", "the default strategy (CPU).")


def _plan_multi_worker(tf_config):
    rule = (
        "`TF_CONFIG` must be JSON with a `cluster` that lists the workers and a `task` with "
        "this process's `type` and `index`"
    )
    if not tf_config:
        raise ValueError(
            f"`TF_CONFIG` is not set; strategy 'multi_worker' needs it. {rule}, e.g. "
            '{"cluster": {"worker": ["host1:2222", "host2:2222"]}, '
            '"task": {"type": "worker", "index": 0}}.'
        )
    try:
        config = json.loads(tf_config)
    except ValueError as error:
        raise ValueError(
            f"`TF_CONFIG` ({tf_config[:80]!r}) is not valid JSON ({error}). {rule}."
        ) from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not cluster or not isinstance(task, dict):
        raise ValueError(f"`TF_CONFIG` ({tf_config[:80]!r}) is incomplete. {rule}.")
    workers = sum(len(cluster.get(job, ())) for job in ("chief", "worker"))
    return _Plan(
        "multi_worker",
        f"the caller asked for MultiWorkerMirroredStrategy; TF_CONFIG names {workers} "
        f"workers and this is {task.get('type')} {task.get('index')}.",
    )


def _build(plan, tpu_target):
    """Builds the strategy `plan` describes."""
    if plan.kind == "tpu":
        return tf.distribute.TPUStrategy(_TPU_RESOLVERS[tpu_target[0]])
    if plan.kind == "mirrored":
        if plan.devices == ("CPU",):
            cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
            return tf.distribute.MirroredStrategy(devices=cpus)
        return tf.distribute.MirroredStrategy()
    if plan.kind == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0")
    if plan.kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return _compat.get_default_strategy()


def _log_once(name, plan):
    """Logs the choice once per process per (strategy, reason)."""
    with _LOGGED_LOCK:
        if (name, plan.reason) in _LOGGED:
            return
        _LOGGED.add((name, plan.reason))
    level = logging.WARNING if plan.fallback else logging.INFO
    _LOG.log(level, "Distribution strategy: %s, because %s", name, plan.reason)
