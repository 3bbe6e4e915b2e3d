"""Synthetic data sets, seeded and documented, for tests, demos and benchmarks.

- :func:`make_devices`: seed 000's two classes of device signals (frequency content).
- :func:`make_spectra`, :func:`experiment_like`: absorption-edge spectra whose shape depends on a
  disorder parameter, simulated or as an instrument records them (seed 003's sim-to-real regression).
- :func:`make_digits`: ten classes of formant sweeps, a spoken-digit-like audio task.
"""

from sigxfer.data.synth.audio import DIGIT_WORDS, make_digits
from sigxfer.data.synth.devices import DEVICE_AMPLITUDES, DEVICE_BANDS, make_devices
from sigxfer.data.synth.spectra import energy_axis, experiment_like, make_spectra, write_spectra

__all__ = ["make_devices", "DEVICE_BANDS", "DEVICE_AMPLITUDES", "make_spectra", "experiment_like",
           "energy_axis", "write_spectra", "make_digits", "DIGIT_WORDS"]
