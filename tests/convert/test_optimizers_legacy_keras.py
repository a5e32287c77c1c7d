"""The optimizer and schedule converters under tf_keras (TF_USE_LEGACY_KERAS=1).

Runs in a fresh interpreter because the variable must be set before TF is
imported.  Each case compares the Keras optimizer with the real v1 optimizer
(50 steps) or, for slots, with v1 continuing after an eager transfer.
"""

import json

import pytest

CODE = """
import json
import numpy as np
import tensorflow as tf
from estimator_spec_compat.convert import optimizers, schedules

V1 = tf.compat.v1.train
rng = np.random.default_rng(0)
SHAPES = [(3,), (4, 5), ()]
inits = [rng.normal(size=s).astype(np.float32) for s in SHAPES]
grads = [[rng.normal(size=s).astype(np.float32) for s in SHAPES] for _ in range(50)]
CASES = {
    "sgd": lambda step: V1.GradientDescentOptimizer(0.1),
    "nesterov": lambda step: V1.MomentumOptimizer(0.05, 0.9, use_nesterov=True),
    "adam": lambda step: V1.AdamOptimizer(0.01),
    "adam_decay": lambda step: V1.AdamOptimizer(V1.exponential_decay(0.05, step, 7, 0.5, True)),
    "adagrad": lambda step: V1.AdagradOptimizer(0.1, 0.3),
    "adadelta": lambda step: V1.AdadeltaOptimizer(1.0, 0.9, 1e-6),
    "rmsprop": lambda step: V1.RMSPropOptimizer(0.01, 0.8, 0.5, centered=True),
    "ftrl": lambda step: V1.FtrlOptimizer(0.1, l1_regularization_strength=0.01, beta=0.1),
}

def run(make, transfer_at=None):
    step = tf.Variable(0, dtype=tf.int64)
    v1_opt = make(step)
    v1_vars = [tf.Variable(x) for x in inits]
    keras_vars = [tf.Variable(x) for x in inits]
    keras_opt = optimizers.to_keras_optimizer(v1_opt, var_list=keras_vars)
    for index, g in enumerate(grads):
        if index == transfer_at:
            for a, b in zip(keras_vars, v1_vars):
                a.assign(b)
            keras_opt = optimizers.to_keras_optimizer(v1_opt, var_list=keras_vars)
            optimizers.transfer_slots(
                v1_opt, keras_opt, keras_vars, v1_vars=v1_vars, iterations=int(step.numpy()))
        v1_opt.apply_gradients(zip(map(tf.constant, g), v1_vars), global_step=step)
        if transfer_at is None or index >= transfer_at:
            keras_opt.apply_gradients(zip(map(tf.constant, g), keras_vars))
    errors = [
        float(np.max(np.abs(k.numpy() - v.numpy()) - 1e-5 * np.abs(v.numpy())))
        for k, v in zip(keras_vars, v1_vars)
    ]
    return max(errors), type(keras_opt).__module__

result = {name: run(make) for name, make in CASES.items()}
result.update({name + "_transfer": run(make, transfer_at=20) for name, make in CASES.items()})
print(json.dumps(result))
"""


@pytest.mark.modern_world
def test_converters_under_tf_keras(python_subprocess):
    result = json.loads(
        python_subprocess(CODE, env={"TF_USE_LEGACY_KERAS": "1"}).strip().splitlines()[-1]
    )
    assert len(result) == 16
    for case, (excess, module) in result.items():
        assert module.startswith("tf_keras."), (case, module)
        # |keras - v1| <= 1e-5 * |v1| + 1e-6, elementwise.
        assert excess <= 1e-6, (case, excess)
