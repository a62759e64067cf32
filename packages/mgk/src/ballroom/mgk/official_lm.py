"""The official language-model code's weight layout (``language-modeling/lmtool-fwms``) mapped into ours.

That code base is Transformer-XL's ``MemTransformerLM`` (time-major ``(N, B)`` tokens) with
absolute positions (``attn_type`` 2 = softmax ``MultiHeadAttn``, 200 = ``MGKAttn``, 400 = the MLK
fast-weight layer). Its state-dict names, per layer ``i``, and ours in :class:`MGKLanguageModel`:

==========================================  =================================================
official                                    ours
==========================================  =================================================
``word_emb.emb_layers.0.weight``            ``embed.weight`` (both scaled by ``sqrt(d_model)``)
``crit.out_layers.0.weight`` / ``.bias``    ``out.weight`` / ``.bias`` (tied to the embedding)
``crit.cluster_weight`` / ``_bias``         ``cluster.weight`` / ``.bias`` (adaptive softmax, ``cutoffs``)
``pos_emb.inv_freq``                        none (checked: ``10000^(-2i/d_model)``)
``layers.i.dec_attn.q_net.weight``          ``blocks.i.attn.W_q.weight``
``layers.i.dec_attn.kv_net.weight``         rows ``[k | v]`` -> ``W_k``, ``W_v``; MGK ``*2keys``
                                            modes ``[k | k1 | v]`` -> ``W_k``, ``W_k2``, ``W_v``
``layers.i.dec_attn.qkv_net.weight``        MLK (400): rows per head ``[q, k1, k2, v]`` (``rbf2keys``)
                                            or ``[q, k, v]`` (``rbf``) -> ``W_q``, ``W_k``, ``W_k2``, ``W_v``
``layers.i.dec_attn.o_net.weight``          ``blocks.i.attn.ff.weight``
``layers.i.dec_attn.mu`` ``(2, H, d)``      ``blocks.i.attn.mu`` (shifted keys ``k - mu_r``)
``layers.i.dec_attn.pi0`` / ``.pi1``        ``blocks.i.attn.pi[:, 0]`` / ``[:, 1]`` (``head_position``)
``layers.i.dec_attn.pi`` ``(H,1,1,256)``    ``blocks.i.attn.pi`` ``(H, max_len)`` (Soft-E, ``em``)
``layers.i.dec_attn.layer_norm.*``          ``blocks.i.norm1.*`` (post-LN after attention)
``layers.i.pos_ff.CoreNet.0.*`` / ``.3.*``  ``blocks.i.mlp.0.*`` / ``.3.*`` (ReLU between)
``layers.i.pos_ff.layer_norm.*``            ``blocks.i.norm2.*``
==========================================  =================================================

The official projections have no biases: ours are set to zero. ``pi`` tensors hold 256 positions
(the code's fixed size); ours keep the first ``max_len``. ``update_mode`` picks our attention:
``"rbf2keys"`` / ``"soft2keys"`` / ``"hard2keys"`` = MGK (separate keys) with ``pi_mode``
``"head_position"`` / ``"em"`` / ``"hard"``; ``"rbf"`` / ``"soft"`` / ``"hard"`` the same with shifted
keys (sMGK); ``sigma2 = (1, 1/3)``. :func:`official_lm` builds the matching model. Covered:
``div_val=1`` and ``d_embed = d_model`` (the code's defaults, the WikiText-103 runs: ``--adaptive``
with cutoffs 20000 / 40000 / 200000 gives one embedding and an adaptive softmax whose tails are slices
of ``crit.out_layers.0``), post-LN, no memory. Not covered (refused): ``div_val > 1`` or
``d_embed != d_model`` (``emb_projs``, ``out_projs``, per-cluster embeddings), relative positions
(``attn_type`` 0/1), pre-LN (that code normalises keys/values but not the queries).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ballroom.core.validate import check_choice, check_int
from ballroom.mgk.models import MGKLanguageModel
from ballroom.mgk.nn import MGKAttention, MLKAttention, SoftmaxAttention

__all__ = ["OFFICIAL_PI_LEN", "UPDATE_MODES", "load_official_lm_state_dict", "official_lm"]

#: positions of the official ``pi`` / ``pi0`` / ``pi1`` tensors
OFFICIAL_PI_LEN = 256
#: official ``update_mode`` -> (our attention name, our ``pi_mode``)
UPDATE_MODES = {
    "rbf2keys": ("mgk", "head_position"), "soft2keys": ("mgk", "em"), "hard2keys": ("mgk", "hard"),
    "rbf": ("smgk", "head_position"), "soft": ("smgk", "em"), "hard": ("smgk", "hard"),
}  # fmt: skip
_REFUSED = (
    "emb_layers.1",
    "emb_projs",
    "out_projs",
    "r_w_bias",
    "r_r_bias",
    "r_emb",
    "r_net",
)


def official_lm(vocab_size: int, *, n_layer: int, n_head: int, d_model: int, d_head: int, d_inner: int,
                attn_type: int = 200, update_mode: str = "rbf2keys", max_len: int = OFFICIAL_PI_LEN,
                dropout: float = 0.0, cutoffs: Sequence[int] | None = None) -> MGKLanguageModel:  # fmt: skip
    """The :class:`MGKLanguageModel` that computes what the official ``MemTransformerLM`` computes.

    Post-LN, ReLU MLP, Transformer-XL positions, causal; ``attn_type`` 2 = softmax, 200 = MGK / sMGK
    (``update_mode``, ``sigma2 = (1, 1/3)``), 400 = MLK / sMLK (``recipe="lm"``, ``update_mode``
    ``"rbf2keys"`` or ``"rbf"``).

    Args:
        vocab_size: ``n_token``.
        n_layer: layers.
        n_head: heads.
        d_model: model width.
        d_head: head size.
        d_inner: MLP hidden width.
        attn_type: 2, 200 or 400.
        update_mode: one of ``UPDATE_MODES`` (``attn_type`` 200) or ``"rbf2keys"`` / ``"rbf"`` (400).
        max_len: the longest segment (at most 256 where pi depends on the position).
        dropout: dropout of embeddings, attention and MLP.
        cutoffs: the adaptive softmax's cutoffs (``--adaptive`` on WikiText-103: ``(20000, 40000,
            200000)``); ``None`` = a plain softmax (``cutoffs=[]``).

    Returns:
        The model (load weights with :func:`load_official_lm_state_dict`).
    """
    check_choice(attn_type, "attn_type", (2, 200, 400))
    check_choice(update_mode, "update_mode", tuple(UPDATE_MODES))
    check_int(max_len, "max_len", min=1)
    kw: dict[str, Any] = {}
    if attn_type == 2:
        attention = "softmax"
    elif attn_type == 200:
        attention, pi_mode = UPDATE_MODES[update_mode]
        kw = {"sigma2": (1.0, 1 / 3), "pi_mode": pi_mode}
    else:
        check_choice(update_mode, "update_mode", ("rbf2keys", "rbf"))
        attention = "mlk" if update_mode == "rbf2keys" else "smlk"
        kw = {"pi_mode": "head_position", "recipe": "lm"}
    if kw.get("pi_mode") in ("head_position", "em") and max_len > OFFICIAL_PI_LEN:
        raise ValueError(
            f"max_len must be <= {OFFICIAL_PI_LEN} (the official pi covers 256 positions), got {max_len}"
        )
    return MGKLanguageModel(vocab_size, d_model=d_model, n_layers=n_layer, n_heads=n_head, head_dim=d_head,
                            d_ff=d_inner, max_len=max_len, attention=attention, dropout=dropout, norm="post",
                            attn_kwargs=kw, activation="relu", positions="transformer_xl", cutoffs=cutoffs)  # fmt: skip


class _Source:
    """The official state dict; records which entries were used (``strict`` refuses the rest)."""

    def __init__(self, state_dict: Mapping[str, Any]) -> None:
        self.entries: dict[str, Any] = dict(state_dict)
        self.used: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def __getitem__(self, key: str) -> Tensor:
        if key not in self.entries:
            raise ValueError(f"state_dict: {key!r} is missing (the official layout of this model has it)")
        self.used.add(key)
        value: Tensor = self.entries[key]
        return value


def _rows(w: Tensor, parts: int, n_heads: int, per_head: bool) -> list[Tensor]:
    """Split a fused projection weight ``(parts * H * d, D)`` into ``parts`` weights ``(H * d, D)``."""
    if w.shape[0] % (parts * n_heads):
        raise ValueError(
            f"state_dict: a fused projection of shape {tuple(w.shape)} does not split into {parts}"
        )
    if not per_head:  # torch.chunk along the output features: [k | k1 | v]
        return list(w.chunk(parts, dim=0))
    d = w.shape[0] // (parts * n_heads)  # per head [q, k1, k2, v] (a view (H, parts * d) then a split)
    blocks = w.reshape(n_heads, parts, d, w.shape[1])
    return [blocks[:, p].reshape(n_heads * d, w.shape[1]) for p in range(parts)]


def _attention_entries(attn: Any, src: _Source, pre: str, our: str, max_len: int) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    h = attn.n_heads
    n_keys = getattr(attn, "n_keys", 1)
    separate = getattr(attn, "key_mode", "separate") == "separate"
    names = ["W_k"] + ([f"W_k{r}" for r in range(2, n_keys + 1)] if separate else []) + ["W_v"]
    if isinstance(attn, MLKAttention):
        ws = _rows(src[pre + "qkv_net.weight"], 1 + len(names), h, per_head=True)
        out[our + "W_q.weight"] = ws[0]
        out.update({f"{our}{n}.weight": w for n, w in zip(names, ws[1:], strict=True)})
    else:
        out[our + "W_q.weight"] = src[pre + "q_net.weight"]
        ws = _rows(src[pre + "kv_net.weight"], len(names), h, per_head=False)
        out.update({f"{our}{n}.weight": w for n, w in zip(names, ws, strict=True)})
    out[our + "ff.weight"] = src[pre + "o_net.weight"]
    if not separate and not isinstance(attn, SoftmaxAttention):
        out[our + "mu"] = src[pre + "mu"]
    mode = getattr(attn, "pi_mode", None)
    if mode == "head_position":
        pis = [src[pre + "pi0"], src[pre + "pi1"]]
        out[our + "pi"] = torch.stack([p.reshape(h, -1)[:, :max_len] for p in pis], dim=1)
    elif mode == "em":
        out[our + "pi"] = src[pre + "pi"].reshape(h, -1)[:, :max_len]
    for name, t in attn.named_parameters():  # the official projections have no biases
        if name.endswith(".bias"):
            out[our + name] = torch.zeros_like(t)
    return out


def load_official_lm_state_dict(
    model: MGKLanguageModel, state_dict: Mapping[str, Any], strict: bool = True
) -> Any:
    """Load a state dict of the official LM code (``MemTransformerLM``, layout above) into ``model``.

    ``model`` must compute what the official model computes: build it with :func:`official_lm` (post-LN,
    ReLU, ``positions="transformer_xl"``, the attention and ``pi_mode`` of the official
    ``attn_type`` / ``update_mode``). Evaluation-mode outputs then match the official ones (up to the
    official ``+1e-6`` in the MGK row normaliser; exactly for Hard-E and softmax).

    Args:
        model: our language model, configured as above.
        state_dict: the official ``model.state_dict()`` (names -> tensors).
        strict: passed to :meth:`torch.nn.Module.load_state_dict` (official keys we do not use, other
            than ``pos_emb.inv_freq``, then raise).

    Returns:
        What ``model.load_state_dict`` returns.

    Raises:
        TypeError: ``model`` is not an :class:`MGKLanguageModel`.
        ValueError: the model is configured differently, or the state dict holds a layout we do not
            map (adaptive softmax, relative positions), or an entry is missing.
    """
    if not isinstance(model, MGKLanguageModel):
        raise TypeError(f"model must be an MGKLanguageModel, got {type(model).__name__}")
    if (model.norm_kind, model.activation, model.positions) != ("post", "relu", "transformer_xl"):
        raise ValueError(
            "model must be post-LN with a ReLU MLP and positions='transformer_xl' (build it with official_lm), "
            f"got norm={model.norm_kind!r}, activation={model.activation!r}, positions={model.positions!r}"
        )
    src = _Source(state_dict)
    refused = sorted(k for k in src.entries if any(part in k for part in _REFUSED))
    if refused:
        raise ValueError(
            f"state_dict: {refused[0]!r}: adaptive input/softmax with div_val > 1 or d_embed != d_model and "
            "relative positions are not mapped (only div_val=1, d_embed = d_model, absolute positions)"
        )
    if "pos_emb.inv_freq" in src:
        d = model.d_model
        expected = 1.0 / 10000 ** (torch.arange(0.0, d, 2.0) / d)
        if not torch.allclose(src["pos_emb.inv_freq"].float().cpu(), expected, rtol=1e-5, atol=0):
            raise ValueError("state_dict: pos_emb.inv_freq is not 10000^(-2i/d_model) for this d_model")
    mapped = {"embed.weight": src["word_emb.emb_layers.0.weight"], "out.weight": src["crit.out_layers.0.weight"],
              "out.bias": src["crit.out_layers.0.bias"]}  # fmt: skip
    n_clusters = len(model.cutoffs)
    if n_clusters or "crit.cluster_weight" in src:
        if "crit.cluster_weight" not in src or src["crit.cluster_weight"].shape[0] != n_clusters:
            raise ValueError(
                f"state_dict: the adaptive softmax's crit.cluster_weight must have one row per cutoff "
                f"(model.cutoffs = {list(model.cutoffs)}); build the model with the checkpoint's cutoffs"
            )
        mapped["cluster.weight"], mapped["cluster.bias"] = (
            src["crit.cluster_weight"],
            src["crit.cluster_bias"],
        )
    for i, block in enumerate(model.blocks):
        pre, our = f"layers.{i}.", f"blocks.{i}."
        attn = block.attn
        if not isinstance(attn, (SoftmaxAttention, MGKAttention, MLKAttention)):
            raise ValueError(
                f"model: layer {i} has {type(attn).__name__}; the official layout has softmax/MGK/MLK"
            )
        mapped.update(_attention_entries(attn, src, pre + "dec_attn.", our + "attn.", model.max_len))
        for ours_n, theirs_n in (("norm1", "dec_attn.layer_norm"), ("norm2", "pos_ff.layer_norm"),
                                 ("mlp.0", "pos_ff.CoreNet.0"), ("mlp.3", "pos_ff.CoreNet.3")):  # fmt: skip
            for p in ("weight", "bias"):
                mapped[f"{our}{ours_n}.{p}"] = src[f"{pre}{theirs_n}.{p}"]
    extra = sorted(set(src.entries) - src.used)
    if strict and extra:
        raise ValueError(f"state_dict: {extra[0]!r} has no place in this model (strict=True)")
    return model.load_state_dict(mapped, strict=strict)
