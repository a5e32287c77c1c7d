"""TF2 forms of the pieces of an EstimatorSpec / TPUEstimatorSpec.

* TPU spec -> CPU spec: `tpu_to_cpu_spec`, `eval_metrics_to_ops`.
* Metrics: `LegacyMetrics` runs a ``metric_fn`` / ``tf.compat.v1.metrics``
  unchanged on Keras metrics; `to_keras_metric` for rewriting.
* Optimizers: `to_keras_optimizer`, `transfer_slots`; learning-rate decays:
  `to_keras_schedule`, `keras_schedule_from_v1`.
* Export: `build_signatures`, `save_serving_model`, `export_serving_model` and
  serving input receivers.
* Summaries: `run_host_call`.
* Hooks: `to_callbacks` and the TF2 training-loop callbacks.
"""

from estimator_spec_compat.convert.hooks import (
    CallbackList,
    CheckpointSaverCallback,
    FinalOpsCallback,
    LoggingTensorCallback,
    NanLossCallback,
    StepCounterCallback,
    StopAtStepCallback,
    SummarySaverCallback,
    TrainingCallback,
    TrainingContext,
    to_callback,
    to_callbacks,
)
from estimator_spec_compat.convert.metrics import (
    LegacyMetrics,
    supported_v1_metrics,
    to_keras_metric,
)
from estimator_spec_compat.convert.optimizers import to_keras_optimizer, transfer_slots
from estimator_spec_compat.convert.schedules import keras_schedule_from_v1, to_keras_schedule
from estimator_spec_compat.convert.serving import (
    ServingInputReceiver,
    TensorServingInputReceiver,
    build_parsing_serving_input_receiver_fn,
    build_raw_serving_input_receiver_fn,
)
from estimator_spec_compat.convert.signatures import (
    ServingSignatures,
    build_signatures,
    export_serving_model,
    save_serving_model,
)
from estimator_spec_compat.convert.specs import tpu_to_cpu_spec
from estimator_spec_compat.convert.summaries import run_host_call
from estimator_spec_compat.tpu_spec import eval_metrics_to_ops

__all__ = [
    "CallbackList",
    "CheckpointSaverCallback",
    "FinalOpsCallback",
    "LegacyMetrics",
    "LoggingTensorCallback",
    "NanLossCallback",
    "ServingInputReceiver",
    "ServingSignatures",
    "StepCounterCallback",
    "StopAtStepCallback",
    "SummarySaverCallback",
    "TensorServingInputReceiver",
    "TrainingCallback",
    "TrainingContext",
    "build_parsing_serving_input_receiver_fn",
    "build_raw_serving_input_receiver_fn",
    "build_signatures",
    "eval_metrics_to_ops",
    "export_serving_model",
    "keras_schedule_from_v1",
    "run_host_call",
    "save_serving_model",
    "supported_v1_metrics",
    "to_callback",
    "to_callbacks",
    "to_keras_metric",
    "to_keras_optimizer",
    "to_keras_schedule",
    "tpu_to_cpu_spec",
    "transfer_slots",
]
