"""Training strategies: how much of the network learns, and how.

A strategy is a small object holding its own parameters (``LinearProbe(C=0.1)``); estimators take
one, its name or its config dict as ``strategy=``. ``fit`` trains the head (and possibly more) of a
:class:`~sigxfer.learning.network.SignalNet` in place and returns a history dict that travels in the
model file.

- ``linear`` (:class:`LinearProbe`): frozen backbone, a regularised linear model on its embeddings;
- ``finetune`` (:class:`FineTune`): the new head first, then the last stages too;
- ``scratch`` (:class:`Scratch`): the whole network from a random initialisation;
- ``auto`` (:class:`Auto`): one of the first two, chosen by data size and domain distance.

Each module registers its strategies when imported; this package imports them all.
"""

from sigxfer.learning.strategies.base import (
    Strategy,
    list_strategies,
    register_strategy,
    resolve_strategy,
    set_linear_head,
)
from sigxfer.learning.strategies.linear import LinearProbe
from sigxfer.learning.strategies.finetune import FineTune, Scratch
from sigxfer.learning.strategies.auto import Auto

__all__ = [
    "Auto",
    "FineTune",
    "LinearProbe",
    "Scratch",
    "Strategy",
    "list_strategies",
    "register_strategy",
    "resolve_strategy",
    "set_linear_head",
]
