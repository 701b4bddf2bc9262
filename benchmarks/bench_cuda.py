"""On a machine with an NVIDIA GPU: images/s per inference form and batch, and the error against the
reference fixtures. Run as it is: ``python benchmarks/bench_cuda.py [--batches 1 32 128 256] [--json out.json]``.

Forms: eager (TinyBioMoE on the GPU), fast fp32 / bf16 / fp16 (tiny_biomoe.model.runtime.get_embedder:
whole batches, channels-last, autocast), and the end-to-end path (render on the GPU from pinned
windows + model) for 512 EDA windows. Errors: max |embedding - expected| and min cosine on the six
fixture images (shared/fixtures/reference), where those files exist; float32 must meet 1e-4.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, save  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "reference"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 32, 128, 256])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    import torch

    from tiny_biomoe import TinyBioMoE
    from tiny_biomoe.model import runtime

    if not torch.cuda.is_available():
        print("no CUDA device here; run this on a machine with an NVIDIA GPU", file=sys.stderr)
        return 2
    dev = torch.device("cuda")
    report = {"machine": machine(), "gpu": torch.cuda.get_device_name(0), "config": vars(args), "forms": {}, "errors": {}}
    if (FIXTURES / "checkpoint.pt").exists():
        model = TinyBioMoE.from_pretrained(FIXTURES / "checkpoint.pt", map_location=dev)
    else:
        torch.manual_seed(0)
        model = TinyBioMoE().to(dev).eval()
    forms = {"eager": model, "fast_fp32": runtime.get_embedder(model, precision="fp32")}
    if torch.cuda.is_bf16_supported():
        forms["fast_bf16"] = runtime.get_embedder(model, precision="bf16")
    forms["fast_fp16"] = runtime.get_embedder(model, precision="fp16")
    if (FIXTURES / "inputs.pt").exists():
        x = torch.load(FIXTURES / "inputs.pt", weights_only=True).to(dev)
        exp = torch.load(FIXTURES / "expected.pt", weights_only=True)["embedding"]
        with torch.inference_mode():
            for k, f in forms.items():
                out = f(x).float().cpu()
                cos = torch.nn.functional.cosine_similarity(out, exp, dim=1)
                report["errors"][k] = {"max_abs": float((out - exp).abs().max()), "min_cosine": float(cos.min())}
    for b in args.batches:
        x = torch.rand(b, 3, 224, 224, device=dev)
        row = {}
        with torch.inference_mode():
            for k, f in forms.items():
                f(x)
                torch.cuda.synchronize()
                ts = []
                for _ in range(args.rounds):
                    t0 = time.perf_counter()
                    f(x)
                    torch.cuda.synchronize()
                    ts.append(time.perf_counter() - t0)
                row[k] = b / sorted(ts)[len(ts) // 2]
        report["forms"][str(b)] = row
    from tiny_biomoe.embed import embed_windows

    import numpy as np

    wins = np.random.default_rng(0).standard_normal((512, 1000)).astype(np.float32)
    e2e = {}
    for prec in ("fp32", "bf16" if torch.cuda.is_bf16_supported() else "fp16"):
        embed_windows(wins[:64], sampling_rate=100.0, modality="eda", kinds=["waveform"], model=model, batch_size=256,
                      precision=prec)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        embed_windows(wins, sampling_rate=100.0, modality="eda", kinds=["waveform", "spectrogram_psd"], model=model,
                      batch_size=256, precision=prec)
        torch.cuda.synchronize()
        e2e[prec] = 1024 / (time.perf_counter() - t0)
    report["end_to_end_images_per_s"] = e2e
    print(f"GPU: {report['gpu']}")
    print("images/s per batch: " + ", ".join(report["forms"][str(args.batches[0])]))
    for b, row in report["forms"].items():
        print(f"  batch {b:>4s}: " + "  ".join(f"{k} {v:8.1f}" for k, v in row.items()))
    for k, e in report["errors"].items():
        print(f"  error vs fixtures {k}: max|err| {e['max_abs']:.1e}, min cosine {e['min_cosine']:.6f}")
    print("  end to end (render on the GPU + model, 1024 images): " + ", ".join(f"{k} {v:.0f} img/s" for k, v in e2e.items()))
    save("bench_cuda", report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
