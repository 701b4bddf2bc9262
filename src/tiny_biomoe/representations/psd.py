"""``psd``: the Welch power spectral density of the window drawn as a line (our kind 5).

:func:`welch_psd` reproduces ``scipy.signal.welch`` with its defaults (periodic Hann window,
50 % overlap, constant detrend, density scaling, mean of segments) batched in PyTorch.
The curve is ``log10`` power against frequency from 0 to ``fmax``, min-max scaled per window.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import torch

from ..errors import InputError
from ..signals.modalities import ModalityDefaults
from ._raster import check_line_params, draw_polylines, scale_windows
from .kind import Kind

__all__ = ["PSDParams", "welch_psd", "psd_curve", "PSD"]


@dataclass(frozen=True)
class PSDParams:
    """Parameters of ``psd``.

    Attributes:
        nperseg: Welch segment length in samples (default: the modality's STFT segment, else 256,
            clipped to the window).
        noverlap: overlap in samples (default ``nperseg // 2``, as scipy).
        fmax: highest frequency drawn in Hz (default: the modality's low-pass edge, else Nyquist).
        dynamic_range_db: power below ``max - dynamic_range_db`` is clipped before ``log10``.
        line_width, margin, size: drawing, as ``waveform``.
    """

    nperseg: int | None = None
    noverlap: int | None = None
    fmax: float | None = None
    dynamic_range_db: float = 80.0
    line_width: float = 1.5
    margin: int = 4
    size: int = 224

    def __post_init__(self) -> None:
        check_line_params(self)
        if self.fmax is not None and self.fmax <= 0:
            raise InputError(f"fmax must be positive Hz, got {self.fmax}")


def _resolve(p: PSDParams, fs: float, n: int, m: ModalityDefaults | None) -> PSDParams:
    nperseg = p.nperseg if p.nperseg is not None else (int(round(m.stft_segment_s * fs)) if m is not None else 256)
    if nperseg > n:
        if p.nperseg is not None:
            warnings.warn(f"Welch segment ({nperseg} samples) longer than the window ({n}); using {n}", stacklevel=4)
        nperseg = n
    if nperseg < 4:
        raise InputError(f"Welch segment of {nperseg} samples is too short")
    noverlap = p.noverlap if p.noverlap is not None else nperseg // 2
    noverlap = min(max(int(noverlap), 0), nperseg - 1)
    nyq = fs / 2
    fmax = p.fmax if p.fmax is not None else (m.lowpass_hz if m is not None and m.lowpass_hz else nyq)
    fmax = min(float(fmax), nyq)
    if fmax < 2 * fs / nperseg:  # fewer than 3 frequency bins would be drawn
        fmax = min(nyq, 2 * fs / nperseg)
    return dataclasses.replace(p, nperseg=int(nperseg), noverlap=noverlap, fmax=fmax)


def welch_psd(
    windows: torch.Tensor, sampling_rate: float, nperseg: int, noverlap: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(freqs (F,), psd (N, F))`` equal to ``scipy.signal.welch(x, fs, nperseg=nperseg, noverlap=noverlap)``."""
    x = windows if windows.ndim == 2 else windows.unsqueeze(0)
    noverlap = nperseg // 2 if noverlap is None else noverlap
    seg = x.unfold(-1, nperseg, nperseg - noverlap)  # (N, S, nperseg)
    seg = seg - seg.mean(dim=-1, keepdim=True)
    win = torch.hann_window(nperseg, periodic=True, dtype=x.dtype, device=x.device)
    p = torch.fft.rfft(seg * win, dim=-1).abs() ** 2 / (sampling_rate * (win**2).sum())
    p[..., 1 : -1 if nperseg % 2 == 0 else None] *= 2.0
    freqs = torch.fft.rfftfreq(nperseg, d=1.0 / sampling_rate, dtype=x.dtype, device=x.device)
    return freqs, p.mean(dim=1)


def psd_curve(windows: torch.Tensor, sampling_rate: float, p: PSDParams) -> tuple[torch.Tensor, torch.Tensor]:
    """``(freqs, log10 power)`` actually drawn: bins up to ``p.fmax``, floor at ``dynamic_range_db``."""
    freqs, pxx = welch_psd(windows, sampling_rate, p.nperseg, p.noverlap)
    keep = freqs <= p.fmax + 1e-9
    pxx = pxx[:, keep]
    floor = pxx.amax(dim=1, keepdim=True) * 10 ** (-p.dynamic_range_db / 10)
    return freqs[keep], torch.log10(torch.maximum(pxx, floor).clamp_min(torch.finfo(pxx.dtype).tiny))


def _render(x: torch.Tensor, fs: float, p: PSDParams) -> torch.Tensor:
    _, curve = psd_curve(x, fs, p)
    v = scale_windows(curve).unsqueeze(1)
    return draw_polylines(v, torch.zeros(1, 3), size=p.size, margin=p.margin, line_width=p.line_width)


PSD = Kind(
    name="psd",
    version="psd/2",  # 2: issue 11 defaults (windows at the modality's model rate); same pixels for a given window
    params_type=PSDParams,
    render_fn=_render,
    resolve_fn=_resolve,
    description="Welch PSD (log10 power vs frequency) drawn as a black line",
    output_in_range=True,  # draw_polylines: 1 - a, or clamped composites
)
