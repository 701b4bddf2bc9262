"""Input validation, fine-tuning behaviour and module conventions of TinyBioMoE."""

from __future__ import annotations

import pytest
import torch

from tiny_biomoe import InputError, TinyBioMoE


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return TinyBioMoE().eval()


@pytest.mark.parametrize(
    "x,match",
    [
        (torch.rand(2, 224, 224, 3), "channels-last"),
        (torch.rand(3, 224, 224), "single image"),
        (torch.rand(1, 3, 128, 128), r"\(B, 3, 224, 224\)"),
        (torch.randint(0, 255, (1, 3, 224, 224), dtype=torch.uint8), "float"),
        (torch.rand(1, 3, 224, 224) * 255, "divide by 255"),
        (torch.full((1, 3, 224, 224), float("nan")), "NaN"),
        (torch.rand(1, 3, 224, 224).index_put_((torch.tensor([0]),), torch.tensor(float("inf"))), "NaN or inf"),
    ],
)
def test_bad_inputs_are_named(model, x, match):
    with pytest.raises(InputError, match=match):
        model(x)


def test_non_tensor_input(model):
    with pytest.raises(InputError, match="torch.Tensor"):
        model([[0.0]])


def test_output_shape_and_determinism(model):
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        a, b = model(x), model(x)
    assert a.shape == (2, 192) and torch.equal(a, b)


def test_gradients_flow_and_freezing(reference_checkpoint):
    model = TinyBioMoE.from_pretrained(reference_checkpoint).train()
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    model(x).pow(2).mean().backward()
    named = dict(model.named_parameters())
    for name in ("enc1.patch_embed1.conv.0.weight", "enc1.block1.0.attn.complex_weight",
                 "enc2.blocks1.0.mixer.m.attn.attention_biases", "ln_img.weight", "fcn.1.weight"):
        assert named[name].grad is not None and named[name].grad.abs().sum() > 0, name
    model.zero_grad(set_to_none=True)
    model.freeze("enc1")
    assert model.num_parameters(trainable_only=True) == 7_337_278 - 2_897_856
    model(x).pow(2).mean().backward()
    assert named["enc1.patch_embed1.conv.0.weight"].grad is None
    assert named["enc2.patch_embed.0.c.weight"].grad is not None
    model.unfreeze("enc1").freeze("backbone")
    assert model.num_parameters(trainable_only=True) == 0
    with pytest.raises(InputError, match="unknown part"):
        model.freeze("head")


def test_train_mode_updates_batchnorm_and_eval_does_not(reference_checkpoint):
    model = TinyBioMoE.from_pretrained(reference_checkpoint)
    before = model.enc2.patch_embed[0].bn.running_mean.clone()
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        model(x)
    assert torch.equal(before, model.enc2.patch_embed[0].bn.running_mean)
    model.train()
    with torch.no_grad():
        model(x)
    assert not torch.equal(before, model.enc2.patch_embed[0].bn.running_mean)


def test_input_checks_can_be_disabled(model):
    model.check_inputs = False
    try:
        with torch.inference_mode():
            out = model(torch.rand(1, 3, 224, 224) * 2)
        assert out.shape == (1, 192)
    finally:
        model.check_inputs = True
