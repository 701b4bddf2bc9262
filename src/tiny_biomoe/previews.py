"""Rendering a whole recording and writing PNG previews (what ``biomoe render`` does).

Sits above ``signals/`` (reading, conditioning, windows) and ``representations/`` (windows ->
images). PIL only writes the PNG files; every pixel is rendered by
:func:`~tiny_biomoe.representations.render`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ._compat import keyword_only_after
from .representations.base import kind_list, render, render_info
from .signals.modalities import get_modality
from .signals.conditioning import condition
from .signals.windowing import Windows

__all__ = ["render_signal", "render_file", "save_previews", "contact_sheet", "qa_sheet"]


@keyword_only_after(1, legacy=9)
def render_signal(
    signal: Any,
    *,
    sampling_rate: float | None = None,
    modality: str,
    kinds: "str | Sequence[str]" = ("waveform", "spectrogram_psd"),
    window: float | None = None,
    stride: float | None = None,
    preprocess: bool = True,
    max_windows: int | None = None,
    device: "str | torch.device | None" = None,
    kind_params: Mapping[str, Mapping[str, Any]] | None = None,
    resample: "str | float" = "model",
    max_missing: float = 0.5,
    quality: bool = True,
    column: "str | int | None" = None,
) -> tuple[Windows, dict[str, torch.Tensor]]:
    """Condition, window and render one channel: returns ``(windows, kind -> (N, 3, 224, 224))``.

    ``signal`` is what :func:`tiny_biomoe.embed.embed_signal` takes: 1-D samples (with
    ``sampling_rate``), a :class:`~tiny_biomoe.signals.Recording`, a pandas Series/DataFrame, a
    NeuroKit2 frame or an MNE ``Raw`` (channel by ``column`` or by the modality's name; the rate
    from the object unless ``sampling_rate`` is given).

    The windows come from :func:`tiny_biomoe.signals.conditioning.condition` with the same options
    as :func:`tiny_biomoe.embed.embed_signal` (``window``, ``stride``, ``preprocess``, ``resample``,
    ``max_missing``, ``kind_params``; ``multi`` gets its lines from the whole recording), so the
    previews are exactly the images the model is given. The returned windows are a
    :class:`~tiny_biomoe.signals.conditioning.Conditioned` (with ``quality`` flags and ``settings``).

    Args:
        signal: 1-D samples or a recording object (see above).
        sampling_rate: Hz (``None`` takes it from the object).
        modality: e.g. ``"eda"``, ``"bvp"``/``"ppg"``, ``"resp"``, ``"spo2"``, ``"ecg"``, ``"emg"``, ``"eeg"``.
        kinds: one representation kind or several (see :func:`tiny_biomoe.representations.list_kinds`).
        window: window length in seconds (default: the modality's window).
        stride: seconds between window starts (default: the window, no overlap).
        preprocess: apply the modality's filter (``False``: gaps and resampling only).
        max_windows: keep only the first N windows.
        device: where to render (``None``: the CPU).
        kind_params: per-kind parameter overrides, e.g. ``{"spectrogram_psd": {"preset": "paper"}}``.
        resample: ``"model"`` (default: the modality's model rate), ``"native"`` (the recording's rate) or a
            rate in Hz.
        max_missing: windows with a larger fraction of missing (NaN) samples are dropped (0.5: half).
        quality: compute per-window quality flags (``windows.quality``).
        column: the channel of a Recording (or pandas/MNE object), by name or index; ``None``: the only
            channel, else the one labelled with the modality.
    """
    from .signals.inmemory import one_channel

    signal, sampling_rate, _, _ = one_channel(signal, sampling_rate=sampling_rate, modality=modality, column=column,
                                              caller="render_signal")
    from .representations.multi import multi_lines_request

    m = get_modality(modality)
    kinds = kind_list(kinds)
    kp = dict(kind_params or {})
    names, line_settings = multi_lines_request(kinds, kp, m)
    wins = condition(signal, sampling_rate=sampling_rate, modality=m, window_s=window, stride_s=stride,
                     preprocess=preprocess,
                     resample=resample, max_missing=max_missing, max_windows=max_windows, lines=names,
                     line_settings=line_settings, quality=quality)
    from ._validate import check_work

    check_work(len(wins) * len(kinds) * 3 * 224 * 224 * 4, f"rendering {len(wins)} windows x {len(kinds)} kinds",
               hint="render fewer windows (max_windows, CLI --max-windows) or use a larger stride")
    return wins, {k: render(wins.data, kind=k, sampling_rate=wins.sampling_rate, modality=m, device=device,
                            lines=wins.lines, **dict(kp.get(k, {})))
                  for k in kinds}


def _to_uint8(img: torch.Tensor) -> np.ndarray:
    return (img.detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)


def contact_sheet(images: torch.Tensor, columns: int | None = None, gap: int = 4) -> np.ndarray:
    """Tile ``(N, 3, H, W)`` images into one ``uint8`` RGB grid with grey gaps."""
    n, _, h, w = images.shape
    cols = columns or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    sheet = np.full((rows * h + (rows + 1) * gap, cols * w + (cols + 1) * gap, 3), 160, np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = gap + r * (h + gap), gap + c * (w + gap)
        sheet[y : y + h, x : x + w] = _to_uint8(images[i])
    return sheet


#: the settings file of a previews folder (what made the images; it marks the folder as ours)
PREVIEWS_JSON = "previews.json"


def save_previews(
    images: Mapping[str, torch.Tensor], out_dir: str | os.PathLike, starts: Sequence[float] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write ``<kind>_sheet.png``, ``<kind>/window_<i>_<start>s.png`` and ``previews.json`` (``settings``,
    the window starts and the files) as the folder ``out_dir``.

    Everything is written into a temporary folder first and moved into place only when all files are
    complete, so a failure leaves no partial output. An existing ``out_dir`` is replaced whole when it is
    empty or an earlier previews folder (so no image of an earlier run is left beside the new ones); a
    folder of other files is refused (:class:`~tiny_biomoe.errors.OutputError`). Returns the written paths.
    """
    import json

    from PIL import Image

    from ._io import atomic_dir, check_replaceable_dir

    out = Path(out_dir)
    check_replaceable_dir(out, lambda d: (d / PREVIEWS_JSON).is_file() or _looks_like_previews(d), "previews folder",
                          PREVIEWS_JSON)
    rel: list[Path] = []
    with atomic_dir(out, replace=True) as tmp:  # umask permissions; removed by the next run if this one is killed
        for kind, imgs in images.items():
            Image.fromarray(contact_sheet(imgs)).save(tmp / f"{kind}_sheet.png")
            rel.append(Path(f"{kind}_sheet.png"))
            (tmp / kind).mkdir()
            for i, img in enumerate(imgs):
                tag = f"_{float(starts[i]):08.2f}s" if starts is not None else ""
                name = Path(kind) / f"window_{i:04d}{tag}.png"
                Image.fromarray(_to_uint8(img)).save(tmp / name)
                rel.append(name)
        meta = {"settings": dict(settings or {}), "kinds": list(images),
                "starts_s": None if starts is None else [float(v) for v in starts],
                "files": [r.as_posix() for r in rel]}
        (tmp / PREVIEWS_JSON).write_text(json.dumps(meta, indent=1, default=str))
        rel.append(Path(PREVIEWS_JSON))
    return [out / r for r in rel]


def _looks_like_previews(out: Path) -> bool:
    """A previews folder written before ``previews.json`` existed: sheets and kind folders of window PNGs only."""
    for p in out.iterdir():
        if p.is_file() and not p.name.endswith("_sheet.png"):
            return False
        if p.is_dir() and not all(q.is_file() and q.name.startswith("window_") and q.suffix == ".png"
                                  for q in p.iterdir()):
            return False
    return True


def render_file(
    input_path: str | os.PathLike,
    modality: str,
    out_dir: str | os.PathLike,
    *,
    sampling_rate: float | None = None,
    column: "str | int | None" = None,
    time_column: "str | int | None" = None,
    time_unit: str = "auto",
    kinds: "str | Sequence[str]" = ("waveform", "spectrogram_psd"),
    window: float | None = None,
    stride: float | None = None,
    preprocess: bool = True,
    max_windows: int | None = 16,
    device: "str | torch.device | None" = None,
    resample: "str | float" = "model",
    max_missing: float = 0.5,
    kind_params: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Path]:
    """Read a signal file, render one channel and write PNG previews (``biomoe render``).

    Takes every signal option of :func:`tiny_biomoe.embed.embed_file` (``window``, ``stride``,
    ``preprocess``, ``resample``, ``max_missing``, ``kind_params``): the previews are the model's images.
    """
    from .signals.readers import read_signal, time_unit_hint

    rec = read_signal(
        input_path, columns=None if column is None else [column], sampling_rate=sampling_rate, time_column=time_column,
        time_unit=time_unit,
    )
    channel, samples, fs = rec.pick(None, get_modality(modality).name)
    with time_unit_hint(rec):
        wins, images = render_signal(
            samples, sampling_rate=fs, modality=modality, kinds=kinds, window=window, stride=stride,
            preprocess=preprocess, max_windows=max_windows, device=device, kind_params=kind_params,
            resample=resample, max_missing=max_missing,
        )
    settings = {"input": str(input_path), "modality": get_modality(modality).name, "channel": channel,
                "sampling_rate_hz": float(fs), "window_s": float(wins.window_s), "stride_s": float(wins.stride_s),
                "windows_rendered": len(wins), "windows_in_recording": int(wins.n_candidates - wins.n_dropped),
                "max_windows": max_windows, "preprocess": bool(preprocess), "resample": resample,
                "max_missing": float(max_missing), "render": {k: render_info(k, wins.sampling_rate, wins.data.shape[1],
                                                                              modality, **dict((kind_params or {}).get(k, {})))
                                                           for k in images},
                "conditioning": getattr(wins, "settings", None)}
    paths = save_previews(images, out_dir, wins.starts, settings)
    return paths + [qa_sheet(samples, fs, wins, images, Path(out_dir) / "qa_sheet.png", title=str(input_path))]


def qa_sheet(
    signal: np.ndarray,
    sampling_rate: float,
    windows: Windows,
    images: Mapping[str, torch.Tensor],
    path: str | os.PathLike,
    *,
    max_windows: int = 6,
    title: str = "",
) -> Path:
    """A QA sheet PNG: the signal against time (s) with the windows shaded and numbered, above the
    first ``max_windows`` windows' images per kind, each captioned with its start in seconds; so a
    reader sees which part of the recording each image is. Written atomically; returns the path.

    ``windows.starts`` are on the time axis of ``signal`` (before any resampling in the windows).
    """
    from matplotlib.figure import Figure

    from ._io import atomic_path

    x = np.asarray(signal, dtype=np.float64)
    t = np.arange(x.size) / float(sampling_rate)
    kinds = list(images)
    n = min(int(max_windows), len(windows))
    cols = max(n, 1)
    fig = Figure(figsize=(max(6.0, 1.9 * cols), 2.2 + 1.9 * len(kinds)), dpi=100)
    grid = fig.add_gridspec(1 + len(kinds), cols, height_ratios=[1.3] + [1.0] * len(kinds))
    ax = fig.add_subplot(grid[0, :])
    ax.plot(t, x, lw=0.7, color="#1f4e79")
    for i, s in enumerate(np.asarray(windows.starts, dtype=np.float64)[:n]):
        ax.axvspan(s, s + windows.window_s, color="#dd8452" if i % 2 else "#55a868", alpha=0.18, lw=0)
        ax.text(s + 0.02 * windows.window_s, 0.97, str(i), transform=ax.get_xaxis_transform(), va="top", fontsize=7)
    ax.set_xlabel("time (s)", fontsize=8)
    ax.set_xlim(t[0] if t.size else 0, t[-1] if t.size else 1)
    ax.tick_params(labelsize=7)
    ax.set_title(f"{title} ({len(windows)} windows of {windows.window_s:g} s; first {n} shown)".strip(), fontsize=8)
    for r, k in enumerate(kinds):
        for c in range(n):
            a = fig.add_subplot(grid[1 + r, c])
            a.imshow(_to_uint8(images[k][c]))
            a.set_xticks([])
            a.set_yticks([])
            a.set_title(f"#{c} start {float(windows.starts[c]):g} s", fontsize=7)
            if c == 0:
                a.set_ylabel(k, fontsize=7)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
