"""BioMoEEmbedder passes scikit-learn's estimator checks (all of them; only the array-API check skips
itself unless SCIPY_ARRAY_API is set). Own file: ~20 s of the real network on the checks' data."""

from __future__ import annotations

import warnings

from sklearn.utils.estimator_checks import check_estimator

from tiny_biomoe.sklearn import BioMoEEmbedder, clear_memory_cache


def test_check_estimator(reference_checkpoint):
    clear_memory_cache()
    est = BioMoEEmbedder(sampling_rate=100.0, modality="eda", kinds="waveform", weights=str(reference_checkpoint))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SkipTestWarning of the array-API check
        results = check_estimator(est, on_fail=None)
    bad = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not bad
    assert sum(r["status"] == "passed" for r in results) >= 40
    clear_memory_cache()
