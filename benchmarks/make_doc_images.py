"""Example images for docs/signals.md ("Images that carry the signal"): docs/images/band_<modality>.png.

Usage: python benchmarks/make_doc_images.py [--out docs/images]

For each modality, one generated recording (tiny_biomoe.signals.simulate) at 1000 Hz (SpO2 at
64 Hz, as a pulse oximeter exports it), conditioned as bench_informative.py does, and its first
window rendered as: waveform | spectrogram_psd paper preset (0..Nyquist) | spectrogram_psd
default (the modality's band) | spectrogram_angle paper | spectrogram_angle default. Tiles are
shrunk to 112 px so the files stay small; the title row of the page says which is which.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_informative import conditioned_windows  # noqa: E402

from tiny_biomoe._io import atomic_path  # noqa: E402
from tiny_biomoe.previews import contact_sheet  # noqa: E402
from tiny_biomoe.representations import render  # noqa: E402
from tiny_biomoe.signals.modalities import list_modalities  # noqa: E402
from tiny_biomoe.signals.simulate import simulate_recording  # noqa: E402

PANELS = (("waveform", {}), ("spectrogram_psd", {"preset": "paper"}), ("spectrogram_psd", {}),
          ("spectrogram_angle", {"preset": "paper"}), ("spectrogram_angle", {}))
TILE = 112


def strip(modality: str) -> np.ndarray:
    """The five panels of one modality's first window, as one uint8 RGB image."""
    fs = 64 if modality == "spo2" else 1000
    x = simulate_recording(modality, duration_s=30, sampling_rate=fs, seed=0)
    w = conditioned_windows(x, fs, modality)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imgs = torch.cat([render(w.data[:1], kind=k, sampling_rate=w.sampling_rate, modality=modality, **p) for k,
                          p in PANELS])
    small = F.interpolate(imgs, size=(TILE, TILE), mode="bilinear", align_corners=False, antialias=True)
    return contact_sheet(small.clamp(0, 1), columns=len(PANELS), gap=3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "docs" / "images"))
    args = ap.parse_args(argv)
    from PIL import Image

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for modality in list_modalities():
        target = out / f"band_{modality}.png"
        with atomic_path(target) as tmp:
            Image.fromarray(strip(modality)).save(tmp, format="PNG", optimize=True)
        print(f"wrote {target} ({target.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
