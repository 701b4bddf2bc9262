"""Every inference form at batch 32 against the eager model AND against ``torch.compile(eager)``,
with the share of the machine's matmul peak each reaches (measured in the same run).

Usage: python benchmarks/bench_forms.py [--batch 32] [--rounds 3] [--threads 2] [--no-compile] [--onnx] [--json out.json]

Forms (timed interleaved, median of rounds; images/s):
  eager          TinyBioMoE as it is (the training module)
  compile_eager  torch.compile(eager) -- the user's cheap alternative and the baseline to beat
  fast           the default form (tiny_biomoe.model.runtime.get_embedder, fp32), whole batch
  fast_mb8       the same in micro-batches of 8
  fast_unfused   optimize_for_inference(fuse=False): no oneDNN conv/linear + activation fusion
  bf16           get_embedder(precision="bf16") (bf16 weights; CPUs with AVX-512 BF16 / AMX)
  onnx           get_embedder(backend="onnx") in chunks of 8 (with --onnx; exported once, ~25 s)
The FLOPs per image are counted with torch.utils.flop_counter on the eager model; the peaks are
2048^3 matmuls in fp32 and bf16 at the same thread count (best of 3), measured in every round: a
form's share of the peak is the median over rounds of its GFLOP/s against the peak of its round. About 1.5-2 minutes by default
(compiling the eager model takes most of it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved, machine, med, save  # noqa: E402


def _peak_probe(dtype, n: int = 2048, reps: int = 3):
    """A callable that measures the matmul peak now (GFLOP/s, best of ``reps``), and the list it appends to.

    Timed inside every interleaved round, so that each form's share of the peak is taken against
    the peak of its own round: this VM's speed drifts by 10-25 % within minutes, and a peak
    measured once at the start made the share move from 61 to 90 % between runs.
    """
    import torch

    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    got: list[float] = []

    def probe() -> float:
        got.append(2 * n**3 / min(_timed(lambda: torch.mm(a, b)) for _ in range(reps)) / 1e9)
        return got[-1]

    return probe, got


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--onnx", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from tiny_biomoe import TinyBioMoE
    from tiny_biomoe.model import runtime
    from tiny_biomoe.model.fast import bf16_supported, optimize_for_inference

    torch.set_num_threads(args.threads)
    report = {"machine": machine(), "config": vars(args), "notes": []}
    torch.manual_seed(0)
    model = TinyBioMoE().eval()  # seeded random weights: speed does not depend on the values
    x = torch.rand(args.batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        model(x[:1])
    gflop = fc.get_total_flops() / 1e9
    probes = {"fp32": _peak_probe(torch.float32)}
    if bf16_supported("cpu"):
        probes["bf16"] = _peak_probe(torch.bfloat16)
    forms = {"eager": model}
    t0 = time.perf_counter()
    if not args.no_compile:
        comp = torch.compile(model)
        with torch.inference_mode():
            comp(x)  # compile for this shape now, not while timing
        forms["compile_eager"] = comp
        report["notes"].append(f"torch.compile(eager): compiled in {time.perf_counter() - t0:.0f} s")
    forms["fast"] = runtime.get_embedder(model, micro_batch=None)
    forms["fast_mb8"] = runtime.get_embedder(model, micro_batch=8)
    forms["fast_unfused"] = optimize_for_inference(model, micro_batch=None, fuse=False)
    if bf16_supported("cpu"):
        forms["bf16"] = runtime.get_embedder(model, precision="bf16", micro_batch=None)
    else:
        report["notes"].append("bf16 skipped: no AVX-512 BF16 / AMX on this CPU")
    if args.onnx:
        t0 = time.perf_counter()
        forms["onnx"] = runtime.get_embedder(model, backend="onnx", micro_batch=8)
        report["notes"].append(f"onnx: ready in {time.perf_counter() - t0:.0f} s (export included if not cached)")
    with torch.inference_mode():
        ref = model(x[:4])
        errors = {}
        for k, f in forms.items():
            out = f(x[:4]).float()
            cos = torch.nn.functional.cosine_similarity(out, ref, dim=1)
            errors[k] = {"max_abs": float((out - ref).abs().max()), "min_cosine": float(cos.min())}
        calls = {k: (lambda f=f: f(x)) for k, f in forms.items()}
        calls.update({f"_peak_{p}": probe for p, (probe, _) in probes.items()})
        times = interleaved(calls, args.rounds, warmup=1)
    peak_rounds = {p: got[-args.rounds:] for p, (_, got) in probes.items()}  # the warm-up round's left out
    peaks = {p: med(v) for p, v in peak_rounds.items()}
    rows = {}
    base_c = med(times["compile_eager"]) if "compile_eager" in times else None
    for k, ts in times.items():
        if k.startswith("_peak_"):
            continue
        ips = args.batch / med(ts)
        per_round = peak_rounds["bf16" if k == "bf16" else "fp32"]
        share = med([args.batch / t * gflop / p for t, p in zip(ts, per_round)])  # against its own round's peak
        rows[k] = {"images_per_s": ips, "images_per_s_best": args.batch / min(ts), "x_eager": med(times["eager"]) / med(ts),
                   "x_compile_eager": (base_c / med(ts)) if base_c else None,
                   "gflop_per_s": ips * gflop, "share_of_peak": share, **errors[k]}
    report.update(gflop_per_image=gflop, matmul_peak_gflop_per_s=peaks, matmul_peak_rounds=peak_rounds, forms=rows,
                  seconds={k: v for k, v in times.items() if not k.startswith("_peak_")})
    m = report["machine"]
    print(f"machine: {m.get('cpu_model')}, {args.threads} threads, load at start {m['load_average_at_start'][0]:.2f}; "
          f"{gflop:.2f} GFLOP/image; matmul peak (median of rounds) fp32 {peaks['fp32']:.0f} GFLOP/s"
          + (f", bf16 {peaks['bf16']:.0f} GFLOP/s" if "bf16" in peaks else ""))
    print(f"batch {args.batch}, median of {args.rounds} interleaved rounds:")
    for k, r in rows.items():
        xc = f"{r['x_compile_eager']:.2f}x compile(eager)" if r["x_compile_eager"] else ""
        print(f"  {k:14s} {r['images_per_s']:6.1f} img/s [best {r['images_per_s_best']:5.1f}]  {r['x_eager']:.2f}x eager  {xc:24s}"
              f" {100 * r['share_of_peak']:4.0f} % of peak  max|err| {r['max_abs']:.1e}  cos {r['min_cosine']:.6f}")
    for n in report["notes"]:
        print(f"  note: {n}")
    save("bench_forms", report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
