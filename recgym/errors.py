"""Exceptions raised for problems a user can fix (bad files, bad arguments)."""

from __future__ import annotations


class RecgymError(Exception):
    """Base class of every error recgym raises on purpose."""


class RecgymDataError(RecgymError, ValueError):
    """An input log or a processed dataset is malformed; the message names the file and the problem."""


class DatasetNotFoundError(RecgymError, FileNotFoundError):
    """Raw files of a dataset are missing; the message names them, the directory searched and the dataset card."""


class InvalidOptionError(RecgymError, ValueError):
    """An unknown option name or a bad option value; the message lists the valid options."""


class CacheLocationError(RecgymError, PermissionError):
    """The folder for processed datasets cannot be written; the message names it and how to choose another."""
