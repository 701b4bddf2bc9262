"""Rendering throughput of tiny_biomoe.representations.render against matplotlib (Agg, 224x224 px, no axes).

Usage: python benchmarks/bench_render.py [--quick] [--json out.json]
The logic lives in tiny_biomoe._bench (private; also run by `biomoe bench --sections render`).
"""

from __future__ import annotations

import sys

from tiny_biomoe.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--sections", "render", *sys.argv[1:]]))
