"""One legacy model_fn that trains a small tower per v1 optimizer, for the optimizer tests.

Loaded by path (also inside subprocesses). Each tower (``<optimizer>/emb``,
``<optimizer>/w``, ``<optimizer>/b``) has an embedding looked up with
``tf.nn.embedding_lookup`` (IndexedSlices gradients: the optimizers' sparse paths) and
a dense layer (dense gradients), and is trained by its own optimizer on its own loss,
so one Estimator/Session/runner run serves every optimizer. Initial values are
constants: no seeds involved. The global step is incremented after every update, so
AdagradDA reads it in a fixed order.
"""

import numpy as np
import tensorflow as tf

from estimator_spec_compat import ModeKeys
from estimator_spec_compat.spec import EstimatorSpec

v1 = tf.compat.v1
VOCAB, DIM, N_DENSE, ROWS = 12, 3, 2, 64
_RNG = np.random.RandomState(11)
EMB0 = _RNG.uniform(-0.5, 0.5, (VOCAB, DIM)).astype("float32")
W0 = _RNG.uniform(-0.5, 0.5, (DIM + N_DENSE, 1)).astype("float32")


class UserSlotsOptimizer(v1.train.Optimizer):
    """Heavy ball with a decaying per-weight scale, as user code wrote optimizers: overrides
    ``_create_slots`` (names and initial values from the primary's ``op.name`` and
    ``initial_value``), ``_prepare``, ``_apply_dense`` (aliased for resource variables)
    and ``_resource_apply_sparse``."""

    def __init__(self, learning_rate, name="UserSlots"):
        super().__init__(use_locking=False, name=name)
        self._lr = learning_rate

    def _create_slots(self, var_list):
        for v in var_list:
            self._zeros_slot(v, "velocity", self._name)
            scale_name = v.op.name.split("/")[-1] + "_scale"
            self._get_or_make_slot(v, tf.ones_like(v.initial_value), "scale", scale_name)

    def _prepare(self):
        self._lr_t = tf.convert_to_tensor(self._lr, name="learning_rate")

    def _apply_dense(self, grad, var):
        velocity, scale = self.get_slot(var, "velocity"), self.get_slot(var, "scale")
        new_velocity = v1.assign(velocity, 0.9 * velocity + grad * scale)
        with tf.control_dependencies([new_velocity]):
            decay = v1.assign(scale, scale * 0.95)
        return tf.group(v1.assign_sub(var, self._lr_t * new_velocity), decay)

    def _resource_apply_dense(self, grad, handle):
        return self._apply_dense(grad, handle)

    def _resource_apply_sparse(self, grad, handle, indices):
        velocity, scale = self.get_slot(handle, "velocity"), self.get_slot(handle, "scale")
        rows = tf.gather(velocity, indices) * 0.9 + grad * tf.gather(scale, indices)
        return tf.group(
            v1.scatter_update(velocity, indices, rows),
            v1.scatter_sub(handle, indices, self._lr_t * rows),
        )


class UserAccumulatorOptimizer(v1.train.Optimizer):
    """Adagrad-like, with slots from ``_get_or_make_slot_with_initializer`` and
    ``_zeros_slot`` (both named after the optimizer: ``w/UserAcc``, ``w/UserAcc_1``)."""

    def __init__(self, learning_rate, name="UserAcc"):
        super().__init__(use_locking=False, name=name)
        self._lr = learning_rate

    def _create_slots(self, var_list):
        for v in var_list:
            init = v1.constant_initializer(0.5)
            dtype = v.dtype.base_dtype
            self._get_or_make_slot_with_initializer(v, init, v.shape, dtype, "acc", self._name)
            self._zeros_slot(v, "last", self._name)

    def _resource_apply_dense(self, grad, var):
        acc = v1.assign_add(self.get_slot(var, "acc"), grad * grad)
        step = v1.assign_sub(var, self._lr * grad * tf.math.rsqrt(acc))
        return tf.group(step, v1.assign(self.get_slot(var, "last"), grad))

    def _resource_apply_sparse(self, grad, var, indices):
        acc = v1.scatter_add(self.get_slot(var, "acc"), indices, grad * grad)
        step = v1.scatter_sub(
            var, indices, self._lr * grad * tf.math.rsqrt(tf.gather(acc, indices))
        )
        return tf.group(step, v1.scatter_update(self.get_slot(var, "last"), indices, grad))


#: name -> optimizer factory (given the global step).
OPTIMIZERS = {
    "sgd": lambda step: v1.train.GradientDescentOptimizer(0.1),
    "momentum": lambda step: v1.train.MomentumOptimizer(0.05, 0.9),
    "nesterov": lambda step: v1.train.MomentumOptimizer(0.05, 0.9, use_nesterov=True),
    "adam": lambda step: v1.train.AdamOptimizer(0.05),
    "adagrad": lambda step: v1.train.AdagradOptimizer(0.1, initial_accumulator_value=0.2),
    "adagrad_da": lambda step: v1.train.AdagradDAOptimizer(
        0.1, step, l1_regularization_strength=0.001, l2_regularization_strength=0.01
    ),
    "adadelta": lambda step: v1.train.AdadeltaOptimizer(1.0, rho=0.9, epsilon=1e-6),
    "rmsprop": lambda step: v1.train.RMSPropOptimizer(0.01),
    "rmsprop_centered": lambda step: v1.train.RMSPropOptimizer(0.01, momentum=0.5, centered=True),
    "ftrl": lambda step: v1.train.FtrlOptimizer(
        0.1,
        l1_regularization_strength=0.01,
        l2_regularization_strength=0.01,
        l2_shrinkage_regularization_strength=0.01,
    ),
    "ftrl_named": lambda step: v1.train.FtrlOptimizer(
        0.1, learning_rate_power=-0.6, accum_name="acc", linear_name="lin"
    ),
    "proximal_sgd": lambda step: v1.train.ProximalGradientDescentOptimizer(
        0.1, l1_regularization_strength=0.01, l2_regularization_strength=0.01
    ),
    "proximal_adagrad": lambda step: v1.train.ProximalAdagradOptimizer(
        0.1, l1_regularization_strength=0.01, l2_regularization_strength=0.01
    ),
    "user_slots": lambda step: UserSlotsOptimizer(0.05),
    "user_acc": lambda step: UserAccumulatorOptimizer(0.1),
}


def data(n=ROWS, seed=0):
    """``({"ids": [n, 2] int64, "x": [n, 2] float32}, y [n] float32)``."""
    rng = np.random.RandomState(seed)
    ids = rng.randint(0, VOCAB, (n, 2)).astype("int64")
    x = rng.randn(n, N_DENSE).astype("float32")
    y = (np.sin(ids[:, 0]) + x[:, 0] - 0.5 * x[:, 1]).astype("float32")
    return {"ids": ids, "x": x}, y


def train_input_fn(params):
    """Repeated batches (``params['batch_size']`` when given, else 8), static size."""
    features, y = data()
    ds = tf.data.Dataset.from_tensor_slices((features, y)).repeat()
    return ds.batch(params.get("batch_size", 8), drop_remainder=True)


def eval_input_fn(params):
    """One pass over other data (32 rows: no remainder, static batches for replicas)."""
    features, y = data(32, seed=1)
    ds = tf.data.Dataset.from_tensor_slices((features, y))
    return ds.batch(params.get("batch_size", 8), drop_remainder=True)


def _tower(features, labels):
    emb = v1.get_variable("emb", initializer=EMB0)
    w = v1.get_variable("w", initializer=W0)
    b = v1.get_variable("b", [1], initializer=v1.zeros_initializer())
    pooled = tf.reduce_mean(tf.nn.embedding_lookup(emb, features["ids"]), axis=1)
    pred = tf.matmul(tf.concat([pooled, features["x"]], 1), w)[:, 0] + b
    return pred, tf.reduce_mean(tf.square(pred - labels)), [emb, w, b]


def model_fn(features, labels, mode, params):
    """A tower per name in ``params['optimizers']``; the loss is their sum."""
    step = v1.train.get_global_step()
    losses, updates, metrics = [], [], {}
    for name in params["optimizers"]:
        with v1.variable_scope(name):
            pred, loss, variables = _tower(features, labels)
        losses.append(loss)
        metrics[f"mse/{name}"] = v1.metrics.mean_squared_error(labels, pred)
        # Built in every mode, as legacy model_fns did (Estimator ran it in TRAIN only).
        optimizer = OPTIMIZERS[name](step)
        updates.append(optimizer.minimize(loss, var_list=variables))
        for var in variables:  # slots are found again from the primary (in each replica)
            for slot in optimizer.get_slot_names():
                if optimizer.get_slot(var, slot) is None:
                    raise AssertionError(f"no slot {slot!r} for {var.name}")
    loss = tf.add_n(losses)
    if mode != ModeKeys.TRAIN:
        return EstimatorSpec(mode, loss=loss, eval_metric_ops=metrics)
    with tf.control_dependencies(updates):
        train_op = v1.assign_add(step, 1)
    return EstimatorSpec(mode, loss=loss, train_op=train_op)
