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
from typing import Sequence

import numpy as np

from .._io import atomic_path
from ..errors import ConfigError, DatasetError
from .dataset import PainDataset, Trial
from .ai4pain import AI4PAIN_CLASSES

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


#: modality -> folder name of the distributed AI4PAIN layout
AI4PAIN_FOLDER_NAMES = {"EDA": "Eda", "BVP": "Bvp", "RESP": "Resp", "SpO2": "SpO2"}
_STATE_OF = {"No_Pain": "Baseline", "Low_Pain": "LOW", "High_Pain": "HIGH"}


def write_ai4pain_layout(
    dataset: PainDataset,
    root: str | Path,
    *,
    blind_partitions: Sequence[str] = ("test",),
    wrapper: str | None = None,
) -> Path:
    """Write ``dataset`` in the AI4PAIN 2025 layout as the challenge distributes it; returns the folder
    that holds the partitions (``root``, or ``root/wrapper``).

    Layout: ``<partition>/{Bvp,Eda,Resp,SpO2}/<subject>.csv`` (trials without a partition go to
    ``train``), no time column, one column per segment, padded with empty cells to the longest:
    the subject's No_Pain trials concatenated into one ``<subject>_Baseline_1`` column, each
    Low_Pain/High_Pain trial one ``<subject>_LOW_<k>``/``<subject>_HIGH_<k>`` column (in trial
    order). In ``blind_partitions`` (and for unlabelled trials) every trial is one blinded column
    ``<subject>_<k>``. :func:`~tiny_biomoe.data.load_ai4pain` reads it back; with trials of
    ``segment_s`` seconds (10 s) and at most ``baseline_segments`` (6) No_Pain trials per subject it
    gives back exactly the same trials. Every file is written atomically.
    """
    import pandas as pd

    base = Path(root) / wrapper if wrapper else Path(root)
    mods = dataset.modalities
    unknown = [m for m in mods if m not in AI4PAIN_FOLDER_NAMES]
    if unknown:
        raise DatasetError(f"the AI4PAIN layout has folders for {list(AI4PAIN_FOLDER_NAMES)} only, not {unknown}; "
                           "select those modalities first (dataset.select([...]))")
    blind = {b.lower() for b in blind_partitions}
    groups: dict[tuple[str, str], list[Trial]] = {}
    for tr in dataset.trials:
        if set(tr.signals) != set(mods) or len({float(tr.sampling_rates[m]) for m in mods}) != 1:
            raise DatasetError(f"trial {tr.subject}/{tr.trial}: the AI4PAIN layout needs every modality {mods} at one "
                               f"sampling rate; got {dict(tr.sampling_rates)}")
        if tr.label is not None and tr.label not in _STATE_OF:
            raise DatasetError(f"trial {tr.subject}/{tr.trial}: label {tr.label!r} has no AI4PAIN 2025 state "
                               f"(known: {list(_STATE_OF)})")
        groups.setdefault((tr.partition or "train", tr.subject), []).append(tr)
    for (part, subj), trs in groups.items():
        blinded = part.lower() in blind
        for m in mods:
            cols: dict[str, np.ndarray] = {}
            k: dict[str, int] = {}
            base_parts = []
            for tr in trs:
                n = min(len(tr.signals[mm]) for mm in mods)  # one segment, one length in every modality
                x = np.asarray(tr.signals[m][:n], dtype=np.float64)
                if blinded or tr.label is None:
                    k["blind"] = k.get("blind", 0) + 1
                    cols[f"{subj}_{k['blind']}"] = x
                elif tr.label == "No_Pain":
                    base_parts.append(x)
                else:
                    st = _STATE_OF[tr.label]
                    k[st] = k.get(st, 0) + 1
                    cols[f"{subj}_{st}_{k[st]}"] = x
            if base_parts:
                cols = {f"{subj}_Baseline_1": np.concatenate(base_parts), **cols}
            df = pd.DataFrame({c: pd.Series(v) for c, v in cols.items()})  # shorter columns: empty cells
            with atomic_path(base / part / AI4PAIN_FOLDER_NAMES[m] / f"{subj}.csv") as tmp:
                df.to_csv(tmp, index=False, na_rep="", float_format="%.9g")
    return base
