"""The ``ExplainableModel`` protocol: what the explainers and the violation test need from a model.

A model is explainable when it can (1) embed a batch into per-feature vectors, (2) run the rest of
the network from those vectors while recording its attention maps, and (3) remove features in the
three ways of the paper. :class:`AttentionTextClassifier` and :class:`TinyTransformerClassifier`
implement it directly; for your own model, write a small adapter (recipe in the README)::

    class MyAdapter(ExplainableMixin, nn.Module):
        query_index, feature_offset = 0, 1            # CLS row, features start after CLS
        def embed(self, batch): return self.net.tok(batch)                       # (B, n, d)
        def padding_mask(self, batch): return batch != PAD                          # (B, n) bool
        def forward_from_embeddings(self, emb, mask, alpha=None, attn_mask=None):  # (B, C) logits
            ...  # run the network, append each layer's (B, H, Q, K) map to self.attention_maps

Removal functions (``how``), on a bool ``drop (B, n)`` of the features to remove:

- ``"slice_out"``: delete them (remaining features move left, the sequence gets shorter);
- ``"zeros_mask"``: replace their input vectors by zeros, keep their positions;
- ``"att_mask"``: keep the input, exclude them from every attention (renormalised over the rest).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

import torch
from torch import Tensor

from ballroom.core.validate import check_choice, check_tensor

__all__ = [
    "REMOVALS",
    "ExplainableMixin",
    "ExplainableModel",
    "Perturbed",
    "index_batch",
    "positions_to_mask",
    "remove_features",
]

#: the paper's three removal functions
REMOVALS = ("slice_out", "zeros_mask", "att_mask")


class Perturbed(NamedTuple):
    """Inputs of ``forward_from_embeddings`` after a removal.

    Attributes:
        emb: ``(B, n', d)`` feature embeddings (``n' <= n`` after ``slice_out``).
        mask: ``(B, n')`` bool, True on real features (the encoder's padding mask).
        attn_mask: ``(B, n')`` bool, True where attention may look (``mask`` minus ``att_mask`` removals).
    """

    emb: Tensor
    mask: Tensor
    attn_mask: Tensor


@runtime_checkable
class ExplainableModel(Protocol):
    """What an explainable model offers (an ``nn.Module`` in practice).

    Attributes:
        attention_maps: filled by every ``forward_from_embeddings`` call: one ``(B, H, Q, K)`` tensor
            per attention layer (first to last), each with ``retain_grad()`` when it requires grad.
            Empty for a model without attention (the gradient explainers still work).
        attention_values: one ``(B, H, K, d_out)`` tensor per layer: ``f(h_t)`` of each head, what the
            attention mixes, mapped to the output space (used by :class:`AttentionInputNorm`).
        query_index: the row of the classification query in ``Q`` (0 for a CLS token or a single query).
        feature_offset: the first feature's column in ``K`` (1 when a CLS token precedes the features).
    """

    attention_maps: list[Tensor]
    attention_values: list[Tensor]
    query_index: int
    feature_offset: int

    def embed(self, batch: Any) -> Tensor:
        """``batch -> (B, n, d)`` per-feature input vectors (what InputGrad / IG differentiate)."""
        ...

    def padding_mask(self, batch: Any) -> Tensor:
        """``batch -> (B, n)`` bool, True on real features."""
        ...

    def forward_from_embeddings(
        self, emb: Tensor, mask: Tensor, alpha: Tensor | None = None, attn_mask: Tensor | None = None
    ) -> Tensor:
        """``(B, n, d), (B, n) -> (B, C)`` logits; ``alpha`` replaces the last attention map."""
        ...

    def remove(self, batch: Any, positions: Tensor, how: str) -> Perturbed:
        """Remove ``positions`` (``(B,)``/``(B, m)`` long or ``(B, n)`` bool) from ``batch`` by ``how``."""
        ...


def positions_to_mask(positions: Tensor, n: int) -> Tensor:
    """``(B,)`` or ``(B, m)`` long positions (``-1`` = none), or a ``(B, n)`` bool mask -> ``(B, n)`` bool."""
    if positions.dtype == torch.bool:
        check_tensor(positions, "positions", ndim=2, dtype="bool")
        if positions.shape[1] != n:
            raise ValueError(f"positions as a bool mask must have {n} columns, got {tuple(positions.shape)}")
        return positions
    check_tensor(positions, "positions", ndim=(1, 2), dtype="integer")
    pos = positions[:, None] if positions.ndim == 1 else positions
    if bool((pos >= n).any()) or bool((pos < -1).any()):
        raise ValueError(
            f"positions must lie in [0, {n}) (or -1 for none), got [{int(pos.min())}, {int(pos.max())}]"
        )
    drop = torch.zeros(pos.shape[0], n + 1, dtype=torch.bool, device=pos.device)
    drop.scatter_(1, torch.where(pos < 0, n, pos), True)
    return drop[:, :n]


def remove_features(emb: Tensor, mask: Tensor, positions: Tensor, how: str) -> Perturbed:
    """The three removal functions on embedded inputs.

    Args:
        emb: ``(B, n, d)`` feature embeddings.
        mask: ``(B, n)`` bool, True on real features.
        positions: what to remove, see :func:`positions_to_mask`.
        how: ``"slice_out"``, ``"zeros_mask"`` or ``"att_mask"``.

    Returns:
        :class:`Perturbed`; ``slice_out`` packs the kept features to the left and trims the length to
        the longest kept row (at least 1).
    """
    check_choice(how, "how", REMOVALS)
    check_tensor(emb, "emb", ndim=3, finite=False)
    check_tensor(mask, "mask", shape=emb.shape[:2], dtype="bool")
    drop = positions_to_mask(positions.to(emb.device), emb.shape[1])
    if drop.shape[0] != emb.shape[0]:
        raise ValueError(f"positions must have {emb.shape[0]} rows (the batch), got {drop.shape[0]}")
    drop = drop & mask
    if how == "zeros_mask":
        return Perturbed(emb.masked_fill(drop[..., None], 0.0), mask, mask)
    if how == "att_mask":
        return Perturbed(emb, mask, mask & ~drop)
    keep = mask & ~drop
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)
    length = max(int(keep.sum(1).max()), 1)
    order = order[:, :length]
    new_emb = emb.gather(1, order[..., None].expand(-1, -1, emb.shape[2]))
    new_mask = keep.gather(1, order)
    return Perturbed(new_emb * new_mask[..., None].to(emb.dtype), new_mask, new_mask)


def index_batch(batch: Any, index: Tensor) -> Any:
    """Select rows ``index`` of every tensor in ``batch`` (a tensor, tuple/list or dict of them)."""
    if isinstance(batch, Tensor):
        return batch[index.to(batch.device)]
    if isinstance(batch, tuple | list):
        return type(batch)(index_batch(b, index) for b in batch)
    if isinstance(batch, dict):
        return {k: index_batch(v, index) for k, v in batch.items()}
    return batch


class ExplainableMixin:
    """Default ``remove`` (through :func:`remove_features`) and the recording attributes.

    Subclasses (``nn.Module`` s) implement ``embed``, ``padding_mask`` and ``forward_from_embeddings``.
    """

    query_index: int = 0
    feature_offset: int = 0

    def _reset_records(self) -> None:
        self.attention_maps: list[Tensor] = []
        self.attention_values: list[Tensor] = []

    def _record(self, attn: Tensor, values: Tensor | None) -> None:
        if attn.requires_grad:
            attn.retain_grad()
        self.attention_maps.append(attn)
        if values is not None:
            self.attention_values.append(values)

    def remove(self, batch: Any, positions: Tensor, how: str) -> Perturbed:
        emb = self.embed(batch)  # type: ignore[attr-defined]
        return remove_features(emb, self.padding_mask(batch), positions, how)  # type: ignore[attr-defined]
