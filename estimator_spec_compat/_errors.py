"""The one exception type for an invalid spec, and how problems are collected."""

import dataclasses
import reprlib

_REPR = reprlib.Repr()
_REPR.maxstring = 60
_REPR.maxother = 60
_REPR.maxlist = 4
_REPR.maxdict = 4
_REPR.maxtuple = 4


def short_repr(value):
    """A repr of ``value`` short enough for an error message."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a broken __repr__ must not hide the real problem
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= 120 else text[:117] + "..."


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec.

    Attributes:
      field: the field (or element, e.g. ``eval_metric_ops['acc']``) at fault.
      value: a short repr of the offending value.
      rule: what the field must be.
      fix: how to change the calling code.
      kind: ``"type"`` for a wrong type, ``"value"`` for a wrong value.
    """

    field: str
    value: str
    rule: str
    fix: str
    kind: str = "value"

    def __str__(self):
        return f"`{self.field}` ({self.value}): {self.rule} Fix: {self.fix}"


class InvalidSpecError(TypeError, ValueError):
    """An EstimatorSpec or TPUEstimatorSpec was built from invalid arguments.

    It is both a ``TypeError`` and a ``ValueError``, so code written against
    upstream's mixed exception types keeps catching it.  ``problems`` holds
    every problem found, each naming its field, the value, the rule and the fix.
    """

    def __init__(self, spec_name, problems):
        self.spec_name = spec_name
        self.problems = tuple(problems)
        count = len(self.problems)
        lines = [f"Invalid {spec_name}: {count} problem{'s' if count != 1 else ''}."]
        lines += [f"  {i}. {problem}" for i, problem in enumerate(self.problems, 1)]
        super().__init__("\n".join(lines))

    def __reduce__(self):
        return type(self), (self.spec_name, self.problems)
