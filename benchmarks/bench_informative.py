"""Share of image rows and columns that carry the signal, per modality, kind and recording rate.

Usage: python benchmarks/bench_informative.py [--quick] [--json out.json] [--seeds N]

Recordings come from tiny_biomoe.signals.simulate (NeuroKit2's simulators; SpO2 a slow series
of whole percents) at 64, 100, 250 and 1000 Hz, conditioned as the default conditioning does
(the modality's filter, then resampling to the modality's model rate), cut into the modality's
windows, rendered with every kind's defaults and, for the spectrogram kinds, also with the
``paper`` preset (0..Nyquist, matplotlib's defaults) for comparison. The measure is
tiny_biomoe.representations.informative (see its docstring): a row carries signal when one of
its pixels differs from the kind's background by more than 3 % of the range; for the angle and
phase kinds only where the same window has power (within 60 dB of its maximum).
Printed: the mean over windows (and the worst window) of the row, column and pixel shares.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import numpy as np

from tiny_biomoe._io import atomic_path
from tiny_biomoe.representations import list_kinds
from tiny_biomoe.representations.informative import informative_share
from tiny_biomoe.signals.modalities import get_modality, list_modalities
from tiny_biomoe.signals.simulate import simulate_recording
from tiny_biomoe.signals.conditioning import band_top_hz, condition
from tiny_biomoe.signals.windowing import Windows

RATES = (64, 100, 250, 1000)
SPECTROGRAMS = ("spectrogram_psd", "spectrogram_angle", "spectrogram_phase")
TARGET = 0.80


def model_rate(modality: str) -> float:
    """The modality's model rate (``ModalityDefaults.model_rate_hz``), the rate default conditioning resamples to."""
    return float(get_modality(modality).model_rate_hz)


def conditioned_windows(x: np.ndarray, fs: float, modality: str) -> Windows:
    """Default conditioning: the modality's filter, resampling to its model rate, its windows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # below the band: reported by covers_band() in the table instead
        return condition(x, sampling_rate=fs, modality=modality)


def covers_band(modality: str, fs: float) -> bool:
    """Whether a recording at ``fs`` can carry the modality's band (its Nyquist reaches the band's top)."""
    top = band_top_hz(modality)
    return top is None or fs / 2 >= top


def measure(modalities, rates, duration_s: float, seeds: int) -> list[dict]:
    rows = []
    for mod in modalities:
        for fs in rates:
            wins = [conditioned_windows(simulate_recording(mod, duration_s=duration_s, sampling_rate=fs, seed=s), fs, mod)
                    for s in range(seeds)]
            data = np.concatenate([w.data for w in wins])
            rate = wins[0].sampling_rate
            for kind in list_kinds():
                for preset in (("modality", "paper") if kind in SPECTROGRAMS else (None,)):
                    params = {} if preset is None else {"preset": preset}
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # e.g. a segment shrunk to a short window
                        r = informative_share(data, kind=kind, sampling_rate=rate, modality=mod, **params)
                    rows.append({
                        "modality": mod, "recorded_hz": fs, "model_hz": rate, "kind": kind,
                        "preset": preset or "-", "windows": int(data.shape[0]),
                        **{f"{k}_mean": float(v.mean()) for k, v in r.items()},
                        **{f"{k}_min": float(v.min()) for k, v in r.items()},
                    })
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="30 s recordings, one seed (a smoke run)")
    ap.add_argument("--seeds", type=int, default=3, help="recordings per modality and rate (default 3)")
    ap.add_argument("--json", help="also write the table as JSON")
    args = ap.parse_args(argv)
    duration, seeds = (30.0, 1) if args.quick else (60.0, args.seeds)
    t0 = time.perf_counter()
    table = measure(list_modalities(), RATES, duration, seeds)
    print(f"informative share in %: rows mean (worst window) / columns mean, over {seeds} x {duration:g} s "
          "recordings per modality and recorded rate (-> the model rate the windows are rendered at)")
    cases: dict[tuple[str, str, str], dict[int, dict]] = {}
    for r in table:
        cases.setdefault((r["modality"], r["kind"], r["preset"]), {})[r["recorded_hz"]] = r
    head = " ".join(f"{f'{fs} Hz':>17}" for fs in RATES)
    print(f"{'modality':8} {'kind':18} {'preset':8} {head}")
    failed, below = [], []
    for (mod, kind, preset), by_rate in cases.items():
        cells = []
        for fs in RATES:
            r = by_rate[fs]
            cells.append(f"{100 * r['rows_mean']:3.0f} ({100 * r['rows_min']:3.0f}) {100 * r['columns_mean']:3.0f}".rjust(17))
            if kind in SPECTROGRAMS and preset == "modality" and r["rows_min"] < TARGET:
                (failed if covers_band(mod, fs) else below).append(r)
        print(f"{mod:8} {kind:18} {preset:8} {' '.join(cells)}")
    print("windows rendered at: " + ", ".join(
        f"{m} {model_rate(m):g} Hz" if model_rate(m) else f"{m} the recorded rate" for m in sorted({r["modality"] for r in table})))
    print(f"target: every default spectrogram image >= {TARGET:.0%} of its rows: "
          f"{'reached' if not failed else f'MISSED in {len(failed)} cases'} ({time.perf_counter() - t0:.1f} s)")
    for r in failed:
        print(f"  missed: {r['modality']} at {r['recorded_hz']} Hz, {r['kind']}: worst window {r['rows_min']:.1%}")
    if below:
        print("not counted (the recording's Nyquist is below the modality's band, which conditioning warns about):")
        for r in below:
            print(f"  {r['modality']} at {r['recorded_hz']} Hz (Nyquist {r['recorded_hz'] / 2:g} Hz < "
                  f"{band_top_hz(r['modality']):g} Hz), {r['kind']}: worst window {r['rows_min']:.1%}")
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(table, indent=1))
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
