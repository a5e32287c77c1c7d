"""The ``estimator-spec-compat`` command's implementation; its entry point is ``cli.main``.

* ``loading``: ``MODULE:NAME`` references, ``--params``, and the two errors
  ``main`` turns into exit statuses.
* ``check``: the ``check`` command (a model_fn called in each mode, specs
  validated strictly).
* ``run``: the ``run`` command (train, then evaluate, with the runner).
"""
