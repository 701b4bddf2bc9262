"""Spectrogram kinds (spec kinds 2-4): ``spectrogram_psd``, ``spectrogram_angle``, ``spectrogram_phase``.

:func:`spectrogram_values` computes exactly what ``matplotlib.mlab.specgram(x, NFFT, Fs,
noverlap=..., pad_to=..., mode=..., detrend=...)`` returns (symmetric Hann window, one-sided,
PSD scaled as a density): with :func:`torch.stft` for the full 0..Nyquist axis, or as a DFT of
only the bins inside a frequency band ``[fmin, fmax]`` of the zero-padded FFT (``pad_to``
samples, the same bins as matplotlib's rows, without computing the others). The kinds then map
it to an image: dB and dynamic-range clipping (psd), per-image min-max to [0, 1], low
frequencies at the bottom, viridis, bilinear resize to 224x224.

By default (``preset="modality"``) the frequency axis is the modality's band
(``ModalityDefaults.spectrogram_band_hz``, e.g. EDA 0-1 Hz, BVP 0.5-8 Hz) and the FFT is
zero-padded so that the band holds about one frequency bin per image row; the ``paper``
preset keeps matplotlib's defaults (0..Nyquist, no padding).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..signals.modalities import ModalityDefaults
from ._raster import apply_viridis, upsample_bilinear_hwc, viridis_hwc
from .kind import Kind, check_image_size

__all__ = [
    "SpectrogramParams",
    "spectrogram_values",
    "spectrogram_matrix",
    "unwrap",
    "band_bins",
    "default_band",
    "SPECTROGRAM_KINDS",
    "PAPER_NFFT",
    "PAPER_NOVERLAP",
]

#: matplotlib's ``specgram`` defaults, the paper preset.
PAPER_NFFT, PAPER_NOVERLAP = 256, 128
#: At most this many frequency bins in the band (an explicit huge ``pad_to`` would only cost memory).
_MAX_BINS = 8192


@dataclass(frozen=True)
class SpectrogramParams:
    """Parameters of the spectrogram kinds.

    Attributes:
        segment_s: STFT segment length in seconds (default: the modality's; see the spec table).
        overlap: overlap as a fraction of the segment (default: the modality's).
        nfft: segment length in samples; overrides ``segment_s``.
        noverlap: overlap in samples; overrides ``overlap``.
        preset: ``"modality"`` (defaults above) or ``"paper"`` (256 / 128 samples, 0..Nyquist, no
            zero-padding: matplotlib's defaults). Without a modality, the paper preset is used.
        dynamic_range_db: ``spectrogram_psd`` only: dB below each image's maximum kept before scaling.
        fmin, fmax: frequency band shown, in Hz (default: the modality's ``spectrogram_band_hz``;
            paper preset or no modality: 0 and Nyquist). ``fmax`` above Nyquist is lowered to it.
        pad_to: FFT length in samples (>= the segment; the segment is zero-padded to it, as
            matplotlib's ``pad_to``). Default: the segment when the band is 0..Nyquist, else the
            length that puts about ``size`` bins inside the band (a narrow band fills the image
            smoothly instead of a few bins stretched by the resize).
        size: image side in pixels.
        detrend: ``"mean"`` (each STFT segment's mean removed first, matplotlib's
            ``detrend=mlab.detrend_mean`` and scipy's ``detrend="constant"``) or ``"none"``. Default:
            the modality's ``stft_detrend`` (``"mean"``; SpO2 ``"none"``) with the modality preset,
            ``"none"`` with the paper preset (matplotlib's default).
            Without it a signal with a large level, such as EDA's 2-50 uS, puts nearly all power at
            0 Hz and the psd image shows the Hann window's leakage (its nulls at 2/T, 3/T, ... Hz)
            instead of the signal's changes.
    """

    segment_s: float | None = None
    overlap: float | None = None
    nfft: int | None = None
    noverlap: int | None = None
    preset: str = "modality"
    dynamic_range_db: float = 80.0
    fmin: float | None = None
    fmax: float | None = None
    pad_to: int | None = None
    size: int = 224
    detrend: str | None = None

    def __post_init__(self) -> None:
        check_image_size(self.size)
        if self.detrend not in (None, "mean", "none"):
            raise InputError(f"detrend must be 'mean' or 'none', got {self.detrend!r}")
        if self.preset not in ("modality", "paper"):
            raise InputError(f"preset must be 'modality' or 'paper', got {self.preset!r}")
        if self.overlap is not None and not 0 <= self.overlap < 1:
            raise InputError(f"overlap must be a fraction in [0, 1), got {self.overlap}")
        if self.dynamic_range_db <= 0:
            raise InputError(f"dynamic_range_db must be positive, got {self.dynamic_range_db}")
        for name in ("fmin", "fmax"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 0):
                raise InputError(f"{name} must be a frequency >= 0 Hz, got {v!r}")
        if self.fmin is not None and self.fmax is not None and not self.fmax > self.fmin:
            raise InputError(f"need fmax > fmin, got fmin={self.fmin} Hz, fmax={self.fmax} Hz")
        if self.pad_to is not None and (isinstance(self.pad_to, bool) or not isinstance(self.pad_to, numbers.Integral)):
            raise InputError(f"pad_to must be a whole number of samples, got {self.pad_to!r}")


def _resolve(p: SpectrogramParams, fs: float, n: int, m: ModalityDefaults | None) -> SpectrogramParams:
    if p.nfft is not None:
        nfft = int(p.nfft)
    elif p.segment_s is not None:
        nfft = int(round(p.segment_s * fs))
    elif p.preset == "modality" and m is not None:
        nfft = int(round(m.stft_segment_s * fs))
    else:
        nfft = PAPER_NFFT
    if p.noverlap is not None:
        noverlap = int(p.noverlap)
    elif p.overlap is not None:
        noverlap = int(round(p.overlap * nfft))
    elif p.preset == "modality" and m is not None and p.nfft is None:
        noverlap = int(round(m.stft_overlap * nfft))
    else:
        noverlap = PAPER_NOVERLAP if nfft == PAPER_NFFT else nfft // 2
    if nfft < 4:
        raise InputError(f"STFT segment of {nfft} samples is too short; use a longer segment_s or nfft")
    if nfft > n:
        warnings.warn(
            f"STFT segment ({nfft} samples) is longer than the window ({n} samples); shrinking it to the window",
            stacklevel=4,
        )
        noverlap = int(round(noverlap * n / nfft))
        nfft = n
    noverlap = min(max(noverlap, 0), nfft - 1)
    nyq = fs / 2
    band = default_band(m, fs) if p.preset == "modality" and m is not None else (0.0, nyq)
    fmin = float(p.fmin) if p.fmin is not None else band[0]
    fmax = min(float(p.fmax) if p.fmax is not None else band[1], nyq)
    if not fmax > fmin:
        raise InputError(
            f"the spectrogram band {fmin:g}-{fmax:g} Hz is empty at {fs:g} Hz (Nyquist {nyq:g} Hz); "
            "choose fmin below fmax (and below Nyquist) or resample the recording to a higher rate"
        )
    if p.pad_to is not None:
        pad_to = int(p.pad_to)
        if pad_to < nfft:
            raise InputError(f"pad_to ({pad_to}) must be at least the STFT segment ({nfft} samples)")
    elif fmin == 0.0 and fmax == nyq:
        pad_to = nfft
    else:  # about one bin per image row inside the band, never fewer bins than the segment gives
        pad_to = max(nfft, int(math.floor((p.size - 1) * fs / (fmax - fmin))))
    n_bins = len(band_bins(fs, pad_to, fmin, fmax))
    if n_bins < 2:
        raise InputError(
            f"the band {fmin:g}-{fmax:g} Hz holds fewer than 2 FFT bins with pad_to={pad_to}; "
            "widen the band or raise pad_to"
        )
    if n_bins > _MAX_BINS:
        raise InputError(
            f"pad_to={pad_to} puts {n_bins} FFT bins in {fmin:g}-{fmax:g} Hz (more than {_MAX_BINS}); "
            "lower pad_to or leave it out (the default gives about one bin per image row)"
        )
    detrend = p.detrend or (m.stft_detrend if p.preset == "modality" and m is not None else "none")
    return dataclasses.replace(
        p, nfft=nfft, noverlap=noverlap, segment_s=nfft / fs, overlap=noverlap / nfft,
        fmin=fmin, fmax=fmax, pad_to=pad_to, detrend=detrend,
    )


def default_band(modality: ModalityDefaults, sampling_rate: float) -> tuple[float, float]:
    """The modality's spectrogram band ``(fmin, fmax)`` in Hz at ``sampling_rate``.

    ``modality.spectrogram_band_hz`` when set, else the default filter's band (high-pass edge or
    0 to the low-pass edge, capped at 0.45 x rate as the filter caps it, or Nyquist); ``fmax``
    never exceeds Nyquist.
    """
    nyq = sampling_rate / 2
    if modality.spectrogram_band_hz is not None:
        lo, hi = modality.spectrogram_band_hz
    else:
        lo = modality.highpass_hz or 0.0
        hi = min(modality.lowpass_hz, 0.45 * sampling_rate) if modality.lowpass_hz else nyq
    return float(lo), min(float(hi), nyq)


def band_bins(sampling_rate: float, pad_to: int, fmin: float, fmax: float) -> range:
    """Indices ``k`` of the one-sided FFT bins (frequency ``k * fs / pad_to``) inside ``[fmin, fmax]``."""
    eps = 1e-9 * sampling_rate
    lo = max(0, math.ceil((fmin - eps) * pad_to / sampling_rate))
    hi = min(pad_to // 2, math.floor((fmax + eps) * pad_to / sampling_rate))
    return range(lo, hi + 1)


@functools.lru_cache(maxsize=32)
def _dft_basis(nfft: int, pad_to: int, k0: int, k1: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``cos`` and ``sin`` of ``-2 pi n k / pad_to`` for ``n < nfft``, ``k0 <= k < k1`` (CPU float64, read-only)."""
    n = torch.arange(nfft, dtype=torch.int64)
    k = torch.arange(k0, k1, dtype=torch.int64)
    # the phase index n k mod pad_to exactly in integers, then the angle in float64
    ang = torch.remainder(n[:, None] * k[None, :], pad_to).to(torch.float64) * (-2.0 * math.pi / pad_to)
    return torch.cos(ang), torch.sin(ang)


def _segments(x: torch.Tensor, nfft: int, hop: int, win: torch.Tensor, detrend: str) -> torch.Tensor:
    """The windowed STFT segments ``(N, T, nfft)``, each one's mean removed first with ``detrend="mean"``."""
    seg = x.unfold(-1, nfft, hop)
    if detrend == "mean":
        seg = seg - seg.mean(dim=-1, keepdim=True)
    return seg * win


def _band_dft(
    x: torch.Tensor, nfft: int, hop: int, win: torch.Tensor, pad_to: int, bins: range, detrend: str = "none"
) -> torch.Tensor:
    """Complex STFT ``(N, K, T)`` at the bins ``bins`` of a ``pad_to``-point FFT of each windowed segment."""
    seg = _segments(x, nfft, hop, win, detrend)  # (N, T, nfft)
    cos, sin = (b.to(device=x.device, dtype=x.dtype) for b in _dft_basis(nfft, pad_to, bins.start, bins.stop))
    spec = torch.complex(seg @ cos, seg @ sin)  # (N, T, K)
    return spec.transpose(1, 2)


def unwrap(phase: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``numpy.unwrap`` (period 2 pi) along ``dim`` in PyTorch."""
    d = torch.diff(phase, dim=dim)
    dd = torch.remainder(d + math.pi, 2 * math.pi) - math.pi
    dd = torch.where((dd == -math.pi) & (d > 0), torch.full_like(dd, math.pi), dd)
    corr = torch.where(d.abs() < math.pi, torch.zeros_like(dd), dd - d)
    first = phase.narrow(dim, 0, 1)
    return torch.cat([first, phase.narrow(dim, 1, phase.shape[dim] - 1) + torch.cumsum(corr, dim=dim)], dim=dim)


def spectrogram_values(
    windows: torch.Tensor,
    sampling_rate: float,
    mode: str = "psd",
    nfft: int = 256,
    noverlap: int = 128,
    *,
    pad_to: int | None = None,
    fmin: float | None = None,
    fmax: float | None = None,
    detrend: str = "none",
) -> torch.Tensor:
    """STFT values ``(N, F, T)`` as ``matplotlib.mlab.specgram(..., pad_to=pad_to)`` returns them
    (``detrend="mean"``: as with ``detrend=mlab.detrend_mean``).

    ``mode``: ``"psd"`` (linear power spectral density, one-sided, divided by the rate and the
    window's energy), ``"angle"`` (phase in (-pi, pi]) or ``"phase"`` (angle unwrapped along frequency).
    Without ``pad_to``/``fmin``/``fmax``: all ``nfft // 2 + 1`` bins. Otherwise only the bins of the
    ``pad_to``-point FFT (default ``nfft``) inside ``[fmin, fmax]`` (default 0 and Nyquist), i.e.
    matplotlib's rows at those frequencies (``phase`` is unwrapped from ``fmin`` upwards).
    Frequencies ascend along dim 1, time along dim 2.
    """
    if mode not in ("psd", "angle", "phase"):
        raise InputError(f"mode must be 'psd', 'angle' or 'phase', got {mode!r}")
    x = windows if windows.ndim == 2 else windows.unsqueeze(0)
    if not 0 <= noverlap < nfft <= x.shape[-1]:
        raise InputError(f"need 0 <= noverlap < nfft <= window length, got {noverlap}, {nfft}, {x.shape[-1]}")
    win = torch.hann_window(nfft, periodic=False, dtype=x.dtype, device=x.device)  # = numpy.hanning
    if detrend not in ("mean", "none"):
        raise InputError(f"detrend must be 'mean' or 'none', got {detrend!r}")
    if pad_to is None and fmin is None and fmax is None:
        n_fft, bins = nfft, range(nfft // 2 + 1)
        if detrend == "mean":
            spec = torch.fft.rfft(_segments(x, nfft, nfft - noverlap, win, detrend), n=nfft, dim=-1).transpose(1, 2)
        else:
            spec = torch.stft(
                x, n_fft=nfft, hop_length=nfft - noverlap, win_length=nfft, window=win,
                center=False, onesided=True, return_complex=True,
            )
    else:
        n_fft = nfft if pad_to is None else int(pad_to)
        if n_fft < nfft:
            raise InputError(f"pad_to ({n_fft}) must be at least nfft ({nfft})")
        bins = band_bins(sampling_rate, n_fft, 0.0 if fmin is None else fmin, sampling_rate / 2 if fmax is None else fmax)
        if len(bins) == 0:
            raise InputError(f"no FFT bin lies in {fmin}-{fmax} Hz with pad_to={n_fft} at {sampling_rate} Hz")
        spec = _band_dft(x, nfft, nfft - noverlap, win, n_fft, bins, detrend)
    if mode == "psd":
        p = spec.real**2 + spec.imag**2
        # one-sided: every bin but DC and (even FFT length) Nyquist counts twice
        scale = torch.tensor([1.0 if k == 0 or 2 * k == n_fft else 2.0 for k in bins], dtype=p.dtype, device=p.device)
        return p * scale.view(1, -1, 1) / (sampling_rate * (win**2).sum())
    ang = torch.angle(spec)
    return ang if mode == "angle" else unwrap(ang, dim=1)


def spectrogram_matrix(
    windows: torch.Tensor,
    sampling_rate: float,
    mode: str,
    nfft: int,
    noverlap: int,
    dynamic_range_db: float = 80.0,
    *,
    pad_to: int | None = None,
    fmin: float | None = None,
    fmax: float | None = None,
    detrend: str = "none",
) -> torch.Tensor:
    """Pre-colour-map image ``(N, F, T)`` in [0, 1], frequencies ascending along dim 1.

    psd: ``10 log10`` then clipped to ``dynamic_range_db`` below each image's maximum; every
    mode: min-max per image (a constant image gives zeros). ``pad_to``, ``fmin``, ``fmax``: as
    :func:`spectrogram_values`.
    """
    v = spectrogram_values(windows, sampling_rate, mode, nfft, noverlap, pad_to=pad_to, fmin=fmin, fmax=fmax,
                           detrend=detrend)
    if mode == "psd":
        tiny = torch.finfo(v.dtype).tiny
        v = 10.0 * torch.log10(v.clamp_min(tiny))
        top = v.amax(dim=(1, 2), keepdim=True)
        v = torch.maximum(v, top - dynamic_range_db)
    mn = v.amin(dim=(1, 2), keepdim=True)
    span = v.amax(dim=(1, 2), keepdim=True) - mn
    return torch.where(span > 0, (v - mn) / torch.where(span > 0, span, torch.ones_like(span)), torch.zeros_like(v))


def _make_render(mode: str):
    def _render(x: torch.Tensor, fs: float, p: SpectrogramParams) -> torch.Tensor:
        full = p.pad_to == p.nfft and p.fmin == 0.0 and p.fmax == fs / 2  # matplotlib's axis: plain STFT
        band = {} if full else {"pad_to": p.pad_to, "fmin": p.fmin, "fmax": p.fmax}
        m = spectrogram_matrix(x, fs, mode, p.nfft, p.noverlap, p.dynamic_range_db, detrend=p.detrend or "none", **band)
        if m.shape[1] <= p.size and m.shape[2] <= p.size:  # the usual case: enlarge, flipped on the way
            return upsample_bilinear_hwc(viridis_hwc(m), p.size, flip_rows=True)  # low frequencies at the bottom
        rgb = apply_viridis(torch.flip(m, dims=[1]))
        down = rgb.shape[-2] > p.size or rgb.shape[-1] > p.size
        out = F.interpolate(rgb, size=(p.size, p.size), mode="bilinear", align_corners=False, antialias=down)
        return out.clamp_(0.0, 1.0)

    return _render


SPECTROGRAM_KINDS = tuple(
    Kind(
        name=f"spectrogram_{mode}",
        version=f"spectrogram_{mode}/3",  # 2: the modality's band (fmin, fmax), zero-padded FFT; 3: segment means removed
        params_type=SpectrogramParams,
        render_fn=_make_render(mode),
        resolve_fn=_resolve,
        description=desc,
        output_in_range=True,  # convex combinations of viridis colours (all within [0.001, 0.994])
    )
    for mode, desc in (
        ("psd", "short-time PSD in dB (matplotlib specgram mode='psd'), viridis"),
        ("angle", "STFT phase angle (specgram mode='angle'), viridis"),
        ("phase", "STFT phase unwrapped along frequency (specgram mode='phase'), viridis"),
    )
)
