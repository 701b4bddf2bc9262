"""``biomoe bench --quick`` runs every section and writes valid JSON (correctness only, never speed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tiny_biomoe._bench import BenchConfig, matplotlib_render
from tiny_biomoe.cli import main


def test_quick_bench_writes_all_fields(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "inference" in printed and "rendering" in printed and "end to end" in printed
    rep = json.loads(out.read_text())
    from tiny_biomoe.model.runtime import cpu_model

    # the name with family and model numbers, as the tuning cache keys it (VMs share names across CPU generations)
    assert rep["machine"]["cpu_model"] == cpu_model() and rep["config"]["threads"] == 2
    batches = rep["inference"]["batches"]
    assert set(batches) == {"1", "2"}
    for row in batches.values():
        assert set(row) == {"eager", "fast"}
        for r in row.values():
            assert r["images_per_s"] > 0 and r["min_s"] <= r["median_s"] and r["rounds"] == 2
        assert row["eager"]["ratio_vs_eager"] == pytest.approx(1.0)
        assert row["fast"]["ratio_vs_eager"] == pytest.approx(row["fast"]["images_per_s"] / row["eager"]["images_per_s"])
    assert rep["inference"]["max_abs_error_vs_eager"]["fast"] < 1e-4  # the timed form computes the same numbers
    for kind in ("waveform", "spectrogram_psd"):
        r = rep["render"]["kinds"][kind]
        assert r["ratio_torch_vs_matplotlib"] == pytest.approx(r["torch_images_per_s"] / r["matplotlib_images_per_s"])
    e2e = rep["end_to_end"]
    for name in ("eager", "fast"):
        assert 0 < e2e[name]["render_s"] < e2e[name]["total_s"] and 0 < e2e[name]["model_s"] < e2e[name]["total_s"]
        assert 0 < e2e[name]["render_share"] < 1 and e2e[name]["images"] > 0
        assert 0 < e2e[name]["outside_model_share"] < 1
    assert e2e["eager"]["inference"]["form"].startswith("_AsGiven")  # the baseline really is the eager model
    assert "FastTinyBioMoE" in e2e["fast"]["inference"]["form"]
    assert rep["peak_rss_mib"] > 0


def test_bench_rejects_unknown_forms(capsys):
    with pytest.raises(Exception, match="unknown benchmark form"):
        BenchConfig(forms=("eager", "turbo"))
    assert main(["bench", "--quick", "--forms", "turbo", "--sections", "inference"]) == 2
    assert "unknown benchmark form" in capsys.readouterr().err
    with pytest.raises(Exception, match="unknown benchmark section"):
        BenchConfig(sections=("inference", "rendering"))


def test_matplotlib_baseline_draws_224px_images():
    t = np.arange(2500)
    wins = np.stack([np.sin(t / 40.0), np.cos(t / 7.0)]).astype(np.float32)
    for kind in ("waveform", "spectrogram_psd"):
        img = matplotlib_render(wins, kind, 250.0)
        assert img.shape == (2, 3, 224, 224) and img.min() >= 0 and img.max() <= 1
        assert img[0].std() > 0.01 and not np.allclose(img[0], img[1])  # something was drawn, per window


def test_benchmarks_are_not_part_of_the_library():
    """No library module imports unittest (torch itself does, so sys.modules cannot tell); the benchmark
    module is private (``tiny_biomoe._bench``, imported by ``biomoe bench`` only)."""
    import ast
    import importlib.util
    from pathlib import Path

    import tiny_biomoe

    root = Path(tiny_biomoe.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(root)}: {n}" for n in names if n.split(".")[0] == "unittest"]
    assert offenders == []
    assert importlib.util.find_spec("tiny_biomoe.bench") is None
