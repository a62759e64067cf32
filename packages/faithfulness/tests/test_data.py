"""The synthetic polarity data: labels follow the polarities, generation is seeded."""

from __future__ import annotations

import torch

from ballroom.faithfulness import POLARITY, PolaritySynthDataModule, make_polarity_data


def test_labels_are_the_sign_of_the_summed_polarity() -> None:
    tokens, labels, pol = make_polarity_data(500, seed=1)
    assert tokens.shape == (500, 30) and pol.shape == (500, 30)
    total = pol.sum(1)
    assert bool((total != 0).all()) and torch.equal(labels, (total > 0).long())
    assert torch.equal(pol, POLARITY[tokens])
    lengths = (tokens != 0).sum(1)
    assert int(lengths.min()) >= 10 and int(lengths.max()) <= 30
    polar = (pol != 0).sum(1)
    assert int(polar.min()) >= 2 and int(polar.max()) <= 6
    assert 0.3 < labels.float().mean().item() < 0.7
    # padding only at the end
    assert bool(((tokens != 0).int().diff(dim=1) <= 0).all())


def test_generation_is_deterministic_and_seed_dependent() -> None:
    a, b = make_polarity_data(50, seed=3), make_polarity_data(50, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[0], make_polarity_data(50, seed=4)[0])


def test_datamodule_splits_differ_and_batches_carry_polarity() -> None:
    dm = PolaritySynthDataModule(n_train=64, n_val=32, n_test=32, batch_size=16, seed=0)
    dm.setup()
    tok, y, pol = next(iter(dm.train_dataloader()))
    assert tok.shape == (16, 30) and y.shape == (16,) and pol.shape == (16, 30)
    train = dm.datasets["train"].tensors[0]
    test = dm.datasets["test"].tensors[0]
    assert not torch.equal(train[:32], test)
