"""Learning: the whole model as one module, and the strategies that train it.

:class:`SignalNet` joins an imager, a backbone and its head. A strategy (:class:`LinearProbe`,
:class:`FineTune`, :class:`Scratch`, :class:`Auto`, or one added with :func:`register_strategy`)
trains it; estimators take one as ``strategy=``::

    from sigxfer import TransferClassifier
    from sigxfer.learning import FineTune

    model = TransferClassifier(strategy=FineTune(unfreeze=2, epochs=10))

The training loop, callbacks, checkpoints, augmentation, the embedding cache and the domain
distance are in this package's modules.
"""

from sigxfer.learning.network import SignalNet
from sigxfer.learning.strategies import (
    Auto,
    FineTune,
    LinearProbe,
    Scratch,
    Strategy,
    list_strategies,
    register_strategy,
    resolve_strategy,
)

__all__ = [
    "Auto",
    "FineTune",
    "LinearProbe",
    "Scratch",
    "SignalNet",
    "Strategy",
    "list_strategies",
    "register_strategy",
    "resolve_strategy",
]
