"""d3rlpy's log lines: silenced by ``recgym --quiet``, and the same in every worker process of a benchmark."""

from __future__ import annotations

import logging

import structlog

__all__ = ["d3rlpy_logs_silenced", "silence_d3rlpy_logs"]


def silence_d3rlpy_logs() -> None:
    """Keep only warnings and errors of structlog, which d3rlpy logs with (its per-epoch metric lines are info)."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def d3rlpy_logs_silenced() -> bool:
    """Whether :func:`silence_d3rlpy_logs` is in effect in this process."""
    return structlog.get_config()["wrapper_class"] is structlog.make_filtering_bound_logger(logging.WARNING)
