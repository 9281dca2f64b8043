"""d3rlpy's noise: its log lines (silenced by ``recgym --quiet``, in every worker of a benchmark too) and the notice
of the old ``gym`` it imports."""

from __future__ import annotations

import contextlib
import io
import logging

import structlog

__all__ = ["d3rlpy_logs_silenced", "import_gym_quietly", "silence_d3rlpy_logs"]


def silence_d3rlpy_logs() -> None:
    """Keep only warnings and errors of structlog, which d3rlpy logs with (its per-epoch metric lines are info)."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def d3rlpy_logs_silenced() -> bool:
    """Whether :func:`silence_d3rlpy_logs` is in effect in this process."""
    return structlog.get_config()["wrapper_class"] is structlog.make_filtering_bound_logger(logging.WARNING)


def import_gym_quietly() -> None:
    """Import the old ``gym`` (d3rlpy 2.8.1 imports it) with its four-line "unmaintained" notice on stderr dropped.

    recgym uses Gymnasium; the notice is about a package the user never chose. Only that import is silenced: once
    ``gym`` is in ``sys.modules``, d3rlpy's own import prints nothing. Does nothing when ``gym`` is absent.
    """
    with contextlib.redirect_stderr(io.StringIO()), contextlib.suppress(ImportError):
        import gym  # noqa: F401
