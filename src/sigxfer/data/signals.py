"""The :class:`SignalSet` container: a batch of equal-length, multichannel signals with labels.

Every part of sigxfer passes signals around as one float32 array shaped
``(n_cases, n_channels, n_timepoints)`` plus the sample rate, the labels and a name per case.
Keeping the three together means an error about case 17 can name the file it came from.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from sigxfer.data.tasks import task_of
from sigxfer.errors import DataError, ParameterError

__all__ = ["SignalSet", "check_image_shape"]


@dataclass(eq=False, repr=False)
class SignalSet:
    """Equal-length signals with their sample rate, labels and names.

    Parameters
    ----------
    X : array-like of shape (n_cases, n_channels, n_timepoints)
        The signals. A 1-D array is one single-channel case, shape ``(1, 1, n_timepoints)``;
        a 2-D array is ``n_cases`` single-channel cases, shape ``(n_cases, 1, n_timepoints)``.
        Stored as a C-contiguous float32 array.
    sr : float or None, default=None
        Sample rate in Hz, the same for every case. ``None`` when unknown.
    y : array-like of shape (n_cases,) or None, default=None
        Class labels (str or int) or regression targets (float).
    names : list of str or None, default=None
        One name per case, usually the file it was read from. Defaults to
        ``"case-0", "case-1", ...``.
    image_shape : (int, int) or None, default=None
        Set when the cases are pictures (:mod:`sigxfer.data.images`): their ``(height, width)``,
        with ``X`` holding the R, G, B planes' pixels row by row, shape (n_cases, 3, H * W), in
        [0, 1]. Estimators then read them with the ``"picture"`` imaging.

    Raises
    ------
    DataError
        If ``X`` is not a real numeric array of 1 to 3 dimensions with at least one channel and one
        sample, or if ``y`` or ``names`` do not hold one entry per case.
    ParameterError
        If ``sr`` is not a positive finite number, or ``image_shape`` does not match ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> s = SignalSet(np.zeros((4, 256)), sr=100.0, y=["a", "a", "b", "b"])
    >>> s.X.shape, s.classes.tolist()
    ((4, 1, 256), ['a', 'b'])
    >>> len(s[s.y == "b"])
    2
    """

    X: np.ndarray
    sr: float | None = None
    y: np.ndarray | None = None
    names: list[str] | None = None
    image_shape: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        self.X = _as_signal_array(self.X)
        n_cases = self.X.shape[0]
        if self.image_shape is not None:
            self.image_shape = check_image_shape(self.image_shape)
            height, width = self.image_shape
            if self.X.shape[1] != 3 or self.X.shape[2] != height * width:
                raise ParameterError(
                    f"image_shape={self.image_shape} needs X of shape (n_cases, 3, {height * width}); "
                    f"got {self.X.shape}"
                )
        if self.sr is not None:
            sr = self.sr
            if isinstance(sr, bool) or not isinstance(sr, Real) or not np.isfinite(sr) or sr <= 0:
                raise ParameterError(f"sr={self.sr!r} must be a positive sample rate in Hz (or None if unknown)")
            self.sr = float(self.sr)
        if self.y is not None:
            y = np.asarray(self.y)
            if y.ndim != 1 or len(y) != n_cases:
                raise DataError(
                    f"y has shape {y.shape} but there are {n_cases} cases; give one label or target per case"
                )
            self.y = y
        if self.names is None:
            self.names = [f"case-{i}" for i in range(n_cases)]
        else:
            names = [str(name) for name in self.names]
            if len(names) != n_cases:
                raise DataError(
                    f"names has {len(names)} entries but there are {n_cases} cases; give one name per case"
                )
            self.names = names

    # -- shape -----------------------------------------------------------------------------------
    @property
    def n_cases(self) -> int:
        """Number of cases (signals)."""
        return self.X.shape[0]

    @property
    def n_channels(self) -> int:
        """Number of channels per case."""
        return self.X.shape[1]

    @property
    def n_timepoints(self) -> int:
        """Number of samples per channel."""
        return self.X.shape[2]

    @property
    def classes(self) -> np.ndarray:
        """Sorted unique labels, shape (n_classes,).

        Raises
        ------
        DataError
            If the set has no labels.
        """
        if self.y is None:
            raise DataError("these signals have no labels (y is None); load a folder of class folders or pass y=")
        return np.unique(self.y)

    def __len__(self) -> int:
        return self.n_cases

    def __repr__(self) -> str:
        # The default dataclass repr would print every sample.
        parts = [f"n_cases={self.n_cases}", f"n_channels={self.n_channels}", f"n_timepoints={self.n_timepoints}"]
        parts.append(f"sr={self.sr!r}")
        if self.image_shape is not None:
            parts.append(f"image_shape={self.image_shape}")
        if self.y is not None:
            if _is_classification(self.y):
                parts.append(f"classes={self.classes.tolist()!r}")
            else:
                parts.append(f"y=<{len(self.y)} targets>")
        return f"SignalSet({', '.join(parts)})"

    def __getitem__(self, index) -> SignalSet:
        """Select cases; always returns a :class:`SignalSet` (an int gives a one-case set).

        Parameters
        ----------
        index : int, slice, or array-like of int or bool
            Which cases to keep. A boolean mask must have one entry per case.

        Returns
        -------
        SignalSet
            The selected cases with the same ``sr``.
        """
        n = self.n_cases
        if isinstance(index, Integral) and not isinstance(index, (bool, np.bool_)):
            if not -n <= index < n:
                # IndexError (not DataError) so that Python's iteration protocol stops cleanly.
                raise IndexError(f"case index {index} is out of range for {n} cases")
            rows = np.array([index % n])
        elif isinstance(index, slice):
            rows = np.arange(n)[index]
        else:
            rows = np.asarray(index)
            if rows.dtype == bool:
                if rows.shape != (n,):
                    raise ParameterError(
                        f"a boolean mask of shape {rows.shape} cannot select from {n} cases; "
                        "give one True/False per case"
                    )
                rows = np.flatnonzero(rows)
            elif rows.size == 0:
                rows = rows.astype(np.intp)
            elif rows.ndim != 1 or rows.dtype.kind not in "iu":
                raise ParameterError(
                    f"cannot select cases with {index!r}; use an int, a slice, or a 1-D array of ints or bools"
                )
            elif rows.min() < -n or rows.max() >= n:
                raise IndexError(f"case indices must lie in [{-n}, {n}); got {rows.min()}..{rows.max()}")
        rows = rows % n if n else rows
        return SignalSet(
            np.ascontiguousarray(self.X[rows]),
            sr=self.sr,
            y=None if self.y is None else self.y[rows],
            names=[self.names[i] for i in rows],
            image_shape=self.image_shape,
        )

    # -- checks ----------------------------------------------------------------------------------
    def check_finite(self) -> None:
        """Raise if any sample (or regression target) is NaN or infinite.

        Raises
        ------
        DataError
            Naming the first case that holds a NaN or inf, with its channel and sample index.
        """
        bad = ~np.isfinite(self.X)
        if bad.any():
            case, channel, sample = np.argwhere(bad)[0]
            value = self.X[case, channel, sample]
            raise DataError(
                f"{self.names[case]}: channel {channel} sample {sample} is {value}; "
                "fix or drop that recording (or fill the gap) before training"
            )
        if self.y is not None and self.y.dtype.kind == "f":
            bad_y = np.flatnonzero(~np.isfinite(self.y))
            if bad_y.size:
                case = bad_y[0]
                raise DataError(
                    f"{self.names[case]}: target y is {self.y[case]}; give it a finite value or drop that case"
                )

    def check_classification(self, where: str = "the labels") -> np.ndarray:
        """Raise unless the labels can train a classifier; warn about classes with one case.

        Parameters
        ----------
        where : str, default="the labels"
            Where the labels came from (a folder, "the training split"), used in the message.

        Returns
        -------
        classes : ndarray of shape (n_classes,)
            The sorted class labels.

        Raises
        ------
        DataError
            If there are no labels, the labels are continuous targets, or there is only one class.
        """
        if self.y is None:
            raise DataError(f"no labels in {where}; put one folder per class, or pass y=")
        if not _is_classification(self.y):
            raise DataError(
                f"{where} hold continuous values, not class labels; use a regressor, or give str/int labels"
            )
        classes, counts = np.unique(self.y, return_counts=True)
        if len(classes) < 2:
            label = classes[0] if len(classes) else None
            raise DataError(
                f"only one class {str(label)!r} found in {where}; a classifier needs at least two "
                "(add a folder of cases for another class)"
            )
        lonely = [str(c) for c, k in zip(classes, counts) if k < 2]
        if lonely:
            warnings.warn(
                f"class(es) {lonely} in {where} have a single case; nothing can be held out to test them",
                UserWarning,
                stacklevel=2,
            )
        return classes


def check_image_shape(image_shape) -> tuple[int, int] | None:
    """``image_shape`` as ``(height, width)`` of positive ints, or None.

    Raises
    ------
    ParameterError
        Not a pair of positive integers.

    Examples
    --------
    >>> check_image_shape([64, 48])
    (64, 48)
    """
    if image_shape is None:
        return None
    if (isinstance(image_shape, (tuple, list)) and len(image_shape) == 2
            and all(isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in image_shape)):
        return int(image_shape[0]), int(image_shape[1])
    raise ParameterError(f"image_shape={image_shape!r} must be (height, width) in pixels, two positive integers")


def _is_classification(y: np.ndarray) -> bool:
    """True when ``y`` holds class labels, by the one rule of :func:`sigxfer.data.tasks.task_of`."""
    return task_of(y) == "classification"


def _as_signal_array(X) -> np.ndarray:
    """Coerce ``X`` to a C-contiguous float32 array of shape (n_cases, n_channels, n_timepoints)."""
    try:
        arr = np.asarray(X)
    except ValueError as err:
        # numpy refuses ragged nested lists.
        raise DataError(
            "X holds signals of unequal lengths; bring them to one length first "
            "(load_signals/load_files do this with length= and pad=)"
        ) from err
    if arr.dtype == object:
        raise DataError(
            "X holds signals of unequal lengths or non-numbers; give a numeric array "
            "(load_signals/load_files pad or crop to one length)"
        )
    if arr.dtype.kind == "c":
        raise DataError("X holds complex values; pass np.abs(X) or real and imaginary parts as two channels")
    if arr.dtype.kind not in "biuf":
        raise DataError(f"X has dtype {arr.dtype}, not numbers; give a numeric array")
    if arr.ndim == 1:
        arr = arr[np.newaxis, np.newaxis, :]
    elif arr.ndim == 2:
        arr = arr[:, np.newaxis, :]
    elif arr.ndim != 3:
        raise DataError(
            f"X has {arr.ndim} dimensions (shape {arr.shape}); give (n_cases, n_channels, n_timepoints)"
        )
    if arr.shape[1] == 0 or arr.shape[2] == 0:
        raise DataError(f"X has shape {arr.shape}; every case needs at least one channel and one sample")
    return np.ascontiguousarray(arr, dtype=np.float32)
