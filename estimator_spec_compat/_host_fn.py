"""TPUEstimatorSpec's ``(fn, tensors)`` pairs: eval_metrics and host_call.

Upstream checks the pair's shape and, for lists, compares the tensor count with
every named argument of ``fn`` (ignoring defaults); dict keys and batch-major
shapes are only found wrong when the TPU program runs. Here both are checked at
construction, against ``fn``'s real signature.
"""

import inspect

from estimator_spec_compat._checker import is_tensor
from estimator_spec_compat._validation import check_batch_major

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _signature(fn):
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):  # builtins and some C callables have none
        return None


def _check_positional(ck, name, fn, params, count):
    positional = [p for p in params if p.kind in _POSITIONAL]
    required = sum(1 for p in positional if p.default is p.empty)
    varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)
    kwonly = [
        p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is p.empty
    ]
    if not kwonly and required <= count and (varargs or count <= len(positional)):
        return
    names = [p.name for p in positional] + (["*" + "args"] if varargs else [])
    rule = f"{_name(fn)} takes positional arguments {names}"
    rule += f" and requires keyword-only {kwonly}" if kwonly else ""
    rule = (
        f"the number of tensors must match the function's arguments: {rule}; got {count} tensors."
    )
    fix = f"pass one tensor per argument of {_name(fn)}, in order, or a dict of keyword tensors."
    if varargs or count == len(positional):  # upstream compares the count with every name
        ck.add_strict(f"{name}[1]", count, rule, fix)
        return
    upstream = (
        f"In TPUEstimatorSpec.{name}, length of tensors {count} does not match method args of "
        f"the function, which takes {len(positional)}."
    )
    ck.add(f"{name}[1]", count, rule, fix, upstream=upstream)


def _check_keywords(ck, name, fn, params, keys):
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    by_name = {p.name: p for p in params}
    unknown = [
        k
        for k in keys
        if (k not in by_name and not accepts_any)
        or (k in by_name and by_name[k].kind is inspect.Parameter.POSITIONAL_ONLY)
    ]
    missing = [
        p.name
        for p in params
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        and p.default is p.empty
        and p.name not in keys
    ]
    if unknown:
        ck.add_strict(
            f"{name}[1]",
            unknown,
            f"keys are not keyword arguments of {_name(fn)} (it takes {list(by_name)}).",
            "rename the dict keys to the function's argument names.",
        )
    if missing:
        ck.add_strict(
            f"{name}[1]",
            list(keys),
            f"{_name(fn)} requires arguments {missing} that the dict does not provide.",
            "add a tensor for each required argument.",
        )


def _name(fn):
    return repr(getattr(fn, "__name__", type(fn).__name__))


def check_host_fn(ck, name, value):
    """Validates one ``(fn, tensors)`` pair named ``name``; returns it unchanged."""
    if value is None:
        return value
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        is_sequence = isinstance(value, (tuple, list))
        ck.add(
            name,
            value,
            "must be a (fn, tensors) pair.",
            f"pass `{name}=(fn, [tensor, ...])` or `(fn, {{'arg': tensor}})`.",
            kind="type",
            upstream=f"{name} should have two elements."
            if is_sequence
            else f"{name} should be tuple or list",
        )
        return value
    fn, tensors = value
    if not callable(fn):
        ck.add(
            f"{name}[0]",
            fn,
            "must be callable.",
            "pass the function itself.",
            kind="type",
            upstream=f"{name}[0] should be callable.",
        )
    if not isinstance(tensors, (tuple, list, dict)):
        ck.add(
            f"{name}[1]",
            tensors,
            "must be a list/tuple (positional arguments) or dict (keyword arguments) of Tensors.",
            "wrap the tensors in a list or dict.",
            kind="type",
            upstream=f"{name}[1] should be tuple or list, or dict.",
        )
        return value
    signature = _signature(fn) if callable(fn) else None
    if signature is not None:
        params = list(signature.parameters.values())
        if isinstance(tensors, dict):
            _check_keywords(ck, name, fn, params, list(tensors))
        else:
            _check_positional(ck, name, fn, params, len(tensors))
    items = tensors.items() if isinstance(tensors, dict) else enumerate(tensors)
    named = []
    for key, tensor in items:
        field = f"{name}[1][{key!r}]"
        if is_tensor(tensor):
            named.append((field, tensor))
        else:
            ck.add_strict(
                field,
                tensor,
                "must be a Tensor (it is sent from the TPU to the host).",
                "convert it with `tf.convert_to_tensor` or compute it inside model_fn.",
                kind="type",
            )
    check_batch_major(ck, name, named, "tensors are concatenated along axis 0 across TPU replicas")
    return value


def callable_without_arguments(fn):
    """Whether ``fn()`` binds: every parameter has a default or is variadic (True if unknown)."""
    signature = _signature(fn)
    if signature is None:
        return True
    try:
        signature.bind()
    except TypeError:
        return False
    return True


def call_host_fn(name, host_fn_pair):
    """Calls a ``(fn, tensors)`` pair: list/tuple -> positional, dict -> keyword arguments.

    Args:
      name: what the pair is, for messages (``"eval_metrics"`` or ``"host_call"``).
      host_fn_pair: the ``(fn, tensors)`` pair of a TPUEstimatorSpec.

    Returns:
      Whatever ``fn`` returns.

    Raises:
      TypeError: if ``tensors`` is neither a list/tuple nor a dict.
    """
    fn, tensors = host_fn_pair
    if isinstance(tensors, dict):
        return fn(**tensors)
    if isinstance(tensors, (tuple, list)):
        return fn(*tensors)
    raise TypeError(
        f"`{name}[1]` ({type(tensors).__name__}) must be a list/tuple or dict of Tensors."
    )
