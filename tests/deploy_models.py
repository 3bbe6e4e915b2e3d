"""Small fitted models for the deployment tests, built in one place (one constructor call to keep current)."""

from __future__ import annotations

import pickle

from sigxfer import TransferClassifier, TransferRegressor


def fit_model(signals, y=None, *, imaging="spectrogram", params=None, regressor=False, **kwargs):
    """A tinynet linear probe on 32-pixel images of ``imaging`` (with its ``params``)."""
    estimator = TransferRegressor if regressor else TransferClassifier
    settings = dict(backbone="tinynet", image_size=32, random_state=0, progress=False)
    settings.update(kwargs)
    return estimator(imaging={"name": imaging, **(params or {})}, **settings).fit(signals, y)


class Trap:
    """Unpickling this would create ``Trap.target``: a model file that must never be executed."""

    target = None

    def __reduce__(self):
        return (open, (str(Trap.target), "w"))


def write_trap(path, target):
    """Write a pickle to ``path`` whose loading would create the file ``target``."""
    Trap.target = target
    path.write_bytes(pickle.dumps(Trap()))
    return path
