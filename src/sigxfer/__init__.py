"""sigxfer: transfer learning for signals.

Signals become time–frequency images at one fitted scale, an ImageNet-pretrained CNN reads them,
and a new head learns the task::

    import sigxfer
    signals = sigxfer.load_signals("data/")          # one folder per class
    model = sigxfer.TransferClassifier(imaging="spectrum").fit(signals)
    sigxfer.save(model, "model.sigx")
"""

from sigxfer._allocator import keep_freed_memory as _keep_freed_memory
from sigxfer._version import __version__  # noqa: E402,F401

_keep_freed_memory()  # before any large allocation: see sigxfer._allocator

from sigxfer.data import SignalSet, load_files, load_signals, make_devices, write_signals  # noqa: E402
from sigxfer.deploy import load, save  # noqa: E402
from sigxfer.errors import (  # noqa: E402
    DataError,
    ModelFileError,
    NotFittedError,
    OutputExistsError,
    ParameterError,
    SigxferError,
)
from sigxfer.estimators import TransferClassifier, TransferRegressor  # noqa: E402

__all__ = [
    "DataError",
    "ModelFileError",
    "NotFittedError",
    "OutputExistsError",
    "ParameterError",
    "SignalSet",
    "SigxferError",
    "TransferClassifier",
    "TransferRegressor",
    "__version__",
    "load",
    "load_files",
    "load_signals",
    "make_devices",
    "save",
    "write_signals",
]
