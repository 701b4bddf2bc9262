"""How much one vs two torch threads change pretrained weights (same machine, same seed).

Runs the packaged tiny config (synthetic data) for a few steps with ``train.num_threads`` 1 and 2
and prints the largest absolute difference over parameters and over batch-norm running
statistics. Pretraining is bit-identical only for the same machine *and* thread count
(reductions are summed in a different order with more threads).

    python benchmarks/pretrain_threads.py --steps 6
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from tiny_biomoe.pretrain import load_config, prepare_shards, pretrain


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        overrides = [f"shards.dir={root / 'shards'}", f"train.steps={args.steps}", "train.progress=false",
                     "train.device=cpu", "train.eval_every=0", "train.ckpt_every=0"]
        cfg = load_config("tiny", overrides=overrides)
        prepare_shards(cfg, progress=False)
        states = {}
        for n in (1, 2):
            c = load_config("tiny", overrides=overrides + [f"train.num_threads={n}", f"train.output_dir={root / f't{n}'}"])
            states[n] = {k: v.detach().double() for k, v in pretrain(c, resume="never").model.state_dict().items()}
    a, b = states[1], states[2]
    params = [k for k in a if not k.endswith(("running_mean", "running_var", "num_batches_tracked", "idxs"))]
    var = [k for k in a if k.endswith("running_var")]
    diff = lambda keys: max(float((a[k] - b[k]).abs().max()) for k in keys)  # noqa: E731
    print(f"steps {args.steps}: max |param(1 thread) - param(2 threads)| = {diff(params):.3g}; "
          f"max |BN running_var difference| = {diff(var):.3g}; tensors differing: "
          f"{sum(not torch.equal(a[k], b[k]) for k in a)} of {len(a)}")


if __name__ == "__main__":
    main()
