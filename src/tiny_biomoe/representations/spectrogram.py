"""Spectrogram kinds (spec kinds 2-4): ``spectrogram_psd``, ``spectrogram_angle``, ``spectrogram_phase``.

:func:`spectrogram_values` computes, with :func:`torch.stft`, exactly what
``matplotlib.mlab.specgram(x, NFFT, Fs, noverlap=..., mode=...)`` returns with its defaults
(symmetric Hann window, no detrending, one-sided, PSD scaled as a density); the kinds then
map it to an image: dB and dynamic-range clipping (psd), per-image min-max to [0, 1], low
frequencies at the bottom, viridis, bilinear resize to 224x224.
"""

from __future__ import annotations

import dataclasses
import math
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
    "SPECTROGRAM_KINDS",
    "PAPER_NFFT",
    "PAPER_NOVERLAP",
]

#: matplotlib's ``specgram`` defaults, the paper preset.
PAPER_NFFT, PAPER_NOVERLAP = 256, 128


@dataclass(frozen=True)
class SpectrogramParams:
    """Parameters of the spectrogram kinds.

    Attributes:
        segment_s: STFT segment length in seconds (default: the modality's; see the spec table).
        overlap: overlap as a fraction of the segment (default: the modality's).
        nfft: segment length in samples; overrides ``segment_s``.
        noverlap: overlap in samples; overrides ``overlap``.
        preset: ``"modality"`` (defaults above) or ``"paper"`` (256 / 128 samples, matplotlib's defaults).
            Without a modality, the paper preset is used.
        dynamic_range_db: ``spectrogram_psd`` only: dB below each image's maximum kept before scaling.
        size: image side in pixels.
    """

    segment_s: float | None = None
    overlap: float | None = None
    nfft: int | None = None
    noverlap: int | None = None
    preset: str = "modality"
    dynamic_range_db: float = 80.0
    size: int = 224

    def __post_init__(self) -> None:
        check_image_size(self.size)
        if self.preset not in ("modality", "paper"):
            raise InputError(f"preset must be 'modality' or 'paper', got {self.preset!r}")
        if self.overlap is not None and not 0 <= self.overlap < 1:
            raise InputError(f"overlap must be a fraction in [0, 1), got {self.overlap}")
        if self.dynamic_range_db <= 0:
            raise InputError(f"dynamic_range_db must be positive, got {self.dynamic_range_db}")


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
    return dataclasses.replace(
        p, nfft=nfft, noverlap=noverlap, segment_s=nfft / fs, overlap=noverlap / nfft
    )


def unwrap(phase: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``numpy.unwrap`` (period 2 pi) along ``dim`` in PyTorch."""
    d = torch.diff(phase, dim=dim)
    dd = torch.remainder(d + math.pi, 2 * math.pi) - math.pi
    dd = torch.where((dd == -math.pi) & (d > 0), torch.full_like(dd, math.pi), dd)
    corr = torch.where(d.abs() < math.pi, torch.zeros_like(dd), dd - d)
    first = phase.narrow(dim, 0, 1)
    return torch.cat([first, phase.narrow(dim, 1, phase.shape[dim] - 1) + torch.cumsum(corr, dim=dim)], dim=dim)


def spectrogram_values(
    windows: torch.Tensor, sampling_rate: float, mode: str = "psd", nfft: int = 256, noverlap: int = 128
) -> torch.Tensor:
    """STFT values ``(N, nfft // 2 + 1, T)`` as ``matplotlib.mlab.specgram`` returns them.

    ``mode``: ``"psd"`` (linear power spectral density, one-sided, divided by the rate and the
    window's energy), ``"angle"`` (phase in (-pi, pi]) or ``"phase"`` (angle unwrapped along frequency).
    Frequencies ascend along dim 1, time along dim 2.
    """
    if mode not in ("psd", "angle", "phase"):
        raise InputError(f"mode must be 'psd', 'angle' or 'phase', got {mode!r}")
    x = windows if windows.ndim == 2 else windows.unsqueeze(0)
    if not 0 <= noverlap < nfft <= x.shape[-1]:
        raise InputError(f"need 0 <= noverlap < nfft <= window length, got {noverlap}, {nfft}, {x.shape[-1]}")
    win = torch.hann_window(nfft, periodic=False, dtype=x.dtype, device=x.device)  # = numpy.hanning
    spec = torch.stft(
        x, n_fft=nfft, hop_length=nfft - noverlap, win_length=nfft, window=win,
        center=False, onesided=True, return_complex=True,
    )
    if mode == "psd":
        p = spec.real**2 + spec.imag**2
        scale = torch.ones(p.shape[1], dtype=p.dtype, device=p.device)
        scale[1:-1 if nfft % 2 == 0 else None] = 2.0
        return p * scale.view(1, -1, 1) / (sampling_rate * (win**2).sum())
    ang = torch.angle(spec)
    return ang if mode == "angle" else unwrap(ang, dim=1)


def spectrogram_matrix(
    windows: torch.Tensor, sampling_rate: float, mode: str, nfft: int, noverlap: int, dynamic_range_db: float = 80.0
) -> torch.Tensor:
    """Pre-colour-map image ``(N, F, T)`` in [0, 1], frequencies ascending along dim 1.

    psd: ``10 log10`` then clipped to ``dynamic_range_db`` below each image's maximum; every
    mode: min-max per image (a constant image gives zeros).
    """
    v = spectrogram_values(windows, sampling_rate, mode, nfft, noverlap)
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
        m = spectrogram_matrix(x, fs, mode, p.nfft, p.noverlap, p.dynamic_range_db)
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
        version=f"spectrogram_{mode}/1",
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
