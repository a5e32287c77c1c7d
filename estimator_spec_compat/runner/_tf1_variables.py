"""Stored variables that answer TF1's graph-variable attributes while a model_fn is traced.

The store (`_store`) makes every variable eagerly (lifted out of the trace with
``tf.init_scope()``) and hands that eager variable to the model_fn. TF1 code then
reads attributes only a graph variable has, and an eager one refuses them:

* ``variable.op`` (TF1: the variable's ``VarHandleOp``, named as the variable).
  v1 optimizers read it while making slots: ``slot_creator`` names a partitioned
  primary's slot from ``primary.op.name`` (canned estimators' Adagrad/Ftrl), and
  ``Optimizer._var_key`` files slots under ``(var.op.graph, var.op.name)`` when the
  variable has an ``op``; user optimizers and ``ExponentialMovingAverage`` use
  ``var.op.name`` for names. Eagerly it raises "Tensor.op is undefined when eager
  execution is enabled", also inside the ``tf.init_scope()`` where v1 optimizers
  call ``_create_slots``.
* ``variable.initial_value``: an eager variable keeps none (RuntimeError eagerly,
  ``None`` in a graph); TF1 code builds slots from it (``tf.zeros_like(v.initial_value)``).

`give_tf1_attributes` turns each component of a stored variable (one per replica under
MirroredStrategy, whose ``.op`` reads its components') into a subclass of its own
class that only overrides these two properties (``__class__`` assignment: the object,
its identity and its state stay as they are). They answer while `serving` is active
(the store's traces, the ``tf.init_scope()`` blocks inside them included); elsewhere,
as in TF2, the eager variable's own behaviour holds, so TF2 code that probes ``.op``
is not misled. ``.op`` is a `VariableOp` stand-in (as ``tf.distribute``'s
``DistributedVarOp`` for mirrored variables): ``name`` is the TF1 name, ``type``
``VarHandleOp``, and ``graph`` one graph per `serving` scope, so slot keys made under
``tf.init_scope()`` and looked up in the trace agree. ``initial_value`` is the eager
tensor the variable was made from (in a trace, an ``init_from_checkpoint`` restore
when one was set, as TF1 returned it).
"""

import contextlib
import threading

from estimator_spec_compat._compat import tf

_LOCK = threading.Lock()
# Replica threads (MirroredStrategy runs the model_fn on one thread per replica) see
# the scope entered on the main thread: the state is process-wide, counted.
_STATE = {"depth": 0, "graph": None}


@contextlib.contextmanager
def serving():
    """While active (re-entrant), stored variables answer ``op`` and ``initial_value``."""
    with _LOCK:
        if _STATE["depth"] == 0:
            _STATE["graph"] = tf.compat.v1.get_default_graph()
        _STATE["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["depth"] -= 1
            if _STATE["depth"] == 0:
                _STATE["graph"] = None


class VariableOp:
    """What ``variable.op`` is to TF1 code: a ``VarHandleOp`` named as the variable."""

    __slots__ = ("name", "graph", "device", "type", "traceback")

    def __init__(self, name, graph, device):
        self.name = name
        self.graph = graph
        self.device = device
        self.type = "VarHandleOp"
        self.traceback = None

    def __repr__(self):
        return f"<VariableOp {self.name!r} type=VarHandleOp>"


_CLASSES = {}


def _with_tf1_attributes(cls):
    """``cls`` with TF1's ``op`` and ``initial_value``; single inheritance, no new slots,
    so ``__class__`` assignment accepts it (a mixin base changes the layout)."""
    if getattr(cls, "_tf1_attributes", False):
        return cls
    subclass = _CLASSES.get(cls)
    if subclass is not None:
        return subclass
    eager_op, eager_initial_value = cls.op.fget, cls.initial_value.fget

    def op(self):
        if _STATE["depth"] == 0:
            return eager_op(self)
        return VariableOp(self._shared_name, _STATE["graph"], self.device)

    def initial_value(self):
        if _STATE["depth"] == 0:
            return eager_initial_value(self)
        restore = self._initial_value  # set by init_from_checkpoint in the trace graph
        if restore is not None and not tf.executing_eagerly():
            return restore
        return self._tf1_initial_value

    namespace = {
        "__slots__": (),
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
        "_tf1_attributes": True,
        "op": property(op, doc=cls.op.__doc__),
        "initial_value": property(initial_value, doc=cls.initial_value.__doc__),
    }
    subclass = _CLASSES[cls] = type(cls.__name__, (cls,), namespace)
    return subclass


def give_tf1_attributes(variable, strategy, initial_value):
    """Lets ``variable`` (each of its components under ``strategy``) answer TF1's
    ``op`` and ``initial_value`` while `serving`.

    Args:
      variable: a stored variable (made eagerly), distributed or not.
      strategy: the ``tf.distribute.Strategy`` it was made under.
      initial_value: the eager tensor it was initialized with (what
        ``initial_value`` returns).

    Returns:
      ``variable`` itself.
    """
    for component in strategy.experimental_local_results(variable):
        component.__class__ = _with_tf1_attributes(type(component))
        component._tf1_initial_value = initial_value
    return variable
