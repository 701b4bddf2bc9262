"""The fast inference form computes the fixtures' numbers and is a snapshot of the weights."""

from __future__ import annotations

import copy
import time

import numpy as np
import pytest
import torch

from tiny_biomoe import InputError
from tiny_biomoe.model import fast as fast_mod
from tiny_biomoe.model.fast import (
    DFTSpectralGating,
    FastTinyBioMoE,
    FusedConv2d,
    FusedLinear,
    ShiftedImageLayerNorm,
    bf16_supported,
    optimize_for_inference,
)

# spec/MODEL.md's float32 tolerances. They are not tuned on a CPU: float32 keeps 24 bits (u = 6e-8),
# and reordering a sum of K terms (folded batch norms, other GEMM blocking, micro-batches, SDPA)
# changes it by at most ~K u |terms|; for the dot products here (K <= ~2,000, O(1) activations)
# that is ~1e-4 in the worst case and ~sqrt(K) u ~ 3e-6 typically, which is what the fast forms
# show on AMD Zen 5 and Intel alike. A wrong fold or layout errs by 1e-2 or more.
EMB_TOL, EXPERT_TOL = 1e-4, 2e-5



def _errors(net, x, exp) -> dict[str, float]:
    with torch.inference_mode():
        out = net.forward_all(x)
    return {
        "embedding": float((out.embedding.float() - exp["embedding"]).abs().max()),
        "enc1": float((out.z1.float() - exp["enc1"]).abs().max()),
        "enc2": float((out.z2.float() - exp["enc2"]).abs().max()),
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # default: channels-last, DFT gating, micro-batches of 2
        {"channels_last": False},
        {"spectral": "fft", "micro_batch": 4},  # 6 images -> chunks of 4 and 2
        {"spectral": "fft", "channels_last": False, "micro_batch": None},
        {"fuse": False},  # plain PyTorch convolutions / linears and separate activations
    ],
    ids=["default", "nchw", "fft-microbatch", "fft-nchw", "unfused"],
)
def test_fast_float32_forms_match_fixtures(reference_model, reference_io, kwargs):
    x, exp = reference_io
    fast = optimize_for_inference(reference_model, **kwargs)
    err = _errors(fast, x, exp)
    assert err["embedding"] < EMB_TOL, err
    assert err["enc1"] < EXPERT_TOL and err["enc2"] < EXPERT_TOL, err


def test_export_form_with_shifted_norm_matches_fixtures(reference_model, reference_io):
    x, exp = reference_io
    fast = FastTinyBioMoE(reference_model, channels_last=False, spectral="dft", micro_batch=None, export_norm=True)
    err = _errors(fast, x, exp)
    assert err["embedding"] < EMB_TOL and err["enc1"] < EXPERT_TOL and err["enc2"] < EXPERT_TOL, err


def test_fast_form_is_folded_and_gathered(reference_model):
    fast = optimize_for_inference(reference_model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in reference_model.modules()) > 50
    biases = [b for name, b in fast.named_buffers() if name.endswith(".bias") and b.ndim == 3]
    assert [tuple(b.shape) for b in biases] == [(3, 49, 49), (3, 49, 49), (4, 16, 16)]
    # the gathered table equals the original's biases indexed by its index buffer
    attn = reference_model.enc2.blocks1[0].mixer.m.attn
    torch.testing.assert_close(biases[0], attn.attention_biases.detach()[:, attn.attention_bias_idxs], rtol=0, atol=0)


def _ops_run(fn) -> set[str]:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return {e.key for e in prof.key_averages()}


@pytest.mark.parametrize("act", [None, "relu", "gelu"])
@pytest.mark.parametrize("channels_last", [True, False])
def test_fused_conv_equals_conv_then_activation(act, channels_last):
    torch.manual_seed(0)
    for conv in (torch.nn.Conv2d(16, 24, 3, 2, 1), torch.nn.Conv2d(24, 24, 3, 1, 1, groups=24)):
        x = torch.randn(2, conv.in_channels, 20, 20)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        want = conv(x)
        want = {None: want, "relu": torch.relu(want), "gelu": torch.nn.functional.gelu(want)}[act]
        fused = FusedConv2d(conv, act)
        with torch.inference_mode():
            got = fused(x)
            ops = _ops_run(lambda: fused(x))
        # float32 rounding of the same sums in another order (and oneDNN's erf): ~1e-6 of O(1) values
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        assert ("mkldnn::_convolution_pointwise" in ops) == fast_mod._ONEDNN, ops  # one kernel where oneDNN is built in


@pytest.mark.parametrize("act", [None, "gelu"])
def test_fused_linear_equals_linear_then_activation(act):
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 96)
    x = torch.randn(3, 50, 64)
    want = lin(x) if act is None else torch.nn.functional.gelu(lin(x))
    fused = FusedLinear(lin, act)
    with torch.inference_mode():
        torch.testing.assert_close(fused(x), want, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(fused(x.transpose(0, 1).contiguous().transpose(0, 1)), want, rtol=1e-5, atol=1e-5)  # strided input
        ops = _ops_run(lambda: fused(x))
    assert ("mkldnn::_linear_pointwise" in ops) == fast_mod._ONEDNN, ops


def test_fused_linear_adds_a_residual_in_its_kernel():
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 48)
    x, r = torch.randn(2, 50, 64), torch.randn(2, 50, 48)
    fused = FusedLinear(lin)
    with torch.inference_mode():
        want = r + lin(x)
        torch.testing.assert_close(fused(x, r), want, rtol=1e-5, atol=1e-5)
        # a strided residual takes the unfused path and gives the same sum
        torch.testing.assert_close(fused(x, r.transpose(0, 1).contiguous().transpose(0, 1)), want, rtol=1e-5, atol=1e-5)
        ops = _ops_run(lambda: fused(x, r))
    assert ("mkldnn::_linear_pointwise" in ops) == fast_mod._ONEDNN, ops  # the add is the kernel's post-op ...
    assert ("aten::add" in ops) != fast_mod._ONEDNN, ops  # ... not a separate pass
    with pytest.raises(ValueError, match="residual"):
        FusedLinear(lin, "gelu")(x, r)


@pytest.mark.parametrize("fuse", [True, False])
def test_self_attention_runs_one_projection_and_adds_the_residual(fuse):
    """Expert 1's stage-3/4 attention: q and kv as one (C, 3C) product; ``residual + attn(x)`` as the block does."""
    from tiny_biomoe.model.spectral import SelfAttention

    torch.manual_seed(0)
    attn = SelfAttention(40, 4).eval()
    x, r = torch.randn(3, 49, 40), torch.randn(3, 49, 40)
    fast = fast_mod._FastSelfAttention(attn, fuse)
    with torch.inference_mode():
        want = r + attn(x, 7, 7)
        torch.testing.assert_close(fast(x, 7, 7, residual=r), want, rtol=1e-5, atol=1e-5)
        ops = _ops_run(lambda: fast(x, 7, 7, residual=r))
    projections = [m for m in fast.modules() if isinstance(m, (torch.nn.Linear, FusedLinear))]
    assert [tuple(m.weight.shape) for m in projections] == [(120, 40), (40, 40)]
    if fuse and fast_mod._ONEDNN:
        assert "aten::add" not in ops, ops  # the residual is added inside the output projection


def test_fused_modules_use_standard_operators_when_a_graph_is_captured(monkeypatch):
    """ONNX export and torch.compile must see plain conv/linear + activation, not oneDNN-only ops."""
    torch.manual_seed(0)
    conv, lin = FusedConv2d(torch.nn.Conv2d(8, 8, 3, 1, 1), "gelu"), FusedLinear(torch.nn.Linear(8, 8), "gelu")
    x = torch.randn(1, 8, 6, 6)
    monkeypatch.setattr(fast_mod, "_tracing", lambda: True)
    with torch.inference_mode():
        ops = _ops_run(lambda: (conv(x), lin(x.flatten(2).transpose(1, 2).contiguous())))
    assert not any(k.startswith("mkldnn::") for k in ops), ops
    assert "aten::gelu" in ops and ("aten::linear" in ops or "aten::addmm" in ops)
    with pytest.raises(ValueError, match="activation"):
        FusedConv2d(torch.nn.Conv2d(8, 8, 1), "tanh")


def test_fast_form_fuses_activations_into_convolutions(reference_model):
    fast = optimize_for_inference(reference_model)
    acts = [m.act for m in fast.modules() if isinstance(m, FusedConv2d)]
    # expert 1: 3 stem ReLUs and 4 depthwise + GELU; expert 2: 3 stem ReLUs, FFN and patch-merging ReLUs
    assert acts.count("gelu") == 4 and acts.count("relu") >= 10, acts
    assert not any(isinstance(m, (torch.nn.ReLU, torch.nn.GELU)) for m in fast.enc2.patch_embed.modules())
    plain = optimize_for_inference(reference_model, fuse=False)
    assert not any(isinstance(m, (FusedConv2d, FusedLinear)) for m in plain.modules())


def test_conversion_leaves_the_model_untouched(reference_model):
    before = {k: v.clone() for k, v in reference_model.state_dict().items()}
    was_training = reference_model.training
    optimize_for_inference(reference_model, spectral="dft")
    after = reference_model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert reference_model.training == was_training
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in reference_model.modules())


def test_snapshot_semantics_and_reconversion(reference_model, reference_io):
    x, exp = reference_io
    x = x[:2]
    model = copy.deepcopy(reference_model)
    fast = optimize_for_inference(model)
    with torch.inference_mode():
        before = fast(x).clone()
        with torch.no_grad():
            model.enc2.blocks1[0].mixer.m.attn.attention_biases.add_(0.5)
            model.enc2.patch_embed[0].bn.running_mean.add_(0.3)
            model.enc1.block1[0].attn.complex_weight.mul_(1.5)
        changed = model(x)
        still = fast(x)
        again = optimize_for_inference(model)(x)
    assert float((changed - before).abs().max()) > 1e-3  # the weights change does show in the model
    torch.testing.assert_close(still, before, rtol=0, atol=0)  # ... but not in the snapshot
    assert float((again - changed).abs().max()) < EMB_TOL  # converting again picks the new weights up


def test_legacy_zero_bias_switch_is_honoured(reference_model, reference_io):
    x, _ = reference_io
    model = copy.deepcopy(reference_model)
    model.legacy_zero_attention_biases = True
    with torch.inference_mode():
        want = model(x[:2])
        got = optimize_for_inference(model)(x[:2])
    assert float((got - want).abs().max()) < EMB_TOL


@pytest.mark.parametrize("hw", [(6, 8), (5, 7), (56, 56)])
def test_dft_gating_equals_numpy_fft(hw):
    h, w = hw
    c = 3
    g = torch.Generator().manual_seed(h * 100 + w)
    cw = torch.randn(h, w // 2 + 1, c, 2, generator=g)
    x = torch.randn(2, h * w, c, generator=g)
    got = DFTSpectralGating(cw, h, w)(x, h, w).numpy()
    grid = x.double().numpy().reshape(2, h, w, c)
    spec = np.fft.rfft2(grid, axes=(1, 2), norm="ortho") * (cw[..., 0].double().numpy() + 1j * cw[..., 1].double().numpy())
    want = np.fft.irfft2(spec, s=(h, w), axes=(1, 2), norm="ortho").reshape(2, h * w, c)
    np.testing.assert_allclose(got, want, atol=2e-5, rtol=0)


def test_shifted_layer_norm_equals_float64_reference():
    ln = torch.nn.LayerNorm((3, 8, 8))
    with torch.no_grad():
        ln.weight.uniform_(0.5, 1.5)
        ln.bias.uniform_(-0.1, 0.1)
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    x[2] = 0.37  # a constant image: variance 0
    xd = x.double()
    ln.requires_grad_(False)
    mu = xd.mean(dim=(1, 2, 3), keepdim=True)
    var = ((xd - mu) ** 2).mean(dim=(1, 2, 3), keepdim=True)
    want = (xd - mu) / torch.sqrt(var + ln.eps) * ln.weight.double() + ln.bias.double()
    got = ShiftedImageLayerNorm(ln)(x)
    assert float((got.double() - want).abs().max()) < 1e-5
    torch.testing.assert_close(got[2], ln.bias.detach().expand(3, 8, 8), rtol=0, atol=0)


def test_fast_form_checks_inputs_and_refuses_training(reference_model):
    fast = optimize_for_inference(reference_model)
    with pytest.raises(InputError, match="divide by 255"):
        fast(torch.rand(1, 3, 224, 224) * 255)
    with pytest.raises(InputError, match=r"\(B, 3, 224, 224\)"):
        fast(torch.rand(1, 3, 64, 64))
    with pytest.raises(InputError, match="inference-only"):
        fast.train()
    with pytest.raises(InputError, match="spectral"):
        optimize_for_inference(reference_model, spectral="wavelet")
    with pytest.raises(InputError, match="already optimized"):
        optimize_for_inference(fast)


# Reduced precision is bounded by what matters to a user, not by a max-abs error tuned on one CPU.
# bf16 keeps 8 significant bits: each rounding errs by at most u = 2**-8 (0.39 %) relative. If an
# embedding row e carries a relative error r = |d| / |e|, its cosine to the float32 row is at least
# sqrt(1 - r**2) ~ 1 - r**2 / 2. We allow r = 0.14 (36 u: three dozen full-size roundings adding up
# coherently, far more than independent roundings, which add in quadrature), i.e. cosine >= 0.99.
# Which CPU runs the kernels (AMX, AVX-512 BF16, CUDA) changes the order and place of the roundings
# but not u, so the bound holds on any bf16 hardware; a broken path (a wrong layout, a dropped
# expert, fp16 overflow) gives cosines far below it. Measured: >= 0.9998 (Intel AMX, fixtures, bf16 weights).
BF16_MIN_COSINE = 0.99


def _rendered_classes(n_per_class: int = 8):
    """Rendered waveform windows of three well-separated classes (sines of 0.2, 0.7, 2 Hz + noise)."""
    from tiny_biomoe.representations import render

    rng = np.random.default_rng(0)
    t = np.arange(1000) / 100.0
    wins, labels = [], []
    for label, freq in enumerate((0.2, 0.7, 2.0)):
        for _ in range(n_per_class):
            wins.append(np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)) + 0.3 * rng.standard_normal(t.size))
            labels.append(label)
    return render(np.asarray(wins, np.float32), kind="waveform", sampling_rate=100.0,
                  modality="eda"), np.asarray(labels)


@pytest.mark.parametrize("spectral", ["dft", "fft"])
def test_bf16_form_error_is_reported_and_bounded(reference_model, reference_io, spectral):
    x, exp = reference_io
    if not bf16_supported("cpu"):
        with pytest.raises(InputError, match="bf16"):
            optimize_for_inference(reference_model, bf16=True)
        return
    from sklearn.linear_model import LogisticRegression

    fast = optimize_for_inference(reference_model, bf16=True, **({} if spectral == "dft" else {"spectral": spectral}))
    # bf16 weights in the experts (no per-call autocast); image norm and mixing head stay float32;
    # the spectral gating runs as bf16 matrix products by default, by float32 FFTs with spectral="fft"
    gating = [m for m in fast.modules() if type(m).__name__.endswith("SpectralGating")]
    assert gating and all(isinstance(m, DFTSpectralGating) == (spectral == "dft") for m in gating)
    expert_w = [p for enc in (fast.enc1, fast.enc2) for p in enc.parameters()]
    assert expert_w and all(p.dtype == torch.bfloat16 for p in expert_w)
    want = torch.bfloat16 if spectral == "dft" else torch.complex64
    assert all(b.dtype == want for m in gating for b in m.buffers())
    assert all(p.dtype == torch.float32 for mod in (fast.ln_img, fast.ln_e, fast.fcn, fast.ln_out) for p in mod.parameters())
    err = _errors(fast, x, exp)
    with torch.inference_mode():
        emb16 = fast(x).float()
    cos = torch.nn.functional.cosine_similarity(emb16, exp["embedding"], dim=1)
    print(f"\nbf16 ({spectral} gating) vs float32 fixtures: max abs error {err}, min cosine {float(cos.min()):.6f} (reported, not asserted)")
    assert all(np.isfinite(v) for v in err.values())
    assert max(err.values()) > 0.0  # it really ran in reduced precision
    assert float(cos.min()) >= BF16_MIN_COSINE, cos

    # a head fitted on float32 embeddings decides the same on the bf16 ones
    images, labels = _rendered_classes()
    with torch.inference_mode():
        e32, e16 = reference_model(images).numpy(), fast(images).float().numpy()
    cos_r = (e32 * e16).sum(1) / np.linalg.norm(e32, axis=1) / np.linalg.norm(e16, axis=1)
    assert cos_r.min() >= BF16_MIN_COSINE, cos_r
    head = LogisticRegression(max_iter=2000).fit(e32, labels)
    assert (head.predict(e32) == labels).mean() == 1.0  # the classes are separable in float32 ...
    agree = (head.predict(e16) == head.predict(e32)).mean()
    assert agree >= 22 / 24, agree  # ... and at most 2 of 24 decisions may flip at the boundary


@pytest.mark.slow
def test_compiled_form_matches_fixtures(reference_model, reference_io):
    x, exp = reference_io
    fast = optimize_for_inference(reference_model, compile=True, micro_batch=None)
    t0 = time.perf_counter()
    err = _errors(fast, x[:2], {k: v[:2] for k, v in exp.items()})
    print(f"\ntorch.compile first call (compilation included): {time.perf_counter() - t0:.1f} s; errors {err}")
    assert err["embedding"] < EMB_TOL and err["enc1"] < EXPERT_TOL and err["enc2"] < EXPERT_TOL, err
