"""Realistic generated recordings per modality (NeuroKit2's simulators), for tests, benchmarks and docs.

Not a physiological model of pain: each function gives a plausible raw recording of one
modality at a device's sampling rate, deterministic for a given ``seed``.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .modalities import get_modality

__all__ = ["simulate_recording"]


def _spo2(duration_s: float, fs: int, rng: np.random.Generator) -> np.ndarray:
    """A pulse oximeter's output: one reading per second (whole percent), held until the next one."""
    n_s = int(np.ceil(duration_s)) + 1
    t = np.arange(n_s, dtype=float)
    slow = np.cumsum(rng.normal(0.0, 0.15, n_s))  # slow wander of the saturation
    slow -= np.linspace(slow[0], slow[-1], n_s)  # no net drift over the recording
    dip_at = rng.uniform(0.3, 0.7) * duration_s  # one desaturation of ~3 %, over ~20 s
    dip = 3.0 * np.exp(-0.5 * ((t - dip_at) / 8.0) ** 2)
    per_second = np.clip(np.round(97.0 + slow - dip), 80, 100)
    n = int(round(duration_s * fs))
    return per_second[np.minimum(np.arange(n) // fs, n_s - 1)].astype(np.float64)


def _eeg(duration_s: float, fs: int, seed: int, rng: np.random.Generator) -> np.ndarray:
    """Pink (1/f) background plus a waxing and waning 10 Hz alpha rhythm, in microvolts."""
    import neurokit2 as nk

    n = int(round(duration_s * fs))
    t = np.arange(n) / fs
    pink = nk.signal_noise(duration=int(np.ceil(duration_s)), sampling_rate=fs, beta=1, random_state=seed)[:n]
    pink = 10.0 * pink / np.std(pink)
    alpha_env = 1.0 + 0.8 * np.sin(2 * np.pi * 0.1 * t + rng.uniform(0, 2 * np.pi))
    alpha = 8.0 * alpha_env * np.sin(2 * np.pi * rng.uniform(9.0, 11.0) * t)
    return pink + alpha + rng.normal(0.0, 1.0, n)


def simulate_recording(
    modality: str, *, duration_s: float = 60.0, sampling_rate: float = 100.0, seed: int = 0
) -> np.ndarray:
    """One raw channel of ``modality`` lasting ``duration_s`` at ``sampling_rate`` (a whole number of Hz).

    EDA, BVP, RESP, ECG and EMG come from NeuroKit2's ``*_simulate`` (SCRs, pulse, breaths,
    heart beats, muscle bursts, with their default noise); SpO2 is a slow series of whole
    percents read once a second with one desaturation; EEG is pink noise plus an alpha rhythm.

    >>> simulate_recording("eda", duration_s=20, sampling_rate=64).shape
    (1280,)
    """
    import neurokit2 as nk

    m = get_modality(modality)
    if isinstance(sampling_rate, bool) or not float(sampling_rate).is_integer() or not 1 <= sampling_rate <= 100_000:
        raise InputError(f"sampling_rate must be a whole number of Hz in 1..100000, got {sampling_rate!r}")
    if not duration_s >= 10:
        raise InputError(f"duration_s must be at least 10 s (one window), got {duration_s!r}")
    fs = int(sampling_rate)
    rng = np.random.default_rng(seed)
    n = int(round(float(duration_s) * fs))
    dur = int(np.ceil(float(duration_s)))  # NeuroKit2 wants whole seconds; trimmed to n samples below
    if m.name == "eda":
        x = nk.eda_simulate(duration=dur, sampling_rate=fs, scr_number=max(1, int(dur // 15)), noise=0.01,
                            drift=-0.01, random_state=seed)
        x = x + 2.0  # a plausible tonic level in microsiemens
    elif m.name == "bvp":
        x = nk.ppg_simulate(duration=dur, sampling_rate=fs, heart_rate=float(rng.uniform(60, 85)), random_state=seed)
    elif m.name == "resp":
        x = nk.rsp_simulate(duration=dur, sampling_rate=fs, respiratory_rate=float(rng.uniform(12, 18)),
                            random_state=seed)
    elif m.name == "ecg":
        x = nk.ecg_simulate(duration=dur, sampling_rate=fs, heart_rate=float(rng.uniform(60, 85)), random_state=seed)
    elif m.name == "emg":
        x = nk.emg_simulate(duration=dur, sampling_rate=fs, burst_number=max(1, int(dur // 10)), random_state=seed)
    elif m.name == "spo2":
        x = _spo2(dur, fs, rng)
    elif m.name == "eeg":
        x = _eeg(dur, fs, seed, rng)
    else:
        raise InputError(f"no simulator for modality {m.name!r}")
    x = np.asarray(x, dtype=np.float64)[:n]
    return np.pad(x, (0, n - x.size), mode="edge") if x.size < n else x
