"""A timm Mixer as the host (the optional ``timm`` extra): runs only when timm is importable."""

from __future__ import annotations

import pytest
import torch

timm_mixer = pytest.importorskip("timm.models.mlp_mixer")

from ballroom.tokendistill.mixer import MLPMixer, TimmMixerHost  # noqa: E402
from ballroom.tokendistill.nn import STDStudent  # noqa: E402

SIZES = {"img_size": 16, "patch_size": 4, "in_chans": 3, "num_classes": 5}


def _timm() -> torch.nn.Module:
    torch.manual_seed(0)
    return timm_mixer.MlpMixer(
        num_blocks=3, embed_dim=24, mlp_ratio=(0.5, 4.0), **SIZES
    )  # token hidden 0.5 * 24 = 12.eval()


def test_std_student_wraps_a_timm_mixer_without_changing_it() -> None:
    model = _timm()
    x = torch.randn(2, 3, 16, 16)
    want = model(x)
    student = STDStudent(TimmMixerHost(model), tap_blocks=(1, -1)).eval()
    out = student(x)
    torch.testing.assert_close(out.cls_logits, want, rtol=0, atol=0)
    assert (
        len(out.dist_logits) == 2 and out.tokens[0][0].shape == (2, 24) and out.tokens[0][1].shape == (2, 16)
    )
    assert student.std[0].layers[0].fc1.in_features == 17 and student.std[0].layers[0].fc1.out_features == 12
    assert student.predict(x).shape == (2, 5)


def test_a_timm_mixer_state_dict_loads_into_ours_with_equal_outputs() -> None:
    model = _timm()
    ours = MLPMixer(dim=24, depth=3, token_hidden=12, channel_hidden=96, **SIZES).eval()
    ours.load_state_dict(model.state_dict())  # strict: the same parameter names
    x = torch.randn(3, 3, 16, 16)
    torch.testing.assert_close(ours(x), model(x))
    timm_feats = TimmMixerHost(model).forward_features(x)
    for a, b in zip(ours.forward_features(x), timm_feats, strict=True):
        torch.testing.assert_close(a, b)
