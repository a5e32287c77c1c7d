"""``Runner.predict``'s loop: batch by batch, padded where replicas need static shapes."""

from estimator_spec_compat._compat import tf
from estimator_spec_compat.runner import _data
from estimator_spec_compat.runner._progress import Progress, known_batches


def run_predict(programs, dataset, predict_keys, single, batch_size=None, hooked=None):
    """Yields predictions batch by batch.

    A partial batch is padded (its last row repeated) to the full batch, and the
    padding stripped from the predictions, where the model needs static shapes:
    under several replicas, and where a ``predict_batch_size`` is given (TPU
    style; TPUEstimator padded the same way). ``hooked``: a
    `_hooks.HookedPrediction` whose callbacks see every batch.
    """
    step = programs.predict_step() if hooked is None else hooked.step
    full = batch_size
    box = [iter(dataset)]  # the iterator's only owner once the loop ends
    progress = Progress("predict", 0, known_batches(dataset))
    try:
        for done, element in enumerate(box[0], 1):
            rows = int(tf.nest.flatten(element)[0].shape[0])
            if programs.num_replicas > 1 or batch_size:
                full = full or _round_up(rows, programs.num_replicas)
                element, rows = _data.pad_batch(element, full)
            with programs.scope():
                out, logs = step(element)
            progress.update(done)
            yield from _emit(out, rows, predict_keys, single)
            if hooked is not None and hooked.after_batch(logs):
                break
        progress.finish()
        if hooked is not None:  # not after an error or close(), as under Estimator
            hooked.end()
    finally:
        _data.release_in_background(box)


def _round_up(n, k):
    return -(-n // k) * k


def _emit(out, rows, predict_keys, single):
    if isinstance(out, dict):
        if predict_keys is not None:
            missing = sorted(set(predict_keys) - set(out))
            if missing:
                raise ValueError(
                    f"`predict_keys` {missing} are not among the predictions {sorted(out)}."
                )
            out = {k: out[k] for k in predict_keys}
        batch = {k: v.numpy()[:rows] for k, v in out.items()}
        if not single:
            yield batch
            return
        for i in range(rows):
            yield {k: v[i] for k, v in batch.items()}
        return
    values = out.numpy()[:rows]
    if not single:
        yield values
        return
    yield from values
