"""Attention layers (no Lightning): MGK, MLK and the softmax / linear baselines.

Every layer maps ``x (B, N, d_model) -> (B, N, d_model)``; ``key_padding_mask (B, N)`` is True on
padding (as in ``nn.MultiheadAttention``). Parameter names follow the official LRA attention module
(``W_q``, ``W_k``, ``W_k2``, ``W_v``, ``ff``, ``pi``, ``mu``), so its weights load by name
(:func:`load_official_state_dict` maps the two nested names).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ballroom.core.validate import check_choice, check_int, check_number, check_tensor
from ballroom.mgk.functional import (
    causal_mask,
    elu1,
    elu1_sumnorm,
    linear_attention,
    mgk_attention,
    mgk_responsibilities,
    mlk_attention,
)
from ballroom.mgk.official import load_official_state_dict
from ballroom.mgk.sdpa import mgk_attention_sdpa

__all__ = [
    "IMPLS",
    "PI_MODES",
    "LinearAttention",
    "MGKAttention",
    "MLKAttention",
    "SoftmaxAttention",
    "em_update_",
    "load_official_state_dict",
]

PI_MODES = ("layer", "head", "head_position", "fixed", "em", "hard")
IMPLS = ("auto", "sdpa", "fused")


class _Heads(nn.Module):
    """Shared plumbing: query/value/output projections, head split, masks, input checks."""

    def __init__(self, d_model: int, n_heads: int, head_dim: int, causal: bool, dropout: float) -> None:
        super().__init__()
        self.d_model = check_int(d_model, "d_model", min=1)
        self.n_heads = check_int(n_heads, "n_heads", min=1)
        self.head_dim = check_int(head_dim, "head_dim", min=1)
        self.causal = bool(causal)
        self.dropout = check_number(dropout, "dropout", lo=0.0, hi=1.0, hi_open=True)
        inner = n_heads * head_dim
        self.W_q = nn.Linear(d_model, inner)
        self.W_v = nn.Linear(d_model, inner)
        self.ff = nn.Linear(inner, d_model)

    def _split(self, t: Tensor) -> Tensor:  # (B, N, H*d) -> (B, H, N, d)
        return t.unflatten(-1, (self.n_heads, -1)).transpose(1, 2)

    def _merge(self, t: Tensor) -> Tensor:  # (B, H, N, d) -> (B, N, H*d)
        return t.transpose(1, 2).flatten(2)

    def _check(self, x: Tensor, key_padding_mask: Tensor | None) -> None:
        check_tensor(x, "x", ndim=3)
        if x.shape[-1] != self.d_model:
            raise ValueError(f"x must have d_model = {self.d_model} features, got shape {tuple(x.shape)}")
        if key_padding_mask is not None:
            check_tensor(key_padding_mask, "key_padding_mask", shape=x.shape[:2], dtype="bool")

    def _allowed(self, x: Tensor, key_padding_mask: Tensor | None) -> Tensor | None:
        """bool ``(B, 1, N, N)`` or ``(B, 1, 1, N)``: True where query i may attend key j."""
        n = x.shape[1]
        mask = None if key_padding_mask is None else ~key_padding_mask[:, None, None, :]
        if self.causal:
            tri = causal_mask(n, x.device)[None, None]
            mask = tri if mask is None else mask & tri
        return mask


class SoftmaxAttention(_Heads):
    """Multi-head softmax attention ``softmax(q k^T / sqrt(d)) v`` (the baseline), ``(B, N, D) -> (B, N, D)``.

    Parameter names as in the official LRA ``Attention`` module (``W_q``, ``W_k``, ``W_v``, ``ff``).

    Args:
        d_model: model width ``D`` (input and output features).
        n_heads: number of heads ``H``.
        head_dim: size ``d`` of each head.
        causal: query ``i`` attends only keys ``j <= i``.
        dropout: dropout on the attention weights (training only).
        fused: ``True`` runs ``F.scaled_dot_product_attention`` (SDPA); ``False`` the explicit
            matmul-softmax-matmul (our non-fused softmax, the benchmark's reference).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        head_dim: int,
        *,
        causal: bool = False,
        dropout: float = 0.0,
        fused: bool = True,
    ) -> None:
        super().__init__(d_model, n_heads, head_dim, causal, dropout)
        self.fused = bool(fused)
        self.W_k = nn.Linear(d_model, n_heads * head_dim)

    def attention_weights(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        """``(B, H, N, N)`` attention probabilities."""
        q, k = self._split(self.W_q(x)), self._split(self.W_k(x))
        s = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)
        mask = self._allowed(x, key_padding_mask)
        if mask is not None:
            s = s.masked_fill(~mask, -math.inf)
        return torch.softmax(s, -1).nan_to_num(0.0)

    def forward(
        self, x: Tensor, key_padding_mask: Tensor | None = None, need_weights: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        self._check(x, key_padding_mask)
        v = self._split(self.W_v(x))
        if self.fused and not need_weights:
            q, k = self._split(self.W_q(x)), self._split(self.W_k(x))
            mask = self._allowed(x, key_padding_mask)
            p = self.dropout if self.training else 0.0
            h = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
            return self.ff(self._merge(h))
        a = self.attention_weights(x, key_padding_mask)
        out = self.ff(self._merge(F.dropout(a, self.dropout, self.training) @ v))
        return (out, a) if need_weights else out


class _MixtureKeys(_Heads):
    """Keys ``k_jr`` (separate projections ``W_k, W_k2, ...`` or shifted ``W_k x - mu_r``) and pi."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        head_dim: int,
        n_keys: int,
        key_mode: str,
        pi_mode: str,
        max_len: int | None,
        causal: bool,
        dropout: float,
        allowed_pi: Sequence[str],
    ) -> None:
        super().__init__(d_model, n_heads, head_dim, causal, dropout)
        self.n_keys = check_int(n_keys, "n_keys", min=1)
        self.key_mode = check_choice(key_mode, "key_mode", ("separate", "shifted"))
        self.pi_mode = check_choice(pi_mode, "pi_mode", tuple(allowed_pi))
        if pi_mode in ("head_position", "em") and max_len is None:
            raise ValueError(
                f"max_len must be given with pi_mode={pi_mode!r} (pi depends on the key position)"
            )
        self.max_len = None if max_len is None else check_int(max_len, "max_len", min=1)
        if pi_mode == "em" and n_keys != 2:
            raise ValueError(f"pi_mode='em' needs n_keys=2, got n_keys={n_keys}")
        inner = n_heads * head_dim
        self.W_k = nn.Linear(d_model, inner)
        if key_mode == "separate":
            for r in range(2, n_keys + 1):
                self.add_module(f"W_k{r}", nn.Linear(d_model, inner))
        else:  # official init: mu_1 = 0, mu_r ~ N(0, 0.5^2) for r >= 2, all trainable
            mu = torch.randn(n_keys, n_heads, head_dim) * 0.5
            mu[0] = 0.0
            self.mu = nn.Parameter(mu)
        if pi_mode == "layer":
            self.pi = nn.Parameter(torch.full((n_keys,), 0.5))
        elif pi_mode == "head":
            self.pi = nn.Parameter(torch.full((n_heads, n_keys), 0.5))
        elif pi_mode == "head_position":
            assert self.max_len is not None
            self.pi = nn.Parameter(torch.full((n_heads, n_keys, self.max_len), 0.5))
        elif pi_mode == "fixed":
            self.register_buffer("pi", torch.full((n_keys,), 1.0 / n_keys))
        elif pi_mode == "em":
            assert self.max_len is not None
            self.register_buffer("pi", torch.full((n_heads, self.max_len), 0.5))

    def keys(self, x: Tensor) -> Tensor:
        """``(B, H, M, N, d)``: the ``M`` keys of every position."""
        if self.key_mode == "separate":
            projs = [self.W_k] + [getattr(self, f"W_k{r}") for r in range(2, self.n_keys + 1)]
            return torch.stack([self._split(p(x)) for p in projs], dim=2)
        k = self._split(self.W_k(x))  # (B, H, N, d)
        return k[:, :, None] - self.mu.transpose(0, 1)[None, :, :, None, :]

    def mixing(self, n: int) -> Tensor | None:
        """Clamped pi broadcastable to ``(B, H, M, N)`` (``None`` for Hard-E)."""
        if self.pi_mode == "hard":
            return None
        if self.max_len is not None and n > self.max_len:
            raise ValueError(f"x has {n} positions > max_len = {self.max_len} (pi_mode={self.pi_mode!r})")
        pi = self.pi.clamp(0.0, 1.0)
        if self.pi_mode in ("layer", "fixed"):
            return pi[:, None]
        if self.pi_mode == "head":
            return pi[:, :, None]
        if self.pi_mode == "head_position":
            return pi[..., :n]
        p1 = pi[:, :n].detach()  # em: a buffer, no gradient
        return torch.stack([p1, 1.0 - p1], dim=1)


class MGKAttention(_MixtureKeys):
    """Multi-head attention with a mixture of ``n_keys`` Gaussian keys per position (Transformer-MGK).

    ``A_ij ∝ sum_r pi_jr exp(-||q_i - k_jr||^2 / (2 sigma_r^2))`` per head, ``sigma_r^2 = sigma2[r] *
    sqrt(head_dim)`` (fixed), then ``h = A v``, heads concatenated, output Linear ``ff``.

    Args:
        d_model: model width ``D`` (input and output features).
        n_heads: number of heads ``H``.
        head_dim: size ``d`` of each head.
        n_keys: mixture components ``M`` per key position (2 in every experiment of the paper).
        key_mode: ``"separate"`` (MGK, one key projection per component) or ``"shifted"`` (sMGK).
        sigma2: the ``M`` fixed variances in units of ``sqrt(head_dim)``: ``(1, 1)`` (LRA code) or
            ``(1, 1/3)`` (the WikiText recipe).
        pi_mode: ``"layer"`` (LRA code: one learned M-vector, init 0.5), ``"head"`` (H x M),
            ``"head_position"`` (LM code: H x M x max_len), ``"fixed"`` (uniform), ``"em"`` (Soft-E:
            buffer updated by the E-step in training, :func:`em_update_`), ``"hard"`` (Hard-E, max over r).
            Learned pi is clamped to [0, 1] at use, never renormalised.
        em_reduce: how ``"em"`` averages responsibilities: ``"query_mask"`` (LRA code) or
            ``"all_queries"`` (LM code, causally masked queries included); default: the latter when
            ``causal``, else the former.
        max_len: needed by ``"head_position"`` and ``"em"``; longer inputs raise ``ValueError``.
        causal: query ``i`` attends only keys ``j <= i``.
        dropout: dropout on the attention weights (training only).
        impl: ``"auto"`` (default): ``"sdpa"`` wherever it is exact (soft mixture, no ``need_weights``,
            no active dropout), else ``"fused"``; ``"sdpa"``: :func:`mgk_attention_sdpa` (one SDPA
            over the ``M N`` (key, component) pairs, no ``N x N`` matrix; with active dropout it drops
            pairs); ``"fused"``: the materialising augmented matmul of :func:`mgk_attention`.
            Hard-E and ``need_weights`` always use ``"fused"``.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        head_dim: int,
        *,
        n_keys: int = 2,
        key_mode: str = "separate",
        sigma2: Sequence[float] = (1.0, 1.0),
        pi_mode: str = "layer",
        max_len: int | None = None,
        causal: bool = False,
        dropout: float = 0.0,
        em_reduce: str | None = None,
        impl: str = "auto",
    ) -> None:
        super().__init__(
            d_model, n_heads, head_dim, n_keys, key_mode, pi_mode, max_len, causal, dropout, PI_MODES
        )
        self.impl = check_choice(impl, "impl", IMPLS)
        if impl == "sdpa" and pi_mode == "hard":
            raise ValueError("impl='sdpa' needs a soft mixture: Hard-E (pi_mode='hard') takes a max over r")
        s2 = [check_number(s, "sigma2", lo=0.0, lo_open=True) for s in sigma2]
        if len(s2) != n_keys:
            raise ValueError(
                f"sigma2 must have n_keys = {n_keys} entries (units of sqrt(head_dim)), got {len(s2)}"
            )
        self.sigma2 = tuple(s2)
        self.em_reduce = check_choice(
            em_reduce or ("all_queries" if causal else "query_mask"),
            "em_reduce",
            ("query_mask", "all_queries"),
        )

    @property
    def variances(self) -> list[float]:
        """Absolute ``sigma_r^2 = sigma2[r] * sqrt(head_dim)``."""
        return [s * math.sqrt(self.head_dim) for s in self.sigma2]

    def _scores_inputs(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        q, keys = self._split(self.W_q(x)), self.keys(x)
        pi = self.mixing(x.shape[1])
        log_pi = None if pi is None else torch.log(pi)
        return q, keys, log_pi

    def attention_weights(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        """``(B, H, N, N)`` MGK attention (no EM update)."""
        self._check(x, key_padding_mask)
        q, keys, log_pi = self._scores_inputs(x)
        mode = "hard" if self.pi_mode == "hard" else "soft"
        v = q.new_zeros(*q.shape[:-1], 1)
        return mgk_attention(q, keys, v, sigma2=self.variances, log_pi=log_pi, mode=mode,
                             mask=self._allowed(x, key_padding_mask))[1]  # fmt: skip

    def forward(
        self, x: Tensor, key_padding_mask: Tensor | None = None, need_weights: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """``(B, N, d_model) -> (B, N, d_model)`` (and ``A (B, H, N, N)`` with ``need_weights``)."""
        self._check(x, key_padding_mask)
        q, keys, log_pi = self._scores_inputs(x)
        v = self._split(self.W_v(x))
        mask = self._allowed(x, key_padding_mask)
        mode = "hard" if self.pi_mode == "hard" else "soft"
        drop = self.training and self.dropout > 0
        a: Tensor | None = None
        if (
            mode == "soft"
            and not need_weights
            and (self.impl == "sdpa" or (self.impl == "auto" and not drop))
        ):
            h = mgk_attention_sdpa(q, keys, v, sigma2=self.variances, log_pi=log_pi, mask=mask,
                                   dropout_p=self.dropout, training=self.training)  # fmt: skip
        else:
            h, a = mgk_attention(q, keys, v, sigma2=self.variances, log_pi=log_pi, mode=mode, mask=mask,
                                 dropout_p=self.dropout, training=self.training)  # fmt: skip
        if self.pi_mode == "em" and self.training:
            pad = None if key_padding_mask is None else ~key_padding_mask[:, None, None, :]
            gamma = mgk_responsibilities(
                q, keys, sigma2=self.variances, pi1=self.pi[:, : x.shape[1]], mask=pad
            )
            em_update_(self, gamma, None if key_padding_mask is None else ~key_padding_mask)
        out = self.ff(self._merge(h))
        if need_weights:
            assert a is not None
            return out, a
        return out


@torch.no_grad()
def em_update_(module: MGKAttention, responsibilities: Tensor, mask: Tensor | None = None) -> None:
    """Soft-E M-step for ``pi_mode="em"``: set ``pi_j1`` to the mean responsibility of key ``j``.

    ``"query_mask"`` (LRA): ``pi_j1 <- sum_{b,i} mask_bi gamma_bij / (sum_{b,i} mask_bi mask_bj + 1e-6)``,
    only for positions present in the batch. ``"all_queries"`` (LM): the mean over all ``B x N`` queries.

    Args:
        module: an :class:`MGKAttention` with ``pi_mode="em"``.
        responsibilities: ``(B, H, N, K)`` gamma of the first component (:func:`mgk_responsibilities`).
        mask: ``(B, N)`` bool, True on real tokens (``None``: all real).
    """
    if not isinstance(module, MGKAttention) or module.pi_mode != "em":
        raise TypeError("module must be an MGKAttention with pi_mode='em'")
    gamma = check_tensor(responsibilities, "responsibilities", ndim=4)
    b, h, n, k = gamma.shape
    if h != module.n_heads or module.max_len is None or k > module.max_len:
        raise ValueError(
            f"responsibilities must have shape (B, {module.n_heads}, N, K <= max_len), got {tuple(gamma.shape)}"
        )
    if mask is None:
        mask = torch.ones(b, k, dtype=torch.bool, device=gamma.device)
    check_tensor(mask, "mask", shape=(b, k), dtype="bool")
    m = mask.to(gamma.dtype)
    if module.em_reduce == "all_queries":
        module.pi[:, :k] = gamma.mean(dim=(0, 2)).to(module.pi.dtype)
        return
    num = torch.einsum("bi,bhij->hj", m[:, :n], gamma)
    count = torch.einsum("bi,bj->j", m[:, :n], m)
    present = count > 0
    new = num / (count + 1e-6)
    module.pi[:, :k] = torch.where(present, new, module.pi[:, :k]).to(module.pi.dtype)


class LinearAttention(_Heads):
    """Linear attention (Katharopoulos et al.): ``phi(q)^T sum_j phi(k_j) v_j^T / (phi(q)^T sum_j phi(k_j) + eps)``.

    ``(B, N, D) -> (B, N, D)``; causal by prefix sums; padded keys are zeroed in ``phi(k)``.

    Args:
        d_model: model width ``D`` (input and output features).
        n_heads: number of heads ``H``.
        head_dim: size ``d`` of each head.
        causal: prefix sums over ``j <= i``.
        dropout: dropout on the heads' output (training only).
        feature_map: ``"elu1"`` (``elu + 1``) or ``"elu1_sumnorm"`` (divided by its feature sum).
        eps: added to the denominator.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        head_dim: int,
        *,
        causal: bool = False,
        dropout: float = 0.0,
        feature_map: str = "elu1",
        eps: float = 1e-6,
    ) -> None:
        super().__init__(d_model, n_heads, head_dim, causal, dropout)
        self.feature_map = check_choice(feature_map, "feature_map", ("elu1", "elu1_sumnorm"))
        self.eps = check_number(eps, "eps", lo=0.0)
        self.W_k = nn.Linear(d_model, n_heads * head_dim)

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        self._check(x, key_padding_mask)
        phi = elu1 if self.feature_map == "elu1" else elu1_sumnorm
        q, k, v = (self._split(p(x)) for p in (self.W_q, self.W_k, self.W_v))
        pk = phi(k)
        if key_padding_mask is not None:
            pk = pk.masked_fill(key_padding_mask[:, None, :, None], 0.0)
        h = linear_attention(phi(q), pk, v, causal=self.causal, eps=self.eps)
        return self.ff(F.dropout(self._merge(h), self.dropout, self.training))


class MLKAttention(_MixtureKeys):
    """Mixture of linear keys: linear attention on ``k~_j = sum_r pi_jr phi(k_jr)`` (paper equation).

    ``recipe`` picks the official code variants (see the spec): ``"paper"`` (``feature_map`` /
    ``normalize`` as given, eps 1e-6), ``"lm"`` (``elu1_sumnorm``, ``(1/sqrt(d)) num / (den + 1e-5)``),
    ``"lra"`` (raw keys mixed before ``phi``, no denominator, ``phi(q)`` and ``phi(k~)`` times ``N^(-1/4)``).
    ``(B, N, D) -> (B, N, D)``.

    Args:
        d_model: model width ``D`` (input and output features).
        n_heads: number of heads ``H``.
        head_dim: size ``d`` of each head.
        n_keys: mixture components ``M`` per key position.
        key_mode: ``"separate"`` (MLK, one key projection per component) or ``"shifted"`` (sMLK).
        pi_mode: ``"layer" | "head" | "head_position" | "fixed"`` (learned ones clamped to [0, 1]).
        max_len: needed by ``"head_position"``.
        causal: prefix sums over ``j <= i``.
        dropout: dropout on the heads' output (training only).
        feature_map: ``"elu1"`` or ``"elu1_sumnorm"`` (``recipe="paper"`` only).
        normalize: divide by the denominator (``recipe="paper"`` only).
        recipe: ``"paper"``, ``"lm"`` or ``"lra"`` (above).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        head_dim: int,
        *,
        n_keys: int = 2,
        key_mode: str = "separate",
        pi_mode: str = "layer",
        max_len: int | None = None,
        causal: bool = False,
        dropout: float = 0.0,
        feature_map: str = "elu1",
        normalize: bool = True,
        recipe: str = "paper",
    ) -> None:
        super().__init__(d_model, n_heads, head_dim, n_keys, key_mode, pi_mode, max_len, causal, dropout,
                         ("layer", "head", "head_position", "fixed"))  # fmt: skip
        self.recipe = check_choice(recipe, "recipe", ("paper", "lm", "lra"))
        self.feature_map = check_choice(feature_map, "feature_map", ("elu1", "elu1_sumnorm"))
        self.normalize = bool(normalize)

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        self._check(x, key_padding_mask)
        n = x.shape[1]
        q, keys, v = self._split(self.W_q(x)), self.keys(x), self._split(self.W_v(x))
        pi = self.mixing(n)
        assert pi is not None
        if key_padding_mask is not None:  # a padded key contributes nothing
            pi = pi * (~key_padding_mask)[:, None, None, :].to(pi.dtype)
        if self.recipe == "paper":
            h = mlk_attention(q, keys, v, pi, feature_map=self.feature_map, causal=self.causal,
                              normalize=self.normalize)  # fmt: skip
        elif self.recipe == "lm":
            h = mlk_attention(q, keys, v, pi, feature_map="elu1_sumnorm", causal=self.causal, eps=1e-5)
            h = h / math.sqrt(self.head_dim)
        else:
            scale = n**-0.25
            k_mix = elu1((pi.unsqueeze(-1) * keys).sum(-3)) * scale
            if key_padding_mask is not None:
                k_mix = k_mix.masked_fill(key_padding_mask[:, None, :, None], 0.0)
            h = linear_attention(elu1(q) * scale, k_mix, v, causal=self.causal, normalize=False)
        return self.ff(F.dropout(self._merge(h), self.dropout, self.training))
