"""The one module that knows which TensorFlow world we are in.

Two worlds are supported:

* the *estimator* world: TF <= 2.15 with a working ``tensorflow_estimator``;
  the spec classes subclass the real upstream ones;
* the *modern* world: TF >= 2.16 (or no tensorflow-estimator installed); the
  same API stands on what TF core still ships.

The decision is made by feature detection (can ``tensorflow_estimator`` be
imported, and does it work), never by version numbers.  Every import of
``tensorflow.python.*`` in this package lives here too; other modules take
what they need from this one.
"""

import logging

_LOG = logging.getLogger("estimator_spec_compat")

try:
    import tensorflow as tf
except ImportError as _tf_error:  # pragma: no cover - exercised by hand only
    raise ImportError(
        "estimator_spec_compat needs TensorFlow, which is not installed. Install one "
        "build of it, for example `pip install tensorflow-cpu==2.21.0` (or "
        "`pip install 'estimator_spec_compat[tf-cpu]'`), or for the real "
        "tensorflow-estimator `pip install tensorflow-cpu==2.15.1 "
        "'estimator_spec_compat[estimator]'`."
    ) from _tf_error

# TF core internals that both worlds still ship (measured on TF 2.15.1 and 2.21.0).
from tensorflow.python.framework import func_graph as _func_graph  # noqa: E402
from tensorflow.python.ops import summary_ops_v2  # noqa: E402, F401 (re-exported)
from tensorflow.python.saved_model.model_utils import export_output  # noqa: E402
from tensorflow.python.saved_model.model_utils import mode_keys as _mode_keys  # noqa: E402

#: ``tf.estimator.ModeKeys`` is this very object in the estimator world.
ModeKeys = _mode_keys.EstimatorModeKeys

ExportOutput = export_output.ExportOutput
PredictOutput = export_output.PredictOutput
ClassificationOutput = export_output.ClassificationOutput
RegressionOutput = export_output.RegressionOutput

FuncGraph = _func_graph.FuncGraph

# --- TF's deprecation log, for calls the library makes on the user's behalf ---
# Upstream's ``ExportOutput.as_signature_def`` calls ``build_tensor_info``, and
# ``NanLossDuringTrainingError()`` its deprecated ``__new__``: TF logs a deprecation
# WARNING the first time, though the user called neither. TF's switch for that log is
# ``deprecation._PRINT_DEPRECATION_WARNINGS`` (TF 2.15.1 and 2.21.0; its own
# ``deprecation.silence()`` does not restore it when the block raises). A silenced call
# is not marked as warned, so the user's own later call still warns. Without the
# switch, nothing is silenced.
import contextlib as _contextlib  # noqa: E402

from tensorflow.python.util import deprecation as _deprecation  # noqa: E402


@_contextlib.contextmanager
def tf_deprecations_silenced():
    """No TF deprecation log in this block (process-wide while it runs)."""
    if not hasattr(_deprecation, "_PRINT_DEPRECATION_WARNINGS"):
        yield
        return
    previous = _deprecation._PRINT_DEPRECATION_WARNINGS
    _deprecation._PRINT_DEPRECATION_WARNINGS = False
    try:
        yield
    finally:
        _deprecation._PRINT_DEPRECATION_WARNINGS = previous


def new_predict_output(outputs):
    """``PredictOutput(outputs)`` without tensorflow-estimator's deprecation log.

    Importing tensorflow-estimator marks TF's own PredictOutput deprecated in place
    (its ``estimator_export`` wraps every exported symbol), so building the default
    ``serving_default`` output logged "PredictOutput.__init__ ... is deprecated" for
    a spec the user never asked to export.
    """
    with tf_deprecations_silenced():
        return PredictOutput(outputs)


def _detect_estimator():
    """Returns ``(model_fn_module, tpu_estimator_module, reason)``.

    The modules are ``None`` when tensorflow-estimator is absent or broken;
    ``reason`` then says why, for the one log line.
    """
    try:
        from tensorflow_estimator.python.estimator import model_fn as model_fn_module
        from tensorflow_estimator.python.estimator.tpu import tpu_estimator
    except ImportError as error:
        # TF >= 2.16 with tensorflow-estimator 2.15 installed fails here with
        # "cannot import name 'estimator_training'"; a plain absence fails too.
        return None, None, f"{type(error).__name__}: {error}"
    except Exception as error:  # a broken install can raise anything
        return None, None, f"{type(error).__name__}: {error}"
    return model_fn_module, tpu_estimator, None


_UPSTREAM_MODEL_FN, _UPSTREAM_TPU, _WHY_MODERN = _detect_estimator()

#: True where the real tensorflow-estimator imports and works.
HAS_ESTIMATOR = _UPSTREAM_MODEL_FN is not None
#: ``"estimator"`` or ``"modern"``.
WORLD = "estimator" if HAS_ESTIMATOR else "modern"

if HAS_ESTIMATOR:
    UPSTREAM_ESTIMATOR_SPEC = _UPSTREAM_MODEL_FN.EstimatorSpec
    UPSTREAM_TPU_ESTIMATOR_SPEC = _UPSTREAM_TPU.TPUEstimatorSpec
    _LOG.debug("tensorflow-estimator found: using the real spec classes as bases.")
else:
    UPSTREAM_ESTIMATOR_SPEC = None
    UPSTREAM_TPU_ESTIMATOR_SPEC = None
    _LOG.info(
        "tensorflow-estimator is not usable here (%s); estimator_spec_compat runs in "
        "the modern world, on TF core alone.",
        _WHY_MODERN,
    )


def in_function_graph(graph=None):
    """Whether ``graph`` (default: the current default graph) is a tf.function graph."""
    graph = tf.compat.v1.get_default_graph() if graph is None else graph
    return isinstance(graph, FuncGraph)


# --- runner: strategy resolution ---
# ``tf.distribute.get_strategy()`` returns the strategy of the enclosing scope;
# the process-wide default strategy itself has no public name (TF 2.15 and 2.21
# both keep it at ``distribute_lib._get_default_strategy``).
from tensorflow.python.distribute import distribute_lib as _distribute_lib  # noqa: E402

get_default_strategy = getattr(_distribute_lib, "_get_default_strategy", tf.distribute.get_strategy)

# --- convert: legacy metrics ---
# The v1 metric math (``tf.compat.v1.metrics.*``) lives in ``metrics_impl``; the
# file is identical in TF 2.15.1 and 2.21.0. The bridge reuses its variable-free
# helpers (input squeezing, top-k set counting) so that its numerics are v1's.
from tensorflow.python.ops import metrics_impl as _v1_metrics_impl  # noqa: E402
from tensorflow.python.ops import weights_broadcast_ops as _weights_broadcast_ops  # noqa: E402

v1_metrics_impl = _v1_metrics_impl
weights_broadcast_ops = _weights_broadcast_ops

# --- convert: serving signatures ---
# ``tf.compat.v1.wrap_function`` traces into a graph with EMPTY collections, so a
# ``make_template`` called there after an earlier trace looks up a fresh
# variable-scope store and creates new variables. Tracing the same way but with
# the collections inherited (as tf.function does) keeps templates working. The
# pieces are in TF 2.15.1 and 2.21.0; without them we fall back to wrap_function.
try:
    from tensorflow.python.eager import wrap_function as _wrap_function

    _WrappedFunction = _wrap_function.WrappedFunction
    _VariableHolder = _wrap_function.VariableHolder
except (ImportError, AttributeError):  # pragma: no cover - future TF only
    _WrappedFunction = None


def wrap_v1_graph_function(fn):
    """Like ``tf.compat.v1.wrap_function(fn, [])``, sharing the outer graph's collections."""
    if _WrappedFunction is None:  # pragma: no cover - future TF only
        return tf.compat.v1.wrap_function(fn, signature=[])
    holder = _VariableHolder(fn)
    graph = _func_graph.func_graph_from_py_func(
        "wrapped_function",
        holder,
        args=None,
        kwargs=None,
        signature=[],
        add_control_dependencies=False,
        collections=None,
    )
    return _WrappedFunction(graph, variable_holder=holder, signature=[])


# --- runner ---
#: Collections a tf.function graph shares BY REFERENCE with its outer graph (the
#: GLOBAL/LOCAL/TRAINABLE variable lists, the v1 variable store and variable
#: scope store). The runner clears them in each graph it calls a model_fn in, so
#: every call starts from a fresh TF1 graph state, as under Estimator.
SHARED_GRAPH_COLLECTIONS = tuple(_func_graph.ALLOWLIST_COLLECTIONS)


def first_variable_creator_scope(creator):
    """``tf.variable_creator_scope(creator)``, but called before every other creator.

    Distribution strategies install their own creators inside ``strategy.run`` and
    ``merge_call`` (MirroredStrategy's shared-variable and colocation creators);
    the runner's store must see each creation first. TF orders creators by a
    private priority (default 100, tf.function's own 50); this uses 200.
    """
    graph = tf.compat.v1.get_default_graph()
    scope = getattr(graph, "_variable_creator_scope", None)
    if scope is None:  # pragma: no cover - a future TF without priorities
        return tf.variable_creator_scope(creator)
    return scope(creator, priority=200)


# --- runner: training summaries ---
#: Estimator's own event writer (``FileWriterCache``'s): a Python thread writes
#: queued events and flushes every ``flush_secs``; usable in eager mode.
from tensorflow.python.summary.writer.event_file_writer import EventFileWriter  # noqa: E402, F401


# --- runner: replicated v1 graphs ---
def call_time_captures(graph):
    """``(placeholders, closures)`` of values ``graph`` takes anew at every call.

    ``FuncGraph.capture_call_time_value`` (collective instance keys under
    MirroredStrategy) adds placeholders that a tf.function feeds by calling the
    closures each call; ``WrappedFunction.prune`` does not know them, so the
    runner feeds them as extra inputs. Each closure returns a list of tensors.
    """
    captures = graph._function_captures  # pylint: disable=protected-access
    return list(captures.by_ref_internal.values()), list(captures.by_ref_external.values())


from tensorflow.python.distribute.distribute_utils import regroup as _regroup  # noqa: E402


def per_replica(local_values):
    """One distributed value of ``local_values`` (a list, one structure per local replica).

    What ``strategy.run`` takes and returns (``PerReplica`` leaves); one value is
    returned as is, as strategies do for a single local replica.
    """
    return _regroup(list(local_values))


# --- runner: warm starts ---
#: ``tf.estimator.WarmStartSettings`` where tensorflow-estimator works, else None.
UPSTREAM_WARM_START_SETTINGS = tf.estimator.WarmStartSettings if HAS_ESTIMATOR else None
from tensorflow.core.protobuf import trackable_object_graph_pb2 as _object_graph  # noqa: E402


def object_checkpoint_keys(reader):
    """Variable name -> checkpoint key in an object-based (TF2) checkpoint, else ``{}``.

    What upstream's warm start reads to find TF1 names in TF2 checkpoints (and
    SavedModels): each saved variable's ``full_name`` in the object graph.
    """
    key = "_CHECKPOINTABLE_OBJECT_GRAPH"
    if not reader.has_tensor(key):
        return {}
    graph = _object_graph.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor(key))
    return {
        attribute.full_name: attribute.checkpoint_key
        for node in graph.nodes
        for attribute in node.attributes
        if attribute.name == "VARIABLE_VALUE" and attribute.full_name
    }


# --- runner: TF1 graph semantics (Scaffold, Keras metrics) ---
# In a TF1 graph (Estimator's), tensors and variables are hashable and ``==`` is
# identity; TF2 makes them unhashable (``==`` elementwise) inside function graphs,
# where the runner calls a model_fn. Legacy code relies on the TF1 behaviour:
# ``feed_dict={placeholder: value}`` in a Scaffold's init_fn, upstream
# EstimatorSpec putting a Keras metric's variables in a set(). The switch is TF's
# own process-wide flag (``tf.compat.v1.disable_tensor_equality``; the state is
# ``tf.Tensor._USE_EQUALITY`` in TF 2.15.1 and 2.21.0), counted across threads
# (MirroredStrategy calls the model_fn on one thread per replica).
_hashing_state = {"depth": 0, "restore": False}

import contextlib as _contextlib  # noqa: E402
import threading as _threading  # noqa: E402

_HASHING_LOCK = _threading.Lock()


@_contextlib.contextmanager
def tf1_tensor_hashing():
    """While active, tensors and variables hash and compare by identity, as in TF1 graphs."""
    with _HASHING_LOCK:
        if _hashing_state["depth"] == 0:
            _hashing_state["restore"] = bool(getattr(tf.Tensor, "_USE_EQUALITY", False))
            tf.compat.v1.disable_tensor_equality()
        _hashing_state["depth"] += 1
    try:
        yield
    finally:
        with _HASHING_LOCK:
            _hashing_state["depth"] -= 1
            if _hashing_state["depth"] == 0 and _hashing_state["restore"]:
                tf.compat.v1.enable_tensor_equality()


# --- runner: plain variable copies ---
# ``tf.Variable(...)`` runs every variable creator in scope, wrap_function's among them,
# which files each new variable by name and refuses a second one of the same name. The
# runner's plain copies (EVAL/PREDICT under several replicas) share their variable's
# name and need no creator: the ResourceVariable class itself bypasses them (TF 2.15.1
# and 2.21.0: ``VariableMetaclass`` runs creators only for ``tf.Variable``).
from tensorflow.python.ops import resource_variable_ops as _resource_variable_ops  # noqa: E402

UncreatedResourceVariable = _resource_variable_ops.ResourceVariable


# --- convert: SavedModel as text ---
from tensorflow.core.protobuf import saved_model_pb2 as _saved_model_pb2  # noqa: E402

#: The SavedModel proto (``saved_model.pb``), for ``as_text`` exports.
SavedModelProto = _saved_model_pb2.SavedModel


# --- runner: TF1 mode switches ---
# ``tf.compat.v1.disable_eager_execution()`` / ``disable_v2_behavior()`` turn eager
# execution off for the whole process; the runner (tf.function, eager variables) needs
# it on while it works. ``context.eager_mode()`` switches the calling thread to eager
# execution and back (TF 2.15.1 and 2.21.0); the public ``enable_eager_execution``
# refuses once a graph was used. None where absent: the runner then refuses graph mode.
try:
    from tensorflow.python.eager.context import eager_mode
except ImportError:  # pragma: no cover - a future TF without it
    eager_mode = None

# The eager global seed (``tf.random.set_seed``), to give it back after the runner's seeded
# build: Estimator's seed belonged to its own graph and never outlived it. TF has no public
# getter; without this one the runner's seed stays set, as before (the fallback).
from tensorflow.python.eager import context as _context  # noqa: E402

global_seed = getattr(_context, "global_seed", None)

# --- runner: partitioned variables ---
# TF1's partitioned variables (``get_variable(partitioner=...)``) record where each
# part lies in the whole on the part itself (``_save_slice_info``, a public
# ``tf.Variable.SaveSliceInfo``; set by ``variable_scope`` and by v1 slot creation),
# which is what TF1's Saver read to write one slice per part under the full name.
# No public API reads or sets it (TF 2.15.1 and 2.21.0 both keep these names).
from tensorflow.python.training import checkpoint_utils as _checkpoint_utils  # noqa: E402
from tensorflow.python.training import slot_creator as _slot_creator  # noqa: E402


def save_slice_info(variable):
    """The ``tf.Variable.SaveSliceInfo`` of a part of a partitioned variable, or None."""
    return getattr(variable, "_save_slice_info", None)


def set_save_slice_info(variable, info):
    """Records ``info`` as ``variable``'s slice (each component of a distributed one)."""
    variable._set_save_slice_info(info)


#: The module whose ``_create_slot_var`` gives v1 slots their primary's slice.
SLOT_CREATOR = _slot_creator


def strategy_allows_partitions(strategy):
    """Whether ``strategy``'s scope keeps ``partitioner=``: Estimator called model_fn in
    ``train_distribute``'s scope, whose getter drops partitioners unless the strategy's
    private ``_allow_variable_partition()`` says otherwise (ParameterServerStrategy)."""
    allow = getattr(strategy.extended, "_allow_variable_partition", None)
    return bool(allow()) if allow is not None else False


#: The module whose ``_set_checkpoint_initializer`` makes ``init_from_checkpoint``'s
#: restore op for each variable (each part with its slice spec).
CHECKPOINT_UTILS = _checkpoint_utils


# --- runner: seeded initial values as in a TF1 graph ---
# In a TF1 graph each random op is its own kernel: two initializers with the same op
# seed (the parts of one partitioned variable; one seeded initializer shared by two
# variables) draw the same numbers. Eagerly, the kernel for (seed, op seed) is cached
# and continues its sequence. Clearing the eager kernel cache before an initializer
# runs gives TF1's numbers (no public API; ``Context.clear_kernel_cache`` in TF 2.15.1
# and 2.21.0; without it the values stay eager's).


def restart_seeded_random_kernels():
    """Makes the next seeded random op start its sequence afresh, as a new TF1 graph op."""
    clear = getattr(_context.context(), "clear_kernel_cache", None)
    if clear is not None:
        clear()


# --- convert: lookup tables an export's signatures capture ---
# Feature columns' vocabulary lookups make TF1 tables (StaticHashTableV1) while the
# serving signatures are traced; TF2 lifts their creation out of the graph, so they
# are live resources the SavedModel must track. TF collects resources made in a
# block with its private ``resource_tracker_scope`` (TF 2.15.1 and 2.21.0). Without
# it nothing is collected: such an export fails with the save's "untracked" error.
try:
    from tensorflow.python.trackable.resource import (
        ResourceTracker,
        resource_tracker_scope,
    )
except ImportError:  # pragma: no cover - a future TF without them
    ResourceTracker = resource_tracker_scope = None
