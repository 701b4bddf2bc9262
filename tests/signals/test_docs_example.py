"""docs/signals.md: the example runs and the defaults table agrees with the code."""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path


from tiny_biomoe.signals import get_modality, list_modalities

DOC = Path(__file__).resolve().parents[2] / "docs" / "signals.md"


def test_defaults_table_matches_code():
    text = DOC.read_text()
    for name in list_modalities():
        m = get_modality(name)
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == f"{m.window_s:g} s"
        assert cells[3] == f"{m.stft_segment_s:g} s / {m.stft_overlap * 100:.0f} %"
        assert cells[5] == f"{m.model_rate_hz:g} Hz"
        if m.highpass_hz and m.lowpass_hz:
            assert cells[2] == f"band-pass {m.highpass_hz:g}-{m.lowpass_hz:g} Hz"
        elif m.lowpass_hz:
            assert cells[2] == f"low-pass {m.lowpass_hz:g} Hz"
        else:
            assert cells[2] == "none"


def test_example_runs(monkeypatch, reference_checkpoint):
    monkeypatch.setenv("TINY_BIOMOE_WEIGHTS", str(reference_checkpoint))  # no download in tests
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("error")  # the example must not need the random fallback here
        exec(compile(code, str(DOC), "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0] == "(3, 192) [ 0. 10. 20.]" and lines[1] == "400" and lines[2] == "0"


def test_conditioning_example_prints_what_it_says():
    text = DOC.read_text()
    start = text.index("## One conditioning path")
    code = re.search(r"```python\n(.*?)```", text[start:], re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), {})
    said = [ln.split("# ", 1)[1].strip() for ln in code.splitlines() if ln.startswith("print(")]
    assert out.getvalue().splitlines() == said
