"""Weight initialisation as in the authors' code: statistics per layer type, the zero-init batch
norms, seeding without global side effects, and the parameters exempt from weight decay.

Tolerances: the sample standard deviation of n independent draws has a relative spread of about
0.71/sqrt(n) for a normal and 0.45/sqrt(n) for a uniform law; every check allows 8 times the
normal spread (a failure probability below 1e-14 per check, for any seed), and only tensors of
at least 4096 values are checked one by one."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

from tiny_biomoe import TinyBioMoE
from tiny_biomoe.model.cascaded import AttentionBlock, CascadedGroupAttention
from tiny_biomoe.model.init import init_weights, random_model, zero_init_batchnorms
from tiny_biomoe.model.spectral import SpectralGating

MIN_N = 4096


def _tol(n: int) -> float:
    return 8 * 0.71 / math.sqrt(n)


@pytest.fixture(scope="module", params=[0, 12345])
def model(request):
    return random_model(request.param)


def _check_std(w: torch.Tensor, std: float, what: str) -> None:
    w = w.detach().double().flatten()
    n = w.numel()
    assert abs(float(w.mean())) <= 8 * std / math.sqrt(n), what
    assert abs(float(w.std()) / std - 1) <= _tol(n), (what, float(w.std()), std)


def _pooled(pairs: list[tuple[torch.Tensor, float]], what: str) -> None:
    """Pool tensors after dividing each by its expected std: one large sample with std 1."""
    z = torch.cat([w.detach().double().flatten() / s for w, s in pairs])
    _check_std(z, 1.0, what)


def test_expert1_linear_trunc_normal_and_zero_bias(model):
    lins = [m for m in model.enc1.modules() if isinstance(m, nn.Linear)]
    assert len(lins) == 2 * 2 + 2 * 5 + 5  # MLPs of stages 1-2; attention + MLP of 3-4; class attention
    for m in lins:
        assert torch.count_nonzero(m.bias) == 0
        assert float(m.weight.detach().abs().max()) <= 2.0  # truncation at +-2 (about 100 std)
        if m.weight.numel() >= MIN_N:
            _check_std(m.weight, 0.02, "linear")
    _pooled([(m.weight, 0.02) for m in lins], "all expert-1 linears")


def test_expert1_conv_normal_fan_out(model):
    convs = [m for m in model.enc1.modules() if isinstance(m, nn.Conv2d)]
    pairs = []
    for m in convs:
        fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
        std = math.sqrt(2.0 / fan_out)
        pairs.append((m.weight, std))
        if m.bias is not None:
            assert torch.count_nonzero(m.bias) == 0
        if m.weight.numel() >= MIN_N:
            _check_std(m.weight, std, f"conv {tuple(m.weight.shape)}")
    _pooled(pairs, "all expert-1 convs")


def test_norms_start_at_one_and_zero(model):
    for m in list(model.enc1.modules()) + [model.ln_img, model.ln_e, model.ln_out]:
        if isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.running_mean == 0) and torch.all(m.running_var == 1)


def test_spectral_gating_weights(model):
    cws = [m.complex_weight for m in model.enc1.modules() if isinstance(m, SpectralGating)]
    assert len(cws) == 2
    for w in cws:
        _check_std(w, 0.02, "complex_weight")


def test_expert2_batchnorms_closing_a_residual_branch_start_at_zero(model):
    zero = set(zero_init_batchnorms(model.enc2))
    # independent list: by name, the BN of every FFN's pw2, every attention projection and dw0/dw1
    names = {n for n, m in model.enc2.named_modules() if isinstance(m, nn.BatchNorm2d)}
    expected = {n for n in names if re.search(r"(pw2\.bn|attn\.proj\.1\.bn|\.dw[01]\.m\.bn)$", n)}
    assert zero == expected and len(zero) == 3 * 5 + 4  # 3 attention blocks x 5, plus 4 FFNs beside the mergings
    for n, m in model.enc2.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.bias == 0), n
            assert torch.all(m.weight == (0 if n in zero else 1)), n
    # the residual depthwise convs beside the patch mergings keep 1, as in the original
    assert torch.all(model.enc2.blocks2[0][0].m.bn.weight == 1)
    blocks = [m for m in model.enc2.modules() if isinstance(m, AttentionBlock)]
    assert all(torch.count_nonzero(b.dw0.m.bn.weight) == 0 for b in blocks)


def test_expert2_convs_keep_pytorchs_rule_and_attention_biases_are_zero(model):
    pairs = []
    for m in model.enc2.modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.weight[0].numel()
            bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            assert float(m.weight.detach().abs().max()) <= bound + 1e-7
            pairs.append((m.weight, bound / math.sqrt(3)))
        if isinstance(m, CascadedGroupAttention):
            assert torch.count_nonzero(m.attention_biases) == 0
    _pooled(pairs, "expert-2 convs")


def test_seeded_reproducible_and_global_rng_untouched():
    state = torch.get_rng_state()
    a, b, c = random_model(3), random_model(3), random_model(4)
    assert torch.equal(torch.get_rng_state(), state)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["enc1.block1.0.attn.complex_weight"], sc["enc1.block1.0.attn.complex_weight"])
    # differs from PyTorch's defaults, which init="pytorch" reproduces exactly
    torch.manual_seed(3)
    default = TinyBioMoE().state_dict()
    legacy = random_model(3, init="pytorch").state_dict()
    assert all(torch.equal(default[k], legacy[k]) for k in default)
    assert not torch.equal(sa["enc1.post_network.0.mlp.fc1.weight"], default["enc1.post_network.0.mlp.fc1.weight"])


def test_bad_seed_or_scheme():
    from tiny_biomoe import ConfigError

    for bad in (-1, True, 1.5):
        with pytest.raises(ConfigError, match="seed"):
            init_weights(TinyBioMoE(), seed=bad)
    with pytest.raises(ConfigError, match="unknown init"):
        init_weights(TinyBioMoE(), seed=0, init="xavier")


def test_no_weight_decay_names_exactly_biases_norms_and_bias_tables():
    model = TinyBioMoE()
    names = model.no_weight_decay()
    params = dict(model.named_parameters())
    assert names <= params.keys()
    # independent: every 1-D parameter is a bias or a norm weight, plus the image LN's 3-D weight
    # and bias, and the three attention-bias tables
    expected = {n for n, p in params.items() if p.ndim == 1} | {"ln_img.weight", "ln_img.bias"}
    expected |= {n for n in params if n.endswith("attention_biases")}
    assert names == expected
    assert sum(n.endswith("attention_biases") for n in names) == 3
    decayed = params.keys() - names
    assert all(params[n].ndim >= 2 for n in decayed)
    assert "enc1.block1.0.attn.complex_weight" in decayed and "fcn.1.weight" in decayed
