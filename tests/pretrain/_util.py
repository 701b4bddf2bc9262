"""Helpers shared by the pretraining tests: tiny synthetic configs that train in seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def tiny_config_dict(root: Path, *, steps: int = 4, **train: Any) -> dict[str, Any]:
    """Two synthetic tasks (class + regression), batch 2, 224x224 images as the network needs."""
    syn = {"n_subjects": 2, "trials_per_class": 1, "seed": 0}
    tr = {"steps": steps, "batch_size": 2, "grad_accum": 1, "precision": "fp32", "seed": 3, "device": "cpu",
          "output_dir": str(root / "run"), "log_every": 1, "ckpt_every": 0, "eval_every": 0, "progress": False,
          "num_threads": 1}
    tr.update(train)
    return {
        "tasks": [
            {"name": "bvp_cls", "modality": "bvp", "target": "class",
             "source": {"format": "synthetic", "channel": "BVP", "synthetic": syn},
             "window": {"length_s": 5.0}, "representations": ["waveform", "psd"], "val_fraction": 0.34},
            {"name": "eda_reg", "modality": "eda", "target": "regression",
             "source": {"format": "synthetic", "channel": "EDA", "synthetic": syn},
             "window": {"length_s": 10.0}, "representations": ["waveform"]},
        ],
        "shards": {"dir": str(root / "shards"), "recordings_per_shard": 4},
        "sampling": {"strategy": "uniform"},
        "loss": {"weighting": "uncertainty"},
        "optim": {"lr": 1e-3, "weight_decay": 0.05, "grad_clip": 1.0},
        "schedule": {"warmup_steps": 1, "min_lr_ratio": 0.1},
        "train": tr,
    }
