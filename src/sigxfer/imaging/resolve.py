"""One way to say which picture a signal becomes: ``imaging=`` as a name, a dict, an object or a list.

:func:`resolve_imaging` turns what a user wrote into imaging specs, :func:`parse_imaging` reads the
command line's ``mel:n_mels=64`` form, and :func:`imaging_defaults` holds the one rule that fits
window lengths to the series when the user gives none. :func:`build_imager` joins them: spec + the
training data's length and sample rate -> an unfitted :class:`~sigxfer.imaging.Imager`.
"""

from __future__ import annotations

import dataclasses
import json

from sigxfer.errors import ParameterError
from sigxfer.imaging.imager import Imager
from sigxfer.imaging.transforms import Transform, list_transforms

#: Imagings whose parameters are in Hz throughout: without a sample rate they cannot be built.
NEEDS_SR = ("mel", "scalogram")
#: Default DFT lengths of the windowed imagings, for series long enough to hold them.
_DEFAULT_N_FFT = {"spectrogram": 256, "mel": 512}
_DEFAULT_N_MELS = 64


@dataclasses.dataclass(frozen=True)
class ImagingSpec:
    """One imaging: a transform name and the parameters the user gave (nothing filled in yet).

    Examples
    --------
    >>> ImagingSpec("mel", {"n_mels": 64}).label
    'mel:n_mels=64'
    """

    name: str
    params: dict = dataclasses.field(default_factory=dict)

    @property
    def label(self) -> str:
        """``name`` or ``name:key=value,...``: how tables and the CLI write this imaging."""
        if not self.params:
            return self.name
        return self.name + ":" + ",".join(f"{k}={_text(v)}" for k, v in self.params.items())

    def to_config(self) -> dict:
        """``{"name": ..., **params}``: the dict form ``imaging=`` accepts."""
        return {"name": self.name, **self.params}


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def resolve_imaging(imaging, *, multi_view: bool = False) -> list[ImagingSpec]:
    """Imaging specs from what ``imaging=`` holds.

    Parameters
    ----------
    imaging : str, dict, Imager, Transform or list of these
        ``"mel"``; ``"mel:n_mels=64"``; ``{"name": "mel", "n_mels": 64}``; an unfitted
        :class:`~sigxfer.imaging.Imager` or a transform object (its parameters are taken); or a
        list of these for a multi-view model.
    multi_view : bool
        Whether the caller can use several views. Without it, a list of one is accepted and a
        longer list raises.

    Returns
    -------
    list of ImagingSpec

    Raises
    ------
    ParameterError
        Unknown names, malformed entries, repeated views, or several views where one is expected.

    Examples
    --------
    >>> resolve_imaging("mel")
    [ImagingSpec(name='mel', params={})]
    >>> resolve_imaging({"name": "spectrum", "fmax": 200.0})[0].params
    {'fmax': 200.0}
    """
    items = list(imaging) if isinstance(imaging, (list, tuple)) else [imaging]
    if not items:
        raise ParameterError("imaging=[] is empty; give one imaging, e.g. imaging='spectrogram'")
    specs = [_one(item) for item in items]
    if len(specs) > 1 and not multi_view:
        raise ParameterError(
            f"imaging= lists {len(specs)} views ({', '.join(s.label for s in specs)}) but this model "
            "reads one; give a single imaging"
        )
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise ParameterError(f"imaging= repeats a view ({', '.join(labels)}); give each once")
    return specs


def _one(item) -> ImagingSpec:
    if isinstance(item, ImagingSpec):
        return item
    if isinstance(item, Imager):
        config = item.get_config()
        return _checked(config["transform"], config["params"])
    if isinstance(item, Transform):
        return _checked(item.name, item.get_params())
    if isinstance(item, str):
        return parse_imaging(item)
    if isinstance(item, dict):
        params = dict(item)
        name = params.pop("name", None)
        if not isinstance(name, str):
            raise ParameterError(f"imaging {item!r} needs a 'name' key, e.g. {{'name': 'mel', 'n_mels': 64}}")
        return _checked(name, params)
    raise ParameterError(
        f"imaging={item!r} is not understood; give a name ('mel'), a dict ({{'name': 'mel', 'n_mels': 64}}) "
        "or an Imager"
    )


def _checked(name: str, params: dict) -> ImagingSpec:
    if name not in list_transforms():
        raise ParameterError(f"imaging {name!r} is not known; use one of {', '.join(list_transforms())}")
    return ImagingSpec(name, dict(params))


def parse_imaging(text: str, extra: list[str] | tuple[str, ...] = ()) -> ImagingSpec:
    """Read ``"mel"`` or ``"mel:n_mels=64,fmax=4000"``, plus ``KEY=VALUE`` items, into a spec.

    Values are read as JSON where they parse (``64`` -> int, ``true`` -> bool, ``null`` -> None)
    and kept as text otherwise (``window=hann``).

    Examples
    --------
    >>> parse_imaging("mel:n_mels=64", ["fmax=4000"]).params
    {'n_mels': 64, 'fmax': 4000}
    """
    name, _, rest = text.partition(":")
    pairs = [p for p in rest.split(",") if p.strip()] + list(extra)
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"imaging parameter {pair!r} must look like KEY=VALUE, e.g. n_mels=64")
        params[key.strip()] = _value(value.strip())
    return _checked(name.strip(), params)


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def imaging_defaults(name: str, params: dict, *, n_timepoints: int) -> dict:
    """The parameters ``name`` gets for series of ``n_timepoints`` samples, the user's kept as given.

    The one rule for windowed imagings (``spectrogram``, ``mel``) when the user sets none:

    - a series that holds the transform's default window (256 samples for ``spectrogram``, 512
      for ``mel``) keeps the defaults: that ``n_fft``, ``hop_length = n_fft // 4`` (librosa's),
      64 mel bands;
    - a shorter series gets the largest power of two not above a quarter of its length as
      ``n_fft`` (at least 2, but never longer than the series) and ``hop_length = n_fft // 8``
      (at least 1), so it still gives a few dozen frames;
    - ``n_mels`` is at most ``n_fft // 2``, so no band falls between DFT bins.

    Other imagings need no length-dependent parameter (``gaf``/``recurrence``/``waveform`` pool
    to the picture's size; ``spectrum`` and ``scalogram`` adapt by themselves).

    Examples
    --------
    >>> imaging_defaults("spectrogram", {}, n_timepoints=150)
    {'n_fft': 32, 'hop_length': 4}
    >>> imaging_defaults("spectrogram", {}, n_timepoints=4096)
    {'n_fft': 256, 'hop_length': 64}
    """
    out = dict(params)
    if name not in _DEFAULT_N_FFT:
        return out
    default = _DEFAULT_N_FFT[name]
    short = n_timepoints < default
    if "n_fft" not in out:
        if not short:
            out["n_fft"] = default
        else:
            fit = 2
            while fit * 2 <= n_timepoints // 4:
                fit *= 2
            out["n_fft"] = min(fit, max(1, n_timepoints))  # a 1-sample series: a 1-point window
    n_fft = out["n_fft"]
    if "hop_length" not in out and isinstance(n_fft, int) and n_fft >= 1:
        out["hop_length"] = max(1, n_fft // 8) if short else max(1, n_fft // 4)
    if name == "mel" and "n_mels" not in out and isinstance(n_fft, int):
        out["n_mels"] = max(1, min(_DEFAULT_N_MELS, n_fft // 2))
    return out


#: The estimators' channel mode that makes each group of up to :data:`GROUP_SIZE` channels a view.
GROUPS = "groups"
GROUP_SIZE = 3


def channel_groups(n_channels: int, channel_mode: str = GROUPS) -> list[list[int] | None]:
    """The channels each view of an imaging reads: with ``channel_mode="groups"``, consecutive
    groups of up to three, each read as R, G, B by a view of its own; otherwise ``[None]``, one
    view of all channels.

    Three channels or fewer make one group (all channels: ``[None]``), read as usual. A last
    group of one channel is grey, of two a tiled picture.

    Examples
    --------
    >>> channel_groups(7)
    [[0, 1, 2], [3, 4, 5], [6]]
    >>> channel_groups(3), channel_groups(7, "tile")
    ([None], [None])
    """
    if channel_mode != GROUPS or n_channels <= GROUP_SIZE:
        return [None]
    return [list(range(start, min(start + GROUP_SIZE, n_channels))) for start in range(0, n_channels, GROUP_SIZE)]


def view_label(label: str, group: list[int] | None) -> str:
    """The name of a view reading ``group`` of the channels with imaging ``label``: ``"gaf[3:6]"``.

    Examples
    --------
    >>> view_label("gaf", [3, 4, 5]), view_label("gaf", None)
    ('gaf[3:6]', 'gaf')
    """
    return label if group is None else f"{label}[{group[0]}:{group[-1] + 1}]"


def imaging_label(view_name: str) -> str:
    """The imaging label of a view name from :func:`view_label` (``"gaf[3:6]"`` -> ``"gaf"``).

    Examples
    --------
    >>> imaging_label("gaf[3:6]"), imaging_label("spectrogram(n_fft=32)")
    ('gaf', 'spectrogram(n_fft=32)')
    """
    head, bracket, rest = view_name.rpartition("[")
    return head if bracket and rest.endswith("]") and rest[:-1].replace(":", "").isdigit() else view_name


def build_imager(spec: ImagingSpec, *, sr: float | None, n_timepoints: int, size, channel_mode: str = "auto",
                 mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), channels=None) -> Imager:
    """An unfitted Imager for ``spec`` on series of ``n_timepoints`` samples at ``sr`` Hz.

    Messages name the sample rate as the parameter ``sr=``; the command line shows its option.

    Examples
    --------
    >>> imager = build_imager(ImagingSpec("spectrogram"), sr=None, n_timepoints=24, size=32)
    >>> imager.transform.n_fft
    4
    """
    if spec.name in NEEDS_SR and sr is None:
        raise ParameterError(
            f"imaging {spec.name!r} works in Hz and needs the sample rate: pass sr= (series without "
            "one can use sr=1, i.e. frequencies in cycles per sample), or choose 'spectrogram'"
        )
    params = imaging_defaults(spec.name, spec.params, n_timepoints=n_timepoints)
    for key in ("n_fft", "win_length"):
        # Refused before the Imager builds its window: n_fft=10**9 would ask for 4 GB first.
        value = params.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > n_timepoints:
            fit = 1 << (max(n_timepoints, 1).bit_length() - 1)
            raise ParameterError(f"signals of {n_timepoints} samples are shorter than {key}={value}; "
                                 f"pass {key}={fit} or less, or longer signals")
    hop = params.get("hop_length")
    if isinstance(hop, int) and not isinstance(hop, bool) and hop > n_timepoints:
        # The frames after the first would start past the signal's end, each padded with zeros.
        raise ParameterError(f"hop_length={hop} is longer than the {n_timepoints}-sample signals; "
                             f"pass hop_length={n_timepoints} or less")
    # A view of one group of channels reads its few channels by the usual rule (three: R, G, B).
    mode = "auto" if channel_mode == GROUPS else channel_mode
    return Imager(spec.name, sr=sr, size=size, channel_mode=mode, channels=channels, mean=mean, std=std, **params)
