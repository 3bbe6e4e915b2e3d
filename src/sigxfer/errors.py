"""Exceptions raised by sigxfer.

Every error a user can cause is a :class:`SigxferError`. Its message is one line that says what
was wrong (naming the file or case where there is one) and how to fix it; the CLI prints it as is.
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError


class SigxferError(Exception):
    """Base class of every error sigxfer raises for bad input or bad use."""


class ParameterError(SigxferError, ValueError):
    """A parameter has a value sigxfer cannot use (``hop_length=0``, an unknown transform)."""


class DataError(SigxferError, ValueError):
    """Input data is missing, corrupt or unusable (empty folder, NaN, one class, bad shape)."""


class ModelFileError(SigxferError):
    """A model file is missing, corrupt, or was not written by sigxfer."""


class NotFittedError(SigxferError, _SklearnNotFittedError):
    """An estimator was used before ``fit``."""


class OutputExistsError(SigxferError, FileExistsError):
    """An output file or folder exists already and overwriting was not asked for."""


class DataTypeError(DataError, TypeError):
    """Input data is not numbers (objects, strings where numbers belong)."""


class WriteError(SigxferError, OSError):
    """An output could not be written (disk full, no permission); any earlier file is unchanged."""
