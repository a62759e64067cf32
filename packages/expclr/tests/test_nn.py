"""Encoders, masked pooling, augmentations, expert features and the zoo."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ballroom.expclr import (
    ZOO,
    ExpCLRLoss,
    ExpertFeatureDecoder,
    ResNet1DEncoder,
    StatisticalSpectralFeatures,
    TCNEncoder,
    TimeSeriesAugment,
    create,
    expclr_loss,
    make_sine_bands,
)


@pytest.mark.parametrize("cls", [ResNet1DEncoder, TCNEncoder])
def test_encoders_shapes_and_masked_pooling(cls: type, device: torch.device) -> None:
    torch.manual_seed(0)
    enc = cls(3, repr_dim=10, blocks=2, width=8).to(device).eval()
    x = torch.randn(4, 3, 30, device=device)
    assert enc(x).shape == (4, 10) and enc.features(x).shape == (4, 10, 30)
    mask = torch.ones(4, 30, dtype=torch.bool, device=device)
    mask[:, 20:] = False
    z = enc(x, mask)
    torch.testing.assert_close(z, enc.features(x, mask)[..., :20].mean(-1))
    with pytest.raises(ValueError, match=r"\(B, C=3, T\)"):
        enc(torch.randn(4, 2, 30, device=device))
    with pytest.raises(ValueError, match="bool tensor"):
        enc(x, mask.float())


def test_decoder_and_loss_module() -> None:
    enc = ResNet1DEncoder(1, repr_dim=6, blocks=1, width=4)
    dec = ExpertFeatureDecoder(enc, 5)
    assert dec(torch.randn(3, 1, 16)).shape == (3, 5)
    z, f = torch.randn(8, 6), torch.randn(8, 3)
    assert float(ExpCLRLoss(delta=2.0)(z, f)) == float(expclr_loss(z, f, delta=2.0))


def test_augment_permutes_segments_and_respects_mask() -> None:
    x = torch.arange(40.0).view(1, 1, 40).repeat(5, 2, 1)
    perm = TimeSeriesAugment(jitter=0, scale=0, shift=0, dropout=0, p=1.0)(
        x, generator=torch.Generator().manual_seed(0)
    )
    assert all(sorted(perm[i, 0].tolist()) == list(range(40)) for i in range(5))
    assert torch.equal(perm[:, 0], perm[:, 1]) and not torch.equal(perm, x)
    mask = torch.ones(5, 40, dtype=torch.bool)
    mask[:, 30:] = False
    full = TimeSeriesAugment()(torch.randn(5, 2, 40), mask, generator=torch.Generator().manual_seed(1))
    assert bool((full[:, :, 30:] == 0).all())
    same = TimeSeriesAugment(p=0.0)(x)
    assert torch.equal(same, x)


def test_expert_features_fit_transform_without_leakage() -> None:
    x, _ = make_sine_bands(200, seed=3)
    feats = StatisticalSpectralFeatures()
    assert len(feats.names) == 18
    f = feats.fit_transform(x[:150])
    assert f.shape == (150, 18)
    torch.testing.assert_close(f.mean(0), torch.zeros(18), atol=1e-5, rtol=0)
    raw = feats.compute(x[:3])
    series = x[0, 0].double().numpy()
    assert raw[0, 0] == pytest.approx(series.mean()) and raw[0, 5] == pytest.approx(series.max())
    assert raw[0, 10:17].sum() == pytest.approx(1.0)  # relative band powers
    test = feats.transform(x[150:])
    assert test.shape == (50, 18) and abs(float(test.mean())) < 0.5
    # variable-length: the masked steps are ignored
    mask = torch.ones(2, 128, dtype=torch.bool)
    mask[1, 64:] = False
    short = feats.compute(x[:2], mask)
    np.testing.assert_allclose(short[1], feats.compute(x[1:2, :, :64])[0])
    with pytest.raises(RuntimeError, match="fit"):
        StatisticalSpectralFeatures().transform(x)
    with pytest.raises(ValueError, match="NaN or inf"):
        feats.compute(torch.full((2, 1, 8), float("inf")))


def test_sine_bands_classes() -> None:
    x, y = make_sine_bands(400, seed=1)
    assert x.shape == (400, 1, 128) and torch.bincount(y).tolist() == [100] * 4
    torch.testing.assert_close(make_sine_bands(400, seed=1)[0], x)
    # the spectrum separates the bands: high-band classes (2, 3) have a higher spectral centroid
    raw = StatisticalSpectralFeatures().compute(x)
    centroid = torch.as_tensor(raw[:, 17])
    assert float(centroid[y >= 2].mean()) > float(centroid[y < 2].mean()) + 0.02


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo(name: str) -> None:
    enc = create(name)
    assert enc(torch.randn(2, 1, 32)).shape == (2, enc.repr_dim)
