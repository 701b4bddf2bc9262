"""Every ```python block of README.md and docs/*.md runs as written (blocks of one page share one
namespace, in order, like a notebook), in a temporary folder, on the fixture weights.

A block that cannot run here says why on the line just above its fence:
``<!-- doc-test: skip (reason) -->`` (e.g. it needs a dataset that is not redistributable).
The official weights' file name ``Tiny-BioMoE.pth`` and the name ``tiny-biomoe`` resolve to the
test fixture checkpoint; nothing else is injected.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_BLOCK = re.compile(r"(?:^(<!--\s*doc-test:\s*skip\s*\((?P<why>[^\n]*?)\)\s*-->)\n)?^```python\n(?P<code>.*?)^```", re.M | re.S)


def blocks(page: Path) -> list[tuple[int, str, str | None]]:
    """``(line, code, skip reason or None)`` of every python block of ``page``."""
    text = page.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start("code")) + 1, m.group("code"), m.group("why")) for m in _BLOCK.finditer(text)]


def test_skips_give_a_reason():
    for page in PAGES:
        for line, _, why in blocks(page):
            assert why is None or len(why.strip()) > 10, f"{page.name}:{line}: say why the block cannot run"


@pytest.mark.parametrize("page", [p for p in PAGES if any(w is None for _, _, w in blocks(p))], ids=lambda p: p.name)
def test_page_snippets_run(page, reference_checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TINY_BIOMOE_WEIGHTS", str(reference_checkpoint))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    ns: dict = {"__name__": f"doc:{page.name}"}
    for line, code, why in blocks(page):
        if why is not None:
            continue
        code = code.replace('"Tiny-BioMoE.pth"', repr(str(reference_checkpoint)))
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                exec(compile("\n" * (line - 1) + code, str(page), "exec"), ns)  # noqa: S102 - our own docs
            except Exception as exc:  # name the page and line of the failing snippet
                raise AssertionError(f"{page.name}: the python block at line {line} fails: {exc!r}") from exc
