"""Every install hint names an extra that pyproject.toml defines, and CI's extras cover the docs build."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _extras() -> dict[str, list[str]]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]


def test_require_calls_and_docs_name_existing_extras():
    extras = set(_extras()) | {"core"}  # "core": require() of a base dependency (its doctest)
    named: dict[str, set[str]] = {}
    for py in (REPO / "src" / "tiny_biomoe").rglob("*.py"):
        text = py.read_text(encoding="utf-8")
        for extra in re.findall(r"require\(\s*\"[\w.]+\",\s*\"(\w+)\"", text):
            named.setdefault(extra, set()).add(str(py.relative_to(REPO)))
        for group in re.findall(r"tiny-biomoe\[([\w,]+)\]", text):
            for extra in group.split(","):
                named.setdefault(extra, set()).add(str(py.relative_to(REPO)))
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for group in re.findall(r"tiny-biomoe\[([\w,]+)\]", doc.read_text(encoding="utf-8")):
            for extra in group.split(","):
                named.setdefault(extra, set()).add(doc.name)
    assert "hub" in named and "io" in named  # the scan found the hints it is meant to check
    missing = {e: sorted(w) for e, w in named.items() if e not in extras}
    assert not missing, f"install hints name extras pyproject.toml lacks: {missing}"


def test_ci_installs_what_the_docs_and_hub_tests_need():
    extras = _extras()
    run = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    wanted = re.search(r"-e \"\.\[([\w,]+)\]\"", run)
    assert wanted, "the CI script's pip install -e .[...] line changed; update this test"

    def closure(names):
        out: list[str] = []
        for n in names:
            for req in extras.get(n, []):
                inner = re.fullmatch(r"tiny-biomoe\[([\w,]+)\]", req)
                out += closure(inner.group(1).split(",")) if inner else [req]
        return out

    reqs = " ".join(closure(wanted.group(1).split(",")))
    for pkg in ("huggingface_hub", "mkdocs", "mkdocs-material", "mkdocstrings", "nbclient", "ipykernel"):
        assert pkg in reqs, f"CI (.ci/run) does not install {pkg}; its test would be skipped there"
