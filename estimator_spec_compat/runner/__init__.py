"""A TF2 runner for unchanged legacy Estimator model_fns: `Runner`, `RunnerConfig`.

Design of `Runner` (measured on TF 2.15.1 and 2.21.0, CPU; tested against the real
Estimator).
What failed first: ``tf.compat.v1.make_template`` cannot make v1 optimizer slots,
variables cannot be made inside ``strategy.run``, and ``tf.function`` runs every
stateful op a model_fn builds (a train_op built in EVAL mode trains).

1. **A variable store** (`_store`), not make_template: a variable creator that TF
   calls before any other (strategy and tf.function creators included) serves
   each creation by its TF1 name (``dense/kernel``, ``dense/kernel/Adam``,
   ``beta1_power``, ``global_step``; the runner's own ``while/``, ``cond/``,
   ``replica_1/`` scopes stripped). A name is created once, lifted out of the
   graph with ``tf.init_scope()`` under ``strategy.scope()``, and only during a
   build; later traces get the stored variable back. Estimator checkpoints map
   onto these names one to one, in both directions (`_checkpoint`); the parts of
   a partitioned variable (``name/part_0`` ...) are saved and restored as slices
   of the full name, as TF1's Saver did (`_partitions`); under several replicas
   partitioners are ignored, as in Estimator's ``train_distribute`` scope. While a
   model_fn is traced, the stored (eager) variables answer TF1's ``op`` (named
   as the variable) and ``initial_value`` (`_tf1_variables`): v1 optimizers'
   slot creation and user optimizers read them, as TF1 named slots.
2. **Fresh TF1 graph state per call**: the store clears the collections a
   tf.function graph shares with its outer graph (variable lists, v1 variable
   store; not again for later local replicas, which reuse the first's, as in
   Estimator's distributed graph), puts the global step in GLOBAL_STEP, and
   adds each variable it hands out to the collections TF1 would; UPDATE_OPS
   and REGULARIZATION_LOSSES are the call's own, as in an Estimator graph.
3. **Session semantics by pruning** (`_v1_graph`): in every mode the model_fn is
   traced once into a v1 graph with ``tf.compat.v1.wrap_function`` and pruned
   to the fetches Estimator fetched (loss + train_op; metric updates;
   predictions). On one replica that tracing, with the store open, is also the
   build. Metric values are read once after the last batch.
4. **Several replicas** (`_programs`): v1 optimizers all-reduce in replica context
   through ``merge_call``, so the TRAIN model_fn runs inside ``strategy.run``,
   itself traced into the pruned v1 graph (as Estimator's distributed graphs);
   a build trace outside any replica context (never run; the global step a
   stand-in) makes the variables first. The strategy's Estimator loss scaling
   is on, so v1 optimizers divide a mean loss by the replica count, as Estimator
   did. EVAL/PREDICT run the pruned graph on each replica over plain copies of
   the weights; TPU ``eval_metrics`` and ``host_call`` tensors are gathered across
   replicas first (TPU semantics); metric variables are plain, updated by every
   replica, so results equal one device's.
   Custom optimizers (`_replica_updates`): a v1 Optimizer subclass that overrides
   ``apply_gradients`` without ``merge_call`` and is fed ``tf.gradients`` (BERT's
   ``AdamWeightDecayOptimizer``) writes each replica's copy from that replica's
   batch alone. Measured: ``Estimator(train_distribute=MirroredStrategy)`` ran it
   silently, its checkpoint equal to one device trained on one batch in two. The
   runner refuses it before the first step instead: in the traced step, a write to
   a trainable variable whose value reads some replicas' inputs but not all
   (collectives count as all) names the variables, the optimizer class (found
   from the op's traceback) and the fix: one replica, or
   ``replica_context.all_reduce('mean', grads)`` first, which then trains exactly
   as one device on the same global batch. Every replica after a worker's first
   keeps the first one's TF1 state (variable store, collections), as Estimator's
   ``reuse=True`` replicas did, so ``get_variable`` after a ``merge_call`` works.
5. **Many steps per call** (`_loops`): ``steps_per_loop`` steps in one
   ``tf.function`` (``autograph=False``: the model_fn is not converted) with a
   ``tf.while_loop``; the step count is a tensor, so nothing retraces, and each
   ``train`` call binds the loop's concrete function to its iterator once. Logs,
   summaries and checkpoints happen between loops, each only when due
   (`_reporting`). Iterators are released on a helper thread
   (`_data.release_in_background`): destroying one waits up to ~0.5 s for
   tf.data's autotuning thread, which ``train`` and ``evaluate`` need not.
   Checkpoints follow Estimator's cadence (`_hooks.Saves`): the starting state,
   every ``save_checkpoints_steps`` or ``save_checkpoints_secs`` (600 s by
   default), the end; ``saving_listeners`` around each save. Before any of that,
   a NaN loss (the loop ends at that step) or a global step that does not move
   stops training with an error (`_checks`), so no checkpoint holds a NaN step.
   The chief holds a lock on ``model_dir`` while training (`_lock`): a second
   live writer is refused; what a killed save left is removed. The model_fn's
   own ``tf.compat.v1.summary`` ops are computed by the same step function
   (`_summaries`: a second function would hold its own kernels of seeded random
   ops, whose sequences would then differ from Estimator's), rebuilt under a
   ``tf.cond`` on a flag the loop sets for its last step when a summary is due.
6. **Hooks** (`_hooks`): standard SessionRunHooks (``hooks=`` of train, evaluate
   and predict; the spec's ``training_hooks``, ``training_chief_hooks`` on the
   chief, ``evaluation_hooks``, ``prediction_hooks``) become `convert.hooks`
   callbacks, fed each step from the pruned graph: one step per call then; under
   several replicas they see the first replica's tensors, as Estimator's did.
7. **Warm starts and Scaffold** (`_scaffold`): ``init_from_checkpoint`` (in the
   model_fn or a TPU ``scaffold_fn``) is read back from the traced graph and
   applied when ``model_dir`` has no checkpoint, as its TF1 initializers were;
   then the spec's ``Scaffold.init_fn`` (or ``scaffold_fn()``'s) is called, as
   SessionManager called it, with a Session stand-in that runs the pruned graph
   (``saver.restore(session, path)``, assign ops, feeds). The Scaffold saver's
   ``max_to_keep`` is the number of checkpoints kept; other Scaffold fields
   (``init_op``, ``local_init_op``, ``ready_op``, ``summary_op``, other Saver
   settings) are ignored with one WARNING naming them. ``warm_start_from``
   (`_warm_start`) follows Estimator's WarmStartSettings rules, also on a fresh
   ``model_dir`` only.
8. **A Keras optimizer instead** (``RunnerConfig(optimizer="keras")``,
   `_keras_optimizer`): while tracing, v1 ``apply_gradients`` is patched; the
   v1 optimizer is converted once (`convert.optimizers`), decays become Keras
   schedules, its state is checkpointed as ``keras_optimizer/...``, and a v1
   checkpoint's slots are transferred on resume.
9. **Several workers** (`_cluster`): under MultiWorkerMirroredStrategy only the
   chief writes checkpoints and summaries into the shared ``model_dir``; every
   worker waits at the end of ``train`` until the chief's checkpoint is written.
10. **TF1 input_fns** (`_data`, `_tensor_input`): ``input_fn`` is called eagerly;
   if it returns tensors instead of a dataset (or raises a RuntimeError, as
   graph-only APIs do), it is traced once more in a v1 graph, as Estimator
   called it. The dataset behind each iterator it read is recovered from that
   graph and what it computed from ``get_next()`` becomes a ``map``; tensors of
   no iterator are computed anew each step (a constant batch once, repeated).
   The loops then see an ordinary dataset: same semantics, same speed.
11. **TF1 mode switches** (`_tf1_mode`): under ``tf.compat.v1.disable_v2_behavior()``
   (or ``disable_eager_execution()``) each public `Runner` method switches its
   thread back to eager execution while it runs; the model_fn is traced into v1
   graphs as before, so v1 shapes, control flow and reference variables are what
   it sees. Tested: the same numbers as without each switch.
12. **Ctrl-C and preemption** (`_interrupt`, one process): SIGINT / SIGTERM during
   ``train`` stop it after the loop in progress; the checkpoint of that step is
   saved and `TrainingInterrupted` raised (a second signal aborts at once).

Known differences from Estimator: hooks need a Session (they are converted,
see 6); an init_fn gets a Session stand-in (``run`` and ``graph`` only);
Scaffold ops other than ``init_fn`` are not run (see 7); graph-level
``tf_random_seed`` is TF's global seed (and Python's ``random``, which Keras 2
layers draw seeds from) while the runner builds, restored afterwards (seeded
ops give Estimator's values); evaluation and summaries go to event files written
with ``tf.summary``. Untested on hardware: TPUStrategy (the replicated TRAIN
step traces ``strategy.run`` into a v1 graph, which TPUs were never run with)
and GPUs (MirroredStrategy is tested over logical CPU devices)."""

from estimator_spec_compat.runner._interrupt import TrainingInterrupted
from estimator_spec_compat.runner._warm_start import WarmStartSettings
from estimator_spec_compat.runner.config import RunnerConfig
from estimator_spec_compat.runner.runner import Runner

__all__ = ["Runner", "RunnerConfig", "TrainingInterrupted", "WarmStartSettings"]
