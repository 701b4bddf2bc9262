"""Signal -> embeddings throughput with tiny_biomoe.embed.embed_signal and the share of time spent rendering.

Usage: python benchmarks/bench_end_to_end.py [--quick] [--json out.json]
The logic lives in tiny_biomoe._bench (private; also run by `biomoe bench --sections end_to_end`).
"""

from __future__ import annotations

import sys

from tiny_biomoe.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--sections", "end_to_end", *sys.argv[1:]]))
