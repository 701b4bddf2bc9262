"""Synthetic multimodal pain data (EDA, BVP, RESP, SpO2) for the demo and the tests.

**Numbers obtained on this data say nothing about real patients.** The generator only makes a
task with the *shape* of AI4PAIN 2025 (100 Hz, ~10 s trials, three classes No/Low/High pain,
subject-disjoint partitions) and label effects of modest, physiologically plausible direction and
size, so that the whole pipeline can be exercised and is learnable but not trivial:

* BVP (NeuroKit2 ``ppg_simulate``): heart rate rises with pain (up to ~+9 bpm for High, scaled by a
  per-subject responsiveness), pulse amplitude drops slightly (vasoconstriction);
* EDA (NeuroKit2 ``eda_simulate``): more and larger skin-conductance responses with pain, on a
  per-subject tonic level with drift;
* RESP (NeuroKit2 ``rsp_simulate``): faster (up to ~+3 breaths/min) and deeper breathing with pain;
* SpO2: a per-subject baseline of 95-99 % with occasional small dips (<= ~1.5 %), a little more
  often with pain, reported at 0.1 % resolution.

Every trial also gets sensor noise, slow drift and, with a small probability, an artefact (spike,
step or flat segment). Subject baselines differ more than the label effects, which is why
subject-wise evaluation matters. Everything is deterministic from ``seed``; one 10 s trial of
four modalities costs ~5 ms to generate.
"""

from __future__ import annotations


import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .._io import atomic_path
from ..errors import ConfigError, DatasetError
from .dataset import PainDataset, Trial
from .folders import AI4PAIN_CLASSES

__all__ = ["SyntheticPainConfig", "make_synthetic_pain", "write_ai4pain_layout", "SYNTHETIC_MODALITIES"]

SYNTHETIC_MODALITIES = ("EDA", "BVP", "RESP", "SpO2")
_INTENSITY = (0.0, 0.55, 1.0)  # No, Low, High pain


@dataclass
class SyntheticPainConfig:
    """Size and difficulty of the synthetic dataset.

    ``partitions``: fractions of *subjects* in train/validation/test (AI4PAIN-like fixed split), or
    ``None`` for no partition. ``effect_size`` scales all label effects (1.0 = default difficulty).
    """

    n_subjects: int = 12
    trials_per_class: int = 5
    duration_s: float = 10.0
    sampling_rate: float = 100.0
    effect_size: float = 1.0
    noise: float = 1.0
    artefact_rate: float = 0.04
    partitions: tuple[float, float, float] | None = (0.6, 0.2, 0.2)
    seed: int = 0

    def validate(self) -> None:
        """Raise :class:`ConfigError` for sizes or partitions the generator cannot make."""
        if self.n_subjects < 2 or self.trials_per_class < 1:
            raise ConfigError("synthetic data needs n_subjects >= 2 and trials_per_class >= 1")
        if self.duration_s < 4 or self.sampling_rate < 20:
            raise ConfigError("synthetic data needs duration_s >= 4 and sampling_rate >= 20 Hz")
        if self.partitions is not None and (len(self.partitions) != 3 or abs(sum(self.partitions) - 1) > 1e-6):
            raise ConfigError("partitions must be three fractions (train, validation, test) summing to 1, or None")


def _partition_of(n: int, fractions: tuple[float, float, float] | None) -> list[str | None]:
    if fractions is None:
        return [None] * n
    n_val = max(1, int(round(fractions[1] * n))) if fractions[1] > 0 else 0
    n_test = max(1, int(round(fractions[2] * n))) if fractions[2] > 0 else 0
    n_train = n - n_val - n_test
    if n_train < 1:
        raise ConfigError(f"{n} subjects are too few for partitions {fractions}; use more subjects or partitions=None")
    return ["train"] * n_train + ["validation"] * n_val + ["test"] * n_test


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    """Crop (or edge-pad, if a simulator returned a few samples short) to exactly ``n`` samples."""
    x = np.asarray(x, dtype=np.float64)[:n]
    return np.pad(x, (0, n - x.size), mode="edge") if x.size < n else x


def _artefact(x: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    n = x.size
    kind = rng.integers(3)
    i = int(rng.integers(0, n - n // 10))
    w = int(rng.integers(n // 50 + 1, n // 10 + 2))
    y = x.copy()
    if kind == 0:  # spike burst (motion)
        y[i : i + w] += rng.normal(0, 4 * scale, size=y[i : i + w].size)
    elif kind == 1:  # step (electrode shift)
        y[i:] += rng.choice([-1, 1]) * 2 * scale
    else:  # flat segment (sensor drop-out)
        y[i : i + w] = y[i]
    return y


def make_synthetic_pain(config: SyntheticPainConfig | None = None, **overrides) -> PainDataset:
    """Generate the synthetic pain dataset (deterministic from ``config.seed``).

    ``overrides`` replace fields of ``config`` (e.g. ``make_synthetic_pain(n_subjects=4, seed=1)``).
    """
    import neurokit2 as nk

    cfg = config or SyntheticPainConfig()
    if overrides:
        cfg = SyntheticPainConfig(**{**asdict(cfg), **overrides})
    cfg.validate()
    fs = float(cfg.sampling_rate)
    n = int(round(cfg.duration_s * fs))
    t = np.arange(n) / fs
    sim_dur = int(np.ceil(cfg.duration_s)) + 1  # NeuroKit2 simulators want whole seconds; we crop to n samples
    parts = _partition_of(cfg.n_subjects, cfg.partitions)
    subj_seeds = np.random.SeedSequence(cfg.seed).spawn(cfg.n_subjects)
    trials: list[Trial] = []
    for si, ss in enumerate(subj_seeds):
        rng = np.random.default_rng(ss)
        subj = f"S{si + 1:03d}"
        hr0, rr0 = rng.uniform(60, 88), rng.uniform(11, 19)
        scl0, scr_gain = rng.uniform(1.5, 12.0), rng.lognormal(-0.7, 0.4)
        spo2_0, resp_amp, ppg_amp = rng.uniform(95.5, 99.0), rng.uniform(0.5, 1.5), rng.uniform(0.6, 1.6)
        resp_k = rng.uniform(0.4, 1.4)  # how strongly this subject reacts
        order = [(c, k) for c in range(3) for k in range(cfg.trials_per_class)]
        rng.shuffle(order)
        for ti, (c, k) in enumerate(order):
            e = _INTENSITY[c] * cfg.effect_size * resp_k
            rs = int(rng.integers(2**31 - 1))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                hr = hr0 + 9.0 * e + rng.normal(0, 3.5)
                bvp = nk.ppg_simulate(duration=sim_dur, sampling_rate=int(round(fs)), heart_rate=float(np.clip(hr, 45, 150)),
                                      frequency_modulation=0.2, ibi_randomness=0.15, drift=0.0, motion_amplitude=0.0,
                                      powerline_amplitude=0.0, random_state=rs)
                bvp = _fit(bvp, n)
                n_scr = int(rng.poisson(0.5 + 1.6 * e))
                eda = nk.eda_simulate(duration=sim_dur, sampling_rate=int(round(fs)), noise=0.0, scr_number=n_scr,
                                      drift=0.0, random_state=rs + 1)
                eda = _fit(eda, n)
                rr = float(np.clip(rr0 + 3.0 * e + rng.normal(0, 1.2), 6, 40))
                resp = nk.rsp_simulate(duration=sim_dur, sampling_rate=int(round(fs)), noise=0.0, respiratory_rate=rr,
                                       random_state=rs + 2)
                resp = _fit(resp, n)
            noise = cfg.noise
            bvp = ppg_amp * (1 - 0.12 * e) * (bvp - bvp.mean()) + 0.15 * rng.uniform(-1, 1) * t / t[-1]
            bvp = bvp + rng.normal(0, 0.05 * noise, n)
            eda = scl0 + scr_gain * (1 + 0.4 * e) * (eda - 1.0) + rng.normal(0, 0.05) * t + rng.normal(0, 0.01 * noise, n)
            resp = resp_amp * (1 + 0.2 * e + rng.normal(0, 0.08)) * resp + 0.1 * rng.normal() * t / t[-1]
            resp = resp + rng.normal(0, 0.04 * noise, n)
            spo2 = np.full(n, spo2_0 + rng.normal(0, 0.3))
            if rng.random() < 0.25 + 0.35 * min(e, 1.0):
                c0, width = rng.uniform(0.2, 0.8) * t[-1], rng.uniform(1.0, 3.0)
                spo2 -= rng.uniform(0.4, 1.5) * np.exp(-0.5 * ((t - c0) / width) ** 2)
            spo2 += np.cumsum(rng.normal(0, 0.01 * noise, n))
            spo2 = np.round(np.clip(spo2, 80, 100), 1)
            sig = {"EDA": eda, "BVP": bvp, "RESP": resp, "SpO2": spo2}
            for m, scale in (("EDA", 0.3), ("BVP", 0.5), ("RESP", 0.5), ("SpO2", 1.0)):
                if rng.random() < cfg.artefact_rate:
                    sig[m] = _artefact(sig[m], rng, scale)
            trials.append(Trial(subj, f"{ti + 1:02d}", AI4PAIN_CLASSES[c], sig, {m: fs for m in sig}, parts[si], "synthetic"))
    notes = [
        "SYNTHETIC data generated by tiny_biomoe.data.synthetic: results on it say nothing about real patients.",
        f"config: {asdict(cfg)}",
    ]
    return PainDataset(f"synthetic(seed={cfg.seed})", trials, list(AI4PAIN_CLASSES), notes)


def write_ai4pain_layout(dataset: PainDataset, root: str | Path) -> Path:
    """Write ``dataset`` as an AI4PAIN-like folder that :func:`~tiny_biomoe.data.load_ai4pain` reads back.

    Layout: ``root/<partition>/<subject>_<label>_<trial>.csv`` with columns ``time`` (s) and one per
    modality; trials without a partition go to ``train``. Each file is written atomically.
    """
    root = Path(root)
    mods = dataset.modalities
    for tr in dataset.trials:
        part = tr.partition or "train"
        if set(tr.signals) != set(mods) or len({float(tr.sampling_rates[m]) for m in mods}) != 1:
            raise DatasetError(f"trial {tr.subject}/{tr.trial}: the AI4PAIN layout (one table per trial) needs every "
                               f"modality {mods} at one sampling rate; got {dict(tr.sampling_rates)}")
        fs = tr.sampling_rates[mods[0]]
        n = min(len(tr.signals[m]) for m in mods)
        cols = [np.arange(n) / fs] + [tr.signals[m][:n] for m in mods]
        data = np.column_stack(cols)
        label = tr.label if tr.label is not None else ""
        name = f"{tr.subject}_{label}_{tr.trial}.csv" if label else f"{tr.subject}_{tr.trial}.csv"
        with atomic_path(root / part / name) as tmp:
            np.savetxt(tmp, data, delimiter=",", header=",".join(["time", *mods]), comments="", fmt="%.6g")
    return root


