"""Train/test splits of a :class:`SignalSet`: stratified by class, and group-aware on request.

Group awareness matters for signals: several recordings of one machine, patient or session are
more alike than recordings of different ones, and a split that puts some on each side measures
memory of that machine rather than skill on new ones.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold, train_test_split

from sigxfer.data.signals import SignalSet, _is_classification
from sigxfer.errors import DataError, ParameterError

__all__ = ["cv_splits", "train_test_split_signals"]


def train_test_split_signals(
    signals: SignalSet,
    *,
    test_size: float | int = 0.25,
    random_state: int | None = None,
    stratify: bool = True,
    groups=None,
) -> tuple[SignalSet, SignalSet]:
    """Split cases into a training and a test set.

    Parameters
    ----------
    signals : SignalSet
        The cases to split.
    test_size : float or int, default=0.25
        Fraction of cases (0 < test_size < 1) or number of cases for the test set. With
        ``groups`` it is met approximately, since whole groups move together.
    random_state : int or None, default=None
        Seed; the same seed gives the same split.
    stratify : bool, default=True
        Keep the class proportions on both sides. Applies only when ``y`` holds class labels
        (regression targets and unlabelled sets are split at random); False splits at random
        and does not check that every class is on both sides (for whole-number targets).
    groups : array-like of shape (n_cases,) or None, default=None
        A group id per case (machine, subject, session). No group ends up on both sides.

    Returns
    -------
    train, test : SignalSet
        The two subsets, each in the original case order.

    Raises
    ------
    DataError
        If a class has too few cases (or groups) to appear on both sides, or there are fewer
        than two groups.
    ParameterError
        If ``test_size`` or ``groups`` are invalid.
    """
    if not isinstance(signals, SignalSet):
        raise ParameterError(f"train_test_split_signals needs a SignalSet, not {type(signals).__name__}")
    n = signals.n_cases
    n_test = _n_test(test_size, n)
    # stratify=False also covers whole-number regression targets (ages, counts): not classes to check.
    labels = signals.y if stratify and signals.y is not None and _is_classification(signals.y) else None
    strat = labels
    indices = np.arange(n)

    if groups is None:
        if strat is not None:
            _check_stratifiable(strat, n_test, n)
        train_idx, test_idx = train_test_split(
            indices, test_size=n_test, random_state=random_state, stratify=strat
        )
    else:
        groups = np.asarray(groups)
        if groups.shape != (n,):
            raise ParameterError(f"groups has shape {groups.shape}; give one group id per case ({n})")
        n_groups = len(np.unique(groups))
        if n_groups < 2:
            raise DataError(
                "all cases are in one group; a group-aware split needs at least two groups (or pass groups=None)"
            )
        if strat is not None:
            # StratifiedGroupKFold's first fold is the test set: 1/test fraction folds, at most one per group.
            n_splits = int(min(max(2, round(n / n_test)), n_groups))
            splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
            with warnings.catch_warnings():
                # We report missing classes ourselves, with the fix.
                warnings.simplefilter("ignore", UserWarning)
                train_idx, test_idx = next(splitter.split(indices, strat, groups))
        else:
            splitter = GroupShuffleSplit(n_splits=1, test_size=n_test / n, random_state=random_state)
            train_idx, test_idx = next(splitter.split(indices, groups=groups))
        if labels is not None:
            _check_sides(labels, train_idx, test_idx)
    return signals[np.sort(train_idx)], signals[np.sort(test_idx)]


def _n_test(test_size, n: int) -> int:
    """Number of test cases for ``test_size`` (a fraction or a count) out of ``n``."""
    if isinstance(test_size, bool) or not isinstance(test_size, Real):
        raise ParameterError(f"test_size={test_size!r} must be a fraction in (0, 1) or a number of cases")
    if isinstance(test_size, Integral):
        if not 1 <= test_size < n:
            raise ParameterError(f"test_size={test_size} must be between 1 and {n - 1} cases (there are {n})")
        return int(test_size)
    if not 0 < test_size < 1:
        raise ParameterError(f"test_size={test_size} must be a fraction in (0, 1) or a number of cases")
    # Rounded up, as scikit-learn does, so a small test fraction still holds a case.
    n_test = int(np.ceil(test_size * n))
    if not 1 <= n_test < n:
        raise DataError(f"test_size={test_size} leaves no case for training or testing out of {n}; add cases")
    return n_test


def _check_stratifiable(labels: np.ndarray, n_test: int, n: int) -> None:
    classes, counts = np.unique(labels, return_counts=True)
    lonely = [str(c) for c, k in zip(classes, counts) if k < 2]
    if lonely:
        raise DataError(
            f"class(es) {lonely} have a single case; a stratified split needs at least 2 per class "
            "(add cases, or pass stratify=False)"
        )
    if n_test < len(classes) or n - n_test < len(classes):
        raise DataError(
            f"a split of {n - n_test} training and {n_test} test cases cannot hold all {len(classes)} classes "
            "on both sides; change test_size or add cases"
        )


def _check_sides(labels: np.ndarray, train_idx: np.ndarray, test_idx: np.ndarray) -> None:
    classes = np.unique(labels)
    missing_train = np.setdiff1d(classes, labels[train_idx])
    if missing_train.size:
        raise DataError(
            f"class(es) {[str(c) for c in missing_train]} fall entirely in the test set because all their cases "
            "share too few groups; add cases from more groups, or choose another random_state"
        )
    missing_test = np.setdiff1d(classes, labels[test_idx])
    if missing_test.size:
        warnings.warn(
            f"class(es) {[str(c) for c in missing_test]} have no case in the test set: their cases share too "
            "few groups; the test score will not cover them",
            UserWarning,
            stacklevel=3,
        )


def cv_splits(
    signals: SignalSet,
    *,
    n_splits: int = 5,
    n_repeats: int = 1,
    random_state: int | None = None,
    stratify: bool = True,
    groups=None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Repeated k-fold splits: stratified by class, group-aware on request.

    Each repeat reshuffles and partitions the cases into ``n_splits`` test folds, so every case is
    tested once per repeat. On a few dozen recordings this gives a mean and a spread instead of one
    lucky number.

    Parameters
    ----------
    signals : SignalSet
        The cases to split.
    n_splits : int, default=5
        Folds per repeat (at least 2).
    n_repeats : int, default=1
        Repeats, each with its own shuffle drawn from ``random_state``.
    random_state : int or None, default=None
        Seed; the same seed gives the same folds.
    stratify : bool, default=True
        Keep class proportions in every fold (class labels only; targets are split at random).
        False splits at random and does not check classes (for whole-number targets).
    groups : array-like of shape (n_cases,) or None, default=None
        A group id per case (recording, machine, subject). A group never spans train and test.

    Returns
    -------
    list of (train_idx, test_idx)
        ``n_splits * n_repeats`` pairs of sorted index arrays, repeat by repeat.

    Raises
    ------
    ParameterError
        If ``n_splits`` or ``n_repeats`` are not valid counts, or ``groups`` has the wrong shape.
    DataError
        If a class has fewer cases (or groups) than folds, or there are fewer groups than folds.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    if not isinstance(signals, SignalSet):
        raise ParameterError(f"cv_splits needs a SignalSet, not {type(signals).__name__}")
    for name, value, low in (("n_splits", n_splits, 2), ("n_repeats", n_repeats, 1)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
            raise ParameterError(f"{name}={value!r} must be an integer of at least {low}")
    n = signals.n_cases
    # stratify=False also covers whole-number regression targets (ages, counts): not classes to check.
    labels = signals.y if stratify and signals.y is not None and _is_classification(signals.y) else None
    strat = labels
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (n,):
            raise ParameterError(f"groups has shape {groups.shape}; give one group id per case ({n})")
        n_groups = len(np.unique(groups))
        if n_groups < n_splits:
            raise DataError(
                f"{n_groups} groups cannot fill {n_splits} folds; use n_splits={max(2, n_groups)} or fewer"
            )
    if n_splits > n:
        raise DataError(f"{n} cases cannot fill {n_splits} folds; use n_splits={n} or fewer")
    if strat is not None:
        classes, counts = np.unique(strat, return_counts=True)
        units = counts
        if groups is not None:
            units = np.array([len(np.unique(groups[strat == c])) for c in classes])
        if units.min() < n_splits:
            c = classes[int(np.argmin(units))]
            what = "groups" if groups is not None else "cases"
            raise DataError(
                f"class {str(c)!r} has {int(units.min())} {what}, fewer than n_splits={n_splits}; "
                f"use n_splits={max(2, int(units.min()))} or fewer (or add cases)"
            )
    base = np.random.RandomState(random_state)
    indices = np.arange(n)
    pairs = []
    for _ in range(n_repeats):
        seed = int(base.randint(np.iinfo(np.int32).max))
        if groups is None:
            splitter = (StratifiedKFold(n_splits, shuffle=True, random_state=seed) if strat is not None
                        else KFold(n_splits, shuffle=True, random_state=seed))
            folds = splitter.split(indices, strat)
        elif strat is not None:
            splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                folds = list(splitter.split(indices, strat, groups))
        else:
            # Shuffled groups dealt round-robin into folds (GroupKFold only shuffles from sklearn 1.6).
            unique, inverse = np.unique(groups, return_inverse=True)
            fold_of_group = np.empty(len(unique), dtype=int)
            fold_of_group[np.random.RandomState(seed).permutation(len(unique))] = np.arange(len(unique)) % n_splits
            fold = fold_of_group[inverse]
            folds = [(indices[fold != k], indices[fold == k]) for k in range(n_splits)]
        for train_idx, test_idx in folds:
            if labels is not None:
                _check_sides(labels, train_idx, test_idx)
            pairs.append((np.sort(train_idx), np.sort(test_idx)))
    return pairs
