"""The one exception type for an invalid spec, and how problems are collected."""

import dataclasses
import reprlib

_REPR = reprlib.Repr()
_REPR.maxstring = 60
_REPR.maxother = 60
_REPR.maxlist = 4
_REPR.maxdict = 4
_REPR.maxtuple = 4


#: Marks a problem found by a strict-only rule in its message.
STRICT_MARK = "(Strict rule: upstream accepted this; `lenient_validation()` turns it off.)"


def short_repr(value):
    """A repr of ``value`` short enough for an error message."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a broken __repr__ must not hide the real problem
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= 120 else text[:117] + "..."


def given(value, limit=300):
    """``str(value)`` as upstream's messages format it (``'... given: {}'.format(value)``), capped."""
    try:
        text = str(value)
    except Exception:  # a broken __str__ must not hide the real problem
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec.

    Attributes:
      field: the field (or element, e.g. ``eval_metric_ops['acc']``) at fault.
      value: a short repr of the offending value.
      rule: what the field must be.
      fix: how to change the calling code.
      kind: ``"type"`` for a wrong type, ``"value"`` for a wrong value.
      upstream: tensorflow-estimator 2.15's own message for the same fault
        (``""`` where upstream accepted the value); it leads the message, so
        code matching upstream's texts keeps matching.
      strict: True for a rule of this package only (upstream accepted the
        value); `lenient_validation()` turns such rules off.
    """

    field: str
    value: str
    rule: str
    fix: str
    kind: str = "value"
    upstream: str = ""
    strict: bool = False

    def __str__(self):
        lead = f"{self.upstream} -- " if self.upstream else ""
        rule = f"{self.rule} {STRICT_MARK}" if self.strict else self.rule
        return f"{lead}`{self.field}` ({self.value}): {rule} Fix: {self.fix}"


class InvalidSpecError(TypeError, ValueError):
    """An EstimatorSpec or TPUEstimatorSpec was built from invalid arguments.

    It is both a ``TypeError`` and a ``ValueError``, so code written against
    upstream's mixed exception types keeps catching it. ``problems`` holds
    every problem found, each naming its field, the value, the rule and the fix.

    The constructor is `Exception`'s own, so that tf.function (AutoGraph)
    re-raises this type, not a ``StagingError``, when a spec built inside a
    traced model_fn is invalid; ``problems`` then comes from the original error.
    Build instances with `InvalidSpecError.from_problems`.
    """

    __init__ = Exception.__init__

    @classmethod
    def from_problems(cls, spec_name, problems):
        """The error for ``problems`` (a sequence of `Problem`) of the spec class ``spec_name``."""
        problems = tuple(problems)
        count = len(problems)
        lines = [f"Invalid {spec_name}: {count} problem{'s' if count != 1 else ''}."]
        lines += [f"  {i}. {problem}" for i, problem in enumerate(problems, 1)]
        error = cls("\n".join(lines))
        error._problems = problems
        error._spec_name = spec_name
        return error

    @property
    def problems(self):
        """Every `Problem` found, in field order."""
        found = self.__dict__.get("_problems")
        if found is None and isinstance(self.__context__, InvalidSpecError):
            return self.__context__.problems  # re-raised by AutoGraph with the message only
        return found or ()

    @property
    def spec_name(self):
        """The name of the spec class that was being built."""
        found = self.__dict__.get("_spec_name")
        if found is None and isinstance(self.__context__, InvalidSpecError):
            return self.__context__.spec_name
        return found or ""
