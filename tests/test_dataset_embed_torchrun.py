"""`torchrun --nproc_per_node=2 biomoe embed ...` (2 CPU processes, gloo) gives the dataset of one process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from tiny_biomoe.dataset_embed import embed_dataset
from tiny_biomoe.embeddings_io import ERRORS_NAME, read_dataset_metadata, read_embedding_dataset


def _study(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for i, name in enumerate(["a/r1.csv", "a/r2.csv", "b/r3.csv", "b/r4.csv", "c/r5.csv"]):
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        t = np.arange(20 * (15 + 5 * i)) / 20
        pd.DataFrame({"time_s": t, "eda": 2 + np.sin(t / 2 + i) + 0.05 * rng.normal(size=t.size)}).to_csv(p, index=False)
    (root / "b" / "broken.csv").write_text("time_s,eda\n0,1\n")
    return root


def test_two_processes_equal_one(tmp_path, reference_checkpoint):
    study = _study(tmp_path / "study")
    args = dict(modality="eda", kinds=["waveform"], window=5.0, weights=str(reference_checkpoint))
    one = tmp_path / "one.parquet"
    res1 = embed_dataset([study], one, **args)
    two = tmp_path / "two.parquet"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "tiny_biomoe.cli",
           "embed", str(study), "--modality", "eda", "--kinds", "waveform", "--window", "5", "--no-progress",
           "--weights", str(reference_checkpoint), "-o", str(two), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    # one recording failed: the ranks exit with 3 once the index is written, which torchrun reports (and exits 1);
    # the rank that exits first makes torchrun stop the other (SIGTERM, exit code -15), so either may show
    codes = [int(c) for c in re.findall(r"exitcode\s*:\s*(-?\d+)", proc.stderr)]
    assert proc.returncode == 1 and 3 in codes and set(codes) <= {3, -15}, proc.stderr[-3000:]
    # rank 0 printed the totals of both ranks: 6 recordings, one failed
    summaries = [json.loads(s) for s in _json_objects(proc.stdout)]
    assert len(summaries) == 1 and summaries[0]["recordings"] == 6 and summaries[0]["failed"] == 1
    assert summaries[0]["embedded"] == res1.embedded == 5 and summaries[0]["n_windows"] == res1.n_windows
    # the parts of both ranks are in one dataset, equal to the single-process one
    m1, m2 = read_dataset_metadata(one), read_dataset_metadata(two)
    assert m1["parts"] == m2["parts"] and m1["settings"] == m2["settings"] and m1["failures"] == m2["failures"]
    assert (one / ERRORS_NAME).read_text() == (two / ERRORS_NAME).read_text()
    d1, d2 = read_embedding_dataset(one), read_embedding_dataset(two)
    pd.testing.assert_frame_equal(d1.drop(columns="embedding"), d2.drop(columns="embedding"))
    np.testing.assert_allclose(np.stack(d1["embedding"]), np.stack(d2["embedding"]), rtol=0, atol=1e-5)


def _json_objects(text: str) -> list[str]:
    """The top-level JSON objects printed one after another (each rank prints one)."""
    out, depth, start = [], 0, None
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
            start = i if depth == 1 else start
        elif ch == "}":
            depth -= 1
            if depth == 0 and start is not None:
                out.append(text[start : i + 1])
    return out
