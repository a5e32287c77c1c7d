"""Where this process stands in a multi-worker cluster, and what only the chief does.

Under ``MultiWorkerMirroredStrategy`` every worker runs the same program and
holds the same variables. As under Estimator, only the chief writes
checkpoints and summaries to ``model_dir`` (a shared path, e.g. on GCS); the
others skip those writes. At the end of ``train`` every worker waits for the
others (a one-number all-reduce), so none restores ``model_dir`` in its next
call before the chief's last checkpoint is complete (saves during training,
possibly timed, need no agreement: nobody restores then). One process is its
own chief.
"""

import dataclasses

from estimator_spec_compat._compat import tf


@dataclasses.dataclass(frozen=True)
class ClusterFacts:
    """RunConfig's view of the cluster (``is_chief``, ``task_type`` ...), from the strategy."""

    is_chief: bool = True
    task_type: str = "worker"
    task_id: int = 0
    num_worker_replicas: int = 1


def cluster_facts(strategy):
    """The `ClusterFacts` of this process under ``strategy``."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if resolver is None or task_type is None:
        return ClusterFacts()
    jobs = resolver.cluster_spec().as_dict()
    return ClusterFacts(
        is_chief=bool(strategy.extended.should_checkpoint),
        task_type=task_type,
        task_id=int(resolver.task_id or 0),
        num_worker_replicas=sum(len(jobs.get(job, ())) for job in ("chief", "worker")) or 1,
    )


class Barrier:
    """Blocks until every worker of ``strategy`` has called it (a no-op for one worker)."""

    def __init__(self, strategy, workers):
        self._wait = None
        if workers > 1:

            @tf.function(autograph=False)
            def wait():
                def replica():
                    ctx = tf.distribute.get_replica_context()
                    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.constant(1.0))

                return strategy.run(replica)

            self._wait = wait

    def __call__(self):
        if self._wait is not None:
            self._wait()
