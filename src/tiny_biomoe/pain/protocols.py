"""Subject-wise evaluation protocols: no subject ever appears in both training and test data.

* ``split``: the dataset's own partitions, as the AI4PAIN challenge uses them: train on ``train``,
  report on ``validation`` (the test labels were never released; ``biomoe predict --partition test``
  writes the submission instead);
* ``loso``: leave-one-subject-out (:class:`sklearn.model_selection.LeaveOneGroupOut`);
* ``kfold``: k folds of whole subjects (:class:`sklearn.model_selection.GroupKFold`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from sklearn.model_selection import GroupKFold, GroupShuffleSplit, LeaveOneGroupOut

from ..errors import ConfigError, DatasetError

__all__ = ["Fold", "make_folds", "assert_subject_disjoint", "PROTOCOLS", "inner_validation_split"]

PROTOCOLS = ("split", "loso", "kfold")


@dataclass(frozen=True)
class Fold:
    """Indices of one train/test split; ``name`` says what is tested (e.g. ``'subject S003'``)."""

    name: str
    train: np.ndarray
    test: np.ndarray


def assert_subject_disjoint(groups: Sequence, train: np.ndarray, test: np.ndarray) -> None:
    """Raise if any subject has samples on both sides (a leak)."""
    g = np.asarray(groups)
    shared = set(g[train].tolist()) & set(g[test].tolist())
    if shared:
        raise AssertionError(f"subjects in both train and test: {sorted(shared)[:5]}")


def make_folds(
    protocol: str,
    groups: Sequence,
    partitions: Sequence[str] | None = None,
    *,
    n_folds: int = 5,
    train_partition: str = "train",
    test_partitions: Sequence[str] = ("validation",),
    labelled: np.ndarray | None = None,
) -> list[Fold]:
    """The folds of ``protocol`` over samples with subject ids ``groups``.

    ``partitions`` (per sample; ``''`` = none) is needed for ``split``: the model is trained on
    ``train_partition`` and each of ``test_partitions`` with labelled samples gives one fold (default:
    ``validation`` only, the challenge's reporting set). A subject found in both the training and a
    test partition is a DatasetError (the partitions must be subject-disjoint). ``labelled`` (bool
    per sample) excludes unlabelled samples from every fold. Every fold is checked to be subject-disjoint.

    Args:
        protocol: ``"split"``, ``"loso"`` or ``"kfold"`` (see the module docstring).
        groups: subject id per sample.
        partitions: partition per sample (``"split"`` only; see above).
        n_folds: number of folds of ``"kfold"`` (2 to the number of subjects); unused by the others.
        train_partition: the partition ``"split"`` trains on.
        test_partitions: the partitions ``"split"`` reports on, one fold each.
        labelled: bool per sample (see above); ``None``: all labelled.
    """
    g = np.asarray(groups)
    idx = np.arange(g.size)
    lab = np.ones(g.size, bool) if labelled is None else np.asarray(labelled, bool)
    folds: list[Fold] = []
    if protocol == "split":
        p = np.asarray(partitions if partitions is not None else [])
        if not any(p.tolist()):
            raise ConfigError("protocol 'split' needs a dataset with partitions (train/validation/test); use loso or kfold")
        tr = idx[(p == train_partition) & lab]
        if tr.size == 0:
            raise DatasetError(f"protocol 'split': no labelled samples in partition {train_partition!r} (found {sorted(set(p.tolist()))})")
        for tp in test_partitions:
            te = idx[(p == tp) & lab]
            if te.size:
                shared = sorted(set(g[tr].tolist()) & set(g[te].tolist()))
                if shared:
                    raise DatasetError(f"protocol 'split': subjects {shared[:5]} are in both {train_partition!r} and {tp!r}; "
                                       "the partitions must hold different participants (fix the folders, or use loso/kfold)")
                folds.append(Fold(tp, tr, te))
        if not folds:
            raise DatasetError(f"protocol 'split': no labelled samples in the reporting partitions {list(test_partitions)} "
                               f"(found {sorted(set(p.tolist()) - {''})}); the split protocol trains on {train_partition!r} "
                               "and reports on these")
    elif protocol in ("loso", "kfold"):
        sel = idx[lab]
        gs = g[sel]
        n_subj = len(set(gs.tolist()))
        if n_subj < 2:
            raise DatasetError(f"protocol {protocol!r} needs at least 2 subjects, found {n_subj}")
        if protocol == "loso":
            splitter = LeaveOneGroupOut()
        else:
            if n_folds < 2 or n_folds > n_subj:
                raise ConfigError(f"kfold needs 2 <= n_folds <= number of subjects ({n_subj}), got {n_folds}")
            splitter = GroupKFold(n_splits=n_folds)
        for i, (a, b) in enumerate(splitter.split(sel, groups=gs)):
            name = f"subject {gs[b][0]}" if protocol == "loso" else f"fold {i + 1}"
            folds.append(Fold(name, sel[a], sel[b]))
    else:
        raise ConfigError(f"unknown protocol {protocol!r}; choose from {list(PROTOCOLS)}")
    for f in folds:
        assert_subject_disjoint(g, f.train, f.test)
    return folds


def inner_validation_split(groups: Sequence, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split training samples into (fit, validation) index arrays by whole subjects (for early stopping).

    With fewer than 2 subjects, the split falls back to a seeded random split of samples.
    """
    g = np.asarray(groups)
    idx = np.arange(g.size)
    if len(set(g.tolist())) >= 2:
        gss = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        a, b = next(gss.split(idx, groups=g))
        return a, b
    rng = np.random.default_rng(seed)
    perm = rng.permutation(g.size)
    k = max(1, int(round(fraction * g.size)))
    return np.sort(perm[k:]), np.sort(perm[:k])


