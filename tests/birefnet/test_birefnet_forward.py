"""Forward passes of reduced configs: eval logits, training side outputs, flags and input validation."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from runners.birefnet import VARIANTS, BiRefNet, BiRefNetConfig, BiRefNetOutput
from runners.birefnet.blocks import ASPPDeformable, SimpleConvs
from runners.birefnet.ops import image_to_patches, laplacian_edges, resize

from .conftest import TINY, randomize


@pytest.mark.parametrize("training", [False, True])
def test_aspp_is_its_conv_over_the_concatenated_branches_and_broadcast_context(training: bool) -> None:
    """The ASPP sums conv1's per-branch parts on channels-last maps instead of concatenating: it must be BiRefNet's conv
    and BatchNorm2d over the concatenation (in training mode too, where batch statistics are used)."""
    torch.manual_seed(0)
    aspp = ASPPDeformable(8, branch_channels=6).train(training)
    aspp.dropout.p = 0.0
    for module in aspp.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.normal_(module.weight, std=0.3)
    x = torch.randn(2, 8, 12, 12)
    branches = [branch(x).permute(0, 3, 1, 2) for branch in (aspp.aspp1, *aspp.aspp_deforms)]
    context = aspp.global_avg_pool(x).expand_as(branches[0])
    official_norm = torch.nn.BatchNorm2d(aspp.bn1.num_features).train(training)
    official_norm.load_state_dict(aspp.bn1.state_dict())
    expected = aspp.relu(official_norm(aspp.conv1(torch.cat((*branches, context), dim=1))))
    torch.testing.assert_close(aspp(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(2, 3, 7, 11), (1, 5, 3, 4)])
def test_a_projected_prompt_is_the_projection_of_both_convs_on_every_pixel_and_in_every_gradient(
    shape: tuple[int, ...],
) -> None:
    """SimpleConvs.projected replaces conv, conv, 1x1 by one 5x5 conv and recomputes the border ring: values and
    gradients (inputs and weights) must be those of the three convs, the ring and the corners included."""
    torch.manual_seed(0)
    convs = SimpleConvs(shape[1], 6, inter_channels=8)
    x = torch.randn(shape, requires_grad=True)
    weight = torch.randn(2, 6, 1, 1, requires_grad=True)
    upstream = torch.randn(shape[0], 2, *shape[2:])
    leaves = (x, weight, *convs.parameters())
    results = []
    for output in (F.conv2d(convs(x), weight), convs.projected(x, weight)):
        results.append((output, torch.autograd.grad((output * upstream).sum(), leaves)))
    (expected, expected_grads), (got, got_grads) = results
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    for got_grad, expected_grad in zip(got_grads, expected_grads):
        torch.testing.assert_close(got_grad, expected_grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("size", [64, 96])
def test_eval_returns_full_resolution_logits(tiny_config: BiRefNetConfig, size: int) -> None:
    model = BiRefNet(replace(tiny_config, size=size)).eval()
    with torch.inference_mode():
        logits = model(torch.randn(2, 3, size, size))
    assert isinstance(logits, torch.Tensor)
    assert logits.shape == (2, 1, size, size)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("dec_ipt", [True, False])
def test_logits_are_the_last_conv_over_upsampled_features_and_the_image_prompt(dec_ipt: bool) -> None:
    """The head projects before it upsamples; the result must be BiRefNet's conv over the upsampled concatenation."""
    model = randomize(BiRefNet(replace(TINY["swin"], dec_ipt=dec_ipt))).eval()
    decoder, image = model.decoder, torch.randn(2, 3, 64, 64)
    features = {}
    decoder.decoder_block1.register_forward_hook(lambda _module, _args, out: features.update(p=out))
    with torch.inference_mode():
        logits = model(image)
        upsampled = resize(features["p"], image.shape[-2:])
        prompt = [decoder.ipt_blk1(image_to_patches(image, image))] if dec_ipt else []
        expected = decoder.conv_out1(torch.cat((upsampled, *prompt), dim=1))
    assert features["p"].shape[-1] < image.shape[-1]
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)


def test_train_returns_side_and_gradient_outputs(tiny_config: BiRefNetConfig) -> None:
    size = tiny_config.size
    model = BiRefNet(tiny_config).train()
    out = model(torch.randn(2, 3, size, size))
    assert isinstance(out, BiRefNetOutput)
    assert out.logits.shape == (2, 1, size, size)
    assert [tuple(t.shape) for t in out.side_logits] == [(2, 1, size // s, size // s) for s in (32, 16, 8)]
    assert [tuple(t.shape) for t in out.gdt_preds] == [(2, 1, size // s, size // s) for s in (32, 16, 8)]
    assert [tuple(t.shape) for t in out.gdt_labels] == [(2, 1, size, size)] * 3
    loss = out.logits.mean() + sum(t.mean() for t in (*out.side_logits, *out.gdt_preds))
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_optional_flags_change_the_architecture_consistently() -> None:
    cfg = replace(TINY["pvt_v2"], mul_scl_ipt="add", cxt_num=1, dec_ipt=False, ms_supervision=False, out_ref=False)
    model = BiRefNet(cfg)
    keys = model.state_dict().keys()
    assert not any(k.startswith(("decoder.ipt_blk", "decoder.gdt_", "decoder.conv_ms_spvn")) for k in keys)
    out = model.train()(torch.randn(2, 3, 64, 64))
    assert out.logits.shape == (2, 1, 64, 64) and out.side_logits == out.gdt_preds == out.gdt_labels == []
    assert model.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 1, 64, 64)


def test_unsplit_image_prompts_are_resized() -> None:
    model = BiRefNet(replace(TINY["swin"], dec_ipt_split=False)).eval()
    assert model.decoder.ipt_blk5.conv1.in_channels == 3
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1, 64, 64)


def test_rejects_sizes_that_are_not_multiples_of_32() -> None:
    model = BiRefNet(TINY["pvt_v2"]).eval()
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.randn(1, 3, 64, 80))
    with pytest.raises(ValueError, match="multiple of 32"):
        replace(TINY["pvt_v2"], size=100)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="out_ref needs ms_supervision"):
        replace(VARIANTS["lite"], ms_supervision=False)
    with pytest.raises(ValueError, match="indivisible"):
        VARIANTS["lite"].scaled(64, width_div=5)
    assert VARIANTS["general"].lateral_channels == (3072, 1536, 768, 384)
    assert VARIANTS["pvt_v2_b2"].cxt_channels == (128, 256, 640)


def test_image_to_patches_layout() -> None:
    image = torch.arange(2 * 3 * 8 * 12, dtype=torch.float32).view(2, 3, 8, 12)
    patches = image_to_patches(image, torch.empty(0, 0, 2, 3))  # grid 4 x 4 of 2x3 patches
    assert patches.shape == (2, 3 * 16, 2, 3)
    c, gy, gx = 1, 2, 3
    torch.testing.assert_close(patches[:, c * 16 + gy * 4 + gx], image[:, c, gy * 2 : gy * 2 + 2, gx * 3 : gx * 3 + 3])


def test_laplacian_edges_of_constant_image_vanish_and_respond_to_a_step() -> None:
    flat = laplacian_edges(torch.full((1, 3, 16, 16), 0.7))
    torch.testing.assert_close(flat, torch.zeros_like(flat))
    step = torch.zeros(1, 3, 16, 16)
    step[..., 8:] = 1.0
    edges = laplacian_edges(step)[0, 0]
    assert edges[:, :6].abs().max() < 1e-6 and edges[:, 7].max() > 0 > edges[:, 8].min()
