"""Images/s of the eager model and each fast form at batch 1, 8, 32 (2 threads), with ratios.

Usage: python benchmarks/bench_inference.py [--quick] [--json out.json] [--forms eager,fast,...]
The logic lives in tiny_biomoe._bench (private; also run by `biomoe bench --sections inference`).
"""

from __future__ import annotations

import sys

from tiny_biomoe.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--sections", "inference", *sys.argv[1:]]))
