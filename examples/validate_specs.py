"""Builds and validates the specs of a legacy model_fn in every mode, as Estimator would.

Run it in either world:

    python examples/validate_specs.py

The model_fn below is unchanged TF1 Estimator code apart from its import of the
spec classes. It is called in a fresh ``tf.Graph`` per mode, like Estimator
does; then a deliberately broken TPU spec shows what strict validation reports.
"""

import numpy as np
import tensorflow as tf

from estimator_spec_compat import InvalidSpecError, ModeKeys, TPUEstimatorSpec


def model_fn(features, labels, mode, params):
    """A TPU-style legacy model_fn: get_variable, v1 losses and optimizer, eval_metrics."""
    w = tf.compat.v1.get_variable("w", [4, 3])
    b = tf.compat.v1.get_variable("b", [3], initializer=tf.compat.v1.zeros_initializer())
    logits = tf.matmul(features["x"], w) + b
    predictions = {"classes": tf.argmax(logits, 1), "probabilities": tf.nn.softmax(logits)}
    if mode == ModeKeys.PREDICT:
        return TPUEstimatorSpec(mode=mode, predictions=predictions)
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
    optimizer = tf.compat.v1.train.AdamOptimizer(params["learning_rate"])
    train_op = optimizer.minimize(loss, global_step=tf.compat.v1.train.get_or_create_global_step())

    def metric_fn(labels, logits):
        return {"accuracy": tf.compat.v1.metrics.accuracy(labels, tf.argmax(logits, 1))}

    return TPUEstimatorSpec(
        mode=mode,
        loss=loss,
        train_op=train_op,
        eval_metrics=(metric_fn, {"labels": labels, "logits": logits}),
    )


def main():
    rng = np.random.default_rng(0)
    for mode in (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT):
        with tf.Graph().as_default():
            features = {"x": tf.constant(rng.normal(size=(8, 4)), tf.float32)}
            labels = tf.constant(rng.integers(0, 3, size=8), tf.int64)
            spec = model_fn(features, labels, mode, {"learning_rate": 0.01, "batch_size": 8})
            cpu_spec = spec.as_estimator_spec()
            print(f"{mode:>5}: valid; CPU spec fields set: {_set_fields(cpu_spec)}")

    print("\nA broken spec (metric_fn keyword typo, scalar host_call tensor, int loss):")
    with tf.Graph().as_default():
        logits = tf.zeros([8, 3])

        def metric_fn(labels, logits):
            return {}

        try:
            TPUEstimatorSpec(
                mode=ModeKeys.EVAL,
                loss=tf.constant(1),
                eval_metrics=(metric_fn, {"label": tf.zeros([8]), "logits": logits}),
                host_call=(lambda loss: [], [tf.constant(1.0)]),
            )
        except InvalidSpecError as error:
            print(error)


def _set_fields(spec):
    return [name for name, value in spec._asdict().items() if value not in (None, {}, ())]


if __name__ == "__main__":
    main()
