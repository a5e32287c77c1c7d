"""Property tests: any value in any field gives a valid spec or an `InvalidSpecError`.

Hypothesis throws arbitrary values (plain Python and NumPy values, containers
with odd keys, tensors of assorted dtypes and shapes, eager tensors in a graph,
tensors from another graph, variables, ops, hooks, scaffolds, export outputs,
Keras metrics, callables of assorted signatures, ``(fn, tensors)`` pairs of the
wrong arity...) at every field of both spec classes, in every mode and some
bogus ones, in a graph and eagerly, strict and lenient. Properties:

* the only exception construction ever raises is `InvalidSpecError`, and each
  of its problems names a real field of the class (or an element of one);
* a spec that is built is an instance of the class, normalised as documented,
  and ``_replace()`` (validating again) gives it back unchanged;
* estimator world: under `lenient_validation()` our EstimatorSpec accepts exactly
  the inputs upstream's constructor accepts (apart from the documented eager
  extensions).

Inputs the properties once found failing are kept as named regression cases
(``_KNOWN_BUGS``, ``_LENIENT_GAPS``).

Values are drawn as `Recipe` objects and built inside the execution context of
the example, so a falsifying example prints as readable recipes.
"""

import contextlib
import functools
import re

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from estimator_spec_compat import (
    EstimatorSpec,
    InvalidSpecError,
    ModeKeys,
    TPUEstimatorSpec,
    _compat,
    lenient_validation,
)
from estimator_spec_compat._compat import (
    ClassificationOutput,
    ExportOutput,
    PredictOutput,
    RegressionOutput,
)

_MODES = (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT)
_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Recipe:
    """A value to build in the example's context (a graph or eagerly); prints as ``label``."""

    def __init__(self, label, build):
        self.label = label
        self._build = build

    def build(self, graph_mode):
        return self._build(graph_mode)

    def __repr__(self):
        return self.label


def _const(value, label=None):
    return Recipe(label or repr(value), lambda graph_mode: value)


# --- values made once, eagerly or in another graph ------------------------------------

_EAGER_SCALAR = tf.constant(1.0)
_EAGER_VECTOR = tf.constant([1.0, 2.0])
_EAGER_STRINGS = tf.constant(["a", "b"])
_EAGER_VARIABLE = tf.Variable(0.0, name="eager_variable")
_OTHER_GRAPH = tf.Graph()
with _OTHER_GRAPH.as_default():
    _OTHER_SCALAR = tf.constant(1.0, name="other_scalar")
    _OTHER_VECTOR = tf.constant([1.0, 2.0], name="other_vector")
    _OTHER_OP = tf.no_op(name="other_op")
    _OTHER_VARIABLE = tf.Variable(0.0, name="other_variable")


class _Hook(tf.compat.v1.train.SessionRunHook):
    pass


class _CallableObject:
    def __call__(self, a, b=None):
        return {}


def _fn0():
    return {}


def _fn1(a):
    return {}


def _fn2(labels, predictions):
    return {}


def _fn_default(a, b=1):
    return {}


def _fn_varargs(*args):
    return {}


def _fn_kwargs(**kwargs):
    return {}


def _fn_kwonly(a, *, b):
    return {}


def _fn_posonly(a, /, b):
    return {}


_CALLABLES = [
    _const(_fn0, "fn()"),
    _const(_fn1, "fn(a)"),
    _const(_fn2, "fn(labels, predictions)"),
    _const(_fn_default, "fn(a, b=1)"),
    _const(_fn_varargs, "fn(*args)"),
    _const(_fn_kwargs, "fn(**kwargs)"),
    _const(_fn_kwonly, "fn(a, *, b)"),
    _const(_fn_posonly, "fn(a, /, b)"),
    _const(lambda *args, **kwargs: {}, "lambda *args, **kwargs"),
    _const(_CallableObject(), "CallableObject()(a, b=None)"),
    _const(functools.partial(_fn2, 1), "partial(fn(labels, predictions), 1)"),
    _const(len, "len"),
    _const(print, "print"),
    _const(dict, "dict"),
    _const(_Hook, "SessionRunHook subclass (not an instance)"),
]

# --- values built in the example's context --------------------------------------------

_DTYPES = [
    tf.float32,
    tf.float64,
    tf.float16,
    tf.bfloat16,
    tf.int32,
    tf.int64,
    tf.uint8,
    tf.bool,
    tf.complex64,
    tf.string,
]
_SHAPES = [(), (0,), (1,), (2,), (1, 1), (2, 3), (0, 2)]


def _tensor(dtype, shape):
    if dtype == tf.string:
        return tf.constant(np.full(shape, b"x", dtype=object), dtype=tf.string)
    return tf.cast(tf.ones(shape), dtype)


def _tensor_recipe(dtype, shape):
    return Recipe(f"tensor({dtype.name}, {list(shape)})", lambda graph_mode: _tensor(dtype, shape))


def _placeholder(shape):
    def build(graph_mode):
        if not graph_mode:  # no placeholders eagerly: a tensor of the same rank stands in
            return tf.ones([2 if dim is None else dim for dim in shape or [2]])
        return tf.compat.v1.placeholder(tf.float32, shape=shape)

    return Recipe(f"placeholder(float32, {shape})", build)


def _variable(dtype, shape, use_resource=True):
    def build(graph_mode):
        return tf.compat.v1.Variable(
            _tensor(dtype, shape), use_resource=use_resource or not graph_mode
        )

    kind = "resource" if use_resource else "ref"
    return Recipe(f"{kind} variable({dtype.name}, {list(shape)})", build)


def _op(graph_mode):
    return tf.no_op() if graph_mode else None  # eagerly tf.no_op() is None too


def _keras_metric(update):
    def build(graph_mode):
        metric = tf.keras.metrics.Mean(name="mean_metric")
        if update:
            try:
                metric.update_state(tf.constant([1.0, 2.0]))
            except Exception:  # e.g. Keras 3 in a v1 graph: an un-updated metric stands in
                pass
        return metric

    return Recipe(f"keras Mean({'updated' if update else 'not updated'})", build)


def _export_output(kind):
    def build(graph_mode):
        if kind == "predict":
            return PredictOutput({"y": tf.ones([2, 1])})
        if kind == "regression":
            return RegressionOutput(tf.ones([2, 1]))
        return ClassificationOutput(scores=tf.ones([2, 3]))

    return Recipe(f"{kind.capitalize()}Output", build)


def _sparse(graph_mode):
    return tf.sparse.SparseTensor([[0, 0]], [1.0], [2, 2])


def _ragged(graph_mode):
    return tf.ragged.constant([[1.0], [2.0, 3.0]])


def _generator(graph_mode):
    return (hook for hook in [_Hook(), _Hook()])


_CONTEXT_LEAVES = (
    [_tensor_recipe(dtype, shape) for dtype in _DTYPES for shape in _SHAPES]
    + [_placeholder(None), _placeholder([None]), _placeholder([None, 1]), _placeholder([])]
    + [_variable(tf.float32, ()), _variable(tf.float32, (2,)), _variable(tf.int32, ())]
    + [_variable(tf.float32, (), use_resource=False)]
    + [
        Recipe("tf.no_op()", _op),
        Recipe("tf.group(tensor)", lambda g: tf.group(tf.ones([1])) if g else None),
        Recipe("SparseTensor", _sparse),
        Recipe("RaggedTensor", _ragged),
        Recipe("generator of hooks", _generator),
        _keras_metric(update=True),
        _keras_metric(update=False),
        _export_output("predict"),
        _export_output("regression"),
        _export_output("classification"),
        Recipe("Scaffold()", lambda g: tf.compat.v1.train.Scaffold()),
        Recipe("SessionRunHook()", lambda g: _Hook()),
        Recipe("StopAtStepHook", lambda g: tf.compat.v1.train.StopAtStepHook(last_step=1)),
    ]
)
_FIXED_LEAVES = [
    _const(_EAGER_SCALAR, "eager scalar"),
    _const(_EAGER_VECTOR, "eager vector"),
    _const(_EAGER_STRINGS, "eager strings"),
    _const(_EAGER_VARIABLE, "eager variable"),
    _const(_OTHER_SCALAR, "other-graph scalar"),
    _const(_OTHER_VECTOR, "other-graph vector"),
    _const(_OTHER_OP, "other-graph op"),
    _const(_OTHER_VARIABLE, "other-graph variable"),
    _const(tf.compat.v1.train.Scaffold, "Scaffold class"),
    _const(np.float32(1.5)),
    _const(np.zeros(()), "np.zeros(())"),
    _const(np.zeros((0,)), "np.zeros((0,))"),
    _const(np.ones((2, 1), np.float32), "np.ones((2, 1), float32)"),
    _const(np.array(["a"]), "np.array(['a'])"),
    _const(object(), "object()"),
    _const(Ellipsis),
    _const(float("nan")),
    _const(float("inf")),
    _const(frozenset({1})),
    _const(range(2)),
    *_CALLABLES,
]


def _plain_values():
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(),
        st.text(max_size=5),
        st.binary(max_size=3),
        st.sampled_from(_MODES),
    ).map(_const)


_KEYS = st.one_of(
    st.sampled_from(["y", "loss", "serving_default", "labels", "predictions", "a", "b"]),
    st.text(max_size=3),
    st.integers(-2, 2),
    st.none(),
    st.binary(max_size=2),
    st.just(("a", 1)),
    st.just(1.5),
    st.booleans(),
)


def _list_recipe(children, kind):
    def build(graph_mode):
        return kind(child.build(graph_mode) for child in children)

    return Recipe(f"{kind.__name__}{children!r}" if kind is tuple else repr(children), build)


def _dict_recipe(items):
    def build(graph_mode):
        return {key: child.build(graph_mode) for key, child in items.items()}

    return Recipe(repr(items), build)


_LEAVES = st.one_of(
    st.sampled_from(_CONTEXT_LEAVES), st.sampled_from(_FIXED_LEAVES), _plain_values()
)


def _fn_pairs(children):
    """``(fn, tensors)`` pairs: assorted signatures, lists/dicts of any length and keys."""
    tensors = st.one_of(
        st.lists(children, max_size=3).map(lambda c: _list_recipe(c, list)),
        st.dictionaries(_KEYS, children, max_size=3).map(_dict_recipe),
    )
    return st.tuples(st.sampled_from(_CALLABLES), tensors).map(lambda p: _list_recipe(p, tuple))


def _anything():
    """Any value: leaves, and lists, tuples, dicts and (fn, tensors) pairs of them."""
    return st.recursive(
        _LEAVES,
        lambda children: st.one_of(
            st.lists(children, max_size=3).map(lambda c: _list_recipe(c, list)),
            st.lists(children, max_size=3).map(lambda c: _list_recipe(c, tuple)),
            st.dictionaries(_KEYS, children, max_size=3).map(_dict_recipe),
            _fn_pairs(children),
        ),
        max_leaves=5,
    )


# --- plausible values per field: most fields valid, a few arbitrary ---------------------


def _t(*shape):
    return _tensor_recipe(tf.float32, shape)


def _pair_recipes(fn, form):
    tensors = [_t(2, 1), _t(2, 1)]
    if form == "dict":
        return _list_recipe(
            [fn, _dict_recipe(dict(zip(["labels", "predictions"], tensors)))], tuple
        )
    return _list_recipe([fn, _list_recipe(tensors, list)], tuple)


_HOOKS = st.sampled_from(
    [
        _const(None),
        _list_recipe([Recipe("SessionRunHook()", lambda g: _Hook())], list),
        _const(()),
        Recipe("generator of hooks", _generator),
    ]
)
_PAIRS = st.sampled_from(
    [
        _const(None),
        _pair_recipes(_const(_fn2, "fn(labels, predictions)"), "list"),
        _pair_recipes(_const(_fn2, "fn(labels, predictions)"), "dict"),
        _pair_recipes(_const(_fn_varargs, "fn(*args)"), "list"),
        _pair_recipes(_const(_fn_kwargs, "fn(**kwargs)"), "dict"),
    ]
)
_PLAUSIBLE = {
    "predictions": st.sampled_from(
        [_const(None), _t(2, 1), _dict_recipe({"y": _t(2, 1), "z": _t(2)})]
    ),
    "loss": st.sampled_from(
        [_t(), _t(), _t(1), _placeholder([]), _placeholder(None), _const(None)]
    ),
    "train_op": st.sampled_from(
        [Recipe("tf.no_op()", _op), _t(), _variable(tf.float32, ()), _const(None)]
    ),
    "eval_metric_ops": st.sampled_from(
        [
            _const(None),
            _dict_recipe({"m": _list_recipe([_t(), Recipe("tf.no_op()", _op)], tuple)}),
            _dict_recipe({"k": _keras_metric(update=True)}),
        ]
    ),
    "export_outputs": st.sampled_from(
        [
            _const(None),
            _dict_recipe({"serving_default": _export_output("predict")}),
            _dict_recipe({"head": _export_output("regression")}),
        ]
    ),
    "training_chief_hooks": _HOOKS,
    "training_hooks": _HOOKS,
    "evaluation_hooks": _HOOKS,
    "prediction_hooks": _HOOKS,
    "scaffold": st.sampled_from(
        [_const(None), Recipe("Scaffold()", lambda g: tf.compat.v1.train.Scaffold())]
    ),
    "eval_metrics": _PAIRS,
    "host_call": _PAIRS,
    "scaffold_fn": st.sampled_from(
        [_const(None), _const(tf.compat.v1.train.Scaffold, "Scaffold class")]
    ),
}
_BOGUS_MODES = st.sampled_from(["bogus", "TRAIN", "train ", b"train", "", "eval_"]).map(_const)
_ANYTHING = _anything()
_ANY_MODE = st.one_of(*[st.sampled_from(_MODES).map(_const)] * 3, _BOGUS_MODES, _ANYTHING)

# Upstream's field names and order (tensorflow-estimator 2.15.0), copied from there.
_UPSTREAM_FIELDS = {
    EstimatorSpec: (
        "mode",
        "predictions",
        "loss",
        "train_op",
        "eval_metric_ops",
        "export_outputs",
        "training_chief_hooks",
        "training_hooks",
        "scaffold",
        "evaluation_hooks",
        "prediction_hooks",
    ),
    TPUEstimatorSpec: (
        "mode",
        "predictions",
        "loss",
        "train_op",
        "eval_metrics",
        "export_outputs",
        "scaffold_fn",
        "host_call",
        "training_hooks",
        "evaluation_hooks",
        "prediction_hooks",
    ),
}


# --- the properties -------------------------------------------------------------------

_FIELD = re.compile(r"(?P<root>[a-z_]+)(\[.*\])?", re.DOTALL)
_HOOK_FIELDS = ("training_chief_hooks", "training_hooks", "evaluation_hooks", "prediction_hooks")


def _check_problems(cls, error):
    assert isinstance(error, TypeError) and isinstance(error, ValueError)
    assert error.problems, "an InvalidSpecError must list at least one problem"
    for problem in error.problems:
        match = _FIELD.fullmatch(problem.field)
        assert match and match["root"] in cls._fields, f"not a field of {cls.__name__}: {problem}"
        assert problem.kind in ("type", "value")
        assert problem.rule and problem.fix and isinstance(problem.value, str)
        assert str(problem) in str(error)


def _is_tensor(value):
    return isinstance(value, tf.__internal__.types.Tensor)


def _check_graph(value, graph):
    if graph is not None:
        assert value.graph is graph, f"{value!r} is not from the default graph"


def _check_common(spec, mode, strict, graph):
    assert spec.mode is mode
    key = mode if isinstance(mode, str) else None  # only strings are compared with modes
    if strict:
        assert spec.mode in _MODES
    if isinstance(spec.predictions, dict):
        for key, value in spec.predictions.items():
            assert _is_tensor(value)
            _check_graph(value, graph)
            assert isinstance(key, str) or not strict
    else:
        assert _is_tensor(spec.predictions)
        _check_graph(spec.predictions, graph)
    if spec.loss is None:
        assert key not in (ModeKeys.TRAIN, ModeKeys.EVAL)
    else:
        assert _is_tensor(spec.loss)
        assert spec.loss.shape.rank in (None, 0), f"loss shape {spec.loss.shape}"
        assert spec.loss.dtype.is_floating or not strict
        _check_graph(spec.loss, graph)
    if spec.train_op is None:
        assert key != ModeKeys.TRAIN
    else:
        assert isinstance(spec.train_op, tf.Operation) or _is_tensor(spec.train_op)
        assert not isinstance(spec.train_op, tf.Variable) or graph is None
        _check_graph(spec.train_op, graph)
    for field in _HOOK_FIELDS:
        if field in spec._fields:
            hooks = getattr(spec, field)
            assert type(hooks) is tuple
            assert all(isinstance(h, tf.compat.v1.train.SessionRunHook) for h in hooks)
    if key == ModeKeys.PREDICT:  # an empty dict stays empty, as upstream keeps it
        assert isinstance(spec.export_outputs, dict)
        default = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
        assert default in spec.export_outputs or (not spec.export_outputs and not strict)
    if strict or key == ModeKeys.PREDICT:
        assert spec.export_outputs is None or all(
            isinstance(key, str) or not strict for key in spec.export_outputs
        )
        outputs = (spec.export_outputs or {}).values()
        assert all(isinstance(v, ExportOutput) for v in outputs)


def _check_estimator_spec(spec, mode, strict, graph):
    assert isinstance(spec.scaffold, tf.compat.v1.train.Scaffold)
    assert isinstance(spec.eval_metric_ops, dict)
    for key, value in spec.eval_metric_ops.items():
        assert isinstance(key, str) or not strict
        if isinstance(value, tuple):
            # Upstream accepts an Operation as the value and nested tuples of Tensors.
            assert len(value) == 2
            for part in tf.nest.flatten(value):
                if graph is None and part is None:
                    continue  # eagerly tf.no_op() is None
                assert (_is_tensor(part) or isinstance(part, tf.Operation)) or not strict
                _check_graph(part, graph)
        else:  # only eagerly, a Keras metric is kept as it is
            assert graph is None and callable(value.update_state)


def _check_tpu_spec(spec, mode, strict, graph):
    # Upstream never checks scaffold_fn at construction: lenient keeps any value.
    assert spec.scaffold_fn is None or callable(spec.scaffold_fn) or not strict
    for pair in (spec.eval_metrics, spec.host_call):
        if pair is None:
            continue
        assert len(pair) == 2 and callable(pair[0])
        assert isinstance(pair[1], (list, tuple, dict))
        tensors = pair[1].values() if isinstance(pair[1], dict) else pair[1]
        assert all(_is_tensor(t) for t in tensors) or not strict


_CHECKS = {EstimatorSpec: _check_estimator_spec, TPUEstimatorSpec: _check_tpu_spec}


def _draw_fields(data, cls):
    fields = cls._fields[1:]
    some = st.sampled_from(fields)
    wild = data.draw(
        st.one_of(st.just(set()), st.sets(some, max_size=2), st.sets(some)),
        label="arbitrary fields",
    )
    return {
        field: data.draw(_ANYTHING if field in wild else _PLAUSIBLE[field], label=field)
        for field in fields
    }


def _build_and_check(cls, mode_recipe, recipes, graph_mode, strict):
    kwargs = {field: recipe.build(graph_mode) for field, recipe in recipes.items()}
    mode = mode_recipe.build(graph_mode)
    graph = tf.compat.v1.get_default_graph() if graph_mode else None
    try:
        spec = cls(mode, **kwargs)
    except InvalidSpecError as error:
        event("InvalidSpecError")
        _check_problems(cls, error)
        return
    event("built")
    assert type(spec) is cls and spec._fields == _UPSTREAM_FIELDS[cls]
    _check_common(spec, mode, strict, graph)
    _CHECKS[cls](spec, mode, strict, graph)
    again = spec._replace()  # validated again: a built spec stays valid, and unchanged
    assert type(again) is cls
    for field in cls._fields:
        assert _same(getattr(again, field), getattr(spec, field)), field


def _same(a, b):
    """Identical, or containers of the same kind holding identical items."""
    if a is b:
        return True
    if isinstance(a, dict) and type(a) is type(b):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)) and type(a) is type(b):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return False


# --- regressions found by the property tests ---------------------------------------------
# Inputs hypothesis found that once raised something other than InvalidSpecError (B1-B5)
# or that lenient validation rejected although upstream accepts them (B6, L1, L2).


def _bug(bug_id, reason, cls, graph_mode, make_kwargs, what=""):
    del reason  # kept beside each case as its history
    execution = "graph" if graph_mode else "eager"
    return pytest.param(
        cls, graph_mode, make_kwargs, id=f"{bug_id}-{cls.__name__}-{execution}{what}"
    )


_B1 = (
    "_validation.py:75 check_train_op (also :36 check_loss, :110 check_predictions, :248/:257 "
    "check_export_outputs) compares `mode == ModeKeys.TRAIN` / `mode != ...` for any mode; a "
    "Tensor (eager, or from another graph with `!=`), Variable or NumPy array mode raises "
    "TypeError/ValueError from TF/NumPy instead of InvalidSpecError. Compare only when "
    "isinstance(mode, str)."
)
_B2 = (
    "_validation.py:333 check_scaffold evaluates `not scaffold` before `ck.strict`: a graph "
    "Tensor (or multi-element array) scaffold raises OperatorNotAllowedInGraphError/ValueError, "
    "strict or lenient."
)
_B3 = (
    "_validation.py check_hooks: `tuple(hooks)` catches only TypeError; iterating an eager "
    "Variable in a graph raises RuntimeError ('Attempting to capture an EagerTensor without "
    "building a function'). Reject Tensors/Variables before iterating, or catch Exception."
)
_B4 = (
    "_validation.py:94 check_train_op: `train_op.op` of an eager Variable in a graph raises "
    "AttributeError ('Tensor.op is undefined when eager execution is enabled'); check the "
    "variable's graph before taking `.op`."
)
_B5 = (
    "_host_fn.py _check_keywords: `sorted(unknown)` / `sorted(keys)` raise TypeError for dict "
    "keys of mixed types (e.g. 'a' and 1); sort by repr."
)


_B6 = (
    "_validation.py:94 check_train_op: eagerly, `train_op.value()` of a graph Variable (from "
    "a tf.Graph) raises TypeError ('... is out of scope and cannot be used here'); upstream "
    "accepts it (takes `.op`, skips the graph check eagerly). Check `train_op` is an eager "
    "variable before reading it, or record a problem."
)


def _fn1_pair_mixed_keys():
    return (_fn1, {"b": tf.ones([2]), 1: tf.ones([2])})


@pytest.mark.parametrize("cls", [EstimatorSpec, TPUEstimatorSpec])
def test_b6_graph_variable_train_op_is_accepted_eagerly_like_upstream(cls):
    spec = cls(mode=ModeKeys.TRAIN, loss=tf.ones([]), train_op=_OTHER_VARIABLE)
    assert spec.train_op is _OTHER_VARIABLE.op  # upstream takes `.op` too


_KNOWN_BUGS = [
    *[
        _bug("B1", _B1, cls, False, lambda: dict(mode=tf.constant(1.0), loss=tf.constant(1.0)))
        for cls in (EstimatorSpec, TPUEstimatorSpec)
    ],
    _bug("B1", _B1, EstimatorSpec, False, lambda: dict(mode=np.array([1, 2])), "-numpy"),
    _bug("B1", _B1, TPUEstimatorSpec, False, lambda: dict(mode=_OTHER_SCALAR), "-other-graph"),
    _bug(
        "B2",
        _B2,
        EstimatorSpec,
        True,
        lambda: dict(mode=ModeKeys.EVAL, loss=tf.constant(1.0), scaffold=tf.constant(1.0)),
    ),
    *[
        _bug(
            "B3",
            _B3,
            cls,
            True,
            lambda: dict(mode=ModeKeys.EVAL, loss=tf.ones([]), evaluation_hooks=_EAGER_VARIABLE),
        )
        for cls in (EstimatorSpec, TPUEstimatorSpec)
    ],
    *[
        _bug(
            "B4",
            _B4,
            cls,
            True,
            lambda: dict(mode=ModeKeys.TRAIN, loss=tf.ones([]), train_op=_EAGER_VARIABLE),
        )
        for cls in (EstimatorSpec, TPUEstimatorSpec)
    ],
    _bug(
        "B5",
        _B5,
        TPUEstimatorSpec,
        True,
        lambda: dict(mode=ModeKeys.EVAL, loss=tf.ones([]), eval_metrics=_fn1_pair_mixed_keys()),
    ),
]


@pytest.mark.parametrize("cls, graph_mode, make_kwargs", _KNOWN_BUGS)
def test_regression_inputs_raise_invalid_spec_error(cls, graph_mode, make_kwargs):
    with tf.Graph().as_default() if graph_mode else contextlib.nullcontext():
        kwargs = make_kwargs()
        mode = kwargs.pop("mode")
        with pytest.raises(InvalidSpecError) as info:
            cls(mode, **kwargs)
        _check_problems(cls, info.value)


_CLASSES = [
    pytest.param(EstimatorSpec, id="EstimatorSpec"),
    pytest.param(TPUEstimatorSpec, id="TPUEstimatorSpec"),
]
_EXECUTION = [pytest.param(True, id="graph"), pytest.param(False, id="eager")]
_STRICTNESS = [pytest.param(True, id="strict"), pytest.param(False, id="lenient")]


@pytest.mark.parametrize("strict", _STRICTNESS)
@pytest.mark.parametrize("graph_mode", _EXECUTION)
@pytest.mark.parametrize("cls", _CLASSES)
@_SETTINGS
@given(data=st.data())
def test_any_fields_give_a_valid_spec_or_invalid_spec_error(cls, graph_mode, strict, data):
    mode_recipe = data.draw(_ANY_MODE, label="mode")
    recipes = _draw_fields(data, cls)
    with tf.Graph().as_default() if graph_mode else contextlib.nullcontext():
        if strict:
            _build_and_check(cls, mode_recipe, recipes, graph_mode, strict)
        else:
            with lenient_validation():
                _build_and_check(cls, mode_recipe, recipes, graph_mode, strict)


# --- lenient validation = upstream's rules (estimator world) ----------------------------


def _intended_difference(kwargs, graph_mode):
    """Inputs where the package documents that it accepts what upstream rejects."""
    if graph_mode:
        return None
    metrics = kwargs.get("eval_metric_ops")
    if isinstance(metrics, dict) and any(
        callable(getattr(v, "update_state", None)) and not isinstance(v, tuple)
        for v in metrics.values()
    ):
        return "eager Keras metric (upstream always rejects it eagerly)"
    if isinstance(kwargs.get("train_op"), tf.Variable):
        return "eager Variable train_op (upstream's `.op` is undefined eagerly)"
    return None


def _outcome(fn, catch):
    try:
        fn()
    except catch as error:
        return f"rejected ({type(error).__name__}: {str(error)[:300]})"
    return "accepted"


@pytest.mark.estimator_world
@pytest.mark.parametrize("graph_mode", _EXECUTION)
@settings(_SETTINGS, max_examples=150)
@given(data=st.data())
def test_lenient_estimator_spec_accepts_exactly_what_upstream_accepts(graph_mode, data):
    """`lenient_validation()` promises upstream's rules: same inputs accepted, same rejected."""
    mode_recipe = data.draw(_ANY_MODE, label="mode")
    recipes = _draw_fields(data, EstimatorSpec)
    with tf.Graph().as_default() if graph_mode else contextlib.nullcontext():
        # Built twice: upstream mutates dicts in place and generators are used up.
        ours_kwargs = {field: recipe.build(graph_mode) for field, recipe in recipes.items()}
        theirs_kwargs = {field: recipe.build(graph_mode) for field, recipe in recipes.items()}
        mode = mode_recipe.build(graph_mode)
        assume(_intended_difference(ours_kwargs, graph_mode) is None)
        theirs = _outcome(lambda: _compat.UPSTREAM_ESTIMATOR_SPEC(mode, **theirs_kwargs), Exception)
        with lenient_validation():
            ours = _outcome(lambda: EstimatorSpec(mode, **ours_kwargs), InvalidSpecError)
    event(f"upstream {theirs.split(' ')[0]}")
    assert ours.split(" ")[0] == theirs.split(" ")[0], f"ours {ours}; upstream {theirs}"


@pytest.mark.estimator_world
@pytest.mark.parametrize("graph_mode", _EXECUTION)
@settings(_SETTINGS, max_examples=150)
@given(data=st.data())
def test_lenient_tpu_estimator_spec_accepts_what_upstream_accepts(graph_mode, data):
    """Every TPUEstimatorSpec upstream builds, `lenient_validation()` builds too.

    One direction only: this package checks the ``(fn, tensors)`` arity against the
    real signature (defaults respected), so it accepts some pairs upstream refused.
    """
    mode_recipe = data.draw(_ANY_MODE, label="mode")
    recipes = _draw_fields(data, TPUEstimatorSpec)
    with tf.Graph().as_default() if graph_mode else contextlib.nullcontext():
        ours_kwargs = {field: recipe.build(graph_mode) for field, recipe in recipes.items()}
        theirs_kwargs = {field: recipe.build(graph_mode) for field, recipe in recipes.items()}
        mode = mode_recipe.build(graph_mode)
        theirs = _outcome(
            lambda: _compat.UPSTREAM_TPU_ESTIMATOR_SPEC(mode, **theirs_kwargs), Exception
        )
        with lenient_validation():
            ours = _outcome(lambda: TPUEstimatorSpec(mode, **ours_kwargs), InvalidSpecError)
    event(f"upstream {theirs.split(' ')[0]}")
    if theirs == "accepted":
        assert ours == "accepted", f"ours {ours}; upstream {theirs}"


_L1 = (
    "_validation.py check_hooks: upstream takes `tuple(hooks or [])`, so any falsy hooks value "
    "('', b'', 0, 0.0, False) is accepted as no hooks; lenient validation rejects it."
)
_L2 = (
    "_validation.py check_eval_metric_ops: eagerly upstream only checks that each value is a "
    "2-tuple (its graph checks are skipped); lenient validation also wants a Tensor value and "
    "an Operation/Tensor update_op, so it rejects e.g. `(tensor, None)`, what `tf.no_op()` "
    "gives eagerly."
)


def _gap(gap_id, reason, graph_mode, make_kwargs):
    del reason  # kept beside each case as its history
    return pytest.param(
        graph_mode, make_kwargs, id=f"{gap_id}-{'graph' if graph_mode else 'eager'}"
    )


_LENIENT_GAPS = [
    _gap(
        "L1",
        _L1,
        True,
        lambda: dict(
            mode=ModeKeys.TRAIN, loss=tf.ones([]), train_op=tf.no_op(), training_chief_hooks=""
        ),
    ),
    _gap("L1", _L1, False, lambda: dict(mode=ModeKeys.EVAL, loss=tf.ones([]), training_hooks=0)),
    _gap(
        "L2",
        _L2,
        False,
        lambda: dict(
            mode=ModeKeys.EVAL, loss=tf.ones([]), eval_metric_ops={"m": (tf.ones([]), None)}
        ),
    ),
]


@pytest.mark.estimator_world
@pytest.mark.parametrize("graph_mode, make_kwargs", _LENIENT_GAPS)
def test_lenient_gap_inputs_are_accepted_like_upstream(graph_mode, make_kwargs):
    with tf.Graph().as_default() if graph_mode else contextlib.nullcontext():
        _compat.UPSTREAM_ESTIMATOR_SPEC(**make_kwargs())  # upstream accepts it
        kwargs = make_kwargs()
        with lenient_validation():
            EstimatorSpec(**kwargs)
