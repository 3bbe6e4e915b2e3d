"""Signals in and out: the :class:`SignalSet` container, file formats and folders, synthetic data, splits.

Everything downstream of this package sees float32 arrays shaped
``(n_cases, n_channels, n_timepoints)`` with a sample rate ``sr`` in Hz, labels ``y`` and a name
per case; only this package (and ``deploy``) touches files.
"""

from sigxfer.data.datasets import concat_signals, load_dataset, load_dataset_splits
from sigxfer.data.folders import load_files, load_signals
from sigxfer.data.formats import read_signal, register_format, signal_suffixes, unregister_format
from sigxfer.data.groups import groups_from_pattern, load_groups
from sigxfer.data.signals import SignalSet
from sigxfer.data.splits import train_test_split_signals
from sigxfer.data.synth import experiment_like, make_devices, make_digits, make_spectra
from sigxfer.data.targets import load_targets
from sigxfer.data.tasks import task_of
from sigxfer.data.writing import OutputFolderExistsError, write_signals, write_targets

__all__ = [
    "SignalSet",
    "load_signals",
    "load_files",
    "load_targets",
    "read_signal",
    "write_signals",
    "write_targets",
    "register_format",
    "unregister_format",
    "signal_suffixes",
    "OutputFolderExistsError",
    "make_devices",
    "make_spectra",
    "experiment_like",
    "make_digits",
    "train_test_split_signals",
    "concat_signals",
    "load_dataset",
    "load_dataset_splits",
    "load_groups",
    "groups_from_pattern",
    "task_of",
]
