"""One training process per ``model_dir``: a lock the chief holds while ``train`` runs.

Two processes training into one ``model_dir`` overwrite each other's same-numbered
checkpoints and delete each other's files. Estimator did not prevent it; the runner
refuses the second one. The lock is ``fcntl.flock`` on ``model_dir/.train.lock``:
the kernel releases it when its process ends, however it ends (SIGKILL included),
so a killed run never leaves it stuck. The file itself stays (empty of meaning
once unlocked); it names the holder (pid and host) for the error message.

Only the chief takes it (under MultiWorkerMirroredStrategy the other workers write
nothing into ``model_dir``), and only during ``train``: evaluating, predicting
and exporting from another process while one trains are fine, as under
Estimator. Holding the lock also makes every ``.tmp-ckpt-*`` folder in
``model_dir`` stale: they are removed then (`_checkpoint.remove_stale_temp_files`).

Where ``fcntl`` is missing (Windows) or ``model_dir`` is not a local path
(``gs://...``), no lock is taken.
"""

import contextlib
import os
import socket

from estimator_spec_compat.runner import _checkpoint

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_FILE = ".train.lock"


class ModelDirInUseError(RuntimeError):
    """Another live process is training into the same ``model_dir``."""


@contextlib.contextmanager
def exclusive_writer(model_dir):
    """Holds ``model_dir``'s training lock, after removing stale temporary files.

    Raises:
      ModelDirInUseError: if another process holds the lock (naming it and the fix).
    """
    if fcntl is None or "://" in str(model_dir):
        yield
        return
    os.makedirs(model_dir, exist_ok=True)
    path = os.path.join(model_dir, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise ModelDirInUseError(
                f"`model_dir` ({model_dir}) is in use: {holder} is training into it (it holds "
                f"{path}). Two trainings into one model_dir overwrite each other's "
                "checkpoints. Wait for that run to end (or stop it), or give this one another "
                "model_dir."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        _checkpoint.remove_stale_temp_files(model_dir)
        yield
    finally:
        os.close(fd)  # releases the lock
