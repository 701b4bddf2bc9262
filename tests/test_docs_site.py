"""The MkDocs site builds with warnings as errors, and the notebooks in examples/ run (nbclient)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="needs the docs extra: pip install 'tiny-biomoe[docs]'")
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("material")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(REPO / "mkdocs.yml"),
                        "-d", str(tmp_path / "site")], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    assert "BioMoEEmbedder" in api and "cut_trials" in api and "embed_signal" in api  # docstrings rendered
    for page in ("workflows", "signals", "pain"):
        assert (tmp_path / "site" / page / "index.html").is_file()


def _run_notebook(name: str, checkpoint, tmp_path, monkeypatch) -> tuple[list, str]:
    """Execute ``examples/<name>`` in ``tmp_path`` with the fixture weights and one thread; return the
    outputs it was stored with and the text of every output of the run (which had no error)."""
    nbformat = pytest.importorskip("nbformat", reason="needs the test extra (nbclient, nbformat, ipykernel)")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("TINY_BIOMOE_WEIGHTS", str(checkpoint))  # the kernel inherits the environment
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(REPO / "examples" / name, as_version=4)
    stored = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    nbclient.NotebookClient(nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    return stored, "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)


def test_quickstart_notebook_runs(reference_checkpoint, tmp_path, monkeypatch):
    _, text = _run_notebook("quickstart.ipynb", reference_checkpoint, tmp_path, monkeypatch)
    assert "EmbeddingResult(6 windows x 192" in text and "checkpoint.pt" in text
    assert "'misses': 48" in text  # 48 trials, each embedded once over the four folds


def test_evaluation_notebook_runs(reference_checkpoint, tmp_path, monkeypatch):
    _, text = _run_notebook("evaluation.ipynb", reference_checkpoint, tmp_path, monkeypatch)
    assert "95% CI" in text and "predictions.csv" in text and "report.html" in text
    assert (tmp_path / "report" / "predictions.csv").is_file()


def test_sklearn_pipeline_notebook_runs(reference_checkpoint, tmp_path, monkeypatch):
    stored, text = _run_notebook("sklearn_pipeline.ipynb", reference_checkpoint, tmp_path, monkeypatch)
    assert not stored  # stored without outputs
    assert "checkpoint.pt" in text  # the kernel used the weights it was given
    assert "(6, 192) (6, 192)" in text  # a 2-D array and a list of trials of different lengths
    for label in ("mean CV accuracy", "mean CV accuracy, trials of 6-10 s", "best mean CV accuracy"):
        acc = float(re.search(re.escape(label) + r": ([0-9.]+)", text).group(1))
        assert 0.5 < acc <= 1.0, (label, acc)  # two classes, 16 trials each: above chance
    cache = ast.literal_eval(re.search(r"\{'hits': \d+, 'misses': \d+, 'size': \d+\}", text).group(0))
    assert cache == {"hits": 96, "misses": 32, "size": 32}  # 32 trials embedded once, served 3 more times over 4 folds
    assert "trials embedded during the grid search: 0" in text
    assert "384 features" in text and "eda_spectrogram_psd_e191" in text and "eda_add_e0" in text
    weights = {float(t): ast.literal_eval(d) for t, d in re.findall(r"attention weights, temperature ([0-9.]+): (\{.*\})", text)}
    assert set(weights) == {0.1, 0.02} and all(abs(sum(w.values()) - 1) < 1e-3 for w in weights.values())
    assert min(weights[0.02], key=weights[0.02].get) == "40-50 s"  # the window with the artefact counts least
    assert weights[0.02]["40-50 s"] < weights[0.1]["40-50 s"]  # more so at a lower temperature
    diffs = [float(d) for d in re.findall(r"embedder vs pool_windows: max \|diff\| ([0-9.e+-]+)", text)]
    assert len(diffs) == 2 and max(diffs) < 1e-5  # the embedder pools the windows embed_signal embeds
