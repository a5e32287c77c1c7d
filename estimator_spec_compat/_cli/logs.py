"""The command line's logging: the runner's lines on stderr, and a progress line on a terminal.

The library configures no logging (a library user keeps control through
``logging``); the command line calls `configure_logging`, which a script may
call too. On a terminal the runner's `ProgressUpdate` records become one line
redrawn in place (its periodic Estimator lines, which say the same, are
dropped); in a pipe or a log file the progress records are dropped and
Estimator's lines (``global_step/sec: ...``, ``loss = ..., step = ...``) stay.
"""

import contextlib
import logging
import shutil
import sys

_PACKAGE = "estimator_spec_compat"
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
VERBOSITIES = tuple(_LEVELS)
_FORMAT = "%(levelname)s:%(name)s:%(message)s"  # TF's own handler's format (logging.BASIC_FORMAT)


class ConsoleHandler(logging.Handler):
    """Writes records as lines; on a terminal, progress records as one line redrawn in place.

    Args:
      stream: where to write (default ``sys.stderr``).
      live: redraw progress in place (default: whether ``stream`` is a terminal).
    """

    def __init__(self, stream=None, live=None):
        super().__init__()
        self.stream = sys.stderr if stream is None else stream
        self.live = _isatty(self.stream) if live is None else live
        self._shown = ""  # the progress line on screen, if any
        self.setFormatter(logging.Formatter(_FORMAT))

    def emit(self, record):
        try:
            update = getattr(record, "progress", None)
            if update is not None:
                if self.live:
                    self._draw(str(update), final=update.final)
                return
            if self.live and getattr(record, "progress_line", False):
                return  # the progress line says it
            self._write_line(self.format(record))
        except Exception:  # logging's rule: never raise from emit
            self.handleError(record)

    def _draw(self, text, final):
        width = max(shutil.get_terminal_size().columns - 1, 20)
        text = text[:width]
        self.stream.write("\r\x1b[K" + text + ("\n" if final else ""))
        self.stream.flush()
        self._shown = "" if final else text

    def _write_line(self, line):
        clear = "\r\x1b[K" if self._shown else ""
        self.stream.write(clear + line + "\n" + self._shown)
        self.stream.flush()


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def configure_logging(verbosity="info", quiet=False, stream=None):
    """Shows this package's log (and a progress line on a terminal) as the command line does.

    Example:
      >>> configure_logging("info")   # in a script, before Runner.train

    Args:
      verbosity: ``"debug"``, ``"info"`` (default: the runner's Estimator-style
        lines every ``log_step_count_steps`` steps), ``"warning"`` or ``"error"``.
      quiet: only errors; no progress.
      stream: where to write (default ``sys.stderr``); progress is redrawn in
        place where it is a terminal.

    TensorFlow's own Python log (logger ``tensorflow``) is set to the same level,
    but never below WARNING unless ``verbosity`` is ``"debug"``. Calling it again
    replaces the handler it installed.

    Raises:
      ValueError: for an unknown ``verbosity``.
    """
    if verbosity not in _LEVELS:
        raise ValueError(f"`verbosity` ({verbosity!r}) must be one of {list(_LEVELS)}.")
    level = logging.ERROR if quiet else _LEVELS[verbosity]
    logger = logging.getLogger(_PACKAGE)
    for old in [h for h in logger.handlers if isinstance(h, ConsoleHandler)]:
        logger.removeHandler(old)
    handler = ConsoleHandler(stream)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False  # the root logger's handlers (TF may add one) would print it twice
    progress = logging.getLogger(f"{_PACKAGE}.progress")
    progress.setLevel(logging.DEBUG if handler.live and level <= logging.INFO else logging.NOTSET)
    tf_level = level if verbosity == "debug" else max(level, logging.WARNING)
    logging.getLogger("tensorflow").setLevel(tf_level)
    return handler


@contextlib.contextmanager
def configured(verbosity="info", quiet=False, stream=None):
    """`configure_logging` for the duration of a command; the previous setup is restored."""
    logger = logging.getLogger(_PACKAGE)
    progress = logging.getLogger(f"{_PACKAGE}.progress")
    tf_logger = logging.getLogger("tensorflow")
    saved = (list(logger.handlers), logger.level, logger.propagate, progress.level, tf_logger.level)
    try:
        yield configure_logging(verbosity, quiet, stream)
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate = saved[2]
        progress.setLevel(saved[3])
        tf_logger.setLevel(saved[4])
