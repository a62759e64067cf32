"""Explanation methods: ``explainer(model, batch, target=None) -> (B, n)`` weights, one per feature.

``model`` implements :class:`~ballroom.faithfulness.protocol.ExplainableModel`. ``target`` (``(B,)``
long) is the class explained; default ``ŷ = argmax`` of the unperturbed prediction. The score ``y``
that gradients differentiate is the softmax probability of the class (``target="prob"`` in the
constructor, the text pipeline's choice, default) or its logit (``"logit"``, the VQA pipeline's).
Padding positions get weight 0. Names follow the paper (Random, RawAtt, AttGrad, AttIN, Rollout,
GenAtt, InputGrad, IG).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import Tensor

from ballroom.core.validate import check_choice, check_int, check_tensor

__all__ = [
    "EXPLAINERS",
    "AttentionGradient",
    "AttentionInputNorm",
    "AttentionRollout",
    "Explainer",
    "GenericAttention",
    "InputGradient",
    "IntegratedGradients",
    "RandomExplainer",
    "RawAttention",
    "generic_attention_relevance",
    "make_explainer",
    "rollout",
]


def _target_score(logits: Tensor, cls: Tensor, kind: str) -> Tensor:
    out = torch.softmax(logits, -1) if kind == "prob" else logits
    return out.gather(1, cls[:, None])[:, 0]


class Explainer(ABC):
    """Base class: the target score option, the forward pass and the class to explain.

    Args:
        target: ``"prob"`` (softmax probability of the class, default) or ``"logit"``.
    """

    name = "explainer"

    def __init__(self, target: str = "prob") -> None:
        self.target = check_choice(target, "target", ("prob", "logit"))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target={self.target!r})"

    def _forward(self, model: Any, batch: Any) -> tuple[Tensor, Tensor, Tensor]:
        emb = model.embed(batch).detach().requires_grad_(True)
        mask = model.padding_mask(batch)
        logits = model.forward_from_embeddings(emb, mask)
        return emb, mask, logits

    def _classes(self, logits: Tensor, target: Tensor | None) -> Tensor:
        if target is None:
            return logits.detach().argmax(-1)
        target = check_tensor(target, "target", ndim=1, dtype="integer")
        if target.shape[0] != logits.shape[0]:
            raise ValueError(f"target must have {logits.shape[0]} entries (the batch), got {target.shape[0]}")
        if bool((target < 0).any()) or bool((target >= logits.shape[1]).any()):
            raise ValueError(f"target must lie in [0, {logits.shape[1]}) (the classes)")
        return target.to(logits.device)

    def __call__(self, model: Any, batch: Any, target: Tensor | None = None) -> Tensor:
        with torch.enable_grad():
            emb, mask, logits = self._forward(model, batch)
            cls = self._classes(logits, target)
            w = self.weights(model, emb, mask, logits, cls)
        return w.detach().masked_fill(~mask, 0.0)

    @abstractmethod
    def weights(self, model: Any, emb: Tensor, mask: Tensor, logits: Tensor, cls: Tensor) -> Tensor:
        """``(B, n)`` weights of one forward pass (``emb`` requires grad)."""


def _feature_row(model: Any, mat: Tensor, n: int) -> Tensor:
    """Row ``query_index`` of ``(B, Q, K)``, columns of the ``n`` features -> ``(B, n)``."""
    off = model.feature_offset
    return mat[:, model.query_index, off : off + n]


def _last_map(model: Any) -> Tensor:
    if not model.attention_maps:
        raise ValueError("model records no attention maps: attention explainers need attention_maps")
    return model.attention_maps[-1]


def _square_maps(model: Any) -> list[Tensor]:
    maps = model.attention_maps
    if not maps or any(a.shape[-1] != a.shape[-2] for a in maps):
        raise ValueError(
            "model must record square (B, H, L, L) self-attention maps for Rollout / GenAtt, got "
            f"{[tuple(a.shape) for a in maps]}"
        )
    return maps


class RandomExplainer(Explainer):
    """Random: ``w_t ~ U(0, 1)`` (seeded generator, advancing across calls).

    Args:
        seed: the seed of the generator.
        target: ``"prob"`` or ``"logit"`` (no effect: the weights do not depend on the model).
    """

    name = "Random"

    def __init__(self, seed: int = 0, target: str = "prob") -> None:
        super().__init__(target)
        self.generator = torch.Generator().manual_seed(check_int(seed, "seed"))

    def __call__(self, model: Any, batch: Any, target: Tensor | None = None) -> Tensor:
        mask = model.padding_mask(batch)
        w = torch.rand(mask.shape, generator=self.generator).to(mask.device)
        return w.masked_fill(~mask, 0.0)

    def weights(self, model: Any, emb: Tensor, mask: Tensor, logits: Tensor, cls: Tensor) -> Tensor:
        """Random weights ``(B, n)`` (no forward pass needed; :meth:`__call__` skips it)."""
        return torch.rand(mask.shape, generator=self.generator).to(mask.device)


class RawAttention(Explainer):
    """RawAtt: the last layer's attention, mean over heads, the classification row (own entry zeroed)."""

    name = "RawAtt"

    def weights(self, model: Any, emb: Tensor, mask: Tensor, logits: Tensor, cls: Tensor) -> Tensor:
        a = _last_map(model).mean(1)
        if a.shape[-1] == a.shape[-2]:
            a = a.clone()
            a[:, model.query_index, model.query_index] = 0.0
        return _feature_row(model, a, emb.shape[1])


class AttentionGradient(Explainer):
    """AttGrad ``α ⊙ ∂y/∂α`` of the last attention (α a leaf), reduced over heads after the product.

    Args:
        variant: ``"signed"`` (``α ⊙ ∇α``, default), ``"abs"`` (``α ⊙ |∇α|``), ``"sign"``
            (``α ⊙ sign(∇α)``) or ``"grad_only"`` (``∇α``): the paper's factor analysis.
        heads: ``"mean"`` (LXMERT) or ``"sum"`` (VisualBERT) over heads (same sign).
        target: ``"prob"`` or ``"logit"``.
    """

    name = "AttGrad"

    def __init__(self, variant: str = "signed", heads: str = "mean", target: str = "prob") -> None:
        super().__init__(target)
        self.variant = check_choice(variant, "variant", ("signed", "abs", "sign", "grad_only"))
        self.heads = check_choice(heads, "heads", ("mean", "sum"))

    def __repr__(self) -> str:
        return f"AttentionGradient(variant={self.variant!r}, heads={self.heads!r}, target={self.target!r})"

    def weights(self, model: Any, emb: Tensor, mask: Tensor, logits: Tensor, cls: Tensor) -> Tensor:
        a = _last_map(model)
        (g,) = torch.autograd.grad(_target_score(logits, cls, self.target).sum(), a)
        prod = {"signed": lambda: a * g, "abs": lambda: a * g.abs(), "sign": lambda: a * g.sign(),
                "grad_only": lambda: g}[self.variant]()  # fmt: skip
        red = prod.mean(1) if self.heads == "mean" else prod.sum(1)
        return _feature_row(model, red, emb.shape[1])


class AttentionInputNorm(Explainer):
    """AttIN (Kobayashi et al.): ``‖Σ_h α^h_{ct} f^h(h_t)‖`` of the last layer (``f`` from ``attention_values``)."""

    name = "AttIN"

    def weights(self, model: Any, emb: Tensor, mask: Tensor, logits: Tensor, cls: Tensor) -> Tensor:
        a = _last_map(model)
        if len(model.attention_values) != len(model.attention_maps):
            raise ValueError("model must record attention_values (one per attention map) for AttIN")
        v = model.attention_values[-1]  # (B, H, K, d)
        row = a[:, :, model.query_index, :]  # (B, H, K)
        norms = torch.einsum("bhk,bhkd->bkd", row, v).norm(dim=-1)  # (B, K)
        return norms[:, model.feature_offset : model.feature_offset + emb.shape[1]]


class AttentionRollout(Explainer):
    """Rollout (Abnar & Zuidema): row c of ``Â^(L)…Â^(1)``, ``Â = rownorm(mean_h A + I)``.

    ``normalize=False`` omits the row normalisation (the VisualBERT code; same ranking).

    Args:
        normalize: row-normalise each ``mean_h A + I``.
        target: ``"prob"`` or ``"logit"`` (no effect: rollout uses no gradient).
    """

    name = "Rollout"

    def __init__(self, normalize: bool = True, target: str = "prob") -> None:
        super().__init__(target)
        self.normalize = bool(normalize)

    def weights(self, model: Any, emb: Tensor, mask: Tensor, logits: Tensor, cls: Tensor) -> Tensor:
        return _feature_row(
            model, rollout([a.detach() for a in _square_maps(model)], self.normalize), emb.shape[1]
        )


class GenericAttention(Explainer):
    """GenAtt (Chefer et al. 2021b, no LRP): ``R₀ = I``, ``R ← R + mean_h[(∇A ⊙ A)⁺] R`` per layer;
    the classification row with its own entry zeroed."""

    name = "GenAtt"

    def weights(self, model: Any, emb: Tensor, mask: Tensor, logits: Tensor, cls: Tensor) -> Tensor:
        maps = _square_maps(model)
        grads = torch.autograd.grad(_target_score(logits, cls, self.target).sum(), maps)
        r = generic_attention_relevance([a.detach() for a in maps], list(grads))
        r = r.clone()
        r[:, model.query_index, model.query_index] = 0.0
        return _feature_row(model, r, emb.shape[1])


class InputGradient(Explainer):
    """InputGrad: ``Σ_d x_td ∂y/∂x_td`` on the input embeddings."""

    name = "InputGrad"

    def weights(self, model: Any, emb: Tensor, mask: Tensor, logits: Tensor, cls: Tensor) -> Tensor:
        (g,) = torch.autograd.grad(_target_score(logits, cls, self.target).sum(), emb)
        return (emb * g).sum(-1)


class IntegratedGradients(Explainer):
    """IG: ``Σ_d x_td · (1/F) Σ_{k=1..F} ∂y/∂x_td at (k/F)·x`` (zero baseline, right Riemann sum).

    Args:
        steps: ``F`` (official: 20 for text, 10 for VQA).
        baseline: ``"zeros"`` (the only baseline of the paper).
        official_scale: drop the ``1/F`` factor like the official code (F times larger; same sign).
        internal_batch_size: at most this many scaled copies per forward pass.
        target: ``"prob"`` or ``"logit"``.
    """

    name = "IG"

    def __init__(
        self,
        steps: int = 20,
        baseline: str = "zeros",
        official_scale: bool = False,
        internal_batch_size: int = 4096,
        target: str = "prob",
    ) -> None:
        super().__init__(target)
        self.steps = check_int(steps, "steps", min=1)
        self.baseline = check_choice(baseline, "baseline", ("zeros",))
        self.official_scale = bool(official_scale)
        self.internal_batch_size = check_int(internal_batch_size, "internal_batch_size", min=1)

    def __repr__(self) -> str:
        return f"IntegratedGradients(steps={self.steps}, baseline={self.baseline!r}, target={self.target!r})"

    def weights(self, model: Any, emb: Tensor, mask: Tensor, logits: Tensor, cls: Tensor) -> Tensor:
        x = emb.detach()
        b = x.shape[0]
        total = torch.zeros_like(x)
        alphas = torch.arange(1, self.steps + 1, dtype=x.dtype, device=x.device) / self.steps
        per = max(1, self.internal_batch_size // b)
        for chunk in alphas.split(per):
            k = chunk.shape[0]
            scaled = (chunk[:, None, None, None] * x[None]).reshape(k * b, *x.shape[1:]).requires_grad_(True)
            out = model.forward_from_embeddings(scaled, mask.repeat(k, 1))
            (g,) = torch.autograd.grad(_target_score(out, cls.repeat(k), self.target).sum(), scaled)
            total += g.view(k, b, *x.shape[1:]).sum(0)
        if not self.official_scale:
            total = total / self.steps
        return (x * total).sum(-1)


def rollout(maps: list[Tensor], normalize: bool = True) -> Tensor:
    """Attention rollout ``Â^(L)…Â^(1)`` of ``(B, H, L, L)`` maps (first layer first) -> ``(B, L, L)``.

    Args:
        maps: one ``(B, H, L, L)`` attention map per layer, first layer first (non-empty).
        normalize: row-normalise each ``mean_h A + I``.
    """
    result: Tensor | None = None
    for a in maps:
        m = a.mean(1)
        m = m + torch.eye(m.shape[-1], dtype=m.dtype, device=m.device)
        if normalize:
            m = m / m.sum(-1, keepdim=True)
        result = m if result is None else m @ result
    assert result is not None
    return result


def generic_attention_relevance(maps: list[Tensor], grads: list[Tensor]) -> Tensor:
    """GenAtt's recursion ``R ← R + mean_h[(∇A ⊙ A)⁺] R`` from ``R = I`` over layers -> ``(B, L, L)``.

    Args:
        maps: one ``(B, H, L, L)`` attention map per layer, first layer first.
        grads: the gradient of the target score with respect to each map, same shapes.

    Raises:
        ValueError: ``maps`` and ``grads`` differ in length.
    """
    b, _, length, _ = maps[0].shape
    r = torch.eye(length, dtype=maps[0].dtype, device=maps[0].device).expand(b, -1, -1)
    for a, g in zip(maps, grads, strict=True):
        cam = (g * a).clamp_min(0).mean(1)
        r = r + cam @ r
    return r


#: the explainers by paper name (constructors with defaults)
EXPLAINERS: dict[str, type[Explainer]] = {
    "Random": RandomExplainer,
    "RawAtt": RawAttention,
    "AttGrad": AttentionGradient,
    "AttIN": AttentionInputNorm,
    "Rollout": AttentionRollout,
    "GenAtt": GenericAttention,
    "InputGrad": InputGradient,
    "IG": IntegratedGradients,
}


def make_explainer(name: str, **kwargs: Any) -> Explainer:
    """An explainer by its paper name (``"RawAtt"``, ``"IG"``, ...) with constructor ``kwargs``."""
    check_choice(name, "name", list(EXPLAINERS))
    return EXPLAINERS[name](**kwargs)
