"""A tf.distribute runner for legacy Estimator model_fns."""
