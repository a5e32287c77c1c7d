"""``Runner.export_saved_model``: the model_fn's PREDICT graph as a serving SavedModel.

The model_fn is called on the receiver's features (labels None, PREDICT mode);
variables it has not made yet are made once by a first, discarded build, then
the checkpoint is loaded into them; signatures come from ``export_outputs``
(`convert.signatures`), written atomically into a timestamped directory.
"""

import contextlib

from estimator_spec_compat._compat import ModeKeys, tf
from estimator_spec_compat.convert import serving as serving_lib
from estimator_spec_compat.convert import signatures as signatures_lib
from estimator_spec_compat.runner import _checkpoint


def export(programs, prefix, export_dir_base, serving_input_receiver_fn, **options):
    """Exports checkpoint ``prefix`` as a serving SavedModel (Estimator's layout).

    Args:
      programs: the runner's `Programs`.
      prefix: the checkpoint to serve.
      export_dir_base: where the timestamped export directory is made.
      serving_input_receiver_fn: returns a ServingInputReceiver.
      **options: ``assets_extra``, ``as_text`` (`convert.signatures.export_serving_model`).

    Returns:
      The export directory (a str).
    """

    def model_call(features):
        return programs.call_model_fn(features, ModeKeys.PREDICT)

    view = programs.store.plain_copies() if programs.num_replicas > 1 else contextlib.nullcontext()
    names = set()

    def build():  # a discarded v1 graph that only makes missing variables
        with programs.store.creator_scope():
            model_call(serving_lib.check_receiver(serving_input_receiver_fn()).features)

    with view, programs.scope(build=True, record=names):
        tf.compat.v1.wrap_function(build, [])
    saved = programs.store.global_variables
    _checkpoint.restore(prefix, {n: saved[n] for n in names if n in saved})
    programs.store.sync_copies()
    root = tf.Module()
    with view, programs.scope():
        signatures = signatures_lib.build_signatures(model_call, serving_input_receiver_fn)
        root.variables_ = list(signatures.variables) + programs.store.handed_out(names)
        return signatures_lib.export_serving_model(
            export_dir_base, model_call, serving_input_receiver_fn, root=root, **options
        )
