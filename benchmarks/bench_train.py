"""Training / fine-tuning step speed: the eager fp32 step against bf16 autocast, channels-last and
foreach / fused AdamW (the same backbone + linear classifier, the same batch).

Usage: python benchmarks/bench_train.py [--batch 8] [--rounds 3] [--threads 2] [--json out.json]

Prints images/s per variant and its ratio to the eager fp32 step (timed interleaved, median of
rounds, one untimed warm-up step each). About 1-1.5 minutes by default on 2 cores.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved, machine, med, save  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    import torch
    from torch import nn

    from tiny_biomoe import TinyBioMoE
    from tiny_biomoe.model.fast import bf16_supported

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    base = TinyBioMoE(check_inputs=False)
    x = torch.rand(args.batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    y = torch.arange(args.batch) % 3

    def variant(amp: bool, channels_last: bool, opt_kind: str):
        net = nn.Sequential(copy.deepcopy(base), nn.Linear(192, 3)).train()
        if channels_last:  # the convolutions only (expert 1's 4-D complex filter must stay as it is)
            for mod in net.modules():
                if isinstance(mod, nn.Conv2d):
                    mod.to(memory_format=torch.channels_last)
        kw = {"foreach": True} if opt_kind == "foreach" else ({"fused": True} if opt_kind == "fused" else {"foreach": False})
        opt = torch.optim.AdamW(net.parameters(), lr=1e-4, **kw)
        xi = x.contiguous(memory_format=torch.channels_last) if channels_last else x

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                loss = nn.functional.cross_entropy(net(xi).float(), y)
            loss.backward()
            opt.step()
        return step

    steps = {"eager_fp32": variant(False, False, "loop"), "fp32_foreach": variant(False, False, "foreach"),
             "fp32_channels_last_foreach": variant(False, True, "foreach")}
    if bf16_supported("cpu"):
        steps["bf16_autocast"] = variant(True, False, "loop")
        steps["bf16_channels_last_fused"] = variant(True, True, "fused")
    times = interleaved(steps, args.rounds, warmup=1)
    rows = {k: {"images_per_s": args.batch / med(ts), "x_eager_fp32": med(times["eager_fp32"]) / med(ts)} for k, ts in times.items()}
    report = {"machine": machine(), "config": vars(args), "steps": rows, "seconds": times}
    m = report["machine"]
    print(f"machine: {m.get('cpu_model')}, {args.threads} threads, load at start {m['load_average_at_start'][0]:.2f}")
    print(f"training step, batch {args.batch}, median of {args.rounds} interleaved rounds:")
    for k, r in rows.items():
        print(f"  {k:28s} {r['images_per_s']:5.1f} img/s  {r['x_eager_fp32']:.2f}x eager fp32")
    save("bench_train", report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
