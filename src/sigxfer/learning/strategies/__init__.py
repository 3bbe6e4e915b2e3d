"""Training strategies: how much of the network learns, and how.

A strategy is a small object holding its own parameters (``LinearProbe(C=0.1)``); estimators take
one, its name or its config dict as ``strategy=``. ``fit`` trains the head (and possibly more) of a
:class:`~sigxfer.learning.network.SignalNet` in place and returns a history dict that travels in the
model file.

- ``linear`` (:class:`LinearProbe`): frozen backbone, a regularised linear model on its embeddings;
- ``finetune`` (:class:`FineTune`): the new head first, then the last stages too;
- ``scratch`` (:class:`Scratch`): the whole network from a random initialisation;
- ``auto`` (:class:`Auto`): views, feature depth and regularisation of a frozen model (and, on
  large data, LP-FT) chosen by cross-validation on the training data, within a time budget.

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
