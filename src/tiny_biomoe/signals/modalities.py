"""Per-modality defaults (spec/REPRESENTATIONS.md, "Per-modality defaults").

Every default is a field of a frozen dataclass so that it is visible, printable, stored with
outputs, and overridable with :meth:`ModalityDefaults.replace`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import SignalError

__all__ = ["ModalityDefaults", "get_modality", "list_modalities", "modality_from_name", "MODALITY_ALIASES"]


@dataclass(frozen=True)
class ModalityDefaults:
    """Documented defaults for one biosignal modality.

    Attributes:
        name: canonical name (``"eda"``, ``"bvp"``, ...).
        label: human-readable name.
        typical_rates: usual sampling rates in Hz (informative only).
        window_s: default window length in seconds.
        highpass_hz: lower edge of the default zero-phase filter (``None``: no high-pass).
        lowpass_hz: upper edge of the default zero-phase filter (``None``: no low-pass); capped
            below Nyquist (at 0.45 x sampling rate) when the rate is too low for it.
        filter_order: Butterworth order of each filter edge (applied forward and backward).
        tonic_phasic_hz: EDA only: the phasic component is the signal high-passed at this
            frequency and the tonic component is the remainder.
        stft_segment_s: STFT segment length in seconds for the spectrogram kinds.
        stft_overlap: STFT overlap as a fraction of the segment (0.9 = 90 %).
        value_range: fixed physical range for ``waveform`` (``None``: per-window min-max).
        multi_components: derived signals drawn by the ``multi`` kind.
        spectrogram_band_hz: ``(fmin, fmax)`` in Hz shown by the spectrogram kinds (where the
            modality's information is; ``fmax`` is lowered to Nyquist when needed). ``None``: the
            default filter's band (its high-pass edge or 0, to its low-pass edge or Nyquist).
        model_rate_hz: the rate every recording of the modality is resampled to before windowing
            (:func:`tiny_biomoe.signals.conditioning.condition`, ``resample="model"``), so that one
            modality looks the same whatever device recorded it; ``resample="native"`` keeps the
            recording's own rate. 100 Hz (AI4PAIN's rate) for EDA, BVP, RESP and SpO2; ECG 250 Hz,
            EEG 250 Hz (over 5 x their 40/45 Hz low-pass edges, common clinical rates); EMG 1000 Hz
            (its 20-450 Hz band needs a Nyquist above 450 Hz; at 500 Hz the low-pass would be capped at 225 Hz).
        stft_detrend: ``"mean"``: each STFT segment's mean is removed before the spectrogram kinds'
            FFT (a large level, such as EDA's 2-50 uS, would otherwise fill the image with the Hann
            window's leakage around 0 Hz); ``"none"`` for SpO2, whose level is its information and
            whose steady readings would leave a detrended image empty.
    """

    name: str
    label: str
    typical_rates: tuple[float, float]
    window_s: float
    highpass_hz: float | None
    lowpass_hz: float | None
    stft_segment_s: float
    stft_overlap: float
    filter_order: int = 4
    tonic_phasic_hz: float | None = None
    value_range: tuple[float, float] | None = None
    multi_components: tuple[str, ...] = field(default=("raw", "filtered"))
    spectrogram_band_hz: tuple[float, float] | None = None
    model_rate_hz: float = 100.0
    stft_detrend: str = "mean"

    def replace(self, **changes: Any) -> "ModalityDefaults":
        """Return a copy with some fields changed (unknown field names raise SignalError)."""
        names = {f.name for f in dataclasses.fields(self)}
        bad = sorted(set(changes) - names)
        if bad:
            raise SignalError(f"unknown modality setting(s) {bad}; known settings: {sorted(names)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (for metadata and reports)."""
        return dataclasses.asdict(self)


_MODALITIES: dict[str, ModalityDefaults] = {
    m.name: m
    for m in (
        ModalityDefaults(
            "eda", "electrodermal activity", (4.0, 100.0), 10.0, None, 5.0, 4.0, 0.9,
            tonic_phasic_hz=0.05, multi_components=("raw", "tonic", "phasic"),
            spectrogram_band_hz=(0.0, 1.0),  # tonic level and skin-conductance responses (rise 1-3 s)
        ),
        ModalityDefaults("bvp", "blood volume pulse / PPG", (64.0, 100.0), 10.0, 0.5, 8.0, 2.0, 0.9),
        ModalityDefaults(
            "resp", "respiration", (25.0, 100.0), 10.0, 0.05, 1.0, 4.0, 0.9,
            multi_components=("raw", "lowpassed"),
        ),
        ModalityDefaults(
            "spo2", "peripheral oxygen saturation", (1.0, 100.0), 10.0, None, None, 4.0, 0.9,
            value_range=(80.0, 100.0), multi_components=("raw",),
            spectrogram_band_hz=(0.0, 0.5),  # saturation changes over seconds to minutes
            stft_detrend="none",
        ),
        ModalityDefaults("ecg", "electrocardiogram", (250.0, 1000.0), 10.0, 0.5, 40.0, 1.0, 0.9, model_rate_hz=250.0),
        ModalityDefaults("emg", "electromyogram", (500.0, 2000.0), 5.0, 20.0, 450.0, 0.25, 0.75, model_rate_hz=1000.0),
        ModalityDefaults("eeg", "electroencephalogram", (100.0, 512.0), 10.0, 0.5, 45.0, 2.0, 0.9, model_rate_hz=250.0),
    )
}

MODALITY_ALIASES: dict[str, str] = {
    "gsr": "eda",
    "sc": "eda",
    "skin_conductance": "eda",
    "ppg": "bvp",
    "pleth": "bvp",
    "rsp": "resp",
    "respiration": "resp",
    "breathing": "resp",
    "sao2": "spo2",
    "oxygen_saturation": "spo2",
    "ekg": "ecg",
    # muscle-named EMG channels (BioVid part A: trapezius, and in some releases corrugator and zygomaticus)
    "emg_trapezius": "emg",
    "emg_corrugator": "emg",
    "emg_zygomaticus": "emg",
}


def list_modalities() -> list[str]:
    """Canonical modality names (aliases are listed in :data:`MODALITY_ALIASES`)."""
    return sorted(_MODALITIES)


def get_modality(name: "str | ModalityDefaults", **overrides: Any) -> ModalityDefaults:
    """Return the defaults of a modality by name or alias (``"ppg"`` -> ``"bvp"``, ``"gsr"`` -> ``"eda"``).

    Keyword arguments override single fields, e.g. ``get_modality("eda", window_s=5)``.
    Unknown names raise :class:`~tiny_biomoe.errors.SignalError` listing the known ones.

    Args:
        name: a modality name or alias (case, hyphens and spaces do not matter), or a :class:`ModalityDefaults`.
        **overrides: fields of :class:`ModalityDefaults` to change (unknown field names raise SignalError).
    """
    if isinstance(name, ModalityDefaults):
        return name.replace(**overrides) if overrides else name
    if not isinstance(name, str):
        raise SignalError(f"modality must be a name such as 'eda', got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = MODALITY_ALIASES.get(key, key)
    if key not in _MODALITIES:
        aliases = ", ".join(f"{a}->{c}" for a, c in sorted(MODALITY_ALIASES.items()))
        raise SignalError(
            f"unknown modality {name!r}; known modalities: {', '.join(list_modalities())} (aliases: {aliases})"
        )
    m = _MODALITIES[key]
    return m.replace(**overrides) if overrides else m


def modality_from_name(name: str) -> str | None:
    """The modality a channel's name states: the whole name (``eda``, ``GSR``, ``PPG``), else the one
    modality its words name (``EDA (µS)``, ``Shimmer_8A2B_GSR_Skin_Conductance_CAL``, ``ECG LL-RA``,
    ``skin conductance``); None when they name none or several. Words of two letters (the alias
    ``sc``) count only as the whole name, since short words in channel names mean many things.

    >>> modality_from_name("Shimmer_8A2B_PPG_A13_CAL"), modality_from_name("EDA_and_ECG")
    ('bvp', None)
    """
    known = set(_MODALITIES) | set(MODALITY_ALIASES)
    key = name.strip().lower().replace(" ", "_")
    words = [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]
    candidates = [key] if key in known else [
        *(w for w in words if len(w) >= 3), *("_".join(p) for p in zip(words, words[1:]))]
    found = {get_modality(c).name for c in candidates if c in known}
    return found.pop() if len(found) == 1 else None
