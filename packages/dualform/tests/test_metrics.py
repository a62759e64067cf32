"""The analysis metrics against hand-computed values."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ballroom.dualform import capture_layer_io, same_dataset_share, spotlight_concentration, vote_agreement


def test_vote_agreement_rates_and_tables() -> None:
    votes = torch.tensor([0, 1, 2, 2, 1])
    preds = torch.tensor([0, 1, 1, 2, 0])
    targets = torch.tensor([0, 2, 1, 2, 0])
    va = vote_agreement(votes, preds, targets)
    assert va.vote_pred == pytest.approx(3 / 5) and va.vote_target == pytest.approx(2 / 5)
    # model right on 0, 2, 3, 4 (4), wrong on 1 (1)
    assert va.counts.tolist() == [4, 1]
    # vote == pred: right column 3 of 4 (items 0, 3 agree; 2, 4 do not -> 2/4); wrong column: item 1 agrees
    torch.testing.assert_close(va.pred_table, torch.tensor([[0.5, 1.0], [0.5, 0.0]], dtype=torch.float64))
    torch.testing.assert_close(va.target_table, torch.tensor([[0.5, 0.0], [0.5, 1.0]], dtype=torch.float64))
    assert torch.allclose(va.pred_table.sum(0), torch.ones(2, dtype=torch.float64))


def test_vote_agreement_validates() -> None:
    with pytest.raises(ValueError, match="1-D integer"):
        vote_agreement(torch.zeros(3), torch.zeros(3, dtype=torch.long), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="one non-empty shape"):
        vote_agreement(
            torch.zeros(3, dtype=torch.long),
            torch.zeros(2, dtype=torch.long),
            torch.zeros(3, dtype=torch.long),
        )


def test_same_dataset_share_and_spotlights() -> None:
    scores = torch.tensor([[1.0, -3.0, 0.0, 4.0], [2.0, 2.0, 2.0, 2.0]])
    keys = torch.tensor([0, 0, 1, 1])
    share = same_dataset_share(scores, torch.tensor([0, 1]), keys)
    torch.testing.assert_close(share, torch.tensor([4 / 8, 0.5]))
    top = spotlight_concentration(scores, frac=0.25)  # the top 1 of 4 slots
    torch.testing.assert_close(top, torch.tensor([4 / 8, 0.25]))
    torch.testing.assert_close(spotlight_concentration(scores, frac=1.0), torch.ones(2))
    with pytest.raises(ValueError, match="frac"):
        spotlight_concentration(scores, 0.0)
    with pytest.raises(ValueError, match=r"key_dataset \(4,\)"):
        same_dataset_share(scores, torch.tensor([0, 1]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"\(M, N\)"):
        spotlight_concentration(torch.ones(4))


def test_capture_layer_io_restores_mode_and_copies() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(inplace=True), nn.Linear(4, 2)).train()
    x = torch.randn(5, 3)
    io = capture_layer_io(model, ["0", "2"], x)
    assert model.training
    assert io["0"][0].shape == (5, 3) and io["2"][1].shape == (5, 2)
    torch.testing.assert_close(io["0"][1], model[0](x).detach())  # not overwritten by the in-place ReLU
    assert (io["0"][1] < 0).any()
    with pytest.raises(KeyError, match="no modules"):
        capture_layer_io(model, ["9"], x)
