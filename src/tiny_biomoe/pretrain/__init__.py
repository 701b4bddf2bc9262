"""Multi-task pretraining of the Tiny-BioMoE backbone (docs/pretraining.md).

>>> from tiny_biomoe.pretrain import load_config, prepare_shards, pretrain, packaged_config
>>> cfg = load_config(packaged_config("tiny"))          # doctest: +SKIP
>>> prepare_shards(cfg); result = pretrain(cfg)          # doctest: +SKIP
"""

from __future__ import annotations

from .config import (
    LossConfig,
    OptimConfig,
    PretrainConfig,
    SamplingConfig,
    ScheduleConfig,
    ShardsConfig,
    SourceConfig,
    TaskConfig,
    TrainConfig,
    WindowConfig,
    config_from_dict,
    config_to_dict,
    load_config,
    packaged_config,
)
from .engine import MultiTaskModel, PretrainResult, cosine_with_warmup, latest_checkpoint, pretrain
from .sampler import MultiTaskSampler, task_probabilities
from .shards import ShardedTask, open_task, prepare_shards

__all__ = [
    "PretrainConfig", "TaskConfig", "SourceConfig", "WindowConfig", "ShardsConfig", "SamplingConfig",
    "LossConfig", "OptimConfig", "ScheduleConfig", "TrainConfig",
    "load_config", "config_from_dict", "config_to_dict", "packaged_config",
    "prepare_shards", "open_task", "ShardedTask",
    "MultiTaskSampler", "task_probabilities",
    "MultiTaskModel", "PretrainResult", "pretrain", "cosine_with_warmup", "latest_checkpoint",
]
