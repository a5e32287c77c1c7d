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

WRONG_GRAPH_RULE = "must be from the default graph (the graph model_fn is building)."
WRONG_GRAPH_FIX = (
    "create it inside `model_fn`, on every call, instead of reusing a tensor from an earlier "
    "call or another graph."
)


def wrong_graph_upstream(what, name):
    """Upstream's message (model_fn.py ``_default_graph_error_message_template``), on one line."""
    return (
        f'{what} with "{name}" must be from the default graph. Possible causes of this error '
        f"include: 1) {what} was created outside the context of the default graph. 2) The object "
        'passed through to EstimatorSpec was not created in the most recent call to "model_fn".'
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

    def add(self, field, value, rule, fix, *, kind="value", upstream=""):
        """Records a problem found by a check that upstream makes too (``upstream``: its message)."""
        self.problems.append(Problem(field, short_repr(value), rule, fix, kind, upstream))

    def add_strict(self, field, value, rule, fix, *, kind="value"):
        """Records a problem found by a check only this package makes (marked so in its message)."""
        if self.strict:
            self.problems.append(Problem(field, short_repr(value), rule, fix, kind, strict=True))

    def check_graph(self, field, value, what=None, key=None):
        """Records a problem if ``value`` (Tensor/Operation) is not from the default graph.

        Returns whether ``value`` is from the default graph (True eagerly).
        ``what`` and ``key`` fill upstream's message (``'{what} with "{key}:
        {name}" must be from the default graph. ...'``); ``what`` defaults to
        ``field``.
        """
        if self.eager:
            return True
        try:
            graph = value.graph
        except (AttributeError, RuntimeError):  # an EagerTensor has no graph
            graph = None
        if graph is self.graph:
            return True
        name = getattr(value, "name", None) if graph is not None else None
        name = value if name is None else name
        name = name if key is None else f"{key}: {name}"
        upstream = wrong_graph_upstream(what or field, name)
        self.add(field, value, WRONG_GRAPH_RULE, WRONG_GRAPH_FIX, upstream=upstream)
        return False

    def raise_if_any(self):
        """Raises `InvalidSpecError` listing every problem, if there are any."""
        if self.problems:
            raise InvalidSpecError.from_problems(self.spec_name, self.problems)
