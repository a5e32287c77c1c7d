"""A model_fn's ``Scaffold`` (or a TPU ``scaffold_fn``'s), honoured as Estimator honoured it.

Estimator handed the spec's Scaffold to its MonitoredSession. What users put there:

* ``init_fn(scaffold, session)``: TF's SessionManager called it after the init op,
  only when no checkpoint was restored from ``model_dir``, typically for a warm start
  (``saver.restore(session, path)`` with a Saver built in the model_fn, or assign
  ops). The runner calls it at that moment (a fresh ``model_dir``, after
  ``init_from_checkpoint`` warm starts; in TRAIN and PREDICT, as EVAL needs a
  checkpoint) with a `GraphSession`: ``run(fetches, feed_dict)`` prunes the
  model_fn's traced v1 graph to the fetches and runs it on the runner's variables,
  which that graph captured. It runs with the graph as default graph and tensors
  hashable (TF1 graph semantics), so ``Saver.restore`` takes its Session path.
  Under several replicas EVAL and PREDICT graphs run on plain copies of the
  variables (see `_store`), written back after the init_fn; the TRAIN graph is the
  replicated step, whose first replica's init_fn writes through that replica's view
  of each variable, so its value is then given to every replica.
* ``saver``: its ``max_to_keep`` is honoured as ``keep_checkpoint_max`` (Estimator's
  CheckpointSaverHook saved with that Saver); other settings are logged as ignored.
* ``init_op``, ``ready_op``, ``local_init_op``, ``summary_op`` ...: the runner
  initializes its variables itself; they are logged as ignored, in one WARNING.
"""

import logging

from estimator_spec_compat._compat import ModeKeys, tf, tf1_tensor_hashing
from estimator_spec_compat._errors import short_repr

_LOG = logging.getLogger(__name__)

#: Scaffold fields the runner does not run (it creates and initializes every variable).
_IGNORED_FIELDS = (
    "init_op",
    "init_feed_dict",
    "ready_op",
    "ready_for_local_init_op",
    "local_init_op",
    "local_init_feed_dict",
    "summary_op",
)
#: Saver settings the runner's checkpoints do not follow: (Saver attribute, default), as
#: ``Saver.__init__`` stores them in TF 2.15.1 and 2.21.0 (``saver_def`` exists only once built).
_IGNORED_SAVER_SETTINGS = (
    ("_keep_checkpoint_every_n_hours", 10000.0),
    ("_write_version", tf.compat.v1.train.SaverDef.V2),
    ("_pad_step_number", False),
    ("_filename", None),
)
_UNSUPPORTED = (
    "`Scaffold.init_fn` was called with the runner's stand-in for a Session, which has "
    "no `{name}`: it offers `run(fetches, feed_dict=None)` and `graph` (there is no "
    "tf.compat.v1.Session under TF2). Warm-start in the model_fn instead, with "
    "`tf.compat.v1.train.init_from_checkpoint(checkpoint, {{'old_scope/': 'new_scope/'}})`, "
    "which the runner applies when model_dir has no checkpoint, as Estimator did."
)


class GraphSession:
    """What a ``Scaffold.init_fn`` needs of ``tf.compat.v1.Session``, over one traced graph.

    Example (inside an init_fn, as under Estimator)::

        saver.restore(session, "/models/pretrained/model.ckpt-100")
        session.run(assign_op, feed_dict={placeholder: value})

    Args:
      wrapped: the ``WrappedFunction`` the model_fn was traced into.
    """

    def __init__(self, wrapped):
        self._wrapped = wrapped

    @property
    def graph(self):
        """The model_fn's traced graph (ops, tensors and collections by name)."""
        return self._wrapped.graph

    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        """Computes ``fetches`` as ``Session.run`` did: only what they need runs.

        Args:
          fetches: a tensor, operation, variable or name, or a list/tuple/dict of them.
          feed_dict: tensor (or tensor name) -> value, for placeholders or any tensor.
          options, run_metadata: accepted and ignored.

        Returns:
          ``fetches`` with numpy values in place of tensors and None for operations.
        """
        del options, run_metadata
        graph = self.graph
        feeds = list((feed_dict or {}).items())
        keys = [graph.as_graph_element(key, allow_operation=False) for key, _ in feeds]
        with graph.as_default():
            targets = tf.nest.map_structure(lambda f: _graph_element(graph, f), fetches)
        pruned = self._wrapped.prune(keys, targets)
        with tf.init_scope():  # init_fn runs with the graph as default: run eagerly
            values = [tf.convert_to_tensor(v, dtype=k.dtype) for k, (_, v) in zip(keys, feeds)]
            out = pruned(*values)
            return tf.nest.map_structure(lambda t: None if t is None else t.numpy(), out)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(_UNSUPPORTED.format(name=name))


def _graph_element(graph, fetch):
    if isinstance(fetch, str):
        return graph.as_graph_element(fetch)
    if isinstance(fetch, tf.Variable):  # its value (after the assign it may stand for)
        return tf.convert_to_tensor(fetch)
    if fetch is None:
        raise TypeError(
            "`Scaffold.init_fn` fetched None with `session.run`; fetch tensors, "
            "operations, variables or their names (as Session.run requires)."
        )
    return fetch


def scaffold_of(spec):
    """The Scaffold of a read spec (see `_calls.read_spec`), or None.

    Raises:
      TypeError: if it is not a ``tf.compat.v1.train.Scaffold``.
    """
    scaffold = getattr(spec, "scaffold", None)
    if scaffold is not None and not isinstance(scaffold, tf.compat.v1.train.Scaffold):
        raise TypeError(
            f"The spec's `scaffold` (or `scaffold_fn()`) ({short_repr(scaffold)}) must be a "
            "tf.compat.v1.train.Scaffold or None."
        )
    return scaffold


def ignored_parts(scaffold):
    """The names of what ``scaffold`` sets that the runner does not honour."""
    if scaffold is None:
        return []
    parts = [name for name in _IGNORED_FIELDS if getattr(scaffold, name) is not None]
    saver = scaffold.saver
    if saver is None:
        return parts
    if isinstance(saver, tf.train.Checkpoint):
        return [*parts, "saver (a tf.train.Checkpoint: the runner writes name-based checkpoints)"]
    for attribute, default in _IGNORED_SAVER_SETTINGS:
        value = getattr(saver, attribute, default)
        if value != default:
            parts.append(f"saver's {attribute.lstrip('_')}={value!r}")
    return parts


def max_to_keep(scaffold, default):
    """The Scaffold saver's ``max_to_keep`` (None or 0: keep all), or ``default``."""
    saver = None if scaffold is None else scaffold.saver
    if saver is None or isinstance(saver, tf.train.Checkpoint):
        return default
    return getattr(saver, "_max_to_keep", default)  # Saver's own attribute (TF 2.15-2.21)


class ScaffoldSupport:
    """Reads each mode's Scaffold from the runner's `Programs` and honours it.

    Args:
      programs: the runner's `Programs`.
    """

    def __init__(self, programs):
        self._programs = programs
        self._warned = set()

    def _scaffold(self, mode):
        traced = self._programs.last_trace(mode)
        return scaffold_of(traced.result)

    def check(self, mode):
        """Warns (once) about the Scaffold fields of ``mode`` the runner ignores."""
        self._warn_ignored(mode, self._scaffold(mode))

    def _warn_ignored(self, mode, scaffold):
        parts = ignored_parts(scaffold)
        message = ", ".join(parts)
        if parts and message not in self._warned:
            self._warned.add(message)
            _LOG.warning(
                "The model_fn's Scaffold (%s) sets %s, which the runner ignores: it creates, "
                "initializes and checkpoints every variable itself (Scaffold.init_fn and the "
                "saver's max_to_keep are honoured).",
                mode,
                message,
            )

    def keep_checkpoint_max(self, default):
        """How many checkpoints to keep: the TRAIN Scaffold saver's ``max_to_keep``, else
        ``default`` (``RunnerConfig.keep_checkpoint_max``)."""
        if ModeKeys.TRAIN not in self._programs.traced_modes:
            return default
        return max_to_keep(self._scaffold(ModeKeys.TRAIN), default)

    def initialize(self, mode):
        """Calls ``mode``'s ``Scaffold.init_fn`` (a fresh model_dir) on the runner's variables."""
        programs = self._programs
        traced = programs.last_trace(mode)
        scaffold = scaffold_of(traced.result)
        if scaffold is None or scaffold.init_fn is None:
            return
        _LOG.info(
            "Calling the model_fn's Scaffold.init_fn (%s): model_dir has no checkpoint.", mode
        )
        with tf1_tensor_hashing(), traced.wrapped.graph.as_default():
            scaffold.init_fn(GraphSession(traced.wrapped))
        if programs.num_replicas > 1 and mode == ModeKeys.TRAIN:
            programs.store.broadcast_first_replica()  # it wrote through replica 0's view
        elif programs.num_replicas > 1:  # EVAL/PREDICT graphs use plain copies of the variables
            programs.store.write_back_copies()
