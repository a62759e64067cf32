"""Load the official text models (Transparency's ``enc.th`` / ``dec.th``) into :class:`AttentionTextClassifier`.

The paper's text experiments use the Transparency code (Jain & Wallace; Jain et al.): an encoder
(``EncoderRNN``: ``embedding``, a one-layer BiLSTM ``rnn``; or ``EncoderCNN``: ``embedding`` and
``convolutions.<i>`` Conv1d with padding ``(k-1)//2`` and ReLU) and an ``AttnDecoder`` (``linear_1``
and ``attention.attn1`` / ``attention.attn2`` for Tanh attention, ``attention.attn1`` alone for Dot),
saved as two state dicts. Name mapping:

==================================  =====================================
official                            ours
==================================  =====================================
``embedding.weight``                ``embedding.weight``
``rnn.<p>_l<k>[_reverse]``          ``lstm.<p>_l<k>[_reverse]``
``convolutions.<i>.{weight,bias}``  ``convs.<i>.{weight,bias}``
``attention.attn1.{weight,bias}``   ``attn_w.{weight,bias}``
``attention.attn2.weight``          ``attn_v.weight``
``linear_1.{weight,bias}``          ``decoder.{weight,bias}``
==================================  =====================================

A binary Transparency model has one output (``sigmoid(z)``); it becomes two classes with logits
``(-z/2, z/2)``, whose softmax is exactly ``(1 - sigmoid(z), sigmoid(z))``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import torch
from torch import Tensor

from ballroom.faithfulness.nn import AttentionTextClassifier

__all__ = ["load_transparency_state_dict"]

StateDict = Mapping[str, Tensor]


def _as_state(obj: StateDict | str | os.PathLike[str], name: str) -> dict[str, Tensor]:
    if isinstance(obj, (str, os.PathLike)):
        obj = torch.load(obj, map_location="cpu", weights_only=True)
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise TypeError(f"{name} must be a state dict (str -> Tensor) or the path of one")
    return dict(obj)


def load_transparency_state_dict(
    encoder: StateDict | str | os.PathLike[str], decoder: StateDict | str | os.PathLike[str]
) -> AttentionTextClassifier:
    """Build the :class:`AttentionTextClassifier` of a Transparency checkpoint and load its weights.

    Sizes (vocabulary, embedding, hidden, kernels, layers, classes) and the encoder and attention
    kinds are read off the tensors. Token ids are the checkpoint's own (Transparency's vocabulary,
    padding 0).

    Args:
        encoder: the encoder's state dict (``enc.th``) or its path.
        decoder: the decoder's state dict (``dec.th``) or its path.

    Returns:
        The network in eval mode; ``forward(tokens (B, n)) -> (B, C)`` logits.

    Raises:
        TypeError: an argument that is not a state dict.
        ValueError: keys that are not a Transparency text model's.
    """
    enc, dec = _as_state(encoder, "encoder"), _as_state(decoder, "decoder")
    if "embedding.weight" not in enc or "linear_1.weight" not in dec or "attention.attn1.weight" not in dec:
        raise ValueError(
            "not a Transparency text model: the encoder needs 'embedding.weight', the decoder "
            f"'linear_1.weight' and 'attention.attn1.weight'; got {sorted(enc)[:4]} / {sorted(dec)[:4]}"
        )
    vocab, emb = enc["embedding.weight"].shape
    ours: dict[str, Tensor] = {"embedding.weight": enc["embedding.weight"]}
    if "rnn.weight_hh_l0" in enc:
        kind, hidden = "lstm", int(enc["rnn.weight_hh_l0"].shape[1])
        n_layers = 1 + max(int(m.group(1)) for k in enc if (m := re.match(r"rnn\.weight_hh_l(\d+)", k)))
        bidirectional = "rnn.weight_hh_l0_reverse" in enc
        kernels: list[int] = [1]
        ours.update({"lstm." + k[4:]: v for k, v in enc.items() if k.startswith("rnn.")})
    else:
        conv_ids = sorted(
            {int(m.group(1)) for k in enc if (m := re.match(r"convolutions\.(\d+)\.weight", k))}
        )
        if not conv_ids:
            raise ValueError("the encoder has neither 'rnn.*' (EncoderRNN) nor 'convolutions.*' (EncoderCNN)")
        kind, n_layers, bidirectional = "cnn", 1, False
        hidden = int(enc["convolutions.0.weight"].shape[0])
        kernels = [int(enc[f"convolutions.{i}.weight"].shape[2]) for i in conv_ids]
        for j, i in enumerate(conv_ids):
            ours[f"convs.{j}.weight"] = enc[f"convolutions.{i}.weight"]
            ours[f"convs.{j}.bias"] = enc[f"convolutions.{i}.bias"]
    attention = "tanh" if "attention.attn2.weight" in dec else "dot"
    ours["attn_w.weight"] = dec["attention.attn1.weight"]
    if attention == "tanh":
        ours["attn_w.bias"] = dec["attention.attn1.bias"]
        ours["attn_v.weight"] = dec["attention.attn2.weight"]
    w, b = dec["linear_1.weight"], dec["linear_1.bias"]
    if w.shape[0] == 1:  # sigmoid(z) == softmax((-z/2, z/2))[1]
        w, b = torch.cat([-w / 2, w / 2]), torch.cat([-b / 2, b / 2])
    ours["decoder.weight"], ours["decoder.bias"] = w, b
    net = AttentionTextClassifier(
        int(vocab), int(emb), encoder=kind, attention=attention, hidden=hidden, n_layers=n_layers,
        num_classes=int(w.shape[0]), bidirectional=bidirectional, kernel_sizes=kernels,
    )  # fmt: skip
    net.load_state_dict(ours, strict=True)
    return net.eval()
