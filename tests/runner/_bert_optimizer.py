"""A BERT-style optimizer and train_op, written for these tests after google-research/bert's
``optimization.py`` (read, not copied): a ``tf.compat.v1.train.Optimizer`` subclass whose
``apply_gradients`` makes its own Adam slots with ``get_variable``, decays weights outside
the excluded names, and never calls ``merge_call``; gradients come from ``tf.gradients``
and are clipped by global norm; the step is incremented in the train_op."""

import re

import tensorflow as tf

from estimator_spec_compat.spec import EstimatorSpec

v1 = tf.compat.v1


class AdamWeightDecayOptimizer(v1.train.Optimizer):
    """Adam with decoupled weight decay, applied variable by variable."""

    def __init__(self, learning_rate, weight_decay_rate=0.01, exclude=("bias", "LayerNorm")):
        super().__init__(use_locking=False, name="AdamWeightDecayOptimizer")
        self.learning_rate = learning_rate
        self.weight_decay_rate = weight_decay_rate
        self.exclude = exclude
        self.beta_1, self.beta_2, self.epsilon = 0.9, 0.999, 1e-6

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        updates = []
        for grad, var in grads_and_vars:
            if grad is None:
                continue
            base = re.sub(r":\d+$", "", var.name)
            slots = [
                v1.get_variable(
                    f"{base}/adam_{slot}",
                    var.shape.as_list(),
                    tf.float32,
                    trainable=False,
                    initializer=v1.zeros_initializer(),
                )
                for slot in ("m", "v")
            ]
            m = self.beta_1 * slots[0] + (1.0 - self.beta_1) * grad
            v = self.beta_2 * slots[1] + (1.0 - self.beta_2) * tf.square(grad)
            step = m / (tf.sqrt(v) + self.epsilon)
            if not any(re.search(pattern, base) for pattern in self.exclude):
                step += self.weight_decay_rate * var
            updates += [
                var.assign(var - self.learning_rate * step),
                slots[0].assign(m),
                slots[1].assign(v),
            ]
        return tf.group(*updates, name=name)


def model_fn(features, labels, mode, params):
    """A two-layer classifier trained with `bert_train_op` (``params['all_reduce']``)."""
    x = features["x"]
    with v1.variable_scope("layer_0"):
        w0 = v1.get_variable("kernel", [6, 8], initializer=v1.glorot_uniform_initializer(1))
        b0 = v1.get_variable("bias", [8], initializer=v1.zeros_initializer())
    with v1.variable_scope("output"):
        w1 = v1.get_variable("kernel", [8, 2], initializer=v1.glorot_uniform_initializer(2))
    logits = tf.matmul(tf.nn.relu(tf.matmul(x, w0) + b0), w1)
    loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
    train_op = bert_train_op(loss, all_reduce=params.get("all_reduce", False))
    return EstimatorSpec(mode, loss=loss, train_op=train_op)


def bert_train_op(loss, learning_rate=0.01, num_train_steps=100, all_reduce=False):
    """BERT's ``create_optimizer``: linear decay, tf.gradients, clipping, step + 1 after.

    With ``all_reduce`` the gradients are averaged across replicas first (the fix the
    runner's error proposes).
    """
    global_step = v1.train.get_or_create_global_step()
    lr = v1.train.polynomial_decay(learning_rate, global_step, num_train_steps, 0.0, power=1.0)
    optimizer = AdamWeightDecayOptimizer(lr)
    variables = v1.trainable_variables()
    grads = tf.gradients(loss, variables)
    if all_reduce:
        grads = tf.distribute.get_replica_context().all_reduce("mean", grads)
    grads, _ = tf.clip_by_global_norm(grads, clip_norm=1.0)
    update = optimizer.apply_gradients(zip(grads, variables), global_step=global_step)
    with tf.control_dependencies([update]):  # ordered: see REFERENCE (BERT's own is racy)
        return global_step.assign_add(1)
