"""docs/robustness.md: its Python example runs and its limits table is the code's."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from tiny_biomoe._validate import LIMITS

DOC = Path(__file__).resolve().parents[1] / "docs" / "robustness.md"


def test_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert blocks
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for b in blocks:
            exec(b, {})  # noqa: S102
    text = out.getvalue()
    assert "window must be a finite number" in text and "over the limit of 8 GiB" in text


def test_limits_table_matches_code():
    text = DOC.read_text(encoding="utf-8")
    for name, value in LIMITS.items():
        row = next(ln for ln in text.splitlines() if ln.startswith("|") and f"`TINY_BIOMOE_{name}`" in ln)
        shown = row.split("|")[2].strip()
        expect = f"{value / 2**30:g} GiB" if name.endswith("BYTES") else f"{value:g}" if isinstance(value, float) \
            else str(value)
        assert shown == expect, (name, shown, expect)
