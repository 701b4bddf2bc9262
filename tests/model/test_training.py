"""Training-step speed-ups (fused AdamW, channels-last convolutions, bf16 autocast) keep the numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tiny_biomoe.errors import ConfigError
from tiny_biomoe.model import training
from tiny_biomoe.pain import FineTuneConfig, finetune


def test_adamw_is_fused_on_cpu_float32_and_matches_the_for_loop_update():
    torch.manual_seed(0)
    a = nn.Linear(16, 4)
    b = nn.Linear(16, 4)
    b.load_state_dict(a.state_dict())
    fused = training.adamw(a.parameters(), lr=1e-2, weight_decay=0.1)
    loop = torch.optim.AdamW(b.parameters(), lr=1e-2, weight_decay=0.1, foreach=False)
    assert fused.defaults["fused"] is True
    x = torch.randn(8, 16, generator=torch.Generator().manual_seed(1))
    for _ in range(3):
        for net, opt in ((a, fused), (b, loop)):
            opt.zero_grad()
            net(x).square().mean().backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-6, atol=1e-7)
    half = nn.Linear(4, 2).to(torch.bfloat16)
    assert training.adamw(half.parameters(), lr=1e-3).defaults["foreach"] is True  # no fused kernel asked for


def test_channels_last_round_trip_changes_layout_not_values(reference_model):
    import copy

    m = copy.deepcopy(reference_model)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    training.convs_channels_last(m)
    convs = [mod for mod in m.modules() if isinstance(mod, nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs if c.weight.shape[-1] > 1)
    training.convs_contiguous(m)
    for k, v in m.state_dict().items():
        assert v.is_contiguous() and torch.equal(v, before[k]), k


def test_finetune_with_channels_last_follows_the_plain_layout(reference_model):
    imgs = torch.rand(4, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    labels = [0, 1, 2, 0]
    cfg = dict(steps=3, batch_size=2, lr=1e-3)
    fast, h1 = finetune(imgs, labels, 3, reference_model, FineTuneConfig(**cfg), device="cpu")
    plain, h2 = finetune(imgs, labels, 3, reference_model, FineTuneConfig(**cfg, channels_last=False), device="cpu")
    np.testing.assert_allclose(h1["loss"][0], h2["loss"][0], rtol=1e-5)  # same weights, another layout
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-2)
    assert all(v.is_contiguous() for v in fast.state_dict().values())  # ready for safetensors
    assert h1["config"]["channels_last"] is True and h1["config"]["precision"] == "fp32"


def test_bf16_finetune_where_supported_and_a_clear_refusal_elsewhere(reference_model, monkeypatch):
    imgs = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    cfg = FineTuneConfig(steps=2, batch_size=2, precision="bf16")
    import tiny_biomoe.model.fast as fast_mod

    monkeypatch.setattr(fast_mod, "bf16_supported", lambda device="cpu": False)
    with pytest.raises(ConfigError, match="no fast bf16 support"):
        finetune(imgs, [0, 1], 2, reference_model, cfg, device="cpu")
    monkeypatch.setattr(fast_mod, "bf16_supported", lambda device="cpu": True)  # CPU autocast runs anywhere
    net, hist = finetune(imgs, [0, 1], 2, reference_model, cfg, device="cpu")
    assert len(hist["loss"]) == 2 and all(np.isfinite(hist["loss"]))
    assert all(v.dtype != torch.bfloat16 for v in net.state_dict().values())  # weights stay float32
