"""Transparency checkpoints (enc.th / dec.th) load into AttentionTextClassifier and give the same outputs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from ballroom.faithfulness import load_transparency_state_dict


class _TransparencyReference(nn.Module):
    """The official text model written from its equations, with the official parameter names."""

    def __init__(self, vocab: int, emb: int, hidden: int, encoder: str, attention: str, out: int) -> None:
        super().__init__()
        self.encoder_kind, self.attention_kind = encoder, attention
        self.embedding = nn.Embedding(vocab, emb, padding_idx=0)
        if encoder == "rnn":
            self.rnn = nn.LSTM(emb, hidden, batch_first=True, bidirectional=True)
            h_enc = 2 * hidden
        else:
            self.convolutions = nn.ModuleDict(
                {str(i): nn.Conv1d(emb, hidden, k, padding=(k - 1) // 2) for i, k in enumerate((1, 3, 5, 7))}
            )
            h_enc = 4 * hidden
        self.h_enc = h_enc
        self.linear_1 = nn.Linear(h_enc, out)
        self.attention = nn.Module()
        if attention == "tanh":
            self.attention.attn1 = nn.Linear(h_enc, h_enc // 2)
            self.attention.attn2 = nn.Linear(h_enc // 2, 1, bias=False)
        else:
            self.attention.attn1 = nn.Linear(h_enc, 1, bias=False)

    def probs(self, seq: torch.Tensor) -> torch.Tensor:
        lengths = (seq != 0).sum(1)
        e = self.embedding(seq)
        if self.encoder_kind == "rnn":
            packed = nn.utils.rnn.pack_padded_sequence(e, lengths, batch_first=True, enforce_sorted=False)
            h = nn.utils.rnn.pad_packed_sequence(
                self.rnn(packed)[0], batch_first=True, total_length=seq.shape[1]
            )[0]
        else:
            convs = [self.convolutions[str(i)](e.transpose(1, 2)) for i in range(4)]
            h = torch.relu(torch.cat(convs, 1)).transpose(1, 2)
        if self.attention_kind == "tanh":
            score = self.attention.attn2(torch.tanh(self.attention.attn1(h)))[..., 0]
        else:
            score = self.attention.attn1(h)[..., 0] / math.sqrt(self.h_enc)
        alpha = torch.softmax(score.masked_fill(seq == 0, float("-inf")), -1)
        z = self.linear_1((alpha[..., None] * h).sum(1))
        if z.shape[1] == 1:
            p1 = torch.sigmoid(z[:, 0])
            return torch.stack([1 - p1, p1], 1)
        return torch.softmax(z, -1)


def _split(ref: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    state = ref.state_dict()
    enc = {k: v for k, v in state.items() if k.startswith(("embedding", "rnn", "convolutions"))}
    return enc, {k: v for k, v in state.items() if k not in enc}


@pytest.mark.parametrize(
    ("encoder", "attention", "out"),
    [("rnn", "tanh", 1), ("rnn", "dot", 4), ("cnn", "tanh", 5), ("cnn", "dot", 1)],
)
def test_official_layout_loads_and_gives_the_same_probabilities(
    encoder: str, attention: str, out: int, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    ref = _TransparencyReference(40, 12, 6, encoder, attention, out).eval()
    enc, dec = _split(ref)
    torch.save(enc, tmp_path / "enc.th")
    torch.save(dec, tmp_path / "dec.th")
    net = load_transparency_state_dict(tmp_path / "enc.th", tmp_path / "dec.th")
    assert net.encoder_kind == ("lstm" if encoder == "rnn" else "cnn") and net.attention_kind == attention
    seq = torch.randint(1, 40, (5, 9))
    seq[1, 6:] = 0
    seq[3, 2:] = 0
    with torch.no_grad():
        ours = torch.softmax(net(seq), -1)
        theirs = ref.probs(seq)
    assert ours.shape == (5, max(out, 2))
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)


def test_keys_of_another_model_are_refused() -> None:
    with pytest.raises(ValueError, match="not a Transparency text model"):
        load_transparency_state_dict({"w": torch.ones(1)}, {"linear_1.weight": torch.ones(1, 2)})
    with pytest.raises(TypeError, match="encoder must be a state dict"):
        load_transparency_state_dict([1, 2], {})  # type: ignore[arg-type]
