"""Collecting problems: strict vs lenient validation, and shared tensor predicates."""

import contextlib
import contextvars
import os

from estimator_spec_compat._compat import tf
from estimator_spec_compat._errors import InvalidSpecError, Problem, short_repr

#: Environment variable that makes lenient validation the process default.
VALIDATION_ENV_VAR = "ESTIMATOR_SPEC_COMPAT_VALIDATION"

_STRICT = contextvars.ContextVar(
    "estimator_spec_compat_strict",
    default=os.environ.get(VALIDATION_ENV_VAR, "strict").strip().lower() != "lenient",
)

_CoreTensor = tf.__internal__.types.Tensor

# Upstream's list of likely causes when a tensor is not from the default graph.
WRONG_GRAPH_RULE = (
    "must be from the default graph. Possible causes: 1) it was created outside the context "
    "of the default graph; 2) the object passed to the spec was not created in the most recent "
    "call to `model_fn`."
)
WRONG_GRAPH_FIX = (
    "create it inside `model_fn`, on every call, instead of reusing a tensor from an earlier "
    "call or another graph."
)


@contextlib.contextmanager
def lenient_validation():
    """Validates specs built in this block with upstream's (lenient) rules only.

    Strict validation is the default. Inside this context manager (or with the
    environment variable ``ESTIMATOR_SPEC_COMPAT_VALIDATION=lenient`` set before
    import) only the checks tensorflow-estimator itself makes at construction
    are made; the extra checks of this package (mode values, loss dtype, string
    keys, export_outputs outside PREDICT, TPU arity/keyword/batch-major checks,
    ...) are skipped. Problems upstream would reject are still reported, all at
    once, as an `InvalidSpecError`.

    Example:
      >>> with lenient_validation():
      ...     spec = EstimatorSpec(mode="custom-mode", predictions=preds)

    Yields:
      None.
    """
    token = _STRICT.set(False)
    try:
        yield
    finally:
        _STRICT.reset(token)


def is_strict():
    """Whether specs built now are validated strictly."""
    return _STRICT.get()


def is_tensor(value):
    """Whether ``value`` is a tf Tensor in upstream's sense (Variables included)."""
    return isinstance(value, _CoreTensor)


class Checker:
    """Collects every problem of one spec, then raises them together."""

    __slots__ = ("spec_name", "strict", "problems", "eager", "_graph")

    def __init__(self, spec_name):
        self.spec_name = spec_name
        self.strict = _STRICT.get()
        self.problems = []
        self.eager = tf.executing_eagerly()
        self._graph = None

    @property
    def graph(self):
        """The default graph (None when executing eagerly)."""
        if self._graph is None and not self.eager:
            self._graph = tf.compat.v1.get_default_graph()
        return self._graph

    def add(self, field, value, rule, fix, *, kind="value"):
        """Records a problem found by a check that upstream makes too."""
        self.problems.append(Problem(field, short_repr(value), rule, fix, kind))

    def add_strict(self, field, value, rule, fix, *, kind="value"):
        """Records a problem found by a check only this package makes."""
        if self.strict:
            self.add(field, value, rule, fix, kind=kind)

    def check_graph(self, field, value):
        """Records a problem if ``value`` (Tensor/Operation) is not from the default graph."""
        if self.eager:
            return
        try:
            graph = value.graph
        except (AttributeError, RuntimeError):  # an EagerTensor has no graph
            graph = None
        if graph is not self.graph:
            self.add(field, value, WRONG_GRAPH_RULE, WRONG_GRAPH_FIX)

    def raise_if_any(self):
        """Raises `InvalidSpecError` listing every problem, if there are any."""
        if self.problems:
            raise InvalidSpecError.from_problems(self.spec_name, self.problems)
